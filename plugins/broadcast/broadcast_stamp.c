/* Stamping of broadcasts: the server's id, from and ts first; every client
 * member with one of those names is dropped (all copies, should a filter's
 * output repeat a key), so a sender cannot be spoofed. */
#include "broadcast_stamp.h"

#include <string.h>

static int broadcast_is_stamped(const char *key)
{
    return key == NULL || strcmp(key, "id") == 0 || strcmp(key, "from") == 0 ||
           strcmp(key, "ts") == 0;
}

int broadcast_stamp(cJSON **data, const char *id, const char *from, int64_t ts)
{
    cJSON *out = cJSON_CreateObject();
    if (out == NULL || cJSON_AddStringToObject(out, "id", id) == NULL ||
        cJSON_AddStringToObject(out, "from", from) == NULL ||
        cJSON_AddNumberToObject(out, "ts", (double)ts) == NULL) {
        cJSON_Delete(out);
        return -1;
    }
    cJSON *old = *data;
    if (cJSON_IsObject(old)) {
        cJSON *item = old->child;
        while (item != NULL) {
            cJSON *next = item->next;
            if (!broadcast_is_stamped(item->string)) {
                /* Objects and arrays share the child list: AddItemToArray
                 * moves the member with its key, without copying it. */
                cJSON_DetachItemViaPointer(old, item);
                cJSON_AddItemToArray(out, item);
            }
            item = next;
        }
    }
    cJSON_Delete(old);
    *data = out;
    return 0;
}

cJSON *broadcast_ack_new(const char *id, int64_t ts)
{
    cJSON *ack = cJSON_CreateObject();
    if (ack == NULL || cJSON_AddStringToObject(ack, "id", id) == NULL ||
        cJSON_AddNumberToObject(ack, "ts", (double)ts) == NULL) {
        cJSON_Delete(ack);
        return NULL;
    }
    return ack;
}

/* Stamping: the routing fields go first so a reader sees them at a glance, and
 * every member with a stamped name is dropped, not only the first, because a
 * filter's output may repeat keys that the parser refused from the client. All
 * allocation happens before *data is touched, so a failure leaves it whole. */
#include "stamp.h"

#include <string.h>

#include "switchboard/plugin.h"

/* Whether the member named key gives way to a stamped one. A member without a
 * key is not a valid member: dropped too. */
static int stamp_drops(const char *key, int with_to, int with_room)
{
    return key == NULL || strcmp(key, "id") == 0 || strcmp(key, "from") == 0 ||
           strcmp(key, "ts") == 0 || (with_to && strcmp(key, "to") == 0) ||
           (with_room && strcmp(key, "room") == 0);
}

int sb_stamp(cJSON **data, const char *id, const char *from, const cJSON *to, const char *room,
             int64_t ts)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *to_copy = NULL;
    if (out == NULL || cJSON_AddStringToObject(out, "id", id) == NULL ||
        cJSON_AddStringToObject(out, "from", from) == NULL)
        goto nomem;
    if (to != NULL) {
        to_copy = cJSON_Duplicate(to, 1);
        if (to_copy == NULL || !cJSON_AddItemToObject(out, "to", to_copy))
            goto nomem;
        to_copy = NULL; /* out owns it */
    }
    if ((room != NULL && cJSON_AddStringToObject(out, "room", room) == NULL) ||
        cJSON_AddNumberToObject(out, "ts", (double)ts) == NULL)
        goto nomem;

    cJSON *old = *data;
    if (cJSON_IsObject(old)) {
        cJSON *item = old->child;
        while (item != NULL) {
            cJSON *next = item->next;
            if (!stamp_drops(item->string, to != NULL, room != NULL)) {
                /* Objects and arrays share the child list: AddItemToArray
                 * links the member with its key as is, so the move cannot
                 * fail for lack of memory. */
                cJSON_DetachItemViaPointer(old, item);
                cJSON_AddItemToArray(out, item);
            }
            item = next;
        }
    }
    cJSON_Delete(old);
    *data = out;
    return SB_OK;
nomem:
    cJSON_Delete(to_copy);
    cJSON_Delete(out);
    return SB_ENOMEM;
}

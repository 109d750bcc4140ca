/* Stamping of direct messages. The stamped fields go first so a reader sees
 * routing at a glance; a client cannot spoof them because every member with a
 * stamped name is dropped, not just the first (a filter's output may repeat
 * keys that the core's parser refused from the client). */
#include "message_stamp.h"

#include <string.h>

static const char *const message_stamped[] = {"id", "from", "to", "ts"};

static int message_is_stamped(const char *key)
{
    if (key == NULL)
        return 1; /* not a valid member: drop it */
    for (size_t i = 0; i < sizeof(message_stamped) / sizeof(message_stamped[0]); i++)
        if (strcmp(key, message_stamped[i]) == 0)
            return 1;
    return 0;
}

int message_stamp(cJSON **data, const char *id, const char *from, const cJSON *to, int64_t ts)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *to_copy = to != NULL ? cJSON_Duplicate(to, 1) : cJSON_CreateNull();
    if (out == NULL || to_copy == NULL)
        goto nomem;
    if (cJSON_AddStringToObject(out, "id", id) == NULL ||
        cJSON_AddStringToObject(out, "from", from) == NULL)
        goto nomem;
    if (!cJSON_AddItemToObject(out, "to", to_copy))
        goto nomem;
    to_copy = NULL;
    if (cJSON_AddNumberToObject(out, "ts", (double)ts) == NULL)
        goto nomem;

    cJSON *old = *data;
    if (cJSON_IsObject(old)) {
        cJSON *item = old->child;
        while (item != NULL) {
            cJSON *next = item->next;
            if (!message_is_stamped(item->string)) {
                /* Moving a member keeps its key: cJSON objects and arrays share
                 * the child list, so appending with AddItemToArray links it
                 * as is, without copying the key. */
                cJSON_DetachItemViaPointer(old, item);
                cJSON_AddItemToArray(out, item);
            }
            item = next;
        }
    }
    cJSON_Delete(old);
    *data = out;
    return 0;
nomem:
    cJSON_Delete(to_copy);
    cJSON_Delete(out);
    return -1;
}

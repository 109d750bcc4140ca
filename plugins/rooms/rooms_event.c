/* Builders for the rooms plugin. Stamped members go first and every client
 * member with a stamped name is dropped (not only the first), so neither a
 * client nor a filter's output can spoof the sender or the room. */
#include "rooms_event.h"

#include <string.h>

const char *rooms_arg(const cJSON *data, int (*valid)(const char *))
{
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(data, "room");
    if (!cJSON_IsString(room) || !valid(room->valuestring))
        return NULL;
    return room->valuestring;
}

cJSON *rooms_presence_new(const char *room, const char *user, const char *event)
{
    cJSON *p = cJSON_CreateObject();
    if (p == NULL || cJSON_AddStringToObject(p, "room", room) == NULL ||
        cJSON_AddStringToObject(p, "user", user) == NULL ||
        cJSON_AddStringToObject(p, "event", event) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

cJSON *rooms_join_reply_new(const char *room, cJSON *users_take)
{
    cJSON *users = users_take != NULL ? users_take : cJSON_CreateArray();
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || users == NULL || cJSON_AddStringToObject(r, "room", room) == NULL ||
        !cJSON_AddItemToObject(r, "users", users)) {
        cJSON_Delete(r);
        cJSON_Delete(users);
        return NULL;
    }
    return r;
}

cJSON *rooms_leave_reply_new(const char *room)
{
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || cJSON_AddStringToObject(r, "room", room) == NULL) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

cJSON *rooms_ack_new(const char *id, int64_t ts)
{
    cJSON *ack = cJSON_CreateObject();
    if (ack == NULL || cJSON_AddStringToObject(ack, "id", id) == NULL ||
        cJSON_AddNumberToObject(ack, "ts", (double)ts) == NULL) {
        cJSON_Delete(ack);
        return NULL;
    }
    return ack;
}

static int rooms_is_stamped(const char *key)
{
    static const char *const stamped[] = {"id", "from", "room", "ts"};
    if (key == NULL)
        return 1;
    for (size_t i = 0; i < sizeof(stamped) / sizeof(stamped[0]); i++)
        if (strcmp(key, stamped[i]) == 0)
            return 1;
    return 0;
}

int rooms_stamp(cJSON **data, const char *id, const char *from, const char *room, int64_t ts)
{
    cJSON *out = cJSON_CreateObject();
    if (out == NULL || cJSON_AddStringToObject(out, "id", id) == NULL ||
        cJSON_AddStringToObject(out, "from", from) == NULL ||
        cJSON_AddStringToObject(out, "room", room) == NULL ||
        cJSON_AddNumberToObject(out, "ts", (double)ts) == NULL) {
        cJSON_Delete(out);
        return -1;
    }
    cJSON *old = *data;
    if (cJSON_IsObject(old)) {
        cJSON *item = old->child;
        while (item != NULL) {
            cJSON *next = item->next;
            if (!rooms_is_stamped(item->string)) {
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

/* Builders for the rooms plugin: the replies and events it writes itself. A
 * publication's stamped form is the host's (host->stamp). */
#include "rooms_event.h"

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

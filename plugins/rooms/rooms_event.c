/* Builders for the rooms plugin: the replies and events it writes itself. A
 * publication's stamped form is the host's (host->stamp). */
#include "rooms_event.h"

#include <string.h>

const char *rooms_arg(const cJSON *data, int (*valid)(const char *))
{
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(data, "room");
    if (!cJSON_IsString(room) || !valid(room->valuestring))
        return NULL;
    return room->valuestring;
}

int rooms_announce(long limit, int joined, size_t n_users)
{
    if (limit <= 0)
        return ROOMS_ANNOUNCE;
    size_t lim = (size_t)limit;
    if (joined)
        return n_users <= lim ? ROOMS_ANNOUNCE : n_users == lim + 1 ? ROOMS_PAUSE : ROOMS_SILENT;
    return n_users < lim ? ROOMS_ANNOUNCE : n_users == lim ? ROOMS_RESUME : ROOMS_SILENT;
}

int rooms_crowded(long limit, size_t n_users)
{
    return limit > 0 && n_users > (size_t)limit;
}

cJSON *rooms_presence_new(const char *room, const char *user, const char *event, int announce)
{
    cJSON *p = cJSON_CreateObject();
    if (p == NULL || cJSON_AddStringToObject(p, "room", room) == NULL ||
        cJSON_AddStringToObject(p, "user", user) == NULL ||
        cJSON_AddStringToObject(p, "event", event) == NULL ||
        ((announce == ROOMS_PAUSE || announce == ROOMS_RESUME) &&
         cJSON_AddBoolToObject(p, "presence", announce == ROOMS_RESUME) == NULL)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

cJSON *rooms_join_reply_new(const char *room, cJSON *users_take, int crowded)
{
    if (crowded) {
        cJSON_Delete(users_take);
        users_take = NULL;
    }
    cJSON *users = users_take != NULL ? users_take : cJSON_CreateArray();
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || users == NULL || cJSON_AddStringToObject(r, "room", room) == NULL ||
        !cJSON_AddItemToObject(r, "users", users)) {
        cJSON_Delete(r);
        cJSON_Delete(users);
        return NULL;
    }
    if (crowded && cJSON_AddBoolToObject(r, "presence", 0) == NULL) {
        cJSON_Delete(r);
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

/* --- room history --- */

int rooms_id_arg(const cJSON *data, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, key);
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
        strnlen(v->valuestring, SB_ID_LEN + 1) > SB_ID_LEN)
        return -1;
    *out = v->valuestring;
    return 0;
}

/* Ids begin with 10 Crockford base32 characters of epoch milliseconds (the
 * ULID layout), so that prefix of a time sorts before every id made at or
 * after it. */
const char *rooms_history_cutoff(int64_t now_ms, int64_t ttl_ms, char out[11])
{
    static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (ttl_ms <= 0)
        return NULL;
    uint64_t t = now_ms > ttl_ms ? (uint64_t)(now_ms - ttl_ms) : 0;
    for (int i = 9; i >= 0; i--) {
        out[i] = crockford[t & 31];
        t >>= 5;
    }
    out[10] = '\0';
    return out;
}

cJSON *rooms_history_reply_new(const char *room, const sb_stored *msgs, size_t n,
                               const char *cutoff, int more)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (r == NULL || list == NULL || cJSON_AddStringToObject(r, "room", room) == NULL ||
        !cJSON_AddItemToObject(r, "messages", list)) {
        cJSON_Delete(r);
        cJSON_Delete(list);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (cutoff != NULL && strcmp(msgs[i].id, cutoff) < 0) {
            more = 0; /* older ones have expired too */
            continue;
        }
        cJSON *m = cJSON_ParseWithLength(msgs[i].json, msgs[i].len);
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(m);
            continue; /* not ours: never written by this plugin */
        }
        cJSON_AddItemToArray(list, m);
    }
    if (cJSON_AddBoolToObject(r, "more", more) == NULL) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* The commands of the members plugin. The lists come from the core's
 * registry; `list` and `members` ask the authorize chain first, `me` only
 * describes the caller's own connection and needs no permission.
 */
#include <inttypes.h>
#include <stdio.h>

#include "members.h"

/* Ask the authorize chain; on DENY answer `forbidden` and return 0. */
static int members_allowed(members_state *st, const sb_cmd *cmd, const char *action,
                           const char *target)
{
    char reason[256] = "";
    int r = st->host->run_authorize(st->pc, cmd->user, action, target, cmd->data, reason,
                                    sizeof reason);
    if (r != SB_HOOK_DENY)
        return 1;
    st->host->reply_error(st->pc, cmd, "forbidden", reason[0] ? reason : "not allowed");
    return 0;
}

/* Reply {key: array_take} plus, when room is set, {room}. */
static int members_reply_users(members_state *st, const sb_cmd *cmd, const char *type,
                               const char *room, cJSON *users_take)
{
    cJSON *data = cJSON_CreateObject();
    if (!data || !users_take || (room && !cJSON_AddStringToObject(data, "room", room))) {
        cJSON_Delete(data);
        cJSON_Delete(users_take);
        return SB_ENOMEM;
    }
    cJSON_AddItemToObject(data, "users", users_take);
    st->host->reply(st->pc, cmd, type, data); /* SB_ECLOSED: nobody to answer */
    cJSON_Delete(data);
    return SB_OK;
}

int members_list(void *ud, const sb_cmd *cmd)
{
    members_state *st = ud;
    if (!members_allowed(st, cmd, "list", NULL))
        return SB_OK;
    return members_reply_users(st, cmd, "list", NULL, st->host->users_new(st->pc));
}

int members_members(void *ud, const sb_cmd *cmd)
{
    members_state *st = ud;
    const cJSON *room = cJSON_GetObjectItemCaseSensitive(cmd->data, "room");
    if (!cJSON_IsString(room) || !room->valuestring || !st->host->room_valid(room->valuestring)) {
        st->host->reply_error(st->pc, cmd, "bad_request", "room: a valid room name is required");
        return SB_OK;
    }
    const char *name = room->valuestring;
    if (!members_allowed(st, cmd, "members", name))
        return SB_OK;
    return members_reply_users(st, cmd, "members", name, st->host->room_users_new(st->pc, name));
}

int members_me(void *ud, const sb_cmd *cmd)
{
    members_state *st = ud;
    const sb_host_api *h = st->host;
    int64_t since = 0;
    const char *ip = NULL;
    if (h->conn_info(st->pc, cmd->conn_id, &since, &ip) != SB_OK)
        return SB_OK; /* the connection is gone: nobody to answer */
    char conn[24];
    snprintf(conn, sizeof conn, "%" PRIu64, cmd->conn_id);
    cJSON *data = cJSON_CreateObject();
    cJSON *rooms = h->conn_rooms_new(st->pc, cmd->conn_id);
    if (!data || !rooms || !cJSON_AddStringToObject(data, "user", cmd->user ? cmd->user : "") ||
        !cJSON_AddStringToObject(data, "conn", conn)) {
        cJSON_Delete(data);
        cJSON_Delete(rooms);
        return SB_ENOMEM;
    }
    cJSON_AddItemToObject(data, "rooms", rooms);
    if (!cJSON_AddNumberToObject(data, "since", (double)since)) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    h->reply(st->pc, cmd, "me", data);
    cJSON_Delete(data);
    return SB_OK;
}

/* The commands of the members plugin. The lists come from the core's
 * registry, and with a bus from every node (host->users_query, answered on a
 * later iteration); `list` and `members` ask the authorize chain first, `me`
 * only describes the caller's own connection and needs no permission.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

/* A new {users: users_take} plus, when room is set, {room}; NULL on ENOMEM
 * (users_take is freed either way). */
static cJSON *members_data_new(const char *room, cJSON *users_take)
{
    cJSON *data = cJSON_CreateObject();
    if (!data || !users_take || (room && !cJSON_AddStringToObject(data, "room", room))) {
        cJSON_Delete(data);
        cJSON_Delete(users_take);
        return NULL;
    }
    cJSON_AddItemToObject(data, "users", users_take);
    return data;
}

/* A list answered once the bus has spoken. */
typedef struct members_pending {
    members_state *st;
    sb_reply *reply;
    const char *type; /* a literal */
    char room[SB_ROOM_MAX + 1];
    int has_room;
} members_pending;

static void members_answer(void *arg, int status, const cJSON *users)
{
    members_pending *p = arg;
    const sb_host_api *h = p->st->host;
    cJSON *data = NULL;
    if (status != SB_OK)
        h->reply_later_error(p->st->pc, p->reply, "unavailable",
                             "the other nodes cannot be asked now (bus down); retry later");
    else if (!(data = members_data_new(p->has_room ? p->room : NULL, cJSON_Duplicate(users, 1))))
        h->reply_later_error(p->st->pc, p->reply, "internal", "out of memory");
    else
        h->reply_later(p->st->pc, p->reply, p->type, data); /* SB_ECLOSED: nobody to answer */
    cJSON_Delete(data);
    free(p);
}

/* Answer {users} (with {room} when room is set): at once from this node's
 * registry, or from every node through a bus, later. */
static int members_reply_query(members_state *st, const sb_cmd *cmd, const char *type,
                               const char *room)
{
    const sb_host_api *h = st->host;
    if (!h->slot_owner(st->pc, "bus")) {
        cJSON *data =
            members_data_new(room, room ? h->room_users_new(st->pc, room) : h->users_new(st->pc));
        if (!data)
            return SB_ENOMEM;
        h->reply(st->pc, cmd, type, data); /* SB_ECLOSED: nobody to answer */
        cJSON_Delete(data);
        return SB_OK;
    }
    members_pending *p = calloc(1, sizeof *p);
    if (!p)
        return SB_ENOMEM;
    p->st = st;
    p->type = type;
    p->has_room = room != NULL;
    snprintf(p->room, sizeof p->room, "%s", room ? room : "");
    if (!(p->reply = h->reply_hold(st->pc, cmd))) {
        free(p);
        return SB_ENOMEM;
    }
    if (h->users_query(st->pc, room, members_answer, p) != SB_OK) {
        h->reply_later_error(st->pc, p->reply, "internal", "out of memory");
        free(p);
    }
    return SB_OK;
}

int members_list(void *ud, const sb_cmd *cmd)
{
    members_state *st = ud;
    if (!members_allowed(st, cmd, "list", NULL))
        return SB_OK;
    return members_reply_query(st, cmd, "list", NULL);
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
    return members_reply_query(st, cmd, "members", name);
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

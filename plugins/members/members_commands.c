/* The commands of the members plugin. The lists come from the core's
 * registry, and with a bus from every node (host->users_query, answered on a
 * later iteration); `list` and `members` ask the authorize chain first, `me`
 * only describes the caller's own connection and needs no permission.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "members.h"
#include "members_page.h"

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

/* A list answered once the bus has spoken. */
typedef struct members_pending {
    members_state *st;
    sb_reply *reply;
    const char *type; /* a literal */
    char room[SB_ROOM_MAX + 1];
    int has_room;
    members_page page;
} members_pending;

static void members_answer(void *arg, int status, const cJSON *users)
{
    members_pending *p = arg;
    const sb_host_api *h = p->st->host;
    cJSON *data = NULL;
    if (status != SB_OK)
        h->reply_later_error(p->st->pc, p->reply, "unavailable",
                             "the other nodes cannot be asked now (bus down); retry later");
    else if (!(data = members_data_new(p->has_room ? p->room : NULL, users, &p->page)))
        h->reply_later_error(p->st->pc, p->reply, "internal", "out of memory");
    else
        h->reply_later(p->st->pc, p->reply, p->type, data); /* SB_ECLOSED: nobody to answer */
    cJSON_Delete(data);
    free(p);
}

/* Answer {users} (with {room} when room is set, a page of them as page
 * says): at once from this node's registry, or from every node through a
 * bus, later. */
static int members_reply_query(members_state *st, const sb_cmd *cmd, const char *type,
                               const char *room, const members_page *page)
{
    const sb_host_api *h = st->host;
    if (!h->slot_owner(st->pc, "bus")) {
        cJSON *users = room ? h->room_users_new(st->pc, room) : h->users_new(st->pc);
        cJSON *data = users ? members_data_new(room, users, page) : NULL;
        cJSON_Delete(users);
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
    p->page = *page;
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

/* `members`' after and limit into page; on a bad one answer `bad_request`
 * and return 0. */
static int members_page_args(members_state *st, const sb_cmd *cmd, members_page *page)
{
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(cmd->data, "after");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(cmd->data, "limit");
    page->paged = 1;
    page->limit = MEMBERS_PAGE_DEFAULT;
    page->after[0] = '\0';
    if (after && !cJSON_IsNull(after)) {
        if (!cJSON_IsString(after) || strlen(after->valuestring) > SB_USER_MAX) {
            st->host->reply_error(st->pc, cmd, "bad_request",
                                  "after must be a user id (the last of the previous page)");
            return 0;
        }
        snprintf(page->after, sizeof page->after, "%s", after->valuestring);
    }
    if (limit) {
        double v = cJSON_IsNumber(limit) ? limit->valuedouble : -1;
        if (v < 1 || v > MEMBERS_PAGE_MAX || v != (double)(long)v) {
            st->host->reply_error(st->pc, cmd, "bad_request",
                                  "limit must be an integer, 1 to 1000");
            return 0;
        }
        page->limit = (size_t)v;
    }
    return 1;
}

int members_list(void *ud, const sb_cmd *cmd)
{
    members_state *st = ud;
    if (!members_allowed(st, cmd, "list", NULL))
        return SB_OK;
    members_page all = {.paged = 0};
    return members_reply_query(st, cmd, "list", NULL, &all);
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
    members_page page;
    if (!members_page_args(st, cmd, &page) || !members_allowed(st, cmd, "members", name))
        return SB_OK;
    return members_reply_query(st, cmd, "members", name, &page);
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

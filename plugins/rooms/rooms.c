/* The `rooms` plugin: join, leave and publish (docs/protocol.md 3, 5), with
 * presence events to the other members, and an on_close hook that makes a
 * closing connection leave its rooms. Membership itself is the core's
 * registry; builders live in rooms_event.c. A publication goes the host's
 * one road (publish_room), which stores it first when history_size is set;
 * recovery on join and `history` are rooms_history.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "rooms.h"
#include "rooms_event.h"

/* Tell room's other members that user came or went (event "join" or
 * "leave"), as rooms_announce decided. Failures cost only the event, so they
 * are logged, not returned. */
static void rooms_presence(rooms_plugin *rp, const char *room, const char *user, const char *event,
                           int announce, uint64_t skip_conn)
{
    if (announce == ROOMS_SILENT)
        return;
    cJSON *p = rooms_presence_new(room, user, event, announce);
    if (p == NULL ||
        rp->host->send_room(rp->pc, room, "presence", p, skip_conn, user, NULL) != SB_OK)
        rp->host->log(rp->pc, SB_LOG_WARN, "presence %s of %s in %s not sent", event, user, room);
    cJSON_Delete(p);
}

/* The users in room on this node, counted without listing them. */
static size_t rooms_size(const rooms_plugin *rp, const char *room)
{
    size_t n = 0;
    return rp->host->room_size(rp->pc, room, &n) == SB_OK ? n : 0;
}

static const char *rooms_room_or_reply(rooms_plugin *rp, const sb_cmd *cmd)
{
    const char *room = rooms_arg(cmd->data, rp->host->room_valid);
    if (room == NULL)
        rp->host->reply_error(rp->pc, cmd, "bad_request",
                              "room must be a string of 1 to 128 bytes without control characters");
    return room;
}

/* A join or leave to announce once the bus has said how many users the
 * room has on every node. */
typedef struct rooms_announce_pending {
    rooms_plugin *rp;
    uint64_t conn_id;
    int joined;
    char room[SB_ROOM_MAX + 1];
    char user[SB_USER_MAX + 1];
} rooms_announce_pending;

static void rooms_announce_answer(void *arg, int status, const cJSON *users)
{
    rooms_announce_pending *p = arg;
    /* With the bus down, users holds this node's: still the best count. */
    (void)status;
    size_t n = (size_t)cJSON_GetArraySize(users);
    rooms_presence(p->rp, p->room, p->user, p->joined ? "join" : "leave",
                   rooms_announce(p->rp->presence_limit, p->joined, n), p->conn_id);
    free(p);
}

/* Announce user's join (joined nonzero) or leave of room by the room's size
 * on every node (presence_limit): this node's count at once without a bus,
 * or when it settles the matter alone (the deployment has at least as many
 * users), else the bus's list on a later iteration. */
static void rooms_announce_change(rooms_plugin *rp, const char *room, const char *user, int joined,
                                  uint64_t conn_id)
{
    const sb_host_api *host = rp->host;
    long limit = rp->presence_limit;
    size_t n = rooms_size(rp, room);
    int settled = limit <= 0 || n > (size_t)limit + (joined ? 1 : 0);
    if (settled || !host->slot_owner(rp->pc, "bus")) {
        rooms_presence(rp, room, user, joined ? "join" : "leave", rooms_announce(limit, joined, n),
                       conn_id);
        return;
    }
    rooms_announce_pending *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->rp = rp;
        p->conn_id = conn_id;
        p->joined = joined;
        snprintf(p->room, sizeof(p->room), "%s", room);
        snprintf(p->user, sizeof(p->user), "%s", user);
        if (host->users_query(rp->pc, room, rooms_announce_answer, p) == SB_OK)
            return;
        free(p);
    }
    host->log(rp->pc, SB_LOG_WARN, "members of %s not asked: out of memory", room);
    rooms_presence(rp, room, user, joined ? "join" : "leave", rooms_announce(limit, joined, n),
                   conn_id);
}

/* A join answered once the bus has said who else is in the room. */
typedef struct rooms_join_pending {
    rooms_plugin *rp;
    sb_reply *reply;
    uint64_t conn_id;
    int announce; /* the user was not in the room before: its join is news */
    char room[SB_ROOM_MAX + 1];
    char user[SB_USER_MAX + 1];
} rooms_join_pending;

static void rooms_join_answer(void *arg, int status, const cJSON *users)
{
    rooms_join_pending *p = arg;
    long limit = p->rp->presence_limit;
    /* The join itself succeeded on this node: with the bus down, this
     * node's members (what users holds then) are still the best answer. */
    (void)status;
    size_t n = (size_t)cJSON_GetArraySize(users);
    /* The others hear of it before the joiner's answer: a client acting on
     * that answer (someone joining on another node) then comes after the
     * event on the bus, as when presence went out before the query. */
    if (p->announce)
        rooms_presence(p->rp, p->room, p->user, "join", rooms_announce(limit, 1, n), p->conn_id);
    int crowded = rooms_crowded(limit, n);
    cJSON *data =
        rooms_join_reply_new(p->room, crowded ? NULL : cJSON_Duplicate(users, 1), crowded);
    if (data)
        p->rp->host->reply_later(p->rp->pc, p->reply, "join", data);
    else
        p->rp->host->reply_later_error(p->rp->pc, p->reply, "internal", "out of memory");
    cJSON_Delete(data);
    free(p);
}

/* Answer `join` {room, users} and announce it when announce is set: by this
 * node's members at once, or every node's (through the bus) on a later
 * iteration. A room over presence_limit lists nobody (rooms_join_reply_new). */
static int rooms_join_reply(rooms_plugin *rp, const sb_cmd *cmd, const char *room, int announce)
{
    const sb_host_api *host = rp->host;
    long limit = rp->presence_limit;
    size_t n = rooms_size(rp, room);
    int crowded = rooms_crowded(limit, n);
    int bus = host->slot_owner(rp->pc, "bus") != NULL;
    if (!bus || crowded) {
        /* Over the limit here, so over it on every node: nobody to list. */
        cJSON *data = rooms_join_reply_new(
            room, crowded ? NULL : host->room_users_new(rp->pc, room), crowded);
        if (data == NULL)
            return SB_ENOMEM;
        host->reply(rp->pc, cmd, "join", data);
        cJSON_Delete(data);
        if (announce)
            rooms_announce_change(rp, room, cmd->user, 1, cmd->conn_id);
        return SB_OK;
    }
    rooms_join_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SB_ENOMEM;
    p->rp = rp;
    p->conn_id = cmd->conn_id;
    p->announce = announce;
    snprintf(p->room, sizeof(p->room), "%s", room);
    snprintf(p->user, sizeof(p->user), "%s", cmd->user);
    if ((p->reply = host->reply_hold(rp->pc, cmd)) == NULL) {
        free(p);
        return SB_ENOMEM;
    }
    if (host->users_query(rp->pc, room, rooms_join_answer, p) != SB_OK) {
        host->reply_later_error(rp->pc, p->reply, "internal", "out of memory");
        free(p);
    }
    return SB_OK;
}

static int rooms_join_cmd(void *ud, const sb_cmd *cmd)
{
    rooms_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    const char *room = rooms_room_or_reply(rp, cmd);
    if (room == NULL)
        return SB_OK;
    const char *since;
    if (rooms_id_arg(cmd->data, "since", &since) != 0) {
        host->reply_error(rp->pc, cmd, "bad_request", "since must be a publication id");
        return SB_OK;
    }
    /* The policy's join decision covers the recovery too. */
    char reason[ROOMS_REASON_MAX] = "";
    if (host->run_authorize(rp->pc, cmd->user, "join", room, cmd->data, reason, sizeof(reason)) ==
        SB_HOOK_DENY) {
        host->reply_error(rp->pc, cmd, "forbidden", reason[0] ? reason : "not allowed");
        return SB_OK;
    }
    /* Recovery: hold live events before joining, so none slips between the
     * history read and the live ones (rooms_history.c). */
    int rc = since ? host->conn_hold(rp->pc, cmd->conn_id) : SB_OK;
    if (rc == SB_ECLOSED)
        return SB_OK;
    if (rc != SB_OK)
        return rc;
    int user_was_in = 0;
    rc = host->room_join(rp->pc, cmd->conn_id, room, &user_was_in);
    if (rc != SB_OK && since)
        host->conn_release(rp->pc, cmd->conn_id, "publish", NULL, 0);
    if (rc == SB_ECLOSED)
        return SB_OK; /* gone meanwhile: nobody to answer */
    if (rc != SB_OK)
        return rc;
    /* A user already present through another connection is no news. */
    if (!since)
        return rooms_join_reply(rp, cmd, room, !user_was_in);
    rc = rooms_history_join(rp, cmd, room, since);
    if (rc == SB_OK && !user_was_in)
        rooms_announce_change(rp, room, cmd->user, 1, cmd->conn_id);
    return rc;
}

static int rooms_leave_cmd(void *ud, const sb_cmd *cmd)
{
    rooms_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    const char *room = rooms_room_or_reply(rp, cmd);
    if (room == NULL)
        return SB_OK;
    int user_still_in = 0;
    /* SB_ENOTFOUND (never joined) still answers `leave`: leaving is idempotent. */
    int rc = host->room_leave(rp->pc, cmd->conn_id, room, &user_still_in);
    cJSON *data = rooms_leave_reply_new(room);
    if (data == NULL)
        return SB_ENOMEM;
    host->reply(rp->pc, cmd, "leave", data);
    cJSON_Delete(data);
    if (rc == SB_OK && !user_still_in)
        rooms_announce_change(rp, room, cmd->user, 0, cmd->conn_id);
    return SB_OK;
}

/* A publication on its way: the ack waits for publish_room's answer (after
 * the store's commit when history is on). Keeps host and pc, not rp: the
 * answer may come after fini, when the store drains at shutdown. */
typedef struct rooms_published {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    sb_reply *reply;
    int64_t ts;
    char id[SB_ID_LEN + 1];
} rooms_published;

static void rooms_published_answer(void *arg, int status, size_t delivered)
{
    rooms_published *p = arg;
    (void)delivered;
    if (p->reply == NULL) { /* reply_hold ran out of memory: nobody to answer */
        free(p);
        return;
    }
    cJSON *ack = status == SB_OK ? rooms_ack_new(p->id, p->ts) : NULL;
    if (status != SB_OK)
        p->host->reply_later_error(p->pc, p->reply, "unavailable",
                                   "the store could not keep the publication; it was not sent");
    else if (ack)
        p->host->reply_later(p->pc, p->reply, "ack", ack);
    else
        p->host->reply_later_error(p->pc, p->reply, "internal", "out of memory");
    cJSON_Delete(ack);
    free(p);
}

/* Hand a stamped, filtered publication (data borrowed) to the host's one
 * road for room publications; `ack` {id, ts} once it is sent (with history
 * on: stored, then sent), `unavailable` when the store refused it.
 * -> SB_OK | SB_ENOMEM */
static int rooms_publish_send(rooms_plugin *rp, const sb_cmd *cmd, const char *room, const char *id,
                              int64_t ts, const cJSON *data)
{
    const sb_host_api *host = rp->host;
    rooms_published *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SB_ENOMEM;
    p->host = host;
    p->pc = rp->pc;
    p->ts = ts;
    snprintf(p->id, sizeof(p->id), "%s", id);
    int rc = host->publish_room(rp->pc, room, data, cmd->conn_id, NULL, rooms_published_answer, p);
    if (rc == SB_PENDING) {
        /* The answer comes on a later iteration: cmd is still ours now. */
        p->reply = host->reply_hold(rp->pc, cmd);
        return SB_OK;
    }
    free(p);
    if (rc == SB_OK) {
        cJSON *ack = rooms_ack_new(id, ts);
        if (ack == NULL)
            return SB_ENOMEM;
        host->reply(rp->pc, cmd, "ack", ack);
        cJSON_Delete(ack);
        return SB_OK;
    }
    if (rc == SB_ENOMEM)
        return SB_ENOMEM;
    host->reply_error(rp->pc, cmd, "unavailable",
                      "the store could not take the publication; it was not sent");
    return SB_OK;
}

static int rooms_publish_cmd(void *ud, const sb_cmd *cmd)
{
    rooms_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    const char *room = rooms_room_or_reply(rp, cmd);
    if (room == NULL)
        return SB_OK;
    if (!host->room_has_conn(rp->pc, room, cmd->conn_id)) {
        host->reply_error(rp->pc, cmd, "forbidden", "join the room before publishing to it");
        return SB_OK;
    }
    char reason[ROOMS_REASON_MAX] = "";
    if (host->run_authorize(rp->pc, cmd->user, "publish", room, cmd->data, reason,
                            sizeof(reason)) == SB_HOOK_DENY) {
        host->reply_error(rp->pc, cmd, "forbidden", reason[0] ? reason : "not allowed");
        return SB_OK;
    }
    char id[SB_ID_LEN + 1];
    host->id_new(rp->pc, id);
    int64_t ts = host->now_ms();

    /* Stamped before the filter so it sees the server's fields; the host
     * restores them after the chain (run_filter). */
    cJSON *data = cJSON_Duplicate(cmd->data, 1);
    if (data == NULL || host->stamp(&data, id, cmd->user, NULL, room, ts) != SB_OK) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    sb_filter_msg fmsg = {.size = sizeof(fmsg),
                          .type = "publish",
                          .from = cmd->user,
                          .to = NULL,
                          .room = room,
                          .id = id,
                          .ts = ts};
    reason[0] = '\0';
    if (host->run_filter(rp->pc, &fmsg, &data, reason, sizeof(reason)) == SB_HOOK_DENY) {
        host->reply_error(rp->pc, cmd, "filtered", reason[0] ? reason : "dropped by a filter");
        cJSON_Delete(data);
        return SB_OK;
    }
    int rc = rooms_publish_send(rp, cmd, room, id, ts, data);
    cJSON_Delete(data);
    return rc;
}

/* A closing connection leaves each of its rooms here, while the registry still
 * knows it, so the other members hear `leave` when it was the user's last
 * connection in the room. (The core clears any membership left afterwards.) */
static void rooms_on_close(void *ud, uint64_t conn_id, const char *user)
{
    rooms_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    if (user == NULL)
        return; /* never authenticated, so never joined */
    cJSON *rooms = host->conn_rooms_new(rp->pc, conn_id);
    const cJSON *room;
    cJSON_ArrayForEach(room, rooms)
    {
        if (!cJSON_IsString(room))
            continue;
        int user_still_in = 0;
        if (host->room_leave(rp->pc, conn_id, room->valuestring, &user_still_in) == SB_OK &&
            !user_still_in)
            rooms_announce_change(rp, room->valuestring, user, 0, conn_id);
    }
    cJSON_Delete(rooms);
}

static int rooms_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    long history_size = 0, history_ttl = 0, presence_limit = 0;
    if (host->cfg_int(cfg, "history_size", 0, 0, 1000000, &history_size) != SB_OK ||
        host->cfg_int(cfg, "history_ttl", 0, 0, 100L * 365 * 86400, &history_ttl) != SB_OK ||
        host->cfg_int(cfg, "presence_limit", ROOMS_PRESENCE_LIMIT, 0, 100000000, &presence_limit) !=
            SB_OK)
        return SB_EINVAL;
    rooms_plugin *rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        return SB_ENOMEM;
    rp->host = host;
    rp->pc = pc;
    rp->history_size = history_size;
    rp->history_ttl = history_ttl;
    rp->presence_limit = presence_limit;
    sb_hooks hooks = {SB_HOOKS_INIT, .on_close = rooms_on_close};
    int rc;
    if ((rc = host->register_command(pc, "join", rooms_join_cmd, rp)) != SB_OK ||
        (rc = host->register_command(pc, "leave", rooms_leave_cmd, rp)) != SB_OK ||
        (rc = host->register_command(pc, "publish", rooms_publish_cmd, rp)) != SB_OK ||
        (rc = host->register_command(pc, "history", rooms_history_cmd, rp)) != SB_OK ||
        (rc = host->register_hooks(pc, &hooks, rp)) != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the rooms commands and hook: %d", rc);
        free(rp);
        return rc;
    }
    /* Every publisher's store step is the host's (publish_room): it keeps
     * the history these keys describe. */
    if ((rc = host->room_history_configure(pc, history_size, history_ttl)) != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot configure the room history: %d", rc);
        free(rp);
        return rc;
    }
    if (history_size > 0)
        host->log(pc, SB_LOG_INFO, "history: %ld publications per room, ttl %lds (0: none)",
                  history_size, history_ttl);
    *userdata = rp;
    return SB_OK;
}

static void rooms_fini(void *userdata)
{
    free(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT, .name = "rooms", .version = "0.1.0", .init = rooms_init, .fini = rooms_fini,
};

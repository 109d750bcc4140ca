/* Room history (PROTOCOL.md: history and recovery). With [rooms]
 * history_size set, the host stores every publication in the room's history
 * before it is acked or fanned out (host->publish_room, whoever publishes),
 * so anything a member received is in the history. A `join` with `since` holds the connection's
 * events first, joins, then reads the history after `since`: what was published before the join is
 * in those pages, what was published after it is held, and a publication in both (stored before the
 * read, fanned out after the join) is dropped from the held queue by conn_release. So the client
 * gets the reply, the missed publications in order, then live ones, with no gap and no repeat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rooms.h"
#include "rooms_event.h"

#define ROOMS_HISTORY_PAGE    256
#define ROOMS_HISTORY_DEFAULT 50
#define ROOMS_HISTORY_MAX     1000

static const char *rooms_cutoff(const rooms_plugin *rp, char out[11])
{
    return rooms_history_cutoff(rp->host->now_ms(), (int64_t)rp->history_ttl * 1000, out);
}

/* --- join with since: reply, replay, release --- */

typedef struct rooms_recovery {
    rooms_plugin *rp;
    sb_reply *reply;
    uint64_t conn_id;
    cJSON *users;
    int crowded; /* over presence_limit: users is not listed */
    int recovered;
    int pages; /* read so far */
    char room[SB_ROOM_MAX + 1];
    char since[SB_ID_LEN + 1];
    char after[SB_ID_LEN + 1]; /* the last id read */
    sb_stored *msgs;           /* the replay: ids and json malloc'ed */
    size_t n, cap;
} rooms_recovery;

static void rooms_recovery_free(rooms_recovery *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->msgs[i].id);
        free((char *)r->msgs[i].json);
    }
    free(r->msgs);
    cJSON_Delete(r->users);
    free(r);
}

/* The reply first, then the missed publications ahead of the held events. */
static void rooms_recovery_finish(rooms_recovery *r)
{
    const sb_host_api *host = r->rp->host;
    sb_plugin_ctx *pc = r->rp->pc;
    if (!r->recovered) {
        for (size_t i = 0; i < r->n; i++) {
            free((char *)r->msgs[i].id);
            free((char *)r->msgs[i].json);
        }
        r->n = 0; /* nothing is replayed: the client reloads */
    }
    cJSON *data = rooms_join_reply_new(r->room, r->users, r->crowded);
    r->users = NULL;
    if (data && cJSON_AddBoolToObject(data, "recovered", r->recovered))
        host->reply_later(pc, r->reply, "join", data);
    else
        host->reply_later_error(pc, r->reply, "internal", "out of memory");
    cJSON_Delete(data);
    int rc = host->conn_release(pc, r->conn_id, "publish", r->msgs, r->n);
    if (rc != SB_OK && rc != SB_ECLOSED)
        host->log(pc, SB_LOG_WARN, "conn %llu: replaying %s failed: %d",
                  (unsigned long long)r->conn_id, r->room, rc);
    rooms_recovery_free(r);
}

static int rooms_recovery_keep(rooms_recovery *r, const sb_stored *m)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        sb_stored *msgs = realloc(r->msgs, cap * sizeof(*msgs));
        if (msgs == NULL)
            return SB_ENOMEM;
        r->msgs = msgs;
        r->cap = cap;
    }
    char *id = strdup(m->id), *json = malloc(m->len + 1);
    if (id == NULL || json == NULL) {
        free(id);
        free(json);
        return SB_ENOMEM;
    }
    memcpy(json, m->json, m->len);
    json[m->len] = '\0';
    r->msgs[r->n++] = (sb_stored){.id = id, .json = json, .len = m->len};
    return SB_OK;
}

static void rooms_recovery_read(rooms_recovery *r);

static void rooms_recovery_page(void *arg, int status, const sb_stored *msgs, size_t n, int more,
                                int reaches)
{
    rooms_recovery *r = arg;
    if (status != SB_OK || (r->pages++ == 0 && !reaches)) {
        if (status != SB_OK)
            r->rp->host->log(r->rp->pc, SB_LOG_WARN, "history of %s unreadable: %d", r->room,
                             status);
        r->recovered = 0;
        rooms_recovery_finish(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (rooms_recovery_keep(r, &msgs[i]) != SB_OK) {
            r->recovered = 0;
            rooms_recovery_finish(r);
            return;
        }
        snprintf(r->after, sizeof(r->after), "%s", msgs[i].id);
    }
    r->recovered = 1;
    if (more && n)
        rooms_recovery_read(r);
    else
        rooms_recovery_finish(r);
}

static void rooms_recovery_read(rooms_recovery *r)
{
    int rc = r->rp->host->store_history_page(r->rp->pc, r->room, r->after, NULL, ROOMS_HISTORY_PAGE,
                                             rooms_recovery_page, r);
    if (rc != SB_OK) {
        r->recovered = 0;
        rooms_recovery_finish(r);
    }
}

/* The members are known: read the history, unless there is none to read or
 * `since` is older than history_ttl (then nothing can be trusted). */
static void rooms_recovery_users(void *arg, int status, const cJSON *users)
{
    rooms_recovery *r = arg;
    (void)status; /* with the bus down, this node's members are the answer */
    r->crowded |= rooms_crowded(r->rp->presence_limit, (size_t)cJSON_GetArraySize(users));
    r->users = r->crowded ? NULL : cJSON_Duplicate(users, 1);
    char cut[11];
    const char *cutoff = rooms_cutoff(r->rp, cut);
    if (r->rp->history_size == 0 || (cutoff && strcmp(r->since, cutoff) < 0)) {
        rooms_recovery_finish(r);
        return;
    }
    rooms_recovery_read(r);
}

int rooms_history_join(rooms_plugin *rp, const sb_cmd *cmd, const char *room, const char *since)
{
    const sb_host_api *host = rp->host;
    rooms_recovery *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->reply = host->reply_hold(rp->pc, cmd)) == NULL) {
        free(r);
        host->conn_release(rp->pc, cmd->conn_id, "publish", NULL, 0);
        return SB_ENOMEM;
    }
    r->rp = rp;
    r->conn_id = cmd->conn_id;
    snprintf(r->room, sizeof(r->room), "%s", room);
    snprintf(r->since, sizeof(r->since), "%s", since);
    snprintf(r->after, sizeof(r->after), "%s", since);
    if (host->slot_owner(rp->pc, "bus")) {
        if (host->users_query(rp->pc, room, rooms_recovery_users, r) == SB_OK)
            return SB_OK;
        host->log(rp->pc, SB_LOG_WARN, "members of %s not asked: out of memory", room);
    }
    /* Over presence_limit, the list is not built just to be left out. */
    size_t n = 0;
    if (host->room_size(rp->pc, room, &n) == SB_OK && rooms_crowded(rp->presence_limit, n)) {
        r->crowded = 1;
        rooms_recovery_users(r, SB_OK, NULL);
        return SB_OK;
    }
    cJSON *users = host->room_users_new(rp->pc, room);
    rooms_recovery_users(r, SB_OK, users);
    cJSON_Delete(users);
    return SB_OK;
}

/* --- history {room, limit, before} --- */

typedef struct rooms_history_pending {
    rooms_plugin *rp;
    sb_reply *reply;
    char room[SB_ROOM_MAX + 1];
} rooms_history_pending;

static void rooms_history_answer(void *arg, int status, const sb_stored *msgs, size_t n, int more,
                                 int reaches)
{
    rooms_history_pending *p = arg;
    const sb_host_api *host = p->rp->host;
    (void)reaches;
    if (status != SB_OK) {
        host->reply_later_error(p->rp->pc, p->reply, "unavailable",
                                "the store could not read the history");
        free(p);
        return;
    }
    char cut[11];
    cJSON *data = rooms_history_reply_new(p->room, msgs, n, rooms_cutoff(p->rp, cut), more);
    if (data)
        host->reply_later(p->rp->pc, p->reply, "history", data);
    else
        host->reply_later_error(p->rp->pc, p->reply, "internal", "out of memory");
    cJSON_Delete(data);
    free(p);
}

int rooms_history_cmd(void *ud, const sb_cmd *cmd)
{
    rooms_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    const char *room = rooms_arg(cmd->data, host->room_valid);
    if (room == NULL) {
        host->reply_error(rp->pc, cmd, "bad_request",
                          "room must be a string of 1 to 128 bytes without control characters");
        return SB_OK;
    }
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(cmd->data, "limit");
    const char *before;
    double limit = ROOMS_HISTORY_DEFAULT;
    if (lim != NULL) {
        limit = cJSON_IsNumber(lim) ? lim->valuedouble : -1;
        if (limit < 1 || limit > ROOMS_HISTORY_MAX || limit != (double)(long)limit) {
            host->reply_error(rp->pc, cmd, "bad_request", "limit must be an integer, 1 to 1000");
            return SB_OK;
        }
    }
    if (rooms_id_arg(cmd->data, "before", &before) != 0) {
        host->reply_error(rp->pc, cmd, "bad_request", "before must be a publication id");
        return SB_OK;
    }
    if (!host->room_has_conn(rp->pc, room, cmd->conn_id)) {
        host->reply_error(rp->pc, cmd, "forbidden", "join the room to read its history");
        return SB_OK;
    }
    if (rp->history_size == 0) {
        cJSON *data = rooms_history_reply_new(room, NULL, 0, NULL, 0);
        if (data == NULL)
            return SB_ENOMEM;
        host->reply(rp->pc, cmd, "history", data);
        cJSON_Delete(data);
        return SB_OK;
    }
    rooms_history_pending *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->reply = host->reply_hold(rp->pc, cmd)) == NULL) {
        free(p);
        return SB_ENOMEM;
    }
    p->rp = rp;
    snprintf(p->room, sizeof(p->room), "%s", room);
    int rc = host->store_history_page(rp->pc, room, NULL, before, (size_t)limit,
                                      rooms_history_answer, p);
    if (rc != SB_OK) {
        host->reply_later_error(rp->pc, p->reply, "unavailable",
                                "the store could not read the history");
        free(p);
    }
    return SB_OK;
}

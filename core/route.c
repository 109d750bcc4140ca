/* Routing: the fan-out paths. Events to connections still receiving their
 * backlog are held behind it (conn.c); direct messages skip such
 * connections altogether, because the backlog will read them from the store
 * in order (backlog.c), unless their id sorts before the backlog's cursor
 * (another node's id, its clock behind): the pages would never reach those. */
#include "route.h"

#include <string.h>

#include "backlog.h"
#include "conn.h"
#include "hooks.h"
#include "json_out.h"
#include "registry.h"
#include "server.h"

sb_frame *sb_route_frame(const char *type, const char *ref_json, const cJSON *data)
{
    size_t n = 2;
    const char *json = data ? sb_json_out(data, &n) : "{}";
    if (!json)
        return NULL;
    return sb_frame_envelope(type, ref_json, json, n);
}

void sb_route_to_bus(int route, const char *const *targets, size_t n, const sb_frame *f, int direct)
{
    size_t len;
    const char *envelope = sb_frame_payload(f, &len);
    sb_hooks_bus_publish(route, targets, n, envelope, len, direct);
}

/* A direct message's id, read from its frame only when a connection in
 * backlog needs it (rare: a recipient that just connected). */
typedef struct direct_msg {
    const sb_frame *f;
    int parsed;
    char id[SB_ID_LEN + 1];
} direct_msg;

static const char *direct_msg_id(direct_msg *d)
{
    if (!d->parsed) {
        d->parsed = 1;
        size_t len;
        const char *envelope = sb_frame_payload(d->f, &len);
        cJSON *env = cJSON_ParseWithLength(envelope, len);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(env, "data");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
        if (cJSON_IsString(id) && strlen(id->valuestring) <= SB_ID_LEN)
            memcpy(d->id, id->valuestring, strlen(id->valuestring) + 1);
        cJSON_Delete(env);
    }
    return d->id[0] ? d->id : NULL;
}

static int deliver(sb_conn *c, sb_frame *f, direct_msg *direct)
{
    if (c->closing || c->dead)
        return 0;
    if (direct && c->backlog_seen) {
        const char *id = direct_msg_id(direct);
        if (id && sb_backlog_sent(c, id))
            return 0; /* the backlog sent this one already */
    }
    if (direct && c->in_backlog) {
        const char *id = c->backlog_after[0] ? direct_msg_id(direct) : NULL;
        if (!id || strcmp(id, c->backlog_after) >= 0) {
            sb_backlog_mark_dirty(c); /* a later page reads it (or has: equal) */
            return 0;
        }
        /* Behind the cursor: send it now, held behind the backlog. */
    }
    return sb_conn_send_event(c, f) == SB_OK;
}

int sb_route_users(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn, int direct,
                   size_t *delivered)
{
    size_t count = 0;
    direct_msg msg = {.f = f};
    for (size_t i = 0; i < n; i++) {
        sb_user *u = sb_registry_user(users[i]);
        if (!u)
            continue;
        /* Closing connections stay in the array until the next tick, so
         * the array does not change under this loop. */
        for (size_t j = 0; j < u->n; j++)
            if (u->conns[j]->id != skip_conn)
                count += (size_t)deliver(u->conns[j], f, direct ? &msg : NULL);
    }
    if (delivered)
        *delivered = count;
    return SB_OK;
}

int sb_route_room(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                  size_t *delivered)
{
    size_t count = 0;
    sb_room *r = sb_registry_room(room);
    if (r) {
        sb_dict_iter it;
        for (sb_dict_iter_init(&it, r->conns); sb_dict_iter_next(&it);) {
            sb_conn *c = it.val;
            if (c->id == skip_conn || (skip_user && c->user && strcmp(c->user, skip_user) == 0))
                continue;
            count += (size_t)deliver(c, f, NULL);
        }
    }
    if (delivered)
        *delivered = count;
    return SB_OK;
}

int sb_route_all(sb_frame *f, uint64_t skip_conn, size_t *delivered)
{
    size_t count = 0;
    for (sb_conn *c = sb_registry_all(); c; c = c->all_next)
        if (c->id != skip_conn)
            count += (size_t)deliver(c, f, NULL);
    if (delivered)
        *delivered = count;
    return SB_OK;
}

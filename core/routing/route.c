/* Routing: the fan-out paths. Events to connections still receiving their
 * backlog are held behind it (conn.c); direct messages skip such
 * connections altogether, because the backlog will read them from the store
 * in order (backlog.c), unless their id sorts before the backlog's cursor
 * (another node's id, its clock behind): the pages would never reach those.
 *
 * One event is framed once per endpoint, not per recipient: the native
 * frame comes in built, and a dialect's frame is encoded the first time one
 * of its connections is reached (for a direct message: once per recipient
 * user, since a dialect may name the recipient). */
#include "route.h"

#include <string.h>

#include "backlog.h"
#include "conn.h"
#include "endpoint.h"
#include "hooks.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"

void sb_route_to_bus(int route, const char *const *targets, size_t n, const sb_frame *f, int direct)
{
    size_t len;
    const char *envelope = sb_frame_payload(f, &len);
    sb_hooks_bus_publish(route, targets, n, envelope, len, direct);
}

/* One event on its way to many connections. The envelope is read only when
 * something needs it: a dialect's encode, or a direct message's id for a
 * connection in backlog or a dialect's `delivered`. A frame of ours reads as
 * {"type":"T","data":{"id":"I",...}}, so its type, data text and id are
 * found without parsing; a dialect that takes text (SB_ENDPOINT_EVENT_TEXT)
 * gets them so, and only the others make the host parse the envelope. */
typedef struct fanout {
    sb_frame *native;
    int direct;
    int printed;      /* this node's host printed the frame (a local send, not the bus) */
    const char *user; /* the recipient user being served (direct), else NULL */
    int split;        /* 0: not read yet, 1: type and data found, -1: not our shape */
    char type[32];
    const char *data_json;
    size_t data_len;
    cJSON *env;
    int parsed;
    int id_read;
    char id[SB_ID_LEN + 1];
    unsigned top; /* frames[] and tried[] are used below this index (0: none) */
    sb_frame *frames[SB_ENDPOINTS_MAX];
    unsigned char tried[SB_ENDPOINTS_MAX];
} fanout;

/* Find the type and the data text of the native envelope. Events are framed
 * by sb_frame_envelope (here, or on another node before the bus), which puts
 * nothing after data, so data is what lies between "data": and the last
 * brace; anything else is left to the parser. -> 1 | 0 */
static int fanout_split(fanout *o)
{
    static const char head[] = "{\"type\":\"", mid[] = "\",\"data\":";
    if (o->split)
        return o->split > 0;
    o->split = -1;
    size_t len;
    const char *p = sb_frame_payload(o->native, &len);
    if (len < sizeof(head) - 1 || memcmp(p, head, sizeof(head) - 1) != 0)
        return 0;
    size_t i = sizeof(head) - 1, n = 0;
    while (i + n < len && n < sizeof(o->type) - 1 &&
           ((p[i + n] >= 'a' && p[i + n] <= 'z') || p[i + n] == '_'))
        n++;
    i += n;
    if (n == 0 || len - i < sizeof(mid) - 1 + 3 || memcmp(p + i, mid, sizeof(mid) - 1) != 0)
        return 0;
    i += sizeof(mid) - 1;
    if (p[i] != '{' || p[len - 2] != '}' || p[len - 1] != '}')
        return 0;
    memcpy(o->type, p + sizeof(head) - 1, n);
    o->type[n] = '\0';
    o->data_json = p + i;
    o->data_len = len - 1 - i;
    o->split = 1;
    return 1;
}

static const cJSON *fanout_env(fanout *o)
{
    if (!o->parsed) {
        o->parsed = 1;
        size_t len;
        const char *envelope = sb_frame_payload(o->native, &len);
        o->env = cJSON_ParseWithLength(envelope, len);
    }
    return o->env;
}

/* The id of a direct message: read out of the text ({"id":"..." first, as
 * host->stamp writes it), else out of the parsed envelope. */
static const char *fanout_id(fanout *o)
{
    static const char head[] = "{\"id\":\"";
    if (o->id_read)
        return o->id[0] ? o->id : NULL;
    o->id_read = 1;
    if (fanout_split(o) && o->data_len > sizeof(head) - 1 &&
        memcmp(o->data_json, head, sizeof(head) - 1) == 0) {
        const char *v = o->data_json + sizeof(head) - 1;
        size_t max = o->data_len - (sizeof(head) - 1), n = 0;
        while (n < max && n <= SB_ID_LEN && v[n] != '"' && v[n] != '\\')
            n++;
        if (n < max && n <= SB_ID_LEN && v[n] == '"') {
            memcpy(o->id, v, n);
            o->id[n] = '\0';
            return n ? o->id : NULL;
        }
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(fanout_env(o), "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
    if (cJSON_IsString(id) && strlen(id->valuestring) <= SB_ID_LEN)
        memcpy(o->id, id->valuestring, strlen(id->valuestring) + 1);
    return o->id[0] ? o->id : NULL;
}

/* Forget the dialects' frames: the next recipient user gets its own. */
static void fanout_reset(fanout *o)
{
    for (unsigned i = 0; i < o->top; i++) {
        if (o->frames[i])
            sb_frame_unref(o->frames[i]);
        o->frames[i] = NULL;
        o->tried[i] = 0;
    }
    o->top = 0;
}

static void fanout_free(fanout *o)
{
    fanout_reset(o);
    cJSON_Delete(o->env);
}

static sb_frame *fanout_frame(fanout *o, const sb_conn *c)
{
    const sb_endpoint_entry *e = c->ep;
    if (!e || sb_endpoint_native(e))
        return o->native;
    if (!o->tried[e->index]) {
        o->tried[e->index] = 1;
        if (e->index >= o->top)
            o->top = e->index + 1;
        int rc;
        if ((e->ep.flags & SB_ENDPOINT_EVENT_TEXT) && fanout_split(o))
            o->frames[e->index] = sb_endpoint_frame_text(e, o->type, o->data_json, o->data_len,
                                                         o->printed, c->id, o->user, &rc);
        else
            o->frames[e->index] =
                sb_endpoint_frame_event(e, o->native, fanout_env(o), c->id, o->user, &rc);
    }
    return o->frames[e->index];
}

static int deliver(sb_conn *c, fanout *o)
{
    if (c->closing || c->dead)
        return 0;
    if (!o->direct && c->backlog_seen && sb_backlog_replayed(c, o->native))
        return 0; /* a history replay sent it already (read from the native frame) */
    if (o->direct && c->backlog_seen) {
        const char *id = fanout_id(o);
        if (id && sb_backlog_sent(c, id))
            return 0; /* the backlog sent this one already */
    }
    if (o->direct && c->in_backlog) {
        const char *after = sb_backlog_after(c);
        const char *id = after ? fanout_id(o) : NULL;
        if (!id || strcmp(id, after) >= 0) {
            sb_backlog_mark_dirty(c); /* a later page reads it (or has: equal) */
            return 0;
        }
        /* Behind the cursor: send it now, held behind the backlog. */
    }
    sb_frame *f = fanout_frame(o, c);
    if (!f || sb_conn_send_event(c, f) != SB_OK)
        return 0;
    if (o->direct && c->ep && c->ep->ep.delivered && fanout_id(o))
        c->ep->ep.delivered(c->ep->ud, c->id, c->user, o->id);
    return 1;
}

static int route_users(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn,
                       int direct, int printed, size_t *delivered)
{
    size_t count = 0;
    fanout o = {.native = f, .direct = direct, .printed = printed};
    for (size_t i = 0; i < n; i++) {
        sb_user *u = sb_registry_user(users[i]);
        if (!u)
            continue;
        if (o.user)
            fanout_reset(&o);
        o.user = users[i];
        /* Closing connections stay in the array until the next tick, so
         * the array does not change under this loop. */
        sb_conn **conns = sb_user_conns(u);
        for (size_t j = 0; j < u->n; j++)
            if (conns[j]->id != skip_conn)
                count += (size_t)deliver(conns[j], &o);
    }
    fanout_free(&o);
    if (delivered)
        *delivered = count;
    return SB_OK;
}

int sb_route_users(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn, int direct,
                   size_t *delivered)
{
    return route_users(users, n, f, skip_conn, direct, 0, delivered);
}

int sb_route_users_printed(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn,
                           int direct, size_t *delivered)
{
    return route_users(users, n, f, skip_conn, direct, 1, delivered);
}

/* Whether c is left out as the connection that caused the event, unless
 * its endpoint wants its own broadcasts and publications back. */
static int skipped_sender(const sb_conn *c, uint64_t skip_conn)
{
    return c->id == skip_conn && !(c->ep && (c->ep->ep.flags & SB_ENDPOINT_ECHO));
}

static int route_room(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                      int printed, size_t *delivered)
{
    size_t count = 0;
    fanout o = {.native = f, .printed = printed};
    sb_room *r = sb_registry_room(room);
    if (r) {
        sb_dict_iter it;
        for (sb_dict_iter_init(&it, r->conns); sb_dict_iter_next(&it);) {
            sb_conn *c = it.val;
            if (skipped_sender(c, skip_conn) ||
                (skip_user && c->user && strcmp(c->user, skip_user) == 0))
                continue;
            count += (size_t)deliver(c, &o);
        }
    }
    fanout_free(&o);
    if (delivered)
        *delivered = count;
    return SB_OK;
}

int sb_route_room(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                  size_t *delivered)
{
    return route_room(room, f, skip_conn, skip_user, 0, delivered);
}

int sb_route_room_printed(const char *room, sb_frame *f, uint64_t skip_conn, const char *skip_user,
                          size_t *delivered)
{
    return route_room(room, f, skip_conn, skip_user, 1, delivered);
}

static int route_all(sb_frame *f, uint64_t skip_conn, int printed, size_t *delivered)
{
    size_t count = 0;
    fanout o = {.native = f, .printed = printed};
    for (sb_conn *c = sb_registry_all(); c; c = c->all_next)
        if (!skipped_sender(c, skip_conn))
            count += (size_t)deliver(c, &o);
    fanout_free(&o);
    if (delivered)
        *delivered = count;
    return SB_OK;
}

int sb_route_all(sb_frame *f, uint64_t skip_conn, size_t *delivered)
{
    return route_all(f, skip_conn, 0, delivered);
}

int sb_route_all_printed(sb_frame *f, uint64_t skip_conn, size_t *delivered)
{
    return route_all(f, skip_conn, 1, delivered);
}

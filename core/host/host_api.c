/* The host API table handed to plugins: thin wrappers that look up
 * connections by id, serialize once, and count what /metrics reports. The
 * table is static and const; nothing in it is NULL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "dispatch.h"
#include "endpoint.h"
#include "envelope.h"
#include "handshake.h"
#include "hooks.h"
#include "http.h"
#include "http_routes.h"
#include "ids.h"
#include "json_out.h"
#include "log.h"
#include "native.h"
#include "membership.h"
#include "metrics.h"
#include "names.h"
#include "plugin_host.h"
#include "publish.h"
#include "registry.h"
#include "route.h"
#include "runtime.h"
#include "stamp.h"
#include "store_slot.h"
#include "utf8.h"

/* --- memory, logging, config --- */

static void *h_alloc(size_t n)
{
    return malloc(n);
}

static void h_free(void *p)
{
    free(p);
}

static void h_log(sb_plugin_ctx *pc, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_logv(level, sb_plugin_name(pc), fmt, ap);
    va_end(ap);
}

static const sb_section *h_cfg_server(sb_plugin_ctx *pc)
{
    (void)pc;
    return sb_config_server_section(sb_srv.config);
}

/* --- registration --- */

static int h_register_command(sb_plugin_ctx *pc, const char *type, sb_command_fn fn, void *ud)
{
    return sb_dispatch_register(type, fn, ud, pc, 0);
}

static int h_register_command_ex(sb_plugin_ctx *pc, const char *type, sb_command_fn fn, void *ud,
                                 uint32_t flags)
{
    return sb_dispatch_register(type, fn, ud, pc, flags);
}

static int h_register_endpoint(sb_plugin_ctx *pc, const sb_endpoint *ep, void *ud)
{
    return sb_endpoint_add(ep, ud, pc);
}

static int h_register_route(sb_plugin_ctx *pc, const char *prefix, sb_route_fn fn, void *ud)
{
    if (!prefix || prefix[0] != '/' || !fn)
        return SB_EINVAL;
    return sb_http_route_add(prefix, fn, ud, pc);
}

static int h_register_hooks(sb_plugin_ctx *pc, const sb_hooks *hooks, void *ud)
{
    return sb_hooks_add(hooks, ud, pc);
}

static int h_register_identify(sb_plugin_ctx *pc, sb_identify_fn fn, void *ud)
{
    return sb_hooks_set_identify(fn, ud, pc);
}

static int h_register_store(sb_plugin_ctx *pc, const sb_store *store, void *ud)
{
    return sb_hooks_set_store(store, ud, pc);
}

static int h_register_bus(sb_plugin_ctx *pc, const sb_bus *bus, void *ud)
{
    return sb_hooks_set_bus(bus, ud, pc);
}

/* --- answers --- */

static int h_reply(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *type, const cJSON *data)
{
    (void)pc;
    const struct sb_reply *r = sb_dispatch_cmd_reply(cmd);
    return sb_dispatch_answer(r->conn_id, r->ref_json, type, data);
}

static int h_reply_error(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *code, const char *msg)
{
    (void)pc;
    const struct sb_reply *r = sb_dispatch_cmd_reply(cmd);
    return sb_dispatch_error(r->conn_id, r->ref_json, code, msg);
}

static sb_reply *h_reply_hold(sb_plugin_ctx *pc, const sb_cmd *cmd)
{
    (void)pc;
    const struct sb_reply *r = sb_dispatch_cmd_reply(cmd);
    /* One block: the ref's text follows the struct (held for every stored
     * message until the store answers). */
    size_t ref_len = r->ref_json ? strlen(r->ref_json) + 1 : 0;
    sb_reply *h = malloc(sizeof(*h) + ref_len);
    if (!h)
        return NULL;
    h->conn_id = r->conn_id;
    h->ref_json = r->ref_json ? memcpy(h + 1, r->ref_json, ref_len) : NULL;
    return h;
}

static void h_reply_drop(sb_plugin_ctx *pc, sb_reply *r)
{
    (void)pc;
    free(r); /* the ref's text is in the same block */
}

static int h_reply_later(sb_plugin_ctx *pc, sb_reply *r, const char *type, const cJSON *data)
{
    int rc = sb_dispatch_answer(r->conn_id, r->ref_json, type, data);
    h_reply_drop(pc, r);
    return rc;
}

static int h_reply_later_error(sb_plugin_ctx *pc, sb_reply *r, const char *code, const char *msg)
{
    int rc = sb_dispatch_error(r->conn_id, r->ref_json, code, msg);
    h_reply_drop(pc, r);
    return rc;
}

static uint64_t h_reply_conn(const sb_reply *r)
{
    return r->conn_id;
}

/* --- HTTP --- */

static int h_http_respond(sb_plugin_ctx *pc, uint64_t req_id, int status, const char *ctype,
                          const char *headers, const char *body, size_t len)
{
    (void)pc;
    return sb_http_respond(req_id, status, ctype, headers, body, len);
}

/* --- connections --- */

static sb_conn *live_conn(uint64_t id)
{
    sb_conn *c = sb_conn_find(id);
    return c && !c->dead && !c->closing ? c : NULL;
}

static int h_conn_set_user(sb_plugin_ctx *pc, uint64_t conn_id, const char *user)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    if (!c)
        return SB_ECLOSED;
    if (!sb_user_valid(user))
        return SB_EINVAL;
    return sb_registry_set_user(c, user);
}

static const char *h_conn_user(sb_plugin_ctx *pc, uint64_t conn_id)
{
    (void)pc;
    sb_conn *c = sb_conn_find(conn_id);
    return c ? c->user : NULL;
}

static int h_conn_info(sb_plugin_ctx *pc, uint64_t conn_id, int64_t *since, const char **ip)
{
    (void)pc;
    sb_conn *c = sb_conn_find(conn_id);
    if (!c || c->dead)
        return SB_ECLOSED;
    if (since)
        *since = c->since_ms;
    if (ip) {
        /* The connection keeps its address binary: the text is printed
         * here, in one of a few buffers a caller may hold at once. */
        static char bufs[8][INET6_ADDRSTRLEN];
        static unsigned next;
        *ip = sb_conn_ip(c, bufs[next++ % 8]);
    }
    return SB_OK;
}

static int h_conn_close(sb_plugin_ctx *pc, uint64_t conn_id, int code, const char *reason)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    if (!c)
        return SB_ECLOSED;
    sb_conn_close(c, code, reason);
    return SB_OK;
}

static int h_user_close(sb_plugin_ctx *pc, const char *user, int code, const char *reason,
                        size_t *closed)
{
    (void)pc;
    size_t n = sb_registry_close_user(user, code, reason, 0, 0, NULL);
    sb_registry_close_elsewhere(user, code, reason, 0);
    if (closed)
        *closed = n;
    return SB_OK;
}

static int h_user_online(sb_plugin_ctx *pc, const char *user)
{
    (void)pc;
    return sb_registry_user(user) != NULL;
}

static cJSON *h_users_new(sb_plugin_ctx *pc)
{
    (void)pc;
    return sb_registry_users_json();
}

/* --- rooms --- */

static int h_room_join(sb_plugin_ctx *pc, uint64_t conn_id, const char *room, int *was_in)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    int dummy;
    if (!c)
        return SB_ECLOSED;
    if (!sb_room_valid(room))
        return SB_EINVAL;
    return sb_registry_room_join(c, room, was_in ? was_in : &dummy);
}

static int h_room_leave(sb_plugin_ctx *pc, uint64_t conn_id, const char *room, int *still_in)
{
    (void)pc;
    sb_conn *c = sb_conn_find(conn_id);
    int dummy;
    if (!c)
        return SB_ENOTFOUND;
    return sb_registry_room_leave(c, room, still_in ? still_in : &dummy);
}

static int h_room_has_conn(sb_plugin_ctx *pc, const char *room, uint64_t conn_id)
{
    (void)pc;
    sb_room *r = sb_registry_room(room);
    return r && sb_dict_uget(r->conns, conn_id) != NULL;
}

static cJSON *h_room_users_new(sb_plugin_ctx *pc, const char *room)
{
    (void)pc;
    return sb_registry_room_users_json(room);
}

static int h_room_size(sb_plugin_ctx *pc, const char *room, size_t *users)
{
    (void)pc;
    if (!room || !users)
        return SB_EINVAL;
    sb_room *r = sb_registry_room(room);
    *users = r ? sb_dict_count(r->users) : 0;
    return SB_OK;
}

static cJSON *h_rooms_new(sb_plugin_ctx *pc)
{
    (void)pc;
    return sb_registry_rooms_json();
}

static int h_users_query(sb_plugin_ctx *pc, const char *room, sb_users_fn done, void *arg)
{
    (void)pc;
    if (!done || (room && !sb_room_valid(room)))
        return SB_EINVAL;
    return sb_membership_users_query(room, done, arg);
}

static const char *h_slot_owner(sb_plugin_ctx *pc, const char *slot)
{
    (void)pc;
    return slot ? sb_hooks_slot_owner(slot) : NULL;
}

static cJSON *h_conn_rooms_new(sb_plugin_ctx *pc, uint64_t conn_id)
{
    (void)pc;
    sb_conn *c = sb_conn_find(conn_id);
    return c ? sb_registry_conn_rooms_json(c) : cJSON_CreateArray();
}

/* --- routing --- */

static int h_send_conn(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *data)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    if (!c)
        return SB_ECLOSED;
    int rc;
    sb_frame *f = sb_endpoint_frame(c->ep, 0, type, NULL, data, c->id, c->user, &rc);
    if (!f)
        return rc; /* SB_OK: the connection's codec sends nothing */
    rc = sb_conn_send_event(c, f);
    sb_frame_unref(f);
    return rc;
}

static int h_submit(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *ref,
                    const cJSON *data)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    if (!c || !c->ep)
        return SB_ECLOSED;
    if (!type || !*type || (data && !cJSON_IsObject(data)))
        return SB_EINVAL;
    cJSON *empty = data ? NULL : cJSON_CreateObject();
    char *ref_json = sb_native_ref_json(ref);
    if ((!data && !empty) || (ref && !ref_json)) {
        cJSON_Delete(empty);
        cJSON_free(ref_json);
        return SB_ENOMEM;
    }
    c->busy++; /* a handler may close it: freed after this call, not during */
    sb_dispatch_command(c, type, ref, ref_json, data ? data : empty);
    cJSON_Delete(empty);
    cJSON_free(ref_json);
    if (--c->busy == 0 && c->dead)
        sb_conn_destroy(c);
    return SB_OK;
}

static int h_identify(sb_plugin_ctx *pc, const sb_http_req *req, char user[SB_USER_MAX + 1],
                      const char **reason)
{
    (void)pc;
    const char *why = NULL;
    int r = sb_handshake_identify(req, user, &why);
    if (reason)
        *reason = why;
    return r;
}

/* Deliver f (taken) to users on this node, then hand it to the bus. */
static int send_users_frame(const char *const *users, size_t n, sb_frame *f, uint64_t skip_conn,
                            int direct, size_t *delivered)
{
    if (!f)
        return SB_ENOMEM;
    int rc = sb_route_users_printed(users, n, f, skip_conn, direct, delivered);
    sb_route_to_bus(SB_ROUTE_USERS, users, n, f, direct);
    sb_frame_unref(f);
    return rc;
}

static int h_send_users(sb_plugin_ctx *pc, const char *const *users, size_t n, const char *type,
                        const cJSON *data, uint64_t skip_conn, int direct, size_t *delivered)
{
    (void)pc;
    return send_users_frame(users, n, sb_native_encode(type, NULL, data), skip_conn, direct,
                            delivered);
}

static int h_send_users_json(sb_plugin_ctx *pc, const char *const *users, size_t n,
                             const char *type, const char *json, size_t len, uint64_t skip_conn,
                             int direct, size_t *delivered)
{
    (void)pc;
    if (!type || !json || len < 2 || json[0] != '{' || json[len - 1] != '}')
        return SB_EINVAL;
    return send_users_frame(users, n, sb_frame_envelope(type, NULL, json, len), skip_conn, direct,
                            delivered);
}

static char *h_json_print_new(const cJSON *j, size_t *len)
{
    size_t n = 0;
    const char *text = j ? sb_json_out(j, &n) : NULL;
    char *copy = text ? malloc(n + 1) : NULL;
    if (copy) {
        memcpy(copy, text, n + 1);
        if (len)
            *len = n;
    }
    return copy;
}

static char *h_print_unfiltered_new(sb_plugin_ctx *pc, const sb_filter_msg *msg, const cJSON *data,
                                    size_t *len, int *filtered)
{
    (void)pc;
    /* A message without its routing fields goes the chain's way, which
     * refuses it. */
    *filtered = sb_hooks_has_filter() || !msg ||
                msg->size < offsetof(sb_filter_msg, ts) + sizeof(msg->ts) || !msg->id || !msg->from;
    if (*filtered)
        return NULL;
    size_t n = 0;
    const char *printed = sb_stamp_print(data, msg->id, msg->from, msg->to, msg->room, msg->ts, &n);
    char *text = printed ? malloc(n + 1) : NULL;
    if (text) {
        memcpy(text, printed, n + 1);
        if (len)
            *len = n;
    }
    return text;
}

static int h_send_room(sb_plugin_ctx *pc, const char *room, const char *type, const cJSON *data,
                       uint64_t skip_conn, const char *skip_user, size_t *delivered)
{
    (void)pc;
    sb_frame *f = sb_native_encode(type, NULL, data);
    if (!f)
        return SB_ENOMEM;
    int rc = sb_route_room_printed(room, f, skip_conn, skip_user, delivered);
    const char *targets[2] = {room, skip_user};
    size_t n = skip_user && sb_hooks_bus_has_membership() ? 2 : 1;
    sb_route_to_bus(SB_ROUTE_ROOM, targets, n, f, 0);
    sb_frame_unref(f);
    return rc;
}

static int h_send_all(sb_plugin_ctx *pc, const char *type, const cJSON *data, uint64_t skip_conn,
                      size_t *delivered)
{
    (void)pc;
    sb_frame *f = sb_native_encode(type, NULL, data);
    if (!f)
        return SB_ENOMEM;
    int rc = sb_route_all_printed(f, skip_conn, delivered);
    sb_route_to_bus(SB_ROUTE_ALL, NULL, 0, f, 0);
    sb_frame_unref(f);
    return rc;
}

/* SB_ROUTE_CLOSE carries no frame: another node asks this one to close a
 * user's connections (user_close, sessions = replace). */
static int deliver_close(const char *const *targets, size_t n, const char *envelope, size_t len)
{
    if (n != 1 || !targets[0])
        return SB_EINVAL;
    cJSON *env = cJSON_ParseWithLength(envelope, len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(env, "code");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(env, "reason");
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(env, "before");
    int rc = SB_EINVAL;
    /* The codes an application may send (RFC 6455 7.4), a reason that fits a close frame. */
    if (cJSON_IsNumber(code) && code->valuedouble >= 1000 && code->valuedouble <= 4999 &&
        cJSON_IsString(reason) && strlen(reason->valuestring) <= 123 && cJSON_IsNumber(before)) {
        sb_registry_close_user(targets[0], code->valueint, reason->valuestring,
                               (int64_t)before->valuedouble, 0, NULL);
        rc = SB_OK;
    }
    cJSON_Delete(env);
    return rc;
}

static int h_deliver_local(sb_plugin_ctx *pc, int route, const char *const *targets, size_t n,
                           const char *envelope, size_t len, int direct)
{
    (void)pc;
    if (route == SB_ROUTE_CLOSE)
        return deliver_close(targets, n, envelope, len);
    sb_frame *f = sb_frame_ws(1, envelope, len);
    if (!f)
        return SB_ENOMEM;
    int rc = SB_EINVAL;
    if (route == SB_ROUTE_USERS)
        rc = sb_route_users(targets, n, f, 0, direct, NULL);
    else if (route == SB_ROUTE_ROOM && (n == 1 || n == 2))
        rc = sb_route_room(targets[0], f, 0, n == 2 ? targets[1] : NULL, NULL);
    else if (route == SB_ROUTE_ALL)
        rc = sb_route_all(f, 0, NULL);
    sb_frame_unref(f);
    return rc;
}

/* --- hook chains --- */

static int h_run_authorize(sb_plugin_ctx *pc, const char *user, const char *action,
                           const char *target, const cJSON *data, char *reason, size_t len)
{
    (void)pc;
    return sb_hooks_authorize(user, action, target, data, reason, len);
}

static int h_run_filter(sb_plugin_ctx *pc, const sb_filter_msg *msg, cJSON **data, char *reason,
                        size_t len)
{
    (void)pc;
    return sb_hooks_filter(msg, data, reason, len);
}

static int h_filter_print(sb_plugin_ctx *pc, const sb_filter_msg *msg, const cJSON *data,
                          char **json, size_t *len, char *reason, size_t reason_len)
{
    (void)pc;
    return sb_hooks_filter_print(msg, data, json, len, reason, reason_len);
}

static int h_run_authenticate(sb_plugin_ctx *pc, const char *token, const sb_http_req *req,
                              char user[SB_USER_MAX + 1], char *reason, size_t len)
{
    (void)pc;
    return sb_hooks_authenticate(token, req, user, reason, len);
}

/* --- store through the slot (store_slot.c counts and times it) --- */

static int h_store_put(sb_plugin_ctx *pc, const char *const *users, size_t n, const char *id,
                       const char *json, size_t len, sb_store_done_fn done, void *arg)
{
    (void)pc;
    return sb_store_slot_put(users, n, id, json, len, done, arg);
}

static int h_store_remove(sb_plugin_ctx *pc, const char *user, const char *const *ids, size_t n,
                          sb_store_removed_fn done, void *arg)
{
    (void)pc;
    return sb_store_slot_remove(user, ids, n, done, arg);
}

static int h_store_page(sb_plugin_ctx *pc, const char *user, const char *after, size_t limit,
                        sb_store_page_fn done, void *arg)
{
    (void)pc;
    return sb_store_slot_page(user, after, limit, done, arg);
}

/* --- room history (since 1.2) --- */

static int h_store_history_put(sb_plugin_ctx *pc, const char *room, const char *id,
                               const char *json, size_t len, size_t keep, const char *expire_before,
                               sb_store_done_fn done, void *arg)
{
    (void)pc;
    return sb_store_slot_history_put(room, id, json, len, keep, expire_before, done, arg);
}

static int h_store_history_page(sb_plugin_ctx *pc, const char *room, const char *after,
                                const char *before, size_t limit, sb_history_page_fn done,
                                void *arg)
{
    (void)pc;
    return sb_store_slot_history_page(room, after, before, limit, done, arg);
}

static int h_conn_hold(sb_plugin_ctx *pc, uint64_t conn_id)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    return c ? sb_backlog_hold(c) : SB_ECLOSED;
}

static int h_conn_release(sb_plugin_ctx *pc, uint64_t conn_id, const char *type,
                          const sb_stored *msgs, size_t n)
{
    (void)pc;
    sb_conn *c = live_conn(conn_id);
    if (!c)
        return SB_ECLOSED;
    if (!type || (n && !msgs))
        return SB_EINVAL;
    return sb_backlog_release(c, type, msgs, n);
}

/* --- room publications (since 1.3) --- */

static int h_publish_room(sb_plugin_ctx *pc, const char *room, const cJSON *data,
                          uint64_t skip_conn, size_t *delivered, sb_published_fn done, void *arg)
{
    (void)pc;
    return sb_publish_room(room, data, skip_conn, delivered, done, arg);
}

/* since 1.4: the rooms plugin owns the history keys; the core keeps what it
 * is told for publish_room, whoever publishes. */
static int h_room_history_configure(sb_plugin_ctx *pc, long keep, long ttl_s)
{
    (void)pc;
    if (keep < 0 || ttl_s < 0)
        return SB_EINVAL;
    sb_publish_configure(keep, ttl_s);
    return SB_OK;
}

/* --- ids, time --- */

static void h_id_new(sb_plugin_ctx *pc, char out[SB_ID_LEN + 1])
{
    (void)pc;
    sb_id_new(out);
}

/* --- loop services --- */

/* Every timer, watch and wake-up is on the list of live resources with its
 * owner until the plugin frees it or is forgotten (init failed, or unloaded
 * after its fini). Forgetting stops the watcher and moves the handle to the
 * released list, where it waits for exit: the plugin may still hold it, so
 * its *_free (or a thread's wakeup_signal) stays valid and frees it once. */
enum res_kind { RES_TIMER, RES_WATCH, RES_WAKEUP };

typedef struct plugin_res {
    struct plugin_res *prev, *next;
    sb_plugin_ctx *owner;
    int kind;
} plugin_res;

static plugin_res live = {&live, &live, NULL, -1};
static plugin_res released = {&released, &released, NULL, -1};

static void res_link(plugin_res *list, plugin_res *r)
{
    r->prev = list->prev;
    r->next = list;
    list->prev->next = r;
    list->prev = r;
}

static void res_unlink(plugin_res *r)
{
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->prev = r->next = r;
}

struct sb_timer {
    ev_timer w;
    plugin_res res;
    sb_cb_fn cb;
    void *arg;
};

static void plugin_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sb_timer *t = (struct sb_timer *)w;
    t->cb(t->arg);
}

static sb_timer *h_timer_new(sb_plugin_ctx *pc, double after, double repeat, sb_cb_fn cb, void *arg)
{
    struct sb_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->res = (plugin_res){.owner = pc, .kind = RES_TIMER};
    res_link(&live, &t->res);
    t->cb = cb;
    t->arg = arg;
    ev_timer_init(&t->w, plugin_timer_cb, after, repeat);
    ev_timer_start(sb_srv.loop, &t->w);
    return t;
}

static void h_timer_free(sb_timer *t)
{
    if (!t)
        return;
    ev_timer_stop(sb_srv.loop, &t->w);
    res_unlink(&t->res);
    free(t);
}

struct sb_watch {
    ev_io w;
    plugin_res res;
    void (*cb)(void *, int);
    void *arg;
};

static void plugin_watch_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct sb_watch *sw = (struct sb_watch *)w;
    sw->cb(sw->arg, (revents & EV_READ ? SB_READ : 0) | (revents & EV_WRITE ? SB_WRITE : 0));
}

static int h_watch_set(sb_watch *w, int events)
{
    ev_io_stop(sb_srv.loop, &w->w);
    int ev = (events & SB_READ ? EV_READ : 0) | (events & SB_WRITE ? EV_WRITE : 0);
    if (ev && w->res.owner) { /* a released watch stays stopped */
        ev_io_set(&w->w, w->w.fd, ev);
        ev_io_start(sb_srv.loop, &w->w);
    }
    return SB_OK;
}

static sb_watch *h_watch_new(sb_plugin_ctx *pc, int fd, int events, void (*cb)(void *, int),
                             void *arg)
{
    struct sb_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->res = (plugin_res){.owner = pc, .kind = RES_WATCH};
    res_link(&live, &w->res);
    w->cb = cb;
    w->arg = arg;
    ev_io_init(&w->w, plugin_watch_cb, fd, EV_READ);
    h_watch_set(w, events);
    return w;
}

static void h_watch_free(sb_watch *w)
{
    if (!w)
        return;
    ev_io_stop(sb_srv.loop, &w->w);
    res_unlink(&w->res);
    free(w);
}

struct sb_wakeup {
    ev_async w;
    plugin_res res;
    sb_cb_fn cb;
    void *arg;
};

static void plugin_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sb_wakeup *a = (struct sb_wakeup *)w;
    a->cb(a->arg);
}

static sb_wakeup *h_wakeup_new(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg)
{
    struct sb_wakeup *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->res = (plugin_res){.owner = pc, .kind = RES_WAKEUP};
    res_link(&live, &a->res);
    a->cb = cb;
    a->arg = arg;
    ev_async_init(&a->w, plugin_async_cb);
    ev_async_start(sb_srv.loop, &a->w);
    return a;
}

static void h_wakeup_signal(sb_wakeup *a)
{
    ev_async_send(sb_srv.loop, &a->w);
}

static void h_wakeup_free(sb_wakeup *a)
{
    if (!a)
        return;
    ev_async_stop(sb_srv.loop, &a->w);
    res_unlink(&a->res);
    free(a);
}

#define RES_OF(type, r) ((type *)((char *)(r)-offsetof(type, res)))

static void res_stop(plugin_res *r)
{
    if (r->kind == RES_TIMER)
        ev_timer_stop(sb_srv.loop, &RES_OF(struct sb_timer, r)->w);
    else if (r->kind == RES_WATCH)
        ev_io_stop(sb_srv.loop, &RES_OF(struct sb_watch, r)->w);
    else
        ev_async_stop(sb_srv.loop, &RES_OF(struct sb_wakeup, r)->w);
}

static void res_free(plugin_res *r)
{
    if (r->kind == RES_TIMER)
        free(RES_OF(struct sb_timer, r));
    else if (r->kind == RES_WATCH)
        free(RES_OF(struct sb_watch, r));
    else
        free(RES_OF(struct sb_wakeup, r));
}

void sb_host_api_release(sb_plugin_ctx *pc)
{
    for (plugin_res *r = live.next, *next; r != &live; r = next) {
        next = r->next;
        if (r->owner != pc)
            continue;
        res_stop(r);
        res_unlink(r);
        r->owner = NULL;
        res_link(&released, r);
    }
    sb_metrics_remove_owner(pc);
}

void sb_host_api_free(void)
{
    while (released.next != &released) {
        plugin_res *r = released.next;
        res_unlink(r);
        res_free(r);
    }
}

static int h_later(sb_plugin_ctx *pc, sb_cb_fn cb, void *arg)
{
    (void)pc;
    return sb_server_later(cb, arg);
}

/* --- metrics --- */

static sb_counter *h_counter_new(sb_plugin_ctx *pc, const char *name, const char *help)
{
    return sb_metrics_counter_new(name, help, pc);
}

static int h_gauge_fn(sb_plugin_ctx *pc, const char *name, const char *help, double (*fn)(void *),
                      void *arg)
{
    return sb_metrics_gauge_fn(name, help, fn, arg, pc);
}

/* --- JSON and text --- */

static cJSON *h_json_parse_new(const char *buf, size_t len, const char **why)
{
    return sb_json_parse_strict(buf, len, why);
}

static int h_utf8_valid(const char *s, size_t len)
{
    return sb_utf8_valid((const uint8_t *)s, len);
}

static const sb_host_api host_api = {
    .size = sizeof(sb_host_api),
    .abi_major = SB_ABI_MAJOR,
    .abi_minor = SB_ABI_MINOR,
    .version = SB_VERSION,
    .alloc = h_alloc,
    .free = h_free,
    .log = h_log,
    .cfg_string = sb_section_string,
    .cfg_int = sb_section_int,
    .cfg_bool = sb_section_bool,
    .cfg_path = sb_section_path,
    .cfg_server = h_cfg_server,
    .register_command = h_register_command,
    .register_route = h_register_route,
    .register_hooks = h_register_hooks,
    .register_identify = h_register_identify,
    .register_store = h_register_store,
    .register_bus = h_register_bus,
    .reply = h_reply,
    .reply_error = h_reply_error,
    .reply_hold = h_reply_hold,
    .reply_later = h_reply_later,
    .reply_later_error = h_reply_later_error,
    .reply_drop = h_reply_drop,
    .reply_conn = h_reply_conn,
    .http_respond = h_http_respond,
    .http_header = sb_http_header,
    .query_param = sb_query_param,
    .url_decode = sb_url_decode,
    .user_valid = sb_user_valid,
    .room_valid = sb_room_valid,
    .conn_set_user = h_conn_set_user,
    .conn_user = h_conn_user,
    .conn_info = h_conn_info,
    .conn_close = h_conn_close,
    .user_close = h_user_close,
    .user_online = h_user_online,
    .users_new = h_users_new,
    .room_join = h_room_join,
    .room_leave = h_room_leave,
    .room_has_conn = h_room_has_conn,
    .room_users_new = h_room_users_new,
    .conn_rooms_new = h_conn_rooms_new,
    .send_conn = h_send_conn,
    .send_users = h_send_users,
    .send_room = h_send_room,
    .send_all = h_send_all,
    .deliver_local = h_deliver_local,
    .run_authorize = h_run_authorize,
    .run_filter = h_run_filter,
    .run_authenticate = h_run_authenticate,
    .store_put = h_store_put,
    .store_remove = h_store_remove,
    .store_page = h_store_page,
    .id_new = h_id_new,
    .now_ms = sb_now_ms,
    .timer_new = h_timer_new,
    .timer_free = h_timer_free,
    .watch_new = h_watch_new,
    .watch_set = h_watch_set,
    .watch_free = h_watch_free,
    .wakeup_new = h_wakeup_new,
    .wakeup_signal = h_wakeup_signal,
    .wakeup_free = h_wakeup_free,
    .later = h_later,
    .users_query = h_users_query,
    .rooms_new = h_rooms_new,
    .slot_owner = h_slot_owner,
    .stamp = sb_stamp,
    .counter_new = h_counter_new,
    .counter_add = sb_metrics_counter_add,
    .gauge_fn = h_gauge_fn,
    .json_parse_new = h_json_parse_new,
    .utf8_valid = h_utf8_valid,
    .register_endpoint = h_register_endpoint,
    .submit = h_submit,
    .identify = h_identify,
    .register_command_ex = h_register_command_ex,
    .json_print_new = h_json_print_new,
    .send_users_json = h_send_users_json,
    .store_history_put = h_store_history_put,
    .store_history_page = h_store_history_page,
    .conn_hold = h_conn_hold,
    .conn_release = h_conn_release,
    .room_size = h_room_size,
    .publish_room = h_publish_room,
    .print_unfiltered_new = h_print_unfiltered_new,
    .room_history_configure = h_room_history_configure,
    .filter_print = h_filter_print,
};

const sb_host_api *sb_host_api_table(void)
{
    return &host_api;
}

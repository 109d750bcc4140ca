/* bus_redis: the bus slot over Redis pub/sub, so several switchboard nodes
 * sharing one Redis (and store_redis) deliver to each other's connections.
 * One context PUBLISHes on <prefix>bus (with the PING watchdog) and keeps
 * the membership sets (bus_redis_members.c), another SUBSCRIBEs and hands
 * frames from other nodes to host->deliver_local. After a re-subscribe the
 * local users' inboxes are replayed (pub/sub is at-most-once; ids let
 * clients drop duplicates). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_redis_frame.h"
#include "bus_redis_members.h"
#include "store_redis_conn.h"

#define BUS_REDIS_VERSION     "1.1.0"
#define BUS_REDIS_PAGE        100
#define BUS_REDIS_MAX_TARGETS 100000

typedef struct bus_redis {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    store_redis_conn pub, sub;
    char channel[80];
    char node[160];
    int subscribed;      /* the SUBSCRIBE was confirmed */
    int ever_subscribed; /* a later subscribe is a re-subscribe: replay */
    int stopping;
    size_t replays; /* inbox replays in flight (fini waits for none: see below) */
    bus_redis_members members;
} bus_redis;

/* --- publishing ------------------------------------------------------------ */

static void bus_redis_published(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    bus_redis *b = priv;
    const redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        b->host->log(b->pc, SB_LOG_WARN, "PUBLISH: %s", reply->str);
}

static int bus_redis_publish(void *ud, int route, const char *const *targets, size_t n_targets,
                             const char *envelope, size_t len, int direct)
{
    bus_redis *b = ud;
    if (!b->pub.up)
        return SB_EUNAVAILABLE;
    size_t frame_len;
    char *frame =
        bus_redis_frame_new(b->node, route, targets, n_targets, envelope, len, direct, &frame_len);
    if (!frame)
        return SB_ENOMEM;
    const char *argv[3] = {"PUBLISH", b->channel, frame};
    size_t lens[3] = {7, strlen(b->channel), frame_len};
    int rc = store_redis_conn_cmd(&b->pub, bus_redis_published, b, 3, argv, lens);
    free(frame);
    return rc;
}

static int bus_redis_ready(void *ud, const char **why)
{
    bus_redis *b = ud;
    if (!b->pub.up) {
        *why = b->pub.why[0] ? b->pub.why : "redis: not connected";
        return 0;
    }
    if (!b->subscribed) {
        *why = b->sub.why[0] ? b->sub.why : "redis: not subscribed";
        return 0;
    }
    return 1;
}

/* --- membership across nodes ------------------------------------------------- */

static void bus_redis_membership(void *ud, int event, const char *user, const char *room)
{
    bus_redis *b = ud;
    bus_redis_members_event(&b->members, event, user, room);
}

static int bus_redis_users(void *ud, const char *room, sb_users_fn done, void *arg)
{
    bus_redis *b = ud;
    return bus_redis_members_users(&b->members, room, done, arg);
}

static void bus_redis_pub_event(void *arg, int up)
{
    bus_redis *b = arg;
    if (up)
        bus_redis_members_resync(&b->members);
}

/* --- replay after a re-subscribe -------------------------------------------- */

/* The store has its own connection to Redis, which may come back after the
 * subscription does (or answer LOADING for a moment): a page it cannot read
 * yet is asked for again, every BUS_REDIS_REPLAY_WAIT s, for a while. */
#define BUS_REDIS_REPLAY_WAIT  0.2
#define BUS_REDIS_REPLAY_TRIES 50

typedef struct bus_redis_replay {
    bus_redis *b;
    char user[SB_USER_MAX + 1];
    char after[SB_ID_LEN + 1]; /* the last id replayed; "" from the start */
    int tries;
    sb_timer *retry;
} bus_redis_replay;

static void bus_redis_replay_page(void *arg, int status, const sb_stored *msgs, size_t n, int more);
static void bus_redis_replay_next(bus_redis_replay *r);

static void bus_redis_replay_done(bus_redis_replay *r)
{
    r->b->replays--;
    r->b->host->free(r);
}

static void bus_redis_replay_retry_cb(void *arg)
{
    bus_redis_replay *r = arg;
    r->b->host->timer_free(r->retry);
    r->retry = NULL;
    bus_redis_replay_next(r);
}

/* The store cannot answer yet: try the same page again later, or give up. */
static void bus_redis_replay_later(bus_redis_replay *r)
{
    bus_redis *b = r->b;
    if (b->stopping || ++r->tries >= BUS_REDIS_REPLAY_TRIES ||
        !(r->retry =
              b->host->timer_new(b->pc, BUS_REDIS_REPLAY_WAIT, 0, bus_redis_replay_retry_cb, r))) {
        b->host->log(b->pc, SB_LOG_WARN, "replaying the inbox of %s: the store did not answer",
                     r->user);
        bus_redis_replay_done(r);
    }
}

static void bus_redis_replay_next(bus_redis_replay *r)
{
    bus_redis *b = r->b;
    if (b->stopping) {
        bus_redis_replay_done(r);
        return;
    }
    int rc = b->host->store_page(b->pc, r->user, r->after[0] ? r->after : NULL, BUS_REDIS_PAGE,
                                 bus_redis_replay_page, r);
    if (rc == SB_EUNAVAILABLE)
        bus_redis_replay_later(r);
    else if (rc != SB_OK)
        bus_redis_replay_done(r);
}

static void bus_redis_replay_page(void *arg, int status, const sb_stored *msgs, size_t n, int more)
{
    bus_redis_replay *r = arg;
    bus_redis *b = r->b;
    const char *target = r->user;
    for (size_t i = 0; status == SB_OK && !b->stopping && i < n; i++) {
        static const char head[] = "{\"type\":\"message\",\"data\":";
        size_t len = sizeof head - 1 + msgs[i].len + 1;
        char *env = malloc(len + 1);
        if (!env)
            break;
        memcpy(env, head, sizeof head - 1);
        memcpy(env + sizeof head - 1, msgs[i].json, msgs[i].len);
        env[len - 1] = '}';
        env[len] = '\0';
        b->host->deliver_local(b->pc, SB_ROUTE_USERS, &target, 1, env, len, 1);
        free(env);
    }
    if (status == SB_OK && more && n > 0) {
        snprintf(r->after, sizeof r->after, "%s", msgs[n - 1].id);
        r->tries = 0;
        bus_redis_replay_next(r);
        return;
    }
    if (status == SB_EUNAVAILABLE) {
        bus_redis_replay_later(r);
        return;
    }
    bus_redis_replay_done(r);
}

/* Messages published while the subscription was down never arrive: hand each
 * online user its inbox again. */
static void bus_redis_replay_all(bus_redis *b)
{
    cJSON *users = b->host->users_new(b->pc);
    const cJSON *u;
    size_t n = 0;
    cJSON_ArrayForEach(u, users)
    {
        if (!cJSON_IsString(u))
            continue;
        bus_redis_replay *r = b->host->alloc(sizeof *r);
        if (!r)
            break;
        memset(r, 0, sizeof *r);
        r->b = b;
        snprintf(r->user, sizeof r->user, "%s", u->valuestring);
        b->replays++;
        n++;
        bus_redis_replay_next(r);
    }
    cJSON_Delete(users);
    b->host->log(b->pc, SB_LOG_INFO, "re-subscribed: replaying the inboxes of %zu user(s)", n);
}

/* --- subscribing ------------------------------------------------------------ */

static void bus_redis_on_message(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    bus_redis *b = priv;
    const redisReply *reply = r;
    if (!reply) { /* the context is gone: a reconnect subscribes again */
        b->subscribed = 0;
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        b->subscribed = 1;
        b->host->log(b->pc, SB_LOG_INFO, "subscribed to %s as node %s", b->channel, b->node);
        if (b->ever_subscribed)
            bus_redis_replay_all(b);
        b->ever_subscribed = 1;
        return;
    }
    if (strcmp(kind, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *payload = reply->element[2];
    bus_redis_frame f;
    const char *why = NULL;
    if (bus_redis_frame_parse(payload->str, payload->len, &f, &why) != 0) {
        b->host->log(b->pc, SB_LOG_WARN, "dropped a bus message: %s", why);
        return;
    }
    if (strcmp(f.node, b->node) != 0) /* our own was delivered locally already */
        b->host->deliver_local(b->pc, f.route, f.targets, f.n_targets, f.envelope, f.len, f.direct);
    bus_redis_frame_free(&f);
}

static void bus_redis_sub_event(void *arg, int up)
{
    bus_redis *b = arg;
    if (!up) {
        b->subscribed = 0;
        return;
    }
    const char *argv[2] = {"SUBSCRIBE", b->channel};
    size_t lens[2] = {9, strlen(b->channel)};
    if (store_redis_conn_cmd(&b->sub, bus_redis_on_message, b, 2, argv, lens) != SB_OK)
        b->host->log(b->pc, SB_LOG_ERROR, "cannot send SUBSCRIBE");
}

/* --- descriptor --------------------------------------------------------------- */

static void bus_redis_fini(void *userdata)
{
    bus_redis *b = userdata;
    if (!b)
        return;
    b->stopping = 1;
    bus_redis_members_stop(&b->members);
    store_redis_conn_close(&b->sub);
    store_redis_conn_close(&b->pub);
    /* Replays in flight hold b; store_redis (loaded first, finished after us)
     * still completes them, so they are left to leak rather than dangle. */
    if (b->replays == 0)
        b->host->free(b);
}

/* node_id default: hostname:port of [server] listen. */
static void bus_redis_default_node(bus_redis *b)
{
    const char *listen = b->host->cfg_string(b->host->cfg_server(b->pc), "listen", "");
    const char *port = strrchr(listen, ':');
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(b->node, sizeof b->node, "%s:%s", host, port ? port + 1 : listen);
}

static int bus_redis_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                          void **userdata)
{
    bus_redis *b = host->alloc(sizeof *b);
    if (!b)
        return SB_ENOMEM;
    memset(b, 0, sizeof *b);
    b->host = host;
    b->pc = pc;
    const char *url = host->cfg_string(cfg, "url", "redis://127.0.0.1:6379/0");
    const char *prefix = host->cfg_string(cfg, "prefix", "sb:");
    const char *node = host->cfg_string(cfg, "node_id", "");
    int wait = 0;
    long ttl = 5;
    if (host->cfg_bool(cfg, "wait", 0, &wait) != SB_OK ||
        host->cfg_int(cfg, "node_ttl", 5, 2, 3600, &ttl) != SB_OK) {
        host->free(b);
        return SB_EINVAL;
    }
    /* Inboxes must be shared: a message stored on one node is read through
     * another. The store registers first (plugins.conf order). */
    const char *store = host->slot_owner(pc, "store");
    if (!store || strcmp(store, "store_redis") != 0) {
        host->log(pc, SB_LOG_ERROR,
                  "needs store_redis enabled and listed before it (inboxes must be shared by "
                  "every node); the store slot is %s%s",
                  store ? "held by " : "empty", store ? store : "");
        host->free(b);
        return SB_EINVAL;
    }
    if (strlen(prefix) > 64 || strlen(node) >= sizeof b->node) {
        host->log(pc, SB_LOG_ERROR, "prefix (64) or node_id (%zu) too long", sizeof b->node - 1);
        host->free(b);
        return SB_EINVAL;
    }
    snprintf(b->channel, sizeof b->channel, "%sbus", prefix);
    if (node[0])
        snprintf(b->node, sizeof b->node, "%s", node);
    else
        bus_redis_default_node(b);
    int rc = store_redis_conn_open(&b->pub, host, pc, url, wait, STORE_REDIS_CONN_NO_AOF_WARN);
    if (rc == SB_OK)
        rc = store_redis_conn_open(&b->sub, host, pc, url, wait,
                                   STORE_REDIS_CONN_SUBSCRIBER | STORE_REDIS_CONN_NO_AOF_WARN);
    if (rc != SB_OK) {
        host->free(b);
        return rc;
    }
    b->sub.on_event = bus_redis_sub_event;
    b->sub.event_arg = b;
    b->pub.on_event = bus_redis_pub_event;
    b->pub.event_arg = b;
    rc = bus_redis_members_start(&b->members, host, pc, &b->pub, prefix, b->node, ttl * 1000);
    if (rc == SB_OK)
        rc = store_redis_conn_start(&b->pub);
    if (rc == SB_OK)
        rc = store_redis_conn_start(&b->sub);
    const sb_bus bus = {SB_BUS_INIT, .publish = bus_redis_publish, .ready = bus_redis_ready,
                        .membership = bus_redis_membership, .users = bus_redis_users};
    if (rc == SB_OK) {
        rc = host->register_bus(pc, &bus, b);
        if (rc != SB_OK)
            host->log(pc, SB_LOG_ERROR, "cannot fill the bus slot: another bus is enabled");
    }
    if (rc != SB_OK) {
        bus_redis_fini(b);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "%s: channel %s, node %s, node_ttl %lds", url, b->channel, b->node,
              ttl);
    *userdata = b;
    return SB_OK;
}

/* --check-config: the keys and the URL, without connecting. That
 * store_redis holds the store slot is init's check (it needs init). */
static int bus_redis_check(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg)
{
    const char *url = host->cfg_string(cfg, "url", "redis://127.0.0.1:6379/0");
    const char *prefix = host->cfg_string(cfg, "prefix", "sb:");
    const char *node = host->cfg_string(cfg, "node_id", "");
    int wait;
    long ttl;
    if (host->cfg_bool(cfg, "wait", 0, &wait) != SB_OK ||
        host->cfg_int(cfg, "node_ttl", 5, 2, 3600, &ttl) != SB_OK)
        return SB_EINVAL;
    if (strlen(prefix) > 64 || strlen(node) >= sizeof((bus_redis *)0)->node) {
        host->log(pc, SB_LOG_ERROR, "prefix (64) or node_id (%zu) too long",
                  sizeof((bus_redis *)0)->node - 1);
        return SB_EINVAL;
    }
    store_redis_url u;
    const char *why;
    if (store_redis_url_parse(url, host->url_decode, &u, &why) != 0) {
        host->log(pc, SB_LOG_ERROR, "url %s: %s", url, why);
        return SB_EINVAL;
    }
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,         .name = "bus_redis",    .version = BUS_REDIS_VERSION,
    .init = bus_redis_init, .fini = bus_redis_fini, .check = bus_redis_check,
};

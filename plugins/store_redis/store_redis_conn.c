/* store_redis_conn: hiredis 0.14 on the host loop. The adapter maps hiredis'
 * addRead/delRead/addWrite/delWrite/cleanup onto one sb_watch per context.
 * hiredis 0.14 has no async timeouts, so a 1 s PING watchdog frees a context
 * that stayed silent for 3 s; freeing runs every pending callback with a NULL
 * reply, which the owners turn into SB_EUNAVAILABLE. */
#include "store_redis_conn.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define STORE_REDIS_WATCHDOG_S  1.0
#define STORE_REDIS_SILENT_MS   3000
#define STORE_REDIS_BACKOFF_MIN 0.1
#define STORE_REDIS_BACKOFF_MAX 2.0

/* --- the adapter ------------------------------------------------------- */

typedef struct store_redis_ev {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    sb_watch *w;
    int events;
    int in_cb; /* inside our watch callback: freeing the watch must wait */
} store_redis_ev;

static void store_redis_ev_cb(void *arg, int revents)
{
    store_redis_ev *e = arg;
    e->in_cb = 1;
    /* A read may free the context (and clear e->ac through cleanup); e itself
     * stays valid until the deferred free. */
    if ((revents & SB_READ) && e->ac)
        redisAsyncHandleRead(e->ac);
    if ((revents & SB_WRITE) && e->ac)
        redisAsyncHandleWrite(e->ac);
    e->in_cb = 0;
}

static void store_redis_ev_set(store_redis_ev *e, int events)
{
    if (events != e->events && e->w) {
        e->events = events;
        e->host->watch_set(e->w, events);
    }
}

static void store_redis_ev_add_read(void *p)
{
    store_redis_ev *e = p;
    store_redis_ev_set(e, e->events | SB_READ);
}
static void store_redis_ev_del_read(void *p)
{
    store_redis_ev *e = p;
    store_redis_ev_set(e, e->events & ~SB_READ);
}
static void store_redis_ev_add_write(void *p)
{
    store_redis_ev *e = p;
    store_redis_ev_set(e, e->events | SB_WRITE);
}
static void store_redis_ev_del_write(void *p)
{
    store_redis_ev *e = p;
    store_redis_ev_set(e, e->events & ~SB_WRITE);
}

/* Frees the watch and the adapter. */
static void store_redis_ev_free(void *p)
{
    store_redis_ev *e = p;
    e->host->watch_free(e->w);
    e->host->free(e);
}

static void store_redis_ev_cleanup(void *p)
{
    store_redis_ev *e = p;
    e->ac = NULL;
    e->host->watch_set(e->w, 0);
    /* Inside the watch's own callback, free on the next iteration; from a
     * timer or fini (watchdog, shutdown), now. */
    if (!e->in_cb)
        store_redis_ev_free(e);
    else if (e->host->later(e->pc, store_redis_ev_free, e) != SB_OK)
        e->host->log(e->pc, SB_LOG_WARN, "out of memory: one watch leaked"); /* stopped */
}

static int store_redis_ev_attach(const sb_host_api *host, sb_plugin_ctx *pc, redisAsyncContext *ac)
{
    store_redis_ev *e = host->alloc(sizeof *e);
    if (!e)
        return SB_ENOMEM;
    memset(e, 0, sizeof *e);
    e->host = host;
    e->pc = pc;
    e->ac = ac;
    e->w = host->watch_new(pc, ac->c.fd, 0, store_redis_ev_cb, e);
    if (!e->w) {
        host->free(e);
        return SB_ENOMEM;
    }
    ac->ev.data = e;
    ac->ev.addRead = store_redis_ev_add_read;
    ac->ev.delRead = store_redis_ev_del_read;
    ac->ev.addWrite = store_redis_ev_add_write;
    ac->ev.delWrite = store_redis_ev_del_write;
    ac->ev.cleanup = store_redis_ev_cleanup;
    return SB_OK;
}

/* --- connection state ---------------------------------------------------- */

static void store_redis_conn_connect(void *arg);

static void store_redis_conn_lost(store_redis_conn *c, const char *why)
{
    int was_up = c->up;
    c->ac = NULL;
    c->up = 0;
    c->ping_sent_ms = 0;
    snprintf(c->why, sizeof c->why, "redis %s: %s", c->url_text, why);
    if (was_up)
        c->host->log(c->pc, SB_LOG_WARN, "%s; reconnecting", c->why);
    if (was_up && c->on_event)
        c->on_event(c->event_arg, 0);
    if (c->stopping || c->retry)
        return;
    c->retry = c->host->timer_new(c->pc, c->backoff, 0, store_redis_conn_connect, c);
    c->backoff *= 2;
    if (c->backoff > STORE_REDIS_BACKOFF_MAX)
        c->backoff = STORE_REDIS_BACKOFF_MAX;
}

static void store_redis_conn_on_connect(const redisAsyncContext *ac, int status)
{
    store_redis_conn *c = ac->data;
    if (!c || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        store_redis_conn_lost(c, ac->errstr[0] ? ac->errstr : "connect failed");
        return; /* hiredis frees the context */
    }
    redisEnableKeepAlive((redisContext *)&ac->c);
    c->up = 1;
    c->backoff = STORE_REDIS_BACKOFF_MIN;
    c->why[0] = '\0';
    c->host->log(c->pc, SB_LOG_INFO, "connected to %s", c->url_text);
    if (c->on_event)
        c->on_event(c->event_arg, 1);
}

static void store_redis_conn_on_disconnect(const redisAsyncContext *ac, int status)
{
    store_redis_conn *c = ac->data;
    if (c && c->ac == ac)
        store_redis_conn_lost(c, status == REDIS_OK ? "disconnected"
                                                    : (ac->errstr[0] ? ac->errstr : "lost"));
}

/* AUTH and SELECT answers: an error there drops the connection (retried). */
static void store_redis_conn_on_setup(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    store_redis_conn *c = priv;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        c->host->log(c->pc, SB_LOG_ERROR, "%s: %s", c->url_text, reply->str);
        redisAsyncDisconnect(ac);
    }
}

static void store_redis_conn_on_pong(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    store_redis_conn *c = priv;
    if (r && c->ac == ac)
        c->ping_sent_ms = 0;
}

static void store_redis_conn_watchdog(void *arg)
{
    store_redis_conn *c = arg;
    if (!c->ac || !c->up || (c->flags & STORE_REDIS_CONN_SUBSCRIBER))
        return;
    int64_t now = c->host->now_ms();
    if (c->ping_sent_ms && now - c->ping_sent_ms >= STORE_REDIS_SILENT_MS) {
        redisAsyncContext *ac = c->ac;
        store_redis_conn_lost(c, "no reply for 3 s");
        ac->data = NULL;
        redisAsyncFree(ac); /* pending callbacks get NULL replies */
        return;
    }
    if (!c->ping_sent_ms &&
        redisAsyncCommand(c->ac, store_redis_conn_on_pong, c, "PING") == REDIS_OK)
        c->ping_sent_ms = now;
}

static int store_redis_conn_setup_cmds(store_redis_conn *c)
{
    if (c->url.pass[0]) {
        int rc = c->url.user[0] ? redisAsyncCommand(c->ac, store_redis_conn_on_setup, c,
                                                    "AUTH %s %s", c->url.user, c->url.pass)
                                : redisAsyncCommand(c->ac, store_redis_conn_on_setup, c, "AUTH %s",
                                                    c->url.pass);
        if (rc != REDIS_OK)
            return -1;
    }
    if (c->url.db &&
        redisAsyncCommand(c->ac, store_redis_conn_on_setup, c, "SELECT %d", c->url.db) != REDIS_OK)
        return -1;
    return 0;
}

static void store_redis_conn_connect(void *arg)
{
    store_redis_conn *c = arg;
    c->host->timer_free(c->retry);
    c->retry = NULL;
    if (c->stopping || c->ac)
        return;
    redisAsyncContext *ac = c->url.is_unix ? redisAsyncConnectUnix(c->url.path)
                                           : redisAsyncConnect(c->addr, c->url.port);
    if (!ac) {
        store_redis_conn_lost(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        store_redis_conn_lost(c, why);
        return;
    }
    if (store_redis_ev_attach(c->host, c->pc, ac) != SB_OK) {
        redisAsyncFree(ac);
        store_redis_conn_lost(c, "out of memory");
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, store_redis_conn_on_connect);
    redisAsyncSetDisconnectCallback(ac, store_redis_conn_on_disconnect);
    snprintf(c->why, sizeof c->why, "redis %s: connecting", c->url_text);
    if (store_redis_conn_setup_cmds(c) != 0) {
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
        store_redis_conn_lost(c, "cannot queue AUTH/SELECT");
    }
}

/* --- start-up checks ----------------------------------------------------- */

static int store_redis_conn_resolve(store_redis_conn *c)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(c->url.host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        c->host->log(c->pc, SB_LOG_ERROR, "redis %s: cannot resolve %s: %s", c->url_text,
                     c->url.host, gai_strerror(rc));
        return SB_EUNAVAILABLE;
    }
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    inet_ntop(res->ai_family, a, c->addr, sizeof c->addr);
    freeaddrinfo(res);
    return SB_OK;
}

/* One synchronous round: connect, AUTH, SELECT, CONFIG GET appendonly. */
static int store_redis_conn_check(store_redis_conn *c)
{
    struct timeval tv = {2, 0};
    redisContext *rc = c->url.is_unix ? redisConnectUnixWithTimeout(c->url.path, tv)
                                      : redisConnectWithTimeout(c->addr, c->url.port, tv);
    if (!rc || rc->err) {
        c->host->log(c->pc, SB_LOG_ERROR, "redis %s: cannot connect: %s", c->url_text,
                     rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return SB_EUNAVAILABLE;
    }
    int ok = SB_OK;
    redisReply *r = NULL;
    if (c->url.pass[0])
        r = c->url.user[0] ? redisCommand(rc, "AUTH %s %s", c->url.user, c->url.pass)
                           : redisCommand(rc, "AUTH %s", c->url.pass);
    if (r && r->type == REDIS_REPLY_ERROR) {
        c->host->log(c->pc, SB_LOG_ERROR, "redis %s: AUTH: %s", c->url_text, r->str);
        ok = SB_EUNAVAILABLE;
    }
    if (r)
        freeReplyObject(r);
    r = NULL;
    if (ok == SB_OK && c->url.db) {
        r = redisCommand(rc, "SELECT %d", c->url.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            c->host->log(c->pc, SB_LOG_ERROR, "redis %s: SELECT: %s", c->url_text,
                         r ? r->str : rc->errstr);
            ok = SB_EUNAVAILABLE;
        }
        if (r)
            freeReplyObject(r);
    }
    if (ok == SB_OK && !(c->flags & STORE_REDIS_CONN_NO_AOF_WARN)) {
        r = redisCommand(rc, "CONFIG GET appendonly");
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, "no") == 0)
            c->host->log(c->pc, SB_LOG_WARN,
                         "redis %s: appendonly is no: acked messages may be lost on a Redis "
                         "crash; set appendonly yes and appendfsync always",
                         c->url_text);
        if (r)
            freeReplyObject(r);
    }
    redisFree(rc);
    return ok;
}

int store_redis_conn_open(store_redis_conn *c, const sb_host_api *host, sb_plugin_ctx *pc,
                          const char *url, int wait, int flags)
{
    const char *why = NULL;
    c->host = host;
    c->pc = pc;
    c->url_text = url;
    c->flags = flags;
    c->backoff = STORE_REDIS_BACKOFF_MIN;
    if (store_redis_url_parse(url, host->url_decode, &c->url, &why) != 0) {
        host->log(pc, SB_LOG_ERROR, "url %s: %s", url, why);
        return SB_EINVAL;
    }
    if (!c->url.is_unix && store_redis_conn_resolve(c) != SB_OK)
        return SB_EUNAVAILABLE;
    snprintf(c->why, sizeof c->why, "redis %s: connecting", url);
    int rc = store_redis_conn_check(c);
    if (rc != SB_OK && wait) {
        host->log(pc, SB_LOG_WARN, "redis %s unreachable; wait = yes: retrying in the background",
                  url);
        return SB_OK;
    }
    return rc;
}

int store_redis_conn_start(store_redis_conn *c)
{
    c->watchdog = c->host->timer_new(c->pc, STORE_REDIS_WATCHDOG_S, STORE_REDIS_WATCHDOG_S,
                                     store_redis_conn_watchdog, c);
    if (!c->watchdog)
        return SB_ENOMEM;
    store_redis_conn_connect(c);
    return SB_OK;
}

int store_redis_conn_cmd(store_redis_conn *c, redisCallbackFn *fn, void *priv, int argc,
                         const char **argv, const size_t *argvlen)
{
    if (!c->ac || !c->up)
        return SB_EUNAVAILABLE;
    if (redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, argvlen) != REDIS_OK)
        return SB_EUNAVAILABLE;
    return SB_OK;
}

void store_redis_conn_close(store_redis_conn *c)
{
    c->stopping = 1;
    c->host->timer_free(c->retry);
    c->retry = NULL;
    c->host->timer_free(c->watchdog);
    c->watchdog = NULL;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        c->up = 0;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

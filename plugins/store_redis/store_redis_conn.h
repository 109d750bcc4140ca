/* store_redis_conn: one hiredis async connection run on the host's loop
 * through fd watches, with AUTH/SELECT first, a PING watchdog and reconnect
 * with backoff. Shared by store_redis and bus_redis (compiled into each). */
#ifndef STORE_REDIS_CONN_H
#define STORE_REDIS_CONN_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <switchboard/plugin.h>

#include "store_redis_url.h"

typedef struct store_redis_conn store_redis_conn;

/* open() flags. A subscribed context cannot take PING through hiredis' reply
 * queue (replies arrive as messages), so it has no watchdog: keep-alive only. */
#define STORE_REDIS_CONN_SUBSCRIBER  1
#define STORE_REDIS_CONN_NO_AOF_WARN 2

/* Called on the loop when the connection comes up (AUTH/SELECT sent) or is
 * lost; the owner re-subscribes or replays there. */
typedef void (*store_redis_conn_event_fn)(void *arg, int up);

struct store_redis_conn {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    const char *url_text; /* for messages; belongs to the config */
    store_redis_url url;
    char addr[64];         /* the host resolved at start (numeric) */
    redisAsyncContext *ac; /* NULL while down */
    int up;                /* connected: commands go out */
    int stopping;          /* fini: no reconnect */
    int flags;             /* STORE_REDIS_CONN_* */
    char why[160];         /* why not up, for ready() */
    sb_timer *retry;       /* pending reconnect */
    double backoff;        /* seconds before the next reconnect */
    sb_timer *watchdog;    /* every second */
    int64_t ping_sent_ms;  /* 0: none outstanding */
    store_redis_conn_event_fn on_event;
    void *event_arg;
};

/* Resolve the host and, unless wait, check the server synchronously (AUTH,
 * SELECT, warn when AOF is off). -> SB_OK | SB_EUNAVAILABLE | SB_EINVAL (logged) */
int store_redis_conn_open(store_redis_conn *c, const sb_host_api *host, sb_plugin_ctx *pc,
                          const char *url, int wait, int flags);
/* Start the async connection (and its reconnects). -> SB_OK | SB_ENOMEM */
int store_redis_conn_start(store_redis_conn *c);
/* Send argv (argvlen NULL: every argv is NUL-terminated, as hiredis allows);
 * fn(ac, reply, priv) runs from the loop, reply NULL when the connection is
 * lost. -> SB_OK | SB_EUNAVAILABLE (down: fn is not called) */
int store_redis_conn_cmd(store_redis_conn *c, redisCallbackFn *fn, void *priv, int argc,
                         const char **argv, const size_t *argvlen);
/* Drop the connection now: pending callbacks get NULL replies. */
void store_redis_conn_close(store_redis_conn *c);

#endif

/* The grpc plugin: seed 004's notificationspb.NotificationService and gRPC
 * server reflection, over h2c on a listener of its own ([grpc] listen),
 * accepted and served on the server's loop through fd watches. Owns the
 * plugin's lifetime, the config and the listener; connections are
 * grpc_conn.c's, calls grpc_notify.c's and grpc_reflect.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchboard/plugin.h>

#include "grpc_conn.h"
#include "grpc_notify.h"
#include "grpc_reflect.h"
#include "grpc_state.h"

#define GRPC_ACCEPT_BATCH 64

/* "host:port" or "[v6]:port" -> a bound, listening, nonblocking socket; *port
 * the port bound. -> fd | -1 (logged) */
static int grpc_listen(grpc_state *st, const char *spec, int *port)
{
    char host[128];
    const char *p;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
            goto bad;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = '\0';
        p = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            goto bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        p = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, p, &hints, &res);
    if (gai != 0) {
        st->host->log(st->pc, SB_LOG_ERROR, "[grpc] listen = %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            *port = 0;
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
            break;
        }
        st->host->log(st->pc, SB_LOG_ERROR, "[grpc] listen = %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
bad:
    st->host->log(st->pc, SB_LOG_ERROR, "[grpc] listen = %s: want host:port or [v6]:port", spec);
    return -1;
}

static void grpc_peer_ip(const struct sockaddr_storage *ss, char *out, size_t len)
{
    if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, (socklen_t)len);
    else if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)len);
    else
        snprintf(out, len, "unknown");
}

static void grpc_accept_cb(void *arg, int revents)
{
    grpc_state *st = arg;
    (void)revents;
    for (int i = 0; i < GRPC_ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(st->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                st->host->log(st->pc, SB_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        if (st->n_conns >= st->max_conns) {
            st->host->log(st->pc, SB_LOG_WARN, "max_connections (%zu) reached: closing a new one",
                          st->max_conns);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char ip[INET6_ADDRSTRLEN];
        grpc_peer_ip(&ss, ip, sizeof(ip));
        grpc_conn_new(st, fd, ip); /* NULL: logged, fd closed */
    }
}

static void grpc_close_listener(grpc_state *st)
{
    if (st->accept_watch)
        st->host->watch_free(st->accept_watch);
    st->accept_watch = NULL;
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    st->listen_fd = -1;
}

/* Free st and everything it owns (connections included). */
static void grpc_state_free(grpc_state *st)
{
    if (!st)
        return;
    while (st->conns)
        grpc_conn_free(st->conns);
    grpc_close_listener(st);
    grpc_reflect_free(st->reflect);
    grpc_allow_free(&st->allow);
    free(st->key);
    free(st);
}

/* Make the methods of a service's table (static storage) callable.
 * -> 0 | -1 (more than GRPC_METHODS_MAX in all) */
static int grpc_add_methods(grpc_state *st, const grpc_method *table, size_t n)
{
    if (n > GRPC_METHODS_MAX - st->n_methods)
        return -1;
    for (size_t i = 0; i < n; i++)
        st->methods[st->n_methods++] = &table[i];
    return 0;
}

/* Read [grpc] into st. -> SB_OK | SB_EINVAL (logged) */
static int grpc_config(grpc_state *st, const sb_section *cfg)
{
    const sb_host_api *host = st->host;
    long max_msg, max_streams, max_conns, idle;
    const char *bad = NULL;

    st->key = strdup(host->cfg_string(cfg, "api_key", ""));
    if (!st->key)
        return SB_ENOMEM;
    st->key_len = strlen(st->key);
    const char *allow = host->cfg_string(cfg, "allow_from", "127.0.0.0/8 ::1");
    if (grpc_allow_parse(allow, &st->allow, &bad) != 0) {
        host->log(st->pc, SB_LOG_ERROR, "[grpc] allow_from: cannot read \"%.*s\"",
                  (int)strcspn(bad, " \t,"), bad);
        return SB_EINVAL;
    }
    const char *from = host->cfg_string(cfg, "from", "server");
    if (!host->user_valid(from)) {
        host->log(st->pc, SB_LOG_ERROR,
                  "[grpc] from = %s: not a user id (1..64 of [A-Za-z0-9._@:-])", from);
        return SB_EINVAL;
    }
    snprintf(st->from, sizeof(st->from), "%s", from);
    if (host->cfg_int(host->cfg_server(st->pc), "max_message_bytes", 65536, 1, 1L << 30,
                      &max_msg) != SB_OK ||
        host->cfg_int(cfg, "max_streams", 100, 1, 100000, &max_streams) != SB_OK ||
        host->cfg_int(cfg, "max_connections", 1000, 1, 1000000, &max_conns) != SB_OK ||
        host->cfg_int(cfg, "idle_timeout", 300, 0, 86400, &idle) != SB_OK)
        return SB_EINVAL;
    st->idle_timeout = (double)idle;
    st->max_msg = (size_t)max_msg;
    st->max_streams = (size_t)max_streams;
    st->max_conns = (size_t)max_conns;
    return SB_OK;
}

static int grpc_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                     void **userdata)
{
    grpc_state *st = calloc(1, sizeof(*st));
    if (!st) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    st->host = host;
    st->pc = pc;
    st->listen_fd = -1;
    st->release = grpc_state_free;
    int rc = grpc_config(st, cfg);
    if (rc != SB_OK) {
        grpc_state_free(st);
        return rc;
    }
    st->reflect = grpc_reflect_new();
    if (!st->reflect) {
        host->log(pc, SB_LOG_ERROR, "the embedded descriptors do not decode");
        grpc_state_free(st);
        return SB_EPLUGIN;
    }
    if (grpc_add_methods(st, grpc_notify_methods, GRPC_NOTIFY_METHODS) != 0 ||
        grpc_add_methods(st, grpc_reflect_methods, GRPC_REFLECT_METHODS) != 0) {
        host->log(pc, SB_LOG_ERROR, "more methods than GRPC_METHODS_MAX");
        grpc_state_free(st);
        return SB_EPLUGIN;
    }
    const char *listen = host->cfg_string(cfg, "listen", "127.0.0.1:9003");
    int port = 0;
    st->listen_fd = grpc_listen(st, listen, &port);
    if (st->listen_fd < 0) {
        grpc_state_free(st);
        return SB_EINVAL;
    }
    st->accept_watch = host->watch_new(pc, st->listen_fd, SB_READ, grpc_accept_cb, st);
    if (!st->accept_watch) {
        grpc_state_free(st);
        return SB_ENOMEM;
    }
    st->calls = host->counter_new(pc, "grpc_calls_total", "gRPC calls received");
    st->errors = host->counter_new(pc, "grpc_errors_total", "gRPC calls answered with an error");
    if (st->key_len == 0)
        host->log(pc, SB_LOG_INFO, "no api_key: calls are taken from %s only",
                  host->cfg_string(cfg, "allow_from", "127.0.0.0/8 ::1"));
    host->log(pc, SB_LOG_INFO, "listening on %s (port %d)", listen, port);
    *userdata = st;
    return SB_OK;
}

/* Shutdown began: stop accepting, GOAWAY to every connection (the streams
 * already taken finish), and keep the loop running while any is open. */
static int grpc_drain(void *userdata)
{
    grpc_state *st = userdata;
    if (!st->draining) {
        st->draining = 1;
        grpc_close_listener(st);
        st->host->log(st->pc, SB_LOG_INFO, "shutdown: GOAWAY to %zu connection(s)", st->n_conns);
        for (grpc_conn *c = st->conns, *next; c; c = next) {
            next = grpc_conn_next(c);
            grpc_conn_goaway(c); /* may free c */
        }
    }
    return st->n_conns > 0 || st->pending > 0;
}

static void grpc_fini(void *userdata)
{
    grpc_state *st = userdata;
    if (!st)
        return;
    grpc_close_listener(st);
    while (st->conns)
        grpc_conn_free(st->conns);
    if (st->pending > 0) {
        st->host->log(st->pc, SB_LOG_INFO, "%zu message(s) still being stored at shutdown",
                      st->pending);
        st->closing = 1;
        return;
    }
    grpc_state_free(st);
}

/* --check-config: the keys, without binding the listener (a live server
 * holds it). */
static int grpc_check(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg)
{
    grpc_state *st = calloc(1, sizeof(*st));
    if (!st) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    st->host = host;
    st->pc = pc;
    st->listen_fd = -1;
    int rc = grpc_config(st, cfg);
    host->cfg_string(cfg, "listen", "127.0.0.1:9003");
    grpc_state_free(st);
    return rc;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,    .name = "grpc",      .version = "0.1.0",  .init = grpc_init,
    .fini = grpc_fini, .drain = grpc_drain, .check = grpc_check,
};

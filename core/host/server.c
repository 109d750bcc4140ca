/* The listener, the loop's signals, and the graceful
 * shutdown of docs/protocol.md section 5: stop accepting, close every WebSocket
 * with 1001, let output drain (at most shutdown_timeout), then return so
 * main can call the plugins' fini (which flushes the store). Tells systemd
 * (sd_notify, when built with libsystemd) READY=1 once listening with the
 * store and bus ready, RELOADING=1 around SIGHUP and STOPPING=1. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef SB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "conn.h"
#include "deflate.h"
#include "hooks.h"
#include "http.h"
#include "log.h"
#include "plugin_host.h"
#include "tls.h"
#include "ws.h"

#define FD_RESERVE   64 /* fds kept for the store, plugins, logs */
#define ACCEPT_BATCH 64

static ev_timer shutdown_poll;
static ev_timer ready_poll;

/* One state line to systemd's notify socket; nothing without NOTIFY_SOCKET
 * or without libsystemd at build time. */
static void notify(const char *state)
{
#ifdef SB_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* READY=1 waits for the store and the bus (a Redis still connecting): until
 * then systemd shows why in `systemctl status`. */
static void ready_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    const char *why = NULL;
    if (!sb_hooks_ready(&why)) {
        static char last[256];
        char status[256];
        snprintf(status, sizeof(status), "STATUS=waiting: %s", why ? why : "not ready");
        if (strcmp(last, status) != 0) {
            snprintf(last, sizeof(last), "%s", status);
            notify(status);
        }
        return;
    }
    ev_timer_stop(loop, w);
    char status[256];
    snprintf(status, sizeof(status), "READY=1\nSTATUS=listening on %s (port %d)",
             sb_srv.cfg->listen, sb_srv.port);
    notify(status);
}

static const char *conn_user_of(uint64_t id)
{
    const sb_conn *c = sb_srv.conns ? sb_dict_uget(sb_srv.conns, id) : NULL;
    return c ? c->user : NULL;
}

static void peer_ip(const struct sockaddr_storage *ss, char *out, size_t len)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)len);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)len);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)len);
    }
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    if (sb_srv.shutting_down)
        return;
    if (sb_srv.listen_fd >= 0)
        ev_io_start(loop, &sb_srv.accept_io);
    if (sb_srv.tls_fd >= 0)
        ev_io_start(loop, &sb_srv.tls_accept_io);
}

/* Out of fds: answer one waiting client with 503 through the spare fd, then
 * pause accepting briefly so the loop does not spin. */
static void accept_exhausted(int listen_fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 30\r\nConnection: close\r\n\r\n"
                               "server out of file descriptors\n";
    if (sb_srv.spare_fd >= 0) {
        close(sb_srv.spare_fd);
        int fd = accept(listen_fd, NULL, NULL);
        if (fd >= 0 && listen_fd == sb_srv.listen_fd) { /* TLS clients cannot read it */
            ssize_t w = write(fd, busy, sizeof(busy) - 1);
            (void)w;
            close(fd);
        } else if (fd >= 0) {
            close(fd);
        }
        sb_srv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    sb_log(SB_LOG_WARN, "out of file descriptors: accepting paused for 100 ms");
    ev_io_stop(sb_srv.loop, &sb_srv.accept_io);
    ev_io_stop(sb_srv.loop, &sb_srv.tls_accept_io);
    ev_timer_stop(sb_srv.loop, &sb_srv.accept_pause);
    ev_timer_set(&sb_srv.accept_pause, 0.1, 0.);
    ev_timer_start(sb_srv.loop, &sb_srv.accept_pause);
}

/* Both listeners: the TLS one's connections start with the handshake. */
static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    int tls = w == &sb_srv.tls_accept_io;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                accept_exhausted(w->fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char ip[INET6_ADDRSTRLEN];
        peer_ip(&ss, ip, sizeof(ip));
        sb_conn *c = sb_conn_new(fd, ip, &sb_http_phase);
        if (c && tls)
            sb_conn_start_tls(c);
    }
}

static void shutdown_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    /* Plugins with sockets of their own (grpc) finish their calls too. */
    if (sb_plugins_drain() == 0 && sb_dict_count(sb_srv.conns) == 0)
        ev_break(loop, EVBREAK_ALL);
}

static void shutdown_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    sb_log(SB_LOG_WARN, "shutdown_timeout reached with %zu connections left",
           sb_dict_count(sb_srv.conns));
    ev_break(loop, EVBREAK_ALL);
}

static void server_shutdown(struct ev_loop *loop, const char *why)
{
    if (sb_srv.shutting_down) {
        sb_log(SB_LOG_WARN, "%s again: stopping now", why);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    sb_srv.shutting_down = 1;
    notify("STOPPING=1");
    ev_timer_stop(loop, &ready_poll);
    sb_log(SB_LOG_INFO, "%s: closing %ld connections", why, sb_srv.n_ws);
    ev_io_stop(loop, &sb_srv.accept_io);
    ev_io_stop(loop, &sb_srv.tls_accept_io);
    ev_timer_stop(loop, &sb_srv.accept_pause);
    if (sb_srv.listen_fd >= 0)
        close(sb_srv.listen_fd);
    if (sb_srv.tls_fd >= 0)
        close(sb_srv.tls_fd);
    sb_srv.listen_fd = sb_srv.tls_fd = -1;
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        if (c->phase == SB_PHASE_WS)
            sb_conn_close(c, 1001, "server shutting down");
        else if (sb_http_idle(c) && !c->busy) {
            sb_dict_iter_del(&it); /* destroy's own delete finds nothing */
            sb_conn_destroy(c);
        }
    }
    sb_plugins_drain(); /* the first call: plugins stop taking new work */
    /* HTTP connections finish their answers or time out with the rest. */
    ev_timer_init(&sb_srv.shutdown_timer, shutdown_timeout_cb, sb_srv.cfg->shutdown_timeout, 0.);
    ev_timer_start(loop, &sb_srv.shutdown_timer);
    ev_timer_init(&shutdown_poll, shutdown_poll_cb, 0.02, 0.02);
    ev_timer_start(loop, &shutdown_poll);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    if (w->signum == SIGHUP) {
        sb_log(SB_LOG_INFO, "SIGHUP: reloading plugins%s",
               sb_srv.tls_fd >= 0 ? " and the TLS certificate" : "");
        notify("RELOADING=1");
        sb_tls_reload();
        sb_plugins_reload();
        notify(ev_is_active(&ready_poll) ? "STATUS=reloaded" : "READY=1");
        return;
    }
    server_shutdown(loop, w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* "host:port", "[v6]:port" -> a bound, listening socket; *bound: its port. */
static int listen_on(const char *spec, int *bound)
{
    char host[128];
    const char *port;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
            return -1;
        memcpy(host, spec + 1, (size_t)(end - spec - 1));
        host[end - spec - 1] = 0;
        port = end + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            return -1;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        sb_log(SB_LOG_ERROR, "listen %s: %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                        : ((struct sockaddr_in *)&ss)->sin_port);
            break;
        }
        sb_log(SB_LOG_ERROR, "listen %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int sb_server_prepare(sb_config *config)
{
    sb_srv.config = config;
    sb_srv.cfg = sb_config_server(config);
    sb_srv.listen_fd = sb_srv.tls_fd = sb_srv.spare_fd = -1;
    sb_srv.loop = ev_default_loop(EVFLAG_AUTO);
    if (!sb_srv.loop) {
        sb_log(SB_LOG_ERROR, "cannot start the event loop");
        return SB_EINVAL;
    }
    sb_srv.conns = sb_dict_new(1);
    if (!sb_srv.conns)
        return SB_ENOMEM;
    if (sb_srv.cfg->max_connections_per_ip > 0 && !(sb_srv.per_ip = sb_dict_new(0)))
        return SB_ENOMEM;

    /* Every connection is one fd: raise the soft limit to the hard one. */
    struct rlimit rl;
    long fds = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        fds = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
    }
    long cap = fds - FD_RESERVE;
    sb_srv.max_ws = sb_srv.cfg->max_connections < cap ? sb_srv.cfg->max_connections : cap;
    sb_log(SB_LOG_INFO, "max_connections %ld (config %ld, file descriptor limit %ld)",
           sb_srv.max_ws, sb_srv.cfg->max_connections, fds);

    if (sb_srv.cfg->tls_listen[0] && sb_tls_init(sb_srv.cfg) != SB_OK)
        return SB_ENOTFOUND; /* the file and the reason are logged */
    ev_timer_init(&sb_srv.accept_pause, accept_resume_cb, 0.1, 0.);
    sb_server_later_init();
    ev_signal_init(&sb_srv.sig_term, signal_cb, SIGTERM);
    ev_signal_init(&sb_srv.sig_int, signal_cb, SIGINT);
    ev_signal_init(&sb_srv.sig_hup, signal_cb, SIGHUP);
    ev_signal_start(sb_srv.loop, &sb_srv.sig_term);
    ev_signal_start(sb_srv.loop, &sb_srv.sig_int);
    ev_signal_start(sb_srv.loop, &sb_srv.sig_hup);
    ev_timer_init(&ready_poll, ready_poll_cb, 0., 0.05);
    sb_log_set_conn_user(conn_user_of);
    return SB_OK;
}

int sb_server_init(sb_config *config)
{
    int rc = sb_server_prepare(config);
    if (rc != SB_OK)
        return rc;
    if (sb_srv.cfg->listen[0]) {
        sb_srv.listen_fd = listen_on(sb_srv.cfg->listen, &sb_srv.port);
        if (sb_srv.listen_fd < 0) {
            sb_log(SB_LOG_ERROR, "cannot listen on %s", sb_srv.cfg->listen);
            return SB_EINVAL;
        }
    }
    if (sb_srv.cfg->tls_listen[0]) {
        sb_srv.tls_fd = listen_on(sb_srv.cfg->tls_listen, &sb_srv.tls_port);
        if (sb_srv.tls_fd < 0) {
            sb_log(SB_LOG_ERROR, "cannot listen on %s (tls_listen)", sb_srv.cfg->tls_listen);
            return SB_EINVAL;
        }
    }
    sb_srv.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ev_io_init(&sb_srv.accept_io, accept_cb, sb_srv.listen_fd, EV_READ);
    ev_io_init(&sb_srv.tls_accept_io, accept_cb, sb_srv.tls_fd, EV_READ);
    return SB_OK;
}

int sb_server_run(void)
{
    if (sb_srv.listen_fd >= 0) {
        ev_io_start(sb_srv.loop, &sb_srv.accept_io);
        sb_log(SB_LOG_INFO, "listening on %s (port %d)", sb_srv.cfg->listen, sb_srv.port);
    }
    if (sb_srv.tls_fd >= 0) {
        ev_io_start(sb_srv.loop, &sb_srv.tls_accept_io);
        sb_log(SB_LOG_INFO, "listening on %s with TLS (port %d)", sb_srv.cfg->tls_listen,
               sb_srv.tls_port);
    }
    sb_ws_start_trim();
    ev_timer_start(sb_srv.loop, &ready_poll);
    ev_run(sb_srv.loop, 0);
    ev_timer_stop(sb_srv.loop, &ready_poll);
    if (!sb_srv.shutting_down)
        notify("STOPPING=1");
    sb_ws_stop_trim();
    ev_timer_stop(sb_srv.loop, &shutdown_poll);
    ev_timer_stop(sb_srv.loop, &sb_srv.shutdown_timer);
    /* Whatever is left is dropped now (shutdown_timeout or a second signal). */
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        sb_dict_iter_del(&it);
        c->busy = 0;
        sb_conn_destroy(c);
    }
    return 0;
}

void sb_server_free(void)
{
    sb_log_set_conn_user(NULL);
    sb_server_later_free();
    if (sb_srv.listen_fd >= 0)
        close(sb_srv.listen_fd);
    if (sb_srv.tls_fd >= 0)
        close(sb_srv.tls_fd);
    sb_tls_free();
    sb_deflate_free();
    if (sb_srv.spare_fd >= 0)
        close(sb_srv.spare_fd);
    ev_signal_stop(sb_srv.loop, &sb_srv.sig_term);
    ev_signal_stop(sb_srv.loop, &sb_srv.sig_int);
    ev_signal_stop(sb_srv.loop, &sb_srv.sig_hup);
    if (sb_srv.conns)
        sb_dict_free(sb_srv.conns, NULL);
    if (sb_srv.per_ip)
        sb_dict_free(sb_srv.per_ip, NULL);
    sb_conn_flush_end();
    ev_loop_destroy(sb_srv.loop);
    memset(&sb_srv, 0, sizeof(sb_srv));
}

/* Connections: accept-to-close lifecycle, the output path (every byte a
 * client receives leaves through sb_conn_send*, written at the end of the
 * loop pass, or by the write watcher when the socket was full), the
 * per-connection timer, and the one teardown path. Protocol work is the
 * phase's (sb_conn_phase_ops: http.c, then ws.c); what the layers above do
 * with a connection comes through the events they install. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "deflate.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "runtime.h"

#define CLOSE_LINGER    2.0 /* seconds to wait for the client's close after ours */
#define HIBERNATE_AFTER 1.0 /* quiet seconds before the wslay context is freed */

static void no_text(sb_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
}
static void no_request(sb_conn *c, const sb_http_req *req, int upgrade)
{
    (void)c;
    (void)req;
    (void)upgrade;
}
static void no_conn_event(sb_conn *c)
{
    (void)c;
}
static const sb_conn_events no_events = {no_text, no_request, no_conn_event, no_conn_event,
                                         no_conn_event};
static const sb_conn_events *events = &no_events;

void sb_conn_set_events(const sb_conn_events *ev)
{
    events = ev ? ev : &no_events;
}

const sb_conn_events *sb_conn_events_get(void)
{
    return events;
}

/* Every connection's struct: out of the malloc heap (pool.h). */
static sb_pool conn_pool = SB_POOL_INIT(sizeof(sb_conn));

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);

/* The end-of-pass flush. A connection given output during a loop pass is
 * written once, when the pass is over (a prepare watcher, just before the
 * poll): every frame of the pass leaves in one writev, and the write
 * watcher is armed only when the socket is full. Arming it for every frame
 * cost two epoll_ctl and one more pass per write, which at a steady
 * 50,000 msg/s kept the core busy and the tail long. The list holds ids,
 * not pointers: a connection may be freed before the pass ends. The
 * watcher runs at the lowest priority, after the deferred calls
 * (runtime.c) whose answers it sends, and does not keep the loop alive. */
static ev_prepare flush_prepare;
static uint64_t *flush_ids;
static size_t flush_n, flush_cap;

static void conn_flush_pass_cb(struct ev_loop *loop, ev_prepare *w, int revents);

static void conn_flush_start(void)
{
    if (ev_is_active(&flush_prepare))
        return;
    ev_prepare_init(&flush_prepare, conn_flush_pass_cb);
    ev_set_priority(&flush_prepare, EV_MINPRI);
    ev_prepare_start(sb_srv.loop, &flush_prepare);
    ev_unref(sb_srv.loop);
}

void sb_conn_flush_end(void)
{
    if (ev_is_active(&flush_prepare)) {
        ev_ref(sb_srv.loop);
        ev_prepare_stop(sb_srv.loop, &flush_prepare);
    }
    free(flush_ids);
    flush_ids = NULL;
    flush_n = flush_cap = 0;
}

/* Queue c for the end-of-pass flush. -> 0, or -1 (out of memory: the
 * caller arms the write watcher instead). */
static int conn_flush_queue(sb_conn *c)
{
    if (c->flush_queued)
        return 0;
    if (flush_n == flush_cap) {
        size_t cap = flush_cap ? flush_cap * 2 : 256;
        uint64_t *ids = realloc(flush_ids, cap * sizeof(*ids));
        if (!ids)
            return -1;
        flush_ids = ids;
        flush_cap = cap;
    }
    conn_flush_start();
    flush_ids[flush_n++] = c->id;
    c->flush_queued = 1;
    return 0;
}

static void conn_flush_pass_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)w;
    (void)revents;
    /* A flush may queue more (an on_drained that sends): those come in the
     * next pass, after this list is done. */
    size_t n = flush_n;
    for (size_t i = 0; i < n; i++) {
        sb_conn *c = sb_conn_find(flush_ids[i]);
        if (!c || c->dead)
            continue;
        c->flush_queued = 0;
        if (sb_outq_empty(&c->out) || c->tls_wr_wait || ev_is_active(&c->wio))
            continue;
        c->busy++;
        conn_write_cb(loop, &c->wio, EV_WRITE);
        if (!c->dead && !sb_outq_empty(&c->out) && !c->tls_wr_wait)
            ev_io_start(loop, &c->wio); /* the socket is full: wait for room */
        if (--c->busy == 0 && c->dead)
            sb_conn_destroy(c);
    }
    memmove(flush_ids, flush_ids + n, (flush_n - n) * sizeof(*flush_ids));
    flush_n -= n;
}
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

sb_conn *sb_conn_new(int fd, const char *ip, const sb_conn_phase_ops *phase)
{
    sb_conn *c = sb_pool_alloc(&conn_pool);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->id = ++sb_srv.next_conn_id;
    sb_conn_set_ip(c, ip); /* the listener's text: always an address */
    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
    ev_init(&c->timer, conn_timer_cb);
    c->ops = phase;
    if (sb_dict_uset(sb_srv.conns, c->id, c, NULL) != SB_OK || phase->attach(c) != SB_OK) {
        sb_dict_udel(sb_srv.conns, c->id);
        phase->release(c);
        close(fd);
        sb_pool_free(&conn_pool, c);
        return NULL;
    }
    ev_io_start(sb_srv.loop, &c->rio);
    sb_conn_rearm(c);
    return c;
}

sb_conn *sb_conn_find(uint64_t id)
{
    return sb_dict_uget(sb_srv.conns, id);
}

/* The address is kept binary (16 bytes, not 46 of text): every connection
 * keeps it, few ever print it. */
int sb_conn_set_ip(sb_conn *c, const char *ip)
{
    uint8_t a[16];
    int v6 = strchr(ip, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, a) != 1)
        return SB_EINVAL;
    memset(c->addr, 0, sizeof(c->addr));
    memcpy(c->addr, a, v6 ? 16 : 4);
    c->ip_v6 = (unsigned)v6;
    return SB_OK;
}

const char *sb_conn_ip(const sb_conn *c, char buf[INET6_ADDRSTRLEN])
{
    if (!inet_ntop(sb_conn_family(c), c->addr, buf, INET6_ADDRSTRLEN))
        snprintf(buf, INET6_ADDRSTRLEN, "?");
    return buf;
}

int sb_conn_start_tls(sb_conn *c)
{
    c->tls = sb_tls_new(c->fd);
    if (!c->tls) {
        sb_conn_destroy(c);
        return SB_ENOMEM;
    }
    c->tls_hs = 1;
    return SB_OK;
}

ssize_t sb_conn_recv(sb_conn *c, void *buf, size_t len)
{
    if (!c->tls)
        return recv(c->fd, buf, len, 0);
    ssize_t n = sb_tls_read(c->tls, buf, len);
    if (n < 0 && errno == EAGAIN && sb_tls_read_wants_write(c->tls)) {
        /* OpenSSL must send first (a TLS 1.3 KeyUpdate's answer) and the
         * socket is full: the bytes still waiting in the socket would wake
         * the read watcher again and again. Wait for room instead; the
         * write watcher reads again. */
        c->tls_rd_wait = 1;
        ev_io_stop(sb_srv.loop, &c->rio);
        ev_io_start(sb_srv.loop, &c->wio);
        errno = EAGAIN;
    }
    return n;
}

ssize_t sb_conn_writev(sb_conn *c, const struct iovec *iov, int n)
{
    if (c->tls)
        return sb_tls_writev(c->tls, iov, n);
    return writev(c->fd, iov, n);
}

static ssize_t conn_writer(void *arg, const struct iovec *iov, int n)
{
    return sb_conn_writev(arg, iov, n);
}

/* Write what the socket takes. -> SB_OK | SB_ECLOSED */
static int conn_flush(sb_conn *c)
{
    return sb_outq_write_with(&c->out, conn_writer, c);
}

/* Our half of the connection is done: TLS says so first. */
static void conn_shut_wr(sb_conn *c)
{
    if (c->tls)
        sb_tls_shutdown(c->tls);
    shutdown(c->fd, SHUT_WR);
}

/* Advance the TLS handshake. -> 1 done | 0 waiting (watchers set) | -1 the
 * connection was destroyed */
static int conn_tls_handshake(sb_conn *c)
{
    int want_write = 0;
    int r = sb_tls_handshake(c->tls, &want_write);
    if (r < 0) {
        sb_conn_destroy(c);
        return -1;
    }
    if (r == 0) {
        if (want_write)
            ev_io_start(sb_srv.loop, &c->wio);
        else if (sb_outq_empty(&c->out))
            ev_io_stop(sb_srv.loop, &c->wio);
        return 0;
    }
    c->tls_hs = 0;
    if (sb_outq_empty(&c->out))
        ev_io_stop(sb_srv.loop, &c->wio);
    return 1;
}

void sb_conn_want_write(sb_conn *c)
{
    if (sb_outq_empty(&c->out) || c->dead || c->tls_wr_wait || ev_is_active(&c->wio))
        return;
    /* A TLS handshake is driven by the watcher; everything else waits for
     * the end of the pass. */
    if (c->tls_hs || conn_flush_queue(c) != 0)
        ev_io_start(sb_srv.loop, &c->wio);
}

static size_t conn_held_bytes(const sb_conn *c)
{
    return c->held ? c->held->bytes : 0;
}

static void conn_held_free(sb_conn *c)
{
    if (c->held) {
        sb_outq_clear(c->held);
        free(c->held);
        c->held = NULL;
    }
}

int sb_conn_release_held(sb_conn *c)
{
    if (!c->held)
        return SB_OK;
    if (sb_outq_splice(&c->out, c->held) != SB_OK)
        return SB_ENOMEM;
    conn_held_free(c);
    return SB_OK;
}

/* Over max_outbound_bytes: tell the client why if the socket takes it now,
 * else drop the TCP connection at once. Stored messages stay stored. */
static void conn_slow_consumer(sb_conn *c)
{
    sb_metrics_core.slow_consumers++;
    sb_log(SB_LOG_INFO, "conn %llu (%s): slow consumer, %zu bytes unsent",
           (unsigned long long)c->id, c->user ? c->user : "-", c->out.bytes + conn_held_bytes(c));
    conn_held_free(c);
    sb_outq_drop_unstarted(&c->out);
    sb_frame *f = sb_frame_ws_close(4003, "slow consumer");
    c->closing = 1;
    if (!f || sb_outq_push(&c->out, f) != SB_OK || conn_flush(c) != SB_OK ||
        !sb_outq_empty(&c->out))
        c->kill = 1;
    else
        conn_shut_wr(c);
    /* Detach on the next timer tick, not here: a fan-out may be iterating
     * the registry that holds this connection. */
    sb_conn_rearm(c);
}

static int conn_push(sb_conn *c, sb_outq *q, sb_frame *f)
{
    if (c->dead || c->closing)
        return SB_ECLOSED;
    /* Held events stay plain: the backlog reads their payloads to drop
     * duplicates, and a plain frame is valid on a compressed connection. */
    if (c->deflate && q == &c->out)
        f = sb_deflate_frame(f, (size_t)sb_srv.cfg->compression_min_bytes);
    if (sb_outq_push(q, sb_frame_ref(f)) != SB_OK)
        return SB_ENOMEM;
    sb_metrics_core.frames_out++;
    /* Stored messages of the backlog are paced by draining: they never make
     * a connection slow, so they are left out of the count. */
    if (c->phase == SB_PHASE_WS && c->out.bytes - c->out.backlog + conn_held_bytes(c) >
                                       (size_t)sb_srv.cfg->max_outbound_bytes) {
        conn_slow_consumer(c);
        return SB_ECLOSED;
    }
    sb_conn_want_write(c);
    return SB_OK;
}

int sb_conn_send(sb_conn *c, sb_frame *f)
{
    return conn_push(c, &c->out, f);
}

int sb_conn_send_event(sb_conn *c, sb_frame *f)
{
    if (!c->in_backlog && !c->holds)
        return conn_push(c, &c->out, f);
    if (!c->held && !(c->held = calloc(1, sizeof(*c->held))))
        return SB_ENOMEM;
    return conn_push(c, c->held, f);
}

int sb_conn_send_backlog(sb_conn *c, sb_frame *f)
{
    /* Paced by draining: conn_push leaves SB_FRAME_BACKLOG bytes out of the
     * slow-consumer count. The frame is this connection's own. */
    f->flags |= SB_FRAME_BACKLOG;
    return conn_push(c, &c->out, f);
}

void sb_conn_close(sb_conn *c, int code, const char *reason)
{
    if (c->dead || c->closing)
        return;
    if (c->phase != SB_PHASE_WS) {
        sb_conn_destroy(c);
        return;
    }
    sb_log(SB_LOG_DEBUG, "conn %llu (%s): closing with %d %s", (unsigned long long)c->id,
           c->user ? c->user : "-", code, reason ? reason : "");
    conn_held_free(c);
    sb_frame *f = sb_frame_ws_close(code, reason);
    c->closing = 1;
    if (!f || sb_outq_push(&c->out, f) != SB_OK) {
        /* No close frame: drop the TCP connection, on the next tick like
         * every close, never here: a fan-out may be walking the registry
         * arrays that hold this connection (route.c). */
        c->kill = 1;
        sb_conn_rearm(c);
        return;
    }
    sb_conn_want_write(c);
    sb_conn_rearm(c); /* detaches on the next tick, see conn_slow_consumer */
}

void sb_conn_upgraded(sb_conn *c, const sb_conn_phase_ops *phase)
{
    c->phase = SB_PHASE_WS;
    c->ops_prev = c->ops;
    c->ops = phase;
    c->last_rx = ev_now(sb_srv.loop);
    c->next_ping = c->last_rx + sb_srv.cfg->ping_interval;
    sb_ratelimit_init(&c->rl, (double)sb_srv.cfg->rate_burst, sb_now_ms());
    sb_conn_rearm(c);
}

static ev_tstamp conn_deadline(sb_conn *c)
{
    const sb_server_cfg *cfg = sb_srv.cfg;
    if (c->closing)
        return c->kill || !c->detached ? ev_now(sb_srv.loop) : c->linger_from + CLOSE_LINGER;
    if (c->ops->deadline)
        return c->ops->deadline(c);
    ev_tstamp d = c->next_ping;
    ev_tstamp idle = c->last_rx + cfg->idle_timeout;
    if (idle < d)
        d = idle;
    if (c->ws) {
        ev_tstamp hib = c->last_rx + HIBERNATE_AFTER;
        if (c->hib_retry > hib)
            hib = c->hib_retry;
        if (hib < d)
            d = hib;
    }
    if (!c->user) {
        ev_tstamp auth =
            (ev_tstamp)c->since_ms / 1000.0 - (ev_time() - ev_now(sb_srv.loop)) + cfg->auth_timeout;
        if (auth < d)
            d = auth;
    }
    return d;
}

void sb_conn_rearm(sb_conn *c)
{
    if (c->dead)
        return;
    ev_tstamp after = conn_deadline(c) - ev_now(sb_srv.loop);
    if (after < 0.001)
        after = 0.001;
    ev_timer_stop(sb_srv.loop, &c->timer);
    ev_timer_set(&c->timer, after, 0.);
    ev_timer_start(sb_srv.loop, &c->timer);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    sb_conn *c = (sb_conn *)((char *)w - offsetof(sb_conn, timer));
    ev_tstamp now = ev_now(loop);
    if (c->closing) {
        if (c->kill || c->detached) {
            sb_conn_destroy(c);
            return;
        }
        events->on_detach(c);
        c->linger_from = now;
        sb_conn_rearm(c);
        return;
    }
    if (c->ops->deadline) {
        if (now >= c->ops->deadline(c) - 0.0005) {
            char ip[INET6_ADDRSTRLEN];
            sb_log(SB_LOG_DEBUG, "conn %llu (%s): request head not complete in time, closed",
                   (unsigned long long)c->id, sb_conn_ip(c, ip));
            sb_conn_destroy(c);
            return;
        }
        sb_conn_rearm(c);
        return;
    }
    const sb_server_cfg *cfg = sb_srv.cfg;
    if (!c->user && (double)(sb_now_ms() - c->since_ms) >= cfg->auth_timeout * 1000.0 - 1) {
        sb_conn_close(c, 4002, "auth timeout");
        return;
    }
    if (now - c->last_rx >= cfg->idle_timeout - 0.0005) {
        sb_conn_close(c, 4004, "idle timeout");
        return;
    }
    if (c->ws && c->ops->hibernate && now - c->last_rx >= HIBERNATE_AFTER - 0.0005 &&
        now >= c->hib_retry - 0.0005 && !c->ops->hibernate(c))
        c->hib_retry = now + HIBERNATE_AFTER; /* mid-frame: look again later */
    if (now >= c->next_ping - 0.0005) {
        sb_frame *ping = sb_frame_ws(9, NULL, 0);
        if (ping) {
            sb_conn_send(c, ping);
            sb_frame_unref(ping);
        }
        c->next_ping = now + cfg->ping_interval;
    }
    sb_conn_rearm(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    sb_conn *c = (sb_conn *)w;
    if (c->tls_rd_wait) {
        ev_io_stop(loop, w); /* restarted by a phase: the write watcher reads */
        return;
    }
    if (c->tls_hs && conn_tls_handshake(c) != 1)
        return;
    if (c->tls_wr_wait) {
        c->tls_wr_wait = 0; /* the bytes the write waited for: try it again */
        sb_conn_want_write(c);
    }
    c->busy++;
    c->ops->on_readable(c);
    /* Decrypted bytes left inside OpenSSL: the socket will not say so. */
    if (!c->dead && c->tls && ev_is_active(&c->rio) && sb_tls_pending(c->tls))
        ev_feed_event(sb_srv.loop, &c->rio, EV_READ);
    if (--c->busy == 0 && c->dead)
        sb_conn_destroy(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    sb_conn *c = (sb_conn *)((char *)w - offsetof(sb_conn, wio));
    if (c->tls_hs) {
        if (conn_tls_handshake(c) == 1)
            ev_feed_event(loop, &c->rio, EV_READ); /* the request may be buffered */
        return;
    }
    if (c->tls_rd_wait) {
        /* The room a read waited for: read again (the read sends OpenSSL's
         * message first), after the queue had its turn. */
        c->tls_rd_wait = 0;
        ev_io_start(loop, &c->rio);
        ev_feed_event(loop, &c->rio, EV_READ);
        if (sb_outq_empty(&c->out)) {
            ev_io_stop(loop, &c->wio);
            return;
        }
    }
    if (conn_flush(c) != SB_OK) {
        sb_conn_destroy(c);
        return;
    }
    if (!sb_outq_empty(&c->out)) {
        if (c->tls && sb_tls_write_wants_read(c->tls)) {
            /* The socket has room, OpenSSL needs the peer's bytes first
             * (TLS 1.3 post-handshake message): waiting for writability
             * would spin, the read watcher restarts the write. */
            ev_io_stop(loop, &c->wio);
            c->tls_wr_wait = 1;
        }
        return;
    }
    ev_io_stop(loop, &c->wio);
    c->busy++;
    if (c->closing) {
        conn_shut_wr(c);
    } else {
        c->ops->on_drained(c);
    }
    if (--c->busy == 0 && c->dead)
        sb_conn_destroy(c);
}

void sb_conn_destroy(sb_conn *c)
{
    if (!c->dead) {
        c->dead = 1;
        events->on_detach(c);
        sb_dict_udel(sb_srv.conns, c->id);
        ev_io_stop(sb_srv.loop, &c->rio);
        ev_io_stop(sb_srv.loop, &c->wio);
        ev_timer_stop(sb_srv.loop, &c->timer);
        close(c->fd);
        c->fd = -1;
    }
    if (c->busy)
        return; /* freed when the callback that holds it unwinds */
    if (c->ops_prev)
        c->ops_prev->release(c);
    c->ops->release(c);
    sb_outq_clear(&c->out);
    conn_held_free(c);
    events->on_free(c);
    if (c->tls)
        sb_tls_conn_free(c->tls);
    free(c->pre);
    sb_mem_strfree(c->user);
    free(c->rooms);
    sb_pool_free(&conn_pool, c);
}

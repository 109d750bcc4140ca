/* wslay glue. wslay reads through recv_cb (the handshake's leftover bytes
 * first, then the socket), validates framing, masking, UTF-8 (1007) and
 * max_message_bytes (1009), and answers pings and closes through send_cb,
 * which appends its control frames to the connection's own output queue so
 * frames never interleave. Data frames are never queued through wslay: it
 * would copy each payload per recipient (see conn.c). */
#include "ws.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deflate.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "utf8.h"

#define WS_READ_BUDGET (256 * 1024) /* bytes per readable event: fairness */

static size_t hibernated; /* contexts freed since the last trim */
static ev_timer trim_timer;

/* Follow the frame headers in the bytes handed to wslay. wslay checks a
 * frame's length only once payload bytes arrive, so a header declaring more
 * than max_message_bytes would wait for bytes that may never come: it is
 * caught here, and sb_ws_on_readable closes with 1009 at once. */
static void ws_peek(sb_conn *c, const uint8_t *buf, size_t n)
{
    while (n > 0 && !c->ws_too_big) {
        if (c->ws->skip) {
            size_t k = c->ws->skip < n ? (size_t)c->ws->skip : n;
            c->ws->skip -= k;
            buf += k;
            n -= k;
            continue;
        }
        c->ws->hdr[c->ws->hdr_len++] = *buf++;
        n--;
        if (c->ws->hdr_len < 2)
            continue;
        uint8_t b1 = c->ws->hdr[1], l7 = b1 & 0x7f;
        size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
        if (c->ws->hdr_len < 2 + ext + (b1 & 0x80 ? 4 : 0))
            continue;
        uint64_t len = l7;
        if (ext) {
            len = 0;
            for (size_t i = 0; i < ext; i++)
                len = len << 8 | c->ws->hdr[2 + i];
        }
        if ((c->ws->hdr[0] & 0x0f) < 8 && len > (uint64_t)sb_srv.cfg->max_message_bytes)
            c->ws_too_big = 1;
        c->ws->hdr_len = 0;
        c->ws->skip = len;
    }
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    sb_conn *c = user;
    if (c->ws_too_big) { /* nothing more for wslay: the close follows */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (c->pre) {
        size_t n = c->pre->len - c->pre->off;
        if (n > len)
            n = len;
        memcpy(buf, c->pre->bytes + c->pre->off, n);
        c->pre->off += n;
        if (c->pre->off == c->pre->len) {
            free(c->pre);
            c->pre = NULL;
        }
        c->ws->given += n;
        ws_peek(c, buf, n);
        return (ssize_t)n;
    }
    if (c->ws->budget == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > c->ws->budget)
        len = c->ws->budget;
    ssize_t n;
    do {
        n = sb_conn_recv(c, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n <= 0) {
        c->ws_eof = 1;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    c->ws->budget -= (size_t)n;
    c->ws->given += (uint64_t)n;
    c->last_rx = ev_now(sb_srv.loop);
    ws_peek(c, buf, (size_t)n);
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)flags;
    sb_conn *c = user;
    if (c->closing || c->dead)
        return (ssize_t)len; /* nothing after our close */
    sb_frame *f;
    if (len == 2 && data[0] == 0x88 && data[1] == 0 &&
        (!wslay_event_get_close_received(ctx) || c->ws_close_short)) {
        /* wslay's close for a frame-header violation carries no code, and it
         * echoes a client's close with a 1-byte body (RFC 6455 5.5.1: a
         * protocol error) as an empty one. */
        f = sb_frame_ws_close(1002, "protocol error");
        c->ws_close_out = 1;
    } else {
        if (len >= 1 && data[0] == 0x88 && !c->ws_close_out)
            c->ws_close_out = 1;
        f = sb_frame_raw(data, len);
    }
    if (!f) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    sb_conn_send(c, f);
    sb_frame_unref(f);
    return (ssize_t)len;
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    (void)ctx;
    sb_conn *c = user;
    uint64_t pl = arg->payload_length;
    c->ws->in_frame = 1;
    c->ws->frame_len = sb_frame_ws_header_len(pl) + 4 + pl; /* + the client's mask */
    if (arg->opcode < 8) /* data or continuation: is a message still open? */
        c->ws->in_msg = !arg->fin;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE && pl == 1)
        c->ws_close_short = 1;
    c->last_rx = ev_now(sb_srv.loop);
}

static void ws_frame_end_cb(wslay_event_context_ptr ctx, void *user)
{
    (void)ctx;
    sb_conn *c = user;
    c->ws->in_frame = 0;
    c->ws->framed += c->ws->frame_len;
}

/* A compressed text message: wslay left its UTF-8 check to us. The inflated
 * size counts against max_message_bytes while inflating. */
static void ws_inflated_text(sb_conn *c, const uint8_t *msg, size_t len)
{
    uint8_t *text;
    size_t n;
    int rc = sb_inflate_msg(msg, len, (size_t)sb_srv.cfg->max_message_bytes, &text, &n);
    if (rc == SB_EINVAL) {
        sb_conn_close(c, 1009, "message too big");
        return;
    }
    if (rc == SB_EPROTO) {
        sb_conn_close(c, 1007, "invalid deflate data");
        return;
    }
    if (rc != SB_OK) {
        sb_conn_close(c, 1011, "out of memory");
        return;
    }
    if (!sb_utf8_valid(text, n))
        sb_conn_close(c, 1007, "invalid UTF-8");
    else
        sb_conn_events_get()->on_text(c, (const char *)text, n);
    free(text);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    sb_conn *c = user;
    if (c->closing || c->dead)
        return;
    sb_metrics_core.frames_in++;
    if (arg->opcode == WSLAY_TEXT_FRAME && (arg->rsv & WSLAY_RSV1_BIT)) {
        ws_inflated_text(c, arg->msg, arg->msg_length);
    } else if (arg->opcode == WSLAY_TEXT_FRAME)
        sb_conn_events_get()->on_text(c, (const char *)arg->msg, arg->msg_length);
    else if (arg->opcode == WSLAY_BINARY_FRAME)
        sb_conn_close(c, 1003, "binary frames are not accepted");
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_frame_recv_start_callback = ws_frame_start_cb,
    .on_frame_recv_end_callback = ws_frame_end_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

static int ws_ensure(sb_conn *c)
{
    if (c->ws)
        return SB_OK;
    sb_ws_live *w = calloc(1, sizeof(*w)); /* short-lived: the heap's, like wslay's */
    if (!w)
        return SB_ENOMEM;
    if (wslay_event_context_server_init(&w->ctx, &ws_callbacks, c) != 0) {
        free(w);
        return SB_ENOMEM;
    }
    c->ws = w;
    wslay_event_config_set_max_recv_msg_length(w->ctx, (uint64_t)sb_srv.cfg->max_message_bytes);
    if (c->deflate)
        wslay_event_config_set_allowed_rsv_bits(w->ctx, WSLAY_RSV1_BIT);
    sb_metrics_core.ws_contexts++;
    sb_conn_rearm(c); /* the timer now also owes a hibernation check */
    return SB_OK;
}

void sb_ws_on_readable(sb_conn *c)
{
    if (ws_ensure(c) != SB_OK) {
        sb_conn_destroy(c);
        return;
    }
    c->ws->budget = WS_READ_BUDGET;
    int rv = wslay_event_recv(c->ws->ctx);
    if (c->dead)
        return;
    if (c->ws_too_big && !c->ws_close_out) {
        /* An error here means wslay has queued a close already. */
        wslay_event_queue_close(c->ws->ctx, 1009, NULL, 0);
        wslay_event_shutdown_read(c->ws->ctx);
    }
    if (wslay_event_want_write(c->ws->ctx))
        wslay_event_send(c->ws->ctx);
    if (c->ws_eof || (rv != 0 && !c->ws_close_out)) {
        /* EOF, a socket error or no memory: nothing more can be said. */
        sb_conn_destroy(c);
        return;
    }
    if (c->closing && wslay_event_get_close_received(c->ws->ctx) && sb_outq_empty(&c->out)) {
        sb_conn_destroy(c); /* the close handshake is complete */
        return;
    }
    if (c->ws_close_out && !c->closing) {
        /* wslay answered a close or refused a frame (1002/1007/1009). */
        c->closing = 1;
        sb_conn_rearm(c);
    }
    if (c->closing && !wslay_event_get_read_enabled(c->ws->ctx) &&
        !wslay_event_get_close_received(c->ws->ctx)) {
        /* wslay failed the connection and reads no more: the client's close
         * can never be read, so stop watching (the linger timer ends it). */
        ev_io_stop(sb_srv.loop, &c->rio);
        return;
    }
    if (c->pre && !c->dead)
        ev_feed_event(sb_srv.loop, &c->rio, EV_READ); /* leftover bytes remain */
}

static void ws_live_free(sb_conn *c)
{
    wslay_event_context_free(c->ws->ctx);
    free(c->ws);
    c->ws = NULL;
    sb_metrics_core.ws_contexts--;
}

int sb_ws_hibernate(sb_conn *c)
{
    if (!c->ws || c->closing || c->ws->in_frame || c->ws->in_msg || c->ws->given != c->ws->framed ||
        c->pre || wslay_event_get_queued_msg_count(c->ws->ctx) ||
        wslay_event_want_write(c->ws->ctx))
        return 0;
    ws_live_free(c);
    hibernated++;
    return 1;
}

/* glibc keeps freed 4 KiB buffers in its heap, so hibernation alone does not
 * lower RSS: after a batch, give the free pages back (at most once a second). */
static void ws_trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (hibernated >= 64)
        malloc_trim(0);
    hibernated = 0;
}

void sb_ws_start_trim(void)
{
    ev_timer_init(&trim_timer, ws_trim_cb, 1.0, 1.0);
    ev_timer_start(sb_srv.loop, &trim_timer);
    ev_unref(sb_srv.loop); /* never keeps the loop alive on its own */
}

void sb_ws_stop_trim(void)
{
    ev_ref(sb_srv.loop);
    ev_timer_stop(sb_srv.loop, &trim_timer);
}

void sb_ws_free(sb_conn *c)
{
    if (c->ws)
        ws_live_free(c);
}

static int ws_attach(sb_conn *c)
{
    (void)c;
    return SB_OK; /* the wslay context is made on the first readable event */
}

static void ws_drained(sb_conn *c)
{
    sb_conn_events_get()->on_ws_drained(c);
}

const sb_conn_phase_ops sb_ws_phase = {
    .attach = ws_attach,
    .release = sb_ws_free,
    .on_readable = sb_ws_on_readable,
    .on_drained = ws_drained,
    .deadline = NULL,
    .hibernate = sb_ws_hibernate,
};

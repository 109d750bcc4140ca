/* One sb-bench client connection: non-blocking connect from a chosen loopback source
 * address, the HTTP upgrade (key and accept check with libcrypto), then WebSocket framing by
 * wslay's client role, and what each server frame means for the run's bookkeeping. Frames
 * wslay produces are gathered in the connection's own buffer and written with one syscall
 * per flush; received bytes are handed to wslay straight from the worker's read buffer. A
 * wss:// connection does its TLS handshake first and its I/O through bench_tls.c; with
 * --deflate, messages are compressed before wslay frames them (bench_zip.c). */
#include "bench.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HS_MAX         4096
#define OUT_HIGH_WATER (1024 * 1024) /* a sender with this much unwritten skips its turn */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void conn_read_cb(struct ev_loop *loop, ev_io *io, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *io, int revents);
static void conn_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user_data);

int64_t bench_now_ns(const bench *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)(ts.tv_sec - b->epoch.tv_sec) * 1000000000 + (ts.tv_nsec - b->epoch.tv_nsec);
}

void bench_reasons_add(bench_reasons *r, const char *name, uint64_t n)
{
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->name[i], name) == 0) {
            r->count[i] += n;
            return;
        }
    }
    /* the last slot collects every reason that found no slot of its own */
    int i = r->n < BENCH_MAX_REASONS - 1 ? r->n++ : BENCH_MAX_REASONS - 1;
    if (i == BENCH_MAX_REASONS - 1) {
        name = "other";
        r->n = BENCH_MAX_REASONS;
    }
    snprintf(r->name[i], sizeof(r->name[i]), "%s", name);
    r->count[i] += n;
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static const char *errno_name(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "errno";
}

/* --- wslay glue --- */

/* The socket's bytes, plain or through TLS, with read/write's contract; counted. */
static ssize_t conn_io_read(bench_conn *c, void *buf, size_t len)
{
    ssize_t n = c->ssl ? bench_tls_read(c->ssl, buf, len) : read(c->fd, buf, len);
    if (n > 0)
        count(&c->w->c.bytes_in, (uint64_t)n);
    return n;
}

static ssize_t conn_io_write(bench_conn *c, const void *buf, size_t len)
{
    ssize_t n = c->ssl ? bench_tls_write(c->ssl, buf, len) : write(c->fd, buf, len);
    if (n > 0)
        count(&c->w->c.bytes_out, (uint64_t)n);
    return n;
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user_data)
{
    (void)flags;
    bench_conn *c = user_data;
    if (c->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    c->in += n;
    c->in_len -= n;
    return (ssize_t)n;
}

static int out_reserve(bench_conn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + more)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
        return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user_data)
{
    (void)flags;
    bench_conn *c = user_data;
    if (out_reserve(c, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user_data)
{
    (void)ctx;
    /* masks only need to differ, not to be secret: xorshift instead of RAND_bytes per frame */
    bench_conn *c = user_data;
    uint64_t x = c->w->rng;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    c->w->rng = x;
    return 0;
}

static void conn_mark_dirty(bench_conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = c->w->dirty;
        c->w->dirty = c;
    }
}

int bench_conn_queue(bench_conn *c, const char *text, size_t len)
{
    if (c->state != CS_OPEN)
        return -1;
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    uint8_t rsv = WSLAY_RSV_NONE;
    /* like the server's compression_min_bytes: small frames stay plain */
    if (c->deflate && len >= 128) {
        if (bench_zip_deflate(c->w->zip, msg.msg, len, &msg.msg, &msg.msg_length) < 0)
            return -1;
        rsv = WSLAY_RSV1_BIT;
    }
    if (wslay_event_queue_msg_ex(c->ws, &msg, rsv) != 0 || wslay_event_send(c->ws) != 0)
        return -1;
    conn_mark_dirty(c);
    return 0;
}

/* --- teardown --- */

void bench_conn_close(bench_conn *c)
{
    bench_worker *w = c->w;
    if (c->state == CS_DONE)
        return;
    if (c->state == CS_CONNECTING || c->state == CS_TLS || c->state == CS_HANDSHAKE)
        w->handshaking--;
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->ssl)
        bench_tls_conn_free(c->ssl);
    c->ssl = NULL;
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    free(c->hs);
    c->hs = NULL;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    free(c->readbuf);
    c->readbuf = NULL;
    c->read_n = 0;
    c->state = CS_DONE;
}

void bench_conn_fail(bench_conn *c, const char *reason)
{
    if (!c->failed) {
        c->failed = 1;
        bench_reasons_add(&c->w->reasons, reason, 1);
        count(&c->w->c.failed, 1);
    }
    bench_conn_close(c);
}

/* An open connection ended: by the server's close frame (its code) or by the socket. */
static void conn_lost(bench_conn *c, const char *why)
{
    char name[32];
    if (c->close_code)
        snprintf(name, sizeof(name), "close %u", c->close_code);
    else
        snprintf(name, sizeof(name), "%s", why);
    bench_reasons_add(&c->w->closes, name, 1);
    count(&c->w->c.closed, 1);
    bench_conn_close(c);
}

void bench_conn_check_timeout(bench_conn *c, double now)
{
    if ((c->state == CS_CONNECTING || c->state == CS_TLS || c->state == CS_HANDSHAKE) &&
        now - c->opened_at > c->w->b->cfg.connect_timeout)
        bench_conn_fail(c, c->state == CS_CONNECTING ? "connect timeout"
                           : c->state == CS_TLS      ? "tls timeout"
                                                     : "handshake timeout");
}

/* --- connect and handshake --- */

void bench_conn_start(bench_worker *w, bench_conn *c)
{
    bench *b = w->b;
    c->w = w;
    c->fd = -1;
    count(&w->c.attempted, 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        bench_conn_fail(c, errno_name(errno));
        return;
    }
    c->fd = fd;
    c->state = CS_CONNECTING;
    w->handshaking++;
    c->opened_at = ev_now(w->loop);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (b->cfg.src_addrs > 0) {
        /* Each source address has its own ephemeral port range; IP_BIND_ADDRESS_NO_PORT defers
         * the port choice to connect() so ports are shared per 4-tuple, not reserved by bind. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + c->idx % b->cfg.src_addrs);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            bench_conn_fail(c, errno_name(errno));
            return;
        }
    }
    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
    const struct sockaddr_in *dst = &b->dst[c->node];
    if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 && errno != EINPROGRESS) {
        bench_conn_fail(c, errno_name(errno));
        return;
    }
    ev_io_start(w->loop, &c->wio);
}

/* Build the upgrade request into c->hs and remember the accept value it must get back. */
static int conn_build_request(bench_conn *c)
{
    const bench_cfg *cfg = &c->w->b->cfg;
    const bench_url *u = &cfg->url[c->node];
    unsigned char raw[16];
    char key[25];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    char cat[64];
    unsigned char sha[SHA_DIGEST_LENGTH];
    int n = snprintf(cat, sizeof(cat), "%s%s", key, ws_guid);
    SHA1((unsigned char *)cat, (size_t)n, sha);
    EVP_EncodeBlock((unsigned char *)c->accept, sha, sizeof(sha));
    c->hs = malloc(HS_MAX);
    if (!c->hs)
        return -1;
    n = snprintf(c->hs, HS_MAX,
                 "GET %s%cclient_id=%s%" PRIu32 " HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s\r\n",
                 u->path, strchr(u->path, '?') ? '&' : '?', cfg->prefix, c->idx, u->host, u->port,
                 key,
                 cfg->deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                "client_no_context_takeover; server_no_context_takeover\r\n"
                              : "");
    if (n <= 0 || n >= HS_MAX)
        return -1;
    c->hs_len = (size_t)n;
    c->hs_off = 0;
    return 0;
}

static void conn_send_text(bench_conn *c, const char *text)
{
    if (bench_conn_queue(c, text, strlen(text)) < 0)
        conn_lost(c, "queue failed");
}

static void conn_mark_ready(bench_conn *c)
{
    if (!c->ready) {
        c->ready = 1;
        atomic_store_explicit(&c->ready_ns, bench_now_ns(c->w->b), memory_order_relaxed);
        count(&c->w->c.ready, 1);
    }
}

/* Hand received bytes to wslay (which calls conn_on_msg per message), then let it answer
 * control frames (pong, the close reply) into the output buffer. */
static void conn_feed(bench_conn *c, const uint8_t *data, size_t len)
{
    c->in = data;
    c->in_len = len;
    int rv = wslay_event_recv(c->ws);
    c->in_len = 0;
    if (c->state != CS_OPEN)
        return;
    if (rv != 0) {
        conn_lost(c, "protocol error");
        return;
    }
    if (wslay_event_want_write(c->ws)) {
        if (wslay_event_send(c->ws) != 0) {
            conn_lost(c, "send failed");
            return;
        }
        conn_mark_dirty(c);
    }
    if (c->close_code)
        conn_mark_dirty(c); /* the flush notices the finished close handshake */
}

/* The response head is complete in c->hs[0..end): check it, start wslay, hand it the rest. */
static void conn_upgrade(bench_conn *c, size_t end)
{
    static const struct wslay_event_callbacks cbs = {
        .recv_callback = ws_recv_cb,
        .send_callback = ws_send_cb,
        .genmask_callback = ws_genmask_cb,
        .on_msg_recv_callback = conn_on_msg,
    };
    int status = 0;
    if (sscanf(c->hs, "HTTP/1.%*d %d", &status) != 1) {
        bench_conn_fail(c, "bad response");
        return;
    }
    if (status != 101) {
        char r[32];
        snprintf(r, sizeof(r), "HTTP %d", status);
        bench_conn_fail(c, r);
        return;
    }
    /* find Sec-WebSocket-Accept among the header lines, any case */
    const char *p = c->hs, *stop = c->hs + end;
    int accepted = 0, deflate = 0;
    while (p < stop) {
        const char *eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
        if (!eol)
            break;
        static const char hname[] = "sec-websocket-accept:";
        if ((size_t)(eol - p) > sizeof(hname) - 1 &&
            strncasecmp(p, hname, sizeof(hname) - 1) == 0) {
            const char *v = p + sizeof(hname) - 1;
            while (v < eol && *v == ' ')
                v++;
            accepted = (size_t)(eol - v) >= 28 && memcmp(v, c->accept, 28) == 0;
        }
        static const char xname[] = "sec-websocket-extensions:";
        if ((size_t)(eol - p) > sizeof(xname) - 1 && strncasecmp(p, xname, sizeof(xname) - 1) == 0)
            deflate = memmem(p, (size_t)(eol - p), "permessage-deflate", 18) != NULL;
        p = eol + 2;
    }
    if (!accepted) {
        bench_conn_fail(c, "bad accept");
        return;
    }
    if (wslay_event_context_client_init(&c->ws, &cbs, c) != 0) {
        bench_conn_fail(c, "ENOMEM");
        return;
    }
    if (deflate && !c->w->b->cfg.deflate) {
        bench_conn_fail(c, "unasked extension");
        return;
    }
    c->deflate = (uint8_t)deflate;
    if (deflate)
        wslay_event_config_set_allowed_rsv_bits(c->ws, WSLAY_RSV1_BIT);
    c->state = CS_OPEN;
    c->w->handshaking--;
    count(&c->w->c.connected, 1);
    ev_io_stop(c->w->loop, &c->wio);
    /* a ping proves the connection is identified and served before it counts as ready;
     * --no-ping leaves an idle connection exactly as the handshake left it */
    if (c->w->b->cfg.no_ping && c->w->b->cfg.scenario == SC_IDLE)
        conn_mark_ready(c);
    else if (c->w->b->cfg.dialect == BD_MESSAGING) /* 001 has no ping: a read answers */
        conn_send_text(c, "{\"read\":[{\"id\":\"ready\"}]}");
    else if (c->w->b->cfg.dialect == BD_CHAT)
        conn_send_text(c, "{\"command\":\"me\"}"); /* chat has no ping: `me` proves the same */
    else
        conn_send_text(c, "{\"type\":\"ping\"}");
    if (c->state != CS_OPEN)
        return;
    size_t rest = c->hs_len - end;
    if (rest > 0) {
        /* frames that arrived with the head: keep them alive past freeing hs */
        uint8_t *copy = malloc(rest);
        if (!copy) {
            conn_lost(c, "ENOMEM");
            return;
        }
        memcpy(copy, c->hs + end, rest);
        free(c->hs);
        c->hs = NULL;
        conn_feed(c, copy, rest);
        free(copy);
    } else {
        free(c->hs);
        c->hs = NULL;
    }
}

static void conn_handshake_read(bench_conn *c)
{
    for (;;) {
        if (c->hs_len >= HS_MAX) {
            bench_conn_fail(c, "response too long");
            return;
        }
        ssize_t n = conn_io_read(c, c->hs + c->hs_len, HS_MAX - 1 - c->hs_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            bench_conn_fail(c, errno_name(errno));
            return;
        }
        if (n == 0) {
            bench_conn_fail(c, "closed in handshake");
            return;
        }
        c->hs_len += (size_t)n;
        c->hs[c->hs_len] = 0;
        const char *end = memmem(c->hs, c->hs_len, "\r\n\r\n", 4);
        if (end) {
            conn_upgrade(c, (size_t)(end + 4 - c->hs));
            return;
        }
    }
}

/* --- what server frames mean --- */

static void conn_read_append(bench_conn *c, const char *id, size_t id_len)
{
    static const char head[] = "{\"type\":\"read\",\"data\":{\"ids\":[";
    size_t need = c->read_len + id_len + 8 + (c->read_n ? 0 : sizeof(head));
    char *p = realloc(c->readbuf, need);
    if (!p)
        return;
    c->readbuf = p;
    if (c->read_n == 0) {
        memcpy(p, head, sizeof(head) - 1);
        c->read_len = sizeof(head) - 1;
    } else {
        p[c->read_len++] = ',';
    }
    p[c->read_len++] = '"';
    memcpy(p + c->read_len, id, id_len);
    c->read_len += id_len;
    p[c->read_len++] = '"';
    c->read_n++;
    if (c->read_n >= c->w->b->cfg.read_batch)
        bench_conn_flush_read(c);
}

void bench_conn_flush_read(bench_conn *c)
{
    if (c->read_n == 0 || c->state != CS_OPEN)
        return;
    memcpy(c->readbuf + c->read_len, "]}}", 3);
    c->read_len += 3;
    c->read_n = 0;
    count(&c->w->c.reads_sent, 1);
    if (bench_conn_queue(c, c->readbuf, c->read_len) < 0)
        conn_lost(c, "queue failed");
}

static void conn_delivery(bench_conn *c, const bench_frame *f, int is_direct)
{
    bench_worker *w = c->w;
    if (!f->has_c || !f->has_s || f->c >= w->b->nconns) {
        count(&w->c.other_frames, 1);
        return;
    }
    bench_bits *bits = bench_inbox_stream(&c->inbox, (uint32_t)f->c);
    int was = bits ? bench_bits_set(bits, f->s) : -1;
    if (was == 1) {
        count(&w->c.dups, 1);

    } else {
        count(&w->c.delivered, 1);
        c->got++;
        int64_t now = bench_now_ns(w->b);
        if (now >= atomic_load_explicit(&w->b->window_start_ns, memory_order_relaxed) &&
            now < atomic_load_explicit(&w->b->window_end_ns, memory_order_relaxed)) {
            count(&w->c.delivered_window, 1);
            if (f->has_t && (int64_t)f->t <= now)
                bench_hist_record(&w->hist, (uint64_t)(now - (int64_t)f->t));
        }
    }
    /* duplicates are read too: at-least-once means the server may resend until read */
    if (is_direct && w->b->cfg.read_batch && f->id)
        conn_read_append(c, f->id, f->id_len);
}

static int in_run(const bench_conn *c)
{
    return atomic_load_explicit(&c->w->b->phase, memory_order_relaxed) == PH_RUN;
}

/* A reply to one of our messages (ack or error): one less outstanding; refill a closed loop. */
static void conn_settled(bench_conn *c)
{
    if (c->outstanding)
        c->outstanding--;
    const bench *b = c->w->b;
    if (b->cfg.rate == 0 && c->sender && in_run(c) &&
        (!b->limit_per_sender || c->seq < b->limit_per_sender))
        bench_conn_send_next(c, bench_now_ns(b));
}

static void conn_error(bench_conn *c, const char *buf, size_t len, const bench_frame *f)
{
    cJSON *j = cJSON_ParseWithLength(buf, len);
    const cJSON *data = c->w->b->cfg.dialect == BD_MESSAGING
                            ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0)
                            : cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(data, "code");
    char name[32];
    snprintf(name, sizeof(name), "%s", cJSON_IsString(code) ? code->valuestring : "?");
    cJSON_Delete(j);
    bench_reasons_add(&c->w->errcodes, name, 1);
    count(&c->w->c.errors, 1);
    if (f->has_ref)
        conn_settled(c);
}

/* An acked message of ours (native `ack`, or a chat sender's own broadcast): counted once.
 * recover: the first publication is the anchor the members join `since`, recovered by none. */
static void conn_acked(bench_conn *c, const bench_frame *f)
{
    bench_worker *w = c->w;
    if (f->has_ref && bench_bits_set(&c->acked_bits, f->ref) == 0) {
        int anchor = w->b->cfg.scenario == SC_RECOVER && f->ref == 0;
        if (anchor && f->id && f->id_len < sizeof(w->b->since)) {
            memcpy(w->b->since, f->id, f->id_len);
            w->b->since[f->id_len] = '\0';
        }
        c->acked++;
        count(&w->c.acked, 1);
        if (!anchor)
            count(&w->c.expected, bench_fanout_of(w->b, c->idx));
    }
    conn_settled(c);
}

/* A chat dialect frame: `me` answers the readiness probe, a broadcast of our own is the ack
 * of that message (the chat hub sends the sender its copy), any other is a delivery. */
static void conn_on_chat(bench_conn *c, const char *buf, size_t len)
{
    bench_worker *w = c->w;
    bench_frame f;
    if (bench_scan_chat(buf, len, &f) < 0) {
        count(&w->c.other_frames, 1);
    } else if (bench_frame_is(&f, "broadcast")) {
        if (f.has_c && f.c == c->idx)
            conn_acked(c, &f);
        else
            conn_delivery(c, &f, 0);
    } else if (bench_frame_is(&f, "me")) {
        conn_mark_ready(c);
    } else if (bench_frame_is(&f, "error")) {
        cJSON *j = cJSON_ParseWithLength(buf, len);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
        bench_reasons_add(&w->errcodes, cJSON_IsString(code) ? code->valuestring : "?", 1);
        cJSON_Delete(j);
        count(&w->c.errors, 1);
    } else {
        count(&w->c.other_frames, 1);
    }
}

static void conn_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user_data)
{
    (void)ctx;
    bench_conn *c = user_data;
    bench_worker *w = c->w;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        c->close_code = arg->status_code ? arg->status_code : 1005;
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || c->state != CS_OPEN)
        return;
    const char *buf = (const char *)arg->msg;
    size_t len = arg->msg_length;
    if (wslay_get_rsv1(arg->rsv)) {
        const uint8_t *plain;
        if (bench_zip_inflate(w->zip, arg->msg, len, &plain, &len) < 0) {
            conn_lost(c, "bad deflate data");
            return;
        }
        buf = (const char *)plain;
        count(&w->c.compressed, 1);
    }
    bench_frame f;
    const bench *b = w->b;
    if (b->cfg.dialect == BD_CHAT) {
        conn_on_chat(c, buf, len);
        return;
    }
    int scanned = b->cfg.dialect == BD_MESSAGING ? bench_scan_messaging(buf, len, &f)
                                                 : bench_scan(buf, len, &f);
    if (scanned < 0) {
        count(&w->c.other_frames, 1);
        return;
    }
    if (bench_frame_is(&f, "message")) {
        conn_delivery(c, &f, 1);
    } else if (bench_frame_is(&f, "publish") || bench_frame_is(&f, "broadcast")) {
        conn_delivery(c, &f, 0);
    } else if (bench_frame_is(&f, "ack")) {
        conn_acked(c, &f);
    } else if (bench_frame_is(&f, "pong")) {
        if (!c->ready && b->cfg.scenario == SC_RECOVER && c->late) {
            char join[128];
            snprintf(join, sizeof(join),
                     "{\"type\":\"join\",\"data\":{\"room\":\"r0\",\"since\":\"%s\"}}", b->since);
            conn_send_text(c, join);
        } else if (!c->ready && (b->cfg.scenario == SC_FANOUT || b->cfg.scenario == SC_RECOVER)) {
            char join[96];
            snprintf(join, sizeof(join), "{\"type\":\"join\",\"data\":{\"room\":\"r%" PRIu32 "\"}}",
                     bench_room_of(b, c->idx));
            conn_send_text(c, join);
        } else {
            conn_mark_ready(c);
        }
    } else if (bench_frame_is(&f, "join")) {
        conn_mark_ready(c);
    } else if (bench_frame_is(&f, "error")) {
        conn_error(c, buf, len, &f);
    } else if (bench_frame_is(&f, "receipt")) {
        count(&w->c.receipts, 1);
    } else if (bench_frame_is(&f, "presence")) {
        count(&w->c.presence, 1);
    } else if (bench_frame_is(&f, "read") && b->cfg.dialect == BD_MESSAGING) {
        conn_mark_ready(c);
    } else if (!bench_frame_is(&f, "read")) {
        count(&w->c.other_frames, 1);
    }
}

/* --- sending --- */

int bench_conn_send_next(bench_conn *c, int64_t t_ns)
{
    bench_worker *w = c->w;
    const bench *b = w->b;
    if (c->state != CS_OPEN)
        return -1;
    uint64_t seq = c->seq;
    char *m = w->sbuf;
    size_t cap = w->sbuf_cap;
    int n;
    switch (b->cfg.scenario) {
    case SC_FANOUT:
    case SC_RECOVER:
        n = snprintf(
            m, cap, "{\"type\":\"publish\",\"ref\":%" PRIu64 ",\"data\":{\"room\":\"r%" PRIu32 "\"",
            seq, bench_room_of(b, c->idx));
        break;
    case SC_BROADCAST:
        n = snprintf(m, cap, "{\"type\":\"broadcast\",\"ref\":%" PRIu64 ",\"data\":{", seq);
        break;
    default:
        if (b->cfg.dialect == BD_MESSAGING)
            n = snprintf(m, cap,
                         "{\"send\":[{\"id\":%" PRIu64 ",\"sid\":\"%s%" PRIu32
                         "\",\"rid\":\"%s%" PRIu32 "\"",
                         seq, b->cfg.prefix, c->idx, b->cfg.prefix, bench_dest_of(b, c->idx, seq));
        else
            n = snprintf(m, cap,
                         "{\"type\":\"message\",\"ref\":%" PRIu64 ",\"data\":{\"to\":\"%s%" PRIu32
                         "\"",
                         seq, b->cfg.prefix, bench_dest_of(b, c->idx, seq));
        break;
    }
    int first = b->cfg.scenario == SC_BROADCAST;
    if (b->cfg.dialect == BD_CHAT)
        n = snprintf(m, cap,
                     "{\"command\":\"broadcast\",\"message\":\"t=%" PRId64 " c=%" PRIu32
                     " s=%" PRIu64 " p=",
                     t_ns, c->idx, seq);
    else
        n += snprintf(m + n, cap - (size_t)n,
                      "%s\"t\":%" PRId64 ",\"c\":%" PRIu32 ",\"s\":%" PRIu64 ",\"p\":\"",
                      first ? "" : ",", t_ns, c->idx, seq);
    if ((size_t)n + b->cfg.size + 5 > cap)
        return -1;
    memcpy(m + n, b->payload, b->cfg.size);
    n += (int)b->cfg.size;
    if (b->cfg.dialect == BD_MESSAGING) {
        memcpy(m + n, "\"}]}", 4);
        n += 4;
    } else {
        memcpy(m + n, "\"}}", 3);
        n += b->cfg.dialect == BD_CHAT ? 2 : 3; /* chat: one object, no data */
    }
    if (bench_conn_queue(c, m, (size_t)n) < 0) {
        conn_lost(c, "queue failed");
        return -1;
    }
    c->seq++;
    c->outstanding++;
    count(&w->c.sent, 1);
    if (t_ns >= atomic_load_explicit(&b->window_start_ns, memory_order_relaxed) &&
        t_ns < atomic_load_explicit(&b->window_end_ns, memory_order_relaxed))
        count(&w->c.sent_window, 1);
    return 0;
}

int bench_conn_can_send(const bench_conn *c)
{
    const bench *b = c->w->b;
    return c->state == CS_OPEN && c->ready && c->outstanding < b->cfg.window &&
           c->out_len < OUT_HIGH_WATER && (!b->limit_per_sender || c->seq < b->limit_per_sender);
}

/* --- I/O --- */

void bench_conn_flush(bench_conn *c)
{
    c->dirty = 0;
    if (c->state != CS_OPEN)
        return;
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = conn_io_write(c, c->out + off, c->out_len - off);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            if (errno == EINTR)
                continue;
            conn_lost(c, errno_name(errno));
            return;
        }
        off += (size_t)n;
    }
    if (off) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    if (c->out_len)
        ev_io_start(c->w->loop, &c->wio);
    else
        ev_io_stop(c->w->loop, &c->wio);
    if (c->ws && !wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws) && !c->out_len)
        conn_lost(c, "closed"); /* the close handshake is done */
}

void bench_worker_flush(bench_worker *w)
{
    while (w->dirty) {
        bench_conn *c = w->dirty;
        w->dirty = c->next_dirty;
        bench_conn_flush(c);
    }
}

/* Connected (and TLS done): the upgrade request goes out next. -> 0 | -1 (failed) */
static int conn_start_upgrade(bench_conn *c)
{
    if (conn_build_request(c) < 0) {
        bench_conn_fail(c, "request");
        return -1;
    }
    c->state = CS_HANDSHAKE;
    return 0;
}

/* Advance the TLS handshake; when done, write the upgrade request. */
static void conn_tls_step(bench_conn *c)
{
    int want_write = 0;
    int r = bench_tls_handshake(c->ssl, &want_write);
    if (r < 0) {
        bench_conn_fail(c, "tls handshake");
        return;
    }
    if (r == 0) {
        if (want_write)
            ev_io_start(c->w->loop, &c->wio);
        else
            ev_io_stop(c->w->loop, &c->wio);
        return;
    }
    if (conn_start_upgrade(c) == 0)
        ev_io_start(c->w->loop, &c->wio);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    bench_conn *c = (bench_conn *)((char *)io - offsetof(bench_conn, wio));
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            bench_conn_fail(c, errno_name(err));
            return;
        }
        ev_io_start(c->w->loop, &c->rio);
        const bench_url *u = &c->w->b->cfg.url[c->node];
        if (u->tls) {
            c->ssl = bench_tls_new(c->fd, u->host);
            if (!c->ssl) {
                bench_conn_fail(c, "ENOMEM");
                return;
            }
            c->state = CS_TLS;
        } else if (conn_start_upgrade(c) < 0) {
            return;
        }
    }
    if (c->state == CS_TLS) {
        conn_tls_step(c);
        return;
    }
    if (c->state == CS_HANDSHAKE) {
        while (c->hs_off < c->hs_len) {
            ssize_t n = conn_io_write(c, c->hs + c->hs_off, c->hs_len - c->hs_off);
            if (n < 0) {
                if (errno == EAGAIN)
                    return;
                bench_conn_fail(c, errno_name(errno));
                return;
            }
            c->hs_off += (size_t)n;
        }
        /* the request is out: hs now collects the response */
        ev_io_stop(c->w->loop, &c->wio);
        c->hs_len = c->hs_off = 0;
        return;
    }
    if (c->state == CS_OPEN)
        bench_conn_flush(c);
}

/* Decrypted bytes left inside OpenSSL: the socket will not say so, read again. */
static void conn_read_pending(bench_conn *c)
{
    if (c->ssl && (c->state == CS_OPEN || c->state == CS_HANDSHAKE) && bench_tls_pending(c->ssl))
        ev_feed_event(c->w->loop, &c->rio, EV_READ);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    bench_conn *c = (bench_conn *)io;
    bench_worker *w = c->w;
    if (c->state == CS_TLS) {
        conn_tls_step(c);
        return;
    }
    if (c->state == CS_HANDSHAKE) {
        if (c->hs_off < c->hs_len)
            return; /* still writing the request */
        conn_handshake_read(c);
        conn_read_pending(c);
        return;
    }
    if (c->state != CS_OPEN)
        return;
    for (int i = 0; i < 8 && c->state == CS_OPEN; i++) {
        ssize_t n = conn_io_read(c, w->rbuf, BENCH_RBUF_SIZE);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            if (errno == EINTR)
                continue;
            conn_lost(c, errno_name(errno));
            return;
        }
        if (n == 0) {
            conn_lost(c, "EOF");
            return;
        }
        conn_feed(c, w->rbuf, (size_t)n);
        if ((size_t)n < BENCH_RBUF_SIZE && !c->ssl)
            break;
    }
    conn_read_pending(c);
}

/* One h2c connection: nghttp2's server session fed from the socket through an
 * fd watch, streams collected into gRPC calls, answers and trailers sent.
 *
 * A stream is one call. Its request messages (5-byte prefix, then the bytes)
 * gather in `in`; a unary call runs when the client ends its side, a
 * reflection call runs each message as it completes. Answers gather in `out`,
 * which a deferred data provider hands to nghttp2; once the call has a status
 * the provider ends the data and the trailers follow (grpc-status,
 * grpc-message). A call that fails before any answer gets a Trailers-Only
 * response (one HEADERS frame with the status).
 *
 * nghttp2 must not be asked to send from inside its own callbacks, so while
 * bytes are being fed (`in_recv`) answers are only submitted, and sent when
 * the feed returns; answers from the loop (the store, a deadline) send at
 * once. A call waiting for the store holds its stream: if the client resets
 * it or the connection closes, the stream is detached (conn NULL) and freed
 * by the completion. */
#include "grpc_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "api_auth.h"

#define GRPC_READ_BUF    16384
#define GRPC_PREFIX_LEN  5
#define GRPC_MESSAGE_MAX 256 /* grpc-message, before percent-encoding */
/* Answers a stream may hold unsent: a reflection client that asks without
 * reading would otherwise grow them without bound. */
#define GRPC_OUT_MAX (1u << 20)

struct grpc_stream {
    grpc_conn *conn; /* NULL once the stream or the connection is gone */
    grpc_stream *prev, *next;
    int32_t id;
    const grpc_method *method; /* NULL: no such method (or no :path yet) */
    char *authorization;       /* the header as sent, owned; NULL when absent */
    int content_type_ok;       /* content-type application/grpc[+...] */
    double timeout;            /* grpc-timeout in seconds; 0: none */
    sb_timer *deadline;
    uint8_t *in; /* request bytes not yet taken */
    size_t in_len, in_cap;
    size_t n_msgs; /* request messages taken */
    size_t kept;   /* unary: the bytes of its one message, at the start of in */
    uint8_t *out;  /* answer bytes not yet handed to nghttp2 */
    size_t out_len, out_off, out_cap;
    int responding; /* response HEADERS submitted (with the data provider) */
    int finished;   /* the status is set: trailers after `out` */
    int code;
    char message[GRPC_MESSAGE_MAX];
    int held; /* a completion will come (grpc_stream_hold) */
};

struct grpc_conn {
    grpc_state *st;
    grpc_conn *prev, *next;
    int fd;
    sb_watch *watch;
    int watching; /* SB_READ | SB_WRITE currently asked */
    nghttp2_session *h2;
    char ip[64];
    int allowed; /* ip is in allow_from */
    int in_recv; /* inside nghttp2_session_mem_recv: do not send */
    grpc_stream *streams;
    sb_timer *idle;  /* checks idle_timeout; NULL when off or without a socket */
    int64_t last_ms; /* when the client last sent anything */
};

/* --- streams --- */

grpc_state *grpc_stream_state(const grpc_stream *s)
{
    return s->conn ? s->conn->st : NULL;
}

static void grpc_stream_free(grpc_stream *s)
{
    free(s->authorization);
    free(s->in);
    free(s->out);
    free(s);
}

/* Take s off its connection: the stream closed or the connection goes. A
 * held s stays for its completion. */
static void grpc_stream_detach(grpc_stream *s)
{
    grpc_conn *c = s->conn;
    if (!c)
        return;
    if (s->deadline) {
        c->st->host->timer_free(s->deadline);
        s->deadline = NULL;
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->conn = NULL;
    if (!s->held)
        grpc_stream_free(s);
}

void grpc_stream_hold(grpc_stream *s)
{
    s->held = 1;
}

int grpc_stream_live(const grpc_stream *s)
{
    return s->conn && !s->finished;
}

void grpc_stream_release(grpc_stream *s)
{
    s->held = 0;
    if (!s->conn)
        grpc_stream_free(s);
}

/* --- sending --- */

static void grpc_conn_watch(grpc_conn *c)
{
    if (c->fd < 0)
        return;
    int want = SB_READ | (nghttp2_session_want_write(c->h2) ? SB_WRITE : 0);
    if (want != c->watching) {
        c->st->host->watch_set(c->watch, want);
        c->watching = want;
    }
}

/* Send what nghttp2 has queued; close when the session is over. -> 0, or -1:
 * c was freed. */
static int grpc_conn_send(grpc_conn *c)
{
    if (c->in_recv)
        return 0;
    int rv = nghttp2_session_send(c->h2);
    if (rv != 0) {
        c->st->host->log(c->st->pc, SB_LOG_DEBUG, "connection from %s: send: %s", c->ip,
                         nghttp2_strerror(rv));
        grpc_conn_free(c);
        return -1;
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
        grpc_conn_free(c);
        return -1;
    }
    grpc_conn_watch(c);
    return 0;
}

static ssize_t grpc_send_cb(nghttp2_session *h2, const uint8_t *data, size_t len, int flags,
                            void *ud)
{
    (void)h2;
    (void)flags;
    grpc_conn *c = ud;
    if (c->fd < 0)
        return (ssize_t)len;
    for (;;) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return NGHTTP2_ERR_WOULDBLOCK;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
}

#define GRPC_NV(n, v, vlen)                                                                        \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE                \
    }

/* grpc-message is percent-encoded: bytes outside 0x20..0x7e, and '%'. */
static size_t grpc_percent_encode(const char *in, char *out, size_t out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 <= out_len; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '%') {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return o;
}

/* The trailers (or Trailers-Only headers when only is nonzero). */
static int grpc_submit_status(grpc_stream *s, int only)
{
    char code[12], msg[GRPC_MESSAGE_MAX * 3 + 1];
    int code_len = snprintf(code, sizeof(code), "%d", s->code);
    size_t msg_len = grpc_percent_encode(s->message, msg, sizeof(msg));
    nghttp2_nv nv[] = {
        GRPC_NV(":status", "200", 3),
        GRPC_NV("content-type", "application/grpc", 16),
        GRPC_NV("grpc-status", code, (size_t)code_len),
        GRPC_NV("grpc-message", msg, msg_len),
    };
    size_t n = sizeof(nv) / sizeof(nv[0]) - (msg_len == 0);
    nghttp2_session *h2 = s->conn->h2;
    if (only)
        return nghttp2_submit_response(h2, s->id, nv, n, NULL);
    return nghttp2_submit_trailer(h2, s->id, nv + 2, n - 2);
}

static ssize_t grpc_data_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)h2;
    (void)id;
    (void)ud;
    grpc_stream *s = src->ptr;
    size_t left = s->out_len - s->out_off;
    if (left > 0) {
        size_t n = left < len ? left : len;
        memcpy(buf, s->out + s->out_off, n);
        s->out_off += n;
        if (s->out_off == s->out_len)
            s->out_off = s->out_len = 0;
        return (ssize_t)n;
    }
    if (!s->finished)
        return NGHTTP2_ERR_DEFERRED;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    if (grpc_submit_status(s, 0) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    return 0;
}

/* Response HEADERS with the data provider, once. -> 0 | -1 */
static int grpc_stream_respond(grpc_stream *s)
{
    if (s->responding) {
        nghttp2_session_resume_data(s->conn->h2, s->id); /* not deferred: nothing to do */
        return 0;
    }
    nghttp2_nv nv[] = {
        GRPC_NV(":status", "200", 3),
        GRPC_NV("content-type", "application/grpc", 16),
    };
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = grpc_data_cb};
    if (nghttp2_submit_response(s->conn->h2, s->id, nv, 2, &dp) != 0)
        return -1;
    s->responding = 1;
    return 0;
}

int grpc_stream_send(grpc_stream *s, const uint8_t *msg, size_t len)
{
    if (!s->conn || s->finished)
        return 0;
    if (s->out_len - s->out_off + len > GRPC_OUT_MAX) {
        grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "the answers are not being read");
        return -1;
    }
    if (s->out_off > 0) { /* keep only what is unsent */
        memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
        s->out_len -= s->out_off;
        s->out_off = 0;
    }
    size_t need = s->out_len + GRPC_PREFIX_LEN + len;
    if (need > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *out = realloc(s->out, cap);
        if (!out) {
            grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
            return -1;
        }
        s->out = out;
        s->out_cap = cap;
    }
    uint8_t *p = s->out + s->out_len;
    p[0] = 0; /* not compressed */
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    if (len)
        memcpy(p + GRPC_PREFIX_LEN, msg, len);
    s->out_len = need;
    if (grpc_stream_respond(s) != 0) {
        grpc_stream_finish(s, GRPC_INTERNAL, "cannot answer");
        return -1;
    }
    return 0; /* sent by grpc_stream_finish, or when the feed returns */
}

void grpc_stream_finish(grpc_stream *s, int code, const char *message)
{
    grpc_conn *c = s->conn;
    if (!c || s->finished)
        return;
    s->finished = 1;
    s->code = code;
    snprintf(s->message, sizeof(s->message), "%s", message ? message : "");
    if (s->deadline) {
        c->st->host->timer_free(s->deadline);
        s->deadline = NULL;
    }
    if (code != GRPC_OK) {
        if (c->st->errors)
            c->st->host->counter_add(c->st->errors, 1);
        c->st->host->log(c->st->pc, SB_LOG_DEBUG, "stream %d from %s: status %d: %s", s->id, c->ip,
                         code, s->message);
    }
    int rv =
        s->responding ? (nghttp2_session_resume_data(c->h2, s->id), 0) : grpc_submit_status(s, 1);
    if (rv != 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    grpc_conn_send(c); /* may free s (not held) and c */
}

/* --- receiving --- */

/* The method at :path[0..len), NULL when none. */
static const grpc_method *grpc_method_of(const grpc_state *st, const char *path, size_t len)
{
    for (size_t i = 0; i < st->n_methods; i++) {
        const grpc_method *m = st->methods[i];
        if (strlen(m->path) == len && memcmp(m->path, path, len) == 0)
            return m;
    }
    return NULL;
}

/* grpc-timeout: 1..8 digits and a unit (H M S m u n) -> seconds; 0 when bad. */
static double grpc_timeout_parse(const uint8_t *v, size_t len)
{
    if (len < 2 || len > 9)
        return 0;
    double n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        n = n * 10 + (v[i] - '0');
    }
    switch (v[len - 1]) {
    case 'H':
        return n * 3600;
    case 'M':
        return n * 60;
    case 'S':
        return n;
    case 'm':
        return n / 1e3;
    case 'u':
        return n / 1e6;
    case 'n':
        return n / 1e9;
    }
    return 0;
}

static int grpc_header_cb(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                          size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                          void *ud)
{
    (void)flags;
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!s)
        return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)
    if (IS(":path")) {
        s->method = grpc_method_of(s->conn->st, (const char *)value, valuelen);
    } else if (IS("content-type")) {
        s->content_type_ok = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                             (valuelen == 16 || value[16] == '+' || value[16] == ';');
    } else if (IS("grpc-timeout")) {
        s->timeout = grpc_timeout_parse(value, valuelen);
    } else if (IS("authorization")) {
        free(s->authorization);
        s->authorization = strndup((const char *)value, valuelen);
        if (!s->authorization)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
#undef IS
    return 0;
}

static int grpc_begin_headers_cb(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    grpc_conn *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    s->conn = c;
    s->id = frame->hd.stream_id;
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    nghttp2_session_set_stream_user_data(h2, s->id, s);
    return 0;
}

static void grpc_deadline_cb(void *arg)
{
    grpc_stream *s = arg;
    s->conn->st->host->timer_free(s->deadline);
    s->deadline = NULL;
    grpc_stream_finish(s, GRPC_DEADLINE_EXCEEDED, "the deadline (grpc-timeout) passed");
}

/* The request headers are in: check the caller and the call, start the
 * deadline. */
static void grpc_stream_start(grpc_stream *s)
{
    grpc_conn *c = s->conn;
    grpc_state *st = c->st;
    if (st->calls)
        st->host->counter_add(st->calls, 1);
    if (!s->content_type_ok) {
        grpc_stream_finish(s, GRPC_INTERNAL, "content-type must be application/grpc");
        return;
    }
    if (st->key_len > 0) {
        if (!api_auth_check(s->authorization, st->key, st->key_len)) {
            grpc_stream_finish(s, GRPC_UNAUTHENTICATED,
                               "missing or wrong \"authorization: Bearer <api_key>\"");
            return;
        }
    } else if (!c->allowed) {
        grpc_stream_finish(s, GRPC_PERMISSION_DENIED,
                           "calls without a key are taken only from [grpc] allow_from");
        return;
    }
    if (!s->method) {
        grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "no such method");
        return;
    }
    if (s->timeout > 0) {
        s->deadline = st->host->timer_new(st->pc, s->timeout, 0, grpc_deadline_cb, s);
        if (!s->deadline)
            grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
    }
}

/* Take the complete request messages out of s->in: a streaming call runs
 * each and drops it, a unary call keeps its one message (s->kept bytes) for
 * grpc_stream_end. */
static void grpc_stream_take(grpc_stream *s)
{
    grpc_state *st = s->conn->st;
    size_t off = s->kept;
    while (s->conn && !s->finished && s->in_len - off >= GRPC_PREFIX_LEN) {
        const uint8_t *p = s->in + off;
        size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        char why[128];
        if (p[0] != 0) {
            grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
            return;
        }
        if (len > st->max_msg) {
            snprintf(why, sizeof(why), "the request message (%zu bytes) is over %zu bytes", len,
                     st->max_msg);
            grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, why);
            return;
        }
        if (s->in_len - off - GRPC_PREFIX_LEN < len)
            break;
        s->n_msgs++;
        if (!s->method->streaming) {
            if (s->n_msgs > 1) {
                grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "a unary call takes one message");
                return;
            }
            s->kept = off = GRPC_PREFIX_LEN + len;
            continue;
        }
        s->method->call(s, s->method->id, p + GRPC_PREFIX_LEN, len);
        off += GRPC_PREFIX_LEN + len;
    }
    if (s->conn && off > s->kept) {
        memmove(s->in, s->in + off, s->in_len - off);
        s->in_len -= off;
    }
}

/* The client ended its side: run a unary call, end a streaming call. */
static void grpc_stream_end(grpc_stream *s)
{
    if (s->finished)
        return;
    if (s->method->streaming) {
        if (s->in_len > 0)
            grpc_stream_finish(s, GRPC_INTERNAL, "the stream ended inside a message");
        else
            grpc_stream_finish(s, GRPC_OK, NULL);
        return;
    }
    if (s->n_msgs != 1 || s->in_len != s->kept) {
        grpc_stream_finish(s, GRPC_UNIMPLEMENTED, "a unary call takes exactly one message");
        return;
    }
    size_t len = s->kept - GRPC_PREFIX_LEN;
    s->method->call(s, s->method->id, s->in + GRPC_PREFIX_LEN, len);
}

static int grpc_data_chunk_cb(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *ud)
{
    (void)flags;
    (void)ud;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    if (!s || !s->conn || s->finished || len == 0)
        return 0;
    /* take() runs after every chunk, so what stays is at most one
     * incomplete message of an allowed size; a chunk is at most one frame. */
    size_t limit = s->conn->st->max_msg + GRPC_PREFIX_LEN + GRPC_READ_BUF;
    if (s->in_len + len > limit) {
        grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, "the request is too large");
        return 0;
    }
    if (s->in_len + len > s->in_cap) {
        size_t cap = s->in_cap ? s->in_cap : 1024;
        while (cap < s->in_len + len)
            cap *= 2;
        uint8_t *in = realloc(s->in, cap);
        if (!in) {
            grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
            return 0;
        }
        s->in = in;
        s->in_cap = cap;
    }
    memcpy(s->in + s->in_len, data, len);
    s->in_len += len;
    grpc_stream_take(s);
    return 0;
}

static int grpc_frame_recv_cb(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!s || !s->conn)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        grpc_stream_start(s);
    if (s->conn && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        grpc_stream_end(s);
    return 0;
}

static int grpc_stream_close_cb(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    (void)error_code;
    (void)ud;
    grpc_stream *s = nghttp2_session_get_stream_user_data(h2, id);
    if (s)
        grpc_stream_detach(s);
    return 0;
}

/* --- the connection --- */

int grpc_conn_feed(grpc_conn *c, const uint8_t *data, size_t len)
{
    c->in_recv = 1;
    ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
    c->in_recv = 0;
    if (n < 0) {
        c->st->host->log(c->st->pc, SB_LOG_DEBUG, "connection from %s: %s", c->ip,
                         nghttp2_strerror((int)n));
        grpc_conn_free(c);
        return -1;
    }
    return grpc_conn_send(c);
}

static void grpc_conn_io_cb(void *arg, int revents)
{
    grpc_conn *c = arg;
    if (revents & SB_WRITE) {
        if (grpc_conn_send(c) != 0)
            return;
    }
    if (!(revents & SB_READ))
        return;
    uint8_t buf[GRPC_READ_BUF];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        grpc_conn_free(c);
        return;
    }
    c->last_ms = c->st->host->now_ms();
    grpc_conn_feed(c, buf, (size_t)n);
}

/* Every idle_timeout: a connection with no open call that has sent nothing
 * for that long gets a GOAWAY and closes (a client reconnects when it needs). */
static void grpc_conn_idle_cb(void *arg)
{
    grpc_conn *c = arg;
    grpc_state *st = c->st;
    if (c->streams || st->host->now_ms() - c->last_ms < (int64_t)(st->idle_timeout * 1000))
        return;
    st->host->log(st->pc, SB_LOG_DEBUG, "connection from %s idle: GOAWAY", c->ip);
    grpc_conn_goaway(c); /* frees c once the GOAWAY is out */
}

grpc_conn *grpc_conn_new(grpc_state *st, int fd, const char *ip)
{
    grpc_conn *c = calloc(1, sizeof(*c));
    nghttp2_session_callbacks *cbs = NULL;
    if (!c || nghttp2_session_callbacks_new(&cbs) != 0)
        goto fail;
    c->st = st;
    c->fd = fd;
    snprintf(c->ip, sizeof(c->ip), "%s", ip);
    c->allowed = grpc_allow_match(&st->allow, ip);
    nghttp2_session_callbacks_set_send_callback(cbs, grpc_send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, grpc_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, grpc_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, grpc_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, grpc_frame_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, grpc_stream_close_cb);
    int rv = nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        goto fail;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)st->max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, 2) != 0)
        goto fail;
    if (fd >= 0) {
        c->watch = st->host->watch_new(st->pc, fd, SB_READ | SB_WRITE, grpc_conn_io_cb, c);
        if (!c->watch)
            goto fail;
        c->watching = SB_READ | SB_WRITE;
        c->last_ms = st->host->now_ms();
        if (st->idle_timeout > 0) {
            c->idle = st->host->timer_new(st->pc, st->idle_timeout, st->idle_timeout,
                                          grpc_conn_idle_cb, c);
            if (!c->idle)
                goto fail;
        }
    }
    c->next = st->conns;
    if (st->conns)
        st->conns->prev = c;
    st->conns = c;
    st->n_conns++;
    return c;
fail:
    st->host->log(st->pc, SB_LOG_ERROR, "out of memory for a connection from %s", ip);
    if (c && c->watch)
        st->host->watch_free(c->watch);
    if (c && c->h2)
        nghttp2_session_del(c->h2);
    free(c);
    if (fd >= 0)
        close(fd);
    return NULL;
}

grpc_conn *grpc_conn_next(const grpc_conn *c)
{
    return c->next;
}

void grpc_conn_goaway(grpc_conn *c)
{
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
    grpc_conn_send(c);
}

void grpc_conn_free(grpc_conn *c)
{
    grpc_state *st = c->st;
    while (c->streams) {
        nghttp2_session_set_stream_user_data(c->h2, c->streams->id, NULL);
        grpc_stream_detach(c->streams);
    }
    nghttp2_session_del(c->h2);
    st->host->timer_free(c->idle);
    if (c->watch)
        st->host->watch_free(c->watch);
    if (c->fd >= 0)
        close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    st->n_conns--;
    free(c);
}

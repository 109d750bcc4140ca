/* The loop harness (see loop_harness.h): start-up and shutdown through
 * sb_core_init/sb_core_free as main.c, socketpair clients, the server-frame reader, and the wrapped
 * allocator. */
#include "loop_harness.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "http.h"
#include "metrics.h"
#include "plugin_host.h"
#include "runtime.h"

#define HARNESS_CLIENTS 32
#define HARNESS_WAIT    3.0 /* seconds a wait may take before it gives up */

const sb_host_api *harness_host;
static sb_plugin_ctx fake_pc = {.name = (char *)"fake"};
sb_plugin_ctx *harness_pc = &fake_pc;

static sb_config *config;
static harness_client *clients[HARNESS_CLIENTS];

int harness_known_bugs(void)
{
    const char *v = getenv("SB_UNIT_KNOWN_BUGS");
    return v && strcmp(v, "1") == 0;
}

/* --- the wrapped allocator -------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static int fail_armed;
static long fail_nth, fail_count, fail_seen, fail_fired;

static int alloc_fails(void)
{
    if (!fail_armed)
        return 0;
    long k = fail_seen++;
    if (k >= fail_nth && (fail_count < 0 || k < fail_nth + fail_count)) {
        fail_fired++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return alloc_fails() ? NULL : __real_strdup(s);
}

void harness_fail_alloc(long nth, long count)
{
    fail_nth = nth;
    fail_count = count;
    fail_seen = fail_fired = 0;
    fail_armed = 1;
}

long harness_fail_off(void)
{
    fail_armed = 0;
    return fail_fired;
}

/* --- the wrapped recv -------------------------------------------------------- */

ssize_t __real_recv(int fd, void *buf, size_t len, int flags);

static long recv_calls;

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
    recv_calls++;
    return __real_recv(fd, buf, len, flags);
}

long harness_recv_calls(void)
{
    return recv_calls;
}

/* --- start-up and shutdown --------------------------------------------------- */

int harness_start(const char *server_keys)
{
    signal(SIGPIPE, SIG_IGN);
    char path[] = "/tmp/sb-unit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f,
            "[server]\nlisten = 127.0.0.1:0\nplugin_dir = /tmp\nlog_level = error\n"
            "max_connections_per_ip = 1000\n%s",
            server_keys ? server_keys : "");
    fclose(f);
    char *no_env[] = {NULL};
    int rc = sb_config_load(path, no_env, &config);
    unlink(path);
    assert_int_equal(rc, SB_OK);
    memset(&sb_metrics_core, 0, sizeof(sb_metrics_core));
    /* main.c's start-up: no plugin sections, so no plugin is loaded; the
     * fakes register through the host table afterwards. */
    assert_int_equal(sb_core_init(config), SB_OK);
    harness_host = sb_host_api_table();
    return 0;
}

void harness_stop(void)
{
    harness_fail_off();
    for (int i = 0; i < HARNESS_CLIENTS; i++) {
        harness_client *cl = clients[i];
        if (!cl)
            continue;
        if (cl->fd >= 0)
            close(cl->fd);
        free(cl->buf);
        free(cl);
        clients[i] = NULL;
    }
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        sb_dict_iter_del(&it);
        c->busy = 0;
        sb_conn_destroy(c);
    }
    sb_core_free(); /* main.c's order */
    sb_config_free(config);
    config = NULL;
}

int harness_teardown(void **state)
{
    (void)state;
    harness_stop();
    return 0;
}

/* --- running the loop ---------------------------------------------------------- */

int harness_run_until(int (*cond)(void *), void *arg)
{
    ev_tstamp deadline = ev_time() + HARNESS_WAIT;
    for (;;) {
        if (cond(arg))
            return 1;
        if (ev_time() > deadline)
            return 0;
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
    }
}

static int output_pending(void)
{
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        if (!sb_outq_empty(&c->out) && !c->dead && c->fd >= 0)
            return 1;
    }
    return 0;
}

void harness_settle(void)
{
    int quiet = 0;
    for (int i = 0; i < 500 && quiet < 3; i++) {
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
        quiet = sb_srv.later_head || output_pending() ? 0 : quiet + 1;
    }
}

int harness_conn_gone(void *arg)
{
    return sb_conn_find(*(uint64_t *)arg) == NULL;
}

long harness_fail_pass(harness_client *cl, long nth)
{
    harness_fail_alloc(nth, 1);
    for (int i = 0; i < 20; i++) /* the harness allocates nothing here */
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
    long failed = harness_fail_off();
    harness_settle();
    harness_read(cl);
    return failed;
}

/* --- clients ---------------------------------------------------------------------- */

harness_client *harness_connect(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    sb_conn *c = sb_conn_new(sv[0], "127.0.0.1", &sb_http_phase);
    assert_non_null(c);
    harness_client *cl = calloc(1, sizeof(*cl));
    assert_non_null(cl);
    cl->fd = sv[1];
    cl->conn_id = c->id;
    int i = 0;
    while (i < HARNESS_CLIENTS && clients[i])
        i++;
    assert_true(i < HARNESS_CLIENTS);
    clients[i] = cl;
    return cl;
}

sb_conn *harness_conn(const harness_client *cl)
{
    return sb_conn_find(cl->conn_id);
}

void harness_hangup(harness_client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
}

void harness_write(harness_client *cl, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    while (len) {
        ssize_t n = write(cl->fd, p, len);
        if (n < 0) {
            /* The socket is full: let the server read. */
            ev_run(sb_srv.loop, EVRUN_NOWAIT);
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
}

void harness_send_frame(harness_client *cl, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    uint8_t *f = malloc(hl + 4 + len);
    assert_non_null(f);
    f[0] = b0;
    if (len < 126) {
        f[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (uint8_t)(len >> 8);
        f[3] = (uint8_t)len;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(f + hl, mask, 4);
    for (size_t i = 0; i < len; i++)
        f[hl + 4 + i] = ((const uint8_t *)payload)[i] ^ mask[i % 4];
    harness_write(cl, f, hl + 4 + len);
    free(f);
}

void harness_send_text(harness_client *cl, const char *text)
{
    harness_send_frame(cl, 0x81, text, strlen(text));
}

size_t harness_read(harness_client *cl)
{
    size_t got = 0;
    while (cl->fd >= 0 && !cl->eof) {
        if (cl->cap - cl->len < 65536) {
            size_t cap = cl->cap ? cl->cap * 2 : 131072;
            uint8_t *b = realloc(cl->buf, cap);
            assert_non_null(b);
            cl->buf = b;
            cl->cap = cap;
        }
        ssize_t n = read(cl->fd, cl->buf + cl->len, cl->cap - cl->len);
        if (n == 0)
            cl->eof = 1;
        if (n <= 0)
            break;
        cl->len += (size_t)n;
        got += (size_t)n;
    }
    return got;
}

typedef struct want_bytes {
    harness_client *cl;
    size_t n;
} want_bytes;

static int has_bytes(void *arg)
{
    want_bytes *w = arg;
    harness_read(w->cl);
    return w->cl->len >= w->n || w->cl->eof;
}

int harness_wait_bytes(harness_client *cl, size_t n)
{
    want_bytes w = {cl, n};
    harness_run_until(has_bytes, &w);
    return cl->len >= n;
}

static int has_eof(void *arg)
{
    harness_client *cl = arg;
    harness_read(cl);
    return cl->eof;
}

int harness_wait_eof(harness_client *cl)
{
    return harness_run_until(has_eof, cl);
}

void harness_consume(harness_client *cl, size_t n)
{
    assert_true(n <= cl->len);
    memmove(cl->buf, cl->buf + n, cl->len - n);
    cl->len -= n;
}

harness_client *harness_ws_open(const char *target)
{
    harness_client *cl = harness_connect();
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: unit\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: " HARNESS_WS_KEY "\r\n\r\n",
                     target);
    harness_write(cl, req, (size_t)n);
    static const char head[] =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: " HARNESS_WS_ACCEPT "\r\n\r\n";
    if (!harness_wait_bytes(cl, sizeof(head) - 1) || memcmp(cl->buf, head, sizeof(head) - 1) != 0)
        return NULL;
    harness_consume(cl, sizeof(head) - 1);
    return cl;
}

/* A whole frame at the start of cl->buf: its header and payload lengths. */
static int frame_ready(const harness_client *cl, size_t *hl, size_t *pl)
{
    if (cl->len < 2)
        return 0;
    const uint8_t *h = cl->buf;
    uint64_t n = h[1] & 0x7f;
    *hl = 2;
    if (n == 126) {
        if (cl->len < 4)
            return 0;
        n = (uint64_t)h[2] << 8 | h[3];
        *hl = 4;
    } else if (n == 127) {
        if (cl->len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | h[2 + i];
        *hl = 10;
    }
    *pl = (size_t)n;
    return cl->len - *hl >= n;
}

static int has_frame(void *arg)
{
    harness_client *cl = arg;
    size_t hl, pl;
    harness_read(cl);
    return frame_ready(cl, &hl, &pl) || cl->eof;
}

int harness_next_frame(harness_client *cl, int *opcode, char **payload, size_t *len)
{
    size_t hl, pl;
    harness_run_until(has_frame, cl);
    if (!frame_ready(cl, &hl, &pl))
        return 0;
    assert_true(cl->buf[0] & 0x80);         /* final */
    assert_int_equal(cl->buf[0] & 0x70, 0); /* no reserved bits */
    assert_int_equal(cl->buf[1] & 0x80, 0); /* a server never masks */
    *opcode = cl->buf[0] & 0x0f;
    *payload = malloc(pl + 1);
    assert_non_null(*payload);
    memcpy(*payload, cl->buf + hl, pl);
    (*payload)[pl] = 0;
    *len = pl;
    harness_consume(cl, hl + pl);
    return 1;
}

void harness_expect_text(harness_client *cl, const char *text)
{
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    if (op != 1 || n != strlen(text) || memcmp(p, text, n) != 0)
        fail_msg("expected text %s, got opcode %d: %s", text, op, p);
    free(p);
}

void harness_expect_close(harness_client *cl, int code, const char *reason)
{
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    assert_int_equal(op, 8);
    assert_true(n >= 2);
    assert_int_equal(((uint8_t)p[0] << 8) | (uint8_t)p[1], code);
    if (reason) {
        assert_int_equal(n - 2, strlen(reason));
        assert_memory_equal(p + 2, reason, n - 2);
    }
    free(p);
}

void harness_expect_nothing(harness_client *cl)
{
    harness_settle();
    harness_read(cl);
    if (cl->len)
        fail_msg("expected nothing, got %zu bytes: %.*s", cl->len, (int)cl->len,
                 (const char *)cl->buf);
}

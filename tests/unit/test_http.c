/* The HTTP phase on the real loop: the built-in routes, 404 and 405,
 * plugin routes answering later with pipelined answers kept in request
 * order, keep-alive and Connection: close, 431, and the upgrade through
 * handshake.c (the exact 101, WebSocket bytes sent with the request, the
 * refusals), plus failed allocations while a request is handled. */
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "http.h"
#include "runtime.h"

#define HEALTH_OK                                                                                  \
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
#define NOT_FOUND                                                                                  \
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "        \
    "13\r\n\r\nno such path\n"
#define UPGRADE_HEADERS                                                                            \
    "Host: unit\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "           \
    "13\r\nSec-WebSocket-Key: " HARNESS_WS_KEY "\r\n"
#define SWITCHING                                                                                  \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "                       \
    "Upgrade\r\nSec-WebSocket-Accept: " HARNESS_WS_ACCEPT "\r\n\r\n"

static uint64_t slow_req;
static int slow_rc;
static int slow_hops; /* loop iterations the next /slow answer waits beyond the first */

static void slow_answer(void *arg)
{
    (void)arg;
    if (slow_hops > 0) {
        slow_hops--;
        assert_int_equal(harness_host->later(harness_pc, slow_answer, NULL), SB_OK);
        return;
    }
    slow_rc = harness_host->http_respond(harness_pc, slow_req, 200, "text/plain", "X-Slow: 1\r\n",
                                         "slow", 4);
}

/* /slow answers on the next loop iteration; /fail fails; /slow/now answers
 * now; /slow/held answers when the test calls slow_answer. */
static int route_slow(void *ud, const sb_http_req *req)
{
    (void)ud;
    if (strcmp(req->path, "/slow/now") == 0)
        return harness_host->http_respond(harness_pc, req->id, 201, NULL, NULL, req->body,
                                          req->body_len);
    slow_req = req->id;
    if (strcmp(req->path, "/slow/held") == 0)
        return SB_OK;
    return harness_host->later(harness_pc, slow_answer, NULL);
}

static int route_fail(void *ud, const sb_http_req *req)
{
    (void)ud;
    (void)req;
    return SB_EPLUGIN;
}

static void register_fakes(void)
{
    assert_int_equal(harness_host->register_route(harness_pc, "/slow", route_slow, NULL), SB_OK);
    assert_int_equal(harness_host->register_route(harness_pc, "/fail", route_fail, NULL), SB_OK);
    slow_rc = 1;
}

static int http_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    register_fakes();
    return 0;
}

static void send_str(harness_client *cl, const char *s)
{
    harness_write(cl, s, strlen(s));
}

/* Send req, expect exactly want (then EOF when eof is set). */
static void exchange(harness_client *cl, const char *req, const char *want, int eof)
{
    harness_write(cl, req, strlen(req));
    size_t n = strlen(want);
    if (eof)
        assert_true(harness_wait_eof(cl));
    else
        assert_true(harness_wait_bytes(cl, n));
    harness_settle();
    harness_read(cl);
    if (cl->len != n || memcmp(cl->buf, want, n) != 0)
        fail_msg("expected\n%s\ngot\n%.*s", want, (int)cl->len, (const char *)cl->buf);
    harness_consume(cl, n);
    assert_int_equal(cl->eof, eof);
}

/* --- routes -------------------------------------------------------------------- */

static void test_http_on_readable_health_keep_alive(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(cl, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", HEALTH_OK, 0);
    exchange(cl, "GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", HEALTH_OK, 0);
    exchange(cl, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
             "2\r\nConnection: close\r\n\r\nok",
             1);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
}

static void test_http_on_readable_unknown_path_404(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(cl, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", NOT_FOUND, 0);
}

static void test_http_on_readable_health_post_405(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(
        cl, "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; "
        "charset=utf-8\r\nContent-Length: 28\r\nAllow: GET\r\n\r\nmethod not allowed: use GET\n",
        0);
}

static void test_http_on_readable_route_body_and_failure(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(cl, "POST /slow/now HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
             "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
             0);
    exchange(cl,
             "POST /slow/now HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nabcde",
             0);
    exchange(cl, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n",
             "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; "
             "charset=utf-8\r\nContent-Length: 15\r\n\r\ninternal error\n",
             0);
}

/* Three requests in one write; the first answers last (a later call): the
 * answers still leave in request order. */
static void test_http_respond_pipelined_in_order(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(cl,
             "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-Slow: "
             "1\r\n\r\nslow" HEALTH_OK NOT_FOUND,
             0);
    assert_int_equal(slow_rc, SB_OK);
}

static void test_http_respond_conn_gone_eclosed(void **state)
{
    (void)state;
    assert_int_equal(sb_http_respond(987654, 200, NULL, NULL, "", 0), SB_ECLOSED);
    harness_client *cl = harness_connect();
    slow_req = 0;
    send_str(cl, "GET /slow/held HTTP/1.1\r\nHost: x\r\n\r\n");
    harness_settle();
    assert_int_not_equal(slow_req, 0);
    /* The client leaves before the route answers. */
    harness_hangup(cl);
    harness_settle();
    assert_null(sb_conn_find(cl->conn_id));
    slow_answer(NULL);
    assert_int_equal(slow_rc, SB_ECLOSED);
}

static void test_http_on_readable_head_over_limit_431(void **state)
{
    (void)state;
    harness_stop();
    harness_start("max_header_bytes = 256\n");
    register_fakes();
    harness_client *cl = harness_connect();
    char req[600];
    memset(req, 0, sizeof(req));
    strcpy(req, "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(req + strlen(req), 'p', 400);
    strcat(req, "\r\n\r\n");
    exchange(cl, req,
             "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; "
             "charset=utf-8\r\nContent-Length: 35\r\nConnection: close\r\n\r\nrequest head over "
             "max_header_bytes\n",
             1);
}

static void test_http_on_readable_no_version_400(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    send_str(cl, "GET /health\r\n\r\n");
    assert_true(harness_wait_bytes(cl, 12));
    assert_memory_equal(cl->buf, "HTTP/1.1 400", 12);
}

/* --- the upgrade ----------------------------------------------------------------- */

/* The exact 101, then the WebSocket phase; a frame sent in the same write as
 * the request is read after it. */
static void test_http_upgrade_switches_protocols(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    static const char req[] = "GET /ws?client_id=alice HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n";
    harness_write(cl, req, sizeof(req) - 1);
    harness_send_text(cl, "{\"type\":\"ping\",\"ref\":1}");
    assert_true(harness_wait_bytes(cl, sizeof(SWITCHING) - 1));
    assert_memory_equal(cl->buf, SWITCHING, sizeof(SWITCHING) - 1);
    harness_consume(cl, sizeof(SWITCHING) - 1);
    sb_conn *c = harness_conn(cl);
    assert_int_equal(c->phase, SB_PHASE_WS);
    assert_null(c->http);
    assert_string_equal(c->user, "alice");
    assert_int_equal(sb_srv.n_ws, 1);
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    assert_int_equal(op, 1);
    assert_memory_equal(p, "{\"type\":\"pong\",\"ref\":1,", 23);
    free(p);
}

static void test_http_upgrade_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *req, *want;
    } cases[] = {
        {"GET /ws?client_id=a HTTP/1.1\r\nHost: x\r\n\r\n",
         "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 40\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
         "this endpoint needs a WebSocket upgrade\n"},
        {"GET /ws?client_id=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
         "Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " HARNESS_WS_KEY "\r\n\r\n",
         "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 38\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n"
         "unsupported WebSocket version: use 13\n"},
        {"GET /ws?client_id=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
         "Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
         "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 37\r\nConnection: close\r\n\r\nmissing or invalid Sec-WebSocket-Key\n"},
        {"GET /ws HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n",
         "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 29\r\nConnection: close\r\n\r\nclient_id missing or invalid\n"},
        {"POST /ws?client_id=a HTTP/1.1\r\n" UPGRADE_HEADERS "\r\n",
         "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: 28\r\nConnection: close\r\nAllow: GET\r\n\r\n"
         "method not allowed: use GET\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        harness_client *cl = harness_connect();
        int eof = strstr(cases[i].want, "Connection: close") != NULL;
        exchange(cl, cases[i].req, cases[i].want, eof);
    }
    assert_int_equal(sb_srv.n_ws, 0);
}

static void test_http_upgrade_behind_request_400(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    exchange(cl,
             "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /ws?client_id=a HTTP/1.1\r\n" UPGRADE_HEADERS
             "\r\n",
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-Slow: "
             "1\r\n\r\nslow"
             "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Length: 49\r\nConnection: close\r\n\r\n"
             "an upgrade must not be pipelined behind requests\n",
             1);
}

static void test_http_upgrade_http10_505(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    static const char req[] = "GET /ws?client_id=alice HTTP/1.0\r\n" UPGRADE_HEADERS "\r\n";
    harness_write(cl, req, sizeof(req) - 1);
    assert_true(harness_wait_bytes(cl, 12));
    assert_memory_equal(cl->buf, "HTTP/1.1 505", 12);
}

/* --- failed allocations ------------------------------------------------------- */

/* The route's answer cannot be allocated: the client gets a bare 503. */
static int route_respond_enomem(void *ud, const sb_http_req *req)
{
    (void)ud;
    harness_fail_alloc(0, 1);
    int rc = harness_host->http_respond(harness_pc, req->id, 200, NULL, NULL, "big", 3);
    assert_true(harness_fail_off() > 0);
    return rc;
}

static void test_http_respond_enomem_503(void **state)
{
    (void)state;
    assert_int_equal(harness_host->register_route(harness_pc, "/oom", route_respond_enomem, NULL),
                     SB_OK);
    harness_client *cl = harness_connect();
    send_str(cl, "GET /oom HTTP/1.1\r\nHost: x\r\n\r\n");
    /* The head alone (Content-Length: 0, perhaps Connection: close), no NUL
     * byte, then the connection closes. */
    assert_true(harness_wait_eof(cl));
    static const char status[] = "HTTP/1.1 503 Service Unavailable\r\n";
    assert_true(cl->len > sizeof(status) - 1);
    assert_memory_equal(cl->buf, status, sizeof(status) - 1);
    assert_null(memchr(cl->buf, 0, cl->len));
    assert_true(memmem(cl->buf, cl->len, "\r\nContent-Length: 0\r\n", 21) != NULL);
    assert_memory_equal(cl->buf + cl->len - 4, "\r\n\r\n", 4);
    assert_ptr_equal(memmem(cl->buf, cl->len, "\r\n\r\n", 4), cl->buf + cl->len - 4);
}

/* Every allocation while a request is read and answered failing in turn:
 * the client gets the answer, a 503, or a closed connection; never a
 * crash or a leak (ASan). */
static void test_http_on_readable_enomem_sweep(void **state)
{
    (void)state;
    static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n";
    for (long nth = 0;; nth++) {
        harness_client *cl = harness_connect();
        harness_write(cl, req, sizeof(req) - 1);
        long failed = harness_fail_pass(cl, nth);
        if (failed == 0) {
            assert_int_equal(cl->len, strlen(HEALTH_OK));
            assert_memory_equal(cl->buf, HEALTH_OK, cl->len);
            break;
        }
        /* (A failure inside the parser's callbacks reads as a malformed
         * request: 400.) */
        if (cl->len && memcmp(cl->buf, "HTTP/1.1 200", 12) != 0 &&
            memcmp(cl->buf, "HTTP/1.1 400", 12) != 0 && memcmp(cl->buf, "HTTP/1.1 503", 12) != 0)
            fail_msg("allocation %ld failed: %.*s", nth, (int)cl->len, (const char *)cl->buf);
        harness_hangup(cl);
        assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, http_setup, harness_teardown)
        T(test_http_on_readable_health_keep_alive),
        T(test_http_on_readable_unknown_path_404),
        T(test_http_on_readable_health_post_405),
        T(test_http_on_readable_route_body_and_failure),
        T(test_http_respond_pipelined_in_order),
        T(test_http_respond_conn_gone_eclosed),
        T(test_http_on_readable_head_over_limit_431),
        T(test_http_on_readable_no_version_400),
        T(test_http_upgrade_switches_protocols),
        T(test_http_upgrade_refusals),
        T(test_http_upgrade_behind_request_400),
        T(test_http_upgrade_http10_505),
        T(test_http_respond_enomem_503),
        T(test_http_on_readable_enomem_sweep),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

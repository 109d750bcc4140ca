/* Connections on the real loop: accept to close, the output queue to the
 * socket (in order, partial writes resumed), the slow-consumer cut-off
 * (4003, or a dropped TCP connection when the socket is full), the close
 * handshake and its linger, the per-connection timers, and the single
 * teardown path (deferred while a callback holds the connection). */
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_harness.h"

#include "frame.h"
#include "http.h"
#include "metrics.h"
#include "registry.h"
#include "runtime.h"

static int conn_setup(void **state)
{
    (void)state;
    return harness_start(NULL);
}

static int conn_teardown(void **state)
{
    (void)state;
    harness_stop();
    return 0;
}

static int conn_gone(void *arg)
{
    return sb_conn_find(*(uint64_t *)arg) == NULL;
}

static int conn_detached(void *arg)
{
    sb_conn *c = sb_conn_find(*(uint64_t *)arg);
    return c && c->detached;
}

/* Queue a text frame of payload on c. -> the queue's answer */
static int send_text(sb_conn *c, const char *payload, size_t len, int event)
{
    sb_frame *f = sb_frame_ws(1, payload, len);
    assert_non_null(f);
    int rc = event ? sb_conn_send_event(c, f) : sb_conn_send(c, f);
    sb_frame_unref(f);
    return rc;
}

static void restart(const char *keys)
{
    harness_stop();
    harness_start(keys);
}

/* --- lifecycle ------------------------------------------------------------------- */

static void test_conn_new_registered_until_eof(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    sb_conn *c = harness_conn(cl);
    assert_non_null(c);
    assert_int_equal(c->phase, SB_PHASE_HTTP);
    assert_non_null(c->http);
    assert_string_equal(c->ip, "127.0.0.1");
    assert_int_equal(sb_dict_count(sb_srv.conns), 1);
    harness_hangup(cl);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_int_equal(sb_dict_count(sb_srv.conns), 0);
}

static void test_conn_new_ids_increase(void **state)
{
    (void)state;
    harness_client *a = harness_connect();
    harness_client *b = harness_connect();
    assert_true(b->conn_id > a->conn_id);
    assert_ptr_equal(sb_conn_find(a->conn_id), harness_conn(a));
    assert_null(sb_conn_find(b->conn_id + 1));
}

/* Every allocation of sb_conn_new failing in turn: NULL, the socket closed,
 * nothing left registered (ASan checks nothing leaks). */
static void test_conn_new_enomem_closes_socket(void **state)
{
    (void)state;
    for (long nth = 0;; nth++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        harness_fail_alloc(nth, 1);
        sb_conn *c = sb_conn_new(sv[0], "127.0.0.1", &sb_http_phase);
        long failed = harness_fail_off();
        if (failed == 0) {
            assert_non_null(c);
            sb_conn_destroy(c);
            close(sv[1]);
            break;
        }
        assert_null(c);
        assert_int_equal(sb_dict_count(sb_srv.conns), 0);
        char b;
        assert_int_equal(read(sv[1], &b, 1), 0); /* EOF: the server's end is closed */
        close(sv[1]);
    }
}

/* --- output ------------------------------------------------------------------------ */

static void test_conn_send_frames_in_order(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    uint64_t before = sb_metrics_core.frames_out;
    assert_int_equal(send_text(c, "one", 3, 0), SB_OK);
    assert_int_equal(send_text(c, "two", 3, 1), SB_OK);
    assert_int_equal(send_text(c, "three", 5, 0), SB_OK);
    assert_int_equal(sb_metrics_core.frames_out - before, 3);
    assert_true(harness_wait_bytes(cl, 5 + 5 + 7));
    assert_int_equal(cl->len, 17);
    assert_memory_equal(cl->buf, "\x81\x03one\x81\x03two\x81\x05three", 17);
}

/* A frame larger than the socket's buffer leaves in several writes; the
 * bytes arrive whole and in order, and the write watcher stops after. */
static void test_conn_send_partial_writes_resume(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    size_t n = 700000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(send_text(c, big, n, 0), SB_OK);
    assert_int_equal(send_text(c, "after", 5, 0), SB_OK);
    int op;
    char *p;
    size_t len;
    assert_true(harness_next_frame(cl, &op, &p, &len));
    assert_int_equal(op, 1);
    assert_int_equal(len, n);
    assert_memory_equal(p, big, n);
    free(p);
    harness_expect_text(cl, "after");
    harness_settle();
    assert_true(sb_outq_empty(&c->out));
    assert_false(ev_is_active(&c->wio));
    free(big);
}

static void test_conn_send_after_close_refused(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    sb_conn_close(c, 1000, "bye");
    assert_int_equal(send_text(c, "late", 4, 0), SB_ECLOSED);
    assert_int_equal(send_text(c, "late", 4, 1), SB_ECLOSED);
    harness_expect_close(cl, 1000, "bye");
    harness_expect_nothing(cl);
}

/* Over max_outbound_bytes with an empty socket: the unsent frames are
 * dropped and the client reads exactly the 4003 close, then EOF. */
static void test_conn_send_slow_consumer_4003(void **state)
{
    (void)state;
    restart("max_outbound_bytes = 4096\n");
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    char chunk[2000];
    memset(chunk, 'x', sizeof(chunk));
    assert_int_equal(send_text(c, chunk, sizeof(chunk), 1), SB_OK);
    assert_int_equal(send_text(c, chunk, sizeof(chunk), 1), SB_OK);
    assert_int_equal(send_text(c, chunk, sizeof(chunk), 1), SB_ECLOSED);
    assert_true(c->closing);
    assert_false(c->kill);
    assert_int_equal(sb_metrics_core.slow_consumers, 1);
    assert_true(harness_wait_eof(cl));
    static const char want[] = "\x88\x0f\x0f\xa3slow consumer";
    assert_int_equal(cl->len, sizeof(want) - 1);
    assert_memory_equal(cl->buf, want, sizeof(want) - 1);
    /* Detached at the next tick, destroyed when the client hangs up. */
    assert_true(harness_run_until(conn_detached, &cl->conn_id));
    assert_null(sb_registry_user("alice"));
    harness_hangup(cl);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
}

/* Over the limit while the socket is full: no close frame can be said, the
 * TCP connection is dropped at once. */
static void test_conn_send_slow_consumer_full_socket_drops(void **state)
{
    (void)state;
    restart("max_outbound_bytes = 300000\n");
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    int small = 4096;
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    char *chunk = calloc(1, 250000);
    assert_non_null(chunk);
    assert_int_equal(send_text(c, chunk, 250000, 1), SB_OK);
    harness_settle(); /* the socket takes what it can; the rest waits */
    assert_false(sb_outq_empty(&c->out));
    assert_true(c->out.off > 0);
    assert_int_equal(send_text(c, chunk, 250000, 1), SB_ECLOSED);
    assert_true(c->kill);
    free(chunk);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_true(harness_wait_eof(cl));
    /* The client got part of the first frame and no close frame. */
    assert_true(cl->len < 250000 + 4);
    assert_int_equal(cl->buf[0], 0x81);
}

/* --- closing -------------------------------------------------------------------- */

static void test_conn_close_handshake_completes(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn_close(harness_conn(cl), 1000, "bye");
    harness_expect_close(cl, 1000, "bye");
    harness_send_frame(cl, 0x88, "\x03\xe8", 2);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_true(harness_wait_eof(cl));
    assert_int_equal(cl->len, 0);
    assert_null(sb_registry_user("alice"));
    assert_int_equal(sb_srv.n_ws, 0);
}

/* The client never answers our close: detached at the next tick (the user
 * is offline), the socket kept for the linger, then destroyed. */
static void test_conn_close_linger_ends(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    sb_conn_close(c, 4001, "replaced");
    assert_non_null(sb_registry_user("alice")); /* until the tick */
    assert_true(harness_run_until(conn_detached, &cl->conn_id));
    assert_null(sb_registry_user("alice"));
    assert_int_equal(sb_srv.n_ws, 0);
    harness_expect_close(cl, 4001, "replaced");
    harness_settle(); /* written, then the server's half is shut: it still reads */
    assert_non_null(sb_conn_find(cl->conn_id));
    /* The linger (2 s) is over: move its start back instead of waiting. */
    c->linger_from -= 10;
    sb_conn_rearm(c);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_int_equal(write(cl->fd, "x", 1), -1); /* nobody reads any more */
}

static void test_conn_close_http_phase_destroys_now(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    sb_conn_close(harness_conn(cl), 1000, "bye");
    assert_null(sb_conn_find(cl->conn_id));
    assert_true(harness_wait_eof(cl));
    assert_int_equal(cl->len, 0);
}

static void test_conn_close_twice_one_frame(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    sb_conn_close(c, 1000, "first");
    sb_conn_close(c, 1011, "second");
    harness_expect_close(cl, 1000, "first");
    harness_expect_nothing(cl);
}

/* --- teardown ------------------------------------------------------------------- */

/* Inside a callback (busy) the memory stays until the callback unwinds; the
 * socket, the registry and the id table let go at once. */
static void test_conn_destroy_busy_defers_free(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    c->busy = 1;
    sb_conn_destroy(c);
    assert_true(c->dead);
    assert_int_equal(c->fd, -1);
    assert_null(sb_conn_find(cl->conn_id));
    assert_null(sb_registry_user("alice"));
    assert_int_equal(sb_srv.n_ws, 0);
    assert_true(harness_wait_eof(cl));
    c->busy = 0;
    sb_conn_destroy(c); /* now freed (ASan: no leak, no double free) */
}

static int closes_seen;
static int close_saw_user_online;

static void on_close_probe(void *ud, uint64_t conn_id, const char *user)
{
    (void)ud;
    (void)conn_id;
    closes_seen++;
    /* DESIGN: the registry still holds the closing connection. */
    close_saw_user_online = harness_host->user_online(harness_pc, user);
}

static void test_conn_destroy_runs_on_close_once(void **state)
{
    (void)state;
    sb_hooks h = {SB_HOOKS_INIT, .on_close = on_close_probe};
    assert_int_equal(harness_host->register_hooks(harness_pc, &h, NULL), SB_OK);
    closes_seen = close_saw_user_online = 0;
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    harness_hangup(cl);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_int_equal(closes_seen, 1);
    assert_true(close_saw_user_online);
    assert_int_equal(harness_host->user_online(harness_pc, "alice"), 0);
}

/* --- timers ---------------------------------------------------------------------- */

static int got_frame_op;
static int frame_of(void *arg)
{
    harness_client *cl = arg;
    harness_read(cl);
    if (cl->len >= 2) {
        got_frame_op = cl->buf[0] & 0x0f;
        return 1;
    }
    return 0;
}

static void test_conn_timer_pings(void **state)
{
    (void)state;
    restart("ping_interval = 0.02\n");
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    assert_true(harness_run_until(frame_of, cl));
    assert_int_equal(cl->len, 2);
    assert_memory_equal(cl->buf, "\x89\x00", 2);
}

static void test_conn_timer_idle_4004(void **state)
{
    (void)state;
    restart("idle_timeout = 0.05\n");
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    harness_expect_close(cl, 4004, "idle timeout");
}

static int later_ident(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                       const char **reason)
{
    (void)ud;
    (void)req;
    (void)user;
    (void)reason;
    return SB_IDENT_LATER;
}

static void test_conn_timer_auth_4002(void **state)
{
    (void)state;
    restart("auth_timeout = 0.05\n");
    assert_int_equal(harness_host->register_identify(harness_pc, later_ident, NULL), SB_OK);
    harness_client *cl = harness_ws_open("/ws");
    assert_non_null(cl);
    assert_null(harness_conn(cl)->user);
    harness_expect_close(cl, 4002, "auth timeout");
}

static void test_conn_timer_header_timeout(void **state)
{
    (void)state;
    restart("header_timeout = 0.05\n");
    harness_client *cl = harness_connect();
    harness_write(cl, "GET /health HTTP/1.1\r\n", 22);
    assert_true(harness_run_until(conn_gone, &cl->conn_id));
    assert_true(harness_wait_eof(cl));
    assert_int_equal(cl->len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, conn_setup, conn_teardown)
        T(test_conn_new_registered_until_eof),
        T(test_conn_new_ids_increase),
        T(test_conn_new_enomem_closes_socket),
        T(test_conn_send_frames_in_order),
        T(test_conn_send_partial_writes_resume),
        T(test_conn_send_after_close_refused),
        T(test_conn_send_slow_consumer_4003),
        T(test_conn_send_slow_consumer_full_socket_drops),
        T(test_conn_close_handshake_completes),
        T(test_conn_close_linger_ends),
        T(test_conn_close_http_phase_destroys_now),
        T(test_conn_close_twice_one_frame),
        T(test_conn_destroy_busy_defers_free),
        T(test_conn_destroy_runs_on_close_once),
        T(test_conn_timer_pings),
        T(test_conn_timer_idle_4004),
        T(test_conn_timer_auth_4002),
        T(test_conn_timer_header_timeout),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

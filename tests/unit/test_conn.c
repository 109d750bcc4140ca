/* Connections on the real loop: accept to close, the output queue to the
 * socket (in order, partial writes resumed), the slow-consumer cut-off
 * (4003, or a dropped TCP connection when the socket is full), the close
 * handshake and its linger, the per-connection timers, and the single
 * teardown path (deferred while a callback holds the connection). */
#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
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
#include "tls.h"

static int conn_setup(void **state)
{
    (void)state;
    return harness_start(NULL);
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
    char ip[INET6_ADDRSTRLEN];
    assert_string_equal(sb_conn_ip(c, ip), "127.0.0.1");
    assert_int_equal(sb_dict_count(sb_srv.conns), 1);
    harness_hangup(cl);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    assert_int_equal(sb_dict_count(sb_srv.conns), 0);
}

/* The address is kept binary: IPv4 and IPv6 print back as given, and text
 * that is not an address leaves it unchanged. */
static void test_conn_set_ip_round_trips(void **state)
{
    (void)state;
    harness_client *cl = harness_connect();
    sb_conn *c = harness_conn(cl);
    char ip[INET6_ADDRSTRLEN];
    assert_int_equal(sb_conn_set_ip(c, "2001:db8::7"), SB_OK);
    assert_int_equal(sb_conn_family(c), AF_INET6);
    assert_string_equal(sb_conn_ip(c, ip), "2001:db8::7");
    assert_int_equal(sb_conn_set_ip(c, "not an address"), SB_EINVAL);
    assert_string_equal(sb_conn_ip(c, ip), "2001:db8::7");
    assert_int_equal(sb_conn_set_ip(c, "10.1.2.3"), SB_OK);
    assert_int_equal(sb_conn_family(c), AF_INET);
    assert_string_equal(sb_conn_ip(c, ip), "10.1.2.3");
    harness_hangup(cl);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
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
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    assert_true(harness_wait_eof(cl));
    assert_int_equal(cl->len, 0);
}

/* --- TLS write path --------------------------------------------------------------- */

/* A self-signed pair in /tmp for sb_tls_init. */
static void tls_write_pair(sb_server_cfg *cfg)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"unit", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    snprintf(cfg->tls_cert, sizeof(cfg->tls_cert), "/tmp/sb-unit-%d.crt", (int)getpid());
    snprintf(cfg->tls_key, sizeof(cfg->tls_key), "/tmp/sb-unit-%d.key", (int)getpid());
    FILE *f = fopen(cfg->tls_cert, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(cfg->tls_key, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static int tls_wr_waiting(void *arg)
{
    sb_conn *c = sb_conn_find(*(uint64_t *)arg);
    return c && c->tls_wr_wait;
}

typedef struct tls_peer {
    SSL *ssl;
    char got[64];
    size_t len;
} tls_peer;

/* One step of the client (handshake, then reads); done once the frame is in. */
static int tls_peer_step(void *arg)
{
    tls_peer *p = arg;
    if (!SSL_is_init_finished(p->ssl)) {
        SSL_do_handshake(p->ssl);
        return 0;
    }
    int n = SSL_read(p->ssl, p->got + p->len, (int)(sizeof(p->got) - p->len));
    if (n > 0)
        p->len += (size_t)n;
    ERR_clear_error();
    return p->len >= 7;
}

/* SSL_write answers SSL_ERROR_WANT_READ when OpenSSL needs the peer's bytes
 * first (a TLS 1.3 post-handshake message; here, simplest to provoke, the
 * ClientHello of a session written to before its handshake). The write
 * watcher stops instead of spinning on a writable socket, and the peer's
 * bytes restart the write, which then completes. */
static void test_conn_tls_write_waits_for_readability(void **state)
{
    (void)state;
    sb_server_cfg cfg = {.tls_min_version = 12};
    tls_write_pair(&cfg);
    assert_int_equal(sb_tls_init(&cfg), SB_OK);
    harness_client *cl = harness_connect();
    sb_conn *c = harness_conn(cl);
    assert_non_null(c);
    c->tls = sb_tls_new(c->fd); /* tls_hs left 0: the write path meets the handshake */
    assert_non_null(c->tls);
    assert_int_equal(send_text(c, "hello", 5, 0), SB_OK);
    assert_true(harness_run_until(tls_wr_waiting, &cl->conn_id));
    assert_false(ev_is_active(&c->wio));
    for (int i = 0; i < 50; i++) /* nothing to read: the watcher stays off */
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
    assert_true(c->tls_wr_wait);
    assert_false(ev_is_active(&c->wio));

    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    tls_peer p = {.ssl = SSL_new(cctx)};
    SSL_set_fd(p.ssl, cl->fd);
    SSL_set_connect_state(p.ssl);
    assert_true(harness_run_until(tls_peer_step, &p));
    assert_int_equal(p.len, 7);
    assert_memory_equal(p.got, "\x81\x05hello", 7);
    assert_false(c->tls_wr_wait);
    SSL_free(p.ssl);
    SSL_CTX_free(cctx);
    sb_tls_free();
    unlink(cfg.tls_cert);
    unlink(cfg.tls_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, conn_setup, harness_teardown)
        T(test_conn_new_registered_until_eof),
        T(test_conn_set_ip_round_trips),
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
        T(test_conn_tls_write_waits_for_readability),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The WebSocket phase on the real loop: text frames (whole and fragmented)
 * dispatched, binary 1003, bad UTF-8 1007, oversize 1009, protocol errors
 * 1002, pings answered with pongs, the client's close, EOF, hibernation
 * (the wslay context freed when quiet, rebuilt by the next frame), and
 * failed allocations while a frame is handled. */
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "metrics.h"
#include "runtime.h"
#include "ws.h"

static int cmd_echo(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    return harness_host->reply(harness_pc, cmd, "echo", cmd->data);
}

static void register_fakes(void)
{
    assert_int_equal(harness_host->register_command(harness_pc, "echo", cmd_echo, NULL), SB_OK);
}

static int ws_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    register_fakes();
    return 0;
}

static harness_client *alice(void)
{
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    return cl;
}

static int detached(void *arg)
{
    sb_conn *c = sb_conn_find(*(uint64_t *)arg);
    return !c || c->detached;
}

static int hibernated(void *arg)
{
    sb_conn *c = sb_conn_find(*(uint64_t *)arg);
    return c && !c->ws;
}

/* --- data frames ------------------------------------------------------------------ */

static void test_ws_on_readable_text_dispatched(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_text(cl, "{\"type\":\"echo\",\"ref\":1,\"data\":{\"s\":\"h\xc3\xa9\"}}");
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":1,\"data\":{\"s\":\"h\xc3\xa9\"}}");
    assert_int_equal(sb_metrics_core.frames_in, 1);
    harness_expect_nothing(cl);
}

static void test_ws_on_readable_fragments_one_message(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x01, "{\"type\":", 8);  /* text, not final */
    harness_send_frame(cl, 0x89, "p", 1);           /* a ping in between */
    harness_send_frame(cl, 0x00, "\"echo\"", 6);    /* continuation */
    harness_send_frame(cl, 0x80, ",\"ref\":2}", 9); /* final */
    /* The pong (wslay's queue) and the answer (ours), in either order. */
    int got_pong = 0, got_echo = 0;
    for (int i = 0; i < 2; i++) {
        int op;
        char *p;
        size_t n;
        assert_true(harness_next_frame(cl, &op, &p, &n));
        if (op == 10 && strcmp(p, "p") == 0)
            got_pong++;
        else if (op == 1 && strcmp(p, "{\"type\":\"echo\",\"ref\":2,\"data\":{}}") == 0)
            got_echo++;
        else
            fail_msg("unexpected frame %d: %s", op, p);
        free(p);
    }
    assert_int_equal(got_pong, 1);
    assert_int_equal(got_echo, 1);
    harness_expect_nothing(cl);
    assert_int_equal(sb_metrics_core.commands, 1);
}

/* A readable event that empties the socket in one short read asks no
 * more: the EAGAIN recv would cost a syscall per message at a steady rate. */
static void test_ws_on_readable_short_read_recv_once(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_text(cl, "{\"type\":\"echo\",\"ref\":1}");
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":1,\"data\":{}}");
    harness_settle();
    long before = harness_recv_calls();
    harness_send_text(cl, "{\"type\":\"echo\",\"ref\":2}");
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":2,\"data\":{}}");
    assert_int_equal(harness_recv_calls() - before, 1);
}

/* A frame whose bytes come in two writes, a pass apart: the short read of
 * the first half ends that event, the watcher fires again for the rest. */
static void test_ws_on_readable_frame_split_over_events(void **state)
{
    (void)state;
    harness_client *cl = alice();
    static const char text[] = "{\"type\":\"echo\",\"ref\":3}";
    uint8_t frame[64] = {0x81, (uint8_t)(0x80 | (sizeof(text) - 1)), 1, 2, 3, 4};
    for (size_t i = 0; i < sizeof(text) - 1; i++)
        frame[6 + i] = (uint8_t)text[i] ^ frame[2 + i % 4];
    size_t len = 6 + sizeof(text) - 1;
    harness_write(cl, frame, len / 2);
    harness_settle();
    harness_expect_nothing(cl);
    harness_write(cl, frame + len / 2, len - len / 2);
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":3,\"data\":{}}");
    harness_expect_nothing(cl);
}

static void test_ws_on_readable_binary_1003(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x82, "\x01\x02", 2);
    harness_expect_close(cl, 1003, "binary frames are not accepted");
    harness_expect_nothing(cl);
}

static void test_ws_on_readable_bad_utf8_1007(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_text(cl, "{\"type\":\"echo\",\"data\":{\"s\":\"\xff\"}}");
    harness_expect_close(cl, 1007, NULL);
    assert_int_equal(sb_metrics_core.commands, 0);
    assert_true(harness_conn(cl)->closing);
}

static void test_ws_on_readable_oversize_1009(void **state)
{
    (void)state;
    harness_stop();
    harness_start("max_message_bytes = 64\n");
    register_fakes();
    harness_client *cl = alice();
    char big[100];
    memset(big, ' ', sizeof(big));
    harness_send_frame(cl, 0x81, big, sizeof(big));
    harness_expect_close(cl, 1009, NULL);
    assert_int_equal(sb_metrics_core.commands, 0);
}

/* A header declaring more than max_message_bytes is enough: the payload
 * may never come. */
static void test_ws_on_readable_oversize_header_1009_at_once(void **state)
{
    (void)state;
    harness_stop();
    harness_start("max_message_bytes = 64\n");
    register_fakes();
    harness_client *cl = alice();
    /* Text, masked, 16-bit length 1000, the mask: no payload. */
    harness_write(cl, "\x81\xfe\x03\xe8\x01\x02\x03\x04", 8);
    harness_expect_close(cl, 1009, NULL);
}

/* --- control frames -------------------------------------------------------------- */

static void test_ws_on_readable_ping_pong(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x89, "abc", 3);
    assert_true(harness_wait_bytes(cl, 5));
    harness_settle();
    harness_read(cl);
    assert_int_equal(cl->len, 5);
    assert_memory_equal(cl->buf,
                        "\x8a\x03"
                        "abc",
                        5);
}

static void test_ws_on_readable_close_answered(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x88,
                       "\x03\xe8"
                       "bye",
                       5);
    harness_expect_close(cl, 1000, NULL);
    assert_true(harness_wait_eof(cl)); /* our side is shut after the close */
    sb_conn *c = harness_conn(cl);
    assert_non_null(c);
    assert_true(c->closing);
    /* The socket stays until the client hangs up or the linger (2 s) ends. */
    assert_true(harness_run_until(detached, &cl->conn_id));
    assert_int_equal(sb_srv.n_ws, 0);
    harness_hangup(cl);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
}

static void test_ws_on_readable_close_one_byte_1002(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x88, "\x03", 1);
    harness_expect_close(cl, 1002, NULL);
}

static void test_ws_on_readable_unmasked_1002(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_write(cl, "\x81\x02hi", 4); /* a client must mask */
    harness_expect_close(cl, 1002, NULL);
    harness_expect_nothing(cl);
}

static void test_ws_on_readable_eof_destroys(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_frame(cl, 0x01, "{\"ty", 4); /* half a message: then EOF */
    harness_hangup(cl);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    assert_int_equal(sb_srv.n_ws, 0);
}

/* --- hibernation ---------------------------------------------------------------- */

static void test_ws_hibernate_and_wake(void **state)
{
    (void)state;
    harness_client *cl = alice();
    sb_conn *c = harness_conn(cl);
    assert_null(c->ws); /* built by the first frame */
    harness_send_frame(cl, 0x89, "", 0);
    assert_true(harness_wait_bytes(cl, 2));
    harness_consume(cl, 2);
    assert_non_null(c->ws);
    long contexts = sb_metrics_core.ws_contexts;
    /* Quiet for longer than the hibernation delay (1 s): move the last
     * receive back instead of waiting. */
    c->last_rx -= 2;
    sb_conn_rearm(c);
    assert_true(harness_run_until(hibernated, &cl->conn_id));
    assert_int_equal(sb_metrics_core.ws_contexts, contexts - 1);
    /* The next frame rebuilds the context and is handled. */
    harness_send_text(cl, "{\"type\":\"echo\",\"ref\":3}");
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":3,\"data\":{}}");
    assert_non_null(c->ws);
    assert_int_equal(sb_metrics_core.ws_contexts, contexts);
    /* And a ping after waking is answered. */
    harness_send_frame(cl, 0x89, "", 0);
    assert_true(harness_wait_bytes(cl, 2));
    assert_memory_equal(cl->buf, "\x8a\x00", 2);
}

/* Mid-frame the context holds state: no hibernation until the frame ends. */
static void test_ws_hibernate_not_mid_frame(void **state)
{
    (void)state;
    harness_client *cl = alice();
    sb_conn *c = harness_conn(cl);
    static const char msg[] = "{\"type\":\"echo\",\"ref\":4}";
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t frame[2 + 4 + sizeof(msg) - 1];
    frame[0] = 0x81;
    frame[1] = 0x80 | (uint8_t)(sizeof(msg) - 1);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < sizeof(msg) - 1; i++)
        frame[6 + i] = (uint8_t)msg[i] ^ mask[i % 4];
    harness_write(cl, frame, 10); /* header, mask, 4 payload bytes */
    harness_settle();
    assert_true(c->ws->in_frame || c->ws->given != c->ws->framed);
    assert_int_equal(sb_ws_hibernate(c), 0);
    assert_non_null(c->ws);
    harness_write(cl, frame + 10, sizeof(frame) - 10);
    harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":4,\"data\":{}}");
    assert_int_equal(sb_ws_hibernate(c), 1);
    assert_null(c->ws);
}

/* --- failed allocations ------------------------------------------------------- */

/* Every allocation while a text frame is handled failing in turn: the
 * answer, nothing, or a close; never a crash or a leak (ASan). */
static void test_ws_on_readable_enomem_sweep(void **state)
{
    (void)state;
    for (long nth = 0;; nth++) {
        harness_client *cl = alice();
        harness_send_text(cl, "{\"type\":\"echo\",\"ref\":5}");
        long failed = harness_fail_pass(cl, nth);
        if (failed == 0) {
            harness_expect_text(cl, "{\"type\":\"echo\",\"ref\":5,\"data\":{}}");
            break;
        }
        if (cl->len)
            assert_true(cl->buf[0] == 0x81 || cl->buf[0] == 0x88);
        harness_hangup(cl);
        assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, ws_setup, harness_teardown)
        T(test_ws_on_readable_text_dispatched),
        T(test_ws_on_readable_fragments_one_message),
        T(test_ws_on_readable_short_read_recv_once),
        T(test_ws_on_readable_frame_split_over_events),
        T(test_ws_on_readable_binary_1003),
        T(test_ws_on_readable_bad_utf8_1007),
        T(test_ws_on_readable_oversize_1009),
        T(test_ws_on_readable_oversize_header_1009_at_once),
        T(test_ws_on_readable_ping_pong),
        T(test_ws_on_readable_close_answered),
        T(test_ws_on_readable_close_one_byte_1002),
        T(test_ws_on_readable_unmasked_1002),
        T(test_ws_on_readable_eof_destroys),
        T(test_ws_hibernate_and_wake),
        T(test_ws_hibernate_not_mid_frame),
        T(test_ws_on_readable_enomem_sweep),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

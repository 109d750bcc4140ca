/* Refcounted frames and the output queue: framing bytes, shared references
 * in a fan-out, partial writes resuming at their offset, and dropping what
 * was not started. Output goes to a pipe, not a socket. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "outq.h"

static void test_frame_ws_header_sizes(void **state)
{
    (void)state;
    uint8_t big[70000];
    memset(big, 'x', sizeof(big));
    sb_frame *a = sb_frame_ws(1, "hi", 2);
    assert_int_equal(a->len, 4);
    assert_memory_equal(a->data, "\x81\x02hi", 4);
    sb_frame *b = sb_frame_ws(1, big, 200);
    assert_int_equal(b->len, 204);
    assert_int_equal(b->data[1], 126);
    assert_int_equal((b->data[2] << 8) | b->data[3], 200);
    sb_frame *c = sb_frame_ws(1, big, sizeof(big));
    assert_int_equal(c->len, 10 + sizeof(big));
    assert_int_equal(c->data[1], 127);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = (n << 8) | c->data[2 + i];
    assert_int_equal(n, sizeof(big));
    sb_frame_unref(a);
    sb_frame_unref(b);
    sb_frame_unref(c);
}

static void test_frame_envelope_text(void **state)
{
    (void)state;
    sb_frame *f = sb_frame_envelope("ack", "7", "{\"id\":\"x\"}", 10);
    const char *want = "{\"type\":\"ack\",\"ref\":7,\"data\":{\"id\":\"x\"}}";
    assert_int_equal(f->data[0], 0x81);
    assert_int_equal(f->data[1], strlen(want));
    assert_memory_equal(f->data + 2, want, strlen(want));
    sb_frame_unref(f);
    f = sb_frame_envelope("message", NULL, "{}", 2);
    want = "{\"type\":\"message\",\"data\":{}}";
    assert_memory_equal(f->data + 2, want, strlen(want));
    sb_frame_unref(f);
}

static void test_frame_ws_close_code_and_utf8_cut(void **state)
{
    (void)state;
    sb_frame *f = sb_frame_ws_close(4003, "slow consumer");
    assert_int_equal(f->data[0], 0x88);
    assert_int_equal((f->data[2] << 8) | f->data[3], 4003);
    assert_true(f->flags & SB_FRAME_CLOSE);
    sb_frame_unref(f);
    /* 130 bytes of 2-byte characters: cut to <= 123 without splitting one. */
    char reason[131];
    for (int i = 0; i < 130; i += 2)
        memcpy(reason + i, "\xc3\xa9", 2);
    reason[130] = 0;
    f = sb_frame_ws_close(1000, reason);
    size_t payload = f->data[1];
    assert_true(payload <= 125);
    assert_int_equal((payload - 2) % 2, 0);
    sb_frame_unref(f);
}

static void test_outq_push_shares_one_frame(void **state)
{
    (void)state;
    sb_outq q1 = {0}, q2 = {0};
    sb_frame *f = sb_frame_ws(1, "fan-out", 7);
    assert_int_equal(sb_outq_push(&q1, sb_frame_ref(f)), 0);
    assert_int_equal(sb_outq_push(&q2, sb_frame_ref(f)), 0);
    assert_int_equal(f->refs, 3);
    assert_int_equal(q1.bytes, f->len);
    sb_outq_clear(&q1);
    assert_int_equal(f->refs, 2);
    sb_outq_clear(&q2);
    assert_int_equal(f->refs, 1);
    sb_frame_unref(f);
}

static void test_outq_write_resumes_partial_frame(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    sb_outq q = {0};
    static uint8_t payload[200000];
    memset(payload, 'y', sizeof(payload));
    for (int i = 0; i < 3; i++)
        sb_outq_push(&q, sb_frame_ws(2, payload, sizeof(payload)));
    size_t total = q.bytes;
    assert_int_equal(sb_outq_write(&q, p[1]), 0);
    assert_int_equal(total - q.bytes, (size_t)cap); /* the pipe is full */
    assert_true(q.off > 0);
    /* Drain the pipe and write the rest: every byte arrives once, in order. */
    static uint8_t got[700000];
    size_t n = 0;
    while (q.count || n < total) {
        ssize_t r = read(p[0], got + n, sizeof(got) - n);
        if (r > 0)
            n += (size_t)r;
        assert_int_equal(sb_outq_write(&q, p[1]), 0);
    }
    assert_int_equal(n, total);
    assert_int_equal(q.bytes, 0);
    assert_null(q.ring);
    assert_memory_equal(got, "\x82\x7f", 2);
    close(p[0]);
    close(p[1]);
}

static void test_outq_drop_unstarted_keeps_partial_head(void **state)
{
    (void)state;
    sb_outq q = {0};
    sb_outq_push(&q, sb_frame_ws(1, "a", 1));
    sb_outq_push(&q, sb_frame_ws(1, "b", 1));
    q.off = 1; /* the head is partly written */
    sb_outq_drop_unstarted(&q);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.bytes, 3);
    q.off = 0;
    sb_outq_drop_unstarted(&q);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
}

static void test_outq_splice_moves_in_order(void **state)
{
    (void)state;
    sb_outq a = {0}, b = {0};
    sb_outq_push(&a, sb_frame_ws(1, "1", 1));
    sb_outq_push(&b, sb_frame_ws(1, "2", 1));
    sb_outq_push(&b, sb_frame_ws(1, "3", 1));
    assert_int_equal(sb_outq_splice(&a, &b), 0);
    assert_int_equal(a.count, 3);
    assert_int_equal(b.count, 0);
    assert_int_equal(a.bytes, 9);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a.ring[(a.head + i) % a.cap]->data[2], '1' + i);
    sb_outq_clear(&a);
}

static void test_outq_counts_backlog_bytes_apart(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    sb_outq q = {0};
    sb_frame *stored = sb_frame_ws(1, "stored", 6);
    stored->flags |= SB_FRAME_BACKLOG;
    sb_outq_push(&q, stored);
    sb_outq_push(&q, sb_frame_ws(1, "event", 5));
    assert_int_equal(q.bytes, 8 + 7);
    assert_int_equal(q.backlog, 8);
    sb_outq_drop_unstarted(&q); /* nothing started: both go */
    assert_int_equal(q.backlog, 0);
    stored = sb_frame_ws(1, "stored", 6);
    stored->flags |= SB_FRAME_BACKLOG;
    sb_outq_push(&q, stored);
    assert_int_equal(sb_outq_write(&q, p[1]), 0);
    assert_int_equal(q.backlog, 0);
    assert_int_equal(q.bytes, 0);
    close(p[0]);
    close(p[1]);
}

static void test_outq_backlog_counts_unsent_bytes_of_half_written_frame(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
    static char big[20000];
    memset(big, 'x', sizeof big);
    sb_outq q = {0};
    sb_frame *stored = sb_frame_ws(1, big, sizeof big);
    stored->flags |= SB_FRAME_BACKLOG;
    sb_outq_push(&q, stored);
    sb_outq_push(&q, sb_frame_ws(1, "event", 5));
    assert_int_equal(sb_outq_write(&q, p[1]), 0);
    assert_true(q.off > 0); /* half-written: the pipe took part of it */
    /* What is unsent and not stored: the 7-byte event only. */
    assert_int_equal(q.bytes - q.backlog, 7);
    char sink[65536];
    while (q.count) {
        while (read(p[0], sink, sizeof sink) > 0) {
        }
        assert_int_equal(sb_outq_write(&q, p[1]), 0);
        assert_true(q.bytes >= q.backlog);
    }
    assert_int_equal(q.backlog, 0);
    assert_int_equal(q.bytes, 0);
    close(p[0]);
    close(p[1]);
}

static int drop_b(const sb_frame *f, void *arg)
{
    (void)arg;
    return f->data[2] == 'b';
}

static void test_outq_drop_if_keeps_order_and_counts(void **state)
{
    (void)state;
    sb_outq q = {0};
    const char *texts[] = {"a1", "b2", "a3", "b4", "a5"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(sb_outq_push(&q, sb_frame_ws(1, texts[i], 2)), 0);
    sb_outq_drop_if(&q, drop_b, NULL);
    assert_int_equal(q.count, 3);
    assert_int_equal(q.bytes, 12);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(q.ring[(q.head + i) % q.cap]->data[3], "135"[i]);
    sb_outq_clear(&q);
    /* Dropping everything frees the ring. */
    assert_int_equal(sb_outq_push(&q, sb_frame_ws(1, "b9", 2)), 0);
    sb_outq_drop_if(&q, drop_b, NULL);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_null(q.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_ws_header_sizes),
        cmocka_unit_test(test_frame_envelope_text),
        cmocka_unit_test(test_frame_ws_close_code_and_utf8_cut),
        cmocka_unit_test(test_outq_push_shares_one_frame),
        cmocka_unit_test(test_outq_write_resumes_partial_frame),
        cmocka_unit_test(test_outq_drop_unstarted_keeps_partial_head),
        cmocka_unit_test(test_outq_splice_moves_in_order),
        cmocka_unit_test(test_outq_drop_if_keeps_order_and_counts),
        cmocka_unit_test(test_outq_counts_backlog_bytes_apart),
        cmocka_unit_test(test_outq_backlog_counts_unsent_bytes_of_half_written_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

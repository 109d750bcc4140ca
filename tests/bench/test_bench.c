/* Unit tests of sb-bench's pure parts: the log-linear histogram (bucket layout, percentiles,
 * merge), the bitsets loss and duplicates are counted from, the frame field scanner, and the
 * run's layout (--url parsing, who sends to whom through which node). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>

#include "bench.h"
#include "bench_hist.h"
#include "bench_track.h"

static void test_hist_index_exact_below_128(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 128; v++) {
        assert_int_equal(bench_hist_index(v), (int)v);
        assert_int_equal(bench_hist_bucket_top((int)v), v);
    }
}

static void test_hist_index_contiguous_and_bounded_width(void **state)
{
    (void)state;
    /* every value falls in a bucket whose top is >= it and at most 1/64 above it */
    uint64_t values[] = {128,   129,    255,     256,       1000,
                         12345, 999999, 1000000, 123456789, (1ull << 40) + 17};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint64_t v = values[i];
        int idx = bench_hist_index(v);
        uint64_t top = bench_hist_bucket_top(idx);
        assert_true(top >= v);
        assert_true((double)(top - v) <= (double)v / 64.0);
        assert_true(bench_hist_bucket_top(idx - 1) < v);
    }
    /* neighbours across a power of two land in adjacent buckets */
    assert_int_equal(bench_hist_index(255) + 1, bench_hist_index(256));
    assert_int_equal(bench_hist_index(127) + 1, bench_hist_index(128));
}

static void test_hist_index_clamps_huge_values(void **state)
{
    (void)state;
    assert_int_equal(bench_hist_index(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
    bench_hist h;
    bench_hist_init(&h);
    bench_hist_record(&h, UINT64_MAX / 2);
    assert_int_equal(h.max, UINT64_MAX / 2);
    assert_int_equal(bench_hist_quantile(&h, 1.0), UINT64_MAX / 2);
}

static void test_hist_quantile_uniform(void **state)
{
    (void)state;
    bench_hist h;
    bench_hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        bench_hist_record(&h, v * 1000); /* 1 us .. 100 ms */
    uint64_t p50 = bench_hist_quantile(&h, 0.5);
    uint64_t p99 = bench_hist_quantile(&h, 0.99);
    uint64_t p999 = bench_hist_quantile(&h, 0.999);
    assert_true(p50 >= 50000000 && p50 <= 50000000 + 50000000 / 64);
    assert_true(p99 >= 99000000 && p99 <= 99000000 + 99000000 / 64);
    assert_true(p999 >= 99900000 && p999 <= 100000000);
    assert_int_equal(bench_hist_quantile(&h, 1.0), 100000000);
    assert_int_equal(bench_hist_quantile(&h, 0.0), 1000);
    assert_int_equal(h.total, 100000);
}

static void test_hist_quantile_small_counts(void **state)
{
    (void)state;
    bench_hist h;
    bench_hist_init(&h);
    assert_int_equal(bench_hist_quantile(&h, 0.5), 0);
    bench_hist_record(&h, 10);
    bench_hist_record(&h, 20);
    bench_hist_record(&h, 30);
    bench_hist_record(&h, 5000);
    assert_int_equal(bench_hist_quantile(&h, 0.5), 20);
    assert_int_equal(bench_hist_quantile(&h, 0.75), 30);
    assert_int_equal(bench_hist_quantile(&h, 0.99), 5000);
}

static void test_hist_merge_adds_counts(void **state)
{
    (void)state;
    bench_hist a, b;
    bench_hist_init(&a);
    bench_hist_init(&b);
    for (int i = 0; i < 90; i++)
        bench_hist_record(&a, 100);
    for (int i = 0; i < 10; i++)
        bench_hist_record(&b, 1000000);
    bench_hist_merge(&a, &b);
    assert_int_equal(a.total, 100);
    assert_int_equal(a.min, 100);
    assert_int_equal(a.max, 1000000);
    assert_int_equal(bench_hist_quantile(&a, 0.9), 100);
    assert_int_equal(bench_hist_quantile(&a, 0.91), 1000000);
}

static void test_bits_set_reports_duplicates(void **state)
{
    (void)state;
    bench_bits b = {0};
    assert_int_equal(bench_bits_set(&b, 5), 0);
    assert_int_equal(bench_bits_set(&b, 5), 1);
    assert_int_equal(bench_bits_set(&b, 100000), 0);
    assert_true(bench_bits_test(&b, 5));
    assert_true(bench_bits_test(&b, 100000));
    assert_false(bench_bits_test(&b, 6));
    assert_false(bench_bits_test(&b, 1u << 30));
    assert_int_equal(bench_bits_count(&b), 2);
    bench_bits_free(&b);
    assert_null(b.w);
}

static void test_bits_missing_counts_acked_not_got(void **state)
{
    (void)state;
    bench_bits want = {0}, got = {0};
    for (uint64_t i = 0; i < 1000; i++)
        bench_bits_set(&want, i);
    for (uint64_t i = 0; i < 1000; i += 2)
        bench_bits_set(&got, i);
    assert_int_equal(bench_bits_missing(&want, &got), 500);
    bench_bits empty = {0};
    assert_int_equal(bench_bits_missing(&want, &empty), 1000);
    assert_int_equal(bench_bits_missing(&got, &want), 0);
    bench_bits_free(&want);
    bench_bits_free(&got);
}

static void test_inbox_stream_per_sender(void **state)
{
    (void)state;
    bench_inbox in = {0};
    bench_bits *a = bench_inbox_stream(&in, 7);
    bench_bits_set(a, 1);
    bench_bits *b = bench_inbox_stream(&in, 9);
    bench_bits_set(b, 2);
    assert_int_equal(in.n, 2);
    assert_true(bench_bits_test(bench_inbox_find(&in, 7), 1));
    assert_false(bench_bits_test(bench_inbox_find(&in, 7), 2));
    assert_true(bench_bits_test(bench_inbox_find(&in, 9), 2));
    assert_null(bench_inbox_find(&in, 8));
    assert_ptr_equal(bench_inbox_stream(&in, 7), bench_inbox_find(&in, 7));
    bench_inbox_free(&in);
    assert_int_equal(in.n, 0);
}

static void test_scan_delivery(void **state)
{
    (void)state;
    const char *f = "{\"type\":\"message\",\"data\":{\"id\":\"01HF0000000000000000000001\","
                    "\"from\":\"u3\",\"to\":\"u2\",\"ts\":1732280000123,\"t\":123456789,"
                    "\"c\":3,\"s\":42,\"p\":\"xxxx\"}}";
    bench_frame fr;
    assert_int_equal(bench_scan(f, strlen(f), &fr), 0);
    assert_true(bench_frame_is(&fr, "message"));
    assert_false(bench_frame_is(&fr, "messages"));
    assert_int_equal(fr.id_len, 26);
    assert_memory_equal(fr.id, "01HF0000000000000000000001", 26);
    assert_true(fr.has_t && fr.has_c && fr.has_s);
    assert_int_equal(fr.t, 123456789);
    assert_int_equal(fr.c, 3);
    assert_int_equal(fr.s, 42);
    assert_false(fr.has_ref);
}

static void test_scan_ack_with_spaces(void **state)
{
    (void)state;
    const char *f = "{\"type\": \"ack\", \"ref\": 17, \"data\": {\"id\": \"abc\", \"ts\": 5}}";
    bench_frame fr;
    assert_int_equal(bench_scan(f, strlen(f), &fr), 0);
    assert_true(bench_frame_is(&fr, "ack"));
    assert_true(fr.has_ref);
    assert_int_equal(fr.ref, 17);
    assert_int_equal(fr.id_len, 3);
    assert_false(fr.has_t); /* "ts" is not "t" */
    assert_false(fr.has_s);
}

static void test_scan_ignores_keys_inside_strings(void **state)
{
    (void)state;
    /* a string value holding escaped quotes that spell a key must not be taken for it */
    const char *f =
        "{\"type\":\"publish\",\"data\":{\"p\":\"\\\"t\\\":99\",\"t\":5,\"c\":1,\"s\":2}}";
    bench_frame fr;
    assert_int_equal(bench_scan(f, strlen(f), &fr), 0);
    assert_int_equal(fr.t, 5);
}

static void test_scan_respects_length(void **state)
{
    (void)state;
    const char *f = "{\"type\":\"pong\"}{\"ref\":1}";
    bench_frame fr;
    assert_int_equal(bench_scan(f, 15, &fr), 0);
    assert_true(bench_frame_is(&fr, "pong"));
    assert_false(fr.has_ref);
    assert_int_equal(bench_scan("{\"data\":{}}", 11, &fr), -1);
    assert_int_equal(bench_scan("{\"type\":\"ack", 12, &fr), -1);
}

static void test_scan_messaging_sections(void **state)
{
    (void)state;
    bench_frame fr;
    const char *m = "{\"messages\":[{\"id\":7,\"sid\":\"u3\",\"rid\":\"u2\",\"t\":99,"
                    "\"c\":3,\"s\":7,\"p\":\"x\"}]}";
    assert_int_equal(bench_scan_messaging(m, strlen(m), &fr), 0);
    assert_true(bench_frame_is(&fr, "message"));
    assert_true(fr.has_t && fr.has_c && fr.has_s && !fr.has_ref);
    assert_int_equal(fr.c, 3);
    assert_int_equal(fr.s, 7);
    const char *a = "{\"sent\":[{\"id\":41}]}";
    assert_int_equal(bench_scan_messaging(a, strlen(a), &fr), 0);
    assert_true(bench_frame_is(&fr, "ack") && fr.has_ref && fr.ref == 41);
    const char *e = "{\"errors\":[{\"id\":5,\"code\":\"inbox_full\"}]}";
    assert_int_equal(bench_scan_messaging(e, strlen(e), &fr), 0);
    assert_true(bench_frame_is(&fr, "error") && fr.has_ref && fr.ref == 5);
    const char *r = "{\"read\":[]}";
    assert_int_equal(bench_scan_messaging(r, strlen(r), &fr), 0);
    assert_true(bench_frame_is(&fr, "read") && !fr.has_ref);
    assert_int_equal(bench_scan_messaging("{\"type\":\"ack\"}", 14, &fr), -1);
}

static void test_scan_chat_broadcast_reads_the_message_words(void **state)
{
    (void)state;
    const char *f = "{\"event\":\"broadcast\",\"member\":\"b1.u3\","
                    "\"message\":\"t=123456 c=3 s=42 p=xxxxc=9\"}";
    bench_frame fr;
    assert_int_equal(bench_scan_chat(f, strlen(f), &fr), 0);
    assert_true(bench_frame_is(&fr, "broadcast"));
    assert_true(fr.has_t && fr.has_c && fr.has_s && fr.has_ref);
    assert_int_equal(fr.t, 123456);
    assert_int_equal(fr.c, 3); /* "c=9" inside the payload is not a word of its own */
    assert_int_equal(fr.s, 42);
    assert_int_equal(fr.ref, 42);
}

static void test_scan_chat_other_events(void **state)
{
    (void)state;
    const char *me = "{\"event\":\"me\",\"member\":\"u\",\"id\":\"7\",\"rooms\":[]}";
    bench_frame fr;
    assert_int_equal(bench_scan_chat(me, strlen(me), &fr), 0);
    assert_true(bench_frame_is(&fr, "me"));
    assert_false(fr.has_c || fr.has_ref);
    /* a native frame has no "event" */
    assert_int_equal(bench_scan_chat("{\"type\":\"ack\"}", 14, &fr), -1);
    /* a message that is an object (a native broadcast without text) carries no words */
    const char *obj = "{\"event\":\"broadcast\",\"member\":\"n\",\"message\":{\"c\":1}}";
    assert_int_equal(bench_scan_chat(obj, strlen(obj), &fr), 0);
    assert_false(fr.has_c);
}

static void test_parse_url_fields_and_defaults(void **state)
{
    (void)state;
    bench_url u;
    assert_int_equal(bench_parse_url(&u, "ws://127.0.0.1:8081/ws?x=1"), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8081);
    assert_string_equal(u.path, "/ws?x=1");
    assert_int_equal(bench_parse_url(&u, "ws://localhost"), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");
    assert_int_equal(u.tls, 0);
    assert_int_equal(bench_parse_url(&u, "wss://127.0.0.1/ws"), 0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 443);
    assert_int_equal(bench_parse_url(&u, "wss://localhost:8443/ws"), 0);
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/ws");
}

static void test_parse_url_rejects_malformed(void **state)
{
    (void)state;
    bench_url u;
    assert_int_equal(bench_parse_url(&u, "http://127.0.0.1:8080/ws"), -1);
    assert_int_equal(bench_parse_url(&u, "wss:/127.0.0.1:8080/ws"), -1);
    assert_int_equal(bench_parse_url(&u, "ws://:8080/ws"), -1);
    assert_int_equal(bench_parse_url(&u, "ws://h:0/ws"), -1);
    assert_int_equal(bench_parse_url(&u, "ws://h:65536/ws"), -1);
    assert_int_equal(bench_parse_url(&u, "ws://h:80x/ws"), -1);
}

/* A bench laid out by bench_plan for scenario sc over nurls nodes. */
static bench *plan_of(int sc, uint32_t conns, uint32_t senders, uint32_t room, uint32_t nurls)
{
    bench *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->cfg.scenario = sc;
    b->cfg.connections = conns;
    b->cfg.senders = senders;
    b->cfg.room_size = room;
    b->cfg.messages = 10;
    b->cfg.nurls = nurls;
    assert_int_equal(bench_plan(b), 0);
    return b;
}

static void plan_free(bench *b)
{
    free(b->conns);
    free(b);
}

static void test_plan_direct_pairs_span_nodes(void **state)
{
    (void)state;
    for (uint32_t nurls = 2; nurls <= 3; nurls++) {
        bench *b = plan_of(SC_DIRECT, 101, UINT32_MAX, 10, nurls);
        assert_int_equal(b->cfg.senders, 100); /* the odd one out has no partner */
        uint32_t senders = 0, per_node[3] = {0};
        for (uint32_t i = 0; i < b->nconns; i++) {
            const bench_conn *c = &b->conns[i];
            assert_int_equal(c->node, bench_node_of(b, i));
            assert_true(c->node < nurls);
            per_node[c->node]++;
            if (!c->sender)
                continue;
            senders++;
            uint32_t to = bench_dest_of(b, i, 7);
            assert_int_equal(to, i ^ 1u);
            assert_int_not_equal(b->conns[to].node, c->node); /* every message crosses */
        }
        assert_int_equal(senders, 100);
        assert_false(b->conns[100].sender);
        for (uint32_t k = 0; k < nurls; k++) /* round-robin: shares differ by at most one */
            assert_true(per_node[k] >= 101 / nurls && per_node[k] <= 101 / nurls + 1);
        plan_free(b);
    }
}

static void test_plan_fanout_publisher_on_first_node_room_split(void **state)
{
    (void)state;
    /* an odd room size: counting from the room's start, not from 0, keeps every publisher on
     * node 0 */
    bench *b = plan_of(SC_FANOUT, 35, 3, 7, 2);
    uint32_t publishers = 0;
    for (uint32_t room = 0; room < 5; room++) {
        uint32_t per_node[2] = {0};
        for (uint32_t i = room * 7; i < room * 7 + 7; i++) {
            assert_int_equal(bench_room_of(b, i), room);
            per_node[b->conns[i].node]++;
            if (b->conns[i].sender) {
                publishers++;
                assert_int_equal(i, room * 7); /* 3 senders, 5 rooms: the first member */
                assert_int_equal(b->conns[i].node, 0);
            }
        }
        assert_int_equal(per_node[0], 4);
        assert_int_equal(per_node[1], 3);
    }
    assert_int_equal(publishers, 3);
    plan_free(b);
}

static void test_plan_one_url_keeps_everyone_on_it(void **state)
{
    (void)state;
    static const int scenarios[] = {SC_IDLE,      SC_DIRECT,  SC_FANOUT,
                                    SC_BROADCAST, SC_OFFLINE, SC_RECOVER};
    for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
        bench *b = plan_of(scenarios[k], 20, UINT32_MAX, 5, 1);
        for (uint32_t i = 0; i < b->nconns; i++)
            assert_int_equal(b->conns[i].node, 0);
        plan_free(b);
    }
}

static void test_plan_offline_senders_follow_receivers(void **state)
{
    (void)state;
    bench *b = plan_of(SC_OFFLINE, 3, 2, 10, 2);
    assert_int_equal(b->nconns, 5);
    assert_int_equal(b->limit_per_sender, 15); /* 3 users x 10 messages over 2 senders */
    for (uint32_t i = 0; i < 3; i++)
        assert_true(b->conns[i].late && !b->conns[i].sender);
    for (uint32_t i = 3; i < 5; i++)
        assert_true(!b->conns[i].late && b->conns[i].sender);
    /* message j*L+seq of all goes round the receivers */
    assert_int_equal(bench_dest_of(b, 3, 0), 0);
    assert_int_equal(bench_dest_of(b, 3, 4), 1);
    assert_int_equal(bench_dest_of(b, 4, 0), 0); /* 15 % 3 */
    assert_int_equal(bench_dest_of(b, 4, 2), 2);
    plan_free(b);
}

static void test_plan_recover_one_publisher_after_the_members(void **state)
{
    (void)state;
    bench *b = plan_of(SC_RECOVER, 4, 3, 2, 1);
    assert_int_equal(b->nconns, 5);
    assert_int_equal(b->cfg.senders, 1);
    assert_int_equal(b->limit_per_sender, 11); /* the anchor, then 10 to recover */
    for (uint32_t i = 0; i < 4; i++)
        assert_true(b->conns[i].late && !b->conns[i].sender);
    assert_true(!b->conns[4].late && b->conns[4].sender);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(bench_room_of(b, i), 0); /* one room */
    assert_int_equal(bench_fanout_of(b, 4), 4);
    plan_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_index_exact_below_128),
        cmocka_unit_test(test_hist_index_contiguous_and_bounded_width),
        cmocka_unit_test(test_hist_index_clamps_huge_values),
        cmocka_unit_test(test_hist_quantile_uniform),
        cmocka_unit_test(test_hist_quantile_small_counts),
        cmocka_unit_test(test_hist_merge_adds_counts),
        cmocka_unit_test(test_bits_set_reports_duplicates),
        cmocka_unit_test(test_bits_missing_counts_acked_not_got),
        cmocka_unit_test(test_inbox_stream_per_sender),
        cmocka_unit_test(test_scan_delivery),
        cmocka_unit_test(test_scan_ack_with_spaces),
        cmocka_unit_test(test_scan_ignores_keys_inside_strings),
        cmocka_unit_test(test_scan_respects_length),
        cmocka_unit_test(test_scan_messaging_sections),
        cmocka_unit_test(test_scan_chat_broadcast_reads_the_message_words),
        cmocka_unit_test(test_scan_chat_other_events),
        cmocka_unit_test(test_parse_url_fields_and_defaults),
        cmocka_unit_test(test_parse_url_rejects_malformed),
        cmocka_unit_test(test_plan_direct_pairs_span_nodes),
        cmocka_unit_test(test_plan_fanout_publisher_on_first_node_room_split),
        cmocka_unit_test(test_plan_one_url_keeps_everyone_on_it),
        cmocka_unit_test(test_plan_offline_senders_follow_receivers),
        cmocka_unit_test(test_plan_recover_one_publisher_after_the_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of sb-bench's pure parts: the log-linear histogram (bucket layout, percentiles,
 * merge), the bitsets loss and duplicates are counted from, and the frame field scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

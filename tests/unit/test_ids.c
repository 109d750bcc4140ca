/* Unit tests for core/util/ids.c: fixed width and alphabet, the time prefix, and
 * strict string order with equal, increasing and decreasing clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void assert_well_formed(const char *id)
{
    assert_int_equal(strlen(id), SB_ID_LEN);
    for (size_t i = 0; i < SB_ID_LEN; i++)
        assert_non_null(strchr(alphabet, id[i]));
    /* 128 bits in 130: the first digit holds 3 bits. */
    assert_true(id[0] >= '0' && id[0] <= '7');
}

/* The 48-bit time in the first 10 digits. */
static uint64_t id_time(const char *id)
{
    uint64_t t = 0;
    for (int i = 0; i < 10; i++)
        t = t << 5 | (uint64_t)(strchr(alphabet, id[i]) - alphabet);
    return t;
}

static int ids_setup(void **state)
{
    (void)state;
    sb_ids_init();
    return 0;
}

static void test_id_new_at_fixed_width_and_time(void **state)
{
    (void)state;
    char id[SB_ID_LEN + 1];
    /* Far ahead of any earlier test's clock, so the time is taken as given. */
    int64_t t = INT64_C(4102444800000); /* 2100-01-01 */
    sb_id_new_at(t, id);
    assert_well_formed(id);
    assert_int_equal(id_time(id), (uint64_t)t);
    sb_id_new_at(t + 1, id);
    assert_int_equal(id_time(id), (uint64_t)t + 1);
}

static void test_id_new_at_equal_clock_increases(void **state)
{
    (void)state;
    char a[SB_ID_LEN + 1], b[SB_ID_LEN + 1], c[SB_ID_LEN + 1];
    int64_t t = INT64_C(4102444900000);
    sb_id_new_at(t, a);
    sb_id_new_at(t, b);
    sb_id_new_at(t, c);
    assert_well_formed(b);
    assert_true(strcmp(a, b) < 0);
    assert_true(strcmp(b, c) < 0);
    assert_int_equal(id_time(c), (uint64_t)t);
    /* Same node: only the sequence (the last digits) differs. */
    assert_memory_equal(a, b, 16);
}

static void test_id_new_at_increasing_clock_increases(void **state)
{
    (void)state;
    char prev[SB_ID_LEN + 1], cur[SB_ID_LEN + 1];
    int64_t t = INT64_C(4102445000000);
    sb_id_new_at(t, prev);
    for (int i = 1; i < 100; i++) {
        sb_id_new_at(t + i * 7, cur);
        assert_true(strcmp(prev, cur) < 0);
        assert_int_equal(id_time(cur), (uint64_t)(t + i * 7));
        memcpy(prev, cur, sizeof(cur));
    }
}

static void test_id_new_at_clock_back_still_increases(void **state)
{
    (void)state;
    char a[SB_ID_LEN + 1], b[SB_ID_LEN + 1], c[SB_ID_LEN + 1];
    int64_t t = INT64_C(4102446000000);
    sb_id_new_at(t, a);
    sb_id_new_at(t - 60000, b); /* the clock stepped back a minute */
    sb_id_new_at(t - 59999, c);
    assert_true(strcmp(a, b) < 0);
    assert_true(strcmp(b, c) < 0);
    /* The ids keep the last time until the clock catches up. */
    assert_int_equal(id_time(b), (uint64_t)t);
    assert_int_equal(id_time(c), (uint64_t)t);
    sb_id_new_at(t + 1, c);
    assert_int_equal(id_time(c), (uint64_t)t + 1);
}

static void test_id_new_many_strictly_increasing(void **state)
{
    (void)state;
    /* The real clock is far behind the tests above: every id stays on the
     * last time and only the sequence grows, which must still order. */
    char prev[SB_ID_LEN + 1], cur[SB_ID_LEN + 1];
    sb_id_new(prev);
    for (int i = 0; i < 100000; i++) {
        sb_id_new(cur);
        assert_well_formed(cur);
        if (strcmp(prev, cur) >= 0)
            fail_msg("id %d not increasing: %s then %s", i, prev, cur);
        memcpy(prev, cur, sizeof(cur));
    }
}

static void test_id_new_real_clock_time_prefix(void **state)
{
    (void)state;
    /* sb_now_ms is the wall clock in epoch milliseconds: after 2020, before
     * 2100, and not going back between two close calls. */
    int64_t now = sb_now_ms();
    assert_true(now > INT64_C(1577836800000));
    assert_true(now < INT64_C(4102444800000));
    int64_t later = sb_now_ms();
    assert_true(later >= now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_new_at_fixed_width_and_time),
        cmocka_unit_test(test_id_new_at_equal_clock_increases),
        cmocka_unit_test(test_id_new_at_increasing_clock_increases),
        cmocka_unit_test(test_id_new_at_clock_back_still_increases),
        cmocka_unit_test(test_id_new_many_strictly_increasing),
        cmocka_unit_test(test_id_new_real_clock_time_prefix),
    };
    return cmocka_run_group_tests(tests, ids_setup, NULL);
}

/* Unit tests for core/util/ratelimit.c with an explicit clock: the bucket starts
 * full, refills at rate per second up to burst, and rate 0 turns it off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

static void test_ratelimit_take_starts_full(void **state)
{
    (void)state;
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 5, 1000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sb_ratelimit_take(&rl, 1, 5, 1000), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 5, 1000), 0);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 5, 1000), 0);
}

static void test_ratelimit_take_refills_at_rate(void **state)
{
    (void)state;
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 2, 0);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 0), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 0), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 0), 0);
    /* 10 per second: one token every 100 ms. */
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 50), 0);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 100), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 100), 0);
    assert_int_equal(sb_ratelimit_take(&rl, 10, 2, 200), 1);
}

static void test_ratelimit_take_caps_at_burst(void **state)
{
    (void)state;
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 3, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sb_ratelimit_take(&rl, 100, 3, 0), 1);
    /* An hour idle refills only up to burst. */
    int64_t t = 3600 * 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(sb_ratelimit_take(&rl, 100, 3, t), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 100, 3, t), 0);
}

static void test_ratelimit_take_rate_zero_is_off(void **state)
{
    (void)state;
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 1, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(sb_ratelimit_take(&rl, 0, 1, 0), 1);
}

static void test_ratelimit_take_sustained_rate(void **state)
{
    (void)state;
    /* 50/s with burst 100 over 10 s of a client sending every ms: exactly
     * burst + rate * 10 commands pass. */
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 100, 0);
    int passed = 0;
    for (int64_t t = 0; t < 10000; t++)
        passed += sb_ratelimit_take(&rl, 50, 100, t);
    assert_true(passed >= 100 + 499 && passed <= 100 + 500);
}

static void test_ratelimit_take_clock_back_refills_nothing(void **state)
{
    (void)state;
    sb_ratelimit rl;
    sb_ratelimit_init(&rl, 1, 10000);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 1, 10000), 1);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 1, 5000), 0);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 1, 5500), 0);
    assert_int_equal(sb_ratelimit_take(&rl, 1, 1, 6000), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_take_starts_full),
        cmocka_unit_test(test_ratelimit_take_refills_at_rate),
        cmocka_unit_test(test_ratelimit_take_caps_at_burst),
        cmocka_unit_test(test_ratelimit_take_rate_zero_is_off),
        cmocka_unit_test(test_ratelimit_take_sustained_rate),
        cmocka_unit_test(test_ratelimit_take_clock_back_refills_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

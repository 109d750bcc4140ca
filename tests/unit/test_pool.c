/* Unit tests for core/util/pool.c: objects come back zeroed and distinct,
 * freed ones are reused, emptied blocks are given back, and the small
 * allocations keep their bytes across a change of size class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pool.h"

#define N 1000

static void test_pool_alloc_zeroed_distinct_reused(void **state)
{
    (void)state;
    static sb_pool p = SB_POOL_INIT(40);
    static char *obj[N];
    assert_int_equal(p.size, 48);
    for (int i = 0; i < N; i++) {
        obj[i] = sb_pool_alloc(&p);
        assert_non_null(obj[i]);
        for (size_t k = 0; k < p.size; k++)
            assert_int_equal(obj[i][k], 0);
        memset(obj[i], 0xa5, p.size);
    }
    for (int i = 1; i < N; i++)
        assert_true(obj[i] >= obj[i - 1] + p.size || obj[i] + p.size <= obj[i - 1]);
    sb_pool_free(&p, obj[7]);
    char *again = sb_pool_alloc(&p);
    assert_non_null(again);
    for (size_t k = 0; k < p.size; k++)
        assert_int_equal(again[k], 0);
    obj[7] = again;
    for (int i = 0; i < N; i++)
        sb_pool_free(&p, obj[i]);
    assert_null(p.avail);
    assert_true(p.blocks <= 1); /* only the spare stays mapped */
    sb_pool_free(&p, NULL);
}

static void test_mem_realloc_keeps_bytes(void **state)
{
    (void)state;
    char *s = sb_mem_strdup("alice");
    assert_string_equal(s, "alice");
    uint32_t *a = sb_mem_realloc(NULL, 0, 2 * sizeof(*a));
    assert_non_null(a);
    a[0] = 1;
    a[1] = 2;
    for (size_t cap = 2; cap < 200; cap *= 2) { /* through the pools, then calloc */
        a = sb_mem_realloc(a, cap * sizeof(*a), 2 * cap * sizeof(*a));
        assert_non_null(a);
        assert_int_equal(a[0], 1);
        assert_int_equal(a[1], 2);
        a[cap] = (uint32_t)cap;
    }
    assert_int_equal(a[128], 128);
    sb_mem_free(a, 256 * sizeof(*a));
    assert_string_equal(s, "alice");
    sb_mem_strfree(s);
    sb_mem_strfree(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_alloc_zeroed_distinct_reused),
        cmocka_unit_test(test_mem_realloc_keeps_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

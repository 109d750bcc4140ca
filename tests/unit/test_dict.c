/* Unit tests for core/util/dict.c: string and uint64 maps, replace, delete,
 * growth past many keys, tombstone reuse, and deletion during iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dict.h"
#include "switchboard/plugin.h"

static int freed_count;

static void count_free(void *p)
{
    (void)p;
    freed_count++;
}

static void test_dict_set_get_string_keys(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    assert_non_null(d);
    int a = 1, b = 2;
    assert_null(sb_dict_get(d, "alice"));
    assert_int_equal(sb_dict_set(d, "alice", &a, NULL), SB_OK);
    assert_int_equal(sb_dict_set(d, "bob", &b, NULL), SB_OK);
    assert_ptr_equal(sb_dict_get(d, "alice"), &a);
    assert_ptr_equal(sb_dict_get(d, "bob"), &b);
    assert_null(sb_dict_get(d, "Alice"));
    assert_null(sb_dict_get(d, ""));
    assert_int_equal(sb_dict_count(d), 2);
    sb_dict_free(d, NULL);
}

static void test_dict_set_copies_key(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    char key[16];
    strcpy(key, "room-1");
    int v = 5;
    assert_int_equal(sb_dict_set(d, key, &v, NULL), SB_OK);
    strcpy(key, "zzzzzz");
    assert_ptr_equal(sb_dict_get(d, "room-1"), &v);
    assert_null(sb_dict_get(d, "zzzzzz"));
    sb_dict_free(d, NULL);
}

/* SB_DICT_BORROW keeps the caller's key: the entry is found by the bytes the
 * caller keeps, growth and deletes never free them. */
static void test_dict_set_borrow_keeps_caller_key(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(SB_DICT_BORROW);
    assert_non_null(d);
    static char keys[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof(keys[i]), "u%d", i);
        assert_int_equal(sb_dict_set(d, keys[i], keys[i], NULL), SB_OK);
    }
    assert_ptr_equal(sb_dict_get(d, "u42"), keys[42]);
    sb_dict_iter it;
    int seen = 0;
    for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);) {
        assert_ptr_equal(it.key, it.val); /* the very pointer given, not a copy */
        seen++;
    }
    assert_int_equal(seen, 100);
    assert_ptr_equal(sb_dict_del(d, "u7"), keys[7]);
    assert_string_equal(keys[7], "u7");
    assert_null(sb_dict_get(d, "u7"));
    assert_int_equal(sb_dict_count(d), 99);
    sb_dict_free(d, NULL);
}

static void test_dict_set_replace_returns_old(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    int a = 1, b = 2;
    void *old = &b;
    assert_int_equal(sb_dict_set(d, "k", &a, &old), SB_OK);
    assert_null(old);
    assert_int_equal(sb_dict_set(d, "k", &b, &old), SB_OK);
    assert_ptr_equal(old, &a);
    assert_ptr_equal(sb_dict_get(d, "k"), &b);
    assert_int_equal(sb_dict_count(d), 1);
    sb_dict_free(d, NULL);
}

static void test_dict_del_removes_and_returns_value(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    int a = 1;
    assert_int_equal(sb_dict_set(d, "x", &a, NULL), SB_OK);
    assert_ptr_equal(sb_dict_del(d, "x"), &a);
    assert_null(sb_dict_get(d, "x"));
    assert_null(sb_dict_del(d, "x"));
    assert_int_equal(sb_dict_count(d), 0);
    sb_dict_free(d, NULL);
}

static void test_dict_many_string_keys_grow(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    enum { N = 20000 };
    static int vals[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "user-%d", i);
        assert_int_equal(sb_dict_set(d, key, &vals[i], NULL), SB_OK);
    }
    assert_int_equal(sb_dict_count(d), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        int *v = sb_dict_get(d, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    /* Delete the even keys; the odd ones must stay reachable past tombstones. */
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof(key), "user-%d", i);
        assert_ptr_equal(sb_dict_del(d, key), &vals[i]);
    }
    assert_int_equal(sb_dict_count(d), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        if (i % 2)
            assert_ptr_equal(sb_dict_get(d, key), &vals[i]);
        else
            assert_null(sb_dict_get(d, key));
    }
    sb_dict_free(d, NULL);
}

static void test_dict_churn_reuses_tombstones(void **state)
{
    (void)state;
    /* Insert and delete many distinct keys while a few stay: lookups of the
     * survivors must keep working (tombstones get cleaned by rehashing). */
    sb_dict *d = sb_dict_new(1);
    int keep = 7, tmp = 9;
    for (uint64_t k = 1; k <= 4; k++)
        assert_int_equal(sb_dict_uset(d, k, &keep, NULL), SB_OK);
    for (uint64_t k = 100; k < 100000; k++) {
        assert_int_equal(sb_dict_uset(d, k, &tmp, NULL), SB_OK);
        assert_ptr_equal(sb_dict_udel(d, k), &tmp);
    }
    assert_int_equal(sb_dict_count(d), 4);
    for (uint64_t k = 1; k <= 4; k++)
        assert_ptr_equal(sb_dict_uget(d, k), &keep);
    assert_null(sb_dict_uget(d, 500));
    sb_dict_free(d, NULL);
}

static void test_dict_u64_keys(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(1);
    int a = 1, b = 2, c = 3;
    assert_int_equal(sb_dict_uset(d, 0, &a, NULL), SB_OK);
    assert_int_equal(sb_dict_uset(d, UINT64_MAX, &b, NULL), SB_OK);
    assert_int_equal(sb_dict_uset(d, 42, &c, NULL), SB_OK);
    assert_ptr_equal(sb_dict_uget(d, 0), &a);
    assert_ptr_equal(sb_dict_uget(d, UINT64_MAX), &b);
    assert_ptr_equal(sb_dict_uget(d, 42), &c);
    assert_null(sb_dict_uget(d, 43));
    void *old = NULL;
    assert_int_equal(sb_dict_uset(d, 42, &a, &old), SB_OK);
    assert_ptr_equal(old, &c);
    assert_ptr_equal(sb_dict_udel(d, 0), &a);
    assert_null(sb_dict_uget(d, 0));
    assert_int_equal(sb_dict_count(d), 2);
    /* String calls on a uint64 map are refused, not misread. */
    assert_null(sb_dict_get(d, "42"));
    assert_int_equal(sb_dict_set(d, "42", &a, NULL), SB_EINVAL);
    sb_dict_free(d, NULL);
}

static void test_dict_many_u64_keys(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(1);
    enum { N = 50000 };
    for (uint64_t i = 1; i <= N; i++)
        assert_int_equal(sb_dict_uset(d, i, (void *)(uintptr_t)(i * 3), NULL), SB_OK);
    assert_int_equal(sb_dict_count(d), N);
    for (uint64_t i = 1; i <= N; i++)
        assert_int_equal((uintptr_t)sb_dict_uget(d, i), i * 3);
    sb_dict_free(d, NULL);
}

static void test_dict_iter_visits_each_once(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    enum { N = 100 };
    static int vals[N];
    static int seen[N];
    memset(seen, 0, sizeof(seen));
    char key[16];
    for (int i = 0; i < N; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(sb_dict_set(d, key, &vals[i], NULL), SB_OK);
    }
    sb_dict_iter it;
    int n = 0;
    for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);) {
        int i = *(int *)it.val;
        snprintf(key, sizeof(key), "k%d", i);
        assert_string_equal(it.key, key);
        seen[i]++;
        n++;
    }
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    sb_dict_free(d, NULL);
}

static void test_dict_iter_del_during_iteration(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(1);
    enum { N = 1000 };
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(sb_dict_uset(d, i, (void *)(uintptr_t)(i + 1), NULL), SB_OK);
    /* Delete every multiple of 3 while iterating; every key is still seen once. */
    int visited = 0;
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);) {
        assert_int_equal((uintptr_t)it.val, it.ukey + 1);
        visited++;
        if (it.ukey % 3 == 0)
            sb_dict_iter_del(&it);
    }
    assert_int_equal(visited, N);
    assert_int_equal(sb_dict_count(d), N - (N + 2) / 3);
    for (uint64_t i = 0; i < N; i++) {
        if (i % 3 == 0)
            assert_null(sb_dict_uget(d, i));
        else
            assert_int_equal((uintptr_t)sb_dict_uget(d, i), i + 1);
    }
    sb_dict_free(d, NULL);
}

static void test_dict_iter_del_all_string_keys(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        assert_int_equal(sb_dict_set(d, key, NULL, NULL), SB_OK);
    }
    int visited = 0;
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);) {
        visited++;
        sb_dict_iter_del(&it);
        assert_null(it.key);
    }
    assert_int_equal(visited, 50);
    assert_int_equal(sb_dict_count(d), 0);
    /* The map is still usable afterwards. */
    assert_int_equal(sb_dict_set(d, "again", &visited, NULL), SB_OK);
    assert_ptr_equal(sb_dict_get(d, "again"), &visited);
    sb_dict_free(d, NULL);
}

static void test_dict_iter_empty_map(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    sb_dict_iter it;
    sb_dict_iter_init(&it, d);
    assert_int_equal(sb_dict_iter_next(&it), 0);
    sb_dict_free(d, NULL);
}

static void test_dict_free_calls_free_val(void **state)
{
    (void)state;
    sb_dict *d = sb_dict_new(0);
    int a, b, c;
    sb_dict_set(d, "a", &a, NULL);
    sb_dict_set(d, "b", &b, NULL);
    sb_dict_set(d, "c", &c, NULL);
    sb_dict_del(d, "b");
    freed_count = 0;
    sb_dict_free(d, count_free);
    assert_int_equal(freed_count, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_set_get_string_keys),
        cmocka_unit_test(test_dict_set_copies_key),
        cmocka_unit_test(test_dict_set_borrow_keeps_caller_key),
        cmocka_unit_test(test_dict_set_replace_returns_old),
        cmocka_unit_test(test_dict_del_removes_and_returns_value),
        cmocka_unit_test(test_dict_many_string_keys_grow),
        cmocka_unit_test(test_dict_churn_reuses_tombstones),
        cmocka_unit_test(test_dict_u64_keys),
        cmocka_unit_test(test_dict_many_u64_keys),
        cmocka_unit_test(test_dict_iter_visits_each_once),
        cmocka_unit_test(test_dict_iter_del_during_iteration),
        cmocka_unit_test(test_dict_iter_del_all_string_keys),
        cmocka_unit_test(test_dict_iter_empty_map),
        cmocka_unit_test(test_dict_free_calls_free_val),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the memory store's inbox table: ordering, all-or-none puts
 * under max_inbox, removal of exactly the named ids, paging, and references
 * that outlive removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <switchboard/plugin.h>

#include "store_memory_inbox.h"

static int store_memory_setup(void **state)
{
    *state = store_memory_table_new(3);
    return *state == NULL;
}

static int store_memory_teardown(void **state)
{
    store_memory_table_free(*state);
    return 0;
}

static void put1(store_memory_table *t, const char *user, const char *id, const char *json)
{
    const char *users[] = {user};
    assert_int_equal(store_memory_table_put(t, users, 1, id, json, strlen(json)), SB_OK);
}

static void free_msgs(store_memory_msg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_memory_msg_unref(msgs[i]);
    free(msgs);
}

static void test_store_memory_table_put_then_page(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01A", "{\"text\":\"hi\"}");
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 10, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(more, 0);
    assert_string_equal(msgs[0]->id, "01A");
    assert_string_equal(msgs[0]->json, "{\"text\":\"hi\"}");
    assert_int_equal(msgs[0]->len, strlen("{\"text\":\"hi\"}"));
    free_msgs(msgs, n);
    /* Someone else's inbox is empty. */
    assert_int_equal(store_memory_table_page(t, "bob2", NULL, 10, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 0);
    assert_null(msgs);
}

static void test_store_memory_table_put_any_order_pages_sorted(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01C", "c");
    put1(t, "bob", "01A", "a");
    put1(t, "bob", "01B", "b");
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 10, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 3);
    assert_string_equal(msgs[0]->id, "01A");
    assert_string_equal(msgs[1]->id, "01B");
    assert_string_equal(msgs[2]->id, "01C");
    assert_string_equal(msgs[2]->json, "c");
    free_msgs(msgs, n);
}

static void test_store_memory_table_put_full_stores_nothing(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01A", "a");
    put1(t, "bob", "01B", "b");
    put1(t, "bob", "01C", "c");
    const char *users[] = {"carol", "bob", "dave"};
    assert_int_equal(store_memory_table_put(t, users, 3, "01D", "d", 1), SB_EINBOX_FULL);
    assert_int_equal(store_memory_table_count(t, "bob"), 3);
    assert_int_equal(store_memory_table_count(t, "carol"), 0);
    assert_int_equal(store_memory_table_count(t, "dave"), 0);
    assert_int_equal(store_memory_table_users(t), 1); /* carol's empty inbox was undone */
    /* Without the full inbox the same put goes through. */
    const char *others[] = {"carol", "dave"};
    assert_int_equal(store_memory_table_put(t, others, 2, "01D", "d", 1), SB_OK);
    assert_int_equal(store_memory_table_count(t, "carol"), 1);
    assert_int_equal(store_memory_table_count(t, "dave"), 1);
}

static void test_store_memory_table_put_same_id_is_idempotent(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01A", "first");
    put1(t, "bob", "01B", "b");
    put1(t, "bob", "01C", "c");
    /* Full, but it already holds 01A: a retried put succeeds without a copy. */
    put1(t, "bob", "01A", "second");
    const char *twice[] = {"bob", "bob"};
    assert_int_equal(store_memory_table_put(t, twice, 2, "01B", "b", 1), SB_OK);
    assert_int_equal(store_memory_table_count(t, "bob"), 3);
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 1, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(more, 1);
    assert_string_equal(msgs[0]->json, "first");
    free_msgs(msgs, n);
}

static void test_store_memory_table_put_repeated_user_once(void **state)
{
    store_memory_table *t = *state;
    const char *users[] = {"bob", "carol", "bob"};
    assert_int_equal(store_memory_table_put(t, users, 3, "01A", "a", 1), SB_OK);
    assert_int_equal(store_memory_table_count(t, "bob"), 1);
    assert_int_equal(store_memory_table_count(t, "carol"), 1);
}

static void test_store_memory_table_remove_only_named(void **state)
{
    store_memory_table *t = *state;
    const char *users[] = {"bob", "carol"};
    assert_int_equal(store_memory_table_put(t, users, 2, "01A", "a", 1), SB_OK);
    put1(t, "bob", "01B", "b");
    put1(t, "bob", "01C", "c");
    const char *ids[] = {"01C", "nope", "01A", "01C"};
    store_memory_msg **removed;
    size_t n;
    assert_int_equal(store_memory_table_remove(t, "bob", ids, 4, &removed, &n), SB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(removed[0]->id, "01A");
    assert_string_equal(removed[1]->id, "01C");
    assert_string_equal(removed[1]->json, "c");
    free_msgs(removed, n);
    assert_int_equal(store_memory_table_count(t, "bob"), 1);
    /* carol's copy of 01A is hers: bob's read does not touch it. */
    assert_int_equal(store_memory_table_count(t, "carol"), 1);
    /* Someone else's ids are unknown to bob. */
    const char *carols[] = {"01A"};
    assert_int_equal(store_memory_table_remove(t, "bob", carols, 1, &removed, &n), SB_OK);
    assert_int_equal(n, 0);
    assert_null(removed);
    assert_int_equal(store_memory_table_count(t, "carol"), 1);
}

static void test_store_memory_table_remove_last_frees_inbox(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01A", "a");
    assert_int_equal(store_memory_table_users(t), 1);
    const char *ids[] = {"01A"};
    store_memory_msg **removed;
    size_t n;
    assert_int_equal(store_memory_table_remove(t, "bob", ids, 1, &removed, &n), SB_OK);
    assert_int_equal(n, 1);
    free_msgs(removed, n);
    assert_int_equal(store_memory_table_users(t), 0);
    assert_int_equal(store_memory_table_remove(t, "nobody", ids, 1, &removed, &n), SB_OK);
    assert_int_equal(n, 0);
}

static void test_store_memory_table_page_after_and_more(void **state)
{
    store_memory_table_free(*state);
    store_memory_table *t = *state = store_memory_table_new(100);
    char id[8];
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof(id), "01%c", 'A' + i - 1);
        put1(t, "bob", id, id);
    }
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 2, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(more, 1);
    assert_string_equal(msgs[1]->id, "01B");
    free_msgs(msgs, n);
    assert_int_equal(store_memory_table_page(t, "bob", "01B", 2, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(more, 1);
    assert_string_equal(msgs[0]->id, "01C");
    assert_string_equal(msgs[1]->id, "01D");
    free_msgs(msgs, n);
    assert_int_equal(store_memory_table_page(t, "bob", "01D", 2, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(more, 0);
    assert_string_equal(msgs[0]->id, "01E");
    free_msgs(msgs, n);
    /* An after that is not stored (read meanwhile) still splits correctly. */
    assert_int_equal(store_memory_table_page(t, "bob", "01BZ", 10, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 3);
    assert_string_equal(msgs[0]->id, "01C");
    free_msgs(msgs, n);
    assert_int_equal(store_memory_table_page(t, "bob", "01E", 10, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 0);
    assert_int_equal(more, 0);
    /* limit 0: nothing, but more says the rest is there. */
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 0, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 0);
    assert_int_equal(more, 1);
}

static void test_store_memory_table_page_survives_remove(void **state)
{
    store_memory_table *t = *state;
    put1(t, "bob", "01A", "kept alive");
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page(t, "bob", NULL, 10, &msgs, &n, &more), SB_OK);
    const char *ids[] = {"01A"};
    store_memory_msg **removed;
    size_t n_removed;
    assert_int_equal(store_memory_table_remove(t, "bob", ids, 1, &removed, &n_removed), SB_OK);
    free_msgs(removed, n_removed);
    store_memory_table_free(t);
    *state = NULL;
    /* The page's reference keeps the message (ASan would see a use after free). */
    assert_string_equal(msgs[0]->json, "kept alive");
    free_msgs(msgs, n);
}

static void test_store_memory_table_many_users(void **state)
{
    store_memory_table *t = *state;
    char user[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        put1(t, user, "01A", user);
    }
    assert_int_equal(store_memory_table_users(t), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        store_memory_msg **msgs;
        size_t n;
        int more;
        assert_int_equal(store_memory_table_page(t, user, NULL, 10, &msgs, &n, &more), SB_OK);
        assert_int_equal(n, 1);
        assert_string_equal(msgs[0]->json, user);
        free_msgs(msgs, n);
    }
}

/* Room history: the table keyed by room, trimmed by count and by age. */
static void test_store_memory_table_trim_keep_and_expiry(void **state)
{
    (void)state;
    store_memory_table *t = store_memory_table_new(SIZE_MAX);
    put1(t, "lobby", "01A", "{}");
    put1(t, "lobby", "01B", "{}");
    put1(t, "lobby", "01C", "{}");
    put1(t, "lobby", "01D", "{}");
    store_memory_table_trim(t, "lobby", 3, NULL);
    assert_int_equal(store_memory_table_count(t, "lobby"), 3);
    assert_false(store_memory_table_has(t, "lobby", "01A"));
    assert_true(store_memory_table_has(t, "lobby", "01B"));
    /* Everything before the cutoff goes, whatever keep allows. */
    store_memory_table_trim(t, "lobby", 10, "01C");
    assert_int_equal(store_memory_table_count(t, "lobby"), 2);
    assert_false(store_memory_table_has(t, "lobby", "01B"));
    store_memory_table_trim(t, "lobby", 10, "01Z");
    assert_int_equal(store_memory_table_users(t), 0);
    store_memory_table_free(t);
}

static void test_store_memory_table_page_before_newest_oldest_first(void **state)
{
    store_memory_table *t = *state;
    put1(t, "lobby", "01A", "{}");
    put1(t, "lobby", "01B", "{}");
    put1(t, "lobby", "01C", "{}");
    store_memory_msg **msgs;
    size_t n;
    int more;
    assert_int_equal(store_memory_table_page_before(t, "lobby", NULL, 2, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(more, 1);
    assert_string_equal(msgs[0]->id, "01B");
    assert_string_equal(msgs[1]->id, "01C");
    free_msgs(msgs, n);
    assert_int_equal(store_memory_table_page_before(t, "lobby", "01B", 5, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 1);
    assert_int_equal(more, 0);
    assert_string_equal(msgs[0]->id, "01A");
    free_msgs(msgs, n);
    assert_int_equal(store_memory_table_page_before(t, "lobby", "01A", 5, &msgs, &n, &more), SB_OK);
    assert_int_equal(n, 0);
    assert_int_equal(more, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, store_memory_setup, store_memory_teardown)
    const struct CMUnitTest tests[] = {
        T(test_store_memory_table_put_then_page),
        T(test_store_memory_table_put_any_order_pages_sorted),
        T(test_store_memory_table_put_full_stores_nothing),
        T(test_store_memory_table_put_same_id_is_idempotent),
        T(test_store_memory_table_put_repeated_user_once),
        T(test_store_memory_table_remove_only_named),
        T(test_store_memory_table_remove_last_frees_inbox),
        T(test_store_memory_table_page_after_and_more),
        T(test_store_memory_table_page_survives_remove),
        T(test_store_memory_table_many_users),
        T(test_store_memory_table_trim_keep_and_expiry),
        T(test_store_memory_table_page_before_newest_oldest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

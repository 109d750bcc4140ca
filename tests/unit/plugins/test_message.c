/* Unit tests of the message plugin's logic: recipient parsing (validation,
 * duplicates, max_recipients). Stamping is the host's: tests/unit/test_stamp.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message_rcpts.h"

/* The client_id rules of docs/protocol.md 1, as host->user_valid applies them. */
static int fake_user_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strcmp(s, "0") == 0)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@:-") == n;
}

static int parse_text(const char *to_json, size_t max, message_rcpts *out, size_t *n_distinct)
{
    cJSON *to = to_json != NULL ? cJSON_Parse(to_json) : NULL;
    if (to_json != NULL)
        assert_non_null(to);
    int rc = message_rcpts_parse(to, fake_user_valid, max, out, n_distinct);
    cJSON_Delete(to);
    return rc;
}

static void test_message_rcpts_parse_string(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("\"bob\"", 100, &r, NULL), MESSAGE_RCPTS_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.users[0], "bob");
    message_rcpts_free(&r);
    assert_null(r.users);
}

static void test_message_rcpts_parse_invalid_string(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("\"bo b\"", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("\"\"", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("\"0\"", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_null(r.users);
}

static void test_message_rcpts_parse_missing_or_wrong_type(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text(NULL, 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("7", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("{\"a\":1}", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("null", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_null(r.users);
}

static void test_message_rcpts_parse_empty_array(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("[]", 100, &r, NULL), MESSAGE_RCPTS_BAD);
}

static void test_message_rcpts_parse_bad_element(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("[\"bob\", 3]", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("[\"bob\", \"c d\"]", 100, &r, NULL), MESSAGE_RCPTS_BAD);
    assert_int_equal(parse_text("[\"bob\", null]", 100, &r, NULL), MESSAGE_RCPTS_BAD);
}

static void test_message_rcpts_parse_dedup_keeps_first_order(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(
        parse_text("[\"dave\",\"bob\",\"dave\",\"carol\",\"bob\",\"Bob\"]", 100, &r, NULL),
        MESSAGE_RCPTS_OK);
    assert_int_equal(r.n, 4);
    assert_string_equal(r.users[0], "dave");
    assert_string_equal(r.users[1], "bob");
    assert_string_equal(r.users[2], "carol");
    assert_string_equal(r.users[3], "Bob"); /* names are case-sensitive */
    message_rcpts_free(&r);
}

static void test_message_rcpts_parse_dedup_before_max(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("[\"a\",\"b\",\"a\",\"b\",\"a\"]", 2, &r, NULL), MESSAGE_RCPTS_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.users[0], "a");
    assert_string_equal(r.users[1], "b");
    message_rcpts_free(&r);
}

static void test_message_rcpts_parse_too_many(void **state)
{
    (void)state;
    message_rcpts r = {0};
    size_t n = 0;
    assert_int_equal(parse_text("[\"a\",\"b\",\"c\",\"a\"]", 2, &r, &n), MESSAGE_RCPTS_TOO_MANY);
    assert_int_equal(n, 3);
    assert_null(r.users);
    /* A single name over a limit of zero is still too many. */
    assert_int_equal(parse_text("\"a\"", 0, &r, &n), MESSAGE_RCPTS_TOO_MANY);
    assert_int_equal(n, 1);
}

static void test_message_rcpts_parse_bad_wins_over_too_many(void **state)
{
    (void)state;
    message_rcpts r = {0};
    assert_int_equal(parse_text("[\"a\",\"b\",\"c\",\"!\"]", 2, &r, NULL), MESSAGE_RCPTS_BAD);
}

static void test_message_rcpts_parse_many_with_duplicates(void **state)
{
    (void)state;
    /* 4000 entries, 1000 distinct names, each appearing four times. */
    cJSON *to = cJSON_CreateArray();
    char name[32];
    for (int round = 0; round < 4; round++) {
        for (int i = 999; i >= 0; i--) {
            snprintf(name, sizeof(name), "u%d", i);
            cJSON_AddItemToArray(to, cJSON_CreateString(name));
        }
    }
    message_rcpts r = {0};
    assert_int_equal(message_rcpts_parse(to, fake_user_valid, 1000, &r, NULL), MESSAGE_RCPTS_OK);
    assert_int_equal(r.n, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "u%d", 999 - i);
        assert_string_equal(r.users[i], name);
    }
    message_rcpts_free(&r);
    size_t n = 0;
    assert_int_equal(message_rcpts_parse(to, fake_user_valid, 999, &r, &n), MESSAGE_RCPTS_TOO_MANY);
    assert_int_equal(n, 1000);
    cJSON_Delete(to);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_rcpts_parse_string),
        cmocka_unit_test(test_message_rcpts_parse_invalid_string),
        cmocka_unit_test(test_message_rcpts_parse_missing_or_wrong_type),
        cmocka_unit_test(test_message_rcpts_parse_empty_array),
        cmocka_unit_test(test_message_rcpts_parse_bad_element),
        cmocka_unit_test(test_message_rcpts_parse_dedup_keeps_first_order),
        cmocka_unit_test(test_message_rcpts_parse_dedup_before_max),
        cmocka_unit_test(test_message_rcpts_parse_too_many),
        cmocka_unit_test(test_message_rcpts_parse_bad_wins_over_too_many),
        cmocka_unit_test(test_message_rcpts_parse_many_with_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

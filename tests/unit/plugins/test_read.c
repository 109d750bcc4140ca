/* Unit tests of the read plugin's logic: id list parsing (types, repeats,
 * impossible lengths), the sender lookup, and the reply and receipt shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "read_ids.h"

#define ID_A "01HF0000000000000000000000"
#define ID_B "01HF0000000000000000000001"

static char *print_delete(cJSON *j)
{
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static void test_read_ids_parse_rejects_non_arrays(void **state)
{
    (void)state;
    read_ids r = {0};
    assert_int_equal(read_ids_parse(NULL, 26, &r), READ_IDS_BAD);
    cJSON *s = cJSON_CreateString(ID_A);
    assert_int_equal(read_ids_parse(s, 26, &r), READ_IDS_BAD);
    cJSON_Delete(s);
    cJSON *mixed = cJSON_Parse("[\"" ID_A "\", 5]");
    assert_int_equal(read_ids_parse(mixed, 26, &r), READ_IDS_BAD);
    cJSON_Delete(mixed);
    assert_null(r.ids);
}

static void test_read_ids_parse_empty(void **state)
{
    (void)state;
    read_ids r = {0};
    cJSON *a = cJSON_CreateArray();
    assert_int_equal(read_ids_parse(a, 26, &r), READ_IDS_OK);
    assert_int_equal(r.n, 0);
    read_ids_free(&r);
    cJSON_Delete(a);
}

static void test_read_ids_parse_drops_repeats_and_bad_lengths(void **state)
{
    (void)state;
    read_ids r = {0};
    cJSON *a = cJSON_Parse("[\"" ID_B "\", \"short\", \"" ID_A "\", \"" ID_B "\", \"\"]");
    assert_int_equal(read_ids_parse(a, 26, &r), READ_IDS_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.ids[0], ID_A);
    assert_string_equal(r.ids[1], ID_B);
    read_ids_free(&r);
    assert_null(r.ids);
    cJSON_Delete(a);
}

static void test_read_sender_of_finds_from(void **state)
{
    (void)state;
    char out[65];
    const char *json = "{\"id\":\"x\",\"From\":\"eve\",\"from\":\"alice\",\"text\":\"hi\"}";
    assert_int_equal(read_sender_of(json, strlen(json), out, sizeof(out)), 0);
    assert_string_equal(out, "alice");
}

static void test_read_sender_of_missing_or_bad(void **state)
{
    (void)state;
    char out[8];
    const char *none = "{\"text\":\"hi\"}";
    assert_int_equal(read_sender_of(none, strlen(none), out, sizeof(out)), -1);
    const char *num = "{\"from\":5}";
    assert_int_equal(read_sender_of(num, strlen(num), out, sizeof(out)), -1);
    const char *junk = "{\"from\":";
    assert_int_equal(read_sender_of(junk, strlen(junk), out, sizeof(out)), -1);
    const char *longer = "{\"from\":\"abcdefgh\"}"; /* 8 chars do not fit 8 bytes */
    assert_int_equal(read_sender_of(longer, strlen(longer), out, sizeof(out)), -1);
    /* Only len bytes count: the sender is cut off here. */
    const char *cut = "{\"from\":\"alice\"}";
    assert_int_equal(read_sender_of(cut, 10, out, sizeof(out)), -1);
}

static void test_read_sender_of_stamped_prefix(void **state)
{
    (void)state;
    char out[65];
    /* The host's stamped shape: read without a parse. */
    const char *json = "{\"id\":\"" ID_A "\",\"from\":\"bob.b@x:1-2_3\",\"to\":\"al\",\"ts\":1}";
    assert_int_equal(read_sender_of(json, strlen(json), out, sizeof(out)), 0);
    assert_string_equal(out, "bob.b@x:1-2_3");
    /* An escape in the sender is not a stamped user name: the parse decides. */
    const char *esc = "{\"id\":\"x\",\"from\":\"a\\u0062\"}";
    assert_int_equal(read_sender_of(esc, strlen(esc), out, sizeof(out)), 0);
    assert_string_equal(out, "ab");
    /* Cut inside the sender: neither the prefix nor the parse finds one. */
    assert_int_equal(read_sender_of(json, 40, out, sizeof(out)), -1);
    /* The prefix's sender too long for out: refused, not truncated. */
    char small[4];
    assert_int_equal(read_sender_of(json, strlen(json), small, sizeof(small)), -1);
}

static void test_read_reply_new_lists_removed(void **state)
{
    (void)state;
    sb_stored removed[] = {{ID_A, "{}", 2}, {ID_B, "{}", 2}};
    char *text = print_delete(read_reply_new(removed, 2));
    assert_string_equal(text, "{\"ids\":[\"" ID_A "\",\"" ID_B "\"]}");
    free(text);
    text = print_delete(read_reply_new(NULL, 0));
    assert_string_equal(text, "{\"ids\":[]}");
    free(text);
}

static void test_read_receipt_new_shape(void **state)
{
    (void)state;
    char *text = print_delete(read_receipt_new(ID_A, "bob"));
    assert_string_equal(text, "{\"id\":\"" ID_A "\",\"by\":\"bob\",\"status\":\"read\"}");
    free(text);
}

static void test_read_receipt_text_matches_the_object(void **state)
{
    (void)state;
    char *want = print_delete(read_receipt_new(ID_A, "bob.smith@x:y-z_1"));
    char out[128];
    size_t n = read_receipt_text(ID_A, "bob.smith@x:y-z_1", out, sizeof(out));
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
    free(want);
    /* what the printer would escape, or no room: the caller builds the object */
    assert_int_equal(read_receipt_text(ID_A, "b\"ob", out, sizeof(out)), 0);
    assert_int_equal(read_receipt_text("a\\b", "bob", out, sizeof(out)), 0);
    assert_int_equal(read_receipt_text(ID_A, "b\nob", out, sizeof(out)), 0);
    assert_int_equal(read_receipt_text(ID_A, "bob", out, 40), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_ids_parse_rejects_non_arrays),
        cmocka_unit_test(test_read_ids_parse_empty),
        cmocka_unit_test(test_read_ids_parse_drops_repeats_and_bad_lengths),
        cmocka_unit_test(test_read_sender_of_finds_from),
        cmocka_unit_test(test_read_sender_of_missing_or_bad),
        cmocka_unit_test(test_read_sender_of_stamped_prefix),
        cmocka_unit_test(test_read_reply_new_lists_removed),
        cmocka_unit_test(test_read_receipt_new_shape),
        cmocka_unit_test(test_read_receipt_text_matches_the_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

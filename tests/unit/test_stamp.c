/* Unit tests for core/util/stamp.c (host->stamp): the exact key order the message,
 * rooms, broadcast and api plugins deliver, every copy of a stamped name
 * dropped, to/room absent vs present, and non-object or NULL data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_out.h"
#include "stamp.h"
#include "switchboard/plugin.h"

/* Assert that j prints as want, then free j. */
static void assert_json_delete(cJSON *j, const char *want)
{
    char *text = cJSON_PrintUnformatted(j);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    cJSON_Delete(j);
}

/* Stamp data_json (NULL: a NULL *data) as alice's message 01ID and assert
 * the result prints as want. */
static void assert_stamped(const char *data_json, const char *to_json, const char *room, int64_t ts,
                           const char *want)
{
    cJSON *data = data_json != NULL ? cJSON_Parse(data_json) : NULL;
    cJSON *to = to_json != NULL ? cJSON_Parse(to_json) : NULL;
    if (data_json != NULL)
        assert_non_null(data);
    if (to_json != NULL)
        assert_non_null(to);
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, room, ts), SB_OK);
    assert_true(cJSON_IsObject(data));
    cJSON_Delete(to);
    assert_json_delete(data, want);
}

static void test_stamp_direct_overrides_spoofed_fields(void **state)
{
    (void)state;
    /* The message plugin's form; names are case-sensitive ("From" stays). */
    assert_stamped("{\"id\":\"fake\",\"text\":\"hi\",\"from\":\"mallory\",\"ts\":1,"
                   "\"to\":\"eve\",\"From\":\"kept\",\"n\":[1,2]}",
                   "\"bob\"", NULL, 1732280000123LL,
                   "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":\"bob\","
                   "\"ts\":1732280000123,\"text\":\"hi\",\"From\":\"kept\","
                   "\"n\":[1,2]}");
}

static void test_stamp_to_array_copied_as_written(void **state)
{
    (void)state;
    cJSON *data = cJSON_Parse("{\"text\":\"x\"}");
    cJSON *to = cJSON_Parse("[\"bob\",\"carol\",\"bob\"]");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 1732280000123LL), SB_OK);
    /* to is borrowed: copied, still the caller's and unchanged. */
    assert_ptr_not_equal(cJSON_GetObjectItemCaseSensitive(data, "to"), to);
    assert_json_delete(to, "[\"bob\",\"carol\",\"bob\"]");
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":[\"bob\",\"carol\","
                             "\"bob\"],\"ts\":1732280000123,\"text\":\"x\"}");
}

static void test_stamp_room_keeps_client_to(void **state)
{
    (void)state;
    /* The rooms plugin's form: room stamped, a client "to" is only payload. */
    assert_stamped("{\"room\":\"other\",\"text\":\"hi\",\"from\":\"mallory\",\"id\":\"x\","
                   "\"ts\":1,\"to\":\"kept\"}",
                   NULL, "lobby", 7,
                   "{\"id\":\"01ID\",\"from\":\"alice\",\"room\":\"lobby\",\"ts\":7,"
                   "\"text\":\"hi\",\"to\":\"kept\"}");
}

static void test_stamp_neither_keeps_client_to_and_room(void **state)
{
    (void)state;
    /* The broadcast form: id, from, ts only. */
    assert_stamped("{\"ts\":1,\"text\":\"hi\",\"id\":\"x\",\"from\":\"mallory\","
                   "\"to\":\"kept\",\"room\":\"kept\",\"ID\":\"kept\"}",
                   NULL, NULL, 1732280000123LL,
                   "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":1732280000123,"
                   "\"text\":\"hi\",\"to\":\"kept\",\"room\":\"kept\",\"ID\":\"kept\"}");
}

static void test_stamp_to_and_room_in_that_order(void **state)
{
    (void)state;
    assert_stamped("{\"room\":\"x\",\"a\":1,\"to\":\"y\"}", "\"bob\"", "lobby", 3,
                   "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":\"bob\","
                   "\"room\":\"lobby\",\"ts\":3,\"a\":1}");
}

static void test_stamp_drops_every_copy_of_each_name(void **state)
{
    (void)state;
    /* A filter's output can repeat keys the parser refuses from a client. */
    const char *names[] = {"id", "from", "ts", "to", "room"};
    cJSON *data = cJSON_CreateObject();
    for (int copy = 0; copy < 3; copy++) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            assert_non_null(cJSON_AddStringToObject(data, names[i], "spoof"));
        assert_non_null(cJSON_AddNumberToObject(data, "n", copy));
    }
    cJSON *to = cJSON_CreateString("bob");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, "lobby", 5), SB_OK);
    cJSON_Delete(to);
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":\"bob\","
                             "\"room\":\"lobby\",\"ts\":5,\"n\":0,\"n\":1,\"n\":2}");
}

static void test_stamp_drops_member_without_key(void **state)
{
    (void)state;
    cJSON *data = cJSON_CreateObject();
    assert_non_null(cJSON_AddStringToObject(data, "a", "x"));
    cJSON_AddItemToArray(data, cJSON_CreateNumber(9)); /* linked with no key */
    assert_non_null(cJSON_AddStringToObject(data, "b", "y"));
    assert_int_equal(sb_stamp(&data, "01ID", "alice", NULL, NULL, 5), SB_OK);
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":5,\"a\":\"x\","
                             "\"b\":\"y\"}");
}

static void test_stamp_moves_members_not_copies(void **state)
{
    (void)state;
    cJSON *data = cJSON_Parse("{\"from\":\"x\",\"deep\":{\"k\":[1,{\"id\":2}]},\"s\":\"t\"}");
    assert_non_null(data);
    cJSON *deep = cJSON_GetObjectItemCaseSensitive(data, "deep");
    cJSON *s = cJSON_GetObjectItemCaseSensitive(data, "s");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", NULL, NULL, 5), SB_OK);
    assert_ptr_equal(cJSON_GetObjectItemCaseSensitive(data, "deep"), deep);
    assert_ptr_equal(cJSON_GetObjectItemCaseSensitive(data, "s"), s);
    /* Nested members named like stamps are payload, untouched. */
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":5,"
                             "\"deep\":{\"k\":[1,{\"id\":2}]},\"s\":\"t\"}");
}

static void test_stamp_non_object_data_counts_as_empty(void **state)
{
    (void)state;
    const char *values[] = {"\"not an object\"", "3", "[{\"a\":1}]", "null", "true"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_stamped(values[i], "\"bob\"", NULL, 5,
                       "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":\"bob\",\"ts\":5}");
    }
}

static void test_stamp_null_data_counts_as_empty(void **state)
{
    (void)state;
    assert_stamped(NULL, NULL, "lobby", 0,
                   "{\"id\":\"01ID\",\"from\":\"alice\",\"room\":\"lobby\",\"ts\":0}");
}

static void test_stamp_twice_is_stable(void **state)
{
    (void)state;
    /* The message plugin stamps before and after the filter chain: the second
     * stamp undoes a filter's change to a stamped field, keeps the order. */
    cJSON *data = cJSON_Parse("{\"text\":\"hi\",\"from\":\"x\"}");
    cJSON *to = cJSON_CreateString("bob");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 5), SB_OK);
    cJSON_ReplaceItemInObjectCaseSensitive(data, "from", cJSON_CreateString("filtered"));
    assert_non_null(cJSON_AddStringToObject(data, "extra", "e"));
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 5), SB_OK);
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":\"bob\",\"ts\":5,"
                             "\"text\":\"hi\",\"extra\":\"e\"}");
    cJSON_Delete(to);
}

static void test_stamp_already_stamped_is_kept(void **state)
{
    (void)state;
    /* Stamped once, unchanged: the second stamp keeps the very object. */
    cJSON *data = cJSON_Parse("{\"text\":\"hi\"}");
    cJSON *to = cJSON_Parse("[\"bob\",\"carol\"]");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 5), SB_OK);
    cJSON *first = data;
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 5), SB_OK);
    assert_ptr_equal(data, first);
    /* Any stamped value differing, or a stamped name further on: rebuilt. */
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to, NULL, 6), SB_OK);
    assert_ptr_not_equal(data, first);
    cJSON *to2 = cJSON_Parse("[\"bob\"]");
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to2, NULL, 6), SB_OK);
    assert_non_null(cJSON_AddStringToObject(data, "id", "spoof"));
    assert_int_equal(sb_stamp(&data, "01ID", "alice", to2, NULL, 6), SB_OK);
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"to\":[\"bob\"],\"ts\":6,"
                             "\"text\":\"hi\"}");
    /* With a room, kept too when unchanged. */
    data = NULL;
    assert_int_equal(sb_stamp(&data, "01ID", "alice", NULL, "lobby", 7), SB_OK);
    first = data;
    assert_int_equal(sb_stamp(&data, "01ID", "alice", NULL, "lobby", 7), SB_OK);
    assert_ptr_equal(data, first);
    assert_int_equal(sb_stamp(&data, "01ID", "alice", NULL, "hall", 7), SB_OK);
    assert_json_delete(data, "{\"id\":\"01ID\",\"from\":\"alice\",\"room\":\"hall\",\"ts\":7}");
    cJSON_Delete(to);
    cJSON_Delete(to2);
}

/* The view prints what stamping a copy prints, and leaves data as it was;
 * sb_stamp_print prints the view's bytes without building it. */
static void assert_view_as_stamp(const char *json, const cJSON *to, const char *room)
{
    cJSON *data = cJSON_Parse(json);
    char *before = cJSON_PrintUnformatted(data);
    cJSON *copy = cJSON_Duplicate(data, 1);
    assert_int_equal(sb_stamp(&copy, "01ID", "alice", to, room, 1700000000123), SB_OK);
    char *want = cJSON_PrintUnformatted(copy);
    cJSON *view = sb_stamp_view(data, "01ID", "alice", to, room, 1700000000123);
    assert_non_null(view);
    char *got = cJSON_PrintUnformatted(view);
    assert_string_equal(got, want);
    size_t view_len = 0, printed_len = 0;
    const char *view_text = sb_json_out(view, &view_len);
    assert_non_null(view_text);
    char *view_copy = strdup(view_text);
    const char *printed =
        sb_stamp_print(data, "01ID", "alice", to, room, 1700000000123, &printed_len);
    assert_non_null(printed);
    assert_int_equal(printed_len, view_len);
    assert_string_equal(printed, view_copy);
    free(view_copy);
    cJSON_Delete(view);
    char *after = cJSON_PrintUnformatted(data);
    assert_string_equal(after, before);
    free(before);
    free(after);
    free(want);
    free(got);
    cJSON_Delete(copy);
    cJSON_Delete(data);
}

static void test_stamp_view_prints_as_stamp(void **state)
{
    (void)state;
    cJSON *to = cJSON_Parse("[\"bob\",\"carol\"]");
    cJSON *one = cJSON_CreateString("bob");
    assert_view_as_stamp("{\"to\":\"bob\",\"t\":1,\"p\":\"x\\\"y\",\"n\":null,\"b\":true,"
                         "\"o\":{\"a\":[1,2.5,{\"k\":\"v\"}]},\"e\":[],\"id\":\"spoof\","
                         "\"from\":\"x\",\"ts\":3,\"from\":\"y\"}",
                         one, NULL);
    assert_view_as_stamp("{\"to\":[\"bob\",\"carol\"],\"body\":\"hi\"}", to, NULL);
    assert_view_as_stamp("{\"room\":\"spoof\",\"to\":\"kept\",\"body\":\"hi\"}", NULL, "lobby");
    assert_view_as_stamp("{}", NULL, NULL);
    /* Names near the stamped ones are kept; with neither to nor room both are. */
    assert_view_as_stamp("{\"i\":1,\"idx\":2,\"t\":3,\"tsx\":4,\"fr\":5,\"r\":6,\"rooms\":7,"
                         "\"to\":8,\"room\":9,\"msg_id\":10,\"sid\":\"a\",\"rid\":\"b\"}",
                         NULL, NULL);
    assert_view_as_stamp("{\"to\":8,\"room\":9,\"tox\":1,\"roomy\":2}", one, "lobby");
    assert_view_as_stamp("[1]", one, NULL);
    cJSON_Delete(to);
    cJSON_Delete(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamp_direct_overrides_spoofed_fields),
        cmocka_unit_test(test_stamp_to_array_copied_as_written),
        cmocka_unit_test(test_stamp_room_keeps_client_to),
        cmocka_unit_test(test_stamp_neither_keeps_client_to_and_room),
        cmocka_unit_test(test_stamp_to_and_room_in_that_order),
        cmocka_unit_test(test_stamp_drops_every_copy_of_each_name),
        cmocka_unit_test(test_stamp_drops_member_without_key),
        cmocka_unit_test(test_stamp_moves_members_not_copies),
        cmocka_unit_test(test_stamp_non_object_data_counts_as_empty),
        cmocka_unit_test(test_stamp_null_data_counts_as_empty),
        cmocka_unit_test(test_stamp_twice_is_stable),
        cmocka_unit_test(test_stamp_already_stamped_is_kept),
        cmocka_unit_test(test_stamp_view_prints_as_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the rooms plugin's builders: the room argument, presence,
 * join/leave replies and the ack. Stamping is the host's: tests/unit/test_stamp.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rooms_event.h"

static int fake_room_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static char *print_delete(cJSON *j)
{
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static void test_rooms_arg_valid(void **state)
{
    (void)state;
    cJSON *d = cJSON_Parse("{\"Room\":\"x\",\"room\":\"lobby\"}");
    const char *room = rooms_arg(d, fake_room_valid);
    assert_non_null(room);
    assert_string_equal(room, "lobby");
    cJSON_Delete(d);
}

static void test_rooms_arg_rejects(void **state)
{
    (void)state;
    const char *bad[] = {"{}",
                         "{\"room\":5}",
                         "{\"room\":\"\"}",
                         "{\"room\":\"a\\u0001b\"}",
                         "{\"room\":[\"lobby\"]}",
                         "{\"Room\":\"lobby\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *d = cJSON_Parse(bad[i]);
        assert_non_null(d);
        assert_null(rooms_arg(d, fake_room_valid));
        cJSON_Delete(d);
    }
    assert_null(rooms_arg(NULL, fake_room_valid));
}

static void test_rooms_presence_new_shape(void **state)
{
    (void)state;
    char *text = print_delete(rooms_presence_new("lobby", "alice", "join", ROOMS_ANNOUNCE));
    assert_string_equal(text, "{\"room\":\"lobby\",\"user\":\"alice\",\"event\":\"join\"}");
    free(text);
    text = print_delete(rooms_presence_new("lobby", "alice", "join", ROOMS_PAUSE));
    assert_string_equal(
        text, "{\"room\":\"lobby\",\"user\":\"alice\",\"event\":\"join\",\"presence\":false}");
    free(text);
    text = print_delete(rooms_presence_new("lobby", "bob", "leave", ROOMS_RESUME));
    assert_string_equal(
        text, "{\"room\":\"lobby\",\"user\":\"bob\",\"event\":\"leave\",\"presence\":true}");
    free(text);
}

/* presence_limit 3: a room has presence while it holds at most 3 users. */
static void test_rooms_announce_around_the_limit(void **state)
{
    (void)state;
    assert_int_equal(rooms_announce(3, 1, 1), ROOMS_ANNOUNCE);
    assert_int_equal(rooms_announce(3, 1, 3), ROOMS_ANNOUNCE);
    assert_int_equal(rooms_announce(3, 1, 4), ROOMS_PAUSE); /* the join that crosses */
    assert_int_equal(rooms_announce(3, 1, 5), ROOMS_SILENT);
    assert_int_equal(rooms_announce(3, 0, 4), ROOMS_SILENT);
    assert_int_equal(rooms_announce(3, 0, 3), ROOMS_RESUME); /* the leave back to the limit */
    assert_int_equal(rooms_announce(3, 0, 2), ROOMS_ANNOUNCE);
    assert_int_equal(rooms_announce(3, 0, 0), ROOMS_ANNOUNCE);
    /* 0: no limit */
    assert_int_equal(rooms_announce(0, 1, 1000000), ROOMS_ANNOUNCE);
    assert_int_equal(rooms_announce(0, 0, 1000000), ROOMS_ANNOUNCE);
    assert_false(rooms_crowded(0, 1000000));
    assert_false(rooms_crowded(3, 3));
    assert_true(rooms_crowded(3, 4));
}

static void test_rooms_join_reply_new_shape(void **state)
{
    (void)state;
    cJSON *users = cJSON_Parse("[\"alice\",\"bob\"]");
    char *text = print_delete(rooms_join_reply_new("lobby", users, 0));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[\"alice\",\"bob\"]}");
    free(text);
    text = print_delete(rooms_join_reply_new("lobby", NULL, 0));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[]}");
    free(text);
    /* crowded: nobody listed (the list handed in is freed), the flag set */
    users = cJSON_Parse("[\"alice\",\"bob\"]");
    text = print_delete(rooms_join_reply_new("lobby", users, 1));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[],\"presence\":false}");
    free(text);
    text = print_delete(rooms_join_reply_new("lobby", NULL, 1));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[],\"presence\":false}");
    free(text);
}

static void test_rooms_leave_reply_and_ack_shape(void **state)
{
    (void)state;
    char *text = print_delete(rooms_leave_reply_new("lobby"));
    assert_string_equal(text, "{\"room\":\"lobby\"}");
    free(text);
    text = print_delete(rooms_ack_new("01ID", 1732280000123LL));
    assert_string_equal(text, "{\"id\":\"01ID\",\"ts\":1732280000123}");
    free(text);
}

static void test_rooms_id_arg_absent_valid_and_bad(void **state)
{
    (void)state;
    cJSON *d = cJSON_Parse("{\"since\":\"01HF\",\"n\":null,\"x\":5,\"e\":\"\","
                           "\"long\":\"123456789012345678901234567\"}");
    const char *id;
    assert_int_equal(rooms_id_arg(d, "since", &id), 0);
    assert_string_equal(id, "01HF");
    assert_int_equal(rooms_id_arg(d, "missing", &id), 0);
    assert_null(id);
    assert_int_equal(rooms_id_arg(d, "n", &id), 0);
    assert_null(id);
    assert_int_equal(rooms_id_arg(d, "x", &id), -1);
    assert_int_equal(rooms_id_arg(d, "e", &id), -1);
    assert_int_equal(rooms_id_arg(d, "long", &id), -1);
    cJSON_Delete(d);
}

static void test_rooms_history_cutoff_is_id_time_prefix(void **state)
{
    (void)state;
    char out[11];
    assert_null(rooms_history_cutoff(1000, 0, out));
    /* 1 ms past the epoch is the id prefix 0000000001. */
    assert_string_equal(rooms_history_cutoff(1001, 1000, out), "0000000001");
    assert_string_equal(rooms_history_cutoff(5, 1000, out), "0000000000");
    /* 2^48 - 1 ms, the largest id time, is 7ZZZZZZZZZ. */
    assert_string_equal(rooms_history_cutoff(281474976710655 + 10, 10, out), "7ZZZZZZZZZ");
    /* A ULID prefix: 2024-12-06T15:46:39.999Z. */
    assert_string_equal(rooms_history_cutoff(1733500000000, 1, out), "01JEEADNQZ");
}

static void test_rooms_history_reply_new_drops_expired_and_foreign(void **state)
{
    (void)state;
    sb_stored msgs[] = {
        {.id = "00000000010000000000000000", .json = "{\"n\":1}", .len = 7},
        {.id = "00000000030000000000000000", .json = "[1]", .len = 3},
        {.id = "00000000040000000000000000", .json = "{\"n\":4}", .len = 7},
    };
    char *text = print_delete(rooms_history_reply_new("lobby", msgs, 3, NULL, 1));
    assert_string_equal(text,
                        "{\"room\":\"lobby\",\"messages\":[{\"n\":1},{\"n\":4}],\"more\":true}");
    free(text);
    text = print_delete(rooms_history_reply_new("lobby", msgs, 3, "0000000002", 1));
    assert_string_equal(text, "{\"room\":\"lobby\",\"messages\":[{\"n\":4}],\"more\":false}");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms_arg_valid),
        cmocka_unit_test(test_rooms_arg_rejects),
        cmocka_unit_test(test_rooms_presence_new_shape),
        cmocka_unit_test(test_rooms_announce_around_the_limit),
        cmocka_unit_test(test_rooms_join_reply_new_shape),
        cmocka_unit_test(test_rooms_leave_reply_and_ack_shape),
        cmocka_unit_test(test_rooms_id_arg_absent_valid_and_bad),
        cmocka_unit_test(test_rooms_history_cutoff_is_id_time_prefix),
        cmocka_unit_test(test_rooms_history_reply_new_drops_expired_and_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

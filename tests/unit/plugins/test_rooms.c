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
    char *text = print_delete(rooms_presence_new("lobby", "alice", "join"));
    assert_string_equal(text, "{\"room\":\"lobby\",\"user\":\"alice\",\"event\":\"join\"}");
    free(text);
}

static void test_rooms_join_reply_new_shape(void **state)
{
    (void)state;
    cJSON *users = cJSON_Parse("[\"alice\",\"bob\"]");
    char *text = print_delete(rooms_join_reply_new("lobby", users));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[\"alice\",\"bob\"]}");
    free(text);
    text = print_delete(rooms_join_reply_new("lobby", NULL));
    assert_string_equal(text, "{\"room\":\"lobby\",\"users\":[]}");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms_arg_valid),
        cmocka_unit_test(test_rooms_arg_rejects),
        cmocka_unit_test(test_rooms_presence_new_shape),
        cmocka_unit_test(test_rooms_join_reply_new_shape),
        cmocka_unit_test(test_rooms_leave_reply_and_ack_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

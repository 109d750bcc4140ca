/* Unit tests of broadcast stamping and its ack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "broadcast_stamp.h"

static char *print_delete(cJSON *j)
{
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static void test_broadcast_stamp_overrides_spoofed(void **state)
{
    (void)state;
    cJSON *d = cJSON_Parse("{\"ts\":1,\"text\":\"hi\",\"id\":\"x\",\"from\":\"mallory\","
                           "\"to\":\"kept\",\"room\":\"kept\",\"ID\":\"kept\"}");
    assert_int_equal(broadcast_stamp(&d, "01ID", "alice", 1732280000123LL), 0);
    char *text = print_delete(d);
    assert_string_equal(text, "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":1732280000123,"
                              "\"text\":\"hi\",\"to\":\"kept\",\"room\":\"kept\",\"ID\":\"kept\"}");
    free(text);
}

static void test_broadcast_stamp_duplicates_and_non_objects(void **state)
{
    (void)state;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "ts", 1);
    cJSON_AddNumberToObject(d, "ts", 2);
    assert_int_equal(broadcast_stamp(&d, "01ID", "alice", 9), 0);
    char *text = print_delete(d);
    assert_string_equal(text, "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":9}");
    free(text);
    d = cJSON_CreateArray();
    assert_int_equal(broadcast_stamp(&d, "01ID", "alice", 9), 0);
    text = print_delete(d);
    assert_string_equal(text, "{\"id\":\"01ID\",\"from\":\"alice\",\"ts\":9}");
    free(text);
}

static void test_broadcast_ack_new_shape(void **state)
{
    (void)state;
    char *text = print_delete(broadcast_ack_new("01ID", 1732280000123LL));
    assert_string_equal(text, "{\"id\":\"01ID\",\"ts\":1732280000123}");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_stamp_overrides_spoofed),
        cmocka_unit_test(test_broadcast_stamp_duplicates_and_non_objects),
        cmocka_unit_test(test_broadcast_ack_new_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the broadcast ack. Stamping is the host's: tests/unit/test_stamp.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "broadcast_ack.h"

static char *print_delete(cJSON *j)
{
    assert_non_null(j);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
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
        cmocka_unit_test(test_broadcast_ack_new_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the native codec's ref echo: integers as printf's "%.0f"
 * writes them, without going through printf for the common ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "native.h"

static void assert_ref(double v)
{
    char want[24]; /* the size the codec gives a numeric ref */
    snprintf(want, sizeof(want), "%.0f", v);
    cJSON *ref = cJSON_CreateNumber(v);
    char *got = sb_native_ref_json(ref);
    assert_non_null(got);
    assert_string_equal(got, want);
    cJSON_free(got);
    cJSON_Delete(ref);
}

static void test_native_ref_integers_as_printf(void **state)
{
    (void)state;
    const double v[] = {0.0,
                        -0.0,
                        1.0,
                        9.0,
                        10.0,
                        -1.0,
                        -10.0,
                        1234567890.0,
                        9007199254740991.0,
                        -9007199254740991.0,
                        9007199254740992.0,
                        1e300,
                        2.5,
                        -2.5,
                        0.4};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_ref(v[i]);
}

static void test_native_ref_string_and_none(void **state)
{
    (void)state;
    cJSON *ref = cJSON_CreateString("a\"b");
    char *got = sb_native_ref_json(ref);
    assert_string_equal(got, "\"a\\\"b\"");
    cJSON_free(got);
    cJSON_Delete(ref);
    assert_null(sb_native_ref_json(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_ref_integers_as_printf),
        cmocka_unit_test(test_native_ref_string_and_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for core/routing/membership.c's merge of this node's user list with the
 * bus's: sorted, each name once, non-strings ignored, inputs untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "membership.h"

static char *merged_text(const char *a, const char *b)
{
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    assert_non_null(ja);
    assert_non_null(jb);
    cJSON *m = sb_membership_merge_new(ja, jb);
    assert_non_null(m);
    char *text = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return text;
}

static void expect_merge(const char *a, const char *b, const char *want)
{
    char *got = merged_text(a, b);
    assert_string_equal(got, want);
    free(got);
}

static void test_membership_merge_sorts_and_dedupes(void **state)
{
    (void)state;
    expect_merge("[\"carol\",\"alice\"]", "[\"bob\",\"alice\",\"dave\"]",
                 "[\"alice\",\"bob\",\"carol\",\"dave\"]");
}

static void test_membership_merge_empty_sides(void **state)
{
    (void)state;
    expect_merge("[]", "[]", "[]");
    expect_merge("[\"x\"]", "[]", "[\"x\"]");
    expect_merge("[]", "[\"x\",\"x\"]", "[\"x\"]");
}

static void test_membership_merge_ignores_non_strings(void **state)
{
    (void)state;
    expect_merge("[1,null,\"b\"]", "[{\"a\":1},\"a\",[\"z\"]]", "[\"a\",\"b\"]");
}

static void test_membership_merge_byte_order(void **state)
{
    (void)state;
    /* strcmp order: upper case before lower case, as the registry sorts. */
    expect_merge("[\"bob\"]", "[\"Bob\",\"_x\",\"0\"]", "[\"0\",\"Bob\",\"_x\",\"bob\"]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership_merge_sorts_and_dedupes),
        cmocka_unit_test(test_membership_merge_empty_sides),
        cmocka_unit_test(test_membership_merge_ignores_non_strings),
        cmocka_unit_test(test_membership_merge_byte_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

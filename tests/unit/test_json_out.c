/* sb_json_out must print what cJSON_PrintUnformatted prints, byte for byte,
 * so the faster path changes nothing a client sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_out.h"

/* sb_json_out(j) is cJSON_PrintUnformatted(j); j is deleted. */
static void same_as_cjson_tree(cJSON *j)
{
    assert_non_null(j);
    char *want = cJSON_PrintUnformatted(j);
    size_t len = 0;
    const char *got = sb_json_out(j, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    cJSON_free(want);
    cJSON_Delete(j);
}

static void same_as_cjson(const char *text)
{
    same_as_cjson_tree(cJSON_Parse(text));
}

static void test_json_out_matches_cjson_numbers(void **state)
{
    (void)state;
    same_as_cjson("{\"ts\":1795453353900,\"n\":-42,\"z\":0,\"i\":4294967296}");
    same_as_cjson("[0.1,1.5,-2.25,3.14159265358979,1e300,-1e-300,123456789012345678901234]");
    same_as_cjson("[1e22,2147483647,-2147483648,-0.5]");
}

/* Where cJSON 1.7.15 rounds to 15 digits within epsilon, we stay exact. */
static void test_json_out_numbers_round_trip_exactly(void **state)
{
    (void)state;
    const double values[] = {9007199254740991.0, -9007199254740991.0, 0.30000000000000004,
                             1795453353900123.0, 2.0000000000000004};
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
        cJSON *n = cJSON_CreateNumber(values[i]);
        size_t len;
        const char *got = sb_json_out(n, &len);
        assert_non_null(got);
        assert_true(strtod(got, NULL) == values[i]);
        cJSON_Delete(n);
    }
    cJSON *n = cJSON_CreateNumber(9007199254740991.0);
    size_t len;
    assert_string_equal(sb_json_out(n, &len), "9007199254740991");
    cJSON_Delete(n);
}

static void test_json_out_matches_cjson_strings(void **state)
{
    (void)state;
    same_as_cjson("{\"s\":\"quote \\\" back \\\\ nl \\n tab \\t cr \\r bs \\b ff \\f\"}");
    same_as_cjson("{\"ctl\":\"\\u0001\\u001f\",\"utf8\":\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"}");
    same_as_cjson("{\"k\\\"ey\":\"v\",\"\":\"\"}");
}

/* Strings are checked eight bytes at a time and names a byte at a time up
 * to 24: a byte to escape at every place, plain runs of every length up to
 * 40, as values and as names. */
static void test_json_out_escapes_at_every_offset(void **state)
{
    (void)state;
    static const char specials[] = {'"', '\\', '\n', 0x01, 0x1f};
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                char s[48];
                for (size_t i = 0; i < len; i++)
                    s[i] = (char)('a' + (i % 26));
                if (at < len)
                    s[at] = specials[k];
                s[len] = '\0';
                cJSON *j = (k + len) % 2 ? cJSON_CreateString(s) : cJSON_CreateObject();
                assert_non_null(j);
                if (cJSON_IsObject(j)) /* as a member's name, after another member */
                    assert_true(cJSON_AddNullToObject(j, "a") && cJSON_AddTrueToObject(j, s));
                same_as_cjson_tree(j);
            }
        }
    }
}

static void test_json_out_matches_cjson_nesting(void **state)
{
    (void)state;
    same_as_cjson(
        "{\"a\":[],\"o\":{},\"n\":null,\"t\":true,\"f\":false,\"x\":[[1,[2,{\"y\":[]}]]]}");
    same_as_cjson("[]");
    same_as_cjson("\"just a string\"");
}

static void test_json_out_raw_and_depth(void **state)
{
    (void)state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddRawToObject(o, "r", "[1,2]");
    size_t len;
    const char *got = sb_json_out(o, &len);
    assert_string_equal(got, "{\"r\":[1,2]}");
    cJSON_Delete(o);
    cJSON *deep = cJSON_CreateArray(), *cur = deep;
    for (int i = 0; i < 1100; i++) {
        cJSON *n = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, n);
        cur = n;
    }
    assert_null(sb_json_out(deep, &len));
    cJSON_Delete(deep);
    sb_json_out_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_out_matches_cjson_numbers),
        cmocka_unit_test(test_json_out_numbers_round_trip_exactly),
        cmocka_unit_test(test_json_out_matches_cjson_strings),
        cmocka_unit_test(test_json_out_escapes_at_every_offset),
        cmocka_unit_test(test_json_out_matches_cjson_nesting),
        cmocka_unit_test(test_json_out_raw_and_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for core/protocol/envelope.c: every check of docs/protocol.md section 2 (the
 * U+0000 escape, duplicate keys at any depth, case-sensitive keys, ref and
 * data types, trailing bytes) and the same rules in sb_json_parse_strict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "switchboard/plugin.h"

typedef struct result {
    int rc;
    const char *code;
    const char *why;
    sb_envelope env;
} result;

static result parse(const char *text)
{
    result r;
    r.code = "unset";
    r.why = "unset";
    r.rc = sb_envelope_parse(text, strlen(text), &r.env, &r.code, &r.why);
    return r;
}

static void assert_rejected(const char *text, const char *code, const char *why)
{
    result r = parse(text);
    if (r.rc != SB_EPROTO)
        fail_msg("accepted: %s", text);
    assert_string_equal(r.code, code);
    if (why)
        assert_string_equal(r.why, why);
    assert_non_null(r.why);
    assert_null(strchr(r.why, '\n'));
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_full(void **state)
{
    (void)state;
    result r =
        parse("{\"type\": \"message\", \"ref\": 7, \"data\": {\"to\": \"bob\", \"text\": \"hi\"}}");
    assert_int_equal(r.rc, SB_OK);
    assert_string_equal(r.env.type, "message");
    assert_non_null(r.env.ref);
    assert_true(cJSON_IsNumber(r.env.ref));
    assert_int_equal(r.env.ref->valueint, 7);
    assert_non_null(r.env.data);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r.env.data, "to")->valuestring, "bob");
    sb_envelope_free(&r.env);
    assert_null(r.env.root);
}

static void test_envelope_parse_missing_data_adds_empty_object(void **state)
{
    (void)state;
    result r = parse("{\"type\":\"ping\"}");
    assert_int_equal(r.rc, SB_OK);
    assert_string_equal(r.env.type, "ping");
    assert_null(r.env.ref);
    assert_true(cJSON_IsObject(r.env.data));
    assert_null(r.env.data->child);
    /* It is part of the tree, not a separate allocation. */
    assert_ptr_equal(cJSON_GetObjectItemCaseSensitive(r.env.root, "data"), r.env.data);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_string_ref_and_whitespace(void **state)
{
    (void)state;
    result r = parse(" \r\n\t{\"ref\":\"abc\",\"type\":\"x\",\"data\":{}} \n");
    assert_int_equal(r.rc, SB_OK);
    assert_true(cJSON_IsString(r.env.ref));
    assert_string_equal(r.env.ref->valuestring, "abc");
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_ref_integer_limits(void **state)
{
    (void)state;
    const char *ok[] = {
        "{\"type\":\"x\",\"ref\":0}",
        "{\"type\":\"x\",\"ref\":-1}",
        "{\"type\":\"x\",\"ref\":1.0}",
        "{\"type\":\"x\",\"ref\":9007199254740991}",
        "{\"type\":\"x\",\"ref\":-9007199254740991}",
        "{\"type\":\"x\",\"ref\":1e3}",
        "{\"type\":\"x\",\"ref\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        result r = parse(ok[i]);
        if (r.rc != SB_OK)
            fail_msg("refused %s: %s", ok[i], r.why);
        assert_non_null(r.env.ref);
        sb_envelope_free(&r.env);
    }
}

static void test_envelope_parse_rejects_bad_ref(void **state)
{
    (void)state;
    const char *why = "ref must be a string or an integer below 2^53";
    assert_rejected("{\"type\":\"x\",\"ref\":1.5}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":9007199254740992}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":-9007199254740992}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":1e300}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":1e400}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":null}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":true}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":[1]}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"ref\":{}}", "bad_request", why);
    /* A bad ref is not echoed. */
    result r = parse("{\"type\":\"x\",\"ref\":1.5}");
    assert_null(r.env.ref);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_rejects_bad_type(void **state)
{
    (void)state;
    const char *why = "type must be a non-empty string";
    assert_rejected("{}", "bad_request", why);
    assert_rejected("{\"data\":{}}", "bad_request", why);
    assert_rejected("{\"type\":\"\"}", "bad_request", why);
    assert_rejected("{\"type\":7}", "bad_request", why);
    assert_rejected("{\"type\":null}", "bad_request", why);
    assert_rejected("{\"type\":[\"message\"]}", "bad_request", why);
    /* Keys are case-sensitive: Type is not type. */
    assert_rejected("{\"Type\":\"message\"}", "bad_request", why);
    assert_rejected("{\"TYPE\":\"message\"}", "bad_request", why);
}

static void test_envelope_parse_case_sensitive_keys(void **state)
{
    (void)state;
    /* Type and type are different keys: no duplicate, and type is the lowercase one. */
    result r = parse("{\"Type\":\"a\",\"type\":\"b\",\"Data\":5,\"REF\":1.5}");
    assert_int_equal(r.rc, SB_OK);
    assert_string_equal(r.env.type, "b");
    assert_null(r.env.ref);
    assert_true(cJSON_IsObject(r.env.data));
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_rejects_bad_data(void **state)
{
    (void)state;
    const char *why = "data must be an object";
    assert_rejected("{\"type\":\"x\",\"data\":[]}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":[1,2]}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":\"s\"}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":null}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":3}", "bad_request", why);
}

static void test_envelope_parse_rejects_non_object(void **state)
{
    (void)state;
    const char *why = "frame is not a JSON object";
    assert_rejected("[]", "bad_json", why);
    assert_rejected("[{\"type\":\"x\"}]", "bad_json", why);
    assert_rejected("\"message\"", "bad_json", why);
    assert_rejected("42", "bad_json", why);
    assert_rejected("null", "bad_json", why);
}

static void test_envelope_parse_rejects_invalid_json(void **state)
{
    (void)state;
    const char *why = "frame is not valid JSON";
    assert_rejected("", "bad_json", "empty frame");
    assert_rejected("   ", "bad_json", why);
    assert_rejected("{", "bad_json", why);
    assert_rejected("{\"type\":\"x\"", "bad_json", why);
    assert_rejected("{'type':'x'}", "bad_json", why);
    assert_rejected("hello", "bad_json", why);
    /* Trailing garbage after the object. */
    assert_rejected("{\"type\":\"x\"}x", "bad_json", why);
    assert_rejected("{\"type\":\"x\"}{}", "bad_json", why);
    assert_rejected("{\"type\":\"x\"} ,", "bad_json", why);
    /* cJSON would skip these as whitespace. */
    assert_rejected("{\"type\":\x01\"x\"}", "bad_json", why);
}

static void test_envelope_parse_rejects_raw_nul_byte(void **state)
{
    (void)state;
    /* Outside a string it is not JSON (cJSON would skip it as whitespace). */
    const char text[] = "{\"type\":\"x\"}\0\0";
    sb_envelope env;
    const char *code, *why;
    assert_int_equal(sb_envelope_parse(text, sizeof(text) - 1, &env, &code, &why), SB_EPROTO);
    assert_string_equal(code, "bad_json");
    sb_envelope_free(&env);
    /* Inside a string it is U+0000, like the escape. */
    const char text2[] = "{\"type\":\"x\",\"ref\":2,\"data\":{\"t\":\"a\0b\"}}";
    assert_int_equal(sb_envelope_parse(text2, sizeof(text2) - 1, &env, &code, &why), SB_EPROTO);
    assert_string_equal(code, "bad_request");
    assert_string_equal(why, "strings must not contain U+0000");
    assert_int_equal(env.ref->valueint, 2);
    sb_envelope_free(&env);
}

static void test_envelope_parse_raw_control_bytes_in_strings(void **state)
{
    (void)state;
    /* Not strict JSON, but harmless and accepted as cJSON does: a hand-written
     * frame with a literal newline in a text still goes through. */
    result r = parse("{\"type\":\"x\",\"data\":{\"text\":\"line1\nline2\tend\"}}");
    assert_int_equal(r.rc, SB_OK);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r.env.data, "text")->valuestring,
                        "line1\nline2\tend");
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_rejects_nul_escape(void **state)
{
    (void)state;
    const char *why = "strings must not contain U+0000";
    assert_rejected("{\"type\":\"x\",\"data\":{\"text\":\"a\\u0000b\"}}", "bad_request", why);
    assert_rejected("{\"type\":\"x\\u0000\"}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":{\"a\\u0000\":1}}", "bad_request", why);
    assert_rejected("{\"type\":\"x\",\"data\":{\"l\":[\"\\u0000\"]}}", "bad_request", why);
    /* After an escaped quote and an escaped backslash the scan still sees it. */
    assert_rejected("{\"type\":\"x\",\"data\":{\"t\":\"\\\"\\\\\\u0000\"}}", "bad_request", why);
}

static void test_envelope_parse_escaped_backslash_u0000_is_text(void **state)
{
    (void)state;
    /* JSON "a\\u0000b" is the 8 characters a \ u 0 0 0 0 b, not a NUL. */
    result r = parse("{\"type\":\"x\",\"data\":{\"text\":\"a\\\\u0000b\"}}");
    assert_int_equal(r.rc, SB_OK);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(r.env.data, "text");
    assert_string_equal(t->valuestring, "a\\u0000b");
    sb_envelope_free(&r.env);
    /* Other \u escapes are fine, including ones that start with zeros. */
    r = parse("{\"type\":\"x\",\"data\":{\"text\":\"\\u0001\\u00e9\\u0030\"}}");
    assert_int_equal(r.rc, SB_OK);
    t = cJSON_GetObjectItemCaseSensitive(r.env.data, "text");
    assert_string_equal(t->valuestring, "\x01\xc3\xa9"
                                        "0");
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_rejects_duplicate_keys(void **state)
{
    (void)state;
    assert_rejected("{\"type\":\"x\",\"type\":\"y\"}", "bad_request", "duplicate key \"type\"");
    assert_rejected(
        "{\"type\":\"message\",\"data\":{\"to\":\"bob\",\"from\":\"a\",\"from\":\"b\"}}",
        "bad_request", "duplicate key \"from\"");
    /* Nested deeper, inside arrays too. */
    assert_rejected("{\"type\":\"x\",\"data\":{\"a\":{\"b\":{\"c\":1,\"c\":2}}}}", "bad_request",
                    "duplicate key \"c\"");
    assert_rejected("{\"type\":\"x\",\"data\":{\"l\":[1,{\"k\":1,\"z\":0,\"k\":2}]}}",
                    "bad_request", "duplicate key \"k\"");
    assert_rejected("{\"type\":\"x\",\"data\":{},\"data\":{}}", "bad_request",
                    "duplicate key \"data\"");
}

/* A number beyond a double would be printed as null: refused, not changed. */
static void test_envelope_parse_rejects_huge_numbers(void **state)
{
    (void)state;
    const char *why = "a number is too large for a double (it would arrive as null)";
    assert_rejected("{\"type\":\"message\",\"data\":{\"to\":\"bob\",\"n\":1e400}}", "bad_request",
                    why);
    assert_rejected("{\"type\":\"x\",\"data\":{\"l\":[1,{\"k\":-2e999}]}}", "bad_request", why);
    const char *texts[] = {"1e400", "[1,1e309]", "{\"a\":{\"b\":-1e400}}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
        const char *w = NULL;
        assert_null(sb_json_parse_strict(texts[i], strlen(texts[i]), &w));
        assert_string_equal(w, why);
    }
    /* The largest finite double still passes. */
    const char *w = NULL;
    cJSON *j = sb_json_parse_strict("[1.7976931348623157e308]", 24, &w);
    assert_non_null(j);
    cJSON_Delete(j);
}

static void test_envelope_parse_empty_frame(void **state)
{
    (void)state;
    result r = {0};
    r.rc = sb_envelope_parse("", 0, &r.env, &r.code, &r.why);
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.code, "bad_json");
    assert_string_equal(r.why, "empty frame");
    sb_envelope_free(&r.env);
    r.rc = sb_envelope_parse(NULL, 0, &r.env, &r.code, &r.why);
    assert_string_equal(r.why, "empty frame");
    sb_envelope_free(&r.env);
}

/* {"type":"x","ref":7,"data":{"a":[[...]]}} with `levels` levels in all. */
static void nested(char *out, size_t cap, int levels)
{
    size_t n = (size_t)snprintf(out, cap, "{\"type\":\"x\",\"ref\":7,\"data\":{\"a\":");
    for (int i = 0; i < levels - 2; i++)
        out[n++] = '[';
    out[n++] = '1';
    for (int i = 0; i < levels - 2; i++)
        out[n++] = ']';
    snprintf(out + n, cap - n, "}}");
}

static void test_envelope_parse_depth_limit(void **state)
{
    (void)state;
    char text[4096];
    nested(text, sizeof(text), SB_JSON_MAX_DEPTH);
    result r = parse(text);
    assert_int_equal(r.rc, SB_OK);
    sb_envelope_free(&r.env);
    /* One level more: valid JSON, refused by the limit's name, ref kept. */
    nested(text, sizeof(text), SB_JSON_MAX_DEPTH + 1);
    r = parse(text);
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.code, "bad_request");
    assert_string_equal(r.why, "JSON nested deeper than 64 levels");
    assert_non_null(r.env.ref);
    assert_int_equal((int)r.env.ref->valuedouble, 7);
    sb_envelope_free(&r.env);
    /* Deeper than cJSON itself reads: still the limit, not "not valid JSON". */
    nested(text, sizeof(text), 1500);
    r = parse(text);
    assert_string_equal(r.code, "bad_request");
    assert_string_equal(r.why, "JSON nested deeper than 64 levels");
    assert_non_null(r.env.ref);
    assert_int_equal((int)r.env.ref->valuedouble, 7);
    sb_envelope_free(&r.env);
    const char *why = NULL;
    assert_null(sb_json_parse_strict(text, strlen(text), &why));
    assert_string_equal(why, "JSON nested deeper than 64 levels");
    /* Brackets inside strings are text. */
    char s[512];
    snprintf(s, sizeof(s), "{\"type\":\"x\",\"data\":{\"t\":\"%0200d\"}}", 0);
    memset(strchr(s, '0'), '[', 200);
    r = parse(s);
    assert_int_equal(r.rc, SB_OK);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_duplicate_in_large_object(void **state)
{
    (void)state;
    /* Enough keys for the sorted check. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"type\":\"x\",\"data\":{");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "\"k%d\":%d,", i, i);
    snprintf(text + n, sizeof(text) - n, "\"k123\":0}}");
    assert_rejected(text, "bad_request", "duplicate key \"k123\"");
    /* Without the duplicate it parses. */
    snprintf(text + n, sizeof(text) - n, "\"k200\":0}}");
    result r = parse(text);
    assert_int_equal(r.rc, SB_OK);
    assert_int_equal(cJSON_GetArraySize(r.env.data), 201);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_same_key_in_sibling_objects(void **state)
{
    (void)state;
    result r = parse(
        "{\"type\":\"x\",\"data\":{\"a\":{\"k\":1},\"b\":{\"k\":2},\"l\":[{\"k\":1},{\"k\":2}]}}");
    assert_int_equal(r.rc, SB_OK);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_keeps_valid_ref_on_error(void **state)
{
    (void)state;
    result r = parse("{\"type\":\"x\",\"ref\":9,\"data\":[]}");
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.code, "bad_request");
    assert_non_null(r.env.ref);
    assert_int_equal(r.env.ref->valueint, 9);
    sb_envelope_free(&r.env);

    r = parse("{\"ref\":\"q1\",\"type\":\"\"}");
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.env.ref->valuestring, "q1");
    sb_envelope_free(&r.env);

    r = parse("{\"ref\":3,\"type\":\"x\",\"data\":{\"t\":\"\\u0000\"}}");
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.why, "strings must not contain U+0000");
    assert_int_equal(r.env.ref->valueint, 3);
    sb_envelope_free(&r.env);

    r = parse("{\"ref\":4,\"type\":\"x\",\"data\":{\"a\":1,\"a\":1}}");
    assert_int_equal(r.rc, SB_EPROTO);
    assert_int_equal(r.env.ref->valueint, 4);
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_duplicate_reason_is_one_short_line(void **state)
{
    (void)state;
    char text[1024];
    char key[400];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"type\":\"x\",\"%s\":1,\"%s\":2}", key, key);
    result r = parse(text);
    assert_int_equal(r.rc, SB_EPROTO);
    assert_true(strlen(r.why) < 160);
    assert_memory_equal(r.why, "duplicate key \"kkk", 18);
    assert_non_null(strstr(r.why, "...\""));
    sb_envelope_free(&r.env);
    /* A newline inside the key (escaped in JSON) does not reach the reason. */
    r = parse("{\"type\":\"x\",\"a\\nb\":1,\"a\\nb\":2}");
    assert_int_equal(r.rc, SB_EPROTO);
    assert_string_equal(r.why, "duplicate key \"a?b\"");
    sb_envelope_free(&r.env);
}

static void test_envelope_parse_rejects_invalid_utf8(void **state)
{
    (void)state;
    assert_rejected("{\"type\":\"\xc0\xaf\"}", "bad_json", NULL);
    assert_rejected("{\"type\":\"\xed\xa0\x80\"}", "bad_json", NULL);
}

static void test_json_parse_strict_accepts_any_json(void **state)
{
    (void)state;
    const char *why = "unset";
    const char *text = "[1, {\"a\": \"\xc3\xa9\"}, \"x\"]";
    cJSON *j = sb_json_parse_strict(text, strlen(text), &why);
    assert_non_null(j);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 3);
    cJSON_Delete(j);
    j = sb_json_parse_strict("\"s\" ", 4, &why);
    assert_non_null(j);
    assert_string_equal(j->valuestring, "s");
    cJSON_Delete(j);
}

static void test_json_parse_strict_rejects(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"{\"to\":\"bob\",\"to\":\"eve\"}", "duplicate key \"to\""},
        {"[{\"a\":{\"b\":1,\"b\":1}}]", "duplicate key \"b\""},
        {"{\"t\":\"\\u0000\"}", "strings must not contain U+0000"},
        {"{\"t\":\"\xff\"}", "text is not valid UTF-8"},
        {"{\"t\":\"\xe2\x82\"}", "text is not valid UTF-8"},
        {"{\"t\":1} x", "text is not valid JSON"},
        {"{\"t\":", "text is not valid JSON"},
        {"", "text is not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        cJSON *j = sb_json_parse_strict(cases[i].text, strlen(cases[i].text), &why);
        if (j)
            fail_msg("accepted: %s", cases[i].text);
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
    }
    const char *why = NULL;
    assert_null(sb_json_parse_strict("{\"a\\\\u0000\":1,\"b\":\"\\\\u0000\"}x", 29, &why));
    cJSON *j = sb_json_parse_strict("{\"a\\\\u0000\":1,\"b\":\"\\\\u0000\"}x", 28, &why);
    assert_non_null(j);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "a\\u0000"));
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_parse_full),
        cmocka_unit_test(test_envelope_parse_missing_data_adds_empty_object),
        cmocka_unit_test(test_envelope_parse_string_ref_and_whitespace),
        cmocka_unit_test(test_envelope_parse_ref_integer_limits),
        cmocka_unit_test(test_envelope_parse_rejects_bad_ref),
        cmocka_unit_test(test_envelope_parse_rejects_bad_type),
        cmocka_unit_test(test_envelope_parse_case_sensitive_keys),
        cmocka_unit_test(test_envelope_parse_rejects_bad_data),
        cmocka_unit_test(test_envelope_parse_rejects_non_object),
        cmocka_unit_test(test_envelope_parse_rejects_invalid_json),
        cmocka_unit_test(test_envelope_parse_rejects_raw_nul_byte),
        cmocka_unit_test(test_envelope_parse_raw_control_bytes_in_strings),
        cmocka_unit_test(test_envelope_parse_rejects_nul_escape),
        cmocka_unit_test(test_envelope_parse_escaped_backslash_u0000_is_text),
        cmocka_unit_test(test_envelope_parse_rejects_duplicate_keys),
        cmocka_unit_test(test_envelope_parse_rejects_huge_numbers),
        cmocka_unit_test(test_envelope_parse_empty_frame),
        cmocka_unit_test(test_envelope_parse_depth_limit),
        cmocka_unit_test(test_envelope_parse_duplicate_in_large_object),
        cmocka_unit_test(test_envelope_parse_same_key_in_sibling_objects),
        cmocka_unit_test(test_envelope_parse_keeps_valid_ref_on_error),
        cmocka_unit_test(test_envelope_parse_duplicate_reason_is_one_short_line),
        cmocka_unit_test(test_envelope_parse_rejects_invalid_utf8),
        cmocka_unit_test(test_json_parse_strict_accepts_any_json),
        cmocka_unit_test(test_json_parse_strict_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

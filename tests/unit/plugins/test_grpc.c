/* Unit tests of the grpc plugin's pure parts: the Any conversion (grpc_any.c)
 * that decides what WebSocket clients see in `message`, and the allow_from
 * CIDR list (grpc_allow.c). Messages are built with the generated protobuf-c
 * code, as a client's library would encode them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "grpc_allow.h"
#include "grpc_any.h"
#include "utf8.h"

static int utf8_ok(const char *s, size_t len)
{
    return sb_utf8_valid((const uint8_t *)s, len);
}

/* An Any of type_url holding the packed message m (freed by any_free). */
static Google__Protobuf__Any any_of(const char *type_url, const ProtobufCMessage *m)
{
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)type_url;
    any.value.len = protobuf_c_message_get_packed_size(m);
    any.value.data = malloc(any.value.len ? any.value.len : 1);
    protobuf_c_message_pack(m, any.value.data);
    return any;
}

/* Convert and print compactly; NULL when the conversion failed (why set). */
static char *convert(const Google__Protobuf__Any *any, const char **why)
{
    cJSON *out = NULL;
    *why = NULL;
    if (grpc_any_to_json(any, utf8_ok, &out, why) != 0) {
        assert_null(out);
        assert_non_null(*why);
        return NULL;
    }
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return text;
}

static void test_any_string_value_is_the_string(void **state)
{
    (void)state;
    Google__Protobuf__StringValue sv = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    sv.value = "Your order has shipped!";
    Google__Protobuf__Any any = any_of("type.googleapis.com/google.protobuf.StringValue", &sv.base);
    const char *why;
    char *text = convert(&any, &why);
    assert_string_equal(text, "\"Your order has shipped!\"");
    free(text);
    free(any.value.data);
}

static void test_any_struct_value_and_list_are_json(void **state)
{
    (void)state;
    Google__Protobuf__Value num = GOOGLE__PROTOBUF__VALUE__INIT,
                            str = GOOGLE__PROTOBUF__VALUE__INIT;
    num.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    num.number_value = 2.5;
    str.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    str.string_value = "x";
    Google__Protobuf__Value *items[] = {&num, &str};
    Google__Protobuf__ListValue list = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
    list.n_values = 2;
    list.values = items;
    Google__Protobuf__Value lv = GOOGLE__PROTOBUF__VALUE__INIT;
    lv.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    lv.list_value = &list;
    Google__Protobuf__Struct__FieldsEntry e1 = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    e1.key = "a";
    e1.value = &lv;
    Google__Protobuf__Struct__FieldsEntry *entries[] = {&e1};
    Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
    st.n_fields = 1;
    st.fields = entries;
    const char *why;

    Google__Protobuf__Any any = any_of("type.googleapis.com/google.protobuf.Struct", &st.base);
    char *text = convert(&any, &why);
    assert_string_equal(text, "{\"a\":[2.5,\"x\"]}");
    free(text);
    free(any.value.data);

    any = any_of("type.googleapis.com/google.protobuf.Value", &lv.base);
    text = convert(&any, &why);
    assert_string_equal(text, "[2.5,\"x\"]");
    free(text);
    free(any.value.data);

    any = any_of("type.googleapis.com/google.protobuf.ListValue", &list.base);
    text = convert(&any, &why);
    assert_string_equal(text, "[2.5,\"x\"]");
    free(text);
    free(any.value.data);
}

static void test_any_other_types_are_url_and_base64(void **state)
{
    (void)state;
    Google__Protobuf__Int32Value iv = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
    iv.value = 7; /* packs as 08 07 */
    Google__Protobuf__Any any = any_of("type.googleapis.com/google.protobuf.Int32Value", &iv.base);
    const char *why;
    char *text = convert(&any, &why);
    assert_string_equal(
        text, "{\"@type\":\"type.googleapis.com/google.protobuf.Int32Value\",\"value\":\"CAc=\"}");
    free(text);
    free(any.value.data);
}

static void test_any_refuses_bad_input(void **state)
{
    (void)state;
    const char *why;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    /* no type */
    assert_null(convert(&any, &why));
    /* a StringValue that does not decode, and one that is not UTF-8 */
    uint8_t truncated[] = {0x0a, 0x05, 'a'};
    any.type_url = "type.googleapis.com/google.protobuf.StringValue";
    any.value.data = truncated;
    any.value.len = sizeof(truncated);
    assert_null(convert(&any, &why));
    uint8_t latin1[] = {0x0a, 0x01, 0xe9};
    any.value.data = latin1;
    any.value.len = sizeof(latin1);
    assert_null(convert(&any, &why));
    assert_non_null(strstr(why, "UTF-8"));
}

static size_t put_varint(uint8_t *out, size_t v)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* A Value {struct {"d": <the previous level>}}, levels deep, on the wire. */
static uint8_t *nested_value(int levels, size_t *len)
{
    uint8_t *buf = malloc(1);
    size_t n = 0;
    for (int i = 0; i < levels; i++) {
        uint8_t entry_head[16], struct_head[16], value_head[16];
        /* entry = {1: "d", 2: value}; struct = {1: entry}; value = {5: struct} */
        size_t eh = 0;
        entry_head[eh++] = 0x0a;
        entry_head[eh++] = 0x01;
        entry_head[eh++] = 'd';
        entry_head[eh++] = 0x12;
        eh += put_varint(entry_head + eh, n);
        size_t entry_len = eh + n;
        size_t sh = 0;
        struct_head[sh++] = 0x0a;
        sh += put_varint(struct_head + sh, entry_len);
        size_t struct_len = sh + entry_len;
        size_t vh = 0;
        value_head[vh++] = 0x2a;
        vh += put_varint(value_head + vh, struct_len);
        uint8_t *next = malloc(vh + struct_len);
        size_t o = 0;
        memcpy(next + o, value_head, vh);
        o += vh;
        memcpy(next + o, struct_head, sh);
        o += sh;
        memcpy(next + o, entry_head, eh);
        o += eh;
        memcpy(next + o, buf, n);
        o += n;
        free(buf);
        buf = next;
        n = o;
    }
    *len = n;
    return buf;
}

static void test_any_depth_is_bounded(void **state)
{
    (void)state;
    const char *why;
    size_t len;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "type.googleapis.com/google.protobuf.Value";
    any.value.data = nested_value(10, &len);
    any.value.len = len;
    char *text = convert(&any, &why);
    assert_non_null(text);
    assert_non_null(strstr(text, "{\"d\":{\"d\":"));
    free(text);
    free(any.value.data);
    any.value.data = nested_value(5000, &len);
    any.value.len = len;
    assert_null(convert(&any, &why));
    assert_non_null(strstr(why, "deep"));
    free(any.value.data);
}

static void test_allow_parse_and_match(void **state)
{
    (void)state;
    grpc_allow a;
    const char *bad = NULL;
    assert_int_equal(grpc_allow_parse("127.0.0.0/8 ::1, 10.1.2.0/23", &a, &bad), 0);
    assert_int_equal(a.n, 3);
    assert_true(grpc_allow_match(&a, "127.0.0.1"));
    assert_true(grpc_allow_match(&a, "127.255.1.2"));
    assert_true(grpc_allow_match(&a, "::1"));
    assert_true(grpc_allow_match(&a, "::ffff:127.0.0.9")); /* IPv4-mapped */
    assert_true(grpc_allow_match(&a, "10.1.3.255"));
    assert_false(grpc_allow_match(&a, "10.1.4.0"));
    assert_false(grpc_allow_match(&a, "128.0.0.1"));
    assert_false(grpc_allow_match(&a, "::2"));
    assert_false(grpc_allow_match(&a, "not an ip"));
    grpc_allow_free(&a);

    assert_int_equal(grpc_allow_parse("", &a, &bad), 0);
    assert_false(grpc_allow_match(&a, "127.0.0.1"));
    grpc_allow_free(&a);
    const char *spec = "127.0.0.1 10.0.0.0/33";
    assert_int_equal(grpc_allow_parse(spec, &a, &bad), -1);
    assert_ptr_equal(bad, spec + 10);
    assert_int_equal(grpc_allow_parse("fe80::/129", &a, &bad), -1);
    assert_int_equal(grpc_allow_parse("host.example", &a, &bad), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_string_value_is_the_string),
        cmocka_unit_test(test_any_struct_value_and_list_are_json),
        cmocka_unit_test(test_any_other_types_are_url_and_base64),
        cmocka_unit_test(test_any_refuses_bad_input),
        cmocka_unit_test(test_any_depth_is_bounded),
        cmocka_unit_test(test_allow_parse_and_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

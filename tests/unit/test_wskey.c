/* Unit tests for core/util/wskey.c: the RFC 6455 example, and which
 * Sec-WebSocket-Key values are accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "switchboard/plugin.h"
#include "wskey.h"

static int valid(const char *k)
{
    return sb_wskey_valid(k, strlen(k));
}

static void test_wskey_accept_rfc6455_example(void **state)
{
    (void)state;
    char out[29];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(sb_wskey_accept(key, strlen(key), out), SB_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_wskey_accept_other_key(void **state)
{
    (void)state;
    /* Computed with Python: base64(sha1(key + GUID)). */
    char out[29];
    const char *key = "AAAAAAAAAAAAAAAAAAAAAA==";
    assert_int_equal(sb_wskey_accept(key, strlen(key), out), SB_OK);
    assert_string_equal(out, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
}

static void test_wskey_accept_uses_len_not_nul(void **state)
{
    (void)state;
    char out[29];
    const char *buf = "dGhlIHNhbXBsZSBub25jZQ==\r\nHost: x";
    assert_int_equal(sb_wskey_accept(buf, 24, out), SB_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_wskey_accept_rejects_invalid(void **state)
{
    (void)state;
    char out[29] = "unchanged";
    assert_int_equal(sb_wskey_accept("abc", 3, out), SB_EINVAL);
}

static void test_wskey_valid_accepts_16_byte_keys(void **state)
{
    (void)state;
    assert_true(valid("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_true(valid("x3JJHMbDL1EzLkh9GBhXDw=="));
    assert_true(valid("+/+/+/+/+/+/+/+/+/+/+w=="));
    assert_true(valid("AAAAAAAAAAAAAAAAAAAAAA=="));
}

static void test_wskey_valid_rejects_bad_keys(void **state)
{
    (void)state;
    assert_false(valid(""));
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 chars */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ===")); /* 25 chars */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQAA"));  /* no padding: 18 bytes */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQA="));  /* 17 bytes */
    assert_false(valid("dGhlIHNhbXBsZSBub25j=QQ="));  /* padding inside */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ-=="));  /* base64url, not base64 */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ_=="));
    assert_false(valid("dGhlIHNhbXBsZSBub25 jZQ="));
    assert_false(sb_wskey_valid(NULL, 0));
    /* An embedded NUL inside the length is not base64. */
    assert_false(sb_wskey_valid("dGhlIHNhbXBsZSBu\0b25jZQ==", 24));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wskey_accept_rfc6455_example),
        cmocka_unit_test(test_wskey_accept_other_key),
        cmocka_unit_test(test_wskey_accept_uses_len_not_nul),
        cmocka_unit_test(test_wskey_accept_rejects_invalid),
        cmocka_unit_test(test_wskey_valid_accepts_16_byte_keys),
        cmocka_unit_test(test_wskey_valid_rejects_bad_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

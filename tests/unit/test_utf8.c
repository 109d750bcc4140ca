/* Unit tests for core/utf8.c: valid 1-4 byte sequences, and each class of
 * ill-formed input (overlong, surrogate, past U+10FFFF, truncated, lone
 * continuation, bytes never allowed), also past the 8-byte ASCII fast path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static int valid_str(const char *s)
{
    return sb_utf8_valid((const uint8_t *)s, strlen(s));
}

static int valid_bytes(const uint8_t *b, size_t n)
{
    return sb_utf8_valid(b, n);
}

static void test_utf8_valid_empty_and_ascii(void **state)
{
    (void)state;
    assert_true(sb_utf8_valid((const uint8_t *)"", 0));
    assert_true(valid_str("a"));
    assert_true(valid_str("{\"type\":\"message\",\"data\":{\"to\":\"bob\"}}"));
    /* NUL and DEL are valid UTF-8 (U+0000 is refused elsewhere, not here). */
    const uint8_t ctl[] = {0x00, 0x7f, 0x01};
    assert_true(valid_bytes(ctl, sizeof(ctl)));
}

static void test_utf8_valid_multibyte(void **state)
{
    (void)state;
    assert_true(valid_str("\xc2\x80"));         /* U+0080, smallest 2-byte */
    assert_true(valid_str("\xc3\xa9"));         /* é */
    assert_true(valid_str("\xdf\xbf"));         /* U+07FF */
    assert_true(valid_str("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    assert_true(valid_str("\xe2\x82\xac"));     /* € */
    assert_true(valid_str("\xed\x9f\xbf"));     /* U+D7FF, just below surrogates */
    assert_true(valid_str("\xee\x80\x80"));     /* U+E000, just above */
    assert_true(valid_str("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(valid_str("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    assert_true(valid_str("\xf0\x9f\x98\x80")); /* 😀 */
    assert_true(valid_str("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the largest */
    assert_true(valid_str("caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac 10 \xf0\x9f\x98\x80!"));
}

static void test_utf8_rejects_overlong(void **state)
{
    (void)state;
    assert_false(valid_str("\xc0\x80")); /* overlong NUL */
    assert_false(valid_str("\xc0\xaf")); /* overlong '/' */
    assert_false(valid_str("\xc1\xbf"));
    assert_false(valid_str("\xe0\x80\x80"));     /* overlong 3-byte */
    assert_false(valid_str("\xe0\x9f\xbf"));     /* U+07FF in 3 bytes */
    assert_false(valid_str("\xf0\x80\x80\x80")); /* overlong 4-byte */
    assert_false(valid_str("\xf0\x8f\xbf\xbf")); /* U+FFFF in 4 bytes */
}

static void test_utf8_rejects_surrogates(void **state)
{
    (void)state;
    assert_false(valid_str("\xed\xa0\x80")); /* U+D800 */
    assert_false(valid_str("\xed\xad\xbf")); /* U+DB7F */
    assert_false(valid_str("\xed\xb0\x80")); /* U+DC00 */
    assert_false(valid_str("\xed\xbf\xbf")); /* U+DFFF */
    /* A CESU-8 style surrogate pair is not UTF-8 either. */
    assert_false(valid_str("\xed\xa0\xbd\xed\xb8\x80"));
}

static void test_utf8_rejects_past_max(void **state)
{
    (void)state;
    assert_false(valid_str("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(valid_str("\xf5\x80\x80\x80"));
    assert_false(valid_str("\xf7\xbf\xbf\xbf"));
    assert_false(valid_str("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
    assert_false(valid_str("\xfc\x84\x80\x80\x80\x80"));
    assert_false(valid_str("\xfe"));
    assert_false(valid_str("\xff"));
}

static void test_utf8_rejects_truncated(void **state)
{
    (void)state;
    assert_false(valid_str("\xc3"));
    assert_false(valid_str("\xe2\x82"));
    assert_false(valid_str("\xf0\x9f\x98"));
    assert_false(valid_str("abc\xf0\x9f"));
    /* Truncated and followed by ASCII: the next byte is not a continuation. */
    assert_false(valid_str("\xe2\x82x"));
    assert_false(valid_str("\xc3 "));
    assert_false(valid_str("\xf0\x9f\x98z"));
}

static void test_utf8_rejects_lone_continuation(void **state)
{
    (void)state;
    assert_false(valid_str("\x80"));
    assert_false(valid_str("\xbf"));
    assert_false(valid_str("a\x80z"));
    assert_false(valid_str("\xc3\xa9\xa9")); /* one continuation too many */
}

static void test_utf8_checks_bytes_after_ascii_runs(void **state)
{
    (void)state;
    /* Errors at every offset around the 8-byte blocks of the fast path. */
    uint8_t buf[40];
    for (size_t pos = 0; pos < 32; pos++) {
        memset(buf, 'a', sizeof(buf));
        buf[pos] = 0x80;
        assert_false(valid_bytes(buf, sizeof(buf)));
        memset(buf, 'a', sizeof(buf));
        buf[pos] = 0xe2;
        buf[pos + 1] = 0x82;
        buf[pos + 2] = 0xac;
        assert_true(valid_bytes(buf, sizeof(buf)));
        /* The length bounds the check: a sequence cut by n is truncated. */
        assert_false(valid_bytes(buf, pos + 2));
        assert_true(valid_bytes(buf, pos + 3));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_empty_and_ascii),
        cmocka_unit_test(test_utf8_valid_multibyte),
        cmocka_unit_test(test_utf8_rejects_overlong),
        cmocka_unit_test(test_utf8_rejects_surrogates),
        cmocka_unit_test(test_utf8_rejects_past_max),
        cmocka_unit_test(test_utf8_rejects_truncated),
        cmocka_unit_test(test_utf8_rejects_lone_continuation),
        cmocka_unit_test(test_utf8_checks_bytes_after_ascii_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

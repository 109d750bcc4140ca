/* sb_user_valid: the user-id rule of PROTOCOL "Identity" ([A-Za-z0-9._@:-],
 * 1 to SB_USER_MAX bytes, not "0"), checked against a byte-by-byte model of
 * it for every byte value and the length bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "switchboard/plugin.h"

static int model_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == ':' || c == '-';
}

static void test_user_valid_every_byte(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char one[2] = {(char)c, 0}, mid[4] = {'a', (char)c, 'b', 0};
        int want = model_byte((unsigned char)c);
        assert_int_equal(sb_user_valid(mid), want);
        assert_int_equal(sb_user_valid(one), want && c != '0');
    }
}

static void test_user_valid_bounds(void **state)
{
    (void)state;
    char s[SB_USER_MAX + 2];
    memset(s, 'x', sizeof(s));
    s[SB_USER_MAX] = '\0';
    assert_true(sb_user_valid(s));
    s[SB_USER_MAX] = 'x';
    s[SB_USER_MAX + 1] = '\0';
    assert_false(sb_user_valid(s));
    assert_false(sb_user_valid(""));
    assert_false(sb_user_valid(NULL));
    assert_false(sb_user_valid("0"));
    assert_true(sb_user_valid("00"));
    assert_true(sb_user_valid("alice@example.com:7"));
    assert_false(sb_user_valid("al ice"));
    assert_false(sb_user_valid("alïce"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_valid_every_byte),
        cmocka_unit_test(test_user_valid_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

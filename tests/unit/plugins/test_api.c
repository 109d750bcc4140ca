/* Unit tests of the push API's pure parts: path routing (api_routes.c) and the
 * bearer-key check with its constant-time compare (api_auth.c). The decoder
 * stands in for host->url_decode with the same contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_auth.h"
#include "api_routes.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A percent-decoder with host->url_decode's contract: SB_EINVAL on a bad
 * escape or when out is too small. Counts its calls. */
static int decode_calls;
static int fake_decode(const char *s, size_t len, char *out, size_t out_len)
{
    size_t o = 0;
    decode_calls++;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return SB_EINVAL;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return SB_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= out_len)
            return SB_EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    return SB_OK;
}

static int routes_setup(void **state)
{
    (void)state;
    decode_calls = 0;
    return 0;
}

/* --- api_route_match --- */

static void test_route_match_broadcast_post(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("POST", "/api/broadcast", fake_decode, &m), API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_BROADCAST);
    assert_int_equal(m.param, API_PARAM_NONE);
    assert_string_equal(m.value, "");
    assert_int_equal(decode_calls, 0);
}

static void test_route_match_users_get(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("GET", "/api/users", fake_decode, &m), API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_USERS);
    assert_string_equal(m.allow, "GET");
}

static void test_route_match_user_messages_decodes_user(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(
        api_route_match("POST", "/api/users/bob%40example.com/messages", fake_decode, &m),
        API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_USER_MESSAGES);
    assert_int_equal(m.param, API_PARAM_USER);
    assert_string_equal(m.value, "bob@example.com");
    assert_int_equal(decode_calls, 1);
}

static void test_route_match_user_disconnect(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("POST", "/api/users/alice/disconnect", fake_decode, &m),
                     API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_USER_DISCONNECT);
    assert_string_equal(m.value, "alice");
}

static void test_route_match_room_publish_and_members(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("POST", "/api/rooms/lobby%20one/publish", fake_decode, &m),
                     API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_ROOM_PUBLISH);
    assert_int_equal(m.param, API_PARAM_ROOM);
    assert_string_equal(m.value, "lobby one");

    assert_int_equal(api_route_match("GET", "/api/rooms/lobby/members", fake_decode, &m),
                     API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_ROOM_MEMBERS);
    assert_string_equal(m.value, "lobby");
}

static void test_route_match_encoded_slash_stays_in_segment(void **state)
{
    (void)state;
    api_match m;
    /* Split before decoding: "a%2Fb" is one segment whose name is "a/b". */
    assert_int_equal(api_route_match("GET", "/api/rooms/a%2Fb/members", fake_decode, &m),
                     API_MATCH_OK);
    assert_int_equal(m.route, API_ROUTE_ROOM_MEMBERS);
    assert_string_equal(m.value, "a/b");
}

static void test_route_match_unknown_paths_not_found(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/api/",
        "/api/users/",
        "/api/users/bob",
        "/api/users/bob/",
        "/api/users/bob/messages/",
        "/api/users/bob/messages/x",
        "/api/users//messages",
        "/api/rooms",
        "/api/rooms/lobby",
        "/api/rooms/lobby/join",
        "/api/broadcast/",
        "/api/Broadcast",
        "/api/%62roadcast",
        "/api/nothing",
        "/apix/users",
        "/health",
        "",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        api_match m;
        api_match_status st = api_route_match("POST", paths[i], fake_decode, &m);
        if (st != API_MATCH_NOT_FOUND)
            fail_msg("%s: expected not found, got %d", paths[i], (int)st);
        assert_int_equal(m.route, API_ROUTE_NONE);
    }
    api_match m;
    assert_int_equal(api_route_match("GET", NULL, fake_decode, &m), API_MATCH_NOT_FOUND);
}

static void test_route_match_wrong_method_gives_allow(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("GET", "/api/broadcast", fake_decode, &m),
                     API_MATCH_BAD_METHOD);
    assert_int_equal(m.route, API_ROUTE_BROADCAST);
    assert_string_equal(m.allow, "POST");

    assert_int_equal(api_route_match("POST", "/api/users", fake_decode, &m), API_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET");

    assert_int_equal(api_route_match("DELETE", "/api/rooms/x/members", fake_decode, &m),
                     API_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET");

    /* Methods are case-sensitive (RFC 9110). */
    assert_int_equal(api_route_match("post", "/api/users/bob/messages", fake_decode, &m),
                     API_MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
}

static void test_route_match_method_checked_before_param(void **state)
{
    (void)state;
    api_match m;
    /* A bad escape on the wrong method is 405, not 400: the call exists. */
    assert_int_equal(api_route_match("GET", "/api/users/%zz/messages", fake_decode, &m),
                     API_MATCH_BAD_METHOD);
    assert_int_equal(decode_calls, 0);
}

static void test_route_match_bad_escape_is_bad_param(void **state)
{
    (void)state;
    api_match m;
    assert_int_equal(api_route_match("POST", "/api/users/%zz/messages", fake_decode, &m),
                     API_MATCH_BAD_PARAM);
    assert_int_equal(m.route, API_ROUTE_USER_MESSAGES);
    assert_string_equal(m.value, "");
    assert_int_equal(api_route_match("POST", "/api/users/bob%4/messages", fake_decode, &m),
                     API_MATCH_BAD_PARAM);
}

static void test_route_match_nul_escape_refused(void **state)
{
    (void)state;
    api_match m;
    /* "%00" would shorten the name to "alice" after decoding. */
    assert_int_equal(api_route_match("POST", "/api/users/alice%00x/messages", fake_decode, &m),
                     API_MATCH_BAD_PARAM);
    assert_string_equal(m.value, "");
    assert_int_equal(decode_calls, 0);
    /* "%300" is "0" followed by "0": no NUL escape, so it decodes. */
    assert_int_equal(api_route_match("GET", "/api/rooms/a%300/members", fake_decode, &m),
                     API_MATCH_OK);
    assert_string_equal(m.value, "a00");
}

static void test_route_match_too_long_param(void **state)
{
    (void)state;
    char path[512];
    char name[API_PARAM_MAX + 2];
    api_match m;

    memset(name, 'r', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0'; /* API_PARAM_MAX + 1 bytes: one too many */
    snprintf(path, sizeof(path), "/api/rooms/%s/members", name);
    assert_int_equal(api_route_match("GET", path, fake_decode, &m), API_MATCH_BAD_PARAM);

    name[API_PARAM_MAX] = '\0'; /* exactly API_PARAM_MAX fits */
    snprintf(path, sizeof(path), "/api/rooms/%s/members", name);
    assert_int_equal(api_route_match("GET", path, fake_decode, &m), API_MATCH_OK);
    assert_int_equal(strlen(m.value), API_PARAM_MAX);
}

/* --- api_auth_equal --- */

static void test_auth_equal_same_bytes(void **state)
{
    (void)state;
    assert_int_equal(api_auth_equal("secret", 6, "secret", 6), 1);
    assert_int_equal(api_auth_equal("k", 1, "k", 1), 1);
}

static void test_auth_equal_differs_anywhere(void **state)
{
    (void)state;
    assert_int_equal(api_auth_equal("Secret", 6, "secret", 6), 0);
    assert_int_equal(api_auth_equal("secreT", 6, "secret", 6), 0);
    assert_int_equal(api_auth_equal("sec\0et", 6, "secret", 6), 0);
    /* High bit set: the xor is done on unsigned bytes. */
    assert_int_equal(api_auth_equal("\xff", 1, "\x7f", 1), 0);
}

static void test_auth_equal_length_mismatch(void **state)
{
    (void)state;
    /* A prefix, an extension, and a repetition of the key (the loop cycles
     * through b) are all refused. */
    assert_int_equal(api_auth_equal("secre", 5, "secret", 6), 0);
    assert_int_equal(api_auth_equal("secretx", 7, "secret", 6), 0);
    assert_int_equal(api_auth_equal("kk", 2, "k", 1), 0);
    assert_int_equal(api_auth_equal("abab", 4, "ab", 2), 0);
    /* Lengths differing by a multiple of 256 must not fold to zero. */
    char big[257];
    memset(big, 'k', sizeof(big));
    assert_int_equal(api_auth_equal(big, 257, "k", 1), 0);
}

static void test_auth_equal_empty(void **state)
{
    (void)state;
    assert_int_equal(api_auth_equal("", 0, "", 0), 0);
    assert_int_equal(api_auth_equal("", 0, "k", 1), 0);
    assert_int_equal(api_auth_equal("k", 1, "", 0), 0);
}

/* --- api_auth_check --- */

static void test_auth_check_bearer_ok(void **state)
{
    (void)state;
    assert_int_equal(api_auth_check("Bearer k", "k", 1), 1);
    assert_int_equal(api_auth_check("bearer k", "k", 1), 1);
    assert_int_equal(api_auth_check("BEARER   k  ", "k", 1), 1);
    assert_int_equal(api_auth_check("Bearer s3cr3t-key", "s3cr3t-key", 10), 1);
}

static void test_auth_check_refuses(void **state)
{
    (void)state;
    assert_int_equal(api_auth_check(NULL, "k", 1), 0);
    assert_int_equal(api_auth_check("", "k", 1), 0);
    assert_int_equal(api_auth_check("k", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearer", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearer ", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearerk", "k", 1), 0);
    assert_int_equal(api_auth_check("Basic k", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearer kk", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearer K", "k", 1), 0);
    assert_int_equal(api_auth_check("Bearer k x", "k", 1), 0);
}

static void test_auth_check_empty_key_refuses_all(void **state)
{
    (void)state;
    assert_int_equal(api_auth_check("Bearer ", "", 0), 0);
    assert_int_equal(api_auth_check("Bearer x", "", 0), 0);
    assert_int_equal(api_auth_check("Bearer x", NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_route_match_broadcast_post, routes_setup),
        cmocka_unit_test_setup(test_route_match_users_get, routes_setup),
        cmocka_unit_test_setup(test_route_match_user_messages_decodes_user, routes_setup),
        cmocka_unit_test_setup(test_route_match_user_disconnect, routes_setup),
        cmocka_unit_test_setup(test_route_match_room_publish_and_members, routes_setup),
        cmocka_unit_test_setup(test_route_match_encoded_slash_stays_in_segment, routes_setup),
        cmocka_unit_test_setup(test_route_match_unknown_paths_not_found, routes_setup),
        cmocka_unit_test_setup(test_route_match_wrong_method_gives_allow, routes_setup),
        cmocka_unit_test_setup(test_route_match_method_checked_before_param, routes_setup),
        cmocka_unit_test_setup(test_route_match_bad_escape_is_bad_param, routes_setup),
        cmocka_unit_test_setup(test_route_match_nul_escape_refused, routes_setup),
        cmocka_unit_test_setup(test_route_match_too_long_param, routes_setup),
        cmocka_unit_test(test_auth_equal_same_bytes),
        cmocka_unit_test(test_auth_equal_differs_anywhere),
        cmocka_unit_test(test_auth_equal_length_mismatch),
        cmocka_unit_test(test_auth_equal_empty),
        cmocka_unit_test(test_auth_check_bearer_ok),
        cmocka_unit_test(test_auth_check_refuses),
        cmocka_unit_test(test_auth_check_empty_key_refuses_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

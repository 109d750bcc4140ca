/* Unit tests of store_redis_url_parse: every URL form of the `url` key and
 * the malformed ones it must refuse with a reason. The decoder is the one the
 * host hands the plugin (core/util/names.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "names.h"
#include "store_redis_url.h"

static void test_store_redis_url_parse_host_port_db(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("redis://127.0.0.1:6380/3", sb_url_decode, &u, &why), 0);
    assert_int_equal(u.is_unix, 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.pass, "");
    assert_string_equal(u.user, "");
}

static void test_store_redis_url_parse_defaults(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("redis://cache.local", sb_url_decode, &u, &why), 0);
    assert_string_equal(u.host, "cache.local");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_int_equal(store_redis_url_parse("redis://h/", sb_url_decode, &u, &why), 0);
    assert_int_equal(u.db, 0);
}

static void test_store_redis_url_parse_password(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(
        store_redis_url_parse("redis://:s3cr%40t@10.0.0.1:7000/2", sb_url_decode, &u, &why), 0);
    assert_string_equal(u.pass, "s3cr@t");
    assert_string_equal(u.user, "");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 2);
}

static void test_store_redis_url_parse_user_and_password(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("redis://app:pw@h:1/0", sb_url_decode, &u, &why), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.pass, "pw");
    assert_string_equal(u.host, "h");
}

static void test_store_redis_url_parse_lone_word_is_password(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("redis://secret@h", sb_url_decode, &u, &why), 0);
    assert_string_equal(u.pass, "secret");
    assert_string_equal(u.user, "");
}

static void test_store_redis_url_parse_ipv6(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("redis://[::1]:6390/1", sb_url_decode, &u, &why), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 1);
}

static void test_store_redis_url_parse_unix_forms(void **state)
{
    (void)state;
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse("unix:/run/redis/redis.sock", sb_url_decode, &u, &why),
                     0);
    assert_int_equal(u.is_unix, 1);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 0);
    assert_int_equal(store_redis_url_parse("redis+unix:///tmp/r.sock?db=4&password=p%26w",
                                           sb_url_decode, &u, &why),
                     0);
    assert_int_equal(u.is_unix, 1);
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_int_equal(u.db, 4);
    assert_string_equal(u.pass, "p&w");
    assert_int_equal(store_redis_url_parse("unix:/tmp/s?db=9", sb_url_decode, &u, &why), 0);
    assert_int_equal(u.db, 9);
}

static void test_store_redis_url_parse_rejects_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "http://h:1/0",
        "redis://",
        "redis://h:0/0",
        "redis://h:65536",
        "redis://h:12x/0",
        "redis://h:1/db",
        "redis://[::1/0",
        "redis://:%zz@h",
        "unix:relative.sock",
        "unix:/s?db=x",
        "unix:/s?color=blue",
        "redis+unix://",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store_redis_url u;
        const char *why = NULL;
        if (store_redis_url_parse(bad[i], sb_url_decode, &u, &why) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
    }
}

static void test_store_redis_url_parse_rejects_long_path(void **state)
{
    (void)state;
    char url[300] = "unix:/";
    memset(url + 6, 'a', 200);
    url[206] = '\0';
    store_redis_url u;
    const char *why = NULL;
    assert_int_equal(store_redis_url_parse(url, sb_url_decode, &u, &why), -1);
    assert_non_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_redis_url_parse_host_port_db),
        cmocka_unit_test(test_store_redis_url_parse_defaults),
        cmocka_unit_test(test_store_redis_url_parse_password),
        cmocka_unit_test(test_store_redis_url_parse_user_and_password),
        cmocka_unit_test(test_store_redis_url_parse_lone_word_is_password),
        cmocka_unit_test(test_store_redis_url_parse_ipv6),
        cmocka_unit_test(test_store_redis_url_parse_unix_forms),
        cmocka_unit_test(test_store_redis_url_parse_rejects_bad),
        cmocka_unit_test(test_store_redis_url_parse_rejects_long_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

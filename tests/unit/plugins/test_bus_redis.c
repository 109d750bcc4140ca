/* Unit tests of the bus_redis frame: a header line then the envelope, encoded
 * and parsed back; malformed frames refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bus_redis_frame.h"
#include <switchboard/plugin.h>

static void test_bus_redis_frame_roundtrip_users(void **state)
{
    (void)state;
    const char *targets[] = {"bob", "carol"};
    const char env[] = "{\"type\":\"message\",\"data\":{\"text\":\"a\\nb\"}}";
    size_t len = 0;
    char *buf =
        bus_redis_frame_new("host:1", SB_ROUTE_USERS, targets, 2, env, sizeof env - 1, 1, &len);
    assert_non_null(buf);
    bus_redis_frame f;
    const char *why = NULL;
    assert_int_equal(bus_redis_frame_parse(buf, len, &f, &why), 0);
    assert_string_equal(f.node, "host:1");
    assert_int_equal(f.route, SB_ROUTE_USERS);
    assert_int_equal(f.direct, 1);
    assert_int_equal(f.n_targets, 2);
    assert_string_equal(f.targets[0], "bob");
    assert_string_equal(f.targets[1], "carol");
    assert_int_equal(f.len, sizeof env - 1);
    assert_memory_equal(f.envelope, env, f.len);
    bus_redis_frame_free(&f);
    free(buf);
}

static void test_bus_redis_frame_roundtrip_room_and_all(void **state)
{
    (void)state;
    const char *room[] = {"lobby\nwith newline"};
    size_t len = 0;
    char *buf = bus_redis_frame_new("n", SB_ROUTE_ROOM, room, 1, "{}", 2, 0, &len);
    assert_non_null(buf);
    bus_redis_frame f;
    const char *why = NULL;
    assert_int_equal(bus_redis_frame_parse(buf, len, &f, &why), 0);
    assert_int_equal(f.route, SB_ROUTE_ROOM);
    assert_int_equal(f.direct, 0);
    assert_string_equal(f.targets[0], "lobby\nwith newline");
    assert_int_equal(f.len, 2);
    bus_redis_frame_free(&f);
    free(buf);
    buf = bus_redis_frame_new("n", SB_ROUTE_ALL, NULL, 0, "{\"x\":1}", 7, 0, &len);
    assert_int_equal(bus_redis_frame_parse(buf, len, &f, &why), 0);
    assert_int_equal(f.route, SB_ROUTE_ALL);
    assert_int_equal(f.n_targets, 0);
    assert_memory_equal(f.envelope, "{\"x\":1}", 7);
    bus_redis_frame_free(&f);
    free(buf);
    const char *user[] = {"alice"};
    buf = bus_redis_frame_new("n", SB_ROUTE_CLOSE, user, 1, "1732280000123", 13, 0, &len);
    assert_int_equal(bus_redis_frame_parse(buf, len, &f, &why), 0);
    assert_int_equal(f.route, SB_ROUTE_CLOSE);
    assert_string_equal(f.targets[0], "alice");
    assert_memory_equal(f.envelope, "1732280000123", 13);
    bus_redis_frame_free(&f);
    free(buf);
}

static void test_bus_redis_frame_parse_rejects_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "no newline at all",
        "not json\n{}",
        "{\"node\":1,\"route\":0,\"targets\":[],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":7,\"targets\":[],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":0,\"targets\":[1],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":1,\"targets\":[],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":3,\"targets\":[\"a\",\"b\"],\"direct\":false}\n1",
        "{\"node\":\"n\",\"route\":1,\"targets\":[\"r\",\"u\",\"v\"],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":4,\"targets\":[],\"direct\":false}\n{}",
        "{\"node\":\"n\",\"route\":0,\"targets\":[],\"direct\":0}\n{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bus_redis_frame f;
        const char *why = NULL;
        if (bus_redis_frame_parse(bad[i], strlen(bad[i]), &f, &why) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
        assert_null(f.header);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_redis_frame_roundtrip_users),
        cmocka_unit_test(test_bus_redis_frame_roundtrip_room_and_all),
        cmocka_unit_test(test_bus_redis_frame_parse_rejects_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

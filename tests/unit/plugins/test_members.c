/* Unit tests of the members plugin's commands against a fake host table:
 * argument checks, the authorize chain's DENY, and the exact reply bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "members.h"

/* What the fake host saw. */
static struct {
    char type[32]; /* reply type, or "error" */
    char code[32]; /* error code */
    char msg[256]; /* error message */
    char *data;    /* reply data, serialized unformatted */
    int deny;      /* run_authorize answers DENY */
    char action[32];
    char target[256];
    int authorize_calls;
    int bus;                /* slot_owner("bus") names a bus: lists go through users_query */
    char query_room[160];   /* what users_query was asked, "(null)" for all users */
    sb_users_fn query_done; /* its pending completion */
    void *query_arg;
    int held; /* reply_hold handles not yet answered */
} fake;

static int fake_reply(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *type, const cJSON *data)
{
    (void)pc;
    (void)cmd;
    snprintf(fake.type, sizeof fake.type, "%s", type);
    free(fake.data);
    fake.data = cJSON_PrintUnformatted(data);
    return SB_OK;
}

static int fake_reply_error(sb_plugin_ctx *pc, const sb_cmd *cmd, const char *code,
                            const char *message)
{
    (void)pc;
    (void)cmd;
    snprintf(fake.type, sizeof fake.type, "error");
    snprintf(fake.code, sizeof fake.code, "%s", code);
    snprintf(fake.msg, sizeof fake.msg, "%s", message);
    return SB_OK;
}

static int fake_run_authorize(sb_plugin_ctx *pc, const char *user, const char *action,
                              const char *target, const cJSON *data, char *reason,
                              size_t reason_len)
{
    (void)pc;
    (void)user;
    (void)data;
    fake.authorize_calls++;
    snprintf(fake.action, sizeof fake.action, "%s", action);
    snprintf(fake.target, sizeof fake.target, "%s", target ? target : "(null)");
    if (!fake.deny)
        return SB_HOOK_ALLOW;
    snprintf(reason, reason_len, "no lists for you");
    return SB_HOOK_DENY;
}

static cJSON *names(const char *a, const char *b)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateString(a));
    cJSON_AddItemToArray(arr, cJSON_CreateString(b));
    return arr;
}

static cJSON *fake_users_new(sb_plugin_ctx *pc)
{
    (void)pc;
    return names("alice", "bob");
}

static cJSON *fake_room_users_new(sb_plugin_ctx *pc, const char *room)
{
    (void)pc;
    return strcmp(room, "lobby") == 0 ? names("alice", "carol") : cJSON_CreateArray();
}

static cJSON *fake_conn_rooms_new(sb_plugin_ctx *pc, uint64_t conn_id)
{
    (void)pc;
    (void)conn_id;
    return names("a", "lobby");
}

static int fake_conn_info(sb_plugin_ctx *pc, uint64_t conn_id, int64_t *since_ms, const char **ip)
{
    (void)pc;
    if (conn_id == 999)
        return SB_ECLOSED;
    *since_ms = 1732280000123LL;
    *ip = "127.0.0.1";
    return SB_OK;
}

static const char *fake_slot_owner(sb_plugin_ctx *pc, const char *slot)
{
    (void)pc;
    return fake.bus && strcmp(slot, "bus") == 0 ? "bus_redis" : NULL;
}

static sb_reply *fake_reply_hold(sb_plugin_ctx *pc, const sb_cmd *cmd)
{
    (void)pc;
    (void)cmd;
    fake.held++;
    return (sb_reply *)&fake;
}

static int fake_reply_later(sb_plugin_ctx *pc, sb_reply *r, const char *type, const cJSON *data)
{
    assert_ptr_equal(r, &fake);
    fake.held--;
    return fake_reply(pc, NULL, type, data);
}

static int fake_reply_later_error(sb_plugin_ctx *pc, sb_reply *r, const char *code,
                                  const char *message)
{
    assert_ptr_equal(r, &fake);
    fake.held--;
    return fake_reply_error(pc, NULL, code, message);
}

static int fake_users_query(sb_plugin_ctx *pc, const char *room, sb_users_fn done, void *arg)
{
    (void)pc;
    snprintf(fake.query_room, sizeof fake.query_room, "%s", room ? room : "(null)");
    fake.query_done = done;
    fake.query_arg = arg;
    return SB_OK;
}

/* Complete the pending users_query as the host would, on a later iteration. */
static void complete_query(int status, const char *users_json)
{
    assert_non_null(fake.query_done);
    assert_string_equal(fake.type, ""); /* nothing answered inside the command */
    cJSON *users = cJSON_Parse(users_json);
    fake.query_done(fake.query_arg, status, users);
    cJSON_Delete(users);
    fake.query_done = NULL;
}

static int fake_room_valid(const char *s)
{
    return s[0] != '\0' && strlen(s) <= SB_ROOM_MAX && !strchr(s, '\n');
}

static sb_host_api host = {
    .size = sizeof(sb_host_api),
    .reply = fake_reply,
    .reply_error = fake_reply_error,
    .run_authorize = fake_run_authorize,
    .users_new = fake_users_new,
    .room_users_new = fake_room_users_new,
    .conn_rooms_new = fake_conn_rooms_new,
    .conn_info = fake_conn_info,
    .room_valid = fake_room_valid,
    .slot_owner = fake_slot_owner,
    .reply_hold = fake_reply_hold,
    .reply_later = fake_reply_later,
    .reply_later_error = fake_reply_later_error,
    .users_query = fake_users_query,
};

static members_state st = {.host = &host};

static int members_setup(void **state)
{
    (void)state;
    free(fake.data);
    memset(&fake, 0, sizeof fake);
    return 0;
}

static int members_teardown(void **state)
{
    (void)state;
    free(fake.data);
    fake.data = NULL;
    return 0;
}

/* Run fn with data (JSON text) as the command's data. */
static void call(sb_command_fn fn, const char *type, const char *data, uint64_t conn)
{
    cJSON *d = cJSON_Parse(data);
    assert_non_null(d);
    sb_cmd cmd = {.size = sizeof cmd, .conn_id = conn, .user = "alice", .type = type, .data = d};
    assert_int_equal(fn(&st, &cmd), SB_OK);
    cJSON_Delete(d);
}

static void test_members_list_replies_online_users(void **state)
{
    (void)state;
    call(members_list, "list", "{}", 7);
    assert_string_equal(fake.type, "list");
    assert_string_equal(fake.data, "{\"users\":[\"alice\",\"bob\"]}");
    assert_int_equal(fake.authorize_calls, 1);
    assert_string_equal(fake.action, "list");
    assert_string_equal(fake.target, "(null)");
}

static void test_members_list_forbidden(void **state)
{
    (void)state;
    fake.deny = 1;
    call(members_list, "list", "{}", 7);
    assert_string_equal(fake.type, "error");
    assert_string_equal(fake.code, "forbidden");
    assert_string_equal(fake.msg, "no lists for you");
    assert_null(fake.data);
}

static void test_members_members_replies_room_users(void **state)
{
    (void)state;
    call(members_members, "members", "{\"room\":\"lobby\"}", 7);
    assert_string_equal(fake.type, "members");
    assert_string_equal(fake.data,
                        "{\"room\":\"lobby\",\"users\":[\"alice\",\"carol\"],\"more\":false}");
    assert_string_equal(fake.action, "members");
    assert_string_equal(fake.target, "lobby");
}

static void test_members_members_empty_room(void **state)
{
    (void)state;
    call(members_members, "members", "{\"room\":\"nobody-here\"}", 7);
    assert_string_equal(fake.type, "members");
    assert_string_equal(fake.data, "{\"room\":\"nobody-here\",\"users\":[],\"more\":false}");
}

static void test_members_members_bad_args(void **state)
{
    (void)state;
    const char *bad[] = {"{}", "{\"room\":\"\"}", "{\"room\":5}", "{\"room\":null}",
                         "{\"room\":[\"lobby\"]}", "{\"room\":\"a\\nb\"}",
                         /* members' paging arguments */
                         "{\"room\":\"lobby\",\"limit\":0}", "{\"room\":\"lobby\",\"limit\":1001}",
                         "{\"room\":\"lobby\",\"limit\":1.5}",
                         "{\"room\":\"lobby\",\"limit\":\"2\"}", "{\"room\":\"lobby\",\"after\":5}",
                         "{\"room\":\"lobby\",\"after\":\"" /* 65 bytes */
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(fake.code, 0, sizeof fake.code);
        call(members_members, "members", bad[i], 7);
        assert_string_equal(fake.type, "error");
        assert_string_equal(fake.code, "bad_request");
    }
    assert_int_equal(fake.authorize_calls, 0); /* checked before asking policy */
}

static void test_members_members_forbidden(void **state)
{
    (void)state;
    fake.deny = 1;
    call(members_members, "members", "{\"room\":\"lobby\"}", 7);
    assert_string_equal(fake.code, "forbidden");
    assert_string_equal(fake.msg, "no lists for you");
}

static void test_members_list_through_bus(void **state)
{
    (void)state;
    fake.bus = 1;
    call(members_list, "list", "{}", 7);
    assert_string_equal(fake.query_room, "(null)");
    complete_query(SB_OK, "[\"alice\",\"bob\",\"zoe\"]");
    assert_string_equal(fake.type, "list");
    assert_string_equal(fake.data, "{\"users\":[\"alice\",\"bob\",\"zoe\"]}");
    assert_int_equal(fake.held, 0);
}

static void test_members_members_through_bus(void **state)
{
    (void)state;
    fake.bus = 1;
    call(members_members, "members", "{\"room\":\"lobby\"}", 7);
    assert_string_equal(fake.query_room, "lobby");
    complete_query(SB_OK, "[\"carol\",\"dave\"]");
    assert_string_equal(fake.type, "members");
    assert_string_equal(fake.data,
                        "{\"room\":\"lobby\",\"users\":[\"carol\",\"dave\"],\"more\":false}");
    assert_int_equal(fake.held, 0);
}

/* Pages of a room's members (sorted by the host): `after` the last name of
 * the previous page, `limit` names at most, `more` while names remain. */
static void test_members_members_pages_with_after_and_limit(void **state)
{
    (void)state;
    static const struct {
        const char *args, *want;
    } pages[] = {
        {"\"limit\":2", "\"users\":[\"ann\",\"bob\"],\"more\":true"},
        {"\"after\":\"bob\",\"limit\":2", "\"users\":[\"cat\",\"dan\"],\"more\":true"},
        {"\"after\":\"dan\",\"limit\":2", "\"users\":[\"eve\"],\"more\":false"},
        {"\"after\":\"eve\",\"limit\":2", "\"users\":[],\"more\":false"},
        /* a name that left meanwhile still places the page */
        {"\"after\":\"bz\",\"limit\":1", "\"users\":[\"cat\"],\"more\":true"},
        {"\"after\":null", "\"users\":[\"ann\",\"bob\",\"cat\",\"dan\",\"eve\"],\"more\":false"},
        {"\"limit\":5", "\"users\":[\"ann\",\"bob\",\"cat\",\"dan\",\"eve\"],\"more\":false"},
    };
    fake.bus = 1;
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        char data[128], want[160];
        snprintf(data, sizeof data, "{\"room\":\"big\",%s}", pages[i].args);
        snprintf(want, sizeof want, "{\"room\":\"big\",%s}", pages[i].want);
        fake.type[0] = '\0';
        call(members_members, "members", data, 7);
        complete_query(SB_OK, "[\"ann\",\"bob\",\"cat\",\"dan\",\"eve\"]");
        assert_string_equal(fake.type, "members");
        assert_string_equal(fake.data, want);
    }
    assert_int_equal(fake.held, 0);
}

static void test_members_list_bus_down_is_unavailable(void **state)
{
    (void)state;
    fake.bus = 1;
    call(members_list, "list", "{}", 7);
    complete_query(SB_EUNAVAILABLE, "[\"alice\"]");
    assert_string_equal(fake.type, "error");
    assert_string_equal(fake.code, "unavailable");
    assert_null(fake.data);
    assert_int_equal(fake.held, 0);
}

static void test_members_forbidden_list_asks_no_bus(void **state)
{
    (void)state;
    fake.bus = 1;
    fake.deny = 1;
    call(members_list, "list", "{}", 7);
    assert_string_equal(fake.code, "forbidden");
    assert_null(fake.query_done);
    assert_int_equal(fake.held, 0);
}

static void test_members_me_describes_connection(void **state)
{
    (void)state;
    fake.deny = 1; /* me asks no permission */
    call(members_me, "me", "{}", 18446744073709551615ULL);
    assert_string_equal(fake.type, "me");
    assert_string_equal(fake.data, "{\"user\":\"alice\",\"conn\":\"18446744073709551615\","
                                   "\"rooms\":[\"a\",\"lobby\"],\"since\":1732280000123}");
    assert_int_equal(fake.authorize_calls, 0);
}

static void test_members_me_closed_connection(void **state)
{
    (void)state;
    call(members_me, "me", "{}", 999);
    assert_string_equal(fake.type, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_members_list_replies_online_users, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_list_forbidden, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_replies_room_users, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_empty_room, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_bad_args, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_forbidden, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_list_through_bus, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_through_bus, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_members_pages_with_after_and_limit,
                                        members_setup, members_teardown),
        cmocka_unit_test_setup_teardown(test_members_list_bus_down_is_unavailable, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_forbidden_list_asks_no_bus, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_me_describes_connection, members_setup,
                                        members_teardown),
        cmocka_unit_test_setup_teardown(test_members_me_closed_connection, members_setup,
                                        members_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

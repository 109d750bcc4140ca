/* The registry on the real loop: authenticating a connection (set_user),
 * sessions = replace, rooms with their per-user counts, closing a user's
 * connections, detaching a connection from everything, the membership
 * events a bus learns, and allocation failures in set_user and room_join. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "registry.h"
#include "runtime.h"

/* What a bus with membership was told, "online bob;join bob r1;...". */
static char events[1024];
static int opens;

static void bus_membership(void *ud, int event, const char *user, const char *room)
{
    (void)ud;
    static const char *const names[] = {"online", "offline", "join", "leave"};
    size_t n = strlen(events);
    snprintf(events + n, sizeof(events) - n, "%s %s%s%s;", names[event], user, room ? " " : "",
             room ? room : "");
}

static int bus_publish(void *ud, int route, const char *const *targets, size_t n,
                       const char *envelope, size_t len, int direct)
{
    (void)ud;
    (void)route;
    (void)targets;
    (void)n;
    (void)envelope;
    (void)len;
    (void)direct;
    return SB_OK;
}

static void on_open_count(void *ud, uint64_t conn_id, const char *user)
{
    (void)ud;
    (void)conn_id;
    (void)user;
    opens++;
}

static int later_ident(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                       const char **reason)
{
    (void)ud;
    (void)reason;
    /* client_id given: that user; none: authenticate later. */
    return harness_host->query_param(req->query, "client_id", user, SB_USER_MAX + 1) == SB_OK
               ? SB_IDENT_USER
               : SB_IDENT_LATER;
}

static void register_fakes(void)
{
    events[0] = 0;
    opens = 0;
    sb_bus bus = {SB_BUS_INIT, .publish = bus_publish, .membership = bus_membership};
    assert_int_equal(harness_host->register_bus(harness_pc, &bus, NULL), SB_OK);
    sb_hooks h = {SB_HOOKS_INIT, .on_open = on_open_count};
    assert_int_equal(harness_host->register_hooks(harness_pc, &h, NULL), SB_OK);
    assert_int_equal(harness_host->register_identify(harness_pc, later_ident, NULL), SB_OK);
}

static int registry_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    register_fakes();
    return 0;
}

/* An open WebSocket connection that is not authenticated yet. */
static sb_conn *anonymous(void)
{
    harness_client *cl = harness_ws_open("/ws");
    assert_non_null(cl);
    sb_conn *c = harness_conn(cl);
    assert_non_null(c);
    assert_null(c->user);
    return c;
}

static int on_all_list(const sb_conn *c)
{
    for (sb_conn *a = sb_registry_all(); a; a = a->all_next)
        if (a == c)
            return 1;
    return 0;
}

static char *json_text(cJSON *j)
{
    assert_non_null(j);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void assert_json(cJSON *j, const char *want)
{
    char *s = json_text(j);
    assert_string_equal(s, want);
    cJSON_free(s);
}

static int detached(void *arg)
{
    sb_conn *c = sb_conn_find(*(uint64_t *)arg);
    return !c || c->detached;
}

/* --- set_user ----------------------------------------------------------------- */

static void test_registry_set_user_registers(void **state)
{
    (void)state;
    sb_conn *c = anonymous();
    assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
    assert_string_equal(c->user, "bob");
    sb_user *u = sb_registry_user("bob");
    assert_non_null(u);
    assert_ptr_equal(c->u, u);
    assert_int_equal(u->n, 1);
    assert_ptr_equal(sb_user_conns(u)[0], c);
    assert_ptr_equal(sb_registry_all(), c);
    assert_int_equal(sb_registry_n_users(), 1);
    assert_int_equal(opens, 1);
    assert_string_equal(events, "online bob;");
}

static void test_registry_set_user_same_ok_other_einval(void **state)
{
    (void)state;
    sb_conn *c = anonymous();
    assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
    assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
    assert_int_equal(sb_registry_set_user(c, "eve"), SB_EINVAL);
    assert_string_equal(c->user, "bob");
    assert_int_equal(sb_registry_user("bob")->n, 1);
    assert_null(sb_registry_user("eve"));
    assert_int_equal(opens, 1);
}

static void test_registry_set_user_second_conn_same_user(void **state)
{
    (void)state;
    sb_conn *a = anonymous(), *b = anonymous();
    assert_int_equal(sb_registry_set_user(a, "bob"), SB_OK);
    assert_int_equal(sb_registry_set_user(b, "bob"), SB_OK);
    sb_user *u = sb_registry_user("bob");
    assert_int_equal(u->n, 2);
    assert_true(on_all_list(a) && on_all_list(b));
    assert_int_equal(sb_registry_n_users(), 1);
    assert_string_equal(events, "online bob;"); /* the first connection only */
}

static int user_has(sb_user *u, const sb_conn *c)
{
    for (size_t i = 0; i < u->n; i++)
        if (sb_user_conns(u)[i] == c)
            return 1;
    return 0;
}

/* A user's first connection sits in the entry, the array comes with the
 * second and grows; leaving in any order keeps the rest, the last removes
 * the entry. */
static void test_registry_set_user_conns_grow_and_shrink(void **state)
{
    (void)state;
    sb_conn *c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = anonymous();
        assert_int_equal(sb_registry_set_user(c[i], "bob"), SB_OK);
        sb_user *u = sb_registry_user("bob");
        assert_int_equal(u->n, i + 1);
        for (int j = 0; j <= i; j++)
            assert_true(user_has(u, c[j]));
    }
    const int order[5] = {1, 4, 0, 3, 2};
    for (int k = 0; k < 5; k++) {
        sb_conn_destroy(c[order[k]]);
        sb_user *u = sb_registry_user("bob");
        if (k == 4) {
            assert_null(u);
            break;
        }
        assert_int_equal(u->n, 4 - k);
        for (int j = k + 1; j < 5; j++)
            assert_true(user_has(u, c[order[j]]));
    }
    assert_int_equal(sb_registry_n_users(), 0);
}

static void test_registry_set_user_sessions_replace(void **state)
{
    (void)state;
    harness_stop();
    harness_start("sessions = replace\n");
    register_fakes();
    harness_client *old = harness_ws_open("/ws?client_id=bob");
    harness_client *other = harness_ws_open("/ws?client_id=alice");
    harness_client *new = harness_ws_open("/ws?client_id=bob");
    assert_non_null(old);
    assert_non_null(new);
    harness_expect_close(old, 4001, "replaced by a newer session");
    assert_true(harness_run_until(detached, &old->conn_id)); /* at the next tick */
    harness_expect_nothing(new);
    harness_expect_nothing(other);
    sb_user *u = sb_registry_user("bob");
    assert_int_equal(u->n, 1);
    assert_ptr_equal(sb_user_conns(u)[0], harness_conn(new));
}

/* Every allocation of set_user failing in turn: SB_ENOMEM, the connection
 * still anonymous and off the broadcast list; a retry then succeeds and
 * leaves exactly one connection under the user. */
static void test_registry_set_user_enomem_then_retry(void **state)
{
    (void)state;
    for (long nth = 0;; nth++) {
        sb_conn *c = anonymous();
        harness_fail_alloc(nth, 1);
        int rc = sb_registry_set_user(c, "bob");
        if (harness_fail_off() == 0) {
            assert_int_equal(rc, SB_OK);
            break;
        }
        assert_int_equal(rc, SB_ENOMEM);
        assert_null(c->user);
        assert_false(on_all_list(c));
        assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
        assert_int_equal(sb_registry_user("bob")->n, 1);
        assert_ptr_equal(sb_user_conns(sb_registry_user("bob"))[0], c);
        sb_conn_destroy(c);
        assert_null(sb_registry_user("bob"));
    }
}

/* A failed set_user leaves no user entry behind: the user is not online. */
static void test_registry_set_user_enomem_leaves_nothing(void **state)
{
    (void)state;
    for (long nth = 0;; nth++) {
        sb_conn *c = anonymous();
        events[0] = 0;
        harness_fail_alloc(nth, 1);
        int rc = sb_registry_set_user(c, "bob");
        if (harness_fail_off() == 0) {
            assert_int_equal(rc, SB_OK);
            break;
        }
        assert_int_equal(rc, SB_ENOMEM);
        assert_null(sb_registry_user("bob"));
        assert_int_equal(sb_registry_n_users(), 0);
        assert_int_equal(harness_host->user_online(harness_pc, "bob"), 0);
        sb_conn_destroy(c);
        assert_string_equal(events, ""); /* never online, so never offline */
    }
}

/* --- rooms ---------------------------------------------------------------------- */

static void test_registry_room_join_leave_counts(void **state)
{
    (void)state;
    sb_conn *a = anonymous(), *b = anonymous(), *z = anonymous();
    assert_int_equal(sb_registry_set_user(a, "bob"), SB_OK);
    assert_int_equal(sb_registry_set_user(b, "bob"), SB_OK);
    assert_int_equal(sb_registry_set_user(z, "zed"), SB_OK);
    int was_in = -1, still_in = -1;
    assert_int_equal(sb_registry_room_join(a, "r1", &was_in), SB_OK);
    assert_int_equal(was_in, 0);
    assert_int_equal(sb_registry_room_join(b, "r1", &was_in), SB_OK);
    assert_int_equal(was_in, 1);
    assert_int_equal(sb_registry_room_join(z, "r1", &was_in), SB_OK);
    assert_int_equal(was_in, 0);
    assert_int_equal(sb_registry_room_join(a, "r1", &was_in), SB_OK); /* again: nothing new */
    assert_int_equal(was_in, 1);
    assert_int_equal(sb_registry_room_join(a, "r0", &was_in), SB_OK);
    sb_room *r = sb_registry_room("r1");
    assert_int_equal(sb_dict_count(r->conns), 3);
    assert_int_equal(sb_dict_count(r->users), 2);
    assert_json(sb_registry_room_users_json("r1"), "[\"bob\",\"zed\"]");
    assert_json(sb_registry_rooms_json(), "[\"r0\",\"r1\"]");
    assert_json(sb_registry_conn_rooms_json(a), "[\"r0\",\"r1\"]");
    assert_int_equal(sb_registry_room_leave(a, "r1", &still_in), SB_OK);
    assert_int_equal(still_in, 1);
    assert_int_equal(sb_registry_room_leave(a, "r1", &still_in), SB_ENOTFOUND);
    assert_int_equal(sb_registry_room_leave(b, "r1", &still_in), SB_OK);
    assert_int_equal(still_in, 0);
    assert_json(sb_registry_room_users_json("r1"), "[\"zed\"]");
    assert_int_equal(sb_registry_room_leave(z, "r1", &still_in), SB_OK);
    assert_null(sb_registry_room("r1"));
    assert_int_equal(sb_registry_n_rooms(), 1);
    assert_string_equal(events, "online bob;online zed;join bob r1;join zed r1;join bob r0;"
                                "leave bob r1;leave zed r1;");
}

static void test_registry_room_join_anonymous_einval(void **state)
{
    (void)state;
    sb_conn *c = anonymous();
    int was_in;
    assert_int_equal(sb_registry_room_join(c, "r1", &was_in), SB_EINVAL);
    assert_null(sb_registry_room("r1"));
}

/* Every allocation of room_join failing in turn: SB_ENOMEM and not a
 * member; a retry then joins. */
static void test_registry_room_join_enomem_then_retry(void **state)
{
    (void)state;
    sb_conn *c = anonymous();
    assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
    for (long nth = 0;; nth++) {
        int was_in = -1;
        harness_fail_alloc(nth, 1);
        int rc = sb_registry_room_join(c, "r1", &was_in);
        if (harness_fail_off() == 0) {
            assert_int_equal(rc, SB_OK);
            break;
        }
        assert_int_equal(rc, SB_ENOMEM);
        assert_int_equal(c->n_rooms, 0);
        assert_int_equal(harness_host->room_has_conn(harness_pc, "r1", c->id), 0);
        assert_int_equal(sb_registry_room_join(c, "r1", &was_in), SB_OK);
        assert_int_equal(was_in, 0);
        assert_int_equal(c->n_rooms, 1);
        assert_int_equal(sb_registry_room_leave(c, "r1", &was_in), SB_OK);
        assert_null(sb_registry_room("r1"));
    }
}

/* A failed join leaves no room entry behind: no empty room in the list. */
static void test_registry_room_join_enomem_leaves_nothing(void **state)
{
    (void)state;
    sb_conn *c = anonymous();
    assert_int_equal(sb_registry_set_user(c, "bob"), SB_OK);
    for (long nth = 0;; nth++) {
        int was_in = -1;
        harness_fail_alloc(nth, 1);
        int rc = sb_registry_room_join(c, "r1", &was_in);
        if (harness_fail_off() == 0) {
            assert_int_equal(rc, SB_OK);
            break;
        }
        assert_int_equal(rc, SB_ENOMEM);
        assert_null(sb_registry_room("r1"));
        assert_int_equal(sb_registry_n_rooms(), 0);
    }
}

/* --- closing and detaching ----------------------------------------------------- */

static void test_registry_close_user_only_that_user(void **state)
{
    (void)state;
    harness_client *b1 = harness_ws_open("/ws?client_id=bob");
    harness_client *b2 = harness_ws_open("/ws?client_id=bob");
    harness_client *b3 = harness_ws_open("/ws?client_id=bob");
    harness_client *a = harness_ws_open("/ws?client_id=alice");
    assert_int_equal(sb_registry_close_user("bob", 4000, "go", 0, b3->conn_id, NULL), 2);
    harness_expect_close(b1, 4000, "go");
    harness_expect_close(b2, 4000, "go");
    harness_expect_nothing(b3);
    harness_expect_nothing(a);
    assert_int_equal(sb_registry_close_user("nobody", 4000, "go", 0, 0, NULL), 0);
    /* Closing ones are not closed twice. */
    assert_int_equal(sb_registry_close_user("bob", 4000, "go", 0, b3->conn_id, NULL), 0);
}

static void test_registry_close_user_before_ms(void **state)
{
    (void)state;
    harness_client *old = harness_ws_open("/ws?client_id=bob");
    harness_client *new = harness_ws_open("/ws?client_id=bob");
    harness_conn(old)->since_ms -= 1000;
    int64_t cut = harness_conn(new)->since_ms;
    assert_int_equal(sb_registry_close_user("bob", 4001, "old", cut, 0, NULL), 1);
    harness_expect_close(old, 4001, "old");
    harness_expect_nothing(new);
}

static void test_registry_detach_removes_everything(void **state)
{
    (void)state;
    harness_client *cl = harness_ws_open("/ws?client_id=bob");
    harness_client *other = harness_ws_open("/ws?client_id=zed");
    sb_conn *c = harness_conn(cl);
    int was_in;
    assert_int_equal(sb_registry_room_join(c, "r1", &was_in), SB_OK);
    assert_int_equal(sb_registry_room_join(c, "r2", &was_in), SB_OK);
    assert_int_equal(sb_registry_room_join(harness_conn(other), "r2", &was_in), SB_OK);
    assert_int_equal(sb_srv.n_ws, 2);
    assert_int_equal(sb_registry_ip_count("127.0.0.1"), 2);
    events[0] = 0;
    sb_registry_detach(c);
    assert_true(c->detached);
    assert_null(c->u);
    assert_int_equal(c->n_rooms, 0);
    assert_null(sb_registry_user("bob"));
    assert_null(sb_registry_room("r1"));
    assert_json(sb_registry_room_users_json("r2"), "[\"zed\"]");
    assert_false(on_all_list(c));
    assert_ptr_equal(sb_registry_all(), harness_conn(other));
    assert_int_equal(sb_srv.n_ws, 1);
    assert_int_equal(sb_registry_ip_count("127.0.0.1"), 1);
    assert_string_equal(events, "leave bob r1;leave bob r2;offline bob;");
    sb_registry_detach(c); /* idempotent */
    assert_int_equal(sb_srv.n_ws, 1);
    assert_string_equal(events, "leave bob r1;leave bob r2;offline bob;");
}

static void test_registry_users_json_sorted(void **state)
{
    (void)state;
    harness_ws_open("/ws?client_id=zed");
    harness_ws_open("/ws?client_id=amy");
    harness_ws_open("/ws?client_id=Bob");
    harness_ws_open("/ws?client_id=amy");
    char *s = json_text(sb_registry_users_json());
    cJSON *names = cJSON_Parse(s);
    assert_int_equal(cJSON_GetArraySize(names), 3);
    cJSON_Delete(names);
    /* The host's order (bytewise) and no repeats. */
    assert_string_equal(s, "[\"Bob\",\"amy\",\"zed\"]");
    cJSON_free(s);
    const char *dup[] = {"b", "a", "b", "c", "a"};
    assert_json(sb_registry_names_json(dup, 5), "[\"a\",\"b\",\"c\"]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, registry_setup, harness_teardown)
        T(test_registry_set_user_registers),
        T(test_registry_set_user_same_ok_other_einval),
        T(test_registry_set_user_second_conn_same_user),
        T(test_registry_set_user_conns_grow_and_shrink),
        T(test_registry_set_user_sessions_replace),
        T(test_registry_set_user_enomem_then_retry),
        T(test_registry_set_user_enomem_leaves_nothing),
        T(test_registry_room_join_leave_counts),
        T(test_registry_room_join_anonymous_einval),
        T(test_registry_room_join_enomem_then_retry),
        T(test_registry_room_join_enomem_leaves_nothing),
        T(test_registry_close_user_only_that_user),
        T(test_registry_close_user_before_ms),
        T(test_registry_detach_removes_everything),
        T(test_registry_users_json_sorted),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

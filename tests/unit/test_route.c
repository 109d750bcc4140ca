/* Fan-out on the real loop: to users, a room and everyone, with the echo
 * rule (skip_conn, skip_user), closing and anonymous connections left out,
 * events held behind a backlog and direct messages left to it, a fake
 * store whose pages complete on a later loop iteration, one encode per
 * fan-out for a dialect endpoint, and a connection that dies during a
 * fan-out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "registry.h"
#include "native.h"
#include "route.h"
#include "runtime.h"

/* --- a fake store: inboxes in an array, pages completed by host->later ---- */

#define INBOX_MAX 16
#define PAGES_MAX 8

static struct {
    char user[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];
    char json[128];
} inbox[INBOX_MAX];
static size_t n_inbox;

typedef struct page_req {
    sb_store_page_fn done;
    void *arg;
    char user[SB_USER_MAX + 1];
    char after[SB_ID_LEN + 1];
} page_req;

static page_req pages[PAGES_MAX];
static size_t n_pages, pages_asked;
static int page_refuse; /* page() answers SB_EUNAVAILABLE */

static void store_add(const char *user, const char *id, const char *text)
{
    assert_true(n_inbox < INBOX_MAX);
    snprintf(inbox[n_inbox].user, sizeof(inbox[0].user), "%s", user);
    snprintf(inbox[n_inbox].id, sizeof(inbox[0].id), "%s", id);
    snprintf(inbox[n_inbox].json, sizeof(inbox[0].json),
             "{\"id\":\"%s\",\"from\":\"zed\",\"text\":\"%s\"}", id, text);
    n_inbox++;
}

static int store_page(void *ud, const char *user, const char *after, size_t limit,
                      sb_store_page_fn done, void *arg)
{
    (void)ud;
    (void)limit;
    pages_asked++;
    if (page_refuse)
        return SB_EUNAVAILABLE;
    assert_true(n_pages < PAGES_MAX);
    page_req *p = &pages[n_pages++];
    p->done = done;
    p->arg = arg;
    snprintf(p->user, sizeof(p->user), "%s", user);
    snprintf(p->after, sizeof(p->after), "%s", after ? after : "");
    return SB_OK;
}

static void page_complete(void *arg)
{
    page_req *p = arg;
    sb_stored msgs[INBOX_MAX];
    size_t n = 0;
    for (size_t i = 0; i < n_inbox; i++)
        if (strcmp(inbox[i].user, p->user) == 0 && strcmp(inbox[i].id, p->after) > 0)
            msgs[n++] = (sb_stored){inbox[i].id, inbox[i].json, strlen(inbox[i].json)};
    p->done(p->arg, SB_OK, msgs, n, 0);
}

/* Let the page reads asked so far complete (on the next loop iteration). */
static void store_release(void)
{
    static page_req done[PAGES_MAX];
    memcpy(done, pages, sizeof(pages));
    for (size_t i = 0; i < n_pages; i++)
        assert_int_equal(harness_host->later(harness_pc, page_complete, &done[i]), SB_OK);
    n_pages = 0;
}

/* --- a dialect endpoint counting its encodes ------------------------------------ */

static int encodes;

static int dialect_decode(void *ud, uint64_t conn_id, const char *user, const char *text,
                          size_t len, const char **code, const char **why)
{
    (void)ud;
    (void)conn_id;
    (void)user;
    (void)text;
    (void)len;
    *code = "bad_request";
    *why = "this dialect only listens";
    return SB_EPROTO;
}

/* "D <type> <data>"; a `presence` is not said in this dialect. */
static int dialect_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    (void)ud;
    encodes++;
    *out = NULL;
    if (strcmp(in->type, "presence") == 0)
        return SB_OK;
    char *data = cJSON_PrintUnformatted(in->data);
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "D %s %s%s%s", in->type, data, in->user ? " to " : "",
                     in->user ? in->user : "");
    cJSON_free(data);
    *out = harness_host->alloc((size_t)n);
    memcpy(*out, buf, (size_t)n);
    *out_len = (size_t)n;
    return SB_OK;
}

/* SB_ENDPOINT_EVENT_TEXT: "T <type> <data text>", or "t <type> <printed tree>" when the
 * host had no text to give. */
static int text_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    (void)ud;
    encodes++;
    char *printed = in->data != NULL ? cJSON_PrintUnformatted(in->data) : NULL;
    char buf[512];
    int n =
        in->data_json != NULL
            ? snprintf(buf, sizeof(buf), "T %s %.*s", in->type, (int)in->data_len, in->data_json)
            : snprintf(buf, sizeof(buf), "t %s %s", in->type, printed ? printed : "-");
    cJSON_free(printed);
    assert_true((in->data == NULL) == (in->data_json != NULL));
    *out = harness_host->alloc((size_t)n);
    memcpy(*out, buf, (size_t)n);
    *out_len = (size_t)n;
    return SB_OK;
}

static int later_ident(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                       const char **reason)
{
    (void)ud;
    (void)reason;
    return harness_host->query_param(req->query, "client_id", user, SB_USER_MAX + 1) == SB_OK
               ? SB_IDENT_USER
               : SB_IDENT_LATER;
}

static int route_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    n_inbox = n_pages = pages_asked = 0;
    page_refuse = 0;
    encodes = 0;
    assert_int_equal(harness_host->register_identify(harness_pc, later_ident, NULL), SB_OK);
    return 0;
}

static void use_store(void)
{
    sb_store st = {SB_STORE_INIT, .page = store_page};
    assert_int_equal(harness_host->register_store(harness_pc, &st, NULL), SB_OK);
}

static void use_dialect(void)
{
    sb_endpoint ep = {SB_ENDPOINT_INIT, .path = "/d", .decode = dialect_decode,
                      .encode = dialect_encode};
    assert_int_equal(harness_host->register_endpoint(harness_pc, &ep, NULL), SB_OK);
}

static void use_text_dialect(void)
{
    sb_endpoint ep = {SB_ENDPOINT_INIT, .path = "/t", .flags = SB_ENDPOINT_EVENT_TEXT,
                      .decode = dialect_decode, .encode = text_encode};
    assert_int_equal(harness_host->register_endpoint(harness_pc, &ep, NULL), SB_OK);
}

/* A dialect whose connections get their own broadcasts and publications. */
static void use_echo_dialect(void)
{
    sb_endpoint ep = {SB_ENDPOINT_INIT, .path = "/e", .flags = SB_ENDPOINT_ECHO,
                      .decode = dialect_decode, .encode = dialect_encode};
    assert_int_equal(harness_host->register_endpoint(harness_pc, &ep, NULL), SB_OK);
}

static harness_client *open_as(const char *path, const char *user)
{
    char target[128];
    snprintf(target, sizeof(target), "%s?client_id=%s", path, user);
    harness_client *cl = harness_ws_open(target);
    assert_non_null(cl);
    harness_settle();
    return cl;
}

/* {"type":"message","data":{"text":text}} framed natively. */
static sb_frame *event(const char *type, const char *text)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "text", text);
    sb_frame *f = sb_native_encode(type, NULL, data);
    cJSON_Delete(data);
    assert_non_null(f);
    return f;
}

#define EV_HI "{\"type\":\"message\",\"data\":{\"text\":\"hi\"}}"

/* --- users, room, all --------------------------------------------------------- */

static void test_route_users_every_conn_of_each(void **state)
{
    (void)state;
    harness_client *a1 = open_as("/ws", "alice"), *a2 = open_as("/ws", "alice");
    harness_client *b = open_as("/ws", "bob"), *c = open_as("/ws", "carol");
    const char *to[] = {"alice", "bob", "nobody"};
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    assert_int_equal(sb_route_users(to, 3, f, 0, 0, &n), SB_OK);
    assert_int_equal(n, 3);
    assert_int_equal(f->refs, 4); /* one frame, a reference per queue */
    sb_frame_unref(f);
    harness_expect_text(a1, EV_HI);
    harness_expect_text(a2, EV_HI);
    harness_expect_text(b, EV_HI);
    harness_expect_nothing(c);
}

/* The echo rule: the sending connection is skipped, the user's others are not. */
static void test_route_users_skip_conn(void **state)
{
    (void)state;
    harness_client *a1 = open_as("/ws", "alice"), *a2 = open_as("/ws", "alice");
    const char *to[] = {"alice"};
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    sb_route_users(to, 1, f, a1->conn_id, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 1);
    harness_expect_nothing(a1);
    harness_expect_text(a2, EV_HI);
}

static void test_route_room_skip_user_and_conn(void **state)
{
    (void)state;
    harness_client *a1 = open_as("/ws", "alice"), *a2 = open_as("/ws", "alice");
    harness_client *b = open_as("/ws", "bob"), *out = open_as("/ws", "zed");
    int was_in;
    assert_int_equal(sb_registry_room_join(harness_conn(a1), "r1", &was_in), SB_OK);
    assert_int_equal(sb_registry_room_join(harness_conn(a2), "r1", &was_in), SB_OK);
    assert_int_equal(sb_registry_room_join(harness_conn(b), "r1", &was_in), SB_OK);
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    sb_route_room("r1", f, 0, "alice", &n); /* a user's own presence never reaches it */
    assert_int_equal(n, 1);
    harness_expect_nothing(a1);
    harness_expect_nothing(a2);
    harness_expect_text(b, EV_HI);
    sb_route_room("r1", f, a1->conn_id, NULL, &n);
    assert_int_equal(n, 2);
    harness_expect_text(a2, EV_HI);
    harness_expect_text(b, EV_HI);
    harness_expect_nothing(a1);
    sb_route_room("empty", f, 0, NULL, &n);
    assert_int_equal(n, 0);
    sb_frame_unref(f);
    harness_expect_nothing(out);
}

static void test_route_all_authenticated_only(void **state)
{
    (void)state;
    harness_client *anon = harness_ws_open("/ws");
    harness_client *a = open_as("/ws", "alice"), *b = open_as("/ws", "bob");
    harness_client *closing = open_as("/ws", "carol");
    sb_conn_close(harness_conn(closing), 1000, "bye");
    harness_expect_close(closing, 1000, "bye");
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    sb_route_all(f, a->conn_id, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 1);
    harness_expect_text(b, EV_HI);
    harness_expect_nothing(a);
    harness_expect_nothing(anon);
    harness_expect_nothing(closing);
}

/* send_users through the host table: serialized once, and the bus gets
 * the same envelope. */
static char bus_seen[256];
static int bus_publish(void *ud, int route, const char *const *targets, size_t n,
                       const char *envelope, size_t len, int direct)
{
    (void)ud;
    snprintf(bus_seen, sizeof(bus_seen), "%d %zu %s %d %.*s", route, n, n ? targets[0] : "-",
             direct, (int)len, envelope);
    return SB_OK;
}

static void test_route_users_host_and_bus(void **state)
{
    (void)state;
    sb_bus bus = {SB_BUS_INIT, .publish = bus_publish};
    assert_int_equal(harness_host->register_bus(harness_pc, &bus, NULL), SB_OK);
    harness_client *b = open_as("/ws", "bob");
    cJSON *data = cJSON_Parse("{\"text\":\"hi\"}");
    const char *to[] = {"bob"};
    size_t n = 0;
    assert_int_equal(harness_host->send_users(harness_pc, to, 1, "message", data, 0, 0, &n), SB_OK);
    cJSON_Delete(data);
    assert_int_equal(n, 1);
    harness_expect_text(b, EV_HI);
    assert_string_equal(bus_seen, "0 1 bob 0 " EV_HI);
}

/* --- the backlog ------------------------------------------------------------------ */

#define ID1 "00000000000000000000000001"
#define ID2 "00000000000000000000000002"
#define STORED(id, text)                                                                           \
    "{\"type\":\"message\",\"data\":{\"id\":\"" id "\",\"from\":\"zed\",\"text\":\"" text "\"}}"

/* Events wait behind the stored messages, then follow them. */
static void test_route_all_held_behind_backlog(void **state)
{
    (void)state;
    use_store();
    store_add("bob", ID1, "stored");
    harness_client *b = open_as("/ws", "bob");
    sb_conn *c = harness_conn(b);
    assert_true(c->in_backlog);
    assert_int_equal(pages_asked, 1);
    sb_frame *f = event("broadcast", "live");
    size_t n = 0;
    sb_route_all(f, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 1);
    harness_expect_nothing(b); /* held */
    store_release();
    harness_expect_text(b, STORED(ID1, "stored"));
    harness_expect_text(b, "{\"type\":\"broadcast\",\"data\":{\"text\":\"live\"}}");
    assert_false(c->in_backlog);
}

/* A direct message to a connection in its backlog is left to the backlog:
 * a further page reads it, in order. */
static void test_route_users_direct_left_to_backlog(void **state)
{
    (void)state;
    use_store();
    store_add("bob", ID1, "first");
    harness_client *b = open_as("/ws", "bob");
    sb_conn *c = harness_conn(b);
    store_add("bob", ID2, "second"); /* stored, then routed */
    const char *to[] = {"bob"};
    cJSON *data = cJSON_Parse("{\"id\":\"" ID2 "\",\"from\":\"zed\",\"text\":\"second\"}");
    sb_frame *f = sb_native_encode("message", NULL, data);
    cJSON_Delete(data);
    size_t n = 9;
    sb_route_users(to, 1, f, 0, 1, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 0);
    assert_true(c->backlog_dirty);
    store_release(); /* page 1: both (the store has both by now) */
    harness_expect_text(b, STORED(ID1, "first"));
    harness_expect_text(b, STORED(ID2, "second"));
    harness_settle();
    store_release(); /* the page the dirty mark asked for: nothing new */
    harness_settle();
    assert_false(c->in_backlog);
    harness_expect_nothing(b);
}

/* --- per-endpoint framing ------------------------------------------------------- */

static void test_route_all_dialect_encoded_once(void **state)
{
    (void)state;
    use_dialect();
    harness_client *d1 = open_as("/d", "alice"), *d2 = open_as("/d", "bob");
    harness_client *d3 = open_as("/d", "carol"), *native = open_as("/ws", "dave");
    sb_frame *f = event("broadcast", "hi");
    size_t n = 0;
    sb_route_all(f, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 4);
    assert_int_equal(encodes, 1);
    harness_expect_text(d1, "D broadcast {\"text\":\"hi\"}");
    harness_expect_text(d2, "D broadcast {\"text\":\"hi\"}");
    harness_expect_text(d3, "D broadcast {\"text\":\"hi\"}");
    harness_expect_text(native, "{\"type\":\"broadcast\",\"data\":{\"text\":\"hi\"}}");
}

/* SB_ENDPOINT_ECHO: the sending connection gets its broadcast and room
 * publication too, with the shared frame; a native sender does not, and a
 * user left out (presence) stays left out. */
static void test_route_echo_endpoint_gets_its_own(void **state)
{
    (void)state;
    use_echo_dialect();
    harness_client *e = open_as("/e", "alice"), *native = open_as("/ws", "bob");
    sb_frame *f = event("broadcast", "hi");
    size_t n = 0;
    sb_route_all(f, e->conn_id, &n);
    assert_int_equal(n, 2);
    assert_int_equal(encodes, 1);
    harness_expect_text(e, "D broadcast {\"text\":\"hi\"}");
    harness_expect_text(native, "{\"type\":\"broadcast\",\"data\":{\"text\":\"hi\"}}");
    sb_route_all(f, native->conn_id, &n);
    assert_int_equal(n, 1);
    harness_expect_text(e, "D broadcast {\"text\":\"hi\"}");
    harness_expect_nothing(native);
    int was_in = 0;
    assert_int_equal(sb_registry_room_join(harness_conn(e), "r", &was_in), SB_OK);
    sb_route_room("r", f, e->conn_id, NULL, &n);
    assert_int_equal(n, 1);
    harness_expect_text(e, "D broadcast {\"text\":\"hi\"}");
    sb_route_room("r", f, e->conn_id, "alice", &n);
    assert_int_equal(n, 0);
    harness_expect_nothing(e);
    sb_frame_unref(f);
}

/* Direct: once per recipient user (a dialect may name the recipient). */
static void test_route_users_dialect_once_per_user(void **state)
{
    (void)state;
    use_dialect();
    harness_client *a1 = open_as("/d", "alice"), *a2 = open_as("/d", "alice");
    harness_client *b = open_as("/d", "bob"), *native = open_as("/ws", "bob");
    const char *to[] = {"alice", "bob"};
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    sb_route_users(to, 2, f, 0, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 4);
    assert_int_equal(encodes, 2);
    harness_expect_text(a1, "D message {\"text\":\"hi\"} to alice");
    harness_expect_text(a2, "D message {\"text\":\"hi\"} to alice");
    harness_expect_text(b, "D message {\"text\":\"hi\"} to bob");
    harness_expect_text(native, EV_HI);
}

/* A text-taking dialect gets the data's text out of the native frame, beside a dialect
 * that gets the tree; a frame not in the host's own shape (another node's, spaced) is
 * parsed for it instead. */
static void test_route_all_dialect_as_text(void **state)
{
    (void)state;
    use_dialect();
    use_text_dialect();
    harness_client *d = open_as("/d", "alice"), *t = open_as("/t", "bob");
    sb_frame *f = event("broadcast", "hi");
    size_t n = 0;
    sb_route_all(f, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 2);
    assert_int_equal(encodes, 2);
    harness_expect_text(d, "D broadcast {\"text\":\"hi\"}");
    harness_expect_text(t, "T broadcast {\"text\":\"hi\"}");
    static const char spaced[] = "{ \"type\": \"broadcast\", \"data\": {\"text\": \"yo\"} }";
    f = sb_frame_ws(1, spaced, sizeof(spaced) - 1);
    sb_route_all(f, 0, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 2);
    harness_expect_text(t, "t broadcast {\"text\":\"yo\"}");
    harness_expect_text(d, "D broadcast {\"text\":\"yo\"}");
}

static void test_route_room_dialect_says_nothing(void **state)
{
    (void)state;
    use_dialect();
    harness_client *d = open_as("/d", "alice"), *native = open_as("/ws", "bob");
    int was_in;
    assert_int_equal(sb_registry_room_join(harness_conn(d), "r", &was_in), SB_OK);
    assert_int_equal(sb_registry_room_join(harness_conn(native), "r", &was_in), SB_OK);
    sb_frame *f = event("presence", "x");
    size_t n = 0;
    sb_route_room("r", f, 0, NULL, &n);
    sb_frame_unref(f);
    assert_int_equal(n, 1);
    assert_int_equal(encodes, 1);
    harness_expect_nothing(d);
    harness_expect_text(native, "{\"type\":\"presence\",\"data\":{\"text\":\"x\"}}");
}

/* --- a connection dying during a fan-out ------------------------------------- */

/* Bob's first connection is (back) in its backlog with an event held; the
 * store refuses the page read a direct message triggers, and the two
 * allocations that follow fail: splicing the held events, then the 1011
 * close frame. That connection is torn down inside the fan-out walking
 * bob's connections; the walk must still reach his second one. */
static void fanout_victim(harness_client **first, harness_client **second)
{
    use_store();
    page_refuse = 1; /* the backlogs at connect end at once */
    *first = open_as("/ws", "bob");
    if (second)
        *second = open_as("/ws", "bob");
    sb_conn *c = harness_conn(*first);
    c->in_backlog = 1;
    c->backlog_busy = 0;
    sb_frame *held = event("presence", "held");
    assert_int_equal(sb_conn_send_event(c, held), SB_OK);
    sb_frame_unref(held);
    assert_true(c->held && !sb_outq_empty(c->held));
    assert_true(sb_outq_empty(&c->out));
}

static void test_route_users_conn_dies_during_fanout(void **state)
{
    (void)state;
    harness_client *first, *second;
    fanout_victim(&first, &second);
    const char *to[] = {"bob"};
    sb_frame *f = event("message", "hi");
    size_t n = 0;
    harness_fail_alloc(0, 2);
    sb_route_users(to, 1, f, 0, 1, &n);
    assert_int_equal(harness_fail_off(), 2);
    sb_frame_unref(f);
    assert_int_equal(n, 1);
    harness_expect_text(second, EV_HI);
    sb_conn *c = harness_conn(first);
    assert_true(!c || c->closing || c->dead);
}

/* The same with bob's only connection: the user entry goes with it while
 * the walk still reads it (ASan: heap-use-after-free). */
static void test_route_users_last_conn_dies_during_fanout(void **state)
{
    (void)state;
    harness_client *first;
    fanout_victim(&first, NULL);
    const char *to[] = {"bob"};
    sb_frame *f = event("message", "hi");
    size_t n = 9;
    harness_fail_alloc(0, 2);
    sb_route_users(to, 1, f, 0, 1, &n);
    harness_fail_off();
    sb_frame_unref(f);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, route_setup, harness_teardown)
        T(test_route_users_every_conn_of_each),
        T(test_route_users_skip_conn),
        T(test_route_room_skip_user_and_conn),
        T(test_route_all_authenticated_only),
        T(test_route_users_host_and_bus),
        T(test_route_all_held_behind_backlog),
        T(test_route_users_direct_left_to_backlog),
        T(test_route_all_dialect_encoded_once),
        T(test_route_echo_endpoint_gets_its_own),
        T(test_route_all_dialect_as_text),
        T(test_route_users_dialect_once_per_user),
        T(test_route_room_dialect_says_nothing),
        T(test_route_users_conn_dies_during_fanout),
        T(test_route_users_last_conn_dies_during_fanout),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Hook chains with fake providers registered through the host table: DENY
 * ends a chain, ALLOW and PASS let the next provider speak, the first
 * authenticator naming a user wins, a filter's output feeds the next one
 * and must stay a UTF-8 object, on_open/on_close in order on a real
 * connection, members past a provider's size ignored, the identifier and
 * the store/bus slots. filter_print: read-only filters that pass a message
 * on cost no copy and give the bytes of no filter; a change is stamped and
 * checked; a filter that edits in place gets a copy of its own. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "hooks.h"
#include "plugin_host.h"

static sb_plugin_ctx ctx[3] = {
    {.name = (char *)"p0"}, {.name = (char *)"p1"}, {.name = (char *)"p2"}};
static int answer[3];         /* what each provider answers */
static const char *why[3];    /* and its reason */
static const char *named[3];  /* authenticate: the user it names */
static char trace[512];       /* "p0 p1 ..." in call order */
static int change[3], bad[3]; /* filter_view: replace the message (with bad UTF-8) */

static void note(int i, const char *what)
{
    size_t n = strlen(trace);
    snprintf(trace + n, sizeof(trace) - n, "%s%s%s ", what, what[0] ? ":" : "", ctx[i].name);
}

static int authorize(void *ud, const char *user, const char *action, const char *target,
                     const cJSON *data, const char **reason)
{
    (void)user;
    (void)action;
    (void)target;
    (void)data;
    int i = (int)(intptr_t)ud;
    note(i, "");
    *reason = why[i];
    return answer[i];
}

static int on_connect(void *ud, const sb_http_req *req, const char **reason)
{
    int i = (int)(intptr_t)ud;
    note(i, req->user ? req->user : "-");
    *reason = why[i];
    return answer[i];
}

static int authenticate(void *ud, const char *token, const sb_http_req *req,
                        char user[SB_USER_MAX + 1], const char **reason)
{
    (void)token;
    (void)req;
    int i = (int)(intptr_t)ud;
    note(i, "");
    if (named[i])
        snprintf(user, SB_USER_MAX + 1, "%s", named[i]);
    *reason = why[i];
    return answer[i];
}

/* p0 replaces data with {"n":1}; the others add one to n. */
static int filter(void *ud, const sb_filter_msg *msg, cJSON **data, const char **reason)
{
    (void)msg;
    int i = (int)(intptr_t)ud;
    note(i, "");
    *reason = why[i];
    if (answer[i] == SB_HOOK_DENY)
        return SB_HOOK_DENY;
    if (i == 0) {
        cJSON_Delete(*data);
        *data = cJSON_CreateObject();
        cJSON_AddNumberToObject(*data, "n", 1);
    } else {
        cJSON *n = cJSON_GetObjectItem(*data, "n");
        cJSON_SetNumberValue(n, n->valuedouble + 1);
    }
    return answer[i];
}

static void on_open(void *ud, uint64_t conn_id, const char *user)
{
    (void)conn_id;
    note((int)(intptr_t)ud, user);
}

static void on_close(void *ud, uint64_t conn_id, const char *user)
{
    (void)conn_id;
    char what[80];
    snprintf(what, sizeof(what), "close %s", user);
    note((int)(intptr_t)ud, what);
}

static void add_providers(int n)
{
    for (int i = 0; i < n; i++) {
        sb_hooks h = {
            SB_HOOKS_INIT,          .on_connect = on_connect, .authenticate = authenticate,
            .authorize = authorize, .filter = filter,         .on_open = on_open,
            .on_close = on_close};
        assert_int_equal(harness_host->register_hooks(&ctx[i], &h, (void *)(intptr_t)i), SB_OK);
    }
}

static int hooks_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    memset(answer, 0, sizeof(answer));
    memset(why, 0, sizeof(why));
    memset(named, 0, sizeof(named));
    memset(change, 0, sizeof(change));
    memset(bad, 0, sizeof(bad));
    trace[0] = 0;
    return 0;
}

/* --- authorize -------------------------------------------------------------------- */

static void test_hooks_authorize_deny_ends_chain(void **state)
{
    (void)state;
    add_providers(3);
    answer[0] = SB_HOOK_ALLOW;
    answer[1] = SB_HOOK_DENY;
    why[1] = "not in this room";
    char reason[64] = "";
    assert_int_equal(sb_hooks_authorize("alice", "publish", "r1", NULL, reason, sizeof(reason)),
                     SB_HOOK_DENY);
    assert_string_equal(reason, "not in this room");
    assert_string_equal(trace, "p0 p1 ");
}

static void test_hooks_authorize_allow_and_pass_continue(void **state)
{
    (void)state;
    add_providers(3);
    answer[0] = SB_HOOK_PASS;
    answer[1] = SB_HOOK_ALLOW;
    answer[2] = SB_HOOK_PASS;
    char reason[64] = "";
    assert_int_equal(harness_host->run_authorize(harness_pc, "alice", "join", "r1", NULL, reason,
                                                 sizeof(reason)),
                     SB_HOOK_ALLOW);
    assert_string_equal(trace, "p0 p1 p2 ");
    /* An ALLOW cannot overrule a later DENY; without a reason the host names one. */
    answer[2] = SB_HOOK_DENY;
    trace[0] = 0;
    assert_int_equal(sb_hooks_authorize("alice", "join", "r1", NULL, reason, sizeof(reason)),
                     SB_HOOK_DENY);
    assert_string_equal(reason, "not allowed");
    assert_string_equal(trace, "p0 p1 p2 ");
}

static void test_hooks_authorize_empty_chain_allows(void **state)
{
    (void)state;
    char reason[8] = "";
    assert_int_equal(sb_hooks_authorize("a", "list", NULL, NULL, reason, sizeof(reason)),
                     SB_HOOK_ALLOW);
}

/* --- authenticate ---------------------------------------------------------------- */

static void test_hooks_authenticate_first_user_wins(void **state)
{
    (void)state;
    add_providers(3);
    answer[0] = SB_HOOK_PASS;
    answer[1] = SB_HOOK_ALLOW;
    named[1] = "alice";
    answer[2] = SB_HOOK_ALLOW;
    named[2] = "bob";
    char user[SB_USER_MAX + 1], reason[64];
    assert_int_equal(
        harness_host->run_authenticate(harness_pc, "t0k3n", NULL, user, reason, sizeof(reason)),
        SB_HOOK_ALLOW);
    assert_string_equal(user, "alice");
    assert_string_equal(trace, "p0 p1 ");
}

static void test_hooks_authenticate_deny_ends_chain(void **state)
{
    (void)state;
    add_providers(2);
    answer[0] = SB_HOOK_DENY;
    why[0] = "token expired";
    answer[1] = SB_HOOK_ALLOW;
    named[1] = "alice";
    char user[SB_USER_MAX + 1], reason[64];
    assert_int_equal(sb_hooks_authenticate("t", NULL, user, reason, sizeof(reason)), SB_HOOK_DENY);
    assert_string_equal(reason, "token expired");
    assert_string_equal(trace, "p0 ");
}

/* ALLOW without a user name is no answer, nor is a name with PASS; nobody
 * naming one denies. */
static void test_hooks_authenticate_no_user_denies(void **state)
{
    (void)state;
    add_providers(2);
    answer[0] = SB_HOOK_ALLOW; /* but names nobody */
    answer[1] = SB_HOOK_PASS;
    named[1] = "mallory";
    char user[SB_USER_MAX + 1], reason[64];
    assert_int_equal(sb_hooks_authenticate("t", NULL, user, reason, sizeof(reason)), SB_HOOK_DENY);
    assert_string_equal(reason, "invalid token");
    assert_string_equal(trace, "p0 p1 ");
}

/* --- filter ------------------------------------------------------------------------ */

static const sb_filter_msg msg = {.size = sizeof(sb_filter_msg),
                                  .type = "publish",
                                  .from = "alice",
                                  .room = "r1",
                                  .id = "01J00000000000000000000000",
                                  .ts = 1};

static void test_hooks_filter_output_feeds_next(void **state)
{
    (void)state;
    add_providers(3);
    cJSON *data = cJSON_Parse("{\"text\":\"hi\"}");
    char reason[64];
    assert_int_equal(sb_hooks_filter(&msg, &data, reason, sizeof(reason)), SB_HOOK_ALLOW);
    /* (The routing fields the host may restore after the chain aside.) */
    assert_null(cJSON_GetObjectItem(data, "text"));
    assert_int_equal(cJSON_GetObjectItem(data, "n")->valuedouble, 3);
    cJSON_Delete(data);
    assert_string_equal(trace, "p0 p1 p2 ");
}

static void test_hooks_filter_deny_ends_chain(void **state)
{
    (void)state;
    add_providers(3);
    answer[1] = SB_HOOK_DENY;
    why[1] = "spam";
    cJSON *data = cJSON_Parse("{}");
    char reason[64];
    assert_int_equal(sb_hooks_filter(&msg, &data, reason, sizeof(reason)), SB_HOOK_DENY);
    assert_string_equal(reason, "spam");
    assert_string_equal(trace, "p0 p1 ");
    cJSON_Delete(data);
}

static int filter_bad(void *ud, const sb_filter_msg *m, cJSON **data, const char **reason)
{
    (void)m;
    (void)reason;
    cJSON_Delete(*data);
    *data = (intptr_t)ud ? cJSON_CreateArray() : cJSON_Parse("{\"t\":\"\\u00e9\"}");
    if (!(intptr_t)ud) /* a string that is not UTF-8 (Latin-1 é) */
        cJSON_SetValuestring(cJSON_GetObjectItem(*data, "t"), "\xe9");
    return SB_HOOK_ALLOW;
}

static void test_hooks_filter_invalid_output_denied(void **state)
{
    (void)state;
    for (intptr_t kind = 0; kind < 2; kind++) {
        sb_hooks h = {SB_HOOKS_INIT, .filter = filter_bad};
        assert_int_equal(harness_host->register_hooks(&ctx[0], &h, (void *)kind), SB_OK);
        add_providers(2); /* p0 (again) and p1 after it: never reached */
        trace[0] = 0;
        cJSON *data = cJSON_Parse("{}");
        char reason[64];
        assert_int_equal(harness_host->run_filter(harness_pc, &msg, &data, reason, sizeof(reason)),
                         SB_HOOK_DENY);
        assert_string_equal(reason, "filter output is invalid");
        assert_string_equal(trace, "");
        cJSON_Delete(data);
        sb_hooks_remove_owner(&ctx[0]);
        sb_hooks_remove_owner(&ctx[1]);
    }
}

/* Issue 14: the host restores id, from, to/room and ts after the chain, so
 * a filter cannot change them (ABI 1.0 promised it). */
static int filter_forge(void *ud, const sb_filter_msg *m, cJSON **data, const char **reason)
{
    (void)ud;
    (void)m;
    (void)reason;
    cJSON_ReplaceItemInObject(*data, "from", cJSON_CreateString("mallory"));
    cJSON_ReplaceItemInObject(*data, "id", cJSON_CreateString("forged"));
    cJSON_ReplaceItemInObject(*data, "ts", cJSON_CreateNumber(7));
    cJSON_ReplaceItemInObject(*data, "room", cJSON_CreateString("elsewhere"));
    cJSON_ReplaceItemInObject(*data, "text", cJSON_CreateString("HI"));
    return SB_HOOK_ALLOW;
}

static void test_hooks_run_filter_restores_routing_fields(void **state)
{
    (void)state;
    sb_hooks h = {SB_HOOKS_INIT, .filter = filter_forge};
    assert_int_equal(harness_host->register_hooks(&ctx[0], &h, NULL), SB_OK);
    cJSON *data = cJSON_Parse("{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                              "\"room\":\"r1\",\"ts\":1,\"text\":\"hi\"}");
    char reason[64];
    assert_int_equal(harness_host->run_filter(harness_pc, &msg, &data, reason, sizeof(reason)),
                     SB_HOOK_ALLOW);
    assert_string_equal(cJSON_GetObjectItem(data, "from")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(data, "id")->valuestring, msg.id);
    assert_string_equal(cJSON_GetObjectItem(data, "room")->valuestring, "r1");
    assert_int_equal(cJSON_GetObjectItem(data, "ts")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItem(data, "text")->valuestring, "HI");
    cJSON_Delete(data);
}

/* --- filter_view and filter_print ------------------------------------------------- */

/* A filter_view provider: notes what it saw, answers answer[i]; with
 * change[i] it replaces the message with a new object holding text HI and a
 * forged sender (with bad[i], a text that is not UTF-8). */
static char seen[3][256]; /* the data each one got, printed */

static int filter_view(void *ud, const sb_filter_msg *m, const cJSON *data, cJSON **out,
                       const char **reason)
{
    (void)m;
    int i = (int)(intptr_t)ud;
    note(i, "view");
    char *text = cJSON_PrintUnformatted(data);
    snprintf(seen[i], sizeof(seen[i]), "%s", text);
    cJSON_free(text);
    *reason = why[i];
    if (change[i]) {
        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "from", "mallory");
        cJSON_AddStringToObject(*out, "text", bad[i] ? "\xe9" : "HI");
    }
    return answer[i];
}

static void add_view_providers(int n)
{
    for (int i = 0; i < n; i++) {
        sb_hooks h = {SB_HOOKS_INIT, .filter_view = filter_view};
        assert_int_equal(harness_host->register_hooks(&ctx[i], &h, (void *)(intptr_t)i), SB_OK);
    }
}

/* The client's data as the tests send it: stamped names it must lose, and
 * numbers and strings a second printing could write differently. */
static const char client_json[] = "{\"id\":\"claimed\",\"text\":\"h\\u00e9\\/\",\"n\":1.5e3,"
                                  "\"a\":[1,{\"b\":null,\"c\":-0}],\"from\":\"bob\",\"ts\":9}";

/* host->filter_print over client_json: SB_OK or SB_ENOMEM; *out the bytes
 * (caller: free) or NULL, reason written. The client's data must come out
 * as it went in. */
static int filter_print(char **out, char *reason, size_t reason_len)
{
    cJSON *data = cJSON_Parse(client_json);
    char *before = cJSON_PrintUnformatted(data);
    size_t len = 0;
    reason[0] = 0;
    int rc = harness_host->filter_print(harness_pc, &msg, data, out, &len, reason, reason_len);
    if (*out)
        assert_int_equal(len, strlen(*out));
    char *after = cJSON_PrintUnformatted(data);
    assert_string_equal(after, before);
    cJSON_free(before);
    cJSON_free(after);
    cJSON_Delete(data);
    return rc;
}

/* What the message is with no filter at all: print_unfiltered_new's bytes. */
static char *unfiltered(void)
{
    cJSON *data = cJSON_Parse(client_json);
    size_t len;
    int filtered = 1;
    char *text = harness_host->print_unfiltered_new(harness_pc, &msg, data, &len, &filtered);
    assert_false(filtered);
    assert_non_null(text);
    cJSON_Delete(data);
    return text;
}

static const char stamped_json[] = "{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                                   "\"room\":\"r1\",\"ts\":1,";

static void test_hooks_filter_print_without_filters_is_unfiltered(void **state)
{
    (void)state;
    char *want = unfiltered(), *got = NULL, reason[64];
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_string_equal(got, want);
    assert_memory_equal(got, stamped_json, sizeof(stamped_json) - 1);
    free(got);
    free(want);
}

/* Filters that read and pass the message on: the bytes of no filter, and
 * each saw the stamped message. */
static void test_hooks_filter_print_unchanged_sends_bytes_of_no_filter(void **state)
{
    (void)state;
    char *want = unfiltered(), *got = NULL, reason[64];
    add_view_providers(2);
    answer[0] = SB_HOOK_ALLOW; /* and p1 PASS */
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_string_equal(got, want);
    assert_string_equal(trace, "view:p0 view:p1 ");
    cJSON *saw = cJSON_Parse(seen[1]);
    assert_string_equal(cJSON_GetObjectItem(saw, "id")->valuestring, msg.id);
    assert_string_equal(cJSON_GetObjectItem(saw, "from")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(saw, "text")->valuestring, "h\xc3\xa9/");
    cJSON_Delete(saw);
    free(got);
    free(want);
}

/* A changed message: the next filter sees the change, the host restores the
 * routing fields; invalid output and DENY drop it. */
static void test_hooks_filter_print_changed_is_stamped_checked_or_dropped(void **state)
{
    (void)state;
    add_view_providers(2);
    change[0] = 1;
    char *got = NULL, reason[64];
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_string_equal(seen[1], "{\"from\":\"mallory\",\"text\":\"HI\"}");
    assert_string_equal(got, "{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                             "\"room\":\"r1\",\"ts\":1,\"text\":\"HI\"}");
    free(got);

    bad[0] = 1;
    trace[0] = 0;
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_null(got);
    assert_string_equal(reason, "filter output is invalid");
    assert_string_equal(trace, "view:p0 ");

    bad[0] = 0;
    answer[0] = SB_HOOK_DENY; /* with a new object, which the host frees */
    why[0] = "spam";
    trace[0] = 0;
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_null(got);
    assert_string_equal(reason, "spam");
    assert_string_equal(trace, "view:p0 ");
}

/* A filter that may edit in place gets a stamped copy of its own, after a
 * filter_view and before another; the client's data is never touched. */
static void test_hooks_filter_print_copies_for_a_filter_that_edits(void **state)
{
    (void)state;
    add_view_providers(1);
    sb_hooks h = {SB_HOOKS_INIT, .filter = filter_forge};
    assert_int_equal(harness_host->register_hooks(&ctx[1], &h, NULL), SB_OK);
    sb_hooks v = {SB_HOOKS_INIT, .filter_view = filter_view};
    assert_int_equal(harness_host->register_hooks(&ctx[2], &v, (void *)2), SB_OK);
    char *got = NULL, reason[64];
    assert_int_equal(filter_print(&got, reason, sizeof(reason)), SB_OK);
    assert_string_equal(trace, "view:p0 view:p2 ");
    assert_string_equal(got, "{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                             "\"room\":\"r1\",\"ts\":1,\"text\":\"HI\",\"n\":1500,"
                             "\"a\":[1,{\"b\":null,\"c\":0}]}");
    free(got);
}

static void test_hooks_filter_print_refuses_unrouted_and_reports_enomem(void **state)
{
    (void)state;
    sb_filter_msg m = msg;
    m.from = NULL;
    char *got = NULL, reason[64];
    cJSON *data = cJSON_Parse("{}");
    size_t len;
    assert_int_equal(
        harness_host->filter_print(harness_pc, &m, data, &got, &len, reason, sizeof(reason)),
        SB_OK);
    assert_null(got);
    assert_string_equal(reason, "internal error");
    cJSON_Delete(data);
    add_view_providers(1);
    harness_fail_alloc(0, -1);
    int rc = filter_print(&got, reason, sizeof(reason));
    assert_true(harness_fail_off() > 0);
    assert_int_equal(rc, SB_ENOMEM);
    assert_null(got);
}

/* run_filter with a filter_view: unchanged, the caller's stamped object
 * stays; a new one replaces it, stamped. */
static void test_hooks_run_filter_with_filter_view(void **state)
{
    (void)state;
    add_view_providers(1);
    cJSON *data = cJSON_Parse("{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                              "\"room\":\"r1\",\"ts\":1,\"text\":\"hi\"}");
    cJSON *given = data;
    char reason[64];
    assert_int_equal(harness_host->run_filter(harness_pc, &msg, &data, reason, sizeof(reason)),
                     SB_HOOK_ALLOW);
    assert_ptr_equal(data, given);
    change[0] = 1;
    assert_int_equal(harness_host->run_filter(harness_pc, &msg, &data, reason, sizeof(reason)),
                     SB_HOOK_ALLOW);
    char *text = cJSON_PrintUnformatted(data);
    assert_string_equal(text, "{\"id\":\"01J00000000000000000000000\",\"from\":\"alice\","
                              "\"room\":\"r1\",\"ts\":1,\"text\":\"HI\"}");
    cJSON_free(text);
    cJSON_Delete(data);
}

/* --- connection hooks ------------------------------------------------------------ */

static void test_hooks_on_connect_deny_answers_403(void **state)
{
    (void)state;
    add_providers(3);
    answer[1] = SB_HOOK_DENY;
    why[1] = "closed for today";
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_null(cl); /* not 101 */
    /* The harness kept the client: find its bytes through a fresh one. */
    harness_client *c2 = harness_connect();
    static const char req[] = "GET /ws?client_id=bob HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: " HARNESS_WS_KEY "\r\n\r\n";
    harness_write(c2, req, sizeof(req) - 1);
    assert_true(harness_wait_eof(c2));
    static const char want[] =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 17\r\nConnection: close\r\n\r\nclosed for today\n";
    assert_int_equal(c2->len, sizeof(want) - 1);
    assert_memory_equal(c2->buf, want, sizeof(want) - 1);
    /* Each request: p0 and p1 saw the identified user; p2 never ran. */
    assert_string_equal(trace, "alice:p0 alice:p1 bob:p0 bob:p1 ");
}

static void test_hooks_on_open_on_close_in_order(void **state)
{
    (void)state;
    add_providers(2);
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    assert_string_equal(trace, "alice:p0 alice:p1 alice:p0 alice:p1 "); /* connect, open */
    trace[0] = 0;
    harness_hangup(cl);
    assert_true(harness_run_until(harness_conn_gone, &cl->conn_id));
    assert_string_equal(trace, "close alice:p0 close alice:p1 ");
}

/* --- tables, owners, slots ------------------------------------------------------- */

/* A provider built when sb_hooks ended before authorize: the members past
 * its size are never called, whatever the bytes there hold. */
static void test_hooks_add_short_table(void **state)
{
    (void)state;
    sb_hooks h = {.size = (uint32_t)offsetof(sb_hooks, authorize),
                  .on_connect = on_connect,
                  .authorize = authorize,
                  .filter = filter};
    assert_int_equal(harness_host->register_hooks(&ctx[0], &h, (void *)0), SB_OK);
    char reason[64];
    assert_int_equal(sb_hooks_authorize("a", "list", NULL, NULL, reason, sizeof(reason)),
                     SB_HOOK_ALLOW);
    cJSON *data = cJSON_Parse("{\"k\":1}");
    assert_int_equal(sb_hooks_filter(&msg, &data, reason, sizeof(reason)), SB_HOOK_ALLOW);
    cJSON_Delete(data);
    assert_string_equal(trace, "");
    sb_hooks tiny = {.size = 2};
    assert_int_equal(sb_hooks_add(&tiny, NULL, &ctx[1]), SB_EINVAL);
}

static void test_hooks_remove_owner_leaves_others(void **state)
{
    (void)state;
    add_providers(3);
    sb_hooks_remove_owner(&ctx[1]);
    char reason[64];
    sb_hooks_authorize("a", "list", NULL, NULL, reason, sizeof(reason));
    assert_string_equal(trace, "p0 p2 ");
}

static void test_hooks_add_enomem(void **state)
{
    (void)state;
    add_providers(1);
    sb_hooks h = {SB_HOOKS_INIT, .authorize = authorize};
    harness_fail_alloc(0, 1);
    assert_int_equal(sb_hooks_add(&h, (void *)1, &ctx[1]), SB_ENOMEM);
    harness_fail_off();
    char reason[64];
    sb_hooks_authorize("a", "list", NULL, NULL, reason, sizeof(reason));
    assert_string_equal(trace, "p0 ");
}

static int ident_answer;
static const char *ident_user;
static int identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                    const char **reason)
{
    (void)ud;
    (void)req;
    snprintf(user, SB_USER_MAX + 1, "%s", ident_user);
    *reason = NULL;
    return ident_answer;
}

static void test_hooks_identify_checks_user(void **state)
{
    (void)state;
    sb_http_req req = {.size = sizeof(req), .query = ""};
    char user[SB_USER_MAX + 1], reason[64];
    assert_int_equal(sb_hooks_identify(&req, user, reason, sizeof(reason)), -1); /* none */
    assert_int_equal(harness_host->register_identify(&ctx[0], identify, NULL), SB_OK);
    assert_int_equal(harness_host->register_identify(&ctx[1], identify, NULL), SB_EEXIST);
    ident_answer = SB_IDENT_USER;
    ident_user = "carol";
    assert_int_equal(sb_hooks_identify(&req, user, reason, sizeof(reason)), SB_IDENT_USER);
    assert_string_equal(user, "carol");
    ident_user = ""; /* USER without a name is a rejection */
    assert_int_equal(sb_hooks_identify(&req, user, reason, sizeof(reason)), SB_IDENT_REJECT);
    assert_string_equal(reason, "identity rejected");
    ident_answer = SB_IDENT_LATER;
    assert_int_equal(sb_hooks_identify(&req, user, reason, sizeof(reason)), SB_IDENT_LATER);
    sb_hooks_remove_owner(&ctx[0]);
    assert_int_equal(sb_hooks_identify(&req, user, reason, sizeof(reason)), -1);
}

static int store_ready(void *ud, const char **reason)
{
    (void)ud;
    *reason = "disk full";
    return 0;
}

static void test_hooks_set_store_one_slot(void **state)
{
    (void)state;
    sb_store st = {SB_STORE_INIT, .ready = store_ready};
    const char *reason = NULL;
    assert_int_equal(sb_hooks_ready(&reason), 1);
    assert_null(sb_hooks_slot_owner("store"));
    assert_int_equal(harness_host->register_store(&ctx[0], &st, NULL), SB_OK);
    assert_int_equal(harness_host->register_store(&ctx[1], &st, NULL), SB_EEXIST);
    assert_string_equal(harness_host->slot_owner(harness_pc, "store"), "p0");
    assert_null(sb_hooks_slot_owner("bus"));
    assert_true(sb_hooks_owns_slot(&ctx[0]));
    assert_false(sb_hooks_owns_slot(&ctx[1]));
    assert_int_equal(sb_hooks_ready(&reason), 0);
    assert_string_equal(reason, "disk full");
    void *ud;
    assert_non_null(sb_hooks_store(&ud));
    sb_hooks_remove_owner(&ctx[0]);
    assert_null(sb_hooks_store(&ud));
    assert_int_equal(sb_hooks_bus_users(NULL, NULL, NULL), SB_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hooks_setup, harness_teardown)
        T(test_hooks_authorize_deny_ends_chain),
        T(test_hooks_authorize_allow_and_pass_continue),
        T(test_hooks_authorize_empty_chain_allows),
        T(test_hooks_authenticate_first_user_wins),
        T(test_hooks_authenticate_deny_ends_chain),
        T(test_hooks_authenticate_no_user_denies),
        T(test_hooks_filter_output_feeds_next),
        T(test_hooks_filter_deny_ends_chain),
        T(test_hooks_filter_invalid_output_denied),
        T(test_hooks_run_filter_restores_routing_fields),
        T(test_hooks_filter_print_without_filters_is_unfiltered),
        T(test_hooks_filter_print_unchanged_sends_bytes_of_no_filter),
        T(test_hooks_filter_print_changed_is_stamped_checked_or_dropped),
        T(test_hooks_filter_print_copies_for_a_filter_that_edits),
        T(test_hooks_filter_print_refuses_unrouted_and_reports_enomem),
        T(test_hooks_run_filter_with_filter_view),
        T(test_hooks_on_connect_deny_answers_403),
        T(test_hooks_on_open_on_close_in_order),
        T(test_hooks_add_short_table),
        T(test_hooks_remove_owner_leaves_others),
        T(test_hooks_add_enomem),
        T(test_hooks_identify_checks_user),
        T(test_hooks_set_store_one_slot),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

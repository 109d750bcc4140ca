/* Command dispatch on the real loop, frames sent by a WebSocket client:
 * the order of checks (rate limit, envelope, authentication, command
 * table, handler; `ping` answered by the core), the exact answers and the
 * refs they echo, held answers, the command table's rules, and a dialect's
 * decode and encode around the same path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_harness.h"

#include "dispatch.h"
#include "metrics.h"

static int held_rc;

static int cmd_echo(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    return harness_host->reply(harness_pc, cmd, "echo", cmd->data);
}

static int cmd_fail(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    (void)cmd;
    return SB_EPLUGIN;
}

static int cmd_hello(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddBoolToObject(d, "anonymous", cmd->user == NULL);
    int rc = harness_host->reply(harness_pc, cmd, "hello", d);
    cJSON_Delete(d);
    return rc;
}

static void hold_done(void *arg)
{
    held_rc = harness_host->reply_later(harness_pc, arg, "held", NULL);
}

static int cmd_hold(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    sb_reply *r = harness_host->reply_hold(harness_pc, cmd);
    if (!r)
        return SB_ENOMEM;
    return harness_host->later(harness_pc, hold_done, r);
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

static void register_fakes(void)
{
    assert_int_equal(harness_host->register_command(harness_pc, "echo", cmd_echo, NULL), SB_OK);
    assert_int_equal(harness_host->register_command(harness_pc, "fail", cmd_fail, NULL), SB_OK);
    assert_int_equal(harness_host->register_command(harness_pc, "hold", cmd_hold, NULL), SB_OK);
    assert_int_equal(harness_host->register_command_ex(harness_pc, "hello", cmd_hello, NULL,
                                                       SB_COMMAND_BEFORE_AUTH),
                     SB_OK);
    assert_int_equal(harness_host->register_identify(harness_pc, later_ident, NULL), SB_OK);
}

static int dispatch_setup(void **state)
{
    (void)state;
    harness_start(NULL);
    register_fakes();
    return 0;
}

static void restart(const char *keys)
{
    harness_stop();
    harness_start(keys);
    register_fakes();
}

static harness_client *alice(void)
{
    harness_client *cl = harness_ws_open("/ws?client_id=alice");
    assert_non_null(cl);
    return cl;
}

static harness_client *anonymous(void)
{
    harness_client *cl = harness_ws_open("/ws");
    assert_non_null(cl);
    assert_null(harness_conn(cl)->user);
    return cl;
}

/* Send text, expect exactly want back and nothing else. */
static void exchange(harness_client *cl, const char *text, const char *want)
{
    harness_send_text(cl, text);
    harness_expect_text(cl, want);
    harness_expect_nothing(cl);
}

/* --- handlers and answers ---------------------------------------------------- */

static void test_dispatch_text_handler_reply_echoes_ref(void **state)
{
    (void)state;
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"echo\",\"ref\":1,\"data\":{\"a\":[1,\"b\"]}}",
             "{\"type\":\"echo\",\"ref\":1,\"data\":{\"a\":[1,\"b\"]}}");
    exchange(cl, "{\"ref\":\"x-1\",\"type\":\"echo\"}",
             "{\"type\":\"echo\",\"ref\":\"x-1\",\"data\":{}}");
    exchange(cl, "{\"type\":\"echo\",\"ref\":9007199254740991}",
             "{\"type\":\"echo\",\"ref\":9007199254740991,\"data\":{}}");
    exchange(cl, "{\"type\":\"echo\"}", "{\"type\":\"echo\",\"data\":{}}");
    assert_int_equal(sb_metrics_core.commands, 4);
}

static void test_dispatch_text_handler_failure_internal(void **state)
{
    (void)state;
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"fail\",\"ref\":2}",
             "{\"type\":\"error\",\"ref\":2,\"data\":{\"code\":\"internal\",\"message\":"
             "\"internal error\"}}");
    assert_int_equal(sb_metrics_core.errors, 1);
}

static void test_dispatch_text_held_reply_later(void **state)
{
    (void)state;
    harness_client *cl = alice();
    held_rc = 1;
    harness_send_text(cl, "{\"type\":\"hold\",\"ref\":\"h\"}");
    harness_expect_text(cl, "{\"type\":\"held\",\"ref\":\"h\",\"data\":{}}");
    assert_int_equal(held_rc, SB_OK);
}

/* The answer of a connection that closed meanwhile is dropped: ECLOSED. */
static void test_dispatch_text_held_reply_conn_gone(void **state)
{
    (void)state;
    harness_client *cl = alice();
    held_rc = 1;
    sb_conn *c = harness_conn(cl);
    c->busy++;
    sb_dispatch_text(c, "{\"type\":\"hold\"}", 15);
    c->busy--;
    sb_conn_destroy(c);
    harness_settle();
    assert_int_equal(held_rc, SB_ECLOSED);
}

static void test_dispatch_text_ping_pong(void **state)
{
    (void)state;
    harness_client *cl = anonymous(); /* ping needs no authentication */
    harness_send_text(cl, "{\"type\":\"ping\",\"ref\":5}");
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    assert_int_equal(op, 1);
    cJSON *j = cJSON_Parse(p);
    free(p);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "pong");
    assert_int_equal(cJSON_GetObjectItem(j, "ref")->valueint, 5);
    const cJSON *ts = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "ts");
    assert_true(cJSON_IsNumber(ts));
    assert_true(ts->valuedouble > 1.6e12); /* epoch milliseconds */
    cJSON_Delete(j);
}

/* --- the order of checks --------------------------------------------------------- */

static void test_dispatch_text_bad_json(void **state)
{
    (void)state;
    harness_client *cl = alice();
    exchange(cl, "{\"type\":",
             "{\"type\":\"error\",\"data\":{\"code\":\"bad_json\",\"message\":"
             "\"frame is not valid JSON\"}}");
    exchange(cl, "[1,2]",
             "{\"type\":\"error\",\"data\":{\"code\":\"bad_json\",\"message\":"
             "\"frame is not a JSON object\"}}");
}

static void test_dispatch_text_bad_request_keeps_ref(void **state)
{
    (void)state;
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"echo\",\"ref\":3,\"data\":7}",
             "{\"type\":\"error\",\"ref\":3,\"data\":{\"code\":\"bad_request\",\"message\":"
             "\"data must be an object\"}}");
    exchange(cl, "{\"type\":\"\",\"ref\":\"q\"}",
             "{\"type\":\"error\",\"ref\":\"q\",\"data\":{\"code\":\"bad_request\",\"message\":"
             "\"type must be a non-empty string\"}}");
    exchange(cl, "{\"type\":\"echo\",\"ref\":1.5}",
             "{\"type\":\"error\",\"data\":{\"code\":\"bad_request\",\"message\":"
             "\"ref must be a string or an integer below 2^53\"}}");
}

static void test_dispatch_text_unauthenticated(void **state)
{
    (void)state;
    harness_client *cl = anonymous();
    const char *want = "{\"type\":\"error\",\"ref\":1,\"data\":{\"code\":\"unauthenticated\","
                       "\"message\":\"authenticate first\"}}";
    exchange(cl, "{\"type\":\"echo\",\"ref\":1}", want);
    /* Before the command table: an unknown type is unauthenticated too. */
    exchange(cl, "{\"type\":\"nope\",\"ref\":1}", want);
    /* After the envelope: a broken frame is bad_json first. */
    exchange(cl, "{",
             "{\"type\":\"error\",\"data\":{\"code\":\"bad_json\",\"message\":"
             "\"frame is not valid JSON\"}}");
}

static void test_dispatch_text_before_auth_command_runs(void **state)
{
    (void)state;
    harness_client *cl = anonymous();
    exchange(cl, "{\"type\":\"hello\",\"ref\":1}",
             "{\"type\":\"hello\",\"ref\":1,\"data\":{\"anonymous\":true}}");
}

static void test_dispatch_text_unknown_type(void **state)
{
    (void)state;
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"nope\",\"ref\":\"r\"}",
             "{\"type\":\"error\",\"ref\":\"r\",\"data\":{\"code\":\"unknown_type\",\"message\":"
             "\"no enabled plugin handles \\\"nope\\\"\"}}");
}

/* Every frame counts, first: the third frame of a burst of 2 is refused
 * before its envelope is looked at. */
static void test_dispatch_text_rate_limit_first(void **state)
{
    (void)state;
    restart("rate_limit = 0.001\nrate_burst = 2\n");
    harness_client *cl = alice();
    harness_send_text(cl, "{\"type\":\"ping\"}");
    harness_send_text(cl, "{\"type\":\"echo\"}");
    harness_send_text(cl, "{");
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    free(p); /* pong */
    harness_expect_text(cl, "{\"type\":\"echo\",\"data\":{}}");
    harness_expect_text(cl, "{\"type\":\"error\",\"data\":{\"code\":\"rate_limited\",\"message\":"
                            "\"over the command rate limit\"}}");
    harness_expect_nothing(cl);
}

static void test_dispatch_text_rate_limited_carries_ref(void **state)
{
    (void)state;
    restart("rate_limit = 0.001\nrate_burst = 1\n");
    harness_client *cl = alice();
    harness_send_text(cl, "{\"type\":\"echo\"}");
    harness_expect_text(cl, "{\"type\":\"echo\",\"data\":{}}");
    exchange(cl, "{\"type\":\"echo\",\"ref\":7}",
             "{\"type\":\"error\",\"ref\":7,\"data\":{\"code\":\"rate_limited\",\"message\":"
             "\"over the command rate limit\"}}");
}

/* The error's message says what was wrong with the frame. */
static void test_dispatch_text_empty_frame_message(void **state)
{
    (void)state;
    harness_client *cl = alice();
    harness_send_text(cl, "");
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    assert_non_null(strstr(p, "\"code\":\"bad_json\""));
    assert_null(strstr(p, "UTF-8"));
    free(p);
}

static void test_dispatch_text_too_deep_is_bad_request(void **state)
{
    (void)state;
    harness_client *cl = alice();
    size_t depth = 2000;
    char *text = malloc(2 * depth + 64);
    assert_non_null(text);
    size_t k = (size_t)sprintf(text, "{\"type\":\"echo\",\"ref\":4,\"data\":{\"a\":");
    for (size_t i = 0; i < depth; i++)
        text[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        text[k++] = ']';
    strcpy(text + k, "}}");
    harness_send_text(cl, text);
    free(text);
    int op;
    char *p;
    size_t n;
    assert_true(harness_next_frame(cl, &op, &p, &n));
    assert_non_null(strstr(p, "\"code\":\"bad_request\""));
    assert_non_null(strstr(p, "\"ref\":4"));
    free(p);
}

/* --- the command table --------------------------------------------------------- */

static void test_dispatch_register_rules(void **state)
{
    (void)state;
    assert_int_equal(sb_dispatch_register("echo", cmd_echo, NULL, harness_pc, 0), SB_EEXIST);
    assert_int_equal(sb_dispatch_register("ping", cmd_echo, NULL, harness_pc, 0), SB_EEXIST);
    assert_int_equal(sb_dispatch_register("", cmd_echo, NULL, harness_pc, 0), SB_EINVAL);
    assert_int_equal(sb_dispatch_register("x", NULL, NULL, harness_pc, 0), SB_EINVAL);
    /* A plugin's commands leave with it. */
    sb_dispatch_remove_owner(harness_pc);
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"echo\"}",
             "{\"type\":\"error\",\"data\":{\"code\":\"unknown_type\",\"message\":"
             "\"no enabled plugin handles \\\"echo\\\"\"}}");
}

static void test_dispatch_register_enomem(void **state)
{
    (void)state;
    for (long nth = 0;; nth++) {
        harness_fail_alloc(nth, 1);
        int rc = sb_dispatch_register("extra", cmd_echo, NULL, harness_pc, 0);
        if (harness_fail_off() == 0) {
            assert_int_equal(rc, SB_OK);
            break;
        }
        assert_int_equal(rc, SB_ENOMEM);
    }
    harness_client *cl = alice();
    exchange(cl, "{\"type\":\"extra\"}", "{\"type\":\"echo\",\"data\":{}}");
}

/* --- a dialect's codec around the same path ----------------------------------- */

static int dialect_decode(void *ud, uint64_t conn_id, const char *user, const char *text,
                          size_t len, const char **code, const char **why)
{
    (void)ud;
    (void)user;
    if (len > 2 && text[0] == 'T' && text[1] == ' ') {
        char type[32];
        snprintf(type, sizeof(type), "%.*s", (int)(len - 2), text + 2);
        cJSON *ref = cJSON_CreateString("d");
        int rc = harness_host->submit(harness_pc, conn_id, type, ref, NULL);
        cJSON_Delete(ref);
        return rc;
    }
    *code = "bad_request";
    *why = "not a T line";
    return SB_EPROTO;
}

static int dialect_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    (void)ud;
    char *data = cJSON_PrintUnformatted(in->data);
    char *ref = in->ref ? cJSON_PrintUnformatted(in->ref) : NULL;
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s|%s|%s|%s", in->reply ? "R" : "E", in->type,
                     ref ? ref : "-", data);
    cJSON_free(data);
    cJSON_free(ref);
    *out = harness_host->alloc((size_t)n);
    memcpy(*out, buf, (size_t)n);
    *out_len = (size_t)n;
    return SB_OK;
}

static void test_dispatch_text_dialect_decode_and_encode(void **state)
{
    (void)state;
    sb_endpoint ep = {SB_ENDPOINT_INIT, .path = "/dialect", .decode = dialect_decode,
                      .encode = dialect_encode};
    assert_int_equal(harness_host->register_endpoint(harness_pc, &ep, NULL), SB_OK);
    harness_client *cl = harness_ws_open("/dialect?client_id=alice");
    assert_non_null(cl);
    exchange(cl, "T echo", "R|echo|\"d\"|{}");
    exchange(cl, "T nope",
             "R|error|\"d\"|{\"code\":\"unknown_type\",\"message\":"
             "\"no enabled plugin handles \\\"nope\\\"\"}");
    /* A decode error: an error without ref, through the dialect's encode. */
    exchange(cl, "hello?", "R|error|-|{\"code\":\"bad_request\",\"message\":\"not a T line\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, dispatch_setup, harness_teardown)
        T(test_dispatch_text_handler_reply_echoes_ref),
        T(test_dispatch_text_handler_failure_internal),
        T(test_dispatch_text_held_reply_later),
        T(test_dispatch_text_held_reply_conn_gone),
        T(test_dispatch_text_ping_pong),
        T(test_dispatch_text_bad_json),
        T(test_dispatch_text_bad_request_keeps_ref),
        T(test_dispatch_text_unauthenticated),
        T(test_dispatch_text_before_auth_command_runs),
        T(test_dispatch_text_unknown_type),
        T(test_dispatch_text_rate_limit_first),
        T(test_dispatch_text_rate_limited_carries_ref),
        T(test_dispatch_text_empty_frame_message),
        T(test_dispatch_text_too_deep_is_bad_request),
        T(test_dispatch_register_rules),
        T(test_dispatch_register_enomem),
        T(test_dispatch_text_dialect_decode_and_encode),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

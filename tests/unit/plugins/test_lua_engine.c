/* Unit tests of plugins/lua/lua_engine.c: the four hooks over one or more
 * scripts (return conventions, chaining, first refusal wins, filter output
 * feeding the next filter), result validation, on_error, globals that
 * persist between calls, load failures, and lazy payloads (a function
 * without upvalues decides and changes exactly what a function with one
 * does). No host: a fake env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lua_engine.h"
#include "lua_host_checks.h"

static char fake_log[16384];

static void fake_env_log(void *ud, int level, const char *msg)
{
    (void)ud;
    size_t n = strlen(fake_log);
    snprintf(fake_log + n, sizeof fake_log - n, "%d:%s\n", level, msg);
}

static sblua_engine *engine_with(int on_error, const char *const *srcs, size_t n, char *err,
                                 size_t errlen)
{
    sblua_source s[4];
    static const char *const names[] = {"one.lua", "two.lua", "three.lua", "four.lua"};
    for (size_t i = 0; i < n; i++)
        s[i] = (sblua_source){.name = names[i], .text = srcs[i], .len = strlen(srcs[i])};
    sblua_engine_cfg cfg = {
        .env = {.log = fake_env_log,
                .utf8_valid = lua_host_utf8_valid,
                .user_valid = sb_user_valid},
        .limits = {.instructions = 100000, .memory = 8u << 20},
        .on_error = on_error,
    };
    fake_log[0] = '\0';
    return sblua_engine_new(&cfg, s, n, err, errlen);
}

static sblua_engine *engine1(const char *src)
{
    char err[1024];
    sblua_engine *e = engine_with(SBLUA_ON_ERROR_DENY, &src, 1, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    return e;
}

static sblua_engine *engine2(int on_error, const char *a, const char *b)
{
    char err[1024];
    const char *srcs[] = {a, b};
    sblua_engine *e = engine_with(on_error, srcs, 2, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    return e;
}

static int authorize(sblua_engine *e, const char *user, const char *action, const char *target,
                     const char *data_json, char *reason)
{
    cJSON *data = data_json ? cJSON_Parse(data_json) : NULL;
    int r = sblua_engine_authorize(e, user, action, target, data, reason, 256);
    cJSON_Delete(data);
    return r;
}

/* Run the filter over data_json for a message to to_json; *out gets the
 * resulting JSON text (caller frees); *kept (when not NULL): whether the data
 * object the engine got is the one it gave back (nothing converted to JSON). */
static int filter_to(sblua_engine *e, const char *to_json, const char *data_json, char **out,
                     char *reason, int *kept)
{
    cJSON *to = cJSON_Parse(to_json);
    sb_filter_msg m = {.size = sizeof m,
                       .type = "message",
                       .from = "alice",
                       .to = to,
                       .id = "01HF0000000000000000000000",
                       .ts = 1732280000123};
    cJSON *data = cJSON_Parse(data_json), *changed = NULL;
    int r = sblua_engine_filter(e, &m, data, &changed, reason, 256);
    if (kept)
        *kept = changed == NULL;
    *out = cJSON_PrintUnformatted(changed ? changed : data);
    cJSON_Delete(changed);
    cJSON_Delete(data);
    cJSON_Delete(to);
    return r;
}

/* Run the filter over data_json for a message to bob. */
static int filter(sblua_engine *e, const char *data_json, char **out, char *reason)
{
    return filter_to(e, "\"bob\"", data_json, out, reason, NULL);
}

/* Compare JSON texts as trees: Lua tables have no key order. */
static void assert_json_equal(const char *got, const char *want)
{
    cJSON *a = cJSON_Parse(got), *b = cJSON_Parse(want);
    if (!a || !b || !cJSON_Compare(a, b, 1))
        fail_msg("JSON %s != %s", got, want);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* --- authorize --------------------------------------------------------------------- */

static void test_engine_authorize_return_conventions(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function authorize(user, action, target, data)\n"
                              "  if action == 'join' and target == 'secret' then\n"
                              "    return false, user .. ' may not join ' .. target\n"
                              "  end\n"
                              "  if action == 'list' then return nil end\n"
                              "  if data.text == 'quiet' then return false end\n"
                              "  return true\n"
                              "end");
    assert_int_equal(authorize(e, "alice", "join", "lobby", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "join", "secret", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "alice may not join secret");
    assert_int_equal(authorize(e, "alice", "list", NULL, NULL, reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "message", "bob", "{\"text\":\"quiet\"}", reason),
                     SB_HOOK_DENY);
    assert_string_equal(reason, "forbidden by policy");
    sblua_engine_free(e);
}

static void test_engine_authorize_missing_function_passes(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function filter(msg) return msg end");
    assert_int_equal(authorize(e, "alice", "join", "x", "{}", reason), SB_HOOK_PASS);
    sblua_engine_free(e);
}

static void test_engine_authorize_first_refusal_wins(void **state)
{
    (void)state;
    char reason[256];
    /* two.lua counts its calls: after one.lua refuses it must not run. */
    sblua_engine *e = engine2(SBLUA_ON_ERROR_DENY,
                              "function authorize(u, a, t) if t == 'a' then return false, 'one "
                              "says no' end end",
                              "calls = 0\n"
                              "function authorize(u, a, t) calls = calls + 1\n"
                              "  if t == 'b' or calls > 1 then return false, 'two says no (' .. "
                              "calls .. ')' end\n"
                              "  return true end");
    assert_int_equal(authorize(e, "u", "join", "a", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "one says no");
    assert_int_equal(authorize(e, "u", "join", "b", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "two says no (1)");
    sblua_engine_free(e);
}

static void test_engine_globals_persist_between_calls(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("count = {}\n"
                              "function authorize(user)\n"
                              "  count[user] = (count[user] or 0) + 1\n"
                              "  if count[user] > 2 then return false, 'too many' end\n"
                              "end");
    assert_int_equal(authorize(e, "alice", "message", "bob", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "message", "bob", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "bob", "message", "alice", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "message", "bob", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "too many");
    sblua_engine_free(e);
}

static void test_engine_authorize_bad_result_is_script_error(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function authorize(u, a) if a == 'join' then return 42 end\n"
                              "return false, {} end");
    assert_int_equal(authorize(e, "u", "join", "r", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "policy script error");
    assert_non_null(strstr(fake_log, "authorize returned a number"));
    assert_int_equal(authorize(e, "u", "members", "r", "{}", reason), SB_HOOK_DENY);
    assert_non_null(strstr(fake_log, "gave a table as the reason"));
    sblua_engine_free(e);
}

static void test_engine_runaway_error_denied_by_default(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function authorize(u, a)\n"
                              "  if a == 'join' then while true do end end\n"
                              "  if a == 'list' then error('boom') end\n"
                              "  if a == 'members' then local t = {} local i = 0\n"
                              "    while true do i = i + 1 t[i] = string.rep('x', 1000) .. i end\n"
                              "  end\n"
                              "  return true\n"
                              "end");
    assert_int_equal(authorize(e, "u", "join", "r", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "policy script error");
    assert_non_null(strstr(fake_log, "one.lua:2: instruction limit exceeded"));
    assert_int_equal(authorize(e, "u", "list", NULL, NULL, reason), SB_HOOK_DENY);
    assert_non_null(strstr(fake_log, "one.lua:3: boom"));
    assert_int_equal(authorize(e, "u", "members", "r", "{}", reason), SB_HOOK_DENY);
    assert_non_null(strstr(fake_log, "memory limit exceeded"));
    /* still serving */
    assert_int_equal(authorize(e, "u", "message", "v", "{}", reason), SB_HOOK_ALLOW);
    sblua_engine_free(e);
}

static void test_engine_runaway_error_allowed_with_on_error_allow(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine2(SBLUA_ON_ERROR_ALLOW,
                              "function authorize(u, a) if a == 'join' then while true do end "
                              "end error('boom') end",
                              "function authorize(u, a, t) if t == 'no' then return false, "
                              "'two' end end");
    assert_int_equal(authorize(e, "u", "join", "r", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "u", "list", NULL, NULL, reason), SB_HOOK_ALLOW);
    assert_non_null(strstr(fake_log, "failed, allowed (on_error = allow)"));
    /* an error in one.lua does not skip two.lua's refusal */
    assert_int_equal(authorize(e, "u", "join", "no", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "two");
    sblua_engine_free(e);
}

/* --- filter -------------------------------------------------------------------------- */

static void test_engine_filter_changes_data(void **state)
{
    (void)state;
    char reason[256], *out;
    sblua_engine *e = engine1("function filter(msg)\n"
                              "  assert(msg.type == 'message' and msg.from == 'alice')\n"
                              "  assert(msg.to == 'bob' and msg.ts == 1732280000123)\n"
                              "  msg.data.text = msg.data.text:upper()\n"
                              "  msg.data.seen = true\n"
                              "  msg.from = 'mallory'\n"
                              "  return msg\n"
                              "end");
    assert_int_equal(filter(e, "{\"text\":\"hi\",\"n\":3}", &out, reason), SB_HOOK_ALLOW);
    cJSON *got = cJSON_Parse(out);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(got, "text")->valuestring, "HI");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(got, "seen")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(got, "n")->valueint, 3);
    assert_null(cJSON_GetObjectItemCaseSensitive(got, "from")); /* only data is taken */
    cJSON_Delete(got);
    free(out);
    sblua_engine_free(e);
}

static void test_engine_filter_output_feeds_next(void **state)
{
    (void)state;
    char reason[256], *out;
    sblua_engine *e =
        engine2(SBLUA_ON_ERROR_DENY,
                "function filter(msg) msg.data.text = msg.data.text .. ' one' return msg end",
                "function filter(msg) msg.data.text = msg.data.text .. ' two' return msg end");
    assert_int_equal(filter(e, "{\"text\":\"zero\"}", &out, reason), SB_HOOK_ALLOW);
    assert_string_equal(out, "{\"text\":\"zero one two\"}");
    free(out);
    sblua_engine_free(e);
}

static void test_engine_filter_deny_and_pass(void **state)
{
    (void)state;
    char reason[256], *out;
    sblua_engine *e = engine2(SBLUA_ON_ERROR_DENY,
                              "function filter(msg) if msg.data.spam then return nil, 'no spam' "
                              "end return msg end",
                              "function authorize() end");
    assert_int_equal(filter(e, "{\"spam\":1}", &out, reason), SB_HOOK_DENY);
    assert_string_equal(reason, "no spam");
    free(out);
    assert_int_equal(filter(e, "{\"text\":\"x\"}", &out, reason), SB_HOOK_ALLOW);
    assert_string_equal(out, "{\"text\":\"x\"}");
    free(out);
    sblua_engine_free(e);

    e = engine1("x = 1");
    assert_int_equal(filter(e, "{\"a\":1}", &out, reason), SB_HOOK_PASS);
    assert_string_equal(out, "{\"a\":1}");
    free(out);
    sblua_engine_free(e);
}

static void test_engine_filter_bad_output_is_script_error(void **state)
{
    (void)state;
    char reason[256], *out;
    sblua_engine *e = engine1("function filter(msg)\n"
                              "  if msg.data.k == 'utf8' then msg.data.text = '\\xff' end\n"
                              "  if msg.data.k == 'num' then return 5 end\n"
                              "  if msg.data.k == 'array' then msg.data = sb.array({1}) end\n"
                              "  if msg.data.k == 'fn' then msg.data.f = print end\n"
                              "  return msg\n"
                              "end");
    assert_int_equal(filter(e, "{\"k\":\"utf8\"}", &out, reason), SB_HOOK_DENY);
    assert_string_equal(reason, "policy script error");
    assert_string_equal(out, "{\"k\":\"utf8\"}"); /* unchanged */
    free(out);
    assert_non_null(strstr(fake_log, "not valid UTF-8 at text"));
    assert_int_equal(filter(e, "{\"k\":\"num\"}", &out, reason), SB_HOOK_DENY);
    free(out);
    assert_non_null(strstr(fake_log, "filter returned a number"));
    assert_int_equal(filter(e, "{\"k\":\"array\"}", &out, reason), SB_HOOK_DENY);
    free(out);
    assert_non_null(strstr(fake_log, "data is an array"));
    assert_int_equal(filter(e, "{\"k\":\"fn\"}", &out, reason), SB_HOOK_DENY);
    free(out);
    assert_non_null(strstr(fake_log, "function value at f"));
    sblua_engine_free(e);
}

static void test_engine_filter_error_with_on_error_allow_keeps_data(void **state)
{
    (void)state;
    char reason[256], *out;
    sblua_engine *e =
        engine2(SBLUA_ON_ERROR_ALLOW, "function filter(msg) msg.data.x = 1 error('broken') end",
                "function filter(msg) msg.data.two = true return msg end");
    assert_int_equal(filter(e, "{\"a\":1}", &out, reason), SB_HOOK_ALLOW);
    assert_json_equal(out, "{\"a\":1,\"two\":true}");
    free(out);
    sblua_engine_free(e);
}

/* --- authenticate and on_connect --------------------------------------------------------- */

static void test_engine_authenticate_conventions(void **state)
{
    (void)state;
    char reason[256], user[SB_USER_MAX + 1];
    sblua_engine *e = engine1("local tokens = {t1 = 'alice', bad = 'not a user!'}\n"
                              "function authenticate(token, req)\n"
                              "  assert(type(req) == 'table')\n"
                              "  if token == 'ip' then return req.ip end\n"
                              "  local u = tokens[token]\n"
                              "  if not u then return nil, 'unknown token' end\n"
                              "  return u\n"
                              "end");
    assert_int_equal(sblua_engine_authenticate(e, "t1", NULL, user, reason, sizeof reason),
                     SB_HOOK_ALLOW);
    assert_string_equal(user, "alice");
    assert_int_equal(sblua_engine_authenticate(e, "zzz", NULL, user, reason, sizeof reason),
                     SB_HOOK_DENY);
    assert_string_equal(reason, "unknown token");
    assert_int_equal(sblua_engine_authenticate(e, "bad", NULL, user, reason, sizeof reason),
                     SB_HOOK_DENY);
    assert_non_null(strstr(fake_log, "invalid user name"));
    sb_http_req req = {.size = sizeof req, .ip = "10.0.0.7", .path = "/ws", .query = ""};
    assert_int_equal(sblua_engine_authenticate(e, "ip", &req, user, reason, sizeof reason),
                     SB_HOOK_ALLOW);
    assert_string_equal(user, "10.0.0.7");
    sblua_engine_free(e);

    e = engine1("function authorize() end");
    assert_int_equal(sblua_engine_authenticate(e, "t1", NULL, user, reason, sizeof reason),
                     SB_HOOK_PASS);
    sblua_engine_free(e);
}

static void test_engine_on_connect_sees_request(void **state)
{
    (void)state;
    char reason[256];
    sb_header hdrs[] = {{"X-Custom", "yes"}};
    sb_http_req req = {.size = sizeof req,
                       .method = "GET",
                       .path = "/ws",
                       .query = "client_id=alice&x=1",
                       .headers = hdrs,
                       .n_headers = 1,
                       .ip = "127.0.0.1",
                       .origin = "https://evil.example",
                       .user = "alice"};
    sblua_engine *e =
        engine1("function on_connect(req)\n"
                "  assert(req.path == '/ws' and req.query:find('x=1'))\n"
                "  assert(req.ip == '127.0.0.1' and req.headers['x-custom'] == 'yes')\n"
                "  if req.origin and req.origin:find('evil') then\n"
                "    return false, req.user .. ' from a bad origin'\n"
                "  end\n"
                "  return true\n"
                "end");
    assert_int_equal(sblua_engine_on_connect(e, &req, reason, sizeof reason), SB_HOOK_DENY);
    assert_string_equal(reason, "alice from a bad origin");
    req.origin = NULL;
    assert_int_equal(sblua_engine_on_connect(e, &req, reason, sizeof reason), SB_HOOK_ALLOW);
    sblua_engine_free(e);
}

static void test_engine_reason_truncated_at_utf8_boundary(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function authorize() return false, string.rep('\\u{e9}', 300) end");
    assert_int_equal(authorize(e, "u", "join", "r", "{}", reason), SB_HOOK_DENY);
    assert_int_equal(strlen(reason), 254); /* 127 two-byte characters */
    assert_string_equal(reason + 252, "\xc3\xa9");
    sblua_engine_free(e);
}

/* --- loading ------------------------------------------------------------------------- */

static void test_engine_new_reports_load_failures(void **state)
{
    (void)state;
    char err[1024];
    const char *bad_syntax[] = {"function authorize() end", "x = = 1"};
    assert_null(engine_with(SBLUA_ON_ERROR_DENY, bad_syntax, 2, err, sizeof err));
    assert_non_null(strstr(err, "cannot load two.lua: two.lua:1:"));
    const char *bad_top[] = {"local t = nil\nprint(t.x)"};
    assert_null(engine_with(SBLUA_ON_ERROR_DENY, bad_top, 1, err, sizeof err));
    assert_non_null(strstr(err, "one.lua:2: attempt to index a nil value"));
    const char *runaway[] = {"while true do end"};
    assert_null(engine_with(SBLUA_ON_ERROR_DENY, runaway, 1, err, sizeof err));
    assert_non_null(strstr(err, "instruction limit exceeded"));
    const char *bytecode[] = {"\x1bLua\x54"};
    assert_null(engine_with(SBLUA_ON_ERROR_DENY, bytecode, 1, err, sizeof err));
    assert_non_null(strstr(err, "binary"));
}

/* --- lazy payloads: functions without upvalues ------------------------------------------ */

/* filter() for a message to two users, saying whether the data came back
 * as it went in. */
static int filter_kept(sblua_engine *e, const char *data_json, char **out, char *reason, int *kept)
{
    return filter_to(e, "[\"bob\",\"carol\"]", data_json, out, reason, kept);
}

/* The same filter body twice: as a function without upvalues (lazy tables)
 * and as one holding an upvalue (tables converted up front, as always). Both
 * must decide the same, give the same reason and the same data. */
static void assert_lazy_like_eager(const char *body, const char *data_json, int want,
                                   const char *want_json, const char *want_log)
{
    char lazy_src[2048], eager_src[2048];
    snprintf(lazy_src, sizeof lazy_src, "function filter(msg)\n%s\nend", body);
    snprintf(eager_src, sizeof eager_src,
             "local up = 1\nfunction filter(msg)\nlocal _ = up\n%s\nend", body);
    const char *srcs[] = {lazy_src, eager_src};
    char got[2][256] = {"", ""};
    char *out[2];
    for (int i = 0; i < 2; i++) {
        char reason[256] = "", *text;
        int kept;
        sblua_engine *e = engine1(srcs[i]);
        int r = filter_kept(e, data_json, &text, reason, &kept);
        if (r != want)
            fail_msg("%s filter: verdict %d, want %d (%s | %s)", i ? "eager" : "lazy", r, want,
                     reason, fake_log);
        if (want_log && !strstr(fake_log, want_log))
            fail_msg("%s filter: log lacks \"%s\": %s", i ? "eager" : "lazy", want_log, fake_log);
        snprintf(got[i], sizeof got[i], "%s", reason);
        out[i] = text;
        sblua_engine_free(e);
    }
    assert_string_equal(got[0], got[1]);
    assert_json_equal(out[0], out[1]);
    if (want_json)
        assert_json_equal(out[0], want_json);
    free(out[0]);
    free(out[1]);
}

static void test_engine_lazy_untouched_data_is_not_converted(void **state)
{
    (void)state;
    char reason[256], *out;
    int kept;
    /* Key order survives: nothing went through a Lua table. */
    const char *in = "{\"z\":1,\"a\":[1,2.5,null,true],\"m\":{\"k\":\"v\"},\"e\":{},\"f\":[]}";
    sblua_engine *e = engine1("function filter(msg) return msg end");
    assert_int_equal(filter_kept(e, in, &out, reason, &kept), SB_HOOK_ALLOW);
    assert_true(kept);
    assert_string_equal(out, in);
    free(out);
    sblua_engine_free(e);

    /* Read only the routing fields: data stays unconverted as well. */
    e = engine1("function filter(msg)\n"
                "  if msg.type ~= 'message' or msg.from ~= 'alice' then return nil, 'who' end\n"
                "  return msg\n"
                "end");
    assert_int_equal(filter_kept(e, in, &out, reason, &kept), SB_HOOK_ALLOW);
    assert_true(kept);
    free(out);
    sblua_engine_free(e);
}

static void test_engine_lazy_read_but_unchanged_keeps_data(void **state)
{
    (void)state;
    char reason[256], *out;
    int kept;
    const char *in = "{\"big\":9007199254740993,\"f\":1.5,\"neg\":-7,\"s\":\"\xc3\xa9t\xc3\xa9\","
                     "\"n\":null,\"b\":false,\"a\":[[],{},[1,[2]]],\"o\":{\"p\":{\"q\":\"r\"}}}";
    sblua_engine *e = engine1("function filter(msg)\n"
                              "  if msg.data.o.p.q ~= 'r' then return nil, 'no r' end\n"
                              "  return msg\n"
                              "end");
    assert_int_equal(filter_kept(e, in, &out, reason, &kept), SB_HOOK_ALLOW);
    assert_true(kept);
    free(out);
    sblua_engine_free(e);

    /* A scalar that a round trip would change (-0 prints as 0) is converted, as before. */
    e = engine1("function filter(msg) local _ = msg.data.v return msg end");
    assert_int_equal(filter_kept(e, "{\"v\":-0.0}", &out, reason, &kept), SB_HOOK_ALLOW);
    assert_false(kept);
    assert_string_equal(out, "{\"v\":0}");
    free(out);
    sblua_engine_free(e);
}

static void test_engine_lazy_matches_eager(void **state)
{
    (void)state;
    const char *in = "{\"text\":\"hi\",\"n\":3,\"deep\":{\"list\":[\"x\",{\"k\":\"v\"}]}}";
    /* read a nested field */
    assert_lazy_like_eager("if msg.data.deep.list[2].k == 'v' then return nil, 'nested v' end "
                           "return msg",
                           in, SB_HOOK_DENY, NULL, NULL);
    assert_lazy_like_eager("if msg.data.deep.list[2].k == 'w' then return nil end return msg", in,
                           SB_HOOK_ALLOW, in, NULL);
    /* msg.to, as written */
    assert_lazy_like_eager("if msg.to[2] ~= 'carol' or #msg.to ~= 2 then return nil, 'to' end "
                           "return msg",
                           in, SB_HOOK_ALLOW, in, NULL);
    /* change data, nested and at the top */
    assert_lazy_like_eager("msg.data.deep.list[1] = msg.data.text .. '!' msg.data.n = nil "
                           "return msg",
                           in, SB_HOOK_ALLOW,
                           "{\"text\":\"hi\",\"deep\":{\"list\":[\"hi!\",{\"k\":\"v\"}]}}", NULL);
    /* assign before reading: first a key msg lacks, then data itself */
    assert_lazy_like_eager("msg.extra = 1 msg.data.text = 'bye' return msg", in, SB_HOOK_ALLOW,
                           "{\"text\":\"bye\",\"n\":3,\"deep\":{\"list\":[\"x\",{\"k\":\"v\"}]}}",
                           NULL);
    assert_lazy_like_eager("msg.data = {only = true} return msg", in, SB_HOOK_ALLOW,
                           "{\"only\":true}", NULL);
    /* a new table around the same data, or around msg itself */
    assert_lazy_like_eager("return {data = msg.data}", in, SB_HOOK_ALLOW, in, NULL);
    assert_lazy_like_eager("return {data = {m = msg}}", in, SB_HOOK_ALLOW, NULL, NULL);
    /* drop: nil or false, with and without a reason */
    assert_lazy_like_eager("return nil, 'go away'", in, SB_HOOK_DENY, in, NULL);
    assert_lazy_like_eager("return false", in, SB_HOOK_DENY, in, NULL);
    /* errors: the documented on_error (deny), data untouched */
    assert_lazy_like_eager("return msg.data.nothing.here", in, SB_HOOK_DENY, in,
                           "attempt to index a nil value");
    assert_lazy_like_eager("msg.data = nil return msg", in, SB_HOOK_DENY, in, "data is a nil");
    assert_lazy_like_eager("return msg + 1", in, SB_HOOK_DENY, in,
                           "attempt to perform arithmetic on a table value (local 'msg')");
    assert_lazy_like_eager("return ('%s'):format(msg):find('^table: ') and msg", in, SB_HOOK_ALLOW,
                           in, NULL);
    assert_lazy_like_eager("msg.data.text = msg return msg", in, SB_HOOK_DENY, in,
                           "nesting deeper than 64 levels");
    /* member by member: removed stays removed, assigned reads back, odd keys */
    assert_lazy_like_eager("msg.data.n = nil if msg.data.n ~= nil then return nil, 'back' end "
                           "return msg",
                           in, SB_HOOK_ALLOW,
                           "{\"text\":\"hi\",\"deep\":{\"list\":[\"x\",{\"k\":\"v\"}]}}", NULL);
    assert_lazy_like_eager("msg.data.text = 'yo' if msg.data.text ~= 'yo' then return nil end "
                           "return msg",
                           in, SB_HOOK_ALLOW,
                           "{\"text\":\"yo\",\"n\":3,\"deep\":{\"list\":[\"x\",{\"k\":\"v\"}]}}",
                           NULL);
    assert_lazy_like_eager("if msg.data['te\\0xt'] ~= nil or msg.data[1] ~= nil then "
                           "return nil, 'odd key' end return msg",
                           in, SB_HOOK_ALLOW, in, NULL);
    assert_lazy_like_eager("msg.data[1] = 'a' return msg", in, SB_HOOK_DENY, in,
                           "mixes string and integer keys");
    assert_lazy_like_eager("msg.data.n = 3 return msg", in, SB_HOOK_ALLOW, in, NULL);
    /* data itself as the message: its own member data is what counts */
    assert_lazy_like_eager("return msg.data", in, SB_HOOK_DENY, in, "data is a nil");
    assert_lazy_like_eager("return msg.data", "{\"data\":{\"x\":1},\"y\":2}", SB_HOOK_ALLOW,
                           "{\"x\":1}", NULL);

    /* more members than the member-by-member bookkeeping holds */
    char wide[2048] = "{";
    for (int i = 0; i < 70; i++)
        snprintf(wide + strlen(wide), sizeof wide - strlen(wide), "%s\"k%d\":%d", i ? "," : "", i,
                 i);
    strcat(wide, "}");
    assert_lazy_like_eager("if msg.data.k69 ~= 69 then return nil, 'k69' end return msg", wide,
                           SB_HOOK_ALLOW, wide, NULL);
    assert_lazy_like_eager("msg.data.k0 = nil return msg", wide, SB_HOOK_ALLOW, NULL, NULL);
}

static void test_engine_lazy_msg_table_reused_fresh(void **state)
{
    (void)state;
    char reason[256];
    /* Changes only members msg has, so msg stays lazy and is used again. */
    sblua_engine *e = engine1("function filter(msg)\n"
                              "  if msg.from ~= 'alice' then return nil, 'from ' .. msg.from end\n"
                              "  if msg.type == 'message' and msg.room ~= nil then\n"
                              "    return nil, 'room ' .. msg.room\n"
                              "  end\n"
                              "  msg.from = 'mallory' msg.type = nil\n"
                              "  return msg\n"
                              "end");
    sb_filter_msg pub = {.size = sizeof pub,
                         .type = "publish",
                         .from = "alice",
                         .room = "r1",
                         .id = "01HF0000000000000000000000",
                         .ts = 1};
    sb_filter_msg dm = {.size = sizeof dm,
                        .type = "message",
                        .from = "alice",
                        .id = "01HF0000000000000000000001",
                        .ts = 2};
    for (int i = 0; i < 3; i++) {
        cJSON *data = cJSON_Parse("{\"a\":1}"), *changed = NULL;
        assert_int_equal(sblua_engine_filter(e, i == 1 ? &pub : &dm, data, &changed, reason, 256),
                         SB_HOOK_ALLOW);
        assert_null(changed);
        cJSON_Delete(data);
    }
    sblua_engine_free(e);
}

static void test_engine_lazy_authorize_data(void **state)
{
    (void)state;
    char reason[256];
    sblua_engine *e = engine1("function authorize(user, action, target, data)\n"
                              "  if data.meta and data.meta.tags[1] == 'secret' then\n"
                              "    return false, 'secret'\n"
                              "  end\n"
                              "  return #data == 0\n"
                              "end");
    assert_int_equal(authorize(e, "alice", "message", "bob",
                               "{\"meta\":{\"tags\":[\"secret\"]},\"text\":\"x\"}", reason),
                     SB_HOOK_DENY);
    assert_string_equal(reason, "secret");
    assert_int_equal(
        authorize(e, "alice", "message", "bob", "{\"meta\":{\"tags\":[\"open\"]}}", reason),
        SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "list", NULL, NULL, reason), SB_HOOK_ALLOW);
    sblua_engine_free(e);

    /* Removing a member, then reading it: nil, as with a converted table. */
    e = engine1("function authorize(user, action, target, data)\n"
                "  data.text = nil\n"
                "  return data.text == nil and data.n == 1\n"
                "end");
    assert_int_equal(authorize(e, "alice", "message", "bob", "{\"text\":\"x\",\"n\":1}", reason),
                     SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "message", "bob", "{\"text\":\"x\",\"n\":2}", reason),
                     SB_HOOK_DENY);
    sblua_engine_free(e);

    /* Writing into data first, then reading what came with it. */
    e = engine1("function authorize(user, action, target, data)\n"
                "  data.seen = true\n"
                "  return data.text == 'x' and data.seen\n"
                "end");
    assert_int_equal(authorize(e, "alice", "message", "bob", "{\"text\":\"x\"}", reason),
                     SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "message", "bob", "{\"text\":\"y\"}", reason),
                     SB_HOOK_DENY);
    sblua_engine_free(e);
}

/* Hooks that only say yes are not called (lua_trivial.h), but a script that
 * assigns another function at run time gets that one called, and a trivial
 * hook of one script does not hide a later script's answer. */
static void test_engine_trivial_hooks_skipped_until_replaced(void **state)
{
    (void)state;
    sblua_engine *e = engine2(SBLUA_ON_ERROR_DENY,
                              "function authorize(user, action, target, data)\n"
                              "  return true\n"
                              "end\n"
                              "function filter(msg)\n"
                              "  if msg.data.stop then\n"
                              "    authorize = function() return false, 'changed my mind' end\n"
                              "  end\n"
                              "  return msg\n"
                              "end\n",
                              "function filter(msg) return msg end\n"
                              "function authorize(user, action, target)\n"
                              "  if target == 'no' then return false, 'two says no' end\n"
                              "end\n");
    char reason[256], *out;
    assert_int_equal(authorize(e, "alice", "join", "r", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(authorize(e, "alice", "join", "no", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "two says no");
    assert_int_equal(filter(e, "{\"x\":1}", &out, reason), SB_HOOK_ALLOW);
    free(out);
    assert_int_equal(authorize(e, "alice", "join", "r", "{}", reason), SB_HOOK_ALLOW);
    assert_int_equal(filter(e, "{\"stop\":true}", &out, reason), SB_HOOK_ALLOW);
    free(out);
    assert_int_equal(authorize(e, "alice", "join", "r", "{}", reason), SB_HOOK_DENY);
    assert_string_equal(reason, "changed my mind");
    sblua_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_authorize_return_conventions),
        cmocka_unit_test(test_engine_authorize_missing_function_passes),
        cmocka_unit_test(test_engine_authorize_first_refusal_wins),
        cmocka_unit_test(test_engine_globals_persist_between_calls),
        cmocka_unit_test(test_engine_authorize_bad_result_is_script_error),
        cmocka_unit_test(test_engine_runaway_error_denied_by_default),
        cmocka_unit_test(test_engine_runaway_error_allowed_with_on_error_allow),
        cmocka_unit_test(test_engine_filter_changes_data),
        cmocka_unit_test(test_engine_filter_output_feeds_next),
        cmocka_unit_test(test_engine_filter_deny_and_pass),
        cmocka_unit_test(test_engine_filter_bad_output_is_script_error),
        cmocka_unit_test(test_engine_filter_error_with_on_error_allow_keeps_data),
        cmocka_unit_test(test_engine_authenticate_conventions),
        cmocka_unit_test(test_engine_on_connect_sees_request),
        cmocka_unit_test(test_engine_reason_truncated_at_utf8_boundary),
        cmocka_unit_test(test_engine_new_reports_load_failures),
        cmocka_unit_test(test_engine_lazy_untouched_data_is_not_converted),
        cmocka_unit_test(test_engine_lazy_read_but_unchanged_keeps_data),
        cmocka_unit_test(test_engine_lazy_matches_eager),
        cmocka_unit_test(test_engine_lazy_msg_table_reused_fresh),
        cmocka_unit_test(test_engine_lazy_authorize_data),
        cmocka_unit_test(test_engine_trivial_hooks_skipped_until_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of plugins/lua/lua_json.c: JSON <-> Lua round trips (nested
 * values, {} vs [], integers vs floats, UTF-8, null) and the limits (depth,
 * size) and refusals (sparse/mixed tables, NUL, bad UTF-8, NaN, functions).
 * A plain Lua state with the standard libraries drives the module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lua_host_checks.h"
#include "lua_json.h"

static sblua_json_opts test_opts = {
    .max_depth = SBLUA_JSON_MAX_DEPTH, .max_bytes = 1 << 20, .utf8_valid = lua_host_utf8_valid};

/* A box whose __gc frees a cJSON tree, so a raising conversion leaks nothing. */
static int test_box_gc(lua_State *L)
{
    cJSON **slot = lua_touserdata(L, 1);
    cJSON_Delete(*slot);
    *slot = NULL;
    return 0;
}

static cJSON **test_box(lua_State *L)
{
    cJSON **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    if (luaL_newmetatable(L, "test.box")) {
        lua_pushcfunction(L, test_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return slot;
}

/* to_json(v) -> compact JSON text; raises what the conversion raises. */
static int test_to_json(lua_State *L)
{
    lua_settop(L, 1);
    cJSON **slot = test_box(L);
    sblua_json_to(L, 1, &test_opts, slot);
    char *s = cJSON_PrintUnformatted(*slot);
    lua_pushstring(L, s);
    cJSON_free(s);
    return 1;
}

/* from_json(s) -> the Lua value of JSON text s. */
static int test_from_json(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    cJSON **slot = test_box(L);
    *slot = cJSON_Parse(s);
    if (!*slot)
        return luaL_error(L, "test: bad JSON %s", s);
    sblua_json_push(L, *slot, &test_opts);
    return 1;
}

static int test_array(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    sblua_json_mark_array(L, 1);
    return 1;
}

static int json_setup(void **state)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    sblua_json_setup(L);
    lua_register(L, "to_json", test_to_json);
    lua_register(L, "from_json", test_from_json);
    lua_register(L, "array", test_array);
    sblua_json_push_null(L);
    lua_setglobal(L, "null");
    test_opts.max_depth = SBLUA_JSON_MAX_DEPTH;
    test_opts.max_bytes = 1 << 20;
    *state = L;
    return 0;
}

static int json_teardown(void **state)
{
    lua_close(*state);
    return 0;
}

/* Run Lua code; returns NULL on success or the error message (static copy). */
static const char *run(lua_State *L, const char *code)
{
    static char err[512];
    if (luaL_dostring(L, code) == LUA_OK) {
        lua_settop(L, 0);
        return NULL;
    }
    snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    return err;
}

static void assert_runs(lua_State *L, const char *code)
{
    const char *err = run(L, code);
    if (err)
        fail_msg("Lua failed: %s", err);
}

static void assert_raises(lua_State *L, const char *code, const char *needle)
{
    const char *err = run(L, code);
    if (!err)
        fail_msg("expected an error containing \"%s\"", needle);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

/* Push text through cJSON -> Lua -> cJSON and compare the trees. */
static void assert_round_trip(lua_State *L, const char *text)
{
    cJSON *in = cJSON_Parse(text);
    assert_non_null(in);
    lua_pushcfunction(L, test_to_json);
    sblua_json_push(L, in, &test_opts);
    assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_OK);
    cJSON *out = cJSON_Parse(lua_tostring(L, -1));
    lua_pop(L, 1);
    assert_non_null(out);
    if (!cJSON_Compare(in, out, 1)) {
        char *a = cJSON_PrintUnformatted(in), *b = cJSON_PrintUnformatted(out);
        fail_msg("round trip changed %s into %s", a, b);
    }
    cJSON_Delete(in);
    cJSON_Delete(out);
}

static void test_json_push_to_nested_round_trip(void **state)
{
    lua_State *L = *state;
    assert_round_trip(L, "{\"a\":{\"b\":[1,2,{\"c\":\"d\",\"e\":[[],[[]]]}]},\"t\":true,"
                         "\"f\":false,\"n\":null,\"s\":\"x\"}");
    assert_round_trip(L, "[1,\"two\",[3,[4,[5]]],{\"six\":6}]");
    assert_round_trip(L, "[null,null,1,null]");
}

static void test_json_push_to_empty_object_vs_array(void **state)
{
    lua_State *L = *state;
    assert_round_trip(L, "{\"o\":{},\"a\":[],\"ao\":[{}],\"oa\":{\"x\":[]}}");
    assert_runs(L, "assert(to_json({}) == '{}')");
    assert_runs(L, "assert(to_json(array({})) == '[]')");
    assert_runs(L, "assert(to_json({x = array({})}) == '{\"x\":[]}')");
    /* A decoded empty array stays an array after the script adds to it. */
    assert_runs(L, "local t = from_json('{\"list\":[]}'); t.list[1] = 'a';"
                   "assert(to_json(t) == '{\"list\":[\"a\"]}')");
    assert_runs(L, "local t = from_json('[]'); assert(to_json(t) == '[]')");
}

static void test_json_push_integers_and_floats(void **state)
{
    lua_State *L = *state;
    assert_runs(L, "local t = from_json('{\"i\":3,\"neg\":-7,\"f\":2.5,\"big\":1e300,\"zero\":0}');"
                   "assert(math.type(t.i) == 'integer' and t.i == 3);"
                   "assert(math.type(t.neg) == 'integer' and t.neg == -7);"
                   "assert(math.type(t.f) == 'float' and t.f == 2.5);"
                   "assert(math.type(t.big) == 'float');"
                   "assert(math.type(t.zero) == 'integer')");
    assert_runs(L, "assert(to_json(42) == '42')");
    /* cJSON 1.7.15 prints 15 significant digits: integers up to that survive exactly. */
    assert_runs(L, "assert(to_json(-123456789012345) == '-123456789012345')");
    assert_runs(L, "assert(to_json(0.5) == '0.5')");
    assert_runs(L, "assert(to_json({1.25, 3}) == '[1.25,3]')");
    /* Integral floats come back as integers: cJSON has no float flag (documented). */
    assert_runs(L,
                "local v = from_json(to_json(2.0)); assert(math.type(v) == 'integer' and v == 2)");
    assert_round_trip(L, "{\"i\":123456789012,\"f\":-0.125,\"e\":1.5e-7}");
}

static void test_json_push_utf8_round_trip(void **state)
{
    lua_State *L = *state;
    assert_round_trip(L, "{\"s\":\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\","
                         "\"\xc3\xa9t\xc3\xa9\":\"\xe4\xb8\xad\xe6\x96\x87\"}");
    assert_runs(L, "local t = from_json('{\"s\":\"\\\\u00e9\\\\ud83d\\\\ude00\"}');"
                   "assert(t.s == '\\u{e9}\\u{1F600}')");
    assert_runs(L, "assert(to_json('\\u{1F600}') == '\"\\u{1F600}\"')");
}

static void test_json_to_refuses_bad_utf8_and_nul(void **state)
{
    lua_State *L = *state;
    assert_raises(L, "to_json({s = 'a\\xffb'})", "not valid UTF-8 at s");
    assert_raises(L, "to_json({['\\xc3'] = 1})", "not valid UTF-8");
    assert_raises(L, "to_json('\\xed\\xa0\\x80')", "not valid UTF-8"); /* a surrogate */
    assert_raises(L, "to_json({a = {b = 'x\\0y'}})", "NUL byte at a.b");
}

static void test_json_null_round_trip(void **state)
{
    lua_State *L = *state;
    assert_runs(L, "local t = from_json('{\"n\":null,\"a\":[1,null]}');"
                   "assert(t.n == null and t.a[2] == null)");
    assert_runs(L, "assert(to_json({x = null}) == '{\"x\":null}')");
    assert_runs(L, "assert(to_json(nil) == 'null')");
}

static void test_json_to_depth_limit(void **state)
{
    lua_State *L = *state;
    /* 64 nested tables convert, 65 do not. */
    assert_runs(L, "local t = {} local c = t for i = 2, 64 do c.x = {} c = c.x end;"
                   "assert(#to_json(t) > 0)");
    assert_raises(L, "local t = {} local c = t for i = 2, 65 do c.x = {} c = c.x end; to_json(t)",
                  "nesting deeper than 64 levels");
    /* A cycle ends at the depth limit rather than looping. */
    assert_raises(L, "local t = {} t.self = t to_json(t)", "nesting deeper than 64");
}

static void test_json_push_depth_limit(void **state)
{
    lua_State *L = *state;
    char deep[200], ok[200];
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    memset(ok, '[', 64);
    memset(ok + 64, ']', 64);
    ok[128] = '\0';
    char code[400];
    snprintf(code, sizeof code, "from_json('%s')", deep);
    assert_raises(L, code, "JSON nesting deeper than 64 levels");
    snprintf(code, sizeof code, "assert(type(from_json('%s')) == 'table')", ok);
    assert_runs(L, code);
    /* Scalars do not count: 64 arrays around a number come in, as they go out. */
    char scalar[200];
    memset(scalar, '[', 64);
    scalar[64] = '7';
    memset(scalar + 65, ']', 64);
    scalar[129] = '\0';
    snprintf(code, sizeof code,
             "local t = from_json('%s') for i = 1, 64 do t = t[1] end assert(t == 7)", scalar);
    assert_runs(L, code);
    assert_runs(L, "local t = 7 for i = 1, 64 do t = {t} end; assert(#to_json(t) == 129)");
}

static void test_json_to_size_limit(void **state)
{
    lua_State *L = *state;
    test_opts.max_bytes = 1000;
    assert_runs(L, "to_json({s = string.rep('x', 500)})");
    assert_raises(L, "to_json({s = string.rep('x', 2000)})", "value larger than 1000 bytes");
    assert_raises(L, "local t = {} for i = 1, 200 do t[i] = i end to_json(t)", "larger than");
    /* A marked sparse array cannot blow up into millions of nulls. */
    assert_raises(L, "to_json(array({[10000000] = 1}))", "larger than");
}

static void test_json_to_refuses_unconvertible_tables(void **state)
{
    lua_State *L = *state;
    assert_raises(L, "to_json({[1] = 'a', [3] = 'c'})", "sparse array");
    assert_raises(L, "to_json({1, 2, x = 3})", "mixes string and integer keys");
    assert_raises(L, "to_json({[1.5] = 'a'})", "neither a string nor a positive integer");
    assert_raises(L, "to_json({[true] = 1})", "neither a string nor a positive integer");
    assert_raises(L, "to_json(array({x = 1}))", "string key");
    /* A marked array fills holes with null. */
    assert_runs(L, "assert(to_json(array({[1] = 1, [3] = 3})) == '[1,null,3]')");
}

static void test_json_to_refuses_unconvertible_values(void **state)
{
    lua_State *L = *state;
    assert_raises(L, "to_json({a = {b = {1, print}}})", "a function value at a.b[2]");
    assert_raises(L, "to_json(0/0)", "NaN or infinite");
    assert_raises(L, "to_json({x = math.huge})", "NaN or infinite at x");
    assert_raises(L, "to_json(io.stdout)", "a userdata value");
}

static void test_json_utf8_valid_rules(void **state)
{
    (void)state;
    assert_true(lua_host_utf8_valid("abc", 3));
    assert_true(lua_host_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    assert_false(lua_host_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(lua_host_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(lua_host_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(lua_host_utf8_valid("\x80", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_push_to_nested_round_trip, json_setup,
                                        json_teardown),
        cmocka_unit_test_setup_teardown(test_json_push_to_empty_object_vs_array, json_setup,
                                        json_teardown),
        cmocka_unit_test_setup_teardown(test_json_push_integers_and_floats, json_setup,
                                        json_teardown),
        cmocka_unit_test_setup_teardown(test_json_push_utf8_round_trip, json_setup, json_teardown),
        cmocka_unit_test_setup_teardown(test_json_to_refuses_bad_utf8_and_nul, json_setup,
                                        json_teardown),
        cmocka_unit_test_setup_teardown(test_json_null_round_trip, json_setup, json_teardown),
        cmocka_unit_test_setup_teardown(test_json_to_depth_limit, json_setup, json_teardown),
        cmocka_unit_test_setup_teardown(test_json_push_depth_limit, json_setup, json_teardown),
        cmocka_unit_test_setup_teardown(test_json_to_size_limit, json_setup, json_teardown),
        cmocka_unit_test_setup_teardown(test_json_to_refuses_unconvertible_tables, json_setup,
                                        json_teardown),
        cmocka_unit_test_setup_teardown(test_json_to_refuses_unconvertible_values, json_setup,
                                        json_teardown),
        cmocka_unit_test(test_json_utf8_valid_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

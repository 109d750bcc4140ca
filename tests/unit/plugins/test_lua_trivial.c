/* Unit tests of plugins/lua/lua_trivial.c: which hook functions count as
 * only saying yes (`return true`, a filter's `return msg`), however they are
 * spaced, commented or placed in a script, and which do not (any other
 * statement, value, parameter list, global or upvalue). A plain Lua state
 * drives the module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "lua_trivial.h"

/* Whether the global f that src defines is trivial of kind. */
static int trivial(const char *src, int kind)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    assert_int_equal(luaL_dostring(L, src), LUA_OK);
    lua_getglobal(L, "f");
    int r = sblua_trivial(L, -1, kind);
    assert_int_equal(lua_gettop(L), 1);
    lua_close(L);
    return r;
}

static void test_trivial_true(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "function f() return true end",
        "function f(user, action, target, data) return true end",
        "-- the default policy\n\nfunction f(req)\n  -- admit\n  return true\nend\n",
        "x = 1\nfunction f(a, b)\n\n\n  return   true\n\nend",
        "local function g() end\nf = function(req) return true end",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
        assert_true(trivial(yes[i], SBLUA_TRIVIAL_TRUE));
    static const char *const no[] = {
        "function f() return false end",
        "function f() return nil end",
        "function f() end",
        "function f() return 1 end",
        "function f() return true, 'x' end",
        "function f(a) return a end",
        "function f(...) return true end",
        "function f() x = 1 return true end",
        "function f() print('x') return true end",
        "local t = true\nfunction f() return t end",
        "function f() return ok end",
        "f = print",
        "f = true",
        "function f() local a = 1 return true end",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
        assert_false(trivial(no[i], SBLUA_TRIVIAL_TRUE));
}

static void test_trivial_first(void **state)
{
    (void)state;
    assert_true(trivial("function f(msg) return msg end", SBLUA_TRIVIAL_FIRST));
    assert_true(
        trivial("\n\nfunction f(m)\n  -- pass it on\n  return m\nend", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(msg) return msg end", SBLUA_TRIVIAL_TRUE));
    assert_false(trivial("function f(msg) return true end", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(msg) msg.data.x = 1 return msg end", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(msg) if msg.data.p == nil then return nil end return msg end",
                         SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(a, b) return a end", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(a, b) return b end", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("function f(msg) return msg, nil end", SBLUA_TRIVIAL_FIRST));
    assert_false(trivial("local m = {}\nfunction f(msg) return m end", SBLUA_TRIVIAL_FIRST));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trivial_true),
        cmocka_unit_test(test_trivial_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of plugins/lua/lua_sandbox.c: what scripts can and cannot
 * reach (no io/os/require/debug, no string.dump, no bytecode), the wrappers
 * (print, collectgarbage, load, pcall), the sb library over a fake env, and
 * the limits: the instruction budget and the memory limit, after which the
 * state keeps working. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>

#include "lua_host_checks.h"
#include "lua_sandbox.h"

/* --- a fake env: collects log lines, fixed clock, one config key --------------- */

static char fake_log[8192];
static int fake_last_level = -1;

static void fake_env_log(void *ud, int level, const char *msg)
{
    (void)ud;
    fake_last_level = level;
    size_t n = strlen(fake_log);
    snprintf(fake_log + n, sizeof fake_log - n, "%d:%s\n", level, msg);
}

static int64_t fake_now(void)
{
    return 1732280000123;
}

static const char *fake_config(void *ud, const char *key)
{
    (void)ud;
    return strcmp(key, "staff") == 0 ? "alice bob" : NULL;
}

static const sblua_env fake_env = {.log = fake_env_log,
                                   .now_ms = fake_now,
                                   .config = fake_config,
                                   .utf8_valid = lua_host_utf8_valid,
                                   .user_valid = sb_user_valid};

typedef struct fixture {
    sblua_vm *vm;
    char err[1024];
    int ref;
} fixture;

static int sandbox_setup_limits(void **state, long instructions, size_t memory)
{
    fixture *f = calloc(1, sizeof *f);
    sblua_limits lim = {.instructions = instructions, .memory = memory, .json_bytes = 0};
    fake_log[0] = '\0';
    fake_last_level = -1;
    f->vm = sblua_vm_new(&fake_env, &lim, f->err, sizeof f->err);
    if (!f->vm)
        fail_msg("sblua_vm_new: %s", f->err);
    *state = f;
    return 0;
}

static int sandbox_setup(void **state)
{
    return sandbox_setup_limits(state, 1000000, 16u << 20);
}

static int sandbox_teardown(void **state)
{
    fixture *f = *state;
    sblua_vm_free(f->vm);
    free(f);
    return 0;
}

/* Load src as script "t.lua"; LUA_OK or the status (message in f->err). */
static int load(fixture *f, const char *src)
{
    f->err[0] = '\0';
    return sblua_vm_load(f->vm, "t.lua", src, strlen(src), &f->ref, f->err, sizeof f->err);
}

static void assert_loads(fixture *f, const char *src)
{
    if (load(f, src) != LUA_OK)
        fail_msg("script failed: %s", f->err);
}

static void assert_fails(fixture *f, const char *src, const char *needle)
{
    if (load(f, src) == LUA_OK)
        fail_msg("script should have failed with \"%s\"", needle);
    if (!strstr(f->err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", f->err, needle);
}

/* --- what is absent -------------------------------------------------------------- */

static void test_sandbox_unsafe_libraries_absent(void **state)
{
    fixture *f = *state;
    assert_loads(f, "assert(io == nil and os == nil and package == nil and debug == nil)\n"
                    "assert(require == nil and dofile == nil and loadfile == nil)\n"
                    "assert(coroutine == nil and warn == nil)\n"
                    "assert(string and table and math and utf8 and sb)\n"
                    "assert(_G == _ENV)");
    assert_fails(f, "io.open('/etc/passwd')", "attempt to index a nil value (global 'io')");
    assert_fails(f, "os.execute('true')", "global 'os'");
    assert_fails(f, "require('os')", "global 'require'");
}

static void test_sandbox_string_dump_absent(void **state)
{
    fixture *f = *state;
    assert_loads(f, "assert(string.dump == nil)\n"
                    "assert(('x').dump == nil)\n"            /* through the string metatable */
                    "assert(getmetatable('') == 'string')\n" /* the shared table stays hidden */
                    "assert(('abc'):upper() == 'ABC')");
}

static void test_sandbox_load_refuses_bytecode(void **state)
{
    fixture *f = *state;
    assert_loads(f,
                 "local fn, err = load('\\27Lua\\x54\\0\\x19\\x93\\r\\n\\x1a\\n')\n"
                 "assert(fn == nil and err:find('binary'), err)\n"
                 "local fn2, err2 = load('\\27Lua', 'x', 'b')\n" /* asking for b changes nothing */
                 "assert(fn2 == nil and err2:find('binary'), err2)");
    assert_fails(f, "load(function() return nil end)", "only string chunks");
}

static void test_sandbox_load_text_sees_script_globals(void **state)
{
    fixture *f = *state;
    assert_loads(f, "x = 41\n"
                    "local fn = assert(load('x = x + 1 return x'))\n"
                    "assert(fn() == 42 and x == 42)\n"
                    "local g = assert(load('return y', 'c', 't', {y = 7}))\n"
                    "assert(g() == 7)");
}

static void test_sandbox_collectgarbage_count_only(void **state)
{
    fixture *f = *state;
    assert_loads(f, "assert(type(collectgarbage('count')) == 'number')\n"
                    "assert(collectgarbage('count') > 0)");
    assert_fails(f, "collectgarbage()", "only \"count\" is allowed");
    assert_fails(f, "collectgarbage('stop')", "only \"count\" is allowed");
}

static void test_sandbox_scripts_have_separate_globals(void **state)
{
    fixture *f = *state;
    assert_loads(f, "shared = 1 string.extra = 'mine' function authorize() end");
    assert_loads(f, "assert(shared == nil and string.extra == nil and authorize == nil)");
}

/* --- output and the sb library --------------------------------------------------- */

static void test_sandbox_print_goes_to_log(void **state)
{
    fixture *f = *state;
    assert_loads(f, "print('hello', 1, true, nil)");
    assert_non_null(strstr(fake_log, "1:t.lua: hello\t1\ttrue\tnil\n"));
}

static void test_sandbox_sb_log_levels(void **state)
{
    fixture *f = *state;
    assert_loads(f, "sb.log('warn', 'careful') sb.log('debug', 42)");
    assert_non_null(strstr(fake_log, "2:t.lua: careful\n"));
    assert_non_null(strstr(fake_log, "0:t.lua: 42\n"));
    assert_fails(f, "sb.log('loud', 'x')", "invalid option 'loud'");
}

static void test_sandbox_sb_now_and_config(void **state)
{
    fixture *f = *state;
    assert_loads(f, "assert(sb.now() == 1732280000123 and math.type(sb.now()) == 'integer')\n"
                    "assert(sb.config('staff') == 'alice bob')\n"
                    "assert(sb.config('nope') == nil)");
}

static void test_sandbox_sb_json_encode_decode(void **state)
{
    fixture *f = *state;
    assert_loads(f, "local t = sb.json_decode('{\"a\":[1,2.5,{}],\"b\":[],\"n\":null}')\n"
                    "assert(t.a[1] == 1 and math.type(t.a[2]) == 'float' and t.n == sb.null)\n"
                    "local back = sb.json_decode(sb.json_encode(t))\n"
                    "assert(next(back.b) == nil and sb.json_encode(back.b) == '[]')\n"
                    "assert(sb.json_encode(back.a[3]) == '{}')\n"
                    "assert(sb.json_encode(sb.array()) == '[]')\n"
                    "assert(sb.json_encode({}) == '{}')");
    assert_loads(f, "local v, err = sb.json_decode('{bad')\n"
                    "assert(v == nil and err:find('invalid JSON'))\n"
                    "local v2, err2 = sb.json_decode('{} trailing')\n"
                    "assert(v2 == nil and err2:find('invalid JSON'))\n"
                    "local v3, err3 = sb.json_decode('\"\\xff\"')\n"
                    "assert(v3 == nil and err3 == 'not valid UTF-8')\n"
                    "local deep = string.rep('[', 65) .. string.rep(']', 65)\n"
                    "local v4, err4 = sb.json_decode(deep)\n"
                    "assert(v4 == nil and err4:find('deeper than 64'))");
    assert_fails(f, "sb.json_encode({f = print})", "a function value at f");
}

/* --- limits ------------------------------------------------------------------------ */

static void test_sandbox_instruction_limit_stops_loop(void **state)
{
    fixture *f = *state;
    assert_fails(f, "local n = 0\nwhile true do n = n + 1 end", "instruction limit exceeded");
    /* file and line of the loop */
    assert_non_null(strstr(f->err, "t.lua:2:"));
    /* the state still serves the next call */
    assert_loads(f, "assert(1 + 1 == 2)");
}

static void test_sandbox_instruction_limit_not_swallowed_by_pcall(void **state)
{
    fixture *f = *state;
    assert_fails(f, "while true do pcall(function() while true do end end) end",
                 "instruction limit exceeded");
    assert_fails(f,
                 "while true do xpcall(function() while true do end end, function(e) return e end) "
                 "end",
                 "instruction limit exceeded");
    /* ordinary errors are still caught by pcall */
    assert_loads(f,
                 "local ok, err = pcall(error, 'boom') assert(not ok and err == 'boom')\n"
                 "local ok2, v = pcall(function(a) return a * 2 end, 21)\n"
                 "assert(ok2 and v == 42)\n"
                 "local ok3, e3 = xpcall(function() error('x') end, function(m) return 'h:' .. m "
                 "end)\n"
                 "assert(not ok3 and e3:find('^h:'))");
}

static int sandbox_setup_small_memory(void **state)
{
    return sandbox_setup_limits(state, 200000000, 4u << 20);
}

static void test_sandbox_memory_limit_stops_growing_table(void **state)
{
    fixture *f = *state;
    assert_fails(f, "local t = {}\nwhile true do t[#t + 1] = {1, 2, 3} end",
                 "memory limit exceeded");
    assert_non_null(strstr(f->err, "t.lua:2:"));
    /* the garbage is returned and the state serves the next call */
    assert_true(sblua_vm_memory(f->vm) < (4u << 20));
    assert_loads(f, "local t = {} for i = 1, 1000 do t[i] = i end assert(#t == 1000)");
}

static void test_sandbox_memory_limit_stops_huge_string(void **state)
{
    fixture *f = *state;
    assert_fails(f, "local s = string.rep('x', 64 * 1024 * 1024)", "memory");
    assert_fails(f, "local ok, e = pcall(string.rep, 'x', 64 * 1024 * 1024) return ok", "memory");
    assert_loads(f, "assert(#string.rep('x', 1000) == 1000)");
}

static void test_sandbox_memory_limit_below_state_size(void **state)
{
    (void)state;
    char err[256] = "";
    /* The libraries alone outgrow 1 KiB: the state is built (C code has no
     * instruction to stop at) but the first script is stopped. */
    sblua_limits lim = {.instructions = 100000, .memory = 1024};
    sblua_vm *vm = sblua_vm_new(&fake_env, &lim, err, sizeof err);
    assert_non_null(vm);
    int ref;
    assert_int_not_equal(sblua_vm_load(vm, "t.lua", "x = 1", 5, &ref, err, sizeof err), LUA_OK);
    assert_non_null(strstr(err, "memory"));
    sblua_vm_free(vm);
}

static void test_sandbox_error_carries_file_line_and_traceback(void **state)
{
    fixture *f = *state;
    assert_fails(f, "local function inner()\n  local x = nil\n  return x.field\nend\ninner()",
                 "t.lua:3: attempt to index a nil value");
    assert_non_null(strstr(f->err, "stack traceback:"));
    assert_null(strchr(f->err, '\n')); /* one log line */
    assert_fails(f, "x = = 1", "t.lua:1:");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, sandbox_setup, sandbox_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sandbox_unsafe_libraries_absent),
        T(test_sandbox_string_dump_absent),
        T(test_sandbox_load_refuses_bytecode),
        T(test_sandbox_load_text_sees_script_globals),
        T(test_sandbox_collectgarbage_count_only),
        T(test_sandbox_scripts_have_separate_globals),
        T(test_sandbox_print_goes_to_log),
        T(test_sandbox_sb_log_levels),
        T(test_sandbox_sb_now_and_config),
        T(test_sandbox_sb_json_encode_decode),
        T(test_sandbox_instruction_limit_stops_loop),
        T(test_sandbox_instruction_limit_not_swallowed_by_pcall),
        cmocka_unit_test_setup_teardown(test_sandbox_memory_limit_stops_growing_table,
                                        sandbox_setup_small_memory, sandbox_teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_memory_limit_stops_huge_string,
                                        sandbox_setup_small_memory, sandbox_teardown),
        cmocka_unit_test(test_sandbox_memory_limit_below_state_size),
        T(test_sandbox_error_carries_file_line_and_traceback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

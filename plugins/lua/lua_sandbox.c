/* The sandboxed Lua state: allocator with a memory limit, the instruction
 * budget, per-script globals tables, the `sb` library and the wrappers that
 * replace unsafe base functions. Every entry into Lua goes through
 * sblua_vm_run, i.e. lua_pcall with a traceback handler.
 *
 * Limits that scripts cannot dodge:
 *  - The instruction budget is a count hook armed before each call. When it
 *    fires it re-arms itself with a count of 1, so every further instruction
 *    (an error handler, a __close) fails at once, and the sandbox's pcall and
 *    xpcall re-raise instead of returning false: a runaway script cannot
 *    swallow its own "instruction limit exceeded".
 *  - The memory limit: when the state grows past memory_limit_mb during a
 *    call, the allocator still succeeds but arms the same hook, which stops
 *    the script at its next instruction with file and line. Past a hard
 *    ceiling (the limit plus 1/8, at least 1 MiB) the allocator refuses, and
 *    Lua raises "not enough memory" (a C function such as string.rep asking
 *    for one huge block ends there, without a line).
 *  - Arming a hook from the allocator is what lua.c does from a signal
 *    handler (lua_sethook only stores fields and sets trap flags). */
#include "lua_sandbox.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_lazy.h"

#define SBLUA_LIB_KEY "sblua.lib"
#define SBLUA_BOX_MT  "sblua.box"

struct sblua_vm {
    lua_State *L;
    sblua_env env;
    sblua_limits lim;
    sblua_json_opts json;
    size_t used;   /* bytes held by the state */
    size_t hard;   /* the allocator refuses past this; 0: no limit */
    int running;   /* inside sblua_vm_run */
    int exhausted; /* the instruction budget ran out during this run */
    int mem_hit;   /* the state grew past lim.memory during this run */
};

static sblua_vm *sblua_vm_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* --- limits ---------------------------------------------------------------- */

static void sblua_hook(lua_State *L, lua_Debug *ar)
{
    sblua_vm *vm = sblua_vm_of(L);
    char what[80];
    if (vm->mem_hit) {
        snprintf(what, sizeof what, "memory limit exceeded (%zu MiB)", vm->lim.memory >> 20);
    } else {
        vm->exhausted = 1;
        snprintf(what, sizeof what, "instruction limit exceeded (%ld instructions)",
                 vm->lim.instructions);
    }
    lua_sethook(L, sblua_hook, LUA_MASKCOUNT, 1);
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        lua_pushfstring(L, "%s:%d: %s", ar->short_src, ar->currentline, what);
    else
        lua_pushstring(L, what);
    lua_error(L);
}

static void sblua_arm_memory(sblua_vm *vm)
{
    if (!vm->L || !vm->running || vm->mem_hit)
        return;
    vm->mem_hit = 1;
    lua_sethook(vm->L, sblua_hook, LUA_MASKCOUNT, 1);
}

static void *sblua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sblua_vm *vm = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        vm->used -= old;
        return NULL;
    }
    if (nsize > old) {
        size_t grow = nsize - old;
        if (vm->hard && vm->used + grow > vm->hard) {
            sblua_arm_memory(vm);
            return NULL;
        }
        if (vm->lim.memory && vm->used + grow > vm->lim.memory)
            sblua_arm_memory(vm);
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return nsize <= old ? ptr : NULL; /* Lua assumes shrinking never fails */
    vm->used = vm->used - old + nsize;
    return p;
}

static int sblua_panic(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    const char *msg = lua_tostring(L, -1);
    if (vm && vm->env.log)
        vm->env.log(vm->env.ud, SB_LOG_ERROR, msg ? msg : "unprotected Lua error");
    return 0; /* Lua aborts */
}

/* --- error reporting ------------------------------------------------------- */

/* The message handler: the message (with chunkname:line from Lua) plus a traceback. */
static int sblua_msgh(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (!vm->exhausted && !vm->mem_hit && luaL_callmeta(L, 1, "__tostring") &&
            lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Copy a multi-line traceback into out as one log line. */
static void sblua_one_line(const char *in, char *out, size_t len)
{
    size_t o = 0;
    if (!len)
        return;
    for (const char *p = in; *p && o + 1 < len; p++) {
        if (*p == '\n') {
            const char *sep = " | ";
            for (; *sep && o + 1 < len; sep++)
                out[o++] = *sep;
            while (p[1] == '\t')
                p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void sblua_format_error(sblua_vm *vm, int status, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    if (status == LUA_ERRMEM) {
        snprintf(err, errlen, "not enough memory (memory_limit_mb = %zu, the state holds %zu KiB)",
                 vm->lim.memory >> 20, vm->used >> 10);
        return;
    }
    const char *msg = lua_tostring(vm->L, -1);
    if (status == LUA_ERRERR && !msg)
        msg = "error in the error handler";
    sblua_one_line(msg ? msg : "(no error message)", err, errlen);
}

int sblua_vm_run(sblua_vm *vm, lua_CFunction fn, void *arg, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L);
    vm->running = 1;
    vm->exhausted = 0;
    vm->mem_hit = 0;
    if (vm->lim.instructions > 0) {
        long n = vm->lim.instructions > INT_MAX ? INT_MAX : vm->lim.instructions;
        lua_sethook(L, sblua_hook, LUA_MASKCOUNT, (int)n);
    } else {
        lua_sethook(L, NULL, 0, 0);
    }
    lua_pushcfunction(L, sblua_msgh);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, arg);
    int status = lua_pcall(L, 1, 0, base + 1);
    vm->running = 0;
    if (status != LUA_OK)
        sblua_format_error(vm, status, err, errlen);
    lua_settop(L, base);
    /* A script stopped for memory leaves its garbage behind: return it now. */
    if (status != LUA_OK && (vm->mem_hit || status == LUA_ERRMEM))
        lua_gc(L, LUA_GCCOLLECT);
    return status;
}

/* --- replacements for unsafe base functions ---------------------------------- */

/* A failure the script must not swallow (budget or memory) goes on up. */
static int sblua_must_rethrow(sblua_vm *vm, int status)
{
    return status != LUA_OK && (vm->exhausted || vm->mem_hit || status == LUA_ERRMEM);
}

static int sblua_pcall(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    luaL_checkany(L, 1);
    int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (sblua_must_rethrow(vm, status))
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, 1);
    return lua_gettop(L);
}

static int sblua_xpcall(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2); /* f, msgh, true, f, args... */
    int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
    if (sblua_must_rethrow(vm, status))
        return lua_error(L);
    if (status != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - 2;
}

/* load(s [, chunkname [, mode [, env]]]): text only, whatever mode asks; the
 * default env is the calling script's globals (upvalue 1), not the state's. */
static int sblua_load(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_argerror(L, 1, "only string chunks can be loaded");
    const char *s = lua_tolstring(L, 1, &len);
    const char *chunkname = luaL_optstring(L, 2, s);
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, s, len, chunkname, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushvalue(L, has_env ? 4 : lua_upvalueindex(1));
    if (!lua_setupvalue(L, -2, 1))
        lua_pop(L, 1);
    return 1;
}

static int sblua_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return luaL_error(L, "collectgarbage: only \"count\" is allowed");
    int kb = lua_gc(L, LUA_GCCOUNT);
    int b = lua_gc(L, LUA_GCCOUNTB);
    lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
    return 1;
}

/* Log msg prefixed with the script's name (upvalue 1). */
static void sblua_log_line(lua_State *L, int level, const char *msg)
{
    sblua_vm *vm = sblua_vm_of(L);
    const char *line = lua_pushfstring(L, "%s: %s", lua_tostring(L, lua_upvalueindex(1)), msg);
    if (vm->env.log)
        vm->env.log(vm->env.ud, level, line);
    lua_pop(L, 1);
}

static int sblua_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    sblua_log_line(L, SB_LOG_INFO, lua_tostring(L, -1));
    return 0;
}

/* --- the sb library -------------------------------------------------------- */

static int sblua_sb_log(lua_State *L)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    static const int values[] = {SB_LOG_DEBUG, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR};
    int i = luaL_checkoption(L, 1, NULL, levels);
    const char *msg = luaL_tolstring(L, 2, NULL);
    sblua_log_line(L, values[i], msg);
    return 0;
}

static int sblua_sb_now(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    int64_t now;
    if (vm->env.now_ms) {
        now = vm->env.now_ms();
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    lua_pushinteger(L, (lua_Integer)now);
    return 1;
}

static int sblua_sb_config(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    const char *key = luaL_checkstring(L, 1);
    const char *v = vm->env.config ? vm->env.config(vm->env.ud, key) : NULL;
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int sblua_sb_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    sblua_json_mark_array(L, 1);
    return 1;
}

/* A userdata owning C-side JSON memory, so that a Lua error cannot leak it. */
typedef struct sblua_box {
    cJSON *json;
    char *text;
} sblua_box;

static int sblua_box_gc(lua_State *L)
{
    sblua_box *b = luaL_checkudata(L, 1, SBLUA_BOX_MT);
    cJSON_Delete(b->json);
    cJSON_free(b->text);
    b->json = NULL;
    b->text = NULL;
    return 0;
}

static sblua_box *sblua_box_new(lua_State *L)
{
    sblua_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->json = NULL;
    b->text = NULL;
    luaL_setmetatable(L, SBLUA_BOX_MT);
    return b;
}

static int sblua_sb_json_encode(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    lua_settop(L, 1);
    sblua_box *b = sblua_box_new(L);
    sblua_json_to(L, 1, &vm->json, &b->json);
    b->text = cJSON_PrintUnformatted(b->json);
    if (!b->text)
        return luaL_error(L, "not enough memory");
    lua_pushstring(L, b->text);
    return 1;
}

static int sblua_json_depth(const cJSON *j)
{
    int max = 0;
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        int d = sblua_json_depth(c);
        if (d > max)
            max = d;
    }
    return j && (cJSON_IsArray(j) || cJSON_IsObject(j)) ? max + 1 : max;
}

/* sb.json_decode(s) -> value, or nil and why (bad input is the caller's data, not a bug). */
static int sblua_sb_json_decode(lua_State *L)
{
    sblua_vm *vm = sblua_vm_of(L);
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (!vm->json.utf8_valid(s, len)) {
        luaL_pushfail(L);
        lua_pushliteral(L, "not valid UTF-8");
        return 2;
    }
    sblua_box *b = sblua_box_new(L);
    const char *end = NULL;
    b->json = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (b->json && end)
        while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
            end++;
    if (!b->json || !end || end != s + len) {
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON near byte %d", (int)((end ? end : s) - s) + 1);
        return 2;
    }
    if (sblua_json_depth(b->json) > SBLUA_JSON_MAX_DEPTH) {
        luaL_pushfail(L);
        lua_pushfstring(L, "JSON nesting deeper than %d levels", SBLUA_JSON_MAX_DEPTH);
        return 2;
    }
    sblua_json_push(L, b->json, &vm->json);
    return 1;
}

/* --- building the state and the per-script globals --------------------------- */

static const char *const sblua_base_names[] = {
    "assert",   "error",    "getmetatable", "ipairs",   "next",   "pairs",
    "rawequal", "rawget",   "rawlen",       "rawset",   "select", "setmetatable",
    "tonumber", "tostring", "type",         "_VERSION", NULL,
};

static const char *const sblua_lib_names[] = {LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME,
                                              LUA_UTF8LIBNAME, NULL};

static int sblua_setup(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    int base = lua_gettop(L) - 4;

    /* string.dump is gone from the table that string methods index too. */
    lua_pushnil(L);
    lua_setfield(L, base + 1, "dump");
    /* getmetatable("") must not hand out that table: it is shared by every script. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushliteral(L, "string");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    lua_createtable(L, 0, 5);
    lua_pushvalue(L, base);
    lua_setfield(L, -2, "base");
    for (int i = 0; sblua_lib_names[i]; i++) {
        lua_pushvalue(L, base + 1 + i);
        lua_setfield(L, -2, sblua_lib_names[i]);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, SBLUA_LIB_KEY);

    /* The state's own globals stay empty: every script has its own table. */
    lua_newtable(L);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);

    sblua_json_setup(L);
    sblua_lazy_setup(L, &sblua_vm_of(L)->json);
    luaL_newmetatable(L, SBLUA_BOX_MT);
    lua_pushcfunction(L, sblua_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    return 0;
}

/* Push a new globals table for the script `name`. */
static void sblua_push_env(lua_State *L, const char *name)
{
    lua_createtable(L, 0, 32);
    int env = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, SBLUA_LIB_KEY);
    int lib = env + 1;

    lua_getfield(L, lib, "base");
    for (int i = 0; sblua_base_names[i]; i++) {
        lua_getfield(L, -1, sblua_base_names[i]);
        lua_setfield(L, env, sblua_base_names[i]);
    }
    lua_pop(L, 1);

    /* Shallow copies: one script editing `string` does not change another's. */
    for (int i = 0; sblua_lib_names[i]; i++) {
        lua_getfield(L, lib, sblua_lib_names[i]);
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, -3)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
        lua_setfield(L, env, sblua_lib_names[i]);
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* lib */

    lua_pushvalue(L, env);
    lua_pushcclosure(L, sblua_load, 1);
    lua_setfield(L, env, "load");
    lua_pushstring(L, name);
    lua_pushcclosure(L, sblua_print, 1);
    lua_setfield(L, env, "print");
    lua_pushcfunction(L, sblua_pcall);
    lua_setfield(L, env, "pcall");
    lua_pushcfunction(L, sblua_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_pushcfunction(L, sblua_collectgarbage);
    lua_setfield(L, env, "collectgarbage");

    lua_createtable(L, 0, 8);
    lua_pushstring(L, name);
    lua_pushcclosure(L, sblua_sb_log, 1);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, sblua_sb_now);
    lua_setfield(L, -2, "now");
    lua_pushcfunction(L, sblua_sb_config);
    lua_setfield(L, -2, "config");
    lua_pushcfunction(L, sblua_sb_json_encode);
    lua_setfield(L, -2, "json_encode");
    lua_pushcfunction(L, sblua_sb_json_decode);
    lua_setfield(L, -2, "json_decode");
    lua_pushcfunction(L, sblua_sb_array);
    lua_setfield(L, -2, "array");
    sblua_json_push_null(L);
    lua_setfield(L, -2, "null");
    lua_setfield(L, env, "sb");

    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
}

typedef struct sblua_load_job {
    const char *name;
    const char *src;
    size_t len;
    int ref;
} sblua_load_job;

static int sblua_load_tramp(lua_State *L)
{
    sblua_load_job *job = lua_touserdata(L, 1);
    const char *chunkname = lua_pushfstring(L, "@%s", job->name);
    if (luaL_loadbufferx(L, job->src, job->len, chunkname, "t") != LUA_OK)
        return lua_error(L);
    sblua_push_env(L, job->name);
    lua_pushvalue(L, -1);
    lua_setupvalue(L, -3, 1); /* the chunk's _ENV */
    lua_insert(L, -2);        /* env below the chunk */
    lua_call(L, 0, 0);
    job->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int sblua_vm_load(sblua_vm *vm, const char *name, const char *src, size_t len, int *env_ref,
                  char *err, size_t errlen)
{
    sblua_load_job job = {.name = name, .src = src, .len = len, .ref = LUA_NOREF};
    int status = sblua_vm_run(vm, sblua_load_tramp, &job, err, errlen);
    if (status == LUA_OK)
        *env_ref = job.ref;
    return status;
}

sblua_vm *sblua_vm_new(const sblua_env *env, const sblua_limits *lim, char *err, size_t errlen)
{
    sblua_vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    vm->env = *env;
    vm->lim = *lim;
    vm->json.max_depth = SBLUA_JSON_MAX_DEPTH;
    vm->json.max_bytes = lim->json_bytes;
    vm->json.utf8_valid = env->utf8_valid;
    vm->json.settle = sblua_lazy_settle;
    if (lim->memory) {
        size_t slack = lim->memory / 8 > (1u << 20) ? lim->memory / 8 : (1u << 20);
        vm->hard = lim->memory + slack;
    }
    lua_State *L = lua_newstate(sblua_alloc, vm);
    if (!L) {
        snprintf(err, errlen, "cannot create a Lua state (memory_limit_mb too small?)");
        free(vm);
        return NULL;
    }
    vm->L = L;
    lua_atpanic(L, sblua_panic);
    if (sblua_vm_run(vm, sblua_setup, NULL, err, errlen) != LUA_OK) {
        sblua_vm_free(vm);
        return NULL;
    }
    return vm;
}

void sblua_vm_free(sblua_vm *vm)
{
    if (!vm)
        return;
    if (vm->L) {
        /* Finalizers (__gc) run here: keep them under the budget. */
        if (vm->lim.instructions > 0) {
            long n = vm->lim.instructions > INT_MAX ? INT_MAX : vm->lim.instructions;
            lua_sethook(vm->L, sblua_hook, LUA_MASKCOUNT, (int)n);
        }
        lua_close(vm->L);
    }
    free(vm);
}

lua_State *sblua_vm_state(sblua_vm *vm)
{
    return vm->L;
}

const sblua_env *sblua_vm_env(sblua_vm *vm)
{
    return &vm->env;
}

const sblua_json_opts *sblua_vm_json(sblua_vm *vm)
{
    return &vm->json;
}

size_t sblua_vm_memory(const sblua_vm *vm)
{
    return vm->used;
}

/* Fuzz target: the lua plugin's JSON <-> Lua conversion (plugins/lua/lua_json.c)
 * inside its sandbox (lua_sandbox.c). Byte 0 picks the mode, the rest is:
 *  - even: JSON text. What sb_json_parse_strict accepts is pushed into Lua
 *    (sblua_json_push) and converted back (sblua_json_to); the result must
 *    equal the input tree (fuzz_equal: object key order is free, numbers
 *    compare by value, so an integral float coming back as an integer is
 *    equal). The documented exceptions must be the only failures: a value
 *    deeper than SBLUA_JSON_MAX_DEPTH is refused by the push, a number that
 *    overflowed to infinity (1e999) by the way back.
 *  - odd: a Lua chunk, run as a script of the sandbox under a small
 *    instruction budget and memory limit; the global `out` it leaves is
 *    converted to JSON. Either the conversion fails with a message, or the
 *    compact print of the result is accepted by the strict parser, parses to
 *    an equal tree, and survives a second Lua round trip unchanged.
 * Invariants common to both: no crash, no leak (every state closed), every
 * failure comes with a message. The sandbox's string pattern functions,
 * string.rep and table.move are removed from the fuzzed states: they loop in
 * C, outside the instruction budget, so a timeout would say nothing new
 * (scripts are the operator's, not the clients'). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua.h>

#include "envelope.h"
#include "lua_json.h"
#include "lua_sandbox.h"
#include "utf8.h"

#define FUZZ_INSTRUCTIONS 20000
#define FUZZ_MEMORY       (256u << 10)
#define FUZZ_JSON_BYTES   (64u << 10)

typedef struct fuzz_job {
    const cJSON *in; /* JSON -> Lua -> JSON: the tree to push */
    int env_ref;     /* chunk mode: the script's globals */
    cJSON *out;      /* the converted value (freed by the caller) */
    int done;        /* the conversion returned */
    int nothing;     /* chunk mode: `out` is nil, nothing converted */
} fuzz_job;

static void fuzz_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    (void)msg;
}

/* host->utf8_valid, as the plugin gets it. */
static int fuzz_utf8_valid(const char *s, size_t len)
{
    return sb_utf8_valid((const uint8_t *)s, len);
}

static const sblua_env fuzz_env = {.log = fuzz_log, .utf8_valid = fuzz_utf8_valid};

/* Drop the library functions that loop in C without counting instructions. */
static int fuzz_strip(lua_State *L)
{
    static const char *const strs[] = {"find", "match", "gmatch", "gsub", "rep", NULL};
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, LUA_STRLIBNAME); /* also the strings' __index */
    for (int i = 0; strs[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, strs[i]);
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, LUA_TABLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "move");
    lua_pop(L, 2);
    return 0;
}

static sblua_vm *fuzz_vm(void)
{
    char err[256];
    sblua_limits lim = {
        .instructions = FUZZ_INSTRUCTIONS, .memory = FUZZ_MEMORY, .json_bytes = FUZZ_JSON_BYTES};
    sblua_vm *vm = sblua_vm_new(&fuzz_env, &lim, err, sizeof(err));
    if (!vm || sblua_vm_run(vm, fuzz_strip, NULL, err, sizeof(err)) != LUA_OK)
        abort();
    return vm;
}

/* Nesting of arrays and objects (a scalar root is 0), as lua_json.c counts it. */
static int fuzz_depth(const cJSON *j)
{
    int max = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
        int d = fuzz_depth(c);
        if (d > max)
            max = d;
    }
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? max + 1 : max;
}

static int fuzz_has_infinity(const cJSON *j)
{
    if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
        return 1;
    for (const cJSON *c = j->child; c; c = c->next)
        if (fuzz_has_infinity(c))
            return 1;
    return 0;
}

/* Run in the sandbox: push job->in, convert it back into job->out. */
static int fuzz_round_trip(lua_State *L)
{
    fuzz_job *job = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.json.opts");
    const sblua_json_opts *opts = lua_touserdata(L, -1);
    lua_pop(L, 1);
    sblua_json_push(L, job->in, opts);
    sblua_json_to(L, -1, opts, &job->out);
    job->done = 1;
    return 0;
}

/* Run in the sandbox: convert the script's global `out`. */
static int fuzz_convert_out(lua_State *L)
{
    fuzz_job *job = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.json.opts");
    const sblua_json_opts *opts = lua_touserdata(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, job->env_ref);
    lua_pushliteral(L, "out");
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        job->nothing = 1;
        return 0;
    }
    sblua_json_to(L, -1, opts, &job->out);
    job->done = 1;
    return 0;
}

static void fuzz_set_opts(sblua_vm *vm)
{
    lua_State *L = sblua_vm_state(vm);
    lua_pushlightuserdata(L, (void *)sblua_vm_json(vm));
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.json.opts");
}

/* JSON -> Lua -> JSON of tree in a fresh state. Returns the result (NULL on a
 * conversion error, with err written). */
static cJSON *fuzz_through_lua(const cJSON *tree, char *err, size_t errlen)
{
    sblua_vm *vm = fuzz_vm();
    fuzz_set_opts(vm);
    fuzz_job job = {.in = tree};
    err[0] = 0;
    int rc = sblua_vm_run(vm, fuzz_round_trip, &job, err, errlen);
    if (rc != LUA_OK) {
        if (job.done || err[0] == 0)
            abort();
        cJSON_Delete(job.out);
        job.out = NULL;
    } else if (!job.done || !job.out) {
        abort();
    }
    sblua_vm_free(vm);
    return job.out;
}

/* cJSON_Compare's meaning (case-sensitive keys, numbers equal within an
 * epsilon, object key order free) in linear time: cJSON 1.7.15 compares
 * objects both ways at every level, 2^depth calls for a chain of 64 nested
 * objects, a timeout of the harness rather than of the code under test.
 * Keys are unique here (the strict parser and Lua tables guarantee it), so
 * equal counts plus every key of a found equal in b means equal. */
static int fuzz_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b || (a->type & 0xff) != (b->type & 0xff))
        return 0;
    switch (a->type & 0xff) {
    case cJSON_False:
    case cJSON_True:
    case cJSON_NULL:
        return 1;
    case cJSON_Number: {
        double x = a->valuedouble, y = b->valuedouble;
        double m = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
        return fabs(x - y) <= m * 2.220446049250313e-16;
    }
    case cJSON_String:
    case cJSON_Raw:
        return a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!fuzz_equal(x, y))
                return 0;
        return !x && !y;
    }
    case cJSON_Object: {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, a)
        {
            if (!x->string || !fuzz_equal(x, cJSON_GetObjectItemCaseSensitive(b, x->string)))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

static void fuzz_json_mode(const char *text, size_t len)
{
    const char *why = NULL;
    cJSON *in = sb_json_parse_strict(text, len, &why);
    if (!in)
        return;
    char err[512];
    cJSON *out = fuzz_through_lua(in, err, sizeof(err));
    int deep = fuzz_depth(in) > SBLUA_JSON_MAX_DEPTH;
    int inf = fuzz_has_infinity(in);
    if (!out) {
        /* Only the documented refusals. */
        if (deep && strstr(err, "nesting deeper than"))
            ;
        else if (inf && strstr(err, "NaN or infinite"))
            ;
        else {
            fprintf(stderr, "round trip failed: %s\n", err);
            abort();
        }
    } else {
        if (deep || inf)
            abort(); /* should have been refused */
        if (!fuzz_equal(in, out)) {
            char *a = cJSON_PrintUnformatted(in), *b = cJSON_PrintUnformatted(out);
            fprintf(stderr, "round trip changed the tree:\n in: %s\nout: %s\n", a, b);
            abort();
        }
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
}

static void fuzz_chunk_mode(const char *src, size_t len)
{
    sblua_vm *vm = fuzz_vm();
    fuzz_set_opts(vm);
    char err[512];
    err[0] = 0;
    fuzz_job job = {.env_ref = LUA_NOREF};
    if (sblua_vm_load(vm, "fuzz", src, len, &job.env_ref, err, sizeof(err)) != LUA_OK) {
        if (err[0] == 0)
            abort();
        sblua_vm_free(vm);
        return;
    }
    int rc = sblua_vm_run(vm, fuzz_convert_out, &job, err, sizeof(err));
    if (rc != LUA_OK) {
        if (job.done || err[0] == 0)
            abort();
        cJSON_Delete(job.out);
        job.out = NULL;
    }
    luaL_unref(sblua_vm_state(vm), LUA_REGISTRYINDEX, job.env_ref);
    sblua_vm_free(vm);
    if (!job.out) {
        if (rc == LUA_OK && !job.nothing)
            abort();
        return;
    }

    /* What sb.json_encode would send: the strict parser must take it back. */
    char *text = cJSON_PrintUnformatted(job.out);
    if (!text)
        abort();
    const char *why = NULL;
    cJSON *back = sb_json_parse_strict(text, strlen(text), &why);
    if (!back) {
        fprintf(stderr, "strict parser refused %s: %s\n", text, why ? why : "?");
        abort();
    }
    if (!fuzz_equal(job.out, back))
        abort();
    /* And a second trip through Lua changes nothing. */
    cJSON *again = fuzz_through_lua(back, err, sizeof(err));
    if (!again) {
        fprintf(stderr, "second round trip of %s failed: %s\n", text, err);
        abort();
    }
    if (!fuzz_equal(back, again))
        abort();
    cJSON_Delete(again);
    cJSON_Delete(back);
    cJSON_free(text);
    cJSON_Delete(job.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *)data + 1;
    if (data[0] & 1)
        fuzz_chunk_mode(rest, size - 1);
    else
        fuzz_json_mode(rest, size - 1);
    return 0;
}

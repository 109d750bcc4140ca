/* The hook calls over one loaded set of scripts (see lua_engine.h).
 *
 * Each script's function runs in its own sblua_vm_run, so each gets a whole
 * instruction budget and a failure is pinned to one script. What a function
 * returns is validated inside the protected call (a wrong type raises a Lua
 * error there), so "returned a number" is handled exactly like a runtime
 * error: logged with the script and line, then decided by on_error. */
#include "lua_engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua_lazy.h"
#include "lua_trivial.h"

enum sblua_kind { SBLUA_ON_CONNECT, SBLUA_AUTHENTICATE, SBLUA_AUTHORIZE, SBLUA_FILTER };

static const char *const sblua_hook_names[] = {"on_connect", "authenticate", "authorize", "filter"};

/* The reason given when a script refuses without saying why. */
static const char *const sblua_default_reasons[] = {"refused by policy", "authentication failed",
                                                    "forbidden by policy", "filtered by policy"};

#define SBLUA_ERROR_REASON "policy script error"

#define SBLUA_KINDS        4

typedef struct sblua_script {
    char *name;
    int env_ref;
    /* Per hook: a registry reference to the function the script had when it
     * loaded if that one only says yes (lua_trivial.h), else LUA_NOREF. */
    int trivial_ref[SBLUA_KINDS];
} sblua_script;

struct sblua_engine {
    sblua_vm *vm;
    int on_error;
    sblua_script *scripts;
    size_t n;
    int name_ref[SBLUA_KINDS]; /* the hook names as Lua strings, to look up without allocating */
};

/* One hook call of one script: inputs, then what the script decided. */
typedef struct sblua_call {
    int kind;
    const sblua_script *script;
    const sb_http_req *req;
    const char *token;
    const char *user;
    const char *action;
    const char *target;
    const cJSON *data;
    const sb_filter_msg *msg;

    int present; /* the script defines the function */
    int verdict; /* SB_HOOK_ALLOW | SB_HOOK_DENY */
    char reason[256];
    char user_out[SB_USER_MAX + 1];
    cJSON *out; /* filter: the new data; freed by the caller unless taken */
} sblua_call;

/* --- pushing arguments --------------------------------------------------------- */

static void sblua_setfield_str(lua_State *L, const char *key, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

/* req: {method, path, query, ip, origin, user, headers = {lower-cased name = value}} */
static void sblua_push_req(lua_State *L, const sb_http_req *req)
{
    lua_createtable(L, 0, 8);
    if (!req)
        return;
    sblua_setfield_str(L, "method", req->method);
    sblua_setfield_str(L, "path", req->path);
    sblua_setfield_str(L, "query", req->query);
    sblua_setfield_str(L, "ip", req->ip);
    sblua_setfield_str(L, "origin", req->origin);
    sblua_setfield_str(L, "user", req->user);
    lua_createtable(L, 0, (int)req->n_headers);
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (!name || !req->headers[i].value)
            continue;
        luaL_Buffer b;
        char *p = luaL_buffinitsize(L, &b, strlen(name));
        size_t n = strlen(name);
        for (size_t k = 0; k < n; k++)
            p[k] = (name[k] >= 'A' && name[k] <= 'Z') ? (char)(name[k] + 32) : name[k];
        luaL_pushresultsize(&b, n);
        lua_pushstring(L, req->headers[i].value);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
}

/* Set t[key] = v (nil when v is NULL) on the table on top, raw. */
static void sblua_rawset_str(lua_State *L, const char *key, const char *v)
{
    lua_pushstring(L, key);
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
}

/* msg: {type, from, to, room, id, ts, data}. lazy: to and data are
 * converted when the script first touches a member msg lacks (lua_lazy.h),
 * and msg may be the last call's table, so every member is set again. */
static void sblua_push_msg(lua_State *L, const sb_filter_msg *m, const cJSON *data,
                           const sblua_json_opts *o, int lazy)
{
    if (lazy) {
        sblua_lazy_push_table(L, SBLUA_LAZY_MSG, 8);
        sblua_rawset_str(L, "type", m->type);
        sblua_rawset_str(L, "from", m->from);
        sblua_rawset_str(L, "room", m->room);
        sblua_rawset_str(L, "id", m->id);
        lua_pushliteral(L, "ts");
        lua_pushinteger(L, (lua_Integer)m->ts);
        lua_rawset(L, -3);
        sblua_lazy_defer(L, -1, "data", data, m->to ? "to" : NULL, m->to);
        return;
    }
    lua_createtable(L, 0, 8);
    sblua_setfield_str(L, "type", m->type);
    sblua_setfield_str(L, "from", m->from);
    if (m->to) {
        sblua_json_push(L, m->to, o);
        lua_setfield(L, -2, "to");
    }
    sblua_setfield_str(L, "room", m->room);
    sblua_setfield_str(L, "id", m->id);
    lua_pushinteger(L, (lua_Integer)m->ts);
    lua_setfield(L, -2, "ts");
    if (data)
        sblua_json_push(L, data, o);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "data");
}

/* --- reading results ------------------------------------------------------------- */

/* Raise "file:line: <hook> returned ..." naming where the function was defined. */
static int sblua_bad_result(lua_State *L, sblua_call *c, const char *fmt, const char *arg)
{
    char what[160];
    snprintf(what, sizeof what, fmt, arg);
    return luaL_error(L, "%s: %s %s", c->script->name, sblua_hook_names[c->kind], what);
}

/* Copy the reason at idx (nil: the hook's default) into c->reason, cut at a
 * UTF-8 boundary. */
static void sblua_take_reason(lua_State *L, sblua_call *c, int idx, const sblua_env *env)
{
    const char *r = sblua_default_reasons[c->kind];
    size_t n = strlen(r);
    if (!lua_isnil(L, idx)) {
        if (lua_type(L, idx) != LUA_TSTRING)
            sblua_bad_result(L, c, "gave a %s as the reason (expected a string)",
                             luaL_typename(L, idx));
        r = lua_tolstring(L, idx, &n);
        if (!env->utf8_valid(r, n) || memchr(r, '\0', n))
            sblua_bad_result(L, c, "gave a reason that is not valid UTF-8 text%s", "");
    }
    if (n >= sizeof c->reason) {
        n = sizeof c->reason - 1;
        while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(c->reason, r, n);
    c->reason[n] = '\0';
}

static void sblua_read_allow(lua_State *L, sblua_call *c, int r1, const sblua_env *env)
{
    if (lua_isnil(L, r1) || (lua_isboolean(L, r1) && lua_toboolean(L, r1))) {
        c->verdict = SB_HOOK_ALLOW;
    } else if (lua_isboolean(L, r1)) {
        c->verdict = SB_HOOK_DENY;
        sblua_take_reason(L, c, r1 + 1, env);
    } else {
        sblua_bad_result(L, c, "returned a %s (expected true, or false and a reason)",
                         luaL_typename(L, r1));
    }
}

static void sblua_read_user(lua_State *L, sblua_call *c, int r1, const sblua_env *env)
{
    if (lua_isnil(L, r1) || (lua_isboolean(L, r1) && !lua_toboolean(L, r1))) {
        c->verdict = SB_HOOK_DENY;
        sblua_take_reason(L, c, r1 + 1, env);
        return;
    }
    if (lua_type(L, r1) != LUA_TSTRING)
        sblua_bad_result(L, c, "returned a %s (expected a user name, or nil and a reason)",
                         luaL_typename(L, r1));
    size_t n;
    const char *u = lua_tolstring(L, r1, &n);
    if (n > SB_USER_MAX || memchr(u, '\0', n) || !env->user_valid(u))
        sblua_bad_result(L, c, "returned an invalid user name \"%s\"", u);
    memcpy(c->user_out, u, n + 1);
    c->verdict = SB_HOOK_ALLOW;
}

static void sblua_read_filter(lua_State *L, sblua_call *c, int r1, const sblua_env *env,
                              const sblua_json_opts *o)
{
    if (lua_isnil(L, r1) || (lua_isboolean(L, r1) && !lua_toboolean(L, r1))) {
        c->verdict = SB_HOOK_DENY;
        sblua_take_reason(L, c, r1 + 1, env);
        return;
    }
    if (!lua_istable(L, r1))
        sblua_bad_result(L, c, "returned a %s (expected the message table, or nil and a reason)",
                         luaL_typename(L, r1));
    c->verdict = SB_HOOK_ALLOW;
    /* Untouched, or touched but unchanged: the data goes on as it came (out
     * stays NULL), without a conversion to JSON. */
    if (sblua_lazy_pending(L, r1))
        return;
    lua_getfield(L, r1, "data");
    if (!lua_istable(L, -1))
        sblua_bad_result(L, c, "returned a message whose data is a %s (expected a table)",
                         luaL_typename(L, -1));
    int same = sblua_lazy_same(L, -1, c->data);
    if (same < 0)
        same = sblua_json_same(L, -1, c->data, o);
    if (same) {
        lua_pop(L, 1);
        return;
    }
    sblua_json_to(L, -1, o, &c->out);
    if (!cJSON_IsObject(c->out))
        sblua_bad_result(L, c, "returned a message whose data is an array%s", "");
    lua_pop(L, 1);
}

typedef struct sblua_call_ctx {
    sblua_engine *e;
    sblua_call *c;
} sblua_call_ctx;

/* The protected part of one call: find the function, push the arguments,
 * call it, read and check what it returned. */
static int sblua_call_body(lua_State *L)
{
    sblua_call_ctx *x = lua_touserdata(L, 1);
    sblua_call *c = x->c;
    const sblua_env *env = sblua_vm_env(x->e->vm);
    const sblua_json_opts *o = sblua_vm_json(x->e->vm);

    lua_rawgeti(L, LUA_REGISTRYINDEX, c->script->env_ref);
    lua_pushstring(L, sblua_hook_names[c->kind]);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_isfunction(L, -1))
        return sblua_bad_result(L, c, "is a %s, not a function", luaL_typename(L, -1));
    c->present = 1;
    /* A function that can neither keep its arguments nor reach them raw gets
     * lazy payloads; an object is the only payload a lazy table can stand for. */
    int lazy = sblua_lazy_fits(L, -1) && cJSON_IsObject(c->data);

    int nargs = 0;
    switch (c->kind) {
    case SBLUA_ON_CONNECT:
        sblua_push_req(L, c->req);
        nargs = 1;
        break;
    case SBLUA_AUTHENTICATE:
        lua_pushstring(L, c->token ? c->token : "");
        sblua_push_req(L, c->req);
        nargs = 2;
        break;
    case SBLUA_AUTHORIZE:
        if (c->user)
            lua_pushstring(L, c->user);
        else
            lua_pushnil(L);
        lua_pushstring(L, c->action ? c->action : "");
        if (c->target)
            lua_pushstring(L, c->target);
        else
            lua_pushnil(L);
        if (lazy)
            sblua_lazy_push_object(L, c->data);
        else if (c->data)
            sblua_json_push(L, c->data, o);
        else
            lua_newtable(L);
        nargs = 4;
        break;
    default:
        sblua_push_msg(L, c->msg, c->data, o, lazy);
        nargs = 1;
        break;
    }
    lua_call(L, nargs, 2);
    int r1 = lua_gettop(L) - 1;
    switch (c->kind) {
    case SBLUA_ON_CONNECT:
    case SBLUA_AUTHORIZE:
        sblua_read_allow(L, c, r1, env);
        break;
    case SBLUA_AUTHENTICATE:
        sblua_read_user(L, c, r1, env);
        break;
    default:
        sblua_read_filter(L, c, r1, env, o);
        break;
    }
    return 0;
}

/* --- hooks that only say yes ----------------------------------------------------------- */

/* Protected: note each script's hook functions that only say yes, and the
 * hook names. */
static int sblua_find_trivial(lua_State *L)
{
    sblua_engine *e = lua_touserdata(L, 1);
    for (int k = 0; k < SBLUA_KINDS; k++) {
        lua_pushstring(L, sblua_hook_names[k]);
        e->name_ref[k] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    for (size_t i = 0; i < e->n; i++) {
        sblua_script *s = &e->scripts[i];
        for (int k = 0; k < SBLUA_KINDS; k++) {
            if (k == SBLUA_AUTHENTICATE) /* names a user: never trivial */
                continue;
            lua_rawgeti(L, LUA_REGISTRYINDEX, s->env_ref);
            lua_rawgeti(L, LUA_REGISTRYINDEX, e->name_ref[k]);
            lua_rawget(L, -2);
            if (sblua_trivial(L, -1, k == SBLUA_FILTER ? SBLUA_TRIVIAL_FIRST : SBLUA_TRIVIAL_TRUE))
                s->trivial_ref[k] = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_settop(L, 1);
        }
    }
    return 0;
}

/* Whether c's script still has, for c's hook, the function that only says
 * yes it had when it loaded (a script may assign another at run time).
 * Nothing here allocates or raises. */
static int sblua_says_yes(sblua_engine *e, const sblua_call *c)
{
    int ref = c->script->trivial_ref[c->kind];
    if (ref == LUA_NOREF || e->name_ref[c->kind] == LUA_NOREF)
        return 0;
    lua_State *L = sblua_vm_state(e->vm);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->script->env_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->name_ref[c->kind]);
    lua_rawget(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 3);
    return same;
}

/* --- running a hook over every script ---------------------------------------------- */

static void sblua_copy_reason(const char *r, char *reason, size_t len)
{
    if (!reason || !len)
        return;
    snprintf(reason, len, "%s", r);
}

SB_PRINTF(3, 4)
static void sblua_log(sblua_engine *e, int level, const char *fmt, ...)
{
    const sblua_env *env = sblua_vm_env(e->vm);
    if (!env->log)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    env->log(env->ud, level, line);
}

/* Run c over every script. filter: c->data starts as the message's data; a
 * script's new data (taken into *out, the one before deleted) is what the
 * next one gets. authenticate: user is written on ALLOW. */
static int sblua_engine_run(sblua_engine *e, sblua_call *c, cJSON **out, char *user, char *reason,
                            size_t len)
{
    int result = SB_HOOK_PASS;
    for (size_t i = 0; i < e->n; i++) {
        char err[1024];
        sblua_call_ctx x = {.e = e, .c = c};
        c->script = &e->scripts[i];
        c->present = 0;
        c->verdict = SB_HOOK_PASS;
        c->reason[0] = '\0';
        c->user_out[0] = '\0';
        c->out = NULL;
        if (sblua_says_yes(e, c)) {
            result = SB_HOOK_ALLOW; /* what calling it would decide, uncalled */
            continue;
        }
        int status = sblua_vm_run(e->vm, sblua_call_body, &x, err, sizeof err);
        sblua_lazy_forget(sblua_vm_state(e->vm));
        if (status != LUA_OK) {
            cJSON_Delete(c->out);
            c->out = NULL;
            int allow = e->on_error == SBLUA_ON_ERROR_ALLOW;
            sblua_log(e, SB_LOG_ERROR, "%s in %s failed, %s (on_error = %s): %s",
                      sblua_hook_names[c->kind], c->script->name, allow ? "allowed" : "denied",
                      allow ? "allow" : "deny", err);
            if (!allow) {
                sblua_copy_reason(SBLUA_ERROR_REASON, reason, len);
                return SB_HOOK_DENY;
            }
            if (c->kind != SBLUA_AUTHENTICATE)
                result = SB_HOOK_ALLOW;
            continue;
        }
        if (!c->present)
            continue;
        if (c->verdict == SB_HOOK_DENY) {
            sblua_copy_reason(c->reason, reason, len);
            return SB_HOOK_DENY;
        }
        result = SB_HOOK_ALLOW;
        if (c->kind == SBLUA_AUTHENTICATE) {
            memcpy(user, c->user_out, sizeof c->user_out);
            return SB_HOOK_ALLOW;
        }
        if (c->kind == SBLUA_FILTER && c->out) {
            cJSON_Delete(*out);
            *out = c->out;
            c->data = c->out;
            c->out = NULL;
        }
    }
    return result;
}

int sblua_engine_on_connect(sblua_engine *e, const sb_http_req *req, char *reason, size_t len)
{
    sblua_call c = {.kind = SBLUA_ON_CONNECT, .req = req};
    return sblua_engine_run(e, &c, NULL, NULL, reason, len);
}

int sblua_engine_authenticate(sblua_engine *e, const char *token, const sb_http_req *req,
                              char user[SB_USER_MAX + 1], char *reason, size_t len)
{
    sblua_call c = {.kind = SBLUA_AUTHENTICATE, .token = token, .req = req};
    return sblua_engine_run(e, &c, NULL, user, reason, len);
}

int sblua_engine_authorize(sblua_engine *e, const char *user, const char *action,
                           const char *target, const cJSON *data, char *reason, size_t len)
{
    sblua_call c = {
        .kind = SBLUA_AUTHORIZE, .user = user, .action = action, .target = target, .data = data};
    return sblua_engine_run(e, &c, NULL, NULL, reason, len);
}

int sblua_engine_filter(sblua_engine *e, const sb_filter_msg *msg, const cJSON *data, cJSON **out,
                        char *reason, size_t len)
{
    sblua_call c = {.kind = SBLUA_FILTER, .msg = msg, .data = data};
    *out = NULL;
    int r = sblua_engine_run(e, &c, out, NULL, reason, len);
    if (r == SB_HOOK_DENY) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return r;
}

/* --- loading --------------------------------------------------------------------- */

sblua_engine *sblua_engine_new(const sblua_engine_cfg *cfg, const sblua_source *srcs, size_t n,
                               char *err, size_t errlen)
{
    sblua_engine *e = calloc(1, sizeof *e);
    if (!e || !(e->scripts = calloc(n ? n : 1, sizeof *e->scripts))) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->on_error = cfg->on_error;
    for (int k = 0; k < SBLUA_KINDS; k++)
        e->name_ref[k] = LUA_NOREF;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SBLUA_KINDS; k++)
            e->scripts[i].trivial_ref[k] = LUA_NOREF;
    e->vm = sblua_vm_new(&cfg->env, &cfg->limits, err, errlen);
    if (!e->vm) {
        free(e->scripts);
        free(e);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char msg[1024];
        e->scripts[i].name = strdup(srcs[i].name);
        e->n = i + 1;
        if (!e->scripts[i].name) {
            snprintf(err, errlen, "out of memory");
            sblua_engine_free(e);
            return NULL;
        }
        int status = sblua_vm_load(e->vm, srcs[i].name, srcs[i].text, srcs[i].len,
                                   &e->scripts[i].env_ref, msg, sizeof msg);
        if (status != LUA_OK) {
            snprintf(err, errlen, "cannot load %s: %s", srcs[i].name, msg);
            sblua_engine_free(e);
            return NULL;
        }
    }
    char msg[256];
    /* Saves calls only: should it fail, every hook function is called. */
    (void)sblua_vm_run(e->vm, sblua_find_trivial, e, msg, sizeof msg);
    return e;
}

void sblua_engine_free(sblua_engine *e)
{
    if (!e)
        return;
    sblua_vm_free(e->vm);
    for (size_t i = 0; i < e->n; i++)
        free(e->scripts[i].name);
    free(e->scripts);
    free(e);
}

sblua_vm *sblua_engine_vm(sblua_engine *e)
{
    return e->vm;
}

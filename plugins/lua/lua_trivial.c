/* Recognising the hook functions that only say yes (see lua_trivial.h).
 *
 * A function is compared with a reference compiled from the source it would
 * have: `return function(p1, ..., pn) return true end` (or `return p1`),
 * placed on the lines the function spans, since a stripped dump still holds
 * the first and last line. Same parameters, no upvalues, same instructions
 * and constants: the same dump. Anything else (a comment inside is fine, a
 * local, a global, a second statement) dumps differently and is called. */
#include "lua_trivial.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define SBLUA_TRIVIAL_MAX_PARAMS 8
#define SBLUA_TRIVIAL_MAX_LINES  1000

typedef struct sblua_dump {
    char *buf;
    size_t len, cap;
    int failed;
} sblua_dump;

static int sblua_dump_write(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    sblua_dump *d = ud;
    if (d->len + sz > d->cap) {
        size_t cap = (d->len + sz) * 2;
        char *b = realloc(d->buf, cap);
        if (!b) {
            d->failed = 1;
            return 1;
        }
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, sz);
    d->len += sz;
    return 0;
}

/* The stripped dump of the function on top (left there). 0 when it failed. */
static int sblua_dump_top(lua_State *L, sblua_dump *d)
{
    return lua_dump(L, sblua_dump_write, d, 1) == 0 && !d->failed;
}

/* Push the reference for a function of nparams spanning lines first..last,
 * or nothing (-> 0) when it does not compile. */
static int sblua_reference(lua_State *L, int nparams, int first, int last, int kind)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i < first; i++)
        luaL_addchar(&b, '\n');
    luaL_addstring(&b, "return function(");
    for (int i = 0; i < nparams; i++) {
        if (i)
            luaL_addchar(&b, ',');
        luaL_addchar(&b, 'p');
        luaL_addchar(&b, (char)('0' + i));
    }
    luaL_addchar(&b, ')');
    for (int i = first; i < last; i++)
        luaL_addchar(&b, '\n');
    luaL_addstring(&b, kind == SBLUA_TRIVIAL_TRUE ? " return true end" : " return p0 end");
    luaL_pushresult(&b);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    int ok = luaL_loadbufferx(L, src, len, "=trivial", "t") == LUA_OK;
    lua_remove(L, -1 - ok); /* the source */
    if (!ok) {
        lua_pop(L, 1); /* the message */
        return 0;
    }
    /* The chunk only returns the function: no instruction of a script runs. */
    lua_call(L, 0, 1);
    return 1;
}

int sblua_trivial(lua_State *L, int idx, int kind)
{
    if (lua_type(L, idx) != LUA_TFUNCTION || lua_iscfunction(L, idx))
        return 0;
    lua_Debug ar;
    lua_pushvalue(L, idx);
    lua_getinfo(L, ">Su", &ar);
    if (ar.nups != 0 || ar.isvararg || ar.nparams > SBLUA_TRIVIAL_MAX_PARAMS ||
        (kind == SBLUA_TRIVIAL_FIRST && ar.nparams != 1) || ar.linedefined < 1 ||
        ar.lastlinedefined < ar.linedefined || ar.lastlinedefined > SBLUA_TRIVIAL_MAX_LINES)
        return 0;
    sblua_dump got = {0}, want = {0};
    int same = 0;
    lua_pushvalue(L, idx);
    if (sblua_dump_top(L, &got) &&
        sblua_reference(L, ar.nparams, ar.linedefined, ar.lastlinedefined, kind)) {
        same = sblua_dump_top(L, &want) && want.len == got.len &&
               memcmp(want.buf, got.buf, got.len) == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    free(got.buf);
    free(want.buf);
    return same;
}

/* JSON <-> Lua conversion (see lua_json.h for the rules).
 *
 * cJSON stores every number as a double, so "integers stay integers" means:
 * a Lua integer becomes a JSON number without a fraction, and a JSON number
 * that is integral and fits in a lua_Integer comes back as a Lua integer.
 * A float with an integral value (2.0) therefore comes back as the integer 2,
 * as PROTOCOL.md section 2 already warns clients ("1.0 may come back as 1").
 * Everything here runs inside a protected call: errors are Lua errors. */
#include "lua_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#define SBLUA_ARRAY_MT "sblua.array"

/* The address of this byte is sb.null. */
static const char sblua_null_tag = 0;

/* One Lua -> JSON conversion: the budget used so far and the path of the
 * value being converted, for error messages. */
typedef struct sblua_conv {
    lua_State *L;
    const sblua_json_opts *opts;
    size_t used;
    char path[192];
    size_t path_len;
} sblua_conv;

void sblua_json_setup(lua_State *L)
{
    if (luaL_newmetatable(L, SBLUA_ARRAY_MT)) {
        lua_pushliteral(L, "array");
        lua_setfield(L, -2, "__json");
    }
    lua_pop(L, 1);
}

void sblua_json_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&sblua_null_tag);
}

void sblua_json_mark_array(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_getmetatable(L, SBLUA_ARRAY_MT);
    lua_setmetatable(L, idx);
}

static int sblua_json_is_marked(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, SBLUA_ARRAY_MT);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

static int sblua_json_max_depth(const sblua_json_opts *o)
{
    return o && o->max_depth > 0 ? o->max_depth : SBLUA_JSON_MAX_DEPTH;
}

/* --- JSON -> Lua ---------------------------------------------------------- */

/* depth counts arrays and objects only, as sblua_json_to and sb.json_decode
 * do: a scalar inside 64 nested arrays is within the limit both ways. */
static void sblua_json_push_at(lua_State *L, const cJSON *j, const sblua_json_opts *o, int depth)
{
    if ((cJSON_IsArray(j) || cJSON_IsObject(j)) && depth > sblua_json_max_depth(o))
        luaL_error(L, "JSON nesting deeper than %d levels", sblua_json_max_depth(o));
    luaL_checkstack(L, 4, "JSON nesting");
    if (cJSON_IsFalse(j) || cJSON_IsTrue(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNull(j)) {
        sblua_json_push_null(L);
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* 2^63 is exact as a double; [-2^63, 2^63) fits a lua_Integer. */
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring ? j->valuestring : "");
    } else if (cJSON_IsArray(j)) {
        int n = cJSON_GetArraySize(j);
        lua_createtable(L, n, 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            sblua_json_push_at(L, c, o, depth + 1);
            lua_rawseti(L, -2, i++);
        }
        sblua_json_mark_array(L, -1);
    } else if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) {
            lua_pushstring(L, c->string ? c->string : "");
            sblua_json_push_at(L, c, o, depth + 1);
            lua_rawset(L, -3);
        }
    } else {
        luaL_error(L, "unsupported JSON value");
    }
}

void sblua_json_fill(lua_State *L, int idx, const cJSON *obj, const sblua_json_opts *opts)
{
    idx = lua_absindex(L, idx);
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        lua_pushstring(L, c->string ? c->string : "");
        sblua_json_push_at(L, c, opts, 2);
        lua_rawset(L, idx);
    }
}

void sblua_json_push_member(lua_State *L, const cJSON *j, const sblua_json_opts *opts)
{
    sblua_json_push_at(L, j, opts, 2);
}

void sblua_json_push(lua_State *L, const cJSON *j, const sblua_json_opts *opts)
{
    if (!j) {
        sblua_json_push_null(L);
        return;
    }
    sblua_json_push_at(L, j, opts, 1);
}

/* --- unchanged? ----------------------------------------------------------- */

/* The entries of the table at idx, counted raw. */
static lua_Integer sblua_json_count(lua_State *L, int idx)
{
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    return n;
}

/* Mirrors sblua_json_push_at: what it would push for j is what sblua_json_to
 * turns back into j. */
static int sblua_json_same_at(lua_State *L, int idx, const cJSON *j, const sblua_json_opts *o,
                              int depth)
{
    int t = lua_type(L, idx);
    if (cJSON_IsFalse(j) || cJSON_IsTrue(j))
        return t == LUA_TBOOLEAN && lua_toboolean(L, idx) == cJSON_IsTrue(j);
    if (cJSON_IsNull(j))
        return t == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == (void *)&sblua_null_tag;
    if (cJSON_IsNumber(j)) {
        if (t != LUA_TNUMBER)
            return 0;
        double d = lua_isinteger(L, idx) ? (double)lua_tointeger(L, idx) : lua_tonumber(L, idx);
        return isfinite(d) && d == j->valuedouble && signbit(d) == signbit(j->valuedouble);
    }
    if (cJSON_IsString(j)) {
        if (t != LUA_TSTRING || !j->valuestring)
            return 0;
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return len == strlen(j->valuestring) && memcmp(s, j->valuestring, len) == 0;
    }
    int array = cJSON_IsArray(j);
    if (t != LUA_TTABLE || (!array && !cJSON_IsObject(j)) || depth > sblua_json_max_depth(o))
        return 0;
    if (array && !sblua_json_is_marked(L, idx))
        return 0;
    if (!array && lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return 0;
    }
    luaL_checkstack(L, 4, "JSON nesting");
    lua_Integer n = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
        n++;
        if (array) {
            lua_rawgeti(L, idx, n);
        } else {
            lua_pushstring(L, c->string ? c->string : "");
            lua_rawget(L, idx);
        }
        int same = sblua_json_same_at(L, lua_gettop(L), c, o, depth + 1);
        lua_pop(L, 1);
        if (!same)
            return 0;
    }
    /* Every member of j was found with its value: no more entries means no others. */
    return sblua_json_count(L, idx) == n;
}

int sblua_json_same_member(lua_State *L, int idx, const cJSON *j, const sblua_json_opts *opts)
{
    return sblua_json_same_at(L, lua_absindex(L, idx), j, opts, 2);
}

int sblua_json_same(lua_State *L, int idx, const cJSON *j, const sblua_json_opts *opts)
{
    if (!j)
        return 0;
    return sblua_json_same_at(L, lua_absindex(L, idx), j, opts, 1);
}

/* --- Lua -> JSON ---------------------------------------------------------- */

static int sblua_conv_error(sblua_conv *c, const char *what)
{
    if (c->path_len)
        return luaL_error(c->L, "cannot convert to JSON: %s at %s", what, c->path);
    return luaL_error(c->L, "cannot convert to JSON: %s", what);
}

static void sblua_conv_charge(sblua_conv *c, size_t n)
{
    size_t max = c->opts && c->opts->max_bytes ? c->opts->max_bytes : SBLUA_JSON_DEFAULT_BYTES;
    c->used += n;
    if (c->used > max) {
        char what[64];
        snprintf(what, sizeof what, "value larger than %zu bytes", max);
        sblua_conv_error(c, what);
    }
}

static void sblua_conv_check_string(sblua_conv *c, const char *s, size_t len)
{
    if (memchr(s, '\0', len))
        sblua_conv_error(c, "string contains a NUL byte");
    if (!c->opts->utf8_valid(s, len))
        sblua_conv_error(c, "string is not valid UTF-8");
    sblua_conv_charge(c, len + 2);
}

/* Append ".key" or "[i]" to the error path; returns the length to restore. */
static size_t sblua_conv_path_push(sblua_conv *c, const char *key, lua_Integer index)
{
    size_t old = c->path_len;
    size_t room = sizeof c->path - old;
    int n;
    if (key)
        n = snprintf(c->path + old, room, old ? ".%s" : "%s", key);
    else
        n = snprintf(c->path + old, room, "[%lld]", (long long)index);
    if (n > 0)
        c->path_len = (size_t)n >= room ? sizeof c->path - 1 : old + (size_t)n;
    return old;
}

static void sblua_conv_path_pop(sblua_conv *c, size_t old)
{
    c->path_len = old;
    c->path[old] = '\0';
}

/* Attach node to parent (array when key is NULL) or store it in *slot. */
static void sblua_conv_attach(sblua_conv *c, cJSON *parent, const char *key, cJSON *node,
                              cJSON **slot)
{
    if (!node)
        luaL_error(c->L, "not enough memory");
    if (!parent) {
        *slot = node;
        return;
    }
    int ok = key ? cJSON_AddItemToObject(parent, key, node) : cJSON_AddItemToArray(parent, node);
    if (!ok) {
        cJSON_Delete(node);
        luaL_error(c->L, "not enough memory");
    }
}

enum { SBLUA_KIND_OBJECT, SBLUA_KIND_ARRAY };

/* Decide whether the table at idx is an array (*n elements) or an object. */
static int sblua_conv_kind(sblua_conv *c, int idx, lua_Integer *n)
{
    lua_State *L = c->L;
    int marked = sblua_json_is_marked(L, idx);
    lua_Integer count = 0, max = 0;
    int strings = 0, ints = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            strings = 1;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            lua_Integer k = lua_tointeger(L, -1);
            ints = 1;
            if (k > max)
                max = k;
        } else {
            lua_pop(L, 1);
            sblua_conv_error(c, "table key is neither a string nor a positive integer");
        }
        count++;
    }
    if (marked) {
        if (strings)
            sblua_conv_error(c, "array (sb.array) has a string key");
        *n = max;
        return SBLUA_KIND_ARRAY;
    }
    if (strings && ints)
        sblua_conv_error(c, "table mixes string and integer keys");
    if (ints) {
        if (max != count)
            sblua_conv_error(c, "sparse array (mark it with sb.array to fill holes with null)");
        *n = max;
        return SBLUA_KIND_ARRAY;
    }
    *n = 0;
    return SBLUA_KIND_OBJECT;
}

static void sblua_conv_value(sblua_conv *c, int idx, int depth, cJSON *parent, const char *key,
                             cJSON **slot);

static void sblua_conv_table(sblua_conv *c, int idx, int depth, cJSON *parent, const char *key,
                             cJSON **slot)
{
    lua_State *L = c->L;
    if (depth > sblua_json_max_depth(c->opts)) {
        char what[64];
        snprintf(what, sizeof what, "nesting deeper than %d levels", sblua_json_max_depth(c->opts));
        sblua_conv_error(c, what);
    }
    luaL_checkstack(L, 6, "JSON nesting");
    if (c->opts->settle)
        c->opts->settle(L, idx);
    lua_Integer n;
    int kind = sblua_conv_kind(c, idx, &n);
    sblua_conv_charge(c, 8);
    if (kind == SBLUA_KIND_ARRAY) {
        cJSON *arr = cJSON_CreateArray();
        sblua_conv_attach(c, parent, key, arr, slot);
        for (lua_Integer i = 1; i <= n; i++) {
            size_t old = sblua_conv_path_push(c, NULL, i);
            lua_rawgeti(L, idx, i);
            sblua_conv_value(c, lua_gettop(L), depth + 1, arr, NULL, slot);
            lua_pop(L, 1);
            sblua_conv_path_pop(c, old);
        }
        return;
    }
    cJSON *obj = cJSON_CreateObject();
    sblua_conv_attach(c, parent, key, obj, slot);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen); /* a string: checked by kind */
        size_t old = sblua_conv_path_push(c, k, 0);
        sblua_conv_check_string(c, k, klen);
        sblua_conv_value(c, lua_gettop(L), depth + 1, obj, k, slot);
        lua_pop(L, 1);
        sblua_conv_path_pop(c, old);
    }
}

static void sblua_conv_value(sblua_conv *c, int idx, int depth, cJSON *parent, const char *key,
                             cJSON **slot)
{
    lua_State *L = c->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        sblua_conv_charge(c, 8);
        sblua_conv_attach(c, parent, key, cJSON_CreateNull(), slot);
        return;
    case LUA_TBOOLEAN:
        sblua_conv_charge(c, 8);
        sblua_conv_attach(c, parent, key, cJSON_CreateBool(lua_toboolean(L, idx)), slot);
        return;
    case LUA_TNUMBER:
        sblua_conv_charge(c, 8);
        if (lua_isinteger(L, idx)) {
            double d = (double)lua_tointeger(L, idx);
            sblua_conv_attach(c, parent, key, cJSON_CreateNumber(d), slot);
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d))
                sblua_conv_error(c, "number is NaN or infinite");
            sblua_conv_attach(c, parent, key, cJSON_CreateNumber(d), slot);
        }
        return;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        sblua_conv_check_string(c, s, len);
        sblua_conv_attach(c, parent, key, cJSON_CreateString(s), slot);
        return;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == (void *)&sblua_null_tag) {
            sblua_conv_charge(c, 8);
            sblua_conv_attach(c, parent, key, cJSON_CreateNull(), slot);
            return;
        }
        break;
    case LUA_TTABLE:
        sblua_conv_table(c, idx, depth, parent, key, slot);
        return;
    default:
        break;
    }
    char what[64];
    snprintf(what, sizeof what, "a %s value", luaL_typename(L, idx));
    sblua_conv_error(c, what);
}

void sblua_json_to(lua_State *L, int idx, const sblua_json_opts *opts, cJSON **slot)
{
    sblua_conv c = {.L = L, .opts = opts};
    c.path[0] = '\0';
    sblua_conv_value(&c, lua_absindex(L, idx), 1, NULL, NULL, slot);
}

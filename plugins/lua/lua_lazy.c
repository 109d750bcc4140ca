/* Lazy payload tables (see lua_lazy.h).
 *
 * The pending members live on the C side, in a small list held by the state
 * (a userdata in the registry) and keyed by the table's address: a hook call
 * has at most two lazy tables (msg, or authorize's data), and the list is
 * emptied when the call ends, so an address cannot outlive its table.
 *
 * A lazy table that no script touched is used again by the next call of its
 * kind, which saves building one per message: the function it went to could
 * not keep it, so nobody can tell, and untouched it holds only the members
 * the engine sets raw again (a script may have changed those, not added any:
 * adding one is a touch). */
#include "lua_lazy.h"

#include <string.h>

#include <lauxlib.h>

#define SBLUA_LAZY_SLOTS 4

/* The addresses of these bytes are the registry keys of the list and the metatable. */
static const char sblua_lazy_list_key = 0;
static const char sblua_lazy_mt_key = 0;
/* ... and of the table each kind of payload used last (SBLUA_LAZY_KINDS). */
static const char sblua_lazy_last_key[SBLUA_LAZY_KINDS];

/* What one lazy table still lacks. */
typedef struct sblua_lazy_entry {
    const void *table;    /* the lazy table; NULL: a free slot */
    const cJSON *members; /* its members are this object's, or NULL */
    const char *key[2];   /* and key[i] = the Lua value of value[i] (NULL: {}) */
    const cJSON *value[2];
    int nkeys;
} sblua_lazy_entry;

typedef struct sblua_lazy_list {
    const sblua_json_opts *opts;
    sblua_lazy_entry e[SBLUA_LAZY_SLOTS];
} sblua_lazy_list;

static sblua_lazy_list *sblua_lazy_list_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_list_key);
    sblua_lazy_list *l = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return l;
}

static int sblua_lazy_is(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_mt_key);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

static void sblua_lazy_fill(lua_State *L, int idx, const sblua_lazy_entry *e,
                            const sblua_json_opts *o)
{
    if (e->members)
        sblua_json_fill(L, idx, e->members, o);
    for (int i = 0; i < e->nkeys; i++) {
        lua_pushstring(L, e->key[i]);
        if (e->value[i])
            sblua_json_push(L, e->value[i], o);
        else
            lua_newtable(L);
        lua_rawset(L, idx);
    }
}

void sblua_lazy_settle(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!sblua_lazy_is(L, idx))
        return;
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++) {
        if (l->e[i].table != t)
            continue;
        /* Out of the list and plain again before converting: nothing can
         * come back here for it, whatever the conversion raises. */
        sblua_lazy_entry e = l->e[i];
        memset(&l->e[i], 0, sizeof l->e[i]);
        lua_pushnil(L);
        lua_setmetatable(L, idx);
        sblua_lazy_fill(L, idx, &e, l->opts);
        return;
    }
    luaL_error(L, "a message table was used after its hook call returned");
}

int sblua_lazy_pending(lua_State *L, int idx)
{
    return sblua_lazy_is(L, idx);
}

void sblua_lazy_forget(lua_State *L)
{
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    if (l)
        memset(l->e, 0, sizeof l->e);
}

/* __index(t, k): t gets its members, then the plain lookup. */
static int sblua_lazy_index(lua_State *L)
{
    sblua_lazy_settle(L, 1);
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/* __newindex(t, k, v): t gets its members, then the plain assignment. */
static int sblua_lazy_newindex(lua_State *L)
{
    sblua_lazy_settle(L, 1);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

void sblua_lazy_setup(lua_State *L, const sblua_json_opts *opts)
{
    sblua_lazy_list *l = lua_newuserdatauv(L, sizeof *l, 0);
    memset(l, 0, sizeof *l);
    l->opts = opts;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sblua_lazy_list_key);
    /* No __name: error messages and tostring must call it a table, as before. */
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, sblua_lazy_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, sblua_lazy_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sblua_lazy_mt_key);
}

int sblua_lazy_fits(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TFUNCTION || lua_iscfunction(L, idx))
        return 0;
    if (lua_getupvalue(L, idx, 1)) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Make the table at idx lazy with e; when the list is full, fill it now. */
static void sblua_lazy_add(lua_State *L, int idx, const sblua_lazy_entry *e)
{
    idx = lua_absindex(L, idx);
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++) {
        if (l->e[i].table)
            continue;
        l->e[i] = *e;
        l->e[i].table = lua_topointer(L, idx);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_mt_key);
        lua_setmetatable(L, idx);
        return;
    }
    sblua_lazy_fill(L, idx, e, l->opts);
}

void sblua_lazy_push_table(lua_State *L, int kind, int nrec)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_last_key[kind]);
    if (sblua_lazy_is(L, -1))
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, nrec);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sblua_lazy_last_key[kind]);
}

void sblua_lazy_push_object(lua_State *L, const cJSON *obj)
{
    sblua_lazy_push_table(L, SBLUA_LAZY_OBJECT, 0);
    sblua_lazy_entry e = {.members = obj};
    sblua_lazy_add(L, -1, &e);
}

void sblua_lazy_defer(lua_State *L, int idx, const char *key1, const cJSON *value1,
                      const char *key2, const cJSON *value2)
{
    sblua_lazy_entry e = {.key = {key1, key2}, .value = {value1, value2}, .nkeys = key2 ? 2 : 1};
    sblua_lazy_add(L, idx, &e);
}

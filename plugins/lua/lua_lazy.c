/* Lazy payload tables (see lua_lazy.h).
 *
 * The pending members live on the C side, in a small list held by the state
 * (a userdata in the registry) and keyed by the table's address: a hook call
 * has at most three lazy tables (msg and its data, or authorize's data), and
 * the list is emptied when the call ends, so an address cannot outlive its
 * table.
 *
 * Two ways to be lazy:
 *  - whole: the table lacks a few keys (msg.to, msg.data); touching any
 *    member it lacks converts them all and the table turns plain;
 *  - member by member: the table stands for a JSON object of at most 64
 *    members (msg.data, authorize's data); reading or assigning one converts
 *    (or claims) that member alone, and a bit remembers it, so a member the
 *    script removed stays removed. The table stays lazy until the converter
 *    to JSON needs it whole.
 * A function without upvalues reaches a table only through __index and
 * __newindex, so either way it sees what a converted table would show.
 *
 * A lazy table that no script touched is used again by the next call of its
 * kind, which saves building one per message: the function it went to could
 * not keep it, so nobody can tell, and untouched it holds only the members
 * the engine sets raw again (a script may have changed those, not added any:
 * adding one is a touch). A touched table gets the second metatable, so the
 * next call builds a new one. */
#include "lua_lazy.h"

#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#define SBLUA_LAZY_SLOTS       4
#define SBLUA_LAZY_MAX_MEMBERS 64 /* bits of sblua_lazy_entry.done */

/* The addresses of these bytes are registry keys: the list, the metatables of
 * untouched and touched lazy tables, the table each kind used last. */
static const char sblua_lazy_list_key = 0;
static const char sblua_lazy_mt_key = 0;
static const char sblua_lazy_touched_key = 0;
static const char sblua_lazy_last_key[SBLUA_LAZY_KINDS];

/* What one lazy table still lacks. */
typedef struct sblua_lazy_entry {
    const void *table; /* the lazy table; NULL: a free slot */
    /* Member by member: the table's members are this object's (NULL: whole). */
    const cJSON *members;
    int all;       /* too many members for done: all of them on first touch */
    uint64_t done; /* bit i: member i was converted or assigned */
    /* Whole: key[i] = the Lua value of value[i] (NULL: an empty table). */
    const char *key[2];
    const cJSON *value[2];
    int nkeys;
} sblua_lazy_entry;

typedef struct sblua_lazy_list {
    const sblua_json_opts *opts;
    const void *mt, *touched_mt; /* the metatables, to recognise them by address */
    sblua_lazy_entry e[SBLUA_LAZY_SLOTS];
} sblua_lazy_list;

/* The list is found through the state's extra space, not the registry: it
 * is asked for several times per hook call. */
static sblua_lazy_list *sblua_lazy_list_of(lua_State *L)
{
    return *(sblua_lazy_list **)lua_getextraspace(L);
}

/* Whether the value at idx is a lazy table: 1 untouched, 2 touched, 0 no. */
static int sblua_lazy_state(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    return mt == l->mt ? 1 : mt == l->touched_mt ? 2 : 0;
}

/* The entry of the lazy table at idx. [may raise: a table past its call] */
static sblua_lazy_entry *sblua_lazy_find(lua_State *L, sblua_lazy_list *l, int idx)
{
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++)
        if (l->e[i].table == t)
            return &l->e[i];
    luaL_error(L, "a message table was used after its hook call returned");
    return NULL;
}

/* The index of obj's member named by the string at idx, or -1. */
static int sblua_lazy_member(lua_State *L, int idx, const cJSON *obj, const cJSON **member)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return -1;
    size_t len;
    const char *k = lua_tolstring(L, idx, &len);
    if (memchr(k, '\0', len))
        return -1; /* no JSON key holds a NUL */
    int i = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        if (c->string && strncmp(c->string, k, len) == 0 && c->string[len] == '\0') {
            *member = c;
            return i;
        }
    }
    return -1;
}

static void sblua_lazy_add(lua_State *L, int idx, const sblua_lazy_entry *e);

/* Push a table standing for obj (an object), member by member when it has
 * few enough members and a slot is free, else converted. */
static void sblua_lazy_push_members(lua_State *L, const cJSON *obj, const sblua_json_opts *o)
{
    int n = cJSON_GetArraySize(obj);
    if (n > SBLUA_LAZY_MAX_MEMBERS) {
        sblua_json_push(L, obj, o);
        return;
    }
    lua_createtable(L, 0, n);
    sblua_lazy_entry e = {.members = obj};
    sblua_lazy_add(L, -1, &e);
}

/* Give the table at idx what entry e (already out of the list) still lacks. */
static void sblua_lazy_fill(lua_State *L, int idx, const sblua_lazy_entry *e,
                            const sblua_json_opts *o)
{
    if (e->members) {
        int i = 0;
        for (const cJSON *c = e->members->child; c; c = c->next, i++) {
            if (!e->all && (e->done >> i & 1))
                continue;
            lua_pushstring(L, c->string ? c->string : "");
            sblua_json_push_member(L, c, o);
            lua_rawset(L, idx);
        }
    }
    for (int i = 0; i < e->nkeys; i++) {
        lua_pushstring(L, e->key[i]);
        if (cJSON_IsObject(e->value[i]))
            sblua_lazy_push_members(L, e->value[i], o);
        else if (e->value[i])
            sblua_json_push(L, e->value[i], o);
        else
            lua_newtable(L);
        lua_rawset(L, idx);
    }
}

/* Turn the lazy table at idx plain, with everything it lacks. */
static void sblua_lazy_settle_entry(lua_State *L, sblua_lazy_list *l, int idx)
{
    sblua_lazy_entry *slot = sblua_lazy_find(L, l, idx);
    /* Out of the list and plain before converting: nothing can come back
     * here for it, whatever the conversion raises. */
    sblua_lazy_entry e = *slot;
    memset(slot, 0, sizeof *slot);
    lua_pushnil(L);
    lua_setmetatable(L, idx);
    sblua_lazy_fill(L, idx, &e, l->opts);
}

void sblua_lazy_settle(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (sblua_lazy_state(L, idx))
        sblua_lazy_settle_entry(L, sblua_lazy_list_of(L), idx);
}

int sblua_lazy_pending(lua_State *L, int idx)
{
    if (sblua_lazy_state(L, idx) != 1)
        return 0;
    idx = lua_absindex(L, idx);
    return !sblua_lazy_find(L, sblua_lazy_list_of(L), idx)->members;
}

void sblua_lazy_forget(lua_State *L)
{
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++)
        l->e[i].table = NULL;
}

/* A member-by-member table at idx was touched: not to be used again. */
static void sblua_lazy_touch(lua_State *L, int idx)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_touched_key);
    lua_setmetatable(L, idx);
}

/* What a metamethod does before the plain lookup or assignment of key 2 in
 * the lazy table 1 (top: top of the stack it keeps): a whole table gets
 * everything it lacks; a member-by-member one gets member k converted
 * (convert) or claimed, once. */
static void sblua_lazy_reach(lua_State *L, int top, int convert)
{
    sblua_lazy_list *l = lua_touserdata(L, lua_upvalueindex(1));
    sblua_lazy_entry *e = sblua_lazy_find(L, l, 1);
    lua_settop(L, top);
    if (!e->members || e->all) {
        sblua_lazy_settle_entry(L, l, 1);
        return;
    }
    const cJSON *m = NULL;
    int i = sblua_lazy_member(L, 2, e->members, &m);
    sblua_lazy_touch(L, 1);
    if (i < 0 || (e->done >> i & 1))
        return;
    e->done |= (uint64_t)1 << i;
    if (!convert)
        return;
    lua_pushvalue(L, 2);
    sblua_json_push_member(L, m, l->opts);
    lua_rawset(L, 1);
}

/* __index(t, k) */
static int sblua_lazy_index(lua_State *L)
{
    sblua_lazy_reach(L, 2, 1);
    lua_rawget(L, 1);
    return 1;
}

/* __newindex(t, k, v): an assigned member is the script's from now on. */
static int sblua_lazy_newindex(lua_State *L)
{
    sblua_lazy_reach(L, 3, 0);
    lua_rawset(L, 1);
    return 0;
}

int sblua_lazy_same(lua_State *L, int idx, const cJSON *j)
{
    idx = lua_absindex(L, idx);
    if (!sblua_lazy_state(L, idx))
        return -1;
    sblua_lazy_list *l = sblua_lazy_list_of(L);
    const sblua_lazy_entry *e = sblua_lazy_find(L, l, idx);
    if (!e->members || e->all || e->members != j)
        return 0;
    lua_Integer done = 0;
    int i = 0;
    for (const cJSON *c = j->child; c; c = c->next, i++) {
        if (!(e->done >> i & 1))
            continue; /* never converted: still what came */
        done++;
        lua_pushstring(L, c->string ? c->string : "");
        lua_rawget(L, idx);
        int same = sblua_json_same_member(L, -1, c, l->opts);
        lua_pop(L, 1);
        if (!same)
            return 0;
    }
    /* Every claimed member is there unchanged: no more entries means no others. */
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    return n == done;
}

static const void *sblua_lazy_new_mt(lua_State *L, sblua_lazy_list *l, const void *key)
{
    /* No __name: error messages and tostring must call it a table, as before. */
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, l);
    lua_pushcclosure(L, sblua_lazy_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, l);
    lua_pushcclosure(L, sblua_lazy_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    const void *mt = lua_topointer(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key); /* the registry keeps it alive */
    return mt;
}

void sblua_lazy_setup(lua_State *L, const sblua_json_opts *opts)
{
    sblua_lazy_list *l = lua_newuserdatauv(L, sizeof *l, 0);
    memset(l, 0, sizeof *l);
    l->opts = opts;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sblua_lazy_list_key); /* the registry keeps it alive */
    *(sblua_lazy_list **)lua_getextraspace(L) = l;
    l->mt = sblua_lazy_new_mt(L, l, &sblua_lazy_mt_key);
    l->touched_mt = sblua_lazy_new_mt(L, l, &sblua_lazy_touched_key);
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
    const void *t = lua_topointer(L, idx);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++)
        if (l->e[i].table == t) /* a collected table's address, used again */
            memset(&l->e[i], 0, sizeof l->e[i]);
    for (int i = 0; i < SBLUA_LAZY_SLOTS; i++) {
        if (l->e[i].table)
            continue;
        l->e[i] = *e;
        l->e[i].table = t;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_mt_key);
        lua_setmetatable(L, idx);
        return;
    }
    sblua_lazy_fill(L, idx, e, l->opts);
}

void sblua_lazy_push_table(lua_State *L, int kind, int nrec)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &sblua_lazy_last_key[kind]);
    if (sblua_lazy_state(L, -1) == 1)
        return;
    lua_pop(L, 1);
    lua_createtable(L, 0, nrec);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sblua_lazy_last_key[kind]);
}

void sblua_lazy_push_object(lua_State *L, const cJSON *obj)
{
    sblua_lazy_push_table(L, SBLUA_LAZY_OBJECT, 0);
    sblua_lazy_entry e = {.members = obj, .all = cJSON_GetArraySize(obj) > SBLUA_LAZY_MAX_MEMBERS};
    sblua_lazy_add(L, -1, &e);
}

void sblua_lazy_defer(lua_State *L, int idx, const char *key1, const cJSON *value1,
                      const char *key2, const cJSON *value2)
{
    sblua_lazy_entry e = {.key = {key1, key2}, .value = {value1, value2}, .nkeys = key2 ? 2 : 1};
    sblua_lazy_add(L, idx, &e);
}

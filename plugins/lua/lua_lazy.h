/* Tables whose JSON members become Lua values only when a script touches
 * them: the payloads handed to a hook function that cannot keep them.
 *
 * A lazy table holds its cheap members (msg.type, msg.id, ...) from the start
 * and lacks the converted ones (msg.data, msg.to, or every member of
 * authorize's data); a shared metatable with __index and __newindex converts
 * them all on the first read or write of a member the table lacks, then
 * removes itself, so from then on the table is the one a script has always
 * seen. A script that never touches them costs no conversion.
 *
 * That is exact only for a Lua function without upvalues: it reaches no
 * global (no rawget, next, getmetatable, setmetatable, sb), so it sees the
 * table through the metamethods only, and it cannot keep the table past the
 * call, when the cJSON it converts from is gone. sblua_lazy_fits says whether
 * a function is one; the engine hands every other one converted tables.
 * The members are borrowed: they must outlive the call, and sblua_lazy_forget
 * must run when it ends. */
#ifndef SBLUA_LAZY_H
#define SBLUA_LAZY_H

#include <cjson/cJSON.h>
#include <lua.h>

#include "lua_json.h"

/* Register the metatable and the pending list in L's registry; opts (which
 * must outlive L) are the conversion's limits. Once per state. [may raise: memory] */
void sblua_lazy_setup(lua_State *L, const sblua_json_opts *opts);

/* Whether the value at idx is a Lua function without upvalues. [may raise: none] */
int sblua_lazy_fits(lua_State *L, int idx);

/* The kinds of lazy table, each with its own table to reuse. */
enum sblua_lazy_kind { SBLUA_LAZY_MSG, SBLUA_LAZY_OBJECT, SBLUA_LAZY_KINDS };

/* Push the table the last call of this kind used if no script touched it,
 * else a new one with room for nrec members (and remember it). The caller
 * sets its own members with lua_rawset (a lazy table converts on a plain
 * assignment), every one it may have set before (nil when absent), then makes
 * it lazy with sblua_lazy_defer. [may raise: memory] */
void sblua_lazy_push_table(lua_State *L, int kind, int nrec);

/* Push an empty table (maybe the last one, see above) that gets obj's
 * members (obj: an object) on first touch. [may raise: memory] */
void sblua_lazy_push_object(lua_State *L, const cJSON *obj);

/* Let the table at idx get key = the Lua value of value (NULL: an empty
 * table) on first touch, for up to two keys (key2 may be NULL). [may raise: memory] */
void sblua_lazy_defer(lua_State *L, int idx, const char *key1, const cJSON *value1,
                      const char *key2, const cJSON *value2);

/* Whether the value at idx is a table made lazy by sblua_lazy_defer that no
 * script touched. [may raise: none] */
int sblua_lazy_pending(lua_State *L, int idx);

/* Convert what the table at idx lacks (nothing when it is not lazy). The
 * converter to JSON calls it on every table it meets.
 * [may raise: memory, depth limit] */
void sblua_lazy_settle(lua_State *L, int idx);

/* Whether the value at idx, a lazy table, still converts to j: 1 yes, 0
 * no, -1 it is not a lazy table (ask sblua_json_same). Members never
 * converted count as unchanged. [may raise: memory] */
int sblua_lazy_same(lua_State *L, int idx, const cJSON *j);

/* The call is over: forget every pending member. [may raise: none] */
void sblua_lazy_forget(lua_State *L);

#endif

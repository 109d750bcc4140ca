/* JSON <-> Lua conversion for the lua plugin: cJSON trees to Lua values and
 * back, with a depth limit, a size budget, UTF-8 checks, integer/float
 * preservation and the array marker that keeps `[]` apart from `{}`.
 * Owns no state; every function that can raise a Lua error says so.
 * Names carry `sblua_` rather than `lua_`, which belongs to the Lua API. */
#ifndef SBLUA_JSON_H
#define SBLUA_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <lua.h>

#define SBLUA_JSON_MAX_DEPTH     64
#define SBLUA_JSON_DEFAULT_BYTES (16u << 20) /* when opts->max_bytes is 0 */

/* Limits of one conversion. */
typedef struct sblua_json_opts {
    int max_depth;    /* nesting levels allowed; SBLUA_JSON_MAX_DEPTH by default */
    size_t max_bytes; /* size budget of a Lua -> JSON result (strings + 8 per node); 0: 16 MiB */
    /* Whether s[0..len) is valid UTF-8: host->utf8_valid (required). */
    int (*utf8_valid)(const char *s, size_t len);
    /* Called on every table before it is converted to JSON, so that a lazy
     * one (lua_lazy.h) gets its members first; NULL: none. [may raise] */
    void (*settle)(lua_State *L, int idx);
} sblua_json_opts;

/* Register the array marker metatable and the null sentinel in L's registry.
 * Call once per state, before any conversion. [may raise: memory] */
void sblua_json_setup(lua_State *L);

/* Push sb.null (a light userdata that encodes as JSON null). [may raise: none] */
void sblua_json_push_null(lua_State *L);

/* Mark the table at idx as a JSON array (sb.array). [may raise: memory] */
void sblua_json_mark_array(lua_State *L, int idx);

/* Push the Lua value of j: objects -> tables, arrays -> tables marked as arrays,
 * integral numbers that fit -> integers, others -> floats, null -> sb.null.
 * [may raise: memory, depth limit] */
void sblua_json_push(lua_State *L, const cJSON *j, const sblua_json_opts *opts);

/* Set obj's members (obj: an object) in the table at idx, converted as
 * sblua_json_push converts them in a table of its own.
 * [may raise: memory, depth limit] */
void sblua_json_fill(lua_State *L, int idx, const cJSON *obj, const sblua_json_opts *opts);

/* Push the Lua value of j, a member of a top-level object: what
 * sblua_json_fill sets for it. [may raise: memory, depth limit] */
void sblua_json_push_member(lua_State *L, const cJSON *j, const sblua_json_opts *opts);

/* Whether converting the value at idx to JSON would succeed and give j again
 * (members in any order): the test that lets an unchanged payload go back as
 * it came instead of being converted. Reads the tables raw; a table with a
 * metatable other than the array marker, a float that would print
 * differently (-0.0) or a nesting past the limit answers no, and the caller
 * converts. [may raise: memory] */
int sblua_json_same(lua_State *L, int idx, const cJSON *j, const sblua_json_opts *opts);

/* sblua_json_same for a member of a top-level object (one level deeper). [may raise: memory] */
int sblua_json_same_member(lua_State *L, int idx, const cJSON *j, const sblua_json_opts *opts);

/* Convert the Lua value at idx into a new cJSON stored in *slot (which must be
 * NULL on entry). Nodes are attached to *slot as they are built, so after an
 * error the caller frees whatever *slot holds with cJSON_Delete.
 * Rules: a table marked as array (or whose keys are exactly 1..n, n > 0) is an
 * array; any other table with string keys only (or none) is an object;
 * nil and sb.null are null; integers and finite floats are numbers; strings
 * must be valid UTF-8 without NUL. Anything else raises a Lua error naming the
 * path of the bad value (e.g. `data.items[3]`).
 * [may raise: memory, depth, size, type, UTF-8] */
void sblua_json_to(lua_State *L, int idx, const sblua_json_opts *opts, cJSON **slot);

#endif

/* Hook functions that only say yes: `return true` whatever their parameters,
 * or a filter's `return msg` (its one parameter). The engine recognises them
 * when a script loads and does not call them (the default policy is made of
 * them): such a call can do nothing a caller could see, and making it costs
 * more than the rest of the hook. */
#ifndef SBLUA_TRIVIAL_H
#define SBLUA_TRIVIAL_H

#include <lua.h>

enum sblua_trivial_kind { SBLUA_TRIVIAL_TRUE, SBLUA_TRIVIAL_FIRST };

/* Whether the value at idx is a Lua function whose whole body is `return
 * true` (kind TRUE, any number of named parameters) or returns its one
 * parameter (kind FIRST): its stripped bytecode is that of the same source
 * compiled at the same lines. [may raise: memory] */
int sblua_trivial(lua_State *L, int idx, int kind);

#endif

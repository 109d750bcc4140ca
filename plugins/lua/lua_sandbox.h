/* The sandboxed Lua state of the lua plugin: a state whose allocator enforces
 * memory_limit_mb, whose calls run under an instruction budget, whose scripts
 * each get their own globals table holding only the safe libraries plus `sb`.
 * Knows nothing of hooks or of the host: what scripts reach outside the state
 * comes through an sblua_env, which unit tests fake. */
#ifndef SBLUA_SANDBOX_H
#define SBLUA_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "switchboard/plugin.h"
#include "lua_json.h"

/* What scripts reach outside the state. Any member but log may be NULL. */
typedef struct sblua_env {
    void *ud;
    /* One log line (level: SB_LOG_*), already prefixed with the script. */
    void (*log)(void *ud, int level, const char *msg);
    /* Epoch milliseconds (host->now_ms); NULL: the system clock. */
    int64_t (*now_ms)(void);
    /* The [lua] section's value of key, or NULL (host->cfg_string). */
    const char *(*config)(void *ud, const char *key);
    /* Whether s[0..len) is valid UTF-8: host->utf8_valid (required). */
    int (*utf8_valid)(const char *s, size_t len);
    /* Whether s is a valid user name: host->user_valid (required by the engine). */
    int (*user_valid)(const char *s);
} sblua_env;

typedef struct sblua_limits {
    long instructions; /* VM instructions per call; 0: unlimited */
    size_t memory;     /* bytes the state may hold; 0: unlimited */
    size_t json_bytes; /* budget of one Lua -> JSON conversion; 0: 16 MiB */
} sblua_limits;

typedef struct sblua_vm sblua_vm;

/* A new state with the safe libraries loaded and no script yet. env and lim
 * are copied. NULL with err written when the state cannot be built (e.g. the
 * memory limit is too small for the libraries). */
sblua_vm *sblua_vm_new(const sblua_env *env, const sblua_limits *lim, char *err, size_t errlen);
/* Close the state (finalizers run under the instruction budget). NULL is ignored. */
void sblua_vm_free(sblua_vm *vm);

lua_State *sblua_vm_state(sblua_vm *vm);
const sblua_env *sblua_vm_env(sblua_vm *vm);
const sblua_json_opts *sblua_vm_json(sblua_vm *vm);
/* Bytes currently held by the state. */
size_t sblua_vm_memory(const sblua_vm *vm);

/* Compile src (text only, never bytecode) as the script `name`, give it a
 * fresh sandboxed globals table and run its top level under the limits.
 * *env_ref: a registry reference to its globals table (lua_rawgeti with
 * LUA_REGISTRYINDEX). -> LUA_OK, or a Lua status with err written */
int sblua_vm_load(sblua_vm *vm, const char *name, const char *src, size_t len, int *env_ref,
                  char *err, size_t errlen);

/* Run fn in protected mode with arg as a light userdata at index 1, under a
 * fresh instruction budget; the stack is restored afterwards. On failure err
 * holds the message with file and line and a one-line traceback.
 * -> LUA_OK | LUA_ERRRUN | LUA_ERRMEM | LUA_ERRERR */
int sblua_vm_run(sblua_vm *vm, lua_CFunction fn, void *arg, char *err, size_t errlen);

#endif

/* One load of the policy: a sandboxed state holding every configured script
 * in order, and the four hook calls (on_connect, authenticate, authorize,
 * filter) that run the scripts' functions, validate what they return and turn
 * script failures into the on_error decision. Knows nothing of files or of
 * the host table; lua.c reads the files and owns reloading. */
#ifndef SBLUA_ENGINE_H
#define SBLUA_ENGINE_H

#include <stddef.h>

#include "switchboard/plugin.h"
#include "lua_sandbox.h"

enum sblua_on_error { SBLUA_ON_ERROR_DENY = 0, SBLUA_ON_ERROR_ALLOW = 1 };

/* One script's source; name is how logs and tracebacks call it. */
typedef struct sblua_source {
    const char *name;
    const char *text;
    size_t len;
} sblua_source;

typedef struct sblua_engine_cfg {
    sblua_env env;
    sblua_limits limits;
    int on_error; /* enum sblua_on_error */
} sblua_engine_cfg;

typedef struct sblua_engine sblua_engine;

/* A new state with srcs[0..n) compiled and their top levels run, in order.
 * NULL with err written (naming the script, file and line) when any fails. */
sblua_engine *sblua_engine_new(const sblua_engine_cfg *cfg, const sblua_source *srcs, size_t n,
                               char *err, size_t errlen);
void sblua_engine_free(sblua_engine *e);
sblua_vm *sblua_engine_vm(sblua_engine *e);

/* The hooks. Each runs the scripts that define the function, in order; the
 * first DENY ends the run with its reason copied to reason[0..len). A script
 * failure is logged once and decided by on_error. -> SB_HOOK_* */
int sblua_engine_on_connect(sblua_engine *e, const sb_http_req *req, char *reason, size_t len);
/* ALLOW writes user; PASS when no script defines authenticate. */
int sblua_engine_authenticate(sblua_engine *e, const char *token, const sb_http_req *req,
                              char user[SB_USER_MAX + 1], char *reason, size_t len);
int sblua_engine_authorize(sblua_engine *e, const char *user, const char *action,
                           const char *target, const cJSON *data, char *reason, size_t len);
/* data (borrowed) is only read. *out: NULL when every script passed the
 * data on unchanged, else the new data (caller: cJSON_Delete); only msg.data
 * of a script's result is taken back. NULL on DENY. */
int sblua_engine_filter(sblua_engine *e, const sb_filter_msg *msg, const cJSON *data, cJSON **out,
                        char *reason, size_t len);

#endif

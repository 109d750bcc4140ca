/* The auth plugin's shared state, between auth.c (descriptor, config, reload)
 * and auth_check.c (the handshake identifier and the `auth` command).
 */
#ifndef SB_AUTH_H
#define SB_AUTH_H

#include <switchboard/plugin.h>

#include "auth_jwt.h"
#include "auth_tokens.h"

enum auth_mode { AUTH_MODE_NONE = 0, AUTH_MODE_STATIC, AUTH_MODE_JWT, AUTH_MODE_LUA };

/* Longest query parameter name for the token. */
#define AUTH_PARAM_MAX 64

/* What [auth] says; rebuilt whole on reload and swapped in only when valid. */
typedef struct auth_conf {
    int mode;
    int guests; /* mode none: no client_id -> a generated guest-<id> user */
    char token_param[AUTH_PARAM_MAX + 1];
    char tokens_file[4096];
    auth_tokens *tokens; /* mode static */
    auth_jwt jwt;        /* mode jwt */
} auth_conf;

typedef struct auth_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    auth_conf conf;
    char reason[256];             /* the last identify reason: valid until the next call */
    char token[AUTH_JWT_MAX + 1]; /* the handshake's token, decoded from the query */
} auth_state;

/* Fill conf from the section cfg; logs why and returns nonzero when invalid. */
int auth_conf_load(auth_state *st, const sb_section *cfg, auth_conf *conf);
void auth_conf_clear(auth_conf *conf);

/* The handshake identifier (register_identify). */
int auth_identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                  const char **reason);
/* The `auth` command handler. */
int auth_command(void *ud, const sb_cmd *cmd);

#endif

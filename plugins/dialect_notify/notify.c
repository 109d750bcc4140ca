/* The `dialect_notify` plugin: the WebSocket side of seed 004
 * (go-socket-server; docs/dialects/notify.md). This file reads
 * [dialect_notify], registers one endpoint per path and identifies a new
 * connection by its token parameter; the frames are notify_codec.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "notify_codec.h"

#define NOTIFY_PARAM_MAX 64
#define NOTIFY_PATHS_MAX 8
#define NOTIFY_PATH_MAX  256
/* A token as long as a handshake head can carry. */
#define NOTIFY_TOKEN_MAX 8192

typedef struct notify_plugin {
    notify_codec codec; /* first: the endpoint's ud is the plugin */
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char token_param[NOTIFY_PARAM_MAX + 1];
    char token[NOTIFY_TOKEN_MAX]; /* the last handshake's token, for host->identify */
    char reason[NOTIFY_PARAM_MAX + 64];
} notify_plugin;

/* The token parameter is required and goes through the server's identifier
 * (a token in static/jwt/lua modes, the client_id rules in mode none);
 * anything but a user is 401. */
static int notify_identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                           const char **reason)
{
    notify_plugin *np = ud;
    const sb_host_api *h = np->host;
    int rc = h->query_param(req->query, np->token_param, np->token, sizeof np->token);
    if (rc != SB_OK || !np->token[0]) {
        snprintf(np->reason, sizeof np->reason, "%s: %s", np->token_param,
                 rc == SB_EINVAL ? "malformed or too long" : "a token is required");
        *reason = np->reason;
        return SB_IDENT_REJECT;
    }
    sb_http_req copy = *req;
    copy.token = np->token;
    int ident = h->identify(np->pc, &copy, user, reason);
    if (ident == SB_IDENT_USER)
        return ident;
    if (ident != SB_IDENT_REJECT || !*reason)
        *reason = "token not accepted";
    return SB_IDENT_REJECT;
}

/* Register one endpoint per path of `path` (separated by spaces or commas). */
static int notify_register_paths(notify_plugin *np, const char *paths)
{
    const sb_host_api *h = np->host;
    int n = 0;
    for (const char *p = paths; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        char path[NOTIFY_PATH_MAX];
        if (len >= sizeof path || p[0] != '/' || ++n > NOTIFY_PATHS_MAX) {
            h->log(np->pc, SB_LOG_ERROR, "path \"%.*s\": at most %d paths of %d bytes, each from /",
                   (int)len, p, NOTIFY_PATHS_MAX, NOTIFY_PATH_MAX - 1);
            return SB_EINVAL;
        }
        memcpy(path, p, len);
        path[len] = '\0';
        sb_endpoint ep = {SB_ENDPOINT_INIT,
                          .path = path,
                          .flags = SB_ENDPOINT_NEED_USER,
                          .identify = notify_identify,
                          .decode = notify_decode,
                          .encode = notify_encode,
                          .delivered = notify_delivered};
        int rc = h->register_endpoint(np->pc, &ep, np);
        if (rc != SB_OK) {
            h->log(np->pc, SB_LOG_ERROR, "cannot serve %s: %d", path, rc);
            return rc;
        }
        p += len;
    }
    if (n == 0) {
        h->log(np->pc, SB_LOG_ERROR, "path: at least one path is required");
        return SB_EINVAL;
    }
    return SB_OK;
}

static int notify_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                       void **userdata)
{
    notify_plugin *np = calloc(1, sizeof *np);
    if (!np)
        return SB_ENOMEM;
    np->host = host;
    np->pc = pc;
    np->codec.host = host;
    np->codec.pc = pc;
    int rc = SB_OK;
    const char *param = host->cfg_string(cfg, "token_param", "t");
    size_t plen = strlen(param);
    if (plen == 0 || plen > NOTIFY_PARAM_MAX || strpbrk(param, "&=#? \t")) {
        host->log(pc, SB_LOG_ERROR, "token_param \"%s\" is not a usable query parameter name",
                  param);
        rc = SB_EINVAL;
    }
    if (rc == SB_OK) {
        memcpy(np->token_param, param, plen + 1);
        rc = notify_register_paths(np, host->cfg_string(cfg, "path", "/notify"));
    }
    if (rc != SB_OK) {
        free(np);
        return rc;
    }
    *userdata = np;
    return SB_OK;
}

static void notify_fini(void *userdata)
{
    notify_codec_release(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,      .name = "dialect_notify", .version = "0.1.0",
    .init = notify_init, .fini = notify_fini,
};

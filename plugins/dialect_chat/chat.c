/* The `dialect_chat` plugin: seed 003's chat server on a WebSocket endpoint
 * (docs/dialects/chat.md). This file reads [dialect_chat], registers one
 * endpoint per path and names the member of a new connection; the frames are
 * chat_codec.c's, the recent history shown on join chat_history.c's.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "chat_codec.h"

#define CHAT_PARAM_MAX 64
#define CHAT_PATHS_MAX 8
#define CHAT_PATH_MAX  256
/* A token as long as a handshake head can carry. */
#define CHAT_TOKEN_MAX 8192
/* Publications shown on join: the last screenful of a chat. */
#define CHAT_HISTORY_DEFAULT 20
#define CHAT_HISTORY_MAX     1000

typedef struct chat_plugin {
    chat_codec codec; /* first: the endpoint's ud is the plugin */
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    int guests;
    char token_param[CHAT_PARAM_MAX + 1];
    char token[CHAT_TOKEN_MAX]; /* the last handshake's token, for host->identify */
} chat_plugin;

/* A generated member name: "guest-" and a fresh id, lowercased. */
static void chat_guest_name(chat_plugin *cp, char user[SB_USER_MAX + 1])
{
    char id[SB_ID_LEN + 1];
    cp->host->id_new(cp->pc, id);
    for (char *p = id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(user, SB_USER_MAX + 1, "guest-%s", id);
}

/* A request carrying an identity (the token parameter, or client_id) is
 * identified by the server's identifier: its user, or 401 for a bad one. One
 * carrying none, or one the identifier leaves for later (client_id in a token
 * mode), is a guest, whatever [auth] guests says; unless guests = no. */
static int chat_identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                         const char **reason)
{
    chat_plugin *cp = ud;
    const sb_host_api *h = cp->host;
    int rc = h->query_param(req->query, cp->token_param, cp->token, sizeof cp->token);
    if (rc == SB_EINVAL) {
        *reason = "token malformed or too long";
        return SB_IDENT_REJECT;
    }
    int ident = SB_IDENT_LATER;
    if (rc == SB_OK && cp->token[0]) {
        sb_http_req copy = *req;
        copy.token = cp->token;
        ident = h->identify(cp->pc, &copy, user, reason);
    } else {
        char id[SB_USER_MAX + 2];
        rc = h->query_param(req->query, "client_id", id, sizeof id);
        if (rc == SB_EINVAL) {
            *reason = "client_id missing or invalid";
            return SB_IDENT_REJECT;
        }
        if (rc == SB_OK && id[0])
            ident = h->identify(cp->pc, req, user, reason);
    }
    if (ident != SB_IDENT_LATER)
        return ident;
    if (!cp->guests) {
        *reason = "an identity is required (client_id or token)";
        return SB_IDENT_REJECT;
    }
    chat_guest_name(cp, user);
    return SB_IDENT_USER;
}

/* Register one endpoint per path of `path` (separated by spaces or commas). */
static int chat_register_paths(chat_plugin *cp, const char *paths)
{
    const sb_host_api *h = cp->host;
    int n = 0;
    for (const char *p = paths; *p;) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        if (len == 0)
            break;
        char path[CHAT_PATH_MAX];
        if (len >= sizeof path || p[0] != '/' || ++n > CHAT_PATHS_MAX) {
            h->log(cp->pc, SB_LOG_ERROR, "path \"%.*s\": at most %d paths of %d bytes, each from /",
                   (int)len, p, CHAT_PATHS_MAX, CHAT_PATH_MAX - 1);
            return SB_EINVAL;
        }
        memcpy(path, p, len);
        path[len] = '\0';
        /* ECHO: the seed's hub sends a broadcast to every member, its sender
         * included; the sender gets the frame everyone gets. EVENT_TEXT: a
         * fan-out's event comes as its data text (chat_event_text.c). */
        sb_endpoint ep = {SB_ENDPOINT_INIT,
                          .path = path,
                          .flags = SB_ENDPOINT_ECHO | SB_ENDPOINT_EVENT_TEXT,
                          .identify = chat_identify,
                          .decode = chat_decode,
                          .encode = chat_encode};
        int rc = h->register_endpoint(cp->pc, &ep, cp);
        if (rc != SB_OK) {
            h->log(cp->pc, SB_LOG_ERROR, "cannot serve %s: %d", path, rc);
            return rc;
        }
        p += len;
    }
    if (n == 0) {
        h->log(cp->pc, SB_LOG_ERROR, "path: at least one path is required");
        return SB_EINVAL;
    }
    return SB_OK;
}

static int chat_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                     void **userdata)
{
    chat_plugin *cp = calloc(1, sizeof *cp);
    if (!cp)
        return SB_ENOMEM;
    cp->host = host;
    cp->pc = pc;
    cp->codec.host = host;
    cp->codec.pc = pc;
    long history = 0;
    int rc = host->cfg_bool(cfg, "guests", 1, &cp->guests);
    if (rc == SB_OK)
        rc = host->cfg_int(cfg, "history", CHAT_HISTORY_DEFAULT, 0, CHAT_HISTORY_MAX, &history);
    cp->codec.history = (int)history;
    const char *param = host->cfg_string(cfg, "token_param", "token");
    size_t plen = strlen(param);
    if (rc == SB_OK && (plen == 0 || plen > CHAT_PARAM_MAX || strpbrk(param, "&=#? \t"))) {
        host->log(pc, SB_LOG_ERROR, "token_param \"%s\" is not a usable query parameter name",
                  param);
        rc = SB_EINVAL;
    }
    if (rc == SB_OK) {
        memcpy(cp->token_param, param, plen + 1);
        rc = chat_register_paths(cp, host->cfg_string(cfg, "path", "/chat"));
    }
    if (rc != SB_OK) {
        free(cp);
        return rc;
    }
    *userdata = cp;
    return SB_OK;
}

static void chat_fini(void *userdata)
{
    free(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,    .name = "dialect_chat", .version = "0.1.0",
    .init = chat_init, .fini = chat_fini,
};

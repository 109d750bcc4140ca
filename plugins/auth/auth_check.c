/* Who is this connection: the handshake identifier (client_id, guest names, or
 * a token in the query) and the `auth` command for a connection that opened
 * without credentials. Both verify tokens the same way, by mode.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"

static int auth_verify(auth_state *st, const char *token, const sb_http_req *req,
                       char user[SB_USER_MAX + 1], char *why, size_t why_len)
{
    const sb_host_api *h = st->host;
    why[0] = '\0';
    switch (st->conf.mode) {
    case AUTH_MODE_STATIC: {
        const char *u = auth_tokens_lookup(st->conf.tokens, token, strlen(token));
        if (!u) {
            snprintf(why, why_len, "unknown token");
            return SB_EINVAL;
        }
        snprintf(user, SB_USER_MAX + 1, "%s", u);
        return SB_OK;
    }
    case AUTH_MODE_JWT: {
        int rc = auth_jwt_verify(&st->conf.jwt, token, h->now_ms() / 1000, h->user_valid, user, why,
                                 why_len);
        return rc == SB_OK ? SB_OK : SB_EINVAL;
    }
    case AUTH_MODE_LUA: {
        user[0] = '\0';
        int r = h->run_authenticate(st->pc, token, req, user, why, why_len);
        if (r != SB_HOOK_ALLOW) {
            if (!why[0])
                snprintf(why, why_len, "refused");
            return SB_EINVAL;
        }
        /* A script's answer is a user name like any other. */
        if (!h->user_valid(user)) {
            h->log(st->pc, SB_LOG_WARN, "authenticate returned an invalid user name: refused");
            snprintf(why, why_len, "refused");
            return SB_EINVAL;
        }
        return SB_OK;
    }
    default:
        snprintf(why, why_len, "no token accepted in mode none");
        return SB_EINVAL;
    }
}

/* The credential an endpoint read from its own parameter (sb_http_req.token,
 * since 1.2), or NULL: then the identifier reads its own. */
static const char *auth_endpoint_token(const sb_http_req *req)
{
    if (req->size < offsetof(sb_http_req, token) + sizeof(req->token))
        return NULL;
    return req->token;
}

/* Mode none: client_id names the user (docs/protocol.md section 1); an
 * endpoint's credential stands in for it, under the same rules. */
static int auth_identify_client(auth_state *st, const sb_http_req *req, char user[SB_USER_MAX + 1],
                                const char **reason)
{
    const sb_host_api *h = st->host;
    char id[SB_USER_MAX + 2];
    const char *given = auth_endpoint_token(req);
    int rc;
    if (given)
        rc = snprintf(id, sizeof id, "%s", given) < (int)sizeof id ? SB_OK : SB_EINVAL;
    else
        rc = h->query_param(req->query, "client_id", id, sizeof id);
    int absent = rc == SB_ENOTFOUND || (rc == SB_OK && id[0] == '\0');
    if (absent && st->conf.guests) {
        char gid[SB_ID_LEN + 1];
        h->id_new(st->pc, gid);
        for (char *p = gid; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        snprintf(user, SB_USER_MAX + 1, "guest-%s", gid);
        return SB_IDENT_USER;
    }
    if (rc != SB_OK || !h->user_valid(id)) {
        *reason = "client_id missing or invalid";
        return SB_IDENT_REJECT;
    }
    memcpy(user, id, strlen(id) + 1);
    return SB_IDENT_USER;
}

int auth_identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1], const char **reason)
{
    auth_state *st = ud;
    if (st->conf.mode == AUTH_MODE_NONE)
        return auth_identify_client(st, req, user, reason);

    char *token = st->token;
    const char *given = auth_endpoint_token(req);
    int rc;
    if (given)
        rc = snprintf(token, sizeof st->token, "%s", given) < (int)sizeof st->token ? SB_OK
                                                                                    : SB_EINVAL;
    else
        rc = st->host->query_param(req->query, st->conf.token_param, token, sizeof st->token);
    if (rc == SB_ENOTFOUND)
        return SB_IDENT_LATER; /* open unauthenticated: `auth` must follow */
    char why[200];
    if (rc != SB_OK)
        snprintf(why, sizeof why, "malformed or too long");
    else if (token[0] == '\0')
        snprintf(why, sizeof why, "empty");
    else if (auth_verify(st, token, req, user, why, sizeof why) == SB_OK)
        return SB_IDENT_USER;
    snprintf(st->reason, sizeof st->reason, "invalid token: %s", why);
    *reason = st->reason;
    st->host->log(st->pc, SB_LOG_DEBUG, "handshake from %s refused: %s", req->ip ? req->ip : "?",
                  st->reason);
    return SB_IDENT_REJECT;
}

static int auth_reply_user(auth_state *st, const sb_cmd *cmd, const char *user)
{
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "user", user)) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    st->host->reply(st->pc, cmd, "auth", data); /* SB_ECLOSED: nobody to answer */
    cJSON_Delete(data);
    return SB_OK;
}

int auth_command(void *ud, const sb_cmd *cmd)
{
    auth_state *st = ud;
    const sb_host_api *h = st->host;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(cmd->data, "token");
    if (!cJSON_IsString(tok) || !tok->valuestring || !tok->valuestring[0]) {
        h->reply_error(st->pc, cmd, "bad_request", "token: a non-empty string is required");
        return SB_OK;
    }
    if (st->conf.mode == AUTH_MODE_NONE) {
        /* Identified at the handshake by client_id; the token means nothing. */
        const char *u = cmd->user ? cmd->user : h->conn_user(st->pc, cmd->conn_id);
        if (!u)
            return SB_EINVAL; /* cannot happen: mode none admits identified users only */
        return auth_reply_user(st, cmd, u);
    }

    /* The authenticate hook sees what is known of the connection: its ip. */
    int64_t since = 0;
    const char *ip = NULL;
    h->conn_info(st->pc, cmd->conn_id, &since, &ip);
    sb_http_req req = {
        .size = sizeof req,
        .method = "",
        .path = "",
        .query = "",
        .body = "",
        .ip = ip ? ip : "",
        .user = cmd->user,
    };
    char user[SB_USER_MAX + 1], why[200], msg[256];
    if (auth_verify(st, tok->valuestring, &req, user, why, sizeof why) != SB_OK) {
        snprintf(msg, sizeof msg, "invalid token: %s", why);
        h->reply_error(st->pc, cmd, "auth_failed", msg);
        return SB_OK;
    }
    if (cmd->user) {
        if (strcmp(cmd->user, user) == 0)
            return auth_reply_user(st, cmd, user);
        h->reply_error(st->pc, cmd, "bad_request", "already authenticated as another user");
        return SB_OK;
    }
    int rc = h->conn_set_user(st->pc, cmd->conn_id, user);
    if (rc == SB_ECLOSED)
        return SB_OK;
    if (rc != SB_OK)
        return rc;
    /* The core starts the stored backlog after this handler returns, so
     * this reply precedes the messages it unlocks. */
    return auth_reply_user(st, cmd, user);
}

/* The auth plugin: descriptor, [auth] configuration, registration and SIGHUP
 * reload. Who a connection is gets decided in auth_check.c; the token sources
 * are auth_tokens.c (static) and auth_jwt.c (jwt); mode lua asks the
 * authenticate hook chain.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static const char *const auth_mode_names[] = {"none", "static", "jwt", "lua"};

/* What auth_file_warn needs while parsing a file not yet in st->conf. */
typedef struct auth_warn_ctx {
    auth_state *st;
    const char *path;
} auth_warn_ctx;

static void auth_file_warn(void *arg, size_t line, const char *why)
{
    auth_warn_ctx *w = arg;
    w->st->host->log(w->st->pc, SB_LOG_WARN, "%s line %zu: %s", w->path, line, why);
}

static int auth_conf_static(auth_state *st, const sb_section *cfg, auth_conf *conf)
{
    const sb_host_api *h = st->host;
    /* docs/design.md: the default is tokens.conf beside the config file. */
    int rc =
        h->cfg_path(cfg, "tokens_file", "tokens.conf", conf->tokens_file, sizeof conf->tokens_file);
    if (rc != SB_OK) {
        h->log(st->pc, SB_LOG_ERROR, "tokens_file: path too long");
        return SB_EINVAL;
    }
    char err[512];
    auth_warn_ctx w = {st, conf->tokens_file};
    rc = auth_tokens_load(conf->tokens_file, h->user_valid, auth_file_warn, &w, &conf->tokens, err,
                          sizeof err);
    if (rc != SB_OK) {
        h->log(st->pc, SB_LOG_ERROR, "tokens_file: %s", err);
        return rc;
    }
    size_t n = auth_tokens_count(conf->tokens);
    h->log(st->pc, n ? SB_LOG_INFO : SB_LOG_WARN, "%zu token%s from %s%s", n, n == 1 ? "" : "s",
           conf->tokens_file, n ? "" : ": every token will be refused");
    return SB_OK;
}

static int auth_conf_jwt(auth_state *st, const sb_section *cfg, auth_conf *conf)
{
    const sb_host_api *h = st->host;
    long leeway = 30;
    if (h->cfg_int(cfg, "jwt_leeway", 30, 0, 86400, &leeway) != SB_OK)
        return SB_EINVAL;
    const char *alg = h->cfg_string(cfg, "jwt_alg", "HS256");
    const char *secret = h->cfg_string(cfg, "jwt_secret", "");
    char path[4096];
    char *pem = NULL;
    size_t pem_len = 0;
    char err[512];
    int rc = h->cfg_path(cfg, "jwt_public_key", NULL, path, sizeof path);
    /* An empty value means "not set", like an absent key. */
    const char *raw_key = h->cfg_string(cfg, "jwt_public_key", "");
    if (rc == SB_OK && raw_key[0]) {
        rc = auth_jwt_read_file(path, &pem, &pem_len, err, sizeof err);
        if (rc != SB_OK) {
            h->log(st->pc, SB_LOG_ERROR, "jwt_public_key: %s", err);
            return rc;
        }
    } else if (rc != SB_OK && rc != SB_ENOTFOUND) {
        h->log(st->pc, SB_LOG_ERROR, "jwt_public_key: path too long");
        return SB_EINVAL;
    }
    rc = auth_jwt_setup(&conf->jwt, alg, secret, pem, pem_len, leeway, err, sizeof err);
    free(pem);
    if (rc != SB_OK) {
        h->log(st->pc, SB_LOG_ERROR, "%s", rc == SB_ENOMEM ? "out of memory" : err);
        return rc;
    }
    if (conf->jwt.alg == JWT_ALG_HS256 && conf->jwt.key_len < 32)
        h->log(st->pc, SB_LOG_WARN, "jwt_secret is shorter than 32 bytes: easy to brute-force");
    return SB_OK;
}

int auth_conf_load(auth_state *st, const sb_section *cfg, auth_conf *conf)
{
    const sb_host_api *h = st->host;
    memset(conf, 0, sizeof *conf);
    conf->jwt.alg = JWT_ALG_INVAL;

    const char *mode = h->cfg_string(cfg, "mode", "none");
    conf->mode = -1;
    for (size_t i = 0; i < sizeof auth_mode_names / sizeof *auth_mode_names; i++)
        if (strcmp(mode, auth_mode_names[i]) == 0)
            conf->mode = (int)i;
    if (conf->mode < 0) {
        h->log(st->pc, SB_LOG_ERROR, "unknown mode \"%s\" (none | static | jwt | lua)", mode);
        return SB_EINVAL;
    }
    if (h->cfg_bool(cfg, "guests", 0, &conf->guests) != SB_OK)
        return SB_EINVAL;
    const char *param = h->cfg_string(cfg, "token_param", "token");
    size_t plen = strlen(param);
    if (plen == 0 || plen > AUTH_PARAM_MAX || strpbrk(param, "&=#? \t")) {
        h->log(st->pc, SB_LOG_ERROR, "token_param \"%s\" is not a usable query parameter name",
               param);
        return SB_EINVAL;
    }
    memcpy(conf->token_param, param, plen + 1);
    if (conf->guests && conf->mode != AUTH_MODE_NONE)
        h->log(st->pc, SB_LOG_WARN, "guests = yes applies to mode none only: ignored");

    switch (conf->mode) {
    case AUTH_MODE_STATIC:
        return auth_conf_static(st, cfg, conf);
    case AUTH_MODE_JWT:
        return auth_conf_jwt(st, cfg, conf);
    default:
        return SB_OK;
    }
}

void auth_conf_clear(auth_conf *conf)
{
    auth_tokens_free(conf->tokens);
    conf->tokens = NULL;
    auth_jwt_clear(&conf->jwt);
}

/* Keys of other modes are read too, so the host does not warn them unknown. */
static void auth_mark_keys(const sb_host_api *h, const sb_section *cfg)
{
    static const char *const keys[] = {"tokens_file", "jwt_alg", "jwt_secret", "jwt_public_key",
                                       "jwt_leeway"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        (void)h->cfg_string(cfg, keys[i], NULL);
}

static int auth_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                     void **userdata)
{
    auth_state *st = calloc(1, sizeof *st);
    if (!st) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    st->host = host;
    st->pc = pc;
    auth_mark_keys(host, cfg);
    int rc = auth_conf_load(st, cfg, &st->conf);
    if (rc == SB_OK) {
        rc = host->register_identify(pc, auth_identify, st);
        if (rc != SB_OK)
            host->log(pc, SB_LOG_ERROR, "another plugin already identifies handshakes (%d)", rc);
    }
    if (rc == SB_OK) {
        rc = host->register_command_ex(pc, "auth", auth_command, st, SB_COMMAND_BEFORE_AUTH);
        if (rc != SB_OK)
            host->log(pc, SB_LOG_ERROR, "cannot register the auth command (%d)", rc);
    }
    if (rc != SB_OK) {
        auth_conf_clear(&st->conf);
        free(st);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "mode %s, token parameter \"%s\"%s", auth_mode_names[st->conf.mode],
              st->conf.token_param,
              st->conf.mode == AUTH_MODE_NONE && st->conf.guests ? ", guests allowed" : "");
    *userdata = st;
    return SB_OK;
}

static void auth_fini(void *userdata)
{
    auth_state *st = userdata;
    if (!st)
        return;
    auth_conf_clear(&st->conf);
    free(st);
}

/* SIGHUP: re-read the section, the tokens file and the JWT key. Nothing
 * changes unless the whole new configuration is valid; the mode itself
 * needs a restart (connections were admitted under the old one). */
static int auth_reload(void *userdata, const sb_section *cfg)
{
    auth_state *st = userdata;
    auth_mark_keys(st->host, cfg);
    auth_conf next;
    int rc = auth_conf_load(st, cfg, &next);
    if (rc != SB_OK) {
        auth_conf_clear(&next);
        st->host->log(st->pc, SB_LOG_ERROR, "reload failed: the previous configuration stays");
        return rc;
    }
    if (next.mode != st->conf.mode) {
        st->host->log(st->pc, SB_LOG_ERROR,
                      "reload: mode %s -> %s needs a restart; the previous configuration stays",
                      auth_mode_names[st->conf.mode], auth_mode_names[next.mode]);
        auth_conf_clear(&next);
        return SB_EINVAL;
    }
    auth_conf_clear(&st->conf);
    st->conf = next;
    st->host->log(st->pc, SB_LOG_INFO, "reloaded");
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,    .name = "auth",    .version = "1.0.0",
    .init = auth_init, .fini = auth_fini, .reload = auth_reload,
};

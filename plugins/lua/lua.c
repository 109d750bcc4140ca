/* The lua plugin: reads [lua], loads the scripts into an engine, registers
 * one sb_hooks provider whose functions run the scripts in order, and
 * reloads on SIGHUP and when a script file changes.
 *
 * The SDK has no file-change watcher (no ev_stat), so a 1 s repeating timer
 * stat()s every script and reloads when one's inode, size or mtime changed.
 * A reload builds a whole new state; it replaces the running one only if every
 * script compiled and ran its top level, otherwise the running one stays and
 * the log says why. Hook calls are synchronous on the loop thread, so a swap
 * never happens in the middle of one and no connection notices. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "switchboard/plugin.h"
#include "lua_engine.h"

#define SBLUA_DEFAULT_SCRIPTS "lua/policy.lua"
#define SBLUA_MAX_SCRIPT      (4u << 20) /* bytes per script file */
#define SBLUA_POLL_SECONDS    1.0

/* What [lua] asks for; replaced as a whole on SIGHUP. */
typedef struct sblua_settings {
    size_t n;
    char **names; /* as written in `scripts` (logs, tracebacks) */
    char **paths; /* resolved against the config file's directory */
    long instructions;
    long memory_mb;
    int on_error;
} sblua_settings;

/* What a script file looked like when it was last read. */
typedef struct sblua_sig {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} sblua_sig;

typedef struct sblua_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    const sb_section *cfg;
    sblua_settings set;
    sblua_sig *sigs; /* set.n entries */
    sblua_engine *engine;
    size_t json_bytes;
    sb_timer *poll;
    char reason[256];
} sblua_plugin;

/* --- settings ------------------------------------------------------------------- */

static void sblua_settings_free(sblua_settings *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->paths[i]);
    }
    free(s->names);
    free(s->paths);
    memset(s, 0, sizeof *s);
}

/* The directory relative entries of `scripts` resolve against. cfg_path
 * resolves a whole value, so for a list we resolve the raw value and strip it
 * off again; when the value starts with an absolute path, we resolve an
 * absent key's default instead. */
static int sblua_base_dir(sblua_plugin *p, const sb_section *cfg, const char *raw, char *out,
                          size_t len)
{
    const sb_host_api *h = p->host;
    char buf[PATH_MAX];
    size_t rl = strlen(raw);
    if (raw[0] != '/' && h->cfg_path(cfg, "scripts", NULL, buf, sizeof buf) == SB_OK) {
        size_t bl = strlen(buf);
        if (bl >= rl && strcmp(buf + bl - rl, raw) == 0) {
            snprintf(out, len, "%.*s", (int)(bl - rl), buf);
            return SB_OK;
        }
    }
    if (h->cfg_path(cfg, "scripts_base_dir_probe", "x", buf, sizeof buf) == SB_OK) {
        size_t bl = strlen(buf);
        if (bl >= 1 && buf[bl - 1] == 'x') {
            snprintf(out, len, "%.*s", (int)(bl - 1), buf);
            return SB_OK;
        }
    }
    out[0] = '\0'; /* relative to the working directory */
    return SB_OK;
}

static int sblua_settings_add(sblua_settings *s, const char *name, size_t nlen, const char *base)
{
    char **names = realloc(s->names, (s->n + 1) * sizeof *names);
    if (!names)
        return SB_ENOMEM;
    s->names = names;
    char **paths = realloc(s->paths, (s->n + 1) * sizeof *paths);
    if (!paths)
        return SB_ENOMEM;
    s->paths = paths;
    char *nm = strndup(name, nlen);
    size_t plen = strlen(base) + nlen + 1;
    char *path = malloc(plen);
    if (!nm || !path) {
        free(nm);
        free(path);
        return SB_ENOMEM;
    }
    if (name[0] == '/')
        snprintf(path, plen, "%s", nm);
    else
        snprintf(path, plen, "%s%s", base, nm);
    s->names[s->n] = nm;
    s->paths[s->n] = path;
    s->n++;
    return SB_OK;
}

static int sblua_settings_read(sblua_plugin *p, const sb_section *cfg, sblua_settings *s)
{
    const sb_host_api *h = p->host;
    memset(s, 0, sizeof *s);
    if (h->cfg_int(cfg, "instruction_limit", 1000000, 1000, INT_MAX, &s->instructions) != SB_OK ||
        h->cfg_int(cfg, "memory_limit_mb", 64, 1, 65536, &s->memory_mb) != SB_OK)
        return SB_EINVAL;
    const char *oe = h->cfg_string(cfg, "on_error", "deny");
    if (strcmp(oe, "deny") == 0) {
        s->on_error = SBLUA_ON_ERROR_DENY;
    } else if (strcmp(oe, "allow") == 0) {
        s->on_error = SBLUA_ON_ERROR_ALLOW;
    } else {
        h->log(p->pc, SB_LOG_ERROR, "on_error must be deny or allow, not \"%s\"", oe);
        return SB_EINVAL;
    }

    const char *raw = h->cfg_string(cfg, "scripts", NULL);
    if (!raw) {
        char path[PATH_MAX];
        if (h->cfg_path(cfg, "scripts", SBLUA_DEFAULT_SCRIPTS, path, sizeof path) != SB_OK) {
            h->log(p->pc, SB_LOG_ERROR, "cannot resolve scripts = %s", SBLUA_DEFAULT_SCRIPTS);
            return SB_EINVAL;
        }
        if (sblua_settings_add(s, path, strlen(path), "") != SB_OK)
            goto nomem;
        free(s->names[0]);
        if (!(s->names[0] = strdup(SBLUA_DEFAULT_SCRIPTS)))
            goto nomem;
        return SB_OK;
    }
    while (*raw == ' ' || *raw == '\t')
        raw++;
    char base[PATH_MAX];
    sblua_base_dir(p, cfg, raw, base, sizeof base);
    for (const char *q = raw; *q;) {
        while (*q == ' ' || *q == '\t' || *q == '\n')
            q++;
        size_t n = strcspn(q, " \t\n");
        if (n && sblua_settings_add(s, q, n, base) != SB_OK)
            goto nomem;
        q += n;
    }
    if (s->n == 0) {
        h->log(p->pc, SB_LOG_ERROR, "scripts is empty: name at least one script");
        return SB_EINVAL;
    }
    return SB_OK;
nomem:
    sblua_settings_free(s);
    h->log(p->pc, SB_LOG_ERROR, "out of memory reading [lua]");
    return SB_ENOMEM;
}

/* --- the environment scripts see --------------------------------------------------- */

static void sblua_env_log(void *ud, int level, const char *msg)
{
    sblua_plugin *p = ud;
    p->host->log(p->pc, level, "%s", msg);
}

static const char *sblua_env_config(void *ud, const char *key)
{
    sblua_plugin *p = ud;
    return p->host->cfg_string(p->cfg, key, NULL);
}

/* --- loading ------------------------------------------------------------------------ */

static void sblua_sig_take(const char *path, sblua_sig *sig)
{
    struct stat st;
    memset(sig, 0, sizeof *sig);
    if (stat(path, &st) != 0)
        return;
    sig->exists = 1;
    sig->dev = st.st_dev;
    sig->ino = st.st_ino;
    sig->size = st.st_size;
    sig->mtime = st.st_mtim;
}

static int sblua_sig_same(const sblua_sig *a, const sblua_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read path into a new buffer (*out, *len). -> SB_OK | SB_ENOTFOUND | SB_EINVAL | SB_ENOMEM */
static int sblua_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return SB_ENOTFOUND;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= SBLUA_MAX_SCRIPT) {
                snprintf(err, errlen, "%s is larger than %u bytes", path, SBLUA_MAX_SCRIPT);
                free(buf);
                fclose(f);
                return SB_EINVAL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading %s", path);
        return SB_ENOMEM;
    }
    if (bad) {
        snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        return SB_EINVAL;
    }
    *out = buf;
    *len = n;
    return SB_OK;
}

/* Build an engine from p->set (recording what each file looked like) and put
 * it in force; on failure keep the running one. why: "start", "SIGHUP", ... */
static int sblua_load(sblua_plugin *p, const char *why)
{
    const sblua_settings *s = &p->set;
    const sb_host_api *h = p->host;
    char err[1536] = "";
    int rc = SB_OK;
    sblua_source *srcs = calloc(s->n, sizeof *srcs);
    sblua_sig *sigs = calloc(s->n, sizeof *sigs);
    if (!srcs || !sigs) {
        free(srcs);
        free(sigs);
        h->log(p->pc, SB_LOG_ERROR, "out of memory loading scripts");
        return SB_ENOMEM;
    }
    for (size_t i = 0; i < s->n && rc == SB_OK; i++) {
        sblua_sig_take(s->paths[i], &sigs[i]);
        srcs[i].name = s->names[i];
        rc = sblua_read_file(s->paths[i], (char **)&srcs[i].text, &srcs[i].len, err, sizeof err);
    }
    for (size_t i = rc == SB_OK ? s->n : 0; i < s->n; i++)
        sblua_sig_take(s->paths[i], &sigs[i]);
    sblua_engine *e = NULL;
    if (rc == SB_OK) {
        sblua_engine_cfg ec = {
            .env = {.ud = p,
                    .log = sblua_env_log,
                    .now_ms = h->now_ms,
                    .config = sblua_env_config,
                    .utf8_valid = h->utf8_valid,
                    .user_valid = h->user_valid},
            .limits = {.instructions = s->instructions,
                       .memory = (size_t)s->memory_mb << 20,
                       .json_bytes = p->json_bytes},
            .on_error = s->on_error,
        };
        e = sblua_engine_new(&ec, srcs, s->n, err, sizeof err);
    }
    for (size_t i = 0; i < s->n; i++)
        free((char *)srcs[i].text);
    free(srcs);
    free(p->sigs);
    p->sigs = sigs; /* remembered even on failure: retry when the files change again */

    if (!e) {
        if (p->engine)
            h->log(p->pc, SB_LOG_ERROR, "reload (%s) failed, keeping the previous scripts: %s", why,
                   err);
        else
            h->log(p->pc, SB_LOG_ERROR, "cannot load the scripts: %s", err);
        return SB_EPLUGIN;
    }
    sblua_engine *old = p->engine;
    p->engine = e;
    sblua_engine_free(old);
    h->log(p->pc, SB_LOG_INFO,
           "%s %zu script(s) (%s): %s%s; instruction_limit = %ld, memory_limit_mb = %ld, "
           "on_error = %s",
           old ? "reloaded" : "loaded", s->n, why, s->names[0], s->n > 1 ? " ..." : "",
           s->instructions, s->memory_mb, s->on_error == SBLUA_ON_ERROR_ALLOW ? "allow" : "deny");
    return SB_OK;
}

static void sblua_poll_cb(void *arg)
{
    sblua_plugin *p = arg;
    for (size_t i = 0; i < p->set.n; i++) {
        sblua_sig now;
        sblua_sig_take(p->set.paths[i], &now);
        if (!p->sigs || !sblua_sig_same(&now, &p->sigs[i])) {
            p->host->log(p->pc, SB_LOG_INFO, "%s changed, reloading", p->set.names[i]);
            sblua_load(p, "file changed");
            return;
        }
    }
}

/* --- the hooks ----------------------------------------------------------------------- */

static int sblua_on_connect(void *ud, const sb_http_req *req, const char **reason)
{
    sblua_plugin *p = ud;
    *reason = p->reason;
    return sblua_engine_on_connect(p->engine, req, p->reason, sizeof p->reason);
}

static int sblua_authenticate(void *ud, const char *token, const sb_http_req *req,
                              char user[SB_USER_MAX + 1], const char **reason)
{
    sblua_plugin *p = ud;
    *reason = p->reason;
    return sblua_engine_authenticate(p->engine, token, req, user, p->reason, sizeof p->reason);
}

static int sblua_authorize(void *ud, const char *user, const char *action, const char *target,
                           const cJSON *data, const char **reason)
{
    sblua_plugin *p = ud;
    *reason = p->reason;
    return sblua_engine_authorize(p->engine, user, action, target, data, p->reason,
                                  sizeof p->reason);
}

/* A filter_view: scripts only read the message; a changed one is new data. */
static int sblua_filter(void *ud, const sb_filter_msg *msg, const cJSON *data, cJSON **out,
                        const char **reason)
{
    sblua_plugin *p = ud;
    *reason = p->reason;
    return sblua_engine_filter(p->engine, msg, data, out, p->reason, sizeof p->reason);
}

/* --- descriptor ---------------------------------------------------------------------- */

static void sblua_free(sblua_plugin *p)
{
    if (!p)
        return;
    p->host->timer_free(p->poll);
    sblua_engine_free(p->engine);
    sblua_settings_free(&p->set);
    free(p->sigs);
    free(p);
}

static int sblua_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    sblua_plugin *p = calloc(1, sizeof *p);
    if (!p) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    p->host = host;
    p->pc = pc;
    p->cfg = cfg;
    /* A filter's output may grow a message, but not without bound. */
    long mmb = 65536;
    const sb_section *srv = host->cfg_server(pc);
    if (srv)
        host->cfg_int(srv, "max_message_bytes", 65536, 1, LONG_MAX / 4, &mmb);
    p->json_bytes = (size_t)(mmb * 2 > 65536 ? mmb * 2 : 65536);

    if (sblua_settings_read(p, cfg, &p->set) != SB_OK || sblua_load(p, "start") != SB_OK) {
        sblua_free(p);
        return SB_EPLUGIN;
    }
    sb_hooks hooks = {
        SB_HOOKS_INIT,
        .on_connect = sblua_on_connect,
        .authenticate = sblua_authenticate,
        .authorize = sblua_authorize,
        .filter_view = sblua_filter,
    };
    int rc = host->register_hooks(pc, &hooks, p);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the hooks (%d)", rc);
        sblua_free(p);
        return rc;
    }
    p->poll = host->timer_new(pc, SBLUA_POLL_SECONDS, SBLUA_POLL_SECONDS, sblua_poll_cb, p);
    if (!p->poll)
        host->log(pc, SB_LOG_WARN, "no file watch timer: scripts reload on SIGHUP only");
    *userdata = p;
    return SB_OK;
}

static void sblua_fini(void *userdata)
{
    sblua_free(userdata);
}

/* SIGHUP: read [lua] again and rebuild. Bad settings keep everything as it
 * was; good settings are kept (and their files watched) even when a script
 * fails to load, so fixing the file is enough. */
static int sblua_reload(void *userdata, const sb_section *cfg)
{
    sblua_plugin *p = userdata;
    sblua_settings next;
    if (sblua_settings_read(p, cfg, &next) != SB_OK) {
        p->host->log(p->pc, SB_LOG_ERROR, "reload (SIGHUP): bad [lua] settings, nothing changed");
        return SB_EINVAL;
    }
    p->cfg = cfg;
    sblua_settings_free(&p->set);
    p->set = next;
    free(p->sigs);
    p->sigs = NULL;
    return sblua_load(p, "SIGHUP");
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,     .name = "lua",      .version = "0.1.0",
    .init = sblua_init, .fini = sblua_fini, .reload = sblua_reload,
};

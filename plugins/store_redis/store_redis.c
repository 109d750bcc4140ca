/* store_redis: the store slot in Redis, so several switchboard nodes share
 * inboxes. This file is the descriptor: it reads [store_redis], checks the
 * server once at start (store_redis_conn.c), registers the slot whose
 * operations live in store_redis_ops.c; fini drops the connection. */
#include <stdio.h>
#include <string.h>

#include "store_redis_ops.h"

#define STORE_REDIS_VERSION "1.0.0"

static void store_redis_fini(void *userdata)
{
    store_redis *s = userdata;
    if (!s)
        return;
    const sb_host_api *host = s->conn.host;
    store_redis_conn_close(&s->conn); /* pending callbacks: SB_EUNAVAILABLE */
    host->free(s);
}

static int store_redis_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                            void **userdata)
{
    store_redis *s = host->alloc(sizeof *s);
    if (!s)
        return SB_ENOMEM;
    memset(s, 0, sizeof *s);
    const char *url = host->cfg_string(cfg, "url", "redis://127.0.0.1:6379/0");
    const char *prefix = host->cfg_string(cfg, "prefix", "sb:");
    int wait = 0;
    if (host->cfg_int(cfg, "max_inbox", 100000, 1, 1000000000L, &s->max_inbox) != SB_OK ||
        host->cfg_bool(cfg, "wait", 0, &wait) != SB_OK) {
        host->free(s);
        return SB_EINVAL;
    }
    if (strlen(prefix) >= sizeof s->prefix) {
        host->log(pc, SB_LOG_ERROR, "prefix: longer than %zu bytes", sizeof s->prefix - 1);
        host->free(s);
        return SB_EINVAL;
    }
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    int rc = store_redis_conn_open(&s->conn, host, pc, url, wait, 0); /* logs the URL */
    if (rc == SB_OK)
        rc = store_redis_conn_start(&s->conn);
    if (rc != SB_OK) {
        store_redis_fini(s);
        return rc;
    }
    const sb_store store = {
        SB_STORE_INIT,
        .put = store_redis_ops_put,
        .remove = store_redis_ops_remove,
        .page = store_redis_ops_page,
        .ready = store_redis_ops_ready,
        .history_put = store_redis_ops_history_put,
        .history_page = store_redis_ops_history_page,
    };
    rc = host->register_store(pc, &store, s);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot fill the store slot: another store is enabled");
        store_redis_fini(s);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "%s: prefix %s, max_inbox %ld", url, s->prefix, s->max_inbox);
    *userdata = s;
    return SB_OK;
}

/* --check-config: the keys and the URL, without connecting (Redis need
 * not be up while the configuration is checked). */
static int store_redis_check(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg)
{
    const char *url = host->cfg_string(cfg, "url", "redis://127.0.0.1:6379/0");
    const char *prefix = host->cfg_string(cfg, "prefix", "sb:");
    long max_inbox;
    int wait;
    if (host->cfg_int(cfg, "max_inbox", 100000, 1, 1000000000L, &max_inbox) != SB_OK ||
        host->cfg_bool(cfg, "wait", 0, &wait) != SB_OK)
        return SB_EINVAL;
    if (strlen(prefix) >= sizeof((store_redis *)0)->prefix) {
        host->log(pc, SB_LOG_ERROR, "prefix: longer than %zu bytes",
                  sizeof((store_redis *)0)->prefix - 1);
        return SB_EINVAL;
    }
    store_redis_url u;
    const char *why;
    if (store_redis_url_parse(url, host->url_decode, &u, &why) != 0) {
        host->log(pc, SB_LOG_ERROR, "url %s: %s", url, why);
        return SB_EINVAL;
    }
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,           .name = "store_redis",    .version = STORE_REDIS_VERSION,
    .init = store_redis_init, .fini = store_redis_fini, .check = store_redis_check,
};

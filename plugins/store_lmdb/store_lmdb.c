/* store_lmdb: the durable default store, the embedded LMDB database behind
 * the store slot. This file is the descriptor: it reads [store_lmdb], opens the
 * database (store_lmdb_db.c), starts its writer (store_lmdb_writer.c) and
 * registers the slot and the gauges; fini flushes and closes. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_lmdb_db.h"
#include "store_lmdb_history.h"
#include "store_lmdb_writer.h"

#define STORE_LMDB_VERSION "1.0.0"

static int store_lmdb_read_cfg(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                               store_lmdb_opts *o)
{
    long map_mb, max_inbox, queue;
    int rc = host->cfg_path(cfg, "path", "data", o->path, sizeof o->path);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "path: too long");
        return rc;
    }
    /* Bad numbers are logged by the host with file, line and key. */
    if (host->cfg_int(cfg, "map_size_mb", 1024, 1, 64L * 1024 * 1024, &map_mb) != SB_OK ||
        host->cfg_int(cfg, "max_inbox", 100000, 1, 1000000000L, &max_inbox) != SB_OK ||
        host->cfg_int(cfg, "queue_limit", 65536, 1, 16L * 1024 * 1024, &queue) != SB_OK)
        return SB_EINVAL;
    o->map_size = (size_t)map_mb * 1024 * 1024;
    o->max_inbox = (uint64_t)max_inbox;
    o->queue_limit = (size_t)queue;
    return SB_OK;
}

static int store_lmdb_register_gauges(const sb_host_api *host, sb_plugin_ctx *pc, store_lmdb_db *db)
{
    static const struct {
        const char *name, *help;
        double (*fn)(void *arg);
    } gauges[] = {
        {"store_lmdb_messages", "Messages stored (one per recipient)",
         store_lmdb_db_gauge_messages},
        {"store_lmdb_users", "Users with at least one stored message", store_lmdb_db_gauge_users},
        {"store_lmdb_map_used_bytes", "Live pages of the LMDB map, in bytes",
         store_lmdb_db_gauge_map_used},
        {"store_lmdb_map_size_bytes", "Size of the LMDB map, in bytes",
         store_lmdb_db_gauge_map_size},
    };
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)
        if (host->gauge_fn(pc, gauges[i].name, gauges[i].help, gauges[i].fn, db) != SB_OK) {
            host->log(pc, SB_LOG_ERROR, "cannot register gauge %s", gauges[i].name);
            return SB_ENOMEM;
        }
    return SB_OK;
}

static void store_lmdb_fini(void *userdata)
{
    store_lmdb_db *db = userdata;
    if (!db)
        return;
    store_lmdb_writer_stop(db); /* commits what is queued: shutdown flushes */
    db->host->log(db->pc, SB_LOG_INFO, "%s: closed with %zu message(s)", db->opts.path,
                  (size_t)atomic_load(&db->n_msgs));
    store_lmdb_db_close(db);
}

static int store_lmdb_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                           void **userdata)
{
    store_lmdb_opts opts;
    memset(&opts, 0, sizeof opts);
    int rc = store_lmdb_read_cfg(host, pc, cfg, &opts);
    if (rc != SB_OK)
        return rc;
    store_lmdb_db *db;
    rc = store_lmdb_db_open(host, pc, &opts, &db); /* logs path and reason */
    if (rc != SB_OK)
        return rc;
    rc = store_lmdb_writer_start(db);
    if (rc != SB_OK) {
        store_lmdb_db_close(db);
        return rc;
    }
    const sb_store store = {
        SB_STORE_INIT,
        .put = store_lmdb_writer_put,
        .remove = store_lmdb_writer_remove,
        .page = store_lmdb_db_page,
        .ready = store_lmdb_db_ready,
        .history_put = store_lmdb_writer_history_put,
        .history_page = store_lmdb_history_page,
    };
    rc = host->register_store(pc, &store, db);
    if (rc != SB_OK)
        host->log(pc, SB_LOG_ERROR, "cannot fill the store slot: another store is enabled");
    if (rc == SB_OK)
        rc = store_lmdb_register_gauges(host, pc, db);
    if (rc != SB_OK) {
        store_lmdb_fini(db);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "%s: %zu message(s) for %zu user(s), map %zu MiB, max_inbox %llu",
              opts.path, (size_t)atomic_load(&db->n_msgs), (size_t)atomic_load(&db->n_users),
              db->map_pages * db->psize / (1024 * 1024), (unsigned long long)opts.max_inbox);
    *userdata = db;
    return SB_OK;
}

/* --check-config: the keys, and the data directory as far as it can be
 * seen without creating it or taking its lock (a running server holds it). */
static int store_lmdb_check(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg)
{
    store_lmdb_opts opts;
    memset(&opts, 0, sizeof opts);
    int rc = store_lmdb_read_cfg(host, pc, cfg, &opts);
    if (rc != SB_OK)
        return rc;
    struct stat st;
    if (stat(opts.path, &st) != 0) {
        if (errno == ENOENT)
            return SB_OK; /* init creates it */
        host->log(pc, SB_LOG_ERROR, "%s: %s", opts.path, strerror(errno));
        return SB_EINVAL;
    }
    if (!S_ISDIR(st.st_mode)) {
        host->log(pc, SB_LOG_ERROR, "%s: not a directory", opts.path);
        return SB_EINVAL;
    }
    if (access(opts.path, W_OK) != 0) {
        host->log(pc, SB_LOG_ERROR, "%s: not writable by this user: %s", opts.path,
                  strerror(errno));
        return SB_EINVAL;
    }
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,          .name = "store_lmdb",    .version = STORE_LMDB_VERSION,
    .init = store_lmdb_init, .fini = store_lmdb_fini, .check = store_lmdb_check,
};

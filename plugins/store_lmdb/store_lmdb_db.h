/* store_lmdb state shared by its files: the environment and its two
 * databases (store_lmdb_db.c: open, close, reads, stats) and the writer's
 * queue (store_lmdb_writer.c: every write, on one thread). */
#ifndef STORE_LMDB_DB_H
#define STORE_LMDB_DB_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/plugin.h"

/* Writes are refused once the live pages reach this share of the map, so a
 * `read` (a delete, which needs fresh pages for copy-on-write) always fits. */
#define STORE_LMDB_HIGH_WATER_PCT 90
/* The writer queue's byte bound, beside the configured op count bound. */
#define STORE_LMDB_QUEUE_BYTES (64u * 1024 * 1024)

/* The layout version written in meta; another value refuses to open. */
#define STORE_LMDB_FORMAT "1"

typedef struct store_lmdb_opts {
    char path[PATH_MAX]; /* the data directory, resolved */
    size_t map_size;     /* bytes */
    uint64_t max_inbox;  /* messages per user */
    size_t queue_limit;  /* writes waiting for the writer */
} store_lmdb_opts;

typedef struct store_lmdb_op store_lmdb_op;

typedef struct store_lmdb_db {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    store_lmdb_opts opts;

    int lock_fd; /* flock'ed: one server per directory */
    MDB_env *env;
    MDB_dbi msgs;    /* user\0id -> message json */
    MDB_dbi counts;  /* user -> uint64 messages in the inbox, absent at 0 */
    MDB_dbi meta;    /* "format" -> STORE_LMDB_FORMAT; "ticks" -> uint64 */
    MDB_dbi history; /* room\0id -> publication json; room\0 -> uint64 count */
    MDB_txn *rtxn;   /* the loop thread's read handle, reset between uses */
    size_t psize, map_pages, high_water_pages;

    /* Written by the writer after each commit, read by gauges and ready(). */
    _Atomic size_t n_msgs, n_users, used_pages;
    atomic_int over_high_water;
    atomic_int writer_failed; /* the last commit failed (not for map full) */
    atomic_int map_full;      /* MDB_MAP_FULL until a put is stored again */

    /* The writer: pending ops wait for the next batch; done ops wait for the
     * loop thread (wakeup). mu guards both lists and the counters. */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    store_lmdb_op *pending, **pending_tail;
    size_t n_pending, pending_bytes;
    store_lmdb_op *done, **done_tail;
    int stopping;
    sb_wakeup *wakeup;
    int queue_full_logged;    /* loop thread */
    int commit_failed_logged; /* writer thread */
} store_lmdb_db;

/* Create the directory, take its lock, open the environment and databases;
 * a failure is logged with the path and the reason.
 * -> SB_OK | SB_EUNAVAILABLE | SB_ENOMEM */
int store_lmdb_db_open(const sb_host_api *host, sb_plugin_ctx *pc, const store_lmdb_opts *opts,
                       store_lmdb_db **out);
/* Close the environment and release the lock. The writer must be stopped. */
void store_lmdb_db_close(store_lmdb_db *db);

/* Totals as seen by one transaction. used_pages counts the live pages: both
 * trees plus the meta and main pages (free pages are reusable room). */
typedef struct store_lmdb_stats {
    size_t msgs, users, used_pages;
} store_lmdb_stats;

/* Read txn's totals. -> 0 or an LMDB error */
int store_lmdb_db_stats(store_lmdb_db *db, MDB_txn *txn, store_lmdb_stats *out);
/* Publish committed totals for the gauges and ready(); logs each crossing of
 * the high-water mark. [writer thread, or the loop thread before it starts] */
void store_lmdb_db_publish(store_lmdb_db *db, const store_lmdb_stats *st);

/* sb_store.page and sb_store.ready (ud is the db). [loop thread] */
int store_lmdb_db_page(void *ud, const char *user, const char *after, size_t limit,
                       sb_store_page_fn done, void *arg);
int store_lmdb_db_ready(void *ud, const char **why);

/* Gauge readers (arg is the db). [any thread] */
double store_lmdb_db_gauge_messages(void *arg);
double store_lmdb_db_gauge_users(void *arg);
double store_lmdb_db_gauge_map_used(void *arg);
double store_lmdb_db_gauge_map_size(void *arg);

#endif

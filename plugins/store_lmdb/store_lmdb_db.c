/* store_lmdb database: the data directory and its lock, the LMDB environment
 * with its databases (msgs, counts, meta, history), the loop thread's page reads in short
 * read transactions, and the totals behind the gauges. Writes are not here:
 * they all go through the writer thread (store_lmdb_writer.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_lmdb_db.h"
#include "store_lmdb_key.h"

/* The two meta pages, the main tree's root (it names our databases), the
 * meta database's root, and a page of slack for the free-page tree, which
 * mdb_stat cannot see. */
#define STORE_LMDB_FIXED_PAGES 5
/* Name of our lock file inside the data directory (LMDB's own lock.mdb
 * allows several processes, which is exactly what we must refuse). */
#define STORE_LMDB_LOCK_NAME "switchboard.lock"

/* mkdir -p: every missing component of path, then path must be a directory. */
static int store_lmdb_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(buf, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static size_t store_lmdb_tree_pages(const MDB_stat *st)
{
    return st->ms_branch_pages + st->ms_leaf_pages + st->ms_overflow_pages;
}

int store_lmdb_db_stats(store_lmdb_db *db, MDB_txn *txn, store_lmdb_stats *out)
{
    MDB_stat a, b, h;
    int rc = mdb_stat(txn, db->msgs, &a);
    if (rc == 0)
        rc = mdb_stat(txn, db->counts, &b);
    if (rc == 0)
        rc = mdb_stat(txn, db->history, &h);
    if (rc != 0)
        return rc;
    out->msgs = a.ms_entries;
    out->users = b.ms_entries;
    out->used_pages = STORE_LMDB_FIXED_PAGES + store_lmdb_tree_pages(&a) +
                      store_lmdb_tree_pages(&b) + store_lmdb_tree_pages(&h);
    return 0;
}

void store_lmdb_db_publish(store_lmdb_db *db, const store_lmdb_stats *st)
{
    size_t used = st->used_pages, pct = (used * 100 + db->map_pages / 2) / db->map_pages;
    atomic_store(&db->n_msgs, st->msgs);
    atomic_store(&db->n_users, st->users);
    atomic_store(&db->used_pages, used);
    int over = used >= db->high_water_pages;
    int was = atomic_exchange(&db->over_high_water, over);
    if (over && !was)
        db->host->log(db->pc, SB_LOG_WARN,
                      "%s: map %zu%% full (%zu of %zu pages): refusing new messages until "
                      "reads free space",
                      db->opts.path, pct, used, db->map_pages);
    else if (!over && was)
        db->host->log(db->pc, SB_LOG_INFO, "%s: map below the high-water mark again (%zu%% full)",
                      db->opts.path, pct);
}

/* Take the directory's lock file; a held lock means another server. */
static int store_lmdb_lock(store_lmdb_db *db)
{
    char lock[PATH_MAX + sizeof STORE_LMDB_LOCK_NAME + 1];
    snprintf(lock, sizeof lock, "%s/%s", db->opts.path, STORE_LMDB_LOCK_NAME);
    db->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: cannot open the lock file %s: %s", db->opts.path,
                      lock, strerror(errno));
        return -1;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            db->host->log(db->pc, SB_LOG_ERROR,
                          "%s: data directory in use by another server (%s is locked)",
                          db->opts.path, lock);
        else
            db->host->log(db->pc, SB_LOG_ERROR, "%s: cannot lock %s: %s", db->opts.path, lock,
                          strerror(errno));
        return -1;
    }
    return 0;
}

/* Check meta's format, writing it into a new database; a database written
 * by another layout is refused rather than misread. -> 0, MDB_INCOMPATIBLE, or
 * an LMDB error */
static int store_lmdb_check_format(store_lmdb_db *db, MDB_txn *txn)
{
    MDB_val k = {.mv_size = 6, .mv_data = "format"}, v;
    int rc = mdb_get(txn, db->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v = (MDB_val){.mv_size = strlen(STORE_LMDB_FORMAT), .mv_data = STORE_LMDB_FORMAT};
        return mdb_put(txn, db->meta, &k, &v, 0);
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != strlen(STORE_LMDB_FORMAT) ||
        memcmp(v.mv_data, STORE_LMDB_FORMAT, v.mv_size) != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: data format %.*s, this server reads %s",
                      db->opts.path, (int)(v.mv_size > 16 ? 16 : v.mv_size),
                      (const char *)v.mv_data, STORE_LMDB_FORMAT);
        return MDB_INCOMPATIBLE;
    }
    return 0;
}

/* Open (or create) the databases in one write transaction, and take the
 * first totals from it. */
static int store_lmdb_open_dbis(store_lmdb_db *db)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &db->msgs);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "counts", MDB_CREATE, &db->counts);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &db->meta);
    if (rc == 0) /* since room history: an older directory gains it */
        rc = mdb_dbi_open(txn, "history", MDB_CREATE, &db->history);
    if (rc == 0)
        rc = store_lmdb_check_format(db, txn);
    store_lmdb_stats st;
    if (rc == 0)
        rc = store_lmdb_db_stats(db, txn, &st);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        if (rc == 0)
            store_lmdb_db_publish(db, &st);
    } else if (txn) {
        mdb_txn_abort(txn);
    }
    if (rc != 0)
        db->host->log(db->pc, SB_LOG_ERROR, "%s: incompatible or corrupt data: %s", db->opts.path,
                      mdb_strerror(rc));
    return rc;
}

static int store_lmdb_open_env(store_lmdb_db *db)
{
    const char *path = db->opts.path;
    int rc = mdb_env_create(&db->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(db->env, 4);
    if (rc == 0)
        rc = mdb_env_set_mapsize(db->env, db->opts.map_size);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: cannot set up LMDB: %s", path, mdb_strerror(rc));
        return rc;
    }
    /* MDB_NOTLS: read slots belong to transactions, so the loop thread can
     * keep one reset read handle. No MDB_NOSYNC: a commit is on disk. */
    rc = mdb_env_open(db->env, path, MDB_NOTLS, 0644);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: cannot open the data file: %s", path,
                      mdb_strerror(rc));
        return rc;
    }
    int dead = 0;
    rc = mdb_reader_check(db->env, &dead);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: reader check failed: %s", path, mdb_strerror(rc));
        return rc;
    }
    if (dead > 0)
        db->host->log(db->pc, SB_LOG_INFO, "%s: cleared %d stale reader slot(s)", path, dead);

    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(db->env, &info);
    mdb_env_stat(db->env, &st);
    db->psize = st.ms_psize;
    /* LMDB grows the map to the file's size when the file is larger. */
    db->map_pages = info.me_mapsize / st.ms_psize;
    db->high_water_pages = db->map_pages * STORE_LMDB_HIGH_WATER_PCT / 100;
    return store_lmdb_open_dbis(db);
}

int store_lmdb_db_open(const sb_host_api *host, sb_plugin_ctx *pc, const store_lmdb_opts *opts,
                       store_lmdb_db **out)
{
    store_lmdb_db *db = calloc(1, sizeof *db);
    if (!db)
        return SB_ENOMEM;
    db->host = host;
    db->pc = pc;
    db->opts = *opts;
    db->lock_fd = -1;
    db->pending_tail = &db->pending;
    db->done_tail = &db->done;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);

    if (store_lmdb_mkdirs(opts->path) != 0) {
        host->log(pc, SB_LOG_ERROR, "%s: cannot create the data directory: %s", opts->path,
                  strerror(errno));
        goto fail;
    }
    if (access(opts->path, W_OK | X_OK) != 0) {
        host->log(pc, SB_LOG_ERROR, "%s: data directory not writable: %s", opts->path,
                  strerror(errno));
        goto fail;
    }
    if (store_lmdb_lock(db) != 0 || store_lmdb_open_env(db) != 0)
        goto fail;
    *out = db;
    return SB_OK;
fail:
    store_lmdb_db_close(db);
    return SB_EUNAVAILABLE;
}

void store_lmdb_db_close(store_lmdb_db *db)
{
    if (!db)
        return;
    if (db->rtxn)
        mdb_txn_abort(db->rtxn);
    if (db->env)
        mdb_env_close(db->env);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* --- page: a short read transaction, completed on the next iteration --- */

typedef struct store_lmdb_page_req {
    sb_store_page_fn done;
    void *arg;
    int more;
    size_t n;
    sb_stored *msgs; /* n entries; ids and json follow in the same block */
} store_lmdb_page_req;

static void store_lmdb_page_complete(void *p)
{
    store_lmdb_page_req *req = p;
    req->done(req->arg, SB_OK, req->msgs, req->n, req->more);
    free(req);
}

static int store_lmdb_read_begin(store_lmdb_db *db)
{
    if (db->rtxn)
        return mdb_txn_renew(db->rtxn);
    return mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->rtxn);
}

/* Copy the n found entries (key and value pointers valid while the read
 * transaction lives) into one block the completion owns. */
static store_lmdb_page_req *store_lmdb_page_copy(const MDB_val *vals, size_t n, size_t ulen)
{
    size_t bytes = sizeof(store_lmdb_page_req) + n * sizeof(sb_stored);
    for (size_t i = 0; i < n; i++)
        bytes += SB_ID_LEN + 1 + vals[2 * i + 1].mv_size + 1;
    store_lmdb_page_req *req = malloc(bytes);
    if (!req)
        return NULL;
    req->n = n;
    req->msgs = (sb_stored *)(req + 1);
    char *p = (char *)(req->msgs + n);
    for (size_t i = 0; i < n; i++) {
        const MDB_val *k = &vals[2 * i], *v = &vals[2 * i + 1];
        memcpy(p, (const char *)k->mv_data + ulen + 1, SB_ID_LEN);
        p[SB_ID_LEN] = '\0';
        req->msgs[i].id = p;
        p += SB_ID_LEN + 1;
        memcpy(p, v->mv_data, v->mv_size);
        p[v->mv_size] = '\0';
        req->msgs[i].json = p;
        req->msgs[i].len = v->mv_size;
        p += v->mv_size + 1;
    }
    return req;
}

/* One cursor scan from user\0after: the keys of user, oldest first (ids
 * increase as strings), skipping after itself. One more step tells `more`. */
static int store_lmdb_page_scan(store_lmdb_db *db, const char *user, const char *after,
                                size_t limit, store_lmdb_page_req **out)
{
    char start[STORE_LMDB_KEY_MAX];
    size_t ulen = strlen(user);
    MDB_val key = {.mv_size = store_lmdb_key_start(user, after, start), .mv_data = start};
    MDB_val data;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(db->rtxn, db->msgs, &cur);
    if (rc != 0)
        return rc;
    size_t n = 0, cap = 0;
    MDB_val *vals = NULL;
    int more = 0;
    const char *id;
    rc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
    if (rc == 0 && after && store_lmdb_key_match(key.mv_data, key.mv_size, user, ulen, &id) &&
        strncmp(id, after, SB_ID_LEN) == 0 && strlen(after) == SB_ID_LEN)
        rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    while (rc == 0 && store_lmdb_key_match(key.mv_data, key.mv_size, user, ulen, &id)) {
        if (n == limit) {
            more = 1;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            MDB_val *nv = realloc(vals, ncap * 2 * sizeof *vals);
            if (!nv) {
                rc = ENOMEM;
                break;
            }
            vals = nv;
            cap = ncap;
        }
        vals[2 * n] = key;
        vals[2 * n + 1] = data;
        n++;
        rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND || rc == 0) {
        *out = store_lmdb_page_copy(vals, n, ulen);
        rc = *out ? 0 : ENOMEM;
        if (*out)
            (*out)->more = more;
    }
    mdb_cursor_close(cur);
    free(vals);
    return rc;
}

int store_lmdb_db_page(void *ud, const char *user, const char *after, size_t limit,
                       sb_store_page_fn done, void *arg)
{
    store_lmdb_db *db = ud;
    if (!done || limit == 0 || !store_lmdb_key_user_ok(user) ||
        (after && strnlen(after, SB_ID_LEN + 1) > SB_ID_LEN))
        return SB_EINVAL;
    int rc = store_lmdb_read_begin(db);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: read transaction: %s", db->opts.path,
                      mdb_strerror(rc));
        return SB_EUNAVAILABLE;
    }
    store_lmdb_page_req *req = NULL;
    rc = store_lmdb_page_scan(db, user, after, limit, &req);
    mdb_txn_reset(db->rtxn); /* never held across loop iterations */
    if (rc == ENOMEM)
        return SB_ENOMEM;
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: reading the inbox of %s: %s", db->opts.path, user,
                      mdb_strerror(rc));
        return SB_EUNAVAILABLE;
    }
    req->done = done;
    req->arg = arg;
    if (db->host->later(db->pc, store_lmdb_page_complete, req) != SB_OK) {
        free(req);
        return SB_ENOMEM;
    }
    return SB_OK;
}

int store_lmdb_db_ready(void *ud, const char **why)
{
    store_lmdb_db *db = ud;
    const char *reason = NULL;
    if (atomic_load(&db->writer_failed))
        reason = "store_lmdb: the last commit failed";
    else if (atomic_load(&db->over_high_water))
        reason = "store_lmdb: map over the high-water mark";
    else if (atomic_load(&db->map_full))
        reason = "store_lmdb: map full";
    if (reason && why)
        *why = reason;
    return reason == NULL;
}

/* --- gauges --- */

double store_lmdb_db_gauge_messages(void *arg)
{
    return (double)atomic_load(&((store_lmdb_db *)arg)->n_msgs);
}

double store_lmdb_db_gauge_users(void *arg)
{
    return (double)atomic_load(&((store_lmdb_db *)arg)->n_users);
}

double store_lmdb_db_gauge_map_used(void *arg)
{
    store_lmdb_db *db = arg;
    return (double)atomic_load(&db->used_pages) * (double)db->psize;
}

double store_lmdb_db_gauge_map_size(void *arg)
{
    store_lmdb_db *db = arg;
    return (double)db->map_pages * (double)db->psize;
}

/* store_lmdb writer: puts and removes queue here in arrival order; one thread
 * takes everything queued as a batch, applies it in one write transaction and
 * commits (fsync: no MDB_NOSYNC), while new ops queue for the next batch. So
 * at most one commit is in flight and a busy server gets large, cheap groups.
 * Finished batches go back to the loop thread, where every done callback runs. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "store_lmdb_history.h"
#include "store_lmdb_key.h"
#include "store_lmdb_writer.h"

enum store_lmdb_op_kind {
    STORE_LMDB_OP_PUT = 1,
    STORE_LMDB_OP_REMOVE = 2,
    STORE_LMDB_OP_HISTORY = 3
};

/* One queued write, allocated in one block with its strings. The writer
 * thread owns status and the results between dequeue and completion. */
struct store_lmdb_op {
    store_lmdb_op *next;
    int kind;
    int status;
    void *arg;
    sb_store_done_fn put_done;
    sb_store_removed_fn removed_done;
    size_t bytes; /* counted against STORE_LMDB_QUEUE_BYTES */
    /* put: json stored under id for each of users */
    const char **users;
    size_t n_users;
    char id[SB_ID_LEN + 1];
    const char *json;
    size_t len;
    /* history: json under id in room's history (room in user), trimmed */
    size_t keep;
    char expire_before[SB_ID_LEN + 1]; /* "": no expiry */
    /* remove: ids from user's inbox; removed[] holds what was there */
    const char *user;
    char (*ids)[SB_ID_LEN + 1];
    size_t n_ids;
    sb_stored *removed; /* n_ids slots; each json malloc'ed */
    size_t n_removed;
};

/* --- applying a batch (writer thread) --- */

static void store_lmdb_op_clear_results(store_lmdb_op *op)
{
    for (size_t i = 0; i < op->n_removed; i++)
        free((char *)op->removed[i].json);
    op->n_removed = 0;
    op->status = SB_OK;
}

static int store_lmdb_count_get(store_lmdb_db *db, MDB_txn *txn, const char *user, uint64_t *out)
{
    MDB_val k = {.mv_size = strlen(user), .mv_data = (void *)user}, v;
    int rc = mdb_get(txn, db->counts, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *out)
        return MDB_CORRUPTED;
    memcpy(out, v.mv_data, sizeof *out);
    return 0;
}

/* Write user's count; 0 deletes the entry, so counts holds one entry per
 * user with messages (the users gauge). */
static int store_lmdb_count_set(store_lmdb_db *db, MDB_txn *txn, const char *user, uint64_t n)
{
    MDB_val k = {.mv_size = strlen(user), .mv_data = (void *)user};
    if (n == 0) {
        int rc = mdb_del(txn, db->counts, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    MDB_val v = {.mv_size = sizeof n, .mv_data = &n};
    return mdb_put(txn, db->counts, &k, &v, 0);
}

/* A put is all or nothing: every check comes before the first write, and a
 * write error aborts the whole transaction. -> 0 or an LMDB error */
static int store_lmdb_apply_put(store_lmdb_db *db, MDB_txn *txn, store_lmdb_op *op)
{
    store_lmdb_stats st;
    int rc = store_lmdb_db_stats(db, txn, &st);
    if (rc != 0)
        return rc;
    if (st.used_pages >= db->high_water_pages) {
        op->status = SB_EUNAVAILABLE;
        return 0;
    }
    uint64_t count;
    for (size_t i = 0; i < op->n_users; i++) {
        if ((rc = store_lmdb_count_get(db, txn, op->users[i], &count)) != 0)
            return rc;
        if (count >= db->opts.max_inbox) {
            op->status = SB_EINBOX_FULL;
            return 0;
        }
    }
    for (size_t i = 0; i < op->n_users; i++) {
        char kb[STORE_LMDB_KEY_MAX];
        MDB_val k = {.mv_size = store_lmdb_key_encode(op->users[i], op->id, kb), .mv_data = kb};
        MDB_val v = {.mv_size = op->len, .mv_data = (void *)op->json};
        rc = mdb_put(txn, db->msgs, &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) /* a repeated recipient, or a retried put */
            continue;
        if (rc == 0)
            rc = store_lmdb_count_get(db, txn, op->users[i], &count);
        if (rc == 0)
            rc = store_lmdb_count_set(db, txn, op->users[i], count + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A history put and its trim; refused over the high-water mark like a put. */
static int store_lmdb_apply_history(store_lmdb_db *db, MDB_txn *txn, store_lmdb_op *op)
{
    store_lmdb_stats st;
    int rc = store_lmdb_db_stats(db, txn, &st);
    if (rc != 0)
        return rc;
    if (st.used_pages >= db->high_water_pages) {
        op->status = SB_EUNAVAILABLE;
        return 0;
    }
    return store_lmdb_history_apply(db, txn, op->user, op->id, op->json, op->len, op->keep,
                                    op->expire_before[0] ? op->expire_before : NULL);
}

/* Remove each id that exists, keeping a copy of its json for the caller
 * (the read plugin needs `from` for receipts), then lower the user's count
 * once. -> 0 or an error */
static int store_lmdb_apply_remove(store_lmdb_db *db, MDB_txn *txn, store_lmdb_op *op)
{
    size_t before = op->n_removed;
    for (size_t i = 0; i < op->n_ids; i++) {
        char kb[STORE_LMDB_KEY_MAX];
        MDB_val k = {.mv_size = store_lmdb_key_encode(op->user, op->ids[i], kb), .mv_data = kb};
        MDB_val v;
        int rc = mdb_get(txn, db->msgs, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            return rc;
        char *json = malloc(v.mv_size + 1);
        if (!json)
            return ENOMEM;
        memcpy(json, v.mv_data, v.mv_size);
        json[v.mv_size] = '\0';
        op->removed[op->n_removed++] =
            (sb_stored){.id = op->ids[i], .json = json, .len = v.mv_size};
        if ((rc = mdb_del(txn, db->msgs, &k, NULL)) != 0)
            return rc;
    }
    uint64_t gone = op->n_removed - before, count;
    if (gone == 0)
        return 0;
    int rc = store_lmdb_count_get(db, txn, op->user, &count);
    if (rc == 0)
        rc = store_lmdb_count_set(db, txn, op->user, count > gone ? count - gone : 0);
    return rc;
}

/* Count one more commit in meta. LMDB reuses a page only two transactions
 * after the one that freed it, and an aborted transaction does not advance,
 * so after a map-full abort this write keeps the space freed by reads on its
 * way back to the allocator even when no read is queued. */
static int store_lmdb_tick(store_lmdb_db *db, MDB_txn *txn)
{
    MDB_val k = {.mv_size = 5, .mv_data = "ticks"}, v;
    uint64_t n = 0;
    int rc = mdb_get(txn, db->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof n)
        memcpy(&n, v.mv_data, sizeof n);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    n++;
    v = (MDB_val){.mv_size = sizeof n, .mv_data = &n};
    return mdb_put(txn, db->meta, &k, &v, 0);
}

/* Apply batch in one write transaction and commit it; without with_puts the
 * puts are refused (SB_EUNAVAILABLE) and a tick is written. -> 0, or an
 * error after which nothing of the batch was written (the transaction is gone
 * either way). */
static int store_lmdb_apply(store_lmdb_db *db, store_lmdb_op *batch, int with_puts)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (store_lmdb_op *op = batch; op && rc == 0; op = op->next) {
        store_lmdb_op_clear_results(op);
        if (op->kind == STORE_LMDB_OP_REMOVE)
            rc = store_lmdb_apply_remove(db, txn, op);
        else if (with_puts && op->kind == STORE_LMDB_OP_HISTORY)
            rc = store_lmdb_apply_history(db, txn, op);
        else if (with_puts)
            rc = store_lmdb_apply_put(db, txn, op);
        else
            op->status = SB_EUNAVAILABLE;
    }
    if (rc == 0 && !with_puts)
        rc = store_lmdb_tick(db, txn);
    store_lmdb_stats st;
    if (rc == 0)
        rc = store_lmdb_db_stats(db, txn, &st);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc == 0)
        store_lmdb_db_publish(db, &st);
    return rc;
}

/* Log a failed commit once per episode: map full is the operator's to fix
 * (map_size_mb, or readers catching up); anything else is the disk's. */
static void store_lmdb_log_failure(store_lmdb_db *db, int rc)
{
    if (rc == MDB_MAP_FULL) {
        if (!atomic_exchange(&db->map_full, 1))
            db->host->log(db->pc, SB_LOG_WARN,
                          "%s: map full (raise map_size_mb): new messages refused until "
                          "reads free space",
                          db->opts.path);
        return;
    }
    if (!db->commit_failed_logged)
        db->host->log(db->pc, SB_LOG_ERROR, "%s: commit failed: %s", db->opts.path,
                      rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
    db->commit_failed_logged = 1;
    atomic_store(&db->writer_failed, 1);
}

static void store_lmdb_commit_batch(store_lmdb_db *db, store_lmdb_op *batch)
{
    int has_puts = 0;
    for (store_lmdb_op *op = batch; op; op = op->next)
        has_puts |= op->kind != STORE_LMDB_OP_REMOVE;
    int rc = store_lmdb_apply(db, batch, 1);
    if (rc != 0) {
        /* Whatever failed, the removes get a second chance without the puts:
         * a full map must never stop a user from freeing space. */
        store_lmdb_log_failure(db, rc);
        if (has_puts) {
            rc = store_lmdb_apply(db, batch, 0);
            if (rc != 0)
                store_lmdb_log_failure(db, rc);
        }
        if (rc != 0) {
            for (store_lmdb_op *op = batch; op; op = op->next) {
                store_lmdb_op_clear_results(op);
                op->status = SB_EUNAVAILABLE;
            }
            return;
        }
    }
    if (atomic_exchange(&db->writer_failed, 0)) {
        db->host->log(db->pc, SB_LOG_INFO, "%s: commits succeed again", db->opts.path);
        db->commit_failed_logged = 0;
    }
    for (store_lmdb_op *op = batch; op && atomic_load(&db->map_full); op = op->next)
        if (op->kind != STORE_LMDB_OP_REMOVE && op->status == SB_OK) {
            db->host->log(db->pc, SB_LOG_INFO, "%s: storing messages again", db->opts.path);
            atomic_store(&db->map_full, 0);
        }
}

static void *store_lmdb_writer_main(void *arg)
{
    store_lmdb_db *db = arg;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        while (!db->pending && !db->stopping)
            pthread_cond_wait(&db->cv, &db->mu);
        if (!db->pending)
            break; /* stopping, and everything queued is committed */
        store_lmdb_op *batch = db->pending, **tail = db->pending_tail;
        db->pending = NULL;
        db->pending_tail = &db->pending;
        db->n_pending = 0;
        db->pending_bytes = 0;
        pthread_mutex_unlock(&db->mu);

        store_lmdb_commit_batch(db, batch);

        pthread_mutex_lock(&db->mu);
        *db->done_tail = batch;
        db->done_tail = tail;
        pthread_mutex_unlock(&db->mu);
        db->host->wakeup_signal(db->wakeup);
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* --- the loop thread's side --- */

static void store_lmdb_op_complete(store_lmdb_op *op)
{
    if (op->kind != STORE_LMDB_OP_REMOVE)
        op->put_done(op->arg, op->status);
    else if (op->status == SB_OK)
        op->removed_done(op->arg, SB_OK, op->removed, op->n_removed);
    else
        op->removed_done(op->arg, op->status, NULL, 0);
    store_lmdb_op_clear_results(op);
    free(op);
}

/* Run the done callbacks of every finished op, in commit order. The list is
 * detached first, so a callback may queue new writes. */
static void store_lmdb_writer_wakeup_cb(void *arg)
{
    store_lmdb_db *db = arg;
    pthread_mutex_lock(&db->mu);
    store_lmdb_op *op = db->done;
    db->done = NULL;
    db->done_tail = &db->done;
    pthread_mutex_unlock(&db->mu);
    while (op) {
        store_lmdb_op *next = op->next;
        store_lmdb_op_complete(op);
        op = next;
    }
}

static int store_lmdb_enqueue(store_lmdb_db *db, store_lmdb_op *op)
{
    pthread_mutex_lock(&db->mu);
    int full = db->n_pending > 0 && (db->n_pending >= db->opts.queue_limit ||
                                     db->pending_bytes + op->bytes > STORE_LMDB_QUEUE_BYTES);
    if (db->stopping || full) {
        pthread_mutex_unlock(&db->mu);
        if (full && !db->queue_full_logged)
            db->host->log(db->pc, SB_LOG_WARN,
                          "%s: write queue full (%zu waiting): refusing writes until the disk "
                          "catches up",
                          db->opts.path, db->opts.queue_limit);
        db->queue_full_logged |= full;
        return SB_EUNAVAILABLE;
    }
    *db->pending_tail = op;
    db->pending_tail = &op->next;
    db->n_pending++;
    db->pending_bytes += op->bytes;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    db->queue_full_logged = 0;
    return SB_OK;
}

int store_lmdb_writer_put(void *ud, const char *const *users, size_t n_users, const char *id,
                          const char *json, size_t len, sb_store_done_fn done, void *arg)
{
    store_lmdb_db *db = ud;
    if (!done || !users || n_users == 0 || !store_lmdb_key_id_ok(id) || !json || len == 0)
        return SB_EINVAL;
    size_t bytes = sizeof(store_lmdb_op) + n_users * sizeof(char *) + len + 1;
    for (size_t i = 0; i < n_users; i++) {
        if (!store_lmdb_key_user_ok(users[i]))
            return SB_EINVAL;
        bytes += strlen(users[i]) + 1;
    }
    /* Over the high-water mark: refuse now rather than queue a sure refusal. */
    if (atomic_load(&db->over_high_water))
        return SB_EUNAVAILABLE;
    store_lmdb_op *op = calloc(1, bytes);
    if (!op)
        return SB_ENOMEM;
    op->kind = STORE_LMDB_OP_PUT;
    op->put_done = done;
    op->arg = arg;
    op->bytes = bytes;
    op->users = (const char **)(op + 1);
    op->n_users = n_users;
    char *p = (char *)(op->users + n_users);
    for (size_t i = 0; i < n_users; i++) {
        size_t n = strlen(users[i]) + 1;
        memcpy(p, users[i], n);
        op->users[i] = p;
        p += n;
    }
    memcpy(op->id, id, SB_ID_LEN + 1);
    memcpy(p, json, len);
    p[len] = '\0';
    op->json = p;
    op->len = len;
    int rc = store_lmdb_enqueue(db, op);
    if (rc != SB_OK)
        free(op);
    return rc;
}

int store_lmdb_writer_history_put(void *ud, const char *room, const char *id, const char *json,
                                  size_t len, size_t keep, const char *expire_before,
                                  sb_store_done_fn done, void *arg)
{
    store_lmdb_db *db = ud;
    if (!done || !store_lmdb_history_room_ok(room) || !store_lmdb_key_id_ok(id) || !json ||
        len == 0 || (expire_before && strnlen(expire_before, SB_ID_LEN + 1) > SB_ID_LEN))
        return SB_EINVAL;
    if (atomic_load(&db->over_high_water))
        return SB_EUNAVAILABLE;
    size_t rlen = strlen(room) + 1;
    size_t bytes = sizeof(store_lmdb_op) + rlen + len + 1;
    store_lmdb_op *op = calloc(1, bytes);
    if (!op)
        return SB_ENOMEM;
    op->kind = STORE_LMDB_OP_HISTORY;
    op->put_done = done;
    op->arg = arg;
    op->bytes = bytes;
    op->keep = keep;
    if (expire_before)
        memcpy(op->expire_before, expire_before, strlen(expire_before) + 1);
    char *p = (char *)(op + 1);
    memcpy(p, room, rlen);
    op->user = p;
    p += rlen;
    memcpy(op->id, id, SB_ID_LEN + 1);
    memcpy(p, json, len);
    p[len] = '\0';
    op->json = p;
    op->len = len;
    int rc = store_lmdb_enqueue(db, op);
    if (rc != SB_OK)
        free(op);
    return rc;
}

int store_lmdb_writer_remove(void *ud, const char *user, const char *const *ids, size_t n_ids,
                             sb_store_removed_fn done, void *arg)
{
    store_lmdb_db *db = ud;
    if (!done || !store_lmdb_key_user_ok(user) || (n_ids > 0 && !ids))
        return SB_EINVAL;
    /* Ids of another width cannot be stored: unknown, so left out now. */
    size_t n_valid = 0;
    for (size_t i = 0; i < n_ids; i++)
        n_valid += store_lmdb_key_id_ok(ids[i]);
    size_t ulen = strlen(user) + 1;
    size_t bytes = sizeof(store_lmdb_op) + n_valid * (sizeof(sb_stored) + SB_ID_LEN + 1) + ulen;
    store_lmdb_op *op = calloc(1, bytes);
    if (!op)
        return SB_ENOMEM;
    op->kind = STORE_LMDB_OP_REMOVE;
    op->removed_done = done;
    op->arg = arg;
    op->bytes = bytes;
    op->removed = (sb_stored *)(op + 1);
    op->ids = (char(*)[SB_ID_LEN + 1])(op->removed + n_valid);
    for (size_t i = 0; i < n_ids; i++)
        if (store_lmdb_key_id_ok(ids[i]))
            memcpy(op->ids[op->n_ids++], ids[i], SB_ID_LEN + 1);
    char *u = (char *)(op->ids + n_valid);
    memcpy(u, user, ulen);
    op->user = u;
    int rc = store_lmdb_enqueue(db, op);
    if (rc != SB_OK)
        free(op);
    return rc;
}

/* --- start and stop --- */

int store_lmdb_writer_start(store_lmdb_db *db)
{
    db->wakeup = db->host->wakeup_new(db->pc, store_lmdb_writer_wakeup_cb, db);
    if (!db->wakeup) {
        db->host->log(db->pc, SB_LOG_ERROR, "cannot create the writer's wake-up");
        return SB_ENOMEM;
    }
    /* The writer takes no signals: they belong to the loop thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&db->thread, NULL, store_lmdb_writer_main, db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "cannot start the writer thread: %s", strerror(rc));
        db->host->wakeup_free(db->wakeup);
        db->wakeup = NULL;
        return SB_ENOMEM;
    }
    db->thread_started = 1;
    return SB_OK;
}

void store_lmdb_writer_stop(store_lmdb_db *db)
{
    if (db->thread_started) {
        pthread_mutex_lock(&db->mu);
        db->stopping = 1;
        pthread_cond_signal(&db->cv);
        pthread_mutex_unlock(&db->mu);
        pthread_join(db->thread, NULL);
        db->thread_started = 0;
    }
    if (db->wakeup) {
        /* The loop will not call us again: complete the last batches here. */
        store_lmdb_writer_wakeup_cb(db);
        db->host->wakeup_free(db->wakeup);
        db->wakeup = NULL;
    }
}

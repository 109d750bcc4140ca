/* store_lmdb room history. Keys are room\0id (ids sort in time order), so a
 * room's entries form one range that never runs into a longer name, and the
 * oldest is the first key after room\0, which holds the room's count: a trim
 * needs no scan. Writes run on the writer thread inside its group commit;
 * pages are short read transactions on the loop thread, like inbox pages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_lmdb_history.h"

int store_lmdb_history_room_ok(const char *room)
{
    if (!room)
        return 0;
    size_t n = strnlen(room, SB_ROOM_MAX + 1);
    return n >= 1 && n <= SB_ROOM_MAX;
}

/* room\0 followed by id[0..id_len): the count key when id_len is 0. */
static size_t history_key(const char *room, const char *id, size_t id_len,
                          char out[STORE_LMDB_HISTORY_KEY_MAX])
{
    size_t rlen = strlen(room);
    memcpy(out, room, rlen);
    out[rlen] = '\0';
    if (id_len) /* the count key has none (and id may be NULL) */
        memcpy(out + rlen + 1, id, id_len);
    return rlen + 1 + id_len;
}

/* Whether key is an entry of the room with rlen bytes; *id then points at it. */
static int history_match(const MDB_val *key, const char *room, size_t rlen, const char **id)
{
    const char *k = key->mv_data;
    if (key->mv_size != rlen + 1 + SB_ID_LEN || k[rlen] != '\0' || memcmp(k, room, rlen) != 0)
        return 0;
    *id = k + rlen + 1;
    return 1;
}

static int history_count(store_lmdb_db *db, MDB_txn *txn, MDB_val *ck, uint64_t *out)
{
    MDB_val v;
    int rc = mdb_get(txn, db->history, ck, &v);
    *out = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *out)
        return MDB_CORRUPTED;
    memcpy(out, v.mv_data, sizeof *out);
    return 0;
}

int store_lmdb_history_apply(store_lmdb_db *db, MDB_txn *txn, const char *room, const char *id,
                             const char *json, size_t len, size_t keep, const char *expire_before)
{
    char kb[STORE_LMDB_HISTORY_KEY_MAX], cb[STORE_LMDB_HISTORY_KEY_MAX];
    size_t rlen = strlen(room);
    MDB_val ck = {.mv_size = history_key(room, NULL, 0, cb), .mv_data = cb};
    MDB_val k = {.mv_size = history_key(room, id, SB_ID_LEN, kb), .mv_data = kb};
    MDB_val v = {.mv_size = len, .mv_data = (void *)json};
    uint64_t count;
    int rc = history_count(db, txn, &ck, &count);
    if (rc != 0)
        return rc;
    rc = mdb_put(txn, db->history, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0)
        count++;
    else if (rc != MDB_KEYEXIST) /* a retried put keeps its copy */
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, db->history, &cur)) != 0)
        return rc;
    /* The oldest entry is the first key past the count key. */
    for (;;) {
        MDB_val key = ck, data;
        const char *eid;
        rc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
        if (rc == 0 && key.mv_size == ck.mv_size)
            rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
        if (rc == MDB_NOTFOUND || (rc == 0 && !history_match(&key, room, rlen, &eid))) {
            rc = 0;
            break;
        }
        if (rc != 0)
            break;
        int expired =
            expire_before && strncmp(eid, expire_before, strnlen(expire_before, SB_ID_LEN)) < 0;
        if (count <= keep && !expired)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        count = count ? count - 1 : 0;
    }
    mdb_cursor_close(cur);
    if (rc != 0)
        return rc;
    if (count == 0) {
        rc = mdb_del(txn, db->history, &ck, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    v = (MDB_val){.mv_size = sizeof count, .mv_data = &count};
    return mdb_put(txn, db->history, &ck, &v, 0);
}

/* --- pages (loop thread) --- */

typedef struct history_page_req {
    sb_history_page_fn done;
    void *arg;
    int more, reaches;
    size_t n;
    sb_stored *msgs; /* ids and json follow in the same block */
} history_page_req;

static void history_page_complete(void *p)
{
    history_page_req *req = p;
    req->done(req->arg, SB_OK, req->msgs, req->n, req->more, req->reaches);
    free(req);
}

/* Copy n (key, value) pairs, in vals order or reversed, into one block. */
static history_page_req *history_copy(const MDB_val *vals, size_t n, size_t rlen, int reverse)
{
    size_t bytes = sizeof(history_page_req) + n * sizeof(sb_stored);
    for (size_t i = 0; i < n; i++)
        bytes += SB_ID_LEN + 1 + vals[2 * i + 1].mv_size + 1;
    history_page_req *req = calloc(1, bytes);
    if (!req)
        return NULL;
    req->n = n;
    req->msgs = (sb_stored *)(req + 1);
    char *p = (char *)(req->msgs + n);
    for (size_t j = 0; j < n; j++) {
        size_t i = reverse ? n - 1 - j : j;
        const MDB_val *k = &vals[2 * i], *v = &vals[2 * i + 1];
        memcpy(p, (const char *)k->mv_data + rlen + 1, SB_ID_LEN);
        p[SB_ID_LEN] = '\0';
        req->msgs[j].id = p;
        p += SB_ID_LEN + 1;
        memcpy(p, v->mv_data, v->mv_size);
        p[v->mv_size] = '\0';
        req->msgs[j].json = p;
        req->msgs[j].len = v->mv_size;
        p += v->mv_size + 1;
    }
    return req;
}

/* Walk from the cursor's entry in direction op (MDB_NEXT or MDB_PREV),
 * keeping up to limit entries of room; `more` when one more exists. */
static int history_walk(MDB_cursor *cur, int rc, MDB_val key, MDB_val data, MDB_cursor_op op,
                        const char *room, size_t limit, MDB_val **vals, size_t *n, int *more)
{
    size_t rlen = strlen(room), cap = 0;
    const char *id;
    *n = 0;
    *more = 0;
    while (rc == 0) {
        if (key.mv_size == rlen + 1 && memcmp(key.mv_data, room, rlen) == 0 &&
            ((const char *)key.mv_data)[rlen] == '\0') {
            rc = mdb_cursor_get(cur, &key, &data, op); /* the count key */
            continue;
        }
        if (!history_match(&key, room, rlen, &id))
            break;
        if (*n == limit) {
            *more = 1;
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            MDB_val *nv = realloc(*vals, ncap * 2 * sizeof **vals);
            if (!nv)
                return ENOMEM;
            *vals = nv;
            cap = ncap;
        }
        (*vals)[2 * *n] = key;
        (*vals)[2 * *n + 1] = data;
        (*n)++;
        rc = mdb_cursor_get(cur, &key, &data, op);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int history_scan(store_lmdb_db *db, const char *room, const char *after, const char *before,
                        size_t limit, history_page_req **out)
{
    char kb[STORE_LMDB_HISTORY_KEY_MAX + 1];
    size_t rlen = strlen(room);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(db->rtxn, db->history, &cur);
    if (rc != 0)
        return rc;
    MDB_val key, data, *vals = NULL;
    size_t n = 0;
    int more = 0, reaches = 0;
    if (after) {
        key = (MDB_val){.mv_size = history_key(room, after, strlen(after), kb), .mv_data = kb};
        rc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
        const char *id;
        if (rc == 0 && history_match(&key, room, rlen, &id) && strlen(after) == SB_ID_LEN &&
            memcmp(id, after, SB_ID_LEN) == 0) {
            reaches = 1;
            rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
        }
        rc = history_walk(cur, rc, key, data, MDB_NEXT, room, limit, &vals, &n, &more);
    } else {
        /* The last key before room\0before, or before room\1 (past every
         * entry of the room) when before is NULL. */
        if (before) {
            key =
                (MDB_val){.mv_size = history_key(room, before, strlen(before), kb), .mv_data = kb};
        } else {
            memcpy(kb, room, rlen);
            kb[rlen] = '\1';
            key = (MDB_val){.mv_size = rlen + 1, .mv_data = kb};
        }
        rc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
        if (rc == 0)
            rc = mdb_cursor_get(cur, &key, &data, MDB_PREV);
        else if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &key, &data, MDB_LAST);
        rc = history_walk(cur, rc, key, data, MDB_PREV, room, limit, &vals, &n, &more);
    }
    if (rc == 0) {
        *out = history_copy(vals, n, rlen, after == NULL);
        if (!*out)
            rc = ENOMEM;
        else {
            (*out)->more = more;
            (*out)->reaches = reaches;
        }
    }
    mdb_cursor_close(cur);
    free(vals);
    return rc;
}

int store_lmdb_history_page(void *ud, const char *room, const char *after, const char *before,
                            size_t limit, sb_history_page_fn done, void *arg)
{
    store_lmdb_db *db = ud;
    if (!done || limit == 0 || !store_lmdb_history_room_ok(room) ||
        (after && strnlen(after, SB_ID_LEN + 1) > SB_ID_LEN) ||
        (before && strnlen(before, SB_ID_LEN + 1) > SB_ID_LEN))
        return SB_EINVAL;
    int rc =
        db->rtxn ? mdb_txn_renew(db->rtxn) : mdb_txn_begin(db->env, NULL, MDB_RDONLY, &db->rtxn);
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: read transaction: %s", db->opts.path,
                      mdb_strerror(rc));
        return SB_EUNAVAILABLE;
    }
    history_page_req *req = NULL;
    rc = history_scan(db, room, after, before, limit, &req);
    mdb_txn_reset(db->rtxn); /* never held across loop iterations */
    if (rc == ENOMEM)
        return SB_ENOMEM;
    if (rc != 0) {
        db->host->log(db->pc, SB_LOG_ERROR, "%s: reading the history of %s: %s", db->opts.path,
                      room, mdb_strerror(rc));
        return SB_EUNAVAILABLE;
    }
    req->done = done;
    req->arg = arg;
    if (db->host->later(db->pc, history_page_complete, req) != SB_OK) {
        free(req);
        return SB_ENOMEM;
    }
    return SB_OK;
}

/* store_lmdb writer: the one thread that writes (an LMDB write transaction
 * belongs to the thread that began it), fed by a bounded queue, committing in
 * pipelined groups and completing on the loop thread through a wake-up. */
#ifndef STORE_LMDB_WRITER_H
#define STORE_LMDB_WRITER_H

#include "store_lmdb_db.h"

/* Create the wake-up and start the thread. -> SB_OK | SB_ENOMEM (logged) */
int store_lmdb_writer_start(store_lmdb_db *db);
/* Commit everything queued, join the thread, run the last completions (on
 * the calling loop thread), free the wake-up. Safe when never started. */
void store_lmdb_writer_stop(store_lmdb_db *db);

/* sb_store.put and sb_store.remove (ud is the db). [loop thread] */
int store_lmdb_writer_put(void *ud, const char *const *users, size_t n_users, const char *id,
                          const char *json, size_t len, sb_store_done_fn done, void *arg);
/* sb_store.history_put (ud is the db): one write op, trimmed in its commit. [loop thread] */
int store_lmdb_writer_history_put(void *ud, const char *room, const char *id, const char *json,
                                  size_t len, size_t keep, const char *expire_before,
                                  sb_store_done_fn done, void *arg);
int store_lmdb_writer_remove(void *ud, const char *user, const char *const *ids, size_t n_ids,
                             sb_store_removed_fn done, void *arg);

#endif

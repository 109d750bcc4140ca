/* store_lmdb room history: the `history` database, keyed room\0id -> the
 * publication's json, plus room\0 -> uint64 entries held (absent at 0). The
 * writer applies puts with their trim; the loop thread reads pages. */
#ifndef STORE_LMDB_HISTORY_H
#define STORE_LMDB_HISTORY_H

#include "store_lmdb_db.h"

/* The longest history key: a room, the 0 byte, an id. */
#define STORE_LMDB_HISTORY_KEY_MAX (SB_ROOM_MAX + 1 + SB_ID_LEN)

/* Whether room is 1..SB_ROOM_MAX bytes. */
int store_lmdb_history_room_ok(const char *room);

/* Store json under room\0id, then drop the room's oldest entries past keep
 * and those whose id sorts before expire_before (NULL: none), in txn.
 * -> 0 or an LMDB error [writer thread] */
int store_lmdb_history_apply(store_lmdb_db *db, MDB_txn *txn, const char *room, const char *id,
                             const char *json, size_t len, size_t keep, const char *expire_before);

/* sb_store.history_page (ud is the db). [loop thread] */
int store_lmdb_history_page(void *ud, const char *room, const char *after, const char *before,
                            size_t limit, sb_history_page_fn done, void *arg);

#endif

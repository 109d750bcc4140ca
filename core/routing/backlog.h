/* Delivery of a user's stored messages to a new connection, oldest first,
 * before any new traffic: pages are read from the store while the
 * connection's output drains; events meanwhile wait in the held queue, and
 * direct messages that arrive are picked up by a further page. */
#ifndef SB_BACKLOG_H
#define SB_BACKLOG_H

#include "conn.h"

void sb_backlog_start(sb_conn *c);
void sb_backlog_mark_dirty(sb_conn *c);
void sb_backlog_on_drained(sb_conn *c);
/* Whether the backlog sent id to c lately (its last SB_BACKLOG_SEEN messages,
 * until a grace period after it ended): a live copy of it is a duplicate. */
int sb_backlog_sent(sb_conn *c, const char *id);
void sb_backlog_free(sb_conn *c);
/* The id of the last stored message the backlog sent c (borrowed, until the
 * next page), or NULL before the first. */
const char *sb_backlog_after(const sb_conn *c);
/* Whether f is a native `publish` event whose id the backlog or a release
 * sent to c lately (see sb_backlog_sent): a live copy to drop. */
int sb_backlog_replayed(sb_conn *c, const sb_frame *f);
/* A plugin's hold (host->conn_hold): events to c wait in the held queue
 * until the matching release. -> SB_OK | SB_EINVAL (too many) */
int sb_backlog_hold(sb_conn *c);
/* End one hold: msgs go out as `type` events ahead of the held ones, held
 * native events carrying one of their ids are dropped, and the held queue
 * follows once no hold and no backlog remain.
 * -> SB_OK | SB_EINVAL (not held) | SB_ECLOSED | SB_ENOMEM (closed 1011) */
int sb_backlog_release(sb_conn *c, const char *type, const sb_stored *msgs, size_t n);

#endif

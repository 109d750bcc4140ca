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

#endif

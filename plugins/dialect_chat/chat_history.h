/* Recent history on join for the chat dialect: a chat client that joins a
 * room first sees its last publications ([dialect_chat] history), as
 * `publish` events in the seed's shape, then live traffic. */
#ifndef SB_CHAT_HISTORY_H
#define SB_CHAT_HISTORY_H

#include <stdint.h>

#include "chat_codec.h"

/* Before the native `join` is submitted: hold conn_id's events, so nothing
 * live overtakes the recent publications. -> SB_OK | SB_ECLOSED */
int chat_history_hold(chat_codec *cc, uint64_t conn_id);

/* The join was answered (joined: the reply was `join`, else an error) or
 * never submitted: read room's newest publications when joined, then send
 * them ahead of the held events; else only end the hold. Never sends inside
 * the call. Failures are logged and end the hold. */
void chat_history_answered(chat_codec *cc, uint64_t conn_id, const char *room, int joined);

#endif

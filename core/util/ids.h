/* Message ids: 26 Crockford base32 characters (ULID layout): 48 bits of
 * milliseconds, 32 bits of node randomness fixed at start, 48 bits of
 * sequence. Strictly increasing as strings on one node, even if the clock
 * steps back; roughly time-ordered across nodes. */
#ifndef SB_IDS_H
#define SB_IDS_H

#include <stdint.h>

#include "switchboard/plugin.h"

/* Seed the node part (from libcrypto RAND_bytes). */
void sb_ids_init(void);
/* Write a new id (SB_ID_LEN chars + NUL) for now. */
void sb_id_new(char out[SB_ID_LEN + 1]);
/* The same with an explicit clock, for tests. */
void sb_id_new_at(int64_t now_ms, char out[SB_ID_LEN + 1]);
/* The first SB_ID_TIME_LEN characters of an id: its milliseconds. */
#define SB_ID_TIME_LEN 10
/* The time part of an id made at ms: it sorts before every id made at or
 * after ms, and after every id made before it. */
void sb_id_time_prefix(int64_t ms, char out[SB_ID_TIME_LEN + 1]);
/* Wall clock, epoch milliseconds. */
int64_t sb_now_ms(void);

#endif

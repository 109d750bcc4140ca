/* The delivered form of a broadcast and its ack. Pure logic (no host calls),
 * unit-tested on its own. */
#ifndef BROADCAST_STAMP_H
#define BROADCAST_STAMP_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Replace *data (an object; anything else counts as {}) with a new object: id,
 * from, ts, then *data's other members in their order, dropping every member
 * named id, from or ts. -> 0 | -1 on ENOMEM, *data untouched then */
int broadcast_stamp(cJSON **data, const char *id, const char *from, int64_t ts);

/* {id, ts}. NULL on ENOMEM. */
cJSON *broadcast_ack_new(const char *id, int64_t ts);

#endif

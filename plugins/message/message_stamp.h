/* The delivered form of a direct message: the server's id, from, to and ts
 * over the client's fields. Pure logic, unit-tested on its own. */
#ifndef MESSAGE_STAMP_H
#define MESSAGE_STAMP_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Replace *data (an object; anything else counts as {}) with a new object:
 * id, from, to (a copy), ts, then *data's other members in their order. Every
 * member named id, from, to or ts that *data had is dropped (case-sensitive).
 * -> 0 | -1 on ENOMEM, *data untouched then */
int message_stamp(cJSON **data, const char *id, const char *from, const cJSON *to, int64_t ts);

#endif

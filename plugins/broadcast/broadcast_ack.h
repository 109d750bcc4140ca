/* The ack of a broadcast. Pure logic (no host calls), unit-tested on its own;
 * the delivered form is the host's (host->stamp). */
#ifndef BROADCAST_ACK_H
#define BROADCAST_ACK_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* {id, ts}. NULL on ENOMEM. */
cJSON *broadcast_ack_new(const char *id, int64_t ts);

#endif

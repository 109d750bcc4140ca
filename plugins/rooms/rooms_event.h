/* What the rooms plugin reads and writes: the room argument, the presence
 * event, the join/leave replies and a publication's ack. Pure logic (no host
 * calls), unit-tested on its own. */
#ifndef ROOMS_EVENT_H
#define ROOMS_EVENT_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* data's `room` when it is a string that valid() accepts, else NULL. */
const char *rooms_arg(const cJSON *data, int (*valid)(const char *));

/* {room, user, event}. NULL on ENOMEM. */
cJSON *rooms_presence_new(const char *room, const char *user, const char *event);

/* {room, users}; users_take (an array, or NULL for []) is freed by the call.
 * NULL on ENOMEM. */
cJSON *rooms_join_reply_new(const char *room, cJSON *users_take);

/* {room}. NULL on ENOMEM. */
cJSON *rooms_leave_reply_new(const char *room);

/* {id, ts}: the ack of a publication. NULL on ENOMEM. */
cJSON *rooms_ack_new(const char *id, int64_t ts);

#endif

/* What the rooms plugin reads and writes: the room argument, the presence
 * event, the join/leave replies and a publication's ack. Pure logic (no host
 * calls), unit-tested on its own. */
#ifndef ROOMS_EVENT_H
#define ROOMS_EVENT_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <switchboard/plugin.h>

/* data's `room` when it is a string that valid() accepts, else NULL. */
const char *rooms_arg(const cJSON *data, int (*valid)(const char *));

/* How a join or leave is announced under [rooms] presence_limit: a room
 * with more users than the limit has no presence. The join that takes it
 * over the limit is still announced, flagged `presence: false` (the last
 * one), and the leave that brings it back to the limit, flagged
 * `presence: true` (presence resumes). */
enum rooms_announce {
    ROOMS_SILENT = 0, /* no event */
    ROOMS_ANNOUNCE,   /* {room, user, event} */
    ROOMS_PAUSE,      /* the same with presence: false */
    ROOMS_RESUME,     /* the same with presence: true */
};

/* The announce of a join (joined nonzero) or a leave after which the room
 * holds n_users users, under limit (0: no limit, always ROOMS_ANNOUNCE). */
int rooms_announce(long limit, int joined, size_t n_users);

/* Whether a room of n_users users is over limit (0: no limit): its join
 * replies list nobody, and its joins and leaves are not announced. */
int rooms_crowded(long limit, size_t n_users);

/* {room, user, event}, plus `presence` for ROOMS_PAUSE / ROOMS_RESUME.
 * NULL on ENOMEM. */
cJSON *rooms_presence_new(const char *room, const char *user, const char *event, int announce);

/* {room, users}; users_take (an array, or NULL for []) is freed by the call.
 * crowded: {room, users: [], presence: false} (users_take is not listed).
 * NULL on ENOMEM. */
cJSON *rooms_join_reply_new(const char *room, cJSON *users_take, int crowded);

/* {room}. NULL on ENOMEM. */
cJSON *rooms_leave_reply_new(const char *room);

/* {id, ts}: the ack of a publication. NULL on ENOMEM. */
cJSON *rooms_ack_new(const char *id, int64_t ts);

/* data's `key` as an id: *out NULL when absent (or null), else a string of
 * 1..SB_ID_LEN bytes. -> 0, or -1 when present but not such a string. */
int rooms_id_arg(const cJSON *data, const char *key, const char **out);

/* The id prefix of now_ms - ttl_ms into out: every id made before that time
 * sorts before it. -> out, or NULL when ttl_ms is 0 (no expiry). */
const char *rooms_history_cutoff(int64_t now_ms, int64_t ttl_ms, char out[11]);

/* {room, messages, more}: msgs parsed in order, leaving out ids before
 * cutoff (NULL: none; then more is 0, since older ones expired too) and text
 * that is not an object. NULL on ENOMEM. */
cJSON *rooms_history_reply_new(const char *room, const sb_stored *msgs, size_t n,
                               const char *cutoff, int more);

#endif

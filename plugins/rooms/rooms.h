/* The rooms plugin's state, shared by rooms.c (commands, presence) and
 * rooms_history.c (stored publications, recovery on join, `history`). */
#ifndef ROOMS_H
#define ROOMS_H

#include <switchboard/plugin.h>

#define ROOMS_REASON_MAX 256

/* [rooms] presence_limit's default: rooms of more users have no presence. */
#define ROOMS_PRESENCE_LIMIT 1000

typedef struct rooms_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    long history_size;   /* publications kept per room; 0: no history */
    long history_ttl;    /* seconds a publication is kept; 0: no limit */
    long presence_limit; /* users above which a room has no presence; 0: no limit */
} rooms_plugin;

/* Answer a `join` with `since` for a connection that is held (conn_hold)
 * and has just joined room: {room, users, recovered}, then the missed
 * publications, then the connection's held events (conn_release).
 * -> SB_OK | SB_ENOMEM (the hold is released then) */
int rooms_history_join(rooms_plugin *rp, const sb_cmd *cmd, const char *room, const char *since);

/* The `history` command. -> SB_OK | SB_ENOMEM */
int rooms_history_cmd(void *ud, const sb_cmd *cmd);

#endif

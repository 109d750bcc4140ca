/* The connection registry: connection -> user, user -> connections, room ->
 * member connections (and users, counted), and the list of authenticated
 * connections for broadcast. Routing (route.c) reads it; plugins reach it
 * through the host table. */
#ifndef SB_REGISTRY_H
#define SB_REGISTRY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "dict.h"

/* One allocation per online user (an idle connection's share of memory):
 * the name inline, and the first connection in place of an array, which
 * exists only once a second connection comes (cap > 1). The users map
 * borrows name as its key. */
struct sb_user {
    union {
        sb_conn *one;   /* cap <= 1 */
        sb_conn **many; /* cap > 1 */
    } c;
    uint32_t n, cap;
    char name[];
};

/* u's connections, u->n of them. */
static inline sb_conn **sb_user_conns(sb_user *u)
{
    return u->cap > 1 ? u->c.many : &u->c.one;
}

struct sb_room {
    char *name;
    sb_dict *conns; /* conn id -> sb_conn */
    sb_dict *users; /* user -> count of its connections in the room */
};

int sb_registry_init(void);
void sb_registry_free(void);
/* A WebSocket connection opened (counts toward max_connections). */
void sb_registry_ws_open(sb_conn *c);
/* The number of WebSocket connections from ip. */
long sb_registry_ip_count(const char *ip);
/* Authenticate c as user (see host->conn_set_user). -> SB_OK | SB_EINVAL | SB_ENOMEM */
int sb_registry_set_user(sb_conn *c, const char *user);
/* Run on_close hooks and take c out of everything; idempotent. */
void sb_registry_detach(sb_conn *c);

sb_user *sb_registry_user(const char *name);
sb_room *sb_registry_room(const char *name);
/* The first authenticated connection (then c->all_next). */
sb_conn *sb_registry_all(void);
size_t sb_registry_n_users(void);
size_t sb_registry_n_rooms(void);

int sb_registry_room_join(sb_conn *c, const char *room, int *user_was_in);
int sb_registry_room_leave(sb_conn *c, const char *room, int *user_still_in);
cJSON *sb_registry_users_json(void);
cJSON *sb_registry_room_users_json(const char *room);
cJSON *sb_registry_rooms_json(void);
/* A new array of names[0..n) sorted (in place), each once; NULL on ENOMEM. */
cJSON *sb_registry_names_json(const char **names, size_t n);
/* Close name's connections on this node but skip_conn (0: none) opened
 * before before_ms (<= 0: all), only those of endpoint only_ep (NULL: any);
 * returns how many. */
size_t sb_registry_close_user(const char *name, int code, const char *reason, int64_t before_ms,
                              uint64_t skip_conn, const sb_endpoint_entry *only_ep);
/* Ask the other nodes (a bus with membership) to do the same: SB_ROUTE_CLOSE. */
void sb_registry_close_elsewhere(const char *name, int code, const char *reason, int64_t before_ms);
cJSON *sb_registry_conn_rooms_json(const sb_conn *c);

#endif

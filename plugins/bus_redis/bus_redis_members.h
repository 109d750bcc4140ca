/* bus_redis_members: the deployment's membership in Redis, for `list`,
 * `members` and join replies across nodes. Each node keeps its own sets and
 * refreshes its entry in a sorted set of live nodes every second; a node
 * whose entry is older than node_ttl is dead, its sets ignored and then
 * deleted by any live node. */
#ifndef BUS_REDIS_MEMBERS_H
#define BUS_REDIS_MEMBERS_H

#include "store_redis_conn.h"

typedef struct bus_redis_members {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    store_redis_conn *conn; /* borrowed: the bus's command connection */
    char base[300];         /* <prefix>node:<node> */
    char nodes_key[80];     /* <prefix>nodes */
    char prefix[72];
    char node[160];
    long ttl_ms;
    sb_timer *heartbeat;
    int resync_due; /* an update failed (e.g. LOADING after a restart): rewrite all */
} bus_redis_members;

/* Start the heartbeat. -> SB_OK | SB_ENOMEM */
int bus_redis_members_start(bus_redis_members *m, const sb_host_api *host, sb_plugin_ctx *pc,
                            store_redis_conn *conn, const char *prefix, const char *node,
                            long ttl_ms);
void bus_redis_members_stop(bus_redis_members *m);
/* The connection came up: replace this node's sets with the registry's view. */
void bus_redis_members_resync(bus_redis_members *m);
/* sb_bus.membership. A change while Redis is down is dropped: resync covers it. */
void bus_redis_members_event(bus_redis_members *m, int event, const char *user, const char *room);
/* sb_bus.users. -> SB_OK | SB_EUNAVAILABLE | SB_ENOMEM */
int bus_redis_members_users(bus_redis_members *m, const char *room, sb_users_fn done, void *arg);

#endif

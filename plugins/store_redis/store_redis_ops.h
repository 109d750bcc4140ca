/* store_redis_ops: the store slot's operations as Lua scripts in Redis. */
#ifndef STORE_REDIS_OPS_H
#define STORE_REDIS_OPS_H

#include "store_redis_conn.h"

typedef struct store_redis {
    store_redis_conn conn;
    char prefix[64];
    long max_inbox;
} store_redis;

int store_redis_ops_put(void *ud, const char *const *users, size_t n_users, const char *id,
                        const char *json, size_t len, sb_store_done_fn done, void *arg);
int store_redis_ops_remove(void *ud, const char *user, const char *const *ids, size_t n_ids,
                           sb_store_removed_fn done, void *arg);
int store_redis_ops_page(void *ud, const char *user, const char *after, size_t limit,
                         sb_store_page_fn done, void *arg);
int store_redis_ops_history_put(void *ud, const char *room, const char *id, const char *json,
                                size_t len, size_t keep, const char *expire_before,
                                sb_store_done_fn done, void *arg);
int store_redis_ops_history_page(void *ud, const char *room, const char *after, const char *before,
                                 size_t limit, sb_history_page_fn done, void *arg);
int store_redis_ops_ready(void *ud, const char **why);

#endif

/* bus_redis_members: per-node sets in Redis plus a heartbeat.
 *   <prefix>nodes                 ZSET node -> expiry (Redis clock, ms)
 *   <prefix>node:<id>:users       SET of the users online on that node
 *   <prefix>node:<id>:room:<room> SET of the users in room on that node
 *   <prefix>node:<id>:rooms       SET of the rooms with a set (for cleanup)
 * Scripts read Redis's clock (TIME), so the nodes' clocks never matter. A
 * query is one EVAL: SUNION over the live nodes' sets. */
#include "bus_redis_members.h"

#include <stdio.h>
#include <stdlib.h>

#define MEMBERS_BATCH 512 /* names per SADD during a resync */

/* Drop dead nodes' sets (and, with ARGV[4] = "1", this node's own, for a
 * resync), then renew this node's entry. KEYS[1] nodes; ARGV: prefix, node,
 * ttl ms, purge-own. */
static const char heartbeat_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function purge(n)\n"
    "  local base = ARGV[1] .. 'node:' .. n\n"
    "  for _, r in ipairs(redis.call('SMEMBERS', base .. ':rooms')) do\n"
    "    redis.call('DEL', base .. ':room:' .. r)\n"
    "  end\n"
    "  redis.call('DEL', base .. ':rooms', base .. ':users')\n"
    "end\n"
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "for _, n in ipairs(dead) do\n"
    "  if n ~= ARGV[2] then purge(n); redis.call('ZREM', KEYS[1], n) end\n"
    "end\n"
    "if ARGV[4] == '1' then purge(ARGV[2]) end\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])\n"
    "return #dead\n";

/* The union of one set per live node. KEYS[1] nodes; ARGV: prefix, suffix. */
static const char users_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local keys = {}\n"
    "for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do\n"
    "  keys[#keys + 1] = ARGV[1] .. 'node:' .. n .. ':' .. ARGV[2]\n"
    "end\n"
    "if #keys == 0 then return {} end\n"
    "return redis.call('SUNION', unpack(keys))\n";

/* Forget the room in the node's room list once its set is empty.
 * KEYS[1] the room's set, KEYS[2] the node's rooms; ARGV: user, room. */
static const char leave_lua[] = "redis.call('SREM', KEYS[1], ARGV[1])\n"
                                "if redis.call('SCARD', KEYS[1]) == 0 then\n"
                                "  redis.call('SREM', KEYS[2], ARGV[2])\n"
                                "end\n";

static void members_done(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    bus_redis_members *m = priv;
    const redisReply *reply = r;
    /* A lost update would leave this node's sets wrong until the next
     * reconnect: the next heartbeat rewrites them instead. */
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        if (!m->resync_due)
            m->host->log(m->pc, SB_LOG_WARN, "membership update: %s; rewriting this node's sets",
                         reply->str);
        m->resync_due = 1;
    }
}

/* Send argv[0..argc) (NUL-terminated strings); failures are the reply's to log. */
static int members_cmd(bus_redis_members *m, int argc, const char **argv)
{
    return store_redis_conn_cmd(m->conn, members_done, m, argc, argv, NULL);
}

static void members_heartbeat_send(bus_redis_members *m, int purge_own)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", m->ttl_ms);
    const char *argv[] = {"EVAL",    heartbeat_lua, "1", m->nodes_key,
                          m->prefix, m->node,       ttl, purge_own ? "1" : "0"};
    if (m->conn->up)
        members_cmd(m, 8, argv);
}

static void members_heartbeat(void *arg)
{
    bus_redis_members *m = arg;
    if (m->resync_due && m->conn->up)
        bus_redis_members_resync(m);
    else
        members_heartbeat_send(m, 0);
}

static void members_room_key(const bus_redis_members *m, const char *room, char *out, size_t len)
{
    snprintf(out, len, "%s:room:%s", m->base, room);
}

/* SADD key names... in batches. */
static void members_sadd_all(bus_redis_members *m, const char *key, const cJSON *names)
{
    const char *argv[2 + MEMBERS_BATCH];
    int argc = 2;
    argv[0] = "SADD";
    argv[1] = key;
    const cJSON *e = names ? names->child : NULL;
    while (e) {
        if (cJSON_IsString(e)) {
            argv[argc++] = e->valuestring;
        }
        e = e->next;
        if (argc == 2 + MEMBERS_BATCH || (!e && argc > 2)) {
            members_cmd(m, argc, argv);
            argc = 2;
        }
    }
}

void bus_redis_members_resync(bus_redis_members *m)
{
    m->resync_due = 0;
    members_heartbeat_send(m, 1);
    char key[sizeof m->base + 16 + SB_ROOM_MAX];
    snprintf(key, sizeof key, "%s:users", m->base);
    cJSON *users = m->host->users_new(m->pc);
    members_sadd_all(m, key, users);
    cJSON_Delete(users);
    cJSON *rooms = m->host->rooms_new(m->pc);
    snprintf(key, sizeof key, "%s:rooms", m->base);
    members_sadd_all(m, key, rooms);
    const cJSON *r;
    cJSON_ArrayForEach(r, rooms)
    {
        if (!cJSON_IsString(r))
            continue;
        cJSON *in = m->host->room_users_new(m->pc, r->valuestring);
        members_room_key(m, r->valuestring, key, sizeof key);
        members_sadd_all(m, key, in);
        cJSON_Delete(in);
    }
    cJSON_Delete(rooms);
}

void bus_redis_members_event(bus_redis_members *m, int event, const char *user, const char *room)
{
    if (!m->conn->up)
        return;
    char key[sizeof m->base + 16 + SB_ROOM_MAX];
    char rooms_key[sizeof m->base + 8];
    snprintf(rooms_key, sizeof rooms_key, "%s:rooms", m->base);
    if (event == SB_MEMBER_ONLINE || event == SB_MEMBER_OFFLINE) {
        snprintf(key, sizeof key, "%s:users", m->base);
        const char *argv[] = {event == SB_MEMBER_ONLINE ? "SADD" : "SREM", key, user};
        members_cmd(m, 3, argv);
    } else if (room && event == SB_MEMBER_JOIN) {
        members_room_key(m, room, key, sizeof key);
        const char *add_user[] = {"SADD", key, user};
        const char *add_room[] = {"SADD", rooms_key, room};
        members_cmd(m, 3, add_user);
        members_cmd(m, 3, add_room);
    } else if (room && event == SB_MEMBER_LEAVE) {
        members_room_key(m, room, key, sizeof key);
        const char *argv[] = {"EVAL", leave_lua, "2", key, rooms_key, user, room};
        members_cmd(m, 7, argv);
    }
}

typedef struct members_query {
    sb_users_fn done;
    void *arg;
} members_query;

/* SUNION's answer, in its order: the host sorts when it merges. */
static void members_users_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    members_query *q = priv;
    const redisReply *reply = r;
    cJSON *users = cJSON_CreateArray();
    int status = users && reply && reply->type == REDIS_REPLY_ARRAY ? SB_OK : SB_EUNAVAILABLE;
    for (size_t i = 0; status == SB_OK && i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        cJSON *s = cJSON_CreateString(reply->element[i]->str);
        if (s)
            cJSON_AddItemToArray(users, s);
        else
            status = SB_EUNAVAILABLE;
    }
    if (status != SB_OK && users) {
        cJSON_Delete(users);
        users = cJSON_CreateArray();
    }
    q->done(q->arg, status, users);
    cJSON_Delete(users);
    free(q);
}

int bus_redis_members_users(bus_redis_members *m, const char *room, sb_users_fn done, void *arg)
{
    if (!m->conn->up)
        return SB_EUNAVAILABLE;
    char suffix[16 + SB_ROOM_MAX];
    if (room)
        snprintf(suffix, sizeof suffix, "room:%s", room);
    else
        snprintf(suffix, sizeof suffix, "users");
    members_query *q = malloc(sizeof *q);
    if (!q)
        return SB_ENOMEM;
    q->done = done;
    q->arg = arg;
    const char *argv[] = {"EVAL", users_lua, "1", m->nodes_key, m->prefix, suffix};
    int rc = store_redis_conn_cmd(m->conn, members_users_reply, q, 6, argv, NULL);
    if (rc != SB_OK)
        free(q);
    return rc;
}

int bus_redis_members_start(bus_redis_members *m, const sb_host_api *host, sb_plugin_ctx *pc,
                            store_redis_conn *conn, const char *prefix, const char *node,
                            long ttl_ms)
{
    m->host = host;
    m->pc = pc;
    m->conn = conn;
    m->ttl_ms = ttl_ms;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
    snprintf(m->node, sizeof m->node, "%s", node);
    snprintf(m->nodes_key, sizeof m->nodes_key, "%snodes", prefix);
    snprintf(m->base, sizeof m->base, "%snode:%s", prefix, node);
    double every = ttl_ms / 3000.0 < 1.0 ? ttl_ms / 3000.0 : 1.0;
    m->heartbeat = host->timer_new(pc, every, every, members_heartbeat, m);
    return m->heartbeat ? SB_OK : SB_ENOMEM;
}

void bus_redis_members_stop(bus_redis_members *m)
{
    if (m->host)
        m->host->timer_free(m->heartbeat);
    m->heartbeat = NULL;
}

/* sb-bench's layout of a run, free of sockets and threads so the unit tests can check it: the
 * --url parser, which connection sends, to whom, in which room and through which node, and how
 * many deliveries an acked message is owed. With several --url the clients are spread so that
 * every delivery the scenario measures crosses nodes where it can (see bench_node_of). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_parse_url(bench_url *u, const char *url)
{
    u->tls = strncmp(url, "wss://", 6) == 0;
    if (!u->tls && strncmp(url, "ws://", 5) != 0)
        return -1;
    const char *h = url + (u->tls ? 6 : 5);
    const char *colon = strchr(h, ':');
    const char *slash = strchr(h, '/');
    if (!slash)
        slash = h + strlen(h);
    const char *hend = colon && colon < slash ? colon : slash;
    if (hend == h || (size_t)(hend - h) >= sizeof(u->host))
        return -1;
    memcpy(u->host, h, (size_t)(hend - h));
    u->host[hend - h] = 0;
    u->port = u->tls ? 443 : 80;
    if (colon && colon < slash) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != slash || p <= 0 || p > 65535)
            return -1;
        u->port = (int)p;
    }
    snprintf(u->path, sizeof(u->path), "%s", *slash ? slash : "/");
    return 0;
}

uint32_t bench_room_of(const bench *b, uint32_t idx)
{
    return idx / b->cfg.room_size;
}

uint32_t bench_node_of(const bench *b, uint32_t idx)
{
    uint32_t n = b->cfg.nurls ? b->cfg.nurls : 1;
    /* the publisher of a room is its first member (offset 0): counting from the room's start
     * puts it on node 0 whatever the room size, and the members round-robin over the nodes */
    if (b->cfg.scenario == SC_FANOUT)
        return (idx % b->cfg.room_size) % n;
    return idx % n;
}

uint32_t bench_dest_of(const bench *b, uint32_t sender, uint64_t seq)
{
    if (b->cfg.scenario == SC_OFFLINE) {
        /* sender j's seq-th message is message j*L+seq of all, spread round the receivers */
        uint64_t j = sender - b->cfg.connections;
        return (uint32_t)((j * b->limit_per_sender + seq) % b->cfg.connections);
    }
    return sender ^ 1u; /* direct: pairs (0,1), (2,3), ... */
}

uint64_t bench_fanout_of(const bench *b, uint32_t sender)
{
    /* a sender is ready (it sends), so it is among the receivers counted and hears no echo */
    switch (b->cfg.scenario) {
    case SC_FANOUT:
        return b->room_receivers[bench_room_of(b, sender)] - 1;
    case SC_BROADCAST:
        return b->all_receivers - 1;
    case SC_RECOVER:
        return b->cfg.connections; /* every late member recovers it */
    default:
        return 1;
    }
}

int bench_counts_as_receiver(const bench *b, uint32_t idx)
{
    int64_t at = atomic_load_explicit(&b->conns[idx].ready_ns, memory_order_relaxed);
    return at > 0 && at <= atomic_load_explicit(&b->run_start_ns, memory_order_relaxed);
}

int bench_plan(bench *b)
{
    bench_cfg *cfg = &b->cfg;
    uint32_t n = cfg->connections;
    switch (cfg->scenario) {
    case SC_IDLE:
        cfg->senders = 0;
        break;
    case SC_DIRECT:
        if (cfg->senders > (n & ~1u))
            cfg->senders = n & ~1u;
        break;
    case SC_FANOUT:
    case SC_BROADCAST:
        if (cfg->senders > n)
            cfg->senders = n;
        break;
    case SC_OFFLINE:
        if (cfg->senders < 1)
            cfg->senders = 1;
        n += cfg->senders; /* the senders come after the offline users */
        b->limit_per_sender = (cfg->connections * cfg->messages + cfg->senders - 1) / cfg->senders;
        break;
    case SC_RECOVER:
        cfg->senders = 1;
        n += 1;                                  /* the publisher comes after the members */
        cfg->room_size = n;                      /* one room, r0 */
        b->limit_per_sender = cfg->messages + 1; /* the anchor, then the missed ones */
        break;
    }
    b->nconns = n;
    b->conns = calloc(n, sizeof(*b->conns));
    if (!b->conns)
        return -1;
    uint32_t rooms = (cfg->connections + cfg->room_size - 1) / cfg->room_size;
    for (uint32_t i = 0; i < n; i++) {
        bench_conn *c = &b->conns[i];
        c->idx = i;
        c->fd = -1;
        c->node = (uint8_t)bench_node_of(b, i);
        switch (cfg->scenario) {
        case SC_DIRECT: {
            /* even members of pairs first, then odd ones, so --senders N/2 is one way only */
            uint32_t rank = (i % 2) * (n / 2) + i / 2;
            c->sender = (i ^ 1u) < n && rank < cfg->senders;
            break;
        }
        case SC_FANOUT: {
            /* publisher j sits in room j % rooms, at offset j / rooms in it */
            uint32_t room = i / cfg->room_size, off = i % cfg->room_size;
            c->sender = off * rooms + room < cfg->senders;
            break;
        }
        case SC_BROADCAST:
            c->sender = i < cfg->senders;
            break;
        case SC_OFFLINE:
        case SC_RECOVER:
            c->sender = i >= cfg->connections;
            c->late = !c->sender;
            break;
        }
    }
    return 0;
}

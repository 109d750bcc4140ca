/* The process's runtime state, shared by every layer above the utilities:
 * the one libev loop, the config in force, every connection by id, the counts
 * the limits need, and calls deferred to the next loop iteration. The single
 * instance is sb_srv (one loop, one thread); host/server.c fills it at start. */
#ifndef SB_RUNTIME_H
#define SB_RUNTIME_H

#include <ev.h>
#include <stdint.h>

#include "config.h"
#include "dict.h"

typedef struct sb_later sb_later;

typedef struct sb_server {
    struct ev_loop *loop;
    sb_config *config;
    const sb_server_cfg *cfg;
    int listen_fd; /* -1: no plain listener (listen empty) */
    int tls_fd;    /* -1: no TLS listener */
    int spare_fd;  /* kept open so EMFILE can still be answered with 503 */
    ev_io accept_io, tls_accept_io;
    ev_timer accept_pause;
    ev_signal sig_term, sig_int, sig_hup;
    ev_timer shutdown_timer;
    ev_idle later_idle;       /* keeps the poll from blocking while calls wait */
    ev_prepare later_prepare; /* runs the deferred calls, every iteration */
    sb_later *later_head, *later_tail;
    sb_dict *conns;  /* id -> sb_conn, every connection */
    sb_dict *per_ip; /* ip -> count of WebSocket connections, when limited */
    uint64_t next_conn_id;
    long n_ws;   /* open WebSocket connections */
    long max_ws; /* effective max_connections after RLIMIT_NOFILE */
    int shutting_down;
    int port;     /* the bound port */
    int tls_port; /* the TLS listener's */
} sb_server;

extern sb_server sb_srv;

/* Call cb(arg) on the next loop iteration, never inside this call.
 * -> SB_OK | SB_ENOMEM */
int sb_server_later(void (*cb)(void *), void *arg);
/* Run deferred calls until none is left (before the plugins' fini, so
 * their owners free what they carry). */
void sb_server_drain_later(void);
/* Set up the deferred-call watcher (before the first sb_server_later) and
 * free what is still queued, unrun (at exit). */
void sb_server_later_init(void);
void sb_server_later_free(void);

#endif

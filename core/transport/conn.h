/* A client connection, from accept to close: the socket, its watchers, its
 * output queue, its timers, and its phase (HTTP, WebSocket, closing).
 * sb_conn_destroy is the single teardown path. */
#ifndef SB_CONN_H
#define SB_CONN_H

#include <arpa/inet.h>
#include <ev.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "frame.h"
#include "outq.h"
#include "ratelimit.h"
#include "switchboard/plugin.h"
#include "tls.h"

typedef struct sb_http_conn sb_http_conn;
typedef struct sb_user sb_user;
typedef struct sb_room sb_room;
typedef struct sb_endpoint_entry sb_endpoint_entry;

enum sb_conn_phase { SB_PHASE_HTTP = 0, SB_PHASE_WS = 1 };

typedef struct sb_conn sb_conn;

/* A WebSocket connection's reader while awake: the wslay context and ws.c's
 * own count of the bytes and frame headers given to it. Made on the first
 * readable event, freed whole when the connection hibernates (ws.c). */
typedef struct sb_ws_live {
    wslay_event_context_ptr ctx;
    uint64_t given, framed; /* bytes handed to wslay / bytes of complete frames */
    uint64_t frame_len;     /* size on the wire of the frame being read */
    size_t budget;          /* bytes this readable event may still read */
    uint64_t skip;          /* payload bytes of the peeked frame still to come */
    uint8_t hdr[14];        /* the frame header being peeked (ws_peek) */
    uint8_t hdr_len;
    uint8_t in_frame; /* a frame is partly read */
    uint8_t in_msg;   /* a fragmented message is open */
} sb_ws_live;

/* Bytes read with the handshake that are WebSocket data, in one allocation:
 * most connections never have any. */
typedef struct sb_conn_pre {
    size_t len, off; /* bytes / already given to the WebSocket reader */
    uint8_t bytes[];
} sb_conn_pre;

/* What a phase (HTTP before the upgrade, WebSocket after) does with its
 * connection; http.c and ws.c each give one, so this module calls neither. */
typedef struct sb_conn_phase_ops {
    int (*attach)(sb_conn *c);         /* set up the phase's state -> SB_OK | SB_ENOMEM */
    void (*release)(sb_conn *c);       /* free it (teardown, or a failed attach) */
    void (*on_readable)(sb_conn *c);   /* the socket is readable */
    void (*on_drained)(sb_conn *c);    /* the output queue emptied, not closing */
    ev_tstamp (*deadline)(sb_conn *c); /* drop the connection past it; NULL: the
                                        * WebSocket timers (ping, idle, auth) */
    int (*hibernate)(sb_conn *c);      /* free idle parser state: 1 done, 0 not now; may be NULL */
} sb_conn_phase_ops;

/* What the layers above do with a connection's events. Installed once at
 * start (host/core.c), so the transport calls up without knowing them; until
 * then every event is ignored. */
typedef struct sb_conn_events {
    void (*on_text)(sb_conn *c, const char *buf, size_t len); /* a text message (ws.c) */
    /* An HTTP request (http.c); upgrade: the parser saw an upgrade. */
    void (*on_request)(sb_conn *c, const sb_http_req *req, int upgrade);
    void (*on_ws_drained)(sb_conn *c); /* a WebSocket's output drained */
    void (*on_detach)(sb_conn *c);     /* closing: leave the registry (called again: no-op) */
    void (*on_free)(sb_conn *c);       /* teardown: free what the layers above keep */
} sb_conn_events;

/* Install the events table (kept, not copied); NULL restores the no-ops. */
void sb_conn_set_events(const sb_conn_events *events);
/* The installed table: never NULL. */
const sb_conn_events *sb_conn_events_get(void);

struct sb_conn {
    ev_io rio; /* first: watcher callbacks cast back */
    ev_io wio;
    ev_timer timer; /* header timeout, ping, idle, auth, close linger */
    int fd;
    /* Flags: one bit each (an idle connection's size is the server's memory). */
    unsigned phase : 1;         /* enum sb_conn_phase */
    unsigned closing : 1;       /* close frame queued: no output after it */
    unsigned dead : 1;          /* destroyed, waiting for the stack to unwind */
    unsigned in_backlog : 1;    /* stored messages still being sent */
    unsigned backlog_dirty : 1; /* a direct message arrived during a page read */
    unsigned backlog_busy : 1;  /* a page read is in flight */
    unsigned kill : 1;          /* closing without a linger: drop the TCP connection */
    unsigned detached : 1;      /* out of the registry, on_close hooks ran */
    unsigned tls_hs : 1;        /* the TLS handshake is not done yet */
    unsigned tls_wr_wait : 1;   /* a TLS write waits for the peer's bytes, not for room */
    unsigned tls_rd_wait : 1;   /* a TLS read waits for room to send, not for bytes */
    unsigned flush_queued : 1;  /* in the end-of-pass flush list (conn.c) */
    unsigned deflate : 1;       /* permessage-deflate negotiated (no context takeover) */
    unsigned counted_ip : 1;    /* counted in the registry's per-address limit */
    unsigned ws_eof : 1;
    unsigned ws_close_out : 1;   /* wslay queued a close frame */
    unsigned ws_too_big : 1;     /* a frame header declared more than max_message_bytes */
    unsigned ws_close_short : 1; /* the client's close frame had a 1-byte body */
    unsigned ip_v6 : 1;          /* addr is IPv6 (16 bytes), else IPv4 (4) */
    uint8_t busy;                /* inside callbacks that may destroy it (nesting depth) */
    uint16_t holds;              /* plugin holds (host->conn_hold): events wait in held */
    uint32_t n_rooms;            /* rooms joined (registry.c sizes c->rooms) */
    uint64_t id;
    int64_t since_ms;
    ev_tstamp last_rx;
    ev_tstamp next_ping;
    union {
        ev_tstamp linger_from; /* closing: when the linger began */
        ev_tstamp hib_retry;   /* open: no hibernation try before it */
    };
    uint8_t addr[16];            /* the client's address, binary: sb_conn_ip prints it */
    sb_tls *tls;                 /* the TLS session (TLS listener), NULL on a plain socket */
    sb_http_conn *http;          /* HTTP phase state, NULL after the upgrade */
    const sb_endpoint_entry *ep; /* the WebSocket endpoint (codec), set at the upgrade */
    sb_ws_live *ws;              /* the WebSocket reader, NULL while hibernating */
    sb_conn_pre *pre;            /* WebSocket data read with the handshake, or NULL */
    sb_outq out;
    sb_outq *held; /* events held behind the backlog or a plugin's hold, or NULL */
    struct sb_backlog_seen *backlog_seen; /* the backlog's cursor and ids sent lately, or NULL */
    char *user;
    sb_user *u;
    sb_room **rooms;
    sb_ratelimit rl;
    struct sb_conn *all_prev, *all_next; /* authenticated WebSocket connections */
    const sb_conn_phase_ops *ops;        /* the phase's: HTTP, then WebSocket */
    const sb_conn_phase_ops *ops_prev;   /* the phase before the upgrade, released at teardown */
};

/* A new connection on an accepted socket, in phase (attached); NULL on
 * ENOMEM (fd closed). */
sb_conn *sb_conn_new(int fd, const char *ip, const sb_conn_phase_ops *phase);
sb_conn *sb_conn_find(uint64_t id);
/* Set c's client address from text (IPv4 or IPv6).
 * -> SB_OK | SB_EINVAL (not an address: c unchanged) */
int sb_conn_set_ip(sb_conn *c, const char *ip);
/* c's client address as text, written to buf; returns buf. */
const char *sb_conn_ip(const sb_conn *c, char buf[INET6_ADDRSTRLEN]);
/* c's address family (AF_INET, AF_INET6) for sb_cidr_match with c->addr. */
static inline int sb_conn_family(const sb_conn *c)
{
    return c->ip_v6 ? AF_INET6 : AF_INET;
}
/* The loop is going away: stop the end-of-pass flush and free its list. */
void sb_conn_flush_end(void);

/* Speak TLS on c (just made by sb_conn_new): the handshake comes first,
 * under the phase's deadline. -> SB_OK | SB_ENOMEM (c destroyed) */
int sb_conn_start_tls(sb_conn *c);
/* The socket's bytes, plain or through TLS, with recv and writev's contract
 * (-1 and errno EAGAIN: wait for the socket; 0 from recv: the peer closed). */
ssize_t sb_conn_recv(sb_conn *c, void *buf, size_t len);
ssize_t sb_conn_writev(sb_conn *c, const struct iovec *iov, int n);
/* Queue frame (a reference is taken) and start writing. Events (not replies)
 * pass through the backlog hold. -> SB_OK | SB_ECLOSED | SB_ENOMEM */
int sb_conn_send(sb_conn *c, sb_frame *f);
int sb_conn_send_event(sb_conn *c, sb_frame *f);
/* Move the held events to the output queue (the backlog or the last hold
 * ended); the caller starts the write. -> SB_OK | SB_ENOMEM */
int sb_conn_release_held(sb_conn *c);
/* Queue a stored message of the backlog: paced by draining, never "slow". */
int sb_conn_send_backlog(sb_conn *c, sb_frame *f);
/* Close a WebSocket connection with code: the close frame is queued, reading
 * stops after the client's close or a short linger. */
void sb_conn_close(sb_conn *c, int code, const char *reason);
/* Free everything now (the single teardown path). */
void sb_conn_destroy(sb_conn *c);
/* Switch to the WebSocket phase (its ops) after the 101 answer was queued;
 * the HTTP phase lets go of its state when it is done with the request, or
 * at teardown. */
void sb_conn_upgraded(sb_conn *c, const sb_conn_phase_ops *phase);
/* Re-arm the timer for the connection's phase. */
void sb_conn_rearm(sb_conn *c);
/* Start the write watcher if output is pending. */
void sb_conn_want_write(sb_conn *c);

#endif

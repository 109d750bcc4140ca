/* sb-bench shared types: the run's parameters (bench_cfg), the state every worker thread
 * reads (bench), one worker per thread with its own libev loop (bench_worker), and one
 * client connection (bench_conn). A connection belongs to one worker for its whole life;
 * workers publish counters through relaxed atomics the main thread sums while it steers. */
#ifndef SB_BENCH_H
#define SB_BENCH_H

#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "bench_hist.h"
#include "bench_track.h"

/* SC_RECOVER: room history recovery. One publisher in a room publishes an anchor, then
 * `messages` more, each stored in the room's history ([rooms] history_size); then
 * `connections` members connect at once and join with since = the anchor's id, and the run
 * times how long until every member has recovered every publication. */
enum bench_scenario { SC_IDLE, SC_DIRECT, SC_FANOUT, SC_BROADCAST, SC_OFFLINE, SC_RECOVER };

/* The protocol the clients speak: native, or seed 003's chat dialect (broadcast only:
 * {"command":"broadcast","message":"t=.. c=.. s=.. p=.."}; the sender's own broadcast
 * event stands for the ack, since the chat protocol has none). */
enum bench_dialect { BD_NATIVE = 0, BD_MESSAGING = 1, BD_CHAT = 2 };

/* Phases the main thread moves through; workers read `phase` on every tick. */
enum bench_phase { PH_CONNECT, PH_RUN, PH_CONNECT_LATE, PH_DRAIN, PH_STOP };

/* Several --url: the nodes of one cluster, clients spread over them (bench_node_of). */
#define BENCH_MAX_NODES 8

typedef struct bench_url {
    char host[64];
    int port;
    char path[256];
    int tls; /* wss:// */
} bench_url;

typedef struct ssl_st bench_ssl;    /* OpenSSL's SSL (bench_tls.c) */
typedef struct bench_zip bench_zip; /* a worker's zlib streams (bench_zip.c) */

/* The protocol sb-bench's clients speak (--dialect). */

typedef struct bench_cfg {
    bench_url url[BENCH_MAX_NODES];
    uint32_t nurls;
    int scenario;
    int threads;
    uint32_t connections; /* receivers for offline; everyone else */
    uint32_t senders;
    double rate;     /* total msg/s, 0: closed loop with `window` */
    uint32_t window; /* outstanding unacked messages per sender */
    uint32_t size;   /* payload bytes */
    double duration, warmup, drain, ramp, connect_timeout;
    uint32_t room_size;
    uint64_t messages; /* offline: messages stored per offline user */
    uint32_t read_batch;
    uint32_t src_addrs;
    int server_pid[BENCH_MAX_NODES]; /* --server-pid, in the order given */
    int npids;
    int json;
    int quiet;
    int no_ping;    /* idle: ready at the 101, no `ping` command */
    int dialect;    /* enum bench_dialect */
    int deflate;    /* offer permessage-deflate, compress what we send */
    int text;       /* the payload is chat-like words, not one repeated byte */
    const char *ca; /* wss://: trust this CA file (NULL: verify nothing) */
    char prefix[32];
} bench_cfg;

/* Connect failures are counted by reason: an errno name or "HTTP <status>" or a word. */
#define BENCH_MAX_REASONS 32
typedef struct bench_reasons {
    char name[BENCH_MAX_REASONS][32];
    uint64_t count[BENCH_MAX_REASONS];
    int n;
} bench_reasons;

/* Per-worker counters; written by the worker only, read by main while running. */
typedef struct bench_counters {
    _Atomic uint64_t attempted, connected, ready, failed, closed;
    _Atomic uint64_t sent, acked, errors, delivered, expected, dups, other_frames;
    _Atomic uint64_t sent_window, delivered_window; /* within the measure window */
    _Atomic uint64_t reads_sent, receipts, presence;
    _Atomic uint64_t bytes_in, bytes_out, compressed; /* WebSocket bytes (inside TLS) */
} bench_counters;

struct bench_worker;

enum conn_state { CS_NEW, CS_CONNECTING, CS_TLS, CS_HANDSHAKE, CS_OPEN, CS_DONE };

typedef struct bench_conn {
    ev_io rio; /* first: callbacks cast back */
    ev_io wio;
    struct bench_worker *w;
    wslay_event_context_ptr ws;
    bench_ssl *ssl; /* wss:// */
    int fd;
    uint32_t idx;
    uint8_t state;
    uint8_t ready;            /* pong (and for rooms: the join reply) seen */
    _Atomic int64_t ready_ns; /* when it became ready (bench_now_ns), 0: not yet */
    uint8_t sender;           /* sends in the run phase */
    uint8_t late;             /* connects in PH_CONNECT_LATE (offline receivers) */
    uint8_t dirty;            /* output queued since the last flush */
    uint8_t failed;           /* counted in `failed` */
    uint8_t node;             /* index of the --url it connects to */
    uint8_t deflate;          /* the server accepted permessage-deflate */
    uint16_t close_code;
    double opened_at; /* ev_now of connect(), for the handshake timeout */
    /* handshake: the request first, then the response as it arrives */
    char *hs;
    size_t hs_len, hs_off;
    char accept[29];
    /* wslay's recv callback reads from here: the worker's read buffer or handshake leftovers */
    const uint8_t *in;
    size_t in_len;
    /* bytes wslay framed, not yet written */
    uint8_t *out;
    size_t out_len, out_cap;
    /* sending */
    uint64_t seq, outstanding, acked;
    bench_bits acked_bits;
    /* receiving */
    bench_inbox inbox;
    uint64_t got;  /* deliveries on this connection */
    char *readbuf; /* a pending `read` command being built */
    size_t read_len;
    uint32_t read_n;
    struct bench_conn *next_dirty;
} bench_conn;

typedef struct bench_worker {
    struct bench *b;
    int id;
    struct ev_loop *loop;
    pthread_t thread;
    ev_timer tick;
    ev_async wake;
    bench_conn **conns; /* this worker's connections, in index order */
    uint32_t nconns;
    uint32_t next_connect; /* ramp cursor into conns */
    uint32_t handshaking;
    double ramp_start;
    uint64_t ramp_done;
    /* sending */
    bench_conn **senders;
    uint32_t nsenders, rr;
    double rate;        /* this worker's share, msg/s */
    uint64_t scheduled; /* open loop: messages due so far */
    bench_hist hist;
    bench_reasons reasons;  /* connect failures */
    bench_reasons closes;   /* open connections that ended: "close <code>" or errno name */
    bench_reasons errcodes; /* error replies by code */
    bench_counters c;
    bench_conn *dirty; /* connections with output queued since the last flush */
    uint8_t *rbuf;     /* BENCH_RBUF_SIZE bytes: every read of this worker lands here */
    bench_zip *zip;    /* --deflate: this worker's streams */
    char *sbuf;        /* the outgoing message being built */
    size_t sbuf_cap;
    uint64_t rng;
    int last_phase;
    uint64_t ticks;
} bench_worker;

#define BENCH_RBUF_SIZE (64 * 1024)

typedef struct bench {
    bench_cfg cfg;
    _Atomic int phase;
    /* monotonic ns since `epoch`: when sending started, and the measure window */
    _Atomic int64_t run_start_ns, window_start_ns, window_end_ns;
    uint64_t limit_per_sender; /* offline: messages each sender sends, 0: no limit */
    struct timespec epoch;
    struct sockaddr_in dst[BENCH_MAX_NODES]; /* one per --url */
    bench_conn *conns;
    uint32_t nconns;
    /* rooms and broadcast: receivers ready when sending started, the only ones expected to
     * get every publication (a later joiner misses earlier ones by design) */
    uint64_t *room_receivers;
    uint64_t all_receivers;
    bench_worker *workers;
    char *payload; /* `size` bytes every message carries (--text: words, else 'x') */
    /* recover: the id of the publisher's first publication (ref 0), the late members' since;
     * written by the publisher's worker before its ack counts, read after all_acked */
    char since[32];
} bench;

/* Monotonic nanoseconds since b->epoch: the `t` every message carries. */
int64_t bench_now_ns(const bench *b);

/* --- bench_plan.c: the run's layout, pure (unit-tested) --- */
/* Parse ws://host[:port][/path] into u. -> 0 | -1 malformed */
int bench_parse_url(bench_url *u, const char *url);
/* Decide, for every connection, its node, whether it sends and when it connects; clamps
 * cfg->senders to what the scenario allows. -> 0 | -1 out of memory */
int bench_plan(bench *b);
/* The node (index of --url) connection idx connects to: direct and the rest round-robin, so a
 * direct pair (2k, 2k+1) always spans two nodes; fanout by offset in the room, so the first
 * member (the publisher) is on the first node and each room is split evenly. */
uint32_t bench_node_of(const bench *b, uint32_t idx);
/* Whether receiver idx was ready when the run started (so it must get every publication). */
int bench_counts_as_receiver(const bench *b, uint32_t idx);
/* How many receivers an acked message of sender c is expected to reach. */
uint64_t bench_fanout_of(const bench *b, uint32_t sender);
/* The receiver of sender's message seq (direct/offline). */
uint32_t bench_dest_of(const bench *b, uint32_t sender, uint64_t seq);
/* The room of connection idx (fanout). */
uint32_t bench_room_of(const bench *b, uint32_t idx);

/* --- bench_conn.c --- */
/* Start connecting c (socket, bind to its source address, non-blocking connect). */
void bench_conn_start(bench_worker *w, bench_conn *c);
/* Queue a text frame; the bytes go out on the next flush. -> 0 | -1 (connection unusable) */
int bench_conn_queue(bench_conn *c, const char *text, size_t len);
/* Write everything queued; start the write watcher if the socket is full. */
void bench_conn_flush(bench_conn *c);
/* Flush every connection that queued output since the last call. */
void bench_worker_flush(bench_worker *w);
/* Send the next message of sender c (seq, `t` = t_ns). -> 0 | -1 */
int bench_conn_send_next(bench_conn *c, int64_t t_ns);
/* Whether sender c may send now: open, ready, under its window, limit and output high water. */
int bench_conn_can_send(const bench_conn *c);
/* Send the pending `read` batch, if any. */
void bench_conn_flush_read(bench_conn *c);
/* Stop watchers, close the socket, free wslay; keeps the bookkeeping for the report. */
void bench_conn_close(bench_conn *c);
/* Count a connect failure under reason and close. */
void bench_conn_fail(bench_conn *c, const char *reason);
/* Handshake timeout check, called from the worker tick. */
void bench_conn_check_timeout(bench_conn *c, double now);
void bench_reasons_add(bench_reasons *r, const char *name, uint64_t n);

/* --- bench_tls.c: the client side of wss:// --- */
/* The run's context: trust ca_file, or verify nothing when NULL. -> 0 | -1 (said why) */
int bench_tls_init(const char *ca_file);
void bench_tls_free(void);
/* A client session on a connected socket for host; NULL on ENOMEM. */
bench_ssl *bench_tls_new(int fd, const char *host);
void bench_tls_conn_free(bench_ssl *s);
/* -> 1 done | 0 waiting (*want_write: for writability) | -1 failed */
int bench_tls_handshake(bench_ssl *s, int *want_write);
/* read/write semantics: -1 with errno EAGAIN when the socket would block, 0 on close. */
ssize_t bench_tls_read(bench_ssl *s, void *buf, size_t len);
ssize_t bench_tls_write(bench_ssl *s, const void *buf, size_t len);
/* Decrypted bytes waiting inside OpenSSL (the socket will not signal them). */
int bench_tls_pending(bench_ssl *s);

/* --- bench_zip.c: permessage-deflate without context takeover --- */
bench_zip *bench_zip_new(void);
void bench_zip_free(bench_zip *z);
/* Compress / inflate one message; *out stays valid until the next call of the same kind.
 * -> 0 | -1 (no memory, or not deflate data) */
int bench_zip_deflate(bench_zip *z, const uint8_t *in, size_t len, const uint8_t **out,
                      size_t *out_len);
int bench_zip_inflate(bench_zip *z, const uint8_t *in, size_t len, const uint8_t **out,
                      size_t *out_len);

#endif

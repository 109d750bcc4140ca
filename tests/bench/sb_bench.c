/* sb-bench: the switchboard load generator. Parses the command line, lays out who connects
 * and who sends, runs one libev loop per worker thread, and steers the run through its phases
 * (connect, run with warm-up and measure window, drain) from the main thread, which also samples
 * the server's RSS and CPU from /proc. Loss and duplicates are counted here at the end, from
 * every connection's bitsets, once the workers have stopped. */
#include "bench.h"
#include "bench_report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: sb-bench [options]\n"
    "  --url ws://HOST:PORT/PATH  server endpoint (default ws://127.0.0.1:8080/ws), or\n"
    "                             wss://... over TLS; repeat it\n"
    "                             for the nodes of a cluster: clients spread round-robin, a\n"
    "                             direct pair spans two nodes, a fanout room is split over all\n"
    "                             with its publisher on the first (at most 8)\n"
    "  --scenario NAME            idle | direct | fanout | broadcast | offline | recover\n"
    "                             (default direct; recover: room history, see bench.h)\n"
    "  --threads N                worker threads, one libev loop each (default 1)\n"
    "  --connections N            connections (offline: offline users) (default 100)\n"
    "  --senders N                sending connections (default: direct all, others 1)\n"
    "  --rate R                   total msg/s, open loop; 0: as fast as acks allow (default 0)\n"
    "  --window W                 unacked messages per sender (default 16; open loop 10000)\n"
    "  --size B                   payload bytes per message (default 64)\n"
    "  --duration S               measure window, seconds (default 10)\n"
    "  --warmup S                 sending before the window, or idle settle time (default 2)\n"
    "  --drain S                  wait for outstanding acks and deliveries (default 5)\n"
    "  --ramp N                   connections opened per second (default 5000)\n"
    "  --connect-timeout S        per-connection connect + handshake limit (default 10)\n"
    "  --room-size M              fanout: members per room (default 10)\n"
    "  --messages M               offline: messages stored per offline user; recover:\n"
    "                             publications each member recovers (default 1000)\n"
    "  --read-batch N             direct: ids per `read` command, 0: never read (default 32)\n"
    "  --src-addrs K              spread over source 127.0.0.2..K+1, 0: none (default auto)\n"
    "  --server-pid PID           sample the server's RSS and CPU from /proc (repeatable)\n"
    "  --prefix P                 user names are P<index> (default b<pid>.u)\n"
    "  --no-ping                  idle: count a connection ready at the 101, send nothing\n"
    "  --dialect D                native | messaging: seed 001 clients of dialect_messaging\n"
    "                             (--url ws://HOST:PORT/messaging; direct only, no reads) |\n"
    "                             chat: seed 003 chat clients of dialect_chat (broadcast, idle)\n"
    "  --ca FILE                  wss://: trust this CA (default: verify nothing)\n"
    "  --deflate                  offer permessage-deflate (no context takeover) and compress\n"
    "                             messages of 128 bytes or more\n"
    "  --text                     the payload is chat-like words (compresses like prose), not\n"
    "                             one repeated byte\n"
    "  --json                     print the result as JSON on stdout\n"
    "  --quiet                    no progress on stderr\n"
    "Exit status: 0 ok, 1 a loss the protocol forbids, 2 usage or setup error, 3 nobody "
    "connected.\n";

static const char *const scenario_names[] = {"idle",      "direct",  "fanout",
                                             "broadcast", "offline", "recover"};
#define N_SCENARIOS (int)(sizeof(scenario_names) / sizeof(scenario_names[0]))

static int parse_scenario(const char *s)
{
    for (int i = 0; i < N_SCENARIOS; i++)
        if (strcmp(s, scenario_names[i]) == 0)
            return i;
    return -1;
}

const char *bench_scenario_name(int sc)
{
    return sc >= 0 && sc < N_SCENARIOS ? scenario_names[sc] : "?";
}

static int parse_args(bench_cfg *cfg, int argc, char **argv)
{
    enum {
        O_URL = 256,
        O_SCEN,
        O_THREADS,
        O_CONNS,
        O_SENDERS,
        O_RATE,
        O_WINDOW,
        O_SIZE,
        O_DUR,
        O_WARM,
        O_DRAIN,
        O_RAMP,
        O_CTO,
        O_ROOM,
        O_MSGS,
        O_READ,
        O_SRC,
        O_PID,
        O_PREFIX,
        O_JSON,
        O_QUIET,
        O_HELP,
        O_NOPING,
        O_DIALECT,
        O_CA,
        O_DEFLATE,
        O_TEXT
    };
    static const struct option opts[] = {
        {"url", 1, 0, O_URL},
        {"scenario", 1, 0, O_SCEN},
        {"threads", 1, 0, O_THREADS},
        {"connections", 1, 0, O_CONNS},
        {"senders", 1, 0, O_SENDERS},
        {"rate", 1, 0, O_RATE},
        {"window", 1, 0, O_WINDOW},
        {"size", 1, 0, O_SIZE},
        {"duration", 1, 0, O_DUR},
        {"warmup", 1, 0, O_WARM},
        {"drain", 1, 0, O_DRAIN},
        {"ramp", 1, 0, O_RAMP},
        {"connect-timeout", 1, 0, O_CTO},
        {"room-size", 1, 0, O_ROOM},
        {"messages", 1, 0, O_MSGS},
        {"read-batch", 1, 0, O_READ},
        {"src-addrs", 1, 0, O_SRC},
        {"server-pid", 1, 0, O_PID},
        {"prefix", 1, 0, O_PREFIX},
        {"json", 0, 0, O_JSON},
        {"quiet", 0, 0, O_QUIET},
        {"help", 0, 0, O_HELP},
        {"no-ping", 0, 0, O_NOPING},
        {"dialect", 1, 0, O_DIALECT},
        {"ca", 1, 0, O_CA},
        {"deflate", 0, 0, O_DEFLATE},
        {"text", 0, 0, O_TEXT},
        {0, 0, 0, 0},
    };
    *cfg = (bench_cfg){
        .scenario = SC_DIRECT,
        .threads = 1,
        .connections = 100,
        .senders = UINT32_MAX,
        .window = 0,
        .size = 64,
        .duration = 10,
        .warmup = 2,
        .drain = 5,
        .ramp = 5000,
        .connect_timeout = 10,
        .room_size = 10,
        .messages = 1000,
        .read_batch = 32,
        .src_addrs = UINT32_MAX,
    };
    /* users of earlier runs may have unread messages on a long-lived server: a new prefix per
     * run keeps their backlog out of this run's counts */
    snprintf(cfg->prefix, sizeof(cfg->prefix), "b%d.u", (int)getpid());
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        double v = optarg ? strtod(optarg, &end) : 0;
        int numeric = o != O_URL && o != O_SCEN && o != O_PREFIX && o != O_JSON && o != O_QUIET &&
                      o != O_HELP && o != O_NOPING && o != O_DIALECT && o != O_CA &&
                      o != O_DEFLATE && o != O_TEXT;
        if (numeric && (!end || *end || v < 0)) {
            fprintf(stderr, "sb-bench: bad value for option: %s\n", optarg);
            return -1;
        }
        switch (o) {
        case O_URL:
            if (cfg->nurls == BENCH_MAX_NODES) {
                fprintf(stderr, "sb-bench: at most %d --url\n", BENCH_MAX_NODES);
                return -1;
            }
            if (bench_parse_url(&cfg->url[cfg->nurls++], optarg) < 0) {
                fprintf(stderr, "sb-bench: bad --url %s (want ws://host:port/path)\n", optarg);
                return -1;
            }
            break;
        case O_SCEN:
            cfg->scenario = parse_scenario(optarg);
            if (cfg->scenario < 0) {
                fprintf(stderr, "sb-bench: unknown scenario %s\n", optarg);
                return -1;
            }
            break;
        case O_THREADS:
            cfg->threads = (int)v;
            break;
        case O_CONNS:
            cfg->connections = (uint32_t)v;
            break;
        case O_SENDERS:
            cfg->senders = (uint32_t)v;
            break;
        case O_RATE:
            cfg->rate = v;
            break;
        case O_WINDOW:
            cfg->window = (uint32_t)v;
            break;
        case O_SIZE:
            cfg->size = (uint32_t)v;
            break;
        case O_DUR:
            cfg->duration = v;
            break;
        case O_WARM:
            cfg->warmup = v;
            break;
        case O_DRAIN:
            cfg->drain = v;
            break;
        case O_RAMP:
            cfg->ramp = v;
            break;
        case O_CTO:
            cfg->connect_timeout = v;
            break;
        case O_ROOM:
            cfg->room_size = (uint32_t)v;
            break;
        case O_MSGS:
            cfg->messages = (uint64_t)v;
            break;
        case O_READ:
            cfg->read_batch = (uint32_t)v;
            break;
        case O_SRC:
            cfg->src_addrs = (uint32_t)v;
            break;
        case O_PID:
            if (cfg->npids == BENCH_MAX_NODES || v < 1) {
                fprintf(stderr, "sb-bench: at most %d --server-pid, each > 0\n", BENCH_MAX_NODES);
                return -1;
            }
            cfg->server_pid[cfg->npids++] = (int)v;
            break;
        case O_PREFIX:
            snprintf(cfg->prefix, sizeof(cfg->prefix), "%s", optarg);
            break;
        case O_JSON:
            cfg->json = 1;
            break;
        case O_QUIET:
            cfg->quiet = 1;
            break;
        case O_NOPING:
            cfg->no_ping = 1;
            break;
        case O_DIALECT:
            if (strcmp(optarg, "native") == 0) {
                cfg->dialect = BD_NATIVE;
            } else if (strcmp(optarg, "messaging") == 0) {
                cfg->dialect = BD_MESSAGING;
            } else if (strcmp(optarg, "chat") == 0) {
                cfg->dialect = BD_CHAT;
            } else {
                fprintf(stderr, "sb-bench: unknown dialect %s (native | messaging | chat)\n",
                        optarg);
                return -1;
            }
            break;
        case O_CA:
            cfg->ca = optarg;
            break;
        case O_DEFLATE:
            cfg->deflate = 1;
            break;
        case O_TEXT:
            cfg->text = 1;
            break;
        case O_HELP:
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sb-bench: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (cfg->threads < 1 || cfg->threads > 64 || cfg->connections < 1 || cfg->room_size < 2 ||
        cfg->ramp <= 0 || cfg->size > 1024 * 1024) {
        fprintf(stderr, "sb-bench: out of range: threads 1..64, connections >= 1, room-size >= 2, "
                        "ramp > 0, size <= 1 MiB\n");
        return -1;
    }
    if (cfg->dialect == BD_MESSAGING) {
        if (cfg->scenario != SC_DIRECT) {
            fprintf(stderr, "sb-bench: --dialect messaging runs the direct scenario only\n");
            return -1;
        }
        cfg->read_batch = 0; /* a 001 read names client ids: not modelled */
    }
    if (cfg->dialect == BD_CHAT && cfg->scenario != SC_BROADCAST && cfg->scenario != SC_IDLE) {
        fprintf(stderr, "sb-bench: --dialect chat runs the broadcast and idle scenarios only\n");
        return -1;
    }
    if (cfg->nurls == 0) {
        bench_parse_url(&cfg->url[0], "ws://127.0.0.1:8080/ws");
        cfg->nurls = 1;
    }
    if (cfg->window == 0)
        cfg->window = cfg->rate > 0 ? 10000 : 16;
    if (cfg->senders == UINT32_MAX) {
        switch (cfg->scenario) {
        case SC_IDLE:
            cfg->senders = 0;
            break;
        case SC_DIRECT:
            cfg->senders = cfg->connections & ~1u;
            break;
        default:
            cfg->senders = 1;
            break;
        }
    }
    return 0;
}

/* Raise the soft open-file limit to the hard one; say so when it cannot hold the run. */
static void raise_nofile(const bench_cfg *cfg, uint32_t nconns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 32 && !cfg->quiet)
        fprintf(stderr, "sb-bench: open-file limit %llu < %u connections: expect EMFILE failures\n",
                (unsigned long long)rl.rlim_cur, nconns);
}

static void worker_tick(bench_worker *w);

static void worker_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    worker_tick((bench_worker *)((char *)t - offsetof(bench_worker, tick)));
}

static void worker_wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)revents;
    bench_worker *w = (bench_worker *)((char *)a - offsetof(bench_worker, wake));
    if (atomic_load(&w->b->phase) == PH_STOP) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    worker_tick(w);
}

/* Open connections of this phase at the worker's share of --ramp, at most a bounded number
 * in handshake at once so a slow server sees a queue, not a SYN flood. */
static void worker_ramp(bench_worker *w, int late, double now)
{
    const bench_cfg *cfg = &w->b->cfg;
    if (w->last_phase != (late ? PH_CONNECT_LATE : PH_CONNECT)) {
        w->ramp_start = now;
        w->ramp_done = 0;
    }
    double rate = cfg->ramp / cfg->threads;
    uint64_t due = (uint64_t)((now - w->ramp_start) * rate) + 1;
    uint32_t max_hs = 1024 / (uint32_t)cfg->threads + 16;
    while (w->next_connect < w->nconns && w->ramp_done < due && w->handshaking < max_hs) {
        bench_conn *c = w->conns[w->next_connect];
        if (c->late != late)
            break; /* the late ones come last in conns, for the next phase */
        w->next_connect++;
        w->ramp_done++;
        bench_conn_start(w, c);
    }
}

#define LATE_NS 2000000 /* two ticks */

static void worker_send(bench_worker *w)
{
    const bench *b = w->b;
    if (w->nsenders == 0)
        return;
    int64_t now = bench_now_ns(b);
    int64_t start = atomic_load_explicit(&b->run_start_ns, memory_order_relaxed);
    if (b->cfg.rate > 0) {
        /* open loop: message k of this worker is due at start + k / rate whatever the server
         * does. It carries the time it was sent, unless it is late by more than the tick
         * granularity (1 ms timers, epoll's resolution): then a stall held it back (window or
         * socket full) and it carries its due time, so the stall shows in latency instead of
         * being omitted (no coordinated omission), while the timer's own jitter does not.
         * Each message is stamped and written on its own: stamped once per tick and written
         * with the rest of the tick's burst, the last of 50 (50,000/s) carried the time this
         * thread spent writing the 49 before it. */
        uint64_t due = (uint64_t)((double)(now - start) * w->rate / 1e9) + 1;
        while (w->scheduled < due) {
            bench_conn *c = NULL;
            for (uint32_t k = 0; k < w->nsenders; k++) {
                bench_conn *s = w->senders[(w->rr + k) % w->nsenders];
                if (bench_conn_can_send(s)) {
                    c = s;
                    w->rr = (w->rr + k + 1) % w->nsenders;
                    break;
                }
            }
            if (!c)
                break;
            int64_t due_at = start + (int64_t)((double)w->scheduled * 1e9 / w->rate);
            int64_t t = bench_now_ns(b);
            bench_conn_send_next(c, t - due_at <= LATE_NS ? t : due_at);
            bench_worker_flush(w);
            w->scheduled++;
        }
    } else {
        /* closed loop: acks refill the window; this tops up whoever could not refill */
        for (uint32_t k = 0; k < w->nsenders; k++) {
            bench_conn *s = w->senders[k];
            while (bench_conn_can_send(s))
                if (bench_conn_send_next(s, bench_now_ns(b)) < 0)
                    break;
        }
    }
}

static void worker_tick(bench_worker *w)
{
    const bench *b = w->b;
    int phase = atomic_load(&b->phase);
    double now = ev_time();
    w->ticks++;
    if (phase == PH_CONNECT || phase == PH_CONNECT_LATE)
        worker_ramp(w, phase == PH_CONNECT_LATE, now);
    if (w->ticks % 100 == 0 && w->handshaking)
        for (uint32_t i = 0; i < w->next_connect; i++)
            bench_conn_check_timeout(w->conns[i], now);
    if (phase == PH_RUN && (b->cfg.rate > 0 || w->last_phase != PH_RUN || w->ticks % 10 == 0))
        worker_send(w);
    if (b->cfg.read_batch && (w->ticks % 10 == 0 || phase == PH_DRAIN))
        for (uint32_t i = 0; i < w->nconns; i++)
            if (w->conns[i]->read_n)
                bench_conn_flush_read(w->conns[i]);
    w->last_phase = phase;
    bench_worker_flush(w);
}

static void *worker_main(void *arg)
{
    bench_worker *w = arg;
    ev_run(w->loop, 0);
    return NULL;
}

static int workers_start(bench *b)
{
    const bench_cfg *cfg = &b->cfg;
    b->workers = calloc((size_t)cfg->threads, sizeof(*b->workers));
    if (!b->workers)
        return -1;
    for (int t = 0; t < cfg->threads; t++) {
        bench_worker *w = &b->workers[t];
        w->b = b;
        w->id = t;
        w->last_phase = -1;
        w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1) ^ (uint64_t)time(NULL);
        w->loop = ev_loop_new(EVFLAG_AUTO);
        w->rbuf = malloc(BENCH_RBUF_SIZE);
        w->sbuf_cap = cfg->size + 512;
        w->sbuf = malloc(w->sbuf_cap);
        w->conns = calloc(b->nconns / (uint32_t)cfg->threads + 1, sizeof(*w->conns));
        w->senders = calloc(b->nconns / (uint32_t)cfg->threads + 1, sizeof(*w->senders));
        if (!w->loop || !w->rbuf || !w->sbuf || !w->conns || !w->senders)
            return -1;
        if (cfg->deflate && !(w->zip = bench_zip_new()))
            return -1;
        bench_hist_init(&w->hist);
    }
    /* early connections first, late ones after: the ramp cursor walks conns in order */
    for (int late = 0; late < 2; late++) {
        for (uint32_t i = 0; i < b->nconns; i++) {
            bench_conn *c = &b->conns[i];
            if (c->late != late)
                continue;
            bench_worker *w = &b->workers[i % (uint32_t)cfg->threads];
            c->w = w;
            w->conns[w->nconns++] = c;
            if (c->sender)
                w->senders[w->nsenders++] = c;
        }
    }
    for (int t = 0; t < cfg->threads; t++) {
        bench_worker *w = &b->workers[t];
        w->rate = cfg->senders ? cfg->rate * w->nsenders / cfg->senders : 0;
        ev_timer_init(&w->tick, worker_tick_cb, 0.001, 0.001);
        ev_timer_start(w->loop, &w->tick);
        ev_async_init(&w->wake, worker_wake_cb);
        ev_async_start(w->loop, &w->wake);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return -1;
    }
    return 0;
}

static void set_phase(bench *b, int phase)
{
    atomic_store(&b->phase, phase);
    for (int t = 0; t < b->cfg.threads; t++)
        ev_async_send(b->workers[t].loop, &b->workers[t].wake);
}

static uint64_t sum(const bench *b, size_t off)
{
    uint64_t n = 0;
    for (int t = 0; t < b->cfg.threads; t++)
        n += atomic_load_explicit((_Atomic uint64_t *)((char *)&b->workers[t].c + off),
                                  memory_order_relaxed);
    return n;
}
#define SUM(b, field) sum((b), offsetof(bench_counters, field))

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*until_fn)(const bench *b, uint64_t arg);

/* Sleep up to `seconds` in 50 ms steps until done(b) holds, sampling the server's RSS peak
 * and printing progress once a second. -> 1 done | 0 timed out */
static int wait_until(bench *b, bench_result *r, double seconds, until_fn done, uint64_t arg,
                      const char *what)
{
    double start = mono(), last_print = start;
    for (;;) {
        if (done && done(b, arg))
            return 1;
        double now = mono();
        if (now - start >= seconds)
            return done ? 0 : 1;
        for (int i = 0; i < r->nsrv; i++) {
            long rss = bench_proc_rss_kb(r->srv[i].pid);
            if (rss > r->srv[i].rss_peak_kb)
                r->srv[i].rss_peak_kb = rss;
        }
        if (!b->cfg.quiet && now - last_print >= 1) {
            last_print = now;
            fprintf(stderr,
                    "  %-8s %5.1fs  conn %" PRIu64 "/%" PRIu64 " failed %" PRIu64 "  sent %" PRIu64
                    " acked %" PRIu64 " delivered %" PRIu64 "/%" PRIu64 "\n",
                    what, now - start, SUM(b, ready), SUM(b, attempted), SUM(b, failed),
                    SUM(b, sent), SUM(b, acked), SUM(b, delivered), SUM(b, expected));
        }
        double left = seconds - (now - start);
        double step = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)step, (long)((step - floor(step)) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* every connection of the phase has become ready, failed, or ended */
static int all_settled(const bench *b, uint64_t n)
{
    return SUM(b, ready) + SUM(b, failed) >= n;
}

static int all_acked(const bench *b, uint64_t total)
{
    uint64_t sent = SUM(b, sent);
    return sent >= total && SUM(b, acked) + SUM(b, errors) >= sent;
}

static int all_delivered(const bench *b, uint64_t unused)
{
    (void)unused;
    uint64_t sent = SUM(b, sent);
    return SUM(b, acked) + SUM(b, errors) >= sent && SUM(b, delivered) >= SUM(b, expected);
}

/* Before the run: how many receivers each room (and a broadcast) has, per run_start_ns. */
static int count_receivers(bench *b)
{
    uint32_t rooms = (b->nconns + b->cfg.room_size - 1) / b->cfg.room_size;
    b->room_receivers = calloc(rooms, sizeof(*b->room_receivers));
    if (!b->room_receivers)
        return -1;
    for (uint32_t i = 0; i < b->nconns; i++) {
        if (bench_counts_as_receiver(b, i)) {
            b->room_receivers[bench_room_of(b, i)]++;
            b->all_receivers++;
        }
    }
    return 0;
}

/* After the workers stopped: what acked messages never reached a live receiver. */
static void count_loss(const bench *b, bench_result *r)
{
    const bench_cfg *cfg = &b->cfg;
    static const bench_bits none;
    for (uint32_t s = 0; s < b->nconns; s++) {
        const bench_conn *snd = &b->conns[s];
        if (!snd->sender)
            continue;
        if (cfg->scenario == SC_RECOVER) {
            /* every late member must have recovered every acked publication but the anchor */
            for (uint32_t m = 0; m < cfg->connections; m++) {
                const bench_bits *got = bench_inbox_find(&b->conns[m].inbox, s);
                for (uint64_t q = 1; q < snd->seq; q++) {
                    if (!bench_bits_test(&snd->acked_bits, q) || (got && bench_bits_test(got, q)))
                        continue;
                    if (b->conns[m].state == CS_OPEN)
                        r->lost++;
                    else
                        r->lost_closed++;
                }
            }
            continue;
        }
        if (cfg->scenario == SC_DIRECT || cfg->scenario == SC_OFFLINE) {
            for (uint64_t q = 0; q < snd->seq; q++) {
                if (!bench_bits_test(&snd->acked_bits, q))
                    continue;
                const bench_conn *rc = &b->conns[bench_dest_of(b, s, q)];
                const bench_bits *got = bench_inbox_find(&rc->inbox, s);
                if (got && bench_bits_test(got, q))
                    continue;
                if (rc->state == CS_OPEN)
                    r->lost++;
                else
                    r->lost_closed++;
            }
            continue;
        }
        uint32_t first = 0, end = b->nconns;
        if (cfg->scenario == SC_FANOUT) {
            first = bench_room_of(b, s) * cfg->room_size;
            end = first + cfg->room_size < b->nconns ? first + cfg->room_size : b->nconns;
        }
        for (uint32_t m = first; m < end; m++) {
            if (m == s || !bench_counts_as_receiver(b, m))
                continue;
            const bench_conn *rc = &b->conns[m];
            const bench_bits *got = bench_inbox_find(&rc->inbox, s);
            uint64_t miss = bench_bits_missing(&snd->acked_bits, got ? got : &none);
            if (rc->state == CS_OPEN)
                r->lost += miss;
            else
                r->lost_closed += miss;
        }
    }
}

static void collect(const bench *b, bench_result *r)
{
    r->attempted = SUM(b, attempted);
    r->connected = SUM(b, connected);
    r->ready = SUM(b, ready);
    r->failed = SUM(b, failed);
    r->closed = SUM(b, closed);
    r->sent = SUM(b, sent);
    r->acked = SUM(b, acked);
    r->errors = SUM(b, errors);
    r->delivered = SUM(b, delivered);
    r->expected = SUM(b, expected);
    r->dups = SUM(b, dups);
    r->receipts = SUM(b, receipts);
    r->presence = SUM(b, presence);
    r->reads = SUM(b, reads_sent);
    r->other = SUM(b, other_frames);
    r->bytes_in = SUM(b, bytes_in);
    r->bytes_out = SUM(b, bytes_out);
    r->compressed = SUM(b, compressed);
    r->sent_window = SUM(b, sent_window);
    r->delivered_window = SUM(b, delivered_window);
    bench_hist_init(&r->hist);
    for (int t = 0; t < b->cfg.threads; t++) {
        const bench_worker *w = &b->workers[t];
        bench_hist_merge(&r->hist, &w->hist);
        for (int i = 0; i < w->reasons.n; i++)
            bench_reasons_add(&r->fail_reasons, w->reasons.name[i], w->reasons.count[i]);
        for (int i = 0; i < w->closes.n; i++)
            bench_reasons_add(&r->close_reasons, w->closes.name[i], w->closes.count[i]);
        for (int i = 0; i < w->errcodes.n; i++)
            bench_reasons_add(&r->error_codes, w->errcodes.name[i], w->errcodes.count[i]);
    }
    for (uint32_t i = 0; i < b->nconns; i++)
        r->alive += b->conns[i].state == CS_OPEN;
    count_loss(b, r);
}

/* CPU use over a stretch of the run: the server's from /proc, sb-bench's own (all threads),
 * so a report shows when the load generator, not the server, was the limit. */
typedef struct cpu_mark {
    double t, self;
    long server_ticks[BENCH_MAX_NODES];
} cpu_mark;

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cpu_start(const bench_result *r, cpu_mark *m)
{
    m->t = mono();
    m->self = self_cpu_s();
    for (int i = 0; i < r->nsrv; i++)
        m->server_ticks[i] = bench_proc_cpu_ticks(r->srv[i].pid);
}

static void cpu_end(bench_result *r, const cpu_mark *m)
{
    double secs = mono() - m->t;
    if (secs <= 0)
        return;
    r->self_cpu_pct = 100.0 * (self_cpu_s() - m->self) / secs;
    for (int i = 0; i < r->nsrv; i++) {
        long ticks = bench_proc_cpu_ticks(r->srv[i].pid);
        if (ticks >= 0 && m->server_ticks[i] >= 0)
            r->srv[i].cpu_pct =
                100.0 * (double)(ticks - m->server_ticks[i]) / (double)sysconf(_SC_CLK_TCK) / secs;
    }
}

/* Every watched server's RSS now, into the field at `off` of its bench_server_stat. */
static void rss_now(bench_result *r, size_t off)
{
    for (int i = 0; i < r->nsrv; i++)
        *(long *)((char *)&r->srv[i] + off) = bench_proc_rss_kb(r->srv[i].pid);
}
#define RSS_NOW(r, field) rss_now((r), offsetof(bench_server_stat, field))

/* size bytes of payload: 'x' repeated, or with text lowercase words and spaces drawn from a
 * chat's vocabulary, so compression sees what it would in a conversation. */
static char *payload_make(uint32_t size, int text)
{
    static const char *const words[] = {
        "the",   "a",       "to",      "and",    "you",     "I",        "it",     "is",
        "that",  "for",     "on",      "we",     "meeting", "tomorrow", "see",    "thanks",
        "can",   "will",    "just",    "what",   "about",   "when",     "there",  "ok",
        "great", "lunch",   "project", "review", "please",  "send",     "me",     "link",
        "sure",  "later",   "today",   "think",  "need",    "time",     "call",   "update",
        "done",  "working", "on",      "deploy", "friday",  "weekend",  "coffee", "question",
        "quick", "sorry",   "late"};
    char *p = malloc((size_t)size + 1);
    if (!p)
        return NULL;
    if (!text) {
        memset(p, 'x', size);
        return p;
    }
    uint64_t x = 0x2545F4914F6CDD1Dull;
    size_t n = 0;
    while (n < size) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const char *w = words[x % (sizeof(words) / sizeof(words[0]))];
        for (size_t i = 0; w[i] && n < size; i++)
            p[n++] = w[i];
        if (n < size)
            p[n++] = ' ';
    }
    return p;
}

int main(int argc, char **argv)
{
    static bench b; /* big: every worker holds a histogram */
    bench_result *r = calloc(1, sizeof(*r));
    if (!r || parse_args(&b.cfg, argc, argv) < 0)
        return 2;
    bench_cfg *cfg = &b.cfg;
    signal(SIGPIPE, SIG_IGN);
    b.payload = payload_make(cfg->size, cfg->text);
    if (!b.payload) {
        fprintf(stderr, "sb-bench: out of memory\n");
        return 2;
    }
    int tls = 0;
    for (uint32_t i = 0; i < cfg->nurls; i++)
        tls |= cfg->url[i].tls;
    if (tls && bench_tls_init(cfg->ca) < 0)
        return 2;
    clock_gettime(CLOCK_MONOTONIC, &b.epoch);
    atomic_store(&b.window_start_ns, INT64_MAX);
    atomic_store(&b.window_end_ns, INT64_MAX);
    for (uint32_t i = 0; i < cfg->nurls; i++) {
        const bench_url *u = &cfg->url[i];
        b.dst[i].sin_family = AF_INET;
        b.dst[i].sin_port = htons((uint16_t)u->port);
        const char *host = strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host;
        if (inet_pton(AF_INET, host, &b.dst[i].sin_addr) != 1) {
            fprintf(stderr, "sb-bench: host must be an IPv4 address or localhost: %s\n", u->host);
            return 2;
        }
    }
    if (bench_plan(&b) < 0) {
        fprintf(stderr, "sb-bench: out of memory for %u connections\n", b.nconns);
        return 2;
    }
    /* one source address holds ~28k ephemeral ports towards one server port */
    if (cfg->src_addrs == UINT32_MAX)
        cfg->src_addrs = (ntohl(b.dst[0].sin_addr.s_addr) >> 24) == 127 ? b.nconns / 20000 + 1 : 0;
    raise_nofile(cfg, b.nconns);
    r->load_start = bench_proc_load();
    r->nsrv = cfg->npids;
    for (int i = 0; i < r->nsrv; i++) {
        r->srv[i].pid = cfg->server_pid[i];
        r->srv[i].rss_before_kb = bench_proc_rss_kb(r->srv[i].pid);
        if (r->srv[i].rss_before_kb < 0) {
            fprintf(stderr, "sb-bench: cannot read /proc/%d/status\n", r->srv[i].pid);
            return 2;
        }
    }
    if (workers_start(&b) < 0) {
        fprintf(stderr, "sb-bench: cannot start workers\n");
        return 2;
    }
    uint64_t early = 0;
    for (uint32_t i = 0; i < b.nconns; i++)
        early += !b.conns[i].late;

    /* connect: wait for every connection to be ready or failed */
    /* joins in big rooms cost O(N^2) presence events: wait while connections keep becoming
     * ready, and give up after connect_timeout seconds without progress */
    double t0 = mono();
    uint64_t progress = 0;
    while (!wait_until(&b, r, cfg->connect_timeout, all_settled, early, "connect")) {
        uint64_t now = SUM(&b, ready) + SUM(&b, failed) + SUM(&b, attempted);
        if (now == progress)
            break;
        progress = now;
    }
    r->connect_s = mono() - t0;
    if (SUM(&b, ready) == 0) {
        set_phase(&b, PH_STOP);
        for (int t = 0; t < cfg->threads; t++)
            pthread_join(b.workers[t].thread, NULL);
        collect(&b, r);
        r->verdict = "nobody connected";
        bench_report(&b, r);
        return 3;
    }

    cpu_mark cpu;
    if (cfg->scenario == SC_IDLE) {
        /* let the server hibernate idle connections, then measure memory and idle CPU */
        wait_until(&b, r, cfg->warmup, NULL, 0, "settle");
        RSS_NOW(r, rss_after_kb);
        cpu_start(r, &cpu);
        wait_until(&b, r, cfg->duration, NULL, 0, "idle");
        cpu_end(r, &cpu);
        r->window_s = cfg->duration;
    } else if (cfg->scenario == SC_OFFLINE || cfg->scenario == SC_RECOVER) {
        /* store M messages per offline user (recover: M publications after an anchor in the
         * room's history), then connect the users and time the drain (the recovery) */
        uint64_t total = b.limit_per_sender * cfg->senders; /* >= N * M, spread evenly */
        atomic_store(&b.run_start_ns, bench_now_ns(&b));
        double ts = mono();
        set_phase(&b, PH_RUN);
        if (!wait_until(&b, r, cfg->duration, all_acked, total, "store"))
            r->verdict = "store phase timed out";
        r->store_s = mono() - ts;
        RSS_NOW(r, rss_after_kb);
        double td = mono();
        cpu_start(r, &cpu);
        set_phase(&b, PH_CONNECT_LATE);
        if (!wait_until(&b, r, cfg->drain, all_delivered, 0, "drain") && !r->verdict)
            r->verdict = "drain timed out";
        r->drain_s = mono() - td;
        cpu_end(r, &cpu);
        r->window_s = r->drain_s;
    } else {
        int64_t start = bench_now_ns(&b);
        atomic_store(&b.run_start_ns, start);
        if (count_receivers(&b) < 0) {
            fprintf(stderr, "sb-bench: out of memory\n");
            return 2;
        }
        atomic_store(&b.window_start_ns, start + (int64_t)(cfg->warmup * 1e9));
        atomic_store(&b.window_end_ns, start + (int64_t)((cfg->warmup + cfg->duration) * 1e9));
        set_phase(&b, PH_RUN);
        wait_until(&b, r, cfg->warmup, NULL, 0, "warmup");
        cpu_start(r, &cpu);
        wait_until(&b, r, cfg->duration, NULL, 0, "run");
        cpu_end(r, &cpu);
        RSS_NOW(r, rss_after_kb);
        r->window_s = cfg->duration;
        set_phase(&b, PH_DRAIN);
        if (!wait_until(&b, r, cfg->drain, all_delivered, 0, "drain"))
            r->drain_timed_out = 1;
    }
    RSS_NOW(r, rss_end_kb);
    for (int i = 0; i < r->nsrv; i++)
        r->srv[i].hwm_kb = bench_proc_hwm_kb(r->srv[i].pid);
    set_phase(&b, PH_STOP);
    for (int t = 0; t < cfg->threads; t++)
        pthread_join(b.workers[t].thread, NULL);
    r->self_rss_kb = bench_proc_rss_kb(getpid());
    r->load_end = bench_proc_load();
    collect(&b, r);
    int rc = bench_report(&b, r);
    free(r);
    bench_tls_free();
    return rc;
}

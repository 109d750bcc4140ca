/* Fuzz target: command dispatch as the real server runs it. The whole core
 * (every core unit but main.c, log.c replaced by the silent stub) loads the
 * messaging plugins (auth mode none, message, read, rooms, broadcast,
 * members) and store_memory, built instrumented into the fuzz build dir, from
 * a generated config. Three clients a, b and c connect through socketpairs
 * and the real handshake (GET /ws?client_id=...), so they are authenticated
 * WebSocket connections in the registry. Input: text frames separated by
 * '\n'; the first byte of each picks the sender ('a', 'b', 'c', else byte % 3)
 * and the rest goes to sb_dispatch_text as ws.c hands it a text message. After
 * each frame the loop runs without blocking until it is idle (store
 * completions, deferred calls, output written) and every client's socket is
 * read and split into frames.
 * Invariants: no crash; no leak (everything is freed at exit); every frame the
 * server sends is an unmasked, unfragmented text, close, ping or pong frame,
 * and every text frame is a JSON object the strict parser accepts with a
 * string "type"; a frame with a "ref" gets at most one answer carrying that
 * ref (exactly one while the connection stays open); no "internal" error.
 * Between inputs each client leaves the rooms it joined and reads the messages
 * it received, and a closed client reconnects, so inputs start alike; the
 * store's max_inbox is small so inboxes of offline users stay small. */
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "core.h"
#include "dispatch.h"
#include "endpoint.h"
#include "envelope.h"
#include "hooks.h"
#include "http.h"
#include "ids.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "plugin_host.h"
#include "registry.h"
#include "server.h"

#ifndef FUZZ_PLUGIN_DIR
#error "FUZZ_PLUGIN_DIR: the directory of the instrumented plugins"
#endif

#define FUZZ_CLIENTS 3
#define FUZZ_MAX_IDS 256

typedef struct fuzz_client {
    const char *user;
    uint64_t conn_id; /* 0: not connected */
    int fd;           /* the client's end of the socketpair */
    int open;         /* the 101 answer arrived */
    int closed;       /* a close frame arrived */
    uint8_t *buf;     /* bytes received and not yet split into frames */
    size_t len, cap;
    const cJSON *ref;        /* the ref of the frame being answered, or NULL */
    int answers;             /* frames carrying that ref */
    char *ids[FUZZ_MAX_IDS]; /* ids of messages received, read between inputs */
    size_t n_ids;
} fuzz_client;

static fuzz_client clients[FUZZ_CLIENTS] = {{.user = "a"}, {.user = "b"}, {.user = "c"}};
static sb_config *config;
static int trace; /* FUZZ_DISPATCH_TRACE set: print every frame, to read a crash */

/* --- the client side: read and check what the server sent ----------------- */

static void fuzz_on_text(fuzz_client *cl, const uint8_t *p, size_t n)
{
    if (trace)
        fprintf(stderr, "  %s <- %.*s\n", cl->user, (int)n, (const char *)p);
    const char *why = NULL;
    cJSON *j = sb_json_parse_strict((const char *)p, n, &why);
    if (!j || !cJSON_IsObject(j)) {
        fprintf(stderr, "server sent a bad frame to %s (%s): %.*s\n", cl->user, why ? why : "-",
                (int)n, (const char *)p);
        abort();
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(j, "ref");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (!cJSON_IsString(type))
        abort();
    if (ref && cl->ref && cJSON_Compare(ref, cl->ref, 1))
        cl->answers++;
    if (strcmp(type->valuestring, "error") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(data, "code");
        if (!cJSON_IsString(code))
            abort();
        if (strcmp(code->valuestring, "internal") == 0) {
            fprintf(stderr, "internal error for %s: %.*s\n", cl->user, (int)n, (const char *)p);
            abort();
        }
    }
    if (strcmp(type->valuestring, "message") == 0 && !ref) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
        if (!cJSON_IsString(id))
            abort();
        if (cl->n_ids < FUZZ_MAX_IDS)
            cl->ids[cl->n_ids++] = strdup(id->valuestring);
    }
    cJSON_Delete(j);
}

/* Split cl->buf into frames; keep a partial one. */
static void fuzz_split(fuzz_client *cl)
{
    size_t off = 0;
    while (cl->len - off >= 2) {
        const uint8_t *h = cl->buf + off;
        size_t avail = cl->len - off;
        if (!(h[0] & 0x80) || (h[0] & 0x70) || (h[1] & 0x80))
            abort(); /* fragmented, reserved bits, or masked */
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | h[2 + i];
            hl = 10;
        }
        if (avail - hl < plen)
            break;
        int op = h[0] & 0x0f;
        if (op == 1)
            fuzz_on_text(cl, h + hl, (size_t)plen);
        else if (op == 8)
            cl->closed = 1;
        else if (op != 9 && op != 10)
            abort();
        off += hl + (size_t)plen;
    }
    memmove(cl->buf, cl->buf + off, cl->len - off);
    cl->len -= off;
}

/* Read what the socket holds. -> bytes read */
static size_t fuzz_read(fuzz_client *cl)
{
    size_t got = 0;
    while (cl->fd >= 0) {
        if (cl->cap - cl->len < 65536) {
            size_t cap = cl->cap ? cl->cap * 2 : 131072;
            uint8_t *b = realloc(cl->buf, cap);
            if (!b)
                abort();
            cl->buf = b;
            cl->cap = cap;
        }
        ssize_t n = read(cl->fd, cl->buf + cl->len, cl->cap - cl->len);
        if (n <= 0)
            break;
        cl->len += (size_t)n;
        got += (size_t)n;
    }
    return got;
}

static size_t fuzz_drain(void)
{
    size_t got = 0;
    for (int i = 0; i < FUZZ_CLIENTS; i++) {
        fuzz_client *cl = &clients[i];
        if (cl->open && fuzz_read(cl)) {
            got = 1;
            fuzz_split(cl);
        }
    }
    return got;
}

static int fuzz_output_pending(void)
{
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        if (!sb_outq_empty(&c->out))
            return 1;
    }
    return 0;
}

/* Run the loop without blocking until a pass moves nothing: no bytes for the
 * clients, no deferred call queued, no output waiting. (Timers, e.g. the
 * close linger, are left to later passes.) */
static void fuzz_settle(void)
{
    for (int i = 0; i < 1000; i++) {
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
        int moved = fuzz_drain() || sb_srv.later_head || fuzz_output_pending();
        if (!moved)
            return;
    }
}

/* --- connections ----------------------------------------------------------- */

static sb_conn *fuzz_conn(const fuzz_client *cl)
{
    sb_conn *c = cl->conn_id ? sb_conn_find(cl->conn_id) : NULL;
    return c && !c->dead && !c->closing && c->user ? c : NULL;
}

static void fuzz_disconnect(fuzz_client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->conn_id = 0;
    cl->open = 0;
    cl->closed = 0;
    cl->len = 0;
    for (size_t i = 0; i < cl->n_ids; i++)
        free(cl->ids[i]);
    cl->n_ids = 0;
}

/* Open the socketpair and send the upgrade request. */
static void fuzz_connect_start(fuzz_client *cl)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    sb_conn *c = sb_conn_new(sv[0], "127.0.0.1", &sb_http_phase);
    if (!c)
        abort();
    cl->conn_id = c->id;
    cl->fd = sv[1];
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET /ws?client_id=%s HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                     cl->user);
    if (write(cl->fd, req, (size_t)n) != n)
        abort();
}

/* Strip the 101 head once it is all there; what follows it is frames.
 * -> 1 when the client is a WebSocket connection of its user */
static int fuzz_connect_done(fuzz_client *cl)
{
    fuzz_read(cl);
    uint8_t *end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    if (cl->len < 12 || memcmp(cl->buf, "HTTP/1.1 101", 12) != 0)
        abort();
    size_t head = (size_t)(end + 4 - cl->buf);
    memmove(cl->buf, cl->buf + head, cl->len - head);
    cl->len -= head;
    sb_conn *c = fuzz_conn(cl);
    if (!c || strcmp(c->user, cl->user) != 0)
        abort();
    fuzz_split(cl); /* the backlog may have started */
    return 1;
}

/* --- frames ---------------------------------------------------------------- */

/* Hand one text message to the core as ws.c's message callback does. */
static void fuzz_dispatch(fuzz_client *cl, const char *buf, size_t len)
{
    sb_conn *c = fuzz_conn(cl);
    if (!c)
        return;
    /* The ref the answers must echo is the one the core's own envelope
     * parser finds (NULL when absent or not echoable, docs/protocol.md 2). */
    sb_envelope env;
    const char *code = NULL, *why = NULL;
    sb_envelope_parse(buf, len, &env, &code, &why);
    cl->ref = env.ref;
    cl->answers = 0;
    if (trace)
        fprintf(stderr, "%s -> %.*s\n", cl->user, (int)len, buf);
    c->last_rx = ev_now(sb_srv.loop);
    c->busy++;
    sb_dispatch_text(c, buf, len);
    if (--c->busy == 0 && c->dead)
        sb_conn_destroy(c);
    fuzz_settle();
    if (cl->ref && (cl->answers > 1 || (cl->answers == 0 && fuzz_conn(cl) && !cl->closed))) {
        fprintf(stderr, "%d answers from %s to: %.*s\n", cl->answers, cl->user, (int)len, buf);
        abort();
    }
    cl->ref = NULL;
    sb_envelope_free(&env);
}

/* Dispatch the command {"type":type,"data":data} (data is consumed). */
static void fuzz_command(fuzz_client *cl, const char *type, cJSON *data)
{
    cJSON *env = cJSON_CreateObject();
    if (!env || !cJSON_AddStringToObject(env, "type", type))
        abort();
    cJSON_AddItemToObject(env, "data", data);
    char *text = cJSON_PrintUnformatted(env);
    if (!text)
        abort();
    fuzz_dispatch(cl, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(env);
}

/* Leave every room and read every message received: back to the start. */
static void fuzz_reset_client(fuzz_client *cl)
{
    sb_conn *c = fuzz_conn(cl);
    while (c && c->n_rooms) {
        size_t before = c->n_rooms;
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "room", c->rooms[0]->name);
        fuzz_command(cl, "leave", data);
        c = fuzz_conn(cl);
        if (c && c->n_rooms >= before)
            abort(); /* leave must leave */
    }
    if (c && cl->n_ids) {
        cJSON *data = cJSON_CreateObject();
        cJSON *ids = cJSON_AddArrayToObject(data, "ids");
        for (size_t i = 0; i < cl->n_ids; i++) {
            cJSON_AddItemToArray(ids, cJSON_CreateString(cl->ids[i]));
            free(cl->ids[i]);
        }
        cl->n_ids = 0;
        fuzz_command(cl, "read", data);
    }
}

/* Every input starts from fresh connections of a, b and c with empty
 * inboxes: what an earlier input left stored (a message to oneself is not
 * delivered to the sending connection) comes in the backlog and is read. */
static void fuzz_fresh_clients(void)
{
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        if (clients[i].conn_id)
            fuzz_disconnect(&clients[i]);
    fuzz_settle(); /* the server reads EOF and destroys them */
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        fuzz_connect_start(&clients[i]);
    int open = 0;
    for (int i = 0; i < 1000 && open < FUZZ_CLIENTS; i++) {
        ev_run(sb_srv.loop, EVRUN_NOWAIT);
        for (int k = 0; k < FUZZ_CLIENTS; k++)
            if (!clients[k].open && fuzz_connect_done(&clients[k])) {
                clients[k].open = 1;
                open++;
            }
    }
    if (open < FUZZ_CLIENTS)
        abort();
    fuzz_settle();
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        fuzz_reset_client(&clients[i]);
}

/* --- set-up and teardown --------------------------------------------------- */

static void fuzz_teardown(void)
{
    for (int i = 0; i < FUZZ_CLIENTS; i++) {
        fuzz_disconnect(&clients[i]);
        free(clients[i].buf);
    }
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, sb_srv.conns); sb_dict_iter_next(&it);) {
        sb_conn *c = it.val;
        sb_dict_iter_del(&it);
        c->busy = 0;
        sb_conn_destroy(c);
    }
    sb_core_free();
    sb_config_free(config);
    if (trace)
        fprintf(stderr, "teardown done\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/sb-fuzz-dispatch-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    char path[sizeof(dir) + 16];
    snprintf(path, sizeof(path), "%s/plugins.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fprintf(f,
            "[server]\nlisten = 127.0.0.1:0\nplugin_dir = %s\nrate_limit = 0\n"
            "log_level = error\nmax_recipients = 8\nidle_timeout = 86400\n"
            "ping_interval = 86400\n"
            "[auth]\nmode = none\n[message]\n[read]\n[rooms]\n[broadcast]\n[members]\n"
            "[store_memory]\nmax_inbox = 4\n",
            FUZZ_PLUGIN_DIR);
    fclose(f);
    char *no_env[] = {NULL};
    if (sb_config_load(path, no_env, &config) != SB_OK)
        abort();
    unlink(path);
    rmdir(dir);
    if (sb_core_init(config) != SB_OK) {
        fprintf(stderr, "fuzz_dispatch: the server did not start (plugins in %s?)\n",
                FUZZ_PLUGIN_DIR);
        abort();
    }
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        clients[i].fd = -1;
    trace = getenv("FUZZ_DISPATCH_TRACE") != NULL;
    atexit(fuzz_teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fresh_clients();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (stop > p) {
            uint8_t pick = (uint8_t)p[0];
            int who = pick >= 'a' && pick <= 'c' ? pick - 'a' : pick % FUZZ_CLIENTS;
            if ((size_t)(stop - p - 1) <= (size_t)sb_srv.cfg->max_message_bytes)
                fuzz_dispatch(&clients[who], p + 1, (size_t)(stop - p - 1));
        }
        p = stop + 1;
    }
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        fuzz_reset_client(&clients[i]);
    return 0;
}

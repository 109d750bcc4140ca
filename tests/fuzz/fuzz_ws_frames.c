/* Fuzz target: the client byte stream after the upgrade, through wslay as
 * core/transport/ws.c drives it: a server context whose recv callback serves the input
 * in reads of a fuzzed size, a send callback that discards, and text messages
 * handed to sb_envelope_parse as dispatch does. This covers framing,
 * masking, fragmentation, control frames and max_message_bytes.
 * Each input is run twice: once with one context, once freeing and
 * recreating the context between reads whenever ws.c's sb_ws_hibernate
 * conditions hold (mirrored here, with the frame accounting of ws.c's frame
 * callbacks). Both runs must see the same messages: hibernation must never
 * happen inside a frame or a fragmented message.
 * Input: byte 0 the read size, byte 1 max_message_bytes; the rest is frames. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "envelope.h"
#include "frame.h"
#include "switchboard/plugin.h"
#include "utf8.h"

typedef struct wsconn {
    const uint8_t *in;
    size_t in_len, in_off;
    size_t budget; /* bytes this read may still take */
    uint64_t given, framed, frame_len;
    int in_frame, in_msg;
    uint64_t digest; /* of every message seen, in order */
    size_t n_msgs;
} wsconn;

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *u)
{
    (void)flags;
    wsconn *c = u;
    size_t left = c->in_len - c->in_off;
    if (c->budget == 0 || left == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->budget ? len : c->budget;
    if (n > left)
        n = left;
    memcpy(buf, c->in + c->in_off, n);
    c->in_off += n;
    c->budget -= n;
    c->given += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *u)
{
    (void)ctx;
    (void)flags;
    (void)u;
    if (len && !data)
        abort();
    return (ssize_t)len;
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *u)
{
    (void)ctx;
    wsconn *c = u;
    uint64_t pl = arg->payload_length;
    c->in_frame = 1;
    c->frame_len = sb_frame_ws_header_len(pl) + 4 + pl; /* as ws.c counts it */
    if (arg->opcode < 8)
        c->in_msg = !arg->fin;
}

static void frame_end_cb(wslay_event_context_ptr ctx, void *u)
{
    (void)ctx;
    wsconn *c = u;
    c->in_frame = 0;
    c->framed += c->frame_len;
}

static uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL; /* FNV-1a */
    return h;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *u)
{
    (void)ctx;
    wsconn *c = u;
    uint8_t op = arg->opcode;
    c->digest = mix(c->digest, &op, 1);
    c->digest = mix(c->digest, arg->msg, arg->msg_length);
    c->n_msgs++;
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    /* wslay refuses text that is not UTF-8 (1007): ours must agree. */
    if (!sb_utf8_valid(arg->msg, arg->msg_length))
        abort();
    sb_envelope env;
    const char *code = NULL, *why = NULL;
    int rc = sb_envelope_parse((const char *)arg->msg, arg->msg_length, &env, &code, &why);
    if (rc == SB_OK && (!env.type || !cJSON_IsObject(env.data)))
        abort();
    if (rc != SB_OK && (!code || !why))
        abort();
    sb_envelope_free(&env);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = frame_start_cb,
    .on_frame_recv_end_callback = frame_end_cb,
    .on_msg_recv_callback = msg_cb,
};

static wslay_event_context_ptr ctx_new(wsconn *c, uint64_t max_msg)
{
    wslay_event_context_ptr ctx;
    if (wslay_event_context_server_init(&ctx, &callbacks, c) != 0)
        abort();
    wslay_event_config_set_max_recv_msg_length(ctx, max_msg);
    c->given = c->framed = 0;
    c->in_frame = c->in_msg = 0;
    return ctx;
}

/* One connection over the input; returns the digest of its messages. */
static uint64_t run(const uint8_t *in, size_t len, size_t chunk, uint64_t max_msg, int hibernate,
                    size_t *n_msgs)
{
    wsconn c;
    memset(&c, 0, sizeof(c));
    c.in = in;
    c.in_len = len;
    c.digest = 0xcbf29ce484222325ULL;
    wslay_event_context_ptr ctx = ctx_new(&c, max_msg);
    while (c.in_off < c.in_len) {
        c.budget = chunk;
        int rv = wslay_event_recv(ctx);
        if (wslay_event_want_write(ctx))
            wslay_event_send(ctx);
        if (rv != 0 || !wslay_event_want_read(ctx) || wslay_event_get_close_received(ctx) ||
            wslay_event_get_close_sent(ctx))
            break; /* ws.c stops reading: an error, or a close either way */
        if (hibernate && !c.in_frame && !c.in_msg && c.given == c.framed &&
            !wslay_event_get_queued_msg_count(ctx) && !wslay_event_want_write(ctx)) {
            wslay_event_context_free(ctx);
            ctx = ctx_new(&c, max_msg);
        }
    }
    wslay_event_context_free(ctx);
    *n_msgs = c.n_msgs;
    return c.digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = 1 + data[0] * 4u;
    uint64_t max_msg = 16u + 64u * data[1];
    size_t n1, n2;
    uint64_t d1 = run(data + 2, size - 2, chunk, max_msg, 0, &n1);
    uint64_t d2 = run(data + 2, size - 2, chunk, max_msg, 1, &n2);
    if (n1 != n2 || d1 != d2)
        abort(); /* hibernation changed what was received */
    return 0;
}

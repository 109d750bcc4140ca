/* WebSocket endpoints: a request path and its codec. The native protocol
 * (docs/protocol.md) is the core's own endpoint at [server] ws_path; a dialect
 * plugin adds one per path through host->register_endpoint. The codec turns
 * native replies and events into this endpoint's frames (sb_endpoint_frame);
 * decoding is dispatch's business (sb_dispatch_frame). */
#ifndef SB_ENDPOINT_H
#define SB_ENDPOINT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "switchboard/plugin.h"

/* Endpoints a server serves at most; a fan-out keeps one frame per endpoint. */
#define SB_ENDPOINTS_MAX 32

typedef struct sb_endpoint_entry {
    char *path;
    sb_endpoint ep; /* the plugin's table (members past its size zeroed); native: no codec */
    void *ud;
    sb_plugin_ctx *owner; /* NULL: the core's native endpoint */
    unsigned index;       /* slot in a fan-out's per-endpoint frames; 0 is native */
} sb_endpoint_entry;

/* Register the native endpoint at path. -> SB_OK | SB_ENOMEM */
int sb_endpoint_init(const char *native_path);
/* A plugin's endpoint; a taken path is logged with both owners.
 * -> SB_OK | SB_EEXIST | SB_EINVAL | SB_ENOMEM */
int sb_endpoint_add(const sb_endpoint *ep, void *ud, sb_plugin_ctx *owner);
/* The endpoint serving path exactly, or NULL. */
const sb_endpoint_entry *sb_endpoint_find(const char *path);
void sb_endpoint_remove_owner(sb_plugin_ctx *owner);
void sb_endpoint_free(void);

static inline int sb_endpoint_native(const sb_endpoint_entry *e)
{
    return e->owner == NULL;
}

/* One text frame of a connection of e (a dialect) through its codec: its
 * decode_tree with the frame parsed in the parse arena, else its decode.
 * -> decode's returns, with *code and *why */
int sb_endpoint_decode(const sb_endpoint_entry *e, uint64_t conn_id, const char *user,
                       const char *buf, size_t len, const char **code, const char **why);
/* Frame a native reply (reply nonzero, ref_json its serialized ref or NULL)
 * or event for a connection of e: the native envelope, or the dialect's
 * encode. data NULL means {}. NULL with *rc SB_OK: the codec sends nothing;
 * NULL with *rc SB_ENOMEM: out of memory. */
sb_frame *sb_endpoint_frame(const sb_endpoint_entry *e, int reply, const char *type,
                            const char *ref_json, const cJSON *data, uint64_t conn_id,
                            const char *user, int *rc);
/* The same for an event already framed natively (a fan-out, a bus delivery):
 * a dialect's encode gets its type and data from the native envelope in
 * `native`. */
sb_frame *sb_endpoint_frame_event(const sb_endpoint_entry *e, const sb_frame *native,
                                  const cJSON *env, uint64_t conn_id, const char *user, int *rc);
/* The same for an endpoint with SB_ENDPOINT_EVENT_TEXT: the event's type and
 * its data as JSON text, read out of the native frame without parsing it;
 * printed: this node's host printed that text (sb_encode_in.data_printed). */
sb_frame *sb_endpoint_frame_text(const sb_endpoint_entry *e, const char *type,
                                 const char *data_json, size_t data_len, int printed,
                                 uint64_t conn_id, const char *user, int *rc);

#endif

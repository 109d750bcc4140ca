/* The chat dialect's codec (seed 003): a frame {"command": ...} from a chat
 * client becomes one native command, and native replies and events become
 * {"event": ...} frames. Shared between chat.c (registration) and the unit
 * and fuzz tests, which drive it with a fake host table.
 */
#ifndef SB_CHAT_CODEC_H
#define SB_CHAT_CODEC_H

#include <switchboard/plugin.h>

#define CHAT_WHY_MAX 200

typedef struct chat_codec {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    int history;            /* publications shown on join ([dialect_chat] history); 0: none */
    char why[CHAT_WHY_MAX]; /* the reason of the last refused frame */
} chat_codec;

/* sb_endpoint.decode: one frame -> at most one host->submit. */
int chat_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                const char **code, const char **why);

/* sb_endpoint.encode: a native reply or event -> a chat event, or nothing.
 * An event may come as its data text (SB_ENDPOINT_EVENT_TEXT). */
int chat_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len);

/* A broadcast or publish event of in->data_json (printed by this host) in its
 * common shape, framed from the text's spans (chat_event_text.c): *out is
 * scratch when the frame fits scratch_cap bytes, else malloc'd.
 * -> 1 | 0 (another shape or type: use the tree) | -1 (ENOMEM) */
int chat_event_text(const sb_encode_in *in, char *scratch, size_t scratch_cap, char **out,
                    size_t *out_len);

#endif

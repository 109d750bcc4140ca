/* The notify dialect's codec (seed 004, WebSocket side): {"action": "enter" |
 * "leave", "room"} from a client becomes a native join or leave; native
 * publications, broadcasts and direct messages become notifications {type,
 * entityId, message, [room], from}. Shared between notify.c (registration)
 * and the unit and fuzz tests, which drive it with a fake host table.
 */
#ifndef SB_NOTIFY_CODEC_H
#define SB_NOTIFY_CODEC_H

#include <switchboard/plugin.h>

#define NOTIFY_WHY_MAX 200

typedef struct notify_codec {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char why[NOTIFY_WHY_MAX]; /* the reason of the last refused frame */
    size_t removing;          /* store_remove calls not yet completed */
    int closing;              /* fini ran: the last completion frees */
} notify_codec;

/* sb_endpoint.decode: one frame -> at most one host->submit. */
int notify_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                  const char **code, const char **why);

/* sb_endpoint.encode: a notification or an error frame, or nothing. */
int notify_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len);

/* sb_endpoint.delivered: remove the stored direct message from user's inbox. */
void notify_delivered(void *ud, uint64_t conn_id, const char *user, const char *id);

/* Free nc, a malloc'd block starting with the codec (the plugin's state),
 * now or, while removals are in flight, when the last one completes. */
void notify_codec_release(notify_codec *nc);

#endif

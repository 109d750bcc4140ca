/* The dialect_messaging plugin's state, shared by messaging.c (descriptor,
 * config, endpoints, decode and encode) and messaging_read.c (resolving the
 * ids of a `read` section through the user's inbox). */
#ifndef MESSAGING_H
#define MESSAGING_H

#include <stddef.h>

#include <switchboard/plugin.h>

typedef struct messaging_read_op messaging_read_op;

typedef struct messaging_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    size_t max_items;           /* items per section of one frame */
    messaging_read_op *pending; /* reads paging the store; fini frees them */
} messaging_plugin;

/* Send error entries (a new array, taken) to conn_id in an `errors` section,
 * after the replies already due: through a `ping` whose ref carries them. */
void messaging_send_errors(messaging_plugin *mp, uint64_t conn_id, cJSON *errors_take);

/* Resolve the read items (a plan's reads, taken) of user's frame on conn_id
 * to server ids by paging user's inbox, then submit one native `read`.
 * Refusals come back as `errors` entries. */
void messaging_read_start(messaging_plugin *mp, uint64_t conn_id, const char *user,
                          cJSON *reads_take);

/* Free the reads still waiting for the store (shutdown). */
void messaging_read_free_all(messaging_plugin *mp);

#endif

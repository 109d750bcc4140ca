/* The push API's calls: one HTTP request under /api/ -> auth, routing, body
 * checks, then the call itself (store + deliver, publish, broadcast, lists,
 * disconnect). api.c owns the plugin's lifetime and hands requests here. */
#ifndef API_CALLS_H
#define API_CALLS_H

#include <stddef.h>

#include <switchboard/plugin.h>

typedef struct api_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char *key; /* the api_key, owned; "" disables the API */
    size_t key_len;
    sb_counter *requests; /* every call, answered or not */
    sb_counter *messages; /* direct messages stored and sent */
    size_t pending;       /* store puts and room publications in flight */
    int closing;          /* fini ran: the last completion frees the state */
} api_state;

/* The route handler registered for "/api/": answers every request (now or, for
 * stored messages, from the store completion). -> SB_OK */
int api_handle(void *ud, const sb_http_req *req);

/* Free api's memory; called by fini when no store put is in flight, else by
 * the last completion. */
void api_state_free(api_state *api);

#endif /* API_CALLS_H */

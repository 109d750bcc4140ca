/* The push API plugin (docs/protocol.md section 6): reads [api] api_key, registers
 * the "/api/" route and hands each request to api_calls.c. Owns the plugin's
 * lifetime only; the calls, routing and key check live in api_*.c. */
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "api_calls.h"

static int api_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                    void **userdata)
{
    api_state *api = calloc(1, sizeof(*api));
    if (!api) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    api->host = host;
    api->pc = pc;
    const char *key = host->cfg_string(cfg, "api_key", "");
    api->key = strdup(key ? key : "");
    if (!api->key) {
        free(api);
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    api->key_len = strlen(api->key);
    if (api->key_len == 0)
        host->log(pc, SB_LOG_WARN, "api_key is empty: every /api/ call will be answered 401");

    api->requests = host->counter_new(pc, "api_requests_total", "push API requests received");
    api->messages =
        host->counter_new(pc, "api_messages_total", "direct messages stored by the push API");

    int rc = host->register_route(pc, "/api/", api_handle, api);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the /api/ route: %d", rc);
        api_state_free(api);
        return rc;
    }
    *userdata = api;
    return SB_OK;
}

static void api_fini(void *userdata)
{
    api_state *api = userdata;
    if (!api)
        return;
    /* A store put still in flight will call back: leave the state to the
     * last completion instead of freeing it under that callback. */
    if (api->pending > 0) {
        api->host->log(api->pc, SB_LOG_INFO, "%zu message(s) still being stored at shutdown",
                       api->pending);
        api->closing = 1;
        return;
    }
    api_state_free(api);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,   .name = "api",    .version = "0.1.0",
    .init = api_init, .fini = api_fini, .flags = SB_PLUGIN_NEEDS_STORE,
};

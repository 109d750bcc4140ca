/* The core's start-up and shutdown order (core.h). */
#include "core.h"

#include "dispatch.h"
#include "endpoint.h"
#include "hooks.h"
#include "backlog.h"
#include "http.h"
#include "http_routes.h"
#include "ids.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "plugin_host.h"
#include "publish.h"
#include "registry.h"
#include "server.h"

/* The layers above the transport, as a connection's events reach them. */
static const sb_conn_events conn_events = {
    .on_text = sb_dispatch_text,
    .on_request = sb_http_routes_handle,
    .on_ws_drained = sb_backlog_on_drained,
    .on_detach = sb_registry_detach,
    .on_free = sb_backlog_free,
};

/* The gauges whose values other modules own. */
static double gauge_connections(void *arg)
{
    (void)arg;
    return (double)sb_srv.n_ws;
}
static double gauge_connections_max(void *arg)
{
    (void)arg;
    return (double)sb_srv.max_ws;
}
static double gauge_users(void *arg)
{
    (void)arg;
    return (double)sb_registry_n_users();
}
static double gauge_rooms(void *arg)
{
    (void)arg;
    return (double)sb_registry_n_rooms();
}

static int core_gauges(void)
{
    if (sb_metrics_gauge_fn("connections", "Open WebSocket connections", gauge_connections, NULL,
                            NULL) != SB_OK ||
        sb_metrics_gauge_fn("connections_max", "Effective max_connections", gauge_connections_max,
                            NULL, NULL) != SB_OK ||
        sb_metrics_gauge_fn("users", "Users online on this node", gauge_users, NULL, NULL) !=
            SB_OK ||
        sb_metrics_gauge_fn("rooms", "Rooms with members", gauge_rooms, NULL, NULL) != SB_OK)
        return SB_ENOMEM;
    return SB_OK;
}

/* Both start-ups: a check binds no listener and runs each plugin's `check`
 * where it has one (plugin_host.c). */
static int core_start(sb_config *config, int check)
{
    const sb_server_cfg *cfg = sb_config_server(config);
    sb_conn_set_events(&conn_events);
    sb_log_set_level(cfg->log_level);
    if (!check)
        sb_log_set_format(cfg->log_format);
    sb_log(SB_LOG_INFO, "switchboard %s %s %s", SB_VERSION, check ? "checking" : "starting with",
           sb_config_path(config));
    sb_ids_init();
    int rc = check ? sb_server_prepare(config) : sb_server_init(config);
    if (rc == SB_OK)
        rc = sb_registry_init();
    if (rc == SB_OK)
        rc = sb_endpoint_init(cfg->ws_path);
    if (rc == SB_OK)
        rc = core_gauges();
    if (rc == SB_OK)
        sb_publish_configure(0, 0); /* no history unless a plugin configures it */
    if (rc == SB_OK)
        rc = check ? sb_plugins_check(config) : sb_plugins_load(config);
    return rc;
}

int sb_core_init(sb_config *config)
{
    return core_start(config, 0);
}

int sb_core_check(sb_config *config)
{
    return core_start(config, 1);
}

void sb_core_free(void)
{
    sb_server_drain_later();
    sb_plugins_unload();
    sb_http_free_pending();
    sb_http_routes_free();
    sb_dispatch_free();
    sb_endpoint_free();
    sb_hooks_free();
    sb_registry_free();
    sb_metrics_free();
    sb_json_out_free();
    sb_server_free();
    sb_conn_set_events(NULL);
}

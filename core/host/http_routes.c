/* HTTP routes: what a request asks for. The built-in paths (/health,
 * /ready, /metrics), the WebSocket endpoints (the handshake), and the
 * plugins' prefixes (longest wins); anything else is 404. Installed as the
 * connections' on_request event (host/core.c). */
#include "http_routes.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "endpoint.h"
#include "hooks.h"
#include "handshake.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"

typedef struct http_route {
    char *prefix;
    size_t len;
    sb_route_fn fn;
    void *ud;
    void *owner;
} http_route;

static http_route *routes;
static size_t n_routes;
static http_route *routes;
static size_t n_routes;

/* --- routes --- */

int sb_http_route_add(const char *prefix, sb_route_fn fn, void *ud, void *owner)
{
    for (size_t i = 0; i < n_routes; i++)
        if (strcmp(routes[i].prefix, prefix) == 0)
            return SB_EEXIST;
    http_route *r = realloc(routes, (n_routes + 1) * sizeof(*r));
    if (!r)
        return SB_ENOMEM;
    routes = r;
    char *p = strdup(prefix);
    if (!p)
        return SB_ENOMEM;
    routes[n_routes++] = (http_route){p, strlen(p), fn, ud, owner};
    return SB_OK;
}

void sb_http_route_remove_owner(void *owner)
{
    size_t j = 0;
    for (size_t i = 0; i < n_routes; i++) {
        if (routes[i].owner == owner)
            free(routes[i].prefix);
        else
            routes[j++] = routes[i];
    }
    n_routes = j;
}

void sb_http_routes_free(void)
{
    for (size_t i = 0; i < n_routes; i++)
        free(routes[i].prefix);
    free(routes);
    routes = NULL;
    n_routes = 0;
}

static const http_route *route_find(const char *path)
{
    const http_route *best = NULL;
    for (size_t i = 0; i < n_routes; i++)
        if (strncmp(path, routes[i].prefix, routes[i].len) == 0 &&
            (!best || routes[i].len > best->len))
            best = &routes[i];
    return best;
}

/* Whether c may read /metrics (metrics_allow). */
static int metrics_allowed(const sb_conn *c)
{
    const sb_server_cfg *cfg = sb_srv.cfg;
    for (size_t i = 0; i < cfg->n_metrics_allow; i++)
        if (sb_cidr_match(&cfg->metrics_allow[i], sb_conn_family(c), c->addr))
            return 1;
    return 0;
}

/* /ready: the store and the bus answer, and the server is not stopping. */
static int ready(const char **why)
{
    if (sb_srv.shutting_down) {
        *why = "shutting down";
        return 0;
    }
    return sb_hooks_ready(why);
}

static void builtin_get(sb_conn *c, const sb_http_req *req, const char *path)
{
    if (strcmp(req->method, "GET") != 0) {
        sb_http_respond_text(req->id, 405, "Allow: GET\r\n", "method not allowed: use GET");
        return;
    }
    if (strcmp(path, "/health") == 0) {
        sb_http_respond(req->id, 200, "text/plain; charset=utf-8", NULL, "ok", 2);
    } else if (strcmp(path, "/ready") == 0) {
        const char *why = NULL;
        if (ready(&why))
            sb_http_respond(req->id, 200, "text/plain; charset=utf-8", NULL, "ready", 5);
        else
            sb_http_respond_text(req->id, 503, NULL, why ? why : "not ready");
    } else { /* /metrics */
        if (!metrics_allowed(c)) {
            sb_http_respond_text(req->id, 404, NULL, "no such path");
            return;
        }
        size_t len = 0;
        char *text = sb_metrics_render(&len);
        if (!text) {
            sb_http_respond_text(req->id, 500, NULL, "out of memory");
            return;
        }
        sb_http_respond(req->id, 200, "text/plain; version=0.0.4", NULL, text, len);
        free(text);
    }
}

void sb_http_routes_handle(sb_conn *c, const sb_http_req *req, int upgrade)
{
    const char *path = req->path;
    const sb_endpoint_entry *ep = sb_endpoint_find(path);
    if (ep) {
        sb_handshake(c, req, upgrade, ep);
    } else if (strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0 ||
               strcmp(path, "/metrics") == 0) {
        builtin_get(c, req, path);
    } else {
        const http_route *r = route_find(path);
        if (!r) {
            sb_http_respond_text(req->id, 404, NULL, "no such path");
        } else {
            int rc = r->fn(r->ud, req);
            if (rc != SB_OK) {
                sb_log(SB_LOG_ERROR, "route %s: handler failed with %d", r->prefix, rc);
                sb_http_respond_text(req->id, 500, NULL, "internal error");
            }
        }
    }
}

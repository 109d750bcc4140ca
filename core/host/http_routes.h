/* HTTP routes (docs/protocol.md section 1): the built-in paths, the WebSocket
 * endpoints, and the prefixes plugins register (host->register_route). */
#ifndef SB_HTTP_ROUTES_H
#define SB_HTTP_ROUTES_H

#include "conn.h"
#include "switchboard/plugin.h"

/* Route prefix to a plugin; owner identifies the plugin for removal.
 * -> SB_OK | SB_EEXIST | SB_ENOMEM */
int sb_http_route_add(const char *prefix, sb_route_fn fn, void *ud, void *owner);
void sb_http_route_remove_owner(void *owner);
void sb_http_routes_free(void);
/* Answer one request (the connections' on_request event). */
void sb_http_routes_handle(sb_conn *c, const sb_http_req *req, int upgrade);

#endif

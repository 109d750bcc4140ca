/* The WebSocket upgrade of docs/protocol.md section 1: validation (400/426),
 * origin allow-list (403), capacity (503), identity (401), on_connect
 * policy (403), then 101 with Sec-WebSocket-Accept. */
#ifndef SB_HANDSHAKE_H
#define SB_HANDSHAKE_H

#include "conn.h"
#include "switchboard/plugin.h"

typedef struct sb_endpoint_entry sb_endpoint_entry;

/* Answer req (a request for endpoint ep's path) on c; upgrade: the parser
 * saw an upgrade. */
void sb_handshake(sb_conn *c, const sb_http_req *req, int upgrade, const sb_endpoint_entry *ep);
/* The server's identifier (the registered one, else the client_id rules, with
 * req->token standing in for client_id when set): SB_IDENT_* with user
 * written, or *reason (valid until the next call) for SB_IDENT_REJECT. */
int sb_handshake_identify(const sb_http_req *req, char user[SB_USER_MAX + 1], const char **reason);

#endif

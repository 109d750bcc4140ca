/* The WebSocket upgrade of PROTOCOL.md section 1: validation (400/426),
 * origin allow-list (403), capacity (503), identity (401), on_connect
 * policy (403), then 101 with Sec-WebSocket-Accept. */
#ifndef SB_HANDSHAKE_H
#define SB_HANDSHAKE_H

#include "conn.h"
#include "switchboard/plugin.h"

/* Answer req (a request for /ws) on c; upgrade: the parser saw an upgrade. */
void sb_handshake(sb_conn *c, const sb_http_req *req, int upgrade);

#endif

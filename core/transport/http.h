/* HTTP/1.1 on a connection until it upgrades: request heads parsed with
 * libhttp-parser, bodies dechunked, keep-alive and pipelining with answers
 * sent in request order (plugin routes may answer later), the limits
 * max_header_bytes (431), header_timeout and max_message_bytes (413). What
 * a request asks for is the on_request event's (host/http_routes.c). */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <ev.h>
#include <stdint.h>

#include "conn.h"
#include "switchboard/plugin.h"

int sb_http_attach(sb_conn *c);
void sb_http_detach(sb_conn *c);
/* No request in progress or waiting for its answer: safe to close at shutdown. */
int sb_http_idle(const sb_conn *c);
void sb_http_on_readable(sb_conn *c);
/* The output queue drained: close if the last answer said so, read on. */
void sb_http_on_drained(sb_conn *c);
ev_tstamp sb_http_deadline(sb_conn *c);

/* Answer request req_id; see host->http_respond. -> SB_OK | SB_ECLOSED | SB_ENOMEM */
int sb_http_respond(uint64_t req_id, int status, const char *content_type, const char *headers,
                    const char *body, size_t body_len);
/* Answer the upgrade request req_id with head (a complete 101 head) and
 * switch c to the phase next (WebSocket). -> SB_OK | SB_EINVAL (pipelined
 * behind unanswered requests) | SB_ENOMEM */
int sb_http_upgrade(sb_conn *c, uint64_t req_id, const char *head, const sb_conn_phase_ops *next);
/* An error answer with a one-line text body. */
int sb_http_respond_text(uint64_t req_id, int status, const char *headers, const char *text);
const char *sb_http_header(const sb_http_req *req, const char *name);
/* Answer every request still waiting with 503 (shutdown). */
void sb_http_free_pending(void);

/* The HTTP phase of a connection, from accept to the upgrade. */
extern const sb_conn_phase_ops sb_http_phase;

#endif

/* Handshake checks in the order the protocol lists them. Every refusal has a
 * one-line body saying why; a refused upgrade closes the connection. */
#include "handshake.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deflate.h"
#include "endpoint.h"
#include "hooks.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "registry.h"
#include "runtime.h"
#include "ws.h"
#include "wskey.h"

/* Whether the comma-separated header value has token (case-insensitive). */
static int has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = value; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == tl && strncasecmp(p, token, tl) == 0)
            return 1;
        p = end;
    }
    return 0;
}

static int origin_allowed(const char *origin)
{
    char *const *list = sb_srv.cfg->allowed_origins;
    if (!origin || !list || !list[0])
        return 1; /* not a browser, or no allow-list */
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(list[i], origin) == 0)
            return 1;
    return 0;
}

/* The client address: the last X-Forwarded-For hop when the peer is a
 * trusted proxy. */
static void client_ip(sb_conn *c, const sb_http_req *req)
{
    const sb_server_cfg *cfg = sb_srv.cfg;
    if (!cfg->n_trusted_proxies)
        return;
    const char *xff = sb_http_header(req, "X-Forwarded-For");
    if (!xff)
        return;
    int trusted = 0;
    for (size_t i = 0; i < cfg->n_trusted_proxies && !trusted; i++)
        trusted = sb_cidr_match(&cfg->trusted_proxies[i], sb_conn_family(c), c->addr);
    if (!trusted)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    char ip[INET6_ADDRSTRLEN];
    size_t n = strcspn(last, " \t");
    if (n == 0 || n >= sizeof(ip))
        return;
    memcpy(ip, last, n);
    ip[n] = 0;
    sb_conn_set_ip(c, ip); /* not an address: the peer's stays */
}

int sb_handshake_identify(const sb_http_req *req, char user[SB_USER_MAX + 1], const char **reason)
{
    static char why[256];
    int ident = sb_hooks_identify(req, user, why, sizeof(why));
    *reason = why;
    if (ident >= 0)
        return ident;
    /* No identifier: the client_id rules; an endpoint's credential stands in. */
    char cid[SB_USER_MAX + 2];
    const char *given =
        req->size >= offsetof(sb_http_req, token) + sizeof(req->token) ? req->token : NULL;
    int rc = given
                 ? (snprintf(cid, sizeof(cid), "%s", given) < (int)sizeof(cid) ? SB_OK : SB_EINVAL)
                 : sb_query_param(req->query, "client_id", cid, sizeof(cid));
    if (rc != SB_OK || !sb_user_valid(cid)) {
        snprintf(why, sizeof(why), "client_id missing or invalid");
        return SB_IDENT_REJECT;
    }
    memcpy(user, cid, strlen(cid) + 1);
    return SB_IDENT_USER;
}

void sb_handshake(sb_conn *c, const sb_http_req *req, int upgrade, const sb_endpoint_entry *ep)
{
    const sb_server_cfg *cfg = sb_srv.cfg;
    uint64_t id = req->id;
    char why[256];
    if (strcmp(req->method, "GET") != 0) {
        sb_http_respond_text(id, 405, "Allow: GET\r\n", "method not allowed: use GET");
        return;
    }
    const char *upg = sb_http_header(req, "Upgrade");
    const char *conn_hdr = sb_http_header(req, "Connection");
    if (!upgrade || !upg || !has_token(upg, "websocket") || !conn_hdr ||
        !has_token(conn_hdr, "upgrade")) {
        sb_http_respond_text(id, 426, "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                             "this endpoint needs a WebSocket upgrade");
        return;
    }
    const char *version = sb_http_header(req, "Sec-WebSocket-Version");
    if (!version || strcmp(version, "13") != 0) {
        sb_http_respond_text(id, 426, "Sec-WebSocket-Version: 13\r\n",
                             "unsupported WebSocket version: use 13");
        return;
    }
    const char *key = sb_http_header(req, "Sec-WebSocket-Key");
    size_t key_len = key ? strlen(key) : 0;
    if (!key || !sb_wskey_valid(key, key_len)) {
        sb_http_respond_text(id, 400, NULL, "missing or invalid Sec-WebSocket-Key");
        return;
    }
    if (!sb_http_header(req, "Host")) {
        sb_http_respond_text(id, 400, NULL, "missing Host header");
        return;
    }
    if (!origin_allowed(req->origin)) {
        sb_http_respond_text(id, 403, NULL, "origin not allowed");
        return;
    }
    client_ip(c, req);
    char ip[INET6_ADDRSTRLEN];
    sb_conn_ip(c, ip);
    if (sb_srv.shutting_down) {
        sb_http_respond_text(id, 503, NULL, "server shutting down");
        return;
    }
    if (sb_srv.n_ws >= sb_srv.max_ws) {
        sb_http_respond_text(id, 503, NULL, "connection limit reached");
        return;
    }
    if (cfg->max_connections_per_ip > 0 &&
        sb_registry_ip_count(ip) >= cfg->max_connections_per_ip) {
        sb_http_respond_text(id, 503, NULL, "connection limit for this address reached");
        return;
    }

    sb_http_req hreq = *req;
    hreq.ip = ip; /* trusted proxies applied */
    char user[SB_USER_MAX + 1] = "";
    const char *reason = NULL;
    int ident = ep->ep.identify ? ep->ep.identify(ep->ud, &hreq, user, &reason)
                                : sb_handshake_identify(&hreq, user, &reason);
    if (ep->ep.identify && ident == SB_IDENT_USER && !sb_user_valid(user)) {
        sb_log(SB_LOG_WARN, "endpoint %s: identify named an invalid user: refused", ep->path);
        ident = SB_IDENT_REJECT;
        reason = "identity rejected";
    }
    if (ident == SB_IDENT_LATER && (ep->ep.flags & SB_ENDPOINT_NEED_USER)) {
        ident = SB_IDENT_REJECT;
        reason = "this endpoint needs an identity";
    }
    if (ident != SB_IDENT_USER && ident != SB_IDENT_LATER) {
        sb_http_respond_text(id, 401, NULL, reason && *reason ? reason : "identity rejected");
        return;
    }
    hreq.user = ident == SB_IDENT_USER ? user : NULL;
    if (sb_hooks_on_connect(&hreq, why, sizeof(why)) == SB_HOOK_DENY) {
        sb_http_respond_text(id, 403, NULL, why);
        return;
    }

    char accept[29];
    if (sb_wskey_accept(key, key_len, accept) != SB_OK) {
        sb_http_respond_text(id, 400, NULL, "invalid Sec-WebSocket-Key");
        return;
    }
    int deflate = sb_srv.cfg->compression &&
                  sb_deflate_negotiate(sb_http_header(req, "Sec-WebSocket-Extensions"));
    char head[384];
    snprintf(head, sizeof(head),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n%s\r\n",
             accept, deflate ? SB_DEFLATE_RESPONSE : "");
    int rc = sb_http_upgrade(c, id, head, &sb_ws_phase);
    if (rc == SB_EINVAL) {
        sb_http_respond_text(id, 400, NULL, "an upgrade must not be pipelined behind requests");
        return;
    }
    if (rc != SB_OK) {
        sb_conn_destroy(c);
        return;
    }
    c->since_ms = sb_now_ms();
    c->ep = ep;
    c->deflate = (uint8_t)deflate;
    sb_metrics_core.connections_total++;
    sb_registry_ws_open(c);
    sb_log(SB_LOG_DEBUG, "conn %llu (%s): WebSocket open%s%s", (unsigned long long)c->id, ip,
           user[0] ? " as " : "", user);
    if (ident == SB_IDENT_USER && sb_registry_set_user(c, user) != SB_OK)
        sb_conn_close(c, 1011, "out of memory");
}

/* Fuzz target: the HTTP phase of a connection. The byte stream goes through
 * core/transport/http_parse.c (libhttp-parser callbacks, pause at each request's end,
 * pipelining, the 431/413 limits, request assembly) driven the way
 * core/transport/http.c's parse loop drives it; each request then goes through the pure
 * units the handshake uses: sb_query_param, sb_user_valid, sb_wskey_valid and
 * sb_wskey_accept. Invariants: no crash or leak; feed never consumes more than
 * it was given; an error is 400, 413 or 431 with a reason; a taken request has
 * NUL-terminated strings no longer than what was parsed, a body within
 * max_message_bytes, a path unless the target was bad.
 * Input: byte 0 picks max_header_bytes, byte 1 max_message_bytes, byte 2 the
 * read size; the rest is the byte stream from the client. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"
#include "names.h"
#include "switchboard/plugin.h"
#include "wskey.h"

static const char *header(const sb_header *hv, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hv[i].name, name) == 0)
            return hv[i].value;
    return NULL;
}

/* The pure part of core/routing/handshake.c for a request to /ws. */
static void handshake(const sb_header *hv, size_t nh, const char *query)
{
    const char *key = header(hv, nh, "Sec-WebSocket-Key");
    if (key && sb_wskey_valid(key, strlen(key))) {
        char accept[29];
        if (sb_wskey_accept(key, strlen(key), accept) != SB_OK || strlen(accept) != 28)
            abort();
    }
    char cid[SB_USER_MAX + 2];
    if (sb_query_param(query, "client_id", cid, sizeof(cid)) == SB_OK && sb_user_valid(cid) &&
        strlen(cid) > SB_USER_MAX)
        abort();
}

/* http.c's http_handle, up to routing: take the request, check what
 * sb_http_parse_take promises, and run the handshake's pure checks on /ws.
 * 0: go on; 1: the connection closes. */
static int handle(sb_http_parse *hp)
{
    sb_http_parsed pr;
    if (sb_http_parse_take(hp, &pr) != SB_OK)
        abort(); /* no allocation failure under the fuzzer */
    if (!pr.method || !pr.body || strlen(pr.body) > pr.body_len)
        abort();
    if (pr.body_len != hp->body_len || pr.body_len > hp->max_message_bytes)
        abort();
    if (strlen(pr.url) != hp->url_l || strlen(pr.path) >= sizeof(pr.path) ||
        strlen(pr.query) >= sizeof(pr.query))
        abort();
    if (!pr.bad_url && pr.path[0] == 0)
        abort();
    for (size_t i = 0; i < pr.n_headers; i++)
        if (strlen(pr.headers[i].name) > hp->hdr[i].nl ||
            strlen(pr.headers[i].value) > hp->hdr[i].vl)
            abort();
    if (!pr.bad_url && strcmp(pr.path, "/ws") == 0)
        handshake(pr.headers, pr.n_headers, pr.query);
    int close = pr.bad_url || !pr.keep_alive || pr.upgrade;
    sb_http_parsed_free(&pr);
    return close;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    sb_http_parse hp;
    sb_http_parse_init(&hp, 64u + 32u * data[0], 8u * data[1]);
    size_t chunk = 1 + data[2];
    const char *in = (const char *)data + 3;
    size_t in_len = size - 3;

    /* Reads of `chunk` bytes; rlen is what has arrived, roff what is parsed
     * (http.c's http_parse loop, without the pipeline limit). */
    size_t rlen = 0, roff = 0;
    int stopped = 0;
    while (!stopped && rlen < in_len) {
        rlen += in_len - rlen < chunk ? in_len - rlen : chunk;
        while (!stopped && roff < rlen) {
            size_t len = rlen - roff;
            sb_http_feed fr;
            sb_http_parse_feed(&hp, in + roff, len, &fr);
            if (fr.used > len)
                abort();
            roff += fr.used;
            if (fr.want_continue && !fr.head_done)
                abort();
            if (fr.ev == SB_HTTP_REQUEST) {
                if (hp.in_msg)
                    abort();
                if (handle(&hp))
                    stopped = 1; /* upgrade, close or bad target: the rest is not HTTP */
                sb_http_parse_next(&hp);
                continue;
            }
            if (fr.ev == SB_HTTP_FAILED) {
                if (fr.status != 400 && fr.status != 413 && fr.status != 431 && fr.status != 505)
                    abort();
                if (fr.why[0] == 0 || memchr(fr.why, 0, sizeof(fr.why)) == NULL)
                    abort();
                stopped = 1;
                break;
            }
            if (fr.used < len)
                break; /* as in http.c: wait for more bytes */
        }
        if (!stopped && sb_http_parse_head_over(&hp))
            stopped = 1; /* 431 */
    }
    sb_http_parse_free(&hp);
    return 0;
}

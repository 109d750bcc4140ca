/* Fuzz target: the HTTP phase of a connection. core/http.c cannot be linked
 * without the whole server (sb_srv, connections, the loop), so its parser
 * callbacks, its parse loop (pause at each message end, pipelining, limits)
 * and its request assembly (NUL-terminated copies, http_parser_parse_url,
 * path/query copies) are mirrored here; the request then goes through the
 * real pure units the handshake uses: sb_query_param, sb_user_valid,
 * sb_wskey_valid and sb_wskey_accept. Keep the mirror in step with http.c.
 * Input: byte 0 picks max_header_bytes, byte 1 max_message_bytes, byte 2 the
 * read size; the rest is the byte stream from the client. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "names.h"
#include "switchboard/plugin.h"
#include "wskey.h"

typedef struct hdr {
    size_t no, nl, vo, vl;
} hdr;

typedef struct hconn {
    http_parser parser;
    uint32_t max_header_bytes;
    size_t max_message_bytes;
    char *hbuf;
    size_t hlen, hcap;
    hdr *hdr;
    size_t nhdr, caphdr;
    size_t url_o, url_l;
    int last_value;
    char *body;
    size_t body_len, body_cap;
    int error_status;
    int complete;
} hconn;

static void reset_request(hconn *h)
{
    h->hlen = 0;
    h->nhdr = 0;
    h->url_o = h->url_l = 0;
    h->last_value = 0;
    h->body_len = 0;
    h->error_status = 0;
    h->complete = 0;
}

static int hbuf_append(hconn *h, const char *at, size_t n)
{
    if (h->hlen + n + 1 > h->hcap) {
        size_t cap = h->hcap ? h->hcap : 512;
        while (cap < h->hlen + n + 1)
            cap *= 2;
        char *b = realloc(h->hbuf, cap);
        if (!b)
            return -1;
        h->hbuf = b;
        h->hcap = cap;
    }
    memcpy(h->hbuf + h->hlen, at, n);
    h->hlen += n;
    return 0;
}

static int head_over_limit(http_parser *p)
{
    hconn *h = p->data;
    if (p->nread > h->max_header_bytes) {
        h->error_status = 431;
        return 1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    reset_request(p->data);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hconn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->url_l == 0)
        h->url_o = h->hlen;
    h->url_l += n;
    return hbuf_append(h, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hconn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->nhdr == 0 || h->last_value) {
        if (h->nhdr == h->caphdr) {
            size_t cap = h->caphdr ? h->caphdr * 2 : 16;
            hdr *a = realloc(h->hdr, cap * sizeof(*a));
            if (!a)
                return 1;
            h->hdr = a;
            h->caphdr = cap;
        }
        h->hdr[h->nhdr++] = (hdr){.no = h->hlen, .nl = 0, .vo = 0, .vl = 0};
        h->last_value = 0;
    }
    h->hdr[h->nhdr - 1].nl += n;
    return hbuf_append(h, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hconn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->nhdr == 0)
        return 1;
    hdr *hd = &h->hdr[h->nhdr - 1];
    if (!h->last_value) {
        hd->vo = h->hlen;
        hd->vl = 0;
        h->last_value = 1;
    }
    hd->vl += n;
    return hbuf_append(h, at, n);
}

static int on_headers_complete(http_parser *p)
{
    hconn *h = p->data;
    if (head_over_limit(p))
        return -1;
    if (p->content_length != ULLONG_MAX && p->content_length > h->max_message_bytes) {
        h->error_status = 413;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hconn *h = p->data;
    if (h->body_len + n > h->max_message_bytes) {
        h->error_status = 413;
        return 1;
    }
    if (h->body_len + n + 1 > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 1024;
        while (cap < h->body_len + n + 1)
            cap *= 2;
        char *b = realloc(h->body, cap);
        if (!b)
            return 1;
        h->body = b;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, at, n);
    h->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hconn *h = p->data;
    h->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const char *header(const sb_header *hv, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hv[i].name, name) == 0)
            return hv[i].value;
    return NULL;
}

/* The pure part of core/handshake.c for a request to /ws. */
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

/* http.c's http_handle, up to routing. 0: go on; 1: the connection closes. */
static int handle(hconn *h)
{
    http_parser *p = &h->parser;
    int keep = http_should_keep_alive(p);
    int upgrade = p->upgrade;
    size_t nh = h->nhdr;
    sb_header *hv = calloc(nh ? nh : 1, sizeof(*hv));
    char *text = malloc(h->hlen + nh * 2 + 2);
    if (!hv || !text)
        abort();
    char *w = text;
    char *url = w;
    memcpy(w, h->hbuf + h->url_o, h->url_l);
    w += h->url_l;
    *w++ = 0;
    for (size_t i = 0; i < nh; i++) {
        hv[i].name = w;
        memcpy(w, h->hbuf + h->hdr[i].no, h->hdr[i].nl);
        w += h->hdr[i].nl;
        *w++ = 0;
        hv[i].value = w;
        memcpy(w, h->hbuf + h->hdr[i].vo, h->hdr[i].vl);
        w += h->hdr[i].vl;
        *w++ = 0;
    }
    if ((size_t)(w - text) > h->hlen + nh * 2 + 2)
        abort();

    struct http_parser_url u;
    http_parser_url_init(&u);
    char path[2048], query[4096];
    path[0] = query[0] = 0;
    int bad_url = http_parser_parse_url(url, strlen(url), upgrade && p->method == HTTP_CONNECT, &u);
    if (!bad_url && (u.field_set & (1 << UF_PATH))) {
        size_t n = u.field_data[UF_PATH].len;
        if (n >= sizeof(path))
            bad_url = 1;
        else {
            memcpy(path, url + u.field_data[UF_PATH].off, n);
            path[n] = 0;
        }
    } else if (!bad_url) {
        strcpy(path, "/");
    }
    if (!bad_url && (u.field_set & (1 << UF_QUERY))) {
        size_t n = u.field_data[UF_QUERY].len;
        if (n >= sizeof(query))
            bad_url = 1;
        else {
            memcpy(query, url + u.field_data[UF_QUERY].off, n);
            query[n] = 0;
        }
    }
    if (h->body)
        h->body[h->body_len] = 0;
    if (!http_method_str(p->method))
        abort();
    if (!bad_url && strcmp(path, "/ws") == 0)
        handshake(hv, nh, query);
    free(hv);
    free(text);
    return bad_url || !keep || upgrade;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    hconn h;
    memset(&h, 0, sizeof(h));
    h.max_header_bytes = 64u + 32u * data[0];
    h.max_message_bytes = 8u * data[1];
    size_t chunk = 1 + data[2];
    const char *in = (const char *)data + 3;
    size_t in_len = size - 3;
    http_parser_init(&h.parser, HTTP_REQUEST);
    h.parser.data = &h;

    /* Reads of `chunk` bytes; rlen is what has arrived, roff what is parsed. */
    size_t rlen = 0, roff = 0;
    int stopped = 0;
    while (!stopped && rlen < in_len) {
        rlen += in_len - rlen < chunk ? in_len - rlen : chunk;
        while (!stopped && roff < rlen) {
            size_t len = rlen - roff;
            size_t n = http_parser_execute(&h.parser, &settings, in + roff, len);
            if (n > len)
                abort();
            roff += n;
            enum http_errno err = HTTP_PARSER_ERRNO(&h.parser);
            if (h.complete) {
                http_parser_pause(&h.parser, 0);
                if (handle(&h))
                    stopped = 1; /* upgrade, close or bad target: the rest is not HTTP */
                reset_request(&h);
                continue;
            }
            if (err != HPE_OK && err != HPE_PAUSED) {
                if (h.error_status != 0 && h.error_status != 431 && h.error_status != 413)
                    abort();
                if (!http_errno_description(err))
                    abort();
                stopped = 1;
                break;
            }
            if (n < len)
                break; /* as in http.c: wait for more bytes */
        }
        if (!stopped && h.parser.nread > h.max_header_bytes && h.parser.state != 0)
            stopped = 1; /* 431 */
    }
    free(h.hbuf);
    free(h.hdr);
    free(h.body);
    return 0;
}

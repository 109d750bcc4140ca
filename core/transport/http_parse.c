/* Bytes to HTTP requests for core/transport/http.c: libhttp-parser callbacks collect
 * the url, headers and body of one request into buffers owned here, with the
 * limits checked as the bytes arrive; the parser pauses at each request's
 * end so the caller handles it outside the callbacks. */
#include "http_parse.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void http_parse_reset(sb_http_parse *hp)
{
    hp->hlen = 0;
    hp->nhdr = 0;
    hp->url_o = hp->url_l = 0;
    hp->last_value = 0;
    hp->body_len = 0;
    hp->error_status = 0;
    hp->complete = 0;
    hp->want_continue = 0;
}

static int hbuf_append(sb_http_parse *hp, const char *at, size_t n)
{
    if (hp->hlen + n + 1 > hp->hcap) {
        size_t cap = hp->hcap ? hp->hcap : 512;
        while (cap < hp->hlen + n + 1)
            cap *= 2;
        char *b = realloc(hp->hbuf, cap);
        if (!b)
            return -1;
        hp->hbuf = b;
        hp->hcap = cap;
    }
    memcpy(hp->hbuf + hp->hlen, at, n);
    hp->hlen += n;
    return 0;
}

static int head_over_limit(http_parser *p)
{
    sb_http_parse *hp = p->data;
    if (p->nread > hp->max_header_bytes) {
        hp->error_status = 431;
        return 1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    sb_http_parse *hp = p->data;
    hp->in_msg = 1;
    http_parse_reset(hp);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    sb_http_parse *hp = p->data;
    if (head_over_limit(p))
        return 1;
    if (hp->url_l == 0)
        hp->url_o = hp->hlen;
    hp->url_l += n;
    return hbuf_append(hp, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    sb_http_parse *hp = p->data;
    if (head_over_limit(p))
        return 1;
    if (hp->nhdr == 0 || hp->last_value) {
        if (hp->nhdr == hp->caphdr) {
            size_t cap = hp->caphdr ? hp->caphdr * 2 : 16;
            sb_http_parse_hdr *a = realloc(hp->hdr, cap * sizeof(*a));
            if (!a)
                return 1;
            hp->hdr = a;
            hp->caphdr = cap;
        }
        hp->hdr[hp->nhdr++] = (sb_http_parse_hdr){.no = hp->hlen, .nl = 0, .vo = 0, .vl = 0};
        hp->last_value = 0;
    }
    hp->hdr[hp->nhdr - 1].nl += n;
    return hbuf_append(hp, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    sb_http_parse *hp = p->data;
    if (head_over_limit(p))
        return 1;
    if (hp->nhdr == 0)
        return 1;
    sb_http_parse_hdr *hd = &hp->hdr[hp->nhdr - 1];
    if (!hp->last_value) {
        hd->vo = hp->hlen;
        hd->vl = 0;
        hp->last_value = 1;
    }
    hd->vl += n;
    return hbuf_append(hp, at, n);
}

/* Whether the request being parsed says "Expect: 100-continue". */
static int http_expects_continue(const sb_http_parse *hp)
{
    for (size_t i = 0; i < hp->nhdr; i++) {
        const sb_http_parse_hdr *hd = &hp->hdr[i];
        if (hd->nl == 6 && strncasecmp(hp->hbuf + hd->no, "expect", 6) == 0 && hd->vl == 12 &&
            strncasecmp(hp->hbuf + hd->vo, "100-continue", 12) == 0)
            return 1;
    }
    return 0;
}

/* Returning 1 or 2 here means "no body" / "upgrade" to http_parser; any
 * other nonzero value is an error. */
static int on_headers_complete(http_parser *p)
{
    sb_http_parse *hp = p->data;
    if (head_over_limit(p))
        return -1;
    /* A request line without a version (libhttp-parser reads it as
     * HTTP/0.9) is malformed; a WebSocket upgrade needs HTTP/1.1. */
    if (p->http_major == 0) {
        hp->error_status = 400;
        return -1;
    }
    if (p->http_major == 1 && p->http_minor == 0 && (p->upgrade || (p->flags & F_UPGRADE))) {
        hp->error_status = 505;
        return -1;
    }
    /* A declared body over the limit is refused before it is read. */
    if (p->content_length != ULLONG_MAX && p->content_length > (uint64_t)hp->max_message_bytes) {
        hp->error_status = 413;
        return -1;
    }
    hp->head_done = 1;
    if (http_expects_continue(hp) && !(p->flags & F_SKIPBODY) &&
        (p->content_length != ULLONG_MAX || (p->flags & F_CHUNKED)))
        hp->want_continue = 1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    sb_http_parse *hp = p->data;
    if (hp->body_len + n > hp->max_message_bytes) {
        hp->error_status = 413;
        return 1;
    }
    if (hp->body_len + n + 1 > hp->body_cap) {
        size_t cap = hp->body_cap ? hp->body_cap : 1024;
        while (cap < hp->body_len + n + 1)
            cap *= 2;
        char *b = realloc(hp->body, cap);
        if (!b)
            return 1;
        hp->body = b;
        hp->body_cap = cap;
    }
    memcpy(hp->body + hp->body_len, at, n);
    hp->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    sb_http_parse *hp = p->data;
    hp->complete = 1;
    hp->in_msg = 0;
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

void sb_http_parse_init(sb_http_parse *hp, uint32_t max_header_bytes, size_t max_message_bytes)
{
    memset(hp, 0, sizeof(*hp));
    hp->max_header_bytes = max_header_bytes;
    hp->max_message_bytes = max_message_bytes;
    /* The library's own limit catches heads the callbacks never see whole. */
    http_parser_set_max_header_size(max_header_bytes);
    http_parser_init(&hp->parser, HTTP_REQUEST);
    hp->parser.data = hp;
}

void sb_http_parse_free(sb_http_parse *hp)
{
    free(hp->hbuf);
    free(hp->hdr);
    free(hp->body);
    hp->hbuf = hp->body = NULL;
    hp->hdr = NULL;
}

void sb_http_parse_feed(sb_http_parse *hp, const char *buf, size_t len, sb_http_feed *out)
{
    hp->head_done = 0;
    hp->want_continue = 0;
    out->used = http_parser_execute(&hp->parser, &settings, buf, len);
    out->head_done = hp->head_done;
    out->want_continue = hp->want_continue;
    out->status = 0;
    out->why[0] = 0;
    enum http_errno err = HTTP_PARSER_ERRNO(&hp->parser);
    if (hp->complete) {
        out->ev = SB_HTTP_REQUEST;
        return;
    }
    if (err != HPE_OK && err != HPE_PAUSED) {
        out->ev = SB_HTTP_FAILED;
        if (hp->error_status == 431 || err == HPE_HEADER_OVERFLOW) {
            out->status = 431;
            snprintf(out->why, sizeof(out->why), "request head over max_header_bytes");
        } else if (hp->error_status == 413) {
            out->status = 413;
            snprintf(out->why, sizeof(out->why), "request body over max_message_bytes");
        } else if (hp->error_status == 505) {
            out->status = 505;
            snprintf(out->why, sizeof(out->why), "a WebSocket upgrade needs HTTP/1.1");
        } else if (hp->error_status == 400) {
            out->status = 400;
            snprintf(out->why, sizeof(out->why), "request line without an HTTP version");
        } else {
            out->status = 400;
            snprintf(out->why, sizeof(out->why), "malformed request: %s",
                     http_errno_description(err));
        }
        return;
    }
    out->ev = SB_HTTP_MORE;
}

/* Copy len bytes of url at off into dst (size cap); -1 when too long. */
static int http_parse_copy(char *dst, size_t cap, const char *url, size_t off, size_t len)
{
    if (len >= cap)
        return -1;
    memcpy(dst, url + off, len);
    dst[len] = 0;
    return 0;
}

int sb_http_parse_take(sb_http_parse *hp, sb_http_parsed *req)
{
    http_parser *p = &hp->parser;
    http_parser_pause(p, 0);
    memset(req, 0, sizeof(*req));
    req->keep_alive = http_should_keep_alive(p);
    req->upgrade = p->upgrade;
    req->method = http_method_str(p->method);

    /* NUL-terminate url, names and values: copy into one block. */
    size_t nh = hp->nhdr;
    req->headers = calloc(nh ? nh : 1, sizeof(*req->headers));
    req->text = malloc(hp->hlen + nh * 2 + 2);
    if (!req->headers || !req->text) {
        sb_http_parsed_free(req);
        return SB_ENOMEM;
    }
    char *w = req->text;
    char *url = w;
    memcpy(w, hp->hbuf + hp->url_o, hp->url_l);
    w += hp->url_l;
    *w++ = 0;
    for (size_t i = 0; i < nh; i++) {
        req->headers[i].name = w;
        memcpy(w, hp->hbuf + hp->hdr[i].no, hp->hdr[i].nl);
        w += hp->hdr[i].nl;
        *w++ = 0;
        req->headers[i].value = w;
        memcpy(w, hp->hbuf + hp->hdr[i].vo, hp->hdr[i].vl);
        w += hp->hdr[i].vl;
        *w++ = 0;
    }
    req->url = url;
    req->n_headers = nh;

    /* Path and query; absolute-form targets are accepted too. */
    struct http_parser_url u;
    http_parser_url_init(&u);
    int bad =
        http_parser_parse_url(url, strlen(url), req->upgrade && p->method == HTTP_CONNECT, &u);
    if (!bad && (u.field_set & (1 << UF_PATH)))
        bad = http_parse_copy(req->path, sizeof(req->path), url, u.field_data[UF_PATH].off,
                              u.field_data[UF_PATH].len);
    else if (!bad)
        strcpy(req->path, "/");
    if (!bad && (u.field_set & (1 << UF_QUERY)))
        bad = http_parse_copy(req->query, sizeof(req->query), url, u.field_data[UF_QUERY].off,
                              u.field_data[UF_QUERY].len);
    req->bad_url = bad != 0;

    if (hp->body)
        hp->body[hp->body_len] = 0;
    req->body = hp->body ? hp->body : "";
    req->body_len = hp->body_len;
    return SB_OK;
}

void sb_http_parsed_free(sb_http_parsed *req)
{
    free(req->headers);
    free(req->text);
    req->headers = NULL;
    req->text = NULL;
}

void sb_http_parse_next(sb_http_parse *hp)
{
    http_parse_reset(hp);
}

int sb_http_parse_head_over(const sb_http_parse *hp)
{
    return hp->parser.nread > hp->max_header_bytes && hp->parser.state != 0;
}

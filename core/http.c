/* HTTP/1.1 phase of a connection. Bytes are fed to libhttp-parser as they
 * arrive; the parser is paused at the end of each request so it is handled
 * outside the parser's callbacks. Every request gets a slot in the
 * connection's answer list, in order; an answer leaves only when every
 * earlier one has, so asynchronous plugin routes keep pipelining correct. */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_parser.h>

#include "dict.h"
#include "handshake.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define HTTP_MAX_PIPELINE 32
#define HTTP_READ_CHUNK   16384

typedef struct http_answer {
    uint64_t req_id;
    uint64_t conn_id;
    sb_frame *bytes; /* NULL until answered */
    int close;       /* close the connection after this answer */
    struct http_answer *next;
} http_answer;

typedef struct http_hdr {
    size_t no, nl, vo, vl; /* offsets into hbuf */
} http_hdr;

struct sb_http_conn {
    http_parser parser;
    char *rbuf;
    size_t rlen, roff;
    char *hbuf; /* url and header text of the request being parsed */
    size_t hlen, hcap;
    http_hdr *hdr;
    size_t nhdr, caphdr;
    size_t url_o, url_l;
    int last_value; /* the last header callback was a value */
    char *body;
    size_t body_len, body_cap;
    int error_status;  /* set by a callback: 431 or 413 */
    int complete;      /* a whole request is parsed (parser paused) */
    int stopped;       /* no more requests: a closing answer is queued */
    int want_continue; /* the head asked for "100 Continue" */
    int in_msg;        /* a request has begun and is not complete */
    ev_tstamp deadline;
    http_answer *ans_head, *ans_tail;
    size_t n_ans;
};

typedef struct http_route {
    char *prefix;
    size_t len;
    sb_route_fn fn;
    void *ud;
    void *owner;
} http_route;

static http_route *routes;
static size_t n_routes;
static sb_dict *answers; /* req_id -> http_answer still unanswered */
static uint64_t next_req_id;
static http_parser_settings settings;

static void http_parse(sb_conn *c);

ev_tstamp sb_http_deadline(sb_conn *c)
{
    sb_http_conn *h = c->http;
    if (!h || h->n_ans)
        return ev_now(sb_srv.loop) + 3600.0; /* waiting for our own answers */
    return h->deadline;
}

static void http_reset_request(sb_http_conn *h)
{
    h->hlen = 0;
    h->nhdr = 0;
    h->url_o = h->url_l = 0;
    h->last_value = 0;
    h->body_len = 0;
    h->error_status = 0;
    h->complete = 0;
    h->want_continue = 0;
}

/* --- parser callbacks: collect the request --- */

static int hbuf_append(sb_http_conn *h, const char *at, size_t n)
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
    sb_http_conn *h = p->data;
    if (p->nread > (uint32_t)sb_srv.cfg->max_header_bytes) {
        h->error_status = 431;
        return 1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    ((sb_http_conn *)p->data)->in_msg = 1;
    http_reset_request(p->data);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    sb_http_conn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->url_l == 0)
        h->url_o = h->hlen;
    h->url_l += n;
    return hbuf_append(h, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    sb_http_conn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->nhdr == 0 || h->last_value) {
        if (h->nhdr == h->caphdr) {
            size_t cap = h->caphdr ? h->caphdr * 2 : 16;
            http_hdr *a = realloc(h->hdr, cap * sizeof(*a));
            if (!a)
                return 1;
            h->hdr = a;
            h->caphdr = cap;
        }
        h->hdr[h->nhdr++] = (http_hdr){.no = h->hlen, .nl = 0, .vo = 0, .vl = 0};
        h->last_value = 0;
    }
    h->hdr[h->nhdr - 1].nl += n;
    return hbuf_append(h, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    sb_http_conn *h = p->data;
    if (head_over_limit(p))
        return 1;
    if (h->nhdr == 0)
        return 1;
    http_hdr *hd = &h->hdr[h->nhdr - 1];
    if (!h->last_value) {
        hd->vo = h->hlen;
        hd->vl = 0;
        h->last_value = 1;
    }
    hd->vl += n;
    return hbuf_append(h, at, n);
}

/* Returning 1 or 2 here means "no body" / "upgrade" to http_parser; any
 * other nonzero value is an error. */
/* Whether the request being parsed says "Expect: 100-continue". */
static int http_expects_continue(const sb_http_conn *h)
{
    for (size_t i = 0; i < h->nhdr; i++) {
        const http_hdr *hd = &h->hdr[i];
        if (hd->nl == 6 && strncasecmp(h->hbuf + hd->no, "expect", 6) == 0 && hd->vl == 12 &&
            strncasecmp(h->hbuf + hd->vo, "100-continue", 12) == 0)
            return 1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    sb_http_conn *h = p->data;
    if (head_over_limit(p))
        return -1;
    /* A declared body over the limit is refused before it is read. */
    if (p->content_length != ULLONG_MAX &&
        p->content_length > (uint64_t)sb_srv.cfg->max_message_bytes) {
        h->error_status = 413;
        return -1;
    }
    h->deadline = ev_now(sb_srv.loop) + sb_srv.cfg->header_timeout;
    if (http_expects_continue(h) && !(p->flags & F_SKIPBODY) &&
        (p->content_length != ULLONG_MAX || (p->flags & F_CHUNKED)))
        h->want_continue = 1; /* sent by http_parse once the callbacks return */
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    sb_http_conn *h = p->data;
    if (h->body_len + n > (size_t)sb_srv.cfg->max_message_bytes) {
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
    sb_http_conn *h = p->data;
    h->complete = 1;
    h->in_msg = 0;
    http_parser_pause(p, 1);
    return 0;
}

/* --- answers, in request order --- */

static void http_flush(sb_conn *c)
{
    sb_http_conn *h = c->http;
    while (h->ans_head && h->ans_head->bytes) {
        http_answer *a = h->ans_head;
        h->ans_head = a->next;
        if (!h->ans_head)
            h->ans_tail = NULL;
        h->n_ans--;
        int close_after = a->close;
        sb_conn_send(c, a->bytes);
        sb_frame_unref(a->bytes);
        free(a);
        if (close_after) {
            h->stopped = 1;
            /* Nothing after a closing answer; queued ones are dropped. */
            while (h->ans_head) {
                http_answer *n = h->ans_head->next;
                sb_dict_udel(answers, h->ans_head->req_id);
                sb_frame_unref(h->ans_head->bytes);
                free(h->ans_head);
                h->ans_head = n;
            }
            h->ans_tail = NULL;
            h->n_ans = 0;
            break;
        }
    }
    if (sb_outq_empty(&c->out))
        sb_http_on_drained(c);
}

static http_answer *http_answer_new(sb_conn *c, int close_after)
{
    sb_http_conn *h = c->http;
    http_answer *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->req_id = ++next_req_id;
    a->conn_id = c->id;
    a->close = close_after || sb_srv.shutting_down;
    if (sb_dict_uset(answers, a->req_id, a, NULL) != SB_OK) {
        free(a);
        return NULL;
    }
    if (h->ans_tail)
        h->ans_tail->next = a;
    else
        h->ans_head = a;
    h->ans_tail = a;
    h->n_ans++;
    return a;
}

static const char *status_text(int status)
{
    switch (status) {
#define XX(num, name, string)                                                                      \
    case num:                                                                                      \
        return #string;
        HTTP_STATUS_MAP(XX)
#undef XX
    default:
        return "Unknown";
    }
}

int sb_http_respond(uint64_t req_id, int status, const char *content_type, const char *headers,
                    const char *body, size_t body_len)
{
    http_answer *a = sb_dict_udel(answers, req_id);
    if (!a)
        return SB_ECLOSED;
    sb_conn *c = sb_conn_find(a->conn_id);
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, status_text(status), content_type ? content_type : "text/plain",
                     body_len, a->close ? "Connection: close\r\n" : "", headers ? headers : "");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        body_len = 0;
    }
    sb_frame *f = sb_frame_alloc((size_t)n + body_len);
    if (!f) {
        a->close = 1;
        f = sb_frame_raw("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 56);
        if (!f)
            return SB_ENOMEM;
    } else {
        memcpy(f->data, head, (size_t)n);
        if (body_len)
            memcpy(f->data + n, body, body_len);
    }
    sb_metrics_core.http_responses++;
    if (!c || c->dead || !c->http) {
        /* The connection is gone: the answer has nowhere to go. */
        sb_frame_unref(f);
        if (!c || !c->http)
            free(a);
        return SB_ECLOSED;
    }
    a->bytes = f;
    c->busy++;
    http_flush(c);
    if (!c->dead && !c->http->stopped && c->http->rlen > c->http->roff)
        http_parse(c); /* requests that waited for a pipeline slot */
    if (--c->busy == 0 && c->dead)
        sb_conn_destroy(c);
    return SB_OK;
}

int sb_http_upgrade(sb_conn *c, uint64_t req_id, const char *head)
{
    sb_http_conn *h = c->http;
    http_answer *a = sb_dict_udel(answers, req_id);
    if (!a)
        return SB_ECLOSED;
    if (h->ans_head != a || a->next) {
        /* Earlier requests still wait for answers: an upgrade cannot jump them. */
        sb_dict_uset(answers, req_id, a, NULL);
        return SB_EINVAL;
    }
    h->ans_head = h->ans_tail = NULL;
    h->n_ans = 0;
    free(a);
    sb_frame *f = sb_frame_raw(head, strlen(head));
    if (!f)
        return SB_ENOMEM;
    sb_conn_send(c, f);
    sb_frame_unref(f);
    sb_conn_upgraded(c);
    return SB_OK;
}

int sb_http_respond_text(uint64_t req_id, int status, const char *headers, const char *text)
{
    char body[512];
    int n = snprintf(body, sizeof(body), "%s\n", text);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)sizeof(body) - 1;
    return sb_http_respond(req_id, status, "text/plain; charset=utf-8", headers, body, (size_t)n);
}

/* An error found by the parser: answer and close after it. */
static void http_fail(sb_conn *c, int status, const char *why)
{
    sb_http_conn *h = c->http;
    h->stopped = 1;
    ev_io_stop(sb_srv.loop, &c->rio);
    http_answer *a = http_answer_new(c, 1);
    if (!a) {
        sb_conn_destroy(c);
        return;
    }
    sb_log(SB_LOG_DEBUG, "conn %llu (%s): HTTP %d: %s", (unsigned long long)c->id, c->ip, status,
           why);
    sb_http_respond_text(a->req_id, status, NULL, why);
}

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

const char *sb_http_header(const sb_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
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
        if (sb_metrics_ready(&why))
            sb_http_respond(req->id, 200, "text/plain; charset=utf-8", NULL, "ready", 5);
        else
            sb_http_respond_text(req->id, 503, NULL, why ? why : "not ready");
    } else { /* /metrics */
        if (!sb_metrics_allowed(c)) {
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

/* Handle the request the parser just finished (parser paused). */
static void http_handle(sb_conn *c)
{
    sb_http_conn *h = c->http;
    http_parser *p = &h->parser;
    int keep = http_should_keep_alive(p);
    int upgrade = p->upgrade;

    /* NUL-terminate url, names and values: copy into one block. */
    size_t nh = h->nhdr;
    sb_header *hv = calloc(nh ? nh : 1, sizeof(*hv));
    char *text = malloc(h->hlen + nh * 2 + 2);
    if (!hv || !text) {
        free(hv);
        free(text);
        http_fail(c, 503, "out of memory");
        return;
    }
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

    /* Path and query; absolute-form targets are accepted too. */
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

    http_answer *a = http_answer_new(c, !keep || upgrade);
    if (!a) {
        free(hv);
        free(text);
        http_fail(c, 503, "out of memory");
        return;
    }
    if (h->body)
        h->body[h->body_len] = 0;
    sb_http_req req = {
        .size = sizeof(req),
        .id = a->req_id,
        .method = http_method_str(p->method),
        .path = path,
        .query = query,
        .headers = hv,
        .n_headers = nh,
        .body = h->body ? h->body : "",
        .body_len = h->body_len,
        .ip = c->ip,
    };
    req.origin = sb_http_header(&req, "Origin");
    sb_metrics_core.http_requests++;

    if (bad_url) {
        a->close = 1;
        sb_http_respond_text(a->req_id, 400, NULL, "malformed request target");
    } else if (strcmp(path, "/ws") == 0) {
        sb_handshake(c, &req, upgrade);
    } else if (strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0 ||
               strcmp(path, "/metrics") == 0) {
        builtin_get(c, &req, path);
    } else {
        const http_route *r = route_find(path);
        if (!r) {
            sb_http_respond_text(a->req_id, 404, NULL, "no such path");
        } else {
            int rc = r->fn(r->ud, &req);
            if (rc != SB_OK) {
                sb_log(SB_LOG_ERROR, "route %s: handler failed with %d", r->prefix, rc);
                sb_http_respond_text(a->req_id, 500, NULL, "internal error");
            }
        }
    }
    free(hv);
    free(text);
}

static void http_parse(sb_conn *c)
{
    sb_http_conn *h = c->http;
    while (!c->dead && c->http && !h->stopped && h->roff < h->rlen) {
        if (h->n_ans >= HTTP_MAX_PIPELINE)
            return; /* resumed when an answer leaves */
        size_t len = h->rlen - h->roff;
        size_t n = http_parser_execute(&h->parser, &settings, h->rbuf + h->roff, len);
        h->roff += n;
        if (h->want_continue) {
            /* Only when no earlier answer is pending: an interim answer must
             * not overtake them. The client sends the body anyway after its
             * own timeout otherwise. */
            h->want_continue = 0;
            if (h->n_ans == 0 && !h->complete) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                sb_frame *f = sb_frame_raw(cont, sizeof(cont) - 1);
                if (f) {
                    sb_conn_send(c, f);
                    sb_frame_unref(f);
                }
            }
        }
        enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
        if (h->complete) {
            http_parser_pause(&h->parser, 0);
            int upgrade = h->parser.upgrade;
            http_handle(c);
            if (c->dead)
                return;
            if (upgrade) {
                /* The handshake decided: either we are a WebSocket now and the
                 * rest of the buffer is frames, or a closing error is queued. */
                if (c->phase == SB_PHASE_WS) {
                    size_t rest = h->rlen - h->roff;
                    if (rest) {
                        c->pre = malloc(rest);
                        if (c->pre) {
                            memcpy(c->pre, h->rbuf + h->roff, rest);
                            c->pre_len = rest;
                        }
                    }
                    sb_http_detach(c);
                    if (c->pre)
                        ev_feed_event(sb_srv.loop, &c->rio, EV_READ);
                    return;
                }
                h->stopped = 1;
                return;
            }
            http_reset_request(h);
            h->deadline = ev_now(sb_srv.loop) + sb_srv.cfg->header_timeout;
            continue;
        }
        if (err != HPE_OK && err != HPE_PAUSED) {
            if (h->error_status == 431 || err == HPE_HEADER_OVERFLOW)
                http_fail(c, 431, "request head over max_header_bytes");
            else if (h->error_status == 413)
                http_fail(c, 413, "request body over max_message_bytes");
            else {
                char why[160];
                snprintf(why, sizeof(why), "malformed request: %s", http_errno_description(err));
                http_fail(c, 400, why);
            }
            return;
        }
        if (n < len)
            return; /* should not happen without an error */
    }
    if (!c->dead && c->http && !h->stopped &&
        h->parser.nread > (uint32_t)sb_srv.cfg->max_header_bytes && h->parser.state != 0)
        http_fail(c, 431, "request head over max_header_bytes");
}

void sb_http_on_readable(sb_conn *c)
{
    sb_http_conn *h = c->http;
    if (h->stopped)
        return;
    /* Compact what was parsed, then read more. */
    if (h->roff) {
        memmove(h->rbuf, h->rbuf + h->roff, h->rlen - h->roff);
        h->rlen -= h->roff;
        h->roff = 0;
    }
    char *b = realloc(h->rbuf, h->rlen + HTTP_READ_CHUNK);
    if (!b) {
        sb_conn_destroy(c);
        return;
    }
    h->rbuf = b;
    ssize_t n = read(c->fd, h->rbuf + h->rlen, HTTP_READ_CHUNK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
        sb_conn_destroy(c);
        return;
    }
    if (n < 0)
        return;
    h->rlen += (size_t)n;
    http_parse(c);
    if (!c->dead && c->http && h->n_ans >= HTTP_MAX_PIPELINE)
        ev_io_stop(sb_srv.loop, &c->rio); /* backpressure */
}

void sb_http_on_drained(sb_conn *c)
{
    sb_http_conn *h = c->http;
    if (!h)
        return;
    if (h->stopped && h->n_ans == 0) {
        sb_conn_destroy(c);
        return;
    }
    if (h->n_ans < HTTP_MAX_PIPELINE && !h->stopped)
        ev_io_start(sb_srv.loop, &c->rio);
    sb_conn_rearm(c);
}

int sb_http_attach(sb_conn *c)
{
    if (!answers) {
        answers = sb_dict_new(1);
        if (!answers)
            return SB_ENOMEM;
        http_parser_set_max_header_size((uint32_t)sb_srv.cfg->max_header_bytes);
        settings.on_message_begin = on_message_begin;
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
    }
    sb_http_conn *h = calloc(1, sizeof(*h));
    if (!h)
        return SB_ENOMEM;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    h->deadline = ev_now(sb_srv.loop) + sb_srv.cfg->header_timeout;
    c->http = h;
    return SB_OK;
}

void sb_http_detach(sb_conn *c)
{
    sb_http_conn *h = c->http;
    if (!h)
        return;
    /* Unanswered requests stay in `answers` until their route answers;
     * they then find no connection and are freed there. */
    for (http_answer *a = h->ans_head; a;) {
        http_answer *n = a->next;
        if (a->bytes || !sb_dict_uget(answers, a->req_id)) {
            sb_frame_unref(a->bytes);
            free(a);
        } else {
            a->next = NULL;
            a->conn_id = 0;
        }
        a = n;
    }
    free(h->rbuf);
    free(h->hbuf);
    free(h->hdr);
    free(h->body);
    free(h);
    c->http = NULL;
}

void sb_http_free_pending(void)
{
    if (!answers)
        return;
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, answers); sb_dict_iter_next(&it);) {
        http_answer *a = it.val;
        sb_dict_iter_del(&it);
        if (!a->conn_id)
            free(a);
    }
    sb_dict_free(answers, NULL);
    answers = NULL;
}

int sb_http_idle(const sb_conn *c)
{
    const sb_http_conn *h = c->http;
    return h && !h->in_msg && h->n_ans == 0 && h->roff == h->rlen;
}

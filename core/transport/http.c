/* HTTP/1.1 phase of a connection. Bytes are fed to core/transport/http_parse.c as they
 * arrive; it stops at the end of each request so it is handled outside the
 * parser's callbacks. Every request gets a slot in the connection's answer
 * list, in order; an answer leaves only when every earlier one has, so
 * asynchronous plugin routes keep pipelining correct. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_parser.h> /* HTTP_STATUS_MAP */

#include "dict.h"
#include "http_parse.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"

#define HTTP_MAX_PIPELINE 32
#define HTTP_READ_CHUNK   16384

typedef struct http_answer {
    uint64_t req_id;
    uint64_t conn_id;
    sb_frame *bytes; /* NULL until answered */
    int close;       /* close the connection after this answer */
    int head;        /* a HEAD request: the GET answer's head, without its body */
    struct http_answer *next;
} http_answer;

struct sb_http_conn {
    sb_http_parse p; /* parser and the request being assembled */
    char *rbuf;
    size_t rlen, roff;
    int stopped; /* no more requests: a closing answer is queued */
    ev_tstamp deadline;
    http_answer *ans_head, *ans_tail;
    size_t n_ans;
};

static sb_dict *answers; /* req_id -> http_answer still unanswered */
static uint64_t next_req_id;

static void http_parse(sb_conn *c);

ev_tstamp sb_http_deadline(sb_conn *c)
{
    sb_http_conn *h = c->http;
    if (!h || h->n_ans)
        return ev_now(sb_srv.loop) + 3600.0; /* waiting for our own answers */
    return h->deadline;
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
    if (a->head)
        body_len = 0; /* Content-Length above still says what GET would send */
    sb_frame *f = sb_frame_alloc((size_t)n + body_len);
    if (!f) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                   "Connection: close\r\n\r\n";
        a->close = 1;
        f = sb_frame_raw(busy, sizeof(busy) - 1); /* the bytes, not the NUL */
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

int sb_http_upgrade(sb_conn *c, uint64_t req_id, const char *head, const sb_conn_phase_ops *next)
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
    sb_conn_upgraded(c, next);
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
    char ip[INET6_ADDRSTRLEN];
    sb_log(SB_LOG_DEBUG, "conn %llu (%s): HTTP %d: %s", (unsigned long long)c->id,
           sb_conn_ip(c, ip), status, why);
    sb_http_respond_text(a->req_id, status, NULL, why);
}

const char *sb_http_header(const sb_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* Handle the request the parser just finished (parser paused). */
static void http_handle(sb_conn *c)
{
    sb_http_conn *h = c->http;
    sb_http_parsed pr;
    if (sb_http_parse_take(&h->p, &pr) != SB_OK) {
        http_fail(c, 503, "out of memory");
        return;
    }
    http_answer *a = http_answer_new(c, !pr.keep_alive || pr.upgrade);
    if (!a) {
        sb_http_parsed_free(&pr);
        http_fail(c, 503, "out of memory");
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    sb_http_req req = {
        .size = sizeof(req),
        .id = a->req_id,
        .method = pr.method,
        .path = pr.path,
        .query = pr.query,
        .headers = pr.headers,
        .n_headers = pr.n_headers,
        .body = pr.body,
        .body_len = pr.body_len,
        .ip = sb_conn_ip(c, ip),
    };
    req.origin = sb_http_header(&req, "Origin");
    a->head = strcmp(pr.method, "HEAD") == 0;
    sb_metrics_core.http_requests++;
    if (pr.bad_url) {
        a->close = 1;
        sb_http_respond_text(a->req_id, 400, NULL, "malformed request target");
    } else {
        sb_conn_events_get()->on_request(c, &req, pr.upgrade);
    }
    sb_http_parsed_free(&pr);
}

static void http_parse(sb_conn *c)
{
    sb_http_conn *h = c->http;
    while (!c->dead && c->http && !h->stopped && h->roff < h->rlen) {
        if (h->n_ans >= HTTP_MAX_PIPELINE)
            return; /* resumed when an answer leaves */
        size_t len = h->rlen - h->roff;
        sb_http_feed fr;
        sb_http_parse_feed(&h->p, h->rbuf + h->roff, len, &fr);
        h->roff += fr.used;
        if (fr.head_done)
            h->deadline = ev_now(sb_srv.loop) + sb_srv.cfg->header_timeout;
        /* Only when no earlier answer is pending: an interim answer must not
         * overtake them. The client sends the body anyway after its own
         * timeout otherwise. */
        if (fr.want_continue && h->n_ans == 0 && fr.ev != SB_HTTP_REQUEST) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            sb_frame *f = sb_frame_raw(cont, sizeof(cont) - 1);
            if (f) {
                sb_conn_send(c, f);
                sb_frame_unref(f);
            }
        }
        if (fr.ev == SB_HTTP_REQUEST) {
            int upgrade = h->p.parser.upgrade;
            http_handle(c);
            if (c->dead)
                return;
            if (upgrade) {
                /* The handshake decided: either we are a WebSocket now and the
                 * rest of the buffer is frames, or a closing error is queued. */
                if (c->phase == SB_PHASE_WS) {
                    size_t rest = h->rlen - h->roff;
                    if (rest && (c->pre = malloc(sizeof(*c->pre) + rest))) {
                        memcpy(c->pre->bytes, h->rbuf + h->roff, rest);
                        c->pre->len = rest;
                        c->pre->off = 0;
                    }
                    sb_http_detach(c);
                    if (c->pre)
                        ev_feed_event(sb_srv.loop, &c->rio, EV_READ);
                    return;
                }
                h->stopped = 1;
                return;
            }
            sb_http_parse_next(&h->p);
            h->deadline = ev_now(sb_srv.loop) + sb_srv.cfg->header_timeout;
            continue;
        }
        if (fr.ev == SB_HTTP_FAILED) {
            http_fail(c, fr.status, fr.why);
            return;
        }
        if (fr.used < len)
            return; /* should not happen without an error */
    }
    if (!c->dead && c->http && !h->stopped && sb_http_parse_head_over(&h->p))
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
    ssize_t n = sb_conn_recv(c, h->rbuf + h->rlen, HTTP_READ_CHUNK);
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
    }
    sb_http_conn *h = calloc(1, sizeof(*h));
    if (!h)
        return SB_ENOMEM;
    sb_http_parse_init(&h->p, (uint32_t)sb_srv.cfg->max_header_bytes,
                       (size_t)sb_srv.cfg->max_message_bytes);
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
    sb_http_parse_free(&h->p);
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
    return h && !h->p.in_msg && h->n_ans == 0 && h->roff == h->rlen;
}

const sb_conn_phase_ops sb_http_phase = {
    .attach = sb_http_attach,
    .release = sb_http_detach,
    .on_readable = sb_http_on_readable,
    .on_drained = sb_http_on_drained,
    .deadline = sb_http_deadline,
    .hibernate = NULL,
};

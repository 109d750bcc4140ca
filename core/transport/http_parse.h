/* The pure part of the HTTP phase: bytes in, requests out. Wraps
 * libhttp-parser with the server's limits (max_header_bytes -> 431,
 * max_message_bytes -> 413), pauses at each request's end so pipelined
 * requests come out one at a time, and assembles each request into
 * NUL-terminated method, path, query, headers and body. No connection, loop
 * or server state: core/transport/http.c drives it, and so does tests/fuzz. */
#ifndef SB_HTTP_PARSE_H
#define SB_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "switchboard/plugin.h"

typedef struct sb_http_parse_hdr {
    size_t no, nl, vo, vl; /* offsets into hbuf */
} sb_http_parse_hdr;

/* One connection's parser and the request it is assembling. */
typedef struct sb_http_parse {
    http_parser parser;
    uint32_t max_header_bytes;
    size_t max_message_bytes;
    char *hbuf; /* url and header text of the request being parsed */
    size_t hlen, hcap;
    sb_http_parse_hdr *hdr;
    size_t nhdr, caphdr;
    size_t url_o, url_l;
    int last_value; /* the last header callback was a value */
    char *body;
    size_t body_len, body_cap;
    int error_status;  /* set by a callback: 431, 413, 400 (no version) or 505 */
    int complete;      /* a whole request is parsed (parser paused) */
    int in_msg;        /* a request has begun and is not complete */
    int head_done;     /* the head of the current request is parsed */
    int want_continue; /* that head asked for "100 Continue" and a body follows */
} sb_http_parse;

typedef enum sb_http_event {
    SB_HTTP_MORE,    /* the bytes are parsed: feed more when they arrive */
    SB_HTTP_REQUEST, /* a request is complete: sb_http_parse_take it */
    SB_HTTP_FAILED,  /* malformed or over a limit: answer status and close */
} sb_http_event;

typedef struct sb_http_feed {
    size_t used;       /* bytes consumed from the buffer */
    sb_http_event ev;  /* what stopped the parse */
    int head_done;     /* a request head completed during this call */
    int want_continue; /* ... and it asked for 100 Continue */
    int status;        /* SB_HTTP_FAILED: 400, 413, 431 or 505 */
    char why[160];     /* SB_HTTP_FAILED: one line for the answer body */
} sb_http_feed;

/* A complete request; the strings live in `text` and the parser's body, so
 * it is valid until sb_http_parsed_free and the next feed. */
typedef struct sb_http_parsed {
    const char *method;
    char path[2048];
    char query[4096];
    const char *url;
    sb_header *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated, "" without a body */
    size_t body_len;
    int keep_alive;
    int upgrade;
    int bad_url; /* the target did not parse or path/query is too long: 400 */
    char *text;  /* owns url, names and values */
} sb_http_parsed;

/* Sets libhttp-parser's process-wide header limit to max_header_bytes. */
void sb_http_parse_init(sb_http_parse *hp, uint32_t max_header_bytes, size_t max_message_bytes);
void sb_http_parse_free(sb_http_parse *hp);
/* Parse buf[0..len) until it is consumed, a request completes or an error. */
void sb_http_parse_feed(sb_http_parse *hp, const char *buf, size_t len, sb_http_feed *out);
/* After SB_HTTP_REQUEST: build the request and resume the parser.
 * -> SB_OK | SB_ENOMEM (the request is lost: answer 503) */
int sb_http_parse_take(sb_http_parse *hp, sb_http_parsed *req);
void sb_http_parsed_free(sb_http_parsed *req);
/* Forget the request just taken, before feeding the bytes after it. */
void sb_http_parse_next(sb_http_parse *hp);
/* The head being parsed is already over max_header_bytes (431) although no
 * callback ran yet to notice it. */
int sb_http_parse_head_over(const sb_http_parse *hp);

#endif

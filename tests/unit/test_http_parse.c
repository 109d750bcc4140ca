/* Unit tests for core/transport/http_parse.c: requests split across reads, pipelined
 * requests, the head and body limits, chunked bodies and malformed request
 * lines, as core/transport/http.c feeds them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"

/* Feed s from *off until a request completes, an error, or the end. */
static sb_http_event feed(sb_http_parse *hp, const char *s, size_t len, size_t *off,
                          sb_http_feed *fr)
{
    while (*off < len) {
        sb_http_parse_feed(hp, s + *off, len - *off, fr);
        *off += fr->used;
        if (fr->ev != SB_HTTP_MORE)
            return fr->ev;
    }
    return SB_HTTP_MORE;
}

static void test_http_parse_feed_split_across_reads(void **state)
{
    (void)state;
    const char *s = "GET /ws?client_id=ann&x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\n";
    size_t len = strlen(s);
    sb_http_parse hp;
    sb_http_parse_init(&hp, 8192, 65536);
    sb_http_feed fr;
    size_t off = 0;
    /* One byte per read: every read but the last asks for more. */
    for (size_t i = 0; i + 1 < len; i++) {
        size_t end = i + 1;
        assert_int_equal(feed(&hp, s, end, &off, &fr), SB_HTTP_MORE);
        assert_int_equal(off, end);
    }
    assert_int_equal(feed(&hp, s, len, &off, &fr), SB_HTTP_REQUEST);
    sb_http_parsed pr;
    assert_int_equal(sb_http_parse_take(&hp, &pr), SB_OK);
    assert_string_equal(pr.method, "GET");
    assert_string_equal(pr.path, "/ws");
    assert_string_equal(pr.query, "client_id=ann&x=1");
    assert_int_equal(pr.n_headers, 3);
    assert_string_equal(pr.headers[0].name, "Host");
    assert_string_equal(pr.headers[0].value, "h");
    assert_string_equal(pr.headers[2].name, "Connection");
    assert_string_equal(pr.headers[2].value, "Upgrade");
    assert_true(pr.upgrade);
    assert_false(pr.bad_url);
    assert_int_equal(pr.body_len, 0);
    assert_string_equal(pr.body, "");
    sb_http_parsed_free(&pr);
    sb_http_parse_free(&hp);
}

static void test_http_parse_feed_pipelined_pair(void **state)
{
    (void)state;
    const char *s = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "GET /b?q HTTP/1.1\r\nConnection: close\r\n\r\n";
    size_t len = strlen(s);
    sb_http_parse hp;
    sb_http_parse_init(&hp, 8192, 65536);
    sb_http_feed fr;
    size_t off = 0;
    /* The parser stops after the first request: the second waits. */
    assert_int_equal(feed(&hp, s, len, &off, &fr), SB_HTTP_REQUEST);
    assert_int_equal(off, strlen("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
    sb_http_parsed pr;
    assert_int_equal(sb_http_parse_take(&hp, &pr), SB_OK);
    assert_string_equal(pr.method, "POST");
    assert_string_equal(pr.path, "/a");
    assert_string_equal(pr.query, "");
    assert_int_equal(pr.body_len, 5);
    assert_string_equal(pr.body, "hello");
    assert_true(pr.keep_alive);
    sb_http_parsed_free(&pr);
    sb_http_parse_next(&hp);

    assert_int_equal(feed(&hp, s, len, &off, &fr), SB_HTTP_REQUEST);
    assert_int_equal(off, len);
    assert_int_equal(sb_http_parse_take(&hp, &pr), SB_OK);
    assert_string_equal(pr.method, "GET");
    assert_string_equal(pr.path, "/b");
    assert_string_equal(pr.query, "q");
    assert_int_equal(pr.n_headers, 1);
    assert_int_equal(pr.body_len, 0);
    assert_false(pr.keep_alive);
    sb_http_parsed_free(&pr);
    sb_http_parse_next(&hp);
    sb_http_parse_free(&hp);
}

static void test_http_parse_feed_head_over_limit_is_431(void **state)
{
    (void)state;
    char s[600];
    snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nX-Long: %0400d\r\n\r\n", 0);
    sb_http_parse hp;
    sb_http_parse_init(&hp, 256, 65536);
    sb_http_feed fr;
    size_t off = 0;
    assert_int_equal(feed(&hp, s, strlen(s), &off, &fr), SB_HTTP_FAILED);
    assert_int_equal(fr.status, 431);
    assert_string_equal(fr.why, "request head over max_header_bytes");
    sb_http_parse_free(&hp);

    /* A request line alone too long, in two reads: the first is fine. */
    char line[400];
    memset(line, 'a', sizeof(line));
    memcpy(line, "GET /", 5);
    sb_http_parse_init(&hp, 256, 65536);
    sb_http_parse_feed(&hp, line, 200, &fr);
    assert_int_equal(fr.ev, SB_HTTP_MORE);
    assert_int_equal(fr.used, 200);
    assert_false(sb_http_parse_head_over(&hp));
    sb_http_parse_feed(&hp, line + 200, 200, &fr);
    assert_int_equal(fr.ev, SB_HTTP_FAILED);
    assert_int_equal(fr.status, 431);
    sb_http_parse_free(&hp);
}

static void test_http_parse_feed_body_over_limit_is_413(void **state)
{
    (void)state;
    sb_http_parse hp;
    sb_http_feed fr;
    size_t off = 0;
    /* Declared too long: refused at the head, before the body is read. */
    const char *s = "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    sb_http_parse_init(&hp, 8192, 10);
    assert_int_equal(feed(&hp, s, strlen(s), &off, &fr), SB_HTTP_FAILED);
    assert_int_equal(fr.status, 413);
    assert_string_equal(fr.why, "request body over max_message_bytes");
    sb_http_parse_free(&hp);

    /* Chunked: refused once the chunks add up to more. */
    const char *c = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    off = 0;
    sb_http_parse_init(&hp, 8192, 10);
    assert_int_equal(feed(&hp, c, strlen(c), &off, &fr), SB_HTTP_FAILED);
    assert_int_equal(fr.status, 413);
    sb_http_parse_free(&hp);
}

static void test_http_parse_feed_chunked_body_dechunked(void **state)
{
    (void)state;
    const char *s = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    "Expect: 100-continue\r\n\r\n";
    const char *body = "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    sb_http_parse hp;
    sb_http_parse_init(&hp, 8192, 100);
    sb_http_feed fr;
    size_t off = 0;
    /* The head alone: it asks for 100 Continue. */
    sb_http_parse_feed(&hp, s, strlen(s), &fr);
    assert_int_equal(fr.ev, SB_HTTP_MORE);
    assert_int_equal(fr.used, strlen(s));
    assert_true(fr.head_done);
    assert_true(fr.want_continue);
    assert_int_equal(feed(&hp, body, strlen(body), &off, &fr), SB_HTTP_REQUEST);
    assert_false(fr.want_continue);
    sb_http_parsed pr;
    assert_int_equal(sb_http_parse_take(&hp, &pr), SB_OK);
    assert_int_equal(pr.body_len, 7);
    assert_string_equal(pr.body, "abcdefg");
    sb_http_parsed_free(&pr);
    sb_http_parse_free(&hp);
}

static void test_http_parse_feed_bad_request_line_is_400(void **state)
{
    (void)state;
    const char *bad[] = {"GET\r\n\r\n", "FOO / HTTP/1.1\r\n\r\n", "GET / HTTP/9.x\r\n\r\n",
                         "GET / HTTP/1.1\r\nNo colon here\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_http_parse hp;
        sb_http_parse_init(&hp, 8192, 100);
        sb_http_feed fr;
        size_t off = 0;
        assert_int_equal(feed(&hp, bad[i], strlen(bad[i]), &off, &fr), SB_HTTP_FAILED);
        assert_int_equal(fr.status, 400);
        assert_true(strncmp(fr.why, "malformed request: ", 19) == 0);
        sb_http_parse_free(&hp);
    }
}

static void test_http_parse_take_bad_target(void **state)
{
    (void)state;
    /* The parser takes the line; the target does not parse as a URL. */
    char s[2200];
    memset(s, 0, sizeof(s));
    strcpy(s, "GET /");
    memset(s + 5, 'p', 2100);
    strcat(s, " HTTP/1.1\r\n\r\n");
    sb_http_parse hp;
    sb_http_parse_init(&hp, 8192, 100);
    sb_http_feed fr;
    size_t off = 0;
    assert_int_equal(feed(&hp, s, strlen(s), &off, &fr), SB_HTTP_REQUEST);
    sb_http_parsed pr;
    assert_int_equal(sb_http_parse_take(&hp, &pr), SB_OK);
    assert_true(pr.bad_url); /* path over 2047 bytes */
    assert_int_equal(strlen(pr.url), 2101);
    sb_http_parsed_free(&pr);
    sb_http_parse_free(&hp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_parse_feed_split_across_reads),
        cmocka_unit_test(test_http_parse_feed_pipelined_pair),
        cmocka_unit_test(test_http_parse_feed_head_over_limit_is_431),
        cmocka_unit_test(test_http_parse_feed_body_over_limit_is_413),
        cmocka_unit_test(test_http_parse_feed_chunked_body_dechunked),
        cmocka_unit_test(test_http_parse_feed_bad_request_line_is_400),
        cmocka_unit_test(test_http_parse_take_bad_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

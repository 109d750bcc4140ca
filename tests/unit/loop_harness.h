/* The loop harness for the unit tests of conn, registry, route, dispatch,
 * hooks, http and ws: the real core on the real libev loop, clients on the
 * other end of non-blocking AF_UNIX socketpairs, fake plugins registered
 * through the host table under one fake plugin context, and an allocator
 * wrapped at link time (-Wl,--wrap) so a test can make the Nth allocation
 * of the core fail. Waits are bounded loops of ev_run(EVRUN_NOWAIT) with a
 * generous wall-clock deadline; nothing sleeps. */
#ifndef SB_LOOP_HARNESS_H
#define SB_LOOP_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn.h"
#include "switchboard/plugin.h"

/* Known bugs of issue 14 ("Promises the code does not keep", and the
 * conformance list): a test that shows one is kept but skipped on main.
 * SB_UNIT_KNOWN_BUGS=1 in the environment runs it anyway (to see it fail
 * before the fix, and pass after). */
#define KNOWN_BUG(what)                                                                            \
    do {                                                                                           \
        if (!harness_known_bugs()) {                                                               \
            print_message("[  SKIP    ] known bug (issue 14): %s\n", what);                        \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
int harness_known_bugs(void);

/* The key of RFC 6455's example and its accept value. */
#define HARNESS_WS_KEY    "dGhlIHNhbXBsZSBub25jZQ=="
#define HARNESS_WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

typedef struct harness_client {
    int fd;           /* the client's end; -1 once closed */
    uint64_t conn_id; /* the server's connection */
    uint8_t *buf;     /* bytes received and not consumed */
    size_t len, cap;
    int eof; /* the server closed its end */
} harness_client;

/* The host table and the fake plugin every fake registers under. */
extern const sb_host_api *harness_host;
extern sb_plugin_ctx *harness_pc;

/* Start the core as main.c does (sb_core_init), from an INI whose [server] section holds
 * server_keys (lines "key = value\n", may be NULL) after the harness's own
 * (listen on 127.0.0.1:0, log_level = error). -> 0 */
int harness_start(const char *server_keys);
/* Close every client, destroy every connection, free the core (sb_core_free). */
void harness_stop(void);
/* A cmocka teardown that is harness_stop. -> 0 */
int harness_teardown(void **state);

/* Run the loop until cond(arg) holds (checked before each pass) or 3 s
 * pass. -> 1 when it held */
int harness_run_until(int (*cond)(void *), void *arg);
/* Run the loop until a pass moves nothing: no deferred call, no output
 * waiting in any connection (at most a few hundred passes). */
void harness_settle(void);
/* A harness_run_until condition: *(uint64_t *)arg names no connection any
 * more. */
int harness_conn_gone(void *arg);

/* A connection on a new socketpair, as accept_cb makes one. */
harness_client *harness_connect(void);
/* A WebSocket client of target ("/ws?client_id=alice"): the upgrade is sent
 * and the 101 head checked and consumed. NULL when the answer is not 101. */
harness_client *harness_ws_open(const char *target);
/* The server side of cl (NULL once destroyed). */
sb_conn *harness_conn(const harness_client *cl);
/* Close the client's end (the server sees EOF). */
void harness_hangup(harness_client *cl);

void harness_write(harness_client *cl, const void *bytes, size_t len);
/* A masked client frame: first byte b0 (FIN | opcode), payload[0..len). */
void harness_send_frame(harness_client *cl, uint8_t b0, const void *payload, size_t len);
void harness_send_text(harness_client *cl, const char *text);

/* Read what the socket holds into cl->buf. -> bytes read */
size_t harness_read(harness_client *cl);
/* Run the loop until cl->buf holds n bytes (or EOF). -> 1 when it does */
int harness_wait_bytes(harness_client *cl, size_t n);
/* Run the loop until the server closed its end. -> 1 when it did */
int harness_wait_eof(harness_client *cl);
/* Drop the first n bytes of cl->buf. */
void harness_consume(harness_client *cl, size_t n);

/* Run the loop until a whole server frame is buffered, check it is
 * unmasked and final, and take it: *opcode, and a NUL-terminated copy of
 * the payload (caller: free). -> 1, or 0 when none came */
int harness_next_frame(harness_client *cl, int *opcode, char **payload, size_t *len);
/* The next frame is a text frame of exactly text. */
void harness_expect_text(harness_client *cl, const char *text);
/* The next frame is a close frame with code (and reason, unless NULL). */
void harness_expect_close(harness_client *cl, int code, const char *reason);
/* After a settle, nothing was received. */
void harness_expect_nothing(harness_client *cl);

/* --- allocation failure ---------------------------------------------------- */

/* Fail count allocations from the nth from now on (nth 0: the next; count
 * -1: every one from there). Counts malloc, calloc, realloc and strdup of
 * the core (and of the test, which therefore allocates nothing while armed). */
void harness_fail_alloc(long nth, long count);
/* Disarm; -> the number of allocations that failed. */
long harness_fail_off(void);
/* One step of an allocation-failure sweep over what the loop does with
 * input already written: fail the nth allocation, run 20 loop passes,
 * disarm, settle, and read what the client cl got. -> the number of
 * allocations that failed (0: the sweep is past the last one) */
long harness_fail_pass(harness_client *cl, long nth);

/* --- syscalls ---------------------------------------------------------------- */

/* recv calls of the core so far (the harness's clients read with read). */
long harness_recv_calls(void);

#endif

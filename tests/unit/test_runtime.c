/* Unit tests of the deferred calls (runtime.c): a call queued now runs on
 * the next pass of the loop even when every pass finds a socket ready, as on
 * a busy server; in queue order; and what a call queues waits a pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime.h"
#include "switchboard/plugin.h"

static int ran[8];
static int n_ran;

static void record(void *arg)
{
    ran[n_ran++] = (int)(intptr_t)arg;
}

static void record_and_queue(void *arg)
{
    record(arg);
    assert_int_equal(sb_server_later(record, (void *)(intptr_t)9), SB_OK);
}

/* Never reads, so its fd stays ready: an event is pending on every pass. */
static void busy_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void test_later_runs_on_a_busy_loop(void **state)
{
    (void)state;
    sb_srv.loop = ev_loop_new(EVFLAG_AUTO);
    sb_server_later_init();
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    ev_io busy;
    ev_io_init(&busy, busy_cb, p[0], EV_READ);
    ev_io_start(sb_srv.loop, &busy);
    n_ran = 0;
    assert_int_equal(sb_server_later(record, (void *)(intptr_t)1), SB_OK);
    assert_int_equal(sb_server_later(record_and_queue, (void *)(intptr_t)2), SB_OK);
    assert_int_equal(n_ran, 0); /* never inside the call */
    ev_run(sb_srv.loop, EVRUN_NOWAIT);
    assert_int_equal(n_ran, 2);
    assert_int_equal(ran[0], 1);
    assert_int_equal(ran[1], 2);
    ev_run(sb_srv.loop, EVRUN_NOWAIT);
    assert_int_equal(n_ran, 3);
    assert_int_equal(ran[2], 9);
    ev_io_stop(sb_srv.loop, &busy);
    sb_server_later_free();
    close(p[0]);
    close(p[1]);
    ev_loop_destroy(sb_srv.loop);
    sb_srv.loop = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_later_runs_on_a_busy_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The runtime state (runtime.h) and the deferred calls: a FIFO run on the
 * next loop iteration, before it polls.
 *
 * A prepare watcher runs the queue: it fires on every iteration, busy or
 * not. An idle watcher alone would not do: libev runs idle watchers only
 * when no I/O is pending, so under steady load (every store completion
 * comes back this way) the queue waited for a quiet iteration, milliseconds
 * at 10,000 msg/s. The idle watcher stays for its other effect: while it is
 * active the loop polls without blocking, so what a pass queues (for the
 * next) is not held up by a poll that waits for I/O. */
#include "runtime.h"

#include <stdlib.h>

sb_server sb_srv;

struct sb_later {
    void (*cb)(void *);
    void *arg;
    struct sb_later *next;
};

/* Run what was queued before this pass; what they queue runs next pass. */
static void later_run(struct ev_loop *loop)
{
    sb_later *l = sb_srv.later_head;
    sb_srv.later_head = sb_srv.later_tail = NULL;
    ev_idle_stop(loop, &sb_srv.later_idle);
    ev_prepare_stop(loop, &sb_srv.later_prepare);
    while (l) {
        sb_later *n = l->next;
        l->cb(l->arg);
        free(l);
        l = n;
    }
}

static void later_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)w;
    (void)revents;
    later_run(loop);
}

static void later_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)w;
    (void)revents;
    later_run(loop);
}

int sb_server_later(void (*cb)(void *), void *arg)
{
    sb_later *l = malloc(sizeof(*l));
    if (!l)
        return SB_ENOMEM;
    l->cb = cb;
    l->arg = arg;
    l->next = NULL;
    if (sb_srv.later_tail)
        sb_srv.later_tail->next = l;
    else
        sb_srv.later_head = l;
    sb_srv.later_tail = l;
    ev_idle_start(sb_srv.loop, &sb_srv.later_idle);
    ev_prepare_start(sb_srv.loop, &sb_srv.later_prepare);
    return SB_OK;
}

void sb_server_later_init(void)
{
    ev_idle_init(&sb_srv.later_idle, later_idle_cb);
    ev_prepare_init(&sb_srv.later_prepare, later_prepare_cb);
}

void sb_server_drain_later(void)
{
    for (int i = 0; i < 1000 && sb_srv.later_head; i++)
        later_run(sb_srv.loop);
}

void sb_server_later_free(void)
{
    while (sb_srv.later_head) { /* queued after the plugins' fini: not run */
        sb_later *n = sb_srv.later_head->next;
        free(sb_srv.later_head);
        sb_srv.later_head = n;
    }
}

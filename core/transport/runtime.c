/* The runtime state (runtime.h) and the deferred calls: a FIFO run by an
 * idle watcher, so a call queued now runs on the next loop iteration. The
 * watcher has the highest priority: libev runs an idle watcher only when no
 * event of its priority or above is pending, so at the default priority a
 * busy server (some socket ready on every pass) would hold store completions,
 * and with them every ack, until a pass that found no socket ready. */
#include "runtime.h"

#include <stdlib.h>

sb_server sb_srv;

struct sb_later {
    void (*cb)(void *);
    void *arg;
    struct sb_later *next;
};

static void later_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    /* Run what was queued before this pass; what they queue runs next pass. */
    sb_later *l = sb_srv.later_head;
    sb_srv.later_head = sb_srv.later_tail = NULL;
    ev_idle_stop(loop, w);
    while (l) {
        sb_later *n = l->next;
        l->cb(l->arg);
        free(l);
        l = n;
    }
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
    return SB_OK;
}

void sb_server_later_init(void)
{
    ev_idle_init(&sb_srv.later_idle, later_cb);
    ev_set_priority(&sb_srv.later_idle, EV_MAXPRI);
}

void sb_server_drain_later(void)
{
    for (int i = 0; i < 1000 && sb_srv.later_head; i++)
        later_cb(sb_srv.loop, &sb_srv.later_idle, 0);
}

void sb_server_later_free(void)
{
    while (sb_srv.later_head) { /* queued after the plugins' fini: not run */
        sb_later *n = sb_srv.later_head->next;
        free(sb_srv.later_head);
        sb_srv.later_head = n;
    }
}

/* Test fixture: init registers one of every loop and metrics resource (a
 * repeating timer, a watch on a readable pipe, a signalled wake-up, a counter
 * and a gauge), all pointing at its state, then frees that state and fails.
 * The host must release them with the plugin: with `optional = yes` the
 * server goes on, and none of their callbacks may ever run (each would read
 * freed memory, which ASan reports) nor /metrics show them. */
#include <stdlib.h>
#include <unistd.h>

#include <switchboard/plugin.h>

typedef struct leaks_state {
    double value;
} leaks_state;

static void leaks_cb(void *arg)
{
    leaks_state *st = arg;
    st->value += 1; /* never reached: released with the plugin */
    abort();
}

static void leaks_watch_cb(void *arg, int revents)
{
    (void)revents;
    leaks_cb(arg);
}

static double leaks_gauge(void *arg)
{
    leaks_state *st = arg;
    return st->value;
}

static int leaks_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    (void)cfg;
    (void)userdata;
    leaks_state *st = calloc(1, sizeof(*st));
    int fds[2];
    if (!st || pipe(fds) != 0) {
        free(st);
        return SB_ENOMEM;
    }
    /* The pipe stays readable for good: a watch left behind fires at once. */
    if (write(fds[1], "x", 1) != 1) {
        free(st);
        return SB_EPLUGIN;
    }
    host->timer_new(pc, 0.01, 0.01, leaks_cb, st);
    host->watch_new(pc, fds[0], SB_READ, leaks_watch_cb, st);
    sb_wakeup *w = host->wakeup_new(pc, leaks_cb, st);
    if (w)
        host->wakeup_signal(w);
    sb_counter *c = host->counter_new(pc, "init_leaks_total", "a counter of a failed plugin");
    host->counter_add(c, 7);
    host->gauge_fn(pc, "init_leaks_gauge", "a gauge of a failed plugin", leaks_gauge, st);
    free(st);
    host->log(pc, SB_LOG_ERROR, "giving up after registering everything (fixture failure)");
    return SB_EPLUGIN;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,
    .name = "init_leaks",
    .version = "0.0.1",
    .init = leaks_init,
};

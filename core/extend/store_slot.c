/* Store calls through the slot, counted and timed for /metrics. */
#include "store_slot.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "hooks.h"
#include "metrics.h"

typedef struct put_wrap {
    sb_store_done_fn done;
    void *arg;
    int64_t start_us;
} put_wrap;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_done(void *arg, int status)
{
    put_wrap *w = arg;
    sb_metrics_core.store_put_done++;
    sb_metrics_core.store_put_us_sum += (uint64_t)(mono_us() - w->start_us);
    if (status != SB_OK)
        sb_metrics_core.store_failures++;
    sb_store_done_fn done = w->done;
    void *a = w->arg;
    free(w);
    done(a, status);
}

int sb_store_slot_put(const char *const *users, size_t n, const char *id, const char *json,
                      size_t len, sb_store_done_fn done, void *arg)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (!st || !st->put)
        return SB_EUNAVAILABLE;
    put_wrap *w = malloc(sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    *w = (put_wrap){done, arg, mono_us()};
    sb_metrics_core.store_puts++;
    int rc = st->put(ud, users, n, id, json, len, put_done, w);
    if (rc != SB_OK) {
        sb_metrics_core.store_failures++;
        free(w);
    }
    return rc;
}

int sb_store_slot_remove(const char *user, const char *const *ids, size_t n,
                         sb_store_removed_fn done, void *arg)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (!st || !st->remove)
        return SB_EUNAVAILABLE;
    sb_metrics_core.store_removes++;
    return st->remove(ud, user, ids, n, done, arg);
}

int sb_store_slot_page(const char *user, const char *after, size_t limit, sb_store_page_fn done,
                       void *arg)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (!st || !st->page)
        return SB_EUNAVAILABLE;
    sb_metrics_core.store_pages++;
    return st->page(ud, user, after, limit, done, arg);
}

/* Room history (1.2 stores): the slot's operations, or SB_EUNAVAILABLE from
 * a store without them. */
int sb_store_slot_history_put(const char *room, const char *id, const char *json, size_t len,
                              size_t keep, const char *expire_before, sb_store_done_fn done,
                              void *arg)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (!st || !st->history_put)
        return SB_EUNAVAILABLE;
    if (!room || !id || !json || !done)
        return SB_EINVAL;
    return st->history_put(ud, room, id, json, len, keep, expire_before, done, arg);
}

int sb_store_slot_history_page(const char *room, const char *after, const char *before,
                               size_t limit, sb_history_page_fn done, void *arg)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (!st || !st->history_page)
        return SB_EUNAVAILABLE;
    if (!room || !done || limit == 0)
        return SB_EINVAL;
    return st->history_page(ud, room, after, before, limit, done, arg);
}

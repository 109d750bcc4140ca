/* Metrics: the core's counters, plugin counters and gauges, rendered as
 * Prometheus text. Values that other modules own (connections, users,
 * rooms) are gauges they register (host/core.c); who may read the page is
 * the HTTP routes' business. */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "switchboard/plugin.h"

typedef struct sb_core_metrics {
    uint64_t connections_total; /* WebSocket upgrades */
    uint64_t http_requests, http_responses;
    uint64_t frames_in, frames_out;
    uint64_t commands, errors;
    uint64_t slow_consumers;
    uint64_t backlog_delivered;
    uint64_t store_puts, store_removes, store_pages, store_failures;
    uint64_t store_put_us_sum; /* completed puts' latency, microseconds */
    uint64_t store_put_done;
    long ws_contexts; /* live wslay contexts (not hibernated) */
} sb_core_metrics;

extern sb_core_metrics sb_metrics_core;

/* A counter and a gauge of plugin owner, until sb_metrics_remove_owner(owner). */
struct sb_counter *sb_metrics_counter_new(const char *name, const char *help,
                                          const sb_plugin_ctx *owner);
void sb_metrics_counter_add(struct sb_counter *c, uint64_t n);
int sb_metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *), void *arg,
                        const sb_plugin_ctx *owner);
/* Take owner's counters and gauges off the page; the gauges are freed (the
 * plugin never held them), the counters kept until sb_metrics_free. */
void sb_metrics_remove_owner(const sb_plugin_ctx *owner);
/* The page as a new string (free()), or NULL. */
char *sb_metrics_render(size_t *len);
void sb_metrics_free(void);

#endif

/* Prometheus text exposition. Names are prefixed "switchboard_"; plugin
 * metrics are registered at init and belong to their plugin: they leave the
 * page when it is forgotten (sb_metrics_remove_owner). A counter's memory
 * stays until exit, because the plugin may still hold the pointer. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

sb_core_metrics sb_metrics_core;

struct sb_counter {
    char *name, *help;
    uint64_t value;
    const sb_plugin_ctx *owner;
    struct sb_counter *next;
};

typedef struct gauge {
    char *name, *help;
    double (*fn)(void *);
    void *arg;
    const sb_plugin_ctx *owner;
    struct gauge *next;
} gauge;

static struct sb_counter *counters;
static struct sb_counter *released; /* of forgotten plugins: off the page */
static gauge *gauges;

struct sb_counter *sb_metrics_counter_new(const char *name, const char *help,
                                          const sb_plugin_ctx *owner)
{
    struct sb_counter *c = calloc(1, sizeof(*c));
    if (!c || !(c->name = strdup(name)) || !(c->help = strdup(help ? help : name))) {
        if (c) {
            free(c->name);
            free(c);
        }
        return NULL;
    }
    c->owner = owner;
    c->next = counters;
    counters = c;
    return c;
}

void sb_metrics_counter_add(struct sb_counter *c, uint64_t n)
{
    if (c)
        c->value += n;
}

int sb_metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *), void *arg,
                        const sb_plugin_ctx *owner)
{
    gauge *g = calloc(1, sizeof(*g));
    if (!g || !(g->name = strdup(name)) || !(g->help = strdup(help ? help : name))) {
        if (g) {
            free(g->name);
            free(g);
        }
        return SB_ENOMEM;
    }
    g->fn = fn;
    g->arg = arg;
    g->owner = owner;
    g->next = gauges;
    gauges = g;
    return SB_OK;
}

static void gauge_free(gauge *g)
{
    free(g->name);
    free(g->help);
    free(g);
}

void sb_metrics_remove_owner(const sb_plugin_ctx *owner)
{
    for (struct sb_counter **p = &counters; *p;) {
        struct sb_counter *c = *p;
        if (c->owner == owner) {
            *p = c->next;
            c->next = released;
            released = c;
        } else {
            p = &c->next;
        }
    }
    for (gauge **p = &gauges; *p;) {
        gauge *g = *p;
        if (g->owner == owner) {
            *p = g->next;
            gauge_free(g);
        } else {
            p = &g->next;
        }
    }
}

static void counters_free(struct sb_counter **list)
{
    while (*list) {
        struct sb_counter *n = (*list)->next;
        free((*list)->name);
        free((*list)->help);
        free(*list);
        *list = n;
    }
}

void sb_metrics_free(void)
{
    counters_free(&counters);
    counters_free(&released);
    while (gauges) {
        gauge *n = gauges->next;
        gauge_free(gauges);
        gauges = n;
    }
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const char *fmt, ...) SB_PRINTF(2, 3);
static void put(buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void metric(buf *b, const char *type, const char *name, const char *help, double v)
{
    put(b, "# HELP switchboard_%s %s\n# TYPE switchboard_%s %s\nswitchboard_%s %.17g\n", name, help,
        name, type, name, v);
}

char *sb_metrics_render(size_t *len)
{
    buf b = {.p = malloc(4096), .cap = 4096};
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    const sb_core_metrics *m = &sb_metrics_core;
    metric(&b, "counter", "connections_total", "WebSocket upgrades accepted",
           (double)m->connections_total);
    metric(&b, "gauge", "ws_contexts", "Connections not hibernated", (double)m->ws_contexts);
    metric(&b, "counter", "http_requests_total", "HTTP requests", (double)m->http_requests);
    metric(&b, "counter", "frames_received_total", "WebSocket data messages received",
           (double)m->frames_in);
    metric(&b, "counter", "frames_sent_total", "Frames queued to clients", (double)m->frames_out);
    metric(&b, "counter", "commands_total", "Commands parsed", (double)m->commands);
    metric(&b, "counter", "errors_total", "Error replies sent", (double)m->errors);
    metric(&b, "counter", "slow_consumers_total", "Connections closed with 4003",
           (double)m->slow_consumers);
    metric(&b, "counter", "backlog_delivered_total", "Stored messages sent on connect",
           (double)m->backlog_delivered);
    metric(&b, "counter", "store_puts_total", "Store put operations", (double)m->store_puts);
    metric(&b, "counter", "store_removes_total", "Store remove operations",
           (double)m->store_removes);
    metric(&b, "counter", "store_pages_total", "Store page reads", (double)m->store_pages);
    metric(&b, "counter", "store_failures_total", "Store operations that failed",
           (double)m->store_failures);
    put(&b,
        "# HELP switchboard_store_put_seconds Time from put to durable completion\n"
        "# TYPE switchboard_store_put_seconds summary\n"
        "switchboard_store_put_seconds_sum %.6f\nswitchboard_store_put_seconds_count %llu\n",
        (double)m->store_put_us_sum / 1e6, (unsigned long long)m->store_put_done);
    for (struct sb_counter *c = counters; c; c = c->next)
        metric(&b, "counter", c->name, c->help, (double)c->value);
    for (gauge *g = gauges; g; g = g->next)
        metric(&b, "gauge", g->name, g->help, g->fn(g->arg));
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

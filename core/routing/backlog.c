/* Backlog pacing. The next page is read only when the output queue is below
 * half of max_outbound_bytes, so a 100k-message inbox costs at most a page
 * plus that much memory and never trips the slow-consumer cut-off. A page
 * completion carries the connection id, never a pointer.
 * The ids of the last messages sent are kept for a moment after the backlog
 * ends: with a bus, a message stored just before a page read also arrives
 * from another node just after, and that copy is dropped. */
#include "backlog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "hooks.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"

#define BACKLOG_PAGE 64
#define SEEN_IDS     16   /* the newest messages: only those can race the bus */
#define SEEN_GRACE   3000 /* ms after the backlog ends */

typedef struct sb_backlog_seen {
    int64_t until_ms; /* 0 while the backlog runs */
    unsigned n, next;
    char ids[SEEN_IDS][SB_ID_LEN + 1];
} sb_backlog_seen;

static void seen_add(sb_conn *c, const char *id)
{
    sb_backlog_seen *s = c->backlog_seen;
    if (!s && !(s = c->backlog_seen = calloc(1, sizeof(*s))))
        return; /* at worst a duplicate later */
    snprintf(s->ids[s->next], sizeof(s->ids[0]), "%s", id);
    s->next = (s->next + 1) % SEEN_IDS;
    if (s->n < SEEN_IDS)
        s->n++;
}

int sb_backlog_sent(sb_conn *c, const char *id)
{
    sb_backlog_seen *s = c->backlog_seen;
    if (!s)
        return 0;
    if (s->until_ms && sb_now_ms() > s->until_ms) {
        sb_backlog_free(c);
        return 0;
    }
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

void sb_backlog_free(sb_conn *c)
{
    free(c->backlog_seen);
    c->backlog_seen = NULL;
}

static void backlog_request(sb_conn *c);

static void backlog_finish(sb_conn *c)
{
    c->in_backlog = 0;
    c->backlog_busy = 0;
    if (c->backlog_seen)
        c->backlog_seen->until_ms = sb_now_ms() + SEEN_GRACE;
    if (sb_outq_splice(&c->out, &c->held) != SB_OK) {
        sb_conn_close(c, 1011, "out of memory");
        return;
    }
    sb_conn_want_write(c);
}

/* A stored message as this connection's endpoint frames a `message` event:
 * the native envelope around the stored text, or the dialect's encode of it
 * (NULL with *rc SB_OK: the dialect sends nothing). */
static sb_frame *backlog_frame(sb_conn *c, const sb_stored *m, int *rc)
{
    *rc = SB_OK;
    if (!c->ep || sb_endpoint_native(c->ep)) {
        sb_frame *f = sb_frame_envelope("message", NULL, m->json, m->len);
        if (!f)
            *rc = SB_ENOMEM;
        return f;
    }
    cJSON *data = cJSON_ParseWithLength(m->json, m->len);
    if (!cJSON_IsObject(data)) {
        cJSON_Delete(data);
        sb_log(SB_LOG_ERROR, "conn %llu (%s): stored message %s is not a JSON object, skipped",
               (unsigned long long)c->id, c->user, m->id);
        return NULL;
    }
    sb_frame *f = sb_endpoint_frame(c->ep, 0, "message", NULL, data, c->id, c->user, rc);
    cJSON_Delete(data);
    return f;
}

static void backlog_page_cb(void *arg, int status, const sb_stored *msgs, size_t n, int more)
{
    sb_conn *c = sb_conn_find((uint64_t)(uintptr_t)arg);
    if (!c || c->dead || c->closing || !c->in_backlog)
        return;
    c->backlog_busy = 0;
    if (status != SB_OK) {
        sb_log(SB_LOG_ERROR, "conn %llu (%s): reading stored messages failed (%d)",
               (unsigned long long)c->id, c->user, status);
        backlog_finish(c);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = SB_OK;
        sb_frame *f = backlog_frame(c, &msgs[i], &rc);
        if (!f && rc != SB_OK) {
            sb_conn_close(c, 1011, "out of memory");
            return;
        }
        if (f && sb_conn_send_backlog(c, f) == SB_OK && c->ep && c->ep->ep.delivered)
            c->ep->ep.delivered(c->ep->ud, c->id, c->user, msgs[i].id);
        sb_frame_unref(f);
        if (c->dead || c->closing)
            return;
        snprintf(c->backlog_after, sizeof(c->backlog_after), "%s", msgs[i].id);
        seen_add(c, msgs[i].id);
    }
    sb_metrics_core.backlog_delivered += n;
    if (!(more && n) && !c->backlog_dirty) {
        backlog_finish(c);
        return;
    }
    if (c->out.bytes < (size_t)sb_srv.cfg->max_outbound_bytes / 2)
        backlog_request(c);
    /* else: sb_backlog_on_drained asks for the next page */
}

static void backlog_request(sb_conn *c)
{
    void *ud;
    const sb_store *st = sb_hooks_store(&ud);
    if (c->backlog_busy)
        return;
    if (!st || !st->page) {
        backlog_finish(c);
        return;
    }
    c->backlog_busy = 1;
    c->backlog_dirty = 0;
    int rc = st->page(ud, c->user, c->backlog_after[0] ? c->backlog_after : NULL, BACKLOG_PAGE,
                      backlog_page_cb, (void *)(uintptr_t)c->id);
    if (rc != SB_OK) {
        sb_log(SB_LOG_ERROR, "conn %llu (%s): store refused a page read (%d)",
               (unsigned long long)c->id, c->user, rc);
        backlog_finish(c);
    }
}

void sb_backlog_start(sb_conn *c)
{
    void *ud;
    if (!sb_hooks_store(&ud))
        return;
    c->in_backlog = 1;
    c->backlog_after[0] = 0;
    sb_backlog_free(c);
    backlog_request(c);
}

void sb_backlog_mark_dirty(sb_conn *c)
{
    c->backlog_dirty = 1;
    if (!c->backlog_busy && c->out.bytes < (size_t)sb_srv.cfg->max_outbound_bytes / 2)
        backlog_request(c);
}

void sb_backlog_on_drained(sb_conn *c)
{
    if (c->in_backlog && !c->backlog_busy)
        backlog_request(c);
}

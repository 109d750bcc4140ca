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
#include "store_slot.h"

#define BACKLOG_PAGE 64
#define SEEN_IDS     64   /* the newest messages: only those can race the bus */
#define SEEN_GRACE   3000 /* ms after the backlog ends */

/* A connection's backlog state, made with its first stored message and
 * freed a grace period after the backlog ends: an idle connection keeps
 * none of it (only c->backlog_seen, NULL). */
typedef struct sb_backlog_seen {
    int64_t until_ms; /* 0 while the backlog runs */
    unsigned n, next;
    char after[SB_ID_LEN + 1]; /* the page cursor: the last id sent, "" before the first */
    char ids[SEEN_IDS][SB_ID_LEN + 1];
} sb_backlog_seen;

static sb_backlog_seen *seen_get(sb_conn *c)
{
    if (!c->backlog_seen)
        c->backlog_seen = calloc(1, sizeof(*c->backlog_seen));
    return c->backlog_seen;
}

const char *sb_backlog_after(const sb_conn *c)
{
    return c->backlog_seen && c->backlog_seen->after[0] ? c->backlog_seen->after : NULL;
}

static void seen_add(sb_conn *c, const char *id)
{
    sb_backlog_seen *s = seen_get(c);
    if (!s)
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
    if (c->holds)
        return; /* a plugin's hold keeps the events: its release sends them */
    if (sb_conn_release_held(c) != SB_OK) {
        sb_conn_close(c, 1011, "out of memory");
        return;
    }
    sb_conn_want_write(c);
}

/* A stored message as this connection's endpoint frames a `type` event:
 * the native envelope around the stored text, or the dialect's encode of it
 * (NULL with *rc SB_OK: the dialect sends nothing). */
static sb_frame *backlog_frame(sb_conn *c, const char *type, const sb_stored *m, int *rc)
{
    *rc = SB_OK;
    if (!c->ep || sb_endpoint_native(c->ep)) {
        sb_frame *f = sb_frame_envelope(type, NULL, m->json, m->len);
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
    sb_frame *f = sb_endpoint_frame(c->ep, 0, type, NULL, data, c->id, c->user, rc);
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
    /* The cursor lives with the seen ids: without it the next page would
     * start over. */
    if (n && !seen_get(c)) {
        sb_conn_close(c, 1011, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = SB_OK;
        sb_frame *f = backlog_frame(c, "message", &msgs[i], &rc);
        if (!f && rc != SB_OK) {
            sb_conn_close(c, 1011, "out of memory");
            return;
        }
        if (f && sb_conn_send_backlog(c, f) == SB_OK && c->ep && c->ep->ep.delivered)
            c->ep->ep.delivered(c->ep->ud, c->id, c->user, msgs[i].id);
        sb_frame_unref(f);
        if (c->dead || c->closing)
            return;
        snprintf(c->backlog_seen->after, sizeof(c->backlog_seen->after), "%s", msgs[i].id);
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
    if (c->backlog_busy)
        return;
    c->backlog_busy = 1;
    c->backlog_dirty = 0;
    int rc = sb_store_slot_page(c->user, sb_backlog_after(c), BACKLOG_PAGE, backlog_page_cb,
                                (void *)(uintptr_t)c->id);
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
    sb_backlog_free(c); /* the cursor too: from the oldest */
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

/* The id of a native `publish` event frame: host->stamp writes id first, so
 * the payload starts {"type":"publish","data":{"id":"<id>". NULL otherwise
 * (a dialect's frame, another type): such frames are never taken for
 * replayed ones. */
static const char *frame_publish_id(const sb_frame *f)
{
    static const char prefix[] = "{\"type\":\"publish\",\"data\":{\"id\":\"";
    size_t len;
    const char *p = sb_frame_payload(f, &len);
    if (len < sizeof(prefix) - 1 + SB_ID_LEN + 1 || memcmp(p, prefix, sizeof(prefix) - 1) != 0 ||
        p[sizeof(prefix) - 1 + SB_ID_LEN] != '"')
        return NULL;
    return p + sizeof(prefix) - 1;
}

int sb_backlog_replayed(sb_conn *c, const sb_frame *f)
{
    const char *id = c->backlog_seen ? frame_publish_id(f) : NULL;
    char buf[SB_ID_LEN + 1];
    if (!id)
        return 0;
    memcpy(buf, id, SB_ID_LEN);
    buf[SB_ID_LEN] = '\0';
    return sb_backlog_sent(c, buf);
}

int sb_backlog_hold(sb_conn *c)
{
    if (c->holds == UINT16_MAX)
        return SB_EINVAL;
    c->holds++;
    return SB_OK;
}

/* A held native event whose data.id is one of the released messages: the
 * release sent it already, in its place. Dialect frames are not ours to
 * read, so they always stay. */
typedef struct release_ids {
    const sb_stored *msgs;
    size_t n;
} release_ids;

static int held_duplicate(const sb_frame *f, void *arg)
{
    const release_ids *r = arg;
    size_t len;
    const char *payload = sb_frame_payload(f, &len);
    cJSON *env = cJSON_ParseWithLength(payload, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(env, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
    int dup = 0;
    for (size_t i = 0; cJSON_IsString(id) && i < r->n && !dup; i++)
        dup = strcmp(r->msgs[i].id, id->valuestring) == 0;
    cJSON_Delete(env);
    return dup;
}

int sb_backlog_release(sb_conn *c, const char *type, const sb_stored *msgs, size_t n)
{
    if (!c->holds)
        return SB_EINVAL;
    c->holds--;
    for (size_t i = 0; i < n; i++) {
        int rc = SB_OK;
        sb_frame *f = backlog_frame(c, type, &msgs[i], &rc);
        if (!f && rc != SB_OK) {
            sb_conn_close(c, 1011, "out of memory");
            return SB_ENOMEM;
        }
        if (f)
            sb_conn_send_backlog(c, f);
        sb_frame_unref(f);
        if (c->dead || c->closing)
            return SB_ECLOSED;
        seen_add(c, msgs[i].id);
    }
    /* A replayed publication may still arrive live afterwards (from another
     * node over the bus, or a commit whose fan-out runs late): the newest
     * replayed ids stay known for a moment, like the backlog's. */
    if (n && c->backlog_seen && !c->in_backlog)
        c->backlog_seen->until_ms = sb_now_ms() + SEEN_GRACE;
    if (n && c->held && (!c->ep || sb_endpoint_native(c->ep))) {
        release_ids r = {msgs, n};
        sb_outq_drop_if(c->held, held_duplicate, &r);
    }
    if (c->holds || c->in_backlog)
        return SB_OK; /* the last release, or the backlog's end, sends them */
    if (sb_conn_release_held(c) != SB_OK) {
        sb_conn_close(c, 1011, "out of memory");
        return SB_ENOMEM;
    }
    sb_conn_want_write(c);
    return SB_OK;
}

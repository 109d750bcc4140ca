/* Room publications (publish.h). How much history to keep is a plugin's
 * configuration, handed over through host->room_history_configure, but the
 * store step is here so that every publisher goes through it: a push-API or
 * gRPC publication is in the history exactly as a WebSocket one is, and
 * every answer (the `ack`, the HTTP 202, the gRPC reply) comes after the
 * commit.
 *
 * The event is framed before the store is asked, so the bytes stored and the
 * bytes sent are one serialization; the frame waits for the commit. Without
 * history the frame goes out within the call and the publisher answers at
 * once (SB_OK), with no allocation here: the live path costs what
 * send_room did. */
#include "publish.h"

#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "hooks.h"
#include "ids.h"
#include "log.h"
#include "json_out.h"
#include "route.h"
#include "store_slot.h"

static struct {
    size_t keep;    /* publications per room; 0: no history */
    int64_t ttl_ms; /* 0: no age limit */
} history;

typedef struct publication {
    sb_frame *frame; /* the `publish` event, framed once */
    uint64_t skip_conn;
    size_t delivered;
    sb_published_fn done;
    void *arg;
    char room[SB_ROOM_MAX + 1];
} publication;

void sb_publish_configure(long keep, long ttl_s)
{
    history.keep = keep > 0 ? (size_t)keep : 0;
    history.ttl_ms = ttl_s > 0 ? (int64_t)ttl_s * 1000 : 0;
}

static void publication_send(publication *p)
{
    sb_route_room_printed(p->room, p->frame, p->skip_conn, NULL, &p->delivered);
    const char *targets[1] = {p->room};
    sb_route_to_bus(SB_ROUTE_ROOM, targets, 1, p->frame, 0);
}

static void publication_finish(publication *p, int status)
{
    sb_frame_unref(p->frame);
    sb_published_fn done = p->done;
    void *arg = p->arg;
    size_t delivered = p->delivered;
    free(p);
    done(arg, status, delivered);
}

static void publication_stored_cb(void *arg, int status)
{
    publication *p = arg;
    if (status == SB_OK)
        publication_send(p); /* sent even when the publisher has gone: it is stored */
    else
        sb_log(SB_LOG_WARN, "the store refused a publication to %s: %d", p->room, status);
    publication_finish(p, status == SB_OK ? SB_OK : SB_EUNAVAILABLE);
}

int sb_publish_room(const char *room, const cJSON *data, uint64_t skip_conn, size_t *delivered,
                    sb_published_fn done, void *arg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");
    if (!room || strlen(room) > SB_ROOM_MAX || !cJSON_IsObject(data) || !cJSON_IsString(id) ||
        strlen(id->valuestring) > SB_ID_LEN || (history.keep && !done))
        return SB_EINVAL;
    size_t len;
    const char *json = sb_json_out(data, &len); /* valid until the next print */
    sb_frame *f = json ? sb_frame_envelope("publish", NULL, json, len) : NULL;
    if (!f)
        return SB_ENOMEM;
    if (history.keep == 0) {
        /* Live only: out now, answered by the caller now (no allocation). */
        publication now = {.frame = f, .skip_conn = skip_conn};
        memcpy(now.room, room, strlen(room) + 1);
        publication_send(&now);
        sb_frame_unref(f);
        if (delivered)
            *delivered = now.delivered;
        return SB_OK;
    }
    publication *p = calloc(1, sizeof(*p));
    if (!p) {
        sb_frame_unref(f);
        return SB_ENOMEM;
    }
    *p = (publication){.frame = f, .skip_conn = skip_conn, .done = done, .arg = arg};
    memcpy(p->room, room, strlen(room) + 1);
    char cut[SB_ID_TIME_LEN + 1];
    if (history.ttl_ms)
        sb_id_time_prefix(sb_now_ms() - history.ttl_ms, cut);
    /* The store copies json before returning (sb_store's ownership). */
    int rc = sb_store_slot_history_put(room, id->valuestring, json, len, history.keep,
                                       history.ttl_ms ? cut : NULL, publication_stored_cb, p);
    if (rc == SB_OK)
        return SB_PENDING;
    sb_frame_unref(f);
    free(p);
    return rc == SB_ENOMEM || rc == SB_EINVAL ? rc : SB_EUNAVAILABLE;
}

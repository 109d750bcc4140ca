/* notificationspb.NotificationService, with the push API's semantics
 * (PROTOCOL.md section 6, plugins/api/api_calls.c): the request becomes a
 * data object {type, entityId, message}, passes the filter chain as the push
 * API's calls do (sender [grpc] from, default "server"), is stamped, then
 *  - Broadcast:     a `broadcast` event to every connection (send_all),
 *  - NotifyRoom:    a `publish` to the room through the host's one road for
 *                   room publications (publish_room: stored first when room
 *                   history is on), answered when it has gone out,
 *  - PrivateNotify: a stored direct `message` to the user, answered after the
 *                   store's commit, then delivered (send_users, direct).
 * Every answer is a NotifyResponse {id, delivered}. */
#include "grpc_notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_any.h"
#include "notificationspb/message.pb-c.h"

#define NOTIFY_REASON_MAX 256

/* The fields the three requests share, borrowed from the unpacked message. */
typedef struct notify_req {
    ProtobufCMessage *msg; /* owned: the unpacked request */
    int type;
    const char *entity_id;
    const Google__Protobuf__Any *message;
    const char *room;    /* NotifyRoom */
    const char *user_id; /* PrivateNotify */
} notify_req;

/* A private notification waiting for the store. */
typedef struct notify_put {
    grpc_state *st;
    grpc_stream *s; /* held */
    char user[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];
    char *json; /* the stamped message as stored, host->json_print_new's */
    size_t len;
} notify_put;

/* A room notification waiting for publish_room's answer. */
typedef struct notify_pub {
    grpc_state *st;
    grpc_stream *s; /* held */
    char id[SB_ID_LEN + 1];
} notify_pub;

/* --- the request --- */

/* msg -> r. -> 0 | -1 (does not decode) */
static int notify_unpack(int method, const uint8_t *msg, size_t len, notify_req *r)
{
    memset(r, 0, sizeof(*r));
    if (method == NOTIFY_BROADCAST) {
        Notificationspb__BroadcastRequest *b =
            notificationspb__broadcast_request__unpack(NULL, len, msg);
        if (!b)
            return -1;
        r->msg = &b->base;
        r->type = b->type;
        r->entity_id = b->entity_id;
        r->message = b->message;
    } else if (method == NOTIFY_ROOM) {
        Notificationspb__NotifyRoomRequest *n =
            notificationspb__notify_room_request__unpack(NULL, len, msg);
        if (!n)
            return -1;
        r->msg = &n->base;
        r->type = n->type;
        r->entity_id = n->entity_id;
        r->message = n->message;
        r->room = n->room;
    } else {
        Notificationspb__PrivateNotifyRequest *p =
            notificationspb__private_notify_request__unpack(NULL, len, msg);
        if (!p)
            return -1;
        r->msg = &p->base;
        r->type = p->type;
        r->entity_id = p->entity_id;
        r->message = p->message;
        r->user_id = p->user_id;
    }
    return 0;
}

/* Check r and build the data object {type, entityId, message}. On -1, why
 * holds the INVALID_ARGUMENT message (or "out of memory": *oom set). */
static int notify_data(grpc_state *st, const notify_req *r, cJSON **out, char *why, size_t why_len,
                       int *oom)
{
    const sb_host_api *host = st->host;
    const char *reason = NULL;
    *out = NULL;
    *oom = 0;

    const ProtobufCEnumValue *type =
        protobuf_c_enum_descriptor_get_value(&notificationspb__type__descriptor, r->type);
    if (!type) {
        snprintf(why, why_len, "type %d is not a notificationspb.Type", r->type);
        return -1;
    }
    if (!host->utf8_valid(r->entity_id, strlen(r->entity_id))) {
        snprintf(why, why_len, "entityId is not valid UTF-8");
        return -1;
    }
    if (r->room && r->room[0] == '\0') {
        snprintf(why, why_len, "room is required");
        return -1;
    }
    if (r->room && !host->room_valid(r->room)) {
        snprintf(why, why_len, "room must be 1..128 bytes of UTF-8 without control characters");
        return -1;
    }
    if (r->user_id && r->user_id[0] == '\0') {
        snprintf(why, why_len, "userId is required");
        return -1;
    }
    if (r->user_id && !host->user_valid(r->user_id)) {
        snprintf(why, why_len, "userId must be 1..64 bytes of [A-Za-z0-9._@:-], not \"0\"");
        return -1;
    }
    if (!r->message) {
        snprintf(why, why_len, "message (a google.protobuf.Any) is required");
        return -1;
    }
    cJSON *message = NULL;
    if (grpc_any_to_json(r->message, host->utf8_valid, &message, &reason) != 0) {
        snprintf(why, why_len, "%s", reason);
        *oom = strcmp(reason, "out of memory") == 0;
        return -1;
    }
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "type", type->name) ||
        !cJSON_AddStringToObject(data, "entityId", r->entity_id) ||
        !cJSON_AddItemToObject(data, "message", message)) {
        if (!data || !cJSON_GetObjectItemCaseSensitive(data, "message"))
            cJSON_Delete(message);
        cJSON_Delete(data);
        snprintf(why, why_len, "out of memory");
        *oom = 1;
        return -1;
    }
    *out = data;
    return 0;
}

/* --- answers --- */

/* NotifyResponse {id, delivered}, status OK. */
static void notify_respond(grpc_stream *s, const char *id, size_t delivered)
{
    Notificationspb__NotifyResponse resp = NOTIFICATIONSPB__NOTIFY_RESPONSE__INIT;
    uint8_t buf[64];
    resp.id = (char *)id;
    resp.delivered = delivered;
    size_t n = notificationspb__notify_response__get_packed_size(&resp);
    if (n > sizeof(buf)) { /* an id is 26 bytes: cannot happen */
        grpc_stream_finish(s, GRPC_INTERNAL, "the answer does not fit");
        return;
    }
    notificationspb__notify_response__pack(&resp, buf);
    if (grpc_stream_send(s, buf, n) == 0)
        grpc_stream_finish(s, GRPC_OK, NULL);
}

/* A store failure, from store_put itself or from its completion. */
static void notify_store_error(grpc_state *st, grpc_stream *s, const char *user, int status)
{
    char why[160];
    if (status == SB_EINBOX_FULL) {
        snprintf(why, sizeof(why),
                 "the inbox of %.*s is full (max_inbox); the message was not stored", SB_USER_MAX,
                 user);
        grpc_stream_finish(s, GRPC_RESOURCE_EXHAUSTED, why);
        return;
    }
    st->host->log(st->pc, SB_LOG_WARN, "store refused a message for %s: %d", user, status);
    grpc_stream_finish(s, GRPC_UNAVAILABLE,
                       "the store could not take the message; it was not stored");
}

/* Run the filter chain over *data. -> 0, or -1 after answering. */
static int notify_filter(grpc_state *st, grpc_stream *s, const sb_filter_msg *fm, cJSON **data)
{
    char reason[NOTIFY_REASON_MAX] = "";
    if (st->host->run_filter(st->pc, fm, data, reason, sizeof(reason)) == SB_HOOK_DENY) {
        reason[sizeof(reason) - 1] = '\0';
        grpc_stream_finish(s, GRPC_PERMISSION_DENIED,
                           reason[0] ? reason : "a message filter dropped the message");
        return -1;
    }
    if (!cJSON_IsObject(*data)) {
        st->host->log(st->pc, SB_LOG_ERROR, "the filter chain returned no object");
        grpc_stream_finish(s, GRPC_INTERNAL, "the filter chain returned no object");
        return -1;
    }
    return 0;
}

/* --- the calls --- */

static void notify_room_done(void *arg, int status, size_t delivered)
{
    notify_pub *pub = arg;
    grpc_state *st = pub->st;
    st->pending--;
    if (!st->closing && grpc_stream_live(pub->s)) {
        if (status == SB_OK)
            notify_respond(pub->s, pub->id, delivered);
        else
            grpc_stream_finish(pub->s, GRPC_UNAVAILABLE,
                               "the store could not keep the publication; it was not sent");
    }
    grpc_stream_release(pub->s);
    free(pub);
    if (st->closing && st->pending == 0)
        st->release(st);
}

/* NotifyRoom's stamped data (borrowed) through publish_room; answered from
 * notify_room_done, after the store's commit when room history is on. */
static void notify_room(grpc_state *st, grpc_stream *s, const char *room, const char *id,
                        const cJSON *data)
{
    const sb_host_api *host = st->host;
    notify_pub *pub = calloc(1, sizeof(*pub));
    if (!pub) {
        grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
        return;
    }
    pub->st = st;
    pub->s = s;
    memcpy(pub->id, id, sizeof(pub->id));
    grpc_stream_hold(s);
    size_t delivered = 0;
    int rc = host->publish_room(st->pc, room, data, 0, &delivered, notify_room_done, pub);
    if (rc == SB_PENDING) {
        st->pending++;
        return;
    }
    grpc_stream_release(s);
    free(pub);
    if (rc == SB_OK) {
        notify_respond(s, id, delivered);
        return;
    }
    if (rc == SB_EUNAVAILABLE) {
        grpc_stream_finish(s, GRPC_UNAVAILABLE,
                           "the store could not take the publication; it was not sent");
        return;
    }
    host->log(st->pc, SB_LOG_ERROR, "publish %s failed: %d", id, rc);
    grpc_stream_finish(s, GRPC_INTERNAL, "delivery failed; the server log says more");
}

/* Broadcast (room NULL, live only, answered at once) and NotifyRoom. */
static void notify_live(grpc_state *st, grpc_stream *s, const char *room, cJSON *data_take)
{
    const sb_host_api *host = st->host;
    char id[SB_ID_LEN + 1];
    size_t delivered = 0;
    cJSON *data = data_take;

    host->id_new(st->pc, id);
    int64_t ts = host->now_ms();
    const char *type = room ? "publish" : "broadcast";
    sb_filter_msg fm = {
        .size = sizeof(fm), .type = type, .from = st->from, .room = room, .id = id, .ts = ts};
    if (notify_filter(st, s, &fm, &data) != 0) {
        cJSON_Delete(data);
        return;
    }
    if (host->stamp(&data, id, st->from, NULL, room, ts) != SB_OK) {
        cJSON_Delete(data);
        grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
        return;
    }
    if (room) {
        notify_room(st, s, room, id, data);
        cJSON_Delete(data);
        return;
    }
    int rc = host->send_all(st->pc, type, data, 0, &delivered);
    cJSON_Delete(data);
    if (rc != SB_OK) {
        host->log(st->pc, SB_LOG_ERROR, "%s %s failed: %d", type, id, rc);
        grpc_stream_finish(s, GRPC_INTERNAL, "delivery failed; the server log says more");
        return;
    }
    notify_respond(s, id, delivered);
}

static void notify_put_done(void *arg, int status)
{
    notify_put *put = arg;
    grpc_state *st = put->st;
    const sb_host_api *host = st->host;
    size_t delivered = 0;

    st->pending--;
    if (st->closing) {
        /* fini ran: the message is stored (or not) either way. */
        grpc_stream_release(put->s);
        host->free(put->json);
        free(put);
        if (st->pending == 0)
            st->release(st);
        return;
    }
    if (status != SB_OK) {
        if (grpc_stream_live(put->s))
            notify_store_error(st, put->s, put->user, status);
    } else {
        const char *users[1] = {put->user};
        /* The bytes stored are the bytes framed: nothing printed twice. */
        int rc = host->send_users_json(st->pc, users, 1, "message", put->json, put->len, 0, 1,
                                       &delivered);
        if (rc != SB_OK) /* stored all the same: the next connection's backlog has it */
            host->log(st->pc, SB_LOG_WARN, "message %s stored but not sent to %s: %d", put->id,
                      put->user, rc);
        if (grpc_stream_live(put->s))
            notify_respond(put->s, put->id, delivered);
    }
    grpc_stream_release(put->s);
    host->free(put->json);
    free(put);
}

/* PrivateNotify: filter, stamp, store; delivered and answered on commit. */
static void notify_private(grpc_state *st, grpc_stream *s, const char *user, cJSON *data_take)
{
    const sb_host_api *host = st->host;
    char id[SB_ID_LEN + 1];
    cJSON *data = data_take;

    host->id_new(st->pc, id);
    int64_t ts = host->now_ms();
    cJSON *to = cJSON_CreateString(user);
    if (!to) {
        cJSON_Delete(data);
        grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
        return;
    }
    sb_filter_msg fm = {
        .size = sizeof(fm), .type = "message", .from = st->from, .to = to, .id = id, .ts = ts};
    if (notify_filter(st, s, &fm, &data) != 0) {
        cJSON_Delete(to);
        cJSON_Delete(data);
        return;
    }
    int rc = host->stamp(&data, id, st->from, to, NULL, ts);
    cJSON_Delete(to);
    notify_put *put = calloc(1, sizeof(*put));
    size_t len = 0;
    char *json = rc == SB_OK && put ? host->json_print_new(data, &len) : NULL;
    cJSON_Delete(data);
    if (!json) {
        free(put);
        grpc_stream_finish(s, GRPC_INTERNAL, "out of memory");
        return;
    }
    put->st = st;
    put->s = s;
    snprintf(put->user, sizeof(put->user), "%.*s", SB_USER_MAX, user);
    memcpy(put->id, id, sizeof(put->id));
    put->json = json;
    put->len = len;
    const char *users[1] = {put->user};
    grpc_stream_hold(s);
    rc = host->store_put(st->pc, users, 1, put->id, json, len, notify_put_done, put);
    if (rc != SB_OK) { /* no callback comes: answer now */
        grpc_stream_release(s);
        notify_store_error(st, s, put->user, rc);
        host->free(json);
        free(put);
        return;
    }
    st->pending++;
}

static void notify_call(grpc_stream *s, int method, const uint8_t *msg, size_t len)
{
    grpc_state *st = grpc_stream_state(s);
    static const char *const names[] = {
        [NOTIFY_BROADCAST] = "BroadcastRequest",
        [NOTIFY_ROOM] = "NotifyRoomRequest",
        [NOTIFY_PRIVATE] = "PrivateNotifyRequest",
    };
    char why[NOTIFY_REASON_MAX];
    notify_req r;
    cJSON *data = NULL;
    int oom = 0;

    if (notify_unpack(method, msg, len, &r) != 0) {
        snprintf(why, sizeof(why), "the request does not decode as notificationspb.%s",
                 names[method]);
        grpc_stream_finish(s, GRPC_INVALID_ARGUMENT, why);
        return;
    }
    if (notify_data(st, &r, &data, why, sizeof(why), &oom) != 0) {
        protobuf_c_message_free_unpacked(r.msg, NULL);
        grpc_stream_finish(s, oom ? GRPC_INTERNAL : GRPC_INVALID_ARGUMENT, why);
        return;
    }
    if (method == NOTIFY_PRIVATE)
        notify_private(st, s, r.user_id, data);
    else
        notify_live(st, s, method == NOTIFY_ROOM ? r.room : NULL, data);
    protobuf_c_message_free_unpacked(r.msg, NULL);
}

const grpc_method grpc_notify_methods[GRPC_NOTIFY_METHODS] = {
    {"/notificationspb.NotificationService/Broadcast", 0, NOTIFY_BROADCAST, notify_call},
    {"/notificationspb.NotificationService/NotifyRoom", 0, NOTIFY_ROOM, notify_call},
    {"/notificationspb.NotificationService/PrivateNotify", 0, NOTIFY_PRIVATE, notify_call},
};

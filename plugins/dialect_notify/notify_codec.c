/* The notify dialect's codec (seed 004, docs/dialects/notify.md).
 *
 * decode: {"action": "enter" | "leave", "room": r} -> native join / leave,
 * with the action and room as ref so an error can name them. A success sends
 * nothing: the seed's clients receive notifications only.
 *
 * encode: publish, broadcast and message events -> {"type", "entityId",
 * "message", ["room"], "from"}. `type`, `entityId` and `message` are the
 * data's own when it has them (what the gRPC side and seed-shaped push API
 * callers send); otherwise "TYPE_INFO", the message id, and the native `text`
 * or else the data without the stamped members. Error replies -> {"type":
 * "error", "code", "message", "action", "room"}; everything else is dropped.
 *
 * These clients cannot `read`: a direct message leaves the inbox as soon as
 * it is queued to one of the user's notify connections (notify_delivered).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify_codec.h"

/* --- decode ------------------------------------------------------------- */

static int notify_refuse(notify_codec *nc, const char *code, const char **codep, const char **why,
                         const char *fmt, const char *arg)
{
    snprintf(nc->why, sizeof nc->why, fmt, arg);
    *codep = code;
    *why = nc->why;
    return SB_EPROTO;
}

static const char *notify_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Add name: text, as a reference (the frame outlives the submit that copies it). */
static int notify_add_text(cJSON *obj, const char *name, const char *text)
{
    cJSON *item = cJSON_CreateStringReference(text);
    if (item && cJSON_AddItemToObject(obj, name, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

int notify_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                  const char **code, const char **why)
{
    notify_codec *nc = ud;
    (void)user;
    const char *perr = NULL;
    cJSON *frame = nc->host->json_parse_new(text, len, &perr);
    if (!frame)
        return notify_refuse(nc, "bad_json", code, why, "%s", perr ? perr : "not JSON");
    int rc = SB_OK;
    cJSON *ref = cJSON_CreateObject();
    cJSON *data = cJSON_CreateObject();
    const char *action = notify_string(frame, "action");
    const char *room = notify_string(frame, "room");
    const char *type = NULL;
    if (action && strcmp(action, "enter") == 0)
        type = "join";
    else if (action && strcmp(action, "leave") == 0)
        type = "leave";

    if (!cJSON_IsObject(frame))
        rc = notify_refuse(nc, "bad_json", code, why, "%s", "a frame must be a JSON object");
    else if (!action)
        rc = notify_refuse(nc, "bad_request", code, why, "%s", "action: a string is required");
    else if (!type)
        rc = notify_refuse(nc, "bad_request", code, why,
                           "unknown action \"%.64s\" (enter or leave)", action);
    else if (!room)
        rc = notify_refuse(nc, "bad_request", code, why, "%s", "room: a string is required");
    else if (!ref || !data || !notify_add_text(ref, "action", action) ||
             !notify_add_text(ref, "room", room) || !notify_add_text(data, "room", room))
        rc = SB_ENOMEM;
    else if ((rc = nc->host->submit(nc->pc, conn_id, type, ref, data)) != SB_OK) {
        if (rc != SB_ECLOSED) /* SB_ECLOSED: the client left, nothing to answer */
            nc->host->log(nc->pc, SB_LOG_WARN, "submit %s for conn %llu failed: %d", type,
                          (unsigned long long)conn_id, rc);
        rc = SB_OK;
    }
    cJSON_Delete(data);
    cJSON_Delete(ref);
    cJSON_Delete(frame);
    return rc;
}

/* --- encode ------------------------------------------------------------- */

static int notify_stamped(const char *key)
{
    static const char *const stamps[] = {"id", "from", "to", "room", "ts"};
    for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++)
        if (strcmp(key, stamps[i]) == 0)
            return 1;
    return 0;
}

/* Add name: a reference to obj's member key, or to fallback when obj has
 * none (nothing when neither exists). 0 on ENOMEM. */
static int notify_add_ref(cJSON *out, const char *name, const cJSON *obj, const char *key,
                          cJSON *fallback)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item)
        item = fallback;
    return !item || cJSON_AddItemReferenceToObject(out, name, item);
}

/* "message": the data's `message`, else its `text`, else the data object
 * without the stamped members. */
static int notify_add_payload(cJSON *out, const cJSON *data)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(data, "message");
    if (!item)
        item = cJSON_GetObjectItemCaseSensitive(data, "text");
    if (item)
        return cJSON_AddItemReferenceToObject(out, "message", item);
    cJSON *payload = cJSON_AddObjectToObject(out, "message");
    if (!payload)
        return 0;
    for (cJSON *m = data ? data->child : NULL; m; m = m->next)
        if (m->string && !notify_stamped(m->string) &&
            !cJSON_AddItemReferenceToObject(payload, m->string, m))
            return 0;
    return 1;
}

/* A notification; 1, or -1 on ENOMEM. */
static int notify_event(cJSON *out, const sb_encode_in *in)
{
    const cJSON *d = in->data;
    const char *type = notify_string(d, "type");
    const char *entity = notify_string(d, "entityId");
    cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
    int room = strcmp(in->type, "publish") == 0;
    return cJSON_AddStringToObject(out, "type", type ? type : "TYPE_INFO") &&
                   (entity ? cJSON_AddStringToObject(out, "entityId", entity) != NULL
                           : notify_add_ref(out, "entityId", d, "id", id)) &&
                   notify_add_payload(out, d) &&
                   (!room || notify_add_ref(out, "room", d, "room", NULL)) &&
                   notify_add_ref(out, "from", d, "from", NULL)
               ? 1
               : -1;
}

/* An error reply; 1, or -1 on ENOMEM. */
static int notify_error(cJSON *out, const sb_encode_in *in)
{
    return cJSON_AddStringToObject(out, "type", "error") &&
                   notify_add_ref(out, "code", in->data, "code", NULL) &&
                   notify_add_ref(out, "message", in->data, "message", NULL) &&
                   notify_add_ref(out, "action", in->ref, "action", NULL) &&
                   notify_add_ref(out, "room", in->ref, "room", NULL)
               ? 1
               : -1;
}

/* frame -> *out in memory the host frees, printed by the host's own printer
 * (the bytes the native endpoint would frame). json_print_new is 1.2, like
 * endpoints themselves, so every host that calls encode has it. */
static int notify_print(const sb_host_api *host, const cJSON *frame, char **out, size_t *out_len)
{
    *out = host->json_print_new(frame, out_len);
    return *out ? SB_OK : SB_ENOMEM;
}

int notify_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    notify_codec *nc = ud;
    *out = NULL;
    *out_len = 0;
    int r = 0;
    if (in->reply)
        r = strcmp(in->type, "error") == 0 ? 2 : 0;
    else if (strcmp(in->type, "publish") == 0 || strcmp(in->type, "broadcast") == 0 ||
             strcmp(in->type, "message") == 0)
        r = 1;
    if (r == 0)
        return SB_OK; /* join, leave, presence, receipt: nothing for these clients */
    cJSON *frame = cJSON_CreateObject();
    if (!frame)
        return SB_ENOMEM;
    r = r == 2 ? notify_error(frame, in) : notify_event(frame, in);
    int rc = r > 0 ? notify_print(nc->host, frame, out, out_len) : SB_ENOMEM;
    cJSON_Delete(frame);
    return rc;
}

/* --- delivered ---------------------------------------------------------- */

static void notify_removed(void *arg, int status, const sb_stored *removed, size_t n)
{
    notify_codec *nc = arg;
    (void)removed;
    (void)n;
    nc->removing--;
    if (nc->closing) {
        if (nc->removing == 0)
            free(nc);
        return;
    }
    if (status != SB_OK)
        nc->host->log(nc->pc, SB_LOG_WARN, "a delivered message stays stored: remove failed (%d)",
                      status);
}

void notify_delivered(void *ud, uint64_t conn_id, const char *user, const char *id)
{
    notify_codec *nc = ud;
    (void)conn_id;
    const char *ids[1] = {id};
    int rc = nc->host->store_remove(nc->pc, user, ids, 1, notify_removed, nc);
    if (rc == SB_OK)
        nc->removing++;
    else
        nc->host->log(nc->pc, SB_LOG_WARN, "message %s to %s stays stored: remove failed (%d)", id,
                      user, rc);
}

void notify_codec_release(notify_codec *nc)
{
    if (nc->removing == 0)
        free(nc);
    else
        nc->closing = 1;
}

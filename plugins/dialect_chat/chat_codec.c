/* The chat dialect's codec (seed 003, docs/dialects/chat.md).
 *
 * decode: {"command": "broadcast" | "list" | "me" | "join" | "leave" |
 * "members" | "publish", ...} -> the native command of the same name. The
 * ref handed to submit names the command (and its room). The seed's hub
 * sends a broadcast to every member including its sender: the endpoint is
 * SB_ENDPOINT_ECHO, so the sender gets the fan-out's own frame, and an `ack`
 * has no chat form.
 *
 * join: with [dialect_chat] history, the room's newest publications follow
 * the `join` event as `publish` events (chat_history.c).
 *
 * encode: replies and events -> {"event": ...}; direct messages and receipts
 * have no chat form and are dropped (they stay stored for the user's other
 * endpoints). An event's frame is shared by all chat connections, so it
 * depends on the event alone.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "chat_codec.h"
#include "chat_history.h"

/* --- decode ------------------------------------------------------------- */

static int chat_refuse(chat_codec *cc, const char *code, const char **codep, const char **why,
                       const char *fmt, const char *arg)
{
    snprintf(cc->why, sizeof cc->why, fmt, arg);
    *codep = code;
    *why = cc->why;
    return SB_EPROTO;
}

/* The string member name of obj, or NULL when absent or not a string. */
static const char *chat_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Submit one native command. A `join` with recent history on holds the
 * connection's events first; its answer (encode) or a failed submit ends
 * the hold (chat_history.c). */
static int chat_submit(chat_codec *cc, uint64_t conn_id, const char *type, const cJSON *ref,
                       const cJSON *data, const char *room)
{
    int recent = cc->history > 0 && strcmp(type, "join") == 0;
    if (recent && chat_history_hold(cc, conn_id) != SB_OK)
        return SB_OK; /* the client left */
    int rc = cc->host->submit(cc->pc, conn_id, type, ref, data);
    if (rc == SB_ECLOSED)
        return SB_OK; /* the client left: nothing to answer */
    if (rc != SB_OK) {
        cc->host->log(cc->pc, SB_LOG_WARN, "submit %s for conn %llu failed: %d", type,
                      (unsigned long long)conn_id, rc);
        if (recent)
            chat_history_answered(cc, conn_id, room, 0);
    }
    return SB_OK;
}

/* The chat commands: each is the native command of the same name. */
static const struct chat_command {
    const char *name;
    int room;    /* takes "room" (native data.room) */
    int message; /* takes "message" (native data.text) */
    int paged;   /* takes "after" and "limit" as they are (native checks them) */
} chat_commands[] = {
    {"broadcast", 0, 1, 0}, {"list", 0, 0, 0},    {"me", 0, 0, 0},      {"join", 1, 0, 0},
    {"leave", 1, 0, 0},     {"members", 1, 0, 1}, {"publish", 1, 1, 0},
};

static const struct chat_command *chat_command_find(const char *name)
{
    for (size_t i = 0; i < sizeof chat_commands / sizeof chat_commands[0]; i++)
        if (strcmp(name, chat_commands[i].name) == 0)
            return &chat_commands[i];
    return NULL;
}

/* Add name: text, as a reference (the frame outlives the submit that copies it). */
static int chat_add_text(cJSON *obj, const char *name, const char *text)
{
    cJSON *item = cJSON_CreateStringReference(text);
    if (item && cJSON_AddItemToObject(obj, name, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

/* Add name: a reference to obj's member key (nothing when absent). The
 * frame outlives the submit that copies it. */
static int chat_add_ref(cJSON *out, const char *name, const cJSON *obj, const char *key)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return !item || cJSON_AddItemReferenceToObject(out, name, item);
}

int chat_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                const char **code, const char **why)
{
    chat_codec *cc = ud;
    (void)user; /* the host stamps the sender */
    const char *perr = NULL;
    cJSON *frame = cc->host->json_parse_new(text, len, &perr);
    if (!frame)
        return chat_refuse(cc, "bad_json", code, why, "%s", perr ? perr : "not JSON");
    int rc = SB_OK;
    cJSON *ref = cJSON_CreateObject();
    cJSON *data = cJSON_CreateObject();
    const char *command = chat_string(frame, "command");
    const char *room = chat_string(frame, "room");
    const char *message = chat_string(frame, "message");
    const struct chat_command *cmd = command ? chat_command_find(command) : NULL;

    if (!cJSON_IsObject(frame)) {
        rc = chat_refuse(cc, "bad_json", code, why, "%s", "a frame must be a JSON object");
    } else if (!command) {
        rc = chat_refuse(cc, "bad_request", code, why, "%s", "command: a string is required");
    } else if (!cmd) {
        rc = chat_refuse(cc, "bad_request", code, why, "unknown command \"%.64s\"", command);
    } else if (cmd->room && !room) {
        rc = chat_refuse(cc, "bad_request", code, why, "%s", "room: a string is required");
    } else if (cmd->message && (!message || !message[0])) {
        rc = chat_refuse(cc, "bad_request", code, why, "%s",
                         "message: a non-empty string is required");
    } else if (!ref || !data || !chat_add_text(ref, "command", cmd->name) ||
               (cmd->room &&
                (!chat_add_text(ref, "room", room) || !chat_add_text(data, "room", room))) ||
               (cmd->message && !chat_add_text(data, "text", message)) ||
               (cmd->paged && (!chat_add_ref(data, "after", frame, "after") ||
                               !chat_add_ref(data, "limit", frame, "limit")))) {
        rc = SB_ENOMEM;
    } else {
        rc = chat_submit(cc, conn_id, cmd->name, ref, data, room);
    }
    cJSON_Delete(data);
    cJSON_Delete(ref);
    cJSON_Delete(frame);
    return rc;
}

/* --- encode ------------------------------------------------------------- */

/* The members a native event's data carries beyond what its sender wrote. */
static int chat_stamped(const char *key)
{
    static const char *const stamps[] = {"id", "from", "to", "room", "ts"};
    for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++)
        if (strcmp(key, stamps[i]) == 0)
            return 1;
    return 0;
}

/* Add "message": the native `text` when there is one, else the data object
 * without the stamped members (the sender is in "member" already). */
static int chat_add_payload(cJSON *out, const cJSON *data)
{
    cJSON *text = cJSON_GetObjectItemCaseSensitive(data, "text");
    if (text)
        return cJSON_AddItemReferenceToObject(out, "message", text);
    cJSON *payload = cJSON_AddObjectToObject(out, "message");
    if (!payload)
        return 0;
    for (cJSON *m = data ? data->child : NULL; m; m = m->next)
        if (m->string && !chat_stamped(m->string) &&
            !cJSON_AddItemReferenceToObject(payload, m->string, m))
            return 0;
    return 1;
}

/* The chat form of a native reply, into out (holding {"event": ...}). Returns
 * 1 when there is one, 0 when nothing is sent, -1 on ENOMEM. */
static int chat_reply(chat_codec *cc, cJSON *out, const sb_encode_in *in)
{
    const cJSON *d = in->data;
    const char *t = in->type;
    const char *command = chat_string(in->ref, "command");
    if (cc->history > 0 && command && strcmp(command, "join") == 0)
        chat_history_answered(cc, in->conn_id, chat_string(in->ref, "room"),
                              strcmp(t, "join") == 0);
    if (strcmp(t, "error") == 0)
        return cJSON_AddStringToObject(out, "event", "error") &&
                       chat_add_ref(out, "message", d, "message") &&
                       chat_add_ref(out, "code", d, "code") &&
                       (!command || cJSON_AddStringToObject(out, "command", command))
                   ? 1
                   : -1;
    if (strcmp(t, "list") == 0)
        return cJSON_AddStringToObject(out, "event", "list") &&
                       chat_add_ref(out, "members", d, "users")
                   ? 1
                   : -1;
    if (strcmp(t, "me") == 0)
        return cJSON_AddStringToObject(out, "event", "me") &&
                       chat_add_ref(out, "member", d, "user") &&
                       chat_add_ref(out, "id", d, "conn") && chat_add_ref(out, "rooms", d, "rooms")
                   ? 1
                   : -1;
    /* A room over [rooms] presence_limit: `join` lists nobody and says so
     * (presence: false); `members` pages (more). */
    if (strcmp(t, "join") == 0 || strcmp(t, "members") == 0)
        return cJSON_AddStringToObject(out, "event", t) && chat_add_ref(out, "room", d, "room") &&
                       chat_add_ref(out, "members", d, "users") &&
                       chat_add_ref(out, "presence", d, "presence") &&
                       chat_add_ref(out, "more", d, "more")
                   ? 1
                   : -1;
    if (strcmp(t, "leave") == 0)
        return cJSON_AddStringToObject(out, "event", "leave") &&
                       chat_add_ref(out, "room", d, "room")
                   ? 1
                   : -1;
    /* ack: the sender's copy of its broadcast or publication is the echo of
     * the fan-out (SB_ENDPOINT_ECHO); pong, auth, read, ...: no chat command
     * asks for them */
    return 0;
}

/* The chat form of a native event; same answers as chat_reply. */
static int chat_event(cJSON *out, const sb_encode_in *in)
{
    const cJSON *d = in->data;
    const char *t = in->type;
    if (strcmp(t, "broadcast") == 0 || strcmp(t, "publish") == 0)
        return cJSON_AddStringToObject(out, "event", t) &&
                       (t[0] == 'b' || chat_add_ref(out, "room", d, "room")) &&
                       chat_add_ref(out, "member", d, "from") && chat_add_payload(out, d)
                   ? 1
                   : -1;
    if (strcmp(t, "presence") == 0)
        return cJSON_AddStringToObject(out, "event", "presence") &&
                       chat_add_ref(out, "room", d, "room") &&
                       chat_add_ref(out, "member", d, "user") &&
                       chat_add_ref(out, "action", d, "event") &&
                       chat_add_ref(out, "presence", d, "presence")
                   ? 1
                   : -1;
    return 0; /* message, receipt: chat has no direct messages */
}

/* frame -> *out in memory the host frees, printed by the host's own printer
 * (the bytes the native endpoint would frame). json_print_new is 1.2, like
 * endpoints themselves, so every host that calls encode has it. */
static int chat_print(const sb_host_api *host, const cJSON *frame, char **out, size_t *out_len)
{
    *out = host->json_print_new(frame, out_len);
    return *out ? SB_OK : SB_ENOMEM;
}

int chat_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    chat_codec *cc = ud;
    *out = NULL;
    *out_len = 0;
    sb_encode_in tree = *in;
    cJSON *parsed = NULL;
    if (!in->reply && in->data == NULL && in->data_json != NULL) {
        /* an event as text: the common broadcast and publication straight
         * from it when the host printed it, anything else from its tree */
        int printed = in->size >= offsetof(sb_encode_in, data_printed) + sizeof(in->data_printed) &&
                      in->data_printed;
        int lent = in->size >= offsetof(sb_encode_in, scratch_cap) + sizeof(in->scratch_cap);
        int r = printed ? chat_event_text(in, lent ? in->scratch : NULL,
                                          lent && in->scratch ? in->scratch_cap : 0, out, out_len)
                        : 0;
        if (r != 0)
            return r > 0 ? SB_OK : SB_ENOMEM;
        const char *why = NULL;
        if ((tree.data = parsed = cc->host->json_parse_new(in->data_json, in->data_len, &why)) ==
            NULL)
            return SB_OK; /* not JSON: nothing a chat client could read */
    }
    cJSON *frame = cJSON_CreateObject();
    if (!frame) {
        cJSON_Delete(parsed);
        return SB_ENOMEM;
    }
    int r = in->reply ? chat_reply(cc, frame, &tree) : chat_event(frame, &tree);
    int rc = r > 0 ? chat_print(cc->host, frame, out, out_len) : r < 0 ? SB_ENOMEM : SB_OK;
    cJSON_Delete(frame);
    cJSON_Delete(parsed);
    return rc;
}

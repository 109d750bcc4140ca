/* Fuzz target: the chat dialect's decode (plugins/dialect_chat/chat_codec.c)
 * with a stub host table whose json_parse_new is the core's strict parser.
 * Input: one text frame (skipped unless valid UTF-8, as the host guarantees).
 * Invariants: decode returns SB_OK or SB_EPROTO; a refusal names bad_json or
 * bad_request with a non-empty reason and submits nothing; an accepted frame
 * submits exactly one known native command whose ref and data are objects.
 * Each submitted command's possible replies (ack, error, its own reply type
 * with a plausible body) and, when the input is an object, the native events
 * built from it encode to nothing or to a JSON object the strict parser
 * accepts, with a string "event"; as data text the host printed, broadcast
 * and publish events frame to the tree's bytes exactly. No leak, no crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_codec.h"
#include "envelope.h"
#include "json_out.h"
#include "stub_host.h"
#include "utf8.h"

/* The shared stub host (tests/common/stub_host.c) with the core's JSON. */
static sb_host_api host;
static chat_codec codec = {.host = &host};

/* Encode {reply, type, ref, data}; the frame, if any, must be a chat frame
 * (a string "event"). */
static void check_encode(int reply, const char *type, const cJSON *ref, const cJSON *data)
{
    stub_host_check_encode(chat_encode, &codec, "event", reply, type, ref, data);
}

/* An event's frame from its data's text (SB_ENDPOINT_EVENT_TEXT), as the
 * host printed it, must be the frame from its tree, byte for byte. */
static void check_event_text(const char *type, const cJSON *data)
{
    char *want = NULL, *got = NULL;
    size_t want_len = 0, got_len = 0, n = 0;
    sb_encode_in tree = {.size = sizeof(tree), .conn_id = 1, .type = type, .data = data};
    if (chat_encode(&codec, &tree, &want, &want_len) != SB_OK)
        abort();
    const char *printed = sb_json_out(data, &n);
    char *json = printed ? malloc(n ? n : 1) : NULL; /* no NUL: an over-read is caught */
    if (json == NULL)
        abort();
    memcpy(json, printed, n);
    static char scratch[128]; /* small: frames fit it or not */
    sb_encode_in text = {.size = sizeof(text),
                         .conn_id = 1,
                         .type = type,
                         .data_json = json,
                         .data_len = n,
                         .data_printed = 1,
                         .scratch = scratch,
                         .scratch_cap = sizeof(scratch)};
    if (chat_encode(&codec, &text, &got, &got_len) != SB_OK)
        abort();
    if ((want == NULL) != (got == NULL) ||
        (want != NULL && (want_len != got_len || memcmp(want, got, want_len) != 0))) {
        fprintf(stderr, "chat frame from text: %.*s\nfrom the tree: %.*s\n", (int)got_len,
                got ? got : "", (int)want_len, want ? want : "");
        abort();
    }
    free(want);
    if (got != scratch)
        free(got);
    free(json);
}

/* A plausible reply body for the submitted command. */
static cJSON *reply_body(const char *type)
{
    const char *text = "{}";
    if (strcmp(type, "list") == 0)
        text = "{\"users\":[\"a\",\"b\"]}";
    else if (strcmp(type, "me") == 0)
        text = "{\"user\":\"a\",\"conn\":\"1\",\"rooms\":[],\"since\":1}";
    else if (strcmp(type, "join") == 0 || strcmp(type, "members") == 0)
        text = "{\"room\":\"r\",\"users\":[\"a\"]}";
    else if (strcmp(type, "leave") == 0)
        text = "{\"room\":\"r\"}";
    return cJSON_Parse(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sb_utf8_valid(data, size))
        return 0;
    /* An exact-size copy without a NUL, so an over-read is caught. */
    char *text = malloc(size ? size : 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    if (host.size == 0) {
        stub_host_init(&host);
        stub_host_use_core_json(&host);
    }
    stub_host_reset();
    const char *code = NULL, *why = NULL;
    int rc = chat_decode(&codec, 1, "alice", text, size, &code, &why);
    if (rc == SB_EPROTO) {
        if (stub_seen.submits || !code || !why || !why[0] ||
            (strcmp(code, "bad_json") != 0 && strcmp(code, "bad_request") != 0))
            abort();
    } else if (rc != SB_OK || stub_seen.submits != 1 || !cJSON_IsObject(stub_seen.ref) ||
               !cJSON_IsObject(stub_seen.data)) {
        abort();
    } else {
        static const char *const known[] = {"broadcast", "list",    "me",     "join",
                                            "leave",     "members", "publish"};
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(stub_seen.type, known[i]) == 0;
        if (!ok)
            abort();
        cJSON *ack = cJSON_Parse("{\"id\":\"01HF\",\"ts\":1}");
        cJSON *err = cJSON_Parse("{\"code\":\"forbidden\",\"message\":\"no\"}");
        cJSON *body = reply_body(stub_seen.type);
        check_encode(1, "ack", stub_seen.ref, ack);
        check_encode(1, "error", stub_seen.ref, err);
        check_encode(1, stub_seen.type, stub_seen.ref, body);
        cJSON_Delete(ack);
        cJSON_Delete(err);
        cJSON_Delete(body);
    }
    stub_host_reset();

    /* The input as the text of a chat member's broadcast and publication,
     * stamped as the host stamps them: the text path's common shape. */
    char *as_text = malloc(size + 1);
    if (!as_text)
        abort();
    memcpy(as_text, text, size);
    as_text[size] = '\0';
    if (strlen(as_text) == size) { /* U+0000 cannot be a string here */
        for (int publish = 0; publish < 2; publish++) {
            cJSON *stamped = cJSON_CreateObject();
            if (!stamped || !cJSON_AddStringToObject(stamped, "id", "01HF") ||
                !cJSON_AddStringToObject(stamped, "from", "bob") ||
                (publish && !cJSON_AddStringToObject(stamped, "room", as_text)) ||
                !cJSON_AddNumberToObject(stamped, "ts", 1) ||
                !cJSON_AddStringToObject(stamped, "text", as_text))
                abort();
            check_event_text(publish ? "publish" : "broadcast", stamped);
            cJSON_Delete(stamped);
        }
    }
    free(as_text);

    /* The input as the data of native events and replies. */
    cJSON *obj = sb_json_parse_strict(text, size, &why);
    if (cJSON_IsObject(obj)) {
        static const char *const events[] = {"broadcast", "publish", "presence", "message",
                                             "receipt"};
        for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
            check_encode(0, events[i], NULL, obj);
            check_event_text(events[i], obj);
        }
        static const char *const replies[] = {"ack",  "error", "list",   "me",
                                              "join", "leave", "members"};
        for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++)
            check_encode(1, replies[i], obj, obj);
    }
    cJSON_Delete(obj);
    free(text);
    return 0;
}

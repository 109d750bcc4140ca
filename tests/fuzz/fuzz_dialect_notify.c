/* Fuzz target: the notify dialect's decode (plugins/dialect_notify/
 * notify_codec.c) with a stub host table whose json_parse_new is the core's
 * strict parser. Input: one text frame (skipped unless valid UTF-8, as the
 * host guarantees). Invariants: decode returns SB_OK or SB_EPROTO; a refusal
 * names bad_json or bad_request with a non-empty reason and submits nothing;
 * an accepted frame submits exactly one join or leave whose ref and data are
 * objects with the same string room. Its error reply, and the native events
 * built from the input when it is an object, encode to nothing or to a JSON
 * object the strict parser accepts, with a string "type"; a delivered
 * message asks the store once. No leak, no crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "notify_codec.h"
#include "stub_host.h"
#include "utf8.h"

static int removes; /* store_remove calls */

static int stub_store_remove(sb_plugin_ctx *pc, const char *user, const char *const *ids,
                             size_t n_ids, sb_store_removed_fn done, void *arg)
{
    (void)pc;
    (void)user;
    (void)ids;
    (void)n_ids;
    (void)done;
    (void)arg;
    removes++;
    return SB_EUNAVAILABLE; /* no completion to wait for */
}

/* The shared stub host (tests/common/stub_host.c) with the core's JSON. */
static sb_host_api host;
static notify_codec codec = {.host = &host};

/* Encode {reply, type, ref, data}; the frame, if any, must be a notify frame
 * (a string "type"). */
static void check_encode(int reply, const char *type, const cJSON *ref, const cJSON *data)
{
    stub_host_check_encode(notify_encode, &codec, "type", reply, type, ref, data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sb_utf8_valid(data, size))
        return 0;
    char *text = malloc(size ? size : 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    if (host.size == 0) {
        stub_host_init(&host);
        stub_host_use_core_json(&host);
        host.store_remove = stub_store_remove;
    }
    stub_host_reset();
    removes = 0;
    const char *code = NULL, *why = NULL;
    int rc = notify_decode(&codec, 1, "u1", text, size, &code, &why);
    if (rc == SB_EPROTO) {
        if (stub_seen.submits || !code || !why || !why[0] ||
            (strcmp(code, "bad_json") != 0 && strcmp(code, "bad_request") != 0))
            abort();
    } else if (rc != SB_OK || stub_seen.submits != 1 || !cJSON_IsObject(stub_seen.ref) ||
               !cJSON_IsObject(stub_seen.data) ||
               (strcmp(stub_seen.type, "join") != 0 && strcmp(stub_seen.type, "leave") != 0)) {
        abort();
    } else {
        const cJSON *r1 = cJSON_GetObjectItemCaseSensitive(stub_seen.ref, "room");
        const cJSON *r2 = cJSON_GetObjectItemCaseSensitive(stub_seen.data, "room");
        if (!cJSON_IsString(r1) || !cJSON_IsString(r2) ||
            strcmp(r1->valuestring, r2->valuestring) != 0)
            abort();
        cJSON *err = cJSON_Parse("{\"code\":\"forbidden\",\"message\":\"no\"}");
        check_encode(1, "error", stub_seen.ref, err);
        check_encode(1, stub_seen.type, stub_seen.ref, stub_seen.data);
        cJSON_Delete(err);
    }
    stub_host_reset();

    cJSON *obj = sb_json_parse_strict(text, size, &why);
    if (cJSON_IsObject(obj)) {
        static const char *const events[] = {"publish", "broadcast", "message", "presence",
                                             "receipt"};
        for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
            check_encode(0, events[i], NULL, obj);
        check_encode(1, "error", obj, obj);
        check_encode(1, "ack", obj, obj);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
        if (cJSON_IsString(id)) {
            notify_delivered(&codec, 1, "u1", id->valuestring);
            if (removes != 1)
                abort();
        }
    }
    cJSON_Delete(obj);
    free(text);
    return 0;
}

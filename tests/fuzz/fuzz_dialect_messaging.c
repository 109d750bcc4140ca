/* Fuzz target: dialect_messaging's decode (plugins/dialect_messaging), run
 * through the plugin's own init and endpoint with a stub host table. Byte 0
 * picks the sender ("21", "31" or "alice") and the way in (decode, or
 * decode_tree with the frame parsed as the host parses it); the rest is one
 * text frame (the host hands decode only valid UTF-8, so other inputs are
 * skipped). The stub host plays the native side: `message` is stamped and
 * stored in an inbox and encoded for its recipient and as an ack, `ping`
 * answered with `pong`,
 * `read` removes from the inbox, store_page answers from it after decode
 * returns (never inside the call), and every reply and event goes through
 * the endpoint's encode.
 * Invariants: no crash, no leak; decode returns SB_OK, or SB_EPROTO with
 * bad_json/bad_request and a reason; only message, ping and read are
 * submitted; every message's sid is the sender and its `to` a valid user;
 * every encoded frame is a JSON object the strict parser accepts with one
 * section (messages, sent, errors or read); and a message reaches its 001
 * recipient exactly as the sender wrote it (an equal item of the frame's
 * send section, in order), the same bytes from the event's data as text
 * (SB_ENDPOINT_EVENT_TEXT) as from its tree; and the frame input read as a
 * message's data text means what it means as a tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <switchboard/plugin.h>

#include "envelope.h"
#include "json_out.h"
#include "names.h"
#include "stub_host.h"
#include "utf8.h"

extern const sb_plugin sb_plugin_entry;

#define FUZZ_INBOX_MAX 512
#define FUZZ_PAGES_MAX 64

typedef struct fuzz_msg {
    char user[SB_USER_MAX + 1];
    char id[SB_ID_LEN + 1];
    char *json;
} fuzz_msg;

typedef struct fuzz_page {
    char user[SB_USER_MAX + 1];
    char after[SB_ID_LEN + 1]; /* "" from the start */
    size_t limit;
    sb_store_page_fn done;
    void *arg;
} fuzz_page;

static sb_endpoint endpoint;
static void *endpoint_ud;
static const char *sender;      /* the connection's user */
static const cJSON *sent_items; /* the frame's send section (NULL: none) */
static const cJSON *next_item;  /* where the next accepted item is looked for */
static fuzz_msg inbox[FUZZ_INBOX_MAX];
static size_t inbox_n;
static fuzz_page pages[FUZZ_PAGES_MAX];
static size_t pages_n;
static unsigned id_seq;

static void fuzz_fail(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_dialect_messaging: %s: %s\n", what, text ? text : "-");
    abort();
}

/* --- the stub host ------------------------------------------------------- */

static const char *fuzz_cfg_string(const sb_section *s, const char *key, const char *def)
{
    (void)s;
    return strcmp(key, "path") == 0 ? "/messaging /messaing" : def;
}

static int fuzz_cfg_int(const sb_section *s, const char *key, long def, long min, long max,
                        long *out)
{
    (void)s;
    (void)key;
    (void)min;
    (void)max;
    *out = def;
    return SB_OK;
}

static int fuzz_register_endpoint(sb_plugin_ctx *pc, const sb_endpoint *ep, void *ud)
{
    (void)pc;
    endpoint = *ep;
    endpoint_ud = ud;
    return SB_OK;
}

static const char *fuzz_conn_user(sb_plugin_ctx *pc, uint64_t conn_id)
{
    (void)pc;
    return conn_id == 1 ? sender : NULL;
}

static int fuzz_store_page(sb_plugin_ctx *pc, const char *user, const char *after, size_t limit,
                           sb_store_page_fn done, void *arg)
{
    (void)pc;
    if (pages_n == FUZZ_PAGES_MAX)
        return SB_EUNAVAILABLE;
    fuzz_page *p = &pages[pages_n++];
    snprintf(p->user, sizeof(p->user), "%s", user);
    snprintf(p->after, sizeof(p->after), "%s", after ? after : "");
    p->limit = limit;
    p->done = done;
    p->arg = arg;
    return SB_OK;
}

/* An event's frame from its data's text (SB_ENDPOINT_EVENT_TEXT, as a
 * fan-out hands it) must be the frame from its tree, byte for byte: the host
 * frames text its printer wrote, told so (data_printed: skipped, not
 * checked) or not. expect NULL: the tree gave nothing. */
static void fuzz_check_text(const char *type, const cJSON *data, const char *user, int data_printed,
                            const char *expect, size_t expect_len)
{
    size_t n = 0;
    const char *printed = sb_json_out(data, &n);
    char *json = printed != NULL ? malloc(n + 1) : NULL;
    if (json == NULL)
        fuzz_fail("cannot print event data", type);
    memcpy(json, printed, n + 1);
    sb_encode_in in = {.size = sizeof(in),
                       .conn_id = 1,
                       .user = user,
                       .type = type,
                       .data_json = json,
                       .data_len = n,
                       .data_printed = data_printed};
    /* A lent buffer with the host's text (small: frames fit it or not). */
    static char scratch[256];
    if (data_printed) {
        in.scratch = scratch;
        in.scratch_cap = sizeof(scratch);
    }
    char *out = NULL;
    size_t len = 0;
    if (endpoint.encode(endpoint_ud, &in, &out, &len) != SB_OK)
        fuzz_fail("encode from text failed", json);
    if ((out == NULL) != (expect == NULL) ||
        (out != NULL && (len != expect_len || memcmp(out, expect, len) != 0)))
        fuzz_fail("the frame from text is not the frame from the tree", out ? out : json);
    if (out != scratch)
        free(out);
    free(json);
}

/* The same from text that is not the host's (a bus, another plugin): a
 * frame written must be JSON, and mean what the tree's frame means when the
 * strict parser takes the text. */
static void fuzz_check_raw_text(const char *text, size_t len, const char *user)
{
    sb_encode_in in = {.size = sizeof(in),
                       .conn_id = 1,
                       .user = user,
                       .type = "message",
                       .data_json = text,
                       .data_len = len};
    char *out = NULL;
    size_t out_len = 0;
    if (endpoint.encode(endpoint_ud, &in, &out, &out_len) != SB_OK)
        fuzz_fail("encode from raw text failed", NULL);
    const char *why = NULL;
    cJSON *data = sb_json_parse_strict(text, len, &why);
    cJSON *got = out != NULL ? cJSON_ParseWithLength(out, out_len) : NULL;
    if (out != NULL && got == NULL)
        fuzz_fail("encode from raw text made bad JSON", out);
    if (cJSON_IsObject(data)) {
        sb_encode_in tree = {
            .size = sizeof(tree), .conn_id = 1, .user = user, .type = "message", .data = data};
        char *want_text = NULL;
        size_t want_len = 0;
        if (endpoint.encode(endpoint_ud, &tree, &want_text, &want_len) != SB_OK)
            fuzz_fail("encode failed", NULL);
        cJSON *want = want_text != NULL ? sb_json_parse_strict(want_text, want_len, &why) : NULL;
        if ((got == NULL) != (want == NULL) || (got != NULL && !cJSON_Compare(got, want, 1)))
            fuzz_fail("the frame from raw text is not the frame from the tree", out);
        cJSON_Delete(want);
        free(want_text);
    } else if (out != NULL && (len < 2 || text[0] != '{')) {
        fuzz_fail("a frame from text that is no object", out);
    }
    cJSON_Delete(got);
    cJSON_Delete(data);
    free(out);
}

/* Encode through the endpoint; the frame must be one known section. */
static void fuzz_encode(int reply, const char *type, const cJSON *ref, const cJSON *data,
                        const char *user, cJSON **frame_out)
{
    sb_encode_in in = {.size = sizeof(in),
                       .conn_id = 1,
                       .user = user,
                       .reply = reply,
                       .type = type,
                       .ref = ref,
                       .data = data};
    char *out = NULL;
    size_t len = 0;
    if (endpoint.encode(endpoint_ud, &in, &out, &len) != SB_OK)
        fuzz_fail("encode failed", type);
    if (!reply && data != NULL) {
        fuzz_check_text(type, data, user, 0, out, len);
        fuzz_check_text(type, data, user, 1, out, len);
    }
    if (frame_out != NULL)
        *frame_out = NULL;
    if (out == NULL)
        return;
    const char *why = NULL;
    cJSON *frame = sb_json_parse_strict(out, len, &why);
    if (frame == NULL || !cJSON_IsObject(frame) || cJSON_GetArraySize(frame) != 1)
        fuzz_fail("encode made a bad frame", out);
    const char *name = frame->child->string;
    if (strcmp(name, "messages") && strcmp(name, "sent") && strcmp(name, "errors") &&
        strcmp(name, "read"))
        fuzz_fail("encode made an unknown section", out);
    free(out);
    if (frame_out != NULL)
        *frame_out = frame;
    else
        cJSON_Delete(frame);
}

/* The recipient's frame must hold an item of the send section, in order. */
static void fuzz_check_written(const cJSON *frame)
{
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(frame, "messages"), 0);
    if (item == NULL)
        fuzz_fail("a message event without an item", NULL);
    for (; next_item != NULL; next_item = next_item->next) {
        if (cJSON_Compare(next_item, item, 1)) {
            next_item = next_item->next;
            return;
        }
    }
    char *text = cJSON_PrintUnformatted(item);
    fuzz_fail("a message not as its sender wrote it", text);
}

static void fuzz_submit_message(const cJSON *ref, const cJSON *data)
{
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(data, "to");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(data, "sid");
    if (!cJSON_IsString(to) || !sb_user_valid(to->valuestring))
        fuzz_fail("a message to no valid user", NULL);
    char sid_text[64];
    if (cJSON_IsNumber(sid))
        snprintf(sid_text, sizeof(sid_text), "%lld", (long long)sid->valuedouble);
    else
        snprintf(sid_text, sizeof(sid_text), "%s", cJSON_IsString(sid) ? sid->valuestring : "");
    if (strcmp(sid_text, sender) != 0)
        fuzz_fail("a message whose sid is not the sender", sid_text);
    if (!cJSON_IsNumber(ref) && cJSON_GetObjectItemCaseSensitive(ref, "send") == NULL)
        fuzz_fail("a message without a send ref", NULL);

    char id[SB_ID_LEN + 1];
    snprintf(id, sizeof(id), "01HF%022u", id_seq++);
    cJSON *stamped = stub_host_stamped_new(data, id, sender);
    cJSON *frame = NULL;
    fuzz_encode(0, "message", NULL, stamped, to->valuestring, &frame);
    if (frame == NULL)
        fuzz_fail("a message event encoded as nothing", NULL);
    fuzz_check_written(frame);
    cJSON_Delete(frame);
    if (inbox_n < FUZZ_INBOX_MAX) {
        fuzz_msg *m = &inbox[inbox_n++];
        snprintf(m->user, sizeof(m->user), "%s", to->valuestring);
        memcpy(m->id, id, sizeof(m->id));
        m->json = cJSON_PrintUnformatted(stamped);
    }
    cJSON *ack = cJSON_CreateObject();
    cJSON_AddStringToObject(ack, "id", id);
    cJSON_AddNumberToObject(ack, "ts", 1732280000123.0);
    fuzz_encode(1, "ack", ref, ack, NULL, NULL);
    cJSON_Delete(ack);
    cJSON_Delete(stamped);
}

static void fuzz_submit_read(const cJSON *ref, const cJSON *data)
{
    cJSON *removed = cJSON_CreateArray();
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(data, "ids"))
    {
        if (!cJSON_IsString(v))
            fuzz_fail("read of a non-string id", NULL);
        for (size_t i = 0; i < inbox_n; i++) {
            if (strcmp(inbox[i].user, sender) == 0 && strcmp(inbox[i].id, v->valuestring) == 0 &&
                inbox[i].json != NULL) {
                free(inbox[i].json);
                inbox[i].json = NULL;
                cJSON_AddItemToArray(removed, cJSON_CreateString(v->valuestring));
            }
        }
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddItemToObject(reply, "ids", removed);
    fuzz_encode(1, "read", ref, reply, NULL, NULL);
    cJSON_Delete(reply);
}

static int fuzz_submit(sb_plugin_ctx *pc, uint64_t conn_id, const char *type, const cJSON *ref,
                       const cJSON *data)
{
    (void)pc;
    if (conn_id != 1)
        return SB_ECLOSED;
    if (data != NULL && !cJSON_IsObject(data))
        fuzz_fail("submit with data that is not an object", type);
    if (strcmp(type, "message") == 0) {
        fuzz_submit_message(ref, data);
    } else if (strcmp(type, "read") == 0) {
        fuzz_submit_read(ref, data);
    } else if (strcmp(type, "ping") == 0) {
        cJSON *pong = cJSON_CreateObject();
        cJSON_AddNumberToObject(pong, "ts", 1.0);
        fuzz_encode(1, "pong", ref, pong, NULL, NULL);
        cJSON_Delete(pong);
    } else {
        fuzz_fail("unexpected command submitted", type);
    }
    return SB_OK;
}

/* Answer the pages asked for, oldest request first (an answer may ask again). */
static void fuzz_run_pages(void)
{
    while (pages_n > 0) {
        fuzz_page p = pages[0];
        memmove(pages, pages + 1, (pages_n - 1) * sizeof(pages[0]));
        pages_n--;
        sb_stored out[FUZZ_INBOX_MAX];
        size_t n = 0;
        int more = 0;
        for (size_t i = 0; i < inbox_n; i++) {
            if (inbox[i].json == NULL || strcmp(inbox[i].user, p.user) != 0 ||
                strcmp(inbox[i].id, p.after) <= 0)
                continue;
            if (n == p.limit) {
                more = 1;
                break;
            }
            out[n++] = (sb_stored){inbox[i].id, inbox[i].json, strlen(inbox[i].json)};
        }
        p.done(p.arg, SB_OK, out, n, more);
    }
}

/* The shared stub host (tests/common/stub_host.c) with the core's JSON and
 * this target's native side. */
static sb_host_api host;

static void fuzz_host_init(void)
{
    stub_host_init(&host);
    stub_host_use_core_json(&host);
    host.version = "fuzz";
    host.cfg_string = fuzz_cfg_string;
    host.cfg_int = fuzz_cfg_int;
    host.register_endpoint = fuzz_register_endpoint;
    host.submit = fuzz_submit;
    host.user_valid = sb_user_valid;
    host.conn_user = fuzz_conn_user;
    host.store_page = fuzz_store_page;
}

/* --- the input ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void *ud;
    static int ready;
    if (!ready) {
        fuzz_host_init();
        if (sb_plugin_entry.init(&host, NULL, NULL, &ud) != SB_OK || endpoint.decode == NULL)
            fuzz_fail("init failed", NULL);
        ready = 1;
    }
    if (size < 1)
        return 0;
    static const char *const users[] = {"21", "31", "alice"};
    sender = users[data[0] % 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (!sb_utf8_valid((const uint8_t *)text, len))
        return 0;

    const char *why = NULL;
    cJSON *parsed = sb_json_parse_strict(text, len, &why);
    sent_items = cJSON_GetObjectItemCaseSensitive(parsed, "send");
    next_item = cJSON_IsArray(sent_items) ? sent_items->child : NULL;

    /* Byte 0 also picks the way in: decode (the text), or decode_tree (ABI
     * 1.4) with the frame the host would parse, as the host calls it. */
    const char *code = NULL;
    why = NULL;
    int rc;
    if (endpoint.decode_tree != NULL && (data[0] / 3) % 2 == 1) {
        cJSON *tree = sb_json_parse_strict(text, len, &why);
        if (tree == NULL) {
            code = "bad_json";
            rc = SB_EPROTO;
        } else {
            rc = endpoint.decode_tree(ud, 1, sender, tree, &code, &why);
            cJSON_Delete(tree);
        }
    } else {
        rc = endpoint.decode(ud, 1, sender, text, len, &code, &why);
    }
    if (rc == SB_EPROTO) {
        if (code == NULL || why == NULL ||
            (strcmp(code, "bad_json") != 0 && strcmp(code, "bad_request") != 0))
            fuzz_fail("SB_EPROTO without a code and a reason", code);
        cJSON *err = cJSON_CreateObject();
        cJSON_AddStringToObject(err, "code", code);
        cJSON_AddStringToObject(err, "message", why);
        fuzz_encode(1, "error", NULL, err, NULL, NULL);
        cJSON_Delete(err);
    } else if (rc != SB_OK) {
        fuzz_fail("decode failed", text);
    }
    fuzz_run_pages();
    fuzz_check_raw_text(text, len, NULL);
    fuzz_check_raw_text(text, len, "31");

    cJSON_Delete(parsed);
    for (size_t i = 0; i < inbox_n; i++)
        free(inbox[i].json);
    inbox_n = 0;
    return 0;
}

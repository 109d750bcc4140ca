/* The `dialect_messaging` plugin: switchboard speaks seed 001, "WebSocket
 * protocol for messaging" (docs/dialects/messaging.md), on one endpoint per
 * configured path. Identity is the server's (client_id with auth mode none),
 * a newer connection of a client_id replaces the older one on the endpoint,
 * and every item of a frame becomes a native command: `send` items native
 * `message`s, a `read` section a native `read` (messaging_read.c). The frame
 * logic is messaging_codec.c. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "messaging.h"
#include "messaging_codec.h"

#define MESSAGING_PATHS_MAX 512

/* One parsed frame of user's on conn_id: its items submitted in order. The
 * frame's send items are submitted as they are (turned into native data in
 * place), so frame is changed; nothing of it is kept past the call. */
static int messaging_decode_frame(messaging_plugin *mp, uint64_t conn_id, const char *user,
                                  cJSON *frame, const char **code, const char **why)
{
    const sb_host_api *host = mp->host;
    messaging_plan plan;
    int rc = messaging_decode(frame, user, mp->max_items, host->user_valid, &plan);
    if (rc == MESSAGING_NOT_OBJECT) {
        *code = "bad_json";
        *why = "a frame must be a JSON object of sections";
        return SB_EPROTO;
    }
    if (rc != MESSAGING_OK)
        return SB_ENOMEM;

    /* Refusals first: they are known now, the acks only after the store. */
    if (plan.errors != NULL) {
        messaging_send_errors(mp, conn_id, plan.errors);
        plan.errors = NULL;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, plan.sends)
    {
        cJSON *owned = NULL;
        const cJSON *ref = messaging_send_ref(s, &owned);
        rc = ref != NULL ? host->submit(mp->pc, conn_id, "message", ref, s) : SB_ENOMEM;
        cJSON_Delete(owned);
        if (rc == SB_ECLOSED)
            break;
        if (rc != SB_OK)
            host->log(mp->pc, SB_LOG_WARN, "message from %s not submitted: %d", user, rc);
    }
    if (plan.reads != NULL && rc != SB_ECLOSED) {
        messaging_read_start(mp, conn_id, user, plan.reads);
        plan.reads = NULL;
    }
    messaging_plan_free(&plan);
    return SB_OK;
}

/* SB_ENDPOINT_NEED_USER: user is never NULL, but say so if it happens. */
static int messaging_no_user(const char **code, const char **why)
{
    *code = "bad_request";
    *why = "not identified";
    return SB_EPROTO;
}

/* decode, for a host before ABI 1.4: the plugin parses the frame. */
static int messaging_decode_cb(void *ud, uint64_t conn_id, const char *user, const char *text,
                               size_t len, const char **code, const char **why)
{
    messaging_plugin *mp = ud;
    if (user == NULL)
        return messaging_no_user(code, why);
    cJSON *frame = mp->host->json_parse_new(text, len, why);
    if (frame == NULL) {
        *code = "bad_json";
        return SB_EPROTO;
    }
    int rc = messaging_decode_frame(mp, conn_id, user, frame, code, why);
    cJSON_Delete(frame);
    return rc;
}

/* decode_tree (ABI 1.4): the host parsed the frame, in its parse arena. */
static int messaging_decode_tree_cb(void *ud, uint64_t conn_id, const char *user, cJSON *frame,
                                    const char **code, const char **why)
{
    if (user == NULL)
        return messaging_no_user(code, why);
    return messaging_decode_frame(ud, conn_id, user, frame, code, why);
}

/* The host's scratch buffer for this encode (ABI 1.4), or NULL. */
static char *messaging_scratch(const sb_encode_in *in, size_t *cap)
{
    *cap = 0;
    if (in->size < offsetof(sb_encode_in, scratch_cap) + sizeof(in->scratch_cap) ||
        in->scratch == NULL)
        return NULL;
    *cap = in->scratch_cap;
    return in->scratch;
}

static int messaging_encode_cb(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    messaging_plugin *mp = ud;
    cJSON *frame = NULL;
    size_t scratch_cap;
    char *scratch = messaging_scratch(in, &scratch_cap);
    *out = NULL;
    *out_len = 0;
    if (in->reply && strcmp(in->type, "ack") == 0) {
        char buf[64]; /* {"sent":[{"id":N}]}, N below 2^53 */
        char *dst = scratch_cap >= sizeof(buf) ? scratch : buf;
        int n = messaging_ack_text(in->ref, dst, sizeof(buf));
        if (n > 0) {
            if (dst == buf) {
                if ((*out = mp->host->alloc((size_t)n + 1)) == NULL)
                    return SB_ENOMEM;
                memcpy(*out, buf, (size_t)n + 1);
            } else {
                *out = dst;
            }
            *out_len = (size_t)n;
            return SB_OK;
        }
    }
    const cJSON *data = in->data;
    cJSON *parsed = NULL;
    if (data == NULL && in->size >= sizeof(*in) && in->data_json != NULL) {
        /* A fan-out's event as text (SB_ENDPOINT_EVENT_TEXT): written from the
         * text when it can be, else from its tree. */
        int printed = in->size >= offsetof(sb_encode_in, data_printed) + sizeof(in->data_printed) &&
                      in->data_printed;
        int rc = messaging_encode_text(in->type, in->data_json, in->data_len, printed, in->user,
                                       scratch, scratch_cap, out, out_len);
        if (rc != MESSAGING_FALLBACK)
            return rc == MESSAGING_OK ? SB_OK : SB_ENOMEM;
        const char *why = NULL;
        if ((data = parsed = mp->host->json_parse_new(in->data_json, in->data_len, &why)) == NULL)
            return SB_OK; /* not JSON: nothing a 001 client could read */
    }
    int rc = messaging_encode(in->reply, in->type, in->ref, data, in->user, &frame);
    if (rc != MESSAGING_OK) {
        cJSON_Delete(parsed);
        return SB_ENOMEM;
    }
    if (frame == NULL) {
        cJSON_Delete(parsed);
        return SB_OK;
    }
    /* The host's printer (exact integers); its string is the host's memory,
     * which the host frees as it frees host->alloc's. The frame refers into
     * data: printed first. */
    *out = mp->host->json_print_new(frame, out_len);
    cJSON_Delete(frame);
    cJSON_Delete(parsed);
    return *out != NULL ? SB_OK : SB_ENOMEM;
}

/* Register one endpoint per path of the space-separated list. */
static int messaging_register(messaging_plugin *mp, const char *paths)
{
    const sb_host_api *host = mp->host;
    char buf[MESSAGING_PATHS_MAX];
    if (strlen(paths) >= sizeof(buf)) {
        host->log(mp->pc, SB_LOG_ERROR, "path: the list is longer than %d bytes",
                  MESSAGING_PATHS_MAX - 1);
        return SB_EINVAL;
    }
    strcpy(buf, paths);
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save)) {
        if (p[0] != '/') {
            host->log(mp->pc, SB_LOG_ERROR, "path %s: must start with /", p);
            return SB_EINVAL;
        }
        sb_endpoint ep = {SB_ENDPOINT_INIT,
                          .path = p,
                          .flags =
                              SB_ENDPOINT_NEED_USER | SB_ENDPOINT_REPLACE | SB_ENDPOINT_EVENT_TEXT,
                          .identify = NULL,
                          .decode = messaging_decode_cb,
                          .encode = messaging_encode_cb,
                          .delivered = NULL,
                          .decode_tree = messaging_decode_tree_cb};
        int rc = host->register_endpoint(mp->pc, &ep, mp);
        if (rc != SB_OK) {
            host->log(mp->pc, SB_LOG_ERROR, "cannot serve %s: %d", p, rc);
            return rc;
        }
        n++;
    }
    if (n == 0) {
        host->log(mp->pc, SB_LOG_ERROR, "path: no path given");
        return SB_EINVAL;
    }
    return SB_OK;
}

static int messaging_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                          void **userdata)
{
    messaging_plugin *mp = calloc(1, sizeof(*mp));
    if (mp == NULL)
        return SB_ENOMEM;
    mp->host = host;
    mp->pc = pc;
    long max_items = 100;
    if (host->cfg_int(cfg, "max_items", 100, 1, 100000, &max_items) != SB_OK) {
        free(mp);
        return SB_EINVAL;
    }
    mp->max_items = (size_t)max_items;
    int rc = messaging_register(mp, host->cfg_string(cfg, "path", "/messaging"));
    if (rc != SB_OK) {
        free(mp);
        return rc;
    }
    *userdata = mp;
    return SB_OK;
}

/* Reads still paging the store at shutdown never complete: free them. */
static void messaging_fini(void *userdata)
{
    messaging_plugin *mp = userdata;
    if (mp == NULL)
        return;
    messaging_read_free_all(mp);
    free(mp);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,         .name = "dialect_messaging", .version = "0.1.0",
    .init = messaging_init, .fini = messaging_fini,      .flags = SB_PLUGIN_NEEDS_STORE,
};

/* A test dialect over the 1.2 endpoint SDK (tests/integration/test_core_endpoints.py).
 * Frames in: {"do": type, "tag": any, "args": {...}} -> host->submit(type, tag, args).
 * Frames out: {"kind": type, "reply": bool, "tag": ref, "user": in->user, "data": data};
 * the event types listed in `drop` are not sent. Keys: endpoint (default /echo),
 * need_user, replace, own_identify (the `t` parameter through host->identify),
 * drop. `delivered` calls are counted as switchboard_echo_delivered_total. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

typedef struct echo {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    char drop[256];
    sb_counter *delivered;
} echo;

static int echo_identify(void *ud, const sb_http_req *req, char user[SB_USER_MAX + 1],
                         const char **reason)
{
    echo *e = ud;
    char t[128];
    if (e->host->query_param(req->query, "t", t, sizeof t) != SB_OK || !t[0]) {
        *reason = "t is required";
        return SB_IDENT_REJECT;
    }
    sb_http_req copy = *req;
    copy.token = t;
    int r = e->host->identify(e->pc, &copy, user, reason);
    if (r == SB_IDENT_LATER) {
        *reason = "t was not accepted";
        return SB_IDENT_REJECT;
    }
    return r;
}

static int echo_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                       const char **code, const char **why)
{
    echo *e = ud;
    (void)user;
    const char *perr = NULL;
    cJSON *f = e->host->json_parse_new(text, len, &perr);
    if (!cJSON_IsObject(f)) {
        cJSON_Delete(f);
        *code = "bad_json";
        *why = "echo frames are JSON objects";
        return SB_EPROTO;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "do");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "args");
    if (!cJSON_IsString(type) || (args && !cJSON_IsObject(args))) {
        cJSON_Delete(f);
        *code = "bad_request";
        *why = "do: a command name is required; args: an object";
        return SB_EPROTO;
    }
    int rc = e->host->submit(e->pc, conn_id, type->valuestring,
                             cJSON_GetObjectItemCaseSensitive(f, "tag"), args);
    cJSON_Delete(f);
    return rc == SB_ECLOSED ? SB_OK : rc;
}

static int echo_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    echo *e = ud;
    *out = NULL;
    if (!in->reply && e->drop[0]) {
        char padded[300];
        snprintf(padded, sizeof padded, " %s ", e->drop);
        char needle[80];
        snprintf(needle, sizeof needle, " %s ", in->type);
        if (strstr(padded, needle))
            return SB_OK;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "kind", in->type) ||
        !cJSON_AddBoolToObject(o, "reply", in->reply) ||
        !cJSON_AddItemToObject(o, "tag",
                               in->ref ? cJSON_Duplicate(in->ref, 1) : cJSON_CreateNull()) ||
        !cJSON_AddItemToObject(o, "user",
                               in->user ? cJSON_CreateString(in->user) : cJSON_CreateNull()) ||
        !cJSON_AddItemToObject(o, "data", cJSON_Duplicate(in->data, 1))) {
        cJSON_Delete(o);
        return SB_ENOMEM;
    }
    /* The host's printer keeps integers below 2^53 exact (cJSON's does not). */
    *out = e->host->json_print_new(o, out_len);
    cJSON_Delete(o);
    return *out ? SB_OK : SB_ENOMEM;
}

static void echo_delivered(void *ud, uint64_t conn_id, const char *user, const char *id)
{
    echo *e = ud;
    (void)conn_id;
    (void)user;
    (void)id;
    e->host->counter_add(e->delivered, 1);
}

static int echo_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg, void **ud)
{
    echo *e = calloc(1, sizeof(*e));
    if (!e)
        return SB_ENOMEM;
    *ud = e;
    e->host = host;
    e->pc = pc;
    int need_user = 0, replace = 0, own = 0;
    if (host->cfg_bool(cfg, "need_user", 0, &need_user) != SB_OK ||
        host->cfg_bool(cfg, "replace", 0, &replace) != SB_OK ||
        host->cfg_bool(cfg, "own_identify", 0, &own) != SB_OK) {
        free(e);
        return SB_EINVAL;
    }
    snprintf(e->drop, sizeof e->drop, "%s", host->cfg_string(cfg, "drop", ""));
    e->delivered = host->counter_new(pc, "echo_delivered_total", "echo: delivered calls");
    sb_endpoint ep = {
        SB_ENDPOINT_INIT,
        .path = host->cfg_string(cfg, "endpoint", "/echo"),
        .flags = (need_user ? SB_ENDPOINT_NEED_USER : 0u) | (replace ? SB_ENDPOINT_REPLACE : 0u),
        .identify = own ? echo_identify : NULL,
        .decode = echo_decode,
        .encode = echo_encode,
        .delivered = echo_delivered,
    };
    int rc = host->register_endpoint(pc, &ep, e);
    if (rc != SB_OK) /* fini is not called after a failed init */
        free(e);
    return rc;
}

static void echo_fini(void *ud)
{
    free(ud);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,    .name = "echo_dialect", .version = "0.1.0",
    .init = echo_init, .fini = echo_fini,
};

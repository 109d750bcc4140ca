/* shout: an out-of-tree dialect built from the installed SDK alone. Its
 * clients speak a tiny protocol on /shout: {"say": "...", "to": "bob"} sends
 * a direct message, and they receive {"heard": "...", "from": "alice"} for
 * every direct message to them, from any client of any protocol. Everything
 * between (auth, policy, store, routing) is switchboard's.
 * Keys: path (default /shout). */
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

typedef struct shout {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
} shout;

/* One frame in: one native `message`; the said text rides along as the ref. */
static int shout_decode(void *ud, uint64_t conn_id, const char *user, const char *text, size_t len,
                        const char **code, const char **why)
{
    shout *s = ud;
    (void)user;
    const char *perr = NULL;
    cJSON *f = s->host->json_parse_new(text, len, &perr);
    const cJSON *say = cJSON_GetObjectItemCaseSensitive(f, "say");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(f, "to");
    if (!cJSON_IsString(say) || !cJSON_IsString(to)) {
        cJSON_Delete(f);
        *code = f ? "bad_request" : "bad_json";
        *why = "a shout is {\"say\": text, \"to\": user}";
        return SB_EPROTO;
    }
    cJSON *data = cJSON_CreateObject();
    int rc = SB_ENOMEM;
    if (data && cJSON_AddStringToObject(data, "to", to->valuestring) &&
        cJSON_AddStringToObject(data, "text", say->valuestring))
        rc = s->host->submit(s->pc, conn_id, "message", say, data);
    cJSON_Delete(data);
    cJSON_Delete(f);
    return rc == SB_ECLOSED ? SB_OK : rc;
}

/* Out: a direct message is {"heard", "from"}; a refusal {"error", "about"};
 * the ack and every other event are not part of this protocol. */
static int shout_encode(void *ud, const sb_encode_in *in, char **out, size_t *out_len)
{
    shout *s = ud;
    *out = NULL;
    cJSON *o = NULL;
    if (in->reply && strcmp(in->type, "error") == 0) {
        o = cJSON_CreateObject();
        if (o) {
            cJSON_AddItemToObject(
                o, "error",
                cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(in->data, "message"), 1));
            if (in->ref)
                cJSON_AddItemToObject(o, "about", cJSON_Duplicate(in->ref, 1));
        }
    } else if (!in->reply && strcmp(in->type, "message") == 0) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(in->data, "text");
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(in->data, "from");
        if (!cJSON_IsString(text))
            return SB_OK; /* a native message without text: nothing to hear */
        o = cJSON_CreateObject();
        if (o) {
            cJSON_AddItemToObject(o, "heard", cJSON_Duplicate(text, 1));
            cJSON_AddItemToObject(o, "from", cJSON_Duplicate(from, 1));
        }
    } else {
        return SB_OK;
    }
    if (!o)
        return SB_ENOMEM;
    *out = s->host->json_print_new(o, out_len); /* the host frees it */
    cJSON_Delete(o);
    return *out ? SB_OK : SB_ENOMEM;
}

static int shout_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    if (host->abi_minor < 2) {
        host->log(pc, SB_LOG_ERROR, "needs a server with plugin ABI 1.2 (endpoints)");
        return SB_EINVAL;
    }
    shout *s = calloc(1, sizeof(*s));
    if (!s)
        return SB_ENOMEM;
    s->host = host;
    s->pc = pc;
    sb_endpoint ep = {
        SB_ENDPOINT_INIT,
        .path = host->cfg_string(cfg, "path", "/shout"),
        .flags = SB_ENDPOINT_NEED_USER,
        .decode = shout_decode,
        .encode = shout_encode,
    };
    int rc = host->register_endpoint(pc, &ep, s);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot serve %s: %d", ep.path, rc);
        free(s);
        return rc;
    }
    *userdata = s;
    return SB_OK;
}

static void shout_fini(void *userdata)
{
    free(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT, .name = "shout", .version = "1.0.0", .init = shout_init, .fini = shout_fini,
};

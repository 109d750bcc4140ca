/* Command dispatch. The order of checks is docs/protocol.md section 2's: rate
 * limit (every frame counts), envelope, authentication, command table, then
 * the handler's own checks. Handlers borrow the parsed envelope; it is freed
 * when they return. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "endpoint.h"
#include "envelope.h"
#include "native.h"
#include "ids.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "plugin_ctx.h"
#include "runtime.h"

typedef struct command {
    sb_command_fn fn;
    void *ud;
    sb_plugin_ctx *owner;
    uint32_t flags; /* SB_COMMAND_* */
} command;

static sb_dict *commands;

int sb_dispatch_register(const char *type, sb_command_fn fn, void *ud, sb_plugin_ctx *owner,
                         uint32_t flags)
{
    if (!commands && !(commands = sb_dict_new(0)))
        return SB_ENOMEM;
    if (!type || !*type || !fn)
        return SB_EINVAL;
    if (sb_dict_get(commands, type) || strcmp(type, "ping") == 0)
        return SB_EEXIST;
    command *cmd = malloc(sizeof(*cmd));
    if (!cmd)
        return SB_ENOMEM;
    *cmd = (command){fn, ud, owner, flags};
    if (sb_dict_set(commands, type, cmd, NULL) != SB_OK) {
        free(cmd);
        return SB_ENOMEM;
    }
    return SB_OK;
}

void sb_dispatch_remove_owner(sb_plugin_ctx *owner)
{
    if (!commands)
        return;
    sb_dict_iter it;
    for (sb_dict_iter_init(&it, commands); sb_dict_iter_next(&it);) {
        command *cmd = it.val;
        if (cmd->owner == owner) {
            sb_dict_iter_del(&it);
            free(cmd);
        }
    }
}

void sb_dispatch_free(void)
{
    if (commands)
        sb_dict_free(commands, free);
    commands = NULL;
}

int sb_dispatch_answer(uint64_t conn_id, const char *ref_json, const char *type, const cJSON *data)
{
    sb_conn *c = sb_conn_find(conn_id);
    if (!c || c->dead || c->closing)
        return SB_ECLOSED;
    int rc = SB_OK;
    sb_frame *f = c->ep ? sb_endpoint_frame(c->ep, 1, type, ref_json, data, c->id, c->user, &rc)
                        : sb_native_encode(type, ref_json, data);
    if (!f)
        return c->ep && rc == SB_OK ? SB_OK : SB_ENOMEM; /* or the codec sends nothing */
    rc = sb_conn_send(c, f);
    sb_frame_unref(f);
    return rc;
}

int sb_dispatch_error(uint64_t conn_id, const char *ref_json, const char *code, const char *message)
{
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "code", code) ||
        !cJSON_AddStringToObject(data, "message", message ? message : code)) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    sb_metrics_core.errors++;
    int rc = sb_dispatch_answer(conn_id, ref_json, "error", data);
    cJSON_Delete(data);
    return rc;
}

const struct sb_reply *sb_dispatch_cmd_reply(const sb_cmd *cmd)
{
    return cmd->host_private;
}

void sb_dispatch_command(sb_conn *c, const char *type, const cJSON *ref, const char *ref_json,
                         const cJSON *data)
{
    sb_metrics_core.commands++;
    command *cmd = commands ? sb_dict_get(commands, type) : NULL;
    int is_ping = strcmp(type, "ping") == 0;
    if (!c->user && !is_ping && !(cmd && (cmd->flags & SB_COMMAND_BEFORE_AUTH))) {
        sb_dispatch_error(c->id, ref_json, "unauthenticated", "authenticate first");
        return;
    }
    if (is_ping) {
        cJSON *pong = cJSON_CreateObject();
        if (pong && cJSON_AddNumberToObject(pong, "ts", (double)sb_now_ms()))
            sb_dispatch_answer(c->id, ref_json, "pong", pong);
        cJSON_Delete(pong);
        return;
    }
    if (!cmd) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no enabled plugin handles \"%.100s\"", type);
        sb_dispatch_error(c->id, ref_json, "unknown_type", msg);
        return;
    }
    struct sb_reply reply = {c->id, (char *)ref_json};
    sb_cmd sc = {
        .size = sizeof(sc),
        .conn_id = c->id,
        .user = c->user,
        .type = type,
        .ref = ref,
        .data = data,
        .pc = cmd->owner,
        .host_private = &reply,
    };
    int rc = cmd->fn(cmd->ud, &sc);
    if (rc != SB_OK) {
        sb_log(SB_LOG_ERROR, "plugin %s: command %s failed with %d", sb_plugin_name(cmd->owner),
               type, rc);
        sb_dispatch_error(c->id, ref_json, "internal", "internal error");
    }
}

/* The native codec's decode: the envelope of docs/protocol.md section 2. A frame
 * over the rate limit is still read for its ref, so the client can tell
 * which command was refused. */
static void native_decode(sb_conn *c, const char *buf, size_t len, int limited)
{
    sb_envelope env = {0};
    char *ref_json = NULL;
    const char *code = NULL, *why = NULL;
    int rc = sb_native_decode(buf, len, &env, &ref_json, &code, &why);
    if (limited)
        sb_dispatch_error(c->id, ref_json, "rate_limited", "over the command rate limit");
    else if (rc != SB_OK)
        sb_dispatch_error(c->id, ref_json, code, why);
    else
        sb_dispatch_command(c, env.type, env.ref, ref_json, env.data);
    cJSON_free(ref_json);
    sb_envelope_free(&env);
}

void sb_dispatch_text(sb_conn *c, const char *buf, size_t len)
{
    const sb_server_cfg *cfg = sb_srv.cfg;
    /* The rate check comes first, before any decoding. */
    int limited = cfg->rate_limit > 0 &&
                  !sb_ratelimit_take(&c->rl, cfg->rate_limit, (double)cfg->rate_burst, sb_now_ms());
    if (!c->ep || sb_endpoint_native(c->ep)) {
        native_decode(c, buf, len, limited);
        return;
    }
    if (limited) {
        sb_dispatch_error(c->id, NULL, "rate_limited", "over the command rate limit");
        return;
    }
    const char *code = NULL, *why = NULL;
    int rc = sb_endpoint_decode(c->ep, c->id, c->user, buf, len, &code, &why);
    if (rc == SB_EPROTO)
        sb_dispatch_error(c->id, NULL, code ? code : "bad_request",
                          why ? why : "the frame could not be decoded");
    else if (rc != SB_OK)
        sb_dispatch_error(c->id, NULL, "internal", "the frame could not be decoded");
}

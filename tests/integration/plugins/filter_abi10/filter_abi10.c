/* Test fixture, built against the frozen 1.0 header (abi_1_0/): the command
 * `shout` broadcasts its data through the filter chain the way a 1.0 plugin
 * can, without host->stamp (1.1): a copy of the data, run_filter, send_all,
 * and an `ack` {id, ts}. The host must restore id, from and ts after the
 * chain itself, whatever a filter did to them. */
#include <switchboard/plugin.h>

typedef struct shout_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
} shout_state;

static shout_state shout_st;

static int shout_cmd(void *ud, const sb_cmd *cmd)
{
    shout_state *st = ud;
    const sb_host_api *host = st->host;
    char id[SB_ID_LEN + 1];
    host->id_new(st->pc, id);
    int64_t ts = host->now_ms();
    cJSON *data = cJSON_Duplicate(cmd->data, 1);
    if (!data)
        return SB_ENOMEM;
    sb_filter_msg fmsg = {.size = sizeof(fmsg),
                          .type = "broadcast",
                          .from = cmd->user,
                          .to = NULL,
                          .room = NULL,
                          .id = id,
                          .ts = ts};
    char reason[128] = "";
    if (host->run_filter(st->pc, &fmsg, &data, reason, sizeof(reason)) == SB_HOOK_DENY) {
        host->reply_error(st->pc, cmd, "filtered", reason[0] ? reason : "dropped");
        cJSON_Delete(data);
        return SB_OK;
    }
    cJSON *ack = cJSON_CreateObject();
    if (!ack || !cJSON_AddStringToObject(ack, "id", id) ||
        !cJSON_AddNumberToObject(ack, "ts", (double)ts)) {
        cJSON_Delete(ack);
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    host->reply(st->pc, cmd, "ack", ack);
    cJSON_Delete(ack);
    host->send_all(st->pc, "broadcast", data, cmd->conn_id, NULL);
    cJSON_Delete(data);
    return SB_OK;
}

static int shout_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    (void)cfg;
    shout_st.host = host;
    shout_st.pc = pc;
    *userdata = &shout_st;
    return host->register_command(pc, "shout", shout_cmd, &shout_st);
}

static void shout_fini(void *userdata)
{
    (void)userdata;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,     .name = "filter_abi10", .version = "0.0.1",
    .init = shout_init, .fini = shout_fini,
};

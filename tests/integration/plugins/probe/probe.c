/* Test fixture: a minimal well-behaved plugin. It registers the command
 * `probe`, which answers `probe {value, count, section}` from its config
 * section, so a test can see that a plugin was loaded from `path =` and read
 * its own keys (an absent `value` gives "default"). */
#include <switchboard/plugin.h>

typedef struct probe_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    const char *value;
    long count;
} probe_state;

static probe_state probe_st;

static int probe_cmd(void *ud, const sb_cmd *cmd)
{
    probe_state *st = ud;
    cJSON *data = cJSON_CreateObject();
    if (!data || !cJSON_AddStringToObject(data, "value", st->value) ||
        !cJSON_AddNumberToObject(data, "count", (double)st->count) ||
        !cJSON_AddStringToObject(data, "section", "probe")) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    st->host->reply(st->pc, cmd, "probe", data);
    cJSON_Delete(data);
    return SB_OK;
}

static int probe_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                      void **userdata)
{
    probe_st.host = host;
    probe_st.pc = pc;
    probe_st.value = host->cfg_string(cfg, "value", "default");
    if (host->cfg_int(cfg, "count", 0, 0, 1000, &probe_st.count) != SB_OK)
        return SB_EINVAL; /* logged by the host with file and line */
    *userdata = &probe_st;
    return host->register_command(pc, "probe", probe_cmd, &probe_st);
}

static void probe_fini(void *userdata)
{
    (void)userdata;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT, .name = "probe", .version = "0.0.1", .init = probe_init, .fini = probe_fini,
};

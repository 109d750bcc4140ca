/* Test fixture: init registers a command, logs why it fails and returns an
 * error. The host must name the plugin, refuse to start (unless the section
 * says optional = yes) and forget the command it registered. */
#include <switchboard/plugin.h>

static int init_fails_cmd(void *ud, const sb_cmd *cmd)
{
    (void)ud;
    (void)cmd;
    return SB_EPLUGIN; /* never reached: the registration is dropped */
}

static int init_fails_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                           void **userdata)
{
    (void)cfg;
    (void)userdata;
    host->register_command(pc, "init_fails", init_fails_cmd, NULL);
    host->log(pc, SB_LOG_ERROR, "cannot reach the frobnicator (fixture failure)");
    return SB_EPLUGIN;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,
    .name = "init_fails",
    .version = "0.0.1",
    .init = init_fails_init,
};

/* Test fixture: a shared object that exports no sb_plugin_entry (a typo in
 * the symbol name, as a third party might make). The host must refuse it. */
#include <switchboard/plugin.h>

static int no_entry_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                         void **userdata)
{
    (void)host;
    (void)pc;
    (void)cfg;
    (void)userdata;
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entri = {
    SB_PLUGIN_INIT,
    .name = "no_entry",
    .version = "0.0.1",
    .init = no_entry_init,
};

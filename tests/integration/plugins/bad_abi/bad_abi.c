/* Test fixture: a descriptor claiming another ABI than the host's. Built
 * twice: BAD_ABI_MAJOR 99 (another major) and BAD_ABI_MINOR 99 (a newer
 * minor than the host knows). The host must refuse it before calling init,
 * so init aborts the process if it is ever called. */
#include <stdlib.h>

#include <switchboard/plugin.h>

#ifndef BAD_ABI_MAJOR
#define BAD_ABI_MAJOR 99
#endif
#ifndef BAD_ABI_MINOR
#define BAD_ABI_MINOR 0
#endif

static int bad_abi_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                        void **userdata)
{
    (void)host;
    (void)pc;
    (void)cfg;
    (void)userdata;
    abort(); /* the ABI check must come first */
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    .size = sizeof(sb_plugin),
    .abi_major = BAD_ABI_MAJOR,
    .abi_minor = BAD_ABI_MINOR,
    .name = "bad_abi",
    .version = "0.0.1",
    .init = bad_abi_init,
};

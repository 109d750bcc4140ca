/* The members plugin: who is online (`list`), who is in a room (`members`)
 * and what the server knows of this connection (`me`). Descriptor and
 * registration here; the commands are in members_commands.c.
 */
#include <stdlib.h>

#include "members.h"

static int members_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                        void **userdata)
{
    (void)cfg;
    members_state *st = calloc(1, sizeof *st);
    if (!st) {
        host->log(pc, SB_LOG_ERROR, "out of memory");
        return SB_ENOMEM;
    }
    st->host = host;
    st->pc = pc;
    static const struct {
        const char *type;
        sb_command_fn fn;
    } cmds[] = {{"list", members_list}, {"members", members_members}, {"me", members_me}};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        int rc = host->register_command(pc, cmds[i].type, cmds[i].fn, st);
        if (rc != SB_OK) {
            host->log(pc, SB_LOG_ERROR, "cannot register command %s (%d)", cmds[i].type, rc);
            free(st);
            return rc;
        }
    }
    *userdata = st;
    return SB_OK;
}

static void members_fini(void *userdata)
{
    free(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,       .name = "members",    .version = "1.0.0",
    .init = members_init, .fini = members_fini,
};

/* The members plugin's shared state, between members.c (descriptor,
 * registration) and members_commands.c (list, members, me).
 */
#ifndef SB_MEMBERS_H
#define SB_MEMBERS_H

#include <switchboard/plugin.h>

typedef struct members_state {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
} members_state;

int members_list(void *ud, const sb_cmd *cmd);
int members_members(void *ud, const sb_cmd *cmd);
int members_me(void *ud, const sb_cmd *cmd);

#endif

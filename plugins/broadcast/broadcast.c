/* The `broadcast` plugin: one event to every authenticated connection
 * (docs/protocol.md 3), the sender's other connections included, its sending
 * connection excluded. Live only: nothing is stored. Stamping is the
 * host's (host->stamp); the ack is broadcast_ack.c. */
#include <stdlib.h>

#include <switchboard/plugin.h>

#include "broadcast_ack.h"

#define BROADCAST_REASON_MAX 256

typedef struct broadcast_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
} broadcast_plugin;

static int broadcast_cmd(void *ud, const sb_cmd *cmd)
{
    broadcast_plugin *bp = ud;
    const sb_host_api *host = bp->host;
    char reason[BROADCAST_REASON_MAX] = "";
    if (host->run_authorize(bp->pc, cmd->user, "broadcast", NULL, cmd->data, reason,
                            sizeof(reason)) == SB_HOOK_DENY) {
        host->reply_error(bp->pc, cmd, "forbidden", reason[0] ? reason : "not allowed");
        return SB_OK;
    }
    char id[SB_ID_LEN + 1];
    host->id_new(bp->pc, id);
    int64_t ts = host->now_ms();

    /* Stamped before the filter so it sees the server's fields; the host
     * restores them after the chain (run_filter). */
    cJSON *data = cJSON_Duplicate(cmd->data, 1);
    if (data == NULL || host->stamp(&data, id, cmd->user, NULL, NULL, ts) != SB_OK) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    sb_filter_msg fmsg = {.size = sizeof(fmsg),
                          .type = "broadcast",
                          .from = cmd->user,
                          .to = NULL,
                          .room = NULL,
                          .id = id,
                          .ts = ts};
    reason[0] = '\0';
    if (host->run_filter(bp->pc, &fmsg, &data, reason, sizeof(reason)) == SB_HOOK_DENY) {
        host->reply_error(bp->pc, cmd, "filtered", reason[0] ? reason : "dropped by a filter");
        cJSON_Delete(data);
        return SB_OK;
    }
    cJSON *ack = broadcast_ack_new(id, ts);
    if (ack == NULL) {
        cJSON_Delete(data);
        return SB_ENOMEM;
    }
    host->reply(bp->pc, cmd, "ack", ack);
    cJSON_Delete(ack);
    int rc = host->send_all(bp->pc, "broadcast", data, cmd->conn_id, NULL);
    if (rc != SB_OK)
        host->log(bp->pc, SB_LOG_WARN, "broadcast %s not sent: %d", id, rc);
    cJSON_Delete(data);
    return SB_OK;
}

static int broadcast_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                          void **userdata)
{
    (void)cfg;
    broadcast_plugin *bp = calloc(1, sizeof(*bp));
    if (bp == NULL)
        return SB_ENOMEM;
    bp->host = host;
    bp->pc = pc;
    int rc = host->register_command(pc, "broadcast", broadcast_cmd, bp);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the broadcast command: %d", rc);
        free(bp);
        return rc;
    }
    *userdata = bp;
    return SB_OK;
}

static void broadcast_fini(void *userdata)
{
    free(userdata);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,         .name = "broadcast",    .version = "0.1.0",
    .init = broadcast_init, .fini = broadcast_fini,
};

/* The `read` plugin: a recipient removes messages from its own inbox by id
 * (PROTOCOL.md 3-4), is told which ones went, and each message's sender gets a
 * `receipt`. Parsing and building live in read_ids.c. */
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "read_ids.h"

typedef struct read_op read_op;

typedef struct read_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    read_op *pending; /* removals the store has not answered; fini frees them */
} read_plugin;

/* What the removal's completion needs: the reader by name and, through the
 * held reply, by connection id. */
struct read_op {
    read_op *prev, *next;
    read_plugin *rp;
    sb_reply *reply;
    char reader[SB_USER_MAX + 1];
};

static void read_op_free(read_op *op)
{
    read_plugin *rp = op->rp;
    if (op->prev != NULL)
        op->prev->next = op->next;
    else if (rp->pending == op)
        rp->pending = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    free(op);
}

/* Tell the sender of each removed message that the reader read it. Sent
 * through send_users even when the sender is not on this node: it is a no-op
 * locally then, and a bus carries it to the node the sender is on. */
static void read_send_receipts(read_op *op, const sb_stored *removed, size_t n, uint64_t conn_id)
{
    read_plugin *rp = op->rp;
    char sender[SB_USER_MAX + 1];
    /* Printed without a tree when nothing needs escaping, as is usual: the
     * receipts of a read are most of what it costs. */
    char text[SB_ID_LEN + SB_USER_MAX + 64];
    for (size_t i = 0; i < n; i++) {
        if (read_sender_of(removed[i].json, removed[i].len, sender, sizeof(sender)) != 0) {
            rp->host->log(rp->pc, SB_LOG_DEBUG, "message %s has no sender to tell", removed[i].id);
            continue;
        }
        const char *to = sender;
        int rc = SB_ENOMEM;
        size_t len = read_receipt_text(removed[i].id, op->reader, text, sizeof(text));
        if (len > 0) {
            rc = rp->host->send_users_json(rp->pc, &to, 1, "receipt", text, len, conn_id, 0, NULL);
        } else {
            cJSON *receipt = read_receipt_new(removed[i].id, op->reader);
            if (receipt != NULL)
                rc = rp->host->send_users(rp->pc, &to, 1, "receipt", receipt, conn_id, 0, NULL);
            cJSON_Delete(receipt);
        }
        if (rc != SB_OK)
            rp->host->log(rp->pc, SB_LOG_WARN, "receipt for %s not sent", removed[i].id);
    }
}

static void read_removed_cb(void *arg, int status, const sb_stored *removed, size_t n)
{
    read_op *op = arg;
    read_plugin *rp = op->rp;
    const sb_host_api *host = rp->host;
    sb_reply *reply = op->reply;
    op->reply = NULL;

    if (status != SB_OK) {
        host->log(rp->pc, SB_LOG_DEBUG, "store refused a read by %s: %d", op->reader, status);
        host->reply_later_error(rp->pc, reply, "unavailable", "the store could not remove them");
        read_op_free(op);
        return;
    }
    uint64_t conn_id = host->reply_conn(reply);
    cJSON *data = read_reply_new(removed, n);
    if (data != NULL)
        host->reply_later(rp->pc, reply, "read", data);
    else
        host->reply_later_error(rp->pc, reply, "internal", "out of memory");
    cJSON_Delete(data);
    read_send_receipts(op, removed, n, conn_id);
    read_op_free(op);
}

static int read_cmd(void *ud, const sb_cmd *cmd)
{
    read_plugin *rp = ud;
    const sb_host_api *host = rp->host;
    read_ids ids = {0};

    int rc = read_ids_parse(cJSON_GetObjectItemCaseSensitive(cmd->data, "ids"), SB_ID_LEN, &ids);
    if (rc == READ_IDS_BAD) {
        host->reply_error(rp->pc, cmd, "bad_request", "ids must be an array of strings");
        return SB_OK;
    }
    if (rc != READ_IDS_OK)
        return SB_ENOMEM;
    if (ids.n == 0) {
        /* Nothing that could be stored: answer without asking the store. */
        read_ids_free(&ids);
        cJSON *data = read_reply_new(NULL, 0);
        if (data == NULL)
            return SB_ENOMEM;
        host->reply(rp->pc, cmd, "read", data);
        cJSON_Delete(data);
        return SB_OK;
    }

    read_op *op = calloc(1, sizeof(*op));
    if (op == NULL || strlen(cmd->user) > SB_USER_MAX) {
        free(op);
        read_ids_free(&ids);
        return op == NULL ? SB_ENOMEM : SB_EINVAL;
    }
    op->rp = rp;
    strcpy(op->reader, cmd->user);
    op->reply = host->reply_hold(rp->pc, cmd);
    if (op->reply == NULL) {
        free(op);
        read_ids_free(&ids);
        return SB_ENOMEM;
    }
    op->next = rp->pending;
    if (rp->pending != NULL)
        rp->pending->prev = op;
    rp->pending = op;

    rc = host->store_remove(rp->pc, cmd->user, ids.ids, ids.n, read_removed_cb, op);
    read_ids_free(&ids); /* the store copied what it needs */
    if (rc != SB_OK) {
        host->log(rp->pc, SB_LOG_DEBUG, "store_remove refused a read by %s: %d", op->reader, rc);
        host->reply_later_error(rp->pc, op->reply, "unavailable",
                                "the store could not remove them");
        op->reply = NULL;
        read_op_free(op);
    }
    return SB_OK;
}

static int read_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                     void **userdata)
{
    (void)cfg;
    read_plugin *rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        return SB_ENOMEM;
    rp->host = host;
    rp->pc = pc;
    int rc = host->register_command(pc, "read", read_cmd, rp);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the read command: %d", rc);
        free(rp);
        return rc;
    }
    *userdata = rp;
    return SB_OK;
}

/* Removals still pending at shutdown never complete: free them here. */
static void read_fini(void *userdata)
{
    read_plugin *rp = userdata;
    if (rp == NULL)
        return;
    while (rp->pending != NULL) {
        read_op *op = rp->pending;
        if (op->reply != NULL)
            rp->host->reply_drop(rp->pc, op->reply);
        read_op_free(op);
    }
    free(rp);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,    .name = "read",    .version = "0.1.0",
    .init = read_init, .fini = read_fini, .flags = SB_PLUGIN_NEEDS_STORE,
};

/* The `message` plugin: direct messages to one user or several (docs/protocol.md
 * 3-4). A message is authorized per recipient, filtered, stamped, stored in
 * every recipient's inbox, and only then acked and delivered live. Recipient
 * parsing is message_rcpts.c; filtering, stamping and printing are the host's
 * (host->filter_print). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "message_rcpts.h"

#define MESSAGE_REASON_MAX 256

typedef struct message_put message_put;

typedef struct message_plugin {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    size_t max_recipients;
    message_put *pending; /* puts the store has not answered yet; fini frees them */
} message_plugin;

/* Everything the store completion needs. The connection is reached through the
 * held reply (an id), never a pointer: it may be gone by then. */
struct message_put {
    message_put *prev, *next;
    message_plugin *mp;
    sb_reply *reply;
    message_rcpts rcpts;
    char *json; /* the stamped message as stored (host->free), framed live once stored */
    size_t len;
    char id[SB_ID_LEN + 1];
    int64_t ts;
};

static void message_put_free(message_put *mput)
{
    message_plugin *mp = mput->mp;
    if (mput->prev != NULL)
        mput->prev->next = mput->next;
    else if (mp->pending == mput)
        mp->pending = mput->next;
    if (mput->next != NULL)
        mput->next->prev = mput->prev;
    message_rcpts_free(&mput->rcpts);
    mp->host->free(mput->json);
    free(mput);
}

/* {id, ts}: the ack of an accepted message, borrowing id and its keys (one
 * allocation per member, not three: there is one per message). NULL on
 * ENOMEM. */
static cJSON *message_ack_new(const char *id, int64_t ts)
{
    cJSON *ack = cJSON_CreateObject();
    cJSON *id_item = cJSON_CreateStringReference(id);
    cJSON *ts_item = cJSON_CreateNumber((double)ts);
    /* With constant keys nothing is allocated in the adding, which then
     * cannot fail. */
    if (ack == NULL || id_item == NULL || ts_item == NULL) {
        cJSON_Delete(ack);
        cJSON_Delete(id_item);
        cJSON_Delete(ts_item);
        return NULL;
    }
    cJSON_AddItemToObjectCS(ack, "id", id_item);
    cJSON_AddItemToObjectCS(ack, "ts", ts_item);
    return ack;
}

/* The store answered: ack the sender and deliver, or report why not. */
static void message_stored_cb(void *arg, int status)
{
    message_put *mput = arg;
    message_plugin *mp = mput->mp;
    const sb_host_api *host = mp->host;
    sb_reply *reply = mput->reply;
    mput->reply = NULL;

    if (status == SB_OK) {
        uint64_t conn_id = host->reply_conn(reply);
        cJSON *ack = message_ack_new(mput->id, mput->ts);
        if (ack != NULL)
            host->reply_later(mp->pc, reply, "ack", ack);
        else
            host->reply_later_error(mp->pc, reply, "internal", "out of memory");
        cJSON_Delete(ack);
        /* Stored before delivered: a recipient that misses this (backlog in
         * progress, or offline) gets it from its inbox. */
        int rc =
            host->send_users_json(mp->pc, (const char *const *)mput->rcpts.users, mput->rcpts.n,
                                  "message", mput->json, mput->len, conn_id, 1, NULL);
        if (rc != SB_OK)
            host->log(mp->pc, SB_LOG_WARN, "message %s stored but not sent live: %d", mput->id, rc);
    } else if (status == SB_EINBOX_FULL) {
        host->reply_later_error(mp->pc, reply, "inbox_full", "a recipient's inbox is full");
    } else {
        host->log(mp->pc, SB_LOG_DEBUG, "message %s refused by the store: %d", mput->id, status);
        host->reply_later_error(mp->pc, reply, "unavailable",
                                "the store could not take the message");
    }
    message_put_free(mput);
}

/* Recipients of cmd, or an error answer already sent (*answered set). */
static int message_parse_to(message_plugin *mp, const sb_cmd *cmd, message_rcpts *rcpts,
                            int *answered)
{
    const sb_host_api *host = mp->host;
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(cmd->data, "to");
    size_t n_distinct = 0;
    int rc = message_rcpts_parse(to, host->user_valid, mp->max_recipients, rcpts, &n_distinct);
    *answered = 1;
    switch (rc) {
    case MESSAGE_RCPTS_OK:
        *answered = 0;
        return SB_OK;
    case MESSAGE_RCPTS_BAD:
        host->reply_error(mp->pc, cmd, "bad_request",
                          "to must be a user id or a non-empty array of user ids");
        return SB_OK;
    case MESSAGE_RCPTS_TOO_MANY: {
        char why[96];
        snprintf(why, sizeof(why), "%zu recipients, at most %zu", n_distinct, mp->max_recipients);
        host->reply_error(mp->pc, cmd, "too_many_recipients", why);
        return SB_OK;
    }
    default:
        *answered = 0;
        return SB_ENOMEM;
    }
}

static int message_cmd(void *ud, const sb_cmd *cmd)
{
    message_plugin *mp = ud;
    const sb_host_api *host = mp->host;
    char reason[MESSAGE_REASON_MAX];
    message_rcpts rcpts = {0};
    int answered = 0;

    int rc = message_parse_to(mp, cmd, &rcpts, &answered);
    if (rc != SB_OK || answered)
        return rc;
    for (size_t i = 0; i < rcpts.n; i++) {
        reason[0] = '\0';
        if (host->run_authorize(mp->pc, cmd->user, "message", rcpts.users[i], cmd->data, reason,
                                sizeof(reason)) == SB_HOOK_DENY) {
            host->reply_error(mp->pc, cmd, "forbidden", reason[0] ? reason : "not allowed");
            message_rcpts_free(&rcpts);
            return SB_OK;
        }
    }

    message_put *mput = calloc(1, sizeof(*mput));
    if (mput == NULL) {
        message_rcpts_free(&rcpts);
        return SB_ENOMEM;
    }
    mput->mp = mp;
    mput->rcpts = rcpts;
    host->id_new(mp->pc, mput->id);
    mput->ts = host->now_ms();

    /* `to` as the sender wrote it, from the borrowed command: the filter may
     * replace the data object, so msg.to must not point into it. */
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(cmd->data, "to");
    sb_filter_msg fmsg = {.size = sizeof(fmsg),
                          .type = "message",
                          .from = cmd->user,
                          .to = to,
                          .room = NULL,
                          .id = mput->id,
                          .ts = mput->ts};
    /* Printed once: these bytes are stored and, once stored, framed live.
     * The filters see the server's id/from/ts, not what the client claimed;
     * while none changes the message it is printed straight from the command. */
    reason[0] = '\0';
    rc = host->filter_print(mp->pc, &fmsg, cmd->data, &mput->json, &mput->len, reason,
                            sizeof(reason));
    if (rc == SB_OK && mput->json == NULL) {
        host->reply_error(mp->pc, cmd, "filtered", reason[0] ? reason : "dropped by a filter");
        message_put_free(mput);
        return SB_OK;
    }
    if (mput->json == NULL || (mput->reply = host->reply_hold(mp->pc, cmd)) == NULL) {
        message_put_free(mput);
        return SB_ENOMEM;
    }
    mput->next = mp->pending;
    if (mp->pending != NULL)
        mp->pending->prev = mput;
    mp->pending = mput;

    rc = host->store_put(mp->pc, (const char *const *)mput->rcpts.users, mput->rcpts.n, mput->id,
                         mput->json, mput->len, message_stored_cb, mput);
    if (rc != SB_OK) {
        host->log(mp->pc, SB_LOG_DEBUG, "store_put refused message %s: %d", mput->id, rc);
        host->reply_later_error(mp->pc, mput->reply, "unavailable",
                                "the store could not take the message");
        mput->reply = NULL;
        message_put_free(mput);
    }
    return SB_OK;
}

static int message_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                        void **userdata)
{
    (void)cfg;
    message_plugin *mp = calloc(1, sizeof(*mp));
    if (mp == NULL)
        return SB_ENOMEM;
    mp->host = host;
    mp->pc = pc;
    long max = 100;
    if (host->cfg_int(host->cfg_server(pc), "max_recipients", 100, 1, 1000000, &max) != SB_OK) {
        free(mp);
        return SB_EINVAL;
    }
    mp->max_recipients = (size_t)max;
    int rc = host->register_command(pc, "message", message_cmd, mp);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot register the message command: %d", rc);
        free(mp);
        return rc;
    }
    *userdata = mp;
    return SB_OK;
}

/* At shutdown the store may still hold puts (the host normally drains them
 * first); their completions never come, so free them here. */
static void message_fini(void *userdata)
{
    message_plugin *mp = userdata;
    if (mp == NULL)
        return;
    while (mp->pending != NULL) {
        message_put *mput = mp->pending;
        if (mput->reply != NULL)
            mp->host->reply_drop(mp->pc, mput->reply);
        message_put_free(mput);
    }
    free(mp);
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,       .name = "message",    .version = "0.1.0",
    .init = message_init, .fini = message_fini, .flags = SB_PLUGIN_NEEDS_STORE,
};

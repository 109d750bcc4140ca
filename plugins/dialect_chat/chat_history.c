/* Recent history on join (chat_history.h). The connection's events are held
 * from before the join until the newest `history` publications of the room
 * have been read, so they come first, oldest first, and nothing live is
 * missed between them. A publication stored and fanned out in the short
 * moment between the join and the read can come twice (held frames are chat
 * frames the host cannot read back); the chat form has no id to drop it by,
 * which docs/dialects/chat.md says. */
#include "chat_history.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct chat_recent {
    chat_codec *cc;
    uint64_t conn_id;
    char room[SB_ROOM_MAX + 1];
} chat_recent;

int chat_history_hold(chat_codec *cc, uint64_t conn_id)
{
    return cc->host->conn_hold(cc->pc, conn_id);
}

static void chat_recent_release(chat_recent *r, const sb_stored *msgs, size_t n)
{
    int rc = r->cc->host->conn_release(r->cc->pc, r->conn_id, "publish", msgs, n);
    if (rc != SB_OK && rc != SB_ECLOSED)
        r->cc->host->log(r->cc->pc, SB_LOG_WARN, "conn %llu: recent history of %s not sent: %d",
                         (unsigned long long)r->conn_id, r->room, rc);
    free(r);
}

static void chat_recent_page(void *arg, int status, const sb_stored *msgs, size_t n, int more,
                             int reaches)
{
    chat_recent *r = arg;
    (void)more;
    (void)reaches;
    if (status != SB_OK && status != SB_EUNAVAILABLE)
        r->cc->host->log(r->cc->pc, SB_LOG_WARN, "recent history of %s unreadable: %d", r->room,
                         status);
    /* SB_EUNAVAILABLE: a store that keeps no history; nothing to show. */
    chat_recent_release(r, msgs, status == SB_OK ? n : 0);
}

static void chat_recent_nothing(void *arg)
{
    chat_recent_release(arg, NULL, 0);
}

void chat_history_answered(chat_codec *cc, uint64_t conn_id, const char *room, int joined)
{
    const sb_host_api *host = cc->host;
    chat_recent *r = calloc(1, sizeof *r);
    if (!r) {
        host->log(cc->pc, SB_LOG_ERROR, "conn %llu: out of memory ending a hold",
                  (unsigned long long)conn_id);
        host->conn_close(cc->pc, conn_id, 1011, "out of memory");
        return;
    }
    r->cc = cc;
    r->conn_id = conn_id;
    snprintf(r->room, sizeof r->room, "%s", room ? room : "");
    int rc = SB_EINVAL;
    if (joined && room)
        rc = host->store_history_page(cc->pc, room, NULL, NULL, (size_t)cc->history,
                                      chat_recent_page, r);
    if (rc == SB_OK)
        return;
    if (host->later(cc->pc, chat_recent_nothing, r) != SB_OK) {
        host->conn_close(cc->pc, conn_id, 1011, "out of memory");
        free(r);
    }
}

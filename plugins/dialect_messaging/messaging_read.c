/* A `read` section: 001 ids are the clients' own, so they are resolved to
 * server ids by paging the reader's inbox and matching each stored message's
 * shown id (messaging_read_match), then removed with one native `read`. A
 * read removes every unread message of the reader shown with that id, from
 * any sender (narrowed to one sender when the item names a sid). The whole
 * inbox is paged: the ids are not unique, so no match ends the search. */
#include <stdlib.h>
#include <string.h>

#include "messaging.h"
#include "messaging_codec.h"

#define MESSAGING_PAGE 100

struct messaging_read_op {
    messaging_read_op *prev, *next;
    messaging_plugin *mp;
    uint64_t conn_id;
    char user[SB_USER_MAX + 1];
    cJSON *reads; /* the section's items, from messaging_decode */
    cJSON *pairs; /* [[id as written, server id]...] found so far */
};

void messaging_send_errors(messaging_plugin *mp, uint64_t conn_id, cJSON *errors_take)
{
    cJSON *ref = cJSON_CreateObject();
    if (ref == NULL || !cJSON_AddItemToObject(ref, "errors", errors_take)) {
        cJSON_Delete(errors_take);
        cJSON_Delete(ref);
        mp->host->log(mp->pc, SB_LOG_WARN, "out of memory: errors for connection %llu not sent",
                      (unsigned long long)conn_id);
        return;
    }
    int rc = mp->host->submit(mp->pc, conn_id, "ping", ref, NULL);
    if (rc != SB_OK && rc != SB_ECLOSED)
        mp->host->log(mp->pc, SB_LOG_WARN, "errors for connection %llu not sent: %d",
                      (unsigned long long)conn_id, rc);
    cJSON_Delete(ref);
}

static void messaging_read_free(messaging_read_op *op)
{
    messaging_plugin *mp = op->mp;
    if (op->prev != NULL)
        op->prev->next = op->next;
    else if (mp->pending == op)
        mp->pending = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    cJSON_Delete(op->reads);
    cJSON_Delete(op->pairs);
    free(op);
}

/* Refuse every item of the read with code, then free it. */
static void messaging_read_fail(messaging_read_op *op, const char *code, const char *message)
{
    cJSON *errors = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, op->reads)
    {
        cJSON *e = cJSON_CreateObject();
        cJSON *as = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "as"), 1);
        if (errors == NULL || e == NULL || as == NULL || !cJSON_AddItemToObject(e, "id", as)) {
            cJSON_Delete(as);
            cJSON_Delete(e);
            break;
        }
        if (cJSON_AddStringToObject(e, "code", code) == NULL ||
            cJSON_AddStringToObject(e, "message", message) == NULL ||
            cJSON_AddStringToObject(e, "section", "read") == NULL ||
            !cJSON_AddItemToArray(errors, e)) {
            cJSON_Delete(e);
            break;
        }
    }
    if (errors != NULL)
        messaging_send_errors(op->mp, op->conn_id, errors);
    messaging_read_free(op);
}

/* Every page seen: remove the matched messages with a native `read`, whose
 * reply (ref: the pairs) becomes the client's `read` section. */
static void messaging_read_finish(messaging_read_op *op)
{
    messaging_plugin *mp = op->mp;
    cJSON *data = cJSON_CreateObject();
    cJSON *ids = data != NULL ? cJSON_AddArrayToObject(data, "ids") : NULL;
    cJSON *ref = cJSON_CreateObject();
    int ok = ids != NULL && ref != NULL;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, op->pairs)
    {
        const cJSON *sv = cJSON_GetArrayItem(pair, 1);
        cJSON *copy = ok ? cJSON_CreateString(sv->valuestring) : NULL;
        if (copy == NULL || !cJSON_AddItemToArray(ids, copy)) {
            cJSON_Delete(copy);
            ok = 0;
            break;
        }
    }
    if (ok && cJSON_AddItemToObject(ref, "read", op->pairs))
        op->pairs = NULL; /* ref owns them now */
    else
        ok = 0;
    if (ok) {
        int rc = mp->host->submit(mp->pc, op->conn_id, "read", ref, data);
        if (rc != SB_OK && rc != SB_ECLOSED)
            mp->host->log(mp->pc, SB_LOG_WARN, "read of %s not submitted: %d", op->user, rc);
        messaging_read_free(op);
    } else {
        messaging_read_fail(op, "internal", "out of memory");
    }
    cJSON_Delete(ref);
    cJSON_Delete(data);
}

static void messaging_read_page_cb(void *arg, int status, const sb_stored *msgs, size_t n, int more)
{
    messaging_read_op *op = arg;
    messaging_plugin *mp = op->mp;
    if (status != SB_OK) {
        messaging_read_fail(op, "unavailable", "the store could not list your messages");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (messaging_read_match(op->reads, msgs[i].id, msgs[i].json, msgs[i].len, op->pairs) !=
            MESSAGING_OK) {
            messaging_read_fail(op, "internal", "out of memory");
            return;
        }
    }
    if (!more || n == 0) {
        messaging_read_finish(op);
        return;
    }
    if (mp->host->conn_user(mp->pc, op->conn_id) == NULL) {
        messaging_read_free(op); /* the reader is gone: nobody to answer */
        return;
    }
    int rc = mp->host->store_page(mp->pc, op->user, msgs[n - 1].id, MESSAGING_PAGE,
                                  messaging_read_page_cb, op);
    if (rc != SB_OK)
        messaging_read_fail(op, "unavailable", "the store could not list your messages");
}

void messaging_read_start(messaging_plugin *mp, uint64_t conn_id, const char *user,
                          cJSON *reads_take)
{
    messaging_read_op *op = calloc(1, sizeof(*op));
    if (op == NULL || strlen(user) > SB_USER_MAX || (op->pairs = cJSON_CreateArray()) == NULL) {
        mp->host->log(mp->pc, SB_LOG_WARN, "read by %s dropped: out of memory", user);
        free(op);
        cJSON_Delete(reads_take);
        return;
    }
    op->mp = mp;
    op->conn_id = conn_id;
    strcpy(op->user, user);
    op->reads = reads_take;
    op->next = mp->pending;
    if (mp->pending != NULL)
        mp->pending->prev = op;
    mp->pending = op;
    int rc = mp->host->store_page(mp->pc, user, NULL, MESSAGING_PAGE, messaging_read_page_cb, op);
    if (rc != SB_OK)
        messaging_read_fail(op, "unavailable", "the store could not list your messages");
}

void messaging_read_free_all(messaging_plugin *mp)
{
    while (mp->pending != NULL)
        messaging_read_free(mp->pending);
}

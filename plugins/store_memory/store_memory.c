/* The `store_memory` plugin: the store slot kept in process memory, for tests
 * and throwaway setups (nothing survives a restart). Each operation takes
 * effect in the call, so a page that follows a put sees it, and completes on
 * the next loop iteration, never inside the call: completions queue in order
 * and one host->later per pass runs them all (one deferred call per
 * operation cost an allocation each and nothing more). The
 * inbox structure is store_memory_inbox.c. `simulate_outage` lets tests see
 * how the rest of the server behaves when a store stops answering. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#include "store_memory_inbox.h"

enum store_memory_kind {
    STORE_MEMORY_PUT,
    STORE_MEMORY_REMOVE,
    STORE_MEMORY_PAGE,
    STORE_MEMORY_HISTORY_PAGE,
};

/* simulate_outage: no | done (operations complete with SB_EUNAVAILABLE) |
 * call (the calls themselves return SB_EUNAVAILABLE). */
enum store_memory_outage { STORE_MEMORY_UP, STORE_MEMORY_DOWN_DONE, STORE_MEMORY_DOWN_CALL };

typedef struct store_memory_op store_memory_op;

typedef struct store_memory {
    const sb_host_api *host;
    sb_plugin_ctx *pc;
    store_memory_table *table;
    store_memory_table *history; /* room -> its publications, never "full" */
    int outage;
    store_memory_op *queue, *queue_tail; /* completions not yet run, oldest first */
    int scheduled;                       /* a host->later runs the queue */
} store_memory;

/* One operation waiting for its completion, holding references to the
 * messages it hands out so they outlive any change made meanwhile. */
struct store_memory_op {
    store_memory_op *next; /* in the queue */
    store_memory *sm;
    int kind;
    int status;
    sb_store_done_fn done;
    sb_store_removed_fn removed;
    sb_store_page_fn paged;
    sb_history_page_fn history_paged;
    void *arg;
    store_memory_msg **msgs;
    sb_stored *stored; /* msgs as the callback sees them */
    size_t n;
    int more;
    int reaches;
};

/* Free an op that is out of the queue. */
static void store_memory_op_free(store_memory_op *op)
{
    for (size_t i = 0; i < op->n; i++)
        store_memory_msg_unref(op->msgs[i]);
    free(op->msgs);
    free(op->stored);
    free(op);
}

static void store_memory_complete(store_memory_op *op)
{
    switch (op->kind) {
    case STORE_MEMORY_PUT:
        op->done(op->arg, op->status);
        break;
    case STORE_MEMORY_REMOVE:
        op->removed(op->arg, op->status, op->stored, op->n);
        break;
    case STORE_MEMORY_HISTORY_PAGE:
        op->history_paged(op->arg, op->status, op->stored, op->n, op->more, op->reaches);
        break;
    default:
        op->paged(op->arg, op->status, op->stored, op->n, op->more);
        break;
    }
    store_memory_op_free(op);
}

/* The loop's pass: complete what was queued before it, in order; what the
 * callbacks start queues for the next pass. */
static void store_memory_run_cb(void *arg)
{
    store_memory *sm = arg;
    store_memory_op *op = sm->queue;
    sm->queue = sm->queue_tail = NULL;
    sm->scheduled = 0;
    while (op != NULL) {
        store_memory_op *next = op->next;
        store_memory_complete(op);
        op = next;
    }
}

/* A new op whose completion is already scheduled: scheduling first means a
 * failure to schedule leaves the store untouched. NULL on ENOMEM. */
static store_memory_op *store_memory_op_new(store_memory *sm, int kind, void *arg)
{
    store_memory_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->sm = sm;
    op->kind = kind;
    op->arg = arg;
    if (!sm->scheduled) {
        if (sm->host->later(sm->pc, store_memory_run_cb, sm) != SB_OK) {
            free(op);
            return NULL;
        }
        sm->scheduled = 1;
    }
    if (sm->queue_tail != NULL)
        sm->queue_tail->next = op;
    else
        sm->queue = op;
    sm->queue_tail = op;
    return op;
}

/* What every operation starts with, for the outages tests simulate: refused
 * in the call (DOWN_CALL, no op), or an op that will fail on its loop turn
 * (DOWN_DONE: op->status already SB_EUNAVAILABLE, nothing more to do).
 * -> SB_OK (*op set) | SB_EUNAVAILABLE | SB_ENOMEM */
static int store_memory_op_begin(store_memory *sm, int kind, void *arg, store_memory_op **op)
{
    if (sm->outage == STORE_MEMORY_DOWN_CALL)
        return SB_EUNAVAILABLE;
    *op = store_memory_op_new(sm, kind, arg);
    if (*op == NULL)
        return SB_ENOMEM;
    if (sm->outage == STORE_MEMORY_DOWN_DONE)
        (*op)->status = SB_EUNAVAILABLE;
    return SB_OK;
}

/* The table's answer as the op's status: out of memory is logged once,
 * with what was being done to whom, and reported as unavailable. */
static int store_memory_op_status(store_memory *sm, int status, const char *what, const char *name)
{
    if (status != SB_ENOMEM)
        return status;
    sm->host->log(sm->pc, SB_LOG_WARN, "out of memory %s %s", what, name);
    return SB_EUNAVAILABLE;
}

/* Fill op->stored from op->msgs; on ENOMEM the op reports unavailable. */
static void store_memory_op_expose(store_memory_op *op)
{
    if (op->n == 0)
        return;
    op->stored = malloc(op->n * sizeof(*op->stored));
    if (op->stored == NULL) {
        for (size_t i = 0; i < op->n; i++)
            store_memory_msg_unref(op->msgs[i]);
        op->n = 0;
        op->more = 0;
        op->status = SB_EUNAVAILABLE;
        return;
    }
    for (size_t i = 0; i < op->n; i++) {
        op->stored[i].id = op->msgs[i]->id;
        op->stored[i].json = op->msgs[i]->json;
        op->stored[i].len = op->msgs[i]->len;
    }
}

static int store_memory_put(void *ud, const char *const *users, size_t n_users, const char *id,
                            const char *json, size_t len, sb_store_done_fn done, void *arg)
{
    store_memory *sm = ud;
    store_memory_op *op = NULL;
    int rc = store_memory_op_begin(sm, STORE_MEMORY_PUT, arg, &op);
    if (rc != SB_OK)
        return rc;
    op->done = done;
    if (op->status != SB_OK)
        return SB_OK; /* an outage: it fails on its turn */
    op->status =
        store_memory_op_status(sm, store_memory_table_put(sm->table, users, n_users, id, json, len),
                               "storing message", id);
    return SB_OK;
}

static int store_memory_remove(void *ud, const char *user, const char *const *ids, size_t n_ids,
                               sb_store_removed_fn done, void *arg)
{
    store_memory *sm = ud;
    store_memory_op *op = NULL;
    int rc = store_memory_op_begin(sm, STORE_MEMORY_REMOVE, arg, &op);
    if (rc != SB_OK)
        return rc;
    op->removed = done;
    if (op->status != SB_OK)
        return SB_OK; /* an outage: it fails on its turn */
    op->status = store_memory_op_status(
        sm, store_memory_table_remove(sm->table, user, ids, n_ids, &op->msgs, &op->n),
        "removing messages of", user);
    store_memory_op_expose(op);
    return SB_OK;
}

static int store_memory_page(void *ud, const char *user, const char *after, size_t limit,
                             sb_store_page_fn done, void *arg)
{
    store_memory *sm = ud;
    store_memory_op *op = NULL;
    int rc = store_memory_op_begin(sm, STORE_MEMORY_PAGE, arg, &op);
    if (rc != SB_OK)
        return rc;
    op->paged = done;
    if (op->status != SB_OK)
        return SB_OK; /* an outage: it fails on its turn */
    op->status = store_memory_op_status(
        sm, store_memory_table_page(sm->table, user, after, limit, &op->msgs, &op->n, &op->more),
        "paging the inbox of", user);
    store_memory_op_expose(op);
    return SB_OK;
}

/* Room history: the same table code keyed by room, with no count limit;
 * the put and its trim take effect together, in the call. */
static int store_memory_history_put(void *ud, const char *room, const char *id, const char *json,
                                    size_t len, size_t keep, const char *expire_before,
                                    sb_store_done_fn done, void *arg)
{
    store_memory *sm = ud;
    store_memory_op *op = NULL;
    int rc = store_memory_op_begin(sm, STORE_MEMORY_PUT, arg, &op);
    if (rc != SB_OK)
        return rc;
    op->done = done;
    if (op->status != SB_OK)
        return SB_OK; /* an outage: it fails on its turn */
    op->status = store_memory_table_put(sm->history, &room, 1, id, json, len);
    if (op->status == SB_OK)
        store_memory_table_trim(sm->history, room, keep, expire_before);
    else
        op->status = SB_EUNAVAILABLE;
    return SB_OK;
}

static int store_memory_history_page(void *ud, const char *room, const char *after,
                                     const char *before, size_t limit, sb_history_page_fn done,
                                     void *arg)
{
    store_memory *sm = ud;
    store_memory_op *op = NULL;
    int rc = store_memory_op_begin(sm, STORE_MEMORY_HISTORY_PAGE, arg, &op);
    if (rc != SB_OK)
        return rc;
    op->history_paged = done;
    if (op->status != SB_OK)
        return SB_OK; /* an outage: it fails on its turn */
    if (after != NULL) {
        op->reaches = store_memory_table_has(sm->history, room, after);
        op->status =
            store_memory_table_page(sm->history, room, after, limit, &op->msgs, &op->n, &op->more);
    } else {
        op->status = store_memory_table_page_before(sm->history, room, before, limit, &op->msgs,
                                                    &op->n, &op->more);
    }
    if (op->status != SB_OK)
        op->status = SB_EUNAVAILABLE;
    store_memory_op_expose(op);
    return SB_OK;
}

static int store_memory_ready(void *ud, const char **why)
{
    store_memory *sm = ud;
    if (sm->outage != STORE_MEMORY_UP) {
        if (why != NULL)
            *why = "store_memory: simulated outage";
        return 0;
    }
    return 1; /* memory always answers */
}

/* simulate_outage's value, or -1 (logged) when it is none of no|done|call. */
static int store_memory_outage_cfg(const sb_host_api *host, sb_plugin_ctx *pc,
                                   const sb_section *cfg)
{
    const char *v = host->cfg_string(cfg, "simulate_outage", "no");
    if (strcmp(v, "no") == 0)
        return STORE_MEMORY_UP;
    if (strcmp(v, "done") == 0)
        return STORE_MEMORY_DOWN_DONE;
    if (strcmp(v, "call") == 0)
        return STORE_MEMORY_DOWN_CALL;
    host->log(pc, SB_LOG_ERROR, "simulate_outage = %s: expected no, done or call", v);
    return -1;
}

static void store_memory_fini(void *userdata)
{
    store_memory *sm = userdata;
    if (sm == NULL)
        return;
    /* Completions the loop never ran (shutdown): drop them without calling
     * back, since their owners may be gone already. */
    while (sm->queue != NULL) {
        store_memory_op *next = sm->queue->next;
        store_memory_op_free(sm->queue);
        sm->queue = next;
    }
    store_memory_table_free(sm->table);
    store_memory_table_free(sm->history);
    free(sm);
}

static int store_memory_init(const sb_host_api *host, sb_plugin_ctx *pc, const sb_section *cfg,
                             void **userdata)
{
    long max_inbox = 100000;
    if (host->cfg_int(cfg, "max_inbox", 100000, 1, 1000000000L, &max_inbox) != SB_OK)
        return SB_EINVAL;
    int outage = store_memory_outage_cfg(host, pc, cfg);
    if (outage < 0)
        return SB_EINVAL;
    store_memory *sm = calloc(1, sizeof(*sm));
    if (sm == NULL)
        return SB_ENOMEM;
    sm->outage = outage;
    sm->host = host;
    sm->pc = pc;
    sm->table = store_memory_table_new((size_t)max_inbox);
    sm->history = store_memory_table_new(SIZE_MAX);
    if (sm->table == NULL || sm->history == NULL) {
        store_memory_table_free(sm->table);
        store_memory_table_free(sm->history);
        free(sm);
        return SB_ENOMEM;
    }
    sb_store store = {
        SB_STORE_INIT,
        .put = store_memory_put,
        .remove = store_memory_remove,
        .page = store_memory_page,
        .ready = store_memory_ready,
        .history_put = store_memory_history_put,
        .history_page = store_memory_history_page,
    };
    int rc = host->register_store(pc, &store, sm);
    if (rc != SB_OK) {
        host->log(pc, SB_LOG_ERROR, "cannot fill the store slot (another store is on?): %d", rc);
        store_memory_fini(sm);
        return rc;
    }
    host->log(pc, SB_LOG_INFO, "in-memory inboxes, max_inbox = %ld; nothing survives a restart",
              max_inbox);
    if (outage != STORE_MEMORY_UP)
        host->log(pc, SB_LOG_WARN, "simulating an outage: every operation fails (unavailable)");
    *userdata = sm;
    return SB_OK;
}

SB_PLUGIN_EXPORT const sb_plugin sb_plugin_entry = {
    SB_PLUGIN_INIT,
    .name = "store_memory",
    .version = "0.1.0",
    .init = store_memory_init,
    .fini = store_memory_fini,
};

/* The deployment's view of who is online and who is in a room: this node's
 * registry merged with what the bus (a 1.1 bus with `users`) knows of the
 * other nodes. Always asynchronous, so a plugin writes one code path whether
 * a bus is loaded or not. */
#include "membership.h"

#include <stdlib.h>
#include <string.h>

#include "hooks.h"
#include "registry.h"
#include "runtime.h"

typedef struct users_query {
    sb_users_fn done;
    void *arg;
    char *room; /* NULL: the online users */
    int status;
} users_query;

static size_t count_strings(const cJSON *arr)
{
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) n += cJSON_IsString(e);
    return n;
}

cJSON *sb_membership_merge_new(const cJSON *a, const cJSON *b)
{
    size_t cap = count_strings(a) + count_strings(b);
    const char **names = malloc((cap ? cap : 1) * sizeof(*names));
    if (!names)
        return NULL;
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (cJSON_IsString(e)) names[n++] = e->valuestring;
    cJSON_ArrayForEach(e, b) if (cJSON_IsString(e)) names[n++] = e->valuestring;
    cJSON *out = sb_registry_names_json(names, n);
    free(names);
    return out;
}

static cJSON *local_view(const char *room)
{
    return room ? sb_registry_room_users_json(room) : sb_registry_users_json();
}

static void query_free(users_query *q)
{
    free(q->room);
    free(q);
}

/* Taken now rather than at the start: the local view is the freshest. */
static void query_finish(users_query *q, int status, const cJSON *remote)
{
    cJSON *local = local_view(q->room);
    cJSON *merged = remote && status == SB_OK ? sb_membership_merge_new(local, remote) : NULL;
    const cJSON *users = merged ? merged : local;
    if (!users)
        status = SB_EUNAVAILABLE;
    cJSON *empty = users ? NULL : cJSON_CreateArray();
    q->done(q->arg, status, users ? users : empty);
    cJSON_Delete(empty);
    cJSON_Delete(merged);
    cJSON_Delete(local);
    query_free(q);
}

static void query_from_bus(void *arg, int status, const cJSON *users)
{
    users_query *q = arg;
    query_finish(q, status == SB_OK ? SB_OK : SB_EUNAVAILABLE, users);
}

static void query_local(void *arg)
{
    users_query *q = arg;
    query_finish(q, q->status, NULL);
}

int sb_membership_users_query(const char *room, sb_users_fn done, void *arg)
{
    users_query *q = calloc(1, sizeof(*q));
    if (!q || (room && !(q->room = strdup(room)))) {
        free(q);
        return SB_ENOMEM;
    }
    q->done = done;
    q->arg = arg;
    int rc = sb_hooks_bus_users(room, query_from_bus, q);
    if (rc == SB_OK)
        return SB_OK;
    q->status = rc == SB_ENOTFOUND ? SB_OK : SB_EUNAVAILABLE;
    if (sb_server_later(query_local, q) != SB_OK) {
        query_free(q);
        return SB_ENOMEM;
    }
    return SB_OK;
}

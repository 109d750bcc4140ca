/* Registry bookkeeping. Every structure is keyed so that the hot paths are
 * lookups: a user's connections are a small array, a room's connections a
 * map by id (members come and go in any order), and a room's users a
 * map of counts so presence knows the first join and the last leave. */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "endpoint.h"
#include "hooks.h"
#include "log.h"
#include "names.h"
#include "pool.h"
#include "runtime.h"

static sb_dict *users; /* name -> sb_user */
static sb_dict *rooms; /* name -> sb_room */
static sb_conn *all_head;

int sb_registry_init(void)
{
    users = sb_dict_new(0);
    rooms = sb_dict_new(0);
    return users && rooms ? SB_OK : SB_ENOMEM;
}

static void user_free(void *p)
{
    sb_user *u = p;
    sb_mem_strfree(u->name);
    sb_mem_free(u->conns, u->cap * sizeof(*u->conns));
    sb_mem_free(u, sizeof(*u));
}

static void room_free(void *p)
{
    sb_room *r = p;
    free(r->name);
    sb_dict_free(r->conns, NULL);
    sb_dict_free(r->users, NULL);
    free(r);
}

void sb_registry_free(void)
{
    if (users)
        sb_dict_free(users, user_free);
    if (rooms)
        sb_dict_free(rooms, room_free);
    users = rooms = NULL;
    all_head = NULL;
}

/* Counts (connections per ip, per user in a room) live in dicts as the
 * value itself; a count that drops to 0 removes its key. Returns the count
 * before the change; *rc (may be NULL) gets the dict's answer. */
static long count_get(sb_dict *d, const char *key)
{
    return (long)(intptr_t)sb_dict_get(d, key);
}

static long count_add(sb_dict *d, const char *key, long delta, int *rc)
{
    long n = count_get(d, key);
    int r = SB_OK;
    if (n + delta <= 0)
        sb_dict_del(d, key);
    else
        r = sb_dict_set(d, key, (void *)(intptr_t)(n + delta), NULL);
    if (rc)
        *rc = r;
    return n;
}

void sb_registry_ws_open(sb_conn *c)
{
    sb_srv.n_ws++;
    if (sb_srv.per_ip)
        count_add(sb_srv.per_ip, c->ip, 1, NULL);
    c->counted_ip = 1;
}

long sb_registry_ip_count(const char *ip)
{
    return sb_srv.per_ip ? count_get(sb_srv.per_ip, ip) : 0;
}

sb_user *sb_registry_user(const char *name)
{
    return sb_dict_get(users, name);
}

sb_room *sb_registry_room(const char *name)
{
    return sb_dict_get(rooms, name);
}

sb_conn *sb_registry_all(void)
{
    return all_head;
}

size_t sb_registry_n_users(void)
{
    return sb_dict_count(users);
}

size_t sb_registry_n_rooms(void)
{
    return sb_dict_count(rooms);
}

int sb_registry_set_user(sb_conn *c, const char *name)
{
    if (c->user)
        return strcmp(c->user, name) == 0 ? SB_OK : SB_EINVAL;
    sb_user *u = sb_dict_get(users, name);
    int first = !u;
    if (!u) {
        u = sb_mem_alloc(sizeof(*u));
        if (!u || !(u->name = sb_mem_strdup(name)) || sb_dict_set(users, name, u, NULL) != SB_OK) {
            if (u)
                sb_mem_strfree(u->name);
            sb_mem_free(u, sizeof(*u));
            return SB_ENOMEM;
        }
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 2;
        sb_conn **a = sb_mem_realloc(u->conns, u->cap * sizeof(*a), cap * sizeof(*a));
        if (!a)
            goto nomem;
        u->conns = a;
        u->cap = cap;
    }
    if (!(c->user = sb_mem_strdup(name)))
        goto nomem;
    u->conns[u->n++] = c;
    c->u = u;
    c->all_next = all_head;
    if (all_head)
        all_head->all_prev = c;
    all_head = c;

    if (first)
        sb_hooks_bus_membership(SB_MEMBER_ONLINE, name, NULL);
    /* An endpoint that replaces sessions closes the user's older connections
     * on it (this node); the ones on other endpoints stay. */
    if (c->ep && (c->ep->ep.flags & SB_ENDPOINT_REPLACE))
        sb_registry_close_user(name, 4001, "replaced by a newer session", 0, c->id, c->ep);
    if (sb_srv.cfg->sessions == SB_SESSIONS_REPLACE) {
        sb_registry_close_user(name, 4001, "replaced by a newer session", 0, c->id, NULL);
        /* The other nodes close theirs too (connections opened before this one). */
        sb_registry_close_elsewhere(name, 4001, "replaced by a newer session", c->since_ms);
    }
    sb_log(SB_LOG_DEBUG, "conn %llu: authenticated as %s", (unsigned long long)c->id, name);
    sb_hooks_on_open(c->id, name);
    if (!c->dead && !c->closing)
        sb_backlog_start(c);
    return SB_OK;
nomem:
    if (first) { /* leave no user without connections behind */
        sb_dict_del(users, name);
        user_free(u);
    }
    return SB_ENOMEM;
}

static void room_remove_conn(sb_room *r, sb_conn *c, int *user_still_in)
{
    sb_dict_udel(r->conns, c->id);
    long n = count_add(r->users, c->user, -1, NULL);
    if (user_still_in)
        *user_still_in = n > 1;
    if (n <= 1)
        sb_hooks_bus_membership(SB_MEMBER_LEAVE, c->user, r->name);
    if (sb_dict_count(r->conns) == 0) {
        sb_dict_del(rooms, r->name);
        room_free(r);
    }
}

void sb_registry_detach(sb_conn *c)
{
    if (c->detached)
        return;
    c->detached = 1;
    if (c->phase == SB_PHASE_WS && c->counted_ip) {
        sb_srv.n_ws--;
        c->counted_ip = 0;
        if (sb_srv.per_ip)
            count_add(sb_srv.per_ip, c->ip, -1, NULL);
    }
    if (!c->user)
        return;
    c->busy++;
    sb_hooks_on_close(c->id, c->user);
    c->busy--;
    for (size_t i = 0; i < c->n_rooms; i++)
        room_remove_conn(c->rooms[i], c, NULL);
    c->n_rooms = 0;
    sb_user *u = c->u;
    for (size_t i = 0; i < u->n; i++) {
        if (u->conns[i] == c) {
            u->conns[i] = u->conns[--u->n];
            break;
        }
    }
    if (u->n == 0) {
        sb_hooks_bus_membership(SB_MEMBER_OFFLINE, u->name, NULL);
        sb_dict_del(users, u->name);
        user_free(u);
    }
    c->u = NULL;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        all_head = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    c->all_prev = c->all_next = NULL;
}

int sb_registry_room_join(sb_conn *c, const char *name, int *user_was_in)
{
    if (!c->user)
        return SB_EINVAL;
    sb_room *r = sb_dict_get(rooms, name);
    if (r && sb_dict_uget(r->conns, c->id)) {
        *user_was_in = 1;
        return SB_OK;
    }
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r || !(r->name = strdup(name)) || !(r->conns = sb_dict_new(1)) ||
            !(r->users = sb_dict_new(0)) || sb_dict_set(rooms, name, r, NULL) != SB_OK) {
            if (r) {
                free(r->name);
                if (r->conns)
                    sb_dict_free(r->conns, NULL);
                if (r->users)
                    sb_dict_free(r->users, NULL);
            }
            free(r);
            return SB_ENOMEM;
        }
    }
    int rc = SB_ENOMEM;
    if (c->n_rooms == c->cap_rooms) {
        size_t cap = c->cap_rooms ? c->cap_rooms * 2 : 4;
        sb_room **a = realloc(c->rooms, cap * sizeof(*a));
        if (!a)
            goto nomem;
        c->rooms = a;
        c->cap_rooms = cap;
    }
    rc = sb_dict_uset(r->conns, c->id, c, NULL);
    long n = rc == SB_OK ? count_add(r->users, c->user, 1, &rc) : 0;
    if (rc != SB_OK) {
        sb_dict_udel(r->conns, c->id);
        goto nomem;
    }
    c->rooms[c->n_rooms++] = r;
    *user_was_in = n > 0;
    if (n == 0)
        sb_hooks_bus_membership(SB_MEMBER_JOIN, c->user, r->name);
    return SB_OK;
nomem:
    if (sb_dict_count(r->conns) == 0) { /* leave no room without members behind */
        sb_dict_del(rooms, r->name);
        room_free(r);
    }
    return SB_ENOMEM;
}

int sb_registry_room_leave(sb_conn *c, const char *name, int *user_still_in)
{
    sb_room *r = sb_dict_get(rooms, name);
    if (!r || !sb_dict_uget(r->conns, c->id))
        return SB_ENOTFOUND;
    for (size_t i = 0; i < c->n_rooms; i++) {
        if (c->rooms[i] == r) {
            c->rooms[i] = c->rooms[--c->n_rooms];
            break;
        }
    }
    room_remove_conn(r, c, user_still_in);
    return SB_OK;
}

cJSON *sb_registry_names_json(const char **names, size_t n)
{
    qsort(names, n, sizeof(*names), sb_names_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        cJSON *s = cJSON_CreateString(names[i]);
        if (!s) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, s);
    }
    return arr;
}

static cJSON *dict_keys_json(sb_dict *d)
{
    size_t n = d ? sb_dict_count(d) : 0;
    const char **names = malloc((n ? n : 1) * sizeof(*names));
    if (!names)
        return NULL;
    size_t i = 0;
    if (d) {
        sb_dict_iter it;
        for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);)
            names[i++] = it.key;
    }
    cJSON *arr = sb_registry_names_json(names, i);
    free(names);
    return arr;
}

cJSON *sb_registry_users_json(void)
{
    return dict_keys_json(users);
}

cJSON *sb_registry_rooms_json(void)
{
    return dict_keys_json(rooms);
}

cJSON *sb_registry_room_users_json(const char *room)
{
    sb_room *r = sb_dict_get(rooms, room);
    return dict_keys_json(r ? r->users : NULL);
}

cJSON *sb_registry_conn_rooms_json(const sb_conn *c)
{
    const char **names = malloc((c->n_rooms ? c->n_rooms : 1) * sizeof(*names));
    if (!names)
        return NULL;
    for (size_t i = 0; i < c->n_rooms; i++)
        names[i] = c->rooms[i]->name;
    cJSON *arr = sb_registry_names_json(names, c->n_rooms);
    free(names);
    return arr;
}

size_t sb_registry_close_user(const char *name, int code, const char *reason, int64_t before_ms,
                              uint64_t skip_conn, const sb_endpoint_entry *only_ep)
{
    sb_user *u = sb_dict_get(users, name);
    if (!u)
        return 0;
    /* Closing detaches on the next tick; the ids are read first all the same. */
    size_t n = u->n, closed = 0;
    uint64_t *ids = malloc(n * sizeof(*ids));
    if (!ids)
        return 0;
    for (size_t i = 0; i < n; i++)
        ids[i] = u->conns[i]->id;
    for (size_t i = 0; i < n; i++) {
        sb_conn *c = sb_conn_find(ids[i]);
        if (c && c->id != skip_conn && !c->closing && !c->dead && (!only_ep || c->ep == only_ep) &&
            (before_ms <= 0 || c->since_ms < before_ms)) {
            sb_conn_close(c, code, reason);
            closed++;
        }
    }
    free(ids);
    return closed;
}

void sb_registry_close_elsewhere(const char *name, int code, const char *reason, int64_t before_ms)
{
    if (!sb_hooks_bus_has_membership())
        return;
    cJSON *env = cJSON_CreateObject();
    char *text = NULL;
    if (env && cJSON_AddNumberToObject(env, "code", code) &&
        cJSON_AddStringToObject(env, "reason", reason ? reason : "") &&
        cJSON_AddNumberToObject(env, "before", (double)before_ms))
        text = cJSON_PrintUnformatted(env);
    cJSON_Delete(env);
    if (!text) {
        sb_log(SB_LOG_WARN, "%s: could not ask the other nodes to close its connections", name);
        return;
    }
    sb_hooks_bus_publish(SB_ROUTE_CLOSE, &name, 1, text, strlen(text), 0);
    cJSON_free(text);
}

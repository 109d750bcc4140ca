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
    users = sb_dict_new(SB_DICT_BORROW); /* keys: each user's own name */
    rooms = sb_dict_new(SB_DICT_STR);
    return users && rooms ? SB_OK : SB_ENOMEM;
}

static size_t user_size(size_t name_len)
{
    return offsetof(sb_user, name) + name_len + 1;
}

static void user_free(void *p)
{
    sb_user *u = p;
    if (u->cap > 1)
        sb_mem_free(u->c.many, u->cap * sizeof(*u->c.many));
    sb_mem_free(u, user_size(strlen(u->name)));
}

/* Room for one more connection in u. -> SB_OK | SB_ENOMEM */
static int user_reserve(sb_user *u)
{
    if (u->n < u->cap || u->cap == 0) {
        u->cap = u->cap ? u->cap : 1;
        return SB_OK;
    }
    size_t cap = u->cap * 2;
    sb_conn **a = u->cap > 1 ? sb_mem_realloc(u->c.many, u->cap * sizeof(*a), cap * sizeof(*a))
                             : sb_mem_alloc(cap * sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    if (u->cap == 1)
        a[0] = u->c.one;
    u->c.many = a;
    u->cap = (uint32_t)cap;
    return SB_OK;
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
    char ip[INET6_ADDRSTRLEN];
    if (sb_srv.per_ip)
        count_add(sb_srv.per_ip, sb_conn_ip(c, ip), 1, NULL);
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
        size_t len = strlen(name);
        u = sb_mem_alloc(user_size(len));
        if (!u)
            return SB_ENOMEM;
        memcpy(u->name, name, len + 1);
        if (sb_dict_set(users, u->name, u, NULL) != SB_OK) {
            sb_mem_free(u, user_size(len));
            return SB_ENOMEM;
        }
    }
    if (user_reserve(u) != SB_OK)
        goto nomem;
    if (!(c->user = sb_mem_strdup(name)))
        goto nomem;
    sb_user_conns(u)[u->n++] = c;
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
        char ip[INET6_ADDRSTRLEN];
        if (sb_srv.per_ip)
            count_add(sb_srv.per_ip, sb_conn_ip(c, ip), -1, NULL);
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
    sb_conn **conns = sb_user_conns(u);
    for (size_t i = 0; i < u->n; i++) {
        if (conns[i] == c) {
            conns[i] = conns[--u->n];
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

/* The capacity of a connection's rooms array holding n (0 while it has never
 * held one is fine: the array is made on the first join). */
static uint32_t rooms_cap(uint32_t n)
{
    uint32_t cap = 4;
    while (cap < n)
        cap *= 2;
    return n ? cap : 0;
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
        if (!r || !(r->name = strdup(name)) || !(r->conns = sb_dict_new(SB_DICT_U64)) ||
            !(r->users = sb_dict_new(SB_DICT_STR)) || sb_dict_set(rooms, name, r, NULL) != SB_OK) {
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
    /* The array's capacity is not kept: 4, then powers of two (rooms_cap). */
    if (c->n_rooms == rooms_cap(c->n_rooms)) {
        sb_room **a = realloc(c->rooms, rooms_cap(c->n_rooms + 1) * sizeof(*a));
        if (!a)
            goto nomem;
        c->rooms = a;
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
        ids[i] = sb_user_conns(u)[i]->id;
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

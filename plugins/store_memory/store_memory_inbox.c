/* Users and their inboxes for the memory store. A chained hash table maps a
 * user to an inbox: an array of message pointers sorted by id (strcmp), so a
 * put is a binary search plus a move (ids from id_new arrive in order, so the
 * move is usually empty), a page is a binary search, and a removal compacts
 * the array once however many ids it names. An inbox that empties is freed, so
 * memory follows what is stored, not who ever received something. */
#include "store_memory_inbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#define STORE_MEMORY_MIN_BUCKETS 64

typedef struct store_memory_inbox {
    struct store_memory_inbox *next; /* hash chain */
    uint64_t hash;
    store_memory_msg **msgs; /* sorted by id */
    size_t n, cap;
    char user[];
} store_memory_inbox;

struct store_memory_table {
    store_memory_inbox **buckets;
    size_t n_buckets; /* a power of two */
    size_t n_users;
    size_t max_inbox;
};

/* FNV-1a, 64 bits. */
static uint64_t store_memory_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void store_memory_msg_unref(store_memory_msg *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

static store_memory_msg *store_memory_msg_new(const char *id, const char *json, size_t len)
{
    size_t id_len = strlen(id);
    store_memory_msg *m = malloc(sizeof(*m) + len + 1 + id_len + 1);
    if (m == NULL)
        return NULL;
    m->refs = 0;
    m->len = len;
    memcpy(m->json, json, len);
    m->json[len] = '\0';
    char *idp = m->json + len + 1;
    memcpy(idp, id, id_len + 1);
    m->id = idp;
    return m;
}

store_memory_table *store_memory_table_new(size_t max_inbox)
{
    store_memory_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->buckets = calloc(STORE_MEMORY_MIN_BUCKETS, sizeof(*t->buckets));
    if (t->buckets == NULL) {
        free(t);
        return NULL;
    }
    t->n_buckets = STORE_MEMORY_MIN_BUCKETS;
    t->max_inbox = max_inbox;
    return t;
}

static void store_memory_inbox_free(store_memory_inbox *ib)
{
    for (size_t i = 0; i < ib->n; i++)
        store_memory_msg_unref(ib->msgs[i]);
    free(ib->msgs);
    free(ib);
}

void store_memory_table_free(store_memory_table *t)
{
    if (t == NULL)
        return;
    for (size_t b = 0; b < t->n_buckets; b++) {
        store_memory_inbox *ib = t->buckets[b];
        while (ib != NULL) {
            store_memory_inbox *next = ib->next;
            store_memory_inbox_free(ib);
            ib = next;
        }
    }
    free(t->buckets);
    free(t);
}

static store_memory_inbox *store_memory_find(const store_memory_table *t, const char *user)
{
    uint64_t h = store_memory_hash(user);
    for (store_memory_inbox *ib = t->buckets[h & (t->n_buckets - 1)]; ib != NULL; ib = ib->next)
        if (ib->hash == h && strcmp(ib->user, user) == 0)
            return ib;
    return NULL;
}

/* Double the buckets when users outnumber them; a failed grow only costs speed. */
static void store_memory_grow(store_memory_table *t)
{
    size_t nb = t->n_buckets * 2;
    store_memory_inbox **buckets = calloc(nb, sizeof(*buckets));
    if (buckets == NULL)
        return;
    for (size_t b = 0; b < t->n_buckets; b++) {
        store_memory_inbox *ib = t->buckets[b];
        while (ib != NULL) {
            store_memory_inbox *next = ib->next;
            ib->next = buckets[ib->hash & (nb - 1)];
            buckets[ib->hash & (nb - 1)] = ib;
            ib = next;
        }
    }
    free(t->buckets);
    t->buckets = buckets;
    t->n_buckets = nb;
}

static store_memory_inbox *store_memory_find_or_add(store_memory_table *t, const char *user)
{
    store_memory_inbox *ib = store_memory_find(t, user);
    if (ib != NULL)
        return ib;
    size_t len = strlen(user);
    ib = calloc(1, sizeof(*ib) + len + 1);
    if (ib == NULL)
        return NULL;
    memcpy(ib->user, user, len + 1);
    ib->hash = store_memory_hash(user);
    if (t->n_users >= t->n_buckets)
        store_memory_grow(t);
    size_t b = ib->hash & (t->n_buckets - 1);
    ib->next = t->buckets[b];
    t->buckets[b] = ib;
    t->n_users++;
    return ib;
}

/* Unlink and free ib when it holds nothing. */
static void store_memory_drop_if_empty(store_memory_table *t, store_memory_inbox *ib)
{
    if (ib->n != 0)
        return;
    store_memory_inbox **pp = &t->buckets[ib->hash & (t->n_buckets - 1)];
    while (*pp != ib)
        pp = &(*pp)->next;
    *pp = ib->next;
    t->n_users--;
    store_memory_inbox_free(ib);
}

/* The first position whose id is >= id (lower) or > id (upper). */
static size_t store_memory_bound(const store_memory_inbox *ib, const char *id, int upper)
{
    size_t lo = 0, hi = ib->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ib->msgs[mid]->id, id);
        if (c < 0 || (upper && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int store_memory_has(const store_memory_inbox *ib, const char *id)
{
    size_t i = store_memory_bound(ib, id, 0);
    return i < ib->n && strcmp(ib->msgs[i]->id, id) == 0;
}

static int store_memory_reserve(store_memory_inbox *ib, size_t need)
{
    if (need <= ib->cap)
        return SB_OK;
    size_t cap = ib->cap ? ib->cap * 2 : 8;
    while (cap < need)
        cap *= 2;
    store_memory_msg **msgs = realloc(ib->msgs, cap * sizeof(*msgs));
    if (msgs == NULL)
        return SB_ENOMEM;
    ib->msgs = msgs;
    ib->cap = cap;
    return SB_OK;
}

int store_memory_table_put(store_memory_table *t, const char *const *users, size_t n_users,
                           const char *id, const char *json, size_t len)
{
    store_memory_msg *m = store_memory_msg_new(id, json, len);
    if (m == NULL)
        return SB_ENOMEM;
    /* First pass: every inbox exists, has room, and can grow; nothing is
     * stored yet, so a refusal leaves every inbox as it was. */
    int rc = SB_OK;
    size_t i;
    for (i = 0; i < n_users; i++) {
        store_memory_inbox *ib = store_memory_find_or_add(t, users[i]);
        if (ib == NULL) {
            rc = SB_ENOMEM;
            break;
        }
        if (store_memory_has(ib, id))
            continue;
        if (ib->n >= t->max_inbox)
            rc = SB_EINBOX_FULL;
        else
            rc = store_memory_reserve(ib, ib->n + 1);
        if (rc != SB_OK)
            break;
    }
    if (rc != SB_OK) {
        /* Undo the inboxes this put created. */
        for (size_t j = 0; j <= i && j < n_users; j++) {
            store_memory_inbox *ib = store_memory_find(t, users[j]);
            if (ib != NULL)
                store_memory_drop_if_empty(t, ib);
        }
        free(m);
        return rc;
    }
    for (i = 0; i < n_users; i++) {
        store_memory_inbox *ib = store_memory_find(t, users[i]);
        size_t pos = store_memory_bound(ib, id, 0);
        if (pos < ib->n && strcmp(ib->msgs[pos]->id, id) == 0)
            continue; /* already held, or a repeated name in users */
        memmove(ib->msgs + pos + 1, ib->msgs + pos, (ib->n - pos) * sizeof(*ib->msgs));
        ib->msgs[pos] = m;
        ib->n++;
        m->refs++;
    }
    if (m->refs == 0)
        free(m);
    return SB_OK;
}

static int store_memory_size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int store_memory_table_remove(store_memory_table *t, const char *user, const char *const *ids,
                              size_t n_ids, store_memory_msg ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    store_memory_inbox *ib = store_memory_find(t, user);
    if (ib == NULL || n_ids == 0)
        return SB_OK;
    size_t *pos = malloc(n_ids * sizeof(*pos));
    if (pos == NULL)
        return SB_ENOMEM;
    size_t n_pos = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t p = store_memory_bound(ib, ids[i], 0);
        if (p < ib->n && strcmp(ib->msgs[p]->id, ids[i]) == 0)
            pos[n_pos++] = p;
    }
    qsort(pos, n_pos, sizeof(*pos), store_memory_size_cmp);
    size_t n_unique = 0;
    for (size_t i = 0; i < n_pos; i++)
        if (n_unique == 0 || pos[n_unique - 1] != pos[i])
            pos[n_unique++] = pos[i];
    if (n_unique == 0) {
        free(pos);
        return SB_OK;
    }
    store_memory_msg **removed = malloc(n_unique * sizeof(*removed));
    if (removed == NULL) {
        free(pos);
        return SB_ENOMEM;
    }
    /* One compaction pass; the inbox's reference moves to the caller. */
    size_t w = pos[0], k = 0;
    for (size_t r = pos[0]; r < ib->n; r++) {
        if (k < n_unique && pos[k] == r)
            removed[k++] = ib->msgs[r];
        else
            ib->msgs[w++] = ib->msgs[r];
    }
    ib->n = w;
    free(pos);
    store_memory_drop_if_empty(t, ib);
    *out = removed;
    *n_out = n_unique;
    return SB_OK;
}

int store_memory_table_page(store_memory_table *t, const char *user, const char *after,
                            size_t limit, store_memory_msg ***out, size_t *n_out, int *more)
{
    *out = NULL;
    *n_out = 0;
    *more = 0;
    store_memory_inbox *ib = store_memory_find(t, user);
    if (ib == NULL)
        return SB_OK;
    size_t start = after != NULL ? store_memory_bound(ib, after, 1) : 0;
    size_t n = ib->n - start;
    if (n > limit)
        n = limit;
    if (n > 0) {
        store_memory_msg **msgs = malloc(n * sizeof(*msgs));
        if (msgs == NULL)
            return SB_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            msgs[i] = ib->msgs[start + i];
            msgs[i]->refs++;
        }
        *out = msgs;
    }
    *n_out = n;
    *more = start + n < ib->n;
    return SB_OK;
}

void store_memory_table_trim(store_memory_table *t, const char *user, size_t keep,
                             const char *expire_before)
{
    store_memory_inbox *ib = store_memory_find(t, user);
    if (ib == NULL)
        return;
    size_t drop = ib->n > keep ? ib->n - keep : 0;
    if (expire_before != NULL) {
        size_t expired = store_memory_bound(ib, expire_before, 0);
        if (expired > drop)
            drop = expired;
    }
    if (drop == 0)
        return;
    for (size_t i = 0; i < drop; i++)
        store_memory_msg_unref(ib->msgs[i]);
    memmove(ib->msgs, ib->msgs + drop, (ib->n - drop) * sizeof(*ib->msgs));
    ib->n -= drop;
    store_memory_drop_if_empty(t, ib);
}

int store_memory_table_page_before(store_memory_table *t, const char *user, const char *before,
                                   size_t limit, store_memory_msg ***out, size_t *n_out, int *more)
{
    *out = NULL;
    *n_out = 0;
    *more = 0;
    store_memory_inbox *ib = store_memory_find(t, user);
    if (ib == NULL)
        return SB_OK;
    size_t end = before != NULL ? store_memory_bound(ib, before, 0) : ib->n;
    size_t n = end < limit ? end : limit;
    if (n > 0) {
        store_memory_msg **msgs = malloc(n * sizeof(*msgs));
        if (msgs == NULL)
            return SB_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            msgs[i] = ib->msgs[end - n + i];
            msgs[i]->refs++;
        }
        *out = msgs;
    }
    *n_out = n;
    *more = end > n;
    return SB_OK;
}

int store_memory_table_has(const store_memory_table *t, const char *user, const char *id)
{
    const store_memory_inbox *ib = store_memory_find(t, user);
    return ib != NULL && store_memory_has(ib, id);
}

size_t store_memory_table_count(const store_memory_table *t, const char *user)
{
    const store_memory_inbox *ib = store_memory_find(t, user);
    return ib != NULL ? ib->n : 0;
}

size_t store_memory_table_users(const store_memory_table *t)
{
    return t->n_users;
}

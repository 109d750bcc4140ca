/* Hash maps for the registry's hot path (one lookup per delivered message):
 * open addressing with linear probing and tombstones, power-of-two capacity,
 * 32 bits of the hash kept per slot so most probes never touch the key. A
 * slot is 24 bytes: the tables hold an entry per connection and per user,
 * so their size is part of an idle connection's. String keys are copied and
 * owned here unless the map borrows them (SB_DICT_BORROW); values belong to
 * the caller. */
#include "dict.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "switchboard/plugin.h"

enum { SLOT_EMPTY = 0, SLOT_FULL = 1, SLOT_TOMB = 2 };

typedef struct slot {
    union {
        char *key;
        uint64_t ukey;
    } k;
    void *val;
    uint32_t hash; /* the low 32 bits: the probe start and the first test */
    uint32_t state;
} slot;

struct sb_dict {
    slot *slots;
    size_t cap;   /* 0 or a power of two, at most 2^32 */
    size_t count; /* FULL slots */
    size_t tombs; /* TOMB slots */
    int u64;
    int borrow; /* string keys are the caller's, not copied */
};

/* splitmix64's finalizer: a full avalanche, so linear probing on the low bits
 * stays short even for sequential connection ids. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* FNV-1a over the bytes, then the finalizer (FNV alone leaves weak low bits). */
static uint32_t hash_str(const char *s, size_t *len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }
    *len = (size_t)(p - (const unsigned char *)s);
    return (uint32_t)mix64(h);
}

sb_dict *sb_dict_new(int kind)
{
    sb_dict *d = calloc(1, sizeof(*d));
    if (d) {
        d->u64 = kind == SB_DICT_U64;
        d->borrow = kind == SB_DICT_BORROW;
    }
    return d;
}

void sb_dict_free(sb_dict *d, void (*free_val)(void *))
{
    if (!d)
        return;
    for (size_t i = 0; i < d->cap; i++) {
        slot *s = &d->slots[i];
        if (s->state != SLOT_FULL)
            continue;
        if (!d->u64 && !d->borrow)
            sb_mem_strfree(s->k.key);
        if (free_val)
            free_val(s->val);
    }
    free(d->slots);
    free(d);
}

size_t sb_dict_count(const sb_dict *d)
{
    return d ? d->count : 0;
}

/* The slot holding the key, or NULL. */
static slot *find_str(const sb_dict *d, const char *key, uint32_t h)
{
    if (d->cap == 0)
        return NULL;
    size_t mask = d->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &d->slots[i];
        if (s->state == SLOT_EMPTY)
            return NULL;
        if (s->state == SLOT_FULL && s->hash == h && strcmp(s->k.key, key) == 0)
            return s;
    }
}

static slot *find_u64(const sb_dict *d, uint64_t key, uint32_t h)
{
    if (d->cap == 0)
        return NULL;
    size_t mask = d->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &d->slots[i];
        if (s->state == SLOT_EMPTY)
            return NULL;
        if (s->state == SLOT_FULL && s->k.ukey == key)
            return s;
    }
}

/* Rebuild into newcap slots, dropping tombstones. -> SB_OK | SB_ENOMEM */
static int rehash(sb_dict *d, size_t newcap)
{
    slot *ns = calloc(newcap, sizeof(*ns));
    if (!ns)
        return SB_ENOMEM;
    size_t mask = newcap - 1;
    for (size_t i = 0; i < d->cap; i++) {
        slot *s = &d->slots[i];
        if (s->state != SLOT_FULL)
            continue;
        size_t j = s->hash & mask;
        while (ns[j].state == SLOT_FULL)
            j = (j + 1) & mask;
        ns[j] = *s;
    }
    free(d->slots);
    d->slots = ns;
    d->cap = newcap;
    d->tombs = 0;
    return SB_OK;
}

/* Make room for one more key: keep FULL + TOMB at most 3/4 of the slots, and
 * size the table so the live keys fill at most half of it after a rebuild. */
static int reserve_one(sb_dict *d)
{
    if (d->cap != 0 && (d->count + d->tombs + 1) * 4 <= d->cap * 3)
        return SB_OK;
    size_t newcap = 8;
    while (newcap < (d->count + 1) * 2)
        newcap *= 2;
    return rehash(d, newcap);
}

/* The first free slot (EMPTY or TOMB) on h's probe path; the key is known absent. */
static slot *free_slot(sb_dict *d, uint32_t h)
{
    size_t mask = d->cap - 1;
    size_t i = h & mask;
    while (d->slots[i].state == SLOT_FULL)
        i = (i + 1) & mask;
    if (d->slots[i].state == SLOT_TOMB)
        d->tombs--;
    return &d->slots[i];
}

static void *remove_slot(sb_dict *d, slot *s)
{
    void *val = s->val;
    if (!d->u64 && !d->borrow)
        sb_mem_strfree(s->k.key);
    s->k.key = NULL;
    s->val = NULL;
    s->state = SLOT_TOMB;
    d->count--;
    d->tombs++;
    /* The last key went: clear the tombstones. No FULL slot is left to move,
     * so an iteration in progress simply ends. */
    if (d->count == 0) {
        memset(d->slots, 0, d->cap * sizeof(*d->slots));
        d->tombs = 0;
    }
    return val;
}

void *sb_dict_get(const sb_dict *d, const char *key)
{
    if (!d || d->u64 || !key)
        return NULL;
    size_t len;
    slot *s = find_str(d, key, hash_str(key, &len));
    return s ? s->val : NULL;
}

int sb_dict_set(sb_dict *d, const char *key, void *val, void **old)
{
    if (old)
        *old = NULL;
    if (!d || d->u64 || !key)
        return SB_EINVAL;
    size_t len;
    uint32_t h = hash_str(key, &len);
    slot *s = find_str(d, key, h);
    if (s) {
        if (old)
            *old = s->val;
        s->val = val;
        return SB_OK;
    }
    char *copy = (char *)key;
    if (!d->borrow) {
        copy = sb_mem_alloc(len + 1); /* a key lives as long as its entry */
        if (!copy)
            return SB_ENOMEM;
        memcpy(copy, key, len + 1);
    }
    if (reserve_one(d) != SB_OK) {
        if (!d->borrow)
            sb_mem_free(copy, len + 1);
        return SB_ENOMEM;
    }
    s = free_slot(d, h);
    s->hash = h;
    s->k.key = copy;
    s->val = val;
    s->state = SLOT_FULL;
    d->count++;
    return SB_OK;
}

void *sb_dict_del(sb_dict *d, const char *key)
{
    if (!d || d->u64 || !key)
        return NULL;
    size_t len;
    slot *s = find_str(d, key, hash_str(key, &len));
    return s ? remove_slot(d, s) : NULL;
}

void *sb_dict_uget(const sb_dict *d, uint64_t key)
{
    if (!d || !d->u64)
        return NULL;
    slot *s = find_u64(d, key, (uint32_t)mix64(key));
    return s ? s->val : NULL;
}

int sb_dict_uset(sb_dict *d, uint64_t key, void *val, void **old)
{
    if (old)
        *old = NULL;
    if (!d || !d->u64)
        return SB_EINVAL;
    uint32_t h = (uint32_t)mix64(key);
    slot *s = find_u64(d, key, h);
    if (s) {
        if (old)
            *old = s->val;
        s->val = val;
        return SB_OK;
    }
    if (reserve_one(d) != SB_OK)
        return SB_ENOMEM;
    s = free_slot(d, h);
    s->hash = h;
    s->k.ukey = key;
    s->val = val;
    s->state = SLOT_FULL;
    d->count++;
    return SB_OK;
}

void *sb_dict_udel(sb_dict *d, uint64_t key)
{
    if (!d || !d->u64)
        return NULL;
    slot *s = find_u64(d, key, (uint32_t)mix64(key));
    return s ? remove_slot(d, s) : NULL;
}

void sb_dict_iter_init(sb_dict_iter *it, sb_dict *d)
{
    memset(it, 0, sizeof(*it));
    it->d = d;
}

int sb_dict_iter_next(sb_dict_iter *it)
{
    sb_dict *d = it->d;
    it->entry = NULL;
    it->key = NULL;
    it->ukey = 0;
    it->val = NULL;
    if (!d)
        return 0;
    /* Deletes never move slots (and never resize), so pos stays meaningful
     * across sb_dict_iter_del. */
    while (it->pos < d->cap) {
        slot *s = &d->slots[it->pos++];
        if (s->state != SLOT_FULL)
            continue;
        it->entry = s;
        if (d->u64)
            it->ukey = s->k.ukey;
        else
            it->key = s->k.key;
        it->val = s->val;
        return 1;
    }
    return 0;
}

void sb_dict_iter_del(sb_dict_iter *it)
{
    slot *s = it->entry;
    if (!s || s->state != SLOT_FULL)
        return;
    remove_slot(it->d, s);
    it->entry = NULL;
    it->key = NULL;
}

/* Hash maps for the registry: string keys (copied) and uint64 keys, void *
 * values the caller owns. Open addressing or chaining, resized by doubling;
 * iteration order unspecified. Deleting during iteration is allowed only for
 * the entry the iterator is on (sb_dict_iter_del). */
#ifndef SB_DICT_H
#define SB_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_dict sb_dict;

typedef struct sb_dict_iter {
    sb_dict *d;
    size_t pos;      /* private */
    void *entry;     /* private */
    const char *key; /* ro: string maps */
    uint64_t ukey;   /* ro: uint64 maps */
    void *val;       /* ro */
} sb_dict_iter;

/* A new empty map; NULL on ENOMEM. u64: keys are uint64_t, else strings. */
sb_dict *sb_dict_new(int u64);
/* Free the map; free_val (may be NULL) is called on each value. */
void sb_dict_free(sb_dict *d, void (*free_val)(void *));
size_t sb_dict_count(const sb_dict *d);

/* String keys. */
void *sb_dict_get(const sb_dict *d, const char *key);
/* Insert or replace (the old value is returned through *old, may be NULL).
 * -> SB_OK | SB_ENOMEM */
int sb_dict_set(sb_dict *d, const char *key, void *val, void **old);
/* Remove key; returns its value or NULL. */
void *sb_dict_del(sb_dict *d, const char *key);

/* uint64 keys. */
void *sb_dict_uget(const sb_dict *d, uint64_t key);
int sb_dict_uset(sb_dict *d, uint64_t key, void *val, void **old);
void *sb_dict_udel(sb_dict *d, uint64_t key);

/* for (sb_dict_iter_init(&it, d); sb_dict_iter_next(&it);) use it.key/ukey/val */
void sb_dict_iter_init(sb_dict_iter *it, sb_dict *d);
int sb_dict_iter_next(sb_dict_iter *it);
/* Remove the entry the iterator is on; iteration may go on. */
void sb_dict_iter_del(sb_dict_iter *it);

#endif

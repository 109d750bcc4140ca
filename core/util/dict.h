/* Hash maps for the registry: string keys (copied, or borrowed) and uint64
 * keys, void * values the caller owns. Open addressing or chaining, resized by doubling;
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

/* What a map's keys are. */
enum sb_dict_kind {
    SB_DICT_STR = 0,    /* strings, copied: the map owns its keys */
    SB_DICT_U64 = 1,    /* uint64_t */
    SB_DICT_BORROW = 2, /* strings, not copied: each key is the caller's (a value's
                         * own name, say) and must stay unchanged while its entry is in */
};

/* A new empty map of kind (enum sb_dict_kind); NULL on ENOMEM. */
sb_dict *sb_dict_new(int kind);
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

/* Fixed-size object pools for what every connection keeps for its whole
 * life. Objects live in 64 KiB blocks mapped outside the malloc heap, packed
 * with no per-object header, so the heap keeps only short-lived memory (wslay
 * contexts, HTTP state, frames): when those are freed, whole pages of it
 * become free together and malloc_trim can give them back, instead of being
 * pinned by a long-lived object allocated between them. A block whose
 * objects are all freed is unmapped (one spare is kept). */
#ifndef SB_POOL_H
#define SB_POOL_H

#include <stddef.h>

typedef struct sb_pool_block sb_pool_block;

typedef struct sb_pool {
    size_t size;          /* ro: object size, rounded up to 16 */
    size_t per_block;     /* ro: objects per block */
    sb_pool_block *avail; /* private: blocks with a free object */
    sb_pool_block *spare; /* private: one empty block kept */
    size_t blocks;        /* ro: blocks mapped */
} sb_pool;

/* A pool of objects of size bytes (at most a few KiB); no memory yet. */
#define SB_POOL_INIT(sz)                                                                           \
    {                                                                                              \
        (((sz) + 15) & ~(size_t)15), 0, NULL, NULL, 0                                              \
    }

/* A zeroed object, or NULL on ENOMEM. */
void *sb_pool_alloc(sb_pool *p);
/* Return obj (from sb_pool_alloc of p; NULL: nothing). */
void sb_pool_free(sb_pool *p, void *obj);

/* Small long-lived allocations (names, registry entries) by size class: up
 * to SB_MEM_SMALL bytes from pools of 16-byte steps, larger from calloc.
 * The caller gives the size back when freeing. */
#define SB_MEM_SMALL 256
/* n zeroed bytes, or NULL on ENOMEM. */
void *sb_mem_alloc(size_t n);
/* Free p (NULL: nothing), allocated with size n. */
void sb_mem_free(void *p, size_t n);
/* p (of old bytes, may be NULL) resized to n, contents kept up to the
 * smaller; NULL on ENOMEM with p untouched. */
void *sb_mem_realloc(void *p, size_t old, size_t n);
/* A copy of s, or NULL on ENOMEM; freed with sb_mem_strfree. */
char *sb_mem_strdup(const char *s);
void sb_mem_strfree(char *s);

#endif

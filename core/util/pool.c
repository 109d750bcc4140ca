/* Fixed-size object pools: blocks of SB_POOL_BLOCK bytes mapped aligned to
 * their size, so an object finds its block by masking its address. A block
 * starts with its header, then objects carved in order; freed objects go on
 * the block's own free list. Blocks with room are on a doubly linked list.
 * Under AddressSanitizer every object is its own calloc, so use-after-free
 * is still caught. */
#include "pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SB_POOL_BLOCK ((size_t)64 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define POOL_PLAIN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_PLAIN_MALLOC 1
#endif
#endif

#ifndef POOL_PLAIN_MALLOC
struct sb_pool_block {
    sb_pool_block *prev, *next; /* on the avail list, or both NULL */
    void *free;                 /* freed objects, linked through their first word */
    size_t live;                /* objects handed out */
    size_t carved;              /* objects ever handed out from the fresh area */
    int listed;                 /* on the avail list */
};

#define BLOCK_HEAD ((sizeof(sb_pool_block) + 15) & ~(size_t)15)

static sb_pool_block *block_of(void *obj)
{
    return (sb_pool_block *)((uintptr_t)obj & ~(uintptr_t)(SB_POOL_BLOCK - 1));
}

/* A block aligned to its size: map twice the size, unmap the slack. */
static sb_pool_block *block_map(void)
{
    size_t len = 2 * SB_POOL_BLOCK;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + SB_POOL_BLOCK - 1) & ~(uintptr_t)(SB_POOL_BLOCK - 1);
    size_t head = a - (uintptr_t)m;
    if (head)
        munmap(m, head);
    if (len - head > SB_POOL_BLOCK)
        munmap((char *)a + SB_POOL_BLOCK, len - head - SB_POOL_BLOCK);
    return (sb_pool_block *)a; /* zero-filled by the kernel */
}

static void list_add(sb_pool *p, sb_pool_block *b)
{
    b->prev = NULL;
    b->next = p->avail;
    if (p->avail)
        p->avail->prev = b;
    p->avail = b;
    b->listed = 1;
}

static void list_del(sb_pool *p, sb_pool_block *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        p->avail = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
    b->listed = 0;
}
#endif

void *sb_pool_alloc(sb_pool *p)
{
#ifdef POOL_PLAIN_MALLOC
    return calloc(1, p->size);
#else
    if (!p->per_block)
        p->per_block = (SB_POOL_BLOCK - BLOCK_HEAD) / p->size;
    sb_pool_block *b = p->avail;
    if (!b) {
        if (p->spare) {
            b = p->spare;
            p->spare = NULL;
        } else {
            b = block_map();
            if (!b)
                return NULL;
            p->blocks++;
        }
        list_add(p, b);
    }
    void *obj;
    if (b->free) {
        obj = b->free;
        memcpy(&b->free, obj, sizeof(void *));
    } else {
        obj = (char *)b + BLOCK_HEAD + b->carved * p->size;
        b->carved++;
    }
    b->live++;
    if (!b->free && b->carved == p->per_block)
        list_del(p, b);
    memset(obj, 0, p->size);
    return obj;
#endif
}

void sb_pool_free(sb_pool *p, void *obj)
{
    if (!obj)
        return;
#ifdef POOL_PLAIN_MALLOC
    (void)p;
    free(obj);
#else
    sb_pool_block *b = block_of(obj);
    memcpy(obj, &b->free, sizeof(void *));
    b->free = obj;
    b->live--;
    if (!b->listed)
        list_add(p, b);
    if (b->live > 0)
        return;
    list_del(p, b);
    if (!p->spare) {
        /* Kept for the next storm of connects; its pages go back now. */
        madvise(b, SB_POOL_BLOCK, MADV_DONTNEED);
        p->spare = b; /* zero-filled again, header included */
        return;
    }
    munmap(b, SB_POOL_BLOCK);
    p->blocks--;
#endif
}

/* --- small allocations by size class ------------------------------------ */

static sb_pool small[SB_MEM_SMALL / 16];

static sb_pool *small_pool(size_t n)
{
    sb_pool *p = &small[(n - 1) / 16];
    if (!p->size)
        p->size = ((n - 1) / 16 + 1) * 16;
    return p;
}

void *sb_mem_alloc(size_t n)
{
    if (n == 0)
        n = 1;
    return n > SB_MEM_SMALL ? calloc(1, n) : sb_pool_alloc(small_pool(n));
}

void sb_mem_free(void *p, size_t n)
{
    if (!p)
        return;
    if (n == 0)
        n = 1;
    if (n > SB_MEM_SMALL)
        free(p);
    else
        sb_pool_free(small_pool(n), p);
}

void *sb_mem_realloc(void *p, size_t old, size_t n)
{
    if (p && old && n && old <= SB_MEM_SMALL && n <= SB_MEM_SMALL && (old - 1) / 16 == (n - 1) / 16)
        return p;
    void *q = sb_mem_alloc(n);
    if (!q)
        return NULL;
    if (p)
        memcpy(q, p, old < n ? old : n);
    sb_mem_free(p, old);
    return q;
}

char *sb_mem_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sb_mem_alloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void sb_mem_strfree(char *s)
{
    if (s)
        sb_mem_free(s, strlen(s) + 1);
}

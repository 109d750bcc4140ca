/* Message ids (ULID layout, 26 Crockford base32 chars): 48 bits of epoch ms,
 * 32 bits of node randomness drawn once, 48 bits of sequence. Owns the last
 * (time, sequence) pair that makes ids strictly increasing on this node even
 * when the wall clock steps back. */
#include "ids.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define SEQ_MASK  ((UINT64_C(1) << 48) - 1)
#define TIME_MASK ((UINT64_C(1) << 48) - 1)

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Plugins may call id_new from their own threads; the lock is uncontended
 * in practice and costs far less than the store write that follows. */
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static int ids_seeded;
static uint32_t ids_node;
static uint64_t ids_last_ms;
static uint64_t ids_seq;

static void seed_locked(void)
{
    unsigned char b[4];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* No entropy from libcrypto: mix the clock and the stack address so two
         * nodes started together still differ with high probability. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)&ts;
        memcpy(b, &x, sizeof(b));
    }
    ids_node = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    ids_seeded = 1;
}

void sb_ids_init(void)
{
    pthread_mutex_lock(&ids_lock);
    seed_locked();
    pthread_mutex_unlock(&ids_lock);
}

int64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 5 bits of the 128-bit number hi:lo, starting at bit shift (from the low end). */
static unsigned bits5(uint64_t hi, uint64_t lo, unsigned shift)
{
    uint64_t v;
    if (shift >= 64)
        v = hi >> (shift - 64);
    else if (shift + 5 <= 64)
        v = lo >> shift;
    else
        v = (lo >> shift) | (hi << (64 - shift));
    return (unsigned)(v & 31);
}

void sb_id_new_at(int64_t now_ms, char out[SB_ID_LEN + 1])
{
    uint64_t now = now_ms < 0 ? 0 : (uint64_t)now_ms & TIME_MASK;
    pthread_mutex_lock(&ids_lock);
    if (!ids_seeded)
        seed_locked();
    if (now > ids_last_ms) {
        ids_last_ms = now;
        ids_seq = 0;
    } else if (ids_seq < SEQ_MASK) {
        /* Same millisecond, or the clock stepped back: stay on the last time. */
        ids_seq++;
    } else {
        ids_last_ms = (ids_last_ms + 1) & TIME_MASK;
        ids_seq = 0;
    }
    uint64_t t = ids_last_ms, seq = ids_seq;
    uint32_t node = ids_node;
    pthread_mutex_unlock(&ids_lock);

    uint64_t hi = t << 16 | node >> 16;
    uint64_t lo = (uint64_t)(node & 0xffff) << 48 | seq;
    /* 26 digits cover 130 bits: the first digit carries the top 3 bits. */
    for (int i = 0; i < SB_ID_LEN; i++)
        out[i] = crockford[bits5(hi, lo, (unsigned)(SB_ID_LEN - 1 - i) * 5)];
    out[SB_ID_LEN] = '\0';
}

void sb_id_new(char out[SB_ID_LEN + 1])
{
    sb_id_new_at(sb_now_ms(), out);
}

void sb_id_time_prefix(int64_t ms, char out[SB_ID_TIME_LEN + 1])
{
    uint64_t t = ms > 0 ? (uint64_t)ms & TIME_MASK : 0;
    for (int i = SB_ID_TIME_LEN - 1; i >= 0; i--) {
        out[i] = crockford[t & 31];
        t >>= 5;
    }
    out[SB_ID_TIME_LEN] = '\0';
}

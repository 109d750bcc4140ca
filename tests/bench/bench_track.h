/* Delivery bookkeeping for sb-bench: growable bitsets of sequence numbers (what a sender had
 * acked, what a receiver got from each sender) and a scanner that pulls the few fields the hot
 * path needs out of a server frame without building a cJSON tree. Loss and duplicate counts
 * are derived from these bitsets at the end of a run, once the workers have stopped. */
#ifndef SB_BENCH_TRACK_H
#define SB_BENCH_TRACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_bits {
    uint64_t *w;
    uint64_t nwords;
} bench_bits;

/* Set bit i, growing the set. -> 1 it was already set | 0 newly set | -1 out of memory */
int bench_bits_set(bench_bits *b, uint64_t i);
int bench_bits_test(const bench_bits *b, uint64_t i);
uint64_t bench_bits_count(const bench_bits *b);
/* Bits set in want and not in got. */
uint64_t bench_bits_missing(const bench_bits *want, const bench_bits *got);
void bench_bits_free(bench_bits *b);

/* What one receiving connection got from one sender (sender = global connection index). */
typedef struct bench_stream {
    uint32_t from;
    bench_bits got;
} bench_stream;

typedef struct bench_inbox {
    bench_stream *s;
    uint32_t n, cap;
} bench_inbox;

/* The stream from sender `from`, added when new; NULL when out of memory. */
bench_bits *bench_inbox_stream(bench_inbox *in, uint32_t from);
/* The stream from `from` if any was received, else NULL. */
const bench_bits *bench_inbox_find(const bench_inbox *in, uint32_t from);
void bench_inbox_free(bench_inbox *in);

/* The fields sb-bench reads from a frame; a pointer is NULL / a has_ flag 0 when absent.
 * Pointers point into the scanned buffer. */
typedef struct bench_frame {
    const char *type;
    size_t type_len;
    const char *id;
    size_t id_len;
    int has_ref, has_t, has_c, has_s;
    uint64_t ref, t, c, s;
} bench_frame;

/* Scan buf (not NUL-terminated) for "type" and the optional "id", "ref", "t", "c", "s".
 * Sound for the frames sb-bench provokes: none of its keys occurs at another nesting level.
 * -> 0 | -1 no "type" string found (the caller falls back to cJSON) */
int bench_scan(const char *buf, size_t len, bench_frame *f);
/* The same for a seed 001 frame (dialect_messaging): its one section becomes the native type
 * it stands for ("messages" -> message, "sent" -> ack, "errors" -> error, "read" -> read),
 * and the "id" of a sent or errors entry the ref (sb-bench's ids are its sequence numbers).
 * -> 0 | -1 not one of those sections */
int bench_scan_messaging(const char *buf, size_t len, bench_frame *f);
/* The same for a chat dialect frame: "event" is the type; "t", "c" and "s" are read from the
 * "message" string ("t=1 c=2 s=3 p=..."), and s is also the ref (the sender's own copy is
 * its ack). -> 0 | -1 no "event" string found */
int bench_scan_chat(const char *buf, size_t len, bench_frame *f);
/* Whether the scanned type equals s. */
int bench_frame_is(const bench_frame *f, const char *s);

#endif

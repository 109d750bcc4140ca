/* Bitsets, per-receiver streams and the frame field scanner (see bench_track.h). The scanner
 * exists because parsing every delivered frame with cJSON would cost the load generator more
 * CPU than the server spends sending it, on a machine where both share two cores. */
#include "bench_track.h"

#include <stdlib.h>
#include <string.h>

int bench_bits_set(bench_bits *b, uint64_t i)
{
    uint64_t word = i / 64;
    if (word >= b->nwords) {
        uint64_t n = b->nwords ? b->nwords : 4;
        while (n <= word)
            n *= 2;
        uint64_t *w = realloc(b->w, n * sizeof(*w));
        if (!w)
            return -1;
        memset(w + b->nwords, 0, (n - b->nwords) * sizeof(*w));
        b->w = w;
        b->nwords = n;
    }
    uint64_t mask = 1ull << (i % 64);
    if (b->w[word] & mask)
        return 1;
    b->w[word] |= mask;
    return 0;
}

int bench_bits_test(const bench_bits *b, uint64_t i)
{
    uint64_t word = i / 64;
    return word < b->nwords && (b->w[word] >> (i % 64)) & 1;
}

uint64_t bench_bits_count(const bench_bits *b)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < b->nwords; i++)
        n += (uint64_t)__builtin_popcountll(b->w[i]);
    return n;
}

uint64_t bench_bits_missing(const bench_bits *want, const bench_bits *got)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < want->nwords; i++) {
        uint64_t g = i < got->nwords ? got->w[i] : 0;
        n += (uint64_t)__builtin_popcountll(want->w[i] & ~g);
    }
    return n;
}

void bench_bits_free(bench_bits *b)
{
    free(b->w);
    b->w = NULL;
    b->nwords = 0;
}

bench_bits *bench_inbox_stream(bench_inbox *in, uint32_t from)
{
    /* a receiver hears from one sender (direct) or a handful (rooms): a linear search wins */
    for (uint32_t i = 0; i < in->n; i++)
        if (in->s[i].from == from)
            return &in->s[i].got;
    if (in->n == in->cap) {
        uint32_t cap = in->cap ? in->cap * 2 : 1;
        bench_stream *s = realloc(in->s, cap * sizeof(*s));
        if (!s)
            return NULL;
        in->s = s;
        in->cap = cap;
    }
    bench_stream *st = &in->s[in->n++];
    st->from = from;
    st->got = (bench_bits){0};
    return &st->got;
}

const bench_bits *bench_inbox_find(const bench_inbox *in, uint32_t from)
{
    for (uint32_t i = 0; i < in->n; i++)
        if (in->s[i].from == from)
            return &in->s[i].got;
    return NULL;
}

void bench_inbox_free(bench_inbox *in)
{
    for (uint32_t i = 0; i < in->n; i++)
        bench_bits_free(&in->s[i].got);
    free(in->s);
    *in = (bench_inbox){0};
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first byte of the value of key ("\"key\"" followed by optional spaces and ':'), or NULL.
 * A quoted key cannot match inside a string value: there its quotes are escaped. */
static const char *scan_value(const char *buf, size_t len, const char *qkey)
{
    size_t klen = strlen(qkey);
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), qkey, klen);
        if (!hit)
            return NULL;
        const char *v = hit + klen;
        while (v < end && is_space(*v))
            v++;
        if (v < end && *v == ':') {
            v++;
            while (v < end && is_space(*v))
                v++;
            return v < end ? v : NULL;
        }
        p = hit + 1;
    }
    return NULL;
}

static int scan_uint(const char *buf, size_t len, const char *qkey, uint64_t *out)
{
    const char *v = scan_value(buf, len, qkey);
    const char *end = buf + len;
    if (!v || *v < '0' || *v > '9')
        return 0;
    uint64_t n = 0;
    while (v < end && *v >= '0' && *v <= '9')
        n = n * 10 + (uint64_t)(*v++ - '0');
    *out = n;
    return 1;
}

static const char *scan_string(const char *buf, size_t len, const char *qkey, size_t *out_len)
{
    const char *v = scan_value(buf, len, qkey);
    const char *end = buf + len;
    if (!v || *v != '"')
        return NULL;
    const char *s = ++v;
    while (v < end && *v != '"' && *v != '\\')
        v++;
    if (v >= end || *v != '"')
        return NULL; /* escapes never occur in the types and ids sb-bench reads */
    *out_len = (size_t)(v - s);
    return s;
}

int bench_scan(const char *buf, size_t len, bench_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->type = scan_string(buf, len, "\"type\"", &f->type_len);
    if (!f->type)
        return -1;
    f->id = scan_string(buf, len, "\"id\"", &f->id_len);
    f->has_ref = scan_uint(buf, len, "\"ref\"", &f->ref);
    f->has_t = scan_uint(buf, len, "\"t\"", &f->t);
    f->has_c = scan_uint(buf, len, "\"c\"", &f->c);
    f->has_s = scan_uint(buf, len, "\"s\"", &f->s);
    return 0;
}

int bench_scan_messaging(const char *buf, size_t len, bench_frame *f)
{
    static const struct {
        const char *head, *type;
    } sections[] = {{"{\"messages\":", "message"},
                    {"{\"sent\":", "ack"},
                    {"{\"errors\":", "error"},
                    {"{\"read\":", "read"}};
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        size_t n = strlen(sections[i].head);
        if (len >= n && memcmp(buf, sections[i].head, n) == 0) {
            f->type = sections[i].type;
            f->type_len = strlen(f->type);
            break;
        }
    }
    if (!f->type)
        return -1;
    if (f->type[0] == 'a' || f->type[0] == 'e')
        f->has_ref = scan_uint(buf, len, "\"id\"", &f->ref);
    f->has_t = scan_uint(buf, len, "\"t\"", &f->t);
    f->has_c = scan_uint(buf, len, "\"c\"", &f->c);
    f->has_s = scan_uint(buf, len, "\"s\"", &f->s);
    return 0;
}

/* "name=digits" in the words of s[0..len) -> *out. */
static int scan_word_uint(const char *s, size_t len, char name, uint64_t *out)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] != name || s[i + 1] != '=' || (i > 0 && s[i - 1] != ' '))
            continue;
        const char *v = s + i + 2, *end = s + len;
        if (v >= end || *v < '0' || *v > '9')
            return 0;
        uint64_t n = 0;
        while (v < end && *v >= '0' && *v <= '9')
            n = n * 10 + (uint64_t)(*v++ - '0');
        *out = n;
        return 1;
    }
    return 0;
}

int bench_scan_chat(const char *buf, size_t len, bench_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->type = scan_string(buf, len, "\"event\"", &f->type_len);
    if (!f->type)
        return -1;
    size_t mlen = 0;
    const char *m = scan_string(buf, len, "\"message\"", &mlen);
    if (!m)
        return 0;
    f->has_t = scan_word_uint(m, mlen, 't', &f->t);
    f->has_c = scan_word_uint(m, mlen, 'c', &f->c);
    f->has_s = scan_word_uint(m, mlen, 's', &f->s);
    f->has_ref = f->has_s;
    f->ref = f->s;
    return 0;
}

int bench_frame_is(const bench_frame *f, const char *s)
{
    size_t n = strlen(s);
    return f->type && f->type_len == n && memcmp(f->type, s, n) == 0;
}

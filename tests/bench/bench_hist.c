/* Log-linear latency histogram (see bench_hist.h). Index layout: values 0..127 have a
 * bucket each; past that, a value v with highest bit b (b >= 7) has e = b - 6 and lands in
 * bucket 64 * e + (v >> e), so each power of two is split into 64 equal buckets. */
#include "bench_hist.h"

#include <string.h>

void bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

int bench_hist_index(uint64_t v)
{
    if (v < 2 * BENCH_HIST_SUB)
        return (int)v;
    int b = 63 - __builtin_clzll(v);
    int e = b - 6;
    int idx = BENCH_HIST_SUB * e + (int)(v >> e);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

uint64_t bench_hist_bucket_top(int idx)
{
    if (idx < 2 * BENCH_HIST_SUB)
        return (uint64_t)idx;
    int e = idx / BENCH_HIST_SUB - 1;
    uint64_t sub = (uint64_t)(idx - BENCH_HIST_SUB * e);
    return ((sub + 1) << e) - 1;
}

void bench_hist_record(bench_hist *h, uint64_t v)
{
    h->counts[bench_hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void bench_hist_merge(bench_hist *dst, const bench_hist *src)
{
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q <= 0)
        return h->min;
    /* rank of the value asked for, 1-based: ceil(q * total) */
    double want = q * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t top = bench_hist_bucket_top(i);
            if (top > h->max)
                top = h->max;
            if (top < h->min)
                top = h->min;
            return top;
        }
    }
    return h->max;
}

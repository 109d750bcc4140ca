/* Latency histogram for sb-bench: log-linear buckets in the manner of HdrHistogram,
 * written by hand. Values are nanoseconds; every bucket is at most 1/64 (1.6 %) wide
 * relative to its value, so percentiles are exact to that precision at any scale.
 * One histogram per worker thread, merged once at the end: no locking. */
#ifndef SB_BENCH_HIST_H
#define SB_BENCH_HIST_H

#include <stdint.h>

/* 64 linear buckets per power of two past the first 128 values; 2^44 ns (~4.9 h) is the top. */
#define BENCH_HIST_SUB     64
#define BENCH_HIST_MAX_EXP 44
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * (BENCH_HIST_MAX_EXP - 4))

typedef struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max;
    double sum;
} bench_hist;

void bench_hist_init(bench_hist *h);
/* Count one value; values past the top land in the last bucket (max stays exact). */
void bench_hist_record(bench_hist *h, uint64_t v);
/* Add every count of src to dst. */
void bench_hist_merge(bench_hist *dst, const bench_hist *src);
/* The smallest recorded value v such that at least q (0..1) of the values are <= v,
 * reported as the top of its bucket (never above max); 0 when empty. */
uint64_t bench_hist_quantile(const bench_hist *h, double q);
/* Bucket index of v, and the highest value that bucket holds (exposed for tests). */
int bench_hist_index(uint64_t v);
uint64_t bench_hist_bucket_top(int idx);

#endif

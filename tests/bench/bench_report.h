/* sb-bench results: what a run measured (bench_result), the /proc readings of the server it
 * watches, and the two ways of printing a result: a human table and --json. */
#ifndef SB_BENCH_REPORT_H
#define SB_BENCH_REPORT_H

#include "bench.h"

/* What /proc said about one watched server (one --server-pid) over the run. */
typedef struct bench_server_stat {
    int pid;
    long rss_before_kb, rss_after_kb, rss_end_kb, rss_peak_kb, hwm_kb;
    double cpu_pct; /* over the measured stretch */
} bench_server_stat;

typedef struct bench_result {
    double connect_s, window_s, store_s, drain_s;
    uint64_t attempted, connected, ready, failed, closed, alive;
    bench_reasons fail_reasons, close_reasons, error_codes;
    uint64_t sent, acked, errors, delivered, expected, lost, lost_closed, dups;
    uint64_t receipts, presence, reads, other, sent_window, delivered_window;
    uint64_t bytes_in, bytes_out, compressed; /* WebSocket bytes over the run, inside TLS */
    double load_start, load_end;              /* 1-minute load average of the machine */
    int drain_timed_out;
    bench_hist hist;
    bench_server_stat srv[BENCH_MAX_NODES]; /* one per --server-pid, in order */
    int nsrv;
    long self_rss_kb;
    double self_cpu_pct; /* sb-bench's CPU over the measured stretch */
    const char *verdict; /* why the run failed, NULL when it did not */
} bench_result;

/* Resident set of pid in KiB (VmRSS), its peak (VmHWM), its user+system CPU in clock ticks.
 * -> the value | -1 when /proc cannot tell */
long bench_proc_rss_kb(int pid);
long bench_proc_hwm_kb(int pid);
long bench_proc_cpu_ticks(int pid);
/* The machine's 1-minute load average, -1 when unknown. */
double bench_proc_load(void);

const char *bench_scenario_name(int sc);

/* Print r as a table (stdout, or stderr under --json) and as JSON with --json.
 * -> the exit status: 0 | 1 a loss the protocol forbids or a phase that did not finish */
int bench_report(const bench *b, bench_result *r);

#endif

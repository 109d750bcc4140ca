/* sb-bench output: the /proc readings of the watched server, the human table and the JSON
 * document (built with cJSON). Deciding the exit status lives here too, next to the verdict
 * the table prints, so both always agree. */
#include "bench_report.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_field_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

double bench_proc_load(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1;
        fclose(f);
    }
    return load;
}

long bench_proc_rss_kb(int pid)
{
    return status_field_kb(pid, "VmRSS");
}

long bench_proc_hwm_kb(int pid)
{
    return status_field_kb(pid, "VmHWM");
}

long bench_proc_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name may hold spaces and parentheses: fields count from the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long utime, stime;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (long)(utime + stime);
}

static double per_s(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

static double per_n(uint64_t n, uint64_t of)
{
    return of ? (double)n / (double)of : 0;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void print_reasons(FILE *out, const char *label, const bench_reasons *r)
{
    if (r->n == 0)
        return;
    fprintf(out, "  %-11s", label);
    for (int i = 0; i < r->n; i++)
        fprintf(out, "%s%s: %" PRIu64, i ? ", " : " ", r->name[i], r->count[i]);
    fputc('\n', out);
}

static void print_table(FILE *out, const bench *b, const bench_result *r)
{
    const bench_cfg *c = &b->cfg;
    fprintf(out, "sb-bench %s ", bench_scenario_name(c->scenario));
    for (uint32_t i = 0; i < c->nurls; i++)
        fprintf(out, " %s://%s:%d%s", c->url[i].tls ? "wss" : "ws", c->url[i].host, c->url[i].port,
                c->url[i].path);
    fprintf(out, "  threads %d  connections %u  senders %u", c->threads, c->connections,
            c->senders);
    if (c->scenario != SC_IDLE) {
        if (c->rate > 0)
            fprintf(out, "  rate %.0f/s", c->rate);
        else
            fprintf(out, "  rate max (window %u)", c->window);
        fprintf(out, "  size %u B", c->size);
    }
    if (c->scenario == SC_FANOUT)
        fprintf(out, "  room %u", c->room_size);
    fputc('\n', out);
    fprintf(out,
            "  connect     %" PRIu64 " ready of %" PRIu64 " attempted, %" PRIu64
            " failed, in %.2f s\n",
            r->ready, r->attempted, r->failed, r->connect_s);
    print_reasons(out, "failures", &r->fail_reasons);
    print_reasons(out, "closed", &r->close_reasons);
    if (c->scenario != SC_IDLE) {
        fprintf(out,
                "  messages    sent %" PRIu64 "  acked %" PRIu64 "  errors %" PRIu64
                "  delivered %" PRIu64 " of %" PRIu64 "  lost %" PRIu64 "  duplicated %" PRIu64
                "\n",
                r->sent, r->acked, r->errors, r->delivered, r->expected, r->lost, r->dups);
        if (r->lost_closed)
            fprintf(out, "  undelivered to closed connections: %" PRIu64 "\n", r->lost_closed);
        print_reasons(out, "errors", &r->error_codes);
    }
    if (c->scenario == SC_RECOVER) {
        fprintf(out,
                "  recover     stored %" PRIu64 " in %.2f s (%.0f/s), all recovered in %.2f s "
                "(%.0f/s)\n",
                r->acked, r->store_s, per_s(r->acked, r->store_s), r->drain_s,
                per_s(r->delivered, r->drain_s));
    } else if (c->scenario == SC_OFFLINE) {
        fprintf(out,
                "  offline     stored %" PRIu64 " in %.2f s (%.0f/s), drained in %.2f s (%.0f/s)\n",
                r->acked, r->store_s, per_s(r->acked, r->store_s), r->drain_s,
                per_s(r->delivered, r->drain_s));
    } else if (c->scenario != SC_IDLE) {
        fprintf(out, "  throughput  sent %.0f/s  delivered %.0f/s  (%.1f s window)\n",
                per_s(r->sent_window, r->window_s), per_s(r->delivered_window, r->window_s),
                r->window_s);
        fprintf(out,
                "  wire        in %" PRIu64 " B (%.0f per delivery, %" PRIu64
                " compressed)  out %" PRIu64 " B (%.0f per send)\n",
                r->bytes_in, per_n(r->bytes_in, r->delivered), r->compressed, r->bytes_out,
                per_n(r->bytes_out, r->sent));
        const bench_hist *h = &r->hist;
        fprintf(out,
                "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (%" PRIu64
                " samples)\n",
                ms(bench_hist_quantile(h, 0.5)), ms(bench_hist_quantile(h, 0.9)),
                ms(bench_hist_quantile(h, 0.99)), ms(bench_hist_quantile(h, 0.999)),
                ms(h->total ? h->max : 0), h->total);
    }
    for (int i = 0; i < r->nsrv; i++) {
        const bench_server_stat *s = &r->srv[i];
        fprintf(out, "  server      pid %d  rss %.1f -> %.1f MiB", s->pid,
                (double)s->rss_before_kb / 1024, (double)s->rss_after_kb / 1024);
        /* per connection only with one server: with several, each holds a share */
        if (c->scenario == SC_IDLE && r->ready && r->nsrv == 1)
            fprintf(out, "  (%.0f B per connection)",
                    (double)(s->rss_after_kb - s->rss_before_kb) * 1024 / (double)r->ready);
        fprintf(out, "  peak %.1f MiB  cpu %.1f %%\n", (double)s->rss_peak_kb / 1024, s->cpu_pct);
    }
    fprintf(out, "  sb-bench    rss %.1f MiB  cpu %.1f %%  (machine load %.2f -> %.2f)\n",
            (double)r->self_rss_kb / 1024, r->self_cpu_pct, r->load_start, r->load_end);
    fprintf(out, "  result      %s\n", r->verdict ? r->verdict : "ok");
}

static cJSON *reasons_json(const bench_reasons *r)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < r->n; i++)
        cJSON_AddNumberToObject(o, r->name[i], (double)r->count[i]);
    return o;
}

/* ready: connections to divide the RSS growth by, 0 when they are spread over servers */
static cJSON *server_json(const bench_server_stat *s, uint64_t ready)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "pid", s->pid);
    cJSON_AddNumberToObject(o, "rss_before_kb", (double)s->rss_before_kb);
    cJSON_AddNumberToObject(o, "rss_after_kb", (double)s->rss_after_kb);
    cJSON_AddNumberToObject(o, "rss_end_kb", (double)s->rss_end_kb);
    cJSON_AddNumberToObject(o, "rss_peak_kb", (double)s->rss_peak_kb);
    cJSON_AddNumberToObject(o, "hwm_kb", (double)s->hwm_kb);
    cJSON_AddNumberToObject(o, "cpu_percent", s->cpu_pct);
    if (ready)
        cJSON_AddNumberToObject(o, "rss_per_conn_bytes",
                                (double)(s->rss_after_kb - s->rss_before_kb) * 1024 /
                                    (double)ready);
    return o;
}

static void print_json(const bench *b, const bench_result *r)
{
    const bench_cfg *c = &b->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "scenario", bench_scenario_name(c->scenario));
    char url[400];
    cJSON *urls = cJSON_AddArrayToObject(j, "urls");
    for (uint32_t i = 0; i < c->nurls; i++) {
        snprintf(url, sizeof(url), "%s://%s:%d%s", c->url[i].tls ? "wss" : "ws", c->url[i].host,
                 c->url[i].port, c->url[i].path);
        if (i == 0)
            cJSON_AddStringToObject(j, "url", url);
        cJSON_AddItemToArray(urls, cJSON_CreateString(url));
    }
    cJSON *p = cJSON_AddObjectToObject(j, "params");
    cJSON_AddNumberToObject(p, "threads", c->threads);
    cJSON_AddNumberToObject(p, "connections", c->connections);
    cJSON_AddNumberToObject(p, "senders", c->senders);
    cJSON_AddNumberToObject(p, "rate", c->rate);
    cJSON_AddNumberToObject(p, "window", c->window);
    cJSON_AddNumberToObject(p, "size", c->size);
    cJSON_AddNumberToObject(p, "duration", c->duration);
    cJSON_AddNumberToObject(p, "warmup", c->warmup);
    cJSON_AddNumberToObject(p, "room_size", c->room_size);
    cJSON_AddNumberToObject(p, "messages", (double)c->messages);
    cJSON_AddNumberToObject(p, "read_batch", c->read_batch);
    cJSON_AddNumberToObject(p, "src_addrs", c->src_addrs);

    cJSON *cn = cJSON_AddObjectToObject(j, "connect");
    cJSON_AddNumberToObject(cn, "attempted", (double)r->attempted);
    cJSON_AddNumberToObject(cn, "ready", (double)r->ready);
    cJSON_AddNumberToObject(cn, "failed", (double)r->failed);
    cJSON_AddNumberToObject(cn, "seconds", r->connect_s);
    cJSON_AddItemToObject(cn, "failures", reasons_json(&r->fail_reasons));
    cJSON_AddNumberToObject(cn, "closed", (double)r->closed);
    cJSON_AddItemToObject(cn, "closes", reasons_json(&r->close_reasons));
    cJSON_AddNumberToObject(cn, "alive", (double)r->alive);

    cJSON *m = cJSON_AddObjectToObject(j, "messages");
    cJSON_AddNumberToObject(m, "sent", (double)r->sent);
    cJSON_AddNumberToObject(m, "acked", (double)r->acked);
    cJSON_AddNumberToObject(m, "errors", (double)r->errors);
    cJSON_AddItemToObject(m, "error_codes", reasons_json(&r->error_codes));
    cJSON_AddNumberToObject(m, "delivered", (double)r->delivered);
    cJSON_AddNumberToObject(m, "expected", (double)r->expected);
    cJSON_AddNumberToObject(m, "lost", (double)r->lost);
    cJSON_AddNumberToObject(m, "undelivered_closed", (double)r->lost_closed);
    cJSON_AddNumberToObject(m, "duplicated", (double)r->dups);
    cJSON_AddNumberToObject(m, "receipts", (double)r->receipts);
    cJSON_AddNumberToObject(m, "presence", (double)r->presence);
    cJSON_AddNumberToObject(m, "reads_sent", (double)r->reads);
    cJSON_AddNumberToObject(m, "other_frames", (double)r->other);
    cJSON *wire = cJSON_AddObjectToObject(j, "wire");
    cJSON_AddNumberToObject(wire, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(wire, "bytes_out", (double)r->bytes_out);
    cJSON_AddNumberToObject(wire, "in_per_delivery", per_n(r->bytes_in, r->delivered));
    cJSON_AddNumberToObject(wire, "out_per_send", per_n(r->bytes_out, r->sent));
    cJSON_AddNumberToObject(wire, "compressed_in", (double)r->compressed);

    cJSON *t = cJSON_AddObjectToObject(j, "throughput");
    cJSON_AddNumberToObject(t, "window_s", r->window_s);
    cJSON_AddNumberToObject(t, "sent_per_s", per_s(r->sent_window, r->window_s));
    cJSON_AddNumberToObject(t, "delivered_per_s", per_s(r->delivered_window, r->window_s));

    const bench_hist *h = &r->hist;
    cJSON *l = cJSON_AddObjectToObject(j, "latency_ms");
    cJSON_AddNumberToObject(l, "samples", (double)h->total);
    cJSON_AddNumberToObject(l, "p50", ms(bench_hist_quantile(h, 0.5)));
    cJSON_AddNumberToObject(l, "p90", ms(bench_hist_quantile(h, 0.9)));
    cJSON_AddNumberToObject(l, "p99", ms(bench_hist_quantile(h, 0.99)));
    cJSON_AddNumberToObject(l, "p99_9", ms(bench_hist_quantile(h, 0.999)));
    cJSON_AddNumberToObject(l, "max", ms(h->total ? h->max : 0));
    cJSON_AddNumberToObject(l, "mean", h->total ? h->sum / (double)h->total / 1e6 : 0);

    if (c->scenario == SC_OFFLINE || c->scenario == SC_RECOVER) {
        cJSON *o = cJSON_AddObjectToObject(j, "offline");
        cJSON_AddNumberToObject(o, "store_s", r->store_s);
        cJSON_AddNumberToObject(o, "store_per_s", per_s(r->acked, r->store_s));
        cJSON_AddNumberToObject(o, "drain_s", r->drain_s);
        cJSON_AddNumberToObject(o, "drain_per_s", per_s(r->delivered, r->drain_s));
    }
    /* "server" is the first watched server (what single-node tools read), "servers" all */
    cJSON *servers = r->nsrv ? cJSON_AddArrayToObject(j, "servers") : NULL;
    for (int i = 0; i < r->nsrv; i++) {
        cJSON *srv = server_json(&r->srv[i], r->nsrv == 1 ? r->ready : 0);
        if (i == 0)
            cJSON_AddItemToObject(j, "server", cJSON_Duplicate(srv, 1));
        cJSON_AddItemToArray(servers, srv);
    }
    cJSON_AddNumberToObject(j, "bench_rss_kb", (double)r->self_rss_kb);
    cJSON_AddNumberToObject(j, "bench_cpu_percent", r->self_cpu_pct);
    cJSON *mc = cJSON_AddObjectToObject(j, "machine");
    cJSON_AddNumberToObject(mc, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(mc, "load_start", r->load_start);
    cJSON_AddNumberToObject(mc, "load_end", r->load_end);
    cJSON_AddBoolToObject(j, "ok", r->verdict == NULL);
    if (r->verdict)
        cJSON_AddStringToObject(j, "verdict", r->verdict);
    char *text = cJSON_PrintUnformatted(j);
    if (text)
        puts(text);
    free(text);
    cJSON_Delete(j);
}

int bench_report(const bench *b, bench_result *r)
{
    if (!r->verdict && r->lost)
        r->verdict = "LOSS: acked messages never delivered to a live connection";
    if (!r->verdict && b->cfg.scenario != SC_IDLE && r->ready && r->drain_timed_out &&
        r->acked + r->errors < r->sent)
        r->verdict = "drain timed out with messages unacked";
    if (!b->cfg.quiet || !b->cfg.json)
        print_table(b->cfg.json ? stderr : stdout, b, r);
    if (b->cfg.json)
        print_json(b, r);
    fflush(stdout);
    if (r->ready == 0)
        return 3;
    return r->verdict ? 1 : 0;
}

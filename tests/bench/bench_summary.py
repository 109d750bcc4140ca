"""Reads sb-bench --json results for scripts/bench: one-line summaries, the smoke checks
(a run completed and its counts add up), single fields for the script's arithmetic, and the
final tables (markdown) with peer ratios.

    bench_summary.py line FILE LABEL       one line of figures
    bench_summary.py check FILE            exit 1 and say why unless the counts add up
    bench_summary.py field FILE a.b.c      print one value
    bench_summary.py table MANIFEST        markdown table of every run in the manifest
    bench_summary.py peers MANIFEST TSV    the peers table (each figure as a ratio to
                                           uWebSockets when it ran) and the chart's TSV
    bench_summary.py latency MANIFEST      the latency table: medians of the alternated
                                           rounds, syscalls and CPU per message, p99 ratios
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def get(doc, path, default=None):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return default
        doc = doc[part]
    return doc


def reasons(d):
    return ", ".join(f"{k}: {v}" for k, v in (d or {}).items())


def server_cpu(doc):
    """CPU % of the watched server, or of each (`a/b/c`, in --server-pid order) when several."""
    servers = doc.get("servers") or [doc.get("server", {})]
    return "/".join(f"{s.get('cpu_percent', 0):.0f}" for s in servers)


def headline(doc):
    """The figure a scenario is judged by, with its unit, and a short details string."""
    sc = doc["scenario"]
    srv = doc.get("server", {})
    lat = doc.get("latency_ms", {})
    if sc == "idle":
        per = srv.get("rss_per_conn_bytes")
        fig = f"{per:.0f} B/conn" if per is not None else "n/a"
        det = (f"{doc['connect']['ready']} idle conns, {doc['connect']['failed']} failed"
               f"{' (' + reasons(doc['connect']['failures']) + ')' if doc['connect']['failed'] else ''}"
               f", server cpu {srv.get('cpu_percent', 0):.2f} %")
        return fig, det
    if sc == "offline":
        off = doc["offline"]
        fig = f"{off['drain_per_s']:.0f} msg/s drain"
        det = (f"{doc['messages']['acked']} stored in {off['store_s']:.2f} s, drained in "
               f"{off['drain_s']:.2f} s, server peak rss {srv.get('rss_peak_kb', 0) / 1024:.1f} MiB")
        return fig, det
    if sc == "recover":
        off, m = doc["offline"], doc["messages"]
        cpu_s = srv.get("cpu_percent", 0) / 100 * off["drain_s"]
        fig = f"all recovered in {off['drain_s']:.2f} s"
        det = (f"{m['delivered']} of {m['expected']} recovered ({off['drain_per_s']:.0f}/s), "
               f"gaps {m['lost']}, duplicates {m['duplicated']}, presence {m['presence']}; "
               f"server cpu {srv.get('cpu_percent', 0):.0f} % ({cpu_s:.1f} cpu-s), "
               f"peak rss {srv.get('rss_peak_kb', 0) / 1024:.1f} MiB")
        return fig, det
    tp = doc["throughput"]
    fig = f"{tp['delivered_per_s']:.0f} deliveries/s"
    det = (f"sent {tp['sent_per_s']:.0f}/s, latency p50 {lat['p50']:.3f} p90 {lat['p90']:.3f} "
           f"p99 {lat['p99']:.3f} p99.9 {lat['p99_9']:.3f} max {lat['max']:.3f} ms, "
           f"server cpu {server_cpu(doc)} %, sb-bench cpu {doc.get('bench_cpu_percent', 0):.0f} %")
    return fig, det


def problems(doc):
    """Why a run does not add up; empty when it does."""
    out = []
    if not doc.get("ok"):
        out.append(doc.get("verdict", "not ok"))
    c, m = doc["connect"], doc["messages"]
    if c["failed"]:
        out.append(f"{c['failed']} connections failed ({reasons(c['failures'])})")
    if c["closed"]:
        out.append(f"{c['closed']} connections closed ({reasons(c['closes'])})")
    if doc["scenario"] != "idle":
        if m["sent"] == 0:
            out.append("nothing sent")
        if m["errors"]:
            out.append(f"{m['errors']} error replies ({reasons(m['error_codes'])})")
        if m["acked"] != m["sent"]:
            out.append(f"acked {m['acked']} != sent {m['sent']}")
        if m["delivered"] != m["expected"]:
            out.append(f"delivered {m['delivered']} != expected {m['expected']}")
        if m["lost"]:
            out.append(f"lost {m['lost']}")
        if m["duplicated"]:
            out.append(f"duplicated {m['duplicated']}")
    elif c["ready"] == 0:
        out.append("no connection")
    return out


# The peers rows: (key in the label, row name, JSON field, unit, higher is better).
PEER_ROWS = (
    ("direct max", "direct msg/s, 100 pairs, closed loop", "throughput.delivered_per_s", "/s", True),
    ("fanout 1000", "fan-out deliveries/s, room of 1,000", "throughput.delivered_per_s", "/s", True),
    ("direct 1000/s", "direct at 1,000 msg/s, p50", "latency_ms.p50", "ms", False),
    ("direct 1000/s", "direct at 1,000 msg/s, p99", "latency_ms.p99", "ms", False),
    ("direct 10000/s", "direct at 10,000 msg/s, p99", "latency_ms.p99", "ms", False),
    ("direct half", "direct at 50 % of uWS saturation, p50", "latency_ms.p50", "ms", False),
    ("direct half", "direct at 50 % of uWS saturation, p99", "latency_ms.p99", "ms", False),
    ("idle 5000 handshake", "idle connection (handshake only), server RSS", "server.rss_per_conn_bytes", "B", False),
    ("idle 5000 ping", "idle connection (after one ping), server RSS", "server.rss_per_conn_bytes", "B", False),
)
PEER_ORDER = ("uws", "switchboard", "switchboard-lmdb", "switchboard-lmdb-lua", "go", "node")


def fmt_value(v):
    if v is None:
        return "n/a"
    return f"{v:.2f}" if v < 10 else f"{v:,.0f}"


def peers_table(manifest, tsv):
    """Markdown table of the `peers ...` runs: one column per target, each figure followed by
    its ratio to uWebSockets' in the same run (target / uws). Writes the chart's TSV."""
    res, loads = {}, []
    with open(manifest) as f:
        for line in f:
            label, target, path = line.rstrip("\n").split("\t")
            if not label.startswith("peers "):
                continue
            key = label[len("peers "):].rsplit(" ", 1)[0]
            try:
                doc = load(path)
            except (OSError, ValueError):
                continue
            res.setdefault(key, {})[target] = doc
            for k in ("load_start", "load_end"):
                if get(doc, "machine." + k) is not None:
                    loads.append(get(doc, "machine." + k))
    if not res:
        print("(no peers run completed)")
    targets = [t for t in PEER_ORDER if any(t in by for by in res.values())]
    targets += sorted({t for by in res.values() for t in by} - set(targets))
    if targets:
        print("\n| row | " + " | ".join(targets) + " |")
        print("|---|" + "---|" * len(targets))
    for key, name, field, unit, _ in PEER_ROWS:
        by = res.get(key)
        if not by:
            continue
        base = get(by["uws"], field) if "uws" in by else None
        cells = []
        for t in targets:
            v = get(by[t], field) if t in by else None
            cell = fmt_value(v)
            if v is not None and base and t != "uws":
                cell += f" ({v / base:.2f}x)"
            cells.append(cell)
        print(f"| {name} ({unit}) | " + " | ".join(cells) + " |")
    if "direct half" in res:
        rates = {t: get(d, "params.rate") for t, d in res["direct half"].items()}
        print(f"(50 % of uWS saturation: {', '.join(f'{t} {r}/s' for t, r in rates.items())})")
    if res:
        print("(x: the target's figure / uWebSockets' in this run; throughput: higher is better, "
              "latency and memory: lower is better)")
    if loads:
        print(f"(1-minute load average during the runs: {min(loads):.1f} to {max(loads):.1f})")
    # The chart's rows (scripts/bench-chart): switchboard, Go and Node.
    chart = (("fanout 1000", "fanout room 1,000", "deliveries/s", "higher", "throughput.delivered_per_s"),
             ("direct max", "direct, saturation", "deliveries/s", "higher", "throughput.delivered_per_s"),
             ("idle 5000 ping", "idle connection after one command", "bytes of server RSS", "lower",
              "server.rss_per_conn_bytes"))
    with open(tsv, "w") as f:
        f.write("# metric\tunit\tbetter\tswitchboard\tgo\tnode (scripts/bench peers)\n")
        for key, metric, unit, better, field in chart:
            by = res.get(key, {})
            vals = [get(by[t], field) if t in by else None for t in ("switchboard", "go", "node")]
            if all(v is not None for v in vals):
                f.write("\t".join([metric, unit, better] + [f"{v:.0f}" for v in vals]) + "\n")


def syscalls_per_message(path, sent):
    """{syscall: calls per message} from a `perf stat -x,` file of syscalls:sys_enter_* counts
    ("all": raw_syscalls:sys_enter, every syscall), or None without one."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    calls = {}
    for line in lines:
        parts = line.split(",")
        if len(parts) > 2 and parts[0].strip().isdigit() and "sys_enter" in parts[2]:
            name = parts[2].split("sys_enter", 1)[1].lstrip("_") or "all"
            calls[name] = int(parts[0])
    return {k: v / sent for k, v in calls.items() if v} if sent else None


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2 if n else None


def latency_table(manifest):
    """Markdown table of the `latency RATE/s TARGET ROUND` runs: per rate and target, medians
    over the rounds of p50, p99, p99.9, the server's CPU microseconds per message and its
    syscalls per message (with the main ones), and the p99 as a ratio to uWebSockets'."""
    runs = {}
    with open(manifest) as f:
        for line in f:
            label, target, path = line.rstrip("\n").split("\t")
            words = label.split()
            if len(words) != 4 or words[0] != "latency":
                continue
            try:
                doc = load(path)
            except (OSError, ValueError):
                continue
            runs.setdefault(words[1], {}).setdefault(target, []).append((doc, path))
    if not runs:
        print("(no latency run completed)")
        return
    print("| rate | target | rounds | p50 ms | p99 ms | p99.9 ms | p99 / uWS | server CPU us/msg "
          "| syscalls/msg (recv, send, epoll_wait, epoll_ctl) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in sorted(runs, key=lambda r: float(r.split("/")[0])):
        by = runs[rate]
        med = {}
        for target, docs in by.items():
            row = {}
            for key in ("p50", "p99", "p99_9"):
                row[key] = median([get(d, "latency_ms." + key, 0) for d, _ in docs])
            row["cpu"] = median([get(d, "server.cpu_percent", 0) * 1e4 /
                                 max(1, get(d, "throughput.sent_per_s", 0)) for d, _ in docs])
            sc = [syscalls_per_message(p + ".syscalls", get(d, "messages.sent", 0)) for d, p in docs]
            sc = [x for x in sc if x]
            if sc:
                def part(*names):
                    return median([sum(x.get(n, 0) for n in names) for x in sc])
                row["sys"] = (f"{median([x.get('all', sum(x.values())) for x in sc]):.2f} ("
                              f"{part('recvfrom', 'read', 'readv', 'recvmsg'):.2f}, "
                              f"{part('writev', 'write', 'sendto', 'sendmsg'):.2f}, "
                              f"{part('epoll_wait', 'epoll_pwait'):.2f}, {part('epoll_ctl'):.2f})")
            row["n"] = len(docs)
            med[target] = row
        order = [t for t in ("uws", "switchboard", "baseline") if t in med]
        order += sorted(set(med) - set(order))
        for t in order:
            row = med[t]
            ratio = (f"{row['p99'] / med['uws']['p99']:.2f}x"
                     if "uws" in med and t != "uws" and med["uws"]["p99"] else "")
            print(f"| {rate} | {t} | {row['n']} | {row['p50']:.3f} | {row['p99']:.3f} | "
                  f"{row['p99_9']:.3f} | {ratio} | {row['cpu']:.1f} | {row.get('sys', 'n/a')} |")


def main(argv):
    cmd = argv[1]
    if cmd == "line":
        doc = load(argv[2])
        fig, det = headline(doc)
        m = doc["messages"]
        tail = ""
        if doc["scenario"] != "idle":
            tail = f" | sent {m['sent']} acked {m['acked']} delivered {m['delivered']} lost {m['lost']} dup {m['duplicated']}"
            if m["errors"]:
                tail += f" errors {m['errors']} ({reasons(m['error_codes'])})"
            if m["undelivered_closed"]:
                tail += f" undelivered-to-closed {m['undelivered_closed']}"
        if doc["connect"]["closed"]:
            tail += f" | closed: {reasons(doc['connect']['closes'])}"
        print(f"  {argv[3]:<28} {fig:>24}  {det}{tail}")
        return 0
    if cmd == "check":
        bad = problems(load(argv[2]))
        for p in bad:
            print(f"    FAIL: {p}")
        return 1 if bad else 0
    if cmd == "field":
        v = get(load(argv[2]), argv[3])
        print(v if v is not None else "")
        return 0
    if cmd == "table":
        print("| scenario | target | figure | details |")
        print("|---|---|---|---|")
        with open(argv[2]) as f:
            for line in f:
                label, target, path = line.rstrip("\n").split("\t")
                try:
                    fig, det = headline(load(path))
                except (OSError, ValueError, KeyError) as e:
                    fig, det = "failed", str(e)
                print(f"| {label} | {target} | {fig} | {det} |")
        return 0
    if cmd == "peers":
        peers_table(argv[2], argv[3])
        return 0
    if cmd == "latency":
        latency_table(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

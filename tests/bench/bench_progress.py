"""Progress of an sb-bench run on a terminal (scripts/bench, scripts/soak).

    sb-bench ... 2>&1 >result.json | bench_progress.py LABEL PLANNED OFFSET LOG

sb-bench prints a progress line on stderr once a second (phase, seconds, connections,
sent, acked, delivered). This keeps one status line on the terminal instead: the run's
label, the time elapsed of PLANNED seconds (OFFSET seconds were spent before this run:
a soak's earlier rounds), and the current send and delivery rates. Every line read is
also appended to LOG, the file the quiet mode's stderr went to. The scripts use it only
when their output is a terminal; otherwise sb-bench runs with --quiet."""
import re
import sys
import time

LINE = re.compile(r"^\s*(\S+)\s+([\d.]+)s\s+conn (\d+)/(\d+) failed (\d+)\s+sent (\d+) "
                  r"acked (\d+) delivered (\d+)/(\d+)")


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def main():
    label, planned, offset, log_path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), \
        sys.argv[4]
    start = time.monotonic()
    prev = None
    with open(log_path, "a") as log:
        for line in sys.stdin:
            log.write(line)
            log.flush()
            m = LINE.match(line)
            if not m:
                continue
            phase, t = m.group(1), float(m.group(2))
            ready, sent, delivered = int(m.group(3)), int(m.group(6)), int(m.group(8))
            rates = ""
            if prev and prev[0] == phase and t > prev[1]:
                dt = t - prev[1]
                rates = (f" · {(sent - prev[2]) / dt:,.0f} sent/s"
                         f" · {(delivered - prev[3]) / dt:,.0f} delivered/s")
            prev = (phase, t, sent, delivered)
            elapsed = time.monotonic() - start + offset
            sys.stdout.write(f"\r\033[K  [{label}] {phase} {clock(elapsed)}/{clock(planned)}"
                             f" · {ready:,} conns{rates}")
            sys.stdout.flush()
    sys.stdout.write("\r\033[K")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

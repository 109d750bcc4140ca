#!/usr/bin/env bash
# Server instructions per delivered direct message, counted by callgrind: the steady figure on
# a machine without hardware counters (perf stat -e instructions: "not supported") or too loaded
# for wall-clock ratios. Starts BUILD/switchboard under valgrind --tool=callgrind (auth none,
# store_memory, dialect_messaging), warms up, zeroes the counters, runs one sb-bench direct run
# of 20 connections at RATE msg/s for SECONDS, dumps, and prints Ir / deliveries.
#
#   tests/bench/ir_per_message.sh BUILD native|001 [RATE=400] [SECONDS=5] [LUA_SCRIPT]
#   tests/bench/ir_per_message.sh BUILD broadcast|003 [RATE=20] [SECONDS=5]
#
# broadcast and 003 count per delivered broadcast instead: native clients on /ws, or seed 003
# chat clients on /chat (dialect_chat), each message to all 20 connections.
#
# SB_IR_KEEP=FILE keeps the callgrind profile (callgrind_annotate FILE).
# With LUA_SCRIPT the lua plugin runs it (tests/bench/allow_all.lua, read_field.lua): what a
# policy costs per message is the difference from the same run without one.
#
# Compare a baseline build and yours with the same arguments, alternating; the counts vary by
# about 1 % between runs (how reads batch), far less than wall-clock figures on a shared machine.
set -u
B=$(cd "$1" && pwd) KIND=$2 RATE=${3:-400} SECS=${4:-5} LUA=${5:-}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "ir_per_message: valgrind is not installed" >&2; exit 2; }
W=$(mktemp -d /tmp/sb-ir.XXXXXX)
trap 'rm -rf "$W"' EXIT
PY=/usr/bin/python3
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/plugins.conf" <<C
[server]
listen = 127.0.0.1:$PORT
plugin_dir = $B/plugins
max_connections = 2100
rate_limit = 0
max_recipients = 100
log_level = warn
[auth]
mode = none
[message]
[read]
[rooms]
[broadcast]
[members]
[store_memory]
max_inbox = 10000000
[dialect_messaging]
[dialect_chat]
C
[ -n "$LUA" ] && printf '[lua]\nscripts = %s\non_error = deny\n' "$(realpath "$LUA")" >>"$W/plugins.conf"
valgrind --tool=callgrind --callgrind-out-file="$W/cg.%p" "$B/switchboard" -c "$W/plugins.conf" \
  >"$W/log" 2>&1 &
VP=$!
for _ in $(seq 600); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && break
  sleep 0.2
done
case $KIND in
  native) ARGS=(--scenario direct --url "ws://127.0.0.1:$PORT/ws" --read-batch 0) ;;
  001) ARGS=(--scenario direct --url "ws://127.0.0.1:$PORT/messaging" --dialect messaging) ;;
  broadcast) ARGS=(--scenario broadcast --url "ws://127.0.0.1:$PORT/ws") ;;
  003) ARGS=(--scenario broadcast --url "ws://127.0.0.1:$PORT/chat" --dialect chat) ;;
  *) echo "ir_per_message: KIND is native, 001, broadcast or 003" >&2; exit 2 ;;
esac
case $KIND in broadcast | 003) [ $# -ge 3 ] || RATE=20 ;; esac
BENCH=("$B/sb-bench" --connections "${SB_IR_CONNS:-20}" --quiet --json "${ARGS[@]}")
"${BENCH[@]}" --rate 50 --duration 1 --warmup 1 --drain 3 >/dev/null 2>&1
callgrind_control -z "$VP" >/dev/null 2>&1
"${BENCH[@]}" --rate "$RATE" --duration "$SECS" --warmup 0 --drain 5 --connect-timeout 60 \
  >"$W/res.json" 2>"$W/err"
callgrind_control -d "$VP" >/dev/null 2>&1
sleep 1
kill "$VP"
wait "$VP" 2>/dev/null
[ -n "${SB_IR_KEEP:-}" ] && cp "$(ls -t "$W"/cg.*.1 | head -1)" "$SB_IR_KEEP"
"$PY" - "$W/res.json" "$(ls -t "$W"/cg.*.1 | head -1)" "$KIND${LUA:+ $(basename "$LUA")}" <<'P'
import json, sys
delivered = json.load(open(sys.argv[1]))["messages"]["delivered"]
ir = next(int(l.split()[1]) for l in open(sys.argv[2]) if l.startswith(("summary:", "totals:")))
print(f"{sys.argv[3]}: {ir} Ir / {delivered} deliveries = {ir / delivered:.0f} per message"
      if delivered else f"{sys.argv[3]}: nothing delivered")
P

"""scripts/bench grpc: unary NotifyRoom calls/s and latency into a room of
MEMBERS WebSocket clients, side by side with the HTTP push API's
POST /api/rooms/{room}/publish on the same server and the same room.

The members are raw WebSocket connections in a child process that join the
room and then read and drop every byte (the server's fan-out is measured,
not a Python client's JSON parsing). Each caller keeps WINDOW calls in flight:
grpc.aio on one channel (HTTP/2 streams) against WINDOW keep-alive HTTP/1.1
connections. Both payloads are the same small text; `delivered` sums the
server's own count of connections each call reached.

    grpc_bench.py --ws-port P --grpc-port G --api-key K [--members 1000]
                  [--duration 10] [--warmup 2] [--window 32] [--json]
"""
import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time

ROOM = "bench"
SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO_DIR = os.path.join(SOURCE_DIR, "plugins", "grpc", "proto")


def ws_frame(text):
    payload = text.encode()
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def members(port, n, ready, stop, counted):
    """Child process: n members in ROOM, each reading and dropping bytes."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws?client_id=gb{i} HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        assert buf.startswith(b"HTTP/1.1 101"), buf[:80]
        s.sendall(ws_frame(json.dumps({"type": "join", "ref": 1, "data": {"room": ROOM}})))
        # the join's answer (and nothing else yet): wait for it so every member is in
        s.recv(4096)
        s.setblocking(False)
        socks.append(s)
    ready.set()
    # Sweep every socket each 20 ms instead of waking per socket: a Python loop
    # woken by select for each of 1,000 sockets would be the limit, not the server.
    total = 0
    while not stop.is_set():
        time.sleep(0.02)
        for s in socks:
            while True:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    break
                if not data:
                    break
                total += len(data)
    counted.value = total
    for s in socks:
        s.close()


def percentile(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))
    return sorted_vals[i]


async def drive(call, window, warmup, duration):
    """WINDOW loops calling call() back to back; latencies of the measured window."""
    lat = []
    state = {"calls": 0, "errors": 0, "delivered": 0}
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + duration

    async def loop(i):
        while True:
            t0 = time.perf_counter()
            if t0 >= t_end:
                return
            try:
                delivered = await call(i)
                ok = True
            except Exception:  # an error answer counts, the run goes on
                ok = False
            t1 = time.perf_counter()
            if t0 >= t_measure and t1 <= t_end:
                if ok:
                    state["calls"] += 1
                    state["delivered"] += delivered
                    lat.append((t1 - t0) * 1000.0)
                else:
                    state["errors"] += 1

    await asyncio.gather(*(loop(i) for i in range(window)))
    lat.sort()
    return {"calls_per_s": state["calls"] / duration, "errors": state["errors"],
            "delivered_per_call": state["delivered"] / max(1, state["calls"]),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "max_ms": lat[-1] if lat else 0.0}


def grpc_stubs():
    import subprocess
    out = tempfile.mkdtemp(prefix="sb-grpc-bench-")
    subprocess.run(["protoc", f"-I{PROTO_DIR}", "-I/usr/include", f"--python_out={out}",
                    "notificationspb/message.proto"], check=True)
    sys.path.insert(0, out)
    from notificationspb import message_pb2
    return message_pb2


async def run_grpc(args, text):
    import grpc
    from google.protobuf import any_pb2, wrappers_pb2
    pb2 = grpc_stubs()
    msg = any_pb2.Any()
    msg.Pack(wrappers_pb2.StringValue(value=text))
    req = pb2.NotifyRoomRequest(type=pb2.TYPE_INFO, entity_id="bench", message=msg, room=ROOM)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{args.grpc_port}",
                                         options=[("grpc.enable_http_proxy", 0)]) as ch:
        notify = ch.unary_unary("/notificationspb.NotificationService/NotifyRoom",
                                request_serializer=pb2.NotifyRoomRequest.SerializeToString,
                                response_deserializer=pb2.NotifyResponse.FromString)

        async def call(i):
            resp = await notify(req, timeout=30)
            return resp.delivered
        return await drive(call, args.window, args.warmup, args.duration)


async def run_http(args, text):
    body = json.dumps({"type": "TYPE_INFO", "entityId": "bench", "message": text}).encode()
    head = (f"POST /api/rooms/{ROOM}/publish HTTP/1.1\r\nHost: b\r\n"
            f"Authorization: Bearer {args.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    conns = [await asyncio.open_connection("127.0.0.1", args.ws_port) for _ in range(args.window)]

    async def call(i):
        reader, writer = conns[i]
        writer.write(head + body)
        status = await reader.readline()
        n = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                n = int(v)
        data = json.loads(await reader.readexactly(n))
        if b" 202 " not in status:
            raise RuntimeError(status)
        return data["delivered"]
    try:
        return await drive(call, args.window, args.warmup, args.duration)
    finally:
        for _, w in conns:
            w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ws-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    counted = multiprocessing.Value("q", 0)
    child = multiprocessing.Process(target=members,
                                    args=(args.ws_port, args.members, ready, stop, counted))
    child.start()
    if not ready.wait(120):
        child.terminate()
        sys.exit("grpc_bench: the members did not join in time")
    text = "Your order has shipped!"
    results = {"members": args.members, "window": args.window, "duration_s": args.duration}
    results["grpc"] = asyncio.run(run_grpc(args, text))
    results["http"] = asyncio.run(run_http(args, text))
    stop.set()
    child.join(30)
    results["member_bytes"] = counted.value
    if args.json:
        print(json.dumps(results))
        return
    print(f"NotifyRoom into a room of {args.members}, {args.window} calls in flight, "
          f"{args.duration:g} s each")
    print("| API | calls/s | p50 ms | p99 ms | max ms | delivered/call | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in (("grpc", "gRPC NotifyRoom"), ("http", "HTTP POST /api/rooms/{room}/publish")):
        r = results[name]
        print(f"| {label} | {r['calls_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['max_ms']:.2f} | {r['delivered_per_call']:.0f} | {r['errors']} |")
    ok = all(results[n]["calls_per_s"] > 0 and results[n]["errors"] == 0 for n in ("grpc", "http"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

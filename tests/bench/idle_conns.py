#!/usr/bin/env python3
"""Idle connections over wss:// or with permessage-deflate, which sb-bench does
not speak: open N WebSocket connections to a running server (plain, TLS, or
offering permessage-deflate), optionally send one `ping` command on each and
read its answer, let the server hibernate them, and print the server's RSS
growth per connection (from /proc) as one JSON line.

  idle_conns.py --port P --pid PID [--tls [--tls12]] [--deflate] [--ping] [--connections N]
"""
import argparse
import base64
import json
import os
import socket
import ssl
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_until(s, marker):
    buf = b""
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the upgrade")
        buf += chunk
    return buf


def text_frame(payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def connect(args, ctx, i):
    s = socket.create_connection(("127.0.0.1", args.port), timeout=30)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if args.deflate else ""
    s.sendall((f"GET /ws?client_id=idle{i} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n{ext}\r\n").encode())
    head = read_until(s, b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    if args.deflate and b"permessage-deflate" not in head:
        raise RuntimeError("permessage-deflate not negotiated")
    if args.ping:
        s.sendall(text_frame(b'{"type":"ping","ref":1}'))
        read_until(s, b"pong")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--tls12", action="store_true", help="with --tls: at most TLS 1.2")
    ap.add_argument("--deflate", action="store_true")
    ap.add_argument("--ping", action="store_true")
    ap.add_argument("--settle", type=float, default=4.0)
    args = ap.parse_args()
    ctx = None
    if args.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        if args.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    before = rss_kb(args.pid)
    socks = [connect(args, ctx, i) for i in range(args.connections)]
    time.sleep(args.settle)  # hibernation after 1 s quiet, the trim within 1 s more
    after = rss_kb(args.pid)
    tls = socks[0].version() if ctx else False
    print(json.dumps({"connections": len(socks), "tls": tls, "deflate": args.deflate,
                      "ping": args.ping, "rss_before_kb": before, "rss_after_kb": after,
                      "rss_per_conn_bytes": round((after - before) * 1024 / len(socks))}))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()

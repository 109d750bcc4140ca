"""Protocol abuse that test_core_ws.py does not cover yet (issue 10): a frame
delivered one byte at a time, close frames with a forbidden code or a reason
that is not UTF-8, 64-bit lengths out of range, connection churn without close
frames, half-open clients, and a command flood. Every case runs on ONE server
(module fixture) so the last test can check that its memory came back; after
each case a fresh client must still be served. Already covered elsewhere and
not repeated: continuation without a start, a text frame inside a fragmented
message, a fragmented ping (test_core_ws.py), close code 1005 (ditto)."""
import asyncio
import json
import re
import socket
import struct
import time

import pytest

from conftest import (Server, default_sections, frame, free_port, make_conf, read_frame,
                      read_head, recv, request, run, upgrade_request, ws_upgrade)
from core_util import wait_eof

RSS_SLACK_KB = 30 * 1024


def rss_kb(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(srv, name):
    status, _, body = srv.http("GET", "/metrics")
    assert status == 200, status
    m = re.search(rf"^{name} (\d+)$", body.decode(), re.M)
    assert m, body
    return int(m.group(1))


def assert_served(srv):
    """A fresh client connects and gets its pong."""
    async def go():
        ws = await srv.ws(client_id="fresh")
        reply = await request(ws, "ping", ref="fresh", timeout=10)
        assert reply["type"] == "pong" and reply["ref"] == "fresh", reply
        await ws.close()
    run(go())


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One server for the whole file, with a short idle timeout; its RSS
    after the first client is the baseline. Stopped at the end: exit 0 and no
    sanitizer report."""
    port = free_port()
    wd = str(tmp_path_factory.mktemp("abuse"))
    conf = make_conf(port, {"idle_timeout": 2, "ping_interval": 1, "rate_limit": 50,
                            "rate_burst": 100, "log_level": "info"}, default_sections())
    # A small ASan quarantine (ignored by plain builds): freed connection
    # memory must show up in RSS as given back, not parked for reuse checks.
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99:quarantine_size_mb=4"}
    s = Server(wd, conf, env=env, port=port).start()
    assert_served(s)
    s.baseline_kb = rss_kb(s)
    yield s
    if s.proc.poll() is None:
        code = s.stop()
        assert code == 0, f"server exit {code}:\n{s.log()[-4000:]}"
    s.check_clean()


def raw_ws(srv, cid="abuser"):
    """A raw socket after a 101."""
    s, _, rest = ws_upgrade(srv.port, f"/ws?client_id={cid}")
    assert rest == b"", rest  # nothing sent before our first frame
    return s


def next_data_frame(s, timeout=10):
    """The next frame that is not a server ping: (opcode, payload)."""
    s.settimeout(timeout)
    while True:
        op, payload = read_frame(s)
        if op != 9:
            return op, payload


def close_code(s, timeout=10):
    """Read until the server's close frame; its code (None when empty)."""
    op, payload = next_data_frame(s, timeout)
    assert op == 8, (op, payload)
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


def answer_close(s, timeout=10):
    """Answer the server's close; it must then drop the TCP connection."""
    try:
        s.sendall(frame(8, (1000).to_bytes(2, "big")))
    except OSError:
        pass  # already gone: fine
    assert wait_eof(s, timeout) is not None, "server kept the socket open after its close"


def abuse(srv, data, code):
    """Send data on a fresh raw WebSocket; the server must close with code,
    then a fresh client is still served."""
    s = raw_ws(srv)
    try:
        s.sendall(data)
        assert close_code(s) == code
        answer_close(s)
    finally:
        s.close()
    assert_served(srv)


# --- framing ---

def test_frame_one_byte_at_a_time(srv):
    data = frame(1, json.dumps({"type": "ping", "ref": 1}))
    s = raw_ws(srv)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.01)  # well under idle_timeout in total
        op, payload = next_data_frame(s)
        assert op == 1, (op, payload)
        msg = json.loads(payload)
        assert msg["type"] == "pong" and msg["ref"] == 1, msg
    finally:
        s.close()
    assert_served(srv)


@pytest.mark.parametrize("code", [0, 999, 1004, 1006, 1015, 2999, 5000, 65535])
def test_close_with_invalid_code_1002(srv, code):
    abuse(srv, frame(8, code.to_bytes(2, "big") + b"bye"), 1002)


def test_close_with_valid_private_code_echoed(srv):
    # Control for the case above: 4999 is legal and gets the normal handshake.
    s = raw_ws(srv)
    try:
        s.sendall(frame(8, (4999).to_bytes(2, "big")))
        assert close_code(s) in (4999, 1000)
        assert wait_eof(s, 10) is not None
    finally:
        s.close()


def test_close_reason_invalid_utf8_1007(srv):
    abuse(srv, frame(8, (1000).to_bytes(2, "big") + b"bye \xff\xfe"), 1007)


def test_length_with_high_bit_set_1002(srv):
    head = bytes([0x81, 0x80 | 127]) + ((1 << 63) | 5).to_bytes(8, "big")
    abuse(srv, head + b"mask" + b"hello", 1002)


def test_length_of_2_pow_62_1009(srv):
    head = bytes([0x81, 0x80 | 127]) + (1 << 62).to_bytes(8, "big")
    abuse(srv, head + b"mask" + b"x" * 100, 1009)


# --- half-open clients ---

def test_half_open_clients_closed_by_idle_timeout(srv):
    """idle_timeout = 2: a silent upgraded client, and one that stopped inside
    a frame header, are both closed with 4004 (server pings unanswered)."""
    silent = raw_ws(srv, "silent")
    half = raw_ws(srv, "half")
    start = time.time()
    try:
        half.sendall(frame(1, json.dumps({"type": "ping"}))[:1])  # one header byte
        for s in (silent, half):
            assert close_code(s, timeout=15) == 4004
        took = time.time() - start
        assert 1.5 <= took <= 12, took
        # Nothing answered: the server drops both TCP connections itself.
        for s in (silent, half):
            assert wait_eof(s, 10) is not None, "server kept a half-open socket"
    finally:
        silent.close()
        half.close()
    assert_served(srv)


# --- volume ---

def test_ping_flood_rate_limited_connection_stays(srv):
    async def go():
        ws = await srv.ws(client_id="flooder")
        start = time.monotonic()
        for i in range(500):
            await ws.send(json.dumps({"type": "ping", "ref": i}))
        replies = [await recv(ws, timeout=15) for _ in range(500)]
        took = time.monotonic() - start
        # Replies come in frame order; rate_limited carries the refused
        # frame's ref too.
        pongs = [r["ref"] for r in replies if r["type"] == "pong"]
        limited = [r for r in replies
                   if r["type"] == "error" and r["data"]["code"] == "rate_limited"]
        assert len(pongs) + len(limited) == 500, [r for r in replies if r not in limited][:5]
        assert [r["type"] for r in replies[:100]] == ["pong"] * 100, replies[:100]
        assert pongs[:100] == list(range(100)), pongs[:100]
        # rate_burst 100 at once, then rate_limit 50/s refills the bucket
        # while the server reads the flood: about 0.6 s on a quiet machine
        # (up to 130 pongs), but over 1 s under ASan on a loaded one (132
        # seen), so the bound is what the bucket allows in the time taken.
        assert 100 <= len(pongs) <= 100 + 50 * took + 1, (len(pongs), took)
        assert pongs == sorted(set(pongs)) and pongs[-1] < 500, pongs
        for i, r in enumerate(replies):
            assert r["ref"] == i, (i, r)
        # The flood did not close it: after a refill it is served again.
        await asyncio.sleep(1.5)
        reply = await request(ws, "ping", ref="after", timeout=10)
        assert reply["type"] == "pong" and reply["ref"] == "after", reply
        await ws.close()
    run(go(), timeout=60)
    assert_served(srv)


def churn(srv, total, batch):
    """Open total upgraded connections in batches and drop each without a
    close frame (half by FIN, half by RST)."""
    for start in range(0, total, batch):
        socks = []
        accepted = metric(srv, "switchboard_connections_total")
        try:
            for i in range(batch):
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
                socks.append(s)
                s.sendall(upgrade_request(f"/ws?client_id=churn{start + i}"))
            for s in socks:
                head, _ = read_head(s)
                assert head.startswith(b"HTTP/1.1 101"), head
            # They are WebSockets the server accepted, not refused attempts.
            # (Not the connections gauge: idle_timeout = 2 closes silent
            # ones, and opening 500 can take longer on a loaded machine.)
            assert metric(srv, "switchboard_connections_total") - accepted >= batch
        finally:
            for i, s in enumerate(socks):
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()


def test_churn_without_close_frames(srv):
    churn(srv, 10000, 500)
    deadline = time.time() + 10
    while metric(srv, "switchboard_connections") != 0:
        assert time.time() < deadline, "dropped connections still counted"
        time.sleep(0.2)
    assert_served(srv)
    assert rss_kb(srv) <= srv.baseline_kb + RSS_SLACK_KB, (rss_kb(srv), srv.baseline_kb)


# Keep last: the whole file has run on this server.

def test_rss_back_near_baseline(srv):
    deadline = time.time() + 5
    while rss_kb(srv) > srv.baseline_kb + RSS_SLACK_KB and time.time() < deadline:
        time.sleep(0.2)
    assert rss_kb(srv) <= srv.baseline_kb + RSS_SLACK_KB, (rss_kb(srv), srv.baseline_kb)
    assert metric(srv, "switchboard_connections") == 0
    assert_served(srv)

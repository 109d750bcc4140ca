"""WebSocket framing and connection upkeep (docs/protocol.md sections 2, 5 and 7) with
raw frames: every close code the core sends for a broken frame, fragments
(also across the hibernation of the wslay context), control frames, the close
handshake, heartbeat and idle timeout, and slow consumers. After each abuse
case a fresh client must still be served."""
import asyncio
import json
import os
import re
import socket
import time

import pytest

from conftest import (frame, read_close, read_frame, read_head, recv_type, request, run,
                      upgrade_request, ws_handshake_raw)
from core_util import wait_eof


def ping_json(ref):
    return json.dumps({"type": "ping", "ref": ref})


def expect_pong(s, ref, timeout=5):
    """Read frames (skipping server pings) until a text frame; it must be the pong for ref."""
    s.settimeout(timeout)
    while True:
        op, payload = read_frame(s)
        if op == 9:
            continue
        assert op == 1, (op, payload)
        msg = json.loads(payload)
        assert msg["type"] == "pong" and msg["ref"] == ref, msg
        return msg


def finish_close(s, timeout=5):
    """Answer the server's close and assert it drops the TCP connection."""
    try:
        s.sendall(frame(8, (1000).to_bytes(2, "big")))
    except OSError:
        pass  # already gone: fine
    assert wait_eof(s, timeout) is not None, "server kept the socket open after close"


def assert_served(srv):
    """A fresh client connects and gets a pong."""
    async def go():
        ws = await srv.ws(client_id="fresh")
        reply = await request(ws, "ping", ref="fresh")
        assert reply["type"] == "pong" and reply["ref"] == "fresh", reply
        await ws.close()
    run(go())


def abuse(srv, data, code, client_id="alice"):
    """Send data on a fresh raw WebSocket; the server must close with code."""
    s = ws_handshake_raw(srv.port, path=f"/ws?client_id={client_id}")
    try:
        for part in data if isinstance(data, list) else [data]:
            s.sendall(part)
        assert read_close(s) == code
        finish_close(s)
    finally:
        s.close()
    assert_served(srv)


# --- frames the server refuses ---

def test_binary_frame_1003(server):
    srv = server()
    abuse(srv, frame(2, b'{"type":"ping"}'), 1003)


def test_invalid_utf8_1007(server):
    srv = server()
    abuse(srv, frame(1, b'{"type":"ping","x":"\xff\xfe"}'), 1007)
    abuse(srv, frame(1, b'{"type":"ping","x":"\xed\xa0\x80"}'), 1007)  # a UTF-16 surrogate
    abuse(srv, frame(1, b'{"type":"ping","x":"\xc0\xaf"}'), 1007)  # overlong


def test_invalid_utf8_split_across_fragments_1007(server):
    srv = server()
    abuse(srv, [frame(1, b'{"type":"ping","x":"\xe2\x82', fin=False),
                frame(0, b'\x28"}', fin=True)], 1007)


def test_valid_utf8_split_across_fragments(server):
    srv = server()
    text = '{"type":"ping","ref":"\U0001F600x"}'.encode()
    cut = text.index(b"\xf0") + 2  # in the middle of the 4-byte character
    s = ws_handshake_raw(srv.port)
    try:
        s.sendall(frame(1, text[:cut], fin=False))
        time.sleep(0.1)
        s.sendall(frame(0, text[cut:cut + 1], fin=False))
        s.sendall(frame(0, text[cut + 1:], fin=True))
        expect_pong(s, "\U0001F600x")
        # Control frames may come between fragments.
        s.sendall(frame(1, text[:cut], fin=False) + frame(9, b"mid") + frame(0, text[cut:]))
        s.settimeout(5)
        got = sorted([read_frame(s), read_frame(s)])
        assert got[1] == (10, b"mid"), got
        assert got[0][0] == 1 and json.loads(got[0][1])["ref"] == "\U0001F600x", got
    finally:
        s.close()


def test_over_max_message_bytes_1009(server):
    srv = server(server_keys={"max_message_bytes": 1000})
    # Exactly at the limit: processed (padding spaces are JSON whitespace).
    s = ws_handshake_raw(srv.port)
    try:
        body = ping_json(1)
        s.sendall(frame(1, body + " " * (1000 - len(body))))
        expect_pong(s, 1)
    finally:
        s.close()
    abuse(srv, frame(1, "x" * 1001), 1009)
    # Over the limit only once the fragments are added up.
    abuse(srv, [frame(1, "x" * 600, fin=False), frame(0, "x" * 600)], 1009)
    # A header declaring a huge payload is refused at its first bytes, not
    # after buffering a terabyte.
    abuse(srv, bytes([0x81, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + b"mask" + b"x" * 100,
          1009)
    # ... even before any payload byte: the header alone is enough.
    abuse(srv, bytes([0x81, 0x80 | 126]) + (1001).to_bytes(2, "big") + b"mask", 1009)
    abuse(srv, bytes([0x82, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + b"mask", 1009)
    # After a fragment: a continuation declaring too much is refused too.
    abuse(srv, [frame(1, "x" * 10, fin=False),
                bytes([0x80, 0x80 | 126]) + (2000).to_bytes(2, "big") + b"mask"], 1009)


def test_unmasked_client_frame_1002(server):
    srv = server()
    abuse(srv, frame(1, ping_json(1), mask=False), 1002)


# One server per test, several cases each: a refused connection lingers up
# to 2 s for the client's close, and every server stop waits for it.

def test_reserved_opcode_1002(server):
    srv = server()
    for opcode in (3, 7, 0xB, 0xF):
        abuse(srv, frame(opcode, b"x"), 1002)


def test_rsv_bits_1002(server):
    srv = server()
    for rsv in (1, 2, 4):
        abuse(srv, frame(1, ping_json(1), rsv=rsv), 1002)


def test_bad_continuation_1002(server):
    srv = server()
    abuse(srv, frame(0, b"x"), 1002)  # continuation without a start
    abuse(srv, [frame(1, b'{"ty', fin=False), frame(1, b'pe":"ping"}')], 1002)  # new msg mid-message


# Core bug: for a violation its frame layer finds (control frame over 125
# bytes, fragmented control frame, non-minimal length), wslay_event_recv
# queues an empty close and returns WSLAY_ERR_CALLBACK_FAILURE;
# sb_ws_on_readable (core/transport/ws.c) sends it through send_cb (rewritten to 1002)
# but then destroys the connection at once because rv != 0, so the close frame
# is never written.

def test_frame_header_violation_1002(server):
    srv = server()
    abuse(srv, frame(9, b"p" * 126), 1002)  # control frame over 125 bytes
    abuse(srv, frame(9, b"p", fin=False), 1002)  # fragmented control frame
    # Length 5 written in the 16-bit form, which must be used only from 126.
    abuse(srv, bytes([0x81, 0x80 | 126, 0, 5]) + b"\0\0\0\0" + b"hello", 1002)


def server_cpu(srv):
    """CPU seconds the server process has used (Linux /proc)."""
    fields = open(f"/proc/{srv.proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Core bug: after wslay refuses a frame (1002, 1007, 1009) it stops reading
# (read_enabled = 0), but the core keeps its read watcher on: the client's
# close frame leaves the socket readable and the loop spins until the close
# linger (2 s) ends.

def test_no_busy_loop_after_refused_frame(server):
    srv = server()
    for data in (frame(1, ping_json(1), rsv=4), frame(1, b"\xff")):
        s = ws_handshake_raw(srv.port)
        try:
            s.sendall(data)
            assert read_close(s) in (1002, 1007)
            before = server_cpu(srv)
            s.sendall(frame(8, (1000).to_bytes(2, "big")))
            time.sleep(1.5)
            used = server_cpu(srv) - before
            assert used < 0.3, f"server used {used:.2f} s of CPU while closing one connection"
        finally:
            s.close()


# --- control frames and closing ---

def test_ping_frame_gets_pong_with_payload(server):
    srv = server()
    s = ws_handshake_raw(srv.port)
    try:
        for payload in (b"", b"hello", bytes(range(125))):
            s.sendall(frame(9, payload))
            s.settimeout(5)
            op, got = read_frame(s)
            assert (op, got) == (10, payload)
        # An unsolicited pong is ignored.
        s.sendall(frame(10, b"x") + frame(1, ping_json(2)))
        expect_pong(s, 2)
    finally:
        s.close()


def test_close_handshake(server):
    srv = server()
    s = ws_handshake_raw(srv.port)
    try:
        s.sendall(frame(8, (1000).to_bytes(2, "big") + b"bye"))
        s.settimeout(5)
        op, payload = read_frame(s)
        assert op == 8
        assert int.from_bytes(payload[:2], "big") == 1000
        took = wait_eof(s, 3)
        assert took is not None and took < 1.0, took
    finally:
        s.close()
    assert_served(srv)


def test_close_with_websockets_client(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        await ws.close(code=1000, reason="done")
        assert ws.close_code == 1000

    run(go())


def test_close_invalid_code_1002(server):
    srv = server()
    abuse(srv, frame(8, (1005).to_bytes(2, "big")), 1002)  # 1005 must not be sent
    for code in (0, 999, 1004, 1006, 1015, 2999, 5000):  # RFC 6455 7.4: not for a close frame
        abuse(srv, frame(8, code.to_bytes(2, "big") + b"why"), 1002)
    # A one-byte close payload is a protocol error too (RFC 6455 5.5.1):
    # answered 1002, not with an empty close.
    s = ws_handshake_raw(srv.port)
    try:
        s.sendall(frame(8, b"\x03"))
        assert read_close(s) == 1002
        assert wait_eof(s, 5) is not None
    finally:
        s.close()
    # An empty close is fine: echoed empty.
    s = ws_handshake_raw(srv.port)
    try:
        s.sendall(frame(8, b""))
        assert read_close(s) is None
    finally:
        s.close()


# --- heartbeat and idle ---

def test_idle_timeout_4004_and_server_pings(server):
    srv = server(server_keys={"idle_timeout": 1, "ping_interval": 0.3})
    s = ws_handshake_raw(srv.port)
    start = time.time()
    pings = []
    try:
        s.settimeout(5)
        while True:
            op, payload = read_frame(s)
            if op == 9:
                pings.append(time.time() - start)
                continue
            assert op == 8, (op, payload)
            assert int.from_bytes(payload[:2], "big") == 4004
            break
        closed_at = time.time() - start
        assert 0.9 <= closed_at <= 2.5, closed_at
        assert len(pings) >= 2, pings
        # Every ping_interval (loose bounds: the machine may be loaded).
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.15 <= g <= 0.8 for g in gaps), pings
        assert 0.2 <= sum(gaps) / len(gaps) <= 0.5, pings
        finish_close(s)
    finally:
        s.close()
    assert_served(srv)


def test_client_answering_pings_stays_open(server):
    srv = server(server_keys={"idle_timeout": 1, "ping_interval": 0.3})

    async def go():
        # websockets answers the server's pings by itself.
        ws = await srv.ws(client_id="alice")
        await asyncio.sleep(2.5)
        reply = await request(ws, "ping", ref="still")
        assert reply["type"] == "pong" and reply["ref"] == "still"
        await ws.close()

    run(go())


def test_any_client_frame_resets_idle(server):
    srv = server(server_keys={"idle_timeout": 1, "ping_interval": 30})
    s = ws_handshake_raw(srv.port)
    try:
        # Unsolicited pongs only: no reply is due, but the connection lives.
        for _ in range(6):
            time.sleep(0.4)
            s.sendall(frame(10, b"k"))
        s.sendall(frame(1, ping_json("alive")))
        expect_pong(s, "alive")
        # Then silence: closed.
        assert read_close(s, timeout=3) == 4004
    finally:
        s.close()


def ws_contexts(srv):
    """switchboard_ws_contexts: connections whose wslay context is allocated."""
    status, _, body = srv.http("GET", "/metrics")
    assert status == 200
    m = re.search(r"^switchboard_ws_contexts (\d+)$", body.decode(), re.M)
    return int(m.group(1))


def test_fragments_survive_hibernation(server):
    """The wslay context is freed after a quiet second; a half-sent message or
    frame must keep it."""
    srv = server()
    text = ping_json("slow").encode()
    s = ws_handshake_raw(srv.port)
    try:
        s.sendall(frame(1, text[:5], fin=False))
        time.sleep(1.3)
        assert ws_contexts(srv) == 1  # mid-message: kept
        s.sendall(frame(0, text[5:]))
        expect_pong(s, "slow")
        # A frame cut inside its header, then inside its payload.
        f = frame(1, text)
        s.sendall(f[:1])
        time.sleep(1.3)
        assert ws_contexts(srv) == 1
        s.sendall(f[1:9])
        time.sleep(1.3)
        assert ws_contexts(srv) == 1
        s.sendall(f[9:])
        expect_pong(s, "slow")
        # A quiet connection hibernates (about a second after its last
        # frame; polled, the loop may be slow under sanitizers), and wakes up
        # for the next frame.
        deadline = time.time() + 4
        while ws_contexts(srv) != 0:
            assert time.time() < deadline, "a quiet connection kept its wslay context"
            time.sleep(0.1)
        s.sendall(frame(1, ping_json("woke")))
        expect_pong(s, "woke")
    finally:
        s.close()


# --- slow consumers ---

def test_slow_consumer_closed_others_unaffected(server):
    srv = server(server_keys={"max_outbound_bytes": 65536, "rate_limit": 0})
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", srv.port))
    slow.settimeout(10)
    slow.sendall(upgrade_request("/ws?client_id=slow"))
    head, _ = read_head(slow, step=1)  # byte by byte: leave every frame in the socket
    assert head.startswith(b"HTTP/1.1 101")
    text = "y" * 16000

    async def go():
        sender = await srv.ws(client_id="sender")
        other = await srv.ws(client_id="other")
        acks = 0
        for i in range(1000):
            reply = await request(sender, "message", {"to": "slow", "text": text, "n": i}, ref=i)
            assert reply["type"] == "ack" and reply["ref"] == i, reply
            acks += 1
            if "slow consumer" in srv.log():
                break
        assert "slow consumer" in srv.log(), "1000 messages never made a slow consumer"
        # The sender goes on being served, and so do the others.
        reply = await request(sender, "message", {"to": "other", "text": "after"}, ref="x")
        assert reply["type"] == "ack"
        got = await recv_type(other, "message")
        assert got["data"]["text"] == "after"
        reply = await request(other, "ping", ref="o")
        assert reply["type"] == "pong"
        await sender.close()
        await other.close()
        return acks

    acks = run(go(), timeout=60)
    assert acks >= 4  # 64 KiB of output takes several 16 KB messages
    # The slow socket ends: frames, then a 4003 close or a dropped connection.
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    seen, code = 0, None
    try:
        while True:
            op, payload = read_frame(slow)
            if op == 8:
                code = int.from_bytes(payload[:2], "big")
                break
            if op == 1:
                assert json.loads(payload)["data"]["n"] == seen
                seen += 1
    except (ConnectionError, OSError):
        pass
    assert code in (None, 4003), code
    assert seen < acks, (seen, acks)
    slow.close()

    # Its messages stayed stored: a new connection of the user gets them all,
    # oldest first (read them all: websockets stops reading at 32 queued).
    async def again():
        ws = await srv.ws(client_id="slow")
        for i in range(acks):
            got = await recv_type(ws, "message", timeout=10)
            assert got["data"]["n"] == i and got["data"]["from"] == "sender", got
        await ws.close()

    run(again(), timeout=60)
    assert_served(srv)

"""Process lifecycle (docs/protocol.md section 5): SIGTERM and SIGINT close every
WebSocket with 1001, stop accepting and exit 0; a client that never answers
the close does not hold the exit past shutdown_timeout; SIGHUP reloads
without stopping anything."""
import asyncio
import signal
import socket
import time

import pytest

from conftest import closed_with, read_close, read_response, request, run, ws_handshake_raw
from core_util import connect, req_bytes, wait_eof


def wait_exit(srv, timeout=10):
    try:
        return srv.proc.wait(timeout)
    except Exception:
        raise AssertionError(f"server still running {timeout}s after the signal:\n"
                             f"{srv.log()[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_with_1001(server, sig):
    srv = server()

    async def go():
        clients = [await srv.ws(client_id=u) for u in ("alice", "bob", "alice")]
        reply = await request(clients[1], "join", {"room": "lobby"}, ref=1)
        assert reply["type"] == "join"
        start = time.time()
        srv.signal(sig)
        results = await asyncio.gather(*(closed_with(ws, timeout=5) for ws in clients))
        for code, reason in results:
            assert code == 1001, results
            assert "shutting down" in reason, results
        return time.time() - start

    took = run(go())
    assert took < 2.0, took
    assert wait_exit(srv) == 0
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    assert f"{name}: closing 3 connections" in srv.log(), srv.log()[-2000:]
    assert "stopped" in srv.log()
    # No longer accepting.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def test_client_not_answering_close_bounded_by_shutdown_timeout(server):
    srv = server(server_keys={"shutdown_timeout": 1})
    raw = ws_handshake_raw(srv.port)
    try:
        start = time.time()
        srv.signal(signal.SIGTERM)
        assert read_close(raw) == 1001
        # Never answer the close: the server gives up on us and exits anyway.
        assert wait_exit(srv, 5) == 0
        assert time.time() - start < 3.0
    finally:
        raw.close()


def test_second_signal_stops_at_once(server):
    srv = server(server_keys={"shutdown_timeout": 30})
    raw = ws_handshake_raw(srv.port)
    try:
        srv.signal(signal.SIGTERM)
        assert read_close(raw) == 1001
        time.sleep(0.2)
        assert srv.proc.poll() is None or srv.proc.returncode == 0
        start = time.time()
        srv.signal(signal.SIGTERM)
        assert wait_exit(srv, 5) == 0
        assert time.time() - start < 1.5
        assert "SIGTERM again: stopping now" in srv.log(), srv.log()[-2000:]
    finally:
        raw.close()


# Core bug: server_shutdown (core/host/server.c) closes WebSockets only; an idle
# keep-alive HTTP connection (a health checker, a push-API client) stays until
# its header_timeout or shutdown_timeout, 10 s by default, and the exit waits.

def test_idle_keep_alive_http_does_not_hold_shutdown(server):
    srv = server(server_keys={"header_timeout": 3, "shutdown_timeout": 3})
    s = connect(srv.port)
    try:
        s.sendall(req_bytes("GET", "/health"))
        status, _, body = read_response(s)
        assert (status, body) == (200, b"ok")
        start = time.time()
        srv.signal(signal.SIGTERM)
        assert wait_exit(srv, 15) == 0
        took = time.time() - start
        assert took < 2.0, f"an idle keep-alive connection held the shutdown {took:.1f}s"
        assert wait_eof(s, 2) is not None
    finally:
        s.close()


def test_sighup_does_not_stop(server):
    srv = server()

    async def go():
        ws = await srv.ws(client_id="alice")
        reply = await request(ws, "join", {"room": "r"}, ref=1)
        assert reply["type"] == "join"
        for _ in range(3):
            srv.signal(signal.SIGHUP)
            await asyncio.sleep(0.2)
        srv.wait_log(r"SIGHUP: reloading plugins")
        assert srv.proc.poll() is None
        # The open connection and its state survive; new ones are accepted.
        reply = await request(ws, "me", ref=2)
        assert reply["type"] == "me" and reply["data"]["rooms"] == ["r"], reply
        other = await srv.ws(client_id="bob")
        reply = await request(other, "members", {"room": "r"}, ref=3)
        assert reply["data"]["users"] == ["alice"], reply
        await other.close()
        await ws.close()

    run(go())
    assert srv.http("GET", "/health")[0] == 200

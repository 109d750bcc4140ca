"""The WebSocket upgrade (docs/protocol.md section 1, RFC 6455 section 4): the accept
value, every refusal with its status, headers and one-line reason, the
client_id rules (the core's own, and the auth plugin's mode none), the origin
allow-list and the connection limits."""
import socket
import time

import pytest

from conftest import (default_sections, frame, read_close, read_frame, read_head, recv, request,
                      run, send, upgrade_request)
from core_util import no_auth_sections, refused, upgrade, wait_eof

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def accepted(port, **kw):
    """Assert a 101; returns the live raw socket."""
    st, hdrs, body, s = upgrade(port, **kw)
    assert st == 101, (st, hdrs, body)
    return s


def test_accept_value_rfc6455(server):
    srv = server()
    st, hdrs, rest, s = upgrade(srv.port, key=RFC_KEY)
    try:
        assert st == 101
        assert hdrs["sec-websocket-accept"] == RFC_ACCEPT
        assert hdrs["upgrade"].lower() == "websocket"
        assert hdrs["connection"].lower() == "upgrade"
        assert rest == b""
    finally:
        s.close()


def test_upgrade_headers_are_case_insensitive_tokens(server):
    srv = server()
    s = accepted(srv.port, headers={"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"})
    s.close()


def test_missing_or_invalid_key_400(server):
    srv = server()
    assert "Sec-WebSocket-Key" in refused(srv.port, 400, drop=("Sec-WebSocket-Key",))
    for key in ("", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!",
                "dGhlIHNhbXBsZSBub25jZQ==dGhl", "dGhlIHNhbXBsZSBub25j"):
        refused(srv.port, 400, key=key)


def test_other_version_426(server):
    srv = server()
    for version in ("12", "8", "14"):
        st, hdrs, body, s = upgrade(srv.port, headers={"Sec-WebSocket-Version": version})
        s.close()
        assert st == 426, version
        assert hdrs["sec-websocket-version"] == "13"
        assert body.decode().count("\n") == 1
    refused(srv.port, 426, drop=("Sec-WebSocket-Version",))


def test_plain_get_ws_426(server):
    srv = server()
    status, hdrs, body = srv.http("GET", "/ws?client_id=alice")
    assert status == 426
    assert hdrs["upgrade"].lower() == "websocket"
    assert body.decode().count("\n") == 1 and len(body) > 5
    # An Upgrade header without Connection: Upgrade is not an upgrade either.
    st, hdrs, _, s = upgrade(srv.port, drop=("Connection",))
    s.close()
    assert st == 426
    assert hdrs["upgrade"].lower() == "websocket"


def test_post_ws_405(server):
    srv = server()
    status, hdrs, body = srv.http("POST", "/ws", body="x")
    assert status == 405
    assert hdrs["allow"] == "GET"
    assert body.decode().count("\n") == 1
    st, hdrs, _, s = upgrade(srv.port, method="POST")
    s.close()
    assert st == 405 and hdrs["allow"] == "GET"


BAD_IDS = [
    ("missing", "/ws"),
    ("missing, other params", "/ws?foo=bar"),
    ("empty", "/ws?client_id="),
    ("zero", "/ws?client_id=0"),
    ("65 chars", "/ws?client_id=" + "a" * 65),
    ("space", "/ws?client_id=a%20b"),
    ("slash", "/ws?client_id=a/b"),
    ("plus", "/ws?client_id=a+b"),
    ("non-ascii", "/ws?client_id=%C3%A9"),
    ("NUL", "/ws?client_id=a%00b"),
    ("bad escape", "/ws?client_id=a%zz"),
    ("quote", "/ws?client_id=a%22b"),
]
GOOD_IDS = ["a", "A.b_c-d@e:f", "a" * 64, "00", "%41lice"]


@pytest.mark.parametrize("variant", ["no auth section", "auth mode none"])
def test_client_id_rules(server, variant):
    sections = no_auth_sections() if variant == "no auth section" else default_sections()
    srv = server(sections=sections)
    for what, path in BAD_IDS:
        try:
            body = refused(srv.port, 401, path=path)
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}") from None
        assert "client_id" in body, (what, body)
    for cid in GOOD_IDS:
        s = accepted(srv.port, path="/ws?client_id=" + cid)
        s.close()

    async def identity():
        ws = await srv.ws(client_id="%41lice")
        if variant == "auth mode none":
            reply = await request(ws, "me", ref=1)
            assert reply["data"]["user"] == "Alice", reply
        else:
            reply = await request(ws, "list", ref=1)
            assert reply["data"]["users"] == ["Alice"], reply
        await ws.close()

    run(identity())


def test_origin_allow_list(server):
    srv = server(server_keys={"allowed_origins": "https://a.example https://c.example"})
    body = refused(srv.port, 403, headers={"Origin": "https://b.example"})
    assert "origin" in body
    # A prefix of an allowed origin is not allowed.
    refused(srv.port, 403, headers={"Origin": "https://a.example.evil"})
    for origin in ("https://a.example", "https://c.example"):
        s = accepted(srv.port, headers={"Origin": origin})
        s.close()
    s = accepted(srv.port)  # no Origin: not a browser
    s.close()


def test_no_allow_list_any_origin(server):
    srv = server()
    s = accepted(srv.port, headers={"Origin": "https://anything.example"})
    s.close()


def test_max_connections_503(server):
    srv = server(server_keys={"max_connections": 2})
    a = accepted(srv.port, path="/ws?client_id=a")
    b = accepted(srv.port, path="/ws?client_id=b")
    try:
        body = refused(srv.port, 503, path="/ws?client_id=c")
        assert "limit" in body
        # Plain HTTP is not a WebSocket: still served.
        assert srv.http("GET", "/health")[0] == 200
    finally:
        b.close()
    # Once one closes, its slot is free again (give the server a moment).
    deadline = time.time() + 5
    while True:
        st, _, _, s = upgrade(srv.port, path="/ws?client_id=c")
        s.close()
        if st == 101:
            break
        assert st == 503 and time.time() < deadline, st
        time.sleep(0.05)
    a.close()


def test_max_connections_per_ip_503(server):
    srv = server(server_keys={"max_connections_per_ip": 1})
    a = accepted(srv.port, path="/ws?client_id=a")
    try:
        body = refused(srv.port, 503, path="/ws?client_id=b")
        assert "address" in body
        # The first connection still works.
        a.sendall(frame(1, '{"type":"ping","ref":1}'))
        op, payload = read_frame(a)
        assert op == 1 and b'"pong"' in payload
    finally:
        a.close()


def test_refused_upgrade_then_fresh_client_served(server):
    srv = server(server_keys={"allowed_origins": "https://a.example"})
    refused(srv.port, 403, headers={"Origin": "https://b.example"})
    refused(srv.port, 401, path="/ws")

    async def go():
        ws = await srv.ws(client_id="alice")
        await send(ws, "ping", ref="p")
        reply = await recv(ws)
        assert reply["type"] == "pong" and reply["ref"] == "p"
        await ws.close()

    run(go())


# Core bug: http_parse (core/transport/http.c) keeps the bytes behind the handshake in
# c->pre and detaches, but nothing wakes the WebSocket reader: they are read
# only when the client sends more.

def test_frames_after_upgrade_in_same_packet(server):
    """Bytes the client sends right behind the handshake are frames, not lost."""
    srv = server()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
    try:
        s.sendall(upgrade_request(key=RFC_KEY) + frame(1, '{"type":"ping","ref":7}'))
        head, rest = read_head(s)
        assert head.startswith(b"HTTP/1.1 101")
        # The pong may already be in rest; feed it back through a tiny reader.
        op, payload = read_frame(_Prefixed(s, rest))
        assert op == 1 and b'"ref":7' in payload and b'"pong"' in payload
        s.sendall(frame(8, (1000).to_bytes(2, "big")))
        assert read_close(s) == 1000
        assert wait_eof(s, 5) is not None
    finally:
        s.close()


class _Prefixed:
    """A socket whose first recv calls return bytes already read."""

    def __init__(self, s, prefix):
        self.s, self.prefix = s, prefix

    def recv(self, n):
        if self.prefix:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        return self.s.recv(n)


def test_per_ip_limit_uses_forwarded_for_from_trusted_proxy(server):
    srv = server(server_keys={"max_connections_per_ip": 1, "trusted_proxies": "127.0.0.0/8"})
    a = accepted(srv.port, path="/ws?client_id=a", headers={"X-Forwarded-For": "203.0.113.1"})
    b = accepted(srv.port, path="/ws?client_id=b",
                 headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.2"})
    try:
        refused(srv.port, 503, path="/ws?client_id=c", headers={"X-Forwarded-For": "203.0.113.1"})
        # The last hop counts, not what the client put first.
        refused(srv.port, 503, path="/ws?client_id=c",
                headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.2"})
    finally:
        a.close()
        b.close()


def test_forwarded_for_ignored_from_untrusted_peer(server):
    srv = server(server_keys={"max_connections_per_ip": 1, "trusted_proxies": "10.0.0.0/8"})
    a = accepted(srv.port, path="/ws?client_id=a", headers={"X-Forwarded-For": "203.0.113.1"})
    try:
        # Another claimed address, same real peer: still the same client.
        refused(srv.port, 503, path="/ws?client_id=b", headers={"X-Forwarded-For": "203.0.113.7"})
    finally:
        a.close()

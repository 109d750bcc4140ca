"""Push API (docs/protocol.md section 6, plugins/api/README.md): every call's success
path end to end, every error answer, and the HTTP mechanics the API relies on
(keep-alive, pipelining, chunked bodies, Expect: 100-continue)."""
import json
import os
import time

import pytest

from conftest import (PLUGIN_DIR, closed_with, default_sections, no_frame, read_response,
                      recv_type, request, run, send)

KEY = "k"
JSON_CT = "application/json"


def api_sections(key=KEY, **extra):
    sections = default_sections()
    sections["api"] = {"api_key": key}
    sections.update(extra)
    return sections


def api_call(srv, method, path, body=None, key=KEY, headers=None):
    """One API request on a fresh connection: (status, headers, parsed JSON body).
    body: a dict/list is JSON-encoded, str/bytes are sent as they are."""
    h = {}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if body is not None:
        h["Content-Type"] = JSON_CT
    h.update(headers or {})
    status, hdrs, raw = srv.http(method, path, body, h)
    if hdrs.get("content-type", "").startswith(JSON_CT):
        # One line per answer, so that two curl calls in a row do not run together.
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw
    data = json.loads(raw) if raw and hdrs.get("content-type", "").startswith(JSON_CT) else raw
    return status, hdrs, data


def assert_error(resp, status, code):
    st, hdrs, body = resp
    assert st == status, resp
    assert hdrs["content-type"].startswith(JSON_CT), hdrs
    assert isinstance(body, dict) and body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"], body


def raw_req(method, path, body=b"", key=KEY, extra=None):
    """Bytes of one keep-alive request."""
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "x"}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    if body:
        h["Content-Length"] = str(len(body))
    h.update(extra or {})
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            + "\r\n").encode() + body


def run_clients(srv, body):
    """Run body(connect), where connect(client_id) opens a WebSocket to srv; every
    one is closed at the end, so the server's shutdown does not wait on clients
    that no longer read."""
    async def main():
        conns = []

        async def connect(client_id, **kw):
            ws = await srv.ws(client_id=client_id, **kw)
            conns.append(ws)
            return ws
        try:
            await body(connect)
        finally:
            for ws in conns:
                await ws.close()
    run(main())


def assert_stamped(data, id_, from_, **routing):
    assert data["id"] == id_
    assert data["from"] == from_
    assert isinstance(data["ts"], int) and abs(data["ts"] - time.time() * 1000) < 60000
    for k, v in routing.items():
        assert data[k] == v


# --- success paths ---

def test_message_reaches_online_user_on_every_connection(server):
    srv = server(sections=api_sections())

    async def go(connect):
        a1 = await connect("alice")
        a2 = await connect("alice")
        bob = await connect("bob")
        st, hdrs, body = api_call(srv, "POST", "/api/users/alice/messages",
                                  {"text": "hi", "n": 3, "nested": {"a": [1, 2]}})
        assert st == 202, body
        assert hdrs["content-type"].startswith(JSON_CT)
        assert set(body) == {"id"} and isinstance(body["id"], str) and len(body["id"]) == 26
        for ws in (a1, a2):
            msg = await recv_type(ws, "message")
            assert "ref" not in msg
            data = msg["data"]
            assert_stamped(data, body["id"], "server", to="alice")
            assert data["text"] == "hi" and data["n"] == 3 and data["nested"] == {"a": [1, 2]}
            assert set(data) == {"id", "from", "to", "ts", "text", "n", "nested"}
        await no_frame(bob)
    run_clients(srv, go)


def test_message_from_body_and_spoofed_fields_overwritten(server):
    srv = server(sections=api_sections())

    async def go(connect):
        bob = await connect("bob")
        st, _, body = api_call(srv, "POST", "/api/users/bob/messages",
                               {"from": "billing", "id": "x", "ts": 1, "to": "eve", "text": "t"})
        assert st == 202, body
        data = (await recv_type(bob, "message"))["data"]
        assert_stamped(data, body["id"], "billing", to="bob")
        assert data["text"] == "t"
    run_clients(srv, go)


def test_message_percent_decoded_user(server):
    srv = server(sections=api_sections())

    async def go(connect):
        ws = await connect("bob@example.com")
        st, _, body = api_call(srv, "POST", "/api/users/bob%40example.com/messages", {"t": 1})
        assert st == 202, body
        data = (await recv_type(ws, "message"))["data"]
        assert_stamped(data, body["id"], "server", to="bob@example.com")
    run_clients(srv, go)


def test_message_offline_user_gets_it_on_connect_until_read(server):
    srv = server(sections=api_sections())

    async def go(connect):
        ids = []
        for i in range(3):
            st, _, body = api_call(srv, "POST", "/api/users/carol/messages", {"i": i})
            assert st == 202, body
            ids.append(body["id"])
        assert ids == sorted(ids) and len(set(ids)) == 3
        ws = await connect("carol")
        got = [(await recv_type(ws, "message"))["data"] for _ in range(3)]
        assert [d["id"] for d in got] == ids
        assert [d["i"] for d in got] == [0, 1, 2]
        assert all(d["from"] == "server" and d["to"] == "carol" for d in got)
        await ws.close()
        # Stored until read: a new connection gets them again; read removes them.
        ws = await connect("carol")
        got = [(await recv_type(ws, "message"))["data"]["id"] for _ in range(3)]
        assert got == ids
        reply = await request(ws, "read", {"ids": ids}, ref=1)
        assert reply["type"] == "read" and sorted(reply["data"]["ids"]) == ids
        await ws.close()
        ws = await connect("carol")
        await no_frame(ws, 0.5)
    run_clients(srv, go)


def test_publish_reaches_room_members(server):
    srv = server(sections=api_sections())

    async def go(connect):
        alice = await connect("alice")
        bob = await connect("bob")
        out = await connect("carol")
        for ws in (alice, bob):
            await send(ws, "join", {"room": "lobby"}, ref="j")
            assert (await recv_type(ws, "join"))["data"]["room"] == "lobby"
        st, hdrs, body = api_call(srv, "POST", "/api/rooms/lobby/publish",
                                  {"text": "news", "room": "other", "from": "ops"})
        assert st == 202, body
        assert hdrs["content-type"].startswith(JSON_CT)
        assert set(body) == {"id", "delivered"} and body["delivered"] == 2
        for ws in (alice, bob):
            data = (await recv_type(ws, "publish"))["data"]
            assert_stamped(data, body["id"], "ops", room="lobby")
            assert data["text"] == "news"
        await no_frame(out)
        # Live only: an empty room delivers to nobody, and nothing is stored.
        st, _, body = api_call(srv, "POST", "/api/rooms/empty%20room/publish", {"x": 1})
        assert st == 202 and body["delivered"] == 0, body
    run_clients(srv, go)


def test_broadcast_reaches_everyone(server):
    srv = server(sections=api_sections())

    async def go(connect):
        conns = [await connect(u) for u in ("alice", "alice", "bob")]
        st, _, body = api_call(srv, "POST", "/api/broadcast", {"text": "maintenance at 5"})
        assert st == 202, body
        assert body["delivered"] == 3
        for ws in conns:
            data = (await recv_type(ws, "broadcast"))["data"]
            assert_stamped(data, body["id"], "server")
            assert data["text"] == "maintenance at 5"
            assert "to" not in data and "room" not in data
        # Not stored: a later connection gets nothing.
        late = await connect("dave")
        await no_frame(late, 0.5)
    run_clients(srv, go)


def test_users_and_room_members(server):
    srv = server(sections=api_sections())

    async def go(connect):
        st, _, body = api_call(srv, "GET", "/api/users")
        assert (st, body) == (200, {"users": []})
        conns = [await connect(u) for u in ("bob", "alice", "alice")]
        for ws in conns[:2]:
            await send(ws, "join", {"room": "r 1"})
            await recv_type(ws, "join")
        st, hdrs, body = api_call(srv, "GET", "/api/users")
        assert st == 200 and hdrs["content-type"].startswith(JSON_CT)
        assert body == {"users": ["alice", "bob"]}
        st, _, body = api_call(srv, "GET", "/api/rooms/r%201/members")
        assert (st, body) == (200, {"users": ["alice", "bob"], "more": False})
        st, _, body = api_call(srv, "GET", "/api/rooms/nobody/members")
        assert (st, body) == (200, {"users": [], "more": False})
    run_clients(srv, go)


def test_room_members_pages_as_native_members(server):
    """GET /api/rooms/{room}/members pages as native `members` does:
    ?after=USER&limit=N (1 to 1000, default 1000), "more" while names remain;
    the pages cover everyone once; a bad after or limit is 400."""
    srv = server(sections=api_sections())
    names = ["u%02d" % i for i in range(7)]

    async def go(connect):
        for name in reversed(names):
            ws = await connect(name)
            await send(ws, "join", {"room": "big"})
            await recv_type(ws, "join")
        pages, after = [], None
        while True:
            path = "/api/rooms/big/members?limit=3" + (f"&after={after}" if after else "")
            st, _, body = api_call(srv, "GET", path)
            assert st == 200 and set(body) == {"users", "more"}, (st, body)
            assert len(body["users"]) <= 3, body
            pages.append(body["users"])
            if not body["more"]:
                break
            after = body["users"][-1]
        assert pages == [names[0:3], names[3:6], names[6:]], pages
        # The native reply to the same page, for comparison.
        ws = await connect("u00")
        await send(ws, "members", {"room": "big", "after": "u02", "limit": 3})
        native = await recv_type(ws, "members")
        st, _, body = api_call(srv, "GET", "/api/rooms/big/members?after=u02&limit=3")
        assert body == {"users": native["data"]["users"], "more": native["data"]["more"]}, body
        # Without limit: everyone (up to 1000); after the last name: nobody.
        assert api_call(srv, "GET", "/api/rooms/big/members")[2] == {"users": names, "more": False}
        assert api_call(srv, "GET", "/api/rooms/big/members?after=u06")[2] == {"users": [],
                                                                               "more": False}
        for query in ("limit=0", "limit=1001", "limit=x", "limit=2.5", "limit=", "after=" + "a" * 65):
            st, _, body = api_call(srv, "GET", "/api/rooms/big/members?" + query)
            assert st == 400 and body["error"] == "bad_request", (query, st, body)
    run_clients(srv, go)


def test_disconnect_closes_every_connection_with_1008(server):
    srv = server(sections=api_sections())

    async def go(connect):
        a1 = await connect("alice")
        a2 = await connect("alice")
        bob = await connect("bob")
        st, hdrs, body = api_call(srv, "POST", "/api/users/alice/disconnect")
        assert (st, body) == (200, {"closed": 2})
        assert hdrs["content-type"].startswith(JSON_CT)
        for ws in (a1, a2):
            code, _ = await closed_with(ws)
            assert code == 1008
        assert (await request(bob, "ping", ref=1))["type"] == "pong"
        deadline = time.time() + 5
        while time.time() < deadline:
            _, _, body = api_call(srv, "GET", "/api/users")
            if body["users"] == ["bob"]:
                break
            time.sleep(0.05)
        assert body == {"users": ["bob"]}
        # Nobody left: closed 0. A reason may be given in the body.
        st, _, body = api_call(srv, "POST", "/api/users/alice/disconnect")
        assert (st, body) == (200, {"closed": 0})
        st, _, body = api_call(srv, "POST", "/api/users/bob/disconnect", {"reason": "revoked"})
        assert (st, body) == (200, {"closed": 1})
        code, reason = await closed_with(bob)
        assert (code, reason) == (1008, "revoked")
    run_clients(srv, go)



@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "store_lmdb.so")),
                    reason="store_lmdb plugin not built")
def test_message_202_means_stored_with_lmdb(server, tmp_path):
    """With store_lmdb the 202 comes after the commit: a crash right after it
    loses nothing."""
    sections = default_sections(store="store_lmdb")
    sections["store_lmdb"] = {"map_size_mb": 16}
    sections["api"] = {"api_key": KEY}
    wd = str(tmp_path / "lmdb")
    srv = server(sections=sections, workdir=wd)
    ids = [api_call(srv, "POST", "/api/users/dora/messages", {"i": i})[2]["id"] for i in range(5)]
    srv.kill()
    srv = server(sections=sections, workdir=wd)

    async def go(connect):
        ws = await connect("dora")
        got = [(await recv_type(ws, "message"))["data"] for _ in range(5)]
        assert [d["id"] for d in got] == ids
        assert [d["i"] for d in got] == list(range(5))
    run_clients(srv, go)

# --- errors ---

def test_missing_or_wrong_key_is_401(server):
    srv = server(sections=api_sections(key="s3cret"))
    for key in (None, "wrong", "s3cre", "s3crett", ""):
        resp = api_call(srv, "GET", "/api/users", key=key)
        assert_error(resp, 401, "unauthorized")
        assert resp[1].get("www-authenticate", "").lower().startswith("bearer")
    assert_error(api_call(srv, "GET", "/api/users", key=None,
                          headers={"Authorization": "Basic czNjcmV0"}), 401, "unauthorized")
    # The key comes before the path and the method.
    assert_error(api_call(srv, "GET", "/api/broadcast", key="wrong"), 401, "unauthorized")
    assert_error(api_call(srv, "GET", "/api/nope", key=None), 401, "unauthorized")
    assert api_call(srv, "GET", "/api/users", key="s3cret")[0] == 200


def test_empty_api_key_refuses_everything(server):
    srv = server(sections=api_sections(key=""))
    srv.wait_log(r"api_key is empty")
    assert "[api] [api]" not in srv.log()  # the host prefixes the plugin's name once
    for key in (None, "", "anything"):
        assert_error(api_call(srv, "GET", "/api/users", key=key), 401, "unauthorized")
        assert_error(api_call(srv, "POST", "/api/broadcast", {"x": 1}, key=key), 401,
                     "unauthorized")


def test_wrong_method_is_405_with_allow(server):
    srv = server(sections=api_sections())
    for method, path, allow in (("GET", "/api/broadcast", "POST"),
                                ("GET", "/api/users/bob/messages", "POST"),
                                ("DELETE", "/api/users/bob/disconnect", "POST"),
                                ("PUT", "/api/rooms/lobby/publish", "POST"),
                                ("POST", "/api/users", "GET"),
                                ("POST", "/api/rooms/lobby/members", "GET")):
        resp = api_call(srv, method, path, {} if method != "GET" else None)
        assert_error(resp, 405, "method_not_allowed")
        assert resp[1]["allow"] == allow, (method, path, resp)


def test_unknown_api_path_is_404(server):
    srv = server(sections=api_sections())
    for path in ("/api/nope", "/api/users/bob", "/api/users/bob/messages/x", "/api/rooms",
                 "/api/users//messages", "/api/Broadcast"):
        assert_error(api_call(srv, "POST", path, {}), 404, "not_found")


@pytest.mark.parametrize("body", [
    b"", b"{", b"not json", b"[1, 2]", b"\"str\"", b"42", b"null",
    b'{"text": "\xff\xfe"}',                      # invalid UTF-8
    b'{"text": "a\xc0\xafb"}',                    # overlong encoding
    b'{"text": "x", "text": "y"}',                # duplicate key
    b'{"a": {"b": 1, "b": 2}}',                   # nested duplicate key
    b'{"text": "a\\u0000b"}',                     # U+0000
    b'{"from": "bad user"}', b'{"from": 5}', b'{"from": ""}', b'{"from": "0"}',
], ids=lambda b: repr(b)[:30])
def test_bad_body_is_400(server, body):
    srv = server(sections=api_sections())
    for path in ("/api/users/bob/messages", "/api/broadcast", "/api/rooms/lobby/publish"):
        assert_error(api_call(srv, "POST", path, body), 400, "bad_request")


def test_bad_user_or_room_in_path_is_400(server):
    srv = server(sections=api_sections())
    for path in ("/api/users/bad%20user/messages", "/api/users/0/messages",
                 "/api/users/" + "u" * 65 + "/messages", "/api/users/a%2Fb/disconnect",
                 "/api/users/alice%00x/messages", "/api/users/%zz/messages",
                 "/api/rooms/" + "r" * 129 + "/publish", "/api/rooms/a%01b/publish",
                 "/api/rooms/%ff/publish"):
        assert_error(api_call(srv, "POST", path, {"t": 1}), 400, "bad_request")
    assert_error(api_call(srv, "GET", "/api/rooms/a%0Ab/members"), 400, "bad_request")
    # Limits are inclusive: 64-byte user, 128-byte room.
    assert api_call(srv, "POST", "/api/users/" + "u" * 64 + "/messages", {"t": 1})[0] == 202
    assert api_call(srv, "GET", "/api/rooms/" + "r" * 128 + "/members")[0] == 200


def test_bad_disconnect_body_is_400(server):
    srv = server(sections=api_sections())
    assert_error(api_call(srv, "POST", "/api/users/bob/disconnect", "[1]"), 400, "bad_request")
    assert_error(api_call(srv, "POST", "/api/users/bob/disconnect", {"reason": 7}), 400,
                 "bad_request")
    assert_error(api_call(srv, "POST", "/api/users/bob/disconnect", {"reason": "x" * 124}), 400,
                 "bad_request")


def test_body_over_max_message_bytes_is_413(server):
    srv = server(sections=api_sections(), server_keys={"max_message_bytes": 1024})
    ok = json.dumps({"t": "x" * 900})
    assert api_call(srv, "POST", "/api/broadcast", ok)[0] == 202
    big = json.dumps({"t": "x" * 1100})
    st, _, body = api_call(srv, "POST", "/api/users/bob/messages", big)
    assert st == 413, body


def test_inbox_full(server):
    sections = api_sections()
    sections["store_memory"] = {"max_inbox": 2}
    srv = server(sections=sections)
    for _ in range(2):
        assert api_call(srv, "POST", "/api/users/bob/messages", {"t": 1})[0] == 202
    assert_error(api_call(srv, "POST", "/api/users/bob/messages", {"t": 1}), 507, "inbox_full")
    # Another user's inbox is unaffected.
    assert api_call(srv, "POST", "/api/users/carol/messages", {"t": 1})[0] == 202


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGIN_DIR, "lua.so")),
                    reason="lua plugin not built")
def test_filter_runs_on_api_messages(server, tmp_path):
    script = tmp_path / "filter.lua"
    script.write_text(
        'function filter(msg)\n'
        '  if msg.data.text == "bad" then return nil, "no bad words" end\n'
        '  msg.data.seen = msg.type .. ":" .. msg.from\n'
        '  return msg\n'
        'end\n')
    srv = server(sections=api_sections(lua={"scripts": str(script)}))

    async def go(connect):
        bob = await connect("bob")
        await send(bob, "join", {"room": "lobby"})
        await recv_type(bob, "join")
        for path in ("/api/users/bob/messages", "/api/rooms/lobby/publish", "/api/broadcast"):
            resp = api_call(srv, "POST", path, {"text": "bad"})
            assert_error(resp, 403, "filtered")
            assert "no bad words" in resp[2]["message"]
        await no_frame(bob)
        for path, type_ in (("/api/users/bob/messages", "message:ops"),
                            ("/api/rooms/lobby/publish", "publish:ops"),
                            ("/api/broadcast", "broadcast:ops")):
            st, _, body = api_call(srv, "POST", path, {"text": "ok", "from": "ops"})
            assert st == 202, body
            msg = await recv_type(bob, type_.split(":")[0])
            assert msg["data"]["id"] == body["id"]
            assert msg["data"]["seen"] == type_
        # A filtered direct message was not stored.
        await bob.close()
        again = await connect("bob")
        data = (await recv_type(again, "message"))["data"]
        assert data["text"] == "ok"
        await no_frame(again)
    run_clients(srv, go)


# --- HTTP mechanics ---

def test_keep_alive_1000_requests_on_one_connection(server):
    srv = server(sections=api_sections())
    s = srv.raw()
    buf = bytearray()
    try:
        ids = []
        for i in range(1000):
            if i % 100 == 99:
                s.sendall(raw_req("POST", "/api/users/bob/messages", json.dumps({"i": i})))
                st, hdrs, body = read_response(s, buf)
                assert st == 202, (i, body)
                ids.append(json.loads(body)["id"])
            elif i % 2:
                s.sendall(raw_req("POST", "/api/broadcast", '{"i": %d}' % i))
                st, hdrs, body = read_response(s, buf)
                assert st == 202 and json.loads(body)["delivered"] == 0, (i, body)
            else:
                s.sendall(raw_req("GET", "/api/users"))
                st, hdrs, body = read_response(s, buf)
                assert (st, json.loads(body)) == (200, {"users": []}), (i, body)
            assert hdrs.get("connection", "").lower() != "close", (i, hdrs)
        assert len(ids) == 10 and ids == sorted(ids)
    finally:
        s.close()


def test_pipelined_requests_answered_in_order(server):
    srv = server(sections=api_sections())

    async def go(connect):
        bob = await connect("bob")
        s = srv.raw()
        try:
            # A stored message (answered later, from the store completion)
            # followed by answers the API gives at once: they must not overtake it.
            s.sendall(raw_req("POST", "/api/users/bob/messages", '{"n": 1}')
                      + raw_req("GET", "/api/users")
                      + raw_req("GET", "/api/users", key="wrong")
                      + raw_req("POST", "/api/users/bob/messages", '{"n": 2}')
                      + raw_req("GET", "/api/nope"))
            buf = bytearray()
            got = [read_response(s, buf) for _ in range(5)]
        finally:
            s.close()
        assert [g[0] for g in got] == [202, 200, 401, 202, 404], got
        assert json.loads(got[1][2]) == {"users": ["bob"]}
        id1, id2 = json.loads(got[0][2])["id"], json.loads(got[3][2])["id"]
        assert id1 < id2
        m1 = (await recv_type(bob, "message"))["data"]
        m2 = (await recv_type(bob, "message"))["data"]
        assert (m1["id"], m1["n"], m2["id"], m2["n"]) == (id1, 1, id2, 2)
    run_clients(srv, go)


def test_chunked_body(server):
    srv = server(sections=api_sections())

    async def go(connect):
        bob = await connect("bob")
        payload = json.dumps({"text": "chunked " * 50}).encode()
        parts = [payload[:7], payload[7:100], payload[100:]]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        s = srv.raw()
        try:
            s.sendall(raw_req("POST", "/api/users/bob/messages",
                              extra={"Transfer-Encoding": "chunked"}))
            for i in range(0, len(body), 50):   # dribble it in
                s.sendall(body[i:i + 50])
                time.sleep(0.002)
            st, _, resp = read_response(s)
        finally:
            s.close()
        assert st == 202, resp
        data = (await recv_type(bob, "message"))["data"]
        assert data["id"] == json.loads(resp)["id"]
        assert data["text"] == "chunked " * 50
    run_clients(srv, go)


def test_expect_100_continue(server):
    srv = server(sections=api_sections())

    async def go(connect):
        bob = await connect("bob")
        body = json.dumps({"text": "after continue"}).encode()
        s = srv.raw()
        try:
            s.sendall(raw_req("POST", "/api/users/bob/messages", extra={
                "Content-Length": str(len(body)), "Expect": "100-continue"}))
            s.settimeout(5)
            interim = b""
            while b"\r\n\r\n" not in interim:
                chunk = s.recv(1)
                assert chunk, interim
                interim += chunk
            assert interim.startswith(b"HTTP/1.1 100"), interim
            s.sendall(body)
            st, _, resp = read_response(s)
        finally:
            s.close()
        assert st == 202, resp
        data = (await recv_type(bob, "message"))["data"]
        assert (data["id"], data["text"]) == (json.loads(resp)["id"], "after continue")
    run_clients(srv, go)


def test_api_not_loaded_without_section(server):
    srv = server()   # default sections: no [api]
    st, _, _ = srv.http("GET", "/api/users", headers={"Authorization": f"Bearer {KEY}"})
    assert st == 404

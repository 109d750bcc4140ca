"""WebSocket endpoints and codecs (ABI 1.2, docs/design.md "Endpoints and dialects"),
driven through a test dialect (tests/integration/plugins/echo_dialect): a frame
{"do": type, "tag": t, "args": {...}} is one native command; everything the
server sends comes back as {"kind", "reply", "tag", "user", "data"}. The
native endpoint is the first codec: both kinds of client reach each other
through the same routing, store and hooks."""
import json
import os
import subprocess

import pytest
import websockets

from conftest import (BUILD_DIR, SOURCE_DIR, closed_with, default_sections, no_frame, recv,
                      recv_type, request, run, send)

FIXTURE_SRC = os.path.join(SOURCE_DIR, "tests", "integration", "plugins", "echo_dialect",
                           "echo_dialect.c")


@pytest.fixture(scope="module")
def echo_so(tmp_path_factory):
    path = os.path.join(BUILD_DIR, "test-plugins", "fixture_echo_dialect.so")
    if os.path.exists(path):
        return path
    out = str(tmp_path_factory.mktemp("fixtures") / "fixture_echo_dialect.so")
    cflags = subprocess.run(["pkg-config", "--cflags", "libcjson"], check=True,
                            capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
                    "-shared", "-fPIC", "-I" + os.path.join(SOURCE_DIR, "include")] + cflags
                   + [FIXTURE_SRC, "-o", out], check=True)
    return out


def sections_with_echo(echo_so, store="store_memory", **echo_keys):
    s = default_sections(store=store)
    s["echo"] = dict({"path": echo_so}, **echo_keys)
    return s


async def echo_ws(srv, query, path="/echo"):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return await websockets.connect(f"{srv.url}{path}?{qs}", max_size=None, ping_interval=None,
                                    open_timeout=10, close_timeout=1)


async def echo_do(ws, type_, args=None, tag=None):
    frame = {"do": type_}
    if args is not None:
        frame["args"] = args
    if tag is not None:
        frame["tag"] = tag
    await ws.send(json.dumps(frame))


async def echo_recv(ws, kind=None, timeout=5):
    while True:
        msg = json.loads(await __import__("asyncio").wait_for(ws.recv(), timeout))
        if kind is None or msg["kind"] == kind:
            return msg


def test_dialect_and_native_clients_message_each_other(server, echo_so):
    srv = server(sections=sections_with_echo(echo_so))

    async def go():
        native = await srv.ws(client_id="alice")
        dia = await echo_ws(srv, {"client_id": "bob"})
        # dialect -> native: the reply comes back encoded with the tag given to submit
        await echo_do(dia, "message", {"to": "alice", "text": "hi"}, tag={"n": 1})
        ack = await echo_recv(dia)
        assert ack["kind"] == "ack" and ack["reply"] is True and ack["tag"] == {"n": 1}
        ev = await recv_type(native, "message")
        assert ev["data"]["from"] == "bob" and ev["data"]["to"] == "alice"
        assert ev["data"]["text"] == "hi" and ev["data"]["id"] == ack["data"]["id"]
        # native -> dialect: a direct message event, encoded for the recipient user
        await send(native, "message", {"to": "bob", "text": "yo"}, ref=5)
        assert (await recv(native))["type"] == "ack"
        ev = await echo_recv(dia, "message")
        assert ev["reply"] is False and ev["tag"] is None and ev["user"] == "bob"
        assert ev["data"]["from"] == "alice" and ev["data"]["text"] == "yo"
        # read through the dialect removes it; the receipt reaches the native sender
        await echo_do(dia, "read", {"ids": [ev["data"]["id"]]}, tag="r")
        rd = await echo_recv(dia, "read")
        assert rd["data"]["ids"] == [ev["data"]["id"]] and rd["tag"] == "r"
        rc = await recv_type(native, "receipt")
        assert rc["data"] == {"id": ev["data"]["id"], "by": "bob", "status": "read"}
        await native.close()
        await dia.close()

    run(go())


def test_room_fanout_reaches_both_codecs_once_each(server, echo_so):
    srv = server(sections=sections_with_echo(echo_so, drop="presence"))

    async def go():
        n1 = await srv.ws(client_id="n1")
        d1 = await echo_ws(srv, {"client_id": "d1"})
        d2 = await echo_ws(srv, {"client_id": "d2"})
        assert (await request(n1, "join", {"room": "lobby"}, ref=1))["type"] == "join"
        for d in (d1, d2):
            await echo_do(d, "join", {"room": "lobby"}, tag="j")
            assert (await echo_recv(d, "join"))["data"]["room"] == "lobby"
        await send(n1, "publish", {"room": "lobby", "text": "all"}, ref=2)
        for d in (d1, d2):
            ev = await echo_recv(d)  # presence is dropped by this codec
            assert ev["kind"] == "publish" and ev["user"] is None
            assert ev["data"]["text"] == "all" and ev["data"]["room"] == "lobby"
        await echo_do(d1, "broadcast", {"text": "b"}, tag=3)
        assert (await echo_recv(d1))["kind"] == "ack"
        assert (await recv_type(n1, "broadcast"))["data"]["text"] == "b"
        assert (await echo_recv(d2))["data"]["text"] == "b"
        await no_frame(d1)  # the echo rule: never the sender's own connection
        for w in (n1, d1, d2):
            await w.close()

    run(go())


def test_backlog_is_encoded_and_delivered_is_called(server, echo_so):
    srv = server(sections=sections_with_echo(echo_so))

    async def go():
        native = await srv.ws(client_id="alice")
        for i in range(3):
            await send(native, "message", {"to": "carol", "n": i}, ref=i)
            assert (await recv(native))["type"] == "ack"
        dia = await echo_ws(srv, {"client_id": "carol"})
        got = [await echo_recv(dia, "message") for _ in range(3)]
        assert [g["data"]["n"] for g in got] == [0, 1, 2]
        assert all(g["user"] == "carol" and g["data"]["from"] == "alice" for g in got)
        await send(native, "message", {"to": "carol", "n": 3}, ref=9)
        assert (await echo_recv(dia, "message"))["data"]["n"] == 3
        await native.close()
        await dia.close()

    run(go())
    _, _, body = srv.http("GET", "/metrics")
    assert b"switchboard_echo_delivered_total 4" in body


def test_decode_errors_and_auth_gate_go_through_the_codec(server, echo_so):
    sections = sections_with_echo(echo_so)
    sections["auth"] = {"mode": "static", "tokens_file": "tokens.conf"}
    srv = server(sections=sections, start=False)
    with open(os.path.join(srv.workdir, "tokens.conf"), "w") as f:
        f.write("tok-dave dave\n")
    srv.start()

    async def go():
        dia = await echo_ws(srv, {})  # no credentials: opens unauthenticated
        await dia.send("not json")
        err = await echo_recv(dia)
        assert err["kind"] == "error" and err["data"]["code"] == "bad_json"
        assert err["tag"] is None and "JSON objects" in err["data"]["message"]
        await dia.send(json.dumps({"args": {}}))
        err = await echo_recv(dia)
        assert err["data"]["code"] == "bad_request"
        await echo_do(dia, "list", tag=1)
        err = await echo_recv(dia)
        assert err["data"]["code"] == "unauthenticated" and err["tag"] == 1
        await echo_do(dia, "ping", tag=2)
        assert (await echo_recv(dia))["kind"] == "pong"
        await echo_do(dia, "auth", {"token": "tok-dave"}, tag=3)
        ok = await echo_recv(dia)
        assert ok["kind"] == "auth" and ok["data"]["user"] == "dave" and ok["tag"] == 3
        await echo_do(dia, "nope", tag=4)
        err = await echo_recv(dia)
        assert err["data"]["code"] == "unknown_type" and err["tag"] == 4
        await dia.close()

    run(go())


def test_need_user_replace_and_own_identify(server, echo_so):
    sections = sections_with_echo(echo_so, need_user="yes", replace="yes", own_identify="yes")
    sections["auth"] = {"mode": "static", "tokens_file": "tokens.conf"}
    srv = server(sections=sections, start=False)
    with open(os.path.join(srv.workdir, "tokens.conf"), "w") as f:
        f.write("tok-erin erin\n")
    srv.start()

    async def go():
        for query, why in (({}, "t is required"), ({"t": "bad"}, "invalid token")):
            with pytest.raises(websockets.InvalidStatusCode) as e:
                await echo_ws(srv, query)
            assert e.value.status_code == 401
        first = await echo_ws(srv, {"t": "tok-erin"})
        await echo_do(first, "me", tag="m")
        assert (await echo_recv(first, "me"))["data"]["user"] == "erin"
        native = await srv.ws(query={"token": "tok-erin"})
        second = await echo_ws(srv, {"t": "tok-erin"})
        code, _ = await closed_with(first)
        assert code == 4001  # the newer connection on this endpoint wins
        assert (await request(native, "ping", ref=1))["type"] == "pong"  # other endpoints stay
        await second.close()
        await native.close()

    run(go())


def test_need_user_without_identity_is_401(server, echo_so):
    sections = sections_with_echo(echo_so, need_user="yes")
    sections["auth"] = {"mode": "static", "tokens_file": "tokens.conf"}
    srv = server(sections=sections, start=False)
    with open(os.path.join(srv.workdir, "tokens.conf"), "w") as f:
        f.write("tok-x x\n")
    srv.start()
    status, _, body = srv.http("GET", "/echo", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 401 and b"needs an identity" in body


def test_ws_path_moves_the_native_endpoint(server, echo_so):
    srv = server(sections=sections_with_echo(echo_so, endpoint="/ws"),
                 server_keys={"ws_path": "/native"})

    async def go():
        native = await srv.ws(client_id="alice", path="/native")
        dia = await echo_ws(srv, {"client_id": "bob"}, path="/ws")
        await echo_do(dia, "message", {"to": "alice", "x": 1}, tag=1)
        assert (await echo_recv(dia))["kind"] == "ack"
        assert (await recv_type(native, "message"))["data"]["x"] == 1
        await native.close()
        await dia.close()

    run(go())


def test_two_endpoints_on_one_path_refuse_to_start(server, echo_so):
    srv = server(sections=sections_with_echo(echo_so, endpoint="/ws"), start=False)
    srv.start(wait=False)
    assert srv.proc.wait(timeout=20) != 0
    assert "endpoint /ws: claimed by core and by echo" in srv.log()


def test_ws_path_must_be_a_path(server):
    srv = server(server_keys={"ws_path": "ws"}, start=False)
    srv.start(wait=False)
    assert srv.proc.wait(timeout=20) == 2
    assert "ws_path" in srv.log()


def test_object_refs_come_back_exact(server, echo_so):
    """A dialect's ref is printed by the host's own printer: integers up to
    2**53 - 1 come back as they went in (cJSON's printer rounds them)."""
    srv = server(sections=sections_with_echo(echo_so))

    async def go():
        dia = await echo_ws(srv, {"client_id": "bob"})
        await dia.send('{"do":"ping","tag":{"id":9007199254740991,"n":[0.1]}}')
        raw = await __import__("asyncio").wait_for(dia.recv(), 5)
        assert '"tag":{"id":9007199254740991,"n":[0.1]}' in raw
        await dia.close()

    run(go())

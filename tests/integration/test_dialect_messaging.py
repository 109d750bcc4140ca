"""dialect_messaging: clients of seed 001 ("WebSocket protocol for messaging")
against switchboard, doing exactly what the text shows (connect to
/messaging?client_id=..., send a frame of `send` and `read` sections, get
`messages`), plus every refusal, the choices the text leaves open
(docs/dialects/messaging.md), and 001 clients meeting native clients, the push
API, a Lua policy, store_lmdb across a restart and two nodes over bus_redis."""
import asyncio
import json
import os
import time

import websockets

from conftest import (PLUGIN_DIR, SOURCE_DIR, closed_with, default_sections, http_request,
                      no_frame, recv_type, request, run)
from redis_util import redis  # noqa: F401 (fixture)
from test_bus_redis import node_sections, two_nodes

ID26 = 26


def msg_sections(store="store_memory", **keys):
    """The messaging plugins, auth none, a store, and [dialect_messaging] keys."""
    s = default_sections(store=store)
    s["dialect_messaging"] = dict(keys)
    return s


async def m_ws(srv, client_id, path="/messaging"):
    """A seed 001 client: ws://HOST/messaging?client_id=ID."""
    return await websockets.connect(f"{srv.url}{path}?client_id={client_id}", max_size=None,
                                    ping_interval=None, open_timeout=10, close_timeout=1)


async def m_send(ws, **sections):
    await ws.send(json.dumps(sections))


async def m_recv(ws, timeout=5):
    """The next frame: a JSON object of exactly one section."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), raw
    frame = json.loads(raw)
    assert isinstance(frame, dict) and len(frame) == 1, frame
    return frame


async def m_section(ws, name, timeout=5):
    """The next frame's section `name`, skipping frames of other sections."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        assert left > 0, f"no {name} section within {timeout}s"
        frame = await m_recv(ws, left)
        if name in frame:
            return frame[name]


async def m_collect(ws, name, n, timeout=5):
    """n items of section `name` (frames may carry one or several)."""
    out = []
    while len(out) < n:
        out += await m_section(ws, name, timeout)
    return out


async def m_quiet(ws, wait=0.4):
    await no_frame(ws, wait)


def handshake_status(srv, target):
    status, _, body = http_request(srv.port, "GET", target, headers={
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
    return status, body.decode("utf-8", "replace")


# --- the text's own examples --------------------------------------------------


def test_seed_example_frame_and_notification(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, 31)
        # The text's "User Command payload" example, verbatim.
        await c21.send("""{
	"send": [
		{ "id": 11, "rid": 31, "sid": 21, "text": "hello" },
		{ "id": 12, "rid": 32, "sid": 21, "url": "https://web.com/pic.png" }
	],
	"read": [
		{ "id": 1 },
		{ "id": 2 },
		{ "id": 3 }
	]
}""")
        # 31 is online: the message at once, exactly as 21 wrote it.
        assert await m_recv(c31) == {"messages": [{"id": 11, "rid": 31, "sid": 21,
                                                   "text": "hello"}]}
        # 21 learns both are stored; its read named nothing it had.
        sent, read = [], None
        while len(sent) < 2 or read is None:
            frame = await m_recv(c21)
            if "sent" in frame:
                sent += frame["sent"]
            else:
                read = frame["read"]
        assert sorted(i["id"] for i in sent) == [11, 12]
        assert read == []
        # 32 was offline: the message comes when it connects.
        c32 = await m_ws(srv, 32)
        assert await m_recv(c32) == {"messages": [{"id": 12, "rid": 32, "sid": 21,
                                                   "url": "https://web.com/pic.png"}]}
        await m_quiet(c32)
        for ws in (c21, c31, c32):
            await ws.close()
    run(go())


def test_example_url_messaing_and_path_list(server):
    srv = server(sections=msg_sections(path="/messaging /messaing"))

    async def go():
        a = await m_ws(srv, 1452, path="/messaing")  # the text's example URL
        b = await m_ws(srv, 7, path="/messaging")
        await m_send(a, send=[{"id": 1, "sid": 1452, "rid": 7, "text": "x"}])
        assert await m_recv(b) == {"messages": [{"id": 1, "sid": 1452, "rid": 7, "text": "x"}]}
        assert await m_section(a, "sent") == [{"id": 1}]
        await a.close()
        await b.close()
    run(go())
    # "Connection to other endpoints are ignored": anything else is 404.
    assert handshake_status(srv, "/messages?client_id=1")[0] == 404
    assert handshake_status(srv, "/messaging/x?client_id=1")[0] == 404


def test_client_id_missing_empty_zero_or_bad_is_401(server):
    srv = server(sections=msg_sections())
    for q in ("", "?client_id=", "?client_id=0", "?other=1", "?client_id=a%20b",
              "?client_id=" + "x" * 65):
        status, body = handshake_status(srv, "/messaging" + q)
        assert status == 401, (q, status, body)
        assert body.strip(), q
    assert handshake_status(srv, "/messaging?client_id=1452")[0] == 101


def test_static_tokens_identify_and_sid_is_the_tokens_user(server, tmp_path):
    tokens = tmp_path / "tokens.conf"
    tokens.write_text("tok-21 21\ntok-31 31\n")
    s = msg_sections()
    s["auth"] = {"mode": "static", "tokens_file": str(tokens)}
    srv = server(sections=s)
    for q in ("", "?client_id=21", "?token=nope", "?token="):
        assert handshake_status(srv, "/messaging" + q)[0] == 401, q

    async def go():
        c21 = await websockets.connect(f"{srv.url}/messaging?token=tok-21", ping_interval=None,
                                       close_timeout=1)
        c31 = await websockets.connect(f"{srv.url}/messaging?token=tok-31&client_id=21",
                                       ping_interval=None, close_timeout=1)
        await m_send(c21, send=[{"id": 1, "sid": 21, "rid": 31}])
        assert await m_recv(c31) == {"messages": [{"id": 1, "sid": 21, "rid": 31}]}
        await m_send(c31, send=[{"id": 2, "sid": 21, "rid": 31}])  # client_id meant nothing
        err = await m_section(c31, "errors")
        assert err[0]["message"] == "sid 21 is not your client_id 31", err
        await c21.close()
        await c31.close()
    run(go())


# --- delivery, storage and read -------------------------------------------------


def test_unread_first_on_every_connect_until_read(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        await m_send(c21, send=[{"id": i, "sid": 21, "rid": 31, "n": i} for i in (1, 2, 3)])
        assert sorted(i["id"] for i in await m_collect(c21, "sent", 3)) == [1, 2, 3]
        want = [{"id": i, "sid": 21, "rid": 31, "n": i} for i in (1, 2, 3)]
        # Unread messages come on every new connection, oldest first.
        for _ in range(2):
            c31 = await m_ws(srv, 31)
            assert await m_collect(c31, "messages", 3) == want
            await m_quiet(c31)
            await c31.close()
        # Each is marked as read individually; live ones come after the backlog.
        c31 = await m_ws(srv, 31)
        assert await m_collect(c31, "messages", 3) == want
        await m_send(c21, send=[{"id": 4, "sid": 21, "rid": 31, "n": 4}])
        assert await m_collect(c31, "messages", 1) == [{"id": 4, "sid": 21, "rid": 31, "n": 4}]
        await m_send(c31, read=[{"id": 1}, {"id": "3"}, {"id": 99}])
        assert await m_section(c31, "read") == [{"id": 1}, {"id": "3"}]
        await c31.close()
        c31 = await m_ws(srv, 31)
        assert await m_collect(c31, "messages", 2) == [want[1],
                                                       {"id": 4, "sid": 21, "rid": 31, "n": 4}]
        await m_send(c31, read=[{"id": 2}, {"id": 4}])
        assert await m_section(c31, "read") == [{"id": 2}, {"id": 4}]
        await c31.close()
        c31 = await m_ws(srv, 31)
        await m_quiet(c31)
        for ws in (c21, c31):
            await ws.close()
    run(go())


def test_latest_connection_wins_on_this_endpoint_only(server):
    srv = server(sections=msg_sections())

    async def go():
        native = await srv.ws(client_id="31")  # a native session of the same user stays
        old = await m_ws(srv, 31)
        new = await m_ws(srv, 31)
        code, _ = await closed_with(old)
        assert code == 4001
        c21 = await m_ws(srv, 21)
        await m_send(c21, send=[{"id": 5, "sid": 21, "rid": 31}])
        assert await m_recv(new) == {"messages": [{"id": 5, "sid": 21, "rid": 31}]}
        ev = await recv_type(native, "message")
        assert ev["data"]["msg_id"] == 5
        for ws in (native, new, c21):
            await ws.close()
    run(go())


def test_ids_compared_as_text(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, "31")
        # sid "21" is client 21; rid as a string stays a string for the recipient.
        await m_send(c21, send=[{"id": "11", "sid": "21", "rid": "31", "t": 1},
                                {"id": 12, "sid": 21.0, "rid": 31, "t": 2}])
        got = await m_collect(c31, "messages", 2)
        assert got == [{"id": "11", "sid": "21", "rid": "31", "t": 1},
                       {"id": 12, "sid": 21, "rid": 31, "t": 2}]
        sent = await m_collect(c21, "sent", 2)
        assert sorted(str(i["id"]) for i in sent) == ["11", "12"]
        # read 11 as a number, 12 as a string: each answers as the reader wrote it.
        await m_send(c31, read=[{"id": 11}, {"id": "12"}])
        assert await m_section(c31, "read") == [{"id": 11}, {"id": "12"}]
        await c31.close()
        c31 = await m_ws(srv, 31)
        await m_quiet(c31)
        await c21.close()
        await c31.close()
    run(go())


def test_large_integer_ids_stay_exact(server):
    srv = server(sections=msg_sections())
    big = 9007199254740991  # 2^53 - 1: cJSON's own printer would round it

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, 31)
        item = {"id": big, "sid": 21, "rid": 31, "n": big - 2, "f": 0.1}
        await m_send(c21, send=[item], read=[{"id": big - 1}])
        assert await m_recv(c31) == {"messages": [item]}
        assert await m_section(c21, "sent") == [{"id": big}]
        await m_send(c31, read=[{"id": big}])
        assert await m_section(c31, "read") == [{"id": big}]
        await c21.close()
        await c31.close()
    run(go())


def test_repeated_id_and_same_id_from_two_senders(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        c22 = await m_ws(srv, 22)
        # The same (sid, id) twice to one recipient is two messages.
        await m_send(c21, send=[{"id": 5, "sid": 21, "rid": 31, "v": "a"},
                                {"id": 5, "sid": 21, "rid": 31, "v": "b"}])
        assert await m_collect(c21, "sent", 2) == [{"id": 5}, {"id": 5}]
        await m_send(c22, send=[{"id": 5, "sid": 22, "rid": 31, "v": "c"},
                                {"id": 6, "sid": 22, "rid": 31, "v": "d"}])
        assert len(await m_collect(c22, "sent", 2)) == 2
        c31 = await m_ws(srv, 31)
        got = await m_collect(c31, "messages", 4)
        assert [m["v"] for m in got] == ["a", "b", "c", "d"]
        # read {id, sid} narrows to one sender (an extension of the text) ...
        await m_send(c31, read=[{"id": 5, "sid": 22}])
        assert await m_section(c31, "read") == [{"id": 5}]
        await c31.close()
        c31 = await m_ws(srv, 31)
        assert [m["v"] for m in await m_collect(c31, "messages", 3)] == ["a", "b", "d"]
        # ... and read {id} alone removes every unread message with that id.
        await m_send(c31, read=[{"id": 5}])
        assert await m_section(c31, "read") == [{"id": 5}]
        await c31.close()
        c31 = await m_ws(srv, 31)
        assert [m["v"] for m in await m_collect(c31, "messages", 1)] == ["d"]
        await m_quiet(c31)
        for ws in (c21, c22, c31):
            await ws.close()
    run(go())


def test_fields_the_native_stamp_owns_come_back_as_written(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, 31)
        item = {"id": 1, "sid": 21, "rid": 31, "from": "me", "to": [1, 2], "ts": 0,
                "msg_id": "mine", "msg_extra": {"k": None}, "n": 1.5, "deep": {"a": [True]}}
        await m_send(c21, send=[item])
        assert await m_recv(c31) == {"messages": [item]}
        await c21.close()
        await c31.close()
    run(go())


# --- refusals -------------------------------------------------------------------


def test_frame_not_an_object_or_not_json(server):
    srv = server(sections=msg_sections())

    async def go():
        c = await m_ws(srv, 21)
        for text in ("[1]", "12", "{not json", "", '{"send":[],"send":[]}'):
            await c.send(text)
            errors = await m_section(c, "errors")
            assert len(errors) == 1 and errors[0]["code"] == "bad_json", (text, errors)
            assert errors[0]["message"] and "id" not in errors[0]
        # Unknown sections are ignored; so are empty ones.
        await m_send(c, messages=[{"id": 1}], other={"x": 1}, send=[], read=[])
        await m_quiet(c)
        # Binary frames are not text: closed 1003 as on every endpoint.
        await c.send(b"\x01")
        code, _ = await closed_with(c)
        assert code == 1003
    run(go())


def test_bad_items_refused_others_still_sent(server):
    srv = server(sections=msg_sections())

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, 31)
        await m_send(c21, send=[
            "text", {"sid": 21, "rid": 31}, {"id": 1.5, "sid": 21, "rid": 31},
            {"id": 2, "rid": 31}, {"id": 3, "sid": 22, "rid": 31}, {"id": 4, "sid": 21},
            {"id": 5, "sid": 21, "rid": 0}, {"id": 6, "sid": 21, "rid": "a b"},
            {"id": 7, "sid": 21, "rid": True}, {"id": 8, "sid": 21, "rid": 31, "ok": True}],
            read=[{"x": 1}, {"id": None}])
        errors = await m_section(c21, "errors")
        assert [(e.get("id"), e["code"], e["section"]) for e in errors] == [
            (None, "bad_request", "send"), (None, "bad_request", "send"),
            (None, "bad_request", "send"), (2, "bad_request", "send"),
            (3, "bad_request", "send"), (4, "bad_request", "send"), (5, "bad_request", "send"),
            (6, "bad_request", "send"), (7, "bad_request", "send"),
            (None, "bad_request", "read"), (None, "bad_request", "read")]
        assert errors[4]["message"] == "sid 22 is not your client_id 21"
        assert errors[6]["message"] == "rid 0 is not a valid client_id"
        assert await m_section(c21, "sent") == [{"id": 8}]
        assert await m_recv(c31) == {"messages": [{"id": 8, "sid": 21, "rid": 31, "ok": True}]}
        await m_quiet(c31)
        # A section that is not an array.
        await m_send(c21, send={"id": 9, "sid": 21, "rid": 31})
        assert await m_section(c21, "errors") == [
            {"code": "bad_request", "message": "send must be an array", "section": "send"}]
        await m_quiet(c31)
        await c21.close()
        await c31.close()
    run(go())


def test_max_items_per_section(server):
    srv = server(sections=msg_sections(max_items=2))

    async def go():
        c21 = await m_ws(srv, 21)
        await m_send(c21, send=[{"id": i, "sid": 21, "rid": 31} for i in range(3)])
        errors = await m_section(c21, "errors")
        assert errors == [{"id": 2, "code": "bad_request", "section": "send",
                           "message": "at most 2 items in one send section"}]
        assert sorted(i["id"] for i in await m_collect(c21, "sent", 2)) == [0, 1]
        await c21.close()
    run(go())


def test_native_errors_rate_limit_and_inbox_full(server):
    s = msg_sections()
    s["store_memory"] = {"max_inbox": 1}
    srv = server(sections=s, server_keys={"rate_limit": 1, "rate_burst": 2})

    async def go():
        c21 = await m_ws(srv, 21)
        # Three frames at once: the bucket holds two, the third is refused.
        await m_send(c21, send=[{"id": 1, "sid": 21, "rid": 31}, {"id": 2, "sid": 21, "rid": 31}])
        await m_send(c21, read=[{"id": 99}])
        await m_send(c21, read=[{"id": 99}])
        frames = [await m_recv(c21) for _ in range(4)]
        assert {"sent": [{"id": 1}]} in frames, frames
        assert {"read": []} in frames, frames
        errors = [e for f in frames for e in f.get("errors", [])]
        assert len(errors) == 2, frames
        full = [e for e in errors if e["code"] == "inbox_full"]
        assert len(full) == 1 and full[0]["id"] == 2 and full[0]["section"] == "send", errors
        limited = [e for e in errors if e["code"] == "rate_limited"]
        assert len(limited) == 1 and "id" not in limited[0], errors
        await m_quiet(c21)
        await c21.close()
    run(go())


# --- 001 and native clients -------------------------------------------------------


def test_001_to_native_and_back(server):
    s = msg_sections()
    s["api"] = {"api_key": "k"}
    srv = server(sections=s)

    async def go():
        c21 = await m_ws(srv, 21)
        alice = await srv.ws(client_id="alice")
        # 001 -> native: a native message event, the client's own id as msg_id.
        await m_send(c21, send=[{"id": 11, "sid": 21, "rid": "alice", "text": "hello"}])
        ev = (await recv_type(alice, "message"))["data"]
        assert len(ev["id"]) == ID26 and isinstance(ev["ts"], int)
        assert {k: v for k, v in ev.items() if k not in ("id", "ts")} == {
            "from": "21", "to": "alice", "msg_id": 11, "sid": 21, "rid": "alice",
            "text": "hello"}
        assert await m_section(c21, "sent") == [{"id": 11}]
        # The native reader reads by server id; the 001 sender drops the receipt.
        reply = await request(alice, "read", {"ids": [ev["id"]]}, ref="r")
        assert reply["data"]["ids"] == [ev["id"]]
        await m_quiet(c21)
        # native -> 001: server id, sender as sid, recipient as rid, other fields.
        ack = await request(alice, "message", {"to": ["21", "22"], "text": "yo", "n": 2}, ref=1)
        assert ack["type"] == "ack"
        got = await m_recv(c21)
        assert got == {"messages": [{"id": ack["data"]["id"], "sid": "alice", "rid": "21",
                                     "ts": ack["data"]["ts"], "text": "yo", "n": 2}]}
        # read with that id removes it, and the native sender gets its receipt.
        await m_send(c21, read=[{"id": ack["data"]["id"]}])
        assert await m_section(c21, "read") == [{"id": ack["data"]["id"]}]
        receipt = await recv_type(alice, "receipt")
        assert receipt["data"] == {"id": ack["data"]["id"], "by": "21", "status": "read"}
        # A native client cannot pass its message off as a 001 user's.
        ack = await request(alice, "message", {"to": "21", "msg_id": 7, "sid": 99, "rid": 21},
                            ref=2)
        got = (await m_recv(c21))["messages"][0]
        assert got["id"] == ack["data"]["id"] and got["sid"] == "alice" and got["msg_id"] == 7
        # The push API reaches 001 clients too (sender "server").
        status, _, body = srv.http("POST", "/api/users/21/messages", json.dumps({"text": "api"}),
                                   {"Authorization": "Bearer k"})
        assert status == 202
        got = (await m_recv(c21))["messages"][0]
        assert got["id"] == json.loads(body)["id"] and got["sid"] == "server"
        assert got["rid"] == "21" and got["text"] == "api"
        # Broadcasts (and rooms) have no 001 shape: nothing arrives.
        assert (await request(alice, "broadcast", {"text": "all"}, ref=3))["type"] == "ack"
        await m_quiet(c21)
        await c21.close()
        await alice.close()
    run(go())


# --- Lua policy ----------------------------------------------------------------------

POLICY = """
function authorize(user, action, target, data)
  if action == "message" and target == "666" then return false, "666 takes no messages" end
  return true
end
function filter(msg)
  if msg.data.text == "spam" then return nil, "no spam" end
  return msg
end
"""


def test_lua_policy_denial_is_an_errors_entry(server, tmp_path):
    wd = tmp_path / "lua"
    wd.mkdir()
    (wd / "policy.lua").write_text(POLICY)
    s = {"lua": {"scripts": "policy.lua"}}
    s.update(msg_sections())
    srv = server(sections=s, workdir=str(wd))

    async def go():
        c21 = await m_ws(srv, 21)
        c31 = await m_ws(srv, 31)
        await m_send(c21, send=[{"id": 1, "sid": 21, "rid": 666, "text": "hi"},
                                {"id": 2, "sid": 21, "rid": 31, "text": "spam"},
                                {"id": 3, "sid": 21, "rid": 31, "text": "fine"}])
        errors, sent = [], []
        while len(errors) < 2 or not sent:
            frame = await m_recv(c21)
            errors += frame.get("errors", [])
            sent += frame.get("sent", [])
        assert sorted(errors, key=lambda e: e["id"]) == [
            {"id": 1, "code": "forbidden", "message": "666 takes no messages", "section": "send"},
            {"id": 2, "code": "filtered", "message": "no spam", "section": "send"}]
        assert sent == [{"id": 3}]
        assert await m_recv(c31) == {"messages": [{"id": 3, "sid": 21, "rid": 31,
                                                   "text": "fine"}]}
        await m_quiet(c31)
        await c21.close()
        await c31.close()
    run(go())


# --- store_lmdb: what the seed's memory server lost ------------------------------------


def test_lmdb_unread_survives_restart_then_read_is_final(server):
    s = msg_sections(store="store_lmdb")
    srv = server(sections=s)

    async def first():
        c21 = await m_ws(srv, 21)
        await m_send(c21, send=[{"id": 11, "sid": 21, "rid": 31, "text": "hello"},
                                {"id": 12, "sid": 21, "rid": 31, "url": "https://web.com/p"}])
        assert sorted(i["id"] for i in await m_collect(c21, "sent", 2)) == [11, 12]
        await c21.close()
    run(first())
    assert srv.stop() == 0

    srv2 = server(sections=s, workdir=srv.workdir)
    want = [{"id": 11, "sid": 21, "rid": 31, "text": "hello"},
            {"id": 12, "sid": 21, "rid": 31, "url": "https://web.com/p"}]

    async def second():
        c31 = await m_ws(srv2, 31)
        assert await m_collect(c31, "messages", 2) == want
        await m_send(c31, read=[{"id": 11}])
        assert await m_section(c31, "read") == [{"id": 11}]
        await c31.close()
        c31 = await m_ws(srv2, 31)
        assert await m_collect(c31, "messages", 1) == want[1:]
        await m_send(c31, read=[{"id": 12}])
        assert await m_section(c31, "read") == [{"id": 12}]
        await c31.close()
    run(second())
    assert srv2.stop() == 0

    srv3 = server(sections=s, workdir=srv.workdir)

    async def third():
        c31 = await m_ws(srv3, 31)
        await m_quiet(c31, 0.6)
        await c31.close()
    run(third())


# --- configuration ----------------------------------------------------------------------


def test_path_taken_by_native_endpoint_refuses_to_start(server):
    srv = server(sections=msg_sections(path="/messaging /ws"), start=False)
    srv.start(wait=False)
    assert srv.proc.wait(timeout=20) != 0
    assert "endpoint /ws: claimed by core and by dialect_messaging" in srv.log()


def test_path_must_be_a_path(server):
    srv = server(sections=msg_sections(path="messaging"), start=False)
    srv.start(wait=False)
    assert srv.proc.wait(timeout=20) != 0
    assert "path messaging: must start with /" in srv.log()


def test_drop_in_conf_serves_seed_clients(server, tmp_path):
    """conf/messaging.conf as shipped, with only the port, the plugin dir and
    the data path moved by environment overrides."""
    with open(os.path.join(SOURCE_DIR, "conf", "messaging.conf")) as f:
        text = f.read()
    srv = server(conf=text, start=False)
    srv.env.update({"SWITCHBOARD_SERVER_LISTEN": f"127.0.0.1:{srv.port}",
                    "SWITCHBOARD_SERVER_PLUGIN_DIR": PLUGIN_DIR,
                    "SWITCHBOARD_STORE_LMDB_PATH": str(tmp_path / "data")})
    srv.start()

    async def go():
        a = await m_ws(srv, 1452, path="/messaing")
        b = await m_ws(srv, 21, path="/messaging")
        await m_send(a, send=[{"id": 1, "sid": 1452, "rid": 21, "text": "hi"}])
        assert await m_recv(b) == {"messages": [{"id": 1, "sid": 1452, "rid": 21,
                                                 "text": "hi"}]}
        await m_send(b, read=[{"id": 1}])
        assert await m_section(b, "read") == [{"id": 1}]
        await a.close()
        await b.close()
    run(go())
    assert os.path.exists(str(tmp_path / "data" / "data.mdb"))


# --- two nodes over bus_redis -------------------------------------------------------------


def bus_sections(r, node):
    s = node_sections(r, node)
    s["dialect_messaging"] = {}
    return s


def test_bus_redis_001_clients_on_two_nodes(server, redis):
    r = redis()
    a, b = two_nodes(server, r, bus_sections)

    async def go():
        c21 = await m_ws(a, 21)
        c31 = await m_ws(b, 31)
        await asyncio.sleep(0.3)  # let the (empty) backlogs finish: see test_bus_redis
        await m_send(c21, send=[{"id": 1, "sid": 21, "rid": 31, "text": "across"}])
        assert await m_section(c21, "sent") == [{"id": 1}]
        assert await m_recv(c31) == {"messages": [{"id": 1, "sid": 21, "rid": 31,
                                                   "text": "across"}]}
        await m_quiet(c31, 0.5)  # exactly once
        # Stored via A, read via B.
        await m_send(c31, read=[{"id": 1}])
        assert await m_section(c31, "read") == [{"id": 1}]
        await c31.close()
        # 31 offline: stored via A, delivered and read on A, gone on B.
        await m_send(c21, send=[{"id": 2, "sid": 21, "rid": 31, "text": "later"}])
        assert await m_section(c21, "sent") == [{"id": 2}]
        c31 = await m_ws(a, 31)
        assert await m_recv(c31) == {"messages": [{"id": 2, "sid": 21, "rid": 31,
                                                   "text": "later"}]}
        await m_send(c31, read=[{"id": 2}])
        assert await m_section(c31, "read") == [{"id": 2}]
        await c31.close()
        c31 = await m_ws(b, 31)
        await m_quiet(c31, 0.5)
        await c31.close()
        await c21.close()
    run(go())
    assert r.command("ZCARD", "sb:inbox:31") == 0

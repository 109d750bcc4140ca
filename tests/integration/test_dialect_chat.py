"""dialect_chat (seed 003's chat server, docs/dialects/chat.md): clients doing
what the seed text shows (broadcast, list, me, on /chat and, with the drop-in
conf/chat.conf, on /ws at the seed's port), identities and guests, every
error, rooms and presence, and the same traffic crossing to native clients,
the push API, a Lua policy and a second node over bus_redis."""
import asyncio
import json
import re
import time

from conftest import (default_sections, frame, free_port, no_frame, read_close, recv, recv_type,
                      send, ws_handshake_raw)
from dialect_util import KEY, api, run_closing, shipped, upgrade_status
from redis_util import redis  # noqa: F401 (fixture)

GUEST = re.compile(r"^guest-[0-9a-z]{26}$")


def chat_sections(chat=None, auth=None, store="store_memory", **extra):
    """The messaging plugins (auth none), the push API and [dialect_chat]."""
    s = default_sections(store=store, auth=auth)
    s["api"] = {"api_key": KEY}
    s.update(extra)
    s["dialect_chat"] = dict(chat or {})
    return s


async def command(ws, **frame_):
    await ws.send(json.dumps(frame_))


async def event(ws, name, timeout=5):
    """Skip frames until {"event": name} arrives (presence noise, say)."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        assert left > 0, f"no {name} event within {timeout}s"
        msg = await recv(ws, left)
        if msg.get("event") == name:
            return msg


async def me(ws):
    await command(ws, command="me")
    return await event(ws, "me")


# --- the seed's own session ---

def test_chat_seed_session_broadcast_list_me(server):
    srv = server(sections=chat_sections())

    async def go(open_):
        a = await open_(srv)
        b = await open_(srv)
        ma, mb = await me(a), await me(b)
        assert set(ma) == {"event", "member", "id", "rooms"}, ma
        assert GUEST.match(ma["member"]) and GUEST.match(mb["member"]), (ma, mb)
        assert ma["member"] != mb["member"]
        assert isinstance(ma["id"], str) and ma["id"] and ma["id"] != mb["id"], (ma, mb)

        await command(a, command="list")
        got = await event(a, "list")
        assert set(got) == {"event", "members"}
        assert sorted(got["members"]) == sorted([ma["member"], mb["member"]]), got

        await command(a, command="broadcast", message="Hello, world!")
        want = {"event": "broadcast", "member": ma["member"], "message": "Hello, world!"}
        assert await recv(a) == want  # the sender too: the seed's hub sends to all
        assert await recv(b) == want
        await no_frame(a)
        await no_frame(b)
    run_closing(go)


def test_chat_health_answers_ok(server):
    srv = server(sections=chat_sections())
    status, _, body = srv.http("GET", "/health")
    assert (status, body) == (200, b"ok")


# --- identity ---

def test_chat_identity_mode_none(server):
    srv = server(sections=chat_sections())

    async def go(open_):
        assert (await me(await open_(srv, {"client_id": "alice"})))["member"] == "alice"
        # An empty client_id is no identity: a guest.
        assert GUEST.match((await me(await open_(srv, {"client_id": ""})))["member"])
        # The chat token parameter names the user in mode none (client_id rules).
        assert (await me(await open_(srv, {"token": "bob"})))["member"] == "bob"
    run_closing(go)
    for q in ("client_id=0", "client_id=bad%21name", "client_id=" + "x" * 65, "token=0",
              "token=a%20b"):
        status, body = upgrade_status(srv, f"/chat?{q}")
        assert status == 401, (q, status, body)


def test_chat_guests_regardless_of_auth_guests_and_guests_no(server):
    # [auth] guests = no concerns the native endpoint; chat makes its own guests.
    srv = server(sections=chat_sections(auth={"mode": "none", "guests": "no"}))
    assert upgrade_status(srv, "/ws")[0] == 401

    async def go(open_):
        assert GUEST.match((await me(await open_(srv)))["member"])
    run_closing(go)

    strict = server(sections=chat_sections(chat={"guests": "no"}))
    status, body = upgrade_status(strict, "/chat")
    assert status == 401 and "identity" in body, body

    async def named(open_):
        assert (await me(await open_(strict, {"client_id": "carol"})))["member"] == "carol"
    run_closing(named)


def test_chat_tokens_in_static_mode(server, tmp_path):
    tokens = tmp_path / "tokens.conf"
    tokens.write_text("tok-alice alice\n")
    srv = server(sections=chat_sections(
        chat={"token_param": "tk"},
        auth={"mode": "static", "tokens_file": str(tokens)}))

    async def go(open_):
        assert (await me(await open_(srv, {"tk": "tok-alice"})))["member"] == "alice"
        # No identity in this mode's terms (client_id is not one): a guest.
        assert GUEST.match((await me(await open_(srv, {"client_id": "alice"})))["member"])
        assert GUEST.match((await me(await open_(srv)))["member"])
    run_closing(go)
    assert upgrade_status(srv, "/chat?tk=tok-mallory")[0] == 401  # a bad token is still 401
    assert upgrade_status(srv, "/chat?tk=%zz")[0] == 401


# --- errors ---

def test_chat_every_refusal_is_an_error_event_and_keeps_the_connection(server):
    srv = server(sections=chat_sections())
    cases = [
        ("not json", "bad_json", None),
        ("[1, 2]", "bad_json", None),
        ('{"command": "broadcast", "command": "list"}', "bad_json", None),
        ("{}", "bad_request", "command"),
        ('{"command": 7}', "bad_request", "command"),
        ('{"command": "dance"}', "bad_request", 'unknown command "dance"'),
        ('{"command": "broadcast"}', "bad_request", "message"),
        ('{"command": "broadcast", "message": ""}', "bad_request", "message"),
        ('{"command": "broadcast", "message": 5}', "bad_request", "message"),
        ('{"command": "join"}', "bad_request", "room"),
        ('{"command": "publish", "room": "lobby"}', "bad_request", "message"),
    ]

    async def go(open_):
        ws = await open_(srv)
        for text, code, words in cases:
            await ws.send(text)
            got = await recv(ws)
            assert got["event"] == "error" and got["code"] == code, (text, got)
            assert isinstance(got["message"], str) and got["message"], got
            if words:
                assert words in got["message"], (text, got)
        # Refusals of the native command carry the chat command's name.
        await command(ws, command="join", room="bad\u0001room")
        got = await recv(ws)
        assert got == {"event": "error", "message": got["message"], "code": "bad_request",
                       "command": "join"}, got
        await command(ws, command="publish", room="lobby", message="hi")
        got = await recv(ws)
        assert (got["event"], got["code"], got["command"]) == ("error", "forbidden", "publish")
        await command(ws, command="leave", room="lobby")  # leaving is idempotent
        assert await recv(ws) == {"event": "leave", "room": "lobby"}
        await command(ws, command="leave", room="")
        got = await recv(ws)
        assert (got["event"], got["code"], got["command"]) == ("error", "bad_request", "leave")
        assert (await me(ws))["event"] == "me"  # still open
    run_closing(go)


def test_chat_binary_frame_closes_1003(server):
    srv = server(sections=chat_sections())
    s = ws_handshake_raw(srv.port, "/chat")
    try:
        s.sendall(frame(0x2, b"\x01\x02"))
        assert read_close(s) == 1003
    finally:
        s.close()


def test_chat_rate_limit_is_an_error_event(server):
    srv = server(sections=chat_sections(), server_keys={"rate_limit": 1, "rate_burst": 2})

    async def go(open_):
        ws = await open_(srv)
        for _ in range(6):
            await command(ws, command="list")
        codes = []
        deadline = time.time() + 5
        while "rate_limited" not in codes and time.time() < deadline:
            got = await recv(ws)
            codes.append(got.get("code") if got["event"] == "error" else got["event"])
        assert "rate_limited" in codes, codes
    run_closing(go)


# --- rooms and presence ---

def test_chat_rooms_join_publish_members_presence_leave(server):
    srv = server(sections=chat_sections())

    async def go(open_):
        a = await open_(srv, {"client_id": "alice"})
        b = await open_(srv, {"client_id": "bob"})
        await command(a, command="join", room="lobby")
        assert await recv(a) == {"event": "join", "room": "lobby", "members": ["alice"]}
        await command(b, command="join", room="lobby")
        assert await recv(b) == {"event": "join", "room": "lobby", "members": ["alice", "bob"]}
        assert await recv(a) == {"event": "presence", "room": "lobby", "member": "bob",
                                 "action": "join"}
        await command(a, command="members", room="lobby")
        assert await recv(a) == {"event": "members", "room": "lobby",
                                 "members": ["alice", "bob"], "more": False}
        assert (await me(a))["rooms"] == ["lobby"]

        await command(b, command="publish", room="lobby", message="hi all")
        want = {"event": "publish", "room": "lobby", "member": "bob", "message": "hi all"}
        assert await recv(a) == want
        assert await recv(b) == want  # the sender's copy, as for broadcast

        await command(b, command="leave", room="lobby")
        assert await recv(b) == {"event": "leave", "room": "lobby"}
        assert await recv(a) == {"event": "presence", "room": "lobby", "member": "bob",
                                 "action": "leave"}
        await no_frame(b)
    run_closing(go)



def test_chat_crowded_join_says_so_and_members_pages(server):
    """A room over [rooms] presence_limit: the chat join lists nobody and
    carries the native presence: false, the crossing join's presence says
    presence: false, and members pages with after/limit and more."""
    srv = server(sections=chat_sections(rooms={"presence_limit": 2}))

    async def go(open_):
        a = await open_(srv, {"client_id": "alice"})
        b = await open_(srv, {"client_id": "bob"})
        c = await open_(srv, {"client_id": "carol"})
        await command(a, command="join", room="big")
        assert await recv(a) == {"event": "join", "room": "big", "members": ["alice"]}
        await command(b, command="join", room="big")
        assert await recv(b) == {"event": "join", "room": "big", "members": ["alice", "bob"]}
        assert await event(a, "presence") == {"event": "presence", "room": "big",
                                              "member": "bob", "action": "join"}
        await command(c, command="join", room="big")
        assert await recv(c) == {"event": "join", "room": "big", "members": [],
                                 "presence": False}
        crossing = {"event": "presence", "room": "big", "member": "carol", "action": "join",
                    "presence": False}
        assert await event(a, "presence") == crossing
        assert await event(b, "presence") == crossing

        await command(c, command="members", room="big", limit=2)
        assert await recv(c) == {"event": "members", "room": "big",
                                 "members": ["alice", "bob"], "more": True}
        await command(c, command="members", room="big", after="bob", limit=2)
        assert await recv(c) == {"event": "members", "room": "big", "members": ["carol"],
                                 "more": False}
        # A bad page is the native error, in the chat form.
        await command(c, command="members", room="big", limit=0)
        got = await recv(c)
        assert got["event"] == "error" and got["code"] == "bad_request", got
        assert got["command"] == "members", got
    run_closing(go)

# --- across protocols ---

def test_chat_broadcast_reaches_native_and_native_reaches_chat(server):
    srv = server(sections=chat_sections())

    async def go(open_):
        c = await open_(srv)
        n = await open_(srv, {"client_id": "nat"}, path="/ws")
        name = (await me(c))["member"]

        await command(c, command="broadcast", message="from chat")
        assert (await recv(c))["message"] == "from chat"
        got = await recv_type(n, "broadcast")
        assert got["data"]["from"] == name and got["data"]["text"] == "from chat", got
        assert set(got["data"]) == {"id", "from", "ts", "text"}, got

        await send(n, "broadcast", {"text": "from native", "x": 1}, ref=1)
        assert (await recv(n))["type"] == "ack"
        assert await recv(c) == {"event": "broadcast", "member": "nat",
                                 "message": "from native"}
        await send(n, "broadcast", {"mood": "calm", "n": [1, 2]}, ref=2)
        assert (await recv(n))["type"] == "ack"
        assert await recv(c) == {"event": "broadcast", "member": "nat",
                                 "message": {"mood": "calm", "n": [1, 2]}}

        # A native room publication reaches chat members of the room.
        await command(c, command="join", room="r1")
        await event(c, "join")
        await send(n, "join", {"room": "r1"}, ref=3)
        assert (await recv_type(n, "join"))["ref"] == 3
        await event(c, "presence")
        await send(n, "publish", {"room": "r1", "text": "in the room"}, ref=4)
        assert await event(c, "publish") == {"event": "publish", "room": "r1", "member": "nat",
                                             "message": "in the room"}
        # The chat list is the deployment's online users: native ones too.
        await command(c, command="list")
        assert sorted((await event(c, "list"))["members"]) == sorted([name, "nat"])
        # A direct message to a chat user has no chat form: nothing arrives.
        await send(n, "message", {"to": name, "text": "psst"}, ref=5)
        while (got := await recv(n)).get("ref") != 5:
            assert got["ref"] == 4, got  # the publication's ack
        assert got["type"] == "ack", got
        await no_frame(c)
    run_closing(go)


def test_chat_push_api_broadcast_and_publish(server):
    srv = server(sections=chat_sections())

    async def go(open_):
        c = await open_(srv, {"client_id": "carol"})
        await command(c, command="join", room="news")
        await event(c, "join")
        status, body = api(srv, "POST", "/api/broadcast", {"text": "maintenance at 5"})
        assert status == 202 and body["delivered"] == 1, body
        assert await recv(c) == {"event": "broadcast", "member": "server",
                                 "message": "maintenance at 5"}
        status, body = api(srv, "POST", "/api/rooms/news/publish",
                           {"type": "TYPE_INFO", "entityId": "e1", "message": "m"})
        assert status == 202, body
        assert await recv(c) == {"event": "publish", "room": "news", "member": "server",
                                 "message": {"type": "TYPE_INFO", "entityId": "e1",
                                             "message": "m"}}
    run_closing(go)


LUA_DENY = """
function authorize(user, action, target, data)
  if action == "broadcast" then return false, "no broadcasts on this server" end
  if action == "join" and target == "vip" then return false, "vip is members only" end
  return true
end

function filter(msg)
  local text = msg.data.text
  if type(text) == "string" and text:find("spam") then return nil, "no spam here" end
  if type(text) == "string" then msg.data.text = text:gsub("darn", "****") end
  return msg
end
"""


def test_chat_lua_policy_denial_is_a_chat_error(server, tmp_path):
    wd = tmp_path / "lua"
    wd.mkdir()
    (wd / "deny.lua").write_text(LUA_DENY)
    sections = {"lua": {"scripts": "deny.lua"}}
    sections.update(chat_sections())
    srv = server(sections=sections, workdir=str(wd))

    async def go(open_):
        c = await open_(srv)
        await command(c, command="broadcast", message="hello?")
        assert await recv(c) == {"event": "error", "message": "no broadcasts on this server",
                                 "code": "forbidden", "command": "broadcast"}
        await command(c, command="join", room="vip")
        assert await recv(c) == {"event": "error", "message": "vip is members only",
                                 "code": "forbidden", "command": "join"}
        await command(c, command="join", room="hall")
        assert (await recv(c))["event"] == "join"
        # A filter's verdict, and its rewrite, reach the chat clients too.
        await command(c, command="publish", room="hall", message="buy spam")
        assert await recv(c) == {"event": "error", "message": "no spam here", "code": "filtered",
                                 "command": "publish"}
        other = await open_(srv, {"client_id": "olga"})
        await command(other, command="join", room="hall")
        assert (await recv(other))["event"] == "join"
        assert (await recv(c))["event"] == "presence"
        await command(other, command="publish", room="hall", message="darn it")
        got = await recv(c)
        assert got == {"event": "publish", "room": "hall", "member": "olga",
                       "message": "**** it"}, got
        # The sender's own copy is the frame everyone got (SB_ENDPOINT_ECHO):
        # the filter's rewrite, once (docs/dialects/chat.md, broadcast).
        assert await recv(other) == got
        await no_frame(other)
    run_closing(go)


def test_chat_two_nodes_over_bus_redis(server, redis):  # noqa: F811
    r = redis()

    def node(name):
        s = chat_sections(store="store_redis")
        s["store_redis"] = {"url": r.url}
        s["bus_redis"] = {"url": r.url, "node_id": name}
        s["dialect_chat"] = {}  # after bus_redis, as plugins.conf lists them
        return server(sections=s)
    a, b = node("A"), node("B")
    for srv in (a, b):
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")

    async def go(open_):
        ca = await open_(a, {"client_id": "ann"})
        cb = await open_(b, {"client_id": "ben"})
        nb = await open_(b, {"client_id": "nat"}, path="/ws")
        await command(ca, command="broadcast", message="across")
        want = {"event": "broadcast", "member": "ann", "message": "across"}
        assert await recv(ca) == want
        assert await recv(cb) == want
        got = await recv_type(nb, "broadcast")
        assert got["data"]["from"] == "ann" and got["data"]["text"] == "across", got
        # list is deployment-wide; rooms cross nodes too.
        deadline = time.time() + 10
        while True:
            await command(ca, command="list")
            members = (await event(ca, "list"))["members"]
            if members == ["ann", "ben", "nat"] or time.time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert members == ["ann", "ben", "nat"]
        await command(cb, command="join", room="x")
        await event(cb, "join")
        await command(ca, command="join", room="x")
        await event(ca, "join")
        await command(ca, command="publish", room="x", message="room across")
        want = {"event": "publish", "room": "x", "member": "ann", "message": "room across"}
        assert await event(ca, "publish") == want
        assert await event(cb, "publish") == want
    run_closing(go)


# --- the drop-in configuration ---

def test_chat_dropin_conf_serves_the_seed_on_ws(server, tmp_path):
    port = free_port()
    srv = server(conf=shipped("chat.conf", port, tmp_path), start=False)
    srv.port = port
    srv.start()
    assert srv.http("GET", "/health")[2] == b"ok"

    async def go(open_):
        a = await open_(srv, path="/ws")  # ws://localhost:8080/ws, as the seed text
        b = await open_(srv, path="/ws")
        n = await open_(srv, {"client_id": "nat"}, path="/native")
        ma = await me(a)
        assert GUEST.match(ma["member"]), ma
        await command(a, command="broadcast", message="Hello, world!")
        want = {"event": "broadcast", "member": ma["member"], "message": "Hello, world!"}
        assert await recv(a) == want
        assert await recv(b) == want
        assert (await recv_type(n, "broadcast"))["data"]["text"] == "Hello, world!"
        await command(b, command="list")
        assert len((await event(b, "list"))["members"]) == 3
    run_closing(go)


def test_chat_two_endpoints_on_one_path_stop_startup(server):
    sections = chat_sections(chat={"path": "/notify"})
    sections["dialect_notify"] = {}
    srv = server(sections=sections, start=False)
    srv.start(wait=False)
    code = srv.proc.wait(20)
    assert code != 0
    log = srv.log()
    assert "/notify" in log and "dialect_chat" in log and "dialect_notify" in log, log


def test_chat_path_list_serves_every_path(server):
    srv = server(sections=chat_sections(chat={"path": "/chat, /chat2 /room-chat"}))

    async def go(open_):
        a = await open_(srv, {"client_id": "a"}, path="/chat2")
        b = await open_(srv, {"client_id": "b"}, path="/room-chat")
        await command(a, command="broadcast", message="one server")
        want = {"event": "broadcast", "member": "a", "message": "one server"}
        assert await recv(a) == want
        assert await recv(b) == want
    run_closing(go)
    assert upgrade_status(srv, "/chat?client_id=c")[0] == 101


def test_chat_bad_configuration_stops_startup(server):
    for keys, words in (({"path": ""}, "path"), ({"path": "chat"}, "chat"),
                        ({"token_param": "a=b"}, "token_param"), ({"guests": "maybe"}, "guests"),
                        ({"history": "-1"}, "history")):
        srv = server(sections=chat_sections(chat=keys), start=False)
        srv.start(wait=False)
        assert srv.proc.wait(20) != 0, keys
        assert words in srv.log(), (keys, srv.log())


def test_shipped_plugins_conf_serves_both_dialects_beside_web(server, tmp_path):
    """plugins.conf as shipped: /chat and /notify answer their dialects even
    with the web plugin serving every other path from /."""
    from test_default_config import shipped_conf
    port = free_port()
    env = {"SWITCHBOARD_SERVER_LISTEN": f"127.0.0.1:{port}",
           "SWITCHBOARD_STORE_LMDB_PATH": str(tmp_path / "data")}
    srv = server(conf=shipped_conf(), env=env, start=False, workdir=str(tmp_path / "w"))
    srv.port = port
    srv.start()

    async def go(open_):
        c = await open_(srv, path="/chat")
        assert GUEST.match((await me(c))["member"])
        n = await open_(srv, {"t": "u1"}, path="/notify")
        await n.send('{"action": "enter", "room": "r"}')
        await n.send('{"action": "dance"}')
        got = await recv(n)
        assert (got["type"], got["code"]) == ("error", "bad_request"), got
    run_closing(go)


# --- recent history on join ([dialect_chat] history) ---

def test_chat_join_shows_recent_history_then_live(server):
    """With room history on, a chat client joining a room first sees its
    newest publications ([dialect_chat] history of them, oldest first) as the
    seed's `publish` events, whoever published them (chat, native, push API),
    then live traffic; history = 0 shows none."""
    s = chat_sections(chat={"history": 3}, rooms={"history_size": 50}, store="store_lmdb")
    srv = server(sections=s)

    async def go(open_):
        a = await open_(srv, {"client_id": "alice"})
        await command(a, command="join", room="lobby")
        assert await recv(a) == {"event": "join", "room": "lobby", "members": ["alice"]}
        for i in range(4):
            await command(a, command="publish", room="lobby", message=f"m{i}")
            assert (await recv(a))["message"] == f"m{i}"
        nat = await srv.ws(client_id="nat")
        await send(nat, "join", {"room": "lobby"}, ref=1)
        await recv_type(nat, "join")
        await send(nat, "publish", {"room": "lobby", "text": "native"}, ref=2)
        await recv_type(nat, "ack")
        st, body = api(srv, "POST", "/api/rooms/lobby/publish", {"text": "backend"})
        assert st == 202, body
        await nat.close()

        b = await open_(srv, {"client_id": "bob"})
        await command(b, command="join", room="lobby")
        assert await recv(b) == {"event": "join", "room": "lobby", "members": ["alice", "bob"]}
        recent = [await recv(b) for _ in range(3)]
        assert recent == [
            {"event": "publish", "room": "lobby", "member": "alice", "message": "m3"},
            {"event": "publish", "room": "lobby", "member": "nat", "message": "native"},
            {"event": "publish", "room": "lobby", "member": "server", "message": "backend"},
        ], recent
        await no_frame(b)
        await command(a, command="publish", room="lobby", message="live")
        want = {"event": "publish", "room": "lobby", "member": "alice", "message": "live"}
        assert await event(b, "publish") == want
        await no_frame(b)
        # A join that fails shows nothing and leaves the connection working.
        await command(b, command="join", room="bad\nroom")
        assert (await recv(b))["event"] == "error"
        await no_frame(b)
        assert (await me(b))["rooms"] == ["lobby"]
    run_closing(go)


def test_chat_join_history_zero_shows_nothing(server):
    s = chat_sections(chat={"history": 0}, rooms={"history_size": 50})
    srv = server(sections=s)

    async def go(open_):
        a = await open_(srv, {"client_id": "alice"})
        await command(a, command="join", room="lobby")
        await recv(a)
        await command(a, command="publish", room="lobby", message="old")
        await recv(a)
        b = await open_(srv, {"client_id": "bob"})
        await command(b, command="join", room="lobby")
        assert (await recv(b))["event"] == "join"
        await no_frame(b)
    run_closing(go)

"""dialect_notify (seed 004's go-socket-server, WebSocket side,
docs/dialects/notify.md): clients doing what the seed text shows (connect with
?t=<token>, enter and leave rooms, receive notifications), every handshake
refusal and error frame, and notifications from native clients, the push API,
stored direct messages (removed once delivered), a Lua policy and a second
node over bus_redis, in the seed's field names."""
import json
import time

from conftest import default_sections, free_port, no_frame, recv, recv_type, send
from dialect_util import (KEY, api, run_closing, shipped, upgrade_status, wait_members,
                          wait_offline)
from redis_util import redis  # noqa: F401 (fixture)
from test_auth import SECRET, jwt_hmac

ORDER = {"type": "TYPE_INFO", "entityId": "order-123", "message": "Your order has shipped!"}


def notify_sections(notify=None, auth=None, store="store_memory", **extra):
    """The messaging plugins (auth none), the push API and [dialect_notify]."""
    s = default_sections(store=store, auth=auth)
    s["api"] = {"api_key": KEY}
    s.update(extra)
    s["dialect_notify"] = dict(notify or {})
    return s


async def action(ws, name, room):
    await ws.send(json.dumps({"action": name, "room": room}))


async def enter(srv, ws, room, user, others=()):
    """Enter room and wait until the server counts user in it (enter has no
    answer: the seed's clients get notifications only)."""
    await action(ws, "enter", room)
    wait_members(srv, room, [user, *others])


def assert_notification(got, want, id_=None):
    """got is exactly want, plus entityId = id_ when given."""
    if id_ is not None:
        want = dict(want, entityId=id_)
    assert got == want, got


# --- the seed's own session ---

def test_notify_seed_session_enter_notify_leave(server):
    srv = server(sections=notify_sections())

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        await enter(srv, ws, "order-updates", "u1")
        status, body = api(srv, "POST", "/api/rooms/order-updates/publish", ORDER)
        assert status == 202 and body["delivered"] == 1, body
        assert await recv(ws) == dict(ORDER, room="order-updates", **{"from": "server"})

        status, body = api(srv, "POST", "/api/broadcast", ORDER)
        assert status == 202, body
        assert await recv(ws) == dict(ORDER, **{"from": "server"})  # no room: a broadcast

        await action(ws, "leave", "order-updates")
        wait_members(srv, "order-updates", [])
        status, body = api(srv, "POST", "/api/rooms/order-updates/publish", ORDER)
        assert status == 202 and body["delivered"] == 0, body
        await no_frame(ws)
    run_closing(go)


# --- handshake ---

def test_notify_token_is_required_mode_none(server):
    srv = server(sections=notify_sections())
    for q, why in (("", "t: a token"), ("?t=", "t: a token"), ("?client_id=alice", "t: a token"),
                   ("?t=0", ""), ("?t=bad%21user", ""), ("?t=" + "x" * 65, ""),
                   ("?t=%zz", "t: malformed")):
        status, body = upgrade_status(srv, f"/notify{q}")
        assert status == 401, (q, status, body)
        assert why in body, (q, body)

    async def go(open_):
        ws = await open_(srv, {"t": "alice@example.com"}, path="/notify")
        await enter(srv, ws, "r", "alice@example.com")
    run_closing(go)


def test_notify_static_tokens_and_custom_param(server, tmp_path):
    tokens = tmp_path / "tokens.conf"
    tokens.write_text("tok-u1 u1\n")
    srv = server(sections=notify_sections(
        notify={"token_param": "access"}, auth={"mode": "static", "tokens_file": str(tokens)}))
    assert upgrade_status(srv, "/notify?access=tok-nope")[0] == 401
    assert upgrade_status(srv, "/notify?t=tok-u1")[0] == 401  # not this endpoint's parameter
    assert upgrade_status(srv, "/notify?access=u1")[0] == 401  # a user id is not a token

    async def go(open_):
        ws = await open_(srv, {"access": "tok-u1"}, path="/notify")
        await enter(srv, ws, "r", "u1")  # the token's user
    run_closing(go)


def test_notify_jwt_user_is_the_tokens_sub(server):
    srv = server(sections=notify_sections(auth={"mode": "jwt", "jwt_secret": SECRET}))
    good = jwt_hmac({"sub": "u7", "exp": int(time.time()) + 600}, SECRET)
    expired = jwt_hmac({"sub": "u7", "exp": int(time.time()) - 600}, SECRET)
    assert upgrade_status(srv, f"/notify?t={expired}")[0] == 401
    assert upgrade_status(srv, f"/notify?t={good}x")[0] == 401

    async def go(open_):
        ws = await open_(srv, {"t": good}, path="/notify")
        await enter(srv, ws, "jwt-room", "u7")
    run_closing(go)


# --- errors ---

def test_notify_error_frames(server):
    srv = server(sections=notify_sections())
    cases = [
        ("hello", "bad_json", None),
        ("[]", "bad_json", None),
        ('{"action": "enter", "action": "leave", "room": "r"}', "bad_json", None),
        ("{}", "bad_request", "action"),
        ('{"action": "subscribe", "room": "r"}', "bad_request", 'unknown action "subscribe"'),
        ('{"action": "enter"}', "bad_request", "room"),
        ('{"action": "enter", "room": 5}', "bad_request", "room"),
    ]

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        for text, code, words in cases:
            await ws.send(text)
            got = await recv(ws)
            assert got["type"] == "error" and got["code"] == code, (text, got)
            assert set(got) == {"type", "code", "message"}, got
            if words:
                assert words in got["message"], (text, got)
        # Refusals of the native join/leave name the action and the room.
        await action(ws, "enter", "x" * 129)
        got = await recv(ws)
        assert got == {"type": "error", "code": "bad_request", "message": got["message"],
                       "action": "enter", "room": "x" * 129}, got
        await action(ws, "leave", "bad\nroom")
        got = await recv(ws)
        assert (got["type"], got["action"], got["room"]) == ("error", "leave", "bad\nroom"), got
        await action(ws, "leave", "never-entered")  # idempotent, and silent as a success
        await no_frame(ws)
        await enter(srv, ws, "still-open", "u1")
    run_closing(go)


# --- across protocols ---

def test_notify_native_room_publish_and_broadcast(server):
    srv = server(sections=notify_sections())

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        nat = await open_(srv, {"client_id": "nat"}, path="/ws")
        await enter(srv, ws, "r", "u1")
        await send(nat, "join", {"room": "r"}, ref=1)
        assert (await recv(nat))["type"] == "join"
        await no_frame(ws)  # presence has no notify form

        await send(nat, "publish", {"room": "r", "text": "hi"}, ref=2)
        ack = await recv(nat)
        assert_notification(await recv(ws), {"type": "TYPE_INFO", "message": "hi", "room": "r",
                                             "from": "nat"}, ack["data"]["id"])
        await send(nat, "publish", {"room": "r", "a": {"b": 1}}, ref=3)
        ack = await recv(nat)
        assert_notification(await recv(ws), {"type": "TYPE_INFO", "message": {"a": {"b": 1}},
                                             "room": "r", "from": "nat"}, ack["data"]["id"])
        await send(nat, "broadcast", {"text": "all"}, ref=4)
        ack = await recv(nat)
        assert_notification(await recv(ws), {"type": "TYPE_INFO", "message": "all",
                                             "from": "nat"}, ack["data"]["id"])
    run_closing(go)


def test_notify_direct_message_delivered_once_then_removed(server):
    srv = server(sections=notify_sections())

    async def go(open_):
        nat = await open_(srv, {"client_id": "nat"}, path="/ws")
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        await send(nat, "message", {"to": "u1", "text": "psst"}, ref=1)
        ack = await recv_type(nat, "ack")
        assert_notification(await recv(ws), {"type": "TYPE_INFO", "message": "psst",
                                             "from": "nat"}, ack["data"]["id"])
        await ws.close()
        wait_offline(srv, "u1")

        # Offline: stored, delivered on the next notify connection, then gone.
        await send(nat, "message", {"to": "u1", "type": "TYPE_WARNING", "entityId": "inv-9",
                                    "message": {"due": 3}}, ref=2)
        assert (await recv_type(nat, "ack"))["ref"] == 2
        again = await open_(srv, {"t": "u1"}, path="/notify")
        assert await recv(again) == {"type": "TYPE_WARNING", "entityId": "inv-9",
                                     "message": {"due": 3}, "from": "nat"}
        await no_frame(again)
        await again.close()
        # A reconnect does not bring either again, on any endpoint.
        third = await open_(srv, {"t": "u1"}, path="/notify")
        await no_frame(third, 0.5)
        native = await open_(srv, {"client_id": "u1"}, path="/ws")
        await no_frame(native, 0.5)
    run_closing(go)


def test_notify_push_api_direct_message_in_seed_fields(server):
    srv = server(sections=notify_sections())

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        status, body = api(srv, "POST", "/api/users/u1/messages", ORDER)
        assert status == 202, body
        assert await recv(ws) == dict(ORDER, **{"from": "server"})
        await ws.close()
        again = await open_(srv, {"t": "u1"}, path="/notify")
        await no_frame(again, 0.5)
    run_closing(go)


LUA_DENY = """
function authorize(user, action, target, data)
  if action == "join" and target == "vip" then return false, "vip is members only" end
  return true
end
"""


def test_notify_lua_policy_denial_is_a_notify_error(server, tmp_path):
    wd = tmp_path / "lua"
    wd.mkdir()
    (wd / "deny.lua").write_text(LUA_DENY)
    sections = {"lua": {"scripts": "deny.lua"}}
    sections.update(notify_sections())
    srv = server(sections=sections, workdir=str(wd))

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/notify")
        await action(ws, "enter", "vip")
        assert await recv(ws) == {"type": "error", "code": "forbidden",
                                  "message": "vip is members only", "action": "enter",
                                  "room": "vip"}
        await enter(srv, ws, "lobby", "u1")
    run_closing(go)


def test_notify_two_nodes_over_bus_redis(server, redis):  # noqa: F811
    r = redis()

    def node(name):
        s = notify_sections(store="store_redis")
        s["store_redis"] = {"url": r.url}
        s["bus_redis"] = {"url": r.url, "node_id": name}
        s["dialect_notify"] = {}
        return server(sections=s)
    a, b = node("A"), node("B")
    for srv in (a, b):
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")

    async def go(open_):
        ws = await open_(b, {"t": "u1"}, path="/notify")
        await enter(a, ws, "orders", "u1")  # seen from node A
        status, body = api(a, "POST", "/api/rooms/orders/publish", ORDER)
        assert status == 202, body
        assert await recv(ws) == dict(ORDER, room="orders", **{"from": "server"})
        # A direct message sent on A reaches u1 on B and leaves the shared store.
        status, body = api(a, "POST", "/api/users/u1/messages", {"text": "dm"})
        assert status == 202, body
        assert_notification(await recv(ws), {"type": "TYPE_INFO", "message": "dm",
                                             "from": "server"}, body["id"])
        await ws.close()
        again = await open_(a, {"t": "u1"}, path="/notify")
        await no_frame(again, 0.5)
    run_closing(go)


# --- the drop-in configuration ---

def test_notify_dropin_conf_serves_the_seed_on_3003_ws(server, tmp_path):
    port = free_port()
    conf = shipped("notify.conf", port, tmp_path).replace("api_key =  ", f"api_key = {KEY}  ")
    srv = server(conf=conf, start=False)
    srv.port = port
    srv.start()

    async def go(open_):
        ws = await open_(srv, {"t": "u1"}, path="/ws")  # ws://localhost:3003/ws?t=<token>
        await ws.send('{ "action": "enter", "room": "order-updates" }')
        wait_members(srv, "order-updates", ["u1"])
        status, body = api(srv, "POST", "/api/rooms/order-updates/publish", ORDER)
        assert status == 202, body
        assert await recv(ws) == dict(ORDER, room="order-updates", **{"from": "server"})
        nat = await open_(srv, {"client_id": "nat"}, path="/native")
        await send(nat, "ping", ref=1)
        assert (await recv(nat))["type"] == "pong"
    run_closing(go)


def test_notify_bad_configuration_stops_startup(server):
    for keys, words in (({"path": " , "}, "path"), ({"token_param": ""}, "token_param"),
                        ({"token_param": "t&x"}, "token_param")):
        srv = server(sections=notify_sections(notify=keys), start=False)
        srv.start(wait=False)
        assert srv.proc.wait(20) != 0, keys
        assert words in srv.log(), (keys, srv.log())

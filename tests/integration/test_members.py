"""The members plugin (PROTOCOL.md section 3: `list`, `members`, `me`): the exact
reply bodies, argument checks, and (with the lua plugin) the authorize chain."""
import asyncio
import os
import time

import pytest

from conftest import PLUGIN_DIR, no_frame, recv_type, request, run, send

HAS_LUA = os.path.exists(os.path.join(PLUGIN_DIR, "lua.so"))


def sections(**extra):
    s = {"auth": {"mode": "none"}, "rooms": {}, "members": {}}
    s.update(extra)
    return s


async def join(ws, room):
    await send(ws, "join", {"room": room}, ref="j")
    reply = await recv_type(ws, "join")
    assert reply["data"]["room"] == room, reply
    return reply


async def users_of(ws, type_, data=None):
    reply = await request(ws, type_, data, ref=type_)
    assert reply["type"] == type_ and reply["ref"] == type_, reply
    return reply["data"]


async def until(fn, want, timeout=5):
    """Poll coroutine fn until it returns want (closes are processed async)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got == want or time.monotonic() > deadline:
            assert got == want
            return
        await asyncio.sleep(0.05)


def test_list_online_users(server):
    srv = server(sections=sections())

    async def go():
        alice = await srv.ws(client_id="alice")
        assert await users_of(alice, "list") == {"users": ["alice"]}
        bob1 = await srv.ws(client_id="bob")
        bob2 = await srv.ws(client_id="bob")
        zed = await srv.ws(client_id="Zed")
        # One entry per user however many connections, sorted; data is ignored.
        want = {"users": ["Zed", "alice", "bob"]}
        assert await users_of(alice, "list") == want
        assert await users_of(bob2, "list", {"users": ["x"]}) == want
        await bob1.close()
        assert await users_of(alice, "list") == want  # bob2 is still there
        await bob2.close()
        await zed.close()
        await until(lambda: users_of(alice, "list"), {"users": ["alice"]})
    run(go())


def test_members_of_room(server):
    srv = server(sections=sections())

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        carol = await srv.ws(client_id="carol")
        assert await users_of(carol, "members", {"room": "lobby"}) == \
            {"room": "lobby", "users": [], "more": False}
        await join(alice, "lobby")
        await join(bob, "lobby")
        await join(bob, "other")
        await recv_type(alice, "presence")  # bob's join
        # Anyone may ask, member or not.
        assert await users_of(carol, "members", {"room": "lobby"}) == \
            {"room": "lobby", "users": ["alice", "bob"], "more": False}
        assert await users_of(alice, "members", {"room": "other"}) == \
            {"room": "other", "users": ["bob"], "more": False}
        # Room names are case-sensitive.
        assert await users_of(alice, "members", {"room": "Lobby"}) == \
            {"room": "Lobby", "users": [], "more": False}
        reply = await request(bob, "leave", {"room": "lobby"}, ref="l")
        assert reply["type"] == "leave", reply
        await until(lambda: users_of(carol, "members", {"room": "lobby"}),
                    {"room": "lobby", "users": ["alice"], "more": False})
        await alice.close()
        await until(lambda: users_of(carol, "members", {"room": "lobby"}),
                    {"room": "lobby", "users": [], "more": False})
    run(go())


def test_members_unicode_room(server):
    srv = server(sections=sections())
    room = "caf\u00e9 \u2615"

    async def go():
        ws = await srv.ws(client_id="alice")
        await join(ws, room)
        assert await users_of(ws, "members", {"room": room}) == \
            {"room": room, "users": ["alice"], "more": False}
    run(go())


BAD_ROOMS = [
    None, {}, {"room": None}, {"room": 5}, {"room": ""}, {"room": ["lobby"]},
    {"room": {"name": "lobby"}}, {"room": "x" * 129}, {"room": "a\u0001b"}, {"Room": "lobby"},
]


def test_members_bad_request(server):
    srv = server(sections=sections())

    async def go():
        ws = await srv.ws(client_id="alice")
        for i, data in enumerate(BAD_ROOMS):
            reply = await request(ws, "members", data, ref=i)
            assert reply["type"] == "error" and reply["ref"] == i, (data, reply)
            assert reply["data"]["code"] == "bad_request", (data, reply)
        # The connection is fine afterwards; 128 bytes is a valid name.
        assert await users_of(ws, "members", {"room": "x" * 128}) == \
            {"room": "x" * 128, "users": [], "more": False}
    run(go())


def test_me(server):
    srv = server(sections=sections())

    async def go():
        t0 = int(time.time() * 1000)
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        t1 = int(time.time() * 1000)
        me1 = await users_of(a1, "me")
        me2 = await users_of(a2, "me", {"ignored": True})
        assert set(me1) == {"user", "conn", "rooms", "since"}, me1
        assert me1["user"] == "alice" and me2["user"] == "alice"
        for me in (me1, me2):
            assert isinstance(me["conn"], str) and me["conn"], me
            assert me["rooms"] == []
            assert isinstance(me["since"], int) and t0 - 1000 <= me["since"] <= t1 + 1000, me
        assert me1["conn"] != me2["conn"]
        assert me1["since"] <= me2["since"]
        # rooms are this connection's, sorted; the other connection has none.
        await join(a1, "lobby")
        await join(a1, "a-room")
        assert (await users_of(a1, "me"))["rooms"] == ["a-room", "lobby"]
        assert (await users_of(a2, "me"))["rooms"] == []
        again = await users_of(a1, "me")
        assert again["conn"] == me1["conn"] and again["since"] == me1["since"]
        await request(a1, "leave", {"room": "lobby"}, ref="l")
        assert (await users_of(a1, "me"))["rooms"] == ["a-room"]
        await no_frame(a2)
    run(go())


LUA_POLICY = """
function authorize(user, action, target, data)
  if action == "list" and user ~= "admin" then return false, "admins only" end
  if action == "members" and target == "secret" then return false, "secret room" end
  return true
end
"""


@pytest.mark.skipif(not HAS_LUA, reason="lua plugin not built")
def test_forbidden_by_policy(server, tmp_path):
    script = tmp_path / "policy.lua"
    script.write_text(LUA_POLICY)
    srv = server(sections={"lua": {"scripts": str(script)}, **sections()})

    async def go():
        alice = await srv.ws(client_id="alice")
        admin = await srv.ws(client_id="admin")
        reply = await request(alice, "list", ref=1)
        assert reply == {"type": "error", "ref": 1,
                         "data": {"code": "forbidden", "message": "admins only"}}, reply
        assert await users_of(admin, "list") == {"users": ["admin", "alice"]}
        reply = await request(admin, "members", {"room": "secret"}, ref=2)
        assert reply["data"] == {"code": "forbidden", "message": "secret room"}, reply
        assert await users_of(alice, "members", {"room": "open"}) == \
            {"room": "open", "users": [], "more": False}
        # me asks no permission.
        assert (await users_of(alice, "me"))["user"] == "alice"
    run(go())

"""The shipped example scripts (lua/examples/), run from the repository
as an operator would: each test proves what the script's opening comment says."""
import asyncio
import os

from conftest import default_sections, no_frame, recv_type
from lua_util import (EXAMPLES, connect, expect_error, expect_ok, handshake, lua_server,
                      run_closing)


def example(name):
    return [(os.path.join(EXAMPLES, name), None)]


# --- room_acl.lua ------------------------------------------------------------------

def test_room_acl_only_staff_join_staff_rooms(server, tmp_path):
    srv = lua_server(server, tmp_path, example("room_acl.lua"),
                     lua={"staff_users": "alice carol"})

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        carol = await connect(srv, "carol")
        await expect_error(bob, "join", {"room": "staff-ops"}, "forbidden",
                           "only staff may enter staff-ops")
        await expect_error(bob, "members", {"room": "staff-ops"}, "forbidden",
                           "only staff may enter staff-ops")
        await expect_ok(alice, "join", {"room": "staff-ops"})
        await expect_ok(carol, "join", {"room": "staff-ops"})
        await expect_ok(alice, "members", {"room": "staff-ops"})
        # other rooms, and rooms merely containing "staff-", are open to everyone
        await expect_ok(bob, "join", {"room": "lobby"})
        await expect_ok(bob, "join", {"room": "not-staff-room"})
    run_closing(go())
    # read at the script's top level during start-up: not warned as unknown
    assert "staff_users: unknown key" not in srv.log()


def test_room_acl_default_staff_is_admin(server, tmp_path):
    srv = lua_server(server, tmp_path, example("room_acl.lua"))

    async def go():
        admin = await connect(srv, "admin")
        alice = await connect(srv, "alice")
        await expect_ok(admin, "join", {"room": "staff-x"})
        await expect_error(alice, "join", {"room": "staff-x"}, "forbidden",
                           "only staff may enter staff-x")
    run_closing(go())


# --- rate_limit.lua ----------------------------------------------------------------

def test_rate_limit_per_user(server, tmp_path):
    srv = lua_server(server, tmp_path, example("rate_limit.lua"),
                     lua={"rate_limit_count": 3, "rate_limit_window": 1})

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        carol = await connect(srv, "carol")
        for i in range(3):
            await expect_ok(alice, "message", {"to": "bob", "text": str(i)}, want="ack")
        await expect_error(alice, "message", {"to": "bob", "text": "4th"}, "filtered",
                           "rate limit: at most 3 messages per 1 s")
        # per user: carol has her own window
        await expect_ok(carol, "message", {"to": "bob", "text": "c"}, want="ack")
        # several recipients count once
        await expect_ok(carol, "message", {"to": ["bob", "alice"], "text": "c2"}, want="ack")
        await expect_ok(carol, "message", {"to": "bob", "text": "c3"}, want="ack")
        await expect_error(carol, "message", {"to": "bob", "text": "c4"}, "filtered")
        # rooms and broadcasts are not limited
        await expect_ok(alice, "broadcast", {"text": "b"}, want="ack")
        # bob got exactly the accepted messages
        texts = []
        for _ in range(6):
            msg = await recv_type(bob, "message")
            texts.append(msg["data"]["text"])
        assert texts == ["0", "1", "2", "c", "c2", "c3"]
        await recv_type(bob, "broadcast")
        await no_frame(bob)
        # the window slides: a second later alice may send again
        await asyncio.sleep(1.1)
        await expect_ok(alice, "message", {"to": "bob", "text": "later"}, want="ack")
    run_closing(go())


# --- html_filter.lua ---------------------------------------------------------------

def test_html_filter_strips_tags_and_blocks_words(server, tmp_path):
    srv = lua_server(server, tmp_path, example("html_filter.lua"),
                     lua={"blocked_words": "viagra casino"})

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(alice, "message", {
            "to": "bob", "text": "<b>hello</b> <script>alert(1)</script>world",
            "extra": {"html": ["<i>x</i>", "<a href='y'>link</a>"]}, "n": 5}, want="ack")
        data = (await recv_type(bob, "message"))["data"]
        assert data["text"] == "hello alert(1)world"
        assert data["extra"] == {"html": ["x", "link"]} and data["n"] == 5
        await expect_error(alice, "message", {"to": "bob", "text": "cheap VIAGRA here"},
                           "filtered", "blocked word: viagra")
        await expect_error(alice, "message", {"to": "bob", "text": "via<b></b>gra"},
                           "filtered", "blocked word: viagra")
        await expect_error(alice, "broadcast", {"deep": {"x": ["Casino!"]}}, "filtered",
                           "blocked word: casino")
        # whole words only
        await expect_ok(alice, "message", {"to": "bob", "text": "viagras and casinoland"},
                        want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == "viagras and casinoland"
    run_closing(go())


# --- validate.lua ------------------------------------------------------------------

def test_validate_requires_text_of_at_most_2000_chars(server, tmp_path):
    srv = lua_server(server, tmp_path, example("validate.lua"))

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(bob, "join", {"room": "lobby"})
        await expect_ok(alice, "join", {"room": "lobby"})
        await expect_error(alice, "message", {"to": "bob"}, "filtered", "text is required")
        await expect_error(alice, "message", {"to": "bob", "text": 5}, "filtered",
                           "text must be a string")
        # characters, not bytes: 2000 two-byte characters pass
        ok = "\u00e9" * 2000
        await expect_ok(alice, "message", {"to": "bob", "text": ok}, want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == ok
        await expect_error(alice, "message", {"to": "bob", "text": "x" * 2001}, "filtered",
                           "text is 2001 characters long, at most 2000 allowed")
        await expect_error(alice, "publish", {"room": "lobby", "text": ["no"]}, "filtered",
                           "text must be a string")
        await expect_error(alice, "broadcast", {}, "filtered", "text is required")
        await expect_ok(alice, "publish", {"room": "lobby", "text": "fine"}, want="ack")
        assert (await recv_type(bob, "publish"))["data"]["text"] == "fine"
    run_closing(go())


# --- auth_table.lua ----------------------------------------------------------------

def auth_lua_sections():
    sections = default_sections()
    sections["auth"] = {"mode": "lua"}
    return sections


def test_auth_table_handshake_token(server, tmp_path):
    srv = lua_server(server, tmp_path, example("auth_table.lua"), sections=auth_lua_sections())
    status, body = handshake(srv, "token=wrong")
    assert status == 401 and "unknown token" in body, (status, body)

    async def go():
        alice = await connect(srv, query={"token": "tok-alice-3f9a"})
        me = await expect_ok(alice, "me")
        assert me["data"]["user"] == "alice"
        bob = await connect(srv, query={"token": "tok-bob-71c2"})
        await expect_ok(bob, "message", {"to": "alice", "text": "hi"}, want="ack")
        got = await recv_type(alice, "message")
        assert got["data"]["from"] == "bob"
    run_closing(go())


def test_auth_table_auth_command(server, tmp_path):
    srv = lua_server(server, tmp_path, example("auth_table.lua"), sections=auth_lua_sections())

    async def go():
        ws = await connect(srv)
        await expect_error(ws, "me", None, "unauthenticated")
        msg = await expect_error(ws, "auth", {"token": "nope"}, "auth_failed")
        assert "unknown token" in msg
        reply = await expect_ok(ws, "auth", {"token": "tok-bob-71c2"})
        assert reply["data"] == {"user": "bob"}
        me = await expect_ok(ws, "me")
        assert me["data"]["user"] == "bob"
    run_closing(go())
    srv.wait_log(r"auth_table\.lua: unknown token from 127\.0\.0\.1")

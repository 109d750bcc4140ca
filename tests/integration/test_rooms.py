"""Rooms (docs/protocol.md 3, 5): join/leave replies, presence to the other
members (once per user, not per connection), publish to members with the
echo rules, leave on close, every error the rooms plugin answers, and the
plugin switched off."""
from conftest import closed_with, no_frame, recv, request
from messaging_util import (assert_ack, drain, expect_error, expect_unknown, join, lua_sections,
                            needs_lua, recv_event, run, sections)


def presence(room, user, event):
    return {"room": room, "user": user, "event": event}


def test_rooms_join_reply_and_presence(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        reply = await request(alice, "join", {"room": "lobby"}, ref=1)
        assert reply == {"type": "join", "ref": 1, "data": {"room": "lobby", "users": ["alice"]}}
        reply = await request(bob, "join", {"room": "lobby"}, ref=2)
        assert reply == {"type": "join", "ref": 2,
                         "data": {"room": "lobby", "users": ["alice", "bob"]}}
        assert await recv(alice) == {"type": "presence", "data": presence("lobby", "bob", "join")}
        await no_frame(bob)  # no presence about oneself
    run(go())


def test_rooms_second_connection_causes_no_join_presence(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        await join(a1, "lobby")
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "join")
        data = await join(a2, "lobby")
        assert data == {"room": "lobby", "users": ["alice", "bob"]}
        await no_frame(bob)
        await no_frame(a1)  # the user's own connections get no presence either
        # Joining again on the same connection: answered, no news.
        assert await join(a1, "lobby") == {"room": "lobby", "users": ["alice", "bob"]}
        await no_frame(bob)
    run(go())


def test_rooms_leave_reply_and_presence_on_last_connection(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        await join(a1, "lobby")
        await join(a2, "lobby")
        await recv_event(bob, "presence")
        reply = await request(a1, "leave", {"room": "lobby"}, ref="l1")
        assert reply == {"type": "leave", "ref": "l1", "data": {"room": "lobby"}}
        await no_frame(bob)  # alice is still in through a2
        reply = await request(a2, "leave", {"room": "lobby"}, ref="l2")
        assert reply == {"type": "leave", "ref": "l2", "data": {"room": "lobby"}}
        assert await recv(bob) == {"type": "presence", "data": presence("lobby", "alice", "leave")}
        await no_frame(a1)
        await no_frame(a2)
        members = await request(bob, "members", {"room": "lobby"}, ref="m")
        assert members["data"]["users"] == ["bob"]
    run(go())


def test_rooms_leave_when_not_joined_is_idempotent(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        for ref in (1, 2):
            reply = await request(alice, "leave", {"room": "lobby"}, ref=ref)
            assert reply == {"type": "leave", "ref": ref, "data": {"room": "lobby"}}
        await join(alice, "lobby")
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "join")
        await request(alice, "leave", {"room": "lobby"})
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "leave")
        await request(alice, "leave", {"room": "lobby"})
        await no_frame(bob)  # a second leave is no news
        reply = await request(alice, "leave", {"room": "never-existed"}, ref=3)
        assert reply == {"type": "leave", "ref": 3, "data": {"room": "never-existed"}}
    run(go())


def test_rooms_publish_to_members(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")   # joined: gets the publication
        a3 = await srv.ws(client_id="alice")   # not joined: does not
        bob = await srv.ws(client_id="bob")
        carol = await srv.ws(client_id="carol")  # not a member
        await join(a1, "lobby")
        await join(a2, "lobby")
        await join(bob, "lobby")
        await drain(a1)
        await drain(a2)
        ack = assert_ack(await request(a1, "publish", {"room": "lobby", "text": "hi"}, ref=5), 5)
        want = {"type": "publish", "data": {"id": ack["id"], "from": "alice", "room": "lobby",
                                            "ts": ack["ts"], "text": "hi"}}
        assert await recv(bob) == want
        assert await recv(a2) == want
        await no_frame(a1)
        await no_frame(a3)
        await no_frame(carol)
    run(go())


def test_rooms_publish_spoofed_stamps_ignored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(alice, "lobby")
        await join(alice, "other")
        await join(bob, "lobby")
        await drain(alice)
        data = {"room": "lobby", "text": "hi", "from": "mallory", "id": "x", "ts": 1,
                "to": "kept", "Room": "kept"}
        ack = assert_ack(await request(alice, "publish", data, ref=1), 1)
        got = await recv_event(bob, "publish")
        assert got == {"id": ack["id"], "from": "alice", "room": "lobby", "ts": ack["ts"],
                       "text": "hi", "to": "kept", "Room": "kept"}
    run(go())


def test_rooms_publish_requires_join(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        await expect_error(alice, "publish", {"room": "lobby", "text": "x"}, "forbidden")
        # Membership is per connection: alice's other connection joining does not help.
        await join(a2, "lobby")
        await recv_event(bob, "presence")
        await expect_error(alice, "publish", {"room": "lobby", "text": "x"}, "forbidden")
        await no_frame(bob)
        # After leaving, publishing is refused again.
        await request(a2, "leave", {"room": "lobby"})
        await recv_event(bob, "presence")
        await expect_error(a2, "publish", {"room": "lobby", "text": "x"}, "forbidden")
        await no_frame(bob)
    run(go())


def test_rooms_publish_not_stored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        await join(alice, "lobby")
        assert_ack(await request(alice, "publish", {"room": "lobby", "text": "gone"}, ref=1), 1)
        bob = await srv.ws(client_id="bob")
        await no_frame(bob)
        assert await join(bob, "lobby") == {"room": "lobby", "users": ["alice", "bob"]}
        await no_frame(bob)  # a later joiner gets nothing of the past
        await bob.close()
        bob = await srv.ws(client_id="bob")
        await no_frame(bob)
    run(go())


def test_rooms_close_sends_leave_for_last_connection(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        a3 = await srv.ws(client_id="alice")  # in no room
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        await join(bob, "games")
        await join(a1, "lobby")
        await join(a1, "games")
        await join(a2, "lobby")
        await drain(bob)
        await a3.close()
        await no_frame(bob)
        await a1.close()  # a2 keeps alice in lobby; games loses her
        assert await recv(bob) == {"type": "presence", "data": presence("games", "alice", "leave")}
        await no_frame(bob)
        await a2.close()
        assert await recv(bob) == {"type": "presence", "data": presence("lobby", "alice", "leave")}
        await no_frame(bob)
        reply = await request(bob, "members", {"room": "lobby"}, ref=1)
        assert reply["data"]["users"] == ["bob"]
    run(go())


def test_rooms_abrupt_close_sends_leave(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await join(bob, "lobby")
        await join(alice, "lobby")
        await recv_event(bob, "presence")
        alice.transport.abort()  # TCP reset, no close handshake
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "leave")
    run(go())


def test_rooms_replaced_session_leaves_its_rooms(server):
    srv = server(server_keys={"sessions": "replace"})

    async def go():
        bob = await srv.ws(client_id="bob")
        old = await srv.ws(client_id="alice")
        await join(bob, "lobby")
        await join(old, "lobby")
        await recv_event(bob, "presence")
        new = await srv.ws(client_id="alice")
        assert (await closed_with(old))[0] == 4001
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "leave")
        assert await join(new, "lobby") == {"room": "lobby", "users": ["alice", "bob"]}
        assert await recv_event(bob, "presence") == presence("lobby", "alice", "join")
    run(go())


def test_rooms_bad_request(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bad = [{}, {"room": None}, {"room": 5}, {"room": ""}, {"room": ["lobby"]},
               {"room": "a\u0001b"}, {"room": "a\nb"}, {"room": "r" * 129}, {"Room": "lobby"}]
        ref = 0
        for cmd in ("join", "leave", "publish"):
            for data in bad:
                await expect_error(alice, cmd, data, "bad_request", ref=ref)
                ref += 1
        # 128 bytes of UTF-8 and spaces are a valid name.
        room = "é" * 64
        assert await join(alice, room) == {"room": room, "users": ["alice"]}
        assert await join(alice, "r" * 128) == {"room": "r" * 128, "users": ["alice"]}
        assert await join(alice, "the lobby") == {"room": "the lobby", "users": ["alice"]}
    run(go())


def test_rooms_disabled(server):
    off = server(sections=sections(rooms={"enabled": "no"}))
    absent = server(sections=sections(rooms=None))

    async def go():
        for srv in (off, absent):
            alice = await srv.ws(client_id="alice")
            for cmd in ("join", "leave", "publish"):
                await expect_unknown(alice, cmd, {"room": "lobby", "text": "x"})
    run(go())


@needs_lua
def test_rooms_forbidden_and_filtered_by_policy(server, tmp_path):
    srv = server(sections=lua_sections(tmp_path))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        why = await expect_error(alice, "join", {"room": "secret"}, "forbidden")
        assert why == "secret is closed"
        await join(bob, "quiet")
        await join(alice, "quiet")
        await recv_event(bob, "presence")
        why = await expect_error(alice, "publish", {"room": "quiet", "text": "x"}, "forbidden")
        assert why == "quiet room"
        await join(bob, "lobby")
        await join(alice, "lobby")
        await recv_event(bob, "presence")
        why = await expect_error(alice, "publish", {"room": "lobby", "text": "badword"},
                                 "filtered")
        assert why == "language"
        await no_frame(bob)
        ack = assert_ack(await request(alice, "publish", {"room": "lobby", "text": "shout"},
                                       ref=1), 1)
        assert await recv_event(bob, "publish") == {"id": ack["id"], "from": "alice",
                                                     "room": "lobby", "ts": ack["ts"],
                                                     "text": "SHOUT"}
    run(go())

"""The `broadcast` command (docs/protocol.md 3): every connection but the sending
one gets it (the sender's other connections too), stamps cannot be spoofed,
nothing is stored, and the plugin switched off answers unknown_type."""
from conftest import no_frame, recv, request
from messaging_util import (assert_ack, expect_error, expect_unknown, lua_sections, needs_lua,
                            recv_event, run, sections)


def test_broadcast_reaches_everyone_but_sender_connection(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        carol1 = await srv.ws(client_id="carol")
        carol2 = await srv.ws(client_id="carol")
        ack = assert_ack(await request(a1, "broadcast", {"text": "hello all"}, ref=3), 3)
        want = {"type": "broadcast",
                "data": {"id": ack["id"], "from": "alice", "ts": ack["ts"], "text": "hello all"}}
        for ws in (a2, bob, carol1, carol2):
            assert await recv(ws) == want
        await no_frame(a1)
    run(go())


def test_broadcast_spoofed_stamps_ignored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        data = {"text": "x", "from": "mallory", "id": "fake", "ts": 5, "to": "kept",
                "room": "kept", "nested": {"from": "kept"}}
        ack = assert_ack(await request(alice, "broadcast", data, ref=1), 1)
        got = await recv_event(bob, "broadcast")
        assert got == {"id": ack["id"], "from": "alice", "ts": ack["ts"], "text": "x",
                       "to": "kept", "room": "kept", "nested": {"from": "kept"}}
    run(go())


def test_broadcast_empty_data(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        ack = assert_ack(await request(alice, "broadcast", None, ref=1), 1)
        assert await recv_event(bob, "broadcast") == {"id": ack["id"], "from": "alice",
                                                      "ts": ack["ts"]}
    run(go())


def test_broadcast_alone_and_not_stored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        assert_ack(await request(alice, "broadcast", {"text": "anyone?"}, ref=1), 1)
        await no_frame(alice)
        bob = await srv.ws(client_id="bob")
        await no_frame(bob)  # live only: a later connection gets nothing
    run(go())


def test_broadcast_ids_distinct_from_messages(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        ids = set()
        for i in range(5):
            ids.add(assert_ack(await request(alice, "broadcast", {"n": i}, ref=i), i)["id"])
            assert (await recv_event(bob, "broadcast"))["n"] == i
        assert len(ids) == 5
    run(go())


def test_broadcast_disabled(server):
    off = server(sections=sections(broadcast={"enabled": "no"}))
    absent = server(sections=sections(broadcast=None))

    async def go():
        for srv in (off, absent):
            alice = await srv.ws(client_id="alice")
            bob = await srv.ws(client_id="bob")
            await expect_unknown(alice, "broadcast", {"text": "x"})
            await no_frame(bob)
    run(go())


@needs_lua
def test_broadcast_forbidden_and_filtered_by_policy(server, tmp_path):
    srv = server(sections=lua_sections(tmp_path))

    async def go():
        mallory = await srv.ws(client_id="mallory")
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        why = await expect_error(mallory, "broadcast", {"text": "x"}, "forbidden")
        assert why == "no broadcasts for you"
        why = await expect_error(alice, "broadcast", {"text": "badword"}, "filtered")
        assert why == "language"
        await no_frame(bob)
        ack = assert_ack(await request(alice, "broadcast", {"text": "shout"}, ref=1), 1)
        assert await recv_event(bob, "broadcast") == {"id": ack["id"], "from": "alice",
                                                      "ts": ack["ts"], "text": "SHOUT"}
    run(go())

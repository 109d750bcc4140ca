"""The `message` command (docs/protocol.md 3-4): the ack, the delivered form with
the server's stamps, recipients (one, several, duplicates, limits), echo
rules, every error `message` can answer, and the plugin switched off."""
from conftest import no_frame, recv, request, send
from messaging_util import (assert_ack, expect_error, expect_unknown, lua_sections, message,
                            needs_lua, recv_event, run, sections)


def test_message_acked_and_delivered_with_stamps(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        reply = await request(alice, "message", {"to": "bob", "text": "hi"}, ref=7)
        ack = assert_ack(reply, 7)
        got = await recv(bob)
        assert got == {"type": "message",
                       "data": {"id": ack["id"], "from": "alice", "to": "bob", "ts": ack["ts"],
                                "text": "hi"}}
        await no_frame(alice)
        await no_frame(bob)
    run(go())


def test_message_string_ref_and_any_fields_pass_through(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        fields = {"text": "hi", "n": 3, "ok": True, "none": None, "nested": {"a": [1, "x"]},
                  "From": "case-sensitive: kept", "émoji": "✓"}
        ack = await message(alice, "bob", ref="r-1", **fields)
        got = await recv_event(bob, "message")
        assert got == dict(fields, id=ack["id"], **{"from": "alice"}, to="bob", ts=ack["ts"])
    run(go())


def test_message_spoofed_stamps_ignored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        ack = await message(alice, "bob", text="hi", id="01HFAKEFAKEFAKEFAKEFAKEFAK",
                            ts=1, **{"from": "mallory"})
        got = await recv_event(bob, "message")
        assert got == {"id": ack["id"], "from": "alice", "to": "bob", "ts": ack["ts"],
                       "text": "hi"}
        assert ack["id"] != "01HFAKEFAKEFAKEFAKEFAKEFAK"
    run(go())


def test_message_ids_unique_and_increasing(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        ids = []
        for i in range(20):
            ids.append((await message(alice, "bob", ref=i, n=i))["id"])
        assert ids == sorted(ids) and len(set(ids)) == 20
    run(go())


def test_message_multi_recipient_with_duplicates(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        carol = await srv.ws(client_id="carol")
        dave = await srv.ws(client_id="dave")
        to = ["bob", "carol", "bob", "carol"]
        ack = await message(alice, to, text="group")
        want = {"id": ack["id"], "from": "alice", "to": to, "ts": ack["ts"], "text": "group"}
        assert await recv_event(bob, "message") == want
        assert await recv_event(carol, "message") == want
        await no_frame(bob)      # one copy despite the duplicate name
        await no_frame(carol)
        await no_frame(dave)
        await no_frame(alice)
    run(go())


def test_message_reaches_every_connection_of_recipient(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob1 = await srv.ws(client_id="bob")
        bob2 = await srv.ws(client_id="bob")
        ack = await message(alice, ["bob"], text="both")
        for ws in (bob1, bob2):
            got = await recv_event(ws, "message")
            assert got["id"] == ack["id"] and got["to"] == ["bob"] and got["text"] == "both"
    run(go())


def test_message_to_self_reaches_other_connections_only(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        ack = await message(a1, "alice", text="note to self")
        got = await recv_event(a2, "message")
        assert got == {"id": ack["id"], "from": "alice", "to": "alice", "ts": ack["ts"],
                       "text": "note to self"}
        await no_frame(a1)  # the sending connection never gets its own event
    run(go())


def test_message_sender_other_connections_not_echoed(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await message(a1, "bob", text="x")
        await recv_event(bob, "message")
        await no_frame(a2)  # a direct message goes to the recipients only
    run(go())


def test_message_bad_recipients(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        bad = [{}, {"to": None}, {"to": 5}, {"to": ""}, {"to": "0"}, {"to": "b ob"},
               {"to": "x" * 65}, {"to": "bob/1"}, {"to": []}, {"to": ["bob", 5]},
               {"to": ["bob", ""]}, {"to": [["bob"]]}, {"to": {"bob": 1}},
               {"to": "Bob\u00e9"}, {"To": "bob"}]
        for i, data in enumerate(bad):
            await expect_error(alice, "message", dict(data, text="x"), "bad_request", ref=i)
        await no_frame(bob)
        # 64 characters is still a valid name.
        await message(alice, "y" * 64, text="ok")
    run(go())


def test_message_too_many_recipients(server):
    srv = server(server_keys={"max_recipients": 2})

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await expect_error(alice, "message", {"to": ["bob", "carol", "dave"]},
                           "too_many_recipients")
        await no_frame(bob)
        # Duplicates are removed before the limit is checked.
        ack = await message(alice, ["bob", "carol", "bob", "carol", "bob"], text="ok")
        got = await recv_event(bob, "message")
        assert got["id"] == ack["id"] and got["to"] == ["bob", "carol", "bob", "carol", "bob"]
    run(go())


def test_message_stored_even_when_recipient_online(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        ack = await message(alice, "bob", text="kept")
        assert (await recv_event(bob, "message"))["id"] == ack["id"]
        # Not read yet: a new connection gets it from the inbox.
        bob2 = await srv.ws(client_id="bob")
        got = await recv_event(bob2, "message")
        assert got == {"id": ack["id"], "from": "alice", "to": "bob", "ts": ack["ts"],
                       "text": "kept"}
    run(go())


def test_message_inbox_full(server):
    srv = server(sections=sections(store={"max_inbox": 2}))

    async def go():
        alice = await srv.ws(client_id="alice")
        a1 = await message(alice, "bob", ref=1, n=1)
        await message(alice, "bob", ref=2, n=2)
        await expect_error(alice, "message", {"to": "bob", "n": 3}, "inbox_full")
        # All or none: carol's inbox has room, but the message is not stored for her either.
        await expect_error(alice, "message", {"to": ["carol", "bob"], "n": 4}, "inbox_full")
        carol = await srv.ws(client_id="carol")
        await no_frame(carol)
        # Reading makes room again.
        bob = await srv.ws(client_id="bob")
        assert (await recv_event(bob, "message"))["n"] == 1
        assert (await recv_event(bob, "message"))["n"] == 2
        reply = await request(bob, "read", {"ids": [a1["id"]]}, ref="r")
        assert reply == {"type": "read", "ref": "r", "data": {"ids": [a1["id"]]}}
        assert (await recv_event(alice, "receipt"))["id"] == a1["id"]
        ack = await message(alice, "bob", ref=5, n=5)
        got = await recv_event(bob, "message")
        assert got["id"] == ack["id"] and got["n"] == 5
    run(go())


def test_message_unavailable_when_store_fails_later(server):
    srv = server(sections=sections(store={"simulate_outage": "done"}))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await expect_error(alice, "message", {"to": "bob", "text": "x"}, "unavailable")
        await no_frame(bob)  # not accepted, so not delivered
    run(go())


def test_message_unavailable_when_store_refuses_call(server):
    srv = server(sections=sections(store={"simulate_outage": "call"}))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await expect_error(alice, "message", {"to": "bob", "text": "x"}, "unavailable")
        await no_frame(bob)
    run(go())


def test_message_pipelined_acks_in_order(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        for i in range(30):
            await send(alice, "message", {"to": "bob", "n": i}, ref=i)
        acks = [assert_ack(await recv(alice), i) for i in range(30)]
        got = [await recv_event(bob, "message") for _ in range(30)]
        assert [g["n"] for g in got] == list(range(30))
        assert [g["id"] for g in got] == [a["id"] for a in acks]
    run(go())


def test_message_sender_gone_before_ack(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await send(alice, "message", {"to": "bob", "text": "fire and forget"}, ref=1)
        await alice.close()
        got = await recv_event(bob, "message")
        assert got["text"] == "fire and forget" and got["from"] == "alice"
    run(go())


def test_message_disabled(server):
    off = server(sections=sections(message={"enabled": "no"}))
    absent = server(sections=sections(message=None))

    async def go():
        for srv in (off, absent):
            alice = await srv.ws(client_id="alice")
            await expect_unknown(alice, "message", {"to": "bob", "text": "x"})
            # The other plugins still answer.
            reply = await request(alice, "read", {"ids": []}, ref=1)
            assert reply == {"type": "read", "ref": 1, "data": {"ids": []}}
    run(go())


@needs_lua
def test_message_forbidden_by_policy(server, tmp_path):
    srv = server(sections=lua_sections(tmp_path))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        why = await expect_error(alice, "message", {"to": ["bob", "mallory"], "text": "x"},
                                 "forbidden")
        assert why == "mallory does not accept messages from you"
        await no_frame(bob)  # one refused recipient refuses the whole message
        mallory = await srv.ws(client_id="mallory")
        await no_frame(mallory)
    run(go())


@needs_lua
def test_message_filtered_and_rewritten(server, tmp_path):
    srv = server(sections=lua_sections(tmp_path))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        why = await expect_error(alice, "message", {"to": "bob", "text": "badword"}, "filtered")
        assert why == "language"
        await no_frame(bob)
        ack = await message(alice, "bob", text="shout")
        got = await recv_event(bob, "message")
        # The filter's change to text stays; its changes to the stamps do not.
        assert got == {"id": ack["id"], "from": "alice", "to": "bob", "ts": ack["ts"],
                       "text": "SHOUT"}
    run(go())

"""The `read` command (docs/protocol.md 3-4): the reply lists exactly the removed
ids, a reader removes only its own messages, unknown ids are ignored, and each
message's sender gets a `receipt` on its connections but the reader's."""
from conftest import no_frame, recv, request
from messaging_util import expect_error, expect_unknown, ID_RE, message, recv_event, run, sections

UNKNOWN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


async def read(ws, ids, ref="r"):
    reply = await request(ws, "read", {"ids": ids}, ref=ref)
    assert reply["type"] == "read" and reply["ref"] == ref, reply
    assert set(reply["data"]) == {"ids"}, reply
    return reply["data"]["ids"]


def test_read_removes_and_sends_receipt(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        ack = await message(alice, "bob", text="hi")
        got = await recv_event(bob, "message")
        assert await read(bob, [got["id"]], ref=9) == [ack["id"]]
        receipt = await recv(alice)
        assert receipt == {"type": "receipt",
                           "data": {"id": ack["id"], "by": "bob", "status": "read"}}
        await no_frame(bob)  # the reader gets no receipt of its own
        # Gone from the inbox: a new connection gets nothing.
        bob2 = await srv.ws(client_id="bob")
        await no_frame(bob2)
    run(go())


def test_read_empty_list(server):
    srv = server()

    async def go():
        bob = await srv.ws(client_id="bob")
        assert await read(bob, []) == []
    run(go())


def test_read_unknown_ids_ignored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        ack = await message(alice, "bob", text="hi")
        bob = await srv.ws(client_id="bob")
        await recv_event(bob, "message")
        ids = await read(bob, [UNKNOWN, ack["id"], "short", "", ack["id"]])
        assert ids == [ack["id"]]
        assert (await recv_event(alice, "receipt"))["id"] == ack["id"]
        await no_frame(alice)  # one receipt, though the id was named twice
        # Reading it again removes nothing and tells nobody.
        assert await read(bob, [ack["id"]]) == []
        await no_frame(alice)
    run(go())


def test_read_only_own_messages(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        ack = await message(alice, "bob", text="for bob")
        carol = await srv.ws(client_id="carol")
        assert await read(carol, [ack["id"]]) == []
        await no_frame(alice)
        bob = await srv.ws(client_id="bob")
        got = await recv_event(bob, "message")
        assert got["id"] == ack["id"] and got["text"] == "for bob"
        # The sender cannot remove it from bob's inbox either.
        assert await read(alice, [ack["id"]]) == []
        bob2 = await srv.ws(client_id="bob")
        assert (await recv_event(bob2, "message"))["id"] == ack["id"]
    run(go())


def test_read_several_senders_each_get_receipts(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        carol = await srv.ws(client_id="carol")
        a1 = await message(alice, "bob", ref=1, text="a1")
        c1 = await message(carol, "bob", ref=2, text="c1")
        a2 = await message(alice, "bob", ref=3, text="a2")
        bob = await srv.ws(client_id="bob")
        for _ in range(3):
            await recv_event(bob, "message")
        ids = await read(bob, [a2["id"], c1["id"], a1["id"]])
        assert sorted(ids) == sorted([a1["id"], c1["id"], a2["id"]])
        to_alice = [await recv_event(alice, "receipt") for _ in range(2)]
        assert sorted(r["id"] for r in to_alice) == sorted([a1["id"], a2["id"]])
        assert all(r["by"] == "bob" and r["status"] == "read" for r in to_alice)
        assert await recv_event(carol, "receipt") == {"id": c1["id"], "by": "bob",
                                                       "status": "read"}
        await no_frame(alice)
        await no_frame(carol)
    run(go())


def test_read_receipt_to_every_sender_connection(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        ack = await message(a1, "bob", text="x")
        bob = await srv.ws(client_id="bob")
        await recv_event(bob, "message")
        await read(bob, [ack["id"]])
        for ws in (a1, a2):
            assert await recv_event(ws, "receipt") == {"id": ack["id"], "by": "bob",
                                                        "status": "read"}
    run(go())


def test_read_own_message_to_self(server):
    srv = server()

    async def go():
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        ack = await message(a1, "alice", text="self")
        assert (await recv_event(a2, "message"))["id"] == ack["id"]
        assert await read(a2, [ack["id"]]) == [ack["id"]]
        # The sender is the reader: its other connection hears, the reading one does not.
        assert await recv_event(a1, "receipt") == {"id": ack["id"], "by": "alice",
                                                    "status": "read"}
        await no_frame(a2)
    run(go())


def test_read_receipt_not_stored_for_offline_sender(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        ack = await message(alice, "bob", text="x")
        await alice.close()
        bob = await srv.ws(client_id="bob")
        await recv_event(bob, "message")
        assert await read(bob, [ack["id"]]) == [ack["id"]]
        alice = await srv.ws(client_id="alice")
        await no_frame(alice)
    run(go())


def test_read_bad_request(server):
    srv = server()

    async def go():
        bob = await srv.ws(client_id="bob")
        for i, data in enumerate([{}, {"ids": None}, {"ids": UNKNOWN}, {"ids": [1]},
                                  {"ids": [UNKNOWN, None]}, {"ids": {"a": UNKNOWN}},
                                  {"ids": [[UNKNOWN]]}, {"IDS": [UNKNOWN]}]):
            await expect_error(bob, "read", data, "bad_request", ref=i)
    run(go())


def test_read_unavailable(server):
    done = server(sections=sections(store={"simulate_outage": "done"}))
    call = server(sections=sections(store={"simulate_outage": "call"}))

    async def go():
        for srv in (done, call):
            bob = await srv.ws(client_id="bob")
            await expect_error(bob, "read", {"ids": [UNKNOWN]}, "unavailable")
            # Nothing to ask the store: answered without it.
            assert await read(bob, []) == []
    run(go())


def test_read_disabled(server):
    off = server(sections=sections(read={"enabled": "no"}))
    absent = server(sections=sections(read=None))

    async def go():
        for srv in (off, absent):
            alice = await srv.ws(client_id="alice")
            await expect_unknown(alice, "read", {"ids": []})
            ack = await message(alice, "bob", text="still stored")
            assert ID_RE.match(ack["id"])
    run(go())

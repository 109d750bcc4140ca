"""Stored direct messages (docs/protocol.md 4): offline recipients get their inbox
on connect, oldest first and before live traffic, on every new connection
until they read it; a large inbox arrives whole and in order."""
import asyncio

from conftest import no_frame, recv, request, send
from messaging_util import assert_ack, message, recv_event, run


async def inbox(ws, n, timeout=10):
    """The next n frames, which must all be stored messages; returns their data."""
    out = []
    for _ in range(n):
        out.append(await recv_event(ws, "message", timeout))
    return out


def test_offline_delivered_on_connect_in_order(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        acks = [await message(alice, "bob", ref=i, text=f"m{i}") for i in range(3)]
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, 3)
        assert got == [{"id": a["id"], "from": "alice", "to": "bob", "ts": a["ts"],
                        "text": f"m{i}"} for i, a in enumerate(acks)]
        await no_frame(bob)
        # Live traffic follows.
        live = await message(alice, "bob", ref="live", text="live")
        assert (await recv_event(bob, "message"))["id"] == live["id"]
    run(go())


def test_offline_backlog_before_live_traffic(server):
    srv = server(server_keys={"rate_limit": 0})

    async def go():
        alice = await srv.ws(client_id="alice")
        carol = await srv.ws(client_id="carol")
        stored = [(await message(alice, "bob", ref=i, n=i))["id"] for i in range(200)]
        # bob connects while alice keeps sending: everything arrives once, in id order.
        bob_task = asyncio.ensure_future(srv.ws(client_id="bob"))
        live = []
        for i in range(200, 230):
            live.append((await message(alice, "bob", ref=i, n=i))["id"])
        bob = await bob_task
        for i in range(230, 240):
            live.append((await message(alice, "bob", ref=i, n=i))["id"])
        got = await inbox(bob, 240)
        assert [g["id"] for g in got] == stored + live
        assert [g["n"] for g in got] == list(range(240))
        await no_frame(bob)
        await no_frame(carol)
    run(go())


def test_offline_other_sources_queue_behind_backlog(server):
    srv = server(server_keys={"rate_limit": 0})

    async def go():
        alice = await srv.ws(client_id="alice")
        for i in range(300):
            await send(alice, "message", {"to": "bob", "n": i, "pad": "x" * 200}, ref=i)
        for i in range(300):
            assert_ack(await recv(alice), i)
        bob = await srv.ws(client_id="bob")
        # A broadcast sent while the backlog is in flight comes after it.
        await request(alice, "broadcast", {"text": "now"}, ref="b")
        frames = [await recv(bob, 10) for _ in range(301)]
        assert [f["type"] for f in frames] == ["message"] * 300 + ["broadcast"]
        assert [f["data"]["n"] for f in frames[:300]] == list(range(300))
    run(go())


def test_offline_redelivered_until_read(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        m1 = await message(alice, "bob", ref=1, text="one")
        m2 = await message(alice, "bob", ref=2, text="two")
        bob = await srv.ws(client_id="bob")
        assert [g["id"] for g in await inbox(bob, 2)] == [m1["id"], m2["id"]]
        await bob.close()
        bob = await srv.ws(client_id="bob")
        assert [g["id"] for g in await inbox(bob, 2)] == [m1["id"], m2["id"]]
        reply = await request(bob, "read", {"ids": [m1["id"]]}, ref="r")
        assert reply == {"type": "read", "ref": "r", "data": {"ids": [m1["id"]]}}
        await bob.close()
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, 1)
        assert got[0] == {"id": m2["id"], "from": "alice", "to": "bob", "ts": m2["ts"],
                          "text": "two"}
        await no_frame(bob)
    run(go())


def test_offline_each_recipient_has_own_copy(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        ack = await message(alice, ["bob", "carol"], text="both")
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, 1)
        assert got[0]["id"] == ack["id"] and got[0]["to"] == ["bob", "carol"]
        await request(bob, "read", {"ids": [ack["id"]]})
        # bob reading it does not remove carol's copy.
        carol = await srv.ws(client_id="carol")
        got = await inbox(carol, 1)
        assert got[0] == {"id": ack["id"], "from": "alice", "to": ["bob", "carol"],
                          "ts": ack["ts"], "text": "both"}
    run(go())


def test_offline_messages_from_several_senders_in_id_order(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        carol = await srv.ws(client_id="carol")
        ids = []
        for i in range(6):
            ws = alice if i % 2 == 0 else carol
            ids.append((await message(ws, "bob", ref=i, n=i))["id"])
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, 6)
        assert [g["id"] for g in got] == ids
        assert [g["from"] for g in got] == ["alice", "carol"] * 3
    run(go())


def test_offline_large_inbox_complete_and_in_order(server):
    # A small output budget: the backlog must be paced by draining, never 4003.
    srv = server(server_keys={"rate_limit": 0, "max_outbound_bytes": 65536})

    async def go():
        alice = await srv.ws(client_id="alice")
        n = 2000
        pad = "p" * 300
        ids = []
        for start in range(0, n, 100):  # batches: alice's own acks stay under the budget
            for i in range(start, start + 100):
                await send(alice, "message", {"to": "bob", "n": i, "pad": pad}, ref=i)
            ids += [assert_ack(await recv(alice, 10), i)["id"] for i in range(start, start + 100)]
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, n, timeout=20)
        assert [g["n"] for g in got] == list(range(n))
        assert [g["id"] for g in got] == ids
        assert all(g["pad"] == pad and g["from"] == "alice" for g in got)
        await no_frame(bob)
    run(go(), timeout=60)


def test_offline_publish_and_broadcast_not_stored(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"})
        assert_ack(await request(alice, "publish", {"room": "lobby", "text": "p"}, ref=1), 1)
        assert_ack(await request(alice, "broadcast", {"text": "b"}, ref=2), 2)
        bob = await srv.ws(client_id="bob")
        await no_frame(bob)
        reply = await request(bob, "join", {"room": "lobby"}, ref=3)
        assert reply["type"] == "join"
        await no_frame(bob)
    run(go())


def test_stored_bytes_are_the_live_bytes(server):
    """A message is printed once (host->json_print_new): the frame a live
    recipient gets and the one its inbox brings later carry the same data,
    numbers included (cJSON's printer would round 2**53 - 1 and 0.1 + 0.2)."""
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        raw_fields = '"big":9007199254740991,"third":0.30000000000000004,"neg":-1e-300'
        await alice.send('{"type":"message","ref":1,"data":{"to":"bob",' + raw_fields + '}}')
        assert (await recv(alice))["type"] == "ack"
        live = await asyncio.wait_for(bob.recv(), 5)
        await bob.close()
        again = await srv.ws(client_id="bob")
        stored = await asyncio.wait_for(again.recv(), 5)
        assert live == stored
        assert raw_fields in live
    run(go())


def metrics(srv):
    """The /metrics samples as {name: float}."""
    status, _, body = srv.http("GET", "/metrics")
    assert status == 200, body
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split(" ")
            out[name] = float(value)
    return out


def test_offline_store_metrics_count_the_backlog_pages(server):
    # The backlog reads the store through the same counted wrappers as the
    # plugins: 70 stored messages are 70 puts, a connection's backlog is a
    # page per 64 messages (an empty inbox one), a read one remove.
    srv = server()

    async def go():
        before = metrics(srv)
        alice = await srv.ws(client_id="alice")
        acks = [await message(alice, "bob", ref=i, n=i) for i in range(70)]
        mid = metrics(srv)
        assert mid["switchboard_store_puts_total"] - before["switchboard_store_puts_total"] == 70
        assert (mid["switchboard_store_put_seconds_count"]
                - before["switchboard_store_put_seconds_count"]) == 70
        # alice's own (empty) inbox was one page
        assert mid["switchboard_store_pages_total"] - before["switchboard_store_pages_total"] == 1
        bob = await srv.ws(client_id="bob")
        got = await inbox(bob, 70)
        assert [g["id"] for g in got] == [a["id"] for a in acks]
        reply = await request(bob, "read", {"ids": [a["id"] for a in acks]}, ref="r")
        assert reply["type"] == "read", reply
        after = metrics(srv)
        assert after["switchboard_store_pages_total"] - mid["switchboard_store_pages_total"] == 2
        assert (after["switchboard_backlog_delivered_total"]
                - mid["switchboard_backlog_delivered_total"]) == 70
        assert (after["switchboard_store_removes_total"]
                - mid["switchboard_store_removes_total"]) == 1
        assert after["switchboard_store_failures_total"] == before["switchboard_store_failures_total"]
    run(go())

"""bus_redis with two switchboard nodes sharing one real redis-server: direct
messages, room publications and broadcasts cross nodes exactly once, a message
stored via one node is read via the other, and after Redis comes back the
subscriber re-subscribes and replays local users' inboxes."""
import asyncio
import time

from conftest import default_sections, recv, recv_type, request, run, no_frame
from redis_util import redis  # noqa: F401 (fixture)


def node_sections(r, node):
    s = default_sections(store="store_redis")
    s["store_redis"] = {"url": r.url}
    s["bus_redis"] = {"url": r.url, "node_id": node}
    return s


def two_nodes(server, r):
    a = server(sections=node_sections(r, "A"))
    b = server(sections=node_sections(r, "B"))
    for srv in (a, b):
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")
    return a, b


async def drain(ws, quiet=0.3):
    while True:
        try:
            await recv(ws, quiet)
        except asyncio.TimeoutError:
            return


def test_bus_redis_direct_message_crosses_nodes_once_and_reads_anywhere(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob_b = await b.ws(client_id="bob")
        bob_a = await a.ws(client_id="bob")
        ack = await request(alice, "message", {"to": "bob", "text": "hi"}, ref=1)
        assert ack["type"] == "ack", ack
        want = {"type": "message", "data": {"id": ack["data"]["id"], "from": "alice", "to": "bob",
                                            "ts": ack["data"]["ts"], "text": "hi"}}
        assert await recv(bob_b) == want
        assert await recv(bob_a) == want
        await no_frame(bob_b, 0.5)  # exactly once on each node
        await no_frame(bob_a, 0.1)
        await no_frame(alice, 0.1)
        # Stored via A, read via B; gone for both nodes.
        reply = await request(bob_b, "read", {"ids": [ack["data"]["id"]]}, ref="r")
        assert reply["data"]["ids"] == [ack["data"]["id"]], reply
        receipt = await recv_type(alice, "receipt")
        assert receipt["data"]["id"] == ack["data"]["id"] and receipt["data"]["by"] == "bob"
        bob_a2 = await a.ws(client_id="bob")
        await no_frame(bob_a2, 0.5)
        for ws in (alice, bob_a, bob_b, bob_a2):
            await ws.close()
    run(go())
    assert r.command("ZCARD", "sb:inbox:bob") == 0


def test_bus_redis_room_and_broadcast_reach_other_node(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        carol = await b.ws(client_id="carol")  # on B, not in the room
        assert (await request(alice, "join", {"room": "lobby"}, ref="j"))["type"] == "join"
        assert (await request(bob, "join", {"room": "lobby"}, ref="j"))["type"] == "join"
        await drain(alice)
        ack = await request(alice, "publish", {"room": "lobby", "text": "to room"}, ref="p")
        assert ack["type"] == "ack", ack
        got = await recv_type(bob, "publish")
        assert got["data"] == {"id": ack["data"]["id"], "from": "alice", "room": "lobby",
                               "ts": ack["data"]["ts"], "text": "to room"}
        ack = await request(alice, "broadcast", {"text": "to all"}, ref="b")
        assert ack["type"] == "ack", ack
        for ws in (bob, carol):
            got = await recv_type(ws, "broadcast")
            assert got["data"]["id"] == ack["data"]["id"] and got["data"]["text"] == "to all"
        await no_frame(carol, 0.5)  # the room publication did not reach a non-member
        await no_frame(bob, 0.1)    # and the broadcast came once
        for ws in (alice, bob, carol):
            await ws.close()
    run(go())


def test_bus_redis_resubscribe_replays_inbox_and_traffic_resumes(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        ack = await request(alice, "message", {"to": "bob", "text": "first"}, ref=1)
        assert (await recv(bob))["data"]["id"] == ack["data"]["id"]
        r.kill()
        await asyncio.sleep(0.5)
        r.start()  # same port and directory: the AOF brings the inbox back
        # B re-subscribes and replays bob's unread inbox: the message again.
        got = await recv(bob, 10)
        assert got["type"] == "message" and got["data"]["id"] == ack["data"]["id"], got
        deadline = time.time() + 10
        while True:
            reply = await request(alice, "message", {"to": "bob", "text": "after"}, ref=2)
            if reply["type"] == "ack":
                break
            assert reply["data"]["code"] == "unavailable", reply
            assert time.time() < deadline
            await asyncio.sleep(0.2)
        got = await recv(bob, 5)
        assert got["data"]["id"] == reply["data"]["id"] and got["data"]["text"] == "after"
        await alice.close()
        await bob.close()
    run(go(), timeout=40)
    b.wait_log(r"re-subscribed: replaying the inboxes of 1 user")

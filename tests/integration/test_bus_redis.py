"""bus_redis with two switchboard nodes sharing one real redis-server: direct
messages, room publications and broadcasts cross nodes exactly once, a message
stored via one node is read via the other, and after Redis comes back the
subscriber re-subscribes and replays local users' inboxes."""
import asyncio
import json
import time

from conftest import closed_with, default_sections, recv, recv_type, request, run, no_frame, send
from redis_util import redis  # noqa: F401 (fixture)


def node_sections(r, node):
    s = default_sections(store="store_redis")
    s["store_redis"] = {"url": r.url}
    s["bus_redis"] = {"url": r.url, "node_id": node}
    return s


def two_nodes(server, r, sections=None, server_keys=None):
    """Nodes A and B on r, each subscribed; sections(r, node) builds their config."""
    nodes = [server(sections=(sections or node_sections)(r, n), server_keys=server_keys)
             for n in ("A", "B")]
    for srv in nodes:
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")
    return nodes


async def drain(ws, quiet=0.3):
    while True:
        try:
            await recv(ws, quiet)
        except asyncio.TimeoutError:
            return


def api_sections(r, node):
    s = node_sections(r, node)
    s["api"] = {"api_key": "k"}
    return s


def get_users(srv, path="/api/users"):
    status, _, body = srv.http("GET", path, headers={"Authorization": "Bearer k"})
    return status, json.loads(body)


async def ask(ws, type_, data=None, ref="q"):
    """The reply to one command; events arriving before it are skipped (with a
    bus, join answers after a Redis round trip, so presence may come first)."""
    await send(ws, type_, data or {}, ref=ref)
    while (reply := await recv(ws)).get("ref") != ref:
        assert reply["type"] in ("presence", "message", "publish", "broadcast"), reply
    return reply


async def users_of(ws, type_, data=None):
    """The users of a list/members reply."""
    reply = await ask(ws, type_, data, ref="u")
    assert reply["type"] == type_, reply
    return reply["data"]["users"]


async def users_become(ws, type_, data, want, within=2.0):
    """A change made through another node reaches Redis on that node's own
    connection: the view converges within milliseconds, not at once."""
    deadline = time.time() + within
    while (got := await users_of(ws, type_, data)) != want:
        assert time.time() < deadline, f"{type_} {data}: {got} != {want}"
        await asyncio.sleep(0.05)


def test_bus_redis_direct_message_crosses_nodes_once_and_reads_anywhere(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob_b = await b.ws(client_id="bob")
        bob_a = await a.ws(client_id="bob")
        # Let both backlogs (empty) finish: a message stored while B still
        # pages bob's inbox reaches bob_b by the backlog and again by the bus
        # (at-least-once; ids let clients drop it). Here we test the bus.
        await asyncio.sleep(0.3)
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
        assert (await ask(alice, "join", {"room": "lobby"}))["type"] == "join"
        assert (await ask(bob, "join", {"room": "lobby"}))["type"] == "join"
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
        # "first" must come live, not by bob's backlog: a message the backlog
        # sent lately is dropped from the replay as a duplicate.
        await asyncio.sleep(0.3)
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


def test_bus_redis_list_members_and_join_see_every_node(server, redis):
    r = redis()
    a, b = two_nodes(server, r, api_sections)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        carol = await b.ws(client_id="carol")
        await users_become(alice, "list", {}, ["alice", "bob", "carol"])
        assert await users_of(bob, "list") == ["alice", "bob", "carol"]
        join = await ask(alice, "join", {"room": "lobby"}, ref="j")
        assert join["data"] == {"room": "lobby", "users": ["alice"]}, join
        await users_become(bob, "members", {"room": "lobby"}, ["alice"])
        join = await ask(bob, "join", {"room": "lobby"}, ref="j")
        assert join["data"] == {"room": "lobby", "users": ["alice", "bob"]}, join
        presence = await recv_type(alice, "presence")  # bob's join crossed to A
        assert presence["data"] == {"room": "lobby", "user": "bob", "event": "join"}
        await users_become(alice, "members", {"room": "lobby"}, ["alice", "bob"])
        assert await users_of(carol, "members", {"room": "lobby"}) == ["alice", "bob"]
        assert await users_of(carol, "members", {"room": "empty"}) == []
        # The push API of either node answers for the deployment.
        status, body = get_users(a)
        assert status == 200 and body == {"users": ["alice", "bob", "carol"]}, body
        status, body = get_users(a, "/api/rooms/lobby/members")
        assert status == 200 and body == {"users": ["alice", "bob"], "more": False}, body
        # me stays about the caller's own connection.
        me = await request(bob, "me", ref="m")
        assert me["data"]["user"] == "bob" and me["data"]["rooms"] == ["lobby"], me
        # Leaving and closing update the other node's view.
        await ask(bob, "leave", {"room": "lobby"}, ref="l")
        await users_become(alice, "members", {"room": "lobby"}, ["alice"])
        await carol.close()
        await users_become(alice, "list", {}, ["alice", "bob"])
        await alice.close()
        await bob.close()
    run(go())
    # Nothing left behind once everyone is gone.
    deadline = time.time() + 2
    while r.command("SMEMBERS", "sb:node:A:users") and time.time() < deadline:
        time.sleep(0.05)
    assert r.command("SMEMBERS", "sb:node:A:users") == []
    assert r.command("SMEMBERS", "sb:node:B:rooms") == []


def test_bus_redis_crashed_node_users_vanish_within_node_ttl(server, redis):
    r = redis()

    def short_ttl_on_b(r, node):
        s = node_sections(r, node)
        if node == "B":
            s["bus_redis"]["node_ttl"] = 2
        return s
    a, b = two_nodes(server, r, short_ttl_on_b)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        assert (await ask(bob, "join", {"room": "lobby"}, ref="j"))["type"] == "join"
        await users_become(alice, "members", {"room": "lobby"}, ["bob"])
        b.kill()
        killed = time.time()
        while "bob" in await users_of(alice, "list"):
            assert time.time() - killed < 2 + 1, "bob still listed past node_ttl"
            await asyncio.sleep(0.1)
        assert await users_of(alice, "members", {"room": "lobby"}) == []
        await alice.close()
    run(go())
    # A live node's heartbeat deletes the dead node's sets.
    deadline = time.time() + 3
    while r.command("EXISTS", "sb:node:B:users", "sb:node:B:room:lobby") and time.time() < deadline:
        time.sleep(0.1)
    assert r.command("EXISTS", "sb:node:B:users", "sb:node:B:room:lobby") == 0
    assert r.command("ZRANGE", "sb:nodes", 0, -1) == ["A"]


def test_bus_redis_restarted_node_replaces_its_stale_sets(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        await ask(bob, "join", {"room": "lobby"}, ref="j")
        b.kill()  # no chance to clean up
        b.stopped = False
        b.start()
        deadline = time.time() + 10
        while b.log().count("subscribed to sb:bus") < 2:
            assert time.time() < deadline, b.log()[-3000:]
            await asyncio.sleep(0.05)
        # Restarted within node_ttl: its old sets are gone at once.
        assert await users_of(alice, "list") == ["alice"]
        assert await users_of(alice, "members", {"room": "lobby"}) == []
        bob = await b.ws(client_id="bob")
        await users_become(alice, "list", {}, ["alice", "bob"])
        await alice.close()
        await bob.close()
    run(go())


def test_bus_redis_sessions_replace_closes_the_other_nodes_session(server, redis):
    r = redis()
    a, b = two_nodes(server, r, server_keys={"sessions": "replace"})

    async def go():
        old = await a.ws(client_id="bob")
        await asyncio.sleep(0.05)
        new = await b.ws(client_id="bob")
        code, _ = await closed_with(old)
        assert code == 4001
        assert (await request(new, "ping", ref="p"))["type"] == "pong"
        await users_become(new, "list", {}, ["bob"])
        await new.close()
    run(go())


def test_bus_redis_down_list_is_unavailable_join_still_answers(server, redis):
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")
        r.kill()
        await asyncio.sleep(0.3)
        reply = await request(alice, "list", ref="l")
        assert reply["type"] == "error" and reply["data"]["code"] == "unavailable", reply
        join = await ask(alice, "join", {"room": "lobby"}, ref="j")
        assert join["data"] == {"room": "lobby", "users": ["alice"]}, join
        r.start()
        deadline = time.time() + 10
        while True:
            reply = await request(alice, "list", ref="l")
            if reply["type"] == "list" and reply["data"]["users"] == ["alice", "bob"]:
                break
            assert time.time() < deadline, reply
            await asyncio.sleep(0.2)
        # The resync put alice's room back too.
        await users_become(bob, "members", {"room": "lobby"}, ["alice"])
        await alice.close()
        await bob.close()
    run(go(), timeout=40)


def test_bus_redis_without_store_redis_refuses_to_start(server, redis):
    r = redis()
    s = default_sections(store="store_memory")
    s["bus_redis"] = {"url": r.url, "node_id": "A"}
    srv = server(sections=s, start=False)
    srv.start(wait=False)
    assert srv.proc.wait(15) != 0
    assert "needs store_redis" in srv.log() and "held by store_memory" in srv.log(), srv.log()


def test_bus_redis_message_behind_backlog_cursor_still_arrives(server, redis):
    """A node's ids sort after another's when its clock is ahead. A message
    from the node that is behind, sent while bob's backlog on the other node
    has already paged past its id, must still reach bob at once (held behind
    the backlog), not wait for his next connection. The clock skew is made by
    storing 300 messages whose ids sort after any real id."""
    r = redis()
    a, b = two_nodes(server, r)
    blob = "x" * 50000
    for i in range(300):
        mid = "ZZ%024d" % i
        r.command("ZADD", "sb:inbox:bob", 0, mid)
        r.command("HSET", "sb:msg:bob", mid, json.dumps(
            {"id": mid, "from": "carol", "to": "bob", "ts": 1, "blob": blob}))

    async def go():
        alice = await a.ws(client_id="alice")
        # bob does not read for a while: 15 MB of backlog fill the socket
        # buffers and B pauses the backlog part-way through the ZZ ids.
        bob = await b.ws(client_id="bob", max_queue=4)
        await asyncio.sleep(1.0)
        ack = await request(alice, "message", {"to": "bob", "text": "live"}, ref=1)
        assert ack["type"] == "ack", ack
        assert not ack["data"]["id"].startswith("ZZ")
        seen, live = 0, None
        while live is None:
            got = await recv(bob, 10)
            assert got["type"] == "message", got
            if got["data"]["id"] == ack["data"]["id"]:
                live = got
            else:
                assert got["data"]["id"] == "ZZ%024d" % seen, got["data"]["id"]
                seen += 1
        assert live["data"]["text"] == "live"
        assert seen > 0  # it came behind the part of the backlog already queued
        await alice.close()
        await bob.close()
    run(go(), timeout=60)


def test_bus_redis_api_disconnect_closes_the_user_on_every_node(server, redis):
    r = redis()
    a, b = two_nodes(server, r, api_sections)

    async def go():
        bob_a = await a.ws(client_id="bob")
        bob_b = await b.ws(client_id="bob")
        carol = await b.ws(client_id="carol")
        status, _, body = a.http("POST", "/api/users/bob/disconnect", body='{"reason":"revoked"}',
                                 headers={"Authorization": "Bearer k",
                                          "Content-Type": "application/json"})
        assert status == 200 and json.loads(body) == {"closed": 1}, body  # this node's
        for ws in (bob_a, bob_b):
            code, reason = await closed_with(ws)
            assert (code, reason) == (1008, "revoked")
        assert (await request(carol, "ping", ref="p"))["type"] == "pong"  # others stay
        await carol.close()
    run(go())


def test_bus_redis_failed_membership_update_is_rewritten(server, redis):
    """An update Redis refuses (here WRONGTYPE; after a restart, LOADING)
    must not leave the node's sets wrong until its next reconnect."""
    r = redis()
    a, b = two_nodes(server, r)
    r.command("SET", "sb:node:B:users", "not a set")

    async def go():
        alice = await a.ws(client_id="alice")
        bob = await b.ws(client_id="bob")  # its SADD fails
        # Until B rewrites its sets (next heartbeat, <= 1 s) the union itself
        # fails on the bad key and list answers unavailable.
        await asyncio.sleep(1.5)
        await users_become(alice, "list", {}, ["alice", "bob"])
        await alice.close()
        await bob.close()
    run(go())
    b.wait_log(r"WRONGTYPE.*rewriting this node's sets")


def test_bus_redis_own_presence_never_reaches_the_users_other_node(server, redis):
    """docs/protocol.md 3: presence goes to the other members' connections, not the
    user's own, on any node."""
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        bob_b = await b.ws(client_id="bob")
        bob_a = await a.ws(client_id="bob")
        await ask(alice, "join", {"room": "lobby"}, ref="j")
        await ask(bob_b, "join", {"room": "lobby"}, ref="j")
        got = await recv_type(alice, "presence")
        assert got["data"] == {"room": "lobby", "user": "bob", "event": "join"}
        await drain(bob_b)
        await ask(bob_a, "join", {"room": "lobby"}, ref="j")  # bob's first on A
        await ask(bob_a, "leave", {"room": "lobby"}, ref="l")
        await no_frame(bob_b, 0.5)  # neither bob's join nor leave came back to him
        await ask(bob_b, "leave", {"room": "lobby"}, ref="l")
        got = await recv_type(alice, "presence")
        assert got["data"]["user"] == "bob"
        for ws in (alice, bob_a, bob_b):
            await ws.close()
    run(go())


def test_bus_redis_message_racing_the_backlog_arrives_once(server, redis):
    """A message stored while bob's new connection on B reads its backlog
    reaches it by the backlog and, moments later, again by the bus; B drops
    the bus's copy. The race is timing: 20 rounds, sending as bob connects."""
    r = redis()
    a, b = two_nodes(server, r)

    async def go():
        alice = await a.ws(client_id="alice")
        sent = []
        for i in range(20):
            connecting = asyncio.ensure_future(b.ws(client_id="bob"))
            ack = await request(alice, "message", {"to": "bob", "n": i}, ref=i)
            assert ack["type"] == "ack", ack
            sent.append(ack["data"]["id"])
            bob = await connecting
            # Every unread one, once, in order: wait for as many as were sent
            # (a loaded machine may pause between them), then for the bus's
            # late copy that must not come.
            got = []
            while len(got) < len(sent):
                got.append((await recv(bob, 10))["data"]["id"])
            assert got == sent, (i, got, sent)
            await no_frame(bob, 0.5)
            await bob.close()
        await alice.close()
    run(go(), timeout=60)

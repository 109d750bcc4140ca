"""Room history and recovery (docs/history.md): with [rooms] history_size a
publication is stored before its ack; join {room, since} answers
{room, users, recovered} and replays what was missed before any live event,
with no gap and no repeat even while publications race the join; history
{room, limit, before} reads it. Each test runs on store_memory, store_lmdb and
store_redis where it makes sense; restarts, SIGKILL and two nodes too."""
import asyncio
import json
import time

import pytest

from conftest import default_sections, no_frame, recv, request, send
from messaging_util import assert_ack, needs_lua, run
from redis_util import redis  # noqa: F401 (fixture)

STORES = ["memory", "lmdb", "redis"]


def history_sections(store, r=None, size=100, ttl=0, bus=None):
    s = default_sections(store="store_" + store)
    if store == "redis":
        s["store_redis"] = {"url": r.url}
    if bus:
        s["bus_redis"] = {"url": r.url, "node_id": bus}
    s["rooms"] = {"history_size": size, "history_ttl": ttl}
    return s


@pytest.fixture
def make(server, request):
    """make(store, **keys): a server with history on that store (a fresh
    redis-server for store_redis, kept for restarts as make.redis)."""
    state = {}

    def factory(store, workdir=None, **keys):
        r = None
        if store == "redis":
            if "redis" not in state:
                state["redis"] = request.getfixturevalue("redis")()
            r = state["redis"]
            factory.redis = r
        return server(sections=history_sections(store, r, **keys), workdir=workdir,
                      server_keys={"rate_limit": 0})
    return factory


async def ask(ws, type_, data, ref):
    """The reply to one command, skipping presence events that come first."""
    await send(ws, type_, data, ref=ref)
    while (reply := await recv(ws, 10))["type"] == "presence":
        pass
    return reply


async def publish(ws, room, ref, **fields):
    reply = await ask(ws, "publish", dict(room=room, **fields), ref)
    return assert_ack(reply, ref)["id"]


async def join_since(ws, room, since, ref="j"):
    """The join reply's data; checks it comes before any event."""
    reply = await recv_reply(ws, "join", {"room": room, "since": since}, ref)
    return reply["data"]


async def recv_reply(ws, type_, data, ref):
    await send(ws, type_, data, ref=ref)
    reply = await recv(ws, 10)
    assert reply.get("ref") == ref, f"an event came before the reply: {reply}"
    return reply


async def events(ws, n, timeout=10, skip_presence=False):
    """The next n frames, each a publish event; returns their data. With
    skip_presence, presence events between them are passed over: across
    nodes a join's presence has no order against what another node does."""
    out = []
    for _ in range(n):
        msg = await recv(ws, timeout)
        while skip_presence and msg["type"] == "presence":
            msg = await recv(ws, timeout)
        assert msg["type"] == "publish" and "ref" not in msg, msg
        out.append(msg["data"])
    return out


async def bob_went_away(srv, room):
    """alice and bob in room; alice publishes "before", bob receives it, then
    bob's connection closes and alice hears him leave. -> (alice, its id)"""
    alice = await srv.ws(client_id="alice")
    bob = await srv.ws(client_id="bob")
    await request(alice, "join", {"room": room}, ref="a")
    await request(bob, "join", {"room": room}, ref="b")
    await recv(alice)  # bob's presence
    first = await publish(alice, room, "p0", text="before")
    assert (await events(bob, 1))[0]["id"] == first
    await bob.close()
    left = await recv(alice, 10)
    assert left["type"] == "presence" and left["data"]["event"] == "leave", left
    return alice, first


@pytest.mark.parametrize("store", STORES)
def test_history_reconnect_recovers_missed_in_order(make, store):
    srv = make(store)

    async def go():
        alice, first = await bob_went_away(srv, "lobby")
        missed = [await publish(alice, "lobby", f"p{i}", text=f"m{i}") for i in range(1, 6)]
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", first)
        assert data == {"room": "lobby", "users": ["alice", "bob"], "recovered": True}
        got = await events(bob, 5)
        assert [g["id"] for g in got] == missed
        assert [g["text"] for g in got] == [f"m{i}" for i in range(1, 6)]
        assert all(g["from"] == "alice" and g["room"] == "lobby" for g in got)
        await no_frame(bob)
        live = await publish(alice, "lobby", "p6", text="live")
        assert (await events(bob, 1))[0]["id"] == live
        # The history command, oldest first, pages backwards with before.
        h = await ask(bob, "history", {"room": "lobby", "limit": 4}, ref="h")
        assert h["type"] == "history" and h["ref"] == "h", h
        assert [m["id"] for m in h["data"]["messages"]] == missed[2:] + [live]
        assert h["data"]["more"] is True and h["data"]["room"] == "lobby"
        h = await ask(bob, "history", {"room": "lobby", "limit": 4,
                                           "before": missed[2]}, ref="h2")
        assert [m["id"] for m in h["data"]["messages"]] == [first] + missed[:2]
        assert h["data"]["more"] is False
        assert h["data"]["messages"][0]["text"] == "before"
    run(go())


@pytest.mark.parametrize("store", ["memory"])
def test_history_join_errors_and_members_only(make, store):
    srv = make(store)

    async def go():
        bob = await srv.ws(client_id="bob")
        r = await ask(bob, "history", {"room": "lobby"}, ref=1)
        assert r["type"] == "error" and r["data"]["code"] == "forbidden", r
        r = await request(bob, "join", {"room": "lobby", "since": 5}, ref=2)
        assert r["type"] == "error" and r["data"]["code"] == "bad_request", r
        r = await request(bob, "join", {"room": "lobby", "since": "x" * 27}, ref=3)
        assert r["data"]["code"] == "bad_request", r
        await request(bob, "join", {"room": "lobby"}, ref=4)
        for bad in ({"limit": 0}, {"limit": 1001}, {"limit": 2.5}, {"before": 7}):
            r = await ask(bob, "history", dict(room="lobby", **bad), ref=5)
            assert r["data"]["code"] == "bad_request", (bad, r)
        r = await ask(bob, "history", {"room": "lobby"}, ref=6)
        assert r["data"] == {"room": "lobby", "messages": [], "more": False}, r
    run(go())


def test_history_off_join_since_not_recovered(server):
    srv = server()

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref=1)
        pid = await publish(alice, "lobby", "p")
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", pid)
        assert data == {"room": "lobby", "users": ["alice", "bob"], "recovered": False}
        await no_frame(bob)
        r = await ask(bob, "history", {"room": "lobby"}, ref=2)
        assert r["data"] == {"room": "lobby", "messages": [], "more": False}, r
    run(go())


@pytest.mark.parametrize("store", STORES)
def test_history_trimmed_by_size_not_recovered(make, store):
    srv = make(store, size=3)

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        ids = [await publish(alice, "lobby", f"p{i}", n=i) for i in range(5)]
        h = await ask(alice, "history", {"room": "lobby"}, ref="h")
        assert [m["id"] for m in h["data"]["messages"]] == ids[2:]
        assert [m["n"] for m in h["data"]["messages"]] == [2, 3, 4]
        if store == "redis":  # trimmed in Redis itself, not only hidden
            assert make.redis.command("ZCARD", "sb:history:lobby") == 3
        bob = await srv.ws(client_id="bob")
        # ids[1] was trimmed: the history no longer reaches back to it.
        data = await join_since(bob, "lobby", ids[1])
        assert data["recovered"] is False
        await no_frame(bob)
        carol = await srv.ws(client_id="carol")
        data = await join_since(carol, "lobby", ids[2])
        assert data["recovered"] is True
        assert [g["id"] for g in await events(carol, 2)] == ids[3:]
        await no_frame(carol)
    run(go())


@pytest.mark.parametrize("store", STORES)
def test_history_ttl_expires_publications(make, store):
    srv = make(store, ttl=1)

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        old = await publish(alice, "lobby", "p0")
        h = await ask(alice, "history", {"room": "lobby"}, ref="h")
        assert [m["id"] for m in h["data"]["messages"]] == [old]
        deadline = time.time() + 10
        while True:  # the ttl is whole seconds: poll past it
            h = await ask(alice, "history", {"room": "lobby"}, ref="h")
            if not h["data"]["messages"]:
                break
            assert time.time() < deadline, h
            await asyncio.sleep(0.2)
        new = await publish(alice, "lobby", "p1")  # this put trims old from the store
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", old)
        assert data["recovered"] is False
        await no_frame(bob)
        h = await ask(alice, "history", {"room": "lobby"}, ref="h")
        assert [m["id"] for m in h["data"]["messages"]] == [new]
    run(go())


@pytest.mark.parametrize("store", STORES)
def test_history_publication_racing_join_no_gap_no_repeat(make, store):
    """alice publishes without waiting while bob reconnects and recovers: bob
    must see every publication after since exactly once, in order."""
    srv = make(store, size=1000)
    total = 300

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        await request(bob, "join", {"room": "lobby"}, ref="b")
        await recv(alice)
        since = await publish(alice, "lobby", "start")
        assert (await events(bob, 1))[0]["id"] == since
        await bob.close()
        acked = []

        async def publisher():
            for i in range(total):
                await send(alice, "publish", {"room": "lobby", "n": i}, ref=i)
                if i % 10 == 0:
                    await asyncio.sleep(0.001)

        async def acks():
            while len(acked) < total:
                msg = await recv(alice, 10)
                if msg["type"] == "presence":
                    continue
                assert msg["type"] == "ack", msg
                acked.append(msg["data"]["id"])
        ack_task = asyncio.ensure_future(acks())
        pub_task = asyncio.ensure_future(publisher())
        while len(acked) < total // 4:
            await asyncio.sleep(0.005)
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", since)
        assert data["recovered"] is True
        await pub_task
        await ack_task
        got = await events(bob, total)
        ids = [g["id"] for g in got]
        assert len(set(ids)) == total, "a publication came twice"
        assert ids == acked, "a gap, or out of order"
        assert [g["n"] for g in got] == list(range(total))
        await no_frame(bob)
    run(go(), timeout=90)


@pytest.mark.parametrize("store", ["lmdb", "redis"])
def test_history_survives_restart(make, store):
    srv = make(store)

    async def first():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        return [await publish(alice, "lobby", f"p{i}", n=i) for i in range(4)]
    ids = run(first())
    assert srv.stop() == 0
    srv.stopped = True
    srv2 = make(store, workdir=srv.workdir)

    async def second():
        bob = await srv2.ws(client_id="bob")
        data = await join_since(bob, "lobby", ids[0])
        assert data == {"room": "lobby", "users": ["bob"], "recovered": True}
        got = await events(bob, 3)
        assert [g["id"] for g in got] == ids[1:]
        assert [g["n"] for g in got] == [1, 2, 3]
        await no_frame(bob)
    run(second())


@pytest.mark.parametrize("store", ["lmdb", "redis"])
def test_history_sigkill_loses_no_acked_publication(make, store):
    srv = make(store, size=5000)
    acked = []

    async def crash():
        alice = await srv.ws(client_id="alice", close_timeout=1)
        await request(alice, "join", {"room": "lobby"}, ref="a")

        async def sender():
            for i in range(2000):
                await send(alice, "publish", {"room": "lobby", "n": i}, ref=i)
        task = asyncio.ensure_future(sender())
        while len(acked) < 300:
            reply = await recv(alice, 15)
            assert reply["type"] == "ack", reply
            acked.append(reply["data"]["id"])
        srv.kill()
        alice.transport.abort()
        try:
            await asyncio.wait_for(task, 5)
        except Exception:
            pass
    run(crash(), timeout=60)
    srv2 = make(store, size=5000, workdir=srv.workdir)

    async def check():
        bob = await srv2.ws(client_id="bob")
        await request(bob, "join", {"room": "lobby"}, ref="j")
        stored, before = [], None
        while True:
            data = {"room": "lobby", "limit": 1000}
            if before:
                data["before"] = before
            h = await ask(bob, "history", data, ref="h")
            page = [m["id"] for m in h["data"]["messages"]]
            stored = page + stored
            if not h["data"]["more"] or not page:
                break
            before = page[0]
        missing = [i for i in acked if i not in set(stored)]
        assert not missing, f"{len(missing)} acked publications lost"
        assert stored == sorted(stored) and len(set(stored)) == len(stored)
    run(check(), timeout=60)


def test_history_recovery_across_two_nodes(server, redis):  # noqa: F811
    r = redis()
    nodes = [server(sections=history_sections("redis", r, bus=n)) for n in ("A", "B")]
    for srv in nodes:
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")
    a, b = nodes

    async def go():
        alice = await a.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        bob = await b.ws(client_id="bob")
        # alice's join presence crosses the bus on its own time: node B may
        # hand it to bob before or after his own join's reply.
        await send(bob, "join", {"room": "lobby"}, ref="b")
        reply = await recv(bob, 10)
        while reply["type"] == "presence":
            assert reply["data"]["user"] == "alice", reply
            reply = await recv(bob, 10)
        assert reply["type"] == "join" and reply.get("ref") == "b", reply
        first = await publish(alice, "lobby", "p0")
        assert (await events(bob, 1, skip_presence=True))[0]["id"] == first
        await bob.close()
        missed = [await publish(alice, "lobby", f"p{i}", n=i) for i in range(1, 4)]
        bob = await b.ws(client_id="bob")
        data = await join_since(bob, "lobby", first)
        assert data["recovered"] is True and data["users"] == ["alice", "bob"], data
        got = await events(bob, 3)
        assert [g["id"] for g in got] == missed
        await no_frame(bob)
        # Live publications from the other node follow the replay.
        live = await publish(alice, "lobby", "p9")
        msg = await recv(bob, 10)
        while msg["type"] == "presence":
            msg = await recv(bob, 10)
        assert msg["type"] == "publish" and msg["data"]["id"] == live, msg
    run(go(), timeout=60)


def test_history_race_across_two_nodes_no_gap_no_repeat(server, redis):  # noqa: F811
    """alice publishes on node A without waiting while bob recovers on node B:
    the live copies arrive over the bus, and still none is missing or doubled."""
    r = redis()
    nodes = [server(sections=history_sections("redis", r, size=1000, bus=n),
                    server_keys={"rate_limit": 0}) for n in ("A", "B")]
    for srv in nodes:
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")
    a, b = nodes
    total = 200

    async def go():
        alice = await a.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        since = await publish(alice, "lobby", "start")
        acked = []

        async def publisher():
            for i in range(total):
                await send(alice, "publish", {"room": "lobby", "n": i}, ref=i)
                if i % 10 == 0:
                    await asyncio.sleep(0.002)

        async def acks():
            while len(acked) < total:
                msg = await recv(alice, 10)
                if msg["type"] == "presence":
                    continue
                assert msg["type"] == "ack", msg
                acked.append(msg["data"]["id"])
        ack_task = asyncio.ensure_future(acks())
        pub_task = asyncio.ensure_future(publisher())
        while len(acked) < total // 4:
            await asyncio.sleep(0.005)
        bob = await b.ws(client_id="bob")
        data = await join_since(bob, "lobby", since)
        assert data["recovered"] is True
        await pub_task
        await ack_task
        got = await events(bob, total)
        ids = [g["id"] for g in got]
        assert len(set(ids)) == total, "a publication came twice"
        assert sorted(ids) == sorted(acked), "a publication is missing"
        assert ids == acked, "out of order"
        await no_frame(bob)
    run(go(), timeout=90)


@needs_lua
def test_history_policy_join_decision_covers_recovery(server, tmp_path):
    """authorize(user, "join", room, data) sees data.since: a refused join
    replays nothing; an allowed one recovers."""
    policy = tmp_path / "history_policy.lua"
    policy.write_text(
        'function authorize(user, action, target, data)\n'
        '  if action == "join" and user == "mallory" and data.since ~= nil then\n'
        '    return false, "no recovery for you"\n'
        '  end\n'
        '  return true\n'
        'end\n')
    s = {"lua": {"scripts": str(policy)}}
    s.update(history_sections("memory"))
    srv = server(sections=s)

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "lobby"}, ref="a")
        first = await publish(alice, "lobby", "p0")
        second = await publish(alice, "lobby", "p1")
        mallory = await srv.ws(client_id="mallory")
        r = await request(mallory, "join", {"room": "lobby", "since": first}, ref="m")
        assert r["type"] == "error" and r["data"]["code"] == "forbidden", r
        assert r["data"]["message"] == "no recovery for you"
        await no_frame(mallory)
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", first)
        assert data["recovered"] is True
        assert [g["id"] for g in await events(bob, 1)] == [second]
    run(go())


# --- every publisher goes the one road: push API and gRPC ---

def api_publish(srv, room, body, key="k"):
    """POST /api/rooms/{room}/publish: (status, parsed body)."""
    status, hdrs, raw = srv.http("POST", f"/api/rooms/{room}/publish", json.dumps(body),
                                 {"Authorization": f"Bearer {key}",
                                  "Content-Type": "application/json"})
    return status, json.loads(raw)


@pytest.mark.parametrize("store", ["memory", "lmdb"])
def test_history_push_api_publication_recovered(server, store):
    """A push-API publication is stored as a WebSocket one is: its 202 comes
    after the commit (history reads it at once), and a member away at the
    time recovers it, in order with the members' own publications."""
    s = history_sections(store)
    s["api"] = {"api_key": "k"}
    srv = server(sections=s, server_keys={"rate_limit": 0})

    async def go():
        alice, first = await bob_went_away(srv, "lobby")
        st, body = api_publish(srv, "lobby", {"text": "from the backend", "from": "ops"})
        assert st == 202 and body["delivered"] == 1, body
        api_id = body["id"]
        assert (await events(alice, 1))[0]["id"] == api_id
        # Acked means stored: the history holds it already.
        h = await ask(alice, "history", {"room": "lobby"}, ref="h")
        assert [m["id"] for m in h["data"]["messages"]] == [first, api_id], h
        last = await publish(alice, "lobby", "p1", text="after")
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "lobby", first)
        assert data == {"room": "lobby", "users": ["alice", "bob"], "recovered": True}
        got = await events(bob, 2)
        assert [g["id"] for g in got] == [api_id, last]
        assert got[0]["from"] == "ops" and got[0]["room"] == "lobby"
        assert got[0]["text"] == "from the backend"
        await no_frame(bob)
    run(go())


def test_history_grpc_notify_room_recovered(server):
    """gRPC NotifyRoom goes the same road: stored before its answer, then
    recovered by a member who was away."""
    from grpc_util import start, string_any, stubs
    pb2 = stubs()[0]
    from test_grpc import svc
    srv, gport = start(server, sections=history_sections("lmdb"), server_keys={"rate_limit": 0})
    stub = svc(gport)

    async def go():
        alice = await srv.ws(client_id="alice")
        await request(alice, "join", {"room": "orders"}, ref="a")
        first = await publish(alice, "orders", "p0", text="before")
        resp = stub.NotifyRoom(pb2.NotifyRoomRequest(
            type=pb2.TYPE_INFO, entity_id="order-1", message=string_any("shipped"),
            room="orders"), timeout=10)
        assert resp.delivered == 1 and len(resp.id) == 26
        assert (await events(alice, 1))[0]["id"] == resp.id
        h = await ask(alice, "history", {"room": "orders"}, ref="h")
        assert [m["id"] for m in h["data"]["messages"]] == [first, resp.id], h
        bob = await srv.ws(client_id="bob")
        data = await join_since(bob, "orders", first)
        assert data["recovered"] is True
        got = await events(bob, 1)
        assert got[0]["id"] == resp.id and got[0]["message"] == "shipped"
        assert got[0]["entityId"] == "order-1" and got[0]["from"] == "server"
        await no_frame(bob)
    run(go())


def test_history_bad_keys_stop_startup_logged_once(server):
    """The rooms plugin reads [rooms] history_size and history_ttl and hands
    them to the host (every publisher's store step is the host's): a bad value
    stops the start, named once."""
    for key, value in (("history_size", "-1"), ("history_ttl", "soon")):
        s = history_sections("memory")
        s["rooms"][key] = value
        srv = server(sections=s, start=False)
        srv.start(wait=False)
        assert srv.proc.wait(20) != 0, key
        log = srv.log()
        assert log.count(key) == 1, log

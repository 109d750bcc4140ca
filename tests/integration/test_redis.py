"""store_redis against a real redis-server: stored messages survive a
switchboard restart, read deletes them in Redis, max_inbox answers inbox_full,
a 500-message backlog pages in order, a dead Redis makes sends answer
`unavailable` while live traffic flows and recovers without a restart, and a
kill -9 of switchboard after acks loses nothing."""
import asyncio
import time

from conftest import default_sections, recv, request, run, send
from crash_util import collect, kill9_loses_no_acked
from redis_util import redis  # noqa: F401 (fixture)


def redis_sections(r, **keys):
    s = default_sections(store="store_redis")
    s["store_redis"] = {"url": r.url, **keys}
    return s


async def drain(ws, quiet=0.3):
    """Drop whatever arrives until nothing has come for quiet seconds."""
    while True:
        try:
            await recv(ws, quiet)
        except asyncio.TimeoutError:
            return


async def send_message(ws, to, ref, **fields):
    return await request(ws, "message", {"to": to, **fields}, ref=ref, timeout=10)


def test_redis_restart_keeps_unread_and_read_deletes(server, redis):
    r = redis()
    s = redis_sections(r)
    srv = server(sections=s)

    async def first():
        alice = await srv.ws(client_id="alice")
        acks = []
        for i in range(4):
            reply = await send_message(alice, "bob", i, text=f"m{i}")
            assert reply["type"] == "ack", reply
            acks.append(reply["data"])
        await alice.close()
        return acks
    acks = run(first())
    # Stored in Redis under the documented layout.
    assert r.command("ZRANGEBYLEX", "sb:inbox:bob", "-", "+") == [a["id"] for a in acks]
    assert '"text":"m2"' in r.command("HGET", "sb:msg:bob", acks[2]["id"]).replace(" ", "")
    assert srv.stop() == 0

    srv2 = server(sections=s, workdir=srv.workdir)

    async def second():
        bob = await srv2.ws(client_id="bob")
        got = await collect(bob, 0.5)
        assert got == [{"id": a["id"], "from": "alice", "to": "bob", "ts": a["ts"],
                        "text": f"m{i}"} for i, a in enumerate(acks)]
        ids = [acks[0]["id"], acks[2]["id"], "0" * 26]
        reply = await request(bob, "read", {"ids": ids}, ref="r")
        assert reply["type"] == "read" and reply["data"]["ids"] == ids[:2], reply
        await bob.close()
        bob = await srv2.ws(client_id="bob")
        got = await collect(bob, 0.5)
        assert [g["id"] for g in got] == [acks[1]["id"], acks[3]["id"]]
        await bob.close()
    run(second())
    assert r.command("ZCARD", "sb:inbox:bob") == 2
    assert r.command("HLEN", "sb:msg:bob") == 2


def test_redis_inbox_full_all_or_none(server, redis):
    r = redis()
    srv = server(sections=redis_sections(r, max_inbox=3))

    async def go():
        alice = await srv.ws(client_id="alice")
        for i in range(3):
            assert (await send_message(alice, "bob", i))["type"] == "ack"
        reply = await send_message(alice, ["carol", "bob"], 9)
        assert reply["type"] == "error" and reply["data"]["code"] == "inbox_full", reply
        assert reply["ref"] == 9
        # All or none: carol got nothing from the refused message.
        assert r.command("ZCARD", "sb:inbox:carol") == 0
        assert (await send_message(alice, "carol", 10))["type"] == "ack"
        await alice.close()
    run(go())
    assert r.command("ZCARD", "sb:inbox:bob") == 3


def test_redis_backlog_of_500_in_order(server, redis):
    r = redis()
    srv = server(sections=redis_sections(r), server_keys={"rate_limit": 0})

    async def go():
        alice = await srv.ws(client_id="alice")
        for i in range(500):
            await send(alice, "message", {"to": "bob", "n": i}, ref=i)
        ids = []
        for i in range(500):
            reply = await recv(alice, 15)
            assert reply["type"] == "ack" and reply["ref"] == i, reply
            ids.append(reply["data"]["id"])
        bob = await srv.ws(client_id="bob")
        got = await collect(bob, 1.0)
        assert [g["n"] for g in got] == list(range(500))
        assert [g["id"] for g in got] == ids
        await bob.close()
        await alice.close()
    run(go(), timeout=60)


def test_redis_down_sends_unavailable_live_traffic_flows_then_recovers(server, redis):
    r = redis()
    srv = server(sections=redis_sections(r))

    async def go():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        for ws in (alice, bob):
            reply = await request(ws, "join", {"room": "lobby"}, ref="j")
            assert reply["type"] == "join", reply
        await drain(alice)  # bob's presence
        r.kill()
        # Sends fail fast with unavailable once the loss is seen (at most ~3 s).
        deadline = time.time() + 8
        while True:
            reply = await send_message(alice, "carol", "m", text="x")
            if reply["type"] == "error":
                break
            assert time.time() < deadline, "sends kept succeeding with Redis dead"
            await asyncio.sleep(0.2)
        assert reply["data"]["code"] == "unavailable", reply
        # Live traffic does not need the store.
        ack = await request(alice, "publish", {"room": "lobby", "text": "live"}, ref="p")
        assert ack["type"] == "ack", ack
        got = await recv(bob)
        assert got["type"] == "publish" and got["data"]["text"] == "live", got
        ack = await request(alice, "broadcast", {"text": "all"}, ref="b")
        assert ack["type"] == "ack", ack
        got = await recv(bob)
        assert got["type"] == "broadcast" and got["data"]["text"] == "all", got
        r.start()  # same port, same directory
        deadline = time.time() + 10
        while True:
            reply = await send_message(alice, "carol", "m2", text="back")
            if reply["type"] == "ack":
                break
            assert reply["data"]["code"] == "unavailable", reply
            assert time.time() < deadline, "sends never recovered"
            await asyncio.sleep(0.2)
        carol = await srv.ws(client_id="carol")
        got = await collect(carol, 0.5)
        assert [g["text"] for g in got] == ["back"]
        for ws in (alice, bob, carol):
            await ws.close()
    run(go(), timeout=40)
    srv.wait_log(r"store_redis.*(reconnecting|connect)")


def test_redis_switchboard_kill9_keeps_acked(server, redis):
    r = redis()
    kill9_loses_no_acked(server, redis_sections(r), {"rate_limit": 0}, total=400,
                         kill_after=300, timeout=40)


def test_redis_unreachable_at_start_fails_naming_url(server, redis):
    from conftest import free_port
    url = f"redis://127.0.0.1:{free_port()}/0"
    s = default_sections(store="store_redis")
    s["store_redis"] = {"url": url}
    srv = server(sections=s, start=False)
    srv.start(wait=False)
    code = srv.proc.wait(15)
    assert code != 0
    assert url in srv.log(), srv.log()


def test_redis_silent_server_watchdog_answers_unavailable(server, redis):
    import signal
    r = redis()
    srv = server(sections=redis_sections(r))

    async def go():
        alice = await srv.ws(client_id="alice")
        assert (await send_message(alice, "bob", 0))["type"] == "ack"
        r.proc.send_signal(signal.SIGSTOP)  # connected but silent: only the watchdog sees it
        try:
            t0 = time.time()
            reply = await send_message(alice, "bob", 1)
            assert reply["type"] == "error" and reply["data"]["code"] == "unavailable", reply
            assert time.time() - t0 < 6, "the watchdog took too long"
        finally:
            r.proc.send_signal(signal.SIGCONT)
        deadline = time.time() + 10
        while True:
            reply = await send_message(alice, "bob", 2)
            if reply["type"] == "ack":
                break
            assert time.time() < deadline, reply
            await asyncio.sleep(0.2)
        await alice.close()
    run(go(), timeout=30)
    srv.wait_log(r"no reply for 3 s")


def test_redis_warns_when_aof_is_off(server, redis):
    r = redis()
    assert r.command("CONFIG", "SET", "appendonly", "no") == "OK"
    srv = server(sections=redis_sections(r))
    srv.wait_log(r"WARN.*store_redis.*appendonly is no")
    r.command("CONFIG", "SET", "appendonly", "yes")
    srv2 = server(sections=redis_sections(r))
    srv2.wait_log(r"store_redis.*prefix sb:")
    assert "appendonly is no" not in srv2.log()

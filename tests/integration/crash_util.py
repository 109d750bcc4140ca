"""The crash test every persistent store must pass (docs/protocol.md section 4: a
crash after the ack loses nothing): alice streams messages to bob, the server
is killed with SIGKILL after kill_after acks, a new server on the same config
and directory starts, and bob must receive every acked message, once, oldest
first, with its content."""
import asyncio

from conftest import recv, run, send


async def collect(ws, quiet=1.0):
    """The stored messages that arrive until nothing has come for quiet seconds."""
    out = []
    while True:
        try:
            msg = await recv(ws, quiet)
        except asyncio.TimeoutError:
            return out
        assert msg["type"] == "message" and "ref" not in msg, msg
        out.append(msg["data"])


def kill9_loses_no_acked(server, sections, server_keys, total, kill_after, timeout=60):
    """Run the crash test; returns (acked ids, delivered messages)."""
    srv = server(sections=sections, server_keys=server_keys)
    acked = {}  # id -> n

    async def crash():
        alice = await srv.ws(client_id="alice", close_timeout=1)

        async def sender():
            for i in range(total):
                await send(alice, "message", {"to": "bob", "n": i}, ref=i)
        task = asyncio.ensure_future(sender())
        while len(acked) < kill_after:
            reply = await recv(alice, 15)
            assert reply["type"] == "ack", reply
            acked[reply["data"]["id"]] = reply["ref"]
        srv.kill()  # SIGKILL with writes still queued and in flight
        alice.transport.abort()  # no close handshake with a dead server
        try:
            await asyncio.wait_for(task, 5)
        except Exception:
            pass
    run(crash(), timeout=timeout)

    srv2 = server(sections=sections, server_keys=server_keys, workdir=srv.workdir)

    async def deliver():
        bob = await srv2.ws(client_id="bob")
        got = await collect(bob, 1.0)
        await bob.close()
        return got
    got = run(deliver(), timeout=timeout)
    ids = [g["id"] for g in got]
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    assert ids == sorted(ids), "not oldest first"
    assert [g["n"] for g in got] == sorted(g["n"] for g in got)
    by_id = {g["id"]: g for g in got}
    missing = [i for i in acked if i not in by_id]
    assert not missing, f"{len(missing)} acked message(s) lost, e.g. {missing[:3]}"
    for i, n in acked.items():
        assert by_id[i]["n"] == n and by_id[i]["from"] == "alice"
    assert len(got) <= total
    return acked, got

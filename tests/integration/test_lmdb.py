"""store_lmdb against the real server: unread messages survive a restart and a
crash (every acked message), a full map answers `unavailable` and recovers
after reads, a 100,000-message inbox arrives whole with bounded memory, and a
bad data directory stops the start with a reason in the log."""
import asyncio
import os
import random
import re
import time

import pytest

from conftest import SANITIZED, default_sections, recv, request, run, send
from crash_util import collect, kill9_loses_no_acked

ID_RE = re.compile(r"^[0-9A-Za-z]{26}$")


def lmdb_sections(path=None, **keys):
    """Every messaging plugin with store_lmdb; path None keeps the default (data)."""
    s = default_sections(store="store_lmdb")
    body = dict(keys)
    if path is not None:
        body["path"] = path
    s["store_lmdb"] = body
    return s


async def reply_to(ws, ref, timeout=10):
    """The reply carrying ref, skipping events (receipts, stored messages)."""
    deadline = time.time() + timeout
    while True:
        msg = await recv(ws, max(0.01, deadline - time.time()))
        if msg.get("ref") == ref:
            return msg
        assert "ref" not in msg, msg


async def read_ids(ws, ids, ref="r"):
    """Send read for ids (in chunks); returns the ids the server removed."""
    removed = []
    for i in range(0, len(ids), 50):
        reply = await request(ws, "read", {"ids": ids[i:i + 50]}, ref=ref)
        assert reply["type"] == "read" and reply["ref"] == ref, reply
        removed += reply["data"]["ids"]
    return removed


async def flood(ws, to, n, window=1000, field="n", start=0, pad=None):
    """Send n messages to `to` keeping up to window unanswered; returns the
    replies in order (acks, or errors)."""
    replies = []
    sent = 0
    while len(replies) < n:
        while sent < n and sent - len(replies) < window:
            data = {"to": to, field: start + sent}
            if pad:
                data["pad"] = pad
            await send(ws, "message", data, ref=start + sent)
            sent += 1
        reply = await recv(ws, 30)
        assert reply.get("ref") == start + len(replies), reply
        replies.append(reply)
    return replies


def gauge(srv, name):
    status, _, body = srv.http("GET", "/metrics")
    assert status == 200, body
    m = re.search(rf"^switchboard_{name}(?:{{[^}}]*}})? (\S+)$", body.decode(), re.M)
    assert m, f"no {name} in /metrics:\n{body.decode()}"
    return float(m.group(1))


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def start_fails(srv, timeout=15):
    """Start srv, which must exit on its own with a nonzero code; returns its log."""
    srv.start(wait=False)
    try:
        code = srv.proc.wait(timeout)
    except Exception:
        srv.proc.kill()
        srv.proc.wait()
        raise AssertionError(f"server did not exit:\n{srv.log()[-4000:]}")
    assert code != 0, srv.log()
    return srv.log()


# --- restart and crash ---


def test_lmdb_restart_keeps_unread_in_order(server):
    s = lmdb_sections()  # path = data, next to the config file
    srv = server(sections=s)

    async def first():
        alice = await srv.ws(client_id="alice")
        acks = []
        for i in range(5):
            reply = await request(alice, "message", {"to": "bob", "text": f"m{i}"}, ref=i)
            assert reply["type"] == "ack", reply
            acks.append(reply["data"])
        bob = await srv.ws(client_id="bob")
        got = await collect(bob, 0.5)
        assert [g["id"] for g in got] == [a["id"] for a in acks]
        assert await read_ids(bob, [acks[0]["id"], acks[2]["id"]]) == [acks[0]["id"],
                                                                       acks[2]["id"]]
        await bob.close()
        await alice.close()
        return acks
    acks = run(first())
    assert gauge(srv, "store_lmdb_messages") == 3
    assert srv.stop() == 0
    assert os.path.exists(os.path.join(srv.workdir, "data", "data.mdb"))

    srv2 = server(sections=s, workdir=srv.workdir)

    async def second():
        bob = await srv2.ws(client_id="bob")
        got = await collect(bob, 0.5)
        want = [{"id": acks[i]["id"], "from": "alice", "to": "bob", "ts": acks[i]["ts"],
                 "text": f"m{i}"} for i in (1, 3, 4)]
        assert got == want
        await bob.close()
    run(second())
    assert gauge(srv2, "store_lmdb_messages") == 3
    assert gauge(srv2, "store_lmdb_users") == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lmdb_crash_loses_no_acked_message(server, tmp_path, seed):
    # Three kill points: early, middle and late in the stream of acks.
    kill_after = random.Random(seed).randint(*[(20, 200), (300, 700), (800, 990)][seed - 1])
    kill9_loses_no_acked(server, lmdb_sections(str(tmp_path / "data")), {"rate_limit": 0},
                         total=1000, kill_after=kill_after)


# --- a full map ---


def test_lmdb_map_full_unavailable_then_recovers(server, tmp_path):
    s = lmdb_sections(str(tmp_path / "data"), map_size_mb=1)
    srv = server(sections=s, server_keys={"rate_limit": 0})
    pad = "x" * 1000

    async def go():
        alice = await srv.ws(client_id="alice")
        acks = []
        for i in range(5000):
            reply = await request(alice, "message", {"to": "bob", "n": i, "pad": pad}, ref=i)
            if reply["type"] == "error":
                assert reply["data"]["code"] == "unavailable", reply
                break
            assert reply["type"] == "ack", reply
            acks.append(reply["data"]["id"])
        else:
            raise AssertionError("a 1 MB map never filled")
        assert len(acks) > 100
        # Still serving: ping, other commands, HTTP; /ready says why not.
        assert (await request(alice, "ping", ref="p"))["type"] == "pong"
        reply = await request(alice, "message", {"to": "carol", "pad": pad}, ref="again")
        assert reply["type"] == "error" and reply["data"]["code"] == "unavailable", reply
        assert srv.http("GET", "/health")[0] == 200
        status, _, body = srv.http("GET", "/ready")
        assert status == 503, body

        # Earlier messages intact, in order.
        bob = await srv.ws(client_id="bob")
        got = await collect(bob, 1.0)
        assert [g["id"] for g in got] == acks
        assert all(g["pad"] == pad and g["n"] == i for i, g in enumerate(got))

        # Reads free space; then sends succeed again (LMDB reuses freed
        # pages a commit or two later, so allow a couple of retries).
        removed = await read_ids(bob, acks[: len(acks) // 2])
        assert removed == acks[: len(acks) // 2]
        for attempt in range(5):
            await send(alice, "message", {"to": "bob", "pad": pad}, ref="after")
            reply = await reply_to(alice, "after")
            if reply["type"] == "ack":
                break
            assert reply["data"]["code"] == "unavailable", reply
            await asyncio.sleep(0.1)
        assert reply["type"] == "ack", reply
        assert (await recv(bob))["data"]["id"] == reply["data"]["id"]
        assert srv.http("GET", "/ready")[0] == 200
        await bob.close()
        await alice.close()
    run(go(), timeout=60)
    assert srv.wait_log(r"map .*full")
    assert gauge(srv, "store_lmdb_map_size_bytes") == 1024 * 1024


# --- a large inbox ---


def test_lmdb_large_inbox_delivered_completely(server, tmp_path):
    n = 100000
    s = lmdb_sections(str(tmp_path / "data"))
    srv = server(sections=s, server_keys={"rate_limit": 0})
    started = time.time()
    peak_seen = [0.0]

    async def go():
        alice = await srv.ws(client_id="alice")
        replies = await flood(alice, "bob", n, window=2000)
        bad = [r for r in replies if r["type"] != "ack"]
        assert not bad, bad[:3]
        # max_inbox is 100000: the inbox is exactly full now.
        reply = await request(alice, "message", {"to": "bob", "n": n}, ref="over")
        assert reply["type"] == "error" and reply["data"]["code"] == "inbox_full", reply
        assert gauge(srv, "store_lmdb_messages") == n

        bob = await srv.ws(client_id="bob")
        peak = 0.0
        for i in range(n):
            msg = await recv(bob, 10)
            assert msg["type"] == "message" and msg["data"]["n"] == i, msg
            if i % 10000 == 0:
                peak = max(peak, rss_mb(srv.proc.pid))
        peak = max(peak, rss_mb(srv.proc.pid))
        peak_seen[0] = peak
        limit = 600 if SANITIZED else 200
        assert peak < limit, f"server RSS {peak:.0f} MB during delivery"
        await bob.close()
        await alice.close()
    run(go(), timeout=150)
    print(f"100k inbox: {time.time() - started:.1f}s, peak RSS {peak_seen[0]:.0f} MB")


# --- metrics ---


def test_lmdb_metrics_count_messages_and_users(server, tmp_path):
    s = lmdb_sections(str(tmp_path / "data"), map_size_mb=64)
    srv = server(sections=s)

    async def go():
        alice = await srv.ws(client_id="alice")
        for i, to in enumerate([["bob", "carol"], "bob", "dave"]):
            reply = await request(alice, "message", {"to": to}, ref=i)
            assert reply["type"] == "ack", reply
        await alice.close()
    run(go())
    assert gauge(srv, "store_lmdb_messages") == 4  # one copy per recipient
    assert gauge(srv, "store_lmdb_users") == 3
    assert gauge(srv, "store_lmdb_map_size_bytes") == 64 * 1024 * 1024
    used = gauge(srv, "store_lmdb_map_used_bytes")
    assert 0 < used < 64 * 1024 * 1024


# --- bad data directories ---


def test_lmdb_path_under_regular_file_fails(server, tmp_path):
    (tmp_path / "file").write_text("not a directory\n")
    path = str(tmp_path / "file" / "data")
    srv = server(sections=lmdb_sections(path), start=False)
    log = start_fails(srv)
    assert path in log and "cannot create the data directory" in log, log


def test_lmdb_corrupt_data_file_fails(server, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "data.mdb").write_bytes(b"corrupt!" * 8192)
    srv = server(sections=lmdb_sections(str(data)), start=False)
    log = start_fails(srv)
    assert str(data) in log and "cannot open the data file" in log, log


def test_lmdb_second_server_same_path_fails(server, tmp_path):
    path = str(tmp_path / "data")
    first = server(sections=lmdb_sections(path))
    second = server(sections=lmdb_sections(path), start=False)
    log = start_fails(second)
    assert path in log and "in use by another server" in log, log

    async def still_serving():
        alice = await first.ws(client_id="alice")
        reply = await request(alice, "message", {"to": "bob"}, ref=1)
        assert reply["type"] == "ack", reply
        await alice.close()
    run(still_serving())

"""Sessions (docs/protocol.md section 5): with `sessions = multi` every connection
of a user receives its direct messages; with `sessions = replace` a new
connection closes the older ones with 4001, whether it identified at the
handshake or later with `auth`."""
import pytest

from conftest import closed_with, no_frame, recv, request, run

USERS = ("alice", "bob", "carol")


def sections(auth=None):
    return {"auth": dict(auth or {"mode": "none"}), "message": {}, "members": {},
            "store_memory": {}}


async def ack_of(ws, to, text, ref):
    reply = await request(ws, "message", {"to": to, "text": text}, ref=ref)
    assert reply["type"] == "ack" and reply["ref"] == ref, reply
    assert isinstance(reply["data"]["id"], str) and isinstance(reply["data"]["ts"], int), reply
    return reply["data"]


async def got_message(ws, frm, to, text, ack):
    msg = await recv(ws)
    assert msg == {"type": "message",
                   "data": {"id": ack["id"], "from": frm, "to": to, "ts": ack["ts"],
                            "text": text}}, msg


@pytest.mark.parametrize("keys", [{}, {"sessions": "multi"}])
def test_multi_every_connection_receives(server, keys):
    srv = server(sections=sections(), server_keys=keys)

    async def go():
        conns = {u: [await srv.ws(client_id=u), await srv.ws(client_id=u)] for u in USERS}
        everyone = [ws for pair in conns.values() for ws in pair]
        listed = await request(conns["alice"][0], "list", ref="l")
        assert listed["data"] == {"users": list(USERS)}, listed

        # alice -> bob and carol: all four of their connections, none of alice's.
        ack = await ack_of(conns["alice"][0], ["bob", "carol"], "hi both", 1)
        for u in ("bob", "carol"):
            for ws in conns[u]:
                await got_message(ws, "alice", ["bob", "carol"], "hi both", ack)
        await no_frame(conns["alice"][1])

        # Each user writes to the next from its second connection.
        for i, u in enumerate(USERS):
            peer = USERS[(i + 1) % len(USERS)]
            ack = await ack_of(conns[u][1], peer, f"{u} to {peer}", f"r{i}")
            for ws in conns[peer]:
                await got_message(ws, u, peer, f"{u} to {peer}", ack)

        # A message to oneself reaches one's other connection, not the sender's.
        ack = await ack_of(conns["carol"][0], "carol", "note to self", "self")
        await got_message(conns["carol"][1], "carol", "carol", "note to self", ack)
        for ws in everyone:
            await no_frame(ws, 0.1)
    run(go())


def test_replace_closes_older_with_4001(server):
    srv = server(sections=sections(), server_keys={"sessions": "replace"})

    async def go():
        a1 = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        a2 = await srv.ws(client_id="alice")
        code, _ = await closed_with(a1)
        assert code == 4001
        pong = await request(a2, "ping", ref=1)
        assert pong["type"] == "pong"
        a3 = await srv.ws(client_id="alice")
        code, _ = await closed_with(a2)
        assert code == 4001
        # Other users are untouched, and the newest session works.
        listed = await request(bob, "list", ref="l")
        assert listed["data"] == {"users": ["alice", "bob"]}, listed
        ack = await ack_of(bob, "alice", "to the newest", 2)
        await got_message(a3, "bob", "alice", "to the newest", ack)
    run(go())


def test_replace_on_auth_command(server, tmp_path):
    tokens = tmp_path / "tokens.conf"
    tokens.write_text("tok-alice alice\ntok-bob bob\n")
    srv = server(sections=sections({"mode": "static", "tokens_file": str(tokens)}),
                 server_keys={"sessions": "replace"})

    async def go():
        a1 = await srv.ws(query={"token": "tok-alice"})
        pending = await srv.ws()
        # An unauthenticated connection replaces nobody yet.
        await no_frame(a1)
        assert (await request(a1, "ping", ref=1))["type"] == "pong"
        reply = await request(pending, "auth", {"token": "tok-alice"}, ref="a")
        assert reply == {"type": "auth", "ref": "a", "data": {"user": "alice"}}, reply
        code, _ = await closed_with(a1)
        assert code == 4001
        # A failed auth replaces nobody.
        other = await srv.ws()
        reply = await request(other, "auth", {"token": "nope"}, ref="b")
        assert reply["data"]["code"] == "auth_failed", reply
        assert (await request(pending, "ping", ref=2))["type"] == "pong"
    run(go())

"""Rooms at scale (docs/protocol.md "Large rooms", issue #18): with
[rooms] presence_limit = 3, a room of more than 3 users sends no presence and
its join reply lists nobody ({room, users: [], presence: false}); the join
that crosses the limit is announced with presence: false, the leave that
brings the room back to it with presence: true, after which presence
resumes; `members` pages ({room, after, limit} -> {room, users, more})
cover every member exactly once."""
import asyncio
import subprocess
import time

from conftest import (BINARY, default_sections, free_port, make_conf, no_frame, recv, request,
                      send)
from messaging_util import assert_ack, drain, join, recv_event, run, sections
from redis_util import redis  # noqa: F401 (fixture)

LIMIT = 3


def limit_sections(**rooms):
    return sections(rooms=dict({"presence_limit": LIMIT}, **rooms))


def presence(user, event, room="big", **flag):
    return dict({"room": room, "user": user, "event": event}, **flag)


async def fill(srv, names, room="big"):
    """Connect and join names in order; returns {name: ws} with every
    presence they caused read off (asserted exactly, limit or not)."""
    conns = {}
    for name in names:
        ws = await srv.ws(client_id=name)
        data = await join(ws, room)
        n = len(conns) + 1
        if n <= LIMIT:
            assert data == {"room": room, "users": sorted(list(conns) + [name])}, data
        else:
            assert data == {"room": room, "users": [], "presence": False}, data
        if n <= LIMIT + 1:
            flag = {"presence": False} if n == LIMIT + 1 else {}
            for other in conns.values():
                assert await recv_event(other, "presence") == presence(name, "join", room, **flag)
        conns[name] = ws
    return conns


async def quiet(conns):
    for ws in conns.values():
        await no_frame(ws, 0.2)


def test_rooms_limit_joins_over_the_limit_send_no_presence(server):
    srv = server(sections=limit_sections())

    async def go():
        # u1..u3 are announced as always, u4 crosses (presence: false), u5 and u6 are silent.
        conns = await fill(srv, ["u1", "u2", "u3", "u4", "u5", "u6"])
        await quiet(conns)
        # A leave that leaves the room over the limit is silent too: by command ...
        reply = await request(conns["u6"], "leave", {"room": "big"}, ref="l")
        assert reply == {"type": "leave", "ref": "l", "data": {"room": "big"}}
        # ... and by closing (5 -> 4 users).
        await conns.pop("u5").close()
        await quiet({k: v for k, v in conns.items() if k != "u6"})
        # The room still works: a publication reaches every member.
        ack = assert_ack(await request(conns["u1"], "publish", {"room": "big", "x": 1}, "p"), "p")
        for name in ("u2", "u3", "u4"):
            got = await recv_event(conns[name], "publish")
            assert got == {"id": ack["id"], "from": "u1", "room": "big", "ts": ack["ts"], "x": 1}
        # members still knows everyone (u6 left, u5 closed).
        reply = await request(conns["u2"], "members", {"room": "big"}, ref="m")
        assert reply["data"] == {"room": "big", "users": ["u1", "u2", "u3", "u4"], "more": False}
    run(go())


def test_rooms_limit_presence_resumes_back_at_the_limit(server):
    srv = server(sections=limit_sections())

    async def go():
        conns = await fill(srv, ["u1", "u2", "u3", "u4", "u5"])
        # 5 -> 4: silent.
        await request(conns.pop("u5"), "leave", {"room": "big"}, ref="l")
        await quiet(conns)
        # 4 -> 3 by closing: the leave that brings the room back is announced,
        # flagged presence: true, to everyone left.
        await conns.pop("u4").close()
        for ws in conns.values():
            assert await recv_event(ws, "presence") == presence("u4", "leave", presence=True)
        # From here presence is as always: a join (3 -> 4 crosses again) ...
        u7 = await srv.ws(client_id="u7")
        assert await join(u7, "big") == {"room": "big", "users": [], "presence": False}
        for ws in conns.values():
            assert await recv_event(ws, "presence") == presence("u7", "join", presence=False)
        # ... a leave back (4 -> 3, resumes again), then plain leaves below the limit.
        await request(u7, "leave", {"room": "big"}, ref="l7")
        for ws in conns.values():
            assert await recv_event(ws, "presence") == presence("u7", "leave", presence=True)
        await request(conns.pop("u3"), "leave", {"room": "big"}, ref="l3")
        for ws in conns.values():
            assert await recv_event(ws, "presence") == presence("u3", "leave")
        u8 = await srv.ws(client_id="u8")
        assert await join(u8, "big") == {"room": "big", "users": ["u1", "u2", "u8"]}
        for ws in conns.values():
            assert await recv_event(ws, "presence") == presence("u8", "join")
        await no_frame(u8)
    run(go())


def test_rooms_limit_counts_users_not_connections(server):
    srv = server(sections=limit_sections())

    async def go():
        conns = await fill(srv, ["u1", "u2", "u3"])
        # u3's second connection: still 3 users, listed, no news.
        again = await srv.ws(client_id="u3")
        assert await join(again, "big") == {"room": "big", "users": ["u1", "u2", "u3"]}
        await quiet(conns)
        conns.update(await fill_more(srv, conns, "u4"))
        assert await recv_event(again, "presence") == presence("u4", "join", presence=False)
        # Over the limit, a second connection of u4 gets the crowded reply too.
        u4b = await srv.ws(client_id="u4")
        assert await join(u4b, "big") == {"room": "big", "users": [], "presence": False}
        await quiet(conns)
        await no_frame(again, 0.1)
    run(go())


async def fill_more(srv, conns, name):
    """name joins a room of exactly LIMIT users: the crossing join."""
    ws = await srv.ws(client_id=name)
    assert await join(ws, "big") == {"room": "big", "users": [], "presence": False}
    for other in conns.values():
        assert await recv_event(other, "presence") == presence(name, "join", presence=False)
    return {name: ws}


async def all_pages(ws, limit, room="big"):
    """Every page of room's members, limit at a time: (names, pages)."""
    names, after, pages = [], None, 0
    while True:
        data = {"room": room, "limit": limit}
        if after is not None:
            data["after"] = after
        reply = await request(ws, "members", data, ref=pages)
        assert reply["type"] == "members" and reply["ref"] == pages, reply
        page = reply["data"]
        assert set(page) == {"room", "users", "more"} and page["room"] == room, page
        assert len(page["users"]) <= limit, page
        assert page["users"] == sorted(page["users"]), page
        names += page["users"]
        pages += 1
        if not page["more"]:
            return names, pages
        assert page["users"], page  # more with an empty page would never end
        after = page["users"][-1]


def test_rooms_limit_members_pages_cover_everyone_once(server):
    srv = server(sections=limit_sections())

    async def go():
        names = [f"user{i:02d}" for i in range(11)]
        conns = {}
        for name in names:
            ws = await srv.ws(client_id=name)
            await join(ws, "big")
            conns[name] = ws
        for ws in conns.values():
            await drain(ws, 0.1)
        asker = conns["user05"]
        got, pages = await all_pages(asker, 3)
        assert got == names and pages == 4  # 3 + 3 + 3 + 2
        got, pages = await all_pages(asker, 11)
        assert got == names and pages == 1
        got, pages = await all_pages(asker, 1)
        assert got == names and pages == 11
        # Without limit a page holds up to 1000 names: everyone here.
        reply = await request(asker, "members", {"room": "big"}, ref="all")
        assert reply["data"] == {"room": "big", "users": names, "more": False}
        # Membership changing between pages: those in throughout come exactly once.
        first = await request(asker, "members", {"room": "big", "limit": 4}, ref="p1")
        assert first["data"]["users"] == names[:4] and first["data"]["more"] is True
        await request(conns["user06"], "leave", {"room": "big"}, ref="gone")
        late = await srv.ws(client_id="user99")
        await join(late, "big")
        rest = await request(asker, "members",
                             {"room": "big", "after": names[3], "limit": 1000}, ref="p2")
        assert rest["data"] == {"room": "big", "users": names[4:6] + names[7:] + ["user99"],
                                "more": False}
        # Bad paging arguments are bad_request.
        for i, data in enumerate([{"room": "big", "limit": 0}, {"room": "big", "limit": 1001},
                                  {"room": "big", "limit": "3"}, {"room": "big", "after": 3}]):
            reply = await request(asker, "members", data, ref=i)
            assert reply["type"] == "error" and reply["data"]["code"] == "bad_request", reply
    run(go())


def test_rooms_limit_join_since_in_a_crowded_room(server):
    srv = server(sections=limit_sections(history_size=10), server_keys={"rate_limit": 0})

    async def go():
        conns = await fill(srv, ["u1", "u2", "u3", "u4"])
        ack = assert_ack(await request(conns["u1"], "publish", {"room": "big", "n": 1}, "p"), "p")
        for name in ("u2", "u3", "u4"):
            await recv_event(conns[name], "publish")
        u5 = await srv.ws(client_id="u5")
        await send(u5, "join", {"room": "big", "since": "0" * 26}, ref="j")
        reply = await recv(u5)
        assert reply == {"type": "join", "ref": "j",
                         "data": {"room": "big", "users": [], "presence": False,
                                  "recovered": False}}, reply
        # since an id still in the history: recovered, the list still left out.
        u6 = await srv.ws(client_id="u6")
        await send(u6, "join", {"room": "big", "since": ack["id"]}, ref="j")
        reply = await recv(u6)
        assert reply == {"type": "join", "ref": "j",
                         "data": {"room": "big", "users": [], "presence": False,
                                  "recovered": True}}, reply
        await quiet(conns)
    run(go())


def test_rooms_limit_zero_means_no_limit(server):
    srv = server(sections=sections(rooms={"presence_limit": 0}))

    async def go():
        conns = {}
        for i in range(6):
            name = f"u{i}"
            ws = await srv.ws(client_id=name)
            data = await join(ws, "big")
            assert data == {"room": "big", "users": sorted(list(conns) + [name])}, data
            for other in conns.values():
                assert await recv_event(other, "presence") == presence(name, "join")
            conns[name] = ws
    run(go())


def test_rooms_limit_counts_every_node_with_bus_redis(server, redis):
    """Two nodes over one Redis: the deployment's count decides (presence
    crosses nodes as always); each step waits until the other node's view
    has it, through an observer that is in no room."""
    r = redis()

    def node(name):
        s = default_sections(store="store_redis")
        s["store_redis"] = {"url": r.url}
        s["bus_redis"] = {"url": r.url, "node_id": name}
        s["rooms"] = {"presence_limit": LIMIT}
        return server(sections=s)

    a, b = node("A"), node("B")
    for srv in (a, b):
        srv.wait_log(r"bus_redis.*subscribed to sb:bus")

    async def go():
        watch = {"A": await a.ws(client_id="watch-a"), "B": await b.ws(client_id="watch-b")}

        async def members_are(want):
            for ws in watch.values():
                deadline = time.time() + 5
                while True:
                    reply = await request(ws, "members", {"room": "big"}, ref="w")
                    if reply["data"]["users"] == want:
                        break
                    assert time.time() < deadline, (reply, want)
                    await asyncio.sleep(0.05)

        async def joined(srv, name, want_reply):
            ws = await srv.ws(client_id=name)
            await send(ws, "join", {"room": "big"}, ref="j")
            reply = await recv(ws, 10)
            assert reply == {"type": "join", "ref": "j", "data": want_reply}, reply
            return ws

        conns = {"u1": await joined(a, "u1", {"room": "big", "users": ["u1"]})}
        await members_are(["u1"])
        conns["u2"] = await joined(b, "u2", {"room": "big", "users": ["u1", "u2"]})
        assert await recv_event(conns["u1"], "presence", 10) == presence("u2", "join")
        await members_are(["u1", "u2"])
        conns["u3"] = await joined(a, "u3", {"room": "big", "users": ["u1", "u2", "u3"]})
        for name in ("u1", "u2"):
            assert await recv_event(conns[name], "presence", 10) == presence("u3", "join")
        await members_are(["u1", "u2", "u3"])
        # u4 on B, where only u2 is: the bus counts 4, the crossing join.
        crowded = {"room": "big", "users": [], "presence": False}
        u4 = await joined(b, "u4", crowded)
        for ws in conns.values():
            assert await recv_event(ws, "presence", 10) == presence("u4", "join", presence=False)
        await members_are(["u1", "u2", "u3", "u4"])
        # u5 on A (3 here, 5 in all): silent, and so is its leave (back to 4).
        u5 = await joined(a, "u5", crowded)
        await members_are(["u1", "u2", "u3", "u4", "u5"])
        await request(u5, "leave", {"room": "big"}, ref="l")
        await members_are(["u1", "u2", "u3", "u4"])
        await quiet(conns)
        # u4 closes on B: 3 in all, presence resumes on both nodes.
        await u4.close()
        for ws in conns.values():
            assert await recv_event(ws, "presence", 10) == presence("u4", "leave", presence=True)
        await quiet(conns)
    run(go(), timeout=60)


def test_rooms_limit_bad_values_refused_by_check_config(tmp_path):
    for bad in ("-1", "lots", "1.5"):
        path = tmp_path / "plugins.conf"
        path.write_text(make_conf(free_port(), None, limit_sections_text(bad)))
        res = subprocess.run([BINARY, "--check-config", "-c", str(path)], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode != 0, res
        assert f'[rooms] presence_limit: must be an integer from 0 to 100000000, got "{bad}"' \
            in res.stderr, res.stderr


def limit_sections_text(value):
    s = sections()
    s["rooms"] = {"presence_limit": value}
    return s

"""The lua plugin end to end (docs/design.md "Lua", lua/README.md): authorize for
every action -> forbidden with the script's reason, filters change or drop
messages (push API included), a message no filter changes framed byte for
byte as with no filter, two scripts chained, on_connect -> 403, script
failures decided by on_error while the server keeps serving, JSON data that
round-trips through a script, and reloading on file change and SIGHUP."""
import asyncio
import json
import os
import re
import signal

import pytest

from conftest import SOURCE_DIR, default_sections, recv_type
from lua_util import (api_post, connect, count_log, expect_error, expect_ok, handshake,
                      lua_server, rewrite, run_closing, wait_count)

AUTHORIZE = '''
function authorize(user, action, target, data)
  if user == "bob" then
    return false, "bob may not " .. action .. (target and (" " .. target) or "")
  end
  if action == "join" and target == "secret" then return false, "secret is closed" end
  if data.deny then return false, "data said " .. tostring(data.deny) end
  return true
end
'''


def test_authorize_every_action_forbidden_with_reason(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", AUTHORIZE)])

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_error(alice, "join", {"room": "secret"}, "forbidden", "secret is closed")
        await expect_ok(alice, "join", {"room": "lobby"})
        await expect_error(alice, "message", {"to": "carol", "text": "x", "deny": "m"},
                           "forbidden", "data said m")
        await expect_error(alice, "publish", {"room": "lobby", "deny": "p"}, "forbidden",
                           "data said p")
        await expect_error(alice, "broadcast", {"deny": "b"}, "forbidden", "data said b")
        await expect_ok(alice, "message", {"to": "carol", "text": "fine"}, want="ack")
        await expect_error(bob, "message", {"to": "alice", "text": "x"}, "forbidden",
                           "bob may not message alice")
        await expect_error(bob, "join", {"room": "lobby"}, "forbidden", "bob may not join lobby")
        await expect_error(bob, "broadcast", {"text": "x"}, "forbidden", "bob may not broadcast")
        await expect_error(bob, "list", None, "forbidden", "bob may not list")
        await expect_error(bob, "members", {"room": "lobby"}, "forbidden",
                           "bob may not members lobby")
        await expect_ok(alice, "list", None)
    run_closing(go())


FILTER = '''
function filter(msg)
  if msg.data.text == "drop me" then return nil, "dropped by " .. msg.type .. " filter" end
  if msg.data.text == "silent" then return nil end
  msg.data.text = string.upper(msg.data.text or "")
  msg.data.filtered_type = msg.type
  msg.data.filtered_to = msg.to or msg.room or "all"
  msg.from = "mallory"        -- routing fields are the server's: ignored
  msg.data.from = "mallory"
  msg.data.id = "spoofed"
  return msg
end
'''


def test_filter_changes_data_of_message_publish_broadcast(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", FILTER)])

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(bob, "join", {"room": "lobby"})
        await expect_ok(alice, "join", {"room": "lobby"})
        ack = await expect_ok(alice, "message", {"to": "bob", "text": "hi"}, want="ack")
        got = (await recv_type(bob, "message"))["data"]
        assert got["text"] == "HI" and got["filtered_type"] == "message"
        assert got["filtered_to"] == "bob"
        assert got["from"] == "alice" and got["to"] == "bob" and got["id"] == ack["data"]["id"]
        await expect_ok(alice, "publish", {"room": "lobby", "text": "pub"}, want="ack")
        got = (await recv_type(bob, "publish"))["data"]
        assert got["text"] == "PUB" and got["filtered_to"] == "lobby" and got["room"] == "lobby"
        assert got["from"] == "alice"
        await expect_ok(alice, "broadcast", {"text": "all"}, want="ack")
        got = (await recv_type(bob, "broadcast"))["data"]
        assert got["text"] == "ALL" and got["filtered_type"] == "broadcast"
        assert got["from"] == "alice"
    run_closing(go())


def test_filter_deny_is_filtered_and_nothing_delivered(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", FILTER)])

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(bob, "join", {"room": "lobby"})
        await expect_ok(alice, "join", {"room": "lobby"})
        await expect_error(alice, "message", {"to": "bob", "text": "drop me"}, "filtered",
                           "dropped by message filter")
        await expect_error(alice, "publish", {"room": "lobby", "text": "drop me"}, "filtered",
                           "dropped by publish filter")
        await expect_error(alice, "broadcast", {"text": "silent"}, "filtered",
                           "filtered by policy")
        # bob got only the join presence, nothing filtered
        await expect_ok(alice, "message", {"to": "bob", "text": "after"}, want="ack")
        got = await recv_type(bob, "message")
        assert got["data"]["text"] == "AFTER"
    run_closing(go())


def test_filter_applies_to_push_api(server, tmp_path):
    sections = default_sections()
    sections["api"] = {"api_key": "k"}
    srv = lua_server(server, tmp_path, [("policy.lua", FILTER)], sections=sections)

    async def go():
        bob = await connect(srv, "bob")
        status, body = api_post(srv, "/api/users/bob/messages", {"text": "from backend"})
        assert status == 202, body
        got = (await recv_type(bob, "message"))["data"]
        assert got["text"] == "FROM BACKEND" and got["from"] == "server"
        status, body = api_post(srv, "/api/broadcast", {"text": "drop me"})
        assert status == 403, body
        assert body["error"] == "filtered" and body["message"] == "dropped by broadcast filter"
    run_closing(go())


SPOOF = '''
function filter(msg)
  msg.data.seen = tostring(msg.data.id) .. " " .. tostring(msg.data.from)
  for _, k in ipairs({"from", "to", "id", "room", "ts"}) do
    if msg.data[k] ~= nil then msg.data[k] = "spoofed" end
  end
  msg.from, msg.to, msg.room, msg.id, msg.ts = "mallory", "mallory", "elsewhere", "x", 1
  return msg
end
'''

# The same without naming a global: a function without upvalues gets lazy
# tables (lua/README.md, "What a hook costs") and must see and change the same.
SPOOF_LAZY = '''
function filter(msg)
  local d = msg.data
  d.seen = d.id .. " " .. d.from
  if d.from ~= nil then d.from = "spoofed" end
  if d.to ~= nil then d.to = "spoofed" end
  if d.id ~= nil then d.id = "spoofed" end
  if d.room ~= nil then d.room = "spoofed" end
  if d.ts ~= nil then d.ts = "spoofed" end
  msg.from, msg.to, msg.room, msg.id, msg.ts = "mallory", "mallory", "elsewhere", "x", 1
  return msg
end
'''


@pytest.mark.parametrize("script", [SPOOF, SPOOF_LAZY], ids=["converted", "lazy"])
def test_filter_cannot_change_routing_fields_through_any_entry_point(server, tmp_path, script):
    # Every entry point hands the filter the stamped shape and the host
    # restores id, from, to/room and ts after the chain, for every recipient.
    sections = default_sections()
    sections["api"] = {"api_key": "k"}
    srv = lua_server(server, tmp_path, [("policy.lua", script)], sections=sections)

    def check(got, id_, from_, extra):
        assert got["id"] == id_ and got["from"] == from_, got
        assert isinstance(got["ts"], int) and got["ts"] > 1_600_000_000_000, got
        assert got["seen"] == f"{id_} {from_}", got  # the filter saw the server's fields
        for k, v in extra.items():
            assert got[k] == v, got

    async def go():
        alice = await connect(srv, "alice")
        bob1 = await connect(srv, "bob")
        bob2 = await connect(srv, "bob")
        for ws in (alice, bob1, bob2):
            await expect_ok(ws, "join", {"room": "lobby"})
        bobs = (bob1, bob2)

        ack = await expect_ok(alice, "message", {"to": "bob", "text": "m", "id": "x"}, want="ack")
        for ws in bobs:
            got = (await recv_type(ws, "message"))["data"]
            check(got, ack["data"]["id"], "alice", {"to": "bob", "ts": ack["data"]["ts"]})
        ack = await expect_ok(alice, "publish", {"room": "lobby", "text": "p"}, want="ack")
        for ws in bobs:
            got = (await recv_type(ws, "publish"))["data"]
            check(got, ack["data"]["id"], "alice", {"room": "lobby", "ts": ack["data"]["ts"]})
        ack = await expect_ok(alice, "broadcast", {"text": "b"}, want="ack")
        for ws in bobs:
            got = (await recv_type(ws, "broadcast"))["data"]
            check(got, ack["data"]["id"], "alice", {"ts": ack["data"]["ts"]})

        status, body = api_post(srv, "/api/users/bob/messages", {"text": "m", "from": "carol"})
        assert status == 202, body
        for ws in bobs:
            got = (await recv_type(ws, "message"))["data"]
            check(got, body["id"], "carol", {"to": "bob"})
        status, body = api_post(srv, "/api/rooms/lobby/publish", {"text": "p"})
        assert status == 202, body
        for ws in (alice,) + bobs:
            got = (await recv_type(ws, "publish"))["data"]
            check(got, body["id"], "server", {"room": "lobby"})
        status, body = api_post(srv, "/api/broadcast", {"text": "b", "ts": 3})
        assert status == 202, body
        for ws in (alice,) + bobs:
            got = (await recv_type(ws, "broadcast"))["data"]
            check(got, body["id"], "server", {})
    run_closing(go())


def test_json_data_round_trips_through_a_filter(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", "function filter(msg) return msg end")])
    payload = {"nested": {"a": [1, 2.5, {"b": [], "c": {}}], "empty_obj": {}, "empty_arr": []},
               "big": 123456789012, "neg": -3, "f": 0.1, "uni": "h\u00e9llo \u2713 \U0001F600",
               "null": None, "t": True, "list": [[], [[]], [None, 1]]}

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(alice, "message", dict(payload, to="bob"), want="ack")
        got = (await recv_type(bob, "message"))["data"]
        for k, v in payload.items():
            assert got[k] == v, (k, got[k])
        assert isinstance(got["big"], int) and isinstance(got["f"], float)
    run_closing(go())


READ_ONE_FIELD = '''
function filter(msg)
  if msg.data.text == "change me" then msg.data.text = "changed" end
  return msg
end
'''

# Members whose order, spelling or number format a copy converted through Lua
# (or printed from a rebuilt tree) would not keep, and stamped names to drop.
TRICKY = ('{"text":"h\\u00e9llo \\u2713","zz":1,"n":1.5e3,"neg":-0.0,"big":12345678901234567,'
          '"nested":{"z":1,"a":[true,null,{},[]]},"esc":"a\\"b\\\\c\\n\\t\\u0001\\/",'
          '"id":"claimed","ts":5,"from":"mallory","aa":2')


async def raw_of_type(ws, type_, timeout=10):
    """The next frame of type_, as the bytes came (other frames skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
        if json.loads(raw)["type"] == type_:
            return raw


def test_unchanged_message_sends_the_bytes_of_no_filter(server, tmp_path):
    """A filter that passes a message on (the shipped allow-all policy, or one
    that reads a field) leaves the frame byte for byte what no filter gives, on
    every entry point (the host prints the client's data, no copy); a filter
    that changes the message still changes it."""
    sections = default_sections()
    sections["api"] = {"api_key": "k"}
    servers = {
        "none": server(sections=sections, workdir=str(tmp_path / "plain")),
        "allow-all": lua_server(server, tmp_path,
                                [(os.path.join(SOURCE_DIR, "lua", "policy.lua"), None)],
                                sections=sections, name="allow"),
        "read-one-field": lua_server(server, tmp_path, [("policy.lua", READ_ONE_FIELD)],
                                     sections=sections, name="read"),
    }

    def same_but_id_ts(raw):
        return re.sub(r'"ts":\d+', '"ts":T', re.sub(r'"id":"[0-9A-Za-z]{26}"', '"id":"I"', raw))

    async def frames(srv):
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(bob, "join", {"room": "lobby"})
        await expect_ok(alice, "join", {"room": "lobby"})
        got = []
        for type_, target in (("message", ',"to":"bob"'), ("publish", ',"room":"lobby"'),
                              ("broadcast", "")):
            await alice.send('{"type":"%s","ref":"t","data":%s%s}}' % (type_, TRICKY, target))
            ack = json.loads(await raw_of_type(alice, "ack"))
            raw = await raw_of_type(bob, type_)
            assert json.loads(raw)["data"]["id"] == ack["data"]["id"], raw
            got.append(same_but_id_ts(raw))
        status, _, body = srv.http("POST", "/api/users/bob/messages", TRICKY + "}", {
            "Authorization": "Bearer k", "Content-Type": "application/json"})
        assert status == 202, body
        got.append(same_but_id_ts(await raw_of_type(bob, "message")))
        return got

    want = run_closing(frames(servers["none"]))
    assert '"text":"h\u00e9llo \u2713","zz":1,"n":1500,"neg":0,' in want[0], want[0]
    for name in ("allow-all", "read-one-field"):
        got = run_closing(frames(servers[name]))
        for w, g in zip(want, got):
            assert g == w, (name, g, w)

    async def changed():
        srv = servers["read-one-field"]
        carol = await connect(srv, "carol")  # bob's inbox holds the messages above
        dave = await connect(srv, "dave")
        ack = await expect_ok(carol, "message", {"to": "dave", "text": "change me", "keep": [1]},
                              want="ack")
        got = (await recv_type(dave, "message"))["data"]
        assert got == {"id": ack["data"]["id"], "from": "carol", "to": "dave",
                       "ts": ack["data"]["ts"], "text": "changed", "keep": [1]}, got
    run_closing(changed())


def test_two_scripts_chained_in_order(server, tmp_path):
    one = '''
calls_one = 0
function authorize(user, action, target)
  if target == "both" then return false, "one refuses" end
end
function filter(msg)
  if msg.data.text == "stop at one" then return nil, "one stopped it" end
  msg.data.text = msg.data.text .. " +one"
  return msg
end
'''
    two = '''
function authorize(user, action, target)
  if target == "both" or target == "two" then return false, "two refuses" end
end
function filter(msg)
  if msg.data.text:find("stop at one") then return nil, "two saw it" end
  if msg.data.text == "x +one +twice" then return nil, "never" end
  msg.data.text = msg.data.text .. " +two"
  return msg
end
'''
    srv = lua_server(server, tmp_path, [("one.lua", one), ("sub/two.lua", two)])

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_error(alice, "join", {"room": "both"}, "forbidden", "one refuses")
        await expect_error(alice, "join", {"room": "two"}, "forbidden", "two refuses")
        await expect_ok(alice, "join", {"room": "neither"})
        await expect_ok(alice, "message", {"to": "bob", "text": "x"}, want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == "x +one +two"
        await expect_error(alice, "message", {"to": "bob", "text": "stop at one"}, "filtered",
                           "one stopped it")
    run_closing(go())


def test_on_connect_deny_is_403_with_reason(server, tmp_path):
    script = '''
function on_connect(req)
  if req.ip ~= "127.0.0.1" or req.path ~= "/ws" then return false, "bad req " .. tostring(req.ip) end
  if req.user == "mallory" then return false, "mallory is banned" end
  if req.query:find("deny=1", 1, true) then return false end
  return true
end
'''
    srv = lua_server(server, tmp_path, [("policy.lua", script)])
    status, body = handshake(srv, "client_id=mallory")
    assert status == 403 and "mallory is banned" in body, (status, body)
    status, body = handshake(srv, "client_id=alice&deny=1")
    assert status == 403 and "refused by policy" in body, (status, body)

    async def go():
        alice = await connect(srv, "alice")
        await expect_ok(alice, "ping", None, want="pong")
    run_closing(go())


RUNAWAY = '''
function authorize(user, action, target, data)
  if target == "loop" then while true do end end
  if target == "err" then local t = nil; return t.field end
  if target == "oom" then
    local t = {}
    local i = 0
    while true do i = i + 1; t[i] = string.rep("x", 1000) .. i end
  end
  if target == "catch" then
    while true do pcall(function() while true do end end) end
  end
  if target == "bad" then return 42 end
  return true
end
function filter(msg)
  if msg.data.text == "loop" then while true do end end
  return msg
end
'''


def test_runaway_error_oom_denied_by_default_and_server_keeps_serving(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", RUNAWAY)], lua={"memory_limit_mb": 16})

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        for room in ("loop", "err", "oom", "catch", "bad"):
            await expect_error(alice, "join", {"room": room}, "forbidden", "policy script error")
        await expect_error(alice, "message", {"to": "bob", "text": "loop"}, "filtered",
                           "policy script error")
        # the server keeps serving, the state too
        await expect_ok(alice, "join", {"room": "fine"})
        await expect_ok(alice, "message", {"to": "bob", "text": "ok"}, want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == "ok"
        await expect_ok(bob, "ping", None, want="pong")
    run_closing(go())
    log = srv.log()
    prefix = r"authorize in policy\.lua failed, denied \(on_error = deny\): "
    srv.wait_log(prefix + r"policy\.lua:3: instruction limit exceeded")
    srv.wait_log(prefix + r"policy\.lua:4: attempt to index a nil value")
    srv.wait_log(prefix + r"policy\.lua:8: memory limit exceeded")
    srv.wait_log(prefix + r"policy\.lua:11: instruction limit exceeded")
    srv.wait_log(r"authorize returned a number")
    srv.wait_log(r"filter in policy\.lua failed, denied .*policy\.lua:17: instruction limit")
    assert "stack traceback" in log


def test_runaway_error_allowed_with_on_error_allow(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", RUNAWAY)],
                     lua={"on_error": "allow", "memory_limit_mb": 16})

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        for room in ("loop", "err", "oom", "bad"):
            await expect_ok(alice, "join", {"room": room})
        await expect_ok(alice, "message", {"to": "bob", "text": "loop"}, want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == "loop"
    run_closing(go())
    srv.wait_log(r"authorize in policy\.lua failed, allowed \(on_error = allow\): "
                 r"policy\.lua:3: instruction limit exceeded")


def test_default_policy_allows_everything(server, tmp_path):
    srv = lua_server(server, tmp_path, [(os.path.join(SOURCE_DIR, "lua", "policy.lua"), None)])

    async def go():
        alice = await connect(srv, "alice")
        bob = await connect(srv, "bob")
        await expect_ok(alice, "join", {"room": "any"})
        await expect_ok(alice, "message", {"to": "bob", "text": "<b>as is</b>"}, want="ack")
        assert (await recv_type(bob, "message"))["data"]["text"] == "<b>as is</b>"
        await expect_ok(alice, "broadcast", {"text": "x"}, want="ack")
    run_closing(go())
    srv.wait_log(r"loaded 1 script\(s\) \(start\)")


def test_script_failing_at_start_stops_the_server(server, tmp_path):
    srv = lua_server(server, tmp_path, [("ok.lua", "x = 1"), ("broken.lua", "x = = 2")],
                     start=False)
    srv.start(wait=False)
    assert srv.proc.wait(15) != 0
    assert "cannot load broken.lua: broken.lua:1:" in srv.log()


VERSION = '''
function authorize(user, action, target)
  if target == "probe" then return false, "version %s" end
end
'''


def test_reload_on_file_change_keeps_connections(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", VERSION % "one")])
    path = srv.script_dir / "policy.lua"

    async def go():
        alice = await connect(srv, "alice")
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version one")
        rewrite(path, VERSION % "two")
        await asyncio.get_running_loop().run_in_executor(
            None, wait_count, srv, "reloaded 1 script(s) (file changed)", 1)
        # the same connection, the new script
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version two")
    run_closing(go())


def test_reload_on_sighup(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", VERSION % "one")])
    path = srv.script_dir / "policy.lua"

    async def go():
        alice = await connect(srv, "alice")
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version one")
        # Same size, inode and mtime: the file watch cannot see it, SIGHUP must.
        st = os.stat(path)
        with open(path, "r+") as f:
            f.write(VERSION % "new")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        await asyncio.sleep(1.5)
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version one")
        srv.signal(signal.SIGHUP)
        await asyncio.get_running_loop().run_in_executor(
            None, wait_count, srv, "reloaded 1 script(s) (SIGHUP)", 1)
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version new")
    run_closing(go())


def test_broken_reload_keeps_previous_version_and_logs_why(server, tmp_path):
    srv = lua_server(server, tmp_path, [("policy.lua", VERSION % "one")])
    path = srv.script_dir / "policy.lua"

    async def go():
        alice = await connect(srv, "alice")
        loop = asyncio.get_running_loop()
        rewrite(path, "function authorize(\n  return false\nend\n")
        await loop.run_in_executor(None, wait_count, srv,
                                   "reload (file changed) failed, keeping the previous scripts: "
                                   "cannot load policy.lua: policy.lua:2:", 1)
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version one")
        # a top level that fails is refused the same way
        rewrite(path, "error('not today')\n" + VERSION % "bad")
        await loop.run_in_executor(None, wait_count, srv, "policy.lua:1: not today", 1)
        srv.signal(signal.SIGHUP)
        await loop.run_in_executor(None, wait_count, srv,
                                   "reload (SIGHUP) failed, keeping the previous scripts", 1)
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version one")
        # fixing the file is enough
        rewrite(path, VERSION % "three")
        await loop.run_in_executor(None, wait_count, srv, "reloaded 1 script(s) (file changed)", 1)
        await expect_error(alice, "join", {"room": "probe"}, "forbidden", "version three")
    run_closing(go())
    assert count_log(srv, "reloaded 1 script(s)") == 1


def test_scripts_list_absolute_then_relative_on_continuation_line(server, tmp_path):
    # The first entry absolute, the second relative to the config's directory
    # and on an indented continuation line.
    first = tmp_path / "elsewhere" / "first.lua"
    first.parent.mkdir()
    first.write_text('function authorize(u, a, t) if t == "one" then return false, "first" end end')
    second = '''function authorize(u, a, t) if t == "two" then return false, "second" end end'''
    srv = lua_server(server, tmp_path, [(str(first), None), ("rel/second.lua", second)],
                     lua={"scripts": f"{first}\n  rel/second.lua"})

    async def go():
        alice = await connect(srv, "alice")
        await expect_error(alice, "join", {"room": "one"}, "forbidden", "first")
        await expect_error(alice, "join", {"room": "two"}, "forbidden", "second")
    run_closing(go())
    srv.wait_log(r"loaded 2 script\(s\) \(start\)")

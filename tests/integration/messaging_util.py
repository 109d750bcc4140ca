"""Helpers shared by the messaging tests (test_message, test_read, test_rooms,
test_broadcast, test_offline): configs with one plugin changed, exact checks of
acks and errors, and a Lua policy fixture for the forbidden/filtered paths."""
import asyncio
import os
import re
import time

import pytest
import websockets

from conftest import PLUGIN_DIR, default_sections, recv, request

ID_RE = re.compile(r"^[0-9A-Za-z]{26}$")
HAVE_LUA = os.path.exists(os.path.join(PLUGIN_DIR, "lua.so"))
needs_lua = pytest.mark.skipif(not HAVE_LUA, reason="lua plugin not built")


def run(coro, timeout=30):
    """conftest.run, plus a close handshake for every WebSocket the coroutine
    opened: a connection left open when the loop ends makes the websockets
    client wait its close_timeout (10 s) on each test."""
    opened = []
    real_connect = websockets.connect

    def tracking_connect(*args, **kw):
        async def connect():
            ws = await real_connect(*args, **kw)
            opened.append(ws)
            return ws
        return connect()

    async def main():
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)

    websockets.connect = tracking_connect
    try:
        return asyncio.run(main())
    finally:
        websockets.connect = real_connect


def sections(store=None, **plugins):
    """The default sections; store: the [store_memory] keys; plugins: name ->
    dict of keys (replaces the section) or None (removes it)."""
    s = default_sections()
    s["store_memory"] = dict(store or {})
    for name, body in plugins.items():
        if body is None:
            s.pop(name, None)
        else:
            s[name] = body
    return s


def now_ms():
    return int(time.time() * 1000)


def assert_ack(reply, ref):
    """An ack {id, ts} for ref; returns its data."""
    assert reply["type"] == "ack", reply
    assert reply["ref"] == ref, reply
    data = reply["data"]
    assert set(data) == {"id", "ts"}, reply
    assert isinstance(data["id"], str) and ID_RE.match(data["id"]), reply
    assert isinstance(data["ts"], int) and abs(data["ts"] - now_ms()) < 60000, reply
    return data


def assert_error(reply, code, ref):
    assert reply["type"] == "error", reply
    assert reply["ref"] == ref, reply
    assert set(reply["data"]) == {"code", "message"}, reply
    assert reply["data"]["code"] == code, reply
    assert isinstance(reply["data"]["message"], str) and reply["data"]["message"], reply
    return reply["data"]["message"]


async def expect_error(ws, type_, data, code, ref="err"):
    """Send a command that must fail with code; returns the error message."""
    return assert_error(await request(ws, type_, data, ref=ref), code, ref)


async def expect_unknown(ws, type_, data=None):
    await expect_error(ws, type_, data if data is not None else {}, "unknown_type")


async def message(ws, to, ref="m", **fields):
    """Send a direct message; returns the ack data {id, ts}."""
    return assert_ack(await request(ws, "message", dict(to=to, **fields), ref=ref), ref)


async def recv_event(ws, type_, timeout=5):
    """The next frame, which must be an event (no ref) of type_; returns data."""
    msg = await recv(ws, timeout)
    assert msg.get("type") == type_, msg
    assert "ref" not in msg, msg
    return msg["data"]


async def drain(ws, wait=0.2):
    """Read and drop whatever arrives within wait seconds; returns the frames."""
    out = []
    while True:
        try:
            out.append(await recv(ws, wait))
        except Exception:
            return out


async def join(ws, room, ref="j"):
    reply = await request(ws, "join", {"room": room}, ref=ref)
    assert reply["type"] == "join" and reply["ref"] == ref, reply
    return reply["data"]


POLICY = r'''
function authorize(user, action, target, data)
  if action == "message" and target == "mallory" then
    return false, "mallory does not accept messages from you"
  end
  if action == "join" and target == "secret" then return false, "secret is closed" end
  if action == "publish" and target == "quiet" then return false, "quiet room" end
  if action == "broadcast" and user == "mallory" then return false, "no broadcasts for you" end
  return true
end

function filter(msg)
  if msg.data.text == "badword" then return nil, "language" end
  if msg.data.text == "shout" then
    msg.data.text = "SHOUT"
    msg.data.from = "spoofed-by-filter"
    msg.data.id = "spoofed-by-filter"
  end
  return msg
end
'''


def lua_sections(tmp_path, store=None, **plugins):
    """The default sections plus [lua] running POLICY (first, so it provides
    the hooks before anything else)."""
    path = tmp_path / "policy.lua"
    path.write_text(POLICY)
    s = {"lua": {"scripts": str(path)}}
    s.update(sections(store, **plugins))
    return s

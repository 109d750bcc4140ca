"""Helpers for the Lua policy tests (test_lua, test_lua_examples): start a
server whose [lua] section runs given scripts, check error replies, refuse a
handshake, rewrite a script and wait for the reload."""
import json
import os
import time

from conftest import SOURCE_DIR, default_sections, http_request, recv, run, send

EXAMPLES = os.path.join(SOURCE_DIR, "lua", "examples")


def lua_server(server, tmp_path, scripts, lua=None, sections=None, start=True, name="srvlua"):
    """Start a server whose [lua] runs scripts in order.

    scripts: a list of (file name relative to the config's directory, text);
    text None means the name is a path used as it is (e.g. a shipped example).
    lua: more [lua] keys. sections: the other sections (default: messaging
    plugins, auth none, store_memory); [lua] comes first."""
    wd = tmp_path / name
    wd.mkdir(parents=True, exist_ok=True)
    for fname, text in scripts:
        if text is None:
            continue
        path = wd / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    keys = {"scripts": " ".join(fname for fname, _ in scripts)}
    keys.update(lua or {})
    all_sections = {"lua": keys}
    all_sections.update(sections if sections is not None else default_sections())
    srv = server(sections=all_sections, workdir=str(wd), start=start)
    srv.script_dir = wd
    return srv


_OPEN = []


async def connect(srv, client_id=None, **kw):
    """srv.ws(...), closed by run_closing when the test's coroutine ends (a
    WebSocket left open costs a second or more at asyncio shutdown)."""
    ws = await srv.ws(client_id=client_id, **kw)
    _OPEN.append(ws)
    return ws


def run_closing(coro, timeout=30):
    """run(coro), then close every WebSocket opened through connect()."""
    async def wrapper():
        try:
            return await coro
        finally:
            while _OPEN:
                await _OPEN.pop().close()
    return run(wrapper(), timeout)


async def command(ws, type_, data=None, ref="r"):
    """Send a command and return its reply (the next frame with our ref)."""
    await send(ws, type_, data, ref=ref)
    while True:
        msg = await recv(ws)
        if msg.get("ref") == ref:
            return msg


async def expect_error(ws, type_, data, code, message=None, ref="e"):
    """The command must fail with code (and exactly message, when given)."""
    reply = await command(ws, type_, data, ref)
    assert reply["type"] == "error", reply
    assert reply["data"]["code"] == code, reply
    if message is not None:
        assert reply["data"]["message"] == message, reply
    return reply["data"]["message"]


async def expect_ok(ws, type_, data=None, want=None, ref="ok"):
    """The command must succeed: its reply's type is want (default: type_)."""
    reply = await command(ws, type_, data, ref)
    assert reply["type"] == (want or type_), reply
    return reply


def handshake(srv, query):
    """A raw WebSocket upgrade of /ws?query: (status, body text)."""
    status, _, body = http_request(srv.port, "GET", f"/ws?{query}", headers={
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
    return status, body.decode("utf-8", "replace")


def api_post(srv, path, body, key="k"):
    """POST a JSON body to the push API: (status, parsed JSON or raw body)."""
    status, hdrs, raw = srv.http("POST", path, json.dumps(body), {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def rewrite(path, text):
    """Replace a script's text atomically (write aside, rename over), as
    editors and deploy tools do: the 1 s poll never sees a half-written file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def count_log(srv, needle):
    return srv.log().count(needle)


def wait_count(srv, needle, n, timeout=6):
    """Wait until needle appears at least n times in the log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if count_log(srv, needle) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not seen {n} times:\n{srv.log()[-4000:]}")

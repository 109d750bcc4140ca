"""Helpers for the dialect tests (test_dialect_*.py): raw upgrade answers,
the push API, room membership polling, clients closed at the end, and the
drop-in configurations of conf/ made runnable from the build tree."""
import json
import os
import re
import time

from conftest import free_port, PLUGIN_DIR, SOURCE_DIR, http_request, run

KEY = "k"


def upgrade_status(srv, target):
    """The status of a raw WebSocket upgrade of target, and its body."""
    status, _, body = http_request(srv.port, "GET", target, headers={
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
    return status, body.decode("utf-8", "replace")


def api(srv, method, path, body=None):
    status, _, raw = srv.http(method, path, json.dumps(body) if body is not None else None,
                              {"Authorization": f"Bearer {KEY}",
                               "Content-Type": "application/json"})
    return status, json.loads(raw) if raw else None


def wait_members(srv, room, want, timeout=10):
    """Poll the push API until room's members are exactly want."""
    deadline = time.time() + timeout
    while True:
        status, body = api(srv, "GET", f"/api/rooms/{room}/members")
        if status == 200 and sorted(body["users"]) == sorted(want):
            return
        assert time.time() < deadline, f"members of {room}: {body}, want {want}"
        time.sleep(0.05)


def wait_offline(srv, user, timeout=10):
    """Poll the push API until user has no connection on srv."""
    deadline = time.time() + timeout
    while True:
        status, body = api(srv, "GET", "/api/users")
        if status == 200 and user not in body["users"]:
            return
        assert time.time() < deadline, f"{user} still online: {body}"
        time.sleep(0.05)


def run_closing(body, timeout=30):
    """Run body(open_), where open_(srv, query, path) opens a WebSocket (a chat
    one by default) and remembers it; all are closed at the end, so the
    server's shutdown never waits on them."""
    async def main():
        opened = []

        async def open_(srv, query=None, path="/chat"):
            ws = await srv.ws(path=path, query=query)
            opened.append(ws)
            return ws
        try:
            return await body(open_)
        finally:
            for ws in opened:
                await ws.close()
    return run(main(), timeout)


def shipped(name, port, tmp_path):
    """conf/NAME as shipped, with plugin_dir and script paths pointing into
    the build and the source tree, and listen on a free port."""
    with open(os.path.join(SOURCE_DIR, "conf", name)) as f:
        text = f.read()
    text = re.sub(r"(?m)^plugin_dir\s*=.*$", f"plugin_dir = {PLUGIN_DIR}", text)
    # [server] listen first; a [grpc] listen (notify.conf) gets a port of its own.
    text = re.sub(r"(?m)^listen\s*=\s*127\.0\.0\.1:9003", f"listen = 127.0.0.1:{free_port()}",
                  text)
    text = re.sub(r"(?m)^listen\s*=.*$", f"listen = 127.0.0.1:{port}", text, count=1)
    text = re.sub(r"(?m)^scripts\s*=\s*\.\./lua/policy.lua",
                  f"scripts = {os.path.join(SOURCE_DIR, 'lua', 'policy.lua')}", text)
    return re.sub(r"(?m)^path\s*=\s*\.\./data-notify", f"path = {tmp_path / 'data'}", text)



"""What a service manager sees: [server] log_format = json (one object per
line, conn/ip/user on connection lines), text under systemd's journal (no
time, a <N> priority), and sd_notify (READY=1 once listening with the store
ready, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 at shutdown) when the
server was built with libsystemd."""
import json
import os
import re
import signal
import socket
import time

import pytest

from conftest import BUILD_DIR, default_sections, http_request, run


def built_with_systemd():
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return re.search(r"(?m)^SYSTEMD_FOUND:INTERNAL=1$", f.read()) is not None
    except OSError:
        return False


def test_json_log_lines(server):
    srv = server(server_keys={"log_format": "json"})

    async def session():
        ws = await srv.ws(client_id="alice")
        await ws.close()

    run(session())
    srv.wait_log(r'"msg":"authenticated as alice"')
    assert srv.stop() == 0
    lines = [l for l in srv.log().splitlines() if l.strip()]
    objs = [json.loads(l) for l in lines]  # every line is one JSON object
    for o in objs:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"]), o
        assert o["level"] in ("debug", "info", "warn", "error"), o
        assert isinstance(o["plugin"], str) and isinstance(o["msg"], str), o
    assert any(o["plugin"] == "auth" for o in objs)
    assert any(o["plugin"] == "core" and o["msg"].startswith("listening on") for o in objs)
    conn_lines = [o for o in objs if "conn" in o]
    assert conn_lines, lines
    for o in conn_lines:
        assert isinstance(o["conn"], int) and o.get("ip", "127.0.0.1") == "127.0.0.1", o
        assert not o["msg"].startswith("conn "), o
    assert any(o.get("ip") == "127.0.0.1" for o in conn_lines), conn_lines
    authed = [o for o in conn_lines if o["msg"] == "authenticated as alice"]
    assert len(authed) == 1 and authed[0]["user"] == "alice", conn_lines


def test_text_under_the_journal(server, tmp_path):
    srv = server(start=False)
    open(srv.log_path, "ab").close()
    st = os.stat(srv.log_path)
    srv.env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    srv.start()
    assert srv.stop() == 0
    lines = srv.log().splitlines()
    assert lines and all(re.match(r"^<[3467]>(DEBUG|INFO|WARN|ERROR) ", l) for l in lines), lines
    assert any(l.startswith("<6>INFO listening on") for l in lines), lines
    # A JOURNAL_STREAM that is not our stderr (inherited, redirected): times kept.
    other = server(env={"JOURNAL_STREAM": "1:1"})
    assert other.stop() == 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\S+Z INFO ", other.log()), other.log()


class Notify:
    """A NOTIFY_SOCKET of our own, as systemd's."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.states = []

    def wait_for(self, state, timeout=15):
        """The first datagram with the line state (those before it dropped)."""
        return self.wait_for_prefix(state, timeout, whole=True)

    def wait_for_prefix(self, state, timeout=15, whole=False):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, msg in enumerate(self.states):
                if any(l == state if whole else l.startswith(state) for l in msg.split("\n")):
                    del self.states[: i + 1]
                    return msg
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                self.states.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        raise AssertionError(f"no {state} from the server; got {self.states}")


@pytest.mark.skipif(not built_with_systemd(), reason="built without libsystemd (no sd_notify)")
def test_sd_notify(server, tmp_path):
    note = Notify(str(tmp_path / "notify"))
    srv = server(env={"NOTIFY_SOCKET": note.path}, start=False)
    srv.start(wait=False)
    msg = note.wait_for("READY=1")
    # The listener is up when READY=1 is sent.
    assert http_request(srv.port, "GET", "/ready", timeout=5)[0] == 200
    assert f"STATUS=listening on 127.0.0.1:{srv.port}" in msg, msg
    srv.signal(signal.SIGHUP)
    note.wait_for("RELOADING=1")
    note.wait_for("READY=1")
    srv.signal(signal.SIGTERM)
    note.wait_for("STOPPING=1")
    srv.proc.wait(20)
    assert srv.proc.returncode == 0


@pytest.mark.skipif(not built_with_systemd(), reason="built without libsystemd (no sd_notify)")
def test_sd_notify_waits_for_the_store(server, tmp_path):
    from redis_util import REDIS_SERVER, Redis
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("no redis-server")
    redis = Redis(str(tmp_path / "redis"))
    sections = default_sections(store=None)
    sections["store_redis"] = {"url": redis.url, "wait": "yes"}
    note = Notify(str(tmp_path / "notify"))
    srv = server(sections=sections, env={"NOTIFY_SOCKET": note.path}, start=False)
    srv.start(wait=False)
    try:
        # Listening, but the store is not ready: systemd is told why, not READY.
        msg = note.wait_for_prefix("STATUS=waiting: ")
        assert "READY=1" not in msg.split("\n"), msg
        assert not any("READY=1" in m.split("\n") for m in note.states), note.states
        redis.start()
        msg = note.wait_for("READY=1", timeout=30)
    finally:
        srv.stop()
        redis.kill()

"""Shared harness for the integration tests: start the real switchboard binary
with a generated config, talk to it with real WebSocket clients and raw sockets,
and fail any test whose server printed a sanitizer report or did not exit 0.

Use:
    def test_x(server):                      # default config: auth none, store_memory
        srv = server()                       # or server(sections={...}, server_keys={...})
        async def go():
            ws = await srv.ws(client_id="alice")
            await send(ws, "ping", ref=1)
            assert (await recv(ws))["type"] == "pong"
        run(go())
"""
import asyncio
import json
import os
import re
import shutil
import signal as _signal
import socket
import subprocess
import tempfile
import time

import pytest
import websockets

SOURCE_DIR = os.environ.get("SB_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("SB_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
BINARY = os.path.join(BUILD_DIR, "switchboard")
PLUGIN_DIR = os.path.join(BUILD_DIR, "plugins")
SANITIZED = os.environ.get("SB_SANITIZE", "0") in ("1", "ON", "true")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")

# The messaging plugins, in the order of the default plugins.conf.
MESSAGING = ["auth", "message", "read", "rooms", "broadcast", "members"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(coro, timeout=30):
    """Run one coroutine to completion with an overall timeout."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def make_conf(port, server_keys=None, sections=None, plugin_dir=PLUGIN_DIR):
    """INI text: [server] with our defaults + server_keys, then the sections
    (an ordered dict name -> dict of keys; {} is an enabled section)."""
    keys = {"listen": f"127.0.0.1:{port}", "plugin_dir": plugin_dir, "log_level": "debug"}
    keys.update(server_keys or {})
    out = ["[server]"] + [f"{k} = {v}" for k, v in keys.items()]
    for name, body in (sections or {}).items():
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in (body or {}).items()]
    return "\n".join(out) + "\n"


def default_sections(store="store_memory", auth=None):
    """All messaging plugins with auth mode none and one store."""
    sections = {name: {} for name in MESSAGING}
    sections["auth"] = dict(auth or {"mode": "none"})
    if store:
        sections[store] = {}
    return sections


class Server:
    def __init__(self, workdir, conf_text, env=None, port=None, args=None, expect_exit=0):
        self.workdir = workdir
        self.port = port
        self.conf_path = os.path.join(workdir, "plugins.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf_text)
        self.env = dict(os.environ)
        self.env.update({"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
                         "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"})
        self.env.update(env or {})
        self.args = args or []
        self.expect_exit = expect_exit
        self.proc = None
        self.log_path = os.path.join(workdir, "server.log")
        self.stopped = False

    # --- process ---
    def start(self, wait=True, timeout=15):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "-c", self.conf_path] + self.args,
                                     cwd=self.workdir, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                status, _, _ = http_request(self.port, "GET", "/health", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10):
        """Wait until the log matches regex pattern; return the match."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError(f"log never matched {pattern!r}:\n{self.log()[-4000:]}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=_signal.SIGTERM, timeout=20):
        """Stop the server and return its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop in {timeout}s:\n{self.log()[-4000:]}")
        return self.proc.returncode

    def kill(self):
        """SIGKILL: a crash. Sanitizer and exit checks are skipped."""
        self.proc.kill()
        self.proc.wait()
        self.stopped = True

    def check_clean(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in server log:\n{text[-6000:]}"

    # --- clients ---
    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    async def ws(self, client_id=None, path="/ws", query=None, headers=None, **kw):
        """Open a WebSocket; client_id and query (dict) go into the query string."""
        params = dict(query or {})
        if client_id is not None:
            params["client_id"] = client_id
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        url = self.url + path + ("?" + qs if qs else "")
        kw.setdefault("close_timeout", 1)
        return await websockets.connect(url, extra_headers=headers, max_size=None,
                                        ping_interval=None, open_timeout=10, **kw)

    def http(self, method, path, body=None, headers=None, timeout=10):
        return http_request(self.port, method, path, body, headers, timeout)

    def raw(self):
        """A connected raw TCP socket."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s


@pytest.fixture
def server(tmp_path):
    """Factory: server(sections=None, server_keys=None, env=None, conf=None,
    start=True, args=None). Defaults: every messaging plugin, auth none,
    store_memory. Every server is stopped at teardown with SIGTERM; it must exit
    0 (unless killed) and print no sanitizer report."""
    made = []

    def factory(sections=None, server_keys=None, env=None, conf=None, start=True, args=None,
                workdir=None):
        port = free_port()
        if sections is None:
            sections = default_sections()
        text = conf if conf is not None else make_conf(port, server_keys, sections)
        wd = workdir or str(tmp_path / f"srv{len(made)}")
        os.makedirs(wd, exist_ok=True)
        srv = Server(wd, text, env=env, port=port, args=args)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in made:
        if srv.proc is None or srv.stopped:
            continue
        if srv.proc.poll() is None:
            code = srv.stop()
            assert code == 0, f"server exit {code}:\n{srv.log()[-4000:]}"
        srv.check_clean()


# --- WebSocket helpers ---

async def send(ws, type_, data=None, ref=None, **extra):
    msg = {"type": type_}
    if ref is not None:
        msg["ref"] = ref
    if data is not None:
        msg["data"] = data
    msg.update(extra)
    await ws.send(json.dumps(msg))


async def recv(ws, timeout=5):
    """The next frame, parsed."""
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
    return json.loads(raw)


async def recv_type(ws, type_, timeout=5):
    """Skip frames until one of type_ arrives (e.g. skip presence noise)."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"no {type_} frame within {timeout}s")
        msg = await recv(ws, left)
        if msg.get("type") == type_:
            return msg


async def no_frame(ws, wait=0.3):
    """Assert nothing arrives within wait seconds."""
    try:
        raw = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected frame: {raw!r}")


async def request(ws, type_, data=None, ref=None, timeout=5):
    """Send a command and return the next frame (its reply)."""
    await send(ws, type_, data, ref)
    return await recv(ws, timeout)


async def closed_with(ws, timeout=5):
    """Wait for the server to close ws; return (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code, e.reason


# --- raw HTTP ---

def http_request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection; returns (status, headers dict lower-cased, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        h = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
        if body is not None:
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        return read_response(s)
    finally:
        s.close()


def read_response(s, buf=None):
    """Read one HTTP response from socket s. buf: a bytearray holding bytes
    already read (pipelining); leftovers stay in it."""
    if buf is None:
        buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {bytes(buf)!r}")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    buf[:] = body[n:]
    return status, hdrs, bytes(body[:n])


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key


def upgrade_request(path="/ws?client_id=alice", headers=None, drop=(), method="GET", key=WS_KEY):
    """The bytes of a WebSocket upgrade request: the standard headers, less
    those named in drop, overridden/extended by headers (in that order)."""
    h = {"Host": "x", "Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    for name in drop:
        h.pop(name, None)
    h.update(headers or {})
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            + "\r\n").encode()


def read_head(s, step=4096):
    """Read from socket s up to the end of an HTTP head, step bytes a recv
    (1: leave everything after it in the socket). Returns (head, rest):
    the head without its blank line, and the bytes read after it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(step)
        if not chunk:
            raise ConnectionError(f"closed during the head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def ws_upgrade(port, path="/ws?client_id=alice", extra=None, key=WS_KEY):
    """A raw socket after a successful upgrade (asserts 101). Returns
    (socket, head, rest): rest holds what the server sent after the head."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(upgrade_request(path, extra, key=key))
    head, rest = read_head(s)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, head, rest


def ws_handshake_raw(port, path="/ws?client_id=alice", extra=None, key=WS_KEY):
    """A raw socket after a successful upgrade (asserts 101). Returns the socket."""
    return ws_upgrade(port, path, extra, key)[0]


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """Encode one client frame (masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def read_raw_frame(s):
    """Read one server frame from raw socket s: (first byte, second byte,
    payload bytes as sent)."""
    def need(n):
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out
    b0, b1 = need(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(need(2), "big")
    elif n == 127:
        n = int.from_bytes(need(8), "big")
    return b0, b1, need(n)


def read_frame(s):
    """Read one server frame from raw socket s: (opcode, payload bytes)."""
    b0, b1, payload = read_raw_frame(s)
    assert not (b1 & 0x80), "server frames must not be masked"
    return b0 & 0x0F, payload


def read_close(s, timeout=5):
    """Read frames until a close frame; return its code (None if empty)."""
    s.settimeout(timeout)
    while True:
        op, payload = read_frame(s)
        if op == 8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None

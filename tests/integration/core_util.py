"""Helpers shared by the core's black-box tests (test_core_*.py): raw HTTP
requests on sockets the test controls, waiting for the server to drop a socket,
raw upgrade attempts that may fail, and configs without any messaging plugin."""
import socket
import time

from conftest import WS_KEY, default_sections, read_head, read_response, upgrade_request


def req_bytes(method, path, headers=None, body=b"", host="x"):
    """The bytes of one HTTP/1.1 request (keep-alive unless headers say otherwise)."""
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": host}
    if body:
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
            + "\r\n").encode() + body


def connect(port, timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def raw_exchange(port, data, timeout=10):
    """Send data on a fresh socket, read one response: (status, headers, body)."""
    s = connect(port, timeout)
    try:
        s.sendall(data)
        return read_response(s)
    finally:
        s.close()


def wait_eof(s, timeout):
    """Read until the peer closes (EOF or reset). Returns the seconds it took,
    or None when the socket was still open after timeout. Data is discarded."""
    start = time.time()
    deadline = start + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return time.time() - start
        if not chunk:
            return time.time() - start


def upgrade(port, path="/ws?client_id=alice", headers=None, drop=(), method="GET",
            key=WS_KEY, timeout=10):
    """Try a WebSocket upgrade. headers override/extend the standard ones; drop
    removes standard headers by name. Returns (status, headers, body, socket);
    the socket stays open (a 101 leaves a live WebSocket): close it."""
    s = connect(port, timeout)
    s.sendall(upgrade_request(path, headers, drop, method, key))
    head, rest = read_head(s)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    body = rest
    n = int(hdrs.get("content-length", "0")) if status != 101 else 0
    while len(body) < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return status, hdrs, body, s


def refused(port, status, **kw):
    """Assert an upgrade is refused with status, a one-line reason body, and
    the connection closed after it. Returns the body text."""
    st, hdrs, body, s = upgrade(port, **kw)
    try:
        assert st == status, (st, hdrs, body)
        text = body.decode()
        assert text.endswith("\n") and text.count("\n") == 1 and len(text.strip()) > 3, body
        assert hdrs["content-length"] == str(len(body)), hdrs
        assert wait_eof(s, 5) is not None, "server kept a refused upgrade open"
        return text.strip()
    finally:
        s.close()


def no_auth_sections():
    """The messaging plugins and a store, but no [auth] section."""
    s = default_sections()
    s.pop("auth")
    return s

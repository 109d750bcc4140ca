"""A TLS 1.3 KeyUpdate (update requested) from a client that reads nothing,
with the server's socket full: the server reads the command that follows it
without spinning, sends its own KeyUpdate once there is room, and every byte
arrives. OpenSSL 3.0 answers a KeyUpdate on the next SSL_write, so the
server's SSL_read meets SSL_ERROR_WANT_WRITE only when that answer is stuck
half-written in a full socket (a sub-record of free space: not reproducible
from a client); conn.c waits for room then, as this test checks it does in
the reproducible case. Python's ssl cannot send a KeyUpdate, so the client is
libssl itself through ctypes."""
import asyncio
import base64
import ctypes
import json
import os
import socket
import struct
import time

import pytest

from conftest import free_port, recv_type, run, send
from tls_util import make_ca

SSL_KEY_UPDATE_REQUESTED = 1
MESSAGES, BODY = 100, 60000  # 6 MB for alice: more than the socket buffers hold


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(str(tmp_path_factory.mktemp("ca")))


class RawTLS:
    """A blocking TLS 1.3 client on libssl, certificate not checked."""

    def __init__(self, port):
        lib = ctypes.CDLL("libssl.so.3")
        for name in ("TLS_client_method", "SSL_CTX_new", "SSL_new"):
            getattr(lib, name).restype = ctypes.c_void_p
        lib.SSL_CTX_new.argtypes = [ctypes.c_void_p]
        lib.SSL_new.argtypes = [ctypes.c_void_p]
        for name in ("SSL_set_fd", "SSL_connect", "SSL_write", "SSL_read", "SSL_key_update",
                     "SSL_do_handshake", "SSL_get_error", "SSL_free", "SSL_CTX_free"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.SSL_set_fd.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.SSL_write.argtypes = lib.SSL_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                          ctypes.c_int]
        lib.SSL_key_update.argtypes = lib.SSL_get_error.argtypes = [ctypes.c_void_p,
                                                                    ctypes.c_int]
        self.lib = lib
        self.sock = socket.socket()
        # A small window: the server's socket fills after a few hundred KB.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Blocking reads that give up after 60 s instead of hanging the test.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 60, 0))
        self.sock.connect(("127.0.0.1", port))
        self.ctx = lib.SSL_CTX_new(lib.TLS_client_method())
        self.ssl = lib.SSL_new(self.ctx)
        lib.SSL_set_fd(self.ssl, self.sock.fileno())
        assert lib.SSL_connect(self.ssl) == 1, "TLS handshake failed"

    def write(self, data):
        r = self.lib.SSL_write(self.ssl, data, len(data))
        assert r == len(data), self.lib.SSL_get_error(self.ssl, r)

    def read(self):
        buf = ctypes.create_string_buffer(16384)
        r = self.lib.SSL_read(self.ssl, buf, len(buf))
        assert r > 0, f"SSL_read failed: {self.lib.SSL_get_error(self.ssl, r)}"
        return buf.raw[:r]

    def key_update(self):
        """Send a KeyUpdate that asks the server to update its keys too."""
        assert self.lib.SSL_key_update(self.ssl, SSL_KEY_UPDATE_REQUESTED) == 1
        assert self.lib.SSL_do_handshake(self.ssl) == 1

    def close(self):
        self.lib.SSL_free(self.ssl)
        self.lib.SSL_CTX_free(self.ctx)
        self.sock.close()


def text_frame(obj):
    payload = json.dumps(obj).encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_key_update_while_socket_full_waits_for_room(server, ca):
    tport = free_port()
    srv = server(server_keys={"tls_listen": f"127.0.0.1:{tport}",
                              "tls_cert": os.path.join(ca, "srv.pem"),
                              "tls_key": os.path.join(ca, "srv.key"), "rate_limit": 0,
                              "max_outbound_bytes": 64 * 1024 * 1024, "log_level": "info"})
    alice = RawTLS(tport)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        alice.write((f"GET /ws?client_id=alice HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += alice.read()
        assert b" 101 " in head.split(b"\r\n")[0], head
        got = head.split(b"\r\n\r\n", 1)[1]

        async def fill():
            bob = await srv.ws(client_id="bob")
            for i in range(MESSAGES):
                await send(bob, "message", {"to": "alice", "body": "x" * BODY}, ref=i)
            for i in range(MESSAGES):
                await recv_type(bob, "ack", timeout=30)
            await bob.close()

        run(fill())  # every message is in alice's queue or socket: both are full
        alice.key_update()
        alice.write(text_frame({"type": "ping", "ref": 99}))
        # The server reads the KeyUpdate and the ping; its answers wait for
        # room behind 6 MB: nothing may run the loop meanwhile.
        time.sleep(0.5)
        before = cpu_ticks(srv.proc.pid)
        time.sleep(3)
        spent = (cpu_ticks(srv.proc.pid) - before) / os.sysconf("SC_CLK_TCK")
        assert spent < 0.3, f"the server spun for {spent:.2f} s of CPU while the socket was full"
        deadline = time.time() + 60
        while b'"pong"' not in got:
            assert time.time() < deadline, "no pong after the KeyUpdate"
            got += alice.read()
        assert got.count(b"x" * 1000) >= MESSAGES * (BODY // 1000) - 60
        assert b'"ref":99' in got.split(b'"pong"')[-2][-200:] + got.split(b'"pong"')[-1][:200]
    finally:
        alice.close()

"""Helpers for the grpc plugin's tests: Python stubs generated at test time
from the repository's .proto files (Debian's protoc and grpc_tools), a server
with a [grpc] section on a free port, and calls through real grpcio channels."""
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time

import grpc
import h2.config
import h2.connection
import h2.events

from conftest import SOURCE_DIR, default_sections, free_port

PROTO_DIR = os.path.join(SOURCE_DIR, "plugins", "grpc", "proto")
WKT_DIR = "/usr/include"
PY = "/usr/bin/python3"

_stubs = {}


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def stubs():
    """(pb2, pb2_grpc, reflection v1alpha pb2, reflection v1 pb2), generated once
    per process into a temp dir. The reflection modules are loaded under
    names of their own: a generated grpc/ folder would shadow grpcio."""
    if _stubs:
        return _stubs["all"]
    out = tempfile.mkdtemp(prefix="sb-grpc-stubs-")
    protos = ["notificationspb/message.proto", "grpc/reflection/v1alpha/reflection.proto",
              "grpc/reflection/v1/reflection.proto"]
    subprocess.run(["protoc", f"-I{PROTO_DIR}", f"-I{WKT_DIR}", f"--python_out={out}"] + protos,
                   check=True)
    subprocess.run([PY, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"-I{WKT_DIR}",
                    f"--grpc_python_out={out}", protos[0]], check=True)
    sys.path.insert(0, out)
    from notificationspb import message_pb2, message_pb2_grpc  # noqa: E402
    r1a = _load("sb_reflection_v1alpha_pb2",
                os.path.join(out, "grpc", "reflection", "v1alpha", "reflection_pb2.py"))
    r1 = _load("sb_reflection_v1_pb2",
               os.path.join(out, "grpc", "reflection", "v1", "reflection_pb2.py"))
    _stubs["all"] = (message_pb2, message_pb2_grpc, r1a, r1)
    return _stubs["all"]


def grpc_sections(gport, store="store_memory", **grpc_keys):
    sections = default_sections(store=store)
    sections["grpc"] = {"listen": f"127.0.0.1:{gport}", **grpc_keys}
    return sections


def start(server, store="store_memory", sections=None, server_keys=None, workdir=None,
          **grpc_keys):
    """A server with the grpc plugin; returns (srv, gport)."""
    gport = free_port()
    if sections is None:
        sections = grpc_sections(gport, store=store, **grpc_keys)
    else:
        sections["grpc"] = {"listen": f"127.0.0.1:{gport}", **grpc_keys}
    srv = server(sections=sections, server_keys=server_keys, workdir=workdir)
    srv.wait_log(r"\[grpc\] listening on", timeout=10)
    return srv, gport


def channel(gport, **opts):
    options = [("grpc.enable_http_proxy", 0)] + list(opts.items())
    return grpc.insecure_channel(f"127.0.0.1:{gport}", options=options)


def string_any(text):
    from google.protobuf import any_pb2, wrappers_pb2
    a = any_pb2.Any()
    a.Pack(wrappers_pb2.StringValue(value=text))
    return a


def struct_any(obj):
    from google.protobuf import any_pb2, struct_pb2
    s = struct_pb2.Struct()
    s.update(obj)
    a = any_pb2.Any()
    a.Pack(s)
    return a


def grpc_frame(payload, compressed=False):
    """One length-prefixed gRPC message."""
    return bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload


class H2:
    """A raw HTTP/2 client (python3-h2) for what grpcio will not send: a
    request body that never comes, a compressed flag, GOAWAY at shutdown."""

    def __init__(self, gport):
        self.sock = socket.create_connection(("127.0.0.1", gport), timeout=10)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.initiate_connection()
        self.flush()
        self.events = []
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def start(self, path, extra=(), end=False):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", "POST"), (":scheme", "http"), (":path", path),
              (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
              ("te", "trailers")] + list(extra)
        self.conn.send_headers(sid, hs, end_stream=end)
        self.flush()
        return sid

    def send(self, sid, payload, end=True):
        self.conn.send_data(sid, payload, end_stream=end)
        self.flush()

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            self.closed = True
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            self.events.append(ev)
        self.flush()

    def wait(self, pred, timeout=10):
        """Read until pred(event) is true for some event; return that event."""
        deadline = time.time() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if pred(ev):
                    return ev
            seen = len(self.events)
            left = deadline - time.time()
            if left <= 0 or self.closed:
                raise AssertionError(f"no such event; got {self.events!r}")
            self._read(min(left, 1.0))

    def status(self, sid, timeout=10):
        """(grpc-status, grpc-message, response data bytes) of stream sid."""
        def done(ev):
            if isinstance(ev, h2.events.TrailersReceived) and ev.stream_id == sid:
                return True
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                return "grpc-status" in dict(ev.headers)
            return isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid
        ev = self.wait(done, timeout)
        assert not isinstance(ev, h2.events.StreamReset), ev
        hs = dict(ev.headers)
        data = b"".join(e.data for e in self.events
                        if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)
        return int(hs["grpc-status"]), hs.get("grpc-message", ""), data

    def wait_closed(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self._read(0.5)
        return self.closed

    def raw_frames(self, until, timeout=10):
        """Read frames below h2's state machine (which refuses a stream's
        answer once a GOAWAY came) until until(frame); returns them all."""
        from hyperframe.frame import Frame
        buf = b""
        frames = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            while len(buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(buf[:9]))
                if len(buf) < 9 + length:
                    break
                f.parse_body(memoryview(buf[9:9 + length]))
                buf = buf[9 + length:]
                frames.append(f)
                if until(f):
                    return frames
            self.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                self.closed = True
                break
            buf += data
        raise AssertionError(f"no such frame; got {frames!r}")

    def close(self):
        self.sock.close()

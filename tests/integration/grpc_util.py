"""Helpers for the grpc plugin's tests: Python stubs generated at test time
from the repository's .proto files (Debian's protoc and grpc_tools), a server
with a [grpc] section on a free port, and calls through real grpcio channels."""
import importlib.util
import os
import subprocess
import sys
import tempfile

import grpc

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


def start(server, store="store_memory", sections=None, server_keys=None, **grpc_keys):
    """A server with the grpc plugin; returns (srv, gport)."""
    gport = free_port()
    if sections is None:
        sections = grpc_sections(gport, store=store, **grpc_keys)
    else:
        sections["grpc"] = {"listen": f"127.0.0.1:{gport}", **grpc_keys}
    srv = server(sections=sections, server_keys=server_keys)
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

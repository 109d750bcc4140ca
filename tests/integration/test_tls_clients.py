"""Real clients over wss:// trusting a CA made at test time: npm `ws` (Debian's
node-ws, run by node) with permessage-deflate offered and not, and headless
Chromium (see test_web_browser.py for the driver setup). Each exchanges a
small message and one far larger than the 32 KiB deflate window."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import free_port
from tls_util import make_ca

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = shutil.which("node") or shutil.which("nodejs")
NODE_PATH = "/usr/share/nodejs"  # where Debian's node-* packages install


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(str(tmp_path_factory.mktemp("ca")))


def tls_server(server, ca, **extra):
    tport = free_port()
    keys = {"tls_listen": f"127.0.0.1:{tport}", "tls_cert": os.path.join(ca, "srv.pem"),
            "tls_key": os.path.join(ca, "srv.key"), "max_message_bytes": "1048576"}
    keys.update(extra)
    return server(server_keys=keys), tport


def have_node_ws():
    if not NODE:
        return False
    r = subprocess.run([NODE, "-e", "require('ws')"], env={**os.environ, "NODE_PATH": NODE_PATH},
                       capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not have_node_ws(), reason="node or node-ws missing (scripts/deps installs "
                    "nodejs and node-ws)")
@pytest.mark.parametrize("mode,compression", [("deflate", "yes"), ("plain", "yes"),
                                              ("deflate", "no")])
def test_npm_ws_over_wss(server, ca, mode, compression):
    _, tport = tls_server(server, ca, compression=compression)
    big = 200000
    r = subprocess.run([NODE, os.path.join(HERE, "ws_node_client.js"), str(tport),
                        os.path.join(ca, "ca.pem"), mode, str(big)],
                       env={**os.environ, "NODE_PATH": NODE_PATH}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["big_ok"] and out["big_len"] == big, out
    assert out["small"] == "hi"
    for ext, answered in zip(out["extensions"], out["answered"]):
        if mode == "deflate" and compression == "yes":
            assert ext == "permessage-deflate", out  # in use on the client
            assert answered == ("permessage-deflate; server_no_context_takeover; "
                                "client_no_context_takeover"), out  # the 101's header
        else:
            assert ext == "" and answered == "", out

"""Real clients over wss:// trusting a CA made at test time: npm `ws` (Debian's
node-ws, run by node) with permessage-deflate offered and not, and headless
Chromium (see test_web_browser.py for the driver setup). Each exchanges a
small message and one far larger than the 32 KiB deflate window."""
import base64
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import free_port
import test_web_browser
from test_web_browser import CHROMEDRIVER, CHROMIUM, WAIT
from tls_util import make_ca

browsers = test_web_browser.browsers  # the fixture: headless Chromium, own profile

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


def spki_hash(cert_path):
    """base64 SHA-256 of the certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list wants it."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


# In the page: alice and bob over wss://, the 101's extensions, a small message and one of
# `big` characters (far past the 32 KiB window) from alice to bob, bob's answer back.
EXCHANGE_JS = """
const [port, big, done] = arguments;
const words = 'the meeting tomorrow see thanks can will just what about when there ok ';
let body = '';
for (let i = 0; body.length < big; i++) body += words.split(' ')[(i * 7) % 13] + i + ' ';
body = body.slice(0, big);
function open(name) {
  return new Promise((ok, bad) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?client_id=${name}`);
    ws.onopen = () => ok(ws);
    ws.onerror = () => bad(new Error('cannot open ' + name));
  });
}
function next(ws, type) {
  return new Promise((ok) => {
    const on = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === type) { ws.removeEventListener('message', on); ok(m); }
    };
    ws.addEventListener('message', on);
  });
}
(async () => {
  const alice = await open('cr_alice'), bob = await open('cr_bob');
  let got = next(bob, 'message');
  alice.send(JSON.stringify({type: 'message', ref: 1, data: {to: 'cr_bob', body: body}}));
  const m1 = await got;
  got = next(alice, 'message');
  bob.send(JSON.stringify({type: 'message', ref: 2, data: {to: 'cr_alice', body: 'back'}}));
  const m2 = await got;
  done({extensions: [alice.extensions, bob.extensions], big_ok: m1.data.body === body,
        big_len: m1.data.body.length, from: m1.data.from, back: m2.data.body});
  alice.close(); bob.close();
})().catch((e) => done({error: String(e)}));
"""


@pytest.mark.skipif(not CHROMIUM or not CHROMEDRIVER,
                    reason="chromium or chromedriver is not installed (scripts/deps)")
def test_chromium_over_wss_negotiates_deflate(server, ca, browsers):
    _, tport = tls_server(server, ca)
    d = browsers("wss", (f"--ignore-certificate-errors-spki-list="
                         f"{spki_hash(os.path.join(ca, 'srv.pem'))}",))
    d.set_script_timeout(WAIT * 2)
    d.get(f"https://127.0.0.1:{tport}/health")  # a secure origin on the TLS port
    assert "ok" in d.page_source
    out = d.execute_async_script(EXCHANGE_JS, tport, 300000)
    assert "error" not in out, out
    assert out["big_ok"] and out["big_len"] == 300000 and out["from"] == "cr_alice", out
    assert out["back"] == "back"
    for ext in out["extensions"]:
        assert ext == ("permessage-deflate; server_no_context_takeover; "
                       "client_no_context_takeover"), out

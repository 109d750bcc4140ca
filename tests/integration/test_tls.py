"""TLS on the second listener (tls_listen): wss:// and HTTPS with the same
routes and endpoints as the plain port, plain HTTP and stalled handshakes on
the TLS port, certificate reload on SIGHUP, bad files at start."""
import asyncio
import os
import re
import signal
import socket
import ssl
import time

import pytest

from conftest import (Server, default_sections, free_port, make_conf, recv, recv_type, run,
                      send)
from tls_util import https_request, make_ca, peer_cn, tls_socket, wss


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(str(tmp_path_factory.mktemp("ca")))


def tls_keys(ca, tls_port, **extra):
    keys = {"tls_listen": f"127.0.0.1:{tls_port}", "tls_cert": os.path.join(ca, "srv.pem"),
            "tls_key": os.path.join(ca, "srv.key")}
    keys.update(extra)
    return keys


def test_wss_and_https_share_routes_with_plain(server, ca):
    tport = free_port()
    srv = server(server_keys=tls_keys(ca, tport))
    status, alpn, body = https_request(tport, ca, "GET", "/health")
    assert status == 200 and body.strip() == b"ok", (status, body)
    assert alpn == "http/1.1"

    async def go():
        alice = await wss(tport, ca, "/ws?client_id=alice")
        bob = await srv.ws(client_id="bob")  # plain port: the same registry
        await send(alice, "ping", ref=1)
        assert (await recv(alice))["type"] == "pong"
        big = "x" * 60000  # several TLS records, both ways
        await send(bob, "message", {"to": "alice", "body": big}, ref=2)
        msg = await recv_type(alice, "message", timeout=10)
        assert msg["data"]["body"] == big
        await send(alice, "message", {"to": "bob", "body": "over tls"}, ref=3)
        msg = await recv_type(bob, "message", timeout=10)
        assert msg["data"]["body"] == "over tls" and msg["data"]["from"] == "alice", msg
        await alice.close()
        await bob.close()

    run(go())


def test_plain_listener_off(tmp_path, ca):
    tport = free_port()
    conf = make_conf(0, tls_keys(ca, tport, listen=""), default_sections())
    srv = Server(str(tmp_path), conf, port=None)
    srv.start(wait=False)
    try:
        deadline = time.time() + 15
        while True:
            try:
                status, _, _ = https_request(tport, ca, "GET", "/health", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, srv.log()
            assert srv.proc.poll() is None, srv.log()
            time.sleep(0.05)
        assert not re.search(r"listening on \S+ \(port", srv.log()), srv.log()

        async def go():
            ws = await wss(tport, ca, "/ws?client_id=carol")
            await send(ws, "ping", ref=7)
            assert (await recv(ws))["ref"] == 7
            await ws.close()

        run(go())
    finally:
        assert srv.stop() == 0, srv.log()
        srv.check_clean()


def test_plain_http_to_tls_port_is_dropped(server, ca):
    tport = free_port()
    srv = server(server_keys=tls_keys(ca, tport))
    s = socket.create_connection(("127.0.0.1", tport), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"HTTP/1.1 200" not in got
    srv.wait_log(r"TLS handshake failed")
    assert srv.http("GET", "/health")[0] == 200  # still serving
    assert https_request(tport, ca, "GET", "/health")[0] == 200


def test_stalled_handshake_times_out(server, ca):
    tport = free_port()
    srv = server(server_keys=tls_keys(ca, tport, header_timeout="0.5"))
    stalled = socket.create_connection(("127.0.0.1", tport), timeout=10)
    # Half a ClientHello: a record header that promises more than is sent.
    stalled.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]) + b"\x01\x00")
    # Meanwhile a real client is served.
    assert https_request(tport, ca, "GET", "/health")[0] == 200
    start = time.time()
    stalled.settimeout(10)
    try:
        assert stalled.recv(4096) == b""
    except ConnectionResetError:
        pass
    assert time.time() - start < 8
    stalled.close()
    srv.wait_log(r"request head not complete in time")


def test_reload_keeps_connections_and_old_cert_on_bad_file(server, ca, tmp_path):
    tport = free_port()
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_bytes(open(os.path.join(ca, "srv.pem"), "rb").read())
    key.write_bytes(open(os.path.join(ca, "srv.key"), "rb").read())
    srv = server(server_keys=tls_keys(ca, tport, tls_cert=str(cert), tls_key=str(key)))
    assert peer_cn(tport, ca) == "first"

    async def go():
        ws = await wss(tport, ca, "/ws?client_id=dave")
        # A good pair: new handshakes get it, the open connection stays.
        cert.write_bytes(open(os.path.join(ca, "other.pem"), "rb").read())
        key.write_bytes(open(os.path.join(ca, "other.key"), "rb").read())
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"TLS: reloaded")
        assert await asyncio.get_running_loop().run_in_executor(None, peer_cn, tport, ca) == \
            "second"
        await send(ws, "ping", ref=1)
        assert (await recv(ws))["ref"] == 1
        # A bad file: the old pair stays and the log says why.
        cert.write_text("not a certificate\n")
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"TLS: tls_cert .*cert\.pem: .*\n.*reload failed, the certificate in force "
                     r"stays")
        assert await asyncio.get_running_loop().run_in_executor(None, peer_cn, tport, ca) == \
            "second"
        await send(ws, "ping", ref=2)
        assert (await recv(ws))["ref"] == 2
        await ws.close()

    run(go())


@pytest.mark.parametrize("which", ["garbage_cert", "missing_key", "mismatched", "expired"])
def test_bad_files_at_start_exit_2(tmp_path, ca, which):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    keys = tls_keys(ca, free_port())
    if which == "garbage_cert":
        keys["tls_cert"] = str(bad)
        want = r"tls_cert .*bad\.pem: "
    elif which == "missing_key":
        keys["tls_key"] = str(tmp_path / "absent.key")
        want = r"tls_key .*absent\.key: "
    elif which == "mismatched":
        keys["tls_key"] = os.path.join(ca, "other.key")
        want = r"tls_key .*other\.key: key values mismatch"
    else:
        keys["tls_cert"] = os.path.join(ca, "expired.pem")
        want = r"tls_cert .*expired\.pem: certificate has expired"
    conf = make_conf(free_port(), keys, default_sections())
    srv = Server(str(tmp_path), conf, port=None)
    srv.start(wait=False)
    assert srv.proc.wait(20) == 2, srv.log()
    assert re.search(want, srv.log()), srv.log()
    srv.check_clean()


def test_tls_without_cert_is_a_config_error(tmp_path):
    conf = make_conf(free_port(), {"tls_listen": f"127.0.0.1:{free_port()}"}, default_sections())
    srv = Server(str(tmp_path), conf, port=None)
    srv.start(wait=False)
    assert srv.proc.wait(20) == 2, srv.log()
    assert "tls_listen needs tls_cert and tls_key" in srv.log()


def test_tls_min_version_13_refuses_12(server, ca):
    tport = free_port()
    server(server_keys=tls_keys(ca, tport, tls_min_version="1.3"))
    from tls_util import client_context
    ctx = client_context(ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", tport), timeout=10)
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    raw.close()
    with tls_socket(tport, ca) as s:
        assert s.version() == "TLSv1.3"


def test_reload_under_load_drops_nobody(server, ca, tmp_path):
    """Senders over wss:// keep sending while the pair is swapped three
    times: every message is acked and delivered, no connection closes, and
    each new handshake after a reload sees the new certificate."""
    tport = free_port()
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"

    def install(name):
        cert.write_bytes(open(os.path.join(ca, f"{name}.pem"), "rb").read())
        key.write_bytes(open(os.path.join(ca, f"{name}.key"), "rb").read())

    install("srv")
    srv = server(server_keys=tls_keys(ca, tport, tls_cert=str(cert), tls_key=str(key),
                                      rate_limit="0"))
    pairs = 4

    def reloaded(count):
        deadline = time.time() + 30
        while time.time() < deadline:
            if srv.log().count("TLS: reloaded") >= count:
                return
            time.sleep(0.05)
        raise AssertionError("no reload in the log:\n" + srv.log()[-4000:])

    async def go():
        loop = asyncio.get_running_loop()
        senders = [await wss(tport, ca, f"/ws?client_id=ls{i}") for i in range(pairs)]
        receivers = [await wss(tport, ca, f"/ws?client_id=lr{i}") for i in range(pairs)]
        stop = asyncio.Event()
        sent = [0] * pairs
        got = [[] for _ in range(pairs)]

        async def drain(i):
            while True:
                msg = await recv(receivers[i], timeout=60)
                if msg["type"] == "message":
                    got[i].append(msg["data"]["body"])

        async def pump(i):
            ws = senders[i]
            while not stop.is_set():
                ref = sent[i] + 1
                await send(ws, "message", {"to": f"lr{i}", "body": f"m{ref}"}, ref=ref)
                ack = await recv(ws, timeout=20)
                assert ack["type"] == "ack" and ack["ref"] == ref, ack
                sent[i] = ref

        async def reloads():
            for n, name in enumerate(("other", "srv", "other"), start=1):
                await asyncio.sleep(0.3)  # let messages flow between reloads
                install(name)
                srv.signal(signal.SIGHUP)
                await loop.run_in_executor(None, reloaded, n)
                cn = await loop.run_in_executor(None, peer_cn, tport, ca)
                assert cn == ("second" if name == "other" else "first"), (n, cn)
            stop.set()

        drains = [asyncio.create_task(drain(i)) for i in range(pairs)]
        await asyncio.wait_for(asyncio.gather(reloads(), *(pump(i) for i in range(pairs))), 120)
        assert all(n > 0 for n in sent), sent
        deadline = time.time() + 30
        while any(len(got[i]) < sent[i] for i in range(pairs)) and time.time() < deadline:
            await asyncio.sleep(0.05)
        for d in drains:
            d.cancel()
        for i in range(pairs):
            assert got[i] == [f"m{k}" for k in range(1, sent[i] + 1)], (i, sent[i], got[i][-3:])
        for ws in senders + receivers:
            assert ws.open, ws.close_code
            await ws.close()

    run(go(), timeout=180)

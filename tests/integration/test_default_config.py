"""The shipped plugins.conf starts as it is (with listen and the data dir
overridden from the environment, as an operator would) and serves the
README's two-client session with LMDB durability across a restart."""
import os
import re

from conftest import PLUGIN_DIR, SOURCE_DIR, free_port, recv, request, run, send


def shipped_conf():
    with open(os.path.join(SOURCE_DIR, "plugins.conf")) as f:
        text = f.read()
    text = re.sub(r"(?m)^plugin_dir\s*=.*$", f"plugin_dir = {PLUGIN_DIR}", text)
    text = re.sub(r"(?m)^root\s*=\s*web$", f"root = {os.path.join(SOURCE_DIR, 'web')}", text)
    return re.sub(r"(?m)^scripts\s*=\s*lua/policy.lua",
                  f"scripts = {os.path.join(SOURCE_DIR, 'lua', 'policy.lua')}", text)


def test_shipped_config_session_survives_restart(server, tmp_path):
    data = str(tmp_path / "data")
    port = free_port()
    env = {"SWITCHBOARD_SERVER_LISTEN": f"127.0.0.1:{port}", "SWITCHBOARD_STORE_LMDB_PATH": data,
           "SWITCHBOARD_GRPC_LISTEN": f"127.0.0.1:{free_port()}"}
    wd = str(tmp_path / "w")
    srv = server(conf=shipped_conf(), env=env, start=False, workdir=wd)
    srv.port = port
    srv.start()
    log = srv.log()
    for name in ("auth", "message", "read", "rooms", "broadcast", "members", "lua", "store_lmdb",
                 "api", "web", "grpc"):
        assert f"plugin {name} " in log, log
    # The demo client at /, and the core's own paths beside it.
    status, hdrs, body = srv.http("GET", "/")
    assert status == 200 and hdrs["content-type"].startswith("text/html"), (status, hdrs)
    assert b"<title>switchboard" in body, body[:200]
    assert srv.http("GET", "/health")[2] == b"ok"

    async def offline_send():
        alice = await srv.ws(client_id="alice")
        ack = await request(alice, "message", {"to": "bob", "text": "hi"}, ref=1)
        assert ack["type"] == "ack" and ack["ref"] == 1, ack
        await alice.close()
        return ack["data"]["id"]

    mid = run(offline_send())
    assert srv.stop() == 0
    srv.start()

    async def deliver():
        alice = await srv.ws(client_id="alice")
        bob = await srv.ws(client_id="bob")
        msg = await recv(bob)
        assert msg["type"] == "message", msg
        assert msg["data"]["id"] == mid and msg["data"]["from"] == "alice", msg
        assert msg["data"]["text"] == "hi" and msg["data"]["to"] == "bob", msg
        await send(bob, "read", {"ids": [mid]})
        assert (await recv(bob)) == {"type": "read", "data": {"ids": [mid]}}
        receipt = await recv(alice)
        assert receipt == {"type": "receipt", "data": {"id": mid, "by": "bob", "status": "read"}}
        await alice.close()
        await bob.close()

    run(deliver())

"""The out-of-tree example dialect (examples/shout-dialect): built with its own
Makefile from a copy outside the tree against the installed SDK, loaded with
`module =`, and its clients talk to native clients through the real server."""
import json
import os
import shutil
import subprocess

import websockets

from conftest import BUILD_DIR, SOURCE_DIR, default_sections, recv_type, run, send

EXAMPLE = os.path.join(SOURCE_DIR, "examples", "shout-dialect")


def build(tmp_path):
    prefix = tmp_path / "prefix"
    out = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(prefix)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    src = tmp_path / "shout-dialect"
    shutil.copytree(EXAMPLE, src)
    so = tmp_path / "shout.so"
    out = subprocess.run(["make", "-C", str(src), f"SB_PREFIX={prefix}", f"OUT={so}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return so


def test_shout_dialect_talks_to_native_clients(server, tmp_path):
    so = build(tmp_path)
    sections = default_sections()
    sections["shout"] = {"module": str(so), "path": "/shout"}
    srv = server(sections=sections)
    assert "plugin shout 1.0.0 loaded" in srv.log()

    async def go():
        bob = await srv.ws(client_id="bob")
        alice = await websockets.connect(f"{srv.url}/shout?client_id=alice", open_timeout=10,
                                         close_timeout=1)
        await alice.send(json.dumps({"say": "hi", "to": "bob"}))
        ev = await recv_type(bob, "message")
        assert ev["data"]["from"] == "alice" and ev["data"]["text"] == "hi"
        await send(bob, "message", {"to": "alice", "text": "hello back"}, ref=1)
        heard = json.loads(await alice.recv())
        assert heard == {"heard": "hello back", "from": "bob"}
        await alice.send(json.dumps({"say": "x", "to": "not a user!"}))
        err = json.loads(await alice.recv())
        assert err["about"] == "x" and "to" in err["error"]
        await alice.send("nope")
        assert "a shout is" in json.loads(await alice.recv())["error"]
        await alice.close()
        await bob.close()

    run(go())

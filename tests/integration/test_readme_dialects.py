"""The README's "Replacing an existing server" snippets run as written against
the shipped drop-in configurations (conf/*.conf): only the port, the plugin
directory and the data paths are moved, by environment overrides, and the
snippet's host:port is rewritten to the test server's."""
import os
import re
import subprocess
import sys
import time

from conftest import PLUGIN_DIR, SOURCE_DIR, free_port, http_request

README = os.path.join(SOURCE_DIR, "README.md")
SECTION = "## Replacing an existing server"


def snippets():
    text = open(README).read()
    body = text[text.index(SECTION):]
    body = body[:body.index("\n## ", len(SECTION))]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def start(server, tmp_path, name, env_extra=None):
    with open(os.path.join(SOURCE_DIR, "conf", name)) as f:
        text = f.read()
    text = text.replace("../lua/", os.path.join(SOURCE_DIR, "lua") + "/")
    srv = server(conf=text, start=False)
    srv.env.update({"SWITCHBOARD_SERVER_LISTEN": f"127.0.0.1:{srv.port}",
                    "SWITCHBOARD_SERVER_PLUGIN_DIR": PLUGIN_DIR})
    srv.env.update(env_extra or {})
    srv.start()
    return srv


def run_snippet(code, old, srv, tmp_path, wait=None):
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(old, f"127.0.0.1:{srv.port}"))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if wait:
        wait(proc)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    return out


def test_readme_has_the_three_snippets():
    assert len(snippets()) == 3


def test_messaging_snippet(server, tmp_path):
    srv = start(server, tmp_path, "messaging.conf",
                {"SWITCHBOARD_STORE_LMDB_PATH": str(tmp_path / "data")})
    out = run_snippet(snippets()[0], "localhost:8080", srv, tmp_path)
    assert '{"sent":[{"id":11}]}' in out
    assert '{"messages":[{"id":11,"rid":31,"sid":21,"text":"hello"}]}' in out


def test_chat_snippet(server, tmp_path):
    srv = start(server, tmp_path, "chat.conf")
    out = run_snippet(snippets()[1], "localhost:8080", srv, tmp_path)
    lines = out.splitlines()
    assert re.fullmatch(r'\{"event":"broadcast","member":"guest-[0-9a-z]+",'
                        r'"message":"Hello, world!"\}', lines[0]), out
    assert re.fullmatch(r'\{"event":"list","members":\["guest-[0-9a-z]+"\]\}', lines[1]), out


def test_notify_snippet(server, tmp_path):
    srv = start(server, tmp_path, "notify.conf",
                {"SWITCHBOARD_STORE_LMDB_PATH": str(tmp_path / "data"),
                 "SWITCHBOARD_API_API_KEY": "k",
                 "SWITCHBOARD_GRPC_LISTEN": f"127.0.0.1:{free_port()}"})
    auth = {"Authorization": "Bearer k", "Content-Type": "application/json"}

    def publish_once_entered(proc):
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            status, _, body = http_request(srv.port, "GET", "/api/rooms/order-updates/members",
                                           headers=auth)
            if status == 200 and b'"alice"' in body:
                status, _, _ = http_request(srv.port, "POST", "/api/rooms/order-updates/publish",
                                            body=b'{"text":"Shipped!"}', headers=auth)
                assert status == 202
                return
            time.sleep(0.05)
        raise AssertionError("the snippet's client never entered the room")

    out = run_snippet(snippets()[2], "localhost:3003", srv, tmp_path, wait=publish_once_entered)
    assert '"type":"TYPE_INFO"' in out and '"message":"Shipped!"' in out
    assert '"room":"order-updates"' in out and '"from":"server"' in out

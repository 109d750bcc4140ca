"""Every snippet of the README and of docs/plugin-sdk.md runs as written:
the Python session (and exits at once: it closes its sockets), the push API's
curl lines (one JSON line each, as the comments show), the plugin snippet
built with the README's own `cc` line against the installed SDK, the SDK
guide's command, hook and store walk-throughs, and examples/hello-plugin's
build commands run from its own directory. Only the host and port change."""
import glob
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, default_sections, request, run

README = os.path.join(SOURCE_DIR, "README.md")
SDK_GUIDE = os.path.join(SOURCE_DIR, "docs", "plugin-sdk.md")
EXAMPLE = os.path.join(SOURCE_DIR, "examples", "hello-plugin")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def block_after(text, heading, lang):
    """The first ```lang block after the line `heading`."""
    start = text.index(heading)
    m = re.compile(r"^```" + lang + r"\n(.*?)^```", re.S | re.M).search(text, start)
    assert m, (heading, lang)
    return m.group(1)


def marked_blocks(text):
    """{name: code} of the ```c blocks preceded by <!-- snippet: NAME -->."""
    return dict(re.findall(r"<!-- snippet: (\S+) -->\n```c\n(.*?)^```", text, re.S | re.M))


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    """`cmake --install` into a temporary prefix; returns (prefix, pkg-config dir)."""
    prefix = tmp_path_factory.mktemp("prefix")
    out = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(prefix)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    pcs = glob.glob(str(prefix / "lib" / "**" / "pkgconfig" / "switchboard-plugin.pc"),
                    recursive=True)
    assert len(pcs) == 1, pcs
    return prefix, os.path.dirname(pcs[0])


def sh(script, cwd, env_extra=None, timeout=120):
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, script + "\n" + out.stdout + out.stderr
    return out.stdout


def test_python_session_runs_and_exits_at_once(server, tmp_path):
    srv = server()
    code = block_after(read(README), "## A two-client session", "python")
    assert "127.0.0.1:8080" in code
    script = tmp_path / "session.py"
    script.write_text(code.replace("127.0.0.1:8080", f"127.0.0.1:{srv.port}"))
    t0 = time.monotonic()
    out = subprocess.run(["/usr/bin/python3", str(script)], capture_output=True, text=True,
                         timeout=60)
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4, lines
    ack = json.loads(lines[0])
    assert ack["type"] == "ack" and ack["ref"] == 1, ack
    assert "'text': 'hi'" in lines[1] and "'from': 'alice'" in lines[1], lines[1]
    assert json.loads(lines[2]) == {"type": "read", "data": {"ids": [ack["data"]["id"]]}}
    assert json.loads(lines[3]) == {"type": "receipt", "data": {
        "id": ack["data"]["id"], "by": "bob", "status": "read"}}
    # Before the sockets were closed, the interpreter waited 10 s at exit.
    assert elapsed < 8, elapsed


def test_push_api_curl_lines(server):
    text = read(README)
    code = block_after(text, "## Push API (backends)", "sh")
    key = re.search(r"^KEY=(\S+);", code, re.M).group(1)
    sections = default_sections()
    sections["api"] = {"api_key": key}
    srv = server(sections=sections)

    async def go():
        # The users the comments assume: alice twice (closed: 2), bob, alice in "lobby one".
        a1 = await srv.ws(client_id="alice")
        a2 = await srv.ws(client_id="alice")
        b = await srv.ws(client_id="bob")
        await request(a1, "join", {"room": "lobby one"})
        out = sh(code.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{srv.port}"),
                 SOURCE_DIR)
        for ws in (a1, a2, b):
            await ws.close()
        return out

    out = run(go(), timeout=90)
    expected = re.findall(r"^# -> (\d+) (\{.*\})$", code, re.M)
    lines = out.splitlines()
    assert len(expected) == 6 and len(lines) == len(expected), (expected, out)
    for line, (_, shown) in zip(lines, expected):
        got = json.loads(line)  # one JSON document per line: the answers end with \n
        keys = set(re.findall(r'"(\w+)":', shown))
        assert set(got) == keys, (got, shown)
    assert json.loads(lines[3]) == {"users": ["alice", "bob"]}
    assert json.loads(lines[4]) == {"users": ["alice"], "more": False}
    assert json.loads(lines[5]) == {"closed": 2}


def build_with_readme_line(src, sdk_pc_dir, workdir, name="hello"):
    """Write src as hello.c and compile it with the README's own `cc` line."""
    cc = re.search(r"`(cc -shared[^`]*)`", read(README)).group(1)
    (workdir / "hello.c").write_text(src)
    sh(cc, str(workdir), {"PKG_CONFIG_PATH": sdk_pc_dir})
    so = workdir / "hello.so"
    assert so.exists()
    if name != "hello":
        so = so.rename(workdir / f"{name}.so")
    return so


def test_readme_plugin_snippet_builds_and_answers(server, sdk, tmp_path):
    _, pc_dir = sdk
    src = block_after(read(README), "## Writing a plugin", "c")
    assert "cmd->pc" not in src  # private member
    so = build_with_readme_line(src, pc_dir, tmp_path)
    sections = default_sections()
    sections["hello"] = {"path": str(so), "greeting": "hi there"}
    srv = server(sections=sections)

    async def go():
        ws = await srv.ws(client_id="alice")
        assert await request(ws, "hello", ref=1) == {
            "type": "hello", "ref": 1, "data": {"greeting": "hi there"}}
        await ws.close()

    run(go())


def compile_snippet(name, src, pc_dir, tmp_path):
    (tmp_path / name).write_text(src)
    so = tmp_path / (name[:-2] + ".so")
    sh(f'cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -Wl,-z,defs '
       f'$(pkg-config --cflags switchboard-plugin) {name} -o {so.name} '
       f'$(pkg-config --libs switchboard-plugin)', str(tmp_path), {"PKG_CONFIG_PATH": pc_dir})
    return so


def test_sdk_guide_walkthroughs_build_and_work(server, sdk, tmp_path):
    _, pc_dir = sdk
    blocks = marked_blocks(read(SDK_GUIDE))
    assert set(blocks) == {"sdk_command.c", "sdk_hooks.c", "sdk_store.c"}, set(blocks)
    so = {name: compile_snippet(name, src, pc_dir, tmp_path) for name, src in blocks.items()}

    sections = default_sections(store=None)
    sections["store_list"] = {"path": str(so["sdk_store.c"])}
    sections["hello"] = {"path": str(so["sdk_command.c"])}
    sections["banned"] = {"path": str(so["sdk_hooks.c"]), "word": "spam"}
    srv = server(sections=sections)

    async def go():
        alice = await srv.ws(client_id="alice")
        assert await request(alice, "hello", ref=1) == {
            "type": "hello", "ref": 1, "data": {"greeting": "hello"}}
        # The hook: a filtered message is refused and stored nowhere.
        err = await request(alice, "message", {"to": "bob", "text": "buy spam"}, ref=2)
        assert err["type"] == "error" and err["data"]["code"] == "filtered", err
        # The store: two messages wait for bob, reach him in order, read removes one.
        ids = []
        for i in range(2):
            ack = await request(alice, "message", {"to": "bob", "text": f"m{i}"}, ref=10 + i)
            assert ack["type"] == "ack", ack
            ids.append(ack["data"]["id"])
        bob = await srv.ws(client_id="bob")
        got = [json.loads(await bob.recv()) for _ in range(2)]
        assert [m["data"]["id"] for m in got] == ids and got[0]["data"]["text"] == "m0", got
        assert await request(bob, "read", {"ids": [ids[0], "nope"]}, ref=3) == {
            "type": "read", "ref": 3, "data": {"ids": [ids[0]]}}
        await bob.close()
        bob = await srv.ws(client_id="bob")
        again = json.loads(await bob.recv())
        assert again["data"]["id"] == ids[1], again
        await bob.close()
        await alice.close()

    run(go())
    assert "banned_opens_total" in srv.http("GET", "/metrics")[2].decode()


def test_example_builds_from_its_own_directory(sdk, tmp_path):
    """The example's README commands, run in examples/hello-plugin. The first
    (building switchboard) is what this test run already did in BUILD_DIR."""
    code = block_after(read(os.path.join(EXAMPLE, "README.md")), "## Build", "sh")
    lines = [line for line in code.splitlines() if line.strip()]
    assert lines[0].startswith("cmake -S ../.. -B ../../build"), lines[0]
    prefix = tmp_path / "sdk"
    out = tmp_path / "out"
    out.mkdir()
    script = "\n".join(lines[1:]).replace("../../build", BUILD_DIR)
    script = script.replace("/tmp/switchboard-sdk", str(prefix))
    # ./hello.so would land in the source tree: send it to out/ instead.
    script = script.replace("/tmp/hello.so", str(out / "hello2.so"))
    script = re.sub(r"^(make SB_PREFIX=\S+)(\s+#.*)?$", rf"\1 OUT={out}/hello.so",
                    script, flags=re.M)
    sh(script, EXAMPLE)
    assert (out / "hello.so").exists() and (out / "hello2.so").exists()
    assert not os.path.exists(os.path.join(EXAMPLE, "hello.so"))

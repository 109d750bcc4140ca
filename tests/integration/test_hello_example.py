"""The out-of-tree example (examples/hello-plugin): install the SDK with
`cmake --install`, build the example with its own Makefile from a copy outside
the source tree, load it with `path =`, and check its command end to end."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, default_sections, request, run

EXAMPLE = os.path.join(SOURCE_DIR, "examples", "hello-plugin")


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    """Install the build into a temporary prefix; returns (prefix, pkgconfig dir)."""
    prefix = tmp_path_factory.mktemp("prefix")
    out = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", str(prefix)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    # GNUInstallDirs puts it in lib/ or lib/<multiarch>/: find it.
    pcs = glob.glob(str(prefix / "lib" / "**" / "pkgconfig" / "switchboard-plugin.pc"),
                    recursive=True)
    assert len(pcs) == 1, pcs
    assert os.path.exists(prefix / "include" / "switchboard" / "plugin.h")
    return prefix, os.path.dirname(pcs[0])


def build_example(tmp_path, pc_dir, extra=()):
    """Copy the example out of the tree and run its Makefile; returns the .so path."""
    src = tmp_path / "hello-plugin"
    shutil.copytree(EXAMPLE, src)
    so = tmp_path / "hello.so"
    out = subprocess.run(["make", "-C", str(src), f"PKG_CONFIG_PATH={pc_dir}", f"OUT={so}"]
                         + list(extra), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert so.exists()
    return so


def exported_symbols(so):
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True,
                         check=True)
    return {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}


# The installed .pc derives its prefix from where it lies (${pcfiledir}), so
# `cmake --install --prefix <dir>` needs no other help.
def test_example_builds_from_installed_sdk(sdk, tmp_path):
    _, pc_dir = sdk
    build_example(tmp_path, pc_dir)


def test_example_plugin_answers(server, sdk, tmp_path):
    prefix, pc_dir = sdk
    so = build_example(tmp_path, pc_dir)
    syms = exported_symbols(so)
    assert "sb_plugin_entry" in syms
    assert not [s for s in syms if s.startswith("hello")], syms  # helpers stay hidden
    # The source tree stays clean: the build happened in the copy.
    assert not os.path.exists(os.path.join(EXAMPLE, "hello.so"))

    sections = default_sections()
    sections["hello"] = {"module": str(so), "greeting": "hi there"}
    srv = server(sections=sections)
    assert "plugin hello 1.0.0 loaded" in srv.log()

    async def go():
        ws = await srv.ws(client_id="alice")
        reply = await request(ws, "hello", ref="h1")
        assert reply == {"type": "hello", "ref": "h1", "data": {"greeting": "hi there"}}, reply
        reply = await request(ws, "hello", {"ignored": True}, ref=2)
        assert reply == {"type": "hello", "ref": 2, "data": {"greeting": "hi there"}}, reply
        await ws.close()

    run(go())

    # Without the key it greets the user by name.
    sections["hello"] = {"module": str(so)}
    srv2 = server(sections=sections)

    async def go2():
        ws = await srv2.ws(client_id="bob")
        reply = await request(ws, "hello", ref=3)
        assert reply == {"type": "hello", "ref": 3, "data": {"greeting": "hello, bob"}}, reply
        await ws.close()

    run(go2())

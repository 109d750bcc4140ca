"""Plugin loading and configuration (docs/design.md "The plugin ABI", "Configuration"):
refused plugins (ABI, missing symbol, failing init, missing file) stop the
start-up with the plugin's name and reason unless optional; enabled = no;
path =; the store rules; unknown keys; bad [server] values; environment
overrides; and the command line. The fixtures are tests/integration/plugins/*;
built by CMake into <build>/test-plugins, or here with cc when that is absent."""
import os
import re
import subprocess

import pytest

from conftest import (BINARY, BUILD_DIR, SOURCE_DIR, default_sections, recv_type, request, run,
                      send)
from lua_util import lua_server

FIXTURE_SRC = os.path.join(SOURCE_DIR, "tests", "integration", "plugins")
# The server speaks the minor of the SDK header it was built with.
with open(os.path.join(SOURCE_DIR, "include", "switchboard", "plugin.h")) as _h:
    ABI_MINOR = re.search(r"#define SB_ABI_MINOR (\d+)", _h.read()).group(1)
FIXTURES = {
    "probe": ("probe/probe.c", []),
    "bad_major": ("bad_abi/bad_abi.c", ["-DBAD_ABI_MAJOR=99", "-DBAD_ABI_MINOR=0"]),
    "bad_minor": ("bad_abi/bad_abi.c", ["-DBAD_ABI_MAJOR=1", "-DBAD_ABI_MINOR=99"]),
    "no_entry": ("no_entry/no_entry.c", []),
    "init_fails": ("init_fails/init_fails.c", []),
    # The probe built against the frozen copy of the 1.0 header.
    "probe_abi10": ("probe/probe.c", ["-I" + os.path.join(FIXTURE_SRC, "abi_1_0")]),
    "init_leaks": ("init_leaks/init_leaks.c", []),
    "filter_abi10": ("filter_abi10/filter_abi10.c",
                     ["-I" + os.path.join(FIXTURE_SRC, "abi_1_0")]),
}


@pytest.fixture(scope="module")
def fixture_so(tmp_path_factory):
    """name -> path of the fixture plugin's .so."""
    built = os.path.join(BUILD_DIR, "test-plugins")
    out = tmp_path_factory.mktemp("fixtures")
    cflags = subprocess.run(["pkg-config", "--cflags", "libcjson"], check=True,
                            capture_output=True, text=True).stdout.split()
    cache = {}

    def get(name):
        if name in cache:
            return cache[name]
        path = os.path.join(built, f"fixture_{name}.so")
        if not os.path.exists(path):
            src, defs = FIXTURES[name]
            path = str(out / f"fixture_{name}.so")
            # defs first: an -I there must win over the SDK's include dir.
            subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
                            "-shared", "-fPIC"] + defs
                           + ["-I" + os.path.join(SOURCE_DIR, "include")] + cflags
                           + [os.path.join(FIXTURE_SRC, src), "-o", path], check=True)
        cache[name] = path
        return path

    return get


def start_fails(server, sections=None, server_keys=None, env=None):
    """Start a server that must refuse to start; returns (exit code, log)."""
    srv = server(sections=sections, server_keys=server_keys, env=env, start=False)
    srv.start(wait=False)
    try:
        code = srv.proc.wait(15)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        raise AssertionError(f"server started instead of failing:\n{srv.log()}")
    srv.check_clean()
    return code, srv.log()


def conf_line(srv, pattern):
    """1-based line number of the first line of srv's config matching pattern."""
    with open(srv.conf_path) as f:
        for i, line in enumerate(f, 1):
            if re.match(pattern, line):
                return i
    raise AssertionError(f"{pattern} not in the config")


async def ping_ok(srv, client_id="alice"):
    ws = await srv.ws(client_id=client_id)
    reply = await request(ws, "ping", ref=1)
    assert reply["type"] == "pong", reply
    return ws


# --- refused plugins ---

REFUSALS = {
    # fixture -> pattern the error line must match (after "plugin <section>: ")
    "bad_major": rf"ABI mismatch: plugin built for 99\.0, server speaks 1\.{ABI_MINOR}",
    "bad_minor": rf"ABI mismatch: plugin built for 1\.99, server speaks 1\.{ABI_MINOR}",
    "no_entry": r"exports no sb_plugin_entry symbol",
    "init_fails": r"init failed",
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refused_plugin_stops_startup(server, fixture_so, name):
    sections = default_sections()
    sections[name] = {"module": fixture_so(name)}
    code, log = start_fails(server, sections)
    assert code != 0
    assert re.search(rf"ERROR plugin {name}: .*{REFUSALS[name]}", log), log
    assert "listening on" not in log


def test_init_failure_reason_logged_by_plugin(server, fixture_so):
    sections = {"init_fails": {"module": fixture_so("init_fails")}}
    code, log = start_fails(server, sections)
    assert code == 1
    assert re.search(r"init_fails.*cannot reach the frobnicator", log), log


def test_missing_so(server):
    sections = default_sections()
    sections["nosuch"] = {}
    code, log = start_fails(server, sections)
    assert code == 1
    assert re.search(r"ERROR plugin nosuch: cannot load \S*/nosuch\.so", log), log


@pytest.mark.parametrize("name", sorted(REFUSALS) + ["nosuch"])
def test_optional_plugin_failure_is_a_warning(server, fixture_so, name):
    sections = default_sections()
    sections[name] = {"optional": "yes"}
    if name != "nosuch":
        sections[name]["module"] = fixture_so(name)
    srv = server(sections=sections)
    assert re.search(rf"WARN plugin {name}: .*optional, going on without it", srv.log())

    async def go():
        ws = await ping_ok(srv)
        if name == "init_fails":
            # What it registered before failing is gone.
            reply = await request(ws, "init_fails", ref=2)
            assert reply["type"] == "error" and reply["data"]["code"] == "unknown_type", reply
        # The other plugins work.
        reply = await request(ws, "me", ref=3)
        assert reply["type"] == "me" and reply["data"]["user"] == "alice", reply
        await ws.close()

    run(go())


def test_disabled_plugin_commands_unknown(server):
    sections = default_sections()
    sections["rooms"] = {"enabled": "no"}
    sections["nosuch"] = {"enabled": "no"}  # never loaded, so never missing
    srv = server(sections=sections)
    assert "plugin rooms: disabled" in srv.log()
    assert "nosuch.so" not in srv.log()

    async def go():
        ws = await ping_ok(srv)
        for t in ("join", "leave", "publish"):
            reply = await request(ws, t, {"room": "r"}, ref=t)
            assert reply["type"] == "error" and reply["data"]["code"] == "unknown_type", reply
            assert reply["ref"] == t
        reply = await request(ws, "list", ref=1)
        assert reply["type"] == "list", reply
        await ws.close()

    run(go())


def test_bad_enabled_value(server):
    sections = default_sections()
    sections["rooms"] = {"enabled": "perhaps"}
    code, log = start_fails(server, sections)
    assert code != 0
    assert re.search(r"plugins\.conf:\d+: \[rooms\] enabled: must be yes or no", log), log


# --- path = ---

def test_module_absolute_and_relative(server, fixture_so, tmp_path):
    so = fixture_so("probe")
    srv = server(sections={"probe": {"module": so, "value": "abs", "count": 3}})

    async def go(s, value, count):
        ws = await ping_ok(s)
        reply = await request(ws, "probe", ref="p")
        assert reply == {"type": "probe", "ref": "p",
                         "data": {"value": value, "count": count, "section": "probe"}}, reply
        await ws.close()

    run(go(srv, "abs", 3))
    # A relative module resolves against the config file's directory, not the cwd.
    wd = tmp_path / "rel"
    (wd / "lib").mkdir(parents=True)
    (wd / "lib" / "p.so").write_bytes(open(so, "rb").read())
    srv2 = server(sections={"probe": {"module": "lib/p.so"}}, workdir=str(wd))
    run(go(srv2, "default", 0))


def test_frozen_abi_1_0_plugin_loads(server, fixture_so):
    srv = server(sections={"probe": {"module": fixture_so("probe_abi10"), "value": "old"}})

    async def go():
        ws = await ping_ok(srv)
        reply = await request(ws, "probe", ref=1)
        assert reply["type"] == "probe" and reply["data"]["value"] == "old", reply
        await ws.close()

    run(go())


def test_failed_init_releases_timers_watches_wakeups_and_metrics(server, fixture_so):
    # init_leaks registers one of each resource pointing into state it frees,
    # then fails: none of them may fire (the fixture aborts) or be rendered.
    sections = default_sections()
    sections["init_leaks"] = {"module": fixture_so("init_leaks"), "optional": "yes"}
    srv = server(sections=sections)
    assert re.search(r"WARN plugin init_leaks: init failed .*optional, going on without it",
                     srv.log()), srv.log()

    async def go():
        ws = await ping_ok(srv)
        await ws.close()

    for _ in range(3):  # across several loop turns: the timer repeats every 10 ms
        run(go())
        status, _, body = srv.http("GET", "/metrics")
        assert status == 200, body
        text = body.decode()
        assert "switchboard_connections " in text, text
        assert "init_leaks" not in text, text
    assert srv.proc.poll() is None, srv.log()


LUA_SPOOF = """
function filter(msg)
  for _, k in ipairs({"from", "to", "id", "room", "ts"}) do
    if msg.data[k] ~= nil then msg.data[k] = "spoofed" end
  end
  msg.data.text = "filtered"
  return msg
end
"""


def test_frozen_abi_1_0_filtering_plugin_gets_routing_fields_restored(server, fixture_so,
                                                                     tmp_path):
    # A 1.0 plugin cannot stamp (host->stamp is 1.1): it hands run_filter the
    # client's data; the host restores id, from and ts after the chain.
    sections = default_sections()
    sections["filter_abi10"] = {"module": fixture_so("filter_abi10")}
    srv = lua_server(server, tmp_path, [("spoof.lua", LUA_SPOOF)], sections=sections)

    async def go():
        alice = await ping_ok(srv, "alice")
        bob = await ping_ok(srv, "bob")
        await send(alice, "shout", {"text": "hi", "id": "mine", "from": "mallory", "ts": 5},
                   ref=1)
        ack = await recv_type(alice, "ack")
        got = (await recv_type(bob, "broadcast"))["data"]
        assert got["text"] == "filtered", got
        assert got["id"] == ack["data"]["id"] and got["ts"] == ack["data"]["ts"], (got, ack)
        assert got["from"] == "alice", got
        await alice.close()
        await bob.close()

    run(go())


def test_path_naming_the_module_is_deprecated_but_loads(server, fixture_so):
    srv = server(sections={"probe": {"path": fixture_so("probe"), "value": "old-key"}})
    assert re.search(r"WARN plugin probe: path = \S*fixture_probe\.so: naming the module with "
                     r"path is deprecated, use module =", srv.log()), srv.log()
    assert "unknown key" not in srv.log(), srv.log()

    async def go():
        ws = await ping_ok(srv)
        reply = await request(ws, "probe", ref=1)
        assert reply["data"]["value"] == "old-key", reply
        await ws.close()

    run(go())
    # module wins over a path that is the plugin's own key (a directory).
    srv = server(sections={"probe": {"module": fixture_so("probe"), "path": "data"}})
    assert "deprecated" not in srv.log(), srv.log()


def test_module_missing_file(server, tmp_path):
    code, log = start_fails(server, {"probe": {"module": str(tmp_path / "nope.so")}})
    assert code == 1
    assert re.search(r"plugin probe: cannot load \S*nope\.so", log), log


def test_plugin_bad_int_value_file_line(server, fixture_so):
    srv = server(sections={"probe": {"module": fixture_so("probe"), "count": "lots"}}, start=False)
    srv.start(wait=False)
    code = srv.proc.wait(15)
    assert code == 1
    line = conf_line(srv, r"count = lots")
    assert re.search(rf"plugins\.conf:{line}: \[probe\] count: must be an integer from 0 to 1000",
                     srv.log()), srv.log()


# --- stores ---

@pytest.mark.parametrize("need", [["message"], ["message", "read"], ["api"]])
def test_no_store_names_what_needs_one(server, need):
    sections = default_sections(store=None)
    for name in ("message", "read"):
        if name not in need:
            sections.pop(name)
    if "api" in need:
        sections["api"] = {"api_key": "k"}
    code, log = start_fails(server, sections)
    assert code == 1
    m = re.search(r"ERROR no store is enabled but (.*) needs? one", log)
    assert m, log
    for name in need:
        assert name in m.group(1)
    assert "store_memory" in log and "store_lmdb" in log


def test_no_store_without_stored_messages_is_fine(server):
    sections = default_sections(store=None)
    for name in ("message", "read"):
        sections.pop(name)
    srv = server(sections=sections)

    async def go():
        ws = await ping_ok(srv)
        reply = await request(ws, "join", {"room": "r"}, ref=1)
        assert reply["type"] == "join", reply
        await ws.close()

    run(go())
    status, _, body = srv.http("GET", "/ready")
    assert status == 200


def test_two_stores_named(server):
    sections = default_sections()
    sections["store_lmdb"] = {"path": "data"}
    code, log = start_fails(server, sections)
    assert code == 1
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert any("store_memory" in line and "store_lmdb" in line for line in errors), log


# --- configuration ---

def test_unknown_key_warned_with_line(server):
    sections = default_sections()
    sections["rooms"] = {"bogus": "1"}
    srv = server(sections=sections, server_keys={"frobnicate": "yes"})
    line = conf_line(srv, r"bogus = 1")
    assert re.search(rf"WARN .*plugins\.conf:{line}: \[rooms\] bogus: unknown key", srv.log())
    line = conf_line(srv, r"frobnicate = yes")
    assert re.search(rf"WARN .*plugins\.conf:{line}: \[server\] frobnicate: unknown key",
                     srv.log())


@pytest.mark.parametrize("key,value,why", [
    ("max_connections", "lots", "must be an integer"),
    ("max_connections", "0", "must be an integer from 1"),
    ("ping_interval", "0", "must be a number of seconds"),
    ("ping_interval", "0x10", "must be a number of seconds"),
    ("sessions", "single", "must be multi or replace"),
    ("listen", "nowhere", "must be host:port"),
    ("log_level", "loud", "must be debug, info, warn or error"),
    ("metrics_allow", "10.0.0.0/33", "must be space-separated addresses"),
    ("rate_limit", "-1", "must be a number of commands per second"),
])
def test_bad_server_value_exit_2(server, key, value, why):
    srv = server(sections={}, server_keys={key: value}, start=False)
    srv.start(wait=False)
    assert srv.proc.wait(15) == 2
    line = conf_line(srv, rf"{key} = ")
    assert re.search(rf"plugins\.conf:{line}: \[server\] {key}: {why}.*got \"{re.escape(value)}\"",
                     srv.log()), srv.log()


def test_env_overrides_take_effect(server):
    sections = default_sections()
    sections.pop("rooms")
    env = {"SWITCHBOARD_SERVER_MAX_RECIPIENTS": "2",
           "SWITCHBOARD_STORE_MEMORY_MAX_INBOX": "1",
           # A section missing from the file is created by its override.
           "SWITCHBOARD_ROOMS_ENABLED": "yes"}
    srv = server(sections=sections, server_keys={"max_recipients": 50}, env=env)

    async def go():
        ws = await ping_ok(srv)
        reply = await request(ws, "message", {"to": ["a", "b", "c"], "text": "x"}, ref=1)
        assert reply["type"] == "error" and reply["data"]["code"] == "too_many_recipients", reply
        reply = await request(ws, "message", {"to": ["a", "b"], "text": "x"}, ref=2)
        assert reply["type"] == "ack", reply
        reply = await request(ws, "message", {"to": "a", "text": "y"}, ref=3)
        assert reply["type"] == "error" and reply["data"]["code"] == "inbox_full", reply
        reply = await request(ws, "join", {"room": "r"}, ref=4)
        assert reply["type"] == "join", reply
        await ws.close()

    run(go())


def test_env_override_naming_nothing_exit_2(server):
    code, log = start_fails(server, {}, env={"SWITCHBOARD_NOSUCH_THING": "1"})
    assert code == 2
    assert re.search(r"ERROR environment SWITCHBOARD_NOSUCH_THING: names no section", log), log


def test_env_override_bad_value_names_variable(server):
    code, log = start_fails(server, {}, env={"SWITCHBOARD_SERVER_MAX_CONNECTIONS": "many"})
    assert code == 2
    assert re.search(r"environment SWITCHBOARD_SERVER_MAX_CONNECTIONS: \[server\] "
                     r"max_connections: must be an integer", log), log


# --- command line ---

def test_version_and_help():
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert re.fullmatch(rf"switchboard \d+\.\d+\.\d+ \(plugin ABI 1\.{ABI_MINOR}\)\n", out.stdout), out.stdout
    out2 = subprocess.run([BINARY, "-V"], capture_output=True, text=True, timeout=10)
    assert out2.returncode == 0 and out2.stdout == out.stdout
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("usage: switchboard") and "-c" in out.stdout
    assert "SWITCHBOARD_<SECTION>_<KEY>" in out.stdout


def test_bad_command_line_exit_2(tmp_path):
    for args in (["--nosuch"], ["extra-arg"], ["-c"]):
        out = subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=10,
                             cwd=tmp_path)
        assert out.returncode == 2, args
        assert "usage: switchboard" in out.stderr, args


def test_missing_config_file_exit_2(tmp_path):
    out = subprocess.run([BINARY, "-c", str(tmp_path / "nope.conf")], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 2
    assert "nope.conf" in out.stdout + out.stderr

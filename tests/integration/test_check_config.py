"""switchboard --check-config: every shipped config checks clean (with the
plugin_dir override an operator would use), problems come out as
FILE:LINE: message with exit 2, environment overrides are checked, and a
check binds no port, takes no LMDB lock and needs no Redis, so it can run
beside a live server (ExecStartPre, ExecReload)."""
import glob
import os
import re
import subprocess

import pytest

from conftest import BINARY, PLUGIN_DIR, SANITIZER_MARKS, SOURCE_DIR, free_port, make_conf

SHIPPED = [os.path.join(SOURCE_DIR, "plugins.conf")] + sorted(
    glob.glob(os.path.join(SOURCE_DIR, "conf", "*.conf")))


def check(path, env=None, timeout=60):
    e = dict(os.environ, SWITCHBOARD_SERVER_PLUGIN_DIR=PLUGIN_DIR)
    e.update(env or {})
    res = subprocess.run([BINARY, "--check-config", "-c", path], capture_output=True, text=True,
                         env=e, timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in res.stderr, res.stderr
    return res


def problem_lines(res, path):
    """The stderr lines, each checked to be FILE:LINE: message."""
    lines = res.stderr.splitlines()
    for line in lines:
        assert re.match(rf"^{re.escape(path)}:\d+: \S", line), f"not FILE:LINE: {line!r}"
    return lines


def write(tmp_path, text, name="plugins.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("path", SHIPPED, ids=[os.path.relpath(p, SOURCE_DIR) for p in SHIPPED])
def test_shipped_config_checks_clean(path):
    data_before = set(os.listdir(os.path.dirname(path)))
    res = check(path)
    lines = problem_lines(res, path)
    assert res.returncode == 0, res.stderr
    assert [l for l in lines if ": warning: " not in l] == [], res.stderr
    assert res.stdout == f"{path}: OK\n"
    # Nothing was created beside it (store_lmdb's data directory in particular).
    assert set(os.listdir(os.path.dirname(path))) == data_before


def test_every_problem_is_file_line_and_exit_2(tmp_path):
    text = ("[server]\n"                        # 1
            "listen = nowhere\n"                # 2
            "log_format = xml\n"                # 3
            "colour = blue\n"                   # 4
            "[auth]\n"                          # 5
            "mode = magic\n"                    # 6
            "[message]\n"                       # 7
            "[rooms]\n"                         # 8
            "enabled = maybe\n"                 # 9
            "[store_lmdb]\n"                    # 10
            "map_size_mb = -5\n"                # 11
            "[no_such_plugin]\n")               # 12
    path = write(tmp_path, text)
    res = check(path)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    lines = problem_lines(res, path)
    out = "\n".join(lines)
    # [server] problems, and the plugin sections are checked all the same.
    assert f"{path}:2: [server] listen: must be host:port" in out
    assert f'{path}:3: [server] log_format: must be text or json, got "xml"' in out
    assert f"{path}:4: warning: [server] colour: unknown key (ignored)" in out
    assert re.search(rf'(?m)^{re.escape(path)}:5: \[auth\] .*"magic"', out), out
    assert f'{path}:9: [rooms] enabled: must be yes or no' in out
    assert f'{path}:11: [store_lmdb] map_size_mb: must be an integer from 1' in out
    assert re.search(rf"(?m)^{re.escape(path)}:12: plugin no_such_plugin: cannot load ", out), out
    assert not (tmp_path / "data").exists()


def test_warnings_alone_exit_0(tmp_path):
    text = make_conf(free_port(), sections={"auth": {"mode": "none", "tokn_param": "t"},
                                            "message": {}, "store_memory": {}})
    path = write(tmp_path, text)
    res = check(path)
    assert res.returncode == 0, res.stderr
    lines = problem_lines(res, path)
    assert len(lines) == 1 and re.search(r":\d+: warning: \[auth\] tokn_param: unknown key", lines[0])


def test_environment_overrides_are_checked(tmp_path):
    path = write(tmp_path, make_conf(free_port(), sections={"message": {}, "store_memory": {}}))
    assert check(path).returncode == 0
    res = check(path, env={"SWITCHBOARD_SERVER_MAX_CONNECTIONS": "lots"})
    assert res.returncode == 2
    assert problem_lines(res, path) == [
        f"{path}:0: environment SWITCHBOARD_SERVER_MAX_CONNECTIONS: [server] max_connections: "
        f'must be an integer from 1 to 10000000, got "lots"']
    res = check(path, env={"SWITCHBOARD_NOPE_KEY": "1"})
    assert res.returncode == 2
    assert re.match(rf"{re.escape(path)}:0: environment SWITCHBOARD_NOPE_KEY: names no section",
                    problem_lines(res, path)[0])
    # An override that makes the store need something it lacks.
    res = check(path, env={"SWITCHBOARD_STORE_MEMORY_ENABLED": "no"})
    assert res.returncode == 2
    assert re.search(r":0: no store is enabled but message needs one", res.stderr), res.stderr


def test_plugin_without_check_runs_init(tmp_path):
    script = tmp_path / "bad.lua"
    script.write_text("function on_connect(\n")
    text = make_conf(free_port(), sections={"message": {}, "store_memory": {},
                                            "lua": {"scripts": str(script)}})
    path = write(tmp_path, text)
    res = check(path)
    assert res.returncode == 2
    lines = problem_lines(res, path)
    lua_line = text.splitlines().index("[lua]") + 1
    assert any(l.startswith(f"{path}:{lua_line}: [lua] ") and "bad.lua" in l for l in lines), lines


def test_rooms_history_keys_are_checked_by_the_plugin(tmp_path):
    """[rooms] history_size and history_ttl are the rooms plugin's to read
    (it hands them to the host): a bad value comes out with its line, once."""
    for key, value in (("history_size", "-1"), ("history_ttl", "soon"), ("history_size", "50")):
        text = make_conf(free_port(), sections={"rooms": {key: value}, "store_memory": {}})
        path = write(tmp_path, text)
        res = check(path)
        if value == "50":
            assert res.returncode == 0, res.stderr
            continue
        assert res.returncode == 2, res.stderr
        lines = [l for l in problem_lines(res, path) if key in l]
        line = text.splitlines().index(f"{key} = {value}") + 1
        assert len(lines) == 1 and lines[0].startswith(
            f"{path}:{line}: [rooms] {key}: must be an integer from 0"), res.stderr


def test_check_beside_a_running_server(server, tmp_path):
    """The live server holds the port and the LMDB lock: the check binds
    nothing and opens no database, so it passes."""
    data = tmp_path / "data"
    sections = {"auth": {"mode": "none"}, "message": {}, "read": {},
                "store_lmdb": {"path": str(data)}}
    srv = server(sections=sections)
    assert (data / "switchboard.lock").exists()
    res = check(srv.conf_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "data directory in use" not in srv.log()


def test_check_needs_no_redis(tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    sections = {"auth": {"mode": "none"}, "message": {}, "read": {},
                "store_redis": {"url": dead}, "bus_redis": {"url": dead}}
    path = write(tmp_path, make_conf(free_port(), sections=sections))
    res = check(path, timeout=30)
    assert res.returncode == 0, res.stderr
    # The URL itself is still checked.
    sections["bus_redis"] = {"url": "http://nope"}
    path = write(tmp_path, make_conf(free_port(), sections=sections), "bad.conf")
    res = check(path, timeout=30)
    assert res.returncode == 2
    line = make_conf(0, sections=sections).splitlines().index("[bus_redis]") + 1
    assert re.search(rf"(?m)^{re.escape(path)}:{line}: \[bus_redis\] url http://nope: ",
                     res.stderr), res.stderr


def test_lmdb_check_reports_a_file_in_the_way(tmp_path):
    (tmp_path / "notadir").write_text("x")
    sections = {"message": {}, "store_lmdb": {"path": str(tmp_path / "notadir")}}
    path = write(tmp_path, make_conf(free_port(), sections=sections))
    res = check(path)
    assert res.returncode == 2
    assert re.search(r":\d+: \[store_lmdb\] .*notadir: not a directory", res.stderr), res.stderr

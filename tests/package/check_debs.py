#!/usr/bin/python3
"""Check the Debian packages in DIR (scripts/deb builds them there): unpack
switchboard and switchboard-dev into a temporary root with `dpkg -x`, then
check the file layout, the conffiles, the shipped plugins.conf (it passes
--check-config with the installed plugins), the systemd unit (its settings,
and `systemd-analyze verify` when systemd-analyze is there) and the SDK (the
example plugin builds against the installed header and .pc).

usage: check_debs.py DIR"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = "lib/systemd/system/switchboard.service"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def deb(pattern, debs_dir):
    found = glob.glob(os.path.join(debs_dir, pattern))
    if len(found) != 1:
        sys.exit(f"check_debs: expected one {pattern} in {debs_dir}, found {found}")
    return found[0]


def conffiles(path):
    with tempfile.TemporaryDirectory() as ctl:
        subprocess.run(["dpkg-deb", "-e", path, ctl], check=True)
        p = os.path.join(ctl, "conffiles")
        return open(p).read().split() if os.path.exists(p) else []


def plugins_in_tree():
    return sorted(os.path.basename(os.path.dirname(p))
                  for p in glob.glob(os.path.join(SOURCE_DIR, "plugins", "*", "CMakeLists.txt")))


def unit_settings(text):
    """key -> list of values of the [Service] and [Unit] lines."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    debs_dir = sys.argv[1]
    server_deb = deb("switchboard_*.deb", debs_dir)
    dev_deb = deb("switchboard-dev_*.deb", debs_dir)
    root = tempfile.mkdtemp(prefix="sb-deb-root.")
    try:
        for d in (server_deb, dev_deb):
            subprocess.run(["dpkg", "-x", d, root], check=True)
        r = lambda p: os.path.join(root, p)  # noqa: E731

        # --- layout
        binary = r("usr/sbin/switchboard")
        check(os.access(binary, os.X_OK), "/usr/sbin/switchboard is an executable")
        for name in plugins_in_tree():
            check(os.path.isfile(r(f"usr/lib/switchboard/plugins/{name}.so")),
                  f"/usr/lib/switchboard/plugins/{name}.so")
        for p in ("etc/switchboard/plugins.conf", "etc/switchboard/lua/policy.lua",
                  "usr/share/man/man8/switchboard.8.gz", UNIT,
                  "usr/lib/sysusers.d/switchboard.conf",
                  "usr/share/doc/switchboard/README.Debian", "usr/share/doc/switchboard/copyright",
                  "usr/share/switchboard/web/index.html",
                  "usr/include/switchboard/plugin.h", "usr/share/pkgconfig/switchboard-plugin.pc"):
            check(os.path.isfile(r(p)), "/" + p)
        check(any(os.path.isfile(r("usr/share/doc/switchboard-dev/examples/hello-plugin/" + f))
                  for f in ("hello.c", "hello.c.gz")), "the hello-plugin example in switchboard-dev")
        check(not os.path.exists(r("usr/bin/switchboard")), "no /usr/bin/switchboard")
        check(not glob.glob(r("usr/lib/*/pkgconfig")) and not os.path.exists(r("usr/lib/pkgconfig")),
              "the .pc only in /usr/share/pkgconfig (the SDK is a header)")
        man = run(["zcat", r("usr/share/man/man8/switchboard.8.gz")]).stdout
        check("--check-config" in man.replace("\\-", "-"), "the man page documents --check-config")

        # --- conffiles and the shipped configuration
        cf = conffiles(server_deb)
        check("/etc/switchboard/plugins.conf" in cf, "plugins.conf is a conffile")
        check("/etc/switchboard/lua/policy.lua" in cf, "policy.lua is a conffile")
        conf = open(r("etc/switchboard/plugins.conf")).read()
        for line in ("plugin_dir = /usr/lib/switchboard/plugins", "path = /var/lib/switchboard",
                     "listen = 127.0.0.1:8080", "root = /usr/share/switchboard/web"):
            check(re.search(rf"(?m)^{re.escape(line)}\s*$", conf) is not None, f"plugins.conf: {line}")
        check(re.search(r"(?m)^scripts = /etc/switchboard/lua/policy.lua\b", conf) is not None,
              "plugins.conf: scripts = /etc/switchboard/lua/policy.lua")

        # The installed binary checks the installed file; the overrides point
        # the absolute paths into the temporary root.
        data = os.path.join(root, "var-lib-switchboard")
        env = dict(os.environ,
                   SWITCHBOARD_SERVER_PLUGIN_DIR=r("usr/lib/switchboard/plugins"),
                   SWITCHBOARD_LUA_SCRIPTS=r("etc/switchboard/lua/policy.lua"),
                   SWITCHBOARD_WEB_ROOT=r("usr/share/switchboard/web"),
                   SWITCHBOARD_STORE_LMDB_PATH=data)
        res = run([binary, "--check-config", "-c", r("etc/switchboard/plugins.conf")], env=env)
        errors = [l for l in res.stderr.splitlines() if ": warning: " not in l]
        check(res.returncode == 0 and not errors,
              f"--check-config passes on the shipped plugins.conf (exit {res.returncode}) "
              f"{res.stderr.strip()}")
        check(not os.path.exists(data), "--check-config created no data directory")
        ver = run([binary, "--version"])
        check(ver.returncode == 0 and ver.stdout.startswith("switchboard "), "switchboard --version")
        ldd = run(["ldd", binary]).stdout
        check("libsystemd" in ldd, "the binary links libsystemd (sd_notify)")

        # --- the unit
        unit = open(r(UNIT)).read()
        s = unit_settings(unit)
        expect = {"Type": "notify", "User": "_switchboard", "StateDirectory": "switchboard",
                  "LimitNOFILE": "1048576", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                  "PrivateTmp": "yes", "WantedBy": "multi-user.target"}
        for k, v in expect.items():
            check(s.get(k) == [v], f"unit: {k}={v}")
        check(s.get("ExecStartPre") ==
              ["/usr/sbin/switchboard --check-config -c /etc/switchboard/plugins.conf"],
              "unit: ExecStartPre runs --check-config")
        check("/bin/kill -HUP $MAINPID" in s.get("ExecReload", []), "unit: ExecReload sends SIGHUP")
        check(s.get("ExecStart") == ["/usr/sbin/switchboard -c /etc/switchboard/plugins.conf"],
              "unit: ExecStart")
        sysusers = open(r("usr/lib/sysusers.d/switchboard.conf")).read()
        check(re.search(r"(?m)^u _switchboard ", sysusers) is not None,
              "sysusers.d creates _switchboard")
        analyze = shutil.which("systemd-analyze")
        if analyze:
            # --root: ExecStart= is looked up in the root; the units the
            # service orders itself after (sysinit.target...) come from the
            # host, copied beside it.
            if os.path.isdir("/lib/systemd/system"):
                subprocess.run(["cp", "-an", "/lib/systemd/system/.", r("lib/systemd/system")],
                               check=True)
            res = run([analyze, "verify", "--man=no", f"--root={root}", "/" + UNIT])
            out = (res.stdout + res.stderr).strip()
            check(res.returncode == 0 and not out,
                  f"systemd-analyze verify (exit {res.returncode}) {out}")
            sec = run([analyze, "security", "--offline=yes", f"--root={root}", "/" + UNIT])
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
            check(m is not None and float(m.group(1)) <= 2.0,
                  f"systemd-analyze security: exposure {m.group(1) if m else '?'} (at most 2.0)")
        else:
            print("skip systemd-analyze verify: systemd-analyze is not installed")

        # --- the SDK: the example builds against the installed header and .pc
        ex = tempfile.mkdtemp(dir=root)
        src = r("usr/share/doc/switchboard-dev/examples/hello-plugin")
        for f in os.listdir(src):
            dst = os.path.join(ex, f[:-3] if f.endswith(".gz") else f)
            with open(dst, "wb") as out:
                subprocess.run(["zcat", "-f", os.path.join(src, f)], stdout=out, check=True)
        pc_path = r("usr/share/pkgconfig")
        cflags = run(["pkg-config", "--cflags", "switchboard-plugin"],
                     env=dict(os.environ, PKG_CONFIG_PATH=pc_path)).stdout
        incs = [os.path.normpath(f[2:]) for f in cflags.split() if f.startswith("-I")]
        check(r("usr/include") in incs, f"pkg-config --cflags points into the root ({cflags.strip()})")
        res = run(["make", "-C", ex, f"PKG_CONFIG_PATH={pc_path}"])
        check(res.returncode == 0 and os.path.isfile(os.path.join(ex, "hello.so")),
              f"the hello plugin builds against switchboard-dev {res.stderr.strip()[-400:]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"check_debs: {len(failures)} check(s) failed")
        return 1
    print("check_debs: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

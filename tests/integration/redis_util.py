"""A real redis-server for the Redis plugin tests: started on a free port with
its data in a test's tmp directory (AOF on, fsync always), killed and restarted
on the same port and directory; ready once PING answers (a restarted Redis
answers LOADING while it reads its AOF back: not ready yet). Tests skip when
the binary is missing."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisError(AssertionError):
    """An error reply (-ERR, -WRONGTYPE, -LOADING ...)."""


def not_ready_yet(e):
    """Whether an error means "Redis is up but cannot answer yet": after a
    restart it replies -LOADING until its AOF is read back."""
    return isinstance(e, OSError) or (isinstance(e, RedisError) and str(e).startswith("LOADING"))


class Redis:
    def __init__(self, workdir):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=10):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir],
            stdout=log, stderr=subprocess.STDOUT)
        return self.wait_ready(timeout)

    def wait_ready(self, timeout=10):
        """Wait until PING answers PONG: not refused, not LOADING."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited {self.proc.returncode}")
            try:
                if self.command("PING") == "PONG":
                    return self
            except (OSError, RedisError) as e:
                if not not_ready_yet(e):
                    raise
                last = e
            time.sleep(0.05)
        raise AssertionError(f"redis-server not ready in {timeout}s: {last}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def command(self, *args):
        """One command over RESP; returns the decoded reply (str, int, list, None)."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(out)
            f = s.makefile("rb")
            return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise AssertionError(f"bad RESP line {line!r}")


@pytest.fixture
def redis(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    made = []

    def factory():
        r = Redis(str(tmp_path / f"redis{len(made)}")).start()
        made.append(r)
        return r
    yield factory
    for r in made:
        r.kill()

"""A private redis-server for the tests: a free loopback port, persistence off, stopped at
the end.

The Redis store is tested against the real server (Lua scripts, pub/sub, streams and
expiry are what could go wrong), never a fake. ``make test`` installs Debian's
``redis-server`` when it is missing; under CI a missing server fails the tests loudly
instead of skipping them, so that the Redis suite can never pass by not running.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

__all__ = ["RedisServer", "redis_binary", "unique_prefix"]


def redis_binary() -> str:
    """The redis-server executable; fails under CI, skips elsewhere, when there is none."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)),
        None,
    )
    if found is None:
        message = "redis-server not found: `make test` installs it (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, even killed with SIGKILL itself
    (``PR_SET_PDEATHSIG``), so that no redis-server outlives a killed test run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_prefix() -> str:
    """A key prefix of its own for each test: tests share one server, never keys."""
    return f"t-{uuid.uuid4().hex[:12]}:"


class RedisServer:
    """One redis-server process that a test can stop and start again on the same port."""

    def __init__(
        self, workdir: Path, *, password: str | None = None, persist: bool = False
    ) -> None:
        self.binary = redis_binary()
        self.port = free_port()
        self.workdir = workdir
        self.password = password
        #: An append-only file (fsync always) for the tests that stop and restart the
        #: server and need their data back; off otherwise.
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            "--appendfsync", "always",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.proc.returncode}: "
                    + (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

"""What the Redis benchmarks share: a private redis-server and runner/worker processes.

The server is Debian's ``redis-server`` (``make bench`` installs it when missing), on a
free loopback port, persistence off unless asked for, stopped at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from common import UNO

__all__ = ["Proc", "RedisServer", "redis_server", "unique_prefix"]


def _die_with_parent() -> None:
    """In the child: SIGKILL when the benchmark dies (``PR_SET_PDEATHSIG``)."""
    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))


def unique_prefix() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}:"


class RedisServer:
    def __init__(self, workdir: Path, *, persist: bool = False) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.binary = binary
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.workdir = workdir
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "everysec",
            "--dir",
            str(self.workdir),
            "--loglevel",
            "warning",
        ]
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def redis_server(workdir: Path, *, persist: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(workdir, persist=persist)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Proc:
    """``uno-schedule -c CONFIG --state URL ARGS...`` with its log in ``folder/TAG.log``."""

    def __init__(self, config: Path, url: str, prefix: str, *args: str, tag: str) -> None:
        self.log_path = config.parent / f"{tag}.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("UNO_SCHEDULE") and k != "NOTIFY_SOCKET"
        }
        env["UNO_SCHEDULE_REDIS_PREFIX"] = prefix
        # Inherited by its jobs: which runner started one, whatever its process tree.
        env["BENCH_RUNNER_TAG"] = self.tag = tag
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [UNO, "-c", str(config), "--state", url, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(config.parent),
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for(self, needle: str, timeout: float, start: int = 0) -> float:
        """Wall time when ``needle`` first appears in the log after offset ``start``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.text()[start:]:
                return time.time()
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited {self.proc.returncode}: {self.text()[-800:]}")
            time.sleep(0.02)
        raise TimeoutError(f"no {needle!r} within {timeout:.0f}s: {self.text()[-800:]}")

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

"""Shared helpers of the benchmarks: results, the table, a runner subprocess, /proc readers.

Every benchmark module exposes ``NAME`` and ``run(quick: bool) -> list[Result]``. Numbers
come from this machine in this run; nothing here asserts on a timing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The venv's interpreter (``make bench`` runs ``.venv/bin/python bench/run.py``).
PYTHON = sys.executable
#: The venv's console script, next to its interpreter.
UNO = str(Path(sys.executable).parent / "uno-schedule")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- results and the table ----------------------------------------------------------------


@dataclass
class Result:
    """One row of the table. ``value`` None means it could not be measured.

    ``key`` names the row for good: one of its module's ``ROWS``, the same in a quick and
    a full run (the name carries the sizes). The table shows it as ``module.key``, and
    the README's performance tables name their rows by it.
    """

    name: str
    value: float | None
    unit: str
    goal: str = ""
    verdict: str = "n/a"
    notes: list[str] = field(default_factory=list)
    key: str = ""


def judge(value: float | None, *, below: float | None = None, above: float | None = None) -> str:
    """PASS/FAIL against a goal (``value < below`` or ``value > above``); n/a without one."""
    if value is None or (below is None and above is None):
        return "n/a"
    ok = (below is None or value < below) and (above is None or value > above)
    return "PASS" if ok else "FAIL"


def fmt_value(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_table(results: Sequence[Result]) -> str:
    headers = ("bench", "benchmark", "value", "unit", "goal", "verdict")
    rows = [(r.key, r.name, fmt_value(r.value), r.unit, r.goal or "-", r.verdict) for r in results]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    right = {2}  # numbers right-aligned

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed_run(argv: list[str]) -> float:
    """Wall seconds of one run of ``argv``, which must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-800:]}")
    return took


def say(text: str) -> None:
    """Progress goes to stderr; the table alone goes to stdout."""
    print(f"  {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def tempdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"uno-bench-{prefix}-") as name:
        yield Path(name)


# -- /proc readers ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The CPU time of the process (all its threads, those ended included), in seconds.

    Read from its process CPU clock (``CLOCK_SCHED`` of ``clock_getcpuclockid(3)``: the
    scheduler's own count, in nanoseconds); /proc/PID/stat counts in clock ticks (10 ms,
    so two readings 30 s apart could be off by 0.07 % of a core). Falls back to
    /proc/PID/stat where that clock cannot be read."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    except OSError:
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` value of /proc/PID/status such as VmHWM (peak RSS) or VmRSS."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith(key + ":"):
                return int(row.split()[1])
    except OSError:
        return None
    return None


# -- the state file, read-only ------------------------------------------------------------


def read_only(state: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def parse_ts(text: str) -> float:
    """A stored instant (``2026-01-01T00:00:00.000000Z``) as a POSIX timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(ts: float) -> str:
    """A POSIX timestamp as ISO 8601 UTC with milliseconds and ``Z``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- the runner as a subprocess -----------------------------------------------------------


class Runner:
    """``uno-schedule -c CONFIG --state STATE run`` with our own NOTIFY_SOCKET.

    ``start()`` records the launch instant; ``wait_ready()`` returns when the service
    sends ``READY=1`` (or raises if it exits or times out). ``stop()`` sends SIGTERM and
    waits. The runner's stderr (its log) goes to a file beside the state.
    """

    def __init__(
        self,
        config: Path,
        state: Path,
        *,
        extra_env: dict[str, str] | None = None,
        tag: str = "runner",
    ):
        self.config = config
        self.state = state
        self.folder = state.parent
        # ``tag`` tells apart several runners on one state (a leader and its standby).
        self.log_path = self.folder / f"{tag}.log"
        self.sock_path = self.folder / f"{tag}.notify.sock"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.launched_at = 0.0  # perf_counter at Popen
        self.launched_wall = 0.0
        self.ready_at: float | None = None  # perf_counter at READY=1
        self.ready_wall: float | None = None
        self.messages: list[str] = []
        self._log_file: Any = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sock_path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
            and not k.startswith("UNO_SCHEDULE")
        }
        env["NOTIFY_SOCKET"] = str(self.sock_path)
        env.update(self.extra_env)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        argv = [UNO, "-c", str(self.config), "--state", str(self.state), "run"]
        self.launched_wall = time.time()
        self.launched_at = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            env=env,
            cwd=str(self.folder),
        )

    def wait_ready(self, timeout: float) -> float:
        """Seconds from launch to READY=1."""
        assert self.sock is not None and self.proc is not None
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(
                    f"no READY=1 within {timeout:.0f}s; log tail:\n{self.log_tail()}"
                )
            self.sock.settimeout(min(0.25, left))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the runner exited with {self.proc.returncode} before READY; "
                        f"log tail:\n{self.log_tail()}"
                    ) from None
                continue
            now, wall = time.perf_counter(), time.time()
            text = data.decode(errors="replace")
            self.messages.append(text)
            if "READY=1" in text.split("\n"):
                self.ready_at, self.ready_wall = now, wall
                return now - self.launched_at

    def stop(self, timeout: float = 60.0) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Runner:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def yaml_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_task_module(folder: Path) -> None:
    """``benchtasks.py`` beside the YAML file (the file's folder is an import root)."""
    (folder / "benchtasks.py").write_text(
        "import time\n\n\n"
        "def noop(*args, **kwargs):\n    return None\n\n\n"
        "def stamp(*args, **kwargs):\n    return time.time()\n"
    )

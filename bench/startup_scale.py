"""100,000 schedules: time from process start to READY=1, and peak RSS.

The real service runs as a subprocess (``uno-schedule -c FILE --state FILE run``) with
``NOTIFY_SOCKET`` set to an AF_UNIX datagram socket of ours; the time is from just
before ``Popen`` to the arrival of ``READY=1`` (so it includes interpreter start,
imports, the YAML load, the state's creation and the due-heap). Peak RSS is ``VmHWM``
of /proc/PID/status read after READY and again just before SIGTERM (the larger).
The schedules fire hourly or daily outside the next 20 minutes (see ``idle_cpu``).

Two starts on the same files: the first on an empty state (every schedule is added,
with its first version), then a restart on the state the first one wrote. Beside them,
the floor: a bare libyaml parse of the same file (``yaml.load`` with ``CSafeLoader``) in
a fresh interpreter, start to exit, and its peak RSS; the first start's READY is
compared with it. And the peer: APScheduler 3 adding as many hourly cron jobs to its
memory store and starting (``aps_peer.py idle``), launch to its READY line, and its
peak RSS read the same way as ours: each start's peak RSS must stay under it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from common import PYTHON, Result, Runner, judge, proc_status_kb, say, tempdir
from idle_cpu import hourly_file, idle_peer

NAME = "startup_scale"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = (
    "first_ready",
    "first_rss",
    "restart_ready",
    "restart_rss",
    "libyaml_parse",
    "libyaml_rss",
    "first_ready_vs_libyaml",
    "aps3_ready",
    "aps3_rss",
    "first_rss_vs_aps3",
    "restart_rss_vs_aps3",
)
#: How far READY may be from a bare parse of the same file.
PARSE_GOAL = 1.5


def _start(runner: Runner, timeout: float) -> tuple[float, int]:
    with runner:
        ready = runner.wait_ready(timeout)
        hwm = proc_status_kb(runner.pid, "VmHWM") or 0
        time.sleep(1.0)
        hwm = max(hwm, proc_status_kb(runner.pid, "VmHWM") or 0)
        code = runner.stop(timeout=120)
    if code != 0:
        raise RuntimeError(f"the runner exited {code} after SIGTERM:\n{runner.log_tail()}")
    return ready, hwm


def _bare_parse(config: Path) -> tuple[float, float]:
    """Seconds from launch to exit of ``python -c 'yaml.load(..., CSafeLoader)'`` on the
    file, and its peak RSS in MiB (``ru_maxrss`` of the child)."""
    code = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)"
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-c", code, str(config)], stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"the bare parse exited {proc.returncode}")
    return took, usage.ru_maxrss / 1024


def _peer_start(count: int, timeout: float) -> tuple[float, int]:
    """APScheduler 3 adding ``count`` hourly cron jobs to its memory store and starting:
    seconds from launch to its READY line, and its peak RSS (kB) read then and a second
    later, as ``_start`` reads ours."""
    with idle_peer(count) as (pid, ready):
        if ready > timeout:
            raise RuntimeError(f"APScheduler 3 took {ready:.0f}s to start")
        hwm = proc_status_kb(pid, "VmHWM") or 0
        time.sleep(1.0)
        hwm = max(hwm, proc_status_kb(pid, "VmHWM") or 0)
    return ready, hwm


def run(quick: bool) -> list[Result]:
    count = 10_000 if quick else 100_000
    timeout = 60.0 if quick else 180.0
    results = []
    with tempdir("scale") as folder:
        config = folder / "schedules.yaml"
        t0 = time.perf_counter()
        hourly_file(config, count)
        say(
            f"generated {count:,} schedules ({config.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        parse_s, parse_mib = _bare_parse(config)
        say(f"bare libyaml parse: {parse_s:.1f}s, peak RSS {parse_mib:.0f} MiB")
        results.append(
            Result(f"{count:,} schedules, bare libyaml parse", parse_s, "s", key="libyaml_parse")
        )
        results.append(
            Result(
                f"{count:,} schedules, bare libyaml parse: peak RSS",
                parse_mib,
                "MiB",
                key="libyaml_rss",
            )
        )
        peer_ready, peer_hwm = _peer_start(count, timeout)
        peer_mib = peer_hwm / 1024
        say(
            f"APScheduler 3, {count:,} cron jobs: READY after {peer_ready:.1f}s, "
            f"peak RSS {peer_mib:.0f} MiB"
        )
        results.append(
            Result(
                f"{count:,} schedules, APScheduler 3 (memory store): start to READY",
                peer_ready,
                "s",
                key="aps3_ready",
            )
        )
        results.append(
            Result(
                f"{count:,} schedules, APScheduler 3 (memory store): peak RSS (VmHWM)",
                peer_mib,
                "MiB",
                key="aps3_rss",
            )
        )
        state = folder / "state.db"
        for kind, label in (
            ("first", "first start, empty state"),
            ("restart", "restart, existing state"),
        ):
            runner = Runner(config, state)
            try:
                ready, hwm = _start(runner, timeout)
            except (TimeoutError, RuntimeError) as exc:
                runner.stop()
                results.append(
                    Result(
                        f"{count:,} schedules, {label}: start to READY",
                        None,
                        "s",
                        "< 10 s",
                        "FAIL",
                        [str(exc)],
                        key=f"{kind}_ready",
                    )
                )
                break
            mib = hwm / 1024
            size = state.stat().st_size / 1e6
            say(f"{label}: READY after {ready:.1f}s, peak RSS {mib:.0f} MiB, state {size:.0f} MB")
            if kind == "first":
                ratio = ready / parse_s
                results.append(
                    Result(
                        f"{count:,} schedules, first start to READY / bare libyaml parse",
                        ratio,
                        "x",
                        f"<= {PARSE_GOAL:g}x",
                        judge(ratio, below=PARSE_GOAL + 1e-9),
                        key="first_ready_vs_libyaml",
                    )
                )
            results.append(
                Result(
                    f"{count:,} schedules, {label}: start to READY",
                    ready,
                    "s",
                    "< 10 s",
                    judge(ready, below=10.0),
                    [f"state file {size:.0f} MB after it"],
                    key=f"{kind}_ready",
                )
            )
            results.append(
                Result(
                    f"{count:,} schedules, {label}: peak RSS (VmHWM)",
                    mib,
                    "MiB",
                    "< 500 MB",
                    judge(hwm * 1024 / 1e6, below=500.0),
                    key=f"{kind}_rss",
                )
            )
            results.append(
                Result(
                    f"{count:,} schedules, {label}: peak RSS / APScheduler 3's",
                    hwm / peer_hwm,
                    "x",
                    "< 1x",
                    judge(hwm / peer_hwm, below=1.0),
                    key=f"{kind}_rss_vs_aps3",
                )
            )
    return results

"""Bursts of Python tasks due at one instant, beside the in-memory peers (APScheduler 3 and 4).

Each round runs our runner (a subprocess, its SQLite state), then APScheduler 3 (a
subprocess, memory job store, a thread pool of the queue's size), then APScheduler 4 (its
in-memory data store, a thread pool of the same size and as many jobs at once), on the
same bursts; rows are medians over the rounds, so all see the same load. APScheduler 4
is the same package name as 3, so it runs from a venv of its own (``APS4_VENV``, built
on first use with ``pip install apscheduler==4.0.0a6``; its rows say n/a without it).
Every task writes its tag and ``time.time()`` as it starts (``burststamp.stamp``, one
append), so a lag is measured where the task runs, not where a scheduler says it
started it:

- ``first``: 200 sync tasks due at T1, the first burst after start (READY at least 3 s
  before T1): the pool of task processes must be there already;
- ``warm``: 200 more at T2, the same process warm;
- ``sync``: 2,000 (1,000 with ``--quick``) at T3, concurrency 200 (the peer: 200 threads);
- ``async``: as many ``async def`` tasks at T4 (ours only: the goal is against our sync);
- ``default``: as many sync tasks at T5 in a queue with the default concurrency (ours
  only: the default must not throttle a burst).

p99 start lag is the 99th percentile of (stamp - T) over a burst; all started is its
largest. The runner's log says what it chose as the default concurrency.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from common import (
    PYTHON,
    Result,
    Runner,
    iso,
    median,
    percentile,
    say,
    tempdir,
)

NAME = "burst_peers"
ROUNDS = 3
POOL = 200
PEER = Path(__file__).resolve().parent / "aps_peer.py"
#: The venv APScheduler 4 runs from (``UNO_APS4_VENV`` changes it).
APS4_VENV = Path(os.environ.get("UNO_APS4_VENV") or "/tmp/uno-aps4-venv")
APS4 = "apscheduler==4.0.0a6"

TASKS = '''"""Benchmark tasks: each appends its tag and the instant it started to ``out``."""
import os
import time


def stamp(tag, out):
    now = time.time()
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag} {now:.6f}\\n".encode())
    finally:
        os.close(fd)


async def astamp(tag, out):
    stamp(tag, out)
'''


def _plan(big: int, start: float) -> list[tuple[str, int, float, str]]:
    """(tag, count, due instant, task) of each burst, a few seconds apart."""
    gap_small, gap_big = 3.0, 4.0 + big / 500
    plan = [("first", POOL, start, "stamp"), ("warm", POOL, start + gap_small, "stamp")]
    plan.append(("sync", big, plan[-1][2] + gap_small, "stamp"))
    plan.append(("async", big, plan[-1][2] + gap_big, "astamp"))
    plan.append(("default", big, plan[-1][2] + gap_big, "stamp"))
    return plan


def _read(out: Path) -> dict[str, list[float]]:
    stamps: dict[str, list[float]] = {}
    if not out.exists():
        return stamps
    for line in out.read_text().splitlines():
        tag, _, value = line.partition(" ")
        stamps.setdefault(tag, []).append(float(value))
    return stamps


def _figures(
    stamps: dict[str, list[float]], plan: list[tuple[str, int, float, str]]
) -> dict[str, tuple[float, float]]:
    """Per burst fully seen: (p99 lag, all started), seconds after its due instant."""
    out = {}
    for tag, count, at, _ in plan:
        seen = stamps.get(tag, [])
        if len(seen) >= count:
            lags = [s - at for s in seen]
            out[tag] = (percentile(lags, 99), max(lags))
    return out


def _wait_for(out: Path, total: int, deadline: float) -> None:
    while time.time() < deadline:
        time.sleep(0.2)
        if out.exists() and out.read_text().count("\n") >= total:
            return


def _ours(folder: Path, big: int) -> dict[str, tuple[float, float]]:
    out = folder / "stamps.txt"
    (folder / "burststamp.py").write_text(TASKS)
    config, state = folder / "schedules.yaml", folder / "state.db"
    # Schedules are written before T1 is known; READY must come 3 s before it.
    start = math.ceil(time.time() + 8 + big / 400)
    plan = _plan(big, start)
    lines = [
        "scheduler:",
        f"  queues: {{burst: {POOL}}}",
        "  missed_threshold: 5m",
        "  shutdown_grace: 2s",
        "  kill_grace: 1s",
        "schedules:",
    ]
    for tag, count, at, task in plan:
        stamp = iso(at)
        queue = "" if tag == "default" else "    queue: burst\n"
        for i in range(count):
            lines.append(
                f"  {tag}-{i:05d}:\n    schedule: {{at: {stamp}}}\n{queue}"
                f"    task: burststamp.{task}\n    kwargs: {{tag: {tag}, out: {out}}}"
            )
    config.write_text("\n".join(lines) + "\n")
    runner = Runner(config, state)
    with runner:
        runner.wait_ready(60)
        assert runner.ready_wall is not None
        if runner.ready_wall > start - 3:
            say(f"ours: READY only {start - runner.ready_wall:.1f}s before the first burst")
        total = sum(count for _, count, _, _ in plan)
        _wait_for(out, total, plan[-1][2] + 120)
        runner.stop()
    return _figures(_read(out), plan)


def aps4_python() -> Path | None:
    """The interpreter of the APScheduler 4 venv, created when missing; None if it cannot be."""
    python = APS4_VENV / "bin" / "python"
    marker = APS4_VENV / ".uno-aps4"
    if marker.exists():
        return python
    say(f"creating {APS4_VENV} with {APS4}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(APS4_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", APS4],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        say(f"APScheduler 4 unavailable: {exc}")
        return None
    marker.touch()
    return python


def _peer(
    folder: Path, big: int, python: str | Path = PYTHON, mode: str = "burst"
) -> dict[str, tuple[float, float]]:
    out = folder / "peer-stamps.txt"
    (folder / "burststamp.py").write_text(TASKS)
    start = math.ceil(time.time() + 4)
    plan = [p for p in _plan(big, start) if p[0] in ("first", "warm", "sync")]
    spec = folder / "peer.json"
    spec.write_text(
        json.dumps(
            {
                "out": str(out),
                "pool": POOL,
                "bursts": [[tag, count, at] for tag, count, at, _ in plan],
                "timeout": plan[-1][2] - time.time() + 120,
            }
        )
    )
    subprocess.run([str(python), str(PEER), mode, str(spec)], check=True, capture_output=True)
    return _figures(_read(out), plan)


#: The rows compared with APScheduler 3: (row key, burst, figure: 0 p99 lag, 1 all started, label).
COMPARED = (
    (
        "first200_p99",
        "first",
        0,
        "200 sync Python tasks due at one instant, first burst: p99 lag",
    ),
    ("warm200_p99", "warm", 0, "200 sync Python tasks due at one instant, warm: p99 start lag"),
    ("warm200_all", "warm", 1, "200 sync Python tasks due at one instant, warm: all started"),
    ("sync_p99", "sync", 0, "{big} sync Python tasks, concurrency 200: p99 start lag"),
    ("sync_all", "sync", 1, "{big} sync Python tasks, concurrency 200: all started"),
)
#: The rows compared with APScheduler 4, as ``COMPARED``.
COMPARED4 = (
    ("warm200_p99_aps4", "warm", 0, COMPARED[1][3]),
    ("sync_all_aps4", "sync", 1, COMPARED[4][3]),
)
ROWS = (
    *(row[0] for row in COMPARED),
    *(row[0] for row in COMPARED4),
    "first_vs_warm",
    "async_vs_sync",
    "default_concurrency",
)


def run(quick: bool) -> list[Result]:
    big = 1_000 if quick else 2_000
    ours: list[dict[str, tuple[float, float]]] = []
    peer: list[dict[str, tuple[float, float]]] = []
    peer4: list[dict[str, tuple[float, float]]] = []
    python4 = aps4_python()
    for number in range(ROUNDS):
        with tempdir("burst-peers") as folder:
            ours.append(_ours(folder, big))
        with tempdir("burst-peers-aps") as folder:
            peer.append(_peer(folder, big))
        if python4 is not None:
            with tempdir("burst-peers-aps4") as folder:
                peer4.append(_peer(folder, big, python4, "burst4"))
        say(
            f"round {number + 1}: ours {_show(ours[-1])}; APScheduler 3 {_show(peer[-1])}; "
            f"APScheduler 4 {_show(peer4[-1]) if peer4 else 'unavailable'}"
        )

    def med(rounds: list[dict[str, tuple[float, float]]], tag: str, index: int) -> float | None:
        values = [r[tag][index] for r in rounds if tag in r]
        return median(values) if values else None

    def spread(rounds: list[dict[str, tuple[float, float]]], tag: str, index: int) -> str:
        values = sorted(r[tag][index] for r in rounds if tag in r)
        return f"{values[0]:.3f}-{values[-1]:.3f} s" if values else "not all started"

    results = []
    for key, tag, index, label in COMPARED:
        us, them = med(ours, tag, index), med(peer, tag, index)
        ratio = us / them if us is not None and them else None
        results.append(
            Result(
                f"{label.format(big=f'{big:,}')}: ours / APScheduler 3 (memory, {POOL} threads)",
                ratio,
                "x",
                "<= 1.5x",
                "n/a" if ratio is None else ("PASS" if ratio <= 1.5 else "FAIL"),
                [
                    f"ours {spread(ours, tag, index)}, APScheduler 3 {spread(peer, tag, index)}, "
                    f"medians of {ROUNDS} alternating rounds"
                ],
                key=key,
            )
        )
    for key, tag, index, label in COMPARED4:
        us, them = med(ours, tag, index), med(peer4, tag, index)
        ratio = us / them if us is not None and them else None
        results.append(
            Result(
                f"{label.format(big=f'{big:,}')}: ours / APScheduler 4 "
                f"(memory data store, {POOL} threads)",
                ratio,
                "x",
                "<= 1.5x",
                "n/a" if ratio is None else ("PASS" if ratio <= 1.5 else "FAIL"),
                [
                    f"ours {spread(ours, tag, index)}, APScheduler 4 {spread(peer4, tag, index)}"
                    + (f", {APS4}" if peer4 else f" ({APS4} could not be installed)")
                ],
                key=key,
            )
        )
    first, warm = med(ours, "first", 0), med(ours, "warm", 0)
    ratio = first / warm if first is not None and warm else None
    results.append(
        Result(
            "200 sync Python tasks, first burst after start / warm burst: p99 start lag",
            ratio,
            "x",
            "<= 2x",
            "n/a" if ratio is None else ("PASS" if ratio <= 2 else "FAIL"),
            [f"first {spread(ours, 'first', 0)}, warm {spread(ours, 'warm', 0)}"],
            key="first_vs_warm",
        )
    )
    sync, asyn = med(ours, "sync", 1), med(ours, "async", 1)
    ratio = asyn / sync if asyn is not None and sync else None
    results.append(
        Result(
            f"{big:,} async / sync Python tasks, concurrency 200: all started",
            ratio,
            "x",
            "<= 1.5x",
            "n/a" if ratio is None else ("PASS" if ratio <= 1.5 else "FAIL"),
            [f"async {spread(ours, 'async', 1)}, sync {spread(ours, 'sync', 1)}"],
            key="async_vs_sync",
        )
    )
    default = med(ours, "default", 1)
    results.append(
        Result(
            f"{big:,} sync Python tasks, default concurrency: all started",
            default,
            "s",
            "-",
            "n/a",
            [f"{spread(ours, 'default', 1)} over {ROUNDS} rounds"],
            key="default_concurrency",
        )
    )
    return results


def _show(figures: dict[str, tuple[float, float]]) -> str:
    return ", ".join(
        f"{tag} p99 {p99:.3f}s all {last:.3f}s" for tag, (p99, last) in figures.items()
    )

"""Idle CPU of a runner with 10,000 schedules due hourly.

The real service runs as a subprocess on a temp YAML file and state file. Every schedule
fires once an hour (or once a day), at a minute that is outside the next 20 minutes, so
nothing is due while we measure. From READY=1 we wait 2 s (let start-up work settle),
then read the runner's process CPU clock (all its threads, in nanoseconds:
``common.cpu_seconds``), sleep 30 s, read again: CPU % = delta CPU seconds / elapsed
wall seconds * 100 (1 core = 100 %). (Read from /proc/PID/stat, in 10 ms clock ticks,
two readings could be off by 0.07 % of a core, as much as the goal.) Beside it, in
alternating rounds (median of 3 each), APScheduler 3 holding as many hourly cron jobs in
its memory store (``aps_peer.py idle``), measured the same way.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    PYTHON,
    Result,
    Runner,
    cpu_seconds,
    iso,
    judge,
    median,
    proc_status_kb,
    say,
    tempdir,
)

NAME = "idle_cpu"
ROWS = ("cpu", "apscheduler3")
#: Minutes (from now) that no generated schedule fires in.
QUIET_MINUTES = 20


def quiet_slots(now: datetime) -> list[tuple[int, int]]:
    """(minute, second) pairs of the hour that are not within the next QUIET_MINUTES."""
    busy = {(now.minute + k) % 60 for k in range(-1, QUIET_MINUTES + 1)}
    return [(m, s) for m in range(60) if m not in busy for s in range(60)]


def hourly_file(path: Path, count: int, *, job: str = 'command: ["true"]') -> None:
    """``count`` schedules that fire hourly or daily, none within QUIET_MINUTES of now.

    Half are 6-field cron ``S M * * * *``, a quarter ``every: 1h`` anchored at a quiet
    minute, a quarter ``daily`` at a quiet minute; a few time zones and one template.
    """
    now = datetime.now(UTC)
    slots = quiet_slots(now)
    anchor_hour = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    # Whole-hour offsets only, so that a quiet minute stays quiet in every zone.
    zones = ("UTC", "Europe/Berlin", "America/New_York")
    lines = [
        "scheduler:",
        "  timezone: UTC",
        "templates:",
        "  hourly:",
        "    tags: [bench]",
        "    timeout: 1m",
        "schedules:",
    ]
    for i in range(count):
        minute, second = slots[(i * 7919) % len(slots)]
        lines.append(f"  h-{i:06d}:")
        kind = i % 4
        if kind in (0, 1):
            lines.append(f'    schedule: "{second} {minute} * * * *"')
            lines.append("    template: hourly")
        elif kind == 2:
            start = anchor_hour + timedelta(minutes=minute, seconds=second)
            lines.append("    schedule: {every: 1h}")
            lines.append(f"    start_date: {iso(start.timestamp())}")
        else:
            lines.append(f'    schedule: {{daily: "{i % 24:02d}:{minute:02d}:{second:02d}"}}')
            lines.append(f"    timezone: {zones[i % len(zones)]}")
        lines.append(f"    {job}")
    path.write_text("\n".join(lines) + "\n")


ROUNDS = 3
PEER = Path(__file__).resolve().parent / "aps_peer.py"


def _ours(count: int, seconds: float) -> tuple[float, str]:
    with tempdir("idle") as folder:
        config = folder / "schedules.yaml"
        hourly_file(config, count)
        runner = Runner(config, folder / "state.db")
        with runner:
            ready = runner.wait_ready(180)
            time.sleep(2.0)
            c0, t0 = cpu_seconds(runner.pid), time.perf_counter()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(runner.pid), time.perf_counter()
            rss = proc_status_kb(runner.pid, "VmRSS")
            runner.stop()
        log = runner.log_path.read_text(errors="replace")
    fired = log.count(": starting run ")
    pct = (c1 - c0) / (t1 - t0) * 100
    note = (
        f"{(c1 - c0) * 1000:.1f} ms CPU in {t1 - t0:.1f}s after READY+2s; READY took "
        f"{ready:.1f}s; RSS {(rss or 0) / 1024:.0f} MiB; runs started meanwhile: {fired}"
    )
    return pct, note


@contextlib.contextmanager
def idle_peer(count: int) -> Iterator[tuple[int, float]]:
    """APScheduler 3 (memory store) holding ``count`` hourly cron jobs, none due: its pid
    and the seconds from its launch to its READY line (jobs added, scheduler started).
    Killed on leaving."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [PYTHON, str(PEER), "idle", str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith(b"READY"):
            raise RuntimeError(f"APScheduler 3 did not start: {line!r}")
        yield proc.pid, time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()


def _peer(count: int, seconds: float) -> float:
    """APScheduler 3's idle CPU, as ``_ours`` reads ours."""
    with idle_peer(count) as (pid, _):
        time.sleep(2.0)
        c0, t0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(pid), time.perf_counter()
    return (c1 - c0) / (t1 - t0) * 100


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    seconds = 10.0 if quick else 30.0
    ours: list[float] = []
    peers: list[float] = []
    notes: list[str] = []
    for number in range(ROUNDS):  # alternating, so that both see the same load
        pct, note = _ours(count, seconds)
        ours.append(pct)
        notes.append(note)
        peers.append(_peer(count, seconds))
        say(
            f"round {number + 1}: {count:,} hourly schedules: ours {pct:.3f} %, "
            f"APScheduler 3 {peers[-1]:.3f} % of a core ({note})"
        )
    us, them = median(ours), median(peers)
    spread = (
        f"ours {min(ours):.3f}-{max(ours):.3f} %, APScheduler 3 {min(peers):.3f}-{max(peers):.3f} %"
    )
    return [
        Result(
            f"idle CPU, {count:,} hourly schedules",
            us,
            "% core",
            "< 0.1 %",
            judge(us, below=0.1),
            [f"median of {ROUNDS} rounds; {spread}; {notes[0]}"],
            key="cpu",
        ),
        Result(
            f"idle CPU, {count:,} hourly cron jobs, APScheduler 3 (memory store)",
            them,
            "% core",
            notes=[f"the same rounds, alternating with ours; {seconds:.0f} s windows"],
            key="apscheduler3",
        ),
    ]

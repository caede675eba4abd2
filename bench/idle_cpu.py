"""Issue 3: idle CPU of a runner with 10,000 schedules due hourly.

The real service runs as a subprocess on a temp YAML file and state file. Every schedule
fires once an hour (or once a day), at a minute that is outside the next 20 minutes, so
nothing is due while we measure. From READY=1 we wait 2 s (let start-up work settle),
then read utime+stime of the runner from /proc/PID/stat, sleep 30 s, read again:
CPU % = delta CPU seconds / elapsed wall seconds * 100 (all threads; 1 core = 100 %).
The clock tick is 10 ms, so the resolution is about 0.03 % over 30 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Result, Runner, cpu_seconds, iso, judge, proc_status_kb, say, tempdir

NAME = "idle_cpu"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("cpu",)
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


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    seconds = 10.0 if quick else 30.0
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
    say(
        f"{count:,} hourly schedules: {pct:.3f} % CPU over {t1 - t0:.1f}s "
        f"({(c1 - c0) * 1000:.0f} ms CPU), READY after {ready:.1f}s, RSS {rss} kB"
    )
    note = (
        f"{(c1 - c0) * 1000:.0f} ms CPU in {t1 - t0:.1f}s after READY+2s; READY took "
        f"{ready:.1f}s; RSS {(rss or 0) / 1024:.0f} MiB; runs started meanwhile: {fired}"
    )
    return [
        Result(
            f"idle CPU, {count:,} hourly schedules",
            pct,
            "% core",
            "< 0.5 %",
            judge(pct, below=0.5),
            [note],
            key="cpu",
        )
    ]

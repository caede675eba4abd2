"""Firing goes on while a reload of 20,000 schedules is prepared.

The real service runs as a subprocess on a YAML file of 20,000 hourly schedules plus
one ``tick`` every second (a command). Once ready and ticking, the file is rewritten
with every one of the 20,000 changed (a new command) and the runner gets SIGHUP. The
ticks' dispatch latency (``started_at - scheduled_time``, read from the state after the
stop) is measured over the seconds around the reload: the worst one is how long firing
stopped while the reload was read, compared and applied. Also: the time from SIGHUP to
the runner's "reloaded" log line.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import Result, Runner, parse_ts, read_only, say, tempdir

NAME = "reload_firing"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("worst_tick", "reloaded")


def _write(path: Path, count: int, version: int) -> None:
    lines = [
        "scheduler:",
        "  missed_threshold: 5m",
        "  shutdown_grace: 2s",
        "schedules:",
        "  tick:",
        '    schedule: "* * * * * *"',
        '    command: ["true"]',
    ]
    for i in range(count):
        lines += [
            f"  s{i:05d}:",
            f'    schedule: "{i % 60} * * * *"',
            f'    command: ["echo", "v{version}"]',
        ]
    path.write_text("\n".join(lines) + "\n")


def _measure(count: int) -> tuple[float, float, float, str]:
    with tempdir("reload") as folder:
        config = folder / "schedules.yaml"
        _write(config, count, 1)
        state = folder / "state.db"
        runner = Runner(config, state)
        with runner:
            runner.wait_ready(300)
            time.sleep(3)
            _write(config, count, 2)
            before = len(runner.log_path.read_text(errors="replace").splitlines())
            assert runner.proc is not None
            hup = time.time()
            runner.proc.send_signal(1)  # SIGHUP
            deadline = time.monotonic() + 300
            took = float("nan")
            while time.monotonic() < deadline:
                lines = runner.log_path.read_text(errors="replace").splitlines()[before:]
                if any("reloaded" in line or "reload rejected" in line for line in lines):
                    took = time.time() - hup
                    break
                time.sleep(0.05)
            time.sleep(3)
            runner.stop()
        conn = read_only(state)
        try:
            rows = conn.execute(
                "SELECT scheduled_time, started_at FROM runs WHERE schedule = 'tick' "
                "AND started_at IS NOT NULL ORDER BY scheduled_time"
            ).fetchall()
        finally:
            conn.close()
    window = [
        (parse_ts(a), parse_ts(b)) for a, b in rows if hup - 2 <= parse_ts(a) <= hup + took + 2
    ]
    lags = [(b - a) * 1000 for a, b in window]
    quiet = [(parse_ts(a), parse_ts(b)) for a, b in rows if parse_ts(a) < hup - 2]
    base = max(((b - a) * 1000 for a, b in quiet), default=float("nan"))
    info = f"{len(window)} ticks around the reload, {len(rows)} in all"
    return max(lags, default=float("nan")), took, base, info


def run(quick: bool) -> list[Result]:
    count = 2_000 if quick else 20_000
    worst, took, base, info = _measure(count)
    say(
        f"reload of {count:,}: worst tick dispatch {worst:.0f} ms around it (before it "
        f"{base:.0f} ms); SIGHUP to 'reloaded' {took:.1f}s ({info})"
    )
    return [
        Result(
            f"reload {count:,} changed: worst tick latency during it",
            worst,
            "ms",
            "< 1000 ms",
            "PASS" if worst < 1000 else "FAIL",
            [info],
            key="worst_tick",
        ),
        Result(f"reload {count:,} changed: SIGHUP to reloaded", took * 1000, "ms", key="reloaded"),
    ]

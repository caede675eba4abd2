"""/metrics of a runner with 10,000 schedules: one scrape's time, size and series, and
what scraping costs the fire lag of a 1 s schedule.

The real service (``uno-schedule run``) on a temp YAML file and state. 10,000 schedules
``every: 1h`` whose first occurrences fall 2 ms apart just after the start (a Python task
``benchtasks.noop``), so that each has run once and its run count, last success and
next run are in the exposition, as on a long-lived runner; then they are quiet. And
``tick``, ``every: 1s``, a command.

Once every schedule has run, two windows of equal length: one without a scrape, one
with a client scraping back to back (far more often than Prometheus's 15 s).
The fire lag is ``started_at - scheduled_time`` of ``tick``'s runs in each window, read
from the state after the runner stopped. The scrape time is the client's wall time of a
whole GET, the body read. Goals: a scrape under 100 ms, and the lag's p50 with scrapes
within 2 ms of the one without.
"""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    Result,
    Runner,
    iso,
    judge,
    median,
    parse_ts,
    percentile,
    read_only,
    say,
    tempdir,
    write_task_module,
)

NAME = "metrics_scale"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("scrape", "series", "lag_p50", "lag_p50_scraped", "lag_p99_scraped")
PORT = 19_651


def _config(folder: Path, count: int, first: datetime) -> Path:
    write_task_module(folder)
    lines = [
        "scheduler:",
        f"  metrics_address: 127.0.0.1:{PORT}",
        "  default_concurrency: 8",
        "  shutdown_grace: 2s",
        "  kill_grace: 1s",
        "schedules:",
        "  tick:",
        "    schedule: {every: 1s}",
        "    queue: tick",
        '    command: "true"',
    ]
    for i in range(count):
        start = first + timedelta(seconds=i * 0.002)
        lines += [
            f"  s-{i:05d}:",
            "    schedule: {every: 1h}",
            f"    start_date: {iso(start.timestamp())}",
            "    task: benchtasks.noop",
        ]
    path = folder / "schedules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _scrape() -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=30) as response:
        body = response.read()
    return time.perf_counter() - t0, body


def _lags(state: Path, start: float, end: float) -> list[float]:
    conn = read_only(state)
    try:
        rows = conn.execute(
            "SELECT scheduled_time, started_at FROM runs WHERE schedule = 'tick' "
            "AND started_at IS NOT NULL AND scheduled_time >= ? AND scheduled_time < ?",
            (iso(start), iso(end)),
        ).fetchall()
    finally:
        conn.close()
    return [(parse_ts(b) - parse_ts(a)) * 1000 for a, b in rows]


def _finished(state: Path) -> int:
    conn = read_only(state)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM runs WHERE schedule != 'tick' AND result = 'success'"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


def run(quick: bool) -> list[Result]:
    count = 2_000 if quick else 10_000
    window = 10.0 if quick else 30.0
    with tempdir("metrics") as folder:
        # the schedules' first runs: after the start (the file's load takes a few s)
        first = datetime.now(UTC) + timedelta(seconds=15)
        config = _config(folder, count, first)
        state = folder / "state.db"
        runner = Runner(config, state)
        times: list[float] = []
        body = b""
        with runner:
            runner.wait_ready(180)
            say(f"{count:,} schedules ready; waiting for each to run once")
            deadline = time.time() + 300
            while _finished(state) < count and time.time() < deadline:
                time.sleep(1)
            done = _finished(state)
            if done < count:
                raise RuntimeError(f"only {done:,} of {count:,} schedules ran within 300 s")
            time.sleep(2)
            quiet_start = time.time()
            time.sleep(window)
            busy_start = time.time()
            while time.time() < busy_start + window:
                took, body = _scrape()
                times.append(took)
            busy_end = time.time()
            time.sleep(1.5)  # the last ticks are recorded
            runner.stop()
        quiet = _lags(state, quiet_start, busy_start)
        busy = _lags(state, busy_start, busy_end)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    scrape_ms = median(times) * 1000
    q50, b50 = percentile(quiet, 50), percentile(busy, 50)
    q99, b99 = percentile(quiet, 99), percentile(busy, 99)
    info = (
        f"{len(times)} scrapes back to back: median {scrape_ms:.0f} ms, max "
        f"{max(times) * 1000:.0f} ms, {series:,} series, {len(body) / 1e6:.1f} MB; tick lag "
        f"without scrapes p50 {q50:.1f} p99 {q99:.1f} ms ({len(quiet)} runs), with "
        f"p50 {b50:.1f} p99 {b99:.1f} ms ({len(busy)} runs)"
    )
    say(info)
    label = f"metrics, {count:,} schedules"
    return [
        Result(
            f"{label}: one scrape (median)",
            scrape_ms,
            "ms",
            "< 100 ms",
            judge(scrape_ms, below=100),
            [info],
            key="scrape",
        ),
        Result(f"{label}: series per scrape", float(series), "series", key="series"),
        Result(f"{label}: 1 s schedule's lag p50, no scrape", q50, "ms", key="lag_p50"),
        Result(
            f"{label}: 1 s schedule's lag p50, scraped",
            b50,
            "ms",
            f"< {q50 + 2:.1f} ms (no scrape + 2)",
            judge(b50, below=q50 + 2),
            key="lag_p50_scraped",
        ),
        Result(
            f"{label}: 1 s schedule's lag p99, scraped",
            b99,
            "ms",
            f"no scrape: {q99:.1f} ms",
            key="lag_p99_scraped",
        ),
    ]

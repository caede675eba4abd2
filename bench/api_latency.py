"""How soon a running leader acts on a schedule added or changed through the
library by another process.

A ``uno-schedule run`` leads with ``check_interval: 60`` (so nothing but the wake-up can
make it act within the minute). This process, through its own ``Scheduler`` on the same
state, adds a schedule and then changes it, twenty times each; the leader has acted when
the state holds the next run it computed for the new definition (the write that
``schedule()``/``update_schedule()`` make leaves it empty), timed from the moment the
call returned (its write committed). Goal: within 100 ms.
"""

from __future__ import annotations

import asyncio
import time

from common import Result, Runner, judge, median, read_only, say, tempdir

from unoschedule import Scheduler

NAME = "api_latency"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("added_p50", "added_max", "changed_p50", "changed_max")

FILE = """\
scheduler:
  check_interval: 60
schedules:
  hourly:
    schedule: {every: 1h}
    command: ["true"]
"""


def _next_run(state: object, name: str) -> str | None:
    conn = read_only(state)  # type: ignore[arg-type]
    try:
        row = conn.execute("SELECT next_run FROM schedules WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def _acted(state: object, name: str, before: str | None, deadline: float) -> float | None:
    while time.perf_counter() < deadline:
        now = _next_run(state, name)
        if now is not None and now != before:
            return time.perf_counter()
        time.sleep(0.001)
    return None


async def _measure(state: object, count: int) -> tuple[list[float], list[float]]:
    scheduler = Scheduler(storage=state)  # type: ignore[arg-type]
    adds: list[float] = []
    updates: list[float] = []
    for i in range(count):
        await asyncio.sleep(0.3)  # the leader is asleep again
        name = f"api-{i}"
        await scheduler.schedule(command=["true"], schedule="0 4 * * *", name=name)
        began = time.perf_counter()  # the write is committed: from here, it is the leader
        done = _acted(state, name, None, began + 5)
        if done is not None:
            adds.append((done - began) * 1000)
        await asyncio.sleep(0.3)
        before = _next_run(state, name)
        await scheduler.update_schedule(name, schedule="0 5 * * *")
        began = time.perf_counter()
        done = _acted(state, name, before, began + 5)
        if done is not None:
            updates.append((done - began) * 1000)
    scheduler.close()
    return adds, updates


def run(quick: bool) -> list[Result]:
    count = 5 if quick else 20
    with tempdir("api") as folder:
        config, state = folder / "schedules.yaml", folder / "state.db"
        config.write_text(FILE)
        with Runner(config, state) as runner:
            runner.wait_ready(60)
            adds, updates = asyncio.run(_measure(state, count))
            runner.stop()
    results = []
    for label, waits in (("added", adds), ("changed", updates)):
        if len(waits) < count:
            results.append(
                Result(
                    f"api: schedule {label} to leader acting",
                    None,
                    "ms",
                    "< 100 ms",
                    "FAIL",
                    [f"the leader acted on {len(waits)} of {count}"],
                    key=f"{label}_max",
                )
            )
            continue
        say(f"{label}: p50 {median(waits):.1f} ms, max {max(waits):.1f} ms over {count}")
        results.append(
            Result(
                f"api: schedule {label} to leader acting, p50",
                median(waits),
                "ms",
                key=f"{label}_p50",
            )
        )
        results.append(
            Result(
                f"api: schedule {label} to leader acting, max",
                max(waits),
                "ms",
                "< 100 ms",
                judge(max(waits), below=100.0),
                [f"{count} calls from another process, check_interval 60 s"],
                key=f"{label}_max",
            )
        )
    return results

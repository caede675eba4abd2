"""Fire latency, scheduled instant to job start, 1,000 schedules every 5 s.

The real service (``uno-schedule run``) runs as a subprocess on a temp YAML file and a
temp state file. Each of the 1,000 schedules is ``every: 5s`` anchored at its own
``start_date``, 5 ms apart, so the occurrences are spread evenly (200 per second, one
every 5 ms): this measures the latency of one firing, not a burst. Runs due in the first
2 s after READY are left out (warm-up); every occurrence due in the window must have a
run. The queue's concurrency is 1,000 so that the queue limit is not what is measured.

Two clocks, both read from the ``runs`` table after the runner stopped:

- in the job: the job itself reads the wall clock as its first act and leaves it in the
  run's ``output``: a Python task ``benchtasks.stamp`` returns ``time.time()`` (the
  output is its repr), a command is ``date +%s.%N`` (as trivial as ``true``, but it
  prints when it ran). ``job clock - scheduled_time`` is the latency the goal is about.
- dispatch: ``started_at - scheduled_time``; the run loop stamps ``started_at`` just
  before it hands the job to the executor (thread or fork/exec), so it leaves out the
  executor's own cost.

Variants, each its own runner: an in-process Python task (sync, so it runs in a thread)
and a command. A third, ``*/5 * * * * *`` cron with 5 second offsets (200 schedules due
at the same instant every second), shows the cost of simultaneity; no goal.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import Result, Runner, iso, judge, parse_ts, percentile, read_only, say, tempdir

NAME = "fire_latency"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
#: (variant key, label, job, spread, goal ms)
VARIANTS = (
    ("task", "Python task", "task: benchtasks.stamp", True, 10.0),
    ("command", "command", 'command: ["date", "+%s.%N"]', True, 50.0),
    (
        "cron_task",
        "Python task, cron */5s, 200 due per instant",
        "task: benchtasks.stamp",
        False,
        None,
    ),
)
ROWS = tuple(f"{v[0]}_{m}" for v in VARIANTS for m in ("p50", "p99", "dispatch_p99"))
PERIOD = 5.0
WARMUP = 2.0
SLICE = 5.0


def _config(folder: Path, count: int, job: str, spread: bool) -> Path:
    from common import write_task_module

    write_task_module(folder)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        "scheduler:",
        f"  default_concurrency: {max(count, 4)}",
        "  missed_threshold: 5m",
        # A backlog must not hold the stop for the default 30 s grace.
        "  shutdown_grace: 2s",
        "  kill_grace: 1s",
        "schedules:",
    ]
    step = PERIOD / count
    for i in range(count):
        lines.append(f"  lat-{i:05d}:")
        if spread:
            start = base + timedelta(seconds=i * step)
            lines.append("    schedule: {every: 5s}")
            lines.append(f"    start_date: {iso(start.timestamp())}")
        else:
            lines.append(f'    schedule: "{i % 5}/5 * * * * *"')
        lines.append(f"    {job}")
    path = folder / "schedules.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _measure(
    count: int, job: str, spread: bool, seconds: float
) -> tuple[list[float], list[float], str]:
    with tempdir("latency") as folder:
        config = _config(folder, count, job, spread)
        state = folder / "state.db"
        runner = Runner(config, state)
        with runner:
            ready = runner.wait_ready(120)
            assert runner.ready_wall is not None
            window_start = runner.ready_wall + WARMUP
            time.sleep(WARMUP + seconds + 0.5)
            window_end = window_start + seconds
            runner.stop()
        conn = read_only(state)
        try:
            rows = conn.execute(
                "SELECT scheduled_time, started_at, result, output FROM runs "
                "WHERE trigger = 'schedule' "
                "AND scheduled_time >= ? AND scheduled_time < ?",
                (iso(window_start), iso(window_end)),
            ).fetchall()
        finally:
            conn.close()
    dispatch = [(parse_ts(b) - parse_ts(a)) * 1000 for a, b, _, _ in rows if b is not None]
    in_job = []
    # The worst lag in each SLICE seconds of the window: a tail that sits at its start
    # (the sync workers' pool is still being forked then) reads differently from one
    # spread over it.
    worst: dict[int, float] = {}
    for scheduled, _, _, output in rows:
        with contextlib.suppress(ValueError):
            lag = (float((output or "").strip()) - parse_ts(scheduled)) * 1000
            in_job.append(lag)
            part = int((parse_ts(scheduled) - window_start) // SLICE)
            worst[part] = max(worst.get(part, lag), lag)
    unstarted = sum(1 for _, b, _, _ in rows if b is None)
    expected = round(seconds / PERIOD * count)
    results: dict[str, int] = {}
    for _, _, result, _ in rows:
        results[result] = results.get(result, 0) + 1
    info = (
        f"{len(rows):,} runs ({len(in_job):,} with a job clock) in a {seconds:.0f}s "
        f"window (expected about {expected:,}), "
        f"results {results}, {unstarted} never started; start-to-READY {ready:.1f}s; "
        f"worst per {SLICE:g} s of the window: "
        + ", ".join(f"{worst[part]:.1f}" for part in sorted(worst))
        + " ms"
    )
    if len(rows) < expected * 0.95:
        info += "; FEWER RUNS THAN EXPECTED"
    return in_job, dispatch, info


def run(quick: bool) -> list[Result]:
    count = 100 if quick else 1_000
    seconds = 8.0 if quick else 25.0
    variants = VARIANTS
    if quick:
        variants = variants[:2]
    results = []
    for key, label, job, spread, goal in variants:
        in_job, dispatch, info = _measure(count, job, spread, seconds)
        goal_text = f"< {goal:g} ms" if goal else ""
        prefix = f"fire latency {count:,} sched, {label}"
        if not in_job or not dispatch:
            results.append(
                Result(f"{prefix}: p99", None, "ms", goal_text, "n/a", [info], f"{key}_p99")
            )
            continue
        p50, p99, worst = percentile(in_job, 50), percentile(in_job, 99), max(in_job)
        d50, d99 = percentile(dispatch, 50), percentile(dispatch, 99)
        say(
            f"{label}: in job p50 {p50:.1f} p99 {p99:.1f} max {worst:.1f} ms; "
            f"dispatch p50 {d50:.1f} p99 {d99:.1f} ms ({info})"
        )
        results.append(Result(f"{prefix}: p50 (job clock)", p50, "ms", key=f"{key}_p50"))
        results.append(
            Result(
                f"{prefix}: p99 (job clock)",
                p99,
                "ms",
                goal_text,
                judge(p99, below=goal),
                [
                    f"max {worst:.1f} ms; dispatch (started_at) p50 {d50:.1f} ms, "
                    f"p99 {d99:.1f} ms, max {max(dispatch):.1f} ms; {info}"
                ],
                key=f"{key}_p99",
            )
        )
        results.append(Result(f"{prefix}: p99 (started_at)", d99, "ms", key=f"{key}_dispatch_p99"))
    return results

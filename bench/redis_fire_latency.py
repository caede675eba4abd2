"""Fire lag on Redis, scheduled instant to job start, as ``fire_latency``
measures it on SQLite (the same 1,000 schedules every 5 s, spread 5 ms apart).

The runner keeps its state in a local redis-server. Variants: the leader runs the jobs
itself (a Python task, a command), and the leader hands every run to two
``uno-schedule worker`` processes (a command), which adds the stream, the slot and the
start script of a worker to the path. The job clock is the job's own first reading of
the wall clock (``benchtasks.stamp``'s return value, ``date +%s.%N``), left in the run's
output; runs due in the first 2 s after the leader's "ready" are left out.
"""

from __future__ import annotations

import contextlib
import time

from common import Result, judge, percentile, say, tempdir
from fire_latency import PERIOD, WARMUP, _config
from redis_common import Proc, redis_server, unique_prefix

NAME = "redis_fire_latency"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("leader_task_p99", "leader_command_p99", "workers_command_p99")


def _measure(count: int, job: str, workers: int, seconds: float) -> tuple[list[float], str]:
    from unoschedule.store.redis import RedisStorage

    with tempdir("rlatency") as folder, redis_server(folder / "redis") as server:
        config = _config(folder, count, job, True)
        prefix = unique_prefix()
        extra = ("--queues", "") if workers else ()
        leader = Proc(config, server.url, prefix, "run", *extra, tag="leader")
        helpers = [
            Proc(config, server.url, prefix, "worker", "--queues", "scheduled", tag=f"worker{i}")
            for i in range(workers)
        ]
        try:
            ready = leader.wait_for("ready:", 120)
            for helper in helpers:
                helper.wait_for("serving", 60)
            window_start = ready + WARMUP
            time.sleep(WARMUP + seconds + 0.5)
            window_end = window_start + seconds
        finally:
            for proc in (leader, *helpers):
                proc.stop()
        store = RedisStorage(server.url, key_prefix=prefix)
        try:
            rows = store.history(None, limit=10_000_000)
        finally:
            store.close()
    lags, results = [], {}
    expected = 0
    for r in rows:
        at = r.scheduled_time.timestamp()
        if not window_start <= at < window_end or r.trigger != "schedule":
            continue
        expected += 1
        results[r.result] = results.get(r.result, 0) + 1
        with contextlib.suppress(ValueError):
            lags.append((float((r.output or "").strip()) - at) * 1000)
    info = (
        f"{expected:,} runs in a {seconds:.0f}s window (expected about "
        f"{round(seconds / PERIOD * count):,}), results {results}"
    )
    return lags, info


def run(quick: bool) -> list[Result]:
    count = 100 if quick else 1_000
    seconds = 8.0 if quick else 20.0
    variants = (
        ("leader_task", "leader runs it, Python task", "task: benchtasks.stamp", 0, 10.0),
        ("leader_command", "leader runs it, command", 'command: ["date", "+%s.%N"]', 0, 50.0),
        ("workers_command", "2 workers run it, command", 'command: ["date", "+%s.%N"]', 2, 50.0),
    )
    results = []
    for key, label, job, workers, goal in variants:
        lags, info = _measure(count, job, workers, seconds)
        name = f"Redis fire lag {count:,} sched, {label}: p99"
        if not lags:
            results.append(Result(name, None, "ms", f"< {goal:g} ms", "n/a", [info], f"{key}_p99"))
            continue
        p50, p99 = percentile(lags, 50), percentile(lags, 99)
        say(f"{label}: p50 {p50:.1f} p99 {p99:.1f} max {max(lags):.1f} ms ({info})")
        results.append(
            Result(
                name,
                p99,
                "ms",
                f"< {goal:g} ms",
                judge(p99, below=goal),
                [f"p50 {p50:.1f} ms, max {max(lags):.1f} ms; {info}"],
                key=f"{key}_p99",
            )
        )
    return results

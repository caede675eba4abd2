"""A burst of 10,000 occurrences due at one instant, run by three workers.

As ``burst`` (10,000 one-time schedules ``at: T``, the command ``true``, concurrency
200), with the state in a local redis-server, the leader executing no queue itself
(``run --queues ''``) and three ``uno-schedule worker`` processes serving the queue:
every run is claimed by the leader in one script, handed to the queue's stream, and
started by whichever worker holds one of the queue's 200 slots (shared by the three).

Figures, from the state after the runs: all claimed (the poll that first saw a record
for every occurrence, 0.1 s resolution), all started (``max(started_at) - T``) and all
finished (``max(finished_at) - T``); every run must be ``success`` and started once.
"""

from __future__ import annotations

import math
import time
from collections import Counter

from burst import _file
from common import Result, judge, say, tempdir
from redis_common import Proc, redis_server, unique_prefix

NAME = "redis_burst"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("claimed", "started", "finished")
WORKERS = 3


def _once(count: int, margin: float, timeout: float) -> tuple[dict[str, float], str]:
    from unoschedule.store.redis import RedisStorage

    with tempdir("rburst") as folder, redis_server(folder / "redis") as server:
        config = folder / "schedules.yaml"
        at = math.ceil(time.time() + margin)
        _file(config, count, at, 'command: ["true"]')
        prefix = unique_prefix()
        leader = Proc(config, server.url, prefix, "run", "--queues", "", tag="leader")
        workers = [
            Proc(config, server.url, prefix, "worker", "--queues", "scheduled", tag=f"worker{i}")
            for i in range(WORKERS)
        ]
        store = RedisStorage(server.url, key_prefix=prefix)
        out: dict[str, float] = {}
        try:
            ready = leader.wait_for("ready:", margin + 60)
            for worker in workers:
                worker.wait_for("serving", 60)
            if ready > at - 2:
                raise _TooLate(f"ready {ready - at:+.1f}s from T")
            time.sleep(max(0.0, at - time.time()))
            deadline = time.time() + timeout
            client = store.client
            while time.time() < deadline:
                time.sleep(0.1)
                if "claimed" not in out and client.zcard(store.k("history")) >= count:
                    out["claimed"] = time.time() - at
                if "claimed" in out and not client.scard(store.k("unfinished")):
                    break
            for proc in (leader, *workers):
                proc.stop()
            runs = store.history(None, limit=count * 2)
        finally:
            for proc in (leader, *workers):
                proc.stop()
            store.close()
    results = Counter(r.result for r in runs)
    started = [r.started_at.timestamp() for r in runs if r.started_at]
    finished = [r.finished_at.timestamp() for r in runs if r.finished_at]
    if len(started) >= count:
        out["started"] = max(started) - at
    if len(finished) >= count:
        out["finished"] = max(finished) - at
    by_worker = Counter(r.pid for r in runs)
    twice = sum(n - 1 for n in Counter(r.schedule for r in runs).values() if n > 1)
    info = (
        f"{len(runs):,} runs of {count:,}, results {dict(results)}, {twice} twice; "
        f"per worker {sorted(by_worker.values(), reverse=True)}"
    )
    return out, info


class _TooLate(Exception):
    pass


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    timeout = 60.0 if quick else 180.0
    margin = 15.0 if quick else 25.0
    for _ in range(3):
        try:
            times, info = _once(count, margin, timeout)
            break
        except _TooLate as exc:
            say(f"{exc}; again with a larger margin")
            margin *= 2
    else:
        return [
            Result(
                f"Redis burst {count:,}, 3 workers: all claimed",
                None,
                "s",
                "< 5 s",
                "n/a",
                ["the leader was never ready early enough"],
                key="claimed",
            )
        ]
    say(", ".join(f"{k} {v:.2f}s" for k, v in times.items()) + f" ({info})")
    prefix = f"Redis burst {count:,} at one instant, {WORKERS} workers"
    claimed = times.get("claimed")
    return [
        Result(
            f"{prefix}: all claimed and handed off",
            claimed,
            "s",
            "< 5 s",
            judge(claimed, below=5.0) if claimed is not None else "FAIL",
            key="claimed",
        ),
        Result(f"{prefix}: all started", times.get("started"), "s", notes=[info], key="started"),
        Result(f"{prefix}: all finished", times.get("finished"), "s", key="finished"),
    ]

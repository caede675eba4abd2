"""Occurrence claims per second, Redis vs SQLite, through the Store interface.

In this process: one store of each kind, the lease held, then ``claim_many`` with
batches of 1 (what a schedule firing alone costs: one script or one fsync'd transaction
per claim) and of 1,000 (a burst at one tick). Each claim is a new occurrence of one of
100 schedules, with its ``next_run`` advanced, as the run loop claims them. SQLite is on
this machine's disk with ``synchronous=FULL`` (an fsync per commit); Redis is a local
redis-server with persistence off (its durability is Redis's configuration, not ours).
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

from common import Result, say, tempdir
from redis_common import redis_server, unique_prefix

NAME = "redis_claims"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("single.redis", "single.sqlite", "batch.redis", "batch.sqlite")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rate(store: object, batch: int, total: int) -> float:
    from unoschedule.model import RunRecord, ScheduleState
    from unoschedule.records import Claim

    names = [f"s{i:03d}" for i in range(100)]
    store.save_schedules([(ScheduleState(n, {"schedule": "x"}), None) for n in names])  # type: ignore[attr-defined]
    lease = store.acquire_lease("bench", 600, T0)  # type: ignore[attr-defined]
    counter = itertools.count()
    started = time.perf_counter()
    done = 0
    while done < total:
        claims = []
        for _ in range(batch):
            i = next(counter)
            name = names[i % 100]
            at = T0 + timedelta(seconds=i)
            run = RunRecord(f"r{i}", name, at, queued_at=at, queue="default")
            claims.append(Claim(run, f"{name}@{i}#1", at + timedelta(seconds=100)))
        results = store.claim_many(claims, epoch=lease.epoch)  # type: ignore[attr-defined]
        assert all(results)
        done += batch
    return done / (time.perf_counter() - started)


def run(quick: bool) -> list[Result]:
    from unoschedule.store.redis import RedisStorage
    from unoschedule.store.sqlite import SQLiteStorage

    singles = 300 if quick else 3_000
    bursts = 5_000 if quick else 50_000
    rates: dict[tuple[str, int], float] = {}
    with tempdir("claims") as folder, redis_server(folder / "redis") as server:
        for batch, total in ((1, singles), (1000, bursts)):
            sqlite = SQLiteStorage(folder / f"state-{batch}.db")
            try:
                rates[("SQLite", batch)] = _rate(sqlite, batch, total)
            finally:
                sqlite.close()
            redis = RedisStorage(server.url, key_prefix=unique_prefix())
            try:
                rates[("Redis", batch)] = _rate(redis, batch, total)
            finally:
                redis.close()
    for (kind, batch), rate in rates.items():
        say(f"{kind}, batches of {batch}: {rate:,.0f} claims/s")
    rows = []
    for batch, total in ((1, singles), (1000, bursts)):
        label = "one per call" if batch == 1 else "batches of 1,000"
        for kind in ("Redis", "SQLite"):
            rows.append(
                Result(
                    f"claims/s, {label}: {kind}",
                    rates[(kind, batch)],
                    "per s",
                    notes=[f"{total:,} claims"] if kind == "Redis" else [],
                    key=f"{'single' if batch == 1 else 'batch'}.{kind.lower()}",
                )
            )
    return rows

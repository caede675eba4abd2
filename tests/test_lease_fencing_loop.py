"""The run loop of a leader that was frozen past its lease, on both stores: when it
thaws, it starts nothing more (not even the run waiting for the slot that its finished
job frees), and it stops firing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from redis_server import RedisServer, unique_prefix
from test_loop import Harness, cron

from unoschedule.store.redis import RedisStorage


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_thawed_leader_starts_nothing_once_another_leads(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    h = Harness(tmp_path, [cron("a", "* * * * *", queue="q")], lock_timeout=60, queues={"q": 1})
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        h.store.close()
        h.store = RedisStorage(server.url, key_prefix=unique_prefix())  # type: ignore[assignment]
    h.executor.hold["a"] = asyncio.Event()

    async def go() -> None:
        loop = h.start()
        h.clock.set(h.clock.now().replace(hour=9, minute=0))
        loop.tick(h.clock.now())  # 09:00 starts and is held
        await asyncio.sleep(0)
        h.clock.set(h.clock.now() + timedelta(minutes=1))
        loop.tick(h.clock.now())  # 09:01 is claimed and waits for the queue's one slot
        await asyncio.sleep(0)
        assert len(h.executor.calls) == 1
        # frozen for two minutes: the lease ran out and another runner took it
        h.clock.set(h.clock.now() + timedelta(minutes=2))
        successor = h.store.acquire_lease("b", 60, h.clock.now())
        assert successor is not None and successor.epoch > loop.epoch
        # thawed: the held job ends, which frees the slot the 09:01 run waits for
        h.executor.hold["a"].set()
        await loop.wait_idle()
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(h.executor.calls) == 1, h.executor.calls  # 09:01 was not started
        assert loop.firing is False
        waiting = [r for r in h.store.history("a") if r.result == "queued"]
        assert len(waiting) == 1  # left for the successor to run
        assert {r.run_id for r in h.store.unfinished_runs()} >= {waiting[0].run_id}

    try:
        asyncio.run(go())
    finally:
        h.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_leader_frozen_between_marking_a_run_running_and_its_spawn_spawns_nothing(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    h = Harness(tmp_path, [cron("a", "* * * * *")], lock_timeout=60)
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        h.store.close()
        h.store = RedisStorage(server.url, key_prefix=unique_prefix())  # type: ignore[assignment]

    async def go() -> None:
        loop = h.start()
        h.clock.set(h.clock.now().replace(hour=9, minute=0))
        loop.tick(h.clock.now())  # 09:00 is claimed and marked running; its task waits
        (record,) = h.store.history("a")
        assert record.result == "running"
        # frozen right here for two minutes; another runner took the lease
        h.clock.set(h.clock.now() + timedelta(minutes=2))
        assert h.store.acquire_lease("b", 60, h.clock.now()) is not None
        await loop.wait_idle()
        assert h.executor.calls == []  # thawed: the job was not spawned
        got = h.store.get_run(record.run_id)
        assert got is not None and got.result == "interrupted"
        assert loop.firing is False

    try:
        asyncio.run(go())
    finally:
        h.store.close()

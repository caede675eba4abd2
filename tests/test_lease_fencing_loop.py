"""The run loop of a leader that was frozen past its lease, on both stores: when it
thaws, it starts nothing more (not even the run waiting for the slot that its finished
job frees), and it stops firing; the end of a job it ran, which the leader that took
over already settled, is neither counted, notified nor retried by it."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, unique_prefix
from test_loop import Harness, cron

from unoschedule.abc import Observer
from unoschedule.jobs import JobOutcome
from unoschedule.metrics import Metrics
from unoschedule.model import RunRecord, ScheduleDefinition
from unoschedule.records import Finish
from unoschedule.runner.log import Logger
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


def test_a_leader_frozen_mid_tick_past_a_lease_nobody_took_stops_firing_on_redis(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frozen between its tick's start and its claim, past its lease, nobody taking
    over: Redis's fence refuses the claim (the lease's key expired), and the leader
    stops firing rather than take the refusal for an occurrence claimed before and skip
    it. The lease, still named as the last one, decides nothing."""
    h = Harness(tmp_path, [cron("a", "* * * * *")], lock_timeout=60)
    server: RedisServer = request.getfixturevalue("redis_server")
    h.store.close()
    store = h.store = RedisStorage(server.url, key_prefix=unique_prefix())  # type: ignore[assignment]
    claim_many = store.claim_many

    def frozen_then_claim(claims: list[object], *, epoch: int, **more: Any) -> list[bool]:
        h.clock.set(h.clock.now() + timedelta(minutes=2))
        store.client.delete(store.k("lease"))  # its time-to-live ran out meanwhile
        return claim_many(claims, epoch=epoch, **more)  # type: ignore[arg-type]

    async def go() -> None:
        loop = h.start()
        store.claim_many = frozen_then_claim  # type: ignore[method-assign,assignment]
        h.clock.set(h.clock.now().replace(hour=9, minute=0))
        loop.tick(h.clock.now())
        assert loop.firing is False
        assert h.store.history("a") == []  # 09:00 left for the next leader, not skipped
        last = store.current_lease()
        assert last is not None and (last.instance_id, last.epoch) == ("a", loop.epoch)

    try:
        asyncio.run(go())
    finally:
        store.close()
    # what it says: its own lease ran out, not "another leader holds epoch ?"
    assert (
        "a claim was refused: this scheduler's lease expired before it was renewed, and "
        "nobody holds it; stopping" in capsys.readouterr().err
    )


def test_a_sqlite_leader_whose_claim_was_refused_as_claimed_before_keeps_firing_past_its_expiry(
    tmp_path: Path,
) -> None:
    """On SQLite the file lock keeps one runner and the fence is the lease row's epoch:
    a leader frozen mid-tick past its lease's expiry, nobody having taken the lease, is
    refused a claim only for an occurrence claimed before, and goes on leading (its
    next renewal succeeds); it does not stop and kill its running jobs."""
    h = Harness(tmp_path, [cron("a", "* * * * *")], lock_timeout=60)
    claim_many = h.store.claim_many

    def frozen_then_claimed_before(claims: list[object], *, epoch: int, **more: Any) -> list[bool]:
        h.clock.set(h.clock.now() + timedelta(minutes=2))  # past the lease's expiry
        claim_many(claims, epoch=epoch, **more)  # type: ignore[arg-type]
        return [False] * len(claims)  # as if claimed before

    async def go() -> None:
        loop = h.start()
        h.store.claim_many = frozen_then_claimed_before  # type: ignore[method-assign,assignment]
        h.clock.set(h.clock.now().replace(hour=9, minute=0))
        loop.tick(h.clock.now())
        assert loop.firing is True
        assert loop.renew_lease(h.clock.now()) is True

    asyncio.run(go())


class Counted(Observer):
    """The run loop's observer as the leader's housekeeping (``runner.ops``) is: the
    metrics count the ends it is told of."""

    def __init__(self) -> None:
        self.metrics = Metrics()

    def finished(
        self, run: RunRecord, outcome: JobOutcome, started: datetime, at: datetime
    ) -> None:
        self.metrics.finished(run, outcome.result, (at - started).total_seconds(), at)

    def recorded(self, run: RunRecord) -> None:
        self.metrics.recorded(run)


class Told:
    """A notifier that keeps what it is told (``notify:`` targets)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def tell(
        self,
        event: str,
        run: RunRecord,
        definition: ScheduleDefinition,
        detail: str | None,
        output: str | None = None,
    ) -> None:
        self.events.append((event, run.run_id))


def deposed_leaders_end(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, **definition: object
) -> tuple[Counted, Told, list[str], str, str, list[tuple[int, str]]]:
    """Leader ``a`` starts the 09:00 run of a job that fails, is frozen past its lease,
    ``b`` takes the lease over and its recovery records the run interrupted; then ``a``
    thaws and its job ends. Returns what ``a`` counted, notified, handed its error
    handler and logged, the run's id, and the attempts the state then holds."""
    h = Harness(tmp_path, [cron("a", "* * * * *", **definition)], lock_timeout=60)
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        h.store.close()
        h.store = RedisStorage(server.url, key_prefix=unique_prefix())  # type: ignore[assignment]
    h.executor.hold["a"] = asyncio.Event()
    h.executor.script["a"] = ["error"]
    said = io.StringIO()
    counted, told, handled = Counted(), Told(), []

    async def go() -> str:
        loop = h.start(log=Logger(said))
        loop.observer = counted
        loop.settler.notifier = told  # type: ignore[assignment]
        loop.on_failure = lambda run, definition, outcome: handled.append(run.run_id)
        h.clock.set(h.clock.now().replace(hour=9, minute=0))
        loop.tick(h.clock.now())  # 09:00 starts and is held
        await asyncio.sleep(0)
        (record,) = h.store.history("a")
        # frozen for two minutes: ``b`` took the lease over and recovered the run
        h.clock.set(h.clock.now() + timedelta(minutes=2))
        assert h.store.acquire_lease("b", 60, h.clock.now()) is not None
        cut_off = Finish(record.run_id, "interrupted", h.clock.now(), error="cut off")
        h.store.finish_runs([cut_off])
        h.executor.hold["a"].set()  # thawed: the job ends in error
        await loop.wait_idle()
        for _ in range(5):
            await asyncio.sleep(0)
        return record.run_id

    try:
        run_id = asyncio.run(go())
        got = h.store.get_run(run_id)
        assert got is not None and (got.result, got.error) == ("interrupted", "cut off")
        attempts = sorted((r.attempt, r.result) for r in h.store.history("a"))
        return counted, told, handled, said.getvalue(), run_id, attempts
    finally:
        h.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_failed_end_of_a_deposed_leader_is_neither_counted_nor_notified(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    counted, told, handled, said, run_id, _ = deposed_leaders_end(tmp_path, backend, request)
    assert "uno_schedule_runs_total{" not in counted.metrics.text()
    assert told.events == []
    assert handled == []  # no error handler for an end the state does not hold
    lines = [line for line in said.splitlines() if run_id in line]
    (not_recorded,) = [line for line in lines if "not recorded" in line]  # said once
    assert f"a: run {run_id} ended error, not recorded: this scheduler lost its lease" in (
        not_recorded
    )
    assert not any(f"run {run_id} error: boom" in line for line in lines)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_failed_end_of_a_deposed_leader_queues_no_retry(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    counted, told, handled, said, _, attempts = deposed_leaders_end(
        tmp_path, backend, request, max_retries=2, retry_delay=30.0
    )
    assert attempts == [(1, "interrupted")]  # the leader that took over owns its retry
    assert "attempt 2 of 3" not in said
    assert "uno_schedule_runs_total{" not in counted.metrics.text()
    assert (told.events, handled) == ([], [])


@pytest.mark.parametrize("fenced", [True, False])
def test_a_leader_fenced_by_its_lease_moves_its_jobs_fence_at_each_renewal(
    tmp_path: Path, fenced: bool
) -> None:
    """With a lease only the store keeps (``fence_jobs``, as on Redis), taking and each
    renewal of the lease set the instant the jobs are killed at (``JobRunner.fence``):
    0.8 of ``lock_timeout`` after the request was sent. Under the file lock, never."""
    from unoschedule.runner.keeper import FENCE
    from unoschedule.runner.processes import steady

    h = Harness(tmp_path, [cron("a", "0 0 1 1 *")], lock_timeout=60)
    fences: list[float | None] = []
    h.executor.fence = fences.append  # type: ignore[attr-defined]
    loop = h.start()
    assert fences == []  # ``start`` takes the lease before anyone says it is fenced
    loop.fence_jobs = fenced
    try:
        before = steady()
        assert loop.take_lease(h.clock.now())
        h.clock.set(h.clock.now() + timedelta(seconds=30))
        assert loop.renew_lease(h.clock.now())
        after = steady()
    finally:
        h.store.close()
    if not fenced:
        assert fences == []
        return
    assert len(fences) == 2
    first, second = fences
    assert first is not None and second is not None
    assert before + FENCE * 60 <= first <= second <= after + FENCE * 60


def test_the_loop_wakes_to_renew_its_lease_a_third_of_lock_timeout_after_the_last_renewal(
    tmp_path: Path,
) -> None:
    """Not up to two thirds later (a wake capped at a third, then a third more before
    the renewal is stale): the jobs' fence comes at 0.8 of ``lock_timeout`` after a
    renewal, and the margin must hold a busy loop's delay."""
    h = Harness(tmp_path, [cron("a", "0 0 1 1 *")], lock_timeout=30, check_interval=60)
    loop = h.start()
    try:
        start = h.clock.now()
        loop.tick(start)
        h.clock.set(start + timedelta(seconds=9))
        assert loop.seconds_until_next(h.clock.now()) == 1.0
        h.clock.set(start + timedelta(seconds=10))
        loop.tick(h.clock.now())  # renews
        assert loop.seconds_until_next(h.clock.now()) == 10.0
    finally:
        h.store.close()

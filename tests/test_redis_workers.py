"""Queues served by ``uno-schedule worker`` processes through Redis Streams: a queue's
concurrency across workers, every run once, a dead worker's job reclaimed, recorded
``interrupted`` and retried; and the stream primitives underneath."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, unique_prefix
from store_contract import T0, run, sched

from unoschedule.ids import new_run_id
from unoschedule.model import RunRecord
from unoschedule.records import Finish
from unoschedule.store.redis import RedisStorage
from unoschedule.timeutil import MAX_DURATION


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStorage]:
    s = RedisStorage(redis_server.url, key_prefix=unique_prefix())
    yield s
    s.close()


# -- the primitives -------------------------------------------------------------------------


def test_a_worker_removes_the_output_files_of_runs_the_state_no_longer_holds(
    store: RedisStorage, tmp_path: Path
) -> None:
    """The leader's retention deletes runs and the files on its own host; a worker's
    files, on another host, go at its sweep. A file written lately stays (a job may still
    print to it)."""
    from test_loop import cron

    from unoschedule import runlogs
    from unoschedule.runner.worker import SWEEP_SECONDS, Worker
    from unoschedule.scheduler import Scheduler

    logs = tmp_path / "runlogs"
    scheduler = Scheduler(storage=store, log_dir=str(logs), metrics_enabled=False)
    scheduler.definitions["beat"] = cron("beat", "* * * * *")
    store.enqueue(run("held", "beat"))
    for run_id in ("held", "pruned", "fresh"):
        os.close(runlogs.open_run_file(logs, "beat", run_id))
    old = time.time() - 2 * SWEEP_SECONDS
    for run_id in ("held", "pruned"):
        os.utime(runlogs.path_of(logs, "beat", run_id), (old, old))
    Worker(scheduler, ["reports"])._sweep(logs)
    assert sorted(f.stem for f in (logs / "beat").iterdir()) == ["fresh", "held"]


def test_slots_bound_a_queue_across_workers_and_expire(store: RedisStorage) -> None:
    q = store.queues
    w1 = q.acquire_slots("reports", 2, "w1", 30)
    assert w1 == ["w1:0"]
    assert q.acquire_slots("reports", 2, "w2", 30, want=5) == ["w2:0"]  # the last one
    assert q.acquire_slots("reports", 2, "w3", 30) == []  # a third worker waits
    assert q.acquire_slots("default", 1, "w3", 30) == ["w3:0"]  # queues are counted apart
    q.release_slots("reports", w1)
    assert q.acquire_slots("reports", 2, "w3", 30, want=2) == ["w3:0"]
    # a slot whose worker died frees itself (its expiry is the visibility timeout)
    assert q.acquire_slots("other", 1, "dead", 0.05) == ["dead:0"]
    time.sleep(0.1)
    assert q.acquire_slots("other", 1, "alive", 30) == ["alive:0"]


def test_a_freed_slot_goes_to_the_worker_longest_in_line_not_back_to_its_holder(
    store: RedisStorage,
) -> None:
    q = store.queues
    assert q.acquire_slots("reports", 1, "a", 30, waiter="A") == ["a:0"]
    assert q.acquire_slots("reports", 1, "b", 30, waiter="B") == []  # B waits first
    assert q.acquire_slots("reports", 1, "c", 30, waiter="C") == []  # then C
    assert not q.wait_for_slot("reports", "B", 0.01)  # nothing freed yet
    q.release_slots("reports", ["a:0"])
    assert q.wait_for_slot("reports", "B", 5)  # the first in line is woken
    assert not q.wait_for_slot("reports", "C", 0.01)  # the others are not
    assert q.acquire_slots("reports", 1, "a2", 30, waiter="A") == []  # A joins the line
    assert q.acquire_slots("reports", 1, "c2", 30, waiter="C") == []  # C is behind B
    assert q.acquire_slots("reports", 1, "b2", 30, waiter="B") == ["b2:0"]
    # a settled run frees its slot the same way
    q.release_slots("reports", ["b2:0"])
    assert q.acquire_slots("reports", 1, "x", 30) == []  # no place in line: none for it
    assert q.acquire_slots("reports", 1, "a3", 30, waiter="A") == []  # C waited longer
    q.leave_line("reports", "C")  # C gave up: A is first
    assert q.acquire_slots("reports", 1, "a4", 30, waiter="A") == ["a4:0"]


def test_a_worker_silent_in_line_loses_its_place(
    store: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unoschedule.store import redis as redis_store

    monkeypatch.setattr(redis_store, "SLOT_WAITER_SILENCE", 0.05)
    q = store.queues
    assert q.acquire_slots("reports", 1, "a", 30, waiter="A") == ["a:0"]
    assert q.acquire_slots("reports", 1, "dead", 30, waiter="DEAD") == []
    q.release_slots("reports", ["a:0"])
    assert q.acquire_slots("reports", 1, "b", 30, waiter="B") == []  # DEAD is first
    time.sleep(0.1)  # DEAD asked no more; B asked just now
    assert q.acquire_slots("reports", 1, "b", 30, waiter="B") == ["b:0"]


def test_a_stop_request_is_read_back_for_its_run_only_and_kept_under_the_prefix(
    store: RedisStorage,
) -> None:
    q = store.queues
    assert q.stop_requested("r1") is None
    q.request_stop("r1", "cancelled: a later occurrence replaced it (overlap: cancel_other)")
    assert q.stop_requested("r1") == (
        "cancelled: a later occurrence replaced it (overlap: cancel_other)"
    )
    assert q.stop_requested("r2") is None
    key = store.k("stop", "r1")
    assert key.startswith(store.prefix) and 0 < store.client.ttl(key) <= 86400


def test_an_entry_goes_to_one_worker_and_a_dead_workers_entry_is_reclaimed(
    store: RedisStorage,
) -> None:
    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    store.save_schedule(sched("a"))
    record = run("r1", queue="reports")
    assert store.claim(record, "a@1", None, epoch=lease.epoch)
    q = store.queues
    q.hand_off("reports", [record])
    got = q.read(["reports"], "w1", 0.1)
    assert [(queue, r) for queue, _, r in got] == [("reports", "r1")]
    assert q.read(["reports"], "w2", 0.1) == []  # not delivered twice
    entry = got[0][1]
    ours, started, by = q.start("r1", T0, 4242, [], entry)
    assert ours and started is not None and by == entry
    assert (started.result, started.started_at, started.pid) == ("running", T0, 4242)
    ours, again, by = q.start("r1", T0, 4343, [], "1-1")  # a second start is refused,
    assert not ours and again is not None and (again.result, again.pid) == ("running", 4242)
    assert by == entry  # and says why, and from which entry the run started
    assert q.start("nope", T0, 1) == (False, None, "")
    (slot,) = q.acquire_slots("reports", 1, "w1", 60)
    # w1 heartbeats while alive; nothing idle enough to reclaim
    assert q.heartbeat("reports", entry, "w1", slot, 60)
    assert q.reclaim("reports", "w2", 0.5) == []
    time.sleep(0.6)  # w1 died: no heartbeat for longer than the visibility timeout
    taken = q.reclaim("reports", "w2", 0.5)
    assert [(e, r) for _, e, r in taken] == [(entry, "r1")]
    assert not q.heartbeat("reports", entry, "w1", slot, 60)  # w1 lost it
    # the new holder records it interrupted and enqueues attempt 2, once
    retry = run("r1-2", attempt=2, trigger="retry", queue="reports")
    finish = Finish("r1", "interrupted", T0 + timedelta(seconds=5), error="worker died")
    assert q.settle("reports", entry, "", finish, started_at=T0, retry=("a@1#2", retry)) == 2
    assert q.settle("reports", entry, "", finish, started_at=T0, retry=("a@1#2", retry)) == 0
    got_run = store.get_run("r1")
    assert got_run is not None and (got_run.result, got_run.pid) == ("interrupted", 4242)
    assert [r.run_id for r in store.take_queued(lease.epoch, "leader")] == ["r1-2"]
    assert store.unfinished_runs()[0].run_id == "r1-2"
    # the slot of the settled run is free, the stream holds nothing pending
    assert store.client.xpending(q.stream("reports"), "workers")["pending"] == 0


def _claimed(store: RedisStorage, *records: RunRecord) -> None:
    """Claim ``records`` (of schedule ``a``) under a fresh lease, as a leader does."""
    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    store.save_schedule(sched("a"))
    for i, record in enumerate(records):
        assert store.claim(record, f"a@{i}", None, epoch=lease.epoch)


def test_a_worker_with_one_slot_takes_the_high_priority_run_first_then_the_low_ones_in_order(
    store: RedisStorage,
) -> None:
    """Runs handed over low, low, high (the high one came due while the low ones
    waited): a worker with one slot starts the high one first, then the low ones first
    in, first out."""
    low1 = run("low1", queue="reports", priority="low")
    low2 = run("low2", queue="reports", priority="low")
    high = run("high", queue="reports", priority="high")
    _claimed(store, low1, low2, high)
    q = store.queues
    for record in (low1, low2, high):
        q.hand_off("reports", [record])
    taken = []
    for _ in range(3):
        (slot,) = q.acquire_slots("reports", 1, "w", 60)
        ((queue, entry, run_id),) = q.read(["reports"], "w", 0.01)
        assert queue == "reports"
        assert q.start(run_id, T0, 4242, [], entry)[0]
        done = Finish(run_id, "success", T0 + timedelta(seconds=1))
        assert q.settle("reports", entry, slot, done, started_at=T0) == 1
        taken.append(run_id)
    assert taken == ["high", "low1", "low2"]
    assert q.read(["reports"], "w", 0.01) == []
    assert q.reclaim("reports", "w2", 0) == []  # every entry acknowledged on its stream


def test_a_read_takes_no_more_entries_than_asked_highest_priority_first(
    store: RedisStorage,
) -> None:
    records = [
        run("n1", queue="reports"),
        run("l1", queue="reports", priority="low"),
        run("h1", queue="reports", priority="high"),
        run("n2", queue="reports"),
        run("h2", queue="reports", priority="high"),
    ]
    _claimed(store, *records)
    q = store.queues
    q.hand_off("reports", records)
    assert [r for _, _, r in q.read(["reports"], "w", 0.01, count=3)] == ["h1", "h2", "n1"]
    assert [r for _, _, r in q.read(["reports"], "w", 0.01, count=3)] == ["n2", "l1"]


def test_a_blocked_read_wakes_for_a_run_handed_to_a_priority_no_run_used_before(
    store: RedisStorage,
) -> None:
    """An idle worker waits on every priority of its queue at once, including those
    whose stream does not exist yet: a run handed over meanwhile is read at once, not
    at the end of the wait."""
    import threading

    high = run("high", queue="reports", priority="high")
    _claimed(store, high)
    q = store.queues
    got: list[list[tuple[str, str, str]]] = []
    reader = threading.Thread(target=lambda: got.append(q.read(["reports"], "w", 20.0)))
    began = time.monotonic()
    reader.start()
    time.sleep(0.2)  # (either way the read must return the run: this only lets it block)
    q.hand_off("reports", [high])
    reader.join(30)
    assert [r for _, _, r in got[0]] == ["high"]
    assert time.monotonic() - began < 10.0, "the read waited for its timeout"


def test_a_dead_workers_high_priority_entry_is_reclaimed_interrupted_and_retried_once(
    store: RedisStorage,
) -> None:
    """Reclaim, heartbeat and settle work on a priority's own stream: a worker that
    died holding the high-priority run (read before the low one handed earlier) loses
    it to another worker, which records it interrupted and queues attempt 2 once; the
    low-priority run, never read, is left for the next reader."""
    low = run("low", queue="reports", priority="low")
    high = run("high", queue="reports", priority="high")
    _claimed(store, low, high)
    q = store.queues
    q.hand_off("reports", [low])
    q.hand_off("reports", [high])
    (slot,) = q.acquire_slots("reports", 2, "w1", 60)
    ((_, entry, run_id),) = q.read(["reports"], "w1", 0.01)
    assert run_id == "high"
    ours, _, by = q.start("high", T0, 4242, [], entry)
    assert ours and by == entry
    assert q.heartbeat("reports", entry, "w1", slot, 60)
    # w1 dies; w2 takes its entry over (idle 0 s: nothing to wait for here)
    taken = q.reclaim("reports", "w2", 0)
    assert [(e, r) for _, e, r in taken] == [(entry, "high")]
    assert not q.heartbeat("reports", entry, "w1", slot, 60)  # w1 lost it
    retry = run("high-2", attempt=2, trigger="retry", queue="reports", priority="high")
    cut = Finish("high", "interrupted", T0 + timedelta(seconds=5), error="worker died")
    assert q.settle("reports", entry, "", cut, started_at=T0, retry=("a@1#2", retry)) == 2
    assert q.settle("reports", entry, "", cut, started_at=T0, retry=("a@1#2", retry)) == 0
    got = store.get_run("high")
    assert got is not None and (got.result, got.pid) == ("interrupted", 4242)
    assert q.reclaim("reports", "w3", 0) == []  # acknowledged on its own stream
    ((_, _, left),) = q.read(["reports"], "w3", 0.01)
    assert left == "low"


@pytest.mark.parametrize("priority", ["normal", "high"])
def test_a_stale_duplicate_entry_reclaimed_does_not_interrupt_the_run_its_twin_started(
    store: RedisStorage, priority: str
) -> None:
    """A new leader hands off again a run an earlier leader handed off and no worker
    started (``unfinished_runs`` lists it): the run has two entries. Its worker runs it
    from the second and heartbeats that one; the first, read by a worker that died, is
    reclaimed: it is settled as the duplicate it is, and the live run goes on, without
    an attempt 2 beside it. The entry that started the run still records it interrupted
    when reclaimed (its worker did die); so does any entry of a run started before the
    entry was recorded. The same on the stream of a priority other than normal."""
    import asyncio

    from unoschedule.runner.keeper import steady
    from unoschedule.runner.worker import Worker, may_interrupt
    from unoschedule.scheduler import Scheduler

    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    config = {"schedule": {"cron": "* * * * *"}, "command": "true", "queue": "reports"}
    store.save_schedule(sched("a", definition={**config, "max_retries": 1}))
    record = run("r1", queue="reports", priority=priority)
    assert store.claim(record, "a@1", None, epoch=lease.epoch)
    q = store.queues
    q.hand_off("reports", [record])  # leader 1
    ((_, first, _),) = q.read(["reports"], "ghost", 0.1)  # and the reader dies
    q.hand_off("reports", [record])  # leader 2, after the change of leader
    ((_, second, _),) = q.read(["reports"], "w", 0.1)
    assert first != second
    ours, _, by = q.start("r1", T0, 4242, [], second)
    assert ours and by == second
    (slot,) = q.acquire_slots("reports", 1, "w", 60)

    scheduler = Scheduler(storage=store, metrics_enabled=False)
    worker = Worker(scheduler, ["reports"], visibility=60)
    told: list[dict[str, Any]] = []
    worker.keeper.tell = told.append  # type: ignore[method-assign]
    worker.keeper.hold("r1", "reports", second, slot, steady())  # w runs it here

    async def reclaimed(entry_id: str) -> None:
        worker._stop = asyncio.Event()
        await worker._reclaimed("reports", entry_id, "r1", steady())
        await asyncio.gather(*worker._jobs)

    try:
        asyncio.run(reclaimed(first))
        got = store.get_run("r1")
        assert got is not None and (got.result, got.pid) == ("running", 4242)
        assert store.take_queued(lease.epoch, "leader") == []  # no attempt 2
        stream = q.stream("reports", priority)
        pending = store.client.xpending_range(stream, "workers", "-", "+", 10)
        assert [p["message_id"] for p in pending] == [second.rpartition(":")[2]]  # settled
        assert q.heartbeat("reports", second, "w", slot, 60)  # w still holds its own
        assert "entry" not in got.to_json()  # not part of the record
        assert "r1" in worker.keeper._held and told[-1]["op"] == "hold"  # still heartbeated

        # w dies: its own entry, reclaimed, records the run interrupted and retries it
        asyncio.run(reclaimed(second))
        got = store.get_run("r1")
        assert got is not None and got.result == "interrupted"
        assert [r.attempt for r in store.take_queued(lease.epoch, "leader")] == [2]
        assert "r1" not in worker.keeper._held and told[-1] == {"op": "drop", "run": "r1"}
    finally:
        if worker.settler.notifier is not None:
            worker.settler.notifier.close()
    # a run started before entries were recorded: any reclaimed entry may interrupt it
    assert may_interrupt(first, "") and may_interrupt(second, second)
    assert not may_interrupt(first, second)


def test_a_run_held_by_a_worker_is_not_a_new_leaders_to_interrupt(store: RedisStorage) -> None:
    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    assert store.claim(run("r1", queue="q"), "a@1", None, epoch=lease.epoch)
    assert store.claim(run("r2", queue="q"), "a@2", None, epoch=lease.epoch)
    assert store.queues.start("r1", T0, 1)[0]
    assert [r.run_id for r in store.unfinished_runs()] == ["r2"]


def test_a_workers_success_and_retry_reach_the_dead_man_clock_and_the_pruner(
    store: RedisStorage,
) -> None:
    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    assert store.claim(run("r1", "w", queue="q"), "w@1", None, epoch=lease.epoch)
    assert store.claim(run("r2", "w", queue="q"), "w@2", None, epoch=lease.epoch)
    q = store.queues
    for run_id in ("r1", "r2"):
        assert q.start(run_id, T0, 1)[0]
    done = T0 + timedelta(seconds=3)
    assert q.settle("q", "", "", Finish("r1", "success", done), started_at=T0) == 1
    assert store.last_successes() == {"w": done}
    retry = run("r2b", "w", attempt=2, queue="q", queued_at=done)
    failed = Finish("r2", "error", done + timedelta(seconds=1))
    assert q.settle("q", "", "", failed, started_at=T0, retry=("w@2#2", retry)) == 2
    assert store.last_successes() == {"w": done}  # a failure leaves it
    assert store.run_totals() == {"w": 3}  # the retry counts for the pruner
    pruned = store.prune_runs("w", keep=1, before=None, limit=10)
    assert sorted(pruned.run_ids) == [("w", "r1"), ("w", "r2")]  # the retry is the newest
    assert [r.run_id for r in store.history("w")] == ["r2b"]


def test_a_workers_end_that_another_worker_settled_first_is_said_once_and_acted_on_never(
    store: RedisStorage, tmp_path: Path
) -> None:
    """A worker frozen past its visibility timeout: another worker took its entry over
    and recorded the run interrupted. When its job ends in error, the settle step says
    once that the end is not recorded, and why; it counts nothing, notifies nothing,
    calls no error handler and queues no retry (the run and its retry are the other's)."""
    import io

    from test_loop import cron

    from unoschedule.jobs import JobOutcome
    from unoschedule.metrics import Metrics
    from unoschedule.runner.log import Logger
    from unoschedule.runner.worker import Worker
    from unoschedule.scheduler import Scheduler

    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    store.save_schedule(sched("a"))
    record = run("r1", queue="reports")
    assert store.claim(record, "a@1", None, epoch=lease.epoch)
    q = store.queues
    q.hand_off("reports", [record])
    ((_, entry, _),) = q.read(["reports"], "w1", 0.1)
    assert q.start("r1", T0, 4242, [], entry)[0]
    cut_off = Finish("r1", "interrupted", T0 + timedelta(seconds=40), error="worker died")
    assert q.settle("reports", entry, "", cut_off, started_at=T0) == 1  # by w2

    said = io.StringIO()
    scheduler = Scheduler(storage=store, metrics_enabled=False)
    definition = scheduler.definitions["a"] = cron("a", "* * * * *", max_retries=2)
    worker = Worker(scheduler, ["reports"], log=Logger(said))
    worker.metrics = Metrics()
    told: list[str] = []
    handled: list[str] = []
    worker.settler.notifier.tell = lambda event, *args, **kw: told.append(event)  # type: ignore[method-assign]
    worker.settler.on_failure = lambda run, definition, outcome: handled.append(run.run_id)
    failed = JobOutcome("error", "boom", "", None)

    async def go() -> bool:
        worker._stop = asyncio.Event()
        record_end = worker._recorder("reports", entry, "", T0, None, ran_here=True)
        late = T0 + timedelta(seconds=50)
        ended = await worker.settler.settle(record, definition, failed, T0, late, record_end)
        return ended.recorded

    assert asyncio.run(go()) is False
    got = store.get_run("r1")
    assert got is not None and (got.result, got.error) == ("interrupted", "worker died")
    assert [r.attempt for r in store.history("a")] == [1]  # no retry queued by w1
    assert "uno_schedule_runs_total{" not in worker.metrics.text()
    assert (told, handled) == ([], [])
    (line,) = [line for line in said.getvalue().splitlines() if "r1" in line]
    assert "a: run r1 ended error, not recorded: another worker settled the run first" in line


# -- real processes -------------------------------------------------------------------------

BURST = """
    scheduler:
      lock_timeout: 3s
      shutdown_grace: 5
      queues:
        reports: 2
    schedules:
      report:
        schedule: {event: never.happens}
        queue: reports
        shell: true
        command: >-
          echo start $(date +%s.%N) $UNO_RUN_ID $$ >> spans.log;
          sleep 0.3;
          echo end $(date +%s.%N) $UNO_RUN_ID $$ >> spans.log
      single:
        schedule: "* * * * * *"
        queue: reports
        unique: true
        enabled: false
        shell: true
        command: >-
          echo start $(date +%s.%N) >> single.log; sleep 2.5; echo end $(date +%s.%N) >> single.log
      flaky:
        schedule: {event: never.happens}
        queue: reports
        max_retries: 1
        retry_delay: 0s
        shell: true
        command: >-
          echo $UNO_ATTEMPT $$ >> flaky.log;
          if [ "$UNO_ATTEMPT" = 1 ]; then exec sleep 120; fi
      slow:
        schedule: {event: never.happens}
        queue: reports
        max_retries: 1
        retry_delay: 0s
        shell: true
        command: >-
          echo start $UNO_ATTEMPT $$ >> slow.log; sleep 3; echo end $UNO_ATTEMPT $$ >> slow.log
      slowpy:
        schedule: {event: never.happens}
        queue: reports
        max_retries: 1
        retry_delay: 0s
        task: slowtask.slow
      backoff:
        schedule: {event: never.happens}
        queue: reports
        max_retries: 3
        retry_delay: 0.2s
        retry_backoff: 1.0e+10
        command: "false"
"""


class Procs:
    def __init__(self, workdir: Path, url: str) -> None:
        self.workdir = workdir
        self.url = url
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix(),
        }
        self.env.pop("UNO_SCHEDULE_STATE", None)
        self.env.pop("NOTIFY_SOCKET", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        (workdir / "schedules.yaml").write_text(textwrap.dedent(BURST))

    def argv(self, config: str = "schedules.yaml") -> list[str]:
        path = str(self.workdir / config)
        return [sys.executable, "-m", "unoschedule", "-c", path, "--state", self.url]

    def start(
        self,
        name: str,
        *args: str,
        config: str = "schedules.yaml",
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                [*self.argv(config), *args],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env or {})},
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*self.argv(), *args], capture_output=True, text=True, env=self.env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def procs(tmp_path: Path, redis_server: RedisServer) -> Iterator[Procs]:
    p = Procs(tmp_path, redis_server.url)
    yield p
    p.close()
    for name in p.procs:  # pytest shows what a teardown prints only when the test failed
        with contextlib.suppress(OSError):
            print(f"--- the end of {name}.log", *p.log(name).splitlines()[-40:], sep="\n")


@pytest.mark.slow
def test_three_workers_share_a_queue_of_two_and_run_every_job_once(procs: Procs) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    for name in ("w1", "w2", "w3"):
        procs.start(name, "worker", "--queues", "reports")
    wait_until(lambda: all("serving" in procs.log(w) for w in ("w1", "w2", "w3")), 30, "workers")
    ids = [procs.cli("trigger", "report").strip() for _ in range(12)]
    spans = procs.workdir / "spans.log"

    def ended() -> list[list[str]]:
        lines = spans.read_text().split("\n")[:-1] if spans.exists() else []
        return [line.split() for line in lines]

    wait_until(lambda: sum(1 for e in ended() if e[0] == "end") >= 12, 60, "12 jobs")
    events = sorted((float(e[1]), 1 if e[0] == "start" else -1) for e in ended())
    running = peak = 0
    for _, step in sorted(events, key=lambda x: (x[0], x[1])):
        running += step
        peak = max(peak, running)
    assert peak <= 2, f"{peak} jobs of a queue of 2 ran at once"
    started = [e[2] for e in ended() if e[0] == "start"]
    assert sorted(started) == sorted(ids)  # every run once, and only those
    history = json.loads(procs.cli("history", "report", "--json", "-n", "100"))
    assert {r["run_id"]: r["result"] for r in history} == dict.fromkeys(ids, "success")
    pids = {r["pid"] for r in history}
    assert len(pids) == 3, "the workers did not take turns"  # a freed slot goes to the line
    for proc in procs.procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.procs.items():
        assert proc.wait(30) == 0, procs.log(name)


@pytest.mark.slow
def test_a_dead_workers_job_is_reclaimed_interrupted_and_retried(procs: Procs) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    doomed = procs.start("doomed", "worker", "--queues", "reports", "--visibility-timeout", "2")
    wait_until(lambda: "serving" in procs.log("doomed"), 30, "the first worker")
    run_id = procs.cli("trigger", "flaky").strip()
    flaky = procs.workdir / "flaky.log"
    wait_until(lambda: flaky.exists() and flaky.read_text().startswith("1 "), 30, "attempt 1")
    job_pid = int(flaky.read_text().split()[1])
    try:
        doomed.kill()  # the worker dies; its job's process is an orphan
        doomed.wait(10)
        died = time.monotonic()
        procs.start("heir", "worker", "--queues", "reports", "--visibility-timeout", "2")

        def attempts() -> dict[int, dict[str, Any]]:
            history = json.loads(procs.cli("history", "flaky", "--json"))
            return {r["attempt"]: r for r in history}

        wait_until(lambda: attempts().get(2, {}).get("result") == "success", 60, "attempt 2")
        assert time.monotonic() - died < 2 * 2 + 10
        got = attempts()
        assert got[1]["run_id"] == run_id
        assert got[1]["result"] == "interrupted"
        assert "worker" in got[1]["error"]
        assert got[2]["trigger"] == "retry"
        assert flaky.read_text().split("\n")[:-1][1].startswith("2 ")  # started once more
        assert "interrupted by the death of its worker" in procs.log("heir")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job_pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_worker_caps_a_huge_retry_backoff_at_100_years_instead_of_crashing(
    procs: Procs,
) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    worker = procs.start("worker", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("worker"), 30, "the worker")
    # the third attempt of a failing job: the next waits 0.2s * (1e10 ** 2), past any date
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    now = datetime.now(UTC)
    third = RunRecord(
        run_id=new_run_id(now),
        schedule="backoff",
        scheduled_time=now,
        trigger="retry",
        attempt=3,
        queued_at=now,
        queue="reports",
    )
    store.enqueue(third)
    store.notify()
    store.close()

    def attempts() -> dict[int, dict[str, Any]]:
        history = json.loads(procs.cli("history", "backoff", "--json"))
        return {r["attempt"]: r for r in history}

    wait_until(lambda: 4 in attempts(), 30, "attempt 4 queued")
    got = attempts()
    assert got[3]["result"] == "error"
    assert (got[4]["result"], got[4]["trigger"]) == ("queued", "retry")
    finished = datetime.fromisoformat(got[3]["finished_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(got[4]["queued_at"].replace("Z", "+00:00"))
    assert abs((due - finished) - MAX_DURATION) < timedelta(seconds=1)
    assert worker.poll() is None, procs.log("worker")
    assert "OverflowError" not in procs.log("worker")


def test_queues_for_workers_need_redis_storage(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(textwrap.dedent(BURST))
    base = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE")}
    for args in (("run", "--queues", "reports"), ("worker", "--queues", "reports")):
        done = subprocess.run(
            [*base, "--state", str(tmp_path / "state.db"), *args],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "needs Redis storage" in line, line
    assert not (tmp_path / "state.db").exists()


@pytest.mark.slow
def test_a_unique_schedule_never_overlaps_on_workers(procs: Procs) -> None:
    """``unique: true`` holds for runs handed to workers: the leader counts a run in
    flight until the state says it ended, and records the occurrences due meanwhile as
    ``skipped``."""
    path = procs.workdir / "schedules.yaml"
    path.write_text(path.read_text().replace("    enabled: false\n", ""))
    procs.start("leader", "run", "--queues", "")
    procs.start("w1", "worker", "--queues", "reports")
    procs.start("w2", "worker", "--queues", "reports")
    log = procs.workdir / "single.log"

    def spans() -> list[list[str]]:
        return [line.split() for line in log.read_text().split("\n")[:-1]] if log.exists() else []

    wait_until(lambda: sum(1 for s in spans() if s[0] == "end") >= 3, 60, "three runs")
    events = sorted((float(s[1]), 1 if s[0] == "start" else -1) for s in spans())
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 1, spans()
    history = json.loads(procs.cli("history", "single", "--json", "-n", "100"))
    assert any(r["result"] == "skipped" for r in history)


@pytest.mark.slow
def test_a_worker_tells_systemd_ready_watchdog_and_stopping(procs: Procs) -> None:
    import socket

    address = str(procs.workdir / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(20)
    procs.env["NOTIFY_SOCKET"] = address
    procs.env["WATCHDOG_USEC"] = "400000"
    try:
        worker = procs.start("w", "worker", "--queues", "reports")
        heard: list[str] = []
        while not ("READY=1" in heard and heard.count("WATCHDOG=1") >= 2):
            heard += sock.recv(4096).decode().split("\n")
        worker.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in heard:
            heard += sock.recv(4096).decode().split("\n")
        assert worker.wait(30) == 0
    finally:
        sock.close()


@pytest.mark.slow
def test_a_worker_on_a_prefix_no_leader_ever_used_says_so(procs: Procs) -> None:
    worker = procs.start("lonely", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("lonely"), 30, "the worker")
    prefix = procs.env["UNO_SCHEDULE_REDIS_PREFIX"]
    assert "no state under redis://127.0.0.1:" in procs.log("lonely")
    assert f"with key prefix '{prefix}" in procs.log("lonely")
    worker.terminate()
    worker.wait(30)
    leader = procs.start("leader", "run")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("second", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("second"), 30, "the second worker")
    assert "no state under" not in procs.log("second")
    leader.terminate()


# -- exactly once on workers ---------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(p) for p in fh.read().split()]
    return []


def test_a_job_that_starts_just_after_its_worker_died_is_killed_by_the_keeper(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # The worker's fork server finishes a start under way after the worker died: the
    # keeper, which killed the held jobs at once, must look again.
    from unoschedule.runner.keeper import steady

    run_id = f"run-{uuid.uuid4().hex[:12]}"  # its own: the keeper kills what carries it
    keeper = subprocess.Popen(
        [sys.executable, "-m", "unoschedule.runner.keeper"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    assert keeper.stdin is not None
    setup = {"url": redis_server.url, "prefix": unique_prefix(), "consumer": "c1"}
    hold = {"op": "hold", "run": run_id, "queue": "q", "entry": "0-1", "token": "t"}
    lines = ({**setup, "visibility": 30}, {**hold, "since": steady()})
    keeper.stdin.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    keeper.stdin.flush()  # in one write: the hold comes with the setup line
    time.sleep(0.5)
    keeper.stdin.close()  # the worker died
    time.sleep(0.1)  # the keeper has looked once: the job is not there yet
    job = subprocess.Popen(
        ["sleep", "30"], env={**os.environ, "UNO_RUN_ID": run_id}, start_new_session=True
    )
    try:
        job.wait(timeout=5)
    except subprocess.TimeoutExpired:
        job.kill()
        raise AssertionError("the job outlived its dead worker's keeper") from None
    finally:
        keeper.wait(timeout=10)
    assert job.returncode in (-signal.SIGTERM, -signal.SIGKILL)


def keeper_of(worker: int) -> int:
    for child in children(worker):
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as fh:
            if b"unoschedule.runner.keeper" in fh.read():
                return child
    raise AssertionError(f"worker {worker} has no keeper")


def slow_lines(procs: Procs, name: str = "slow") -> list[list[str]]:
    log = procs.workdir / f"{name}.log"
    return [line.split() for line in log.read_text().split("\n")[:-1]] if log.exists() else []


@pytest.mark.slow
def test_a_job_dies_with_its_worker_killed_with_minus_9(procs: Procs) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    worker = procs.start("w", "worker", "--queues", "reports", "--visibility-timeout", "2")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    procs.cli("trigger", "flaky")
    flaky = procs.workdir / "flaky.log"
    wait_until(lambda: flaky.exists() and flaky.read_text().startswith("1 "), 30, "attempt 1")
    job_pid = int(flaky.read_text().split()[1])
    try:
        worker.kill()
        worker.wait(10)
        wait_until(lambda: not alive(job_pid), 5, "the job to die with its worker")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(job_pid, signal.SIGKILL)


def run_of(procs: Procs, name: str) -> dict[str, Any]:
    history = json.loads(procs.cli("history", name, "--json"))
    return {"attempts": {r["attempt"]: r for r in history}}


@pytest.mark.slow
def test_a_frozen_workers_job_keeps_its_claim_and_runs_once(procs: Procs) -> None:
    """SIGSTOP of a worker for three visibility timeouts: its keeper heartbeats for the
    running job, so no other worker takes it over and the job runs once, to its end.
    (2 s, not 1 s: see the frozen-host test below.)"""
    visibility = 2
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    workers = {
        name: procs.start(
            name, "worker", "--queues", "reports", "--visibility-timeout", str(visibility)
        )
        for name in ("w1", "w2")
    }
    wait_until(lambda: all("serving" in procs.log(w) for w in workers), 30, "workers")
    procs.cli("trigger", "slow")
    wait_until(lambda: slow_lines(procs), 30, "attempt 1 to start")
    first = run_of(procs, "slow")["attempts"][1]
    holder = next(p for p in workers.values() if p.pid == first["pid"])
    holder.send_signal(signal.SIGSTOP)
    try:
        time.sleep(3 * visibility + 0.5)
    finally:
        holder.send_signal(signal.SIGCONT)
    wait_until(lambda: run_of(procs, "slow")["attempts"][1]["result"] == "success", 30, "its end")
    time.sleep(visibility + 0.5)  # a second worker would have started attempt 2 by now
    assert [line[:2] for line in slow_lines(procs)] == [["start", "1"], ["end", "1"]]
    assert sorted(run_of(procs, "slow")["attempts"]) == [1]


def state_of(pid: int) -> str:
    """The state letter of ``pid`` in /proc (``T``: stopped)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        data = fh.read()
    return data[data.rfind(b")") + 2 :][:1].decode()


@pytest.mark.slow
def test_a_worker_frozen_between_starting_a_run_and_its_job_keeps_the_claim_and_runs_it_once(
    procs: Procs,
) -> None:
    """The worker freezes (SIGSTOP, from a failpoint) right after marking the run
    started, before it starts the job: its keeper holds the claim from the read on, so
    no other worker records the run interrupted and starts a retry beside the job."""
    visibility = 2
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    argv = ("worker", "--queues", "reports", "--visibility-timeout", str(visibility))
    frozen = procs.start("w1", *argv, env={"UNO_SCHEDULE_FAILPOINT": "worker_after_start:1:stop"})
    wait_until(lambda: "serving" in procs.log("w1"), 30, "the first worker")
    procs.cli("trigger", "slow")
    try:
        wait_until(lambda: state_of(frozen.pid) == "T", 30, "the worker to freeze")
        procs.start("w2", *argv)
        wait_until(lambda: "serving" in procs.log("w2"), 30, "the second worker")
        time.sleep(3 * visibility + 0.5)  # w2 would have taken the run over by now
    finally:
        frozen.send_signal(signal.SIGCONT)
    wait_until(lambda: run_of(procs, "slow")["attempts"][1]["result"] == "success", 30, "its end")
    time.sleep(visibility + 0.5)  # a retry would have started by now
    assert [line[:2] for line in slow_lines(procs)] == [["start", "1"], ["end", "1"]]
    assert sorted(run_of(procs, "slow")["attempts"]) == [1]


GROUPED = """
    scheduler:
      lock_timeout: 3s
      shutdown_grace: 5
      queues:
        reports: 2
      groups: {one: 1}
    schedules:
      first:
        schedule: {event: both.now}
        queue: reports
        concurrency_group: one
        shell: true
        command: "echo start >> first.log; sleep 3; echo end >> first.log"
      second:
        schedule: {event: both.now}
        queue: reports
        concurrency_group: one
        shell: true
        command: "echo start >> second.log; sleep 3; echo end >> second.log"
"""


@pytest.mark.slow
def test_a_run_that_waited_for_its_group_longer_than_the_fence_on_a_worker_runs_to_its_end(
    procs: Procs,
) -> None:
    """Two runs of a group of one on one worker: one waits 3 s for a place,
    longer than the keeper's fence (0.8 of a 2 s visibility timeout), while the keeper
    heartbeats its claim; once started it runs to its end."""
    (procs.workdir / "grouped.yaml").write_text(textwrap.dedent(GROUPED))
    procs.start("leader", "run", "--queues", "", config="grouped.yaml")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start(
        "w", "worker", "--queues", "reports", "--visibility-timeout", "2", config="grouped.yaml"
    )
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    cli = subprocess.run(
        [*procs.argv("grouped.yaml"), "event", "both.now"],
        capture_output=True,
        text=True,
        env=procs.env,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    lines = {name: procs.workdir / f"{name}.log" for name in ("first", "second")}

    def both_ended() -> bool:
        return all(p.exists() and "end" in p.read_text() for p in lines.values())

    wait_until(both_ended, 30, "both runs to end")
    assert "its job was killed" not in procs.log("w")


SLOW_TASK = """
import os
import time


def slow():
    attempt = os.environ["UNO_ATTEMPT"]
    with open("slowpy.log", "a") as out:
        out.write(f"start {attempt} {os.getpid()}\\n")
    time.sleep(3)
    with open("slowpy.log", "a") as out:
        out.write(f"end {attempt} {os.getpid()}\\n")
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slow", "slowpy"])
def test_a_job_taken_over_while_its_host_was_frozen_is_killed_as_its_host_comes_back(
    procs: Procs, name: str
) -> None:
    """The whole host of a worker frozen (worker, keeper and job): another worker takes
    the run over; once thawed, the keeper kills the old job before it can finish. A
    command (``slow``), or a sync Python task (``slowpy``), which runs in one of the
    worker's pooled task processes: it carries no ``UNO_RUN_ID`` for the keeper to find
    it by, so the keeper must be told the group of the task process that took it.

    The visibility timeout is 2 s: with 1 s, a stall of 0.8 s of a keeper or of Redis
    under the whole suite's load fenced off the other worker's attempt too (its keeper
    killed it, rightly: its claim may have lapsed), and attempt 2 never ended."""
    visibility = 2
    (procs.workdir / "slowtask.py").write_text(SLOW_TASK)
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    workers = {
        name: procs.start(
            name, "worker", "--queues", "reports", "--visibility-timeout", str(visibility)
        )
        for name in ("w1", "w2")
    }
    wait_until(lambda: all("serving" in procs.log(w) for w in workers), 30, "workers")
    procs.cli("trigger", name)
    wait_until(lambda: slow_lines(procs, name), 30, "attempt 1 to start")
    first = run_of(procs, name)["attempts"][1]
    job = int(slow_lines(procs, name)[0][2])
    holder = next(p for p in workers.values() if p.pid == first["pid"])
    keeper = keeper_of(holder.pid)
    frozen = [holder.pid, keeper]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    os.killpg(job, signal.SIGSTOP)
    try:
        wait_until(
            lambda: any(line[:2] == ["start", "2"] for line in slow_lines(procs, name)),
            30,
            "attempt 2 on the other worker",
        )
        os.kill(keeper, signal.SIGCONT)  # the host comes back: its keeper first
        wait_until(lambda: not alive(job), visibility / 3 + 1.0, "the old job to be killed")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job, signal.SIGCONT)
    wait_until(
        lambda: any(line[:2] == ["end", "2"] for line in slow_lines(procs, name)), 30, "end 2"
    )
    assert ["end", "1"] not in [line[:2] for line in slow_lines(procs, name)]
    assert "its job was killed" in procs.log(next(n for n, p in workers.items() if p is holder))


@pytest.mark.slow
def test_a_worker_whose_consumer_group_was_deleted_creates_it_again(procs: Procs) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    first = procs.cli("trigger", "report").strip()
    wait_until(lambda: run_of_id(procs, first) == "success", 30, "a first run")
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    try:
        assert store.client.xgroup_destroy(store.queues.stream("reports"), "workers") == 1
    finally:
        store.close()
    second = procs.cli("trigger", "report").strip()
    wait_until(lambda: run_of_id(procs, second) == "success", 30, "a run after the deletion")


def run_of_id(procs: Procs, run_id: str) -> str | None:
    history = json.loads(procs.cli("history", "report", "--json", "-n", "100"))
    return next((r["result"] for r in history if r["run_id"] == run_id), None)


@pytest.mark.slow
def test_a_worker_runs_the_definition_the_leader_reloaded(procs: Procs) -> None:
    path = procs.workdir / "schedules.yaml"
    path.write_text(
        path.read_text().replace(
            "echo start $(date +%s.%N) $UNO_RUN_ID",
            "echo v1 >> v.log; echo start $(date +%s.%N) $UNO_RUN_ID",
        )
    )
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    first = procs.cli("trigger", "report").strip()
    wait_until(lambda: run_of_id(procs, first) == "success", 30, "a first run")
    path.write_text(path.read_text().replace("echo v1 >>", "echo v2 >>"))
    procs.procs["leader"].send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in procs.log("leader"), 30, "the reload")
    second = procs.cli("trigger", "report").strip()
    wait_until(lambda: run_of_id(procs, second) == "success", 30, "a run after the reload")
    assert (procs.workdir / "v.log").read_text().split() == ["v1", "v2"]


def assert_ended_unstarted_as_removed(procs: Procs, handed: str) -> None:
    """The run ``handed`` of ``report`` ends as the leader ends such a run, its job never
    started (``report`` writes spans.log)."""
    wait_until(lambda: run_of_id(procs, handed) not in (None, "queued"), 30, "the run's end")
    history = json.loads(procs.cli("history", "report", "--json", "-n", "10"))
    (record,) = [r for r in history if r["run_id"] == handed]
    assert (record["result"], record["error"]) == (
        "error",
        "the schedule was removed before the run started",
    )
    assert not (procs.workdir / "spans.log").exists()


@pytest.mark.slow
def test_a_run_handed_over_before_its_schedule_was_removed_does_not_start_on_a_worker(
    procs: Procs,
) -> None:
    """As on the leader: the run is recorded an error, its job never starts, also on a
    worker whose own file still holds the schedule (the state says it was removed)."""
    path = procs.workdir / "schedules.yaml"
    (procs.workdir / "worker.yaml").write_text(path.read_text())
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    handed = procs.cli("trigger", "report").strip()
    path.write_text(path.read_text().replace("\n  report:", "\n  renamed:"))
    procs.procs["leader"].send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in procs.log("leader"), 30, "the reload")
    procs.start("w", "worker", "--queues", "reports", config="worker.yaml")
    assert_ended_unstarted_as_removed(procs, handed)


@pytest.mark.slow
def test_a_run_waiting_on_a_busy_worker_does_not_start_once_its_schedule_is_removed(
    procs: Procs,
) -> None:
    """A removal alone (no schedule saved with it) reaches a worker that is already
    serving: the run handed over before it, waiting for the queue's one slot, is recorded
    an error when the slot frees, and its job never starts."""
    path = procs.workdir / "schedules.yaml"
    path.write_text(path.read_text().replace("reports: 2", "reports: 1"))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    procs.cli("trigger", "slow")  # holds the queue's one slot for 3 s
    wait_until(lambda: (procs.workdir / "slow.log").exists(), 30, "the slow job")
    handed = procs.cli("trigger", "report").strip()
    text = path.read_text()
    start = text.index("\n  report:")
    path.write_text(text[:start] + text[text.index("\n  single:") :])  # report removed
    procs.procs["leader"].send_signal(signal.SIGHUP)
    wait_until(lambda: "report: removed" in procs.log("leader"), 30, "the removal")
    assert_ended_unstarted_as_removed(procs, handed)


@pytest.mark.slow
def test_a_workers_queue_concurrency_follows_the_leaders_reload(procs: Procs) -> None:
    """The worker read ``reports: 1`` at its start; the leader's reload to 3 holds on the
    worker too: three runs that each wait (10 s at most) until three have started then
    run together, however slowly they were triggered."""
    path = procs.workdir / "schedules.yaml"
    together = (
        "sleep 0.3;",
        "for i in $(seq 100); do [ $(grep -c start spans.log) -ge 3 ] && break; sleep 0.1; done;",
    )
    text = path.read_text().replace(*together)
    path.write_text(text.replace("reports: 2", "reports: 1"))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving reports (1)" in procs.log("w"), 30, "the worker")
    path.write_text(text.replace("reports: 2", "reports: 3"))
    procs.procs["leader"].send_signal(signal.SIGHUP)
    wait_until(lambda: "options applied: queues" in procs.log("leader"), 30, "the reload")
    wait_until(lambda: "applied: queues" in procs.log("w"), 30, "the worker to follow")
    ids = [procs.cli("trigger", "report").strip() for _ in range(3)]
    wait_until(lambda: all(run_of_id(procs, i) == "success" for i in ids), 60, "three runs")
    spans = [line.split() for line in (procs.workdir / "spans.log").read_text().splitlines()]
    starts = max(float(kind_at[1]) for kind_at in spans if kind_at[0] == "start")
    ends = min(float(kind_at[1]) for kind_at in spans if kind_at[0] == "end")
    assert starts < ends, "the three runs did not overlap: the worker kept a smaller limit"


OUTPUT = """
    scheduler:
      lock_timeout: 3s
      log_dir: LOGS
      log_max_bytes: 40
      queues:
        reports: 2
    schedules:
      chatty:
        schedule: {event: never.happens}
        queue: reports
        command: ["sh", "-c", "seq 1 30; exit 3"]
"""


@pytest.mark.slow
def test_a_worker_keeps_the_full_output_of_its_runs_under_log_dir(procs: Procs) -> None:
    """As a runner does: ``log_dir`` and its ``log_max_bytes`` hold for runs on a worker;
    ``logs`` on its host shows the file."""
    logs = procs.workdir / "runlogs"
    (procs.workdir / "schedules.yaml").write_text(
        textwrap.dedent(OUTPUT).replace("LOGS", str(logs))
    )
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    ran = procs.cli("trigger", "chatty").strip()
    wait_until(lambda: procs.log("w").count("chatty: run") >= 1, 30, "the run's end")
    wait_until(lambda: json.loads(procs.cli("logs", "chatty", "--json"))["complete"], 10, "file")
    shown = json.loads(procs.cli("logs", "chatty", "--json"))
    assert shown["run_id"] == ran and shown["result"] == "error"
    assert shown["output"].startswith("1\n2\n3\n")
    assert "output cut at 40 bytes" in shown["output"]  # log_max_bytes
    assert Path(shown["path"]).is_relative_to(logs)


FAILING = """
    scheduler:
      lock_timeout: 3s
      queues:
        reports: 2
    schedules:
      failing:
        schedule: "* * * * * *"
        queue: reports
        pause_after_failures: 2
        command: "false"
"""


@pytest.mark.slow
def test_failures_of_runs_on_a_worker_pause_the_schedule_after_pause_after_failures(
    procs: Procs,
) -> None:
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(FAILING))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")

    def status() -> dict[str, Any]:
        return dict(json.loads(procs.cli("status", "failing", "--json")))

    paused = wait_until(lambda: (s := status())["status"] == "paused" and s, 30, "the pause")
    assert paused["paused_reason"].startswith("2 consecutive failures (pause_after_failures)")
    assert "failing: paused after 2 consecutive failures" in procs.log("w")


HOUSEKEEPING = """
    scheduler:
      lock_timeout: 3s
      keep_runs: 5
      queues:
        reports: 2
    schedules:
      beat:
        schedule: "* * * * * *"
        queue: reports
        expect_success_within: 3s
        on_error: "echo $UNO_SCHEDULE_NAME >> alarms.log"
        command: "true"
"""


@pytest.mark.slow
def test_the_leaders_retention_and_dead_man_alarms_see_the_runs_of_workers(
    procs: Procs,
) -> None:
    """A schedule succeeding every second on a worker is never overdue, and its history
    is trimmed to ``keep_runs`` by the leader's housekeeping."""
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(HOUSEKEEPING))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    try:
        wait_until(lambda: procs.log("w").count("succeeded") >= 8, 30, "eight runs")
        time.sleep(7)  # past the dead-man deadline and a housekeeping pass
        assert "overdue" not in procs.log("leader")
        assert not (procs.workdir / "alarms.log").exists()
        assert len(store.history("beat", limit=100)) <= 5 + 5 // 10 + 7
        successes = [r for r in store.history("beat", limit=100) if r.result == "success"]
        assert len(successes) >= 3
    finally:
        store.close()


TICKS = """
    scheduler:
      lock_timeout: 3s
      queues:
        reports: 2
    schedules:
      tick:
        schedule: "* * * * * *"
        queue: reports
        shell: true
        command: "echo $UNO_SCHEDULED_TIME >> ticks.log"
"""


def ticks(procs: Procs) -> int:
    log = procs.workdir / "ticks.log"
    return len(log.read_text().split("\n")) - 1 if log.exists() else 0


@pytest.mark.slow
def test_a_state_lost_by_redis_stops_firing_until_an_operator_reinitialises_it(
    procs: Procs,
) -> None:
    """Every key of the installation gone under a leader and a worker (Redis restarted
    empty): both say so (CRITICAL), health fails, nothing fires; ``init-state`` lets
    them go on."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = textwrap.dedent(TICKS).replace(
        "scheduler:\n", f"scheduler:\n  metrics_address: 127.0.0.1:{port}\n", 1
    )
    (procs.workdir / "schedules.yaml").write_text(text)

    def lost_metric() -> str:
        url = f"http://127.0.0.1:{port}/metrics"
        try:  # served again by each leadership: a scrape may fall between two
            body = urllib.request.urlopen(url, timeout=10).read().decode()
        except OSError:
            return ""
        return next(
            line for line in body.splitlines() if line.startswith("uno_schedule_state_lost")
        )

    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: ticks(procs) >= 2, 30, "runs")
    assert lost_metric() == "uno_schedule_state_lost 0.0"
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    try:
        keys = list(store.client.scan_iter(match=store.prefix + "*"))
        store.client.delete(*keys)
    finally:
        store.close()
    wait_until(lambda: "CRITICAL" in procs.log("leader"), 10, "the leader to tell")
    wait_until(lambda: "CRITICAL" in procs.log("w"), 10, "the worker to tell")
    assert "lost its identity" in procs.log("leader")
    wait_until(lambda: lost_metric() == "uno_schedule_state_lost 1.0", 10, "the metric")
    time.sleep(1.5)  # a run claimed before the loss may still end
    quiet = ticks(procs)
    health = subprocess.run(
        [*procs.argv(), "health"], capture_output=True, text=True, env=procs.env, timeout=60
    )
    assert health.returncode == 1 and "lost its identity" in health.stderr, health.stderr
    time.sleep(3)
    assert ticks(procs) == quiet, "fired on a lost state"
    assert "re-initialised" in procs.cli("init-state", "--yes")
    wait_until(lambda: ticks(procs) > quiet + 1, 30, "firing again after init-state")


@pytest.mark.slow
def test_runs_handed_to_absent_workers_do_not_pile_up(procs: Procs) -> None:
    """At most one run of a schedule waits for a worker: while none reads the queue,
    the occurrences due meanwhile are recorded skipped, as on one host, and a worker
    started later runs one, not the backlog."""
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(TICKS))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    time.sleep(5)
    history = json.loads(procs.cli("history", "tick", "--json", "-n", "100"))
    assert [r["result"] for r in history].count("queued") == 1, history
    assert any(r["result"] == "skipped" for r in history)
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: ticks(procs) >= 1, 30, "the worker")
    time.sleep(0.5)
    instants = (procs.workdir / "ticks.log").read_text().split()
    assert len(instants) <= 2, instants  # the one that waited, then at most the next


@pytest.mark.slow
def test_a_worker_serves_the_metrics_of_the_runs_it_ran(procs: Procs) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = procs.workdir / "schedules.yaml"
    leader_file = procs.workdir / "leader.yaml"
    leader_file.write_text(
        path.read_text().replace("scheduler:\n", "scheduler:\n  metrics_enabled: false\n", 1)
    )
    path.write_text(
        path.read_text().replace(
            "scheduler:\n", f"scheduler:\n  metrics_address: 127.0.0.1:{port}\n", 1
        )
    )
    argv = procs.argv()
    argv[argv.index("-c") + 1] = str(leader_file)
    with open(procs.workdir / "leader.log", "w") as log:
        procs.procs["leader"] = subprocess.Popen(
            [*argv, "run", "--queues", ""], cwd=procs.workdir, stdout=log,
            stderr=subprocess.STDOUT, env=procs.env, start_new_session=True,
        )  # fmt: skip
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "metrics on" in procs.log("w"), 30, "the worker's metrics")
    done = procs.cli("trigger", "report").strip()
    wait_until(lambda: run_of_id(procs, done) == "success", 30, "a run")
    failed = procs.cli("trigger", "backoff").strip()
    wait_until(lambda: procs.log("w").count("backoff: run") >= 1, 30, "a failed run")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert (
        'uno_schedule_runs_total{result="success",schedule="report",trigger="manual"} 1.0' in text
    )
    assert 'result="error",schedule="backoff"' in text, failed


def test_a_workers_settle_queues_the_chained_run_once_with_the_end(store: RedisStorage) -> None:
    """An upstream run that ended on a worker starts its downstream in the settle
    script itself; a repeated settle (the worker retrying after a lost reply) does not."""
    lease = store.acquire_lease("leader", 60, T0)
    assert lease is not None
    assert store.claim(run("r1", "up", queue="q"), "up@1", None, epoch=lease.epoch)
    q = store.queues
    assert q.start("r1", T0, 1)[0]
    done = T0 + timedelta(seconds=3)
    down = run("d1", "down", trigger="event", queued_at=done)
    finish = Finish("r1", "success", done, then=(("down@after:r1", down),))
    assert q.settle("q", "", "", finish, started_at=T0) == 1
    again = Finish("r1", "success", done, then=(("down@after:r1", run("d2", "down")),))
    assert q.settle("q", "", "", again, started_at=T0) == 0
    assert [r.run_id for r in store.take_queued(lease.epoch, "leader")] == ["d1"]


CHAINED = """
    scheduler:
      lock_timeout: 3s
      shutdown_grace: 5
    schedules:
      extract:
        schedule: {event: go}
        queue: reports
        command: "echo $UNO_RUN_ID >> extract.log"
        shell: true
      load:
        after: extract
        command: "echo $UNO_EVENT >> load.log"
        shell: true
"""


@pytest.mark.slow
def test_a_run_that_ended_on_a_worker_starts_its_chain_once_on_the_leader(procs: Procs) -> None:
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(CHAINED))
    procs.start("leader", "run", "--queues", "scheduled")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w1", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w1"), 30, "the worker")
    for _ in range(3):
        procs.cli("event", "go")
    load = procs.workdir / "load.log"
    wait_until(lambda: load.exists() and len(load.read_text().splitlines()) >= 3, 20, "3 loads")
    for proc in procs.procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.procs.items():
        assert proc.wait(30) == 0, procs.log(name)
    extracted = (procs.workdir / "extract.log").read_text().split()
    started_by = [json.loads(line)["after"]["run_id"] for line in load.read_text().splitlines()]
    assert sorted(started_by) == sorted(extracted) and len(extracted) == 3


PREPARED = """
    scheduler:
      queues:
        reports: 2
    schedules:
      t1: {schedule: {event: never.happens}, queue: reports, task: burstwork.noop}
      t2: {schedule: {event: never.happens}, queue: reports, task: burstwork.noop}
      t3: {schedule: {event: never.happens}, queue: reports, task: burstwork.noop}
      elsewhere: {schedule: {event: never.happens}, queue: other, task: burstwork.noop}
      cmd: {schedule: {event: never.happens}, queue: reports, command: ["true"]}
"""


@pytest.mark.slow
def test_a_worker_forks_the_task_workers_of_its_queues_before_its_first_run(
    procs: Procs,
) -> None:
    (procs.workdir / "burstwork.py").write_text("def noop():\n    return 1\n")
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(PREPARED))
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    worker = procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    keeper = keeper_of(worker.pid)

    def task_workers() -> list[int]:
        # the children of the worker's fork server, its one other child
        servers = [pid for pid in children(worker.pid) if pid != keeper]
        return [pid for server in servers for pid in children(server) if alive(pid)]

    # as many as the queue runs at once (2 of its 3 tasks); not the other queue's task
    wait_until(lambda: len(task_workers()) == 2, 30, "two task workers forked")
    assert "starting run" not in procs.log("w")  # before any run
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, procs.log("w")


PRIORITY = """
    scheduler:
      lock_timeout: 3s
      shutdown_grace: 5
      queues:
        reports: 1
    templates:
      job:
        queue: reports
        shell: true
        command: >-
          echo $UNO_SCHEDULE_NAME >> order.log;
          for i in $(seq 600); do [ -e go ] && break; sleep 0.05; done
    schedules:
      low1: {template: job, priority: low, schedule: {event: burst}}
      low2: {template: job, priority: low, schedule: {event: burst}}
      low3: {template: job, priority: low, schedule: {event: burst}}
      low4: {template: job, priority: low, schedule: {event: burst}}
      urgent: {template: job, priority: high, schedule: {event: never.happens}}
"""


def handed_over(procs: Procs, run_id: str) -> bool:
    """Whether ``run_id`` waits in one of the worker streams (whatever their layout)."""
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    try:
        for key in store.client.scan_iter(match=f"{store.prefix}stream*"):
            if any(fields.get("run") == run_id for _, fields in store.client.xrange(key)):
                return True
        return False
    finally:
        store.close()


@pytest.mark.slow
def test_a_high_priority_run_starts_before_the_low_ones_waiting_on_a_worker(
    procs: Procs,
) -> None:
    """A queue of one served by a worker: a burst of low-priority runs, one of them
    running, the others waiting; a high-priority run handed over behind them starts
    next, and the leader no longer warns that priority does not hold on workers."""
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(PRIORITY))
    order = procs.workdir / "order.log"
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
    procs.cli("event", "burst")
    wait_until(lambda: order.exists() and order.read_text().strip(), 30, "the first low run")
    urgent = procs.cli("trigger", "urgent").strip()
    wait_until(lambda: handed_over(procs, urgent), 30, "the urgent run handed over")
    (procs.workdir / "go").touch()
    wait_until(lambda: len(order.read_text().split()) == 5, 60, "every run")
    started = order.read_text().split()
    assert started[0].startswith("low") and started[1] == "urgent", started
    assert sorted(started) == ["low1", "low2", "low3", "low4", "urgent"]
    assert "does not reorder" not in procs.log("leader")


# -- a change of leader while workers hold runs ---------------------------------------------


def _handing_loops(tmp_path: Path, store: RedisStorage, **kw: Any) -> tuple[Any, list[str]]:
    """A ``test_loop`` harness on ``store`` whose schedule ``single`` (every minute, queue
    ``reports``, served by workers) has ``kw``; and the ids of the runs handed over, in
    order (each handed to the real stream as well)."""
    from test_loop import Harness, cron

    h = Harness(tmp_path, [cron("single", "* * * * *", queue="reports", **kw)])
    h.store.close()
    h.store = store  # type: ignore[assignment]
    handed: list[str] = []

    def hand_off(queue: str, runs: list[RunRecord]) -> None:
        store.queues.hand_off(queue, runs)
        handed.extend(r.run_id for r in runs)

    h.hand_off = hand_off  # type: ignore[attr-defined]
    return h, handed


def test_a_new_leader_counts_a_run_a_worker_holds_as_in_flight(
    store: RedisStorage, tmp_path: Path
) -> None:
    """A run a worker started is not a new leader's to recover, but it is still in
    flight: the new leader's overlap policy (``unique: true`` is ``overlap: skip``) holds
    for it, the next occurrence is recorded skipped and nothing is handed over, until
    the state says it ended."""
    h, handed = _handing_loops(tmp_path, store, overlap="skip")

    async def go() -> None:
        h.start("a", local_queues={"scheduled"}, hand_off=h.hand_off)
        await h.at("2026-06-01T09:00:00Z")
        (first,) = handed
        assert store.queues.start(first, h.clock.now(), 4242)[0]  # as a worker starts it
        # the leader dies; another takes over under a new epoch
        h.start("b", local_queues={"scheduled"}, hand_off=h.hand_off)
        assert handed == [first]  # not the new leader's to hand over again
        await h.at("2026-06-01T09:01:00Z")
        assert handed == [first]
        assert h.history("single") == [
            ("09:00", "schedule", 1, "running"),
            ("09:01", "schedule", 1, "skipped"),
        ]
        skipped = store.history("single", 1)[0]
        assert skipped.error is not None and "(overlap: skip)" in skipped.error
        # the worker records its end: the next occurrence is handed over
        done = Finish(first, "success", h.clock.now())
        assert store.queues.settle("reports", "", "", done, started_at=T0) == 1
        await h.at("2026-06-01T09:02:00Z")
        assert len(handed) == 2

    asyncio.run(go())


def test_a_run_handed_over_but_not_started_is_handed_again_and_counted_once(
    store: RedisStorage, tmp_path: Path
) -> None:
    """A run still queued on a worker queue is handed over again by the new leader (a
    worker starts it once, from queued) and counted once: once it ended, the next
    occurrence is handed over."""
    h, handed = _handing_loops(tmp_path, store, overlap="skip")

    async def go() -> None:
        h.start("a", local_queues={"scheduled"}, hand_off=h.hand_off)
        await h.at("2026-06-01T09:00:00Z")
        (first,) = handed
        loop = h.start("b", local_queues={"scheduled"}, hand_off=h.hand_off)
        assert handed == [first, first]
        assert (loop._inflight, loop._pending) == ({"single": 1}, {"single": 1})
        await h.at("2026-06-01T09:01:00Z")  # still waiting for a worker: skipped
        assert handed == [first, first]
        assert store.queues.start(first, h.clock.now(), 4242)[0]
        done = Finish(first, "success", h.clock.now())
        assert store.queues.settle("reports", "", "", done, started_at=T0) == 1
        await h.at("2026-06-01T09:02:00Z")
        assert handed == [first, first, handed[2]]
        assert h.history("single") == [
            ("09:00", "schedule", 1, "success"),
            ("09:01", "schedule", 1, "skipped"),
            ("09:02", "schedule", 1, "queued"),
        ]

    asyncio.run(go())


def test_a_run_buffered_behind_a_run_a_worker_holds_waits_for_it_under_a_new_leader(
    store: RedisStorage, tmp_path: Path
) -> None:
    """``overlap: buffer_one``: the run buffered behind a run a worker holds is queued in
    the state; the new leader recovers it, and hands it over only once the state says
    the worker's run ended, as the earlier leader would have."""
    h, handed = _handing_loops(tmp_path, store, overlap="buffer_one")

    async def go() -> None:
        h.start("a", local_queues={"scheduled"}, hand_off=h.hand_off)
        await h.at("2026-06-01T09:00:00Z")
        (first,) = handed
        assert store.queues.start(first, h.clock.now(), 4242)[0]
        await h.at("2026-06-01T09:01:00Z")  # buffered behind the worker's run
        assert handed == [first]
        h.start("b", local_queues={"scheduled"}, hand_off=h.hand_off)
        await h.at("2026-06-01T09:01:30Z")
        assert handed == [first]  # still held back
        done = Finish(first, "success", h.clock.now())
        assert store.queues.settle("reports", "", "", done, started_at=T0) == 1
        await h.at("2026-06-01T09:01:40Z")
        assert len(handed) == 2
        buffered = store.get_run(handed[1])
        assert buffered is not None and buffered.scheduled_time.minute == 1

    asyncio.run(go())


DEPOSED = """
    scheduler:
      lock_timeout: 3s
      kill_grace: 1s
      shutdown_grace: 60s
    schedules:
      long:
        schedule: {every: 1h}
        run_on_start: true
        shell: true
        command: "echo $$ > long.pid; exec sleep 60"
"""


@pytest.mark.slow
def test_a_leader_that_loses_its_lease_stops_its_running_job_at_once(procs: Procs) -> None:
    """Its successor records the run interrupted and starts its retry: the deposed
    leader's job must not run on beside it for the shutdown grace (60 s here)."""
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(DEPOSED))
    procs.start("leader", "run")
    pid_file = procs.workdir / "long.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 30, "the job")
    job = int(pid_file.read_text())
    store = RedisStorage(procs.url, key_prefix=procs.env["UNO_SCHEDULE_REDIS_PREFIX"])
    try:
        with store._talk():
            store.client.delete(store.k("lease"))  # as if it had run out while frozen
        assert store.acquire_lease("successor", 30.0, datetime.now(UTC)) is not None
    finally:
        store.close()
    wait_until(lambda: "the lease is lost: stopping 1 running job" in procs.log("leader"), 30)
    wait_until(lambda: not alive(job), 10, "the job's end")


FENCED = """
    scheduler:
      lock_timeout: 3s
      kill_grace: 1s
    schedules:
      spancmd:
        schedule: {event: never.happens}
        max_retries: 1
        retry_delay: 0s
        command:
          - env
          - -u
          - UNO_RUN_ID
          - sh
          - -c
          - >-
            echo start $UNO_ATTEMPT $(date +%s.%N) $$ >> spancmd.log;
            for i in $(seq 80); do echo beat $UNO_ATTEMPT $(date +%s.%N) >> spancmd.log;
            sleep 0.1; done
      spanpy:
        schedule: {event: never.happens}
        max_retries: 1
        retry_delay: 0s
        task: spantask.span
        kwargs: {out: spanpy.log}
      spanto:
        schedule: {event: never.happens}
        max_retries: 1
        retry_delay: 0s
        timeout: 60s
        task: spantask.span
        kwargs: {out: spanto.log}
"""

SPAN_TASK = """
import os
import time


def span(out):
    attempt = os.environ["UNO_ATTEMPT"]
    with open(out, "a") as log:
        log.write(f"start {attempt} {time.time()} {os.getpid()}\\n")
    for _ in range(80):
        with open(out, "a") as log:
            log.write(f"beat {attempt} {time.time()}\\n")
        time.sleep(0.1)
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["frozen", "killed"])
def test_a_leaders_jobs_are_killed_before_its_successor_starts_their_retries(
    procs: Procs, how: str
) -> None:
    """A leader with only its lease in Redis to fence it, frozen (SIGSTOP) or killed
    with -9: the fork servers kill its command, its pooled sync task and its task with a
    timeout (forked by the leader itself), at 0.8 of ``lock_timeout`` after the last
    renewal it sent, or at once when it dies (the forked task dies with it). So
    their last beats come before the successor, which takes the lease at the earliest
    a whole ``lock_timeout`` after that renewal, starts attempt 2 of each. The command
    drops its ``UNO_RUN_ID``, as on another host: the successor's recovery, which kills
    what carries it on its own host, must not be what ends it."""
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(FENCED))
    (procs.workdir / "spantask.py").write_text(textwrap.dedent(SPAN_TASK))
    logs = {name: procs.workdir / f"{name}.log" for name in ("spancmd", "spanpy", "spanto")}

    def lines(name: str) -> list[list[str]]:
        log = logs[name]
        return [line.split() for line in log.read_text().splitlines()] if log.exists() else []

    def started(name: str, attempt: str) -> list[str] | None:
        return next((line for line in lines(name) if line[:2] == ["start", attempt]), None)

    leader = procs.start("leader", "run")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("standby", "run")
    wait_until(lambda: "standby" in procs.log("standby"), 30, "the standby")
    for name in logs:
        procs.cli("trigger", name)
    wait_until(lambda: all(started(name, "1") for name in logs), 30, "attempts 1")
    jobs = {name: int(started(name, "1")[3]) for name in logs}  # type: ignore[index]
    os.kill(leader.pid, signal.SIGSTOP if how == "frozen" else signal.SIGKILL)
    try:
        wait_until(lambda: all(started(name, "2") for name in logs), 30, "attempts 2")
        # The leader stopped nothing itself (frozen or dead); attempt 1 beats no more.
        assert [name for name, pid in jobs.items() if alive(pid)] == []
        for name in logs:
            second = float(started(name, "2")[2])  # type: ignore[index]
            beats = [float(line[2]) for line in lines(name) if line[:2] == ["beat", "1"]]
            assert beats and max(beats) < second, (name, max(beats), second)
    finally:
        if how == "frozen":
            os.kill(leader.pid, signal.SIGCONT)
    if how == "frozen":
        wait_until(lambda: "standby again" in procs.log("leader"), 30, "the thawed one to stand by")

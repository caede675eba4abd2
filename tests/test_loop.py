"""The run loop's decisions under a fake clock: what fires, once, and what is recorded.

Nothing here sleeps: the clock is set by hand, ``tick(now)`` decides, and a fake executor
finishes jobs as soon as the test lets the event loop run.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from unoschedule.abc import Clock
from unoschedule.model import RunRecord, ScheduleDefinition, SchedulerOptions
from unoschedule.runner import loop as loop_module
from unoschedule.runner.executor import JobOutcome, JobSpec
from unoschedule.runner.log import Logger
from unoschedule.runner.loop import RunLoop
from unoschedule.schedules import CronSchedule, IntervalSchedule, schedule_from_config
from unoschedule.store.sqlite import SQLiteStorage
from unoschedule.sync import apply_plan, make_plan


def T(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakeClock(Clock):
    def __init__(self, start: datetime) -> None:
        self.current = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def set(self, when: datetime) -> None:
        self.mono += max(0.0, (when - self.current).total_seconds())
        self.current = when


@dataclass
class FakeExecutor:
    """Finishes each job with the next scripted result for its schedule (default success).

    A schedule listed in ``hold`` stays running until the test releases it.
    """

    script: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, datetime, int, str]] = field(default_factory=list)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    #: Jobs its descriptors hold at once (None: no such limit), as ``Executor.room`` says.
    slots: int | None = None

    #: The schedules each ``prepare`` call named, in order.
    prepared: list[list[str]] = field(default_factory=list)

    def room(self, running: int) -> int | None:
        return None if self.slots is None else max(0, self.slots - running)

    def prepare(
        self,
        definitions: Iterable[ScheduleDefinition],
        options: SchedulerOptions,
        base_cwd: str | None,
    ) -> None:
        self.prepared.append(sorted(d.name for d in definitions))

    async def run(
        self, spec: JobSpec, on_start: Callable[[int | None], None] | None = None
    ) -> JobOutcome:
        run = spec.run
        self.calls.append((run.schedule, run.scheduled_time, run.attempt, run.trigger))
        if run.schedule in self.hold:
            await self.hold[run.schedule].wait()
        results = self.script.get(run.schedule, [])
        result = results.pop(0) if results else "success"
        await asyncio.sleep(0)
        return JobOutcome(
            result=result, error=None if result == "success" else "boom", output="", pid=None
        )

    async def stop_all(self, grace: float) -> None:
        for event in self.hold.values():
            event.set()


class Harness:
    def __init__(
        self, tmp_path: Path, definitions: list[ScheduleDefinition], **options: Any
    ) -> None:
        self.path = tmp_path / "state.db"
        self.clock = FakeClock(T("2026-06-01T08:59:00Z"))
        self.options = SchedulerOptions(**{"lock_timeout": 300, **options})
        self.definitions = {d.name: d for d in definitions}
        self.executor = FakeExecutor()
        self.store = SQLiteStorage(self.path)
        self.loop: RunLoop | None = None

    def start(
        self,
        instance: str = "a",
        local_queues: set[str] | None = None,
        log: Logger | None = None,
        hand_off: Callable[[str, list[RunRecord]], None] | None = None,
    ) -> RunLoop:
        now = self.clock.now()
        loop = RunLoop(
            store=self.store,
            definitions=self.definitions,
            options=self.options,
            executor=self.executor,  # type: ignore[arg-type]
            clock=self.clock,
            instance_id=instance,
            log=log or Logger(verbose=False),
            wake=lambda: None,
        )
        loop.local_queues = local_queues
        loop.hand_off = hand_off  # set before ``recover``, as ``attach_hand_off`` is
        assert loop.take_lease(now, force=True)
        loop.recover(now)
        plan = make_plan(self.definitions, self.store.list_schedules(), now=now, preview=0)
        apply_plan(self.store, plan, self.definitions, now=now, source="test")
        loop.load(self.store.list_schedules(), now)
        self.loop = loop
        return loop

    async def at(self, when: str) -> None:
        assert self.loop is not None
        self.clock.set(T(when))
        self.loop.tick(self.clock.now())
        for _ in range(5):
            await asyncio.sleep(0)
        await self.loop.wait_idle()

    def history(self, name: str) -> list[tuple[str, str, int, str]]:
        rows = self.store.history(name, limit=1000)
        return sorted(
            (r.scheduled_time.strftime("%H:%M"), r.trigger, r.attempt, r.result) for r in rows
        )


def cron(name: str, expr: str, **kw: Any) -> ScheduleDefinition:
    return ScheduleDefinition(name=name, schedule=CronSchedule(expr), command=("true",), **kw)


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


def test_each_due_occurrence_fires_once_even_when_ticked_repeatedly(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        h.start()
        for when in ["09:00:00", "09:00:00", "09:00:30", "09:01:00", "09:01:00"]:
            await h.at(f"2026-06-01T{when}Z")

    run(go)
    assert h.history("every-minute") == [
        ("09:00", "schedule", 1, "success"),
        ("09:01", "schedule", 1, "success"),
    ]
    assert len(h.executor.calls) == 2


def test_a_burst_larger_than_a_tick_is_fired_over_the_next_ticks_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_module, "TICK_SCHEDULES", 3)
    h = Harness(tmp_path, [cron(f"s{i}", "0 * * * *") for i in range(7)])
    fired: list[int] = []
    waits: list[float] = []

    async def go() -> None:
        loop = h.start()
        h.clock.set(T("2026-06-01T09:00:00Z"))
        for _ in range(4):
            loop.tick(h.clock.now())
            await asyncio.sleep(0)
            await loop.wait_idle()
            fired.append(len(h.executor.calls))
            waits.append(loop.seconds_until_next(h.clock.now()))

    run(go)
    assert fired == [3, 6, 7, 7]
    assert waits[:2] == [0, 0]  # more are due: the next tick comes after one turn
    assert waits[2] > 0
    assert all(h.history(f"s{i}") == [("09:00", "schedule", 1, "success")] for i in range(7))


def test_schedules_written_alike_share_a_timeline_and_each_fires_on_its_own(
    tmp_path: Path,
) -> None:
    spec = CronSchedule("30 9 * * *")  # one parsed line, as the loader shares it
    alike = [ScheduleDefinition(name=n, schedule=spec, command=("true",)) for n in ("a", "b")]
    berlin = ScheduleDefinition(
        name="berlin", schedule=spec, command=("true",), timezone="Europe/Berlin"
    )
    hashed = cron("hashed", "H 9 * * *")
    h = Harness(tmp_path, [*alike, berlin, hashed])

    async def go() -> None:
        loop = h.start()
        assert loop._timelines["a"] is loop._timelines["b"]
        assert loop._timelines["berlin"] is not loop._timelines["a"]
        assert loop._next["berlin"] == T("2026-06-02T07:30:00Z")  # 09:30 CEST, tomorrow
        for minute in range(0, 61):  # every minute from 09:00 to 10:00 UTC
            await h.at(f"2026-06-01T09:{minute:02d}:00Z" if minute < 60 else "2026-06-01T10:00:00Z")

    run(go)
    assert h.history("a") == h.history("b") == [("09:30", "schedule", 1, "success")]
    assert h.history("berlin") == []  # 09:30 CEST is 07:30 UTC, before the harness started
    assert [c[0] for c in h.executor.calls].count("hashed") == 1


def test_a_restarted_leader_does_not_fire_claimed_occurrences_again(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        h.start("a")
        await h.at("2026-06-01T09:00:00Z")
        h.start("b")  # a new leader with a new epoch, same store, same instant
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:00:40Z")

    run(go)
    assert h.history("every-minute") == [("09:00", "schedule", 1, "success")]


def test_a_deposed_leader_stops_firing(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        old = h.start("a")
        await h.at("2026-06-01T09:00:00Z")
        h.start("b")
        h.loop = old  # the old leader wakes up after a long pause
        await h.at("2026-06-01T09:01:00Z")
        assert not old.firing

    run(go)
    assert h.history("every-minute") == [("09:00", "schedule", 1, "success")]


def _hourly_down_for_three_hours(tmp_path: Path, **options: Any) -> Harness:
    h = Harness(tmp_path, [cron("hourly", "0 * * * *")], missed_threshold=300, **options)

    async def go() -> None:
        h.start("a")  # sees the schedule at 08:59: next run 09:00, then the host is down
        h.clock.set(T("2026-06-01T12:00:10Z"))
        h.start("b")
        await h.at("2026-06-01T12:00:10Z")

    run(go)
    return h


def test_missed_trigger_runs_the_most_recent_and_records_the_rest(tmp_path: Path) -> None:
    h = _hourly_down_for_three_hours(
        tmp_path, missed_schedule_handling="trigger", max_missed_schedules=2
    )
    assert h.history("hourly") == [
        ("09:00", "schedule", 1, "missed"),
        ("10:00", "missed", 1, "success"),
        ("11:00", "missed", 1, "success"),
        ("12:00", "schedule", 1, "success"),
    ]


def test_missed_skip_records_every_late_occurrence_without_running_it(tmp_path: Path) -> None:
    h = _hourly_down_for_three_hours(tmp_path, missed_schedule_handling="skip")
    assert h.history("hourly") == [
        ("09:00", "schedule", 1, "missed"),
        ("10:00", "schedule", 1, "missed"),
        ("11:00", "schedule", 1, "missed"),
        ("12:00", "schedule", 1, "success"),
    ]


def test_missed_coalesce_folds_everything_due_while_down_into_one_run(tmp_path: Path) -> None:
    h = _hourly_down_for_three_hours(tmp_path, missed_schedule_handling="coalesce")
    assert h.history("hourly") == [
        ("09:00", "schedule", 1, "missed"),
        ("10:00", "schedule", 1, "missed"),
        ("11:00", "schedule", 1, "missed"),
        ("12:00", "schedule", 1, "success"),
    ]
    assert len(h.executor.calls) == 1


def test_coalesce_runs_once_when_occurrences_within_the_threshold_came_due_while_down(
    tmp_path: Path,
) -> None:
    h = Harness(
        tmp_path,
        [cron("every-minute", "* * * * *")],
        missed_threshold=300,
        missed_schedule_handling="coalesce",
    )

    async def go() -> None:
        h.start("a")  # next run 09:00; then nothing runs for ten minutes
        h.clock.set(T("2026-06-01T09:10:30Z"))
        h.start("b")
        await h.at("2026-06-01T09:10:30Z")
        await h.at("2026-06-01T09:11:00Z")  # running again: the next one is on time

    run(go)
    history = h.history("every-minute")
    ran = [row for row in history if row[3] == "success"]
    assert ran == [("09:10", "schedule", 1, "success"), ("09:11", "schedule", 1, "success")]
    assert [row[0] for row in history if row[3] == "missed"] == [f"09:{m:02d}" for m in range(10)]
    assert len(h.executor.calls) == 2


def test_a_late_occurrence_within_the_threshold_just_runs_late(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("hourly", "0 * * * *")], missed_threshold=300)

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:04:59Z")

    run(go)
    assert h.history("hourly") == [("09:00", "schedule", 1, "success")]


def test_failed_jobs_are_retried_after_the_delay_with_each_attempt_recorded(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("flaky", "0 9 * * *", max_retries=2, retry_delay=30.0)])
    h.executor.script["flaky"] = ["error", "timeout", "error"]

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:00:29Z")  # too early for the retry
        assert len(h.executor.calls) == 1
        await h.at("2026-06-01T09:00:30Z")
        await h.at("2026-06-01T09:01:00Z")
        await h.at("2026-06-01T09:05:00Z")

    run(go)
    assert h.history("flaky") == [
        ("09:00", "retry", 2, "timeout"),
        ("09:00", "retry", 3, "error"),
        ("09:00", "schedule", 1, "error"),
    ]
    assert len(h.executor.calls) == 3


def test_unique_skips_an_occurrence_while_the_previous_run_still_runs(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("slow", "* * * * *", overlap="skip")])
    h.executor.hold["slow"] = asyncio.Event()

    async def go() -> None:
        h.start()
        assert h.loop is not None
        h.clock.set(T("2026-06-01T09:00:00Z"))
        h.loop.tick(h.clock.now())
        await asyncio.sleep(0)
        h.clock.set(T("2026-06-01T09:01:00Z"))
        h.loop.tick(h.clock.now())
        h.executor.hold["slow"].set()
        await h.loop.wait_idle()
        await h.at("2026-06-01T09:02:00Z")

    run(go)
    assert h.history("slow") == [
        ("09:00", "schedule", 1, "success"),
        ("09:01", "schedule", 1, "skipped"),
        ("09:02", "schedule", 1, "success"),
    ]


def test_a_backwards_clock_jump_never_fires_a_claimed_occurrence_again(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:01:00Z")
        await h.at("2026-06-01T08:59:30Z")  # NTP steps the clock back
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:01:00Z")
        await h.at("2026-06-01T09:02:00Z")

    run(go)
    assert [row[0] for row in h.history("every-minute")] == ["09:00", "09:01", "09:02"]


def test_a_forward_clock_jump_is_handled_as_downtime(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        [cron("every-minute", "* * * * *")],
        missed_threshold=60,
        missed_schedule_handling="skip",
    )

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:05:00Z")

    run(go)
    assert h.history("every-minute") == [
        ("09:00", "schedule", 1, "success"),
        ("09:01", "schedule", 1, "missed"),
        ("09:02", "schedule", 1, "missed"),
        ("09:03", "schedule", 1, "missed"),
        ("09:04", "schedule", 1, "success"),
        ("09:05", "schedule", 1, "success"),
    ]


def test_a_run_cut_off_by_a_crash_is_recorded_interrupted_and_retried(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("nightly", "0 9 * * *", max_retries=1, retry_delay=0.0)])
    h.executor.hold["nightly"] = asyncio.Event()

    async def go() -> None:
        h.start("a")
        assert h.loop is not None
        h.clock.set(T("2026-06-01T09:00:00Z"))
        h.loop.tick(h.clock.now())
        for _ in range(3):
            await asyncio.sleep(0)
        # the leader dies here with the job running; a new one starts
        del h.executor.hold["nightly"]
        h.clock.set(T("2026-06-01T09:00:20Z"))
        h.start("b")
        await h.at("2026-06-01T09:00:20Z")

    run(go)
    assert h.history("nightly") == [
        ("09:00", "retry", 2, "success"),
        ("09:00", "schedule", 1, "interrupted"),
    ]


def test_queues_limit_concurrency_and_start_high_priority_first(tmp_path: Path) -> None:
    defs = [
        cron("c-low", "0 9 * * *", priority="low", queue="q"),
        cron("a-normal", "0 9 * * *", queue="q"),
        cron("b-high", "0 9 * * *", priority="high", queue="q"),
    ]
    h = Harness(tmp_path, defs, queues={"q": 1})

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:00:00Z")

    run(go)
    assert [c[0] for c in h.executor.calls] == ["b-high", "a-normal", "c-low"]


def test_a_paused_schedule_does_not_fire_and_resumes_without_missed_records(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        h.start()
        assert h.loop is not None
        await h.at("2026-06-01T09:00:00Z")
        h.store.set_status(["every-minute"], "paused", h.clock.now())
        h.loop.refresh(h.clock.now())
        await h.at("2026-06-01T09:01:00Z")
        await h.at("2026-06-01T09:02:00Z")
        h.store.set_next_run("every-minute", None)
        h.store.set_status(["every-minute"], "active", h.clock.now())
        h.clock.set(T("2026-06-01T09:02:30Z"))
        h.loop.refresh(h.clock.now())
        await h.at("2026-06-01T09:03:00Z")

    run(go)
    assert h.history("every-minute") == [
        ("09:00", "schedule", 1, "success"),
        ("09:03", "schedule", 1, "success"),
    ]


def test_a_pause_noted_after_a_copy_was_read_off_the_loop_stands_when_the_copy_is_taken(
    tmp_path: Path,
) -> None:
    """The look at every schedule reads them in a thread: a pause from the shell noted
    while it read must not be lifted by the older copy, nor a resume be undone."""
    h = Harness(tmp_path, [cron("paused-late", "* * * * *"), cron("resumed-late", "* * * * *")])

    async def go() -> None:
        loop = h.start()
        h.store.set_status(["resumed-late"], "paused", h.clock.now())
        loop.refresh(h.clock.now())
        watch = loop.watch_statuses()
        copy = h.store.list_schedules(definitions=False)  # what the thread read
        h.store.set_status(["paused-late"], "paused", h.clock.now())
        h.store.set_status(["resumed-late"], "active", h.clock.now())
        loop.refresh(h.clock.now())  # the wake-up of the pause and the resume, meanwhile
        assert not watch.overtaken
        loop.refresh_all(loop.since_watch(watch, copy), h.clock.now())
        await h.at("2026-06-01T09:00:00Z")

    run(go)
    assert h.history("paused-late") == []
    assert h.history("resumed-late") == [("09:00", "schedule", 1, "success")]


def test_a_copy_read_off_the_loop_is_overtaken_by_a_load_meanwhile(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("every-minute", "* * * * *")])

    async def go() -> None:
        loop = h.start()
        watch = loop.watch_statuses()
        loop.load(h.store.list_schedules(), h.clock.now())  # a reload's load
        assert watch.overtaken
        loop.unwatch(watch)
        later = loop.watch_statuses()
        assert not later.overtaken and not later.names
        loop.unwatch(later)

    run(go)


def test_an_interval_is_anchored_and_does_not_drift_with_lateness(tmp_path: Path) -> None:
    d = ScheduleDefinition(
        name="every-10m",
        schedule=IntervalSchedule("10m"),
        command=("true",),
        start_date=T("2026-06-01T09:00:00Z"),
    )
    h = Harness(tmp_path, [d])

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:00:03Z")  # late by 3 s
        await h.at("2026-06-01T09:10:07Z")  # late by 7 s
        await h.at("2026-06-01T09:20:00Z")

    run(go)
    assert [row[0] for row in h.history("every-10m")] == ["09:00", "09:10", "09:20"]


def test_a_one_time_schedule_completes_after_it_ran(tmp_path: Path) -> None:
    d = ScheduleDefinition(
        name="once",
        schedule=schedule_from_config({"at": "2026-06-01T09:30:00Z"}),
        command=("true",),
    )
    h = Harness(tmp_path, [d])

    async def go() -> None:
        h.start()
        await h.at("2026-06-01T09:30:00Z")
        await h.at("2026-06-01T10:30:00Z")

    run(go)
    assert h.history("once") == [("09:30", "schedule", 1, "success")]
    state = h.store.get_schedule("once")
    assert state is not None and state.status == "completed"


def test_a_wake_up_does_not_list_the_completed_schedules_yet_the_loop_knows_them(
    tmp_path: Path,
) -> None:
    once = [
        ScheduleDefinition(
            name=f"once-{i}",
            schedule=schedule_from_config({"at": "2026-06-01T09:30:00Z"}),
            command=("true",),
        )
        for i in range(3)
    ]
    h = Harness(tmp_path, [*once, cron("every-minute", "* * * * *")])
    listed: list[tuple[str, ...] | None] = []
    list_schedules = h.store.list_schedules

    def listing(**kw: Any) -> Any:
        statuses = kw.get("statuses")
        listed.append(None if statuses is None else tuple(sorted(statuses)))
        return list_schedules(**kw)

    h.store.list_schedules = listing  # type: ignore[method-assign]

    async def go() -> None:
        h.start()
        assert h.loop is not None
        await h.at("2026-06-01T09:30:00Z")
        await h.at("2026-06-01T09:31:00Z")
        assert dict(h.loop.statuses) == {f"once-{i}": "completed" for i in range(3)}
        assert set(h.loop.inactive()) == {f"once-{i}" for i in range(3)}
        # Another process pauses one schedule and deletes a completed one; a wake-up
        # lists only the statuses others give.
        h.store.pause_schedules(["every-minute"], "operator", h.clock.now())
        h.store.set_status(["once-0"], "removed", h.clock.now())
        listed.clear()
        h.loop.refresh(h.clock.now())
        assert listed == [("disabled", "paused", "removed")]
        assert dict(h.loop.statuses) == {
            "once-0": "removed",
            "once-1": "completed",
            "once-2": "completed",
            "every-minute": "paused",
        }
        await h.at("2026-06-01T09:32:00Z")  # paused: nothing fires
        h.store.resume_schedules(["every-minute"], ["operator"], h.clock.now())
        h.loop.refresh(h.clock.now())
        assert "every-minute" not in h.loop.inactive()
        await h.at("2026-06-01T09:33:00Z")
        # The periodic full look reads every status again, the completed ones included.
        listed.clear()
        h.loop.refresh(h.clock.now(), full=True)
        assert listed == [None]
        assert dict(h.loop.statuses) == {
            "once-0": "removed",
            "once-1": "completed",
            "once-2": "completed",
        }

    run(go)
    fired = [r[0] for r in h.history("every-minute")]
    assert "09:31" in fired and "09:32" not in fired and "09:33" in fired


def test_manual_and_event_runs_queued_by_another_process_are_picked_up(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("report", "0 0 1 1 *")])

    async def go() -> None:
        h.start()
        h.store.enqueue(
            RunRecord(
                run_id="m1",
                schedule="report",
                scheduled_time=T("2026-06-01T09:00:00Z"),
                trigger="manual",
                queued_at=T("2026-06-01T09:00:00Z"),
            )
        )
        await h.at("2026-06-01T09:00:01Z")

    run(go)
    assert h.history("report") == [("09:00", "manual", 1, "success")]


@pytest.mark.parametrize("when", ["2026-06-01T09:00:00Z", "2026-06-01T09:00:00.5Z"])
def test_the_loop_sleeps_until_the_next_due_instant_capped_by_check_interval(
    tmp_path: Path, when: str
) -> None:
    h = Harness(tmp_path, [cron("hourly", "0 * * * *")], check_interval=60)

    async def go() -> None:
        loop = h.start()
        await h.at(when)
        assert loop.seconds_until_next(T("2026-06-01T09:59:30Z")) == 30
        assert loop.seconds_until_next(T("2026-06-01T09:30:00Z")) == 60

    run(go)


def test_the_executor_prepares_for_the_tasks_run_here_before_the_first_tick(
    tmp_path: Path,
) -> None:
    def task(name: str, **kw: Any) -> ScheduleDefinition:
        return ScheduleDefinition(
            name=name, schedule=CronSchedule("0 9 * * *"), task="tasks.job", **kw
        )

    definitions = [task("here"), task("elsewhere", queue="remote"), cron("cmd", "0 9 * * *")]
    h = Harness(tmp_path, definitions)
    loop = h.start()
    assert h.executor.prepared == [["elsewhere", "here"]]  # tasks only, before any tick
    assert h.executor.calls == []

    (tmp_path / "two").mkdir()
    h2 = Harness(tmp_path / "two", definitions)
    h2.start(local_queues={"scheduled"})  # 'remote' is served by workers elsewhere
    assert h2.executor.prepared == [["here"]]
    assert loop.fired == 0


def test_runs_past_the_descriptor_budget_wait_queued_and_start_as_jobs_end(
    tmp_path: Path,
) -> None:
    names = [f"job{i}" for i in range(5)]
    h = Harness(tmp_path, [cron(n, "0 9 * * *") for n in names], default_concurrency=10)
    h.executor.slots = 2  # the queue allows 10 at once, the descriptors only 2
    for name in names:
        h.executor.hold[name] = asyncio.Event()

    async def go() -> None:
        loop = h.start()
        h.clock.set(T("2026-06-01T09:00:00Z"))
        loop.tick(h.clock.now())
        for _ in range(5):
            await asyncio.sleep(0)
        results = Counter(r.result for n in names for r in h.store.history(n))
        assert results == {"running": 2, "queued": 3}  # the rest wait, never started
        assert loop.waiting_for_descriptors() == 3
        for name in names:
            h.executor.hold[name].set()
        await loop.wait_idle()
        assert loop.waiting_for_descriptors() == 0
        assert loop.descriptor_waits == 3

    run(go)
    assert [h.history(n) for n in names] == [[("09:00", "schedule", 1, "success")]] * 5
    assert len(h.executor.calls) == 5


def test_a_schedule_naming_a_group_this_runner_has_no_limit_for_runs_and_is_said_once(
    tmp_path: Path,
) -> None:
    """A library schedule may name a group the leader's file does not define: its runs
    are not held back, and the leader says so once instead of ignoring it silently."""
    h = Harness(tmp_path, [cron("sync", "* * * * *", concurrency_group="warehouse")])
    said = io.StringIO()

    async def go() -> None:
        h.start(log=Logger(said))
        for when in ("09:00:00", "09:01:00", "09:02:00"):
            await h.at(f"2026-06-01T{when}Z")

    run(go)
    assert [r[3] for r in h.history("sync")] == ["success"] * 3
    warnings = [line for line in said.getvalue().splitlines() if "warehouse" in line]
    assert len(warnings) == 1
    assert "sync: concurrency group 'warehouse' has no limit in this runner's" in warnings[0]


def test_a_loop_that_leads_again_with_its_epoch_runs_what_its_last_term_left_queued(
    tmp_path: Path,
) -> None:
    """A process that stood down and leads again while its lease still lives keeps its
    epoch (``Store.acquire_lease``): the retry its last term queued is still run."""
    h = Harness(tmp_path, [cron("flaky", "0 9 * * *", max_retries=1, retry_delay=600.0)])
    h.executor.script = {"flaky": ["error", "success"]}

    async def go() -> None:
        first = h.start("a")
        await h.at("2026-06-01T09:00:00Z")
        await h.at("2026-06-01T09:00:30Z")  # the retry, queued with the end, is taken
        again = h.start("a")
        assert again.epoch == first.epoch
        await h.at("2026-06-01T09:10:30Z")

    run(go)
    assert h.history("flaky") == [
        ("09:00", "retry", 2, "success"),
        ("09:00", "schedule", 1, "error"),
    ]

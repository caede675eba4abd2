"""Rules that two parts of the scheduler used to answer each on its own, now answered by
one: when a schedule next starts, whether a removed schedule keeps its pauses, where an
interval counts from after a wall-clock jump, and how a run cut off by a change of
leader ends (its retry, its count in the metrics).

Each test reads the answer through every front that shows it (the loop and its metrics,
the library's status and list, ``top``, a new leader), under a fake clock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_server import RedisServer, unique_prefix
from test_loop import FakeClock, FakeExecutor, Harness, T, cron, run
from typer.testing import CliRunner

from unoschedule import Scheduler
from unoschedule.abc import Store
from unoschedule.cli import app
from unoschedule.config import load_config
from unoschedule.config.python_values import definition_from_values
from unoschedule.effective import fixed_offset
from unoschedule.explain import explain
from unoschedule.metrics import Metrics
from unoschedule.model import ScheduleDefinition
from unoschedule.overview import snapshot
from unoschedule.runner.log import Logger
from unoschedule.runner.loop import RunLoop
from unoschedule.runner.ops import Operations
from unoschedule.runner.reloading import write_reload
from unoschedule.schedules import IntervalSchedule
from unoschedule.store import PREFIX_ENV
from unoschedule.store.redis import RedisStorage
from unoschedule.store.sqlite import SQLiteStorage
from unoschedule.sync import apply_plan, make_plan
from unoschedule.timeutil import format_instant, format_stored

# -- when a schedule next starts --------------------------------------------------------

#: An hourly schedule whose 09:00 and 10:00 fall in a blackout: its next start is 11:00.
BLACKED_OUT = {
    "schedule": "0 * * * *",
    "command": ["true"],
    "blackout": [{"name": "maint", "from": "2026-06-01T08:30:00", "to": "2026-06-01T10:30:00"}],
}
#: A daily schedule whose fixed jitter (hashed from the name "job") starts it at 09:02:50.
FIXED_JITTER = {"schedule": "0 9 * * *", "command": ["true"], "jitter": "30m", "jitter_fixed": True}


def metrics_next_run(metrics: Metrics, name: str) -> datetime:
    """The next-run gauge of ``name`` in the exposition text, as a scrape reads it."""
    prefix = f'uno_schedule_next_run_timestamp_seconds{{schedule="{name}"}} '
    (line,) = [line for line in metrics.text().splitlines() if line.startswith(prefix)]
    return datetime.fromtimestamp(float(line.removeprefix(prefix)), UTC)


@pytest.mark.parametrize(
    ("values", "starts"),
    [(BLACKED_OUT, "2026-06-01T11:00:00Z"), (FIXED_JITTER, "2026-06-01T09:02:50Z")],
    ids=["blackout", "fixed-jitter"],
)
def test_metrics_top_status_and_list_show_the_same_next_start(
    tmp_path: Path, values: dict[str, Any], starts: str
) -> None:
    h = Harness(tmp_path, [definition_from_values("job", values)])
    metrics = metered(h, h.start())  # 08:59, as the file is loaded
    library = Scheduler.for_state(h.path)
    library.clock = h.clock
    (listed,) = library.schedule_list(next_runs=True)
    (top,) = snapshot(h.store, h.clock.now())["next"]
    assert metrics_next_run(metrics, "job") == T(starts)
    assert top["next_run"] == starts
    assert top["in_seconds"] == (T(starts) - h.clock.now()).total_seconds()
    assert library.schedule_status("job")["next_run"] == starts
    assert listed["next_run"] == starts
    library.close()


def test_top_lists_schedules_in_the_order_they_start_not_the_order_they_are_claimed(
    tmp_path: Path,
) -> None:
    blacked_out = definition_from_values("blacked-out", BLACKED_OUT)
    plain = definition_from_values("plain", {"schedule": "30 9 * * *", "command": ["true"]})
    h = Harness(tmp_path, [blacked_out, plain])
    h.start()
    shown = snapshot(h.store, h.clock.now(), rows=1)["next"]
    assert [(r["schedule"], r["next_run"]) for r in shown] == [("plain", "2026-06-01T09:30:00Z")]


def test_the_run_starts_when_every_front_said_it_would(tmp_path: Path) -> None:
    h = Harness(tmp_path, [definition_from_values("job", BLACKED_OUT)])

    async def go() -> None:
        h.start()
        for when in ("09:00", "10:00", "11:00"):
            await h.at(f"2026-06-01T{when}:00Z")

    run(go)
    assert [c[1] for c in h.executor.calls] == [T("2026-06-01T11:00:00Z")]


# -- a removed schedule keeps no pause ----------------------------------------------------


def every_minute(name: str = "job") -> ScheduleDefinition:
    return ScheduleDefinition(name=name, schedule=IntervalSchedule("1m"), command=("true",))


def assert_runs_unpaused(library: Scheduler, name: str, now: datetime) -> None:
    """``name`` is active and shows no pause: in status, in list, in explain and in
    the open pause records that all three read."""
    status = library.schedule_status(name)
    assert (status["status"], status["paused_reason"], status["paused_by"]) == (
        "active",
        None,
        None,
    )
    (row,) = [r for r in library.schedule_list(next_runs=False) if r["name"] == name]
    assert (row["status"], row["paused_reason"]) == ("active", None)
    assert [p for p in library.store.open_pauses() if p.schedule == name] == []
    later = now + timedelta(minutes=3)
    rows = explain(library.store, library.definition(name), now, later, later)
    assert rows and "paused" not in {r["outcome"] for r in rows}


def test_a_schedule_deleted_and_added_again_through_the_library_is_not_paused(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T("2026-06-01T08:59:00Z"))

    async def go() -> Scheduler:
        library = Scheduler(storage=tmp_path / "state.db")
        library.clock = clock
        await library.schedule(command=["true"], schedule={"every": "1m"}, name="job")
        await library.pause_schedule("job", reason="db migration", by="alice")
        await library.delete_schedule("job")
        await library.schedule(command=["true"], schedule={"every": "1m"}, name="job")
        return library

    library = asyncio.run(go())
    assert_runs_unpaused(library, "job", clock.now())
    library.close()


def test_a_schedule_removed_from_the_file_and_put_back_is_not_paused(tmp_path: Path) -> None:
    h = Harness(tmp_path, [every_minute()])
    now = h.clock.now()

    def load(definitions: dict[str, ScheduleDefinition]) -> None:
        plan = make_plan(definitions, h.store.list_schedules(), now=now, preview=0)
        apply_plan(h.store, plan, definitions, now=now, source="test")

    load(h.definitions)
    h.store.pause_schedules(["job"], "operator", now, reason="db migration", by="alice")
    load({})  # the reload of a file without it
    load(h.definitions)  # and of the file with it again
    library = Scheduler.for_state(h.path)
    library.clock = h.clock
    assert_runs_unpaused(library, "job", now)
    library.close()


# -- nor one that an older version removed with its pauses open --------------------------


@dataclass
class OldState:
    """A state on SQLite or Redis, into which ``remove_as_before`` writes a removal as the
    versions before removals ended pauses wrote it: the status alone, the schedule's
    open pauses left open."""

    spec: str
    env: dict[str, str | None]
    open: Callable[[], Store]
    remove_as_before: Callable[[str, datetime], None]

    def cli(self, config: Path, *args: str) -> Any:
        done = CliRunner().invoke(
            app, ["-c", str(config), "--state", self.spec, *args, "--json"], env=self.env
        )
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)


def sqlite_old_state(tmp_path: Path) -> OldState:
    path = tmp_path / "state.db"

    def remove_as_before(name: str, at: datetime) -> None:
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "UPDATE schedules SET status = 'removed', updated_at = ? WHERE name = ?",
                (format_stored(at), name),
            )
        conn.close()

    env = {"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None, PREFIX_ENV: None}
    return OldState(str(path), env, lambda: SQLiteStorage(path), remove_as_before)


def redis_old_state(server: RedisServer) -> OldState:
    prefix = unique_prefix()

    def remove_as_before(name: str, at: datetime) -> None:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        key = f"{prefix}schedule:{name}"
        was = client.hget(key, "status")
        client.hset(key, mapping={"status": "removed", "updated_at": format_stored(at)})
        client.smove(f"{prefix}status:{was}", f"{prefix}status:removed", name)
        client.close()

    env = {"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None, PREFIX_ENV: prefix}
    return OldState(
        server.url, env, lambda: RedisStorage(server.url, key_prefix=prefix), remove_as_before
    )


@pytest.fixture(params=["sqlite", "redis"])
def old_state(request: pytest.FixtureRequest, tmp_path: Path) -> OldState:
    if request.param == "sqlite":
        return sqlite_old_state(tmp_path)
    return redis_old_state(request.getfixturevalue("redis_server"))


def test_a_schedule_an_older_version_removed_while_paused_is_added_again_unpaused(
    old_state: OldState,
) -> None:
    """Its operator's, its timed and its ``pause_after_failures`` pauses end as of the
    removal; the pause of a schedule that was never removed stays as it was."""
    clock = FakeClock(T("2026-06-01T08:59:00Z"))
    paused_at, removed_at = clock.now(), T("2026-06-01T09:30:00Z")

    async def build(library: Scheduler) -> None:
        for name in ("gone", "live"):
            await library.schedule(command=["true"], schedule={"every": "1m"}, name=name)
        await library.pause_schedule("gone", reason="db migration", by="alice")
        await library.pause_schedule("gone", until=timedelta(days=2))
        library.store.pause_schedules(["gone"], "failures", paused_at, by="uno-schedule")
        await library.pause_schedule("live", reason="disk swap", by="bob")

    store = old_state.open()
    asyncio.run(build(Scheduler(storage=store, clock=clock)))
    store.close()
    old_state.remove_as_before("gone", removed_at)
    clock.set(T("2026-06-01T12:00:00Z"))
    store = old_state.open()  # opened by this version
    library = Scheduler(storage=store, clock=clock)
    try:
        asyncio.run(library.schedule(command=["true"], schedule={"every": "1m"}, name="gone"))
        assert_runs_unpaused(library, "gone", clock.now())
        ended = library.store.pauses("gone", paused_at, clock.now())
        assert sorted(p.kind for p in ended) == ["failures", "operator", "operator"]
        assert {p.resumed_at for p in ended} == {removed_at}
        live = library.schedule_status("live")
        assert (live["status"], live["paused_reason"], live["paused_by"]) == (
            "paused",
            "disk swap",
            "bob",
        )
        assert [(p.schedule, p.reason) for p in library.store.open_pauses()] == [
            ("live", "disk swap")
        ]
    finally:
        store.close()


FILE = """
schedules:
  gone: {schedule: {every: 1m}, command: "true", paused: %s}
  live: {schedule: {every: 1m}, command: "true"}
"""


def test_a_schedule_an_older_version_removed_while_paused_comes_back_from_the_file_unpaused(
    old_state: OldState, tmp_path: Path
) -> None:
    """Put back with ``paused: true``, it shows only the file's pause, and the file's
    ``paused: false`` then resumes it: no pause of long ago holds it paused."""
    config = tmp_path / "schedules.yaml"
    now = T("2026-06-01T09:00:00Z")

    def reload(paused: str) -> None:
        """What ``run`` does with the file at its start and at each reload."""
        config.write_text(FILE % paused)
        store = old_state.open()
        schedules = load_config(config).schedules
        write_reload(store, schedules, now=now, source="file", log=Logger(verbose=False))
        store.close()

    reload("false")
    store = old_state.open()
    store.pause_schedules(["gone"], "operator", now, reason="db migration", by="alice")
    store.pause_schedules(["live"], "operator", now, reason="disk swap", by="bob")
    store.close()
    old_state.remove_as_before("gone", now)
    reload("true")
    gone = old_state.cli(config, "status", "gone")
    assert (gone["status"], gone["paused_reason"], gone["paused_by"]) == ("paused", None, None)
    reload("false")
    gone = old_state.cli(config, "status", "gone")
    assert (gone["status"], gone["paused_reason"], gone["paused_by"]) == ("active", None, None)
    rows = {r["name"]: (r["status"], r["paused_reason"]) for r in old_state.cli(config, "list")}
    assert rows == {"gone": ("active", None), "live": ("paused", "disk swap")}


# -- a run cut off by a change of leader ------------------------------------------------


def metered(h: Harness, loop: RunLoop) -> Metrics:
    """Attach the housekeeping's observer to ``loop``, as the service does before it
    recovers anything, and return the metrics it keeps."""
    scheduler = Scheduler(storage=h.store, clock=h.clock, metrics_enabled=False)
    scheduler.definitions = h.definitions
    ops = Operations(scheduler, Logger(verbose=False))
    ops.metrics = Metrics()
    ops.attach(loop)
    return ops.metrics


def counted(metrics: Metrics, name: str) -> Counter[str]:
    """``runs_total`` of schedule ``name`` in the exposition text, per result."""
    found: Counter[str] = Counter()
    for line in metrics.text().splitlines():
        if line.startswith("uno_schedule_runs_total{") and f'schedule="{name}"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] += int(float(line.rsplit(" ", 1)[1]))
    return found


def ended(h: Harness, name: str) -> Counter[str]:
    """The recorded ends of ``name`` per result, as status and stats count them."""
    rows = h.store.history(name, limit=1000)
    return Counter(r.result for r in rows if r.result not in ("queued", "running"))


def successor(h: Harness, instance: str) -> RunLoop:
    """A leader of the same state in another process (its own executor)."""
    return RunLoop(
        store=h.store,
        definitions=h.definitions,
        options=h.options,
        executor=FakeExecutor(),  # type: ignore[arg-type]
        clock=h.clock,
        instance_id=instance,
        log=Logger(verbose=False),
        wake=lambda: None,
    )


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
@pytest.mark.parametrize("first", ["successor", "deposed"])
def test_a_run_cut_off_by_a_change_of_leader_is_retried_once_whoever_records_it_first(
    tmp_path: Path, backend: str, first: str, request: pytest.FixtureRequest
) -> None:
    nightly = cron("nightly", "0 9 * * *", max_retries=2, retry_delay=1.0)
    h = Harness(tmp_path, [nightly], lock_timeout=1)
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        h.store.close()
        h.store = RedisStorage(server.url, key_prefix=unique_prefix())  # type: ignore[assignment]
    b = successor(h, "b")
    metrics = {"a": Metrics(), "b": Metrics()}

    async def go() -> None:
        a = h.start("a")
        metrics["a"] = metered(h, a)
        h.clock.set(T("2026-06-01T09:00:00Z"))
        a.tick(h.clock.now())  # claimed and marked running; its job is not spawned yet
        h.clock.set(T("2026-06-01T09:00:02Z"))  # a froze past its 1 s lease
        metrics["b"] = metered(h, b)
        assert b.take_lease(h.clock.now())
        if first == "successor":
            b.recover(h.clock.now())
        await a.wait_idle()  # a thaws and finds its lease lost before the spawn
        if first == "deposed":
            b.recover(h.clock.now())
        h.clock.set(T("2026-06-01T09:00:03Z"))  # the retry's delay has passed
        b.tick(h.clock.now())
        await b.wait_idle()

    try:
        asyncio.run(go())
        assert h.history("nightly") == [
            ("09:00", "retry", 2, "success"),
            ("09:00", "schedule", 1, "interrupted"),
        ]
        assert h.executor.calls == []  # the deposed leader spawned nothing
        assert [c[2:] for c in b.executor.calls] == [(2, "retry")]  # type: ignore[attr-defined]
        # the interruption is counted once, by the process that recorded it
        assert counted(metrics["a"], "nightly") + counted(metrics["b"], "nightly") == ended(
            h, "nightly"
        )
    finally:
        h.store.close()


# -- every recorded end is counted once -----------------------------------------------


def test_a_run_interrupted_by_a_crash_is_counted_in_the_metrics_as_in_the_history(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, [cron("nightly", "0 9 * * *")])
    h.executor.hold["nightly"] = asyncio.Event()
    counts: list[Counter[str]] = []

    async def go() -> None:
        a = h.start("a")
        h.clock.set(T("2026-06-01T09:00:00Z"))
        a.tick(h.clock.now())
        for _ in range(3):
            await asyncio.sleep(0)
        # a dies with the job running; b recovers it
        h.clock.set(T("2026-06-01T09:00:20Z"))
        b = successor(h, "b")
        metrics = metered(h, b)
        assert b.take_lease(h.clock.now(), force=True)
        b.recover(h.clock.now())
        counts.append(counted(metrics, "nightly"))

    run(go)
    assert ended(h, "nightly") == {"interrupted": 1}
    assert counts == [ended(h, "nightly")]


@pytest.mark.parametrize("reload", ["changed", "removed", "removed-at-spawn"])
def test_a_run_a_reload_drops_before_it_starts_is_counted_in_the_metrics_as_in_the_history(
    tmp_path: Path, reload: str
) -> None:
    every = every_minute("every")
    h = Harness(tmp_path, [every], default_concurrency=1)
    h.executor.hold["every"] = asyncio.Event()
    counts: list[Counter[str]] = []

    async def go() -> None:
        loop = h.start()
        metrics = metered(h, loop)
        h.clock.set(T("2026-06-01T09:00:00Z"))
        loop.tick(h.clock.now())
        if reload == "removed-at-spawn":  # after its pump, before its task ran
            del h.definitions["every"]
        for _ in range(5):
            await asyncio.sleep(0)
        if reload != "removed-at-spawn":  # 09:00 runs (held), 09:01 waits in the queue
            h.clock.set(T("2026-06-01T09:01:00Z"))
            loop.tick(h.clock.now())
            if reload == "changed":
                h.definitions["every"] = every.with_changes(schedule=IntervalSchedule("2m"))
            else:
                del h.definitions["every"]
            h.executor.hold["every"].set()
        for _ in range(10):
            await asyncio.sleep(0)
        await loop.wait_idle()
        counts.append(counted(metrics, "every"))

    run(go)
    expected = {
        "changed": {"success": 1, "skipped": 1},
        "removed": {"success": 1, "error": 1},
        "removed-at-spawn": {"error": 1},
    }
    assert ended(h, "every") == expected[reload]
    assert counts == [ended(h, "every")]


# -- where an interval counts from after a wall-clock jump ------------------------------


def jump(h: Harness, loop: RunLoop, to: str) -> None:
    """Set the wall clock without monotonic progress and tell the loop, as the service
    does when wall and monotonic time disagree."""
    before_wall, before_mono = h.clock.now(), h.clock.monotonic()
    h.clock.current = T(to)
    drift = (h.clock.now() - before_wall).total_seconds() - (h.clock.monotonic() - before_mono)
    loop.clock_jumped(drift)


def fired(calls: list[tuple[str, datetime, int, str]]) -> list[str]:
    return [c[1].strftime("%H:%M") for c in calls]


async def tick(loop: RunLoop, h: Harness, when: str) -> None:
    h.clock.set(T(when))
    loop.tick(h.clock.now())
    for _ in range(5):
        await asyncio.sleep(0)
    await loop.wait_idle()


def test_next_runs_and_a_new_leader_follow_the_phase_an_interval_took_across_a_jump(
    tmp_path: Path,
) -> None:
    h = Harness(
        tmp_path,
        [ScheduleDefinition(name="every", schedule=IntervalSchedule("10m"), command=("true",))],
    )
    b = successor(h, "b")
    shown: list[list[str]] = []

    async def go() -> None:
        a = h.start("a")  # 08:59: anchored here, next at 09:09
        await tick(a, h, "2026-06-01T09:00:00Z")
        jump(h, a, "2026-06-01T08:33:00Z")  # set back 27 min: next at 08:42, 10 min apart
        library = Scheduler.for_state(h.path)
        library.clock = h.clock
        shown.append(library.next_run_times("every", 3))
        library.close()
        for when in ("08:42", "08:52"):
            await tick(a, h, f"2026-06-01T{when}:00Z")
        h.clock.set(T("2026-06-01T08:52:30Z"))  # a dies; b takes over
        assert b.take_lease(h.clock.now(), force=True)
        b.recover(h.clock.now())
        b.load(h.store.list_schedules(), h.clock.now())
        for when in ("08:59", "09:02", "09:09", "09:12"):
            await tick(b, h, f"2026-06-01T{when}:00Z")

    run(go)
    assert shown == [["2026-06-01T08:42:00Z", "2026-06-01T08:52:00Z", "2026-06-01T09:02:00Z"]]
    assert fired(h.executor.calls) == ["08:42", "08:52"]
    assert fired(b.executor.calls) == ["09:02", "09:12"]  # type: ignore[attr-defined]


def test_a_jump_never_moves_an_interval_before_its_start_date(tmp_path: Path) -> None:
    starts = T("2026-06-01T09:30:00Z")
    every = ScheduleDefinition(
        name="every", schedule=IntervalSchedule("10m"), command=("true",), start_date=starts
    )
    h = Harness(tmp_path, [every])

    async def go() -> None:
        loop = h.start()  # 08:59: the first run is at the start date, 09:30
        await tick(loop, h, "2026-06-01T09:00:00Z")
        jump(h, loop, "2026-06-01T08:33:00Z")  # 27 min back would put it at 09:03
        for when in ("09:03", "09:13", "09:29", "09:30", "09:40"):
            await tick(loop, h, f"2026-06-01T{when}:00Z")

    run(go)
    assert fired(h.executor.calls) == ["09:30", "09:40"]


#: Every 10 minutes on the phase of its start date (:05, :15, ...), the second one
#: started a fixed 0-2 minutes later (its status then builds its timeline to say when).
PHASED = """\
schedules:
  every:
    schedule: {every: 10m}
    command: "true"
    start_date: 2026-06-01T08:05:00Z
  spread:
    schedule: {every: 10m}
    command: "true"
    start_date: 2026-06-01T08:05:00Z
    jitter: 2m
    jitter_fixed: true
"""


def test_next_runs_list_what_the_loop_runs_after_a_jump_moved_an_interval_with_a_start_date(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(PHASED)
    h = Harness(tmp_path, list(load_config(config).schedules.values()))
    shown: dict[str, Any] = {}

    async def go() -> None:
        loop = h.start()  # 08:59: next at 09:05
        await tick(loop, h, "2026-06-01T09:00:00Z")
        jump(h, loop, "2026-06-01T08:33:00Z")  # set back 27 min: the next run moves to 08:38
        library = Scheduler.for_state(h.path)
        library.clock = h.clock
        shown["library"] = library.next_run_times("every", 3)
        shown["spread"] = library.schedule_status("spread")["next_run"]
        library.close()
        cli = CliRunner().invoke(
            app,
            ["-c", str(config), "--state", str(h.path), "next-runs", "every", "--count", "3",
             "--from", "2026-06-01T08:33:00Z", "--json"],
            env={"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None},
        )  # fmt: skip
        assert cli.exit_code == 0, cli.output
        shown["cli"] = json.loads(cli.stdout)
        for when in ("08:35", "08:38", "08:45", "08:55"):
            await tick(loop, h, f"2026-06-01T{when}:00Z")

    run(go)
    every = [c for c in h.executor.calls if c[0] == "every"]
    assert fired(every) == ["08:38", "08:45", "08:55"]  # moved, then the start date's phase
    runs = ["2026-06-01T08:38:00Z", "2026-06-01T08:45:00Z", "2026-06-01T08:55:00Z"]
    spread = T("2026-06-01T08:38:00Z") + fixed_offset("spread", timedelta(minutes=2))
    assert shown == {"library": runs, "cli": runs, "spread": format_instant(spread)}

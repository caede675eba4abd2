"""The library's ``Scheduler`` as the one engine: what it stores is what every process,
the CLI and ``uno-schedule run`` see; it leads like ``run``; its changes reach a running
leader at once; it refuses bad values at the call.

Tests that need a running leader use a real one (``start()`` in this process, or a
``uno-schedule run`` subprocess) and wait on observable conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from unoschedule import (
    ConfigErrors,
    CronSchedule,
    EventTrigger,
    IntervalSchedule,
    Scheduler,
    ScheduleTemplate,
)
from unoschedule.abc import Clock, Store
from unoschedule.errors import (
    ArgumentError,
    LeadershipError,
    TaskFailure,
    UnoScheduleError,
    VersionConflictError,
)
from unoschedule.store import PREFIX_ENV
from unoschedule.store.sqlite import SQLiteStorage
from unoschedule.timeutil import format_instant
from unoschedule.wallclock import DstPolicy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from jobs import library_tasks  # noqa: E402
from redis_server import unique_prefix  # noqa: E402
from test_task_workers import module_a_reload_brings  # noqa: E402


async def eventually(
    predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
) -> Any:
    """Poll ``predicate`` (sync or async) until it is truthy; the deadline only bounds
    how long a broken build takes to fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cli(state: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "unoschedule"]
    if config is not None:
        argv += ["-c", str(config)]
    argv += ["--state", str(state), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=state.parent)


async def runs_of(scheduler: Scheduler, name: str) -> list[dict[str, Any]]:
    return await scheduler.get_run_history(name, limit=1000)


# -- one state for every process ----------------------------------------------------------


def test_a_schedule_made_in_one_scheduler_is_found_by_another_and_by_the_cli(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"

    async def make() -> None:
        first = Scheduler(storage=state)
        await first.schedule(
            task="maintenance.cleanup", schedule=CronSchedule("0 0 * * *"), name="cleanup"
        )
        first.close()
        second = Scheduler(storage=state)
        found = await second.get_schedule("cleanup")
        assert found.task == "maintenance.cleanup"
        assert [r["name"] for r in await second.list_schedules()] == ["cleanup"]
        second.close()

    asyncio.run(make())
    done = cli(state, "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["name"], r["source"]) for r in rows] == [("cleanup", "api")]


def test_a_yaml_load_leaves_the_api_schedules_alone(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules:\n  backup:\n    schedule: '0 3 * * *'\n    command: 'true'\n")

    async def make() -> None:
        scheduler = Scheduler(storage=state)
        await scheduler.schedule(command="true", schedule="*/5 * * * *", name="from-api")
        scheduler.close()

    asyncio.run(make())
    plan = cli(state, "plan", "--json", config=config)
    assert plan.returncode == 0, plan.stderr
    result = json.loads(plan.stdout)
    assert [e["name"] for e in result["added"]] == ["backup"]
    assert result["removed"] == []
    listed = json.loads(cli(state, "list", "--json", config=config).stdout)
    assert {r["name"]: r["source"] for r in listed} == {"backup": "file", "from-api": "api"}


def test_update_creates_the_next_version_and_refuses_a_stale_one(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        sid = await scheduler.schedule(
            task="maintenance.cleanup", schedule=CronSchedule("0 0 * * *")
        )
        version = await scheduler.update_schedule(
            sid,
            schedule=CronSchedule("0 1 * * *"),
            version=2,
            changelog="Updated schedule to run at 1 AM instead of midnight",
        )
        assert version == 2
        with pytest.raises(VersionConflictError, match="version 3, not 2"):
            await scheduler.update_schedule(sid, priority="low", version=2)
        history = await scheduler.get_schedule_history(sid)
        assert [(v["version"], v["changelog"]) for v in history] == [
            (2, "Updated schedule to run at 1 AM instead of midnight"),
            (1, "added"),
        ]
        assert "-  cron: 0 0 * * *" in history[0]["diff"]
        assert "+  cron: 0 1 * * *" in history[0]["diff"]
        assert await scheduler.get_next_run_times(
            sid, count=1, after=datetime(2026, 1, 1, tzinfo=UTC)
        ) == ["2026-01-01T01:00:00Z"]
        scheduler.close()

    asyncio.run(go())


def test_a_limit_on_the_versions_keeps_the_newest_with_their_diffs(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def go() -> list[dict[str, Any]]:
        scheduler = Scheduler(storage=state)
        await scheduler.schedule(command="true", schedule="0 0 * * *", name="cleanup")
        for hour in (1, 2, 3):
            await scheduler.update_schedule("cleanup", schedule=f"0 {hour} * * *")
        every = await scheduler.get_schedule_history("cleanup")
        assert [v["version"] for v in every] == [4, 3, 2, 1]
        assert await scheduler.get_schedule_history("cleanup", limit=2) == every[:2]
        scheduler.close()
        return every

    every = asyncio.run(go())
    done = cli(state, "history", "cleanup", "--versions", "--limit", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == every[:2]  # 3's diff still from version 2
    plain = cli(state, "history", "cleanup", "--versions", "-n", "1")
    assert "version 4" in plain.stdout and "version 3" not in plain.stdout, plain.stdout


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"priority": "urgent"}, "priority must be one of high, normal, low"),
        ({"max_retries": -4}, "max_retries must be a whole number >= 0"),
        (
            {"start_date": datetime(2024, 1, 1), "end_date": datetime(2023, 1, 1)},
            "is before start_date",
        ),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"schedule": "61 * * * *"}, "minute"),
        ({"kwargs": {"x": object()}}, "cannot store object value"),
        ({"env": {"MODE": "fast"}}, "env: applies to commands; a task takes its settings in"),
        ({"cwd": "/srv"}, "cwd: applies to commands"),
        ({"shell": True}, "shell: applies to commands"),
        (
            {"schedule": EventTrigger("inventory.low"), "jitter": "10m"},
            "jitter: shapes the occurrences of a clock, and this schedule has none: it runs "
            "when event 'inventory.low' is raised",
        ),
        (
            {"schedule": {"event": "inventory.low"}, "start_date": datetime(2030, 1, 1)},
            "start_date: shapes the occurrences of a clock",
        ),
        ({"schedule": {"event": "inventory.low"}, "blackout": ["Sat 22:00 for 6h"]}, "blackout:"),
        (
            {"schedule": IntervalSchedule("5m"), "dst": DstPolicy(gap="skip", overlap="first")},
            "dst: decides what wall times a DST change skips or repeats do, and an every: "
            "interval has none",
        ),
        (
            {"schedule": {"at": "9999-12-31T23:59:00"}, "timezone": "Etc/GMT+12"},
            "at 9999-12-31T23:59:00 in Etc/GMT\\+12 is outside the calendar",
        ),
        (
            {"start_date": datetime(1, 1, 1), "timezone": "Etc/GMT-14"},
            "start_date 0001-01-01T00:00:00 in Etc/GMT-14 is outside the calendar",
        ),
    ],
)
def test_bad_schedule_values_are_refused_at_the_call(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        values: dict[str, Any] = {"task": "a.b", "schedule": "* * * * *", **settings}
        with pytest.raises(UnoScheduleError, match=message):
            await scheduler.schedule(**values)
        assert await scheduler.list_schedules() == []
        scheduler.close()

    asyncio.run(go())


def test_a_task_refuses_command_keys_from_a_template_and_an_update_as_from_the_call(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        shelled = ScheduleTemplate(schedule="0 3 * * *", shell=True, env={"MODE": "fast"})
        with pytest.raises(ConfigErrors) as refused:
            await scheduler.schedule(task="a.b", template=shelled, name="x")
        # Said as the file says it of a template's keys: naming where they come from.
        assert sorted(e.message.split(";")[0] for e in refused.value.errors) == [
            "schedule 'x': env: (from template 'ScheduleTemplate') applies to commands",
            "schedule 'x': shell: (from template 'ScheduleTemplate') applies to commands",
        ]
        await scheduler.schedule(task="a.b", schedule="0 3 * * *", name="x")
        with pytest.raises(ConfigErrors, match="cwd: applies to commands"):
            await scheduler.update_schedule("x", cwd="/srv")
        assert (await scheduler.get_schedule("x")).cwd is None
        scheduler.close()

    asyncio.run(go())


def test_an_event_schedule_refuses_clock_keys_on_update_and_takes_no_file_wide_window(
    tmp_path: Path,
) -> None:
    """The scheduler's windows hold back occurrences of a clock: an event schedule made
    under them does not carry them (it has nothing they could hold back), so that an
    update, which is checked like the call, is not refused for what it never asked."""

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db", blackout=["Sat 22:00 for 6h"])
        await scheduler.schedule(command="true", schedule=EventTrigger("stock.low"), name="x")
        assert (await scheduler.get_schedule("x")).blackout == ()
        assert await scheduler.update_schedule("x", description="restock") == 2
        with pytest.raises(ConfigErrors, match="jitter: shapes the occurrences of a clock"):
            await scheduler.update_schedule("x", jitter="5m")
        assert (await scheduler.get_schedule("x")).jitter == 0
        scheduler.close()

    asyncio.run(go())


def test_an_update_with_a_bad_value_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(task="a.b", schedule="* * * * *", name="x")
        with pytest.raises(ConfigErrors, match="priority"):
            await scheduler.update_schedule("x", priority="urgent")
        assert (await scheduler.get_schedule("x")).priority == "normal"
        assert len(await scheduler.get_schedule_history("x")) == 1
        scheduler.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"check_interval": 0}, "check_interval must be positive"),
        ({"missed_schedule_handling": "sometimes"}, "must be one of trigger, skip, coalesce"),
        ({"timezone": "Nowhere/Land"}, "unknown time zone"),
        ({"max_missed_schedules": -1}, ">= 0"),
    ],
)
def test_bad_scheduler_options_are_refused_at_construction(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnoScheduleError, match=message):
        Scheduler(storage=tmp_path / "state.db", **options)


def test_an_unknown_option_is_a_type_error_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean 'check_interval'"):
        Scheduler(check_intervall=5)


def test_storage_in_the_yaml_file_names_the_state_file(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "scheduler:\n  storage: custom.db\nschedules:\n"
        "  backup:\n    schedule: '0 3 * * *'\n    command: 'true'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule", "-c", str(config), "pause", "backup"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "custom.db").exists()
    assert not (tmp_path / "uno-schedule.db").exists()


def test_a_scheduler_made_from_a_file_that_names_redis_keeps_its_state_in_redis(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PREFIX_ENV, unique_prefix())  # the CLI's processes inherit it
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"scheduler:\n  storage: {redis_url}\nschedules:\n"
        "  backup:\n    schedule: '0 3 * * *'\n    command: 'true'\n"
    )
    from unoschedule.config import load_config

    async def make() -> None:
        scheduler = Scheduler(config=load_config(config))
        await scheduler.schedule(command="true", schedule="*/5 * * * *", name="from-api")
        scheduler.close()
        over_redis = Scheduler(storage=redis_url)
        assert [r["name"] for r in await over_redis.list_schedules()] == ["from-api"]
        over_redis.close()

    asyncio.run(make())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedules.yaml"]  # no state file
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule", "-c", str(config), "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = {r["name"]: r["source"] for r in json.loads(done.stdout)}
    assert listed == {"backup": "file", "from-api": "api"}


def test_storage_and_state_naming_two_stores_are_refused_and_naming_one_are_not(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for storage, state in (
        (first, second),
        ("redis://127.0.0.1:1/0", first),
        (first, "redis://127.0.0.1:1/0"),
        ("redis://127.0.0.1:1/0", "redis://127.0.0.1:1/1"),
    ):
        with pytest.raises(ArgumentError, match="name different stores") as refused:
            Scheduler(storage=storage, state=state)
        assert "\n" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing opened, nothing made
    same = Scheduler(storage=first, state=str(tmp_path / "sub" / ".." / "first.db"))
    assert same.state_path == first
    asyncio.run(same.schedule(command="true", schedule="0 3 * * *", name="kept"))
    same.close()
    store = SQLiteStorage(first)
    with pytest.raises(ArgumentError, match="name different stores"):
        Scheduler(storage=store, state=second)
    given = Scheduler(storage=store, state=first)
    assert [r["name"] for r in asyncio.run(given.list_schedules())] == ["kept"]
    given.close()
    store.close()
    assert not second.exists()


# -- start() ------------------------------------------------------------------------------


def test_start_raises_when_the_state_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")

    async def go() -> None:
        scheduler = Scheduler(storage=blocker / "state.db")
        with pytest.raises((UnoScheduleError, OSError)):
            await asyncio.wait_for(scheduler.start(), 20)

    asyncio.run(go())


def test_start_beside_a_live_run_waits_as_standby_and_leaves_the_daemon_leading(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        textwrap.dedent(
            """
            schedules:
              nightly:
                schedule: "0 3 * * *"
                command: "true"
            """
        )
    )
    state = tmp_path / "state.db"
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "unoschedule", "-c", str(config), "--state", str(state), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:

        async def go() -> None:
            await eventually(
                lambda: "ready:" in (tmp_path / "run.log").read_text(), what="the daemon"
            )
            library = Scheduler(storage=state, instance_id="library")
            await asyncio.wait_for(library.start(), 20)
            assert not library.leading
            other = Scheduler(storage=state, instance_id="probe")
            with pytest.raises(LeadershipError, match="another scheduler leads"):
                await asyncio.wait_for(other.start(standby=False), 20)
            await asyncio.sleep(0.5)
            stats = await library.get_statistics()
            assert stats["leader"] != "library"
            status = await library.get_schedule_status("nightly")
            assert status["status"] == "active"
            await library.shutdown()

        asyncio.run(go())
        assert daemon.poll() is None, (tmp_path / "run.log").read_text()
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
    assert daemon.returncode == 0, (tmp_path / "run.log").read_text()
    text = (tmp_path / "run.log").read_text()
    assert "taking over" not in text


def test_a_schedule_added_after_start_fires_and_an_update_stops_it_at_once(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    marks = tmp_path / "marks.log"

    async def go() -> None:
        leader = Scheduler(storage=state, instance_id="leader", missed_threshold=600)
        await asyncio.wait_for(leader.start(), 20)
        assert leader.leading
        # Added from another Scheduler object, as another process would.
        editor = Scheduler(storage=state)
        await editor.schedule(
            command=f"echo x >> {marks}",
            shell=True,
            schedule=IntervalSchedule(timedelta(seconds=1)),
            name="tick",
        )
        await eventually(lambda: marks.exists(), 15, "the new schedule to fire")
        await editor.update_schedule("tick", schedule=CronSchedule("0 0 1 1 *"))
        # The leader acts on the update when woken: the schedule's next run becomes the
        # yearly one, and no run starts after that.
        await eventually(
            lambda: _next_is_yearly(editor), 5, "the leader to take the yearly schedule"
        )
        settled = len(await runs_of(editor, "tick"))
        await asyncio.sleep(2.5)
        assert len(await runs_of(editor, "tick")) == settled
        await leader.shutdown()
        editor.close()

    asyncio.run(go())


async def _next_is_yearly(scheduler: Scheduler) -> bool:
    status = await scheduler.get_schedule_status("tick")
    return bool(status["next_run"] and status["next_run"].endswith("-01-01T00:00:00Z"))


def test_delete_and_pause_reach_the_running_leader(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        leader = Scheduler(storage=state, missed_threshold=600)
        await leader.schedule(command="true", schedule="* * * * * *", name="fast")
        await asyncio.wait_for(leader.start(), 20)
        await eventually(lambda: runs_of(leader, "fast"), 15, "a run")
        await leader.delete_schedule("fast")
        await asyncio.sleep(0.3)
        settled = len(await runs_of(leader, "fast"))
        await asyncio.sleep(2.2)
        assert len(await runs_of(leader, "fast")) == settled
        assert await leader.list_schedules() == []
        await leader.shutdown()

    asyncio.run(go())


# -- what a task receives -------------------------------------------------------------------


def test_an_event_payload_reaches_a_python_task_as_its_event_argument(tmp_path: Path) -> None:
    out = tmp_path / "event.json"

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(
            task=library_tasks.record_call,
            schedule=EventTrigger("inventory.low_stock"),
            kwargs={"threshold": 10, "path": str(out)},
            name="reorder",
        )
        assert (await scheduler.get_schedule("reorder")).task == ("jobs.library_tasks:record_call")
        await asyncio.wait_for(scheduler.start(), 20)
        await scheduler.trigger_event("inventory.low_stock", {"product_id": 123})
        await eventually(out.exists, 15, "the task to run")
        history = await runs_of(scheduler, "reorder")
        assert history[0]["trigger"] == "event"
        assert history[0]["event"] == {"product_id": 123}
        await scheduler.shutdown()

    asyncio.run(go())
    assert json.loads(out.read_text())["kwargs"] == {
        "threshold": 10,
        "path": str(out),
        "event": {"product_id": 123},
    }


def test_error_handlers_get_the_exception_the_task_raised(tmp_path: Path) -> None:
    seen: list[tuple[str, BaseException]] = []

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")

        @scheduler.on_schedule_error
        async def handle(schedule_id: str, exception: BaseException) -> None:
            seen.append((schedule_id, exception))

        await scheduler.schedule(
            task=library_tasks.fail_with_value_error,
            schedule=EventTrigger("go"),
            name="failing",
            max_retries=1,
            retry_delay=0,
        )
        await asyncio.wait_for(scheduler.start(), 20)
        await scheduler.trigger_event("go")
        await eventually(lambda: seen, 15, "the handler")
        await asyncio.sleep(0.3)
        await scheduler.shutdown()

    asyncio.run(go())
    assert len(seen) == 1  # after the last retry, once
    name, exc = seen[0]
    assert name == "failing"
    # The task ran in a forked worker: the handler gets the failure rebuilt, still a
    # ValueError, with the message and the traceback text.
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TaskFailure)
    assert (exc.type_name, exc.message) == ("ValueError", "bad input 42")
    assert "fail_with_value_error" in exc.traceback


def test_a_closure_runs_in_the_process_that_scheduled_it(tmp_path: Path) -> None:
    # Sync tasks run in a process forked from the scheduler (a crash of the task cannot
    # take the scheduler down), so each callable reports through a file.
    def make_job(label: str) -> Callable[..., None]:
        def job(**kwargs: Any) -> None:
            (tmp_path / label).write_text(json.dumps(kwargs))

        return job

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(
            task=make_job("closure"), schedule=EventTrigger("go"), name="closure"
        )
        await scheduler.schedule(
            task=functools.partial(library_tasks.write_label, str(tmp_path), "partial"),
            schedule=EventTrigger("go"),
            name="partial",
        )
        await scheduler.schedule(
            task=lambda **kw: (tmp_path / "lambda").write_text(json.dumps(kw)),
            schedule=EventTrigger("go"),
            name="lambda",
        )
        rows = {r["name"]: r for r in await scheduler.list_schedules()}
        assert all(rows[n]["in_process"] for n in ("closure", "partial", "lambda"))
        await asyncio.wait_for(scheduler.start(), 20)
        await scheduler.trigger_event("go", {"n": 1})
        labels = ("closure", "partial", "lambda")
        await eventually(lambda: all((tmp_path / n).exists() for n in labels), 15, "3 calls")
        await scheduler.shutdown()

    asyncio.run(go())
    for label in ("closure", "partial", "lambda"):
        assert json.loads((tmp_path / label).read_text()) == {"event": {"n": 1}}


def test_an_async_closure_runs_in_this_process_beside_the_schedulers_loop(
    tmp_path: Path,
) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    async def go() -> list[dict[str, Any]]:
        scheduler = Scheduler(storage=tmp_path / "state.db")

        async def job(**kwargs: Any) -> str:
            await asyncio.sleep(0)
            seen.append((threading.get_ident(), kwargs))  # this process's memory
            return "done"

        await scheduler.schedule(task=job, schedule=EventTrigger("go"), name="async-closure")
        await asyncio.wait_for(scheduler.start(), 20)
        await scheduler.trigger_event("go", {"n": 2})
        runs = await eventually(
            lambda: _final_runs(scheduler, "async-closure"), 15, "the closure's run"
        )
        await scheduler.shutdown()
        return list(runs)

    with pytest.warns(RuntimeWarning, match="in-process callable"):
        runs = asyncio.run(go())
    assert [(run["result"], run["output"]) for run in runs] == [("success", "'done'")]
    ((ident, kwargs),) = seen
    assert kwargs == {"event": {"n": 2}}
    assert ident != threading.get_ident()  # not on the scheduler's loop


def test_a_leader_without_the_closure_records_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    script = textwrap.dedent(
        f"""
        import asyncio
        from unoschedule import Scheduler, EventTrigger
        async def main():
            s = Scheduler(storage={str(state)!r})
            await s.schedule(task=lambda: None, schedule=EventTrigger("go"), name="lam")
        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

    async def go() -> None:
        leader = Scheduler(storage=state)
        await asyncio.wait_for(leader.start(), 20)
        await leader.trigger_event("go")
        done = await eventually(lambda: _final_runs(leader, "lam"), 15, "the run to be recorded")
        assert done[0]["result"] == "error"
        assert "in-process callable" in done[0]["error"]
        await leader.shutdown()

    asyncio.run(go())


async def _final_runs(scheduler: Scheduler, name: str) -> list[dict[str, Any]]:
    return [r for r in await runs_of(scheduler, name) if r["result"] not in ("queued", "running")]


# -- pause and resume ----------------------------------------------------------------------


def test_pause_and_resume_of_the_scheduler_keep_each_schedules_own_pause(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        for name in ("a", "b", "c"):
            await scheduler.schedule(command="true", schedule="0 * * * *", name=name)
        await scheduler.schedule(command="true", schedule="0 * * * *", name="off", enabled=False)
        await scheduler.pause_schedule("b")
        assert sorted(await scheduler.pause()) == ["a", "c"]
        assert sorted(await scheduler.resume()) == ["a", "c"]
        statuses = {r["name"]: r["status"] for r in await scheduler.list_schedules()}
        assert statuses == {"a": "active", "b": "paused", "c": "active", "off": "disabled"}
        assert await scheduler.resume_paused() == ["b"]
        statuses = {r["name"]: r["status"] for r in await scheduler.list_schedules()}
        assert statuses["off"] == "disabled"
        scheduler.close()

    asyncio.run(go())


def test_resume_all_leaves_schedules_the_file_declares_paused_or_disabled(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        textwrap.dedent(
            """
            schedules:
              held:
                schedule: "0 3 * * *"
                command: "true"
                paused: true
              off:
                schedule: "0 3 * * *"
                command: "true"
                enabled: false
              normal:
                schedule: "0 3 * * *"
                command: "true"
            """
        )
    )
    state = tmp_path / "state.db"
    assert cli(state, "pause", "--all", config=config).returncode == 0
    done = cli(state, "resume", "--all", config=config)
    assert done.returncode == 0, done.stderr
    statuses = {
        r["name"]: r["status"]
        for r in json.loads(cli(state, "list", "--json", config=config).stdout)
    }
    assert statuses == {"held": "paused", "off": "disabled", "normal": "active"}


def test_a_template_supplies_what_the_call_leaves_out(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        morning = ScheduleTemplate(
            schedule=CronSchedule("0 9 * * *"),
            timezone="America/New_York",
            max_retries=3,
            retry_delay=60,
            kwargs={"format": "pdf"},
        )
        sid = await scheduler.schedule(
            task="reports.generate_daily_report",
            template=morning,
            kwargs={"department": "sales"},
        )
        definition = await scheduler.get_schedule(sid)
        assert definition.timezone == "America/New_York"
        assert definition.max_retries == 3
        assert definition.kwargs == {"format": "pdf", "department": "sales"}
        assert await scheduler.get_next_run_times(
            sid, count=1, after=datetime(2026, 7, 1, tzinfo=UTC)
        ) == ["2026-07-01T13:00:00Z"]
        scheduler.close()

    asyncio.run(go())


def test_a_schedules_own_description_is_listed_beside_the_generated_one(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    mine = "Nightly backup of /etc to the NAS"

    async def go() -> None:
        scheduler = Scheduler(storage=state)
        await scheduler.schedule(
            command="true", schedule="0 3 * * *", name="backup", description=mine
        )
        [row] = await scheduler.list_schedules()
        assert (row["user_description"], row["description"]) == (mine, "At 03:00 every day")
        assert (await scheduler.get_schedule_status("backup"))["user_description"] == mine
        scheduler.close()

    asyncio.run(go())
    [row] = json.loads(cli(state, "list", "--json").stdout)
    assert (row["user_description"], row["description"]) == (mine, "At 03:00 every day")
    wide = cli(state, "list", "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    header, line = wide.stdout.splitlines()
    assert header.split("\t")[-1] == "description" and line.split("\t")[-1] == mine
    assert mine not in cli(state, "list").stdout  # the default columns stay as they were


class StoppedClock(Clock):
    """A wall clock that stands at one instant."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return 1000.0


def test_next_runs_from_an_instant_follow_an_interval_from_where_the_state_anchors_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    first_seen = datetime(2026, 12, 3, 17, 2, 33, 200000, tzinfo=UTC)
    real_runs = ["2026-12-03T17:09:33.200000Z", "2026-12-03T17:16:33.200000Z"]

    async def go() -> None:
        scheduler = Scheduler(storage=state, clock=StoppedClock(first_seen))
        await scheduler.schedule(command="true", schedule=IntervalSchedule("7m"), name="poll")
        after = datetime(2026, 12, 3, 17, 5, tzinfo=UTC)
        assert await scheduler.get_next_run_times("poll", count=2, after=after) == real_runs
        scheduler.close()

    asyncio.run(go())
    done = cli(state, "next-runs", "poll", "-n", "2", "--from", "2026-12-03T17:05:00Z", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == real_runs


def test_the_calendar_follows_an_interval_from_where_the_state_anchors_it(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules:\n  poll:\n    schedule: {every: 7m}\n    command: 'true'\n")
    state = tmp_path / "state.db"
    assert cli(state, "pause", "poll", config=config).returncode == 0  # the state anchors it
    assert cli(state, "resume", "poll", config=config).returncode == 0
    later = datetime.now(UTC) + timedelta(minutes=3)

    from unoschedule.config import load_config

    scheduler = Scheduler.from_config(load_config(config), state=str(state))
    _, timeline = scheduler.timelines(later)["poll"]
    expected = asyncio.run(scheduler.get_next_run_times("poll", count=3))
    got = [t for t in timeline.take(datetime.now(UTC), 3)]
    assert [format_instant(t) for t in got] == expected
    # the window's start does not move it: the anchor is the state's
    _, other = scheduler.timelines(later + timedelta(minutes=2))["poll"]
    assert list(other.take(datetime.now(UTC), 3)) == got
    scheduler.close()


def test_run_and_wait_runs_here_without_a_leader_and_through_the_leader_with_one(
    tmp_path: Path,
) -> None:
    heard: list[str] = []

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(
            command="echo $UNO_TRIGGER", shell=True, schedule="0 0 1 1 *", name="x"
        )
        alone = await scheduler.run_and_wait("x", on_run_id=heard.append)
        assert alone["result"] == "success"  # its process, as a leader can tell it died:
        assert alone["instance_id"].startswith(f"{socket.gethostname()}:{os.getpid()}:")
        await scheduler.start()
        led = await asyncio.wait_for(scheduler.run_and_wait("x", on_run_id=heard.append), 20)
        assert led["result"] == "success" and led["instance_id"] == scheduler.instance_id
        await scheduler.shutdown()
        assert heard == [alone["run_id"], led["run_id"]]

    asyncio.run(go())


def test_a_library_change_to_a_file_schedule_shows_as_drift_in_plan(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules:\n  backup:\n    schedule: '0 3 * * *'\n    command: 'true'\n")
    state = tmp_path / "state.db"
    assert cli(state, "pause", "backup", config=config).returncode == 0  # in the state now
    assert json.loads(cli(state, "plan", "--json", config=config).stdout)["changed"] == []

    async def change() -> None:
        scheduler = Scheduler(storage=state)  # no file: the state's definitions
        await scheduler.update_schedule("backup", schedule="0 4 * * *", changelog="by hand")
        scheduler.close()

    asyncio.run(change())
    plan = json.loads(cli(state, "plan", "--json", config=config).stdout)
    assert [e["name"] for e in plan["changed"]] == ["backup"]
    assert "0 4 * * *" in plan["changed"][0]["diff"] and "0 3 * * *" in plan["changed"][0]["diff"]
    listed = json.loads(cli(state, "list", "--json", config=config).stdout)
    assert [(r["name"], r["source"]) for r in listed] == [("backup", "file")]


#: Each async method of the ``Scheduler`` that reads or writes the store.
STORE_CALLS: dict[str, Callable[[Scheduler], Any]] = {
    "health": lambda s: s.health(),
    "explain": lambda s: s.explain("x"),
    "backfill": lambda s: s.backfill(
        "x", datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC), dry_run=True
    ),
    "get_run_output": lambda s: s.get_run_output("x"),
    "overview": lambda s: s.overview(),
    "get_pauses": lambda s: s.get_pauses("x"),
    "list_schedules": lambda s: s.list_schedules(),
    "get_schedule_status": lambda s: s.get_schedule_status("x"),
    "run_and_wait": lambda s: s.run_and_wait("x"),
}


@pytest.mark.parametrize("method", sorted(STORE_CALLS))
def test_an_async_method_waiting_on_the_store_leaves_the_event_loop_free(
    tmp_path: Path, method: str
) -> None:
    """The store's first call inside ``method`` waits until another coroutine of the same
    event loop releases it: that can only happen while the store work runs off the loop.
    Run on the loop, it would wait out its deadline and record that it was not released."""

    async def go() -> list[bool]:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(command="echo hi", shell=True, schedule="* * * * *", name="x")
        await scheduler.run_and_wait("x")
        store = scheduler.store
        released = threading.Event()
        waited: list[bool] = []

        def gated(call: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(call)
            def wait_then_call(*args: Any, **kwargs: Any) -> Any:
                if not waited:
                    waited.append(released.wait(5))
                return call(*args, **kwargs)

            return wait_then_call

        for name in vars(Store):
            if not name.startswith("_") and name not in ("close", "notify", "wakeups", "waiter"):
                setattr(store, name, gated(getattr(store, name)))

        async def release() -> None:
            released.set()

        await asyncio.gather(STORE_CALLS[method](scheduler), release())
        scheduler.close()
        return waited

    assert asyncio.run(go()) == [True]


def test_start_makes_every_missing_folder_of_the_state_private_under_umask_000(
    tmp_path: Path,
) -> None:
    state = tmp_path / "a" / "b" / "state.db"
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from unoschedule import Scheduler

        async def main() -> None:
            scheduler = Scheduler.for_state(sys.argv[1], create_state=True)
            await scheduler.start()
            await scheduler.shutdown()

        os.umask(0)
        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(state)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_task_module_a_library_schedule_brings_is_imported_by_the_leader_not_its_workers(
    tmp_path: Path,
) -> None:
    (tmp_path / "lib_first_tasks.py").write_text("def noop():\n    return None\n")
    module, imports = module_a_reload_brings(tmp_path)
    every_second = IntervalSchedule(timedelta(seconds=1))

    async def go() -> tuple[set[int], str]:
        leader = Scheduler(
            storage=tmp_path / "state.db",
            instance_id="leader",
            import_paths=[str(tmp_path)],
            default_concurrency=3,
        )
        await asyncio.wait_for(leader.start(), 20)
        try:
            await leader.schedule(task="lib_first_tasks.noop", schedule=every_second, name="a")
            await eventually(lambda: runs_of(leader, "a"), 15, "a run of the first task")
            for i in range(3):  # the leader forked its workers before this module existed
                await leader.schedule(task=f"{module}.my_pid", schedule=every_second, name=f"b{i}")

            async def brought() -> list[dict[str, Any]]:
                done = [await runs_of(leader, f"b{i}") for i in range(3)]
                return [r for runs in done for r in runs if r["result"] == "success"]

            await eventually(lambda: _at_least(brought, 6), 30, "runs of the new module")
            return {r["pid"] for r in await brought()}, imports.read_text()
        finally:
            await leader.shutdown()

    workers, imported = asyncio.run(go())
    assert os.getpid() not in workers and workers
    assert imported.split() == [str(os.getpid())]  # here, before its workers were forked


async def _at_least(runs: Callable[[], Any], count: int) -> bool:
    return len(await runs()) >= count


def test_statistics_count_the_runs_of_the_last_day_apart_from_all_time(tmp_path: Path) -> None:
    from unoschedule.model import RunRecord
    from unoschedule.records import Finish

    state = tmp_path / "state.db"
    now = datetime.now(UTC).replace(microsecond=0)
    ages = [timedelta(days=3), timedelta(hours=25), timedelta(hours=23), timedelta(minutes=5)]
    results = ["success", "error", "success", "missed"]  # a missed run did not run

    async def go() -> None:
        scheduler = Scheduler(storage=state, clock=StoppedClock(now))
        await scheduler.schedule(command="true", schedule=IntervalSchedule("1h"), name="poll")
        store = SQLiteStorage(state)
        runs = [
            RunRecord(run_id=f"r{i}", schedule="poll", scheduled_time=now - age, result="queued")
            for i, age in enumerate(ages)
        ]
        for record in runs:
            store.enqueue(record)
        store.start_runs([(r.run_id, r.scheduled_time, 4242) for r in runs[:3]])
        store.finish_runs(
            [
                Finish(r.run_id, result, r.scheduled_time)
                for r, result in zip(runs, results, strict=True)
            ]
        )
        store.close()
        stats = await scheduler.get_statistics()
        assert (stats["jobs_triggered_total"], stats["jobs_triggered_last_24h"]) == (3, 1)
        assert (stats["success_rate"], stats["missed_schedules"]) == (round(2 / 3, 4), 1)
        scheduler.close()

    asyncio.run(go())
    done = cli(state, "stats", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["jobs_triggered_total"], shown["jobs_triggered_last_24h"]) == (3, 1)

"""Every code example of the design document (shared/seed/scheduler-design.md), run as
written there with two changes: ``uno.jobs.scheduler`` / ``uno.jobs.storage`` are
``unoschedule``, and the calls the document leaves un-awaited are awaited. Each test
asserts what its example promises.

Each example gets a fresh state in its own folder (``Scheduler()`` keeps its state in
``./uno-schedule.db``, so each test runs in a temporary working directory).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from unoschedule import (
    CronSchedule,
    DailySchedule,
    EventTrigger,
    IntervalSchedule,
    MonthlySchedule,
    OneTimeSchedule,
    Scheduler,
    ScheduleTemplate,
    SQLiteStorage,
    WeeklySchedule,
)
from unoschedule.errors import UnknownScheduleError

JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run(example: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(example())


# -- Schedule types --------------------------------------------------------------------------


def test_cron_schedule_runs_at_2_30_every_day() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="maintenance.clean_old_data", schedule=CronSchedule("30 2 * * *")
        )
        assert await scheduler.get_next_run_times(schedule_id, count=2, after=JAN_1) == [
            "2026-01-01T02:30:00Z",
            "2026-01-02T02:30:00Z",
        ]

    run(example)


def test_interval_schedule_runs_every_5_minutes() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="monitor.check_system_health",
            schedule=IntervalSchedule(timedelta(minutes=5)),
        )
        times = await scheduler.get_next_run_times(schedule_id, count=3)
        instants = [datetime.fromisoformat(t) for t in times]
        assert [b - a for a, b in itertools.pairwise(instants)] == [timedelta(minutes=5)] * 2

    run(example)


def test_one_time_schedule_runs_once_at_the_given_time() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        future_time = datetime.now(timezone.utc) + timedelta(hours=24)  # noqa: UP017
        schedule_id = await scheduler.schedule(
            task="notifications.send_reminder", schedule=OneTimeSchedule(future_time)
        )
        times = await scheduler.get_next_run_times(schedule_id, count=3)
        assert len(times) == 1
        assert abs(datetime.fromisoformat(times[0]) - future_time) < timedelta(seconds=1)

    run(example)


def test_daily_schedule_runs_at_9_13_and_17() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="reports.generate_status_report",
            schedule=DailySchedule(["09:00", "13:00", "17:00"]),
        )
        assert await scheduler.get_next_run_times(schedule_id, count=4, after=JAN_1) == [
            "2026-01-01T09:00:00Z",
            "2026-01-01T13:00:00Z",
            "2026-01-01T17:00:00Z",
            "2026-01-02T09:00:00Z",
        ]

    run(example)


def test_weekly_schedule_runs_monday_and_thursday_at_10() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="reports.generate_weekly_report",
            schedule=WeeklySchedule(days=["monday", "thursday"], time="10:00"),
        )
        assert await scheduler.get_next_run_times(schedule_id, count=3, after=JAN_1) == [
            "2026-01-01T10:00:00Z",  # Thursday
            "2026-01-05T10:00:00Z",  # Monday
            "2026-01-08T10:00:00Z",
        ]

    run(example)


def test_monthly_schedule_runs_on_the_1st_and_15th_at_noon() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="accounting.process_invoices",
            schedule=MonthlySchedule(days=[1, 15], time="12:00"),
        )
        assert await scheduler.get_next_run_times(schedule_id, count=3, after=JAN_1) == [
            "2026-01-01T12:00:00Z",
            "2026-01-15T12:00:00Z",
            "2026-02-01T12:00:00Z",
        ]

    run(example)


# -- Configuration ---------------------------------------------------------------------------


def test_scheduler_configuration_options_are_taken() -> None:
    scheduler_storage = SQLiteStorage("state.db")
    scheduler = Scheduler(
        queue_name="scheduled",
        timezone="UTC",
        check_interval=60,
        missed_threshold=300,
        lock_timeout=300,
        metrics_enabled=True,
        storage=scheduler_storage,
    )
    assert scheduler.store is scheduler_storage
    assert scheduler.options.check_interval == 60
    assert scheduler.options.missed_threshold == 300
    assert scheduler.options.lock_timeout == 300
    assert scheduler.options.queue_name == "scheduled"
    scheduler.close()


def test_schedule_configuration_with_every_option() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        await scheduler.schedule(
            task="reports.generate_report",
            schedule=CronSchedule("0 9 * * 1-5"),
            args=["daily", "pdf"],
            kwargs={"detailed": True},
            queue="reports",
            priority="high",
            start_date=datetime(2023, 4, 1),
            end_date=datetime(2023, 12, 31),
            timezone="America/New_York",
            max_retries=3,
            retry_delay=60,
            tags=["report", "daily"],
            metadata={"department": "finance"},
            timeout=300,
            unique=True,
            name="daily-finance-report",
        )
        definition = await scheduler.get_schedule_by_name("daily-finance-report")
        assert definition.args == ("daily", "pdf")
        assert definition.kwargs == {"detailed": True}
        assert (definition.queue, definition.priority) == ("reports", "high")
        # Naive dates are read in the schedule's own zone (New York, EDT/EST).
        assert definition.start_date == datetime(2023, 4, 1, 4, tzinfo=UTC)
        assert definition.end_date == datetime(2023, 12, 31, 5, tzinfo=UTC)
        assert (definition.max_retries, definition.retry_delay) == (3, 60.0)
        assert definition.tags == ("report", "daily")
        assert definition.metadata == {"department": "finance"}
        assert (definition.timeout, definition.unique) == (300.0, True)
        # Within its window: 09:00 New York on weekdays; none after the end date.
        assert await scheduler.get_next_run_times(
            "daily-finance-report", count=2, after=datetime(2023, 12, 28, tzinfo=UTC)
        ) == ["2023-12-28T14:00:00Z", "2023-12-29T14:00:00Z"]

    run(example)


# -- Managing schedules ----------------------------------------------------------------------


def test_managing_a_schedule_from_adding_to_deleting() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        await scheduler.schedule(
            task="reports.generate_report",
            schedule=CronSchedule("0 9 * * 1-5"),
            tags=["report", "daily"],
            name="daily-finance-report",
        )
        # Adding a Schedule
        schedule_id = await scheduler.schedule(
            task="maintenance.cleanup", schedule=CronSchedule("0 0 * * *")
        )
        assert isinstance(schedule_id, str)
        # Getting a Schedule
        schedule = await scheduler.get_schedule(schedule_id)
        assert schedule.task == "maintenance.cleanup"
        schedule = await scheduler.get_schedule_by_name("daily-finance-report")
        assert schedule.name == "daily-finance-report"
        # Updating a Schedule
        await scheduler.update_schedule(
            schedule_id,
            schedule=CronSchedule("0 1 * * *"),
            args=["daily", "html"],
            priority="normal",
        )
        updated = await scheduler.get_schedule(schedule_id)
        assert updated.args == ("daily", "html")
        assert (await scheduler.get_next_run_times(schedule_id, count=1, after=JAN_1)) == [
            "2026-01-01T01:00:00Z"
        ]
        # Pausing and resuming
        await scheduler.pause_schedule(schedule_id)
        assert (await scheduler.get_schedule_status(schedule_id))["status"] == "paused"
        await scheduler.resume_schedule(schedule_id)
        assert (await scheduler.get_schedule_status(schedule_id))["status"] == "active"
        # Listing Schedules
        schedules = await scheduler.list_schedules()
        assert {s["name"] for s in schedules} == {schedule_id, "daily-finance-report"}
        schedules = await scheduler.list_schedules(status="active", tags=["report"])
        assert [s["name"] for s in schedules] == ["daily-finance-report"]
        # Deleting a Schedule
        await scheduler.delete_schedule(schedule_id)
        with pytest.raises(UnknownScheduleError):
            await scheduler.get_schedule(schedule_id)

    run(example)


# -- Lifecycle and immediate execution ---------------------------------------------------------


def test_lifecycle_and_immediate_execution(tmp_path: Path) -> None:
    out = tmp_path / "runs.log"

    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            command=f'echo "$UNO_TRIGGER $UNO_KWARGS" >> {out}',
            shell=True,
            schedule=CronSchedule("0 0 1 1 *"),
            name="report",
        )
        await scheduler.start()
        assert await scheduler.pause() == ["report"]
        assert (await scheduler.get_schedule_status(schedule_id))["status"] == "paused"
        assert await scheduler.resume() == ["report"]
        first = await scheduler.trigger_now(schedule_id)
        second = await scheduler.trigger_now(
            schedule_id, args=["special-report"], kwargs={"urgent": True}
        )
        for run_id in (first, second):
            assert (await scheduler.wait_for_run(run_id, timeout=20))["result"] == "success"
        await scheduler.shutdown()

    run(example)
    lines = out.read_text().splitlines()  # the two runs may start in either order
    assert sorted(lines) == sorted(["manual {}", 'manual {"urgent": true}'])


# -- Observability -----------------------------------------------------------------------------


def test_next_run_times_status_and_statistics_have_the_documented_shape() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="maintenance.clean_old_data",
            schedule=CronSchedule("30 2 * * *"),
            name="daily-finance-report",
        )
        next_runs = await scheduler.get_next_run_times(schedule_id, count=5)
        assert len(next_runs) == 5
        assert all(t.endswith("T02:30:00Z") for t in next_runs)
        status = await scheduler.get_schedule_status(schedule_id)
        assert set(status) >= {
            "name",
            "status",
            "last_run",
            "last_result",
            "next_run",
            "run_count",
            "success_count",
            "error_count",
            "average_duration",
        }
        assert status["name"] == "daily-finance-report"
        assert status["status"] == "active"
        assert status["next_run"] == next_runs[0]
        stats = await scheduler.get_statistics()
        assert set(stats) >= {
            "schedules_total",
            "schedules_active",
            "schedules_paused",
            "jobs_triggered_total",
            "jobs_triggered_last_24h",
            "success_rate",
            "scheduler_uptime",
            "missed_schedules",
        }
        assert (stats["schedules_total"], stats["schedules_active"]) == (1, 1)

    run(example)


# -- Fault tolerance -----------------------------------------------------------------------------


def test_distributed_locking_with_redis_storage(redis_url: str) -> None:
    from unoschedule.storage import RedisStorage

    async def example() -> None:
        storage = RedisStorage(redis_url=redis_url, key_prefix=f"design-{id(example)}")
        scheduler = Scheduler(storage=storage, lock_timeout=300, instance_id="scheduler-1")
        other = Scheduler(storage=storage, lock_timeout=300, instance_id="scheduler-2")
        await scheduler.start()
        assert scheduler.leading
        # A second instance on the same Redis waits as a standby: one leader at a time.
        await other.start()
        assert not other.leading
        assert (await other.get_statistics())["leader"] == "scheduler-1"
        await other.shutdown()
        await scheduler.shutdown()

    run(example)


def test_missed_schedule_handling_options() -> None:
    scheduler = Scheduler(
        missed_threshold=300,
        missed_schedule_handling="trigger",
        max_missed_schedules=10,
    )
    assert scheduler.options.missed_threshold == 300
    assert scheduler.options.missed_schedule_handling == "trigger"
    assert scheduler.options.max_missed_schedules == 10


def test_error_handler_is_called_with_the_schedule_id_and_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def example() -> None:
        scheduler = Scheduler()

        @scheduler.on_schedule_error
        async def handle_schedule_error(schedule_id: str, exception: BaseException) -> None:
            print(f"Error executing schedule {schedule_id}: {exception}")

        await scheduler.schedule(command="exit 3", shell=True, schedule="0 0 1 1 *", name="bad")
        await scheduler.start()
        run_id = await scheduler.trigger_now("bad")
        assert (await scheduler.wait_for_run(run_id, timeout=20))["result"] == "error"
        for _ in range(100):
            if "Error executing" in capsys.readouterr().out:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the error handler was not called")
        await scheduler.shutdown()

    run(example)


# -- Advanced features -----------------------------------------------------------------------


def test_schedule_inheritance_through_a_template() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        daily_morning_template = ScheduleTemplate(
            schedule=CronSchedule("0 9 * * *"),
            timezone="America/New_York",
            max_retries=3,
            retry_delay=60,
        )
        schedule_id = await scheduler.schedule(
            task="reports.generate_daily_report",
            template=daily_morning_template,
            kwargs={"department": "sales"},
        )
        definition = await scheduler.get_schedule(schedule_id)
        assert (definition.timezone, definition.max_retries) == ("America/New_York", 3)
        assert definition.kwargs == {"department": "sales"}
        assert await scheduler.get_next_run_times(schedule_id, count=1, after=JAN_1) == [
            "2026-01-01T14:00:00Z"
        ]

    run(example)


def test_event_based_scheduling(tmp_path: Path) -> None:
    out = tmp_path / "event.log"

    async def example() -> None:
        scheduler = Scheduler()
        await scheduler.schedule(
            command=f"echo $UNO_EVENT >> {out}",
            shell=True,
            schedule=EventTrigger("inventory.low_stock"),
            kwargs={"threshold": 10},
        )
        await scheduler.start()
        run_ids = await scheduler.trigger_event("inventory.low_stock", {"product_id": 123})
        assert len(run_ids) == 1
        assert (await scheduler.wait_for_run(run_ids[0], timeout=20))["result"] == "success"
        await scheduler.shutdown()

    run(example)
    assert out.read_text().strip() == '{"product_id": 123}'


def test_schedule_versioning() -> None:
    async def example() -> None:
        scheduler = Scheduler()
        schedule_id = await scheduler.schedule(
            task="maintenance.cleanup", schedule=CronSchedule("0 0 * * *")
        )
        new_schedule = CronSchedule("0 1 * * *")
        await scheduler.update_schedule(
            schedule_id,
            schedule=new_schedule,
            version=2,
            changelog="Updated schedule to run at 1 AM instead of midnight",
        )
        history = await scheduler.get_schedule_history(schedule_id)
        assert [h["version"] for h in history] == [2, 1]
        assert history[0]["changelog"] == ("Updated schedule to run at 1 AM instead of midnight")
        assert set(history[0]) >= {"version", "changed_at", "changelog", "source", "diff"}

    run(example)

"""What a schedule means is stored with it, and everyone reads it from the state.

A schedule's zone and queue, when they come from the scheduler's options, are written
into its definition when it is made (``Scheduler.schedule`` or the file's load), so that
every process (one with other options, one with no options, the CLI) computes the same
instants. ``plan`` is the reload's own plan; ``health`` watches every schedule the state
holds; a start-up script may declare its schedules on every start.

Processes are real ones where the point is about processes (the CLI, a script run twice,
``uno-schedule run``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from unoschedule import DailySchedule, Scheduler
from unoschedule.abc import Clock, SystemClock
from unoschedule.errors import ConfigError
from unoschedule.health import overdue
from unoschedule.model import ScheduleDefinition
from unoschedule.schedules import CronSchedule, OneTimeSchedule

AFTER = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # winter: Berlin is UTC+1


def cli(state: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "unoschedule"]
    if config is not None:
        argv += ["-c", str(config)]
    argv += ["--state", str(state), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=state.parent)


class ShiftedClock(Clock):
    """The system clock, ``offset`` ago."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset

    def monotonic(self) -> float:
        return SystemClock().monotonic()


# -- the zone of a schedule is stored with it ----------------------------------------------


def test_a_schedule_made_by_a_scheduler_with_a_zone_fires_at_the_same_instants_in_every_process(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        berlin = Scheduler(storage=state, timezone="Europe/Berlin")
        await berlin.schedule(command="true", schedule=DailySchedule(["09:00"]), name="nine")
        plain = Scheduler(storage=state)
        for scheduler in (berlin, plain):
            assert scheduler.next_run_times("nine", 2, AFTER) == [
                "2026-12-03T08:00:00Z",
                "2026-12-04T08:00:00Z",
            ]
            (row,) = await scheduler.list_schedules()
            assert row["timezone"] == "Europe/Berlin"
            definition = await scheduler.get_schedule("nine")
            assert definition.timezone == "Europe/Berlin"
        berlin.close()
        plain.close()

    asyncio.run(go())
    status = cli(state, "status", "nine", "--json")
    assert status.returncode == 0, status.stderr
    record = json.loads(status.stdout)
    assert record["timezone"] == "Europe/Berlin"
    assert record["description"] == "At 09:00 every day"
    runs = cli(state, "next-runs", "nine", "--count", "2", "--from", "2026-12-02T12:00:00Z")
    assert runs.returncode == 0, runs.stderr
    assert runs.stdout.split() == ["2026-12-03T08:00:00Z", "2026-12-04T08:00:00Z"]


def test_a_schedule_without_a_zone_stays_utc_when_another_process_has_a_zone(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        plain = Scheduler(storage=state)
        await plain.schedule(command="true", schedule=DailySchedule(["09:00"]), name="nine")
        berlin = Scheduler(storage=state, timezone="Europe/Berlin")
        for scheduler in (plain, berlin):
            assert scheduler.next_run_times("nine", 1, AFTER) == ["2026-12-03T09:00:00Z"]
            (row,) = await scheduler.list_schedules()
            assert row["timezone"] == "UTC"
        plain.close()
        berlin.close()

    asyncio.run(go())


def test_the_default_queue_of_a_scheduler_is_stored_with_its_schedules(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        reports = Scheduler(storage=state, queue_name="reports")
        await reports.schedule(command="true", schedule="0 3 * * *", name="r")
        plain = Scheduler(storage=state)
        assert (await plain.get_schedule("r")).queue == "reports"
        reports.close()
        plain.close()

    asyncio.run(go())
    record = json.loads(cli(state, "status", "r", "--json").stdout)
    assert record["queue"] == "reports"


def test_the_file_zone_is_part_of_each_schedule_so_a_library_process_reads_it_the_same(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "scheduler:\n  timezone: Europe/Berlin\n"
        "schedules:\n  nine:\n    schedule: {daily: '09:00'}\n    command: 'true'\n"
    )
    state = tmp_path / "state.db"
    assert cli(state, "pause", "nine", config=config).returncode == 0  # now in the state

    async def go() -> None:
        library = Scheduler(storage=state)  # no file, no zone
        assert library.next_run_times("nine", 1, AFTER) == ["2026-12-03T08:00:00Z"]
        library.close()

    asyncio.run(go())


def test_history_shows_an_api_schedule_in_its_own_zone(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        scheduler = Scheduler(storage=state, timezone="Asia/Tokyo")
        await scheduler.schedule(command="true", schedule="0 3 * * *", name="tokyo")
        await scheduler.run_and_wait("tokyo")
        scheduler.close()

    asyncio.run(go())
    shown = cli(state, "--plain", "history", "tokyo")
    assert shown.returncode == 0, shown.stderr
    (row,) = shown.stdout.splitlines()[1:]
    assert row.split("\t")[1].endswith(" JST"), shown.stdout


# -- plan is the reload's plan ---------------------------------------------------------------


def test_plan_of_an_api_schedule_the_file_now_declares_is_what_run_writes(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules:\n  job:\n    schedule: '0 3 * * *'\n    command: 'true'\n")

    async def make() -> None:
        scheduler = Scheduler(storage=state)
        await scheduler.schedule(command="true", schedule="0 3 * * *", name="job")
        scheduler.close()

    asyncio.run(make())
    planned = cli(state, "plan", "--json", config=config)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(e["name"], e["takes_over"]) for e in plan["changed"]] == [("job", True)]
    assert plan["added"] == [] and plan["unchanged"] == []
    shown = cli(state, "--plain", "plan", config=config)
    assert "the file's definition takes it over" in shown.stdout, shown.stdout

    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "unoschedule", "-c", str(config), "--state", str(state), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while "ready:" not in (tmp_path / "run.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            assert daemon.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        log.close()
    versions = json.loads(cli(state, "history", "job", "--versions", "--json").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    status = json.loads(cli(state, "status", "job", "--json", config=config).stdout)
    assert status["source"] == "file"
    after = json.loads(cli(state, "plan", "--json", config=config).stdout)
    assert after["changed"] == [] and after["added"] == [] and after["unchanged"] == ["job"]


# -- health sees every schedule of the state ------------------------------------------------


def test_the_overdue_rule_counts_from_the_last_success_else_from_the_first_sighting() -> None:
    now = AFTER
    watched = ScheduleDefinition(
        "w", CronSchedule("0 3 * * *"), command="true", expect_success_within=3600.0
    )
    found = overdue(
        {"w": watched, "x": watched.with_changes(name="x"), "y": watched.with_changes(name="y")},
        active={"w", "x"},
        last_success={"x": now - timedelta(minutes=30)},
        first_seen={"w": now - timedelta(hours=2), "x": now - timedelta(days=9)},
        now=now,
    )
    assert found.late == {"w": now - timedelta(hours=1)}
    assert found.next_due == now + timedelta(minutes=30)


def test_health_fails_for_an_overdue_schedule_made_through_the_api(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    async def go() -> None:
        past = Scheduler(storage=state, clock=ShiftedClock(timedelta(hours=2)))
        await past.schedule(
            command="true",
            schedule=OneTimeSchedule("2099-01-01T00:00:00Z"),  # never due in this test
            name="watched",
            expect_success_within="1h",
        )
        past.close()
        leader = Scheduler(storage=state, instance_id="leader")
        await asyncio.wait_for(leader.start(standby=False), 20)
        try:
            assert leader.leading
            probe = await asyncio.to_thread(cli, state, "health", "--json")
            assert probe.returncode == 1, probe.stdout + probe.stderr
            record = json.loads(probe.stdout)
            assert list(record["overdue"]) == ["watched"]
            assert record["leader"] == "leader"
            assert "no leader" not in record["reason"]
        finally:
            await leader.shutdown()

    asyncio.run(go())


# -- update and re-declaration ----------------------------------------------------------------


def test_update_of_a_schedule_that_runs_an_in_process_callable_keeps_the_callable(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        marker = tmp_path / "ran"
        await scheduler.schedule(lambda: marker.write_text("yes"), "0 3 * * *", name="tick")
        assert await scheduler.update_schedule("tick", priority="low") == 2
        changed = await scheduler.get_schedule("tick")
        assert changed.in_process and changed.priority == "low"
        record = await scheduler.run_and_wait("tick")
        assert record["result"] == "success" and marker.read_text() == "yes"
        scheduler.close()

    asyncio.run(go())


def test_an_identical_declaration_is_a_no_op_and_a_changed_one_needs_replace_existing(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        first = await scheduler.schedule(command="true", schedule="0 3 * * *", name="nightly")
        again = await scheduler.schedule(command="true", schedule="0 3 * * *", name="nightly")
        assert first == again == "nightly"
        assert [v["version"] for v in await scheduler.get_schedule_history("nightly")] == [1]
        with pytest.raises(ConfigError, match="replace_existing=True"):
            await scheduler.schedule(command="true", schedule="0 4 * * *", name="nightly")
        replaced = await scheduler.schedule(
            command="true", schedule="0 4 * * *", name="nightly", replace_existing=True
        )
        assert replaced == "nightly"
        history = await scheduler.get_schedule_history("nightly")
        assert [(v["version"], v["changelog"]) for v in history] == [(2, "replaced"), (1, "added")]
        assert str((await scheduler.get_schedule("nightly")).schedule) == str(
            CronSchedule("0 4 * * *")
        )
        scheduler.close()

    asyncio.run(go())


STARTUP = """
import asyncio, sys
from unoschedule import Scheduler

async def main():
    scheduler = Scheduler(storage=sys.argv[1], timezone="Europe/Berlin")
    hour = sys.argv[2]
    replace = sys.argv[3:] == ["replace"]
    print(await scheduler.schedule(
        command="true", schedule=f"0 {hour} * * *", name="nightly", replace_existing=replace
    ))
    print(await scheduler.schedule(lambda: None, "0 5 * * *", name="local"))
    scheduler.close()

asyncio.run(main())
"""


def test_a_startup_script_that_declares_its_schedules_runs_again_and_again(tmp_path: Path) -> None:
    script = tmp_path / "startup.py"
    script.write_text(textwrap.dedent(STARTUP))
    state = tmp_path / "state.db"

    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(state), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )

    for _ in range(2):
        done = start("3")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["nightly", "local"]
    changed = start("4")
    assert changed.returncode == 1
    assert "replace_existing=True" in changed.stderr.strip().splitlines()[-1]
    assert start("4", "replace").returncode == 0

    async def versions() -> dict[str, list[int]]:
        scheduler = Scheduler(storage=state)
        found = {
            name: [v["version"] for v in await scheduler.get_schedule_history(name)]
            for name in ("nightly", "local")
        }
        scheduler.close()
        return found

    assert asyncio.run(versions()) == {"nightly": [2, 1], "local": [1]}

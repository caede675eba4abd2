"""An update is an edit: ``update_schedule()`` takes what the schedule was written with,
replaces the keys it is given, and has the loader read the result again, as a changed
YAML file is read again. Nothing the old keys implied (``unique``'s overlap, the DST rule
of the old cron, a naive date read in the old zone, the scheduler's windows) outlives
them; and the pause ``paused: true`` made ends when the definition stops asking for it,
while an operator's pause stays.

Each test holds the file's reading of the same change beside the library's. A real
``uno-schedule run`` subprocess where the change is the file's (``paused:``).
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_loop import FakeClock
from test_service import Runner, runners, uno_cli, wait_until, write_config

from unoschedule import EventTrigger, Scheduler
from unoschedule.config.loader import load_config, parse_config
from unoschedule.errors import ConfigError
from unoschedule.model import ScheduleDefinition
from unoschedule.runner.log import Logger
from unoschedule.runner.reloading import write_reload
from unoschedule.store.sqlite import SQLiteStorage

__all__ = ["runners"]  # the fixture, imported for its name

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def library(tmp_path: Path, **options: Any) -> Scheduler:
    return Scheduler(storage=tmp_path / "state.db", clock=FakeClock(T0), **options)


def from_file(tmp_path: Path, body: str) -> Scheduler:
    path = tmp_path / "schedules.yaml"
    path.write_text(textwrap.dedent(body))
    config = load_config(path)
    return Scheduler.from_config(
        config, state=str(tmp_path / "state.db"), create_state=True, clock=FakeClock(T0)
    )


def stored(scheduler: Scheduler, name: str) -> ScheduleDefinition:
    """The definition the state holds (for a file schedule: what the update wrote)."""
    state = scheduler.store.get_schedule(name)
    assert state is not None
    definition = state.stored_definition()
    assert definition is not None
    return definition


def file_reads(body: str, name: str = "j") -> ScheduleDefinition:
    return parse_config(textwrap.dedent(body)).schedules[name]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# -- what the old keys implied does not outlive them -------------------------------------


def test_an_update_to_unique_false_lets_runs_overlap_again_as_the_file_does(
    tmp_path: Path,
) -> None:
    edited = file_reads('schedules: {j: {schedule: "0 9 * * *", command: "true", unique: false}}')
    scheduler = library(tmp_path)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j", unique=True))
    assert scheduler.definition("j").overlap == "skip"
    run(scheduler.update_schedule("j", unique=False))
    assert scheduler.definition("j").overlap == edited.overlap == "allow_all"
    scheduler.close()


def test_an_update_of_overlap_replaces_unique_its_older_name(tmp_path: Path) -> None:
    scheduler = library(tmp_path)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j", unique=True))
    run(scheduler.update_schedule("j", overlap="buffer_one"))
    assert scheduler.definition("j").overlap == "buffer_one"
    run(scheduler.update_schedule("j", unique=True))
    assert scheduler.definition("j").overlap == "skip"
    scheduler.close()


def test_an_update_of_the_cron_takes_the_new_crons_dst_rule_for_what_dst_left_out(
    tmp_path: Path,
) -> None:
    """``dst: {overlap: first}`` leaves the gap to the cron: an hourly cron skips it, a
    daily one at 02:30 shifts it (Berlin springs forward on 2030-03-31 at 02:00)."""
    body = """
        schedules:
          j: {schedule: "%s", timezone: Europe/Berlin, dst: {overlap: first}, command: "true"}
    """
    edited = file_reads(body % "30 2 * * *")
    scheduler = library(tmp_path)
    run(
        scheduler.schedule(
            command="true",
            schedule="15 * * * *",
            name="j",
            timezone="Europe/Berlin",
            dst={"overlap": "first"},
        )
    )
    run(scheduler.update_schedule("j", schedule="30 2 * * *"))
    assert scheduler.definition("j").dst == edited.dst
    after = datetime(2030, 3, 30, 12, tzinfo=UTC)
    assert scheduler.next_run_times("j", 2, after) == [
        "2030-03-31T01:00:00Z",  # 02:30 does not exist that day: shifted, not lost
        "2030-04-01T00:30:00Z",
    ]
    scheduler.close()


def test_an_update_of_the_zone_reads_a_naive_start_date_in_the_new_zone(tmp_path: Path) -> None:
    body = """
        schedules:
          j: {schedule: "0 * * * *", command: "true", start_date: "2030-02-01T09:00:00",
              timezone: America/New_York}
    """
    edited = file_reads(body)
    scheduler = library(tmp_path)
    run(
        scheduler.schedule(
            command="true",
            schedule="0 * * * *",
            name="j",
            start_date=datetime(2030, 2, 1, 9),
            timezone="Europe/Berlin",
        )
    )
    assert scheduler.definition("j").start_date == datetime(2030, 2, 1, 8, tzinfo=UTC)
    run(scheduler.update_schedule("j", timezone="America/New_York"))
    assert scheduler.definition("j").start_date == edited.start_date
    assert edited.start_date == datetime(2030, 2, 1, 14, tzinfo=UTC)
    assert scheduler.next_run_times("j", 1, T0) == ["2030-02-01T14:00:00Z"]
    scheduler.close()


def test_an_update_to_a_task_replaces_the_command_and_a_command_replaces_the_task(
    tmp_path: Path,
) -> None:
    scheduler = library(tmp_path)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="k"))
    run(scheduler.update_schedule("k", task="os.path:exists"))
    changed = scheduler.definition("k")
    assert (changed.task, changed.command) == ("os.path:exists", None)
    run(scheduler.update_schedule("k", command="echo hi"))
    changed = scheduler.definition("k")
    assert (changed.task, changed.command) == (None, ("echo", "hi"))
    scheduler.close()


# -- the scheduler options a schedule was made under --------------------------------------


def test_a_scheduler_wide_blackout_lets_an_update_make_an_event_and_comes_back_with_a_clock(
    tmp_path: Path,
) -> None:
    """As the file's ``scheduler.blackout``: it holds back the occurrences of every clock,
    and an event has none; the schedule did not ask for it itself."""
    window = [{"name": "maint", "when": "Sat 22:00 for 6h"}]
    scheduler = library(tmp_path, blackout=window)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j"))
    assert [w.name for w in scheduler.definition("j").blackout] == ["maint"]
    run(scheduler.update_schedule("j", schedule=EventTrigger("go")))
    assert scheduler.definition("j").schedule.kind == "event"
    assert scheduler.definition("j").blackout == ()
    run(scheduler.update_schedule("j", schedule="0 23 * * *"))
    assert [w.name for w in scheduler.definition("j").blackout] == ["maint"]
    scheduler.close()


def test_another_process_updates_a_schedule_under_the_options_it_was_made_with(
    tmp_path: Path,
) -> None:
    """The zone, the windows and a named calendar a schedule was made under are what it
    was written with: a shell over the state alone, with none of them, changes the
    keys it is given and nothing else."""
    maker = library(
        tmp_path,
        timezone="Europe/Berlin",
        blackout=[{"name": "maint", "when": "Sat 22:00 for 6h"}],
        calendars={"weekdays": {"business_days": True}},
    )
    run(maker.schedule(command="true", schedule="0 9 * * *", name="j", calendar="weekdays"))
    made = maker.definition("j")
    maker.close()
    shell = Scheduler.for_state(tmp_path / "state.db")
    run(shell.update_schedule("j", max_retries=2))
    changed = shell.definition("j")
    assert changed.max_retries == 2
    assert (changed.timezone, changed.blackout, changed.calendar) == (
        made.timezone,
        made.blackout,
        made.calendar,
    )
    run(shell.update_schedule("j", schedule=EventTrigger("go"), calendar=None))
    assert (shell.definition("j").timezone, shell.definition("j").blackout) == ("Europe/Berlin", ())
    shell.close()


# -- a schedule of the YAML file ----------------------------------------------------------

TEMPLATED = """
    templates:
      base:
        max_retries: %d
        command: "true"
    schedules:
      tpl:
        template: base
        schedule: "0 9 * * *"
"""


def test_an_update_of_a_file_schedule_reads_its_template_as_the_file_writes_it_now(
    tmp_path: Path,
) -> None:
    scheduler = from_file(tmp_path, TEMPLATED % 3)
    run(scheduler.update_schedule("tpl", priority="low"))
    changed = stored(scheduler, "tpl")
    assert (changed.template, changed.max_retries, changed.priority) == ("base", 3, "low")
    assert changed.command == ("true",)
    (tmp_path / "schedules.yaml").write_text(textwrap.dedent(TEMPLATED % 4))
    run(scheduler.update_schedule("tpl", description="nightly"))
    changed = stored(scheduler, "tpl")
    assert (changed.max_retries, changed.priority) == (4, "normal")  # the file's, as now
    assert changed.description == "nightly"
    scheduler.close()


def test_a_file_schedule_with_a_template_is_not_updated_without_its_file(
    tmp_path: Path,
) -> None:
    run(from_file(tmp_path, TEMPLATED % 3).update_schedule("tpl", priority="low"))
    shell = Scheduler.for_state(tmp_path / "state.db")
    with pytest.raises(ConfigError, match="takes keys from template 'base' of its schedule file"):
        run(shell.update_schedule("tpl", max_retries=5))
    assert shell.definition("tpl").max_retries == 3
    shell.close()


def test_an_update_of_a_schedule_the_file_no_longer_declares_is_refused(tmp_path: Path) -> None:
    scheduler = from_file(tmp_path, TEMPLATED % 3)
    (tmp_path / "schedules.yaml").write_text("schedules: {}\n")
    with pytest.raises(ConfigError, match="no longer declares schedule 'tpl'"):
        run(scheduler.update_schedule("tpl", priority="low"))
    scheduler.close()


def test_an_update_of_a_file_schedule_drops_what_its_old_keys_implied(tmp_path: Path) -> None:
    scheduler = from_file(
        tmp_path,
        """
        schedules:
          j: {schedule: "0 9 * * *", command: "true", unique: true}
        """,
    )
    run(scheduler.update_schedule("j", unique=False))
    assert stored(scheduler, "j").overlap == "allow_all"
    scheduler.close()


# -- the pause the definition made ---------------------------------------------------------


def test_an_update_to_paused_false_resumes_the_schedule_its_definition_paused(
    tmp_path: Path,
) -> None:
    scheduler = library(tmp_path)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j", paused=True))
    assert scheduler.schedule_status("j")["status"] == "paused"
    run(scheduler.update_schedule("j", paused=False))
    assert scheduler.schedule_status("j")["status"] == "active"
    scheduler.close()


def test_an_operators_pause_outlives_an_update_to_paused_false(tmp_path: Path) -> None:
    """Over the definition's pause: the update ends the definition's, the operator's
    holds; ``resume --all`` (which never ends a definition's pause) then resumes it."""
    scheduler = library(tmp_path)
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j", paused=True))
    run(scheduler.pause_schedule("j", reason="db migration"))
    run(scheduler.update_schedule("j", paused=False))
    assert scheduler.schedule_status("j")["status"] == "paused"
    assert run(scheduler.resume_paused()) == ["j"]
    assert scheduler.schedule_status("j")["status"] == "active"
    scheduler.close()


def reload(store: SQLiteStorage, body: str) -> None:
    """What ``run`` does with the file at its start and at each reload."""
    definitions = parse_config(textwrap.dedent(body)).schedules
    write_reload(store, definitions, now=T0, source="file", log=Logger(io.StringIO()))


PAUSED = 'schedules: {j: {schedule: "0 9 * * *", command: "true", paused: %s}}'


def test_a_reload_with_paused_false_resumes_the_schedule_the_file_paused(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "state.db", create=True)
    reload(store, PAUSED % "true")
    assert store.get_schedule("j").status == "paused"  # type: ignore[union-attr]
    reload(store, PAUSED % "false")
    assert store.get_schedule("j").status == "active"  # type: ignore[union-attr]
    store.close()


def test_a_reload_with_paused_false_leaves_an_operators_pause(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "state.db", create=True)
    reload(store, PAUSED % "true")
    store.pause_schedules(["j"], "operator", T0, reason="db migration")
    reload(store, PAUSED % "false")
    assert store.get_schedule("j").status == "paused"  # type: ignore[union-attr]
    assert [p.kind for p in store.open_pauses()] == ["operator"]
    store.close()


@pytest.mark.slow
def test_run_resumes_a_schedule_when_the_file_drops_its_paused_true_but_not_an_operators_pause(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    body = """
        schedules:
          j: {schedule: "0 9 * * *", command: ["true"], paused: %s}
          k: {schedule: "0 9 * * *", command: ["true"], paused: %s}
    """
    write_config(tmp_path, body % ("true", "true"))
    runner = runners()
    runner.wait_log("ready")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*uno_cli(tmp_path), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def status(name: str) -> str:
        return str(json.loads(cli("status", name, "--json"))["status"])

    cli("pause", "k", "--reason", "db migration")  # over the file's own pause
    assert (status("j"), status("k")) == ("paused", "paused")
    write_config(tmp_path, body % ("false", "false"))
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")
    wait_until(lambda: status("j") == "active", 10, "j resumed by the reload")
    assert status("k") == "paused"
    assert runner.term() == 0


# -- the stores keep what a schedule was written with ---------------------------------------


def test_a_schedule_stored_before_its_written_form_was_kept_is_updated_from_its_definition(
    tmp_path: Path,
) -> None:
    scheduler = library(tmp_path, timezone="Europe/Berlin")
    run(scheduler.schedule(command="true", schedule="0 9 * * *", name="j", unique=True))
    conn = sqlite3.connect(tmp_path / "state.db")
    with conn:
        conn.execute("UPDATE schedules SET written = NULL")
    conn.close()
    run(scheduler.update_schedule("j", max_retries=2))
    changed = scheduler.definition("j")
    assert (changed.max_retries, changed.overlap, changed.timezone) == (2, "skip", "Europe/Berlin")
    state = scheduler.store.get_schedule("j")
    assert state is not None and state.written is not None  # kept from now on
    scheduler.close()


def test_a_schedule_made_over_a_template_value_is_updated_over_it_in_any_process(
    tmp_path: Path,
) -> None:
    from unoschedule import ScheduleTemplate

    async def go() -> None:
        scheduler = library(tmp_path)
        given = ScheduleTemplate(command="echo from-template", max_retries=3, unique=True)
        await scheduler.schedule(name="c", template=given, schedule="@daily")
        scheduler.close()
        other = library(tmp_path)  # another process: only the state knows the template
        await other.update_schedule("c", max_retries=5)
        c = await other.get_schedule("c")
        assert (c.command, c.max_retries, c.overlap, c.template) == (
            ("echo", "from-template"),
            5,
            "skip",
            None,
        )
        await other.update_schedule("c", unique=False)
        assert (await other.get_schedule("c")).overlap == "allow_all"
        other.close()

    asyncio.run(go())


def test_a_schedule_made_over_a_file_template_by_name_is_updated_without_the_file(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = from_file(
            tmp_path,
            """
            templates:
              base: {command: "echo base", max_retries: 2}
              other: {command: "echo other"}
            schedules: {}
            """,
        )
        await scheduler.schedule(name="n", template="base", schedule="@hourly")
        scheduler.close()
        alone = library(tmp_path)  # no file: the state kept the template it was made over
        await alone.update_schedule("n", max_retries=7)
        n = await alone.get_schedule("n")
        assert (n.command, n.max_retries, n.template) == (("echo", "base"), 7, "base")
        state = alone.store.get_schedule("n")
        assert state is not None and state.written is not None
        assert set(state.written["templates"]) == {"base"}  # not the file's others
        alone.close()

    asyncio.run(go())

"""What a program gives ``Scheduler.schedule()`` means what the same keys mean in the
schedule file: naive instants, templates, DST policies and chains, each compared with
the file's reading of the same schedule."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from unoschedule import (
    ConfigError,
    ConfigErrors,
    DstPolicy,
    OneTimeSchedule,
    Scheduler,
    ScheduleTemplate,
)
from unoschedule.config.loader import parse_config


def library(tmp_path: Path, **options: Any) -> Scheduler:
    return Scheduler(storage=tmp_path / "state.db", **options)


def over_file(tmp_path: Path, text: str) -> Scheduler:
    return Scheduler.from_config(
        parse_config(textwrap.dedent(text)), state=str(tmp_path / "state.db"), create_state=True
    )


def test_a_naive_one_time_instant_is_wall_time_in_the_schedules_zone(tmp_path: Path) -> None:
    (tmp_path / "file").mkdir()
    file = over_file(
        tmp_path / "file",
        """
        scheduler: {timezone: Europe/Berlin}
        schedules:
          once: {schedule: {at: "2030-06-01T09:00:00"}, command: "true"}
        """,
    )

    async def go() -> None:
        berlin = library(tmp_path, timezone="Europe/Berlin")
        await berlin.schedule(
            command="true", schedule=OneTimeSchedule(datetime(2030, 6, 1, 9)), name="dt"
        )
        await berlin.schedule(
            command="true", schedule=OneTimeSchedule("2030-06-01T09:00:00"), name="text"
        )
        await berlin.schedule(
            command="true",
            schedule=OneTimeSchedule(datetime(2030, 6, 1, 9)),
            timezone="America/New_York",
            name="own-zone",
        )
        await berlin.schedule(
            command="true",
            schedule=OneTimeSchedule(datetime(2030, 6, 1, 9, tzinfo=UTC)),
            name="aware",
        )
        after = datetime(2030, 1, 1, tzinfo=UTC)
        assert file.next_run_times("once", 1, after) == ["2030-06-01T07:00:00Z"]
        assert berlin.next_run_times("dt", 1, after) == ["2030-06-01T07:00:00Z"]
        assert berlin.next_run_times("text", 1, after) == ["2030-06-01T07:00:00Z"]
        assert berlin.next_run_times("own-zone", 1, after) == ["2030-06-01T13:00:00Z"]
        assert berlin.next_run_times("aware", 1, after) == ["2030-06-01T09:00:00Z"]
        berlin.close()
        file.close()

    asyncio.run(go())


def test_a_schedules_task_replaces_its_templates_command_and_the_reverse(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        scheduler = library(tmp_path)
        commanded = ScheduleTemplate(command="echo hi", max_retries=3)
        tasked = ScheduleTemplate(task="os.path:exists", max_retries=3)
        await scheduler.schedule("os.path:join", "0 9 * * *", name="a", template=commanded)
        await scheduler.schedule(schedule="0 9 * * *", name="b", template=tasked, command="ls")
        a, b = await scheduler.get_schedule("a"), await scheduler.get_schedule("b")
        assert (a.task, a.command, a.max_retries) == ("os.path:join", None, 3)
        assert (b.task, b.command, b.max_retries) == (None, ("ls",), 3)
        scheduler.close()

    asyncio.run(go())


FILE_WITH_TEMPLATES = """
templates:
  root: {command: "echo root", schedule: "0 9 * * *"}
  base: {template: root, max_retries: 3}
schedules:
  a: {template: base}
"""


def test_a_template_of_the_file_is_named_by_its_name(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = over_file(tmp_path, FILE_WITH_TEMPLATES)
        await scheduler.schedule(name="b", template="base", max_retries=5)
        unnamed = await scheduler.schedule(template="base")
        given = ScheduleTemplate(template="base", metadata={"team": "x"})
        await scheduler.schedule(name="c", template=given)
        b, c = await scheduler.get_schedule("b"), await scheduler.get_schedule(unnamed)
        assert (b.command, b.max_retries, b.template) == (("echo", "root"), 5, "base")
        assert (c.command, c.max_retries, c.template) == (("echo", "root"), 3, "base")
        assert (await scheduler.get_schedule("c")).metadata == {"team": "x"}
        with pytest.raises(ConfigErrors, match="unknown template 'bse'; did you mean 'base'"):
            await scheduler.schedule(name="d", template="bse")
        with pytest.raises(ConfigError, match="template must be a ScheduleTemplate or the name"):
            await scheduler.schedule(name="d", template=3)  # type: ignore[arg-type]
        scheduler.close()

    asyncio.run(go())


def test_null_over_a_templates_mapping_is_refused_as_the_file_refuses_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigErrors, match="env must be a mapping"):
        parse_config(
            textwrap.dedent("""
            templates:
              t: {env: {A: "1"}, command: env}
            schedules:
              j: {template: t, schedule: "0 9 * * *", env: null}
        """)
        )

    async def go() -> None:
        scheduler = library(tmp_path)
        template = ScheduleTemplate(env={"A": "1"}, command="env")
        with pytest.raises(ConfigErrors, match="env must be a mapping"):
            await scheduler.schedule(schedule="0 9 * * *", name="j", template=template, env=None)
        assert await scheduler.list_schedules() == []
        scheduler.close()

    asyncio.run(go())


def test_a_dst_policy_that_leaves_a_field_out_takes_the_schedules_default(
    tmp_path: Path,
) -> None:
    """``15 * * * *`` skips the hour Berlin's clocks jump over (cronie's rule for a
    wildcard hour); saying only what a repeated hour does keeps that."""
    spring = datetime(2030, 3, 30, 23, 50, tzinfo=UTC)
    skipped = ["2030-03-31T00:15:00Z", "2030-03-31T01:15:00Z", "2030-03-31T02:15:00Z"]

    async def go() -> None:
        scheduler = library(tmp_path)
        for name, dst in [
            ("object", DstPolicy(overlap="first")),
            ("mapping", {"overlap": "first"}),
            ("shifted", DstPolicy(gap="shift", overlap="first")),
        ]:
            await scheduler.schedule(
                command="true",
                schedule="15 * * * *",
                timezone="Europe/Berlin",
                dst=dst,
                name=name,
            )
        assert scheduler.next_run_times("object", 3, spring) == skipped
        assert scheduler.next_run_times("mapping", 3, spring) == skipped
        assert scheduler.definition("object").dst == DstPolicy(gap="skip", overlap="first")
        assert scheduler.next_run_times("shifted", 3, spring) == [
            "2030-03-31T00:15:00Z",
            "2030-03-31T01:00:00Z",
            "2030-03-31T01:15:00Z",
        ]
        scheduler.close()

    asyncio.run(go())


def test_a_schedule_that_others_run_after_is_not_deleted(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = library(tmp_path)
        await scheduler.schedule(command="true", schedule="0 2 * * *", name="extract")
        await scheduler.schedule(command="true", name="load", after={"schedule": "extract"})
        with pytest.raises(ConfigError, match="schedule 'load' runs after it"):
            await scheduler.delete_schedule("extract")
        assert {s["name"]: s["status"] for s in await scheduler.list_schedules()} == {
            "extract": "active",
            "load": "active",
        }
        await scheduler.update_schedule("load", max_retries=1)
        await scheduler.delete_schedule("load")
        await scheduler.delete_schedule("extract")
        assert await scheduler.list_schedules() == []
        scheduler.close()

    asyncio.run(go())


def test_a_blank_command_is_refused_as_the_file_refuses_it(tmp_path: Path) -> None:
    message = r"command must be a string or a list of words, e\.g\. \[df, -h\], not '   '"
    with pytest.raises(ConfigErrors, match=message):
        parse_config('schedules:\n  j: {schedule: "@daily", command: "   "}\n')
    with pytest.raises(ConfigErrors, match="command starts with a blank word"):
        parse_config('schedules:\n  j: {schedule: "@daily", command: ["  ", x]}\n')

    async def go() -> None:
        scheduler = library(tmp_path)
        with pytest.raises(ConfigErrors, match=message):
            await scheduler.schedule(schedule="@daily", command="   ")
        with pytest.raises(ConfigErrors, match="command starts with a blank word"):
            await scheduler.schedule(schedule="@daily", command=["  ", "x"])
        assert await scheduler.list_schedules() == []
        scheduler.close()

    asyncio.run(go())

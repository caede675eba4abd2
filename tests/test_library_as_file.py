"""What a program gives ``Scheduler.schedule()`` means what the same keys mean in the
schedule file: naive instants, templates, DST policies and chains, each compared with
the file's reading of the same schedule."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unoschedule import (
    DstPolicy,
    OneTimeSchedule,
    Scheduler,
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

"""The next run of a schedule whose blackout windows skip its occurrences: looked for up
to ``HORIZON`` ahead, and found by stepping over the cycles the scan goes round where
the windows and the occurrences repeat (``effective._Repeats``), with the answer of the
step-by-step scan.

The property test puts the two side by side on random schedules and windows, in zones
with odd DST (30 minutes, negative, at midnight, two hours, a skipped day), over a few
years that the step-by-step scan can walk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_loop import Harness, T, run
from typer.testing import CliRunner

from unoschedule import Scheduler, effective
from unoschedule.blackout import Blackout, blackout_from_config
from unoschedule.cli import app
from unoschedule.config import load_config
from unoschedule.effective import EffectiveTimeline
from unoschedule.schedules import (
    CronSchedule,
    DailySchedule,
    IntervalSchedule,
    ScheduleSpec,
    Timeline,
    WeeklySchedule,
)

ZONES: list[tzinfo] = [
    ZoneInfo(name)
    for name in (
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",  # 30-minute DST
        "Europe/Dublin",  # negative DST
        "Africa/Casablanca",  # DST suspended every Ramadan
        "America/Santiago",  # changes at midnight
        "Antarctica/Troll",  # two-hour DST
        "Pacific/Apia",  # 2011-12-30 skipped; no DST since 2021
        "Asia/Tokyo",
        "UTC",
    )
] + [timezone(timedelta(hours=5, minutes=30))]


class Counted(Timeline):
    """A timeline that counts the instants asked of it and refuses more than ``limit``."""

    def __init__(self, inner: Timeline, limit: int):
        self.inner = inner
        self.limit = limit
        self.asked = 0

    def period(self) -> timedelta | None:
        return self.inner.period()

    def next(self, after: datetime) -> datetime | None:
        self.asked += 1
        assert self.asked <= self.limit, f"more than {self.limit} occurrences looked at"
        return self.inner.next(after)


@contextmanager
def step_by_step() -> Iterator[None]:
    """The scan without ``_Repeats``: every step walked."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(effective._Repeats, "of", classmethod(lambda cls, timeline: None))
        yield


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe", "UTC"])
@pytest.mark.parametrize(
    ("schedule", "window"),
    [
        (CronSchedule("30 2 * * *"), "daily 02:00 for 1h"),
        (CronSchedule("30 2 * * *"), "0 2 * * * for 1h"),
        (WeeklySchedule(["mon", "thu"], "23:45"), "Mon-Fri 23:00 for 2h"),
        (CronSchedule("*/20 1-3 * * *"), "* 00:00 for 5h"),
    ],
    ids=["daily-in-daily", "cron-form", "weekly-in-weekdays", "wildcards-in-hours"],
)
def test_a_schedule_blacked_out_at_every_occurrence_has_no_next_run_after_a_few_steps(
    zone: str, schedule: ScheduleSpec, window: str
) -> None:
    nominal = Counted(schedule.timeline(zone=ZoneInfo(zone), name="nightly"), limit=2000)
    timeline = EffectiveTimeline(
        nominal, zone=ZoneInfo(zone), name="nightly", blackouts=(blackout_from_config(window),)
    )
    after = T("2026-06-01T12:00:00Z")
    assert timeline.next(after) is None
    assert timeline.upcoming(after, 5) == []
    assert nominal.asked < 2000  # a century of nights, stepped over


BLACKED = """\
scheduler:
  timezone: America/New_York
schedules:
  nightly:
    schedule: "30 2 * * *"
    command: "true"
    blackout: ["daily 02:00 for 1h"]
  hourly:
    schedule: "0 * * * *"
    command: "true"
    blackout: [{name: nights, cron: "0 2 * * *", for: 1h, defer: true}]
"""


def test_next_runs_status_and_list_say_an_always_blacked_schedule_has_no_next_run(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(BLACKED)
    h = Harness(tmp_path, list(load_config(config).schedules.values()))

    async def go() -> None:
        h.start()  # the state holds each schedule's next claim, 02:30 for nightly

    run(go)
    assert h.store.get_schedule("nightly").next_run == T("2026-06-02T06:30:00Z")  # type: ignore[union-attr]
    library = Scheduler.for_state(h.path)
    library.clock = h.clock
    try:
        rows = {row["name"]: row["next_run"] for row in library.schedule_list()}
        assert rows == {"nightly": None, "hourly": "2026-06-01T09:00:00Z"}
        assert library.schedule_status("nightly")["next_run"] is None
        assert library.next_run_times("nightly", 3) == []
    finally:
        library.close()
    env = {"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None}
    base = ["-c", str(config), "--state", str(h.path)]
    shown = CliRunner().invoke(app, [*base, "next-runs", "nightly"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.strip() == "nightly has no run to come"
    listed = CliRunner().invoke(app, [*base, "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert {r["name"]: r["next_run"] for r in json.loads(listed.stdout)} == rows


def test_the_horizon_counts_from_the_end_of_a_freeze_longer_than_it() -> None:
    from unoschedule.effective import HORIZON

    zone = ZoneInfo("Europe/Berlin")
    freeze = blackout_from_config({"name": "freeze", "from": "2026-07-01", "to": "2226-07-01"})

    def timeline(*windows: Blackout) -> EffectiveTimeline:
        nominal = CronSchedule("30 2 * * *").timeline(zone=zone, name="job")
        return EffectiveTimeline(nominal, zone=zone, name="job", blackouts=windows)

    after = T("2026-06-30T12:00:00Z")
    assert T("2226-07-02T00:30:00Z") - after > HORIZON
    assert timeline(freeze).next(after) == T("2226-07-02T00:30:00Z")  # the day after it
    assert timeline(freeze, blackout_from_config("daily 02:00 for 1h")).next(after) is None


# -- the step-by-step scan and the one that steps over cycles agree --------------------


@st.composite
def wall_times(draw: st.DrawFn) -> tuple[int, int]:
    """Hours and minutes, most of them where DST changes happen."""
    hour = draw(st.sampled_from([0, 1, 2, 3, 22, 23]) | st.integers(0, 23))
    minute = draw(st.sampled_from([0, 15, 30, 59]) | st.integers(0, 59))
    return hour, minute


@st.composite
def nominals(draw: st.DrawFn) -> tuple[ScheduleSpec, tuple[int, int]]:
    hour, minute = draw(wall_times())
    days = draw(st.sampled_from(["*", "1-5", "0,6", "1", "*/2"]))
    spec = draw(
        st.sampled_from(
            [
                CronSchedule(f"{minute} {hour} * * {days}"),
                CronSchedule(f"{minute} {hour},{(hour + 1) % 24} * * *"),
                CronSchedule(f"{minute} * * * {days}"),
                DailySchedule(f"{hour:02d}:{minute:02d}"),
                WeeklySchedule(["sat", "sun"], f"{hour:02d}:{minute:02d}"),
                IntervalSchedule(draw(st.sampled_from(["30m", "1h", "90m", "7h", "1d", "2d"]))),
            ]
        )
    )
    return spec, (hour, minute)


@st.composite
def windows(draw: st.DrawFn, near: tuple[int, int]) -> Blackout:
    """A window, most of them over the schedule's wall time; recurring ones shorter than
    their recurrence, so that they do not chain into one endless blackout."""
    defer = draw(st.sampled_from([False, False, False, True]))
    if draw(st.integers(0, 5)) == 0:
        start = datetime(2027, 1, 1) + timedelta(hours=draw(st.integers(0, 24 * 700)))
        end = start + timedelta(hours=draw(st.integers(1, 24 * 200)))
        return Blackout(name="span", start=start, end=end, defer=defer)
    hour, minute = draw(wall_times())
    if draw(st.booleans()):
        early = near[0] * 60 + near[1] - draw(st.sampled_from([0, 1, 29, 30, 60, 61, 120]))
        hour, minute = early // 60 % 24, early % 60
    days = draw(st.sampled_from(["*", "*", "1-5", "0,6", "*/2", "1"]))
    minutes = draw(st.sampled_from([30, 59, 60, 61, 90, 120, 179, 600, 1380, 1439]))
    return Blackout(
        name="recurring",
        cron=f"{minute} {hour} * * {days}",
        duration=timedelta(minutes=minutes),
        defer=defer,
    )


@st.composite
def timelines(draw: st.DrawFn) -> tuple[EffectiveTimeline, datetime]:
    zone = draw(st.sampled_from(ZONES))
    spec, near = draw(nominals())
    first = T("2027-01-01T00:00:00Z") + timedelta(minutes=draw(st.integers(0, 60 * 24 * 400)))
    start = first if draw(st.booleans()) else None
    end = first + timedelta(days=draw(st.integers(30, 1500))) if draw(st.booleans()) else None
    nominal = spec.timeline(zone=zone, name="job", anchor=first, start=start, end=end)
    count = draw(st.integers(1, 3))
    timeline = EffectiveTimeline(
        nominal,
        zone=zone,
        name="job",
        blackouts=tuple(draw(windows(near)) for _ in range(count)),
        jitter=timedelta(minutes=draw(st.sampled_from([0, 0, 20]))),
        jitter_fixed=True,
    )
    timeline.horizon = timedelta(days=draw(st.integers(200, 1500)))
    after = T("2027-01-01T00:00:00Z") + timedelta(minutes=draw(st.integers(0, 60 * 24 * 500)))
    return timeline, after


@given(timelines())
def test_stepping_over_cycles_gives_the_next_runs_of_the_step_by_step_scan(
    case: tuple[EffectiveTimeline, datetime],
) -> None:
    timeline, after = case
    fast = [occurrence.text() for occurrence in timeline.upcoming(after, 3)]
    with step_by_step():
        walked = [occurrence.text() for occurrence in timeline.upcoming(after, 3)]
    assert fast == walked


def test_the_step_by_step_scan_is_what_the_property_test_compares_with() -> None:
    zone = ZoneInfo("America/New_York")
    timeline = EffectiveTimeline(
        Counted(CronSchedule("30 2 * * *").timeline(zone=zone, name="job"), limit=10_000),
        zone=zone,
        name="job",
        blackouts=(blackout_from_config("daily 02:00 for 1h"),),
    )
    timeline.horizon = timedelta(days=1000)
    with step_by_step():
        assert timeline.next(T("2026-06-01T00:00:00Z")) is None
    assert timeline.nominal.asked > 1000  # type: ignore[attr-defined]

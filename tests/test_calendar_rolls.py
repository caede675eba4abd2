"""A calendar's roll over long stretches of closed days: the next run is the earliest
instant at which any occurrence lands (its own, or one rolled onto that day), found in a
few steps per closed day rather than one per occurrence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unoschedule.config import parse_config
from unoschedule.effective import EffectiveTimeline

ROLLS = ("next_business_day", "previous_business_day")


def _timeline(schedule: str, dates: list[str], roll: str, zone: str = "UTC") -> EffectiveTimeline:
    config = parse_config(
        f"scheduler:\n  timezone: {zone}\n  calendars:\n    closed:\n"
        f"      dates: {dates!r}\n"
        f"schedules:\n  job:\n    schedule: {schedule}\n    command: 'true'\n"
        f"    calendar: closed\n    roll: {roll}\n    start_date: 2026-12-01T00:00:00Z\n"
    )
    timeline = config.schedules["job"].timeline()
    assert isinstance(timeline, EffectiveTimeline)
    return timeline


class _Counted:
    """The nominal timeline, counting the instants asked of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.asked = 0

    def next(self, after: datetime) -> datetime | None:
        self.asked += 1
        return self.inner.next(after)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _runs(timeline: EffectiveTimeline, after: datetime, count: int) -> list[str]:
    out = []
    for _ in range(count):
        found = timeline.slot(after)
        if found is None:
            break
        out.append(found.strftime("%Y-%m-%d %H:%M"))
        after = found
    return out


@pytest.mark.parametrize("roll", ROLLS)
def test_every_minute_over_half_a_year_closed_goes_on_on_the_first_open_day(roll: str) -> None:
    """Forward, every closed day's minutes land on 1 July (each wall time once); back,
    on 31 December, at or before 23:59. Either way the schedule goes on on 1 July (the
    scan backwards once gave up before reaching it)."""
    timeline = _timeline("'* * * * *'", ["2027-01-01..2027-06-30"], roll)
    counted = _Counted(timeline.nominal)
    timeline.nominal = counted  # type: ignore[assignment]
    after = datetime(2026, 12, 31, 23, 57, tzinfo=UTC)
    assert _runs(timeline, after, 5) == [
        "2026-12-31 23:58",
        "2026-12-31 23:59",
        "2027-07-01 00:00",
        "2027-07-01 00:01",
        "2027-07-01 00:02",
    ]
    # a few instants per closed day and question, not the 260,640 minutes of the stretch
    assert counted.asked < 10 * 181 * 5


def test_a_roll_onto_the_day_of_the_question_starts_past_its_wall_time() -> None:
    timeline = _timeline("'*/10 * * * *'", ["2027-03-01..2027-03-09"], "next_business_day")
    after = datetime(2027, 3, 10, 13, 35, tzinfo=UTC)
    assert _runs(timeline, after, 2) == ["2027-03-10 13:40", "2027-03-10 13:50"]


# -- against every occurrence rolled one by one ---------------------------------------

ZONES = ("UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia")
SCHEDULES = ("'*/20 * * * *'", "'30 1 * * *'", "'0 */5 * * *'", "{every: 37m}", "{every: 5h}")
BASE = date(2027, 3, 1)


def _reference(timeline: EffectiveTimeline, after: datetime) -> datetime | None:
    """Every nominal occurrence from 40 days before ``after`` to 40 days after it,
    rolled by ``rolled`` (the calendar asked per occurrence): the earliest landing past
    ``after``, when it is within 15 days (stretches are at most 12 days long, so no
    occurrence outside the window lands before that)."""
    landings: list[datetime] = []
    current = after - timedelta(days=40)
    while (nominal := timeline.nominal.next(current)) is not None:
        if nominal > after + timedelta(days=40):
            break
        moved = timeline.rolled(nominal)
        if moved is not None and moved > after:
            landings.append(moved)
        current = nominal
    best = min(landings, default=None)
    return best if best is not None and best < after + timedelta(days=15) else None


stretches = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 12)), min_size=1, max_size=4
).map(
    lambda spans: [f"{BASE + timedelta(days=s)}..{BASE + timedelta(days=s + n)}" for s, n in spans]
)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    schedule=st.sampled_from(SCHEDULES),
    roll=st.sampled_from(ROLLS),
    dates=stretches,
    offset=st.integers(0, 320 * 24 * 60),
)
def test_the_next_run_under_a_roll_is_the_earliest_landing_of_any_occurrence(
    zone: str, schedule: str, roll: str, dates: list[str], offset: int
) -> None:
    timeline = _timeline(schedule, dates, roll, zone)
    after = datetime(2027, 3, 1, tzinfo=UTC) + timedelta(minutes=offset)
    expected = _reference(timeline, after)
    if expected is None:
        return  # beyond the reference's window: not decided by it
    assert timeline.slot(after) == expected


def test_the_repeated_hour_of_a_closed_day_rolls_both_its_passes() -> None:
    """An every-7-minutes schedule runs in both passes of New York's repeated hour on
    7 November 2027 (elapsed time), each pass on its own grid of wall times; closed,
    that day rolls onto the 8th, where the earliest wall time past the question may come
    from either pass."""
    from zoneinfo import ZoneInfo

    timeline = _timeline("{every: 7m}", ["2027-11-07"], "next_business_day", "America/New_York")
    york = ZoneInfo("America/New_York")
    for minute in range(60):
        after = datetime(2027, 11, 8, 1, minute, tzinfo=york).astimezone(UTC)
        assert timeline.slot(after) == _reference(timeline, after), minute

"""Calendars against the ``holidays`` package's own dates: the days a calendar excludes
are the package's holidays of the region (and weekends, and listed dates), a schedule
does not run on them, and a roll moves its occurrence to the nearest day it does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from unoschedule.config import parse_config
from unoschedule.errors import ConfigErrors

BERLIN = ZoneInfo("Europe/Berlin")

CALENDARS = """\
scheduler:
  timezone: Europe/Berlin
  calendars:
    de-by:
      holidays: {country: DE, subdiv: BY}
    de-by-business:
      include: [de-by]
      business_days: true
    year-end:
      include: [de-by-business]
      dates: [2027-12-24..2027-12-31, 2027-08-15]
    plain-weekdays:
      include: [de-by-business]
      exclude: [de-by]
"""


def _config(schedules: str):  # type: ignore[no-untyped-def]
    return parse_config(CALENDARS + "schedules:\n" + schedules)


def _days(instants: list[datetime]) -> list[date]:
    return [i.astimezone(BERLIN).date() for i in instants]


def _reference_holidays(years: range) -> dict[date, str]:
    return dict(holidays.country_holidays("DE", subdiv="BY", years=list(years)))


def test_a_daily_schedule_does_not_run_on_the_holidays_the_package_lists() -> None:
    config = _config("  report: {schedule: {daily: '10:00'}, command: 'true', calendar: de-by}\n")
    timeline = config.schedules["report"].timeline()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = _days(timeline.take(start - timedelta(seconds=1), 3 * 365))
    reference = _reference_holidays(range(2026, 2030))
    expected = [
        d
        for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(4 * 366))
        if d not in reference
    ][: len(runs)]
    assert runs == expected
    assert not set(runs) & set(reference)


def test_business_days_leave_out_weekends_and_holidays() -> None:
    config = _config(
        "  report: {schedule: '0 10 * * *', command: 'true', calendar: de-by-business}\n"
    )
    runs = _days(config.schedules["report"].timeline().take(datetime(2027, 1, 1, tzinfo=UTC), 500))
    reference = _reference_holidays(range(2027, 2030))
    assert runs
    assert all(d.weekday() < 5 and d not in reference for d in runs)
    first, last = runs[0], runs[-1]
    every = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert runs == [d for d in every if d.weekday() < 5 and d not in reference]


def test_dates_and_ranges_are_excluded_and_include_brings_the_included_days() -> None:
    config = _config("  report: {schedule: '0 10 * * *', command: 'true', calendar: year-end}\n")
    runs = _days(config.schedules["report"].timeline().take(datetime(2027, 8, 1, tzinfo=UTC), 200))
    assert date(2027, 8, 16) in runs  # a Monday, not a holiday
    assert date(2027, 8, 15) not in runs
    assert not [d for d in runs if date(2027, 12, 24) <= d <= date(2027, 12, 31)]
    assert date(2027, 11, 1) not in runs  # All Saints' Day, from de-by through the include


def test_exclude_gives_back_the_days_of_another_calendar() -> None:
    config = _config(
        "  report: {schedule: '0 10 * * *', command: 'true', calendar: plain-weekdays}\n"
    )
    runs = _days(config.schedules["report"].timeline().take(datetime(2027, 1, 1, tzinfo=UTC), 60))
    assert date(2027, 1, 6) in runs  # Epiphany (BY) is a run day again
    assert all(d.weekday() < 5 for d in runs)


@pytest.mark.parametrize("year", [2026, 2027, 2028])
def test_payroll_on_the_last_day_rolls_to_the_last_business_day_of_each_month(year: int) -> None:
    config = _config(
        "  payroll:\n"
        "    schedule: {monthly: {days: [last], time: '10:00'}}\n"
        "    command: 'true'\n"
        "    calendar: de-by-business\n"
        "    roll: previous_business_day\n"
    )
    timeline = config.schedules["payroll"].timeline()
    runs = timeline.take(datetime(year, 1, 1, tzinfo=BERLIN) - timedelta(seconds=1), 12)
    reference = _reference_holidays(range(year, year + 1))
    expected = []
    for month in range(1, 13):
        day = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        while day.weekday() >= 5 or day in reference:
            day -= timedelta(days=1)
        expected.append(day)
    assert _days(runs) == expected
    assert all(r.astimezone(BERLIN).hour == 10 for r in runs)


def test_next_business_day_moves_a_holiday_occurrence_forwards() -> None:
    config = _config(
        "  rent:\n"
        "    schedule: {monthly: {days: [1], time: '08:00'}}\n"
        "    command: 'true'\n"
        "    calendar: de-by-business\n"
        "    roll: next_business_day\n"
    )
    runs = _days(config.schedules["rent"].timeline().take(datetime(2026, 12, 15, tzinfo=UTC), 6))
    reference = _reference_holidays(range(2027, 2028))
    expected = []
    for month in range(1, 7):
        day = date(2027, month, 1)
        while day.weekday() >= 5 or day in reference:
            day += timedelta(days=1)
        expected.append(day)
    assert runs == expected


def test_validate_refuses_an_unknown_calendar_with_its_position() -> None:
    text = (
        CALENDARS + "schedules:\n  x: {schedule: '0 1 * * *', command: 'true', calendar: de-bz}\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text, "file.yaml")
    line = text.splitlines().index("  x: {schedule: '0 1 * * *', command: 'true', calendar: de-bz}")
    column = text.splitlines()[line].index("de-bz")
    assert [str(e) for e in caught.value.errors] == [
        f"file.yaml:{line + 1}:{column + 1}: unknown calendar 'de-bz'; did you mean 'de-by'?"
    ]


def test_validate_refuses_a_calendar_include_cycle_and_an_unknown_include() -> None:
    text = (
        "scheduler:\n"
        "  calendars:\n"
        "    a: {include: [b]}\n"
        "    b: {include: [a]}\n"
        "    c: {include: [nope]}\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text, "f.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "f.yaml:4:19: calendar include cycle: a -> b -> a",
        "f.yaml:5:19: unknown calendar 'nope' (calendars: a, b, c)",
    ]


def test_validate_refuses_an_unknown_holiday_region() -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse_config("scheduler:\n  calendars:\n    x: {holidays: {country: DE, subdiv: XX}}\n")
    assert "unknown subdivision 'XX' of DE" in str(caught.value)


def test_the_library_checks_calendar_names_with_the_files_messages(tmp_path: Path) -> None:
    import asyncio

    from unoschedule import Scheduler

    async def go() -> list[str]:
        scheduler = Scheduler(
            storage=str(tmp_path / "s.db"),
            calendars={"de-by": {"holidays": {"country": "DE", "subdiv": "BY"}}},
        )
        try:
            with pytest.raises(ConfigErrors, match="unknown calendar 'de-bx'; did you mean"):
                await scheduler.schedule(
                    command="true", schedule="0 10 * * *", name="y", calendar="de-bx"
                )
            await scheduler.schedule(
                command="true", schedule="0 10 * * *", name="x", calendar="de-by"
            )
            return await scheduler.get_next_run_times(
                "x", count=3, after=datetime(2026, 12, 24, tzinfo=UTC)
            )
        finally:
            scheduler.close()

    assert asyncio.run(go()) == [
        "2026-12-24T10:00:00Z",
        "2026-12-27T10:00:00Z",  # Christmas Day and the Second Day of Christmas left out
        "2026-12-28T10:00:00Z",
    ]


def test_a_changed_calendar_is_a_changed_definition() -> None:
    before = _config("  r: {schedule: '0 10 * * *', command: 'true', calendar: year-end}\n")
    after = parse_config(
        CALENDARS.replace("2027-08-15", "2027-08-16")
        + "schedules:\n  r: {schedule: '0 10 * * *', command: 'true', calendar: year-end}\n"
    )
    assert before.schedules["r"].fingerprint() != after.schedules["r"].fingerprint()


def test_the_calendar_command_draws_only_the_days_the_calendar_runs_on(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from unoschedule.cli import app

    path = tmp_path / "schedules.yaml"
    path.write_text(
        CALENDARS + "schedules:\n  report: {schedule: '0 10 * * *', command: 'true', "
        "calendar: de-by-business}\n"
    )
    result = CliRunner().invoke(
        app,
        ["-c", str(path), "--state", str(tmp_path / "none.db"), "calendar", "--json",
         "--from", "2026-12-01T00:00:00Z", "--window", "31d"],
        env={"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["schedules"]
    reference = _reference_holidays(range(2026, 2027))
    december = [date(2026, 12, d) for d in range(1, 32)]
    assert row["fires"] == sum(1 for d in december if d.weekday() < 5 and d not in reference)


# -- a roll across a DST change ---------------------------------------------------------------
#
# New York skips 02:00-03:00 on Sunday 2026-03-08 (07:00Z is 03:00 EDT) and repeats
# 01:00-02:00 on Sunday 2026-11-01 (05:30Z and 06:30Z are both 01:30). A rolled occurrence
# keeps its wall time and lands on its new day by the schedule's own DST rules, as that
# day's own occurrences do (SPEC 3).

NEW_YORK = ZoneInfo("America/New_York")


def _new_york(schedule: str, dates: str, roll: str, extra: str = "") -> str:
    return (
        "scheduler:\n"
        "  timezone: America/New_York\n"
        "  calendars:\n"
        f"    closed: {{dates: {dates}}}\n"
        "schedules:\n"
        "  job:\n"
        f"    schedule: {schedule}\n"
        "    command: 'true'\n"
        "    calendar: closed\n"
        f"    roll: {roll}\n" + extra
    )


def _runs(text: str, after: str, count: int) -> list[str]:
    timeline = parse_config(text).schedules["job"].timeline()
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    return [t.strftime("%m-%dT%H:%MZ") for t in timeline.take(start, count)]


@pytest.mark.parametrize("schedule", ["{daily: '02:30'}", "'30 2 * * *'"])
def test_an_occurrence_rolled_onto_the_night_the_clock_skips_runs_once_when_it_jumps(
    schedule: str,
) -> None:
    text = _new_york(schedule, "[2026-03-07]", "next_business_day")
    # Saturday's 02:30 rolls to Sunday 02:30, which does not exist: it runs at the jump,
    # 03:00 EDT, the instant of Sunday's own 02:30 (one run, not a second at 03:30)
    assert _runs(text, "2026-03-06T00:00", 3) == ["03-06T07:30Z", "03-08T07:00Z", "03-09T06:30Z"]


def test_an_occurrence_rolled_into_a_dst_gap_does_not_run_under_gap_skip() -> None:
    text = _new_york(
        "{weekly: {days: [saturday], time: '02:30'}}",
        "[2026-03-07]",
        "next_business_day",
        "    dst: {gap: skip}\n",
    )
    assert _runs(text, "2026-03-01T00:00", 2) == ["03-14T06:30Z", "03-21T06:30Z"]


@pytest.mark.parametrize(
    ("roll", "expected"),
    [
        ("next_business_day", "03-09T06:30Z"),  # Monday 02:30 EDT, not 03:00
        ("previous_business_day", "03-07T07:30Z"),  # Saturday 02:30 EST, not 03:00
    ],
)
def test_an_occurrence_rolled_off_the_night_the_clock_skips_keeps_its_own_wall_time(
    roll: str, expected: str
) -> None:
    # Sunday's 02:30 fires at the jump (03:00 EDT) where it is; moved, it is 02:30 again
    text = _new_york("{weekly: {days: [sunday], time: '02:30'}}", "[2026-03-08]", roll)
    assert _runs(text, "2026-03-02T00:00", 2) == [expected, "03-15T06:30Z"]


@pytest.mark.parametrize("dst", ["", "    dst: {overlap: both}\n"])
def test_an_occurrence_rolled_onto_a_repeated_hour_runs_once_on_the_first_pass(dst: str) -> None:
    text = _new_york("'30 1 * * 6'", "[2026-10-31]", "next_business_day", dst)
    # 05:30Z is 01:30 EDT, the first pass (06:30Z, 01:30 EST, would be the second)
    assert _runs(text, "2026-10-25T00:00", 2) == ["11-01T05:30Z", "11-07T06:30Z"]
    first_pass = datetime(2026, 11, 1, 5, 30, tzinfo=UTC).astimezone(NEW_YORK)
    assert (first_pass.hour, first_pass.utcoffset()) == (1, timedelta(hours=-4))


def test_next_runs_show_one_run_on_the_night_a_rolled_occurrence_meets_the_jump(
    tmp_path: Path,
) -> None:
    import json

    from typer.testing import CliRunner

    from unoschedule.cli import app

    path = tmp_path / "schedules.yaml"
    path.write_text(_new_york("{daily: '02:30'}", "[2026-03-07]", "next_business_day"))
    result = CliRunner().invoke(
        app,
        ["-c", str(path), "--state", str(tmp_path / "none.db"), "next-runs", "job", "--json",
         "--count", "3", "--from", "2026-03-07T00:00:00Z"],
        env={"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        "2026-03-08T07:00:00Z",
        "2026-03-09T06:30:00Z",
        "2026-03-10T06:30:00Z",
    ]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        # 12-30 09:00 never happens: it fires at the jump (12-31 00:00 +14:00), and is
        # 12-30's occurrence: a calendar that excludes 12-30 excludes it ...
        ("[2011-12-30]", ["12-29T19:00Z", "12-30T19:00Z"]),
        # ... and one that excludes 12-31 does not
        ("[2011-12-31]", ["12-29T19:00Z", "12-30T10:00Z", "12-31T19:00Z"]),
    ],
)
def test_the_day_of_an_occurrence_apia_skipped_is_the_day_it_was_for(
    dates: str, expected: list[str]
) -> None:
    text = _new_york("{daily: '09:00'}", dates, "skip").replace("America/New_York", "Pacific/Apia")
    assert _runs(text, "2011-12-29T00:00", len(expected)) == expected

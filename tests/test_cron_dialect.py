"""The cron dialect of SPEC section 3, feature by feature, with the instants expected.

Weekdays of the months used (for checking by hand): 2026-01-01 Thu (31st Sat),
2026-02-01 Sun (15th Sun, 28th Sat), 2026-03-01 Sun (31st Tue), 2026-05-01 Fri (31st
Sun), 2026-08-01 Sat (15th Sat, 31st Mon), 2027-05-01 Sat.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from unoschedule.cron import CronExpression
from unoschedule.errors import ScheduleSyntaxError
from unoschedule.schedules import CronSchedule

EXAMPLES = settings.default.max_examples


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, after: str, count: int, name: str = "") -> list[datetime]:
    return CronSchedule(expression).timeline(name=name).take(z(after), count)


def days(expression: str, after: str, count: int) -> list[str]:
    """The dates (``MM-DD``) of the next ``count`` fires of a midnight expression."""
    return [f.strftime("%m-%d") for f in fires(expression, after, count)]


# -- fields ---------------------------------------------------------------------------------


def test_five_fields_fire_on_whole_minutes():
    assert fires("*/15 * * * *", "2026-01-01T10:07:30", 3) == [
        z("2026-01-01T10:15"),
        z("2026-01-01T10:30"),
        z("2026-01-01T10:45"),
    ]


def test_six_fields_put_seconds_first_and_fire_every_20_seconds():
    assert fires("*/20 * * * * *", "2026-01-01T10:00:05", 4) == [
        z("2026-01-01T10:00:20"),
        z("2026-01-01T10:00:40"),
        z("2026-01-01T10:01:00"),
        z("2026-01-01T10:01:20"),
    ]


def test_six_fields_with_fixed_seconds():
    assert fires("30 0 12 * * *", "2026-01-01T00:00", 2) == [
        z("2026-01-01T12:00:30"),
        z("2026-01-02T12:00:30"),
    ]


def test_month_and_day_names_are_case_insensitive():
    for month in ("JAN", "jan", "Jan", "1"):
        assert fires(f"0 0 1 {month} *", "2026-03-01T00:00", 1) == [z("2027-01-01T00:00")]
    for day in ("MON", "mon", "Mon", "1"):
        assert days(f"0 0 * * {day}", "2026-01-01T00:00", 2) == ["01-05", "01-12"]


def test_name_ranges_and_lists():
    assert days("0 0 * * mon-wed", "2026-01-01T00:00", 4) == ["01-05", "01-06", "01-07", "01-12"]
    assert days("0 0 1 JAN,jul *", "2026-01-01T00:00", 3) == ["07-01", "01-01", "07-01"]
    assert days("0 0 1 MAR-MAY *", "2026-01-01T00:00", 3) == ["03-01", "04-01", "05-01"]


@pytest.mark.parametrize("sunday", ["0", "7", "SUN", "sun"])
def test_seven_and_zero_are_both_sunday(sunday):
    assert days(f"0 0 * * {sunday}", "2026-01-01T00:00", 2) == ["01-04", "01-11"]


def test_a_weekday_range_may_end_with_seven():
    assert days("0 0 * * 5-7", "2026-01-01T00:00", 4) == ["01-02", "01-03", "01-04", "01-09"]


def test_a_weekday_range_may_end_on_sunday_written_as_zero_as_cronie_allows():
    for expression in ("0 0 * * FRI-SUN", "0 0 * * 5-0", "0 0 * * fri-7"):
        assert days(expression, "2026-01-01T00:00", 4) == ["01-02", "01-03", "01-04", "01-09"]


def test_a_weekday_start_with_a_step_runs_to_seven_which_is_sunday():
    # "1/2" is "1-7/2" (cronie's weekday range is 0-7): Mon, Wed, Fri and Sun.
    assert days("0 0 * * 1/2", "2026-01-01T00:00", 4) == ["01-02", "01-04", "01-05", "01-07"]


def test_ranges_lists_and_steps():
    assert [f.minute for f in fires("5-8 * * * *", "2026-01-01T00:00", 5)] == [5, 6, 7, 8, 5]
    assert [f.minute for f in fires("1,2,30 * * * *", "2026-01-01T00:00", 4)] == [1, 2, 30, 1]
    assert [f.minute for f in fires("10-30/10 * * * *", "2026-01-01T00:00", 4)] == [10, 20, 30, 10]
    assert [f.hour for f in fires("0 */6 * * *", "2026-01-01T00:30", 4)] == [6, 12, 18, 0]


def test_a_start_with_a_step_runs_to_the_end_of_the_field():
    assert [f.minute for f in fires("5/20 * * * *", "2026-01-01T00:00", 4)] == [5, 25, 45, 5]
    assert days("0 0 20/5 * *", "2026-01-01T00:00", 4) == ["01-20", "01-25", "01-30", "02-20"]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@yearly", ["2027-01-01T00:00", "2028-01-01T00:00"]),
        ("@annually", ["2027-01-01T00:00", "2028-01-01T00:00"]),
        ("@monthly", ["2026-02-01T00:00", "2026-03-01T00:00"]),
        ("@weekly", ["2026-01-18T00:00", "2026-01-25T00:00"]),  # Sundays
        ("@daily", ["2026-01-16T00:00", "2026-01-17T00:00"]),
        ("@midnight", ["2026-01-16T00:00", "2026-01-17T00:00"]),
        ("@hourly", ["2026-01-15T11:00", "2026-01-15T12:00"]),
        ("@DAILY", ["2026-01-16T00:00", "2026-01-17T00:00"]),
    ],
)
def test_every_alias(alias, expected):
    assert fires(alias, "2026-01-15T10:20", 2) == [z(e) for e in expected]


def test_aliases_are_fixed_time_for_dst_purposes_except_hourly():
    assert CronSchedule("@daily").fixed_time
    assert CronSchedule("@weekly").fixed_time
    assert not CronSchedule("@hourly").fixed_time  # "0 * * * *": the hour starts with '*'


# -- L, W, # ----------------------------------------------------------------------------------


def test_l_is_the_last_day_of_every_month_including_leap_february():
    assert days("0 0 L * *", "2026-01-01T00:00", 4) == ["01-31", "02-28", "03-31", "04-30"]
    assert days("0 0 L 2 *", "2027-03-01T00:00", 1) == ["02-29"]  # 2028


def test_l_minus_3_is_three_days_before_the_last_day():
    assert days("0 0 L-3 * *", "2026-01-01T00:00", 4) == ["01-28", "02-25", "03-28", "04-27"]


def test_lw_is_the_last_weekday_of_the_month():
    # Jan 31 and Feb 28 are Saturdays, May 31 is a Sunday: the Friday before.
    assert days("0 0 LW * *", "2026-01-01T00:00", 5) == [
        "01-30",
        "02-27",
        "03-31",
        "04-30",
        "05-29",
    ]


def test_15w_is_the_weekday_nearest_the_15th():
    # Jan 15 Thu; Feb 15 Sun -> Mon 16; Aug 15 Sat -> Fri 14.
    assert days("0 0 15W * *", "2026-01-01T00:00", 8) == [
        "01-15",
        "02-16",
        "03-16",
        "04-15",
        "05-15",
        "06-15",
        "07-15",
        "08-14",
    ]


def test_1w_when_the_first_is_a_saturday_is_monday_the_third():
    # W never leaves the month: 2026-08-01 is a Saturday, so Monday the 3rd, not July 31.
    assert days("0 0 1W 8 *", "2026-01-01T00:00", 1) == ["08-03"]
    # 2026-02-01 is a Sunday: Monday the 2nd.
    assert days("0 0 1W 2 *", "2026-01-01T00:00", 1) == ["02-02"]


def test_31w_when_the_31st_is_a_sunday_stays_in_the_month():
    assert days("0 0 31W 5 *", "2026-01-01T00:00", 1) == ["05-29"]


def test_5l_is_the_last_friday():
    assert days("0 0 * * 5L", "2026-01-01T00:00", 4) == ["01-30", "02-27", "03-27", "04-24"]
    assert days("0 0 * * FRIL", "2026-01-01T00:00", 1) == ["01-30"]


def test_fri_hash_3_is_the_third_friday():
    assert days("0 0 * * FRI#3", "2026-01-01T00:00", 3) == ["01-16", "02-20", "03-20"]
    assert days("0 0 * * 5#3", "2026-01-01T00:00", 1) == ["01-16"]


def test_a_fifth_weekday_fires_only_in_months_that_have_one():
    assert days("0 0 * * MON#5", "2026-01-01T00:00", 4) == ["03-30", "06-29", "08-31", "11-30"]


# -- H ----------------------------------------------------------------------------------------


def _minutes_of(expression: str, name: str) -> set[int]:
    return {f.minute for f in fires(expression, "2026-01-01T00:00", 12, name=name)}


def test_h_is_stable_for_one_schedule_name():
    first = fires("H H * * *", "2026-01-01T00:00", 3, name="backup")
    again = fires("H H * * *", "2026-01-01T00:00", 3, name="backup")
    assert first == again
    assert len({(f.hour, f.minute) for f in first}) == 1  # one time of day, every day


def test_h_differs_between_schedule_names_and_stays_in_range():
    names = [f"job-{i}" for i in range(20)]
    minutes = {next(iter(_minutes_of("H * * * *", n))) for n in names}
    assert len(minutes) >= 10  # spread, not all the same
    assert all(0 <= m <= 59 for m in minutes)
    hours = {fires("0 H(2-4) * * *", "2026-01-01T00:00", 1, name=n)[0].hour for n in names}
    assert hours <= {2, 3, 4} and len(hours) >= 2


def test_h_range_with_a_step_spreads_within_the_range():
    seen = set()
    for i in range(20):
        minutes = sorted(_minutes_of("H(0-29)/10 * * * *", f"job-{i}"))
        assert len(minutes) == 3
        assert minutes[0] < 10 and minutes == [minutes[0], minutes[0] + 10, minutes[0] + 20]
        assert minutes[-1] <= 29
        seen.add(minutes[0])
    assert len(seen) >= 4


def test_h_in_the_day_of_month_exists_in_every_month():
    for i in range(30):
        day = fires("0 0 H * *", "2026-01-31T12:00", 1, name=f"job-{i}")[0]
        assert day.day <= 28 and day.month == 2


# -- cronie's OR/AND rule for days --------------------------------------------------------------


def _brute(expression_days, start: date, count: int) -> list[str]:
    out, d = [], start
    while len(out) < count:
        if expression_days(d):
            out.append(d.strftime("%m-%d"))
        d += timedelta(days=1)
    return out


def test_day_of_month_and_weekday_are_ored_when_neither_starts_with_a_star():
    # 1st, 15th and every Monday.
    assert days("0 0 1,15 * MON", "2025-12-31T12:00", 7) == [
        "01-01",
        "01-05",
        "01-12",
        "01-15",
        "01-19",
        "01-26",
        "02-01",
    ]
    expected = _brute(lambda d: d.day in (1, 15) or d.weekday() == 0, date(2026, 1, 1), 40)
    assert days("0 0 1,15 * MON", "2025-12-31T12:00", 40) == expected


def test_day_of_month_and_weekday_are_anded_when_one_starts_with_a_star():
    # Days 1, 11, 21 and 31 that fall on a Monday.
    expected = _brute(lambda d: d.day in (1, 11, 21, 31) and d.weekday() == 0, date(2026, 1, 1), 5)
    assert expected[:3] == ["05-11", "06-01", "08-31"]
    assert days("0 0 */10 * MON", "2025-12-31T12:00", 5) == expected
    # A star in the weekday field: "1,15 * */2" is the 1st and 15th that are Sun/Tue/Thu/Sat.
    expected = _brute(
        lambda d: d.day in (1, 15) and (d.weekday() + 1) % 7 in (0, 2, 4, 6), date(2026, 1, 1), 6
    )
    assert days("0 0 1,15 * */2", "2025-12-31T12:00", 6) == expected


def test_question_mark_is_a_star_in_day_fields():
    assert days("0 0 ? * MON", "2026-01-01T00:00", 2) == ["01-05", "01-12"]
    assert days("0 0 15 * ?", "2026-01-01T00:00", 2) == ["01-15", "02-15"]


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("60 * * * *", 0, "out of range 0-59"),
        ("0 24 * * *", 2, "out of range 0-23"),
        ("0 0 32 * *", 4, "out of range 1-31"),
        ("0 0 0 * *", 4, "out of range 1-31"),
        ("0 0 * 13 *", 6, "out of range 1-12"),
        ("0 0 * * 8", 8, "out of range 0-7"),
        ("60 0 0 * * *", 0, "second value 60"),
        ("0 0 * JAM *", 6, "did you mean 'JAN'"),
        ("0 0 * * MOM", 8, "did you mean 'MON'"),
        ("0 0 * * FRY", 8, "did you mean 'FRI'"),
        ("0 0 * * SUNDAY", 8, "unknown day-of-week name"),
        ("* * * *", 0, "has 4"),
        ("* * * * * * *", 0, "has 7"),
        ("", 0, "has 0"),
        ("0 0 30 2 *", 4, "never fires"),
        ("0 0 31 4,6,9,11 *", 4, "never fires"),
        ("5-1 * * * *", 0, "runs backwards"),
        ("0 0 * * FRI-MON", 8, "runs backwards"),
        ("0 0-5/0 * * *", 6, "positive"),
        ("*/0 * * * *", 2, "positive"),
        ("*/x * * * *", 2, "positive"),
        ("0 */ * * *", 4, "positive"),
        ("0 0 1,,2 * *", 6, "empty"),
        ("@dayly", 0, "did you mean '@daily'"),
        ("@reboot", 0, "one-time"),
        ("0 0 L-40 * *", 4, "L-n"),
        ("0 0 * * FRI#6", 8, "week number"),
        ("0 0 32W * *", 4, "out of range"),
        ("0 0 15W/2 * *", 4, "step"),
        ("? 0 * * *", 0, "only allowed in day fields"),
        ("  0 0 * * SUNN", 10, "did you mean 'SUN'"),
    ],
)
def test_a_bad_expression_raises_with_the_column_of_the_problem(expression, column, words):
    with pytest.raises(ScheduleSyntaxError) as info:
        CronExpression(expression)
    assert info.value.column == column
    assert words in str(info.value)


def test_a_backwards_range_error_points_at_the_range_inside_a_list():
    with pytest.raises(ScheduleSyntaxError) as info:
        CronExpression("0 1,20-10 * * *")
    assert info.value.column == 4


def test_the_29th_of_february_is_possible():
    assert fires("0 0 29 2 *", "2026-01-01T00:00", 2) == [
        z("2028-02-29T00:00"),
        z("2032-02-29T00:00"),
    ]


def test_an_impossible_day_with_a_weekday_is_ored_and_so_possible():
    assert days("0 0 30 2 MON", "2026-01-01T00:00", 1) == ["02-02"]


# -- differential: croniter in UTC for the common dialect -----------------------------------------


def _field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    def value() -> str:
        v = draw(st.integers(low, high))
        if names and draw(st.booleans()):
            return names[v - low]
        return str(v)

    kind = draw(
        st.sampled_from(["star", "fixed", "list", "range", "range_step", "star_step", "a_step"])
    )
    if kind == "star":
        return "*"
    if kind == "fixed":
        return value()
    if kind == "list":
        return ",".join(sorted({str(draw(st.integers(low, high))) for _ in range(3)}))
    if kind == "star_step":
        return f"*/{draw(st.integers(1, high - low))}"
    if kind == "a_step":
        return f"{draw(st.integers(low, high))}/{draw(st.integers(1, high - low))}"
    a = draw(st.integers(low, high - 1))
    b = draw(st.integers(a + 1, high))  # croniter misreads "43-43" (every minute from 1)
    if kind == "range":
        return f"{a}-{b}"
    return f"{a}-{b}/{draw(st.integers(1, high - low))}"


MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def common_expressions(draw: st.DrawFn) -> str:
    seconds = draw(st.booleans())
    fields = [_field(draw, 0, 59), _field(draw, 0, 23)]
    dom, dow = _field(draw, 1, 28), _field(draw, 0, 6, DAY_NAMES)
    if "/" in dow and not dow.startswith("*") and "-" not in dow:
        dow = dow.partition("/")[0]  # "1/2" differs on purpose: ours ends at 7 (Sunday)
    which = draw(st.sampled_from(["dom", "dow", "both"]))
    if which != "dom":
        dom = "*"
    if which != "dow":
        dow = "*"
    fields += [dom, _field(draw, 1, 12, MONTH_NAMES), dow]
    if seconds:
        fields.insert(0, _field(draw, 0, 59))
    return " ".join(fields)


@settings(max_examples=EXAMPLES * 3)
@given(
    common_expressions(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
)
def test_agrees_with_croniter_in_utc_for_the_common_dialect(expression, start):
    start = start.replace(microsecond=0)
    seconds = len(expression.split()) == 6
    reference = croniter(expression, start, second_at_beginning=seconds)
    expected = [reference.get_next(datetime) for _ in range(20)]
    assert CronSchedule(expression).timeline().take(start, 20) == expected


def test_every_day_of_a_400_year_cycle_is_reachable():
    """A calendar sanity check of ``L`` against ``calendar`` over leap-year rules."""
    got = [f.date() for f in fires("0 0 L 2 *", "2099-01-01T00:00", 3)]
    assert got == [date(2099, 2, 28), date(2100, 2, 28), date(2101, 2, 28)]
    assert calendar.isleap(2400)
    assert fires("0 0 29 2 *", "2396-03-01T00:00", 1) == [z("2400-02-29T00:00")]

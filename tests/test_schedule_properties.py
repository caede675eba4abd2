"""Property tests: the time core against the brute-force reference in ``reference.py``.

Windows are placed around real DST transitions of many zones (found by scanning each
zone's offset, see ``reference.transitions``) and expressions are biased towards the
wall hours that a transition skips or repeats, so that gaps and overlaps are actually
exercised; ``test_generator_hits_gaps_and_overlaps`` checks that they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import DAYS, MONTHS, RefCron, Transition, ref_runs, transitions

from unoschedule.schedules import (
    CronSchedule,
    DailySchedule,
    IntervalSchedule,
    MonthlySchedule,
    OneTimeSchedule,
    Timeline,
    WeeklySchedule,
)
from unoschedule.wallclock import DstPolicy

#: zone -> the years whose transitions we test (zones that dropped DST use an older year).
ZONE_YEARS: dict[str, tuple[int, ...]] = {
    "Australia/Lord_Howe": (2026,),  # 30-minute DST
    "Pacific/Chatham": (2026,),  # +12:45 / +13:45
    "America/Sao_Paulo": (2018,),  # DST at midnight, abolished 2019
    "Asia/Tehran": (2022,),  # last DST year, changes at midnight
    "Africa/Casablanca": (2026,),  # negative DST during Ramadan
    "Europe/Dublin": (2026,),  # negative DST in tzdata (IST is standard)
    "America/Havana": (2026,),  # changes at midnight
    "America/New_York": (2026,),
    "Europe/Berlin": (2026,),
    "Europe/London": (2026,),
    "Australia/Sydney": (2026,),
    "America/Santiago": (2026,),  # changes at midnight
    "America/St_Johns": (2026,),  # -03:30
    "Asia/Kolkata": (2026,),  # no DST
    "UTC": (2026,),
    "Pacific/Apia": (2011,),  # 2011-12-30 skipped entirely
    "Asia/Gaza": (2026,),
    "America/Nuuk": (2026,),  # changes at 23:00 -> 00:00
    "Antarctica/Troll": (2026,),  # two-hour DST
    "Africa/Cairo": (2026,),  # changes at midnight
    "Asia/Kathmandu": (2026,),  # +05:45
}
assert len(ZONE_YEARS) >= 20

EXAMPLES = settings.default.max_examples
POLICIES = [
    None,
    DstPolicy("shift", "first"),
    DstPolicy("shift", "both"),
    DstPolicy("skip", "first"),
    DstPolicy("skip", "both"),
]


@dataclass
class Case:
    zone_name: str
    transition: Transition | None
    after: datetime
    until: datetime

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)


# -- strategies --------------------------------------------------------------------------


def _hot_hours(tr: Transition | None) -> list[int]:
    """Wall hours that the transition skips or repeats (the hour of the change if none)."""
    if tr is None:
        return [0, 1, 2, 3]
    lo = min(tr.wall_before, tr.wall_after)
    hi = max(tr.wall_before, tr.wall_after)
    hours = set()
    t = lo
    while t < hi:
        hours.add(t.hour)
        t += timedelta(minutes=15)
    return sorted(hours)


@st.composite
def windows(draw: st.DrawFn, *, short: bool = False) -> Case:
    """A zone, one of its transitions, and a window ``(after, until]`` around it."""
    zone_name = draw(st.sampled_from(sorted(ZONE_YEARS)))
    trs = transitions(zone_name, ZONE_YEARS[zone_name])
    if trs:
        tr: Transition | None = draw(st.sampled_from(trs))
        assert tr is not None
        center = tr.at
    else:
        tr = None
        center = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 365 * 24)))
    # ``before``: how long before the change the window opens (mostly before it, so
    # that the change is inside the window; sometimes just after it).
    past = draw(st.integers(0, 7)) == 0
    if short:  # second resolution: a few hours
        before = -draw(st.integers(0, 1800)) if past else draw(st.integers(1, 5400))
        length = draw(st.integers(1800, 2 * 3600))
    else:
        before = -draw(st.integers(0, 7200)) if past else draw(st.integers(1, 26 * 3600))
        length = draw(st.integers(3600, 30 * 3600))
    micros = draw(st.sampled_from([0, 0, 0, 1, 500_000, 999_999]))
    after = center - timedelta(seconds=before, microseconds=micros)
    until = after + timedelta(seconds=max(before, 0) + length)
    return Case(zone_name, tr, after, until)


def _values(draw: st.DrawFn, low: int, high: int, hot: list[int]) -> str:
    """A cron field over ``low..high``: fixed, list, range, step, ``*``, ``*/n``, ``a/n``."""
    use_hot = hot and draw(st.integers(0, 3)) > 0
    value = st.sampled_from(hot) if use_hot else st.integers(low, high)
    kind = draw(
        st.sampled_from(
            ["fixed", "fixed", "list", "range", "range_step", "star", "star_step", "a_step"]
        )
    )
    if kind == "fixed":
        return str(draw(value))
    if kind == "list":
        items = sorted(
            {draw(value), *draw(st.lists(st.integers(low, high), min_size=1, max_size=3))}
        )
        return ",".join(str(v) for v in items)
    if kind in ("range", "range_step"):
        a = draw(value)
        b = draw(st.integers(a, high))
        if kind == "range":
            return f"{a}-{b}"
        return f"{a}-{b}/{draw(st.integers(1, max(1, high - low)))}"
    if kind == "star":
        return "*"
    if kind == "star_step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    return f"{draw(value)}/{draw(st.integers(1, high - low + 1))}"


@st.composite
def cron_expressions(draw: st.DrawFn, case: Case, seconds: bool = False) -> str:
    hot_hours = _hot_hours(case.transition)
    hot_minutes = [0, 15, 30, 45, 59]
    minute = _values(draw, 0, 59, hot_minutes)
    hour = _values(draw, 0, 23, hot_hours)
    # Day fields that include the day of the change (local), so that it can matter.
    center = case.transition.at if case.transition else case.after
    local = center.astimezone(case.zone)
    day_kind = draw(st.sampled_from(["star", "star", "star", "dom", "dow", "both", "month"]))
    dom = dow = month = "*"
    if day_kind in ("dom", "both"):
        days = sorted({local.day, (local - timedelta(days=1)).day, draw(st.integers(1, 31))})
        dom = draw(
            st.sampled_from(
                [
                    ",".join(map(str, days)),
                    f"{days[0]}-{days[-1]}",
                    f"*/{draw(st.integers(1, 10))}",
                ]
            )
        )
    if day_kind in ("dow", "both"):
        dows = sorted({(local.weekday() + 1) % 7, local.weekday(), draw(st.integers(0, 7))})
        dow = draw(
            st.sampled_from(
                [
                    ",".join(map(str, dows)),
                    ",".join(
                        DAYS[d % 7].lower() if draw(st.booleans()) else DAYS[d % 7] for d in dows
                    ),
                    f"{dows[0]}-{dows[-1]}",
                    "*/2",
                    "1-5",
                ]
            )
        )
    if day_kind == "month":
        month = draw(
            st.sampled_from(
                [
                    str(local.month),
                    MONTHS[local.month - 1],
                    f"{local.month}-12",
                    "*/3",
                    "JAN-JUN",
                    "jul-dec",
                ]
            )
        )
    fields = [minute, hour, dom, month, dow]
    if seconds:
        fields.insert(0, _values(draw, 0, 59, [0, 30, 59]))
    return " ".join(fields)


@st.composite
def cron_cases(draw: st.DrawFn, seconds: bool = False) -> tuple[Case, str]:
    case = draw(windows(short=seconds))
    return case, draw(cron_expressions(case, seconds))


# -- helpers -------------------------------------------------------------------------------


def runs(timeline: Timeline, after: datetime, until: datetime) -> list[datetime]:
    """The timeline's fire instants in ``(after, until]``, via ``take``."""
    out: list[datetime] = []
    chunk = 64
    cursor = after
    while True:
        batch = timeline.take(cursor, chunk)
        for instant in batch:
            if instant > until:
                return out
            out.append(instant)
        if len(batch) < chunk:
            return out
        cursor = batch[-1]


def reference_for(
    expression: str, case: Case, dst: DstPolicy | None, stats: Counter[str] | None = None
) -> list[datetime]:
    cron = RefCron.parse(expression)
    gap = dst.gap if dst else cron.default_gap
    overlap = dst.overlap if dst else cron.default_overlap
    return ref_runs(
        cron.matches,
        case.zone,
        case.after,
        case.until,
        gap=gap,
        overlap=overlap,
        step=1 if cron.has_seconds else 60,
        stats=stats,
    )


# -- cron against the reference --------------------------------------------------------------


@settings(max_examples=EXAMPLES * 3)
@given(cron_cases(), st.sampled_from(POLICIES))
def test_cron_agrees_with_the_reference_around_transitions(data, dst):
    case, expression = data
    timeline = CronSchedule(expression).timeline(zone=case.zone, dst=dst)
    expected = reference_for(expression, case, dst)
    assert runs(timeline, case.after, case.until) == expected


@settings(max_examples=max(10, EXAMPLES // 2))
@given(cron_cases(seconds=True))
def test_six_field_cron_agrees_with_the_reference_second_by_second(data):
    case, expression = data
    timeline = CronSchedule(expression).timeline(zone=case.zone)
    assert runs(timeline, case.after, case.until) == reference_for(expression, case, None)


def test_generator_hits_gaps_and_overlaps():
    """At least a fair share of generated cases put a matching wall time in a gap/overlap."""
    seen: Counter[str] = Counter()

    @settings(max_examples=120, database=None, derandomize=True)
    @given(cron_cases())
    def probe(data):
        case, expression = data
        stats: Counter[str] = Counter()
        reference_for(expression, case, None, stats)
        seen["cases"] += 1
        seen["gap"] += bool(stats["gap"])
        seen["overlap"] += bool(stats["overlap"])

    probe()
    assert seen["gap"] >= seen["cases"] * 0.10, seen  # about 20-30% in practice
    assert seen["overlap"] >= seen["cases"] * 0.10, seen


# -- invariants ------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES)
@given(cron_cases(), st.sampled_from(POLICIES))
def test_fire_instants_strictly_increase_and_never_repeat(data, dst):
    case, expression = data
    fired = CronSchedule(expression).timeline(zone=case.zone, dst=dst).take(case.after, 200)
    assert all(a < b for a, b in pairwise(fired))
    assert len(set(fired)) == len(fired)
    assert all(x > case.after for x in fired)
    assert all(x.utcoffset() == timedelta(0) for x in fired)


@settings(max_examples=EXAMPLES * 2)
@given(cron_cases(), st.sampled_from(POLICIES), st.data())
def test_runs_split_at_any_instant_are_the_same(data, dst, more):
    """Runs after a (to c) == runs after a up to b, then runs after b (to c)."""
    case, expression = data
    timeline = CronSchedule(expression).timeline(zone=case.zone, dst=dst)
    a, c = case.after, case.until
    span = int((c - a).total_seconds())
    b = min(
        c,
        a
        + timedelta(
            seconds=more.draw(st.integers(0, span)),
            microseconds=more.draw(st.sampled_from([0, 1, 999_999])),
        ),
    )
    whole = runs(timeline, a, c)
    assert runs(timeline, a, b) + runs(timeline, b, c) == whole
    # ``after`` may be given in any zone: in the schedule's own zone (fold kept) too.
    assert runs(timeline, b.astimezone(case.zone), c) == runs(timeline, b, c)
    # One step at a time gives the same as a batch.
    stepped, cursor = [], a
    while (cursor := timeline.next(cursor)) is not None and cursor <= c:
        stepped.append(cursor)
    assert stepped == whole


@settings(max_examples=EXAMPLES)
@given(cron_cases(), st.data())
def test_split_at_fire_instants_and_transition_edges(data, more):
    """Splitting exactly at a fire instant, or a second either side of the change, is exact."""
    case, expression = data
    timeline = CronSchedule(expression).timeline(zone=case.zone)
    whole = runs(timeline, case.after, case.until)
    points = list(whole[:3])
    if case.transition is not None:
        at = case.transition.at
        points += [at - timedelta(seconds=1), at, at + timedelta(seconds=1)]
    for b in points:
        if case.after <= b <= case.until:
            assert runs(timeline, case.after, b) + runs(timeline, b, case.until) == whole


# -- daily, weekly, monthly: fixed-time schedules --------------------------------------------


def _times(draw: st.DrawFn, case: Case) -> list[str]:
    hot = _hot_hours(case.transition)
    hours = st.sampled_from(hot) | st.integers(0, 23)
    minutes = st.sampled_from([0, 0, 15, 30, 45, 59]) | st.integers(0, 59)
    n = draw(st.integers(1, 3))
    return sorted({f"{draw(hours):02d}:{draw(minutes):02d}" for _ in range(n)})


def _hm(times: list[str]) -> set[tuple[int, int]]:
    return {(int(t[:2]), int(t[3:])) for t in times}


@settings(max_examples=EXAMPLES)
@given(windows(), st.data(), st.sampled_from(POLICIES))
def test_daily_agrees_with_the_reference(case, data, dst):
    times = _times(data.draw, case)
    wanted = _hm(times)
    policy = dst or DstPolicy("shift", "first")

    def matches(w: datetime) -> bool:
        return w.second == 0 and (w.hour, w.minute) in wanted

    timeline = DailySchedule(times).timeline(zone=case.zone, dst=dst)
    expected = ref_runs(
        matches, case.zone, case.after, case.until, gap=policy.gap, overlap=policy.overlap
    )
    assert runs(timeline, case.after, case.until) == expected


@settings(max_examples=EXAMPLES)
@given(windows(), st.data())
def test_weekly_agrees_with_the_reference(case, data):
    times = _times(data.draw, case)
    wanted = _hm(times)
    local = case.after.astimezone(case.zone)
    names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    today = (local.weekday() + 1) % 7
    days = sorted({today, (today + 1) % 7, data.draw(st.integers(0, 6))})

    def matches(w: datetime) -> bool:
        return w.second == 0 and (w.hour, w.minute) in wanted and (w.weekday() + 1) % 7 in days

    timeline = WeeklySchedule([names[d] for d in days], times).timeline(zone=case.zone)
    expected = ref_runs(matches, case.zone, case.after, case.until, gap="shift", overlap="first")
    assert runs(timeline, case.after, case.until) == expected


@settings(max_examples=EXAMPLES)
@given(windows(), st.data())
def test_monthly_agrees_with_the_reference(case, data):
    times = _times(data.draw, case)
    wanted = _hm(times)
    local = case.after.astimezone(case.zone)
    days: list[int | str] = sorted(
        {local.day, min(31, local.day + 1), data.draw(st.integers(1, 31))}
    )
    last = data.draw(st.booleans())
    if last:
        days.append("last")

    def matches(w: datetime) -> bool:
        next_day = w + timedelta(days=1)
        on_day = w.day in days or (last and next_day.month != w.month)
        return w.second == 0 and (w.hour, w.minute) in wanted and on_day

    timeline = MonthlySchedule(days, times).timeline(zone=case.zone)
    expected = ref_runs(matches, case.zone, case.after, case.until, gap="shift", overlap="first")
    assert runs(timeline, case.after, case.until) == expected


# -- intervals, one-time, bounds ---------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
periods = st.integers(1, 40 * 86400).map(lambda s: timedelta(seconds=s)) | st.sampled_from(
    [timedelta(hours=24), timedelta(hours=1), timedelta(minutes=5), timedelta(days=7)]
)


@settings(max_examples=EXAMPLES * 2)
@given(instants, periods, st.integers(-5, 10_000), st.integers(0, 10**9))
def test_interval_is_anchored_arithmetic_and_never_drifts(anchor, period, k, late_us):
    """next(after) is the first anchor + n*period > after, however late ``after`` is."""
    timeline = IntervalSchedule(period).timeline(anchor=anchor)
    after = (
        anchor
        + period * k
        + timedelta(microseconds=late_us % (period // timedelta(microseconds=1)))
    )
    got = timeline.next(after)
    assert got is not None
    assert got > after
    n = (got - anchor) / period
    assert n == int(n) and n >= 0
    assert got - period <= after or got == anchor


@settings(max_examples=EXAMPLES)
@given(st.sampled_from(sorted(ZONE_YEARS)), st.data())
def test_24h_interval_stays_24h_of_elapsed_time_across_dst(zone_name, data):
    trs = transitions(zone_name, ZONE_YEARS[zone_name])
    center = trs[0].at if trs else datetime(2026, 3, 8, tzinfo=UTC)
    anchor = center - timedelta(seconds=data.draw(st.integers(0, 3 * 86400)))
    zone = ZoneInfo(zone_name)
    timeline = IntervalSchedule("24h").timeline(zone=zone, anchor=anchor)
    fired = timeline.take(anchor - timedelta(seconds=1), 8)
    assert fired[0] == anchor
    assert all(b - a == timedelta(hours=24) for a, b in pairwise(fired))
    # Elapsed time, not wall time: the wall time of day moves when the offset changes.
    assert all((b.timestamp() - a.timestamp()) == 86400 for a, b in pairwise(fired))


def test_interval_anchored_in_a_zone_still_counts_elapsed_time():
    """An anchor given as local time in a DST zone must not turn 24h into a wall-clock day."""
    zone = ZoneInfo("America/New_York")
    anchor = datetime(2026, 3, 7, 12, 0, tzinfo=zone)  # the day before spring forward
    fired = IntervalSchedule("24h").timeline(anchor=anchor).take(anchor, 2)
    assert [f.timestamp() - anchor.timestamp() for f in fired] == [86400, 2 * 86400]


@settings(max_examples=EXAMPLES)
@given(instants, instants)
def test_one_time_fires_once(at, after):
    timeline = OneTimeSchedule(at).timeline()
    fired = timeline.take(after, 5)
    assert fired == ([at] if at > after else [])
    assert timeline.next(at) is None


@settings(max_examples=EXAMPLES)
@given(cron_cases(), st.data())
def test_start_and_end_bound_occurrences_inclusively(data, more):
    case, expression = data
    schedule = CronSchedule(expression)
    free = runs(schedule.timeline(zone=case.zone), case.after, case.until)
    if free and more.draw(st.booleans()):
        start = more.draw(st.sampled_from(free))  # exactly on an occurrence
        end = more.draw(st.sampled_from(free))
    else:
        span = int((case.until - case.after).total_seconds())
        start = case.after + timedelta(seconds=more.draw(st.integers(0, span)))
        end = case.after + timedelta(seconds=more.draw(st.integers(0, span)))
    bounded = schedule.timeline(zone=case.zone, start=start, end=end)
    assert runs(bounded, case.after, case.until) == [x for x in free if start <= x <= end]


@pytest.mark.parametrize("at_start", [True, False])
def test_interval_with_start_is_anchored_at_start_and_bounded(at_start):
    start = datetime(2026, 3, 7, 10, 0, 7, tzinfo=UTC)
    end = start + timedelta(hours=5)
    timeline = IntervalSchedule("1h").timeline(start=start, end=end)
    after = start - timedelta(days=1) if at_start else start + timedelta(minutes=90)
    fired = timeline.take(after, 100)
    first = start if at_start else start + timedelta(hours=2)
    assert fired == [first + timedelta(hours=h) for h in range((end - first).seconds // 3600 + 1)]
    assert fired[-1] == end  # end is inclusive


def test_interval_is_anchored_at_start_date_rather_than_first_seen():
    """SPEC 3: anchored at start_date, else when the schedule was first seen."""
    first_seen = datetime(2026, 3, 1, 10, 13, 22, tzinfo=UTC)
    start = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
    timeline = IntervalSchedule("1h").timeline(anchor=first_seen, start=start)
    assert timeline.take(datetime(2026, 3, 1, tzinfo=UTC), 2) == [start, start + timedelta(hours=1)]
    # Without a start_date the first-seen anchor rules.
    timeline = IntervalSchedule("1h").timeline(anchor=first_seen)
    assert timeline.next(first_seen) == first_seen + timedelta(hours=1)


def test_start_given_as_local_time_at_the_jump_keeps_the_first_occurrences():
    """A start of 03:00 EDT (the instant of the jump) must not lose 03:00..03:59 EDT."""
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 8, 3, 0, tzinfo=zone)  # == 07:00Z
    timeline = CronSchedule("*/15 * * * *").timeline(zone=zone, start=start)
    assert timeline.take(datetime(2026, 3, 8, tzinfo=UTC), 2) == [
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 15, tzinfo=UTC),
    ]


@pytest.mark.parametrize("zone_name", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_the_end_of_the_calendar_means_no_more_runs_not_an_error(zone_name):
    after = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for expression in ("59 23 31 12 *", "* * * * *", "0 0 1 1 *", "* * * * * *"):
        assert CronSchedule(expression).timeline(zone=ZoneInfo(zone_name)).next(after) is None


@given(
    zone_name=st.sampled_from(sorted(ZONE_YEARS)),
    instant=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
)
@settings(max_examples=EXAMPLES * 5)
def test_an_offset_period_holds_the_zones_offset_from_its_start_to_its_end(
    zone_name: str, instant: datetime
) -> None:
    """The fast path's ground truth: ``period`` agrees with the zone itself."""
    from unoschedule.wallclock import ZoneOffsets

    zone = ZoneInfo(zone_name) if zone_name != "UTC" else UTC
    offset, start, end, before = ZoneOffsets(zone).period(instant)

    def offset_at(naive_utc: datetime) -> timedelta:
        found = naive_utc.replace(tzinfo=UTC).astimezone(zone).utcoffset()
        assert found is not None
        return found

    assert start <= instant < end
    assert offset == offset_at(instant) == offset_at(start) == offset_at(end - timedelta(seconds=1))
    if before != offset:  # a real change at ``start``: the second before had the old offset
        assert offset_at(start - timedelta(seconds=1)) == before
    else:  # no change within a year before ``instant``
        assert offset_at(start) == offset

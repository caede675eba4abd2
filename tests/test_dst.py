"""Daylight-saving time, case by case (SPEC section 3, cronie's rules, and ``dst:``).

The changeovers used below, as found by scanning the zones (``reference.transitions``;
``test_the_changeovers_listed_here_are_the_real_ones`` checks every line):

    America/New_York    2026-03-08 07:00Z  02:00 -05:00 -> 03:00 -04:00  (gap 02:00-03:00)
    America/New_York    2026-11-01 06:00Z  02:00 -04:00 -> 01:00 -05:00  (01:00-02:00 twice)
    Europe/Berlin       2026-10-25 01:00Z  03:00 +02:00 -> 02:00 +01:00  (02:00-03:00 twice)
    Europe/Dublin       2026-03-29 01:00Z  01:00 +00:00 -> 02:00 +01:00  (negative DST: winter
    Europe/Dublin       2026-10-25 01:00Z  02:00 +01:00 -> 01:00 +00:00   is the "DST" period)
    Australia/Lord_Howe 2026-04-04 15:00Z  02:00 +11:00 -> 01:30 +10:30  (01:30-02:00 twice)
    Australia/Lord_Howe 2026-10-03 15:30Z  02:00 +10:30 -> 02:30 +11:00  (gap 02:00-02:30)
    America/Havana      2026-03-08 05:00Z  00:00 -05:00 -> 01:00 -04:00  (midnight is skipped)
    America/Havana      2026-11-01 05:00Z  01:00 -04:00 -> 00:00 -05:00  (00:00-01:00 twice)
    America/Sao_Paulo   2018-02-18 02:00Z  00:00 -02:00 -> 23:00 -03:00  (23:00-24:00 twice)
    America/Sao_Paulo   2018-11-04 03:00Z  00:00 -03:00 -> 01:00 -02:00  (midnight is skipped)
    Pacific/Apia        2011-12-30 10:00Z  12-30 00:00 -10:00 -> 12-31 00:00 +14:00
                                           (the whole of 2011-12-30 is skipped)
    Antarctica/Troll    2026-03-29 01:00Z  01:00 +00:00 -> 03:00 +02:00  (two-hour gap)
    Pacific/Chatham     2026-09-26 14:00Z  02:45 +12:45 -> 03:45 +13:45  (gap 02:45-03:45)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from reference import transitions

from unoschedule.schedules import (
    CronSchedule,
    DailySchedule,
    MonthlySchedule,
    ScheduleSpec,
    WeeklySchedule,
)
from unoschedule.wallclock import DstPolicy, zone_offsets

NEW_YORK = ZoneInfo("America/New_York")


def z(text: str) -> datetime:
    """``"2026-03-08T07:00"`` (or with seconds) as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(
    schedule: ScheduleSpec | str, zone: str, after: str, count: int, dst: DstPolicy | None = None
) -> list[datetime]:
    if isinstance(schedule, str):
        schedule = CronSchedule(schedule)
    return schedule.timeline(zone=ZoneInfo(zone), dst=dst).take(z(after), count)


CHANGEOVERS = [
    ("America/New_York", "2026-03-08T07:00", -5 * 60, -4 * 60),
    ("America/New_York", "2026-11-01T06:00", -4 * 60, -5 * 60),
    ("Europe/Berlin", "2026-10-25T01:00", 120, 60),
    ("Europe/Dublin", "2026-03-29T01:00", 0, 60),
    ("Europe/Dublin", "2026-10-25T01:00", 60, 0),
    ("Australia/Lord_Howe", "2026-04-04T15:00", 11 * 60, 10 * 60 + 30),
    ("Australia/Lord_Howe", "2026-10-03T15:30", 10 * 60 + 30, 11 * 60),
    ("America/Havana", "2026-03-08T05:00", -5 * 60, -4 * 60),
    ("America/Havana", "2026-11-01T05:00", -4 * 60, -5 * 60),
    ("America/Sao_Paulo", "2018-02-18T02:00", -2 * 60, -3 * 60),
    ("America/Sao_Paulo", "2018-11-04T03:00", -3 * 60, -2 * 60),
    ("Pacific/Apia", "2011-12-30T10:00", -10 * 60, 14 * 60),
    ("Antarctica/Troll", "2026-03-29T01:00", 0, 120),
    ("Pacific/Chatham", "2026-09-26T14:00", 12 * 60 + 45, 13 * 60 + 45),
]


@pytest.mark.parametrize(("zone", "at", "before", "after"), CHANGEOVERS)
def test_the_changeovers_listed_here_are_the_real_ones(zone, at, before, after):
    found = transitions(zone, (z(at).year,))
    assert (z(at), before * 60, after * 60) in [(t.at, t.before, t.after) for t in found]


@pytest.mark.parametrize(
    "zone",
    [
        "America/New_York",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/Sao_Paulo",
        "Asia/Tehran",
        "Africa/Casablanca",
        "Europe/Dublin",
        "America/Havana",
        "Pacific/Apia",
        "Antarctica/Troll",
        "Asia/Gaza",
        "America/Santiago",
        "Asia/Kolkata",
    ],
)
def test_the_fast_path_finds_exactly_the_changeovers_an_hourly_scan_finds(zone):
    """``ZoneOffsets`` samples every 6 hours; it must see every change all the same."""
    offsets = zone_offsets(ZoneInfo(zone))
    for year in range(2010, 2028):
        ours = [
            (when.replace(tzinfo=UTC), old, new) for when, old, new in offsets.transitions(year)
        ]
        theirs = [
            (t.at, timedelta(seconds=t.before), timedelta(seconds=t.after))
            for t in transitions(zone, (year,))
        ]
        assert ours == theirs, (zone, year)


def test_an_offset_period_knows_its_bounds_and_the_offset_before_it():
    offsets = zone_offsets(NEW_YORK)
    offset, start, end, before = offsets.period(datetime(2026, 7, 1))
    assert (offset, before) == (timedelta(hours=-4), timedelta(hours=-5))
    assert (start, end) == (datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 6))
    offset, start, end, before = offsets.period(datetime(2026, 11, 1, 6))  # at the change
    assert (offset, before) == (timedelta(hours=-5), timedelta(hours=-4))
    assert start == datetime(2026, 11, 1, 6)
    kolkata = zone_offsets(ZoneInfo("Asia/Kolkata")).period(datetime(2026, 7, 1))
    assert kolkata[0] == kolkata[3] == timedelta(hours=5, minutes=30)


# -- fixed-time jobs in a gap ------------------------------------------------------------------


def test_a_fixed_job_in_the_skipped_hour_fires_once_at_the_jump():
    assert fires("30 2 * * *", "America/New_York", "2026-03-08T00:00", 2) == [
        z("2026-03-08T07:00"),  # 02:30 EST does not exist: fires at the jump (03:00 EDT)
        z("2026-03-09T06:30"),  # 02:30 EDT
    ]


def test_two_fixed_times_in_one_gap_fire_once_together():
    assert fires("0,30 2 * * *", "America/New_York", "2026-03-08T00:00", 3) == [
        z("2026-03-08T07:00"),
        z("2026-03-09T06:00"),
        z("2026-03-09T06:30"),
    ]


def test_gap_times_and_the_time_at_the_jump_fire_once_together():
    daily = DailySchedule(["02:15", "02:45", "03:00"])
    assert fires(daily, "America/New_York", "2026-03-08T00:00", 4) == [
        z("2026-03-08T07:00"),
        z("2026-03-09T06:15"),
        z("2026-03-09T06:45"),
        z("2026-03-09T07:00"),
    ]


def test_asking_again_from_the_jump_instant_does_not_fire_the_gap_twice():
    timeline = CronSchedule("0,30 2 * * *").timeline(zone=NEW_YORK)
    assert timeline.next(z("2026-03-08T06:59:59")) == z("2026-03-08T07:00")
    assert timeline.next(z("2026-03-08T07:00")) == z("2026-03-09T06:00")


def test_weekly_and_monthly_schedules_in_the_gap_fire_at_the_jump():
    weekly = WeeklySchedule(["sunday"], "02:30")  # 2026-03-08 is a Sunday
    monthly = MonthlySchedule([8], "02:30")
    assert fires(weekly, "America/New_York", "2026-03-01T12:00", 2) == [
        z("2026-03-08T07:00"),
        z("2026-03-15T06:30"),
    ]
    assert fires(monthly, "America/New_York", "2026-03-01T12:00", 2) == [
        z("2026-03-08T07:00"),
        z("2026-04-08T06:30"),
    ]


def test_a_two_hour_gap_fires_both_skipped_hours_once_at_the_jump():
    assert fires("0 1,2 * * *", "Antarctica/Troll", "2026-03-28T12:00", 3) == [
        z("2026-03-29T01:00"),  # 01:00 and 02:00 +00 never happen; 03:00 +02 is 01:00Z
        z("2026-03-29T23:00"),  # 01:00 +02 on the 30th
        z("2026-03-30T00:00"),
    ]


def test_a_gap_at_a_quarter_to_the_hour_in_chatham():
    assert fires("0 3 * * *", "Pacific/Chatham", "2026-09-26T12:00", 2) == [
        z("2026-09-26T14:00"),  # 03:00 +12:45 falls in the gap 02:45-03:45
        z("2026-09-27T13:15"),  # 03:00 +13:45
    ]


# -- fixed-time jobs in an overlap ---------------------------------------------------------


def test_a_fixed_job_in_the_repeated_hour_fires_once_on_the_first_pass():
    assert fires("30 1 * * *", "America/New_York", "2026-11-01T00:00", 2) == [
        z("2026-11-01T05:30"),  # 01:30 EDT; not again at 01:30 EST (06:30Z)
        z("2026-11-02T06:30"),
    ]


def test_a_fixed_job_asked_about_from_inside_the_second_pass_does_not_fire_again():
    timeline = CronSchedule("30 1 * * *").timeline(zone=NEW_YORK)
    second_pass = datetime(2026, 11, 1, 1, 10, tzinfo=NEW_YORK, fold=1)  # 06:10Z
    assert timeline.next(second_pass) == z("2026-11-02T06:30")
    assert timeline.next(z("2026-11-01T06:10")) == z("2026-11-02T06:30")


def test_a_fixed_job_at_two_in_berlin_fires_on_summer_time_when_the_clock_falls_back():
    assert fires("0 2 * * *", "Europe/Berlin", "2026-10-24T12:00", 2) == [
        z("2026-10-25T00:00"),
        z("2026-10-26T01:00"),
    ]


# -- wildcard jobs ----------------------------------------------------------------------


def test_a_wildcard_job_fires_in_both_passes_of_the_repeated_hour():
    assert fires("*/30 * * * *", "America/New_York", "2026-11-01T04:45", 5) == [
        z("2026-11-01T05:00"),
        z("2026-11-01T05:30"),  # 01:00, 01:30 EDT
        z("2026-11-01T06:00"),
        z("2026-11-01T06:30"),  # 01:00, 01:30 EST
        z("2026-11-01T07:00"),  # 02:00 EST
    ]


def test_a_wildcard_job_never_fires_in_the_gap():
    assert fires("*/30 * * * *", "America/New_York", "2026-03-08T06:15", 3) == [
        z("2026-03-08T06:30"),
        z("2026-03-08T07:00"),
        z("2026-03-08T07:30"),
    ]
    # every minute of 02:xx: nothing on the day the hour is skipped
    assert fires("* 2 * * *", "America/New_York", "2026-03-08T00:00", 1) == [z("2026-03-09T06:00")]


def test_a_wildcard_minute_in_a_fixed_hour_fires_both_passes():
    fired = fires("* 1 * * *", "America/New_York", "2026-11-01T00:00", 121)
    assert len([f for f in fired if f.date() == z("2026-11-01T00:00").date()]) == 120
    assert fired[-1] == z("2026-11-02T06:00")


def test_a_wildcard_job_in_lord_howe_fires_both_half_hour_passes():
    assert fires("*/15 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:00", 6) == [
        z("2026-04-04T14:15"),
        z("2026-04-04T14:30"),
        z("2026-04-04T14:45"),  # +11:00
        z("2026-04-04T15:00"),
        z("2026-04-04T15:15"),  # 01:30 and 01:45 again, +10:30
        z("2026-04-05T14:30"),  # 01:00 +10:30 the next day
    ]


# -- dst: overrides --------------------------------------------------------------------------


def test_gap_skip_drops_a_fixed_time_that_does_not_exist():
    assert fires(
        "30 2 * * *", "America/New_York", "2026-03-08T00:00", 1, DstPolicy(gap="skip")
    ) == [z("2026-03-09T06:30")]


def test_overlap_both_fires_a_fixed_time_on_both_passes():
    assert fires(
        "30 1 * * *", "America/New_York", "2026-11-01T00:00", 3, DstPolicy(overlap="both")
    ) == [z("2026-11-01T05:30"), z("2026-11-01T06:30"), z("2026-11-02T06:30")]


def test_gap_shift_makes_a_wildcard_job_fire_once_at_the_jump():
    assert fires(
        "*/20 2 * * *",
        "America/New_York",
        "2026-03-08T00:00",
        2,
        DstPolicy(gap="shift", overlap="both"),
    ) == [z("2026-03-08T07:00"), z("2026-03-09T06:00")]


def test_overlap_first_makes_a_wildcard_job_fire_on_the_first_pass_only():
    assert fires(
        "*/30 1 * * *",
        "America/New_York",
        "2026-11-01T00:00",
        3,
        DstPolicy(gap="skip", overlap="first"),
    ) == [z("2026-11-01T05:00"), z("2026-11-01T05:30"), z("2026-11-02T06:00")]


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="gap"):
        DstPolicy(gap="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap"):
        DstPolicy(overlap="twice")  # type: ignore[arg-type]


# -- Lord Howe: thirty-minute shifts ---------------------------------------------------------


def test_lord_howe_fixed_job_in_the_half_hour_gap_fires_at_the_jump():
    assert fires("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", 2) == [
        z("2026-10-03T15:30"),  # 02:15 +10:30 is skipped; the clock shows 02:30 +11:00
        z("2026-10-04T15:15"),
    ]
    assert fires("45 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", 1) == [
        z("2026-10-03T15:45")
    ]  # 02:45 exists (+11:00)


def test_lord_howe_fixed_job_in_the_repeated_half_hour_fires_once():
    assert fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00", 2) == [
        z("2026-04-04T14:45"),
        z("2026-04-05T15:15"),
    ]


# -- shifts at midnight ------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["0 0 * * *", "@daily", DailySchedule("00:00")])
def test_a_daily_midnight_job_fires_once_at_the_jump_when_havana_skips_midnight(schedule):
    assert fires(schedule, "America/Havana", "2026-03-07T12:00", 2) == [
        z("2026-03-08T05:00"),  # 00:00 -05 does not exist; the clock shows 01:00 -04
        z("2026-03-09T04:00"),
    ]


def test_a_daily_midnight_job_fires_once_when_havana_repeats_the_first_hour():
    assert fires("0 0 * * *", "America/Havana", "2026-10-31T12:00", 2) == [
        z("2026-11-01T04:00"),
        z("2026-11-02T05:00"),
    ]


def test_a_daily_midnight_job_fires_once_at_the_jump_in_sao_paulo_2018():
    assert fires("0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00", 2) == [
        z("2018-11-04T03:00"),
        z("2018-11-05T02:00"),
    ]


def test_a_late_evening_job_fires_once_when_sao_paulo_repeats_23h_in_2018():
    assert fires("0 23 * * *", "America/Sao_Paulo", "2018-02-17T12:00", 2) == [
        z("2018-02-18T01:00"),  # 23:00 -02, not again at 23:00 -03 (02:00Z)
        z("2018-02-19T02:00"),
    ]


# -- negative DST ----------------------------------------------------------------------------


def test_dublin_negative_dst_gap_and_overlap_follow_the_offsets():
    assert fires("30 1 * * *", "Europe/Dublin", "2026-03-28T12:00", 2) == [
        z("2026-03-29T01:00"),
        z("2026-03-30T00:30"),
    ]
    assert fires("30 1 * * *", "Europe/Dublin", "2026-10-24T12:00", 2) == [
        z("2026-10-25T00:30"),
        z("2026-10-26T01:30"),
    ]
    assert fires("*/30 1 * * *", "Europe/Dublin", "2026-10-25T00:00", 4) == [
        z("2026-10-25T00:30"),
        z("2026-10-25T01:00"),
        z("2026-10-25T01:30"),
        z("2026-10-26T01:00"),
    ]


# -- Apia skips a whole day ----------------------------------------------------------------------


def test_apia_daily_nine_oclock_job_fires_once_at_the_jump_on_the_skipped_day():
    assert fires(DailySchedule("09:00"), "Pacific/Apia", "2011-12-29T00:00", 3) == [
        z("2011-12-29T19:00"),  # 12-29 09:00 -10:00
        z("2011-12-30T10:00"),  # 12-30 never happens: at the jump (12-31 00:00 +14:00)
        z("2011-12-30T19:00"),  # 12-31 09:00 +14:00
    ]


def test_apia_hourly_wildcard_job_keeps_firing_every_real_hour_over_the_skipped_day():
    fired = fires("0 * * * *", "Pacific/Apia", "2011-12-30T08:30", 3)
    assert fired == [z("2011-12-30T09:00"), z("2011-12-30T10:00"), z("2011-12-30T11:00")]


def test_apia_job_on_the_30th_fires_once_at_the_jump():
    assert fires("0 12 30 12 *", "Pacific/Apia", "2011-12-01T00:00", 2) == [
        z("2011-12-30T10:00"),
        z("2012-12-29T22:00"),
    ]  # +14:00 (DST) in 2012


# -- seconds --------------------------------------------------------------------------------


def test_a_fixed_six_field_time_in_the_gap_fires_at_the_jump():
    assert fires("30 30 2 * * *", "America/New_York", "2026-03-08T00:00", 2) == [
        z("2026-03-08T07:00:00"),
        z("2026-03-09T06:30:30"),
    ]


def test_a_every_20_seconds_job_crosses_the_gap_without_a_pause_in_real_time():
    assert fires("*/20 * * * * *", "America/New_York", "2026-03-08T06:59:30", 4) == [
        z("2026-03-08T06:59:40"),
        z("2026-03-08T07:00:00"),
        z("2026-03-08T07:00:20"),
        z("2026-03-08T07:00:40"),
    ]


def test_a_seconds_job_in_the_repeated_hour_fires_in_both_passes():
    fired = fires("0 */30 1 * * *", "America/New_York", "2026-11-01T00:00", 5)
    assert fired == [
        z("2026-11-01T05:00"),
        z("2026-11-01T05:30"),
        z("2026-11-01T06:00"),
        z("2026-11-01T06:30"),
        z("2026-11-02T06:00"),
    ]


def test_microseconds_in_after_do_not_lose_or_repeat_a_fire():
    timeline = CronSchedule("30 2 * * *").timeline(zone=NEW_YORK)
    jump = z("2026-03-08T07:00")
    assert timeline.next(jump - timedelta(microseconds=1)) == jump
    assert timeline.next(jump + timedelta(microseconds=1)) == z("2026-03-09T06:30")


# -- cost ---------------------------------------------------------------------------------


class CountingZone(tzinfo):
    """A zone that counts how often it is consulted (work done per fire instant)."""

    def __init__(self, name: str):
        self.zone = ZoneInfo(name)
        self.calls = 0

    def utcoffset(self, dt):
        self.calls += 1
        return self.zone.utcoffset(dt.replace(tzinfo=self.zone))

    def dst(self, dt):
        return self.zone.dst(dt.replace(tzinfo=self.zone))

    def tzname(self, dt):
        return self.zone.tzname(dt.replace(tzinfo=self.zone))

    def fromutc(self, dt):
        return self.zone.fromutc(dt.replace(tzinfo=self.zone)).replace(tzinfo=self)


@pytest.mark.parametrize("policy", [None, DstPolicy("skip", "first"), DstPolicy("shift", "both")])
def test_an_every_second_job_through_the_repeated_hour_costs_little_per_fire(policy):
    """Each next() inside an overlap must not rescan the whole repeated hour."""
    zone = CountingZone("America/New_York")
    timeline = CronSchedule("* * * * * *").timeline(zone=zone, dst=policy)
    fired = timeline.take(z("2026-11-01T04:30"), 3 * 3600)
    both = policy is None or policy.overlap == "both"
    assert len(fired) == 3 * 3600
    assert fired[-1] == (z("2026-11-01T07:30") if both else z("2026-11-01T08:30"))
    assert zone.calls / len(fired) < 30


# -- naive instants in a schedule's zone ------------------------------------------------------


def _next_of(text: str, after: str) -> list[datetime]:
    from unoschedule.config import parse_config

    timeline = parse_config(text).schedules["job"].timeline()
    found, at = [], z(after)
    for _ in range(2):
        nxt = timeline.next(at)
        if nxt is None:
            break
        found.append(nxt)
        at = nxt
    return found


def test_a_one_time_run_at_a_skipped_wall_time_fires_at_the_jump():
    text = (
        "schedules:\n  job:\n    schedule: {at: '2026-03-08T02:30'}\n"
        "    timezone: America/New_York\n    command: 'true'\n"
    )
    assert _next_of(text, "2026-03-08T00:00") == [z("2026-03-08T07:00")]


def test_a_start_date_at_a_skipped_wall_time_starts_at_the_jump():
    text = (
        "schedules:\n  job:\n    schedule: {every: 1h}\n    start_date: '2026-03-08T02:30'\n"
        "    timezone: America/New_York\n    command: 'true'\n"
    )
    assert _next_of(text, "2026-03-08T00:00") == [z("2026-03-08T07:00"), z("2026-03-08T08:00")]


def test_a_naive_wall_time_of_the_repeated_hour_is_its_first_pass():
    text = (
        "schedules:\n  job:\n    schedule: {at: '2026-11-01T01:30'}\n"
        "    timezone: America/New_York\n    command: 'true'\n"
    )
    assert _next_of(text, "2026-11-01T00:00") == [z("2026-11-01T05:30")]

"""Wall-clock matching and its mapping to real instants, with the DST rules of SPEC 3.

Every calendar schedule (cron, daily, weekly, monthly) is a ``LocalMatcher``: a set of
months, a rule that picks days in a month, and a set of times of day, all in local wall
time. ``next_instant`` walks the matching wall times in order and maps each to UTC with
the zone, applying a ``DstPolicy`` where a wall time does not exist (a gap) or exists
twice (an overlap). Only the zone's public ``utcoffset`` with ``fold`` is consulted, so
any ``tzinfo`` that implements PEP 495 works, and nothing here reads the clock.

Why not let the cron library do this: croniter fires fixed-time jobs twice in a
repeated hour and fires wildcard jobs inside a skipped hour (6 of 28 of our DST cases);
cronie's behaviour, which operators expect, is encoded here once, for every schedule type.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, timedelta, tzinfo
from typing import Literal, Protocol

__all__ = [
    "CRONIE_FIXED",
    "CRONIE_WILDCARD",
    "SEARCH_YEARS",
    "DayRule",
    "DstPolicy",
    "LocalMatcher",
    "TimeGrid",
    "TimeList",
    "TimesOfDay",
    "first_instant",
    "next_instant",
    "occurrence_wall_time",
    "wall_instants",
]

#: How far ahead a matcher looks before it decides that an expression never matches.
#: The Gregorian calendar repeats every 400 years, so nothing can first match later.
SEARCH_YEARS = 401

_ONE_SECOND = timedelta(seconds=1)

GapPolicy = Literal["shift", "skip"]
OverlapPolicy = Literal["first", "both"]


@dataclass(frozen=True, slots=True)
class DstPolicy:
    """What a wall time that falls in a DST gap or overlap does.

    ``gap="shift"`` fires at the instant the clock jumps (all such wall times of one gap
    fire once, together); ``gap="skip"`` never fires them. ``overlap="first"`` fires on
    the first pass of a repeated wall time only; ``overlap="both"`` fires on both.

    A field left out (None) is the schedule's default, cronie's rule for its kind
    (``ScheduleSpec.dst_policy``), as a key left out of ``dst:`` in the file is:
    ``DstPolicy(overlap="first")`` on ``15 * * * *`` still skips the gap.
    """

    gap: GapPolicy | None = None
    overlap: OverlapPolicy | None = None

    def __post_init__(self) -> None:
        if self.gap not in ("shift", "skip", None):
            raise ValueError(f"dst gap policy must be 'shift' or 'skip', not {self.gap!r}")
        if self.overlap not in ("first", "both", None):
            raise ValueError(f"dst overlap policy must be 'first' or 'both', not {self.overlap!r}")

    def over(self, default: DstPolicy) -> DstPolicy:
        """This policy, with ``default``'s value for each field it leaves out."""
        if self.gap is not None and self.overlap is not None:
            return self
        return DstPolicy(self.gap or default.gap, self.overlap or default.overlap)

    def to_config(self) -> dict[str, str]:
        """The fields it sets, as ``dst:`` in the file writes them."""
        return {
            key: value for key, value in (("gap", self.gap), ("overlap", self.overlap)) if value
        }


#: cronie's rule for jobs whose minute and hour fields are fixed.
CRONIE_FIXED = DstPolicy(gap="shift", overlap="first")
#: cronie's rule for jobs whose minute or hour field starts with ``*``.
CRONIE_WILDCARD = DstPolicy(gap="skip", overlap="both")


class TimesOfDay(Protocol):
    """A set of wall times within one day, as seconds since midnight."""

    def first_at_or_after(self, second: int) -> int | None:
        """The smallest member ``>= second``, or None."""
        ...  # pragma: no cover

    def __len__(self) -> int: ...  # pragma: no cover


class TimeGrid:
    """Every combination of some hours, minutes and seconds (what a cron expression has)."""

    __slots__ = ("hours", "minutes", "seconds")

    def __init__(self, hours: Iterable[int], minutes: Iterable[int], seconds: Iterable[int]):
        self.hours = tuple(sorted(set(hours)))
        self.minutes = tuple(sorted(set(minutes)))
        self.seconds = tuple(sorted(set(seconds)))

    def __len__(self) -> int:
        return len(self.hours) * len(self.minutes) * len(self.seconds)

    def first_at_or_after(self, second: int) -> int | None:
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        h, rest = divmod(second, 3600)
        m, s = divmod(rest, 60)
        i = bisect_left(hours, h)
        if i == len(hours):
            return None
        if hours[i] == h:
            j = bisect_left(minutes, m)
            if j < len(minutes):
                if minutes[j] == m:
                    k = bisect_left(seconds, s)
                    if k < len(seconds):
                        return h * 3600 + m * 60 + seconds[k]
                    j += 1
                if j < len(minutes):
                    return h * 3600 + minutes[j] * 60 + seconds[0]
            i += 1
            if i == len(hours):
                return None
        return hours[i] * 3600 + minutes[0] * 60 + seconds[0]


class TimeList:
    """An explicit list of wall times (what daily, weekly and monthly schedules have)."""

    __slots__ = ("times",)

    def __init__(self, times: Iterable[int]):
        self.times = tuple(sorted(set(times)))

    def __len__(self) -> int:
        return len(self.times)

    def first_at_or_after(self, second: int) -> int | None:
        i = bisect_left(self.times, second)
        return self.times[i] if i < len(self.times) else None


class DayRule(Protocol):
    """Picks the matching days of one month; implementations cache per (year, month)."""

    def days(self, year: int, month: int) -> Sequence[int]:
        """The matching days of ``year``-``month``, ascending."""
        ...  # pragma: no cover


class CachedDayRule:
    """A ``DayRule`` from a predicate over one month, memoised per (year, month).

    ``pick(year, month, ndays, first_dow)`` returns the matching days, where
    ``first_dow`` is the cron day of week (0 = Sunday) of the 1st.
    """

    __slots__ = ("_cache", "_pick")

    def __init__(self, pick: Callable[[int, int, int, int], Sequence[int]]):
        self._pick = pick
        self._cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def days(self, year: int, month: int) -> Sequence[int]:
        key = (year, month)
        found = self._cache.get(key)
        if found is None:
            first = date(year, month, 1)  # what calendar.monthrange says, without its import
            ndays = 31 if month == 12 else (date(year, month + 1, 1) - first).days
            first_weekday = first.weekday()
            found = tuple(self._pick(year, month, ndays, (first_weekday + 1) % 7))
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = found
        return found


class LocalMatcher:
    """Months x day rule x times of day, evaluated in naive local wall time.

    ``period_days`` says that the matching wall times repeat every that many days (1
    when the day rule picks every day, 7 when it picks days of the week only), so that
    a long scan can step over the repeats (``effective``); None when the days depend on
    the month or the year (a day of the month, ``L``, ``#``).
    """

    __slots__ = ("days", "months", "period_days", "times")

    def __init__(
        self,
        months: Iterable[int],
        days: DayRule,
        times: TimesOfDay,
        *,
        period_days: int | None = None,
    ):
        self.months = frozenset(months)
        self.days = days
        self.times = times
        self.period_days = period_days if len(self.months) == 12 else None

    def next_local(self, start: datetime) -> datetime | None:
        """The first matching wall time at or after naive ``start`` (whole seconds)."""
        year, month, day = start.year, start.month, start.day
        second = start.hour * 3600 + start.minute * 60 + start.second
        if start.microsecond:
            second += 1
        months, times = self.months, self.times
        limit = year + SEARCH_YEARS
        while year < limit:
            if month in months:
                days = self.days.days(year, month)
                i = bisect_left(days, day)
                while i < len(days):
                    d = days[i]
                    t = times.first_at_or_after(second if d == day else 0)
                    if t is not None:
                        return datetime(year, month, d, t // 3600, t // 60 % 60, t % 60)
                    i += 1
            month += 1
            day, second = 1, 0
            if month > 12:
                month = 1
                year += 1
                if year > 9999:
                    return None
        return None


#: Offsets are sampled this far apart to find a zone's transitions. tzdata (1900 on)
#: never puts two transitions less than 4 days apart; a day is 4 times finer (and a
#: year's scan, which a shell command may pay, is 365 look-ups, not 1,460).
_SAMPLE_SECONDS = 24 * 3600
_SAMPLE = timedelta(seconds=_SAMPLE_SECONDS)
_EPOCH = datetime(1970, 1, 1)


class ZoneOffsets:
    """The UTC-offset periods of one zone, found year by year from ``utcoffset`` alone.

    Why: mapping a wall time to an instant with ``fold`` costs several ``tzinfo`` calls,
    and almost every wall time is far from any transition. Knowing the period an instant
    lies in (its offset, when it began, the offset before, when it ends) lets
    ``next_instant`` map such wall times with one subtraction; only near transitions
    does it take the careful path.
    """

    __slots__ = ("_last", "_years", "zone")

    def __init__(self, zone: tzinfo):
        self.zone = zone
        self._years: dict[int, tuple[tuple[datetime, timedelta, timedelta], ...]] = {}
        self._last: tuple[timedelta, datetime, datetime, timedelta] | None = None

    def _offset_at(self, seconds: int) -> timedelta:
        offset = datetime.fromtimestamp(seconds, self.zone).utcoffset()
        assert offset is not None
        return offset

    def transitions(self, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
        """(instant as naive UTC, offset before, offset after) of each change in ``year``."""
        found = self._years.get(year)
        if found is None:
            found = self._years[year] = tuple(self._scan(year))
        return found

    def _scan(self, year: int) -> Iterable[tuple[datetime, timedelta, timedelta]]:
        # Readings of the UTC clock, labelled with the zone as ``fromutc`` takes them
        # (what ``fromtimestamp`` does, without making each one from a number): a
        # question that looks a century ahead (a schedule blacked out at every
        # occurrence, ``effective``) scans a century.
        zone = self.zone
        fromutc = zone.fromutc
        first = datetime(year, 1, 1, tzinfo=zone) - _ONE_SECOND
        last = datetime(year + 1, 1, 1, tzinfo=zone) - _ONE_SECOND
        readings = [first]
        while readings[-1] + _SAMPLE < last:
            readings.append(readings[-1] + _SAMPLE)
        readings.append(last)
        offsets = [fromutc(reading).utcoffset() for reading in readings]
        before, at = offsets[0], first
        for reading, offset in zip(readings[1:], offsets[1:], strict=True):
            while offset != before:
                a, b = at, reading  # offset(a) == before != offset(b): bisect to the change
                while b - a > _ONE_SECOND:
                    mid = (a + (b - a) // 2).replace(microsecond=0)
                    if fromutc(mid).utcoffset() == before:
                        a = mid
                    else:
                        b = mid
                after = fromutc(b).utcoffset()
                assert before is not None and after is not None
                yield b.replace(tzinfo=None), before, after
                before, at = after, b
            at = reading

    def period(self, instant: datetime) -> tuple[timedelta, datetime, datetime, timedelta]:
        """For naive-UTC ``instant``: (offset, start, end, offset before start), where
        the offset holds on [start, end). ``start``/``end`` are conservative bounds when
        no change is within a year (then the offset before is the offset itself)."""
        last = self._last
        if last is not None and last[1] <= instant < last[2]:
            return last
        self._last = last = self._period(instant)
        return last

    def _period(self, instant: datetime) -> tuple[timedelta, datetime, datetime, timedelta]:
        # The change before ``instant`` is in its year, else in the year before; the one
        # after it in its year, else in the next: a year is scanned only when needed (a
        # scan costs a shell command a sixth of the start of Python).
        year = instant.year
        if not MINYEAR + 1 < year < MAXYEAR - 2:
            raise OverflowError("no offset periods at the ends of the calendar")
        this = self.transitions(year)
        earlier = [c for c in this if c[0] <= instant] or self.transitions(year - 1)
        later = [c for c in this if c[0] > instant] or self.transitions(year + 1)
        last = earlier[-1] if earlier else None
        first = later[0] if later else None
        start = last[0] if last is not None else datetime(year - 1, 1, 1)
        end = first[0] if first is not None else datetime(year + 2, 1, 1)
        if last is not None:
            offset = last[2]
        elif first is not None:
            offset = first[1]
        else:
            offset = self._offset_at(int((instant - _EPOCH).total_seconds()))
        return offset, start, end, last[1] if last is not None else offset


_OFFSETS: dict[tzinfo, ZoneOffsets] = {}


def zone_offsets(zone: tzinfo) -> ZoneOffsets:
    """The shared ``ZoneOffsets`` of ``zone`` (zones are few; each is scanned once)."""
    found = _OFFSETS.get(zone)
    if found is None:
        if len(_OFFSETS) > 1000:
            _OFFSETS.clear()
        found = _OFFSETS[zone] = ZoneOffsets(zone)
    return found


def _gap_instant(zone: tzinfo, before: datetime, after: datetime, old: timedelta) -> datetime:
    """The instant in ``(before, after]`` at which ``zone``'s offset stops being ``old``."""
    lo = int(before.timestamp())
    hi = int(after.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == old:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def wall_instants(wall: datetime, zone: tzinfo, policy: DstPolicy) -> tuple[datetime, ...]:
    """The instants (UTC, in order) at which naive wall time ``wall`` fires in ``zone``
    under ``policy``: the one rule of SPEC 3 for turning a wall time into instants.

    An ordinary wall time fires once. One a gap skips fires at the instant the clock
    jumps under ``gap="shift"`` (so all of one gap's wall times fire there, together)
    and never under ``gap="skip"``. One a fall-back repeats fires on its first pass, and
    under ``overlap="both"`` on its second pass too.
    """
    if zone is UTC:
        return (wall.replace(tzinfo=UTC),)
    off0 = wall.replace(tzinfo=zone).utcoffset()
    off1 = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    if off0 == off1:
        return ((wall - off0).replace(tzinfo=UTC),)
    if off0 > off1:  # overlap: the wall time happens twice, fold=0 first
        first = (wall - off0).replace(tzinfo=UTC)
        if policy.overlap == "both":
            return first, (wall - off1).replace(tzinfo=UTC)
        return (first,)
    if policy.gap == "skip":  # gap: the wall time never happens
        return ()
    before, after = (wall - off1).replace(tzinfo=UTC), (wall - off0).replace(tzinfo=UTC)
    return (_gap_instant(zone, before, after, off0),)


def first_instant(wall: datetime, zone: tzinfo) -> datetime:
    """The first real instant at or after naive wall time ``wall`` in ``zone``, on the
    first pass of a repeated one: where a fixed-time occurrence at ``wall`` fires
    (cronie's rule, ``CRONIE_FIXED``), and so where a day, a bucket or a span that
    starts or ends at that wall time starts or ends."""
    return wall_instants(wall, zone, CRONIE_FIXED)[0]


def occurrence_wall_time(
    matcher: LocalMatcher, zone: tzinfo, policy: DstPolicy, instant: datetime
) -> datetime:
    """The wall time (naive, in ``zone``) that ``matcher``'s occurrence at ``instant``
    stands for: the instant's own local time, except at the instant a clock jumps
    forward, where ``gap="shift"`` fires the wall times the gap skipped: then the first
    of those (``02:30`` on the night New York skips 02:00-03:00, not ``03:00``). The
    inverse of ``wall_instants``, for what moves an occurrence to another day."""
    if zone is UTC:
        return instant.astimezone(UTC).replace(tzinfo=None)
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    try:  # the offset periods are cached: a calendar asks this of every occurrence it scans
        offset, start, _, before = zone_offsets(zone).period(utc)
    except (OverflowError, OSError, ValueError):
        return instant.astimezone(zone).replace(tzinfo=None)
    wall = utc + offset
    if policy.gap != "shift" or utc != start or offset <= before:
        return wall  # not the instant a clock jumps forward
    skipped = matcher.next_local(wall - (offset - before))
    return skipped if skipped is not None and skipped < wall else wall


def next_instant(
    matcher: LocalMatcher, zone: tzinfo, policy: DstPolicy, after: datetime
) -> datetime | None:
    """The first instant strictly after ``after`` (aware) at which ``matcher`` fires in ``zone``.

    None when nothing fires, or when the search runs past the end of ``datetime``'s
    range (year 9999 in UTC or in local time).
    """
    try:
        return _next_instant(matcher, zone, policy, after)
    except OverflowError:  # stepping past 9999-12-31 in local or UTC time
        return None


def _within_period(matcher: LocalMatcher, zone: tzinfo, after: datetime) -> datetime | None:
    """The next instant if it lies in the offset period of ``after``, else None.

    Inside one period a wall time maps to exactly one instant by subtracting the offset:
    no gap can fall between, and the only wall times that also occur earlier are those
    within the offset drop of a fall-back at the period's start (those are left to the
    careful path, as is any candidate beyond the period's end). An earlier pass of a
    repeated wall time is never missed: it lies before the period, so before ``after``.
    """
    utc = (after if after.tzinfo is UTC else after.astimezone(UTC)).replace(tzinfo=None)
    try:
        offset, start, end, before = zone_offsets(zone).period(utc)
    except (OverflowError, OSError, ValueError):
        return None
    candidate = matcher.next_local((utc + offset).replace(microsecond=0) + _ONE_SECOND)
    if candidate is None or candidate < start + before:
        return None
    instant = candidate - offset
    return instant.replace(tzinfo=UTC) if instant < end else None


def _next_instant(
    matcher: LocalMatcher, zone: tzinfo, policy: DstPolicy, after: datetime
) -> datetime | None:
    """``next_instant`` without the guard for the end of the calendar.

    Wall times are visited in local order. A normal wall time maps to one instant; an
    overlapped one to two (first pass, second pass); a skipped one to none, or under
    ``gap="shift"`` to the instant of the jump. Local order and real order differ only
    inside an overlap, so candidates are merged until the first one whose earliest
    instant is accepted, after which no later wall time can fire sooner.
    """
    if zone is UTC:
        local = after.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        found = matcher.next_local(local + _ONE_SECOND)
        return None if found is None else found.replace(tzinfo=UTC)
    fast = _within_period(matcher, zone, after)
    if fast is not None:
        return fast
    local = after.astimezone(zone).replace(tzinfo=None, microsecond=0)
    best: datetime | None = None
    if policy.overlap == "both" and after.astimezone(zone).fold == 0:
        # In the first pass of an overlap, earlier wall times still have a second pass
        # ahead: start from the first wall time whose second pass is after ``after``,
        # but not before the repeated interval starts (earlier ones happen only once).
        off0 = local.replace(tzinfo=zone).utcoffset()
        off1 = local.replace(tzinfo=zone, fold=1).utcoffset()
        assert off0 is not None and off1 is not None
        if off0 > off1:
            utc = after.astimezone(UTC)
            change = _gap_instant(zone, utc, utc + (off0 - off1), off0)
            start = (change + off1).replace(tzinfo=None)
            local = max(local - (off0 - off1), start)
    candidate = matcher.next_local(local)
    while candidate is not None:
        passes = wall_instants(candidate, zone, policy)
        if passes and passes[0] > after:
            return passes[0] if best is None or passes[0] < best else best
        if len(passes) == 2:  # both passes of a repeated wall time, the first one past
            second = passes[1]
            if second > after and (best is None or second < best):
                best = second
            if best is not None:
                # Later wall times whose first pass is not after ``after`` have a
                # second pass later than ``best``: go straight to the first that is.
                first_offset = candidate - passes[0].replace(tzinfo=None)
                first_wall = (after.astimezone(UTC) + first_offset).replace(tzinfo=None)
                if first_wall > candidate:
                    candidate = matcher.next_local(first_wall)
                    continue
        candidate = matcher.next_local(candidate + _ONE_SECOND)
    return best

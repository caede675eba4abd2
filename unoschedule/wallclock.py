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

import calendar
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
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
    "next_instant",
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
    """

    gap: GapPolicy = "shift"
    overlap: OverlapPolicy = "first"

    def __post_init__(self) -> None:
        if self.gap not in ("shift", "skip"):
            raise ValueError(f"dst gap policy must be 'shift' or 'skip', not {self.gap!r}")
        if self.overlap not in ("first", "both"):
            raise ValueError(
                f"dst overlap policy must be 'first' or 'both', not {self.overlap!r}"
            )


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
            first_weekday, ndays = calendar.monthrange(year, month)
            found = tuple(self._pick(year, month, ndays, (first_weekday + 1) % 7))
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = found
        return found


class LocalMatcher:
    """Months x day rule x times of day, evaluated in naive local wall time."""

    __slots__ = ("days", "months", "times")

    def __init__(self, months: Iterable[int], days: DayRule, times: TimesOfDay):
        self.months = frozenset(months)
        self.days = days
        self.times = times

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
    local = after.astimezone(zone).replace(tzinfo=None, microsecond=0)
    if zone is UTC:
        found = matcher.next_local(local + _ONE_SECOND)
        return None if found is None else found.replace(tzinfo=UTC)
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
        off0 = candidate.replace(tzinfo=zone).utcoffset()
        off1 = candidate.replace(tzinfo=zone, fold=1).utcoffset()
        assert off0 is not None and off1 is not None
        if off0 == off1:
            instant = (candidate - off0).replace(tzinfo=UTC)
            if instant > after:
                return instant if best is None or instant < best else best
        elif off0 > off1:  # overlap: the wall time happens twice, fold=0 first
            first = (candidate - off0).replace(tzinfo=UTC)
            if first > after:
                return first if best is None or first < best else best
            if policy.overlap == "both":
                second = (candidate - off1).replace(tzinfo=UTC)
                if second > after and (best is None or second < best):
                    best = second
                if best is not None:
                    # Later wall times whose first pass is not after ``after`` have a
                    # second pass later than ``best``: go straight to the first that is.
                    first_wall = (after.astimezone(UTC) + off0).replace(tzinfo=None)
                    if first_wall > candidate:
                        candidate = matcher.next_local(first_wall)
                        continue
        elif policy.gap == "shift":  # gap: the wall time never happens
            jump = _gap_instant(
                zone,
                (candidate - off1).replace(tzinfo=UTC),
                (candidate - off0).replace(tzinfo=UTC),
                off0,
            )
            if jump > after:
                return jump if best is None or jump < best else best
        candidate = matcher.next_local(candidate + _ONE_SECOND)
    return best

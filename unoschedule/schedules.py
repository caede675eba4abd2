"""The schedule types of the design document, as pure values.

A schedule type only says *when*; it is validated in its constructor (bad input fails at
once) and compared by value, so that a changed definition is detected by ``==``. To get
fire instants, bind it with ``timeline()`` to a zone, a DST policy, an anchor and bounds:
the result is a pure object whose ``next(after)`` never reads the clock.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from .cron import CronExpression
from .errors import ScheduleSyntaxError
from .timeutil import as_utc, format_duration, format_instant, parse_datetime, parse_duration
from .wallclock import (
    CRONIE_FIXED,
    CRONIE_WILDCARD,
    CachedDayRule,
    DstPolicy,
    LocalMatcher,
    TimeList,
    next_instant,
    occurrence_wall_time,
)

__all__ = [
    "ChainTrigger",
    "CronSchedule",
    "DailySchedule",
    "EventTrigger",
    "IntervalSchedule",
    "MonthlySchedule",
    "Occurrence",
    "OneTimeSchedule",
    "ScheduleSpec",
    "Timeline",
    "WeeklySchedule",
]

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EPSILON = timedelta(microseconds=1)


# -- timelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One occurrence as it will be run: claimed under ``slot``, started at ``start``
    (plus a random delay in ``[0, spread)``), or not run (``skipped`` says why)."""

    slot: datetime
    start: datetime | None
    spread: timedelta = timedelta(0)
    skipped: str | None = None
    #: What moved it (a calendar's roll, a blackout's deferral, a fixed jitter).
    note: str | None = None

    def text(self) -> str:
        """Its start as ``next-runs`` prints it: an instant, or with random jitter the
        ISO 8601 interval the start is drawn from (``START/END``)."""
        if self.start is None:
            return ""
        start = format_instant(self.start) or ""
        if not self.spread:
            return start
        return f"{start}/{format_instant(self.start + self.spread)}"


class Timeline(ABC):
    """The fire instants of one schedule, bound to everything they depend on.

    ``next`` gives the instants at which runs start, as every observer shows them;
    ``slot`` the instants occurrences are claimed under (the run loop's keys), which
    differ only for a timeline with blackouts or jitter (see ``effective``).
    """

    @abstractmethod
    def next(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after ``after`` (aware), or None if none is left."""

    def slot(self, after: datetime) -> datetime | None:
        """The first occurrence to claim strictly after ``after`` (the run loop's key)."""
        return self.next(after)

    def occurrence(self, slot: datetime) -> Occurrence:
        """What becomes of the occurrence claimed under ``slot``."""
        return Occurrence(slot, slot)

    def period(self) -> timedelta | None:
        """A span by which this timeline repeats wherever its zone's UTC offset stays
        the same: ``next(t + period) == next(t) + period`` for every ``t`` from its
        first instant on, as long as ``t`` and the instants compared lie in one offset
        period of the zone. None when no short one is known (a day of the month, a
        single instant). A scan that finds every occurrence of a repeat skipped can
        step over the repeats that follow (``effective``)."""
        return None

    def upcoming(self, after: datetime, count: int) -> list[Occurrence]:
        """The next ``count`` occurrences that run (``next-runs`` shows these)."""
        return [self.occurrence(t) for t in self.take(after, count)]

    def wall_time(self, instant: datetime, zone: tzinfo) -> datetime:
        """The wall time in ``zone`` (naive) that the occurrence at ``instant`` stands
        for, which a calendar's roll keeps on another day: the instant's local time,
        unless a DST gap moved the occurrence (see ``CalendarTimeline``)."""
        return instant.astimezone(zone).replace(tzinfo=None)

    def iter(self, after: datetime) -> Iterator[datetime]:
        """Fire instants strictly after ``after``, in order."""
        current = after
        while True:
            found = self.next(current)
            if found is None:
                return
            current = found
            yield current

    def take(self, after: datetime, count: int) -> list[datetime]:
        """At most ``count`` fire instants strictly after ``after``."""
        out: list[datetime] = []
        for instant in self.iter(after):
            out.append(instant)
            if len(out) >= count:
                break
        return out


class CalendarTimeline(Timeline):
    """Wall-clock matching in a zone, with a DST policy."""

    __slots__ = ("matcher", "policy", "zone")

    def __init__(self, matcher: LocalMatcher, zone: tzinfo, policy: DstPolicy):
        self.matcher = matcher
        self.zone = zone
        self.policy = policy

    def period(self) -> timedelta | None:
        days = self.matcher.period_days
        return timedelta(days=days) if days is not None else None

    def next(self, after: datetime) -> datetime | None:
        return next_instant(self.matcher, self.zone, self.policy, after)

    def wall_time(self, instant: datetime, zone: tzinfo) -> datetime:
        if zone != self.zone:
            return super().wall_time(instant, zone)
        return occurrence_wall_time(self.matcher, zone, self.policy, instant)


class IntervalTimeline(Timeline):
    """``anchor + k * interval`` for k >= 0; elapsed time only, no wall clock.

    Without an anchor the timeline is anchored at the ``after`` it is asked about, which is
    what "first seen now" means for a schedule no state has seen yet.
    """

    def __init__(self, interval: timedelta, anchor: datetime | None):
        self.interval = interval
        self.anchor = anchor

    def period(self) -> timedelta | None:
        return self.interval

    def next(self, after: datetime) -> datetime | None:
        anchor = self.anchor
        try:
            if anchor is None:
                return after + self.interval
            if after < anchor:
                return anchor
            steps = (after - anchor) // self.interval + 1
            return anchor + self.interval * steps
        except OverflowError:  # past year 9999: the calendar, and so the schedule, ends
            return None


class OnceTimeline(Timeline):
    def __init__(self, at: datetime):
        self.at = at

    def next(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None


class NeverTimeline(Timeline):
    """Event schedules fire only when their event is raised."""

    def next(self, after: datetime) -> datetime | None:
        return None


class ContinuedTimeline(Timeline):
    """Another timeline, gone on with from ``first``: that instant, then the other's
    instants after it, nothing before it. What an anchored schedule runs from the next
    run its state holds (see ``ScheduleSpec.timeline``)."""

    def __init__(self, inner: Timeline, first: datetime):
        self.inner = inner
        self.first = first

    def period(self) -> timedelta | None:
        return self.inner.period()  # from ``first`` on, the inner timeline's instants

    def next(self, after: datetime) -> datetime | None:
        return self.first if after < self.first else self.inner.next(after)

    def wall_time(self, instant: datetime, zone: tzinfo) -> datetime:
        return self.inner.wall_time(instant, zone)


class BoundedTimeline(Timeline):
    """Restricts another timeline to ``[start, end]`` (both inclusive)."""

    def __init__(self, inner: Timeline, start: datetime | None, end: datetime | None):
        self.inner = inner
        self.start = start
        self.end = end

    def period(self) -> timedelta | None:
        return self.inner.period()  # from its first instant on, past ``end`` none at all

    def next(self, after: datetime) -> datetime | None:
        if self.start is not None and after < self.start:
            after = self.start - _EPSILON
        found = self.inner.next(after)
        if found is None or (self.end is not None and found > self.end):
            return None
        return found

    def wall_time(self, instant: datetime, zone: tzinfo) -> datetime:
        return self.inner.wall_time(instant, zone)


# -- schedule types --------------------------------------------------------------------


class ScheduleSpec(ABC):
    """When a job fires, independent of zone and bounds (those come with ``timeline``)."""

    kind: ClassVar[str]
    #: Whether the schedule fires at fixed wall times (cronie's DST rule for those).
    fixed_time: bool = True
    #: Whether it fires on the clock at all (not: events, chains). One that does not is
    #: never complete, has no occurrences to backfill or draw, and no next run.
    on_clock: ClassVar[bool] = True
    #: Whether it fires at wall times of its zone, which a DST change can skip or repeat
    #: (so that its ``dst:`` policy can matter): not an interval, a single instant, an
    #: event or a chain.
    wall_times: ClassVar[bool] = True
    #: Whether the timeline depends only on zone, DST policy and bounds (not on the
    #: schedule's name or anchor), so that schedules written alike can share one.
    name_free: bool = False
    #: Whether the timeline counts from an anchor (when the state first saw the
    #: schedule): only the state can then say when its runs come.
    anchored: ClassVar[bool] = False

    @abstractmethod
    def to_config(self) -> Any:
        """The YAML mapping that recreates this schedule (``{"cron": "..."}`` and so on)."""

    @abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``At 02:30 every day``."""

    def default_dst(self) -> DstPolicy:
        return CRONIE_FIXED if self.fixed_time else CRONIE_WILDCARD

    def dst_policy(self, given: DstPolicy | None = None) -> DstPolicy:
        """The DST policy it fires under: ``given``'s fields, and for each field that
        ``given`` leaves out (or without ``given``) cronie's rule for this schedule
        (``default_dst``). The one place a partial policy is completed, whether it was
        written in the file as ``dst:`` or given to the library as a ``DstPolicy``."""
        default = self.default_dst()
        return default if given is None else given.over(default)

    @abstractmethod
    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline: ...

    def timeline(
        self,
        *,
        zone: tzinfo = UTC,
        name: str = "",
        dst: DstPolicy | None = None,
        anchor: datetime | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        next_run: datetime | None = None,
    ) -> Timeline:
        """Bind to a zone (and ``name`` for cron ``H``), a DST policy, an anchor and bounds.

        An interval is anchored at ``start`` (the start_date) when there is one, else at
        ``anchor`` (when the schedule was first seen), as SPEC 3 says. Instants are
        normalised to UTC so that arithmetic on them is elapsed time, never wall time.

        ``next_run`` is the next occurrence the state holds (the run loop's next claim).
        An anchored schedule goes on from it, that one first (``ContinuedTimeline``): a
        wall-clock jump moves an interval's next run by the jump, off its start_date's
        phase (``RunLoop.clock_jumped``), and the loop runs it there, then the phase
        again. So the loop, next-runs, status and the calendar, which all build their
        timeline here from what the state holds, list the same runs.
        """
        anchor, start, end = _utc(anchor), _utc(start), _utc(end)
        inner = self._timeline(zone, name, self.dst_policy(dst), start or anchor)
        if next_run is not None and self.anchored:
            inner = ContinuedTimeline(inner, next_run.astimezone(UTC))
        if start is None and end is None:
            return inner
        return BoundedTimeline(inner, start, end)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_config() == other.to_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self.to_config()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_config()!r})"


def _utc(value: datetime | None) -> datetime | None:
    """An aware instant in UTC (aware arithmetic in a DST zone would be wall-clock)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC)


class CronSchedule(ScheduleSpec):
    """A cron expression (cronie's dialect with seconds, L, W, # and H: docs/cron-dialect.md)."""

    kind = "cron"

    def __init__(self, expression: str):
        self.expression = expression.strip() if isinstance(expression, str) else expression
        self._parsed = CronExpression(expression)  # hash key bound later, per schedule name
        self.fixed_time = not self._parsed.is_wildcard_time
        self.name_free = "H" not in str(self.expression).upper()

    def to_config(self) -> Any:
        return {"cron": self.expression}

    def describe(self) -> str:
        from .describe import describe_cron

        return describe_cron(self.expression)

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        parsed = self._parsed
        if "H" in self.expression.upper() and name:
            parsed = CronExpression(self.expression, hash_key=name)
        return CalendarTimeline(parsed.matcher, zone, dst)


#: The shortest ``every:``; the cron dialect's finest step (a seconds field) is 1 s too.
MIN_INTERVAL = timedelta(seconds=1)


class IntervalSchedule(ScheduleSpec):
    """Every fixed amount of elapsed time, anchored at ``start_date`` or first sight."""

    kind = "interval"
    fixed_time = False
    wall_times = False
    anchored = True

    def __init__(self, interval: timedelta | str | float | dict[str, float]):
        self.interval = parse_duration(interval, what="interval")
        if self.interval < MIN_INTERVAL:
            raise ScheduleSyntaxError(
                f"interval {format_duration(self.interval)} is too short: at least 1s "
                "(a shorter one would queue runs faster than any job can start)"
            )

    def to_config(self) -> Any:
        return {"every": format_duration(self.interval)}

    def describe(self) -> str:
        return f"Every {format_duration(self.interval)}"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return IntervalTimeline(self.interval, anchor)


class OneTimeSchedule(ScheduleSpec):
    """Once, at an instant; a naive value (no zone or offset) is wall time in the
    schedule's zone (``Scheduler(timezone=...)`` or its own ``timezone``), as ``at:``
    in the file is.

    A naive value stays naive here, as written: only the schedule it is given to knows
    its zone, and the loader reads it there (``to_config`` writes it without a zone).
    """

    kind = "once"
    wall_times = False

    def __init__(self, at: datetime | str):
        moment = parse_datetime(at)
        self.at = moment if moment.tzinfo is None else moment.astimezone(UTC)

    def to_config(self) -> Any:
        return {"at": self._shown()}

    def describe(self) -> str:
        return f"Once at {self._shown()}"

    def _shown(self) -> str:
        """``...Z`` for an instant, the wall time as written for a naive value."""
        if self.at.tzinfo is None:
            return self.at.isoformat(timespec="microseconds" if self.at.microsecond else "seconds")
        return format_instant(self.at) or ""

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return OnceTimeline(as_utc(self.at, zone))


def _parse_times(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    if not items:
        raise ScheduleSyntaxError(f"{what} needs at least one time of day such as '09:00'")
    out = []
    for item in items:
        match = _TIME_RE.match(str(item).strip())
        if not match:
            raise ScheduleSyntaxError(f"{item!r} is not a time of day (expected HH:MM, e.g. 09:30)")
        h, m, s = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
        if h > 23 or m > 59 or s > 59:
            raise ScheduleSyntaxError(f"{item!r} is not a time of day (hours 0-23, minutes 0-59)")
        out.append(f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else ""))
    return tuple(sorted(set(out)))


def _seconds(times: Iterable[str]) -> list[int]:
    result = []
    for t in times:
        parts = [int(p) for p in t.split(":")]
        result.append(parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0))
    return result


def _time_config(times: tuple[str, ...]) -> str | list[str]:
    return times[0] if len(times) == 1 else list(times)


class DailySchedule(ScheduleSpec):
    """At one or more times of day, every day."""

    kind = "daily"
    name_free = True

    def __init__(self, times: str | Sequence[str]):
        self.times = _parse_times(times, "a daily schedule")
        self._matcher = LocalMatcher(
            range(1, 13),
            CachedDayRule(lambda y, m, n, f: range(1, n + 1)),
            TimeList(_seconds(self.times)),
            period_days=1,
        )

    def to_config(self) -> Any:
        return {"daily": list(self.times)}

    def describe(self) -> str:
        return f"At {_join(self.times)} every day"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return CalendarTimeline(self._matcher, zone, dst)


def _weekday(value: str | int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 7:
            return value % 7
        raise ScheduleSyntaxError(f"day of week {value} is out of range 0-7 (0 and 7 are Sunday)")
    text = str(value).strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            return i
    import difflib

    hint = difflib.get_close_matches(text, WEEKDAYS, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ScheduleSyntaxError(f"unknown day of week {value!r}{extra}")


class WeeklySchedule(ScheduleSpec):
    """On some days of the week, at one or more times of day."""

    kind = "weekly"
    name_free = True

    def __init__(self, days: Sequence[str | int] | str, time: str | Sequence[str] = "00:00"):
        items = [days] if isinstance(days, str | int) else list(days)
        if not items:
            raise ScheduleSyntaxError("a weekly schedule needs at least one day, e.g. [monday]")
        self.days = tuple(sorted({_weekday(d) for d in items}))
        self.times = _parse_times(time, "a weekly schedule")
        wanted = frozenset(self.days)

        def pick(year: int, month: int, ndays: int, first: int) -> list[int]:
            return [d for d in range(1, ndays + 1) if (first + d - 1) % 7 in wanted]

        self._matcher = LocalMatcher(
            range(1, 13),
            CachedDayRule(pick),
            TimeList(_seconds(self.times)),
            period_days=1 if len(wanted) == 7 else 7,
        )

    def to_config(self) -> Any:
        return {
            "weekly": {"days": [WEEKDAYS[d] for d in self.days], "time": _time_config(self.times)}
        }

    def describe(self) -> str:
        names = [WEEKDAYS[d].title() for d in self.days]
        return f"At {_join(self.times)} on {_join(names)}"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return CalendarTimeline(self._matcher, zone, dst)


class MonthlySchedule(ScheduleSpec):
    """On some days of the month (``last`` or -1 for the last day), at times of day.

    A day that a month lacks (31 in April) is skipped in that month.
    """

    kind = "monthly"
    name_free = True

    def __init__(self, days: Sequence[int | str] | int | str, time: str | Sequence[str] = "00:00"):
        items = [days] if isinstance(days, str | int) else list(days)
        if not items:
            raise ScheduleSyntaxError("a monthly schedule needs at least one day, e.g. [1, 15]")
        parsed: set[int] = set()
        for item in items:
            if isinstance(item, str) and item.strip().lower() in ("last", "l", "-1"):
                parsed.add(-1)
                continue
            try:
                day = int(item)
            except (TypeError, ValueError):
                raise ScheduleSyntaxError(
                    f"{item!r} is not a day of the month (1-31, or 'last')"
                ) from None
            if day == -1 or 1 <= day <= 31:
                parsed.add(day)
            else:
                raise ScheduleSyntaxError(f"day of month {day} is out of range 1-31 (or 'last')")
        self.days = tuple(sorted(parsed))
        self.times = _parse_times(time, "a monthly schedule")
        plain = [d for d in self.days if d > 0]
        last = -1 in parsed

        def pick(year: int, month: int, ndays: int, first: int) -> list[int]:
            chosen = {d for d in plain if d <= ndays}
            if last:
                chosen.add(ndays)
            return sorted(chosen)

        self._matcher = LocalMatcher(
            range(1, 13), CachedDayRule(pick), TimeList(_seconds(self.times))
        )

    def to_config(self) -> Any:
        days: list[int | str] = ["last" if d == -1 else d for d in self.days]
        return {"monthly": {"days": days, "time": _time_config(self.times)}}

    def describe(self) -> str:
        names = ["the last day" if d == -1 else _ordinal(d) for d in self.days]
        return f"At {_join(self.times)} on {_join(names)} of every month"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return CalendarTimeline(self._matcher, zone, dst)


class EventTrigger(ScheduleSpec):
    """Fires when an event of this name is raised, never on the clock."""

    kind = "event"
    fixed_time = False
    on_clock = False
    wall_times = False

    def __init__(self, event: str):
        if not isinstance(event, str) or not event.strip():
            raise ScheduleSyntaxError(
                "an event schedule needs an event name, e.g. inventory.low_stock"
            )
        self.event = event.strip()

    def to_config(self) -> Any:
        return {"event": self.event}

    def describe(self) -> str:
        return f"When event {self.event!r} is raised"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return NeverTimeline()


class ChainTrigger(ScheduleSpec):
    """The schedule of a chained schedule with no time of its own: it runs only after
    runs of ``upstream`` (its ``after:``), never on the clock."""

    kind = "after"
    fixed_time = False
    on_clock = False
    wall_times = False

    def __init__(self, upstream: str):
        if not isinstance(upstream, str) or not upstream.strip():
            raise ScheduleSyntaxError("after needs the schedule to follow, e.g. after: extract")
        self.upstream = upstream.strip()

    def to_config(self) -> Any:
        return {"after": self.upstream}

    def describe(self) -> str:
        return f"After runs of {self.upstream!r}"

    def _timeline(
        self, zone: tzinfo, name: str, dst: DstPolicy, anchor: datetime | None
    ) -> Timeline:
        return NeverTimeline()


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


SCHEDULE_KEYS = ("cron", "every", "at", "daily", "weekly", "monthly", "event")


def schedule_from_config(value: Any) -> ScheduleSpec:
    """Build a schedule type from its YAML form (a cron string or a one-key mapping).

    Raises ``ScheduleSyntaxError``; the YAML loader adds file, line and column.
    """
    if isinstance(value, ScheduleSpec):
        return value
    if isinstance(value, str):
        return CronSchedule(value)
    if not isinstance(value, dict):
        raise ScheduleSyntaxError(
            "a schedule is a cron string or a mapping with one of: " + ", ".join(SCHEDULE_KEYS)
        )
    if list(value) == ["after"]:  # stored form of a chained schedule's (not written)
        return ChainTrigger(value["after"])
    keys = [k for k in value if k in SCHEDULE_KEYS]
    unknown = [k for k in value if k not in SCHEDULE_KEYS]
    if unknown:
        import difflib

        hint = difflib.get_close_matches(str(unknown[0]), SCHEDULE_KEYS, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ScheduleSyntaxError(
            f"unknown schedule type {unknown[0]!r}{extra} (use one of {', '.join(SCHEDULE_KEYS)})"
        )
    if len(keys) != 1:
        raise ScheduleSyntaxError(
            "a schedule mapping needs exactly one of "
            + ", ".join(SCHEDULE_KEYS)
            + (f", not {len(keys)} ({', '.join(keys)})" if keys else "")
        )
    kind = keys[0]
    body = value[kind]
    if kind == "cron":
        return CronSchedule(body)
    if kind == "every":
        return IntervalSchedule(body)
    if kind == "at":
        return OneTimeSchedule(body)
    if kind == "daily":
        return DailySchedule(body)
    if kind == "event":
        return EventTrigger(body)
    if not isinstance(body, dict):
        raise ScheduleSyntaxError(f"{kind} takes a mapping with 'days' and 'time'")
    extra_keys = [k for k in body if k not in ("days", "time")]
    if extra_keys:
        raise ScheduleSyntaxError(
            f"unknown key {extra_keys[0]!r} in {kind} (use 'days' and 'time')"
        )
    if "days" not in body:
        raise ScheduleSyntaxError(f"{kind} needs 'days'")
    if kind == "weekly":
        return WeeklySchedule(body["days"], body.get("time", "00:00"))
    return MonthlySchedule(body["days"], body.get("time", "00:00"))

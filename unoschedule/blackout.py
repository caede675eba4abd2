"""Blackout windows: spans of time in which a schedule's occurrences do not run.

A window recurs (a cron-like start plus a duration: ``Sat 22:00 for 6h``,
``0 22 * * 6 for 6h``) or spans dates (``2026-12-24..2026-12-26``, or from/to
instants). Times are wall times in the schedule's zone. An occurrence inside a window
is recorded ``skipped`` with the window's name, or, with ``defer: true``, runs once at
the window's end. Pure: nothing here reads the clock.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from .errors import ScheduleSyntaxError
from .schedules import WEEKDAYS, CronSchedule, Timeline
from .timeutil import format_duration, parse_duration
from .wallclock import first_instant

__all__ = ["Blackout", "Cover", "blackout_from_config", "covering"]

_EPSILON = timedelta(microseconds=1)
_SHORT_RE = re.compile(
    r"^(?P<days>[A-Za-z*,\- ]+?)\s+(?P<h>\d{1,2}):(?P<m>\d{2})\s+for\s+(?P<dur>.+)$"
)
_CRON_RE = re.compile(r"^(?P<cron>.+?)\s+for\s+(?P<dur>.+)$")
_RANGE_RE = re.compile(r"^(?P<a>\S+)\s*(?:\.\.|\s+to\s+)\s*(?P<b>\S+)$")


@dataclass(frozen=True)
class Blackout:
    """One window: recurring (``cron`` + ``duration``) or a span (``start``..``end``,
    ``end`` exclusive: naive wall times in the schedule's zone, or instants in UTC where
    the file gave an offset or ``Z``). A span's wall-time bound that a
    DST gap skips means the instant the clock jumps; one in a repeated hour means its
    first pass (cronie's rule for fixed times, see ``_span_instants``)."""

    name: str
    cron: str | None = None
    duration: timedelta | None = None
    start: datetime | None = None
    end: datetime | None = None
    defer: bool = False

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.cron is not None and self.duration is not None:
            out["cron"] = self.cron
            out["for"] = format_duration(self.duration)
        else:
            out["from"] = self.start.isoformat() if self.start else None
            out["to"] = self.end.isoformat() if self.end else None
        if self.defer:
            out["defer"] = True
        return out

    def _starts(self, zone: tzinfo) -> Timeline:
        return _window_starts(self.cron or "", zone, self.name)

    def period(self, zone: tzinfo) -> timedelta | None:
        """How often a recurring window comes back where the zone's UTC offset stays
        the same (its expression's ``Timeline.period``: a day, a week), or None: a
        from/to span, or an expression tied to days of the month."""
        return self._starts(zone).period() if self.cron is not None else None

    def cover(self, instant: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
        """The span ``[begin, end)`` of this window covering ``instant``, or None."""
        if self.cron is not None and self.duration is not None:
            found: tuple[datetime, datetime] | None = None
            starts = self._starts(zone)
            begin = starts.next(instant - self.duration)
            while begin is not None and begin <= instant:
                close = begin + self.duration
                if close > instant and found is None:
                    found = (begin, close)
                elif close > instant and found is not None and close > found[1]:
                    found = (found[0], close)
                begin = starts.next(begin)
            return found
        assert self.start is not None and self.end is not None
        begin, end = _span_instants(self.start, self.end, zone)
        return (begin, end) if begin <= instant < end else None


@dataclass(frozen=True)
class Cover:
    """The window an instant falls in, when it began, and when the blackout ends (a
    window that ends inside another runs on to that one's end)."""

    window: Blackout
    begin: datetime
    end: datetime


def covering(windows: tuple[Blackout, ...], instant: datetime, zone: tzinfo) -> Cover | None:
    """The blackout covering ``instant``, or None."""
    first: tuple[Blackout, datetime] | None = None
    end = instant
    for _ in range(1000):
        found: tuple[Blackout, datetime, datetime] | None = None
        for window in windows:
            span = window.cover(end, zone)
            if span is not None and (found is None or span[1] > found[2]):
                found = (window, span[0], span[1])
        if found is None:
            break
        if first is None:
            first = (found[0], found[1])
        end = found[2]
    return Cover(first[0], first[1], end) if first is not None else None


@functools.lru_cache(maxsize=1024)
def _window_starts(cron: str, zone: tzinfo, name: str) -> Timeline:
    """The start instants of a recurring window, parsed once: ``cover`` is asked for
    every occurrence a schedule's timeline looks at (two hundred thousand, when every
    one is blacked out), and parsing the expression each time was two thirds of it. A
    timeline holds no state between calls, so one serves every caller."""
    return CronSchedule(cron).timeline(zone=zone, name=name)


@functools.lru_cache(maxsize=1024)
def _span_instants(start: datetime, end: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants a ``from``/``to`` window spans, its bounds read as wall times in
    ``zone`` by cronie's rule for fixed times (``wallclock.first_instant``): a bound in
    a DST gap is the instant the clock jumps (the first real instant at or after it), a
    bound in a repeated hour its first pass. Containment is then a test on instants,
    which a repeated hour cannot make ambiguous, and the span a window reports is the
    one it covers: the run loop (which asks whether a slot is covered) and ``next-runs``
    (which skips to the end of the span) agree. Cached: ``cover`` is asked for every
    occurrence a timeline looks at."""
    return _instant(start, zone), _instant(end, zone)


def _instant(bound: datetime, zone: tzinfo) -> datetime:
    """A bound as an instant: a wall time read in ``zone``, an instant as it is."""
    return first_instant(bound, zone) if bound.tzinfo is None else bound


def blackout_from_config(value: Any) -> Blackout:
    """A window from its YAML form; raises ``ScheduleSyntaxError`` with a message for users.

    Forms: ``"Sat 22:00 for 6h"``, ``"Mon-Fri 12:00 for 1h"``, ``"0 22 * * 6 for 6h"``,
    ``"2026-12-24..2026-12-26"``, or a mapping with ``name``, ``defer`` and either
    ``when`` (one of those strings), ``cron`` + ``for``, or ``from`` + ``to``.
    """
    if isinstance(value, Blackout):
        return value
    if isinstance(value, str):
        return _from_text(value, name=value.strip(), defer=False)
    if not isinstance(value, dict):
        raise ScheduleSyntaxError(
            "a blackout window is a string such as 'Sat 22:00 for 6h' or a mapping with "
            f"name, when (or cron and for, or from and to) and defer, not {value!r}"
        )
    allowed = ("name", "when", "cron", "for", "from", "to", "defer")
    for key in value:
        if key not in allowed:
            raise ScheduleSyntaxError(
                f"unknown key {key!r} in a blackout window (use {', '.join(allowed)})"
            )
    defer = value.get("defer", False)
    if not isinstance(defer, bool):
        raise ScheduleSyntaxError(f"defer must be true or false, not {defer!r}")
    forms = [k for k in ("when", "cron", "from") if k in value]
    if len(forms) != 1:
        raise ScheduleSyntaxError(
            "a blackout window needs exactly one of when, cron (with for) or from (with to)"
        )
    raw_name = value.get("name")
    if raw_name is not None and (not isinstance(raw_name, str) or not raw_name.strip()):
        raise ScheduleSyntaxError(f"a blackout window's name must be a string, not {raw_name!r}")
    if "when" in value:
        text = str(value["when"])
        return _from_text(text, name=(raw_name or text).strip(), defer=defer)
    if "cron" in value:
        if "for" not in value:
            raise ScheduleSyntaxError("a blackout window with cron needs for: (its duration)")
        cron = str(value["cron"]).strip()
        name = (raw_name or f"{cron} for {value['for']}").strip()
        return _recurring(cron, value["for"], name, defer)
    if "to" not in value:
        raise ScheduleSyntaxError("a blackout window with from needs to:")
    start, end = _bound(value["from"], False), _bound(value["to"], True)
    name = (raw_name or f"{value['from']}..{value['to']}").strip()
    return _span(start, end, name, defer)


def _from_text(text: str, *, name: str, defer: bool) -> Blackout:
    text = text.strip()
    short = _SHORT_RE.match(text)
    if short and not short.group("days").strip()[:1].isdigit():
        hour, minute = int(short.group("h")), int(short.group("m"))
        if hour > 23 or minute > 59:
            raise ScheduleSyntaxError(f"{text!r}: {hour}:{minute:02d} is not a time of day")
        days = _days(short.group("days"))
        return _recurring(f"{minute} {hour} * * {days}", short.group("dur"), name, defer)
    ranged = _RANGE_RE.match(text)
    if ranged:
        return _span(_bound(ranged.group("a"), False), _bound(ranged.group("b"), True), name, defer)
    cron = _CRON_RE.match(text)
    if cron:
        return _recurring(cron.group("cron"), cron.group("dur"), name, defer)
    raise ScheduleSyntaxError(
        f"{text!r} is not a blackout window: write e.g. 'Sat 22:00 for 6h', "
        "'0 22 * * 6 for 6h' or '2026-12-24..2026-12-26'"
    )


def _recurring(cron: str, duration: Any, name: str, defer: bool) -> Blackout:
    CronSchedule(cron)  # raises ScheduleSyntaxError for a bad expression
    length = parse_duration(duration, what="a blackout window's duration")
    if length <= timedelta(0):
        raise ScheduleSyntaxError("a blackout window's duration must be positive")
    return Blackout(name=name, cron=cron, duration=length, defer=defer)


def _kept(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC)


def _span(start: datetime, end: datetime, name: str, defer: bool) -> Blackout:
    if (start.tzinfo is None) == (end.tzinfo is None) and end <= start:
        raise ScheduleSyntaxError(f"blackout window {name!r} ends before it starts")
    return Blackout(name=name, start=start, end=end, defer=defer)


def _days(text: str) -> str:
    """``Sat``, ``Mon-Fri``, ``Sat,Sun``, ``daily`` or ``*`` as a cron weekday field."""
    text = text.strip().lower()
    if text in ("*", "daily", "every day"):
        return "*"
    parts = []
    for part in text.replace(" ", "").split(","):
        first, sep, last = part.partition("-")
        a = _weekday(first)
        parts.append(f"{a}-{_weekday(last)}" if sep else str(a))
    return ",".join(parts)


def _weekday(text: str) -> int:
    for i, name in enumerate(WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            return i
    raise ScheduleSyntaxError(f"unknown day of week {text!r} in a blackout window")


def _bound(value: Any, is_end: bool) -> datetime:
    """A naive wall time, or an instant (in UTC) when the value names its zone or offset
    (``2026-12-24T09:00:00Z``: that instant, whatever the schedule's zone, as for
    ``start_date``); a date alone is its whole day (the start of the next for an end)."""
    if isinstance(value, datetime):
        return _kept(value)
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        try:
            if "T" in text or " " in text:
                return _kept(datetime.fromisoformat(text.replace("z", "Z")))
            day = date.fromisoformat(text)
        except ValueError:
            raise ScheduleSyntaxError(
                f"{value!r} is not a date or a date and time (YYYY-MM-DD[THH:MM])"
            ) from None
    start = datetime.combine(day, time())
    return start + timedelta(days=1) if is_end else start

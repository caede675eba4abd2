"""Calendars: the days on which a schedule does not run, as a pure value.

A calendar excludes days: public holidays of a region (from the ``holidays`` package,
imported only when a calendar names one), explicit dates and ranges, weekends
(``business_days: true``), and the days of the calendars it ``include``s; the days of
the calendars it ``exclude``s are taken back out (they are run days again). A
schedule names one calendar; its occurrences on excluded days are not run, or are
``roll``ed to the next or previous day the calendar does not exclude.

The calendar is resolved (its includes written out) into each schedule's definition
when the schedule is made, so a stored schedule means the same days to every process
and a changed calendar is a changed definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from .errors import ScheduleSyntaxError

__all__ = ["ROLLS", "Calendar", "Exclusion", "HolidayRegion", "Roll"]

Roll = Literal["skip", "next_business_day", "previous_business_day"]
ROLLS: tuple[str, ...] = ("skip", "next_business_day", "previous_business_day")

#: How far a roll looks for a day the calendar runs on; a calendar that excludes a whole
#: year around a day drops that day's occurrence instead.
MAX_ROLL_DAYS = 366


@dataclass(frozen=True)
class HolidayRegion:
    """``holidays: {country: DE, subdiv: BY}``."""

    country: str
    subdiv: str | None = None

    def to_config(self) -> dict[str, str]:
        out = {"country": self.country}
        if self.subdiv is not None:
            out["subdiv"] = self.subdiv
        return out

    def name_of(self, day: date) -> str | None:
        from .holidaycal import holidays_of_year  # imported only when a calendar has holidays

        return holidays_of_year(self.country, self.subdiv, day.year).get(day)


@dataclass(frozen=True)
class Exclusion:
    """Why a day is excluded: by which calendar, and what the day is."""

    calendar: str
    reason: str

    def __str__(self) -> str:
        return f"excluded by calendar {self.calendar}: {self.reason}"


@dataclass(frozen=True)
class Calendar:
    """Excluded days; ``excluded(day)`` says whether and why."""

    name: str
    holidays: tuple[HolidayRegion, ...] = ()
    #: Inclusive ranges of excluded days (a single date is a range of one day).
    dates: tuple[tuple[date, date], ...] = ()
    business_days: bool = False
    include: tuple[Calendar, ...] = ()
    exclude: tuple[Calendar, ...] = ()

    def excluded(self, day: date) -> Exclusion | None:
        """Why ``day`` is excluded, or None when the calendar runs on it."""
        for other in self.exclude:
            if other.excluded(day) is not None:
                return None
        for start, end in self.dates:
            if start <= day <= end:
                listed = "listed in dates" if start == end else f"in {start}..{end}"
                return Exclusion(self.name, listed)
        for region in self.holidays:
            holiday = region.name_of(day)
            if holiday is not None:
                return Exclusion(self.name, holiday)
        if self.business_days and day.weekday() >= 5:
            return Exclusion(self.name, "weekend")
        for other in self.include:
            found = other.excluded(day)
            if found is not None:
                return found
        return None

    def roll(self, day: date, roll: Roll) -> date | None:
        """The day an occurrence on ``day`` runs on: itself when not excluded, else the
        next or previous day not excluded (None for ``skip``, or none within a year)."""
        if self.excluded(day) is None:
            return day
        if roll == "skip":
            return None
        step = timedelta(days=1 if roll == "next_business_day" else -1)
        current = day
        for _ in range(MAX_ROLL_DAYS):
            try:
                current += step
            except OverflowError:
                return None
            if self.excluded(current) is None:
                return current
        return None

    def to_config(self) -> dict[str, Any]:
        """The resolved mapping (includes written out), as stored with a definition."""
        out: dict[str, Any] = {"name": self.name}
        if self.holidays:
            out["holidays"] = [r.to_config() for r in self.holidays]
        if self.dates:
            out["dates"] = [
                a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}"
                for a, b in self.dates
            ]
        if self.business_days:
            out["business_days"] = True
        if self.include:
            out["include"] = [c.to_config() for c in self.include]
        if self.exclude:
            out["exclude"] = [c.to_config() for c in self.exclude]
        return out

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> Calendar:
        """Rebuild from ``to_config`` output."""
        regions = data.get("holidays") or []
        if isinstance(regions, dict):
            regions = [regions]
        return cls(
            name=str(data.get("name", "")),
            holidays=tuple(HolidayRegion(str(r["country"]), r.get("subdiv")) for r in regions),
            dates=tuple(parse_date_range(d) for d in data.get("dates") or ()),
            business_days=bool(data.get("business_days", False)),
            include=tuple(cls.from_config(c) for c in data.get("include") or ()),
            exclude=tuple(cls.from_config(c) for c in data.get("exclude") or ()),
        )


def parse_date_range(value: Any) -> tuple[date, date]:
    """``2026-12-24``, ``2026-12-24..2026-12-31`` or ``{from: ..., to: ...}`` (inclusive)."""
    if isinstance(value, dict):
        start, end = _date(value.get("from")), _date(value.get("to"))
    elif isinstance(value, date):
        start = end = _date(value)
    else:
        text = str(value).strip()
        first, sep, last = text.partition("..")
        start = _date(first)
        end = _date(last) if sep else start
    if end < start:
        raise ScheduleSyntaxError(f"date range {start}..{end} ends before it starts")
    return start, end


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ScheduleSyntaxError(
            f"{value!r} is not a date (YYYY-MM-DD, or a range YYYY-MM-DD..YYYY-MM-DD)"
        ) from None

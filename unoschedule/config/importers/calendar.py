"""systemd calendar events (``OnCalendar=``, systemd.time(7)) as cron expressions.

A translation is made only where it is exact: each field of the event becomes the same
set of values in a cron field (seconds first when they are not all 0), a year becomes
``start_date``/``end_date``, a weekday restricted together with days of the month
becomes ``#`` (the n-th weekday) when the days are whole weeks. Otherwise
``CalendarError`` says why, in one line. systemd skips a wall time that a DST change
skips and fires once in a repeated hour, whatever the fields: ``DST`` is that policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import ScheduleSyntaxError
from ...timeutil import get_zone

__all__ = ["DST", "CalendarError", "CronTranslation", "never_together", "translate_calendar"]

DST = {"gap": "skip", "overlap": "first"}

SHORTHANDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "weekly": "Mon *-*-* 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ITEM = re.compile(r"^(\*|\d+(?:\.\d+)?)(?:\.\.(\d+(?:\.\d+)?))?(?:/(\d+(?:\.\d+)?))?$")


class CalendarError(ValueError):
    """An event with no exact cron form, or not a calendar event at all."""


@dataclass(frozen=True)
class CronTranslation:
    """The cron expression of an event, its zone (None: the machine's) and year bounds."""

    cron: str
    timezone: str | None = None
    start_date: str | None = None
    end_date: str | None = None


def _number(text: str, what: str) -> int:
    if "." in text:
        whole, _, frac = text.partition(".")
        if frac.strip("0"):
            raise CalendarError(f"fractions of a second ({text}) have no cron form")
        text = whole
    return int(text)


def _field(text: str, what: str, low: int, high: int) -> str:
    """One component (``*``, ``a``, ``a..b``, ``a/s``, ``a..b/s``, lists) as a cron field."""
    parts: list[str] = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise CalendarError(f"cannot read {what} {item!r}")
        start, end, step = match.groups()
        if start == "*":
            if end is not None:
                raise CalendarError(f"cannot read {what} {item!r}")
            parts.append("*" if step is None else f"*/{_number(step, what)}")
            continue
        first = _number(start, what)
        if not low <= first <= high:
            raise CalendarError(f"{what} {first} is out of range {low}-{high}")
        out = str(first)
        if end is not None:
            last = _number(end, what)
            if not first <= last <= high:
                raise CalendarError(f"{what} range {item!r} is out of order or range")
            out = f"{first}-{last}"
        if step is not None:
            size = _number(step, what)
            if size == 0:
                raise CalendarError(f"{what} step 0 in {item!r}")
            out += f"/{size}"
        parts.append(out)
    return ",".join(parts)


def _weekdays(text: str) -> set[int]:
    """Weekday names (``Mon``, ``monday``), lists and ``..``/``-`` ranges; 0 is Monday."""

    def day(name: str) -> int:
        lower = name.lower()
        if lower in WEEKDAYS:
            return WEEKDAYS.index(lower)
        if lower in _FULL_DAYS:
            return _FULL_DAYS.index(lower)
        raise CalendarError(f"unknown weekday {name!r}")

    days: set[int] = set()
    for item in text.split(","):
        a, sep, b = item.partition("..") if ".." in item else item.partition("-")
        if sep:
            first, last = day(a), day(b)
            if first > last:
                raise CalendarError(f"weekday range {item!r} runs backwards")
            days.update(range(first, last + 1))
        else:
            days.add(day(item))
    return days


def _values(field: str, low: int, high: int) -> set[int]:
    """The values of a cron field written by ``_field`` (numbers only)."""
    out: set[int] = set()
    for part in field.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if rng == "*":
            first, last = low, high
        elif "-" in rng:
            a, b = rng.split("-")
            first, last = int(a), int(b)
        else:
            first = int(rng)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return out


def _last_days(text: str) -> str:
    """``~N`` (the N-th last day; ``~1`` is the last) and ``~N/S`` as cron's ``L-n``."""
    parts: list[str] = []
    for item in text.split(","):
        match = re.fullmatch(r"(\d+)(?:/(\d+))?", item)
        if match is None:
            raise CalendarError(f"cannot read the day from the end of the month {item!r}")
        first = int(match.group(1))
        if not 1 <= first <= 28:
            raise CalendarError(f"day {first} from the end of the month is out of range")
        offsets = [first - 1]
        if match.group(2):
            step = int(match.group(2))
            if step == 0:
                raise CalendarError(f"step 0 in {item!r}")
            offsets = list(range(first - 1, -1, -step))
        parts += ["L" if n == 0 else f"L-{n}" for n in offsets]
    return ",".join(dict.fromkeys(parts))


def _split_event(text: str) -> tuple[str | None, str, str, str | None]:
    """(weekdays, date, time, zone) of an event, with systemd's defaults filled in."""
    words = text.split()
    zone = None
    if len(words) > 1 and not re.search(r"[:*]|^\d", words[-1]):
        zone = words.pop()
        try:
            get_zone(zone)
        except ScheduleSyntaxError:
            raise CalendarError(f"unknown time zone {zone!r}") from None
    weekdays = None
    if words and re.match(r"^[A-Za-z]", words[0]):
        weekdays = words.pop(0)
    date, time = "*-*-*", "00:00:00"
    if len(words) == 2:
        date, time = words
    elif len(words) == 1:
        if ":" in words[0]:
            time = words[0]
        else:
            date = words[0]
    elif len(words) > 2 or (not words and weekdays is None):
        raise CalendarError("not a calendar event: [WEEKDAYS] [YYYY-MM-DD] [HH:MM[:SS]] [ZONE]")
    return weekdays, date, time, zone


def translate_calendar(event: str) -> CronTranslation:
    """The exact cron form of one ``OnCalendar=`` value; ``CalendarError`` if none."""
    text = " ".join(event.split())
    if text.startswith("@"):
        raise CalendarError("an @epoch instant: write it as a one-time 'at:' schedule")
    head, _, last = text.rpartition(" ")
    if head.lower() in SHORTHANDS:  # "daily Europe/Berlin"
        text = f"{SHORTHANDS[head.lower()]} {last}"
    text = SHORTHANDS.get(text.lower(), text)
    weekdays, date, time, zone = _split_event(text)
    # -- date: [YEAR-]MONTH-DAY or [YEAR-]MONTH~DAY ---------------------------------------
    sep = "~" if "~" in date else "-"
    head, _, day = date.rpartition(sep)
    year, _, month = head.rpartition("-")
    if not head or not day or "-" in year:
        raise CalendarError(f"cannot read the date {date!r}")
    dom = _last_days(day) if sep == "~" else _field(day, "day", 1, 31)
    cron_month = _field(month, "month", 1, 12)
    start = end = None
    if year and year != "*":
        match = re.fullmatch(r"(\d{4})(?:\.\.(\d{4}))?", year)
        if match is None:
            raise CalendarError(
                f"years {year!r}: only one year or one range of years has an exact form "
                "(start_date and end_date)"
            )
        first, last = match.group(1), match.group(2) or match.group(1)
        start, end = f"{first}-01-01T00:00:00", f"{last}-12-31T23:59:59"
    # -- time: HOUR:MINUTE[:SECOND] ----------------------------------------------------------
    pieces = time.split(":")
    if len(pieces) == 2:
        pieces.append("00")
    if len(pieces) != 3:
        raise CalendarError(f"cannot read the time {time!r}")
    hour = _field(pieces[0], "hour", 0, 23)
    minute = _field(pieces[1], "minute", 0, 59)
    second = _field(pieces[2], "second", 0, 59)
    # -- weekdays, with cron's OR of the two day fields in mind --------------------------
    dow = "*"
    if weekdays is not None:
        days = _weekdays(weekdays)
        if len(days) < 7:
            names = [WEEKDAYS[d].upper() for d in sorted(days)]
            dow = ",".join(names)
            if dom != "*":
                dow, dom = _nth_weekdays(names, dom), "*"
    fields = [minute, hour, dom, cron_month, dow]
    if second != "0":
        fields.insert(0, second)
    return CronTranslation(" ".join(fields), zone, start, end)


def _nth_weekdays(names: list[str], dom: str) -> str:
    """Weekdays ANDed with days of the month, as ``DAY#n``: exact when the days are whole
    weeks 1-7, 8-14, 15-21, 22-28 (cron would OR a weekday with days of the month)."""
    if "L" in dom:
        days: set[int] = set()
    else:
        days = _values(dom, 1, 31)
    weeks = [n for n in range(1, 5) if set(range(7 * n - 6, 7 * n + 1)) <= days]
    if not days or days != {d for n in weeks for d in range(7 * n - 6, 7 * n + 1)}:
        raise CalendarError(
            "weekdays together with days of the month: systemd wants both, cron fires on "
            "either; only whole weeks (1..7, 8..14, 15..21, 22..28) have an exact form"
        )
    return ",".join(f"{name}#{n}" for n in weeks for name in names)


def _sets(found: CronTranslation) -> list[set[int] | None]:
    """Second, minute, hour and month values of a translation; day fields as values when
    the other day field is ``*`` and they are plain (None: not compared)."""
    fields = found.cron.split()
    if len(fields) == 5:
        fields.insert(0, "0")
    second, minute, hour, dom, month, dow = fields
    out: list[set[int] | None] = [
        _values(second, 0, 59), _values(minute, 0, 59), _values(hour, 0, 23),
        _values(month, 1, 12),
    ]  # fmt: skip
    plain_dom = dow == "*" and "L" not in dom
    out.append(_values(dom, 1, 31) if plain_dom else None)
    plain_dow = dom == "*" and "#" not in dow
    if dow == "*":
        out.append(set(range(7)))
    else:
        out.append({WEEKDAYS.index(d.lower()) for d in dow.split(",")} if plain_dow else None)
    return out


def never_together(a: CronTranslation, b: CronTranslation) -> bool:
    """True when no instant fires both (then two schedules are exactly one timer with
    two ``OnCalendar=`` lines, which fires once where they meet); False when unsure."""
    if a.timezone != b.timezone:
        return False
    if (
        a.start_date and b.start_date and a.end_date and b.end_date
        and (a.end_date < b.start_date or b.end_date < a.start_date)
    ):  # fmt: skip
        return True
    for x, y in zip(_sets(a), _sets(b), strict=True):
        if x is not None and y is not None and not x & y:
            return True
    return False

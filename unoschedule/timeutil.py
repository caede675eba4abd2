"""Parsing and printing of instants, durations and zones (pure: never reads the clock).

All instants inside the package are aware ``datetime`` objects in UTC; these helpers are
the only place where text becomes an instant or an instant becomes text, so that the
``...Z`` format of SPEC section 6 is produced in one way everywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ScheduleSyntaxError
from .wallclock import first_instant

__all__ = [
    "UTC",
    "as_utc",
    "format_duration",
    "format_elapsed",
    "format_instant",
    "get_zone",
    "parse_datetime",
    "parse_duration",
    "parse_instant",
]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds")
#: The longest duration accepted anywhere (intervals, timeouts, delays): 100 years. Longer
#: ones would run past the last instant a datetime can hold (year 9999) in the arithmetic
#: of the run loop; refusing them at validation means that whatever validates also runs.
MAX_DURATION = timedelta(days=36500)


@functools.lru_cache(maxsize=512)
def get_zone(name: str) -> tzinfo:
    """Return the IANA zone ``name``; an unknown name raises with the closest real name."""
    if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        pass
    import difflib
    from zoneinfo import available_timezones

    zones = available_timezones()
    lowered = {z.lower(): z for z in zones}
    if name.lower() in lowered:
        hint = lowered[name.lower()]
    else:
        close = difflib.get_close_matches(name, sorted(zones), n=1, cutoff=0.6)
        hint = close[0] if close else ""
    suffix = f"; did you mean {hint!r}?" if hint else " (use an IANA name such as 'Europe/Berlin')"
    raise ScheduleSyntaxError(f"unknown time zone {name!r}{suffix}")


def as_utc(value: datetime, zone: tzinfo = UTC) -> datetime:
    """Make ``value`` an aware UTC instant; a naive value is read as wall time in ``zone``
    as a fixed-time occurrence is (``first_instant``): a wall time the clock skips means
    the instant it jumps, a repeated one its first pass. So ``at: 02:30`` and a
    ``start_date`` on the night New York skips 02:00-03:00 mean 03:00, as ``daily:
    "02:30"`` does that night, not the 03:30 that ``replace(tzinfo=...)`` reads.

    A wall time whose instant falls outside the calendar (``9999-12-31T23:00`` west of
    UTC) is a ``ScheduleSyntaxError``, not an ``OverflowError`` from deep inside."""
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC) if zone is UTC else first_instant(value, zone)
        return value.astimezone(UTC)
    except OverflowError:
        where = value.tzinfo if value.tzinfo is not None else zone
        raise ScheduleSyntaxError(
            f"{value.replace(tzinfo=None).isoformat()} in {where} is outside the calendar "
            "(in UTC it would fall before 0001-01-01 or after 9999-12-31)"
        ) from None


def parse_instant(value: str | datetime | date, zone: tzinfo = UTC) -> datetime:
    """Parse an ISO 8601 instant (``Z`` or offset, or naive wall time in ``zone``)."""
    return as_utc(parse_datetime(value), zone)


def parse_datetime(value: str | datetime | date) -> datetime:
    """An ISO 8601 date and time (or a ``datetime``, or a ``date`` at midnight), naive
    when it names no zone or offset: wall time, which only the schedule's zone can make
    an instant, so it is kept as written until that zone is known."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    if text.lower() == "now":
        raise ScheduleSyntaxError("'now' is not an instant here; give a date and time")
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ScheduleSyntaxError(
            f"{text!r} is not an ISO 8601 instant (expected e.g. 2026-12-01T10:00:00Z)"
        ) from None


def format_instant(value: datetime | None, zone: tzinfo | None = None) -> str | None:
    """Print ``YYYY-MM-DDTHH:MM:SSZ`` (fractions only where non-zero), or in ``zone``."""
    if value is None:
        return None
    return _format_instant(value, zone)


@functools.lru_cache(maxsize=4096)
def _format_instant(value: datetime, zone: tzinfo | None) -> str:
    """Cached: the runs of a burst share their due instant, and each run's log line and
    environment print it."""
    if zone is not None and zone is not UTC:
        local = value.astimezone(zone)
        return local.isoformat(timespec="microseconds" if local.microsecond else "seconds")
    value = value.astimezone(UTC)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_duration(value: object, *, what: str = "duration") -> timedelta:
    """Parse ``90s``, ``5m``, ``1h30m``, ``1d``, a number of seconds, or a timedelta mapping."""
    try:
        result = _duration_value(value, what)
    except ScheduleSyntaxError:
        raise
    except (OverflowError, ValueError):
        raise ScheduleSyntaxError(
            f"{what} {_short(value)} is too long: at most {MAX_DURATION.days}d (100 years)"
        ) from None
    if result > MAX_DURATION:
        raise ScheduleSyntaxError(
            f"{what} {_short(value)} is too long: at most {MAX_DURATION.days}d (100 years)"
        )
    if result <= timedelta(0):
        raise ScheduleSyntaxError(f"{what} must be positive, got {value!r}")
    return result


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _duration_value(value: object, what: str) -> timedelta:
    """``parse_duration`` before its bounds; may raise ``OverflowError``/``ValueError``
    for numbers no timedelta can hold (1e300 seconds, 99999999999999999999 days, nan)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ScheduleSyntaxError(f"{what} must be a duration such as '5m', not {value!r}")
    if isinstance(value, int | float):
        if value != value:  # nan
            raise ScheduleSyntaxError(f"{what} must be a duration such as '5m', not {value!r}")
        return timedelta(seconds=float(value))
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in _TIMEDELTA_KEYS]
        if unknown:
            raise ScheduleSyntaxError(
                f"unknown {what} key {unknown[0]!r}; use one of {', '.join(_TIMEDELTA_KEYS)}"
            )
        try:
            numbers = {str(k): float(v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise ScheduleSyntaxError(f"{what} values must be numbers") from None
        if any(v != v for v in numbers.values()):
            raise ScheduleSyntaxError(f"{what} values must be numbers")
        return timedelta(**numbers)
    if isinstance(value, str):
        return _parse_duration_text(value, what)
    raise ScheduleSyntaxError(f"{what} must be a duration such as '5m', not {value!r}")


def _parse_duration_text(text: str, what: str) -> timedelta:
    stripped = text.strip()
    try:
        return timedelta(seconds=float(stripped))
    except ValueError:
        pass
    pos = 0
    total = 0.0
    compact = stripped.replace(" ", "")
    for match in _DURATION_RE.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
        pos = match.end()
    if pos != len(compact) or not compact:
        raise ScheduleSyntaxError(
            f"{text!r} is not a valid {what} (use e.g. 90s, 5m, 2h, 1d, 1h30m)", column=pos
        )
    return timedelta(seconds=total)


def format_elapsed(seconds: float) -> str:
    """How long something took or has been going, for people: ``12 ms``, ``1.5 s``,
    ``4m 10s``, ``1h 2m``, ``3d 4h`` (two units at most). The one form every command
    and ``explain`` prints; ``format_duration`` is the file's syntax instead."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size and len(parts) < 2:
            parts.append(f"{whole // size}{unit}")
            whole %= size
        elif parts:
            break
    return " ".join(parts)


def format_duration(delta: timedelta | float) -> str:
    """Print a duration compactly: ``1h30m``, ``5m``, ``90ms``."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    if seconds < 1 and seconds > 0:
        return f"{seconds * 1000:g}ms"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


# -- the stores' form of an instant -----------------------------------------------------


@functools.lru_cache(maxsize=8192)
def format_stored(value: datetime) -> str:
    """The fixed-width UTC text the stores keep (``2026-01-01T10:00:00.000000Z``): it
    sorts as time, in SQL and in Redis sorted sets alike. Cached: a burst writes the
    same few instants thousands of times."""
    if value.tzinfo is UTC:  # nearly always: less work than a conversion to UTC
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@functools.lru_cache(maxsize=8192)
def parse_stored(text: str) -> datetime:
    """An instant as the stores keep it (any ISO 8601 text is read too). Cached: a
    listing repeats the same few instants (datetimes are immutable: sharing is safe)."""
    try:
        value = datetime.fromisoformat(text)  # our own fixed-width UTC form: the fast path
    except ValueError:
        return parse_instant(text)
    return value if value.tzinfo is UTC else as_utc(value)


def stored_json_default(value: object) -> object:
    """How the stores write what JSON has no type for: instants in their stored form."""
    if isinstance(value, datetime):
        return format_stored(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)

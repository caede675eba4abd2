"""A brute-force reference for the time core, written to be obviously correct.

Nothing here imports ``unoschedule``. It walks through *real* time (UTC instants) one
step at a time (a minute for 5-field cron, a second for 6-field cron), converts each
instant to the zone's wall time, and asks a naive matcher whether that wall time fires.
The DST rules of SPEC section 3 are applied from first principles:

* an instant whose wall time was already shown earlier is a *second pass* of a repeated
  wall time (found by asking: "did some earlier instant have this same wall time?");
* when the wall time jumps forward by more than one step between two consecutive steps,
  the wall times in between never happen (a *gap*); under ``gap="shift"`` the schedule
  fires once at the instant the clock jumps if any of them match.

Policies: ``gap`` is ``"shift"`` or ``"skip"``, ``overlap`` is ``"first"`` or ``"both"``.
cronie's defaults are shift/first for fixed-time jobs and skip/both for wildcard jobs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache

__all__ = [
    "RefCron",
    "Transition",
    "ref_runs",
    "transitions",
    "wall_of",
]

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


# -- a tiny independent cron matcher ------------------------------------------------------


def _value(text: str, names: list[str], base: int) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + base
    return int(text)


def parse_field(
    text: str, low: int, high: int, names: list[str] | None = None, base: int = 0
) -> set[int]:
    """``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``, ``a/n`` and comma lists of those."""
    names = names or []
    out: set[int] = set()
    for item in text.split(","):
        rng, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if rng == "*":
            first, last = low, high
        elif "-" in rng:
            a, b = rng.split("-")
            first, last = _value(a, names, base), _value(b, names, base)
            if names is DAYS and last == 0 < first:
                last = 7  # cronie: a weekday range may end on Sunday as 0 (FRI-SUN)
        else:
            first = _value(rng, names, base)
            last = high if step_text else first
        value = first
        while value <= last:
            out.add(value)
            value += step
    return out


@dataclass(frozen=True)
class RefCron:
    """The common cron subset, matched field by field against a wall time."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool
    dow_star: bool
    wildcard: bool
    has_seconds: bool

    @classmethod
    def parse(cls, expression: str) -> RefCron:
        fields = expression.split()
        has_seconds = len(fields) == 6
        if not has_seconds:
            fields = ["0", *fields]
        sec, minute, hour, dom, month, dow = fields
        dows = parse_field(dow, 0, 7, DAYS, 0)
        if 7 in dows:
            dows = (dows - {7}) | {0}
        return cls(
            seconds=frozenset(parse_field(sec, 0, 59)),
            minutes=frozenset(parse_field(minute, 0, 59)),
            hours=frozenset(parse_field(hour, 0, 23)),
            doms=frozenset(parse_field(dom, 1, 31)),
            months=frozenset(parse_field(month, 1, 12, MONTHS, 1)),
            dows=frozenset(dows),
            dom_star=dom.startswith("*"),
            dow_star=dow.startswith("*"),
            wildcard=minute.startswith("*") or hour.startswith("*"),
            has_seconds=has_seconds,
        )

    def matches(self, wall: datetime) -> bool:
        if wall.second not in self.seconds or wall.minute not in self.minutes:
            return False
        if wall.hour not in self.hours or wall.month not in self.months:
            return False
        dom_ok = wall.day in self.doms
        dow_ok = (wall.weekday() + 1) % 7 in self.dows  # cron: 0 is Sunday
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    @property
    def default_gap(self) -> str:
        return "skip" if self.wildcard else "shift"

    @property
    def default_overlap(self) -> str:
        return "both" if self.wildcard else "first"


# -- real time to wall time -----------------------------------------------------------------


def offset_at(zone: tzinfo, ts: int) -> int:
    """The zone's UTC offset in whole seconds at the UNIX time ``ts``."""
    offset = datetime.fromtimestamp(ts, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def wall_of(zone: tzinfo, ts: int) -> datetime:
    """The naive wall time shown in ``zone`` at UNIX time ``ts``: UTC plus the offset."""
    return datetime(1970, 1, 1) + timedelta(seconds=ts + offset_at(zone, ts))


def _epoch(wall: datetime) -> int:
    """Seconds of a naive wall time counted as if it were UTC (a wall-clock scale)."""
    return int((wall - datetime(1970, 1, 1)).total_seconds())


def ref_runs(
    matches: Callable[[datetime], bool],
    zone: tzinfo,
    after: datetime,
    until: datetime,
    *,
    gap: str,
    overlap: str,
    step: int = 60,
    stats: Counter[str] | None = None,
) -> list[datetime]:
    """Every fire instant in ``(after, until]``, found by walking real time.

    ``step`` is 60 for minute-resolution schedules (all fires at ``:00`` seconds of wall
    time) and 1 for second-resolution ones. Offsets in the tested years are whole minutes
    and change on whole UTC minutes, so a minute walk sees every fire. ``stats``, if
    given, counts the steps at which a matching wall time was skipped (``gap``) or
    shown a second time (``overlap``), whatever the policy.
    """
    assert gap in ("shift", "skip") and overlap in ("first", "both")
    start = int(after.timestamp())
    start -= start % step  # align on the step grid (UTC minutes)
    stop = int(until.timestamp())
    # Every offset the zone uses around the window (an offset period lasts > 10 minutes).
    offsets = {offset_at(zone, t) for t in range(start - 2 * 86400, stop + 600, 600)}
    fires: list[datetime] = []
    prev_wall = _epoch(wall_of(zone, start))
    t = start + step
    while t <= stop:
        off = offset_at(zone, t)
        wall = t + off  # on the wall-clock scale
        fire = False
        # 1. Was the wall time shown earlier, by an instant with another offset?
        repeat = False
        for other in offsets:
            earlier = wall - other
            if other > off and earlier < t and offset_at(zone, earlier) == other:
                repeat = True
        naive = datetime(1970, 1, 1) + timedelta(seconds=wall)
        if matches(naive):
            if not repeat or overlap == "both":
                fire = True
            if repeat and stats is not None:
                stats["overlap"] += 1
        # 2. Did the clock jump forward over some wall times since the previous step?
        if wall - prev_wall > step:
            skipped = prev_wall + step
            while skipped < wall:
                if matches(datetime(1970, 1, 1) + timedelta(seconds=skipped)):
                    fire = fire or gap == "shift"
                    if stats is not None:
                        stats["gap"] += 1
                    break
                skipped += step
        if fire and t > after.timestamp():
            fires.append(datetime.fromtimestamp(t, UTC))
        prev_wall = wall
        t += step
    return fires


def cron_runs(
    expression: str,
    zone: tzinfo,
    after: datetime,
    until: datetime,
    gap: str | None = None,
    overlap: str | None = None,
) -> list[datetime]:
    cron = RefCron.parse(expression)
    return ref_runs(
        cron.matches,
        zone,
        after,
        until,
        gap=gap or cron.default_gap,
        overlap=overlap or cron.default_overlap,
        step=1 if cron.has_seconds else 60,
    )


# -- finding a zone's transitions ------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """The zone's offset changes from ``before`` to ``after`` (seconds) at ``at`` (UTC)."""

    zone_name: str
    at: datetime
    before: int
    after: int

    @property
    def is_gap(self) -> bool:
        return self.after > self.before

    @property
    def is_overlap(self) -> bool:
        return self.after < self.before

    @property
    def wall_before(self) -> datetime:
        """The wall time just as the change happens, read with the old offset."""
        return (self.at + timedelta(seconds=self.before)).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        return (self.at + timedelta(seconds=self.after)).replace(tzinfo=None)


@cache
def transitions(zone_name: str, years: tuple[int, ...]) -> tuple[Transition, ...]:
    """Offset changes in ``years``: scan the offset hour by hour, then bisect to the second."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    found: list[Transition] = []
    for year in years:
        lo_ts = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
        hi_ts = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
        prev = offset_at(zone, lo_ts)
        for t in range(lo_ts + 3600, hi_ts + 1, 3600):
            cur = offset_at(zone, t)
            if cur != prev:
                a, b = t - 3600, t  # offset(a) == prev, offset(b) == cur
                while b - a > 1:
                    mid = (a + b) // 2
                    if offset_at(zone, mid) == prev:
                        a = mid
                    else:
                        b = mid
                found.append(Transition(zone_name, datetime.fromtimestamp(b, UTC), prev, cur))
                prev = cur
    return tuple(found)

"""``uno-schedule calendar``: when every schedule fires over a window, at a glance.

One row per schedule on a shared time axis of buckets (24h: 15- or 30-minute buckets,
7d: 2-hourly, narrower on a narrow terminal), a load row with the number of fires per
bucket, a row with the most schedules that fire at one same instant in each bucket,
and the list of collisions: instants at which several schedules fire together, such as
the midnight pile-up. The fire instants come from each definition's ``timeline`` in the
library; this module only counts and draws them.

Buckets are spans of the local clock of the zone the axis names, not of elapsed time:
a one-day bucket is a local calendar day (23 or 25 hours when DST changes), an hour's
bucket starts on the local hour, and the window is so many local days or hours. So a
daily job shows once a day, in the same column of each day, across a DST change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from unoschedule.wallclock import first_instant

if TYPE_CHECKING:
    from rich.console import RenderableType

    from unoschedule.model import ScheduleDefinition
    from unoschedule.schedules import Timeline

__all__ = ["CalendarData", "choose_bucket", "compute", "floor_local", "render", "to_json"]

NICE_BUCKETS = tuple(
    timedelta(minutes=m)
    for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080)
)
#: Beyond this many fires of one schedule in one bucket, skip to the next bucket.
PER_BUCKET_CAP = 500
_SPARK = " ▁▂▃▄▅▆▇█"
_EPSILON = timedelta(microseconds=1)


@dataclass
class Row:
    name: str
    description: str
    counts: list[int]
    total: int = 0
    truncated: bool = False


@dataclass
class Collision:
    at: datetime
    names: list[str]


@dataclass
class CalendarData:
    start: datetime
    end: datetime
    bucket: timedelta
    zone: tzinfo
    zone_name: str
    #: The instants the buckets start at, and the end: bucket ``i`` is
    #: ``[bounds[i], bounds[i + 1])`` (empty for one a DST gap skips entirely).
    bounds: list[datetime] = field(default_factory=list)
    #: The local wall time (naive) each bucket starts at, which the axis is labelled by.
    walls: list[datetime] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    fires: list[int] = field(default_factory=list)
    active: list[int] = field(default_factory=list)  # schedules firing in each bucket
    peak: list[int] = field(default_factory=list)  # most schedules at one instant
    collisions: list[Collision] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)  # name -> why it has no row

    @property
    def starts(self) -> list[datetime]:
        return self.bounds[:-1]

    def index(self, instant: datetime) -> int:
        """The bucket ``instant`` (in ``[start, end)``) falls in."""
        return bisect_right(self.bounds, instant) - 1


def choose_bucket(window: timedelta, max_columns: int) -> timedelta:
    """The smallest nice bucket that shows ``window`` in at most ``max_columns`` columns."""
    for size in NICE_BUCKETS:
        if window / size <= max_columns:
            return size
    return NICE_BUCKETS[-1]


def floor_local(instant: datetime, bucket: timedelta, zone: tzinfo) -> datetime:
    """The local wall time (naive, in ``zone``) of the bucket boundary at or before
    ``instant``: its local midnight for a bucket of a day or more, else the last
    multiple of the bucket since that midnight."""
    local = instant.astimezone(zone).replace(tzinfo=None)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    step = int(bucket.total_seconds())
    if step >= 86400:
        return midnight
    since = local.hour * 3600 + local.minute * 60 + local.second
    return midnight + timedelta(seconds=since - since % step)


def _axis_bounds(
    start: datetime, count: int, bucket: timedelta, zone: tzinfo
) -> tuple[list[datetime], list[datetime]]:
    """The wall times ``count`` buckets start at from the boundary at or before
    ``start`` (and the one they end at), stepped on the local clock, and the instants
    those are: a boundary that a DST gap skips is the instant the clock jumps, one in a
    repeated hour its first pass (``wallclock.first_instant``, as for a fixed time).
    Boundaries inside a gap all are that instant: only the last is kept, so a bucket
    the clock skips entirely is not listed (three 30-minute buckets at one instant)."""
    first = floor_local(start, bucket, zone)
    walls: list[datetime] = []
    bounds: list[datetime] = []
    for i in range(count + 1):
        wall = first + bucket * i
        instant = first_instant(wall, zone)
        if bounds and instant == bounds[-1]:
            walls[-1] = wall  # the earlier boundary begins nothing: the clock skipped it
            continue
        walls.append(wall)
        bounds.append(instant)
    return walls, bounds


def compute(
    timelines: Mapping[str, tuple[ScheduleDefinition, Timeline]],
    start: datetime,
    window: timedelta,
    bucket: timedelta,
    zone: tzinfo,
    zone_name: str,
    hidden: Mapping[str, str] | None = None,
) -> CalendarData:
    """Count the fires of every schedule in each of the buckets that cover ``window``
    from the local bucket boundary at or before ``start`` (``floor_local``), by the
    timelines the leader fires them by (``Scheduler.timelines``), so that the calendar
    and ``next-runs`` agree."""
    walls, bounds = _axis_bounds(start, max(1, -(-window // bucket)), bucket, zone)
    count = len(bounds) - 1
    data = CalendarData(bounds[0], bounds[-1], bucket, zone, zone_name, bounds, walls[:-1])
    data.hidden = dict(hidden or {})
    data.fires = [0] * count
    data.active = [0] * count
    by_instant: dict[datetime, list[str]] = defaultdict(list)
    for name, (definition, timeline) in timelines.items():
        if name in data.hidden:
            continue
        if not definition.schedule.on_clock:
            data.hidden[name] = (
                "fires on events only"
                if definition.type == "event"
                else ("runs after another schedule's runs only")
            )
            continue
        row = Row(name, _description(definition), [0] * count)
        after = data.start - _EPSILON
        while True:
            instant = timeline.next(after)
            if instant is None or instant >= data.end:
                break
            index = data.index(instant)
            row.counts[index] += 1
            row.total += 1
            by_instant[instant].append(name)
            after = instant
            if row.counts[index] >= PER_BUCKET_CAP:
                row.truncated = True
                after = data.bounds[index + 1] - _EPSILON
        for index, n in enumerate(row.counts):
            if n:
                data.fires[index] += n
                data.active[index] += 1
        data.rows.append(row)
    data.peak = [0] * count
    for instant, names in by_instant.items():
        index = data.index(instant)
        data.peak[index] = max(data.peak[index], len(names))
        if len(names) > 1:
            data.collisions.append(Collision(instant, sorted(names)))
    data.collisions.sort(key=lambda c: (-len(c.names), c.at))
    return data


def _description(definition: ScheduleDefinition) -> str:
    text = definition.schedule.describe()
    if definition.type in ("cron", "daily", "weekly", "monthly") and definition.timezone:
        text += f", {definition.timezone}"
    return text


# -- JSON --------------------------------------------------------------------------------


def to_json(data: CalendarData) -> dict[str, Any]:
    from unoschedule.timeutil import format_instant

    collided: dict[int, set[str]] = defaultdict(set)
    for c in data.collisions:
        collided[data.index(c.at)].update(c.names)
    return {
        "start": format_instant(data.start),
        "end": format_instant(data.end),
        "timezone": data.zone_name,
        "bucket_seconds": int(data.bucket.total_seconds()),
        "buckets": [
            {
                "start": format_instant(s),
                "local": format_instant(s, data.zone),
                "fires": data.fires[i],
                "schedules": data.active[i],
                "peak": data.peak[i],
                "collision": data.peak[i] > 1,
            }
            for i, s in enumerate(data.starts)
        ],
        "schedules": [
            {
                "name": r.name,
                "description": r.description,
                "fires": r.total,
                "counts": r.counts,
                "truncated": r.truncated,
            }
            for r in data.rows
        ],
        "collisions": [
            {
                "at": format_instant(c.at),
                "local": format_instant(c.at, data.zone),
                "schedules": c.names,
            }
            for c in data.collisions
        ],
        "hidden": data.hidden,
    }


# -- the picture ---------------------------------------------------------------------------


def _mark(n: int) -> str:
    if n == 0:
        return "·"
    if n == 1:
        return "●"
    if n < 10:
        return str(n)
    return "█"


def _axis(data: CalendarData, width: int) -> tuple[str, str]:
    """Two header lines: dates where a day starts, and times at regular columns."""
    starts = data.walls  # labelled by the local clock, even where a bucket is skipped
    step_minutes = int(data.bucket.total_seconds() // 60)
    days = [" "] * width
    times = [" "] * width
    span = step_minutes * 6  # a label about every six columns, on a round local time
    label_minutes = next((m for m in (60, 120, 180, 360, 720, 1440) if m >= span), 1440)
    per_day = 1440 // max(1, step_minutes)
    day_format = "%a %d %b" if per_day >= 11 else ("%a %d" if per_day >= 7 else "%d")
    boundaries = [
        i for i, local in enumerate(starts) if i == 0 or local.date() != starts[i - 1].date()
    ]
    for n, i in enumerate(boundaries):
        text = starts[i].strftime(day_format)
        room = (boundaries[n + 1] if n + 1 < len(boundaries) else width) - i
        if len(text) < room or (n + 1 == len(boundaries) and len(text) <= room):
            days[i : i + len(text)] = list(text)
    free_time = 0
    for i, local in enumerate(starts):
        on_mark = (local.hour * 60 + local.minute) % label_minutes == 0
        text = local.strftime("%H:%M") if step_minutes < 60 else local.strftime("%H")
        if step_minutes < 1440 and on_mark and i >= free_time and i + len(text) <= width:
            times[i : i + len(text)] = list(text)
            free_time = i + len(text) + 1
    return "".join(days).rstrip(), "".join(times).rstrip()


def render(data: CalendarData, *, max_collisions: int = 8) -> Iterable[RenderableType]:
    """Rich renderables for the terminal: header, rows, load, collisions."""
    from rich.text import Text

    from unoschedule.timeutil import format_duration

    width = len(data.fires)
    label = min(28, max([len(r.name) for r in data.rows] + [12]))
    local_start = data.start.astimezone(data.zone)
    local_end = data.end.astimezone(data.zone)
    yield Text.assemble(
        ("Calendar ", "bold"),
        f"{local_start:%Y-%m-%d %H:%M} to {local_end:%Y-%m-%d %H:%M} {data.zone_name}, "
        f"one column per {format_duration(data.bucket)}",
    )
    days, times = _axis(data, width)
    yield Text(" " * (label + 1) + days, style="dim")
    yield Text(" " * (label + 1) + times, style="dim")

    collided: dict[int, set[str]] = defaultdict(set)
    for c in data.collisions:
        collided[data.index(c.at)].update(c.names)
    for row in data.rows:
        line = Text(_fit(row.name, label) + " ")
        for i, n in enumerate(row.counts):
            if n == 0:
                line.append("·", style="dim")
            elif row.name in collided.get(i, ()):
                line.append(_mark(n), style="bold red")
            else:
                line.append(_mark(n), style="cyan")
        line.append(f"  {row.total}", style="dim")
        yield line
    yield Text(" " * (label + 1) + "─" * width, style="dim")

    top = max(data.fires, default=0)
    load = Text(_fit("fires", label) + " ")
    for n in data.fires:
        level = 0 if n == 0 else max(1, round(n / top * (len(_SPARK) - 1))) if top else 0
        load.append(_SPARK[level], style="magenta")
    load.append(f"  max {top}", style="dim")
    yield load
    together = Text(_fit("at once", label) + " ")
    for n in data.peak:
        if n <= 1:
            together.append("·", style="dim")
        else:
            together.append(str(n) if n < 10 else "+", style="bold white on red")
    yield together
    yield Text("● 1 fire, 2-9 fires, █ 10 or more; 'at once': most schedules firing", style="dim")
    yield Text("at one same instant (2 or more: a collision, in red)", style="dim")
    if data.collisions:
        yield Text(f"\nCollisions ({len(data.collisions)}):", style="bold")
        for c in data.collisions[:max_collisions]:
            local = c.at.astimezone(data.zone)
            yield Text.assemble(
                (f"  {local:%a %d %b %H:%M:%S}", "bold red"),
                f"  {len(c.names)} at once: {', '.join(c.names)}",
            )
        if len(data.collisions) > max_collisions:
            yield Text(f"  ... and {len(data.collisions) - max_collisions} more", style="dim")
    else:
        yield Text("\nNo collisions: no two schedules fire at the same instant.", style="green")
    for name, why in sorted(data.hidden.items()):
        yield Text(f"not shown: {name} ({why})", style="dim")
    if any(r.truncated for r in data.rows):
        yield Text(f"(counts above {PER_BUCKET_CAP} per bucket are capped)", style="dim")


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[: width - 1] + "…"
    return text.ljust(width)

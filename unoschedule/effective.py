"""A schedule's effective occurrences: its nominal instants after its calendar, its
blackout windows and its jitter.

This is the one place those rules meet. ``ScheduleDefinition.timeline()`` returns an
``EffectiveTimeline`` for a schedule that has any of them, so the run loop (which
claims ``slot``s and asks ``occurrence`` what to do with each), ``next-runs``,
``calendar``, ``plan``, ``explain`` and the library (which read ``next``) all get the
same answer. Pure: "now" is always passed in, and a random delay is drawn from the
generator the caller gives.

- A calendar removes occurrences on the days it excludes, or rolls them to the next or
  previous day it does not (same wall time): a rolled occurrence is claimed at its new
  instant. The wall time is the one the occurrence stands for (02:30 for a daily 02:30
  that a DST gap moved to 03:00) and lands on its new day by the schedule's own DST
  policy, as that day's own occurrences do: in a gap at the jump (or not at all under
  ``gap: skip``), in a repeated hour on the first pass.
- A blackout window turns the occurrences inside it into ``skipped`` records; with
  ``defer: true`` the first of them runs at the window's end instead (the others are
  skipped: one deferred run per window, not a burst).
- Jitter delays the start, never the claim: the occurrence is claimed under its slot
  and waits ``start - slot`` as a queued run, so a restart during the delay finds the
  queued run and neither redraws nor repeats it. ``jitter_fixed`` makes the delay a
  stable fraction of the jitter hashed from the schedule's name, as cron ``H`` is.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, tzinfo

from .blackout import Blackout, Cover, covering
from .calendars import Calendar, Roll
from .cron import stable_hash
from .schedules import Occurrence, Timeline
from .timeutil import format_duration, format_instant
from .wallclock import CRONIE_FIXED, DstPolicy, first_instant, wall_instants

__all__ = ["EffectiveTimeline", "draw_start", "fixed_offset", "next_start"]

_EPSILON = timedelta(microseconds=1)
#: At most this many nominal instants are looked at for one answer (a calendar that
#: excludes nearly everything must not make a question take forever).
_SCAN_LIMIT = 200_000


def fixed_offset(name: str, jitter: timedelta) -> timedelta:
    """The stable delay of ``jitter_fixed``: a fraction of ``jitter`` hashed from the
    schedule's name (the hash of cron ``H``), in whole seconds when the jitter allows."""
    fraction = stable_hash(name, "jitter") / 2**32
    seconds = jitter.total_seconds() * fraction
    return timedelta(seconds=int(seconds) if jitter >= timedelta(seconds=1) else seconds)


def draw_start(occurrence: Occurrence, rng: random.Random | None = None) -> datetime | None:
    """When to start an occurrence: its ``start`` plus a uniform delay in ``[0, spread)``."""
    if occurrence.start is None or not occurrence.spread:
        return occurrence.start
    source = rng or random
    return occurrence.start + timedelta(seconds=source.random() * occurrence.spread.total_seconds())


def next_start(timeline: Timeline, next_run: datetime) -> datetime | None:
    """When a schedule whose next occurrence to claim is ``next_run`` (the loop's, or the
    stored one) next starts, or None when none is left: its blackout skips the claim
    instant or defers its start, its jitter delays it. The one answer to "next run" for
    status, list, metrics and ``top``: the claim instant is the loop's key, not what an
    operator waits for. A timeline without those rules starts each run at its claim."""
    if not isinstance(timeline, EffectiveTimeline):
        return next_run
    return timeline.next(next_run - _EPSILON)


class EffectiveTimeline(Timeline):
    """``nominal`` with a calendar, blackout windows and jitter applied."""

    def __init__(
        self,
        nominal: Timeline,
        *,
        zone: tzinfo,
        name: str,
        calendar: Calendar | None = None,
        roll: Roll = "skip",
        blackouts: tuple[Blackout, ...] = (),
        jitter: timedelta = timedelta(0),
        jitter_fixed: bool = False,
        dst: DstPolicy = CRONIE_FIXED,
    ):
        self.nominal = nominal
        self.zone = zone
        #: The schedule's DST policy, by which a rolled occurrence lands on its new day.
        self.dst = dst
        self.name = name
        self.calendar = calendar
        self.roll = roll
        self.blackouts = blackouts
        self.offset = fixed_offset(name, jitter) if jitter_fixed and jitter else timedelta(0)
        self.spread = timedelta(0) if jitter_fixed else jitter

    # -- the calendar: nominal instants to slots ----------------------------------------

    def _local_day(self, instant: datetime) -> date:
        """The day of the occurrence at ``instant``: the day of the wall time it stands
        for (the skipped 2011-12-30 for an Apia occurrence its gap moved to the 31st)."""
        return self.nominal.wall_time(instant, self.zone).date()

    def exclusion(self, nominal: datetime) -> str | None:
        """Why the calendar does not run a nominal instant where it is, or None."""
        if self.calendar is None:
            return None
        found = self.calendar.excluded(self._local_day(nominal))
        return str(found) if found is not None else None

    def rolled(self, nominal: datetime) -> datetime | None:
        """Where the calendar puts a nominal instant: itself, another day at the same
        wall time (a roll), or None (excluded, or rolled into a DST gap that the
        schedule's ``dst: {gap: skip}`` does not run). A rolled wall time that a fall-back
        repeats runs once, on the first pass."""
        if self.calendar is None:
            return nominal
        wall = self.nominal.wall_time(nominal, self.zone)
        day = wall.date()
        target = self.calendar.roll(day, self.roll)
        if target is None or target == day:
            return None if target is None else nominal
        lands = wall_instants(datetime.combine(target, wall.time()), self.zone, self.dst)
        return lands[0] if lands else None

    def _midnight(self, day: date) -> datetime:
        """When ``day`` begins: its first real instant (the jump, where a DST gap skips
        midnight)."""
        return first_instant(datetime.combine(day, time()), self.zone)

    def slot(self, after: datetime) -> datetime | None:
        calendar = self.calendar
        if calendar is None:
            return self.nominal.next(after)
        if self.roll == "skip":
            current = self.nominal.next(after)
            for _ in range(_SCAN_LIMIT):
                if current is None:
                    return None
                day = self._local_day(current)
                if calendar.excluded(day) is None:
                    return current
                current = self.nominal.next(
                    max(current, self._midnight(day + timedelta(1)) - _EPSILON)
                )
            return None
        forward = self.roll == "next_business_day"
        start = after
        if forward:  # an occurrence on an excluded day before ``after`` may roll past it
            day = self._local_day(after)
            for _ in range(366):
                if calendar.excluded(day - timedelta(1)) is None:
                    break
                day -= timedelta(1)
            start = min(after, self._midnight(day) - _EPSILON)
        best: datetime | None = None
        current = self.nominal.next(start)
        for _ in range(_SCAN_LIMIT):
            if current is None:
                break
            if best is not None:
                if forward and current > best:
                    break
                if not forward:
                    target = calendar.roll(self._local_day(current), self.roll)
                    if target is not None and target > self._local_day(best):
                        break
            moved = self.rolled(current)
            if moved is not None and moved > after and (best is None or moved < best):
                best = moved
            current = self.nominal.next(current)
        return best

    # -- blackouts and jitter: slots to runs ----------------------------------------------

    def _cover(self, instant: datetime) -> Cover | None:
        return covering(self.blackouts, instant, self.zone) if self.blackouts else None

    def occurrence(self, slot: datetime) -> Occurrence:
        cover = self._cover(slot)
        if cover is not None:
            name = cover.window.name
            if not cover.window.defer:
                return Occurrence(slot, None, skipped=f"skipped by blackout {name}")
            earlier = self.slot(cover.begin - _EPSILON)
            if earlier is not None and earlier < slot:
                return Occurrence(
                    slot,
                    None,
                    skipped=f"skipped by blackout {name}: an earlier occurrence runs at its "
                    f"end ({format_instant(cover.end + self.offset)})",
                )
            return Occurrence(
                slot,
                cover.end + self.offset,
                self.spread,
                note=f"deferred by blackout {name} to {format_instant(cover.end)}",
            )
        note = f"fixed jitter +{format_duration(self.offset)}" if self.offset else None
        if self.spread:
            note = f"random jitter up to {format_duration(self.spread)}"
        return Occurrence(slot, slot + self.offset, self.spread, note=note)

    def next(self, after: datetime) -> datetime | None:
        if not self.blackouts and not self.offset:
            return self.slot(after)
        found = self._next_run(after)
        return found.start if found is not None else None

    def _next_run(self, after: datetime) -> Occurrence | None:
        """The first occurrence that runs and starts strictly after ``after``."""
        shifted = after - self.offset
        cover = self._cover(shifted)
        if cover is not None and cover.window.defer:
            first = self.slot(cover.begin - _EPSILON)
            if first is not None and first <= shifted:
                return self.occurrence(first)
        current = self.slot(shifted)
        for _ in range(_SCAN_LIMIT):
            if current is None:
                return None
            found = self.occurrence(current)
            if found.start is not None and found.start > after:
                return found
            skip_to = current
            if found.skipped is not None:
                blocked = self._cover(current)
                if blocked is not None and blocked.end > current:
                    skip_to = blocked.end - _EPSILON
            current = self.slot(skip_to)
        return None

    def upcoming(self, after: datetime, count: int) -> list[Occurrence]:
        """The next ``count`` occurrences that run, with their starts and jitter windows."""
        out: list[Occurrence] = []
        current = after
        while len(out) < count:
            found = self._next_run(current) if self.blackouts or self.offset else None
            if found is None:
                slot = None if (self.blackouts or self.offset) else self.slot(current)
                if slot is None:
                    break
                found = self.occurrence(slot)
            assert found.start is not None
            out.append(found)
            current = found.start
        return out

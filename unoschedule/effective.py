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

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import NamedTuple

from .blackout import Blackout, Cover, covering
from .calendars import MAX_ROLL_DAYS, Calendar, Roll
from .cron import stable_hash
from .schedules import Occurrence, Timeline
from .timeutil import format_duration, format_instant
from .wallclock import CRONIE_FIXED, DstPolicy, first_instant, wall_instants, zone_offsets

__all__ = ["EffectiveTimeline", "draw_start", "fixed_offset", "next_start"]

_EPSILON = timedelta(microseconds=1)
#: At most this many nominal instants are looked at for one answer (a calendar that
#: excludes nearly everything must not make a question take forever).
_SCAN_LIMIT = 200_000
#: How far past ``after`` (or past the end of the last from/to window, when that is
#: later) the next run is looked for: an occurrence beyond it is found only when it is
#: the first one there. 100 years, which a person cannot tell from never: the longest
#: duration the configuration takes (an ``every:``, a window's ``for:``), and more than
#: twice the longest gap between two occurrences of a cron expression (40 years:
#: ``0 0 * 2 1#5``, a 29 February that is a Monday, across 2100). A schedule whose
#: every occurrence falls in a blackout window so has no next run: the README says so.
HORIZON = timedelta(days=36525)
#: UTC offsets are under a day, so two of them differ by under two days: what a step of
#: a scan looks at lies within this much of the instants it compares.
_OFFSETS_APART = timedelta(days=2)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Occurrences and windows that repeat only over a longer span (an ``every: 7m13s``
#: against a daily window: 433 days) are scanned step by step: no offset period holds
#: two of their cycles.
_LONGEST_PERIOD = timedelta(days=366)


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

    #: How far ahead ``next`` and ``upcoming`` look (``HORIZON``).
    horizon: timedelta = HORIZON

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
        day = self._local_day(nominal)
        target = self.calendar.roll(day, self.roll)
        if target is None or target == day:
            return None if target is None else nominal
        return self._land(nominal, target)

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
        return self._rolled_slot(after, calendar)

    def _rolled_slot(self, after: datetime, calendar: Calendar) -> datetime | None:
        """``slot`` under a roll: the first instant past ``after`` at which an occurrence
        runs, on its own day or rolled onto another.

        A day's occurrences all land on the same day, in their order, when its UTC
        offset holds all day: there only the first whose landing is past ``after`` can
        be the answer, so the scan jumps to it (near ``after``'s wall time when they
        land on ``after``'s day) and then to the next day. A stretch of excluded days
        costs a few steps per day, not one per occurrence (an every-minute schedule over
        half a year of closed days). On a day with a clock change every occurrence is
        looked at: its wall times may repeat."""
        targets = _RollTargets(calendar, self.roll)
        forward = targets.forward
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
            day = self._local_day(current)
            target = targets.of(day)
            if best is not None:
                if forward and current > best:
                    break
                if not forward and target is not None and target > self._local_day(best):
                    break
            if target == day:  # a day the calendar runs on: its own occurrences
                if current <= after:  # ``after``'s own day: no closed day lies between
                    current = self.nominal.next(after)
                    continue
                if best is None or current < best:
                    best = current
                current = self.nominal.next(current)
                continue
            ends = self._next_midnight(day)
            if target is None or self._ends_by(target, after):
                current = self._first_after(ends, current)  # none lands past ``after``
                continue
            steady = self._steady(day, ends)
            if steady and after >= self._midnight(target):  # they land on ``after``'s day
                wall = after.astimezone(self.zone).time()
                jump = first_instant(datetime.combine(day, wall), self.zone)
                if jump > current:
                    current = self.nominal.next(jump - _EPSILON)
                    continue
            moved = self._land(current, target)
            if moved is not None and moved > after:
                if best is None or moved < best:
                    best = moved
                if steady:  # the day's later occurrences land later
                    current = self._first_after(ends, current)
                    continue
            current = self.nominal.next(current)
        return best

    def _land(self, nominal: datetime, target: date) -> datetime | None:
        """Where the occurrence at ``nominal`` runs when rolled onto ``target``: its wall
        time there, by the schedule's DST policy (None in a gap it does not run)."""
        wall = self.nominal.wall_time(nominal, self.zone)
        lands = wall_instants(datetime.combine(target, wall.time()), self.zone, self.dst)
        return lands[0] if lands else None

    def _next_midnight(self, day: date) -> datetime | None:
        """When ``day`` ends: the next day's midnight (None for the calendar's last day)."""
        try:
            return self._midnight(day + timedelta(1))
        except OverflowError:
            return None

    def _first_after(self, ends: datetime | None, current: datetime) -> datetime | None:
        """The first occurrence from ``ends``, the end of ``current``'s day, on."""
        return None if ends is None else self.nominal.next(max(current, ends - _EPSILON))

    def _ends_by(self, day: date, instant: datetime) -> bool:
        """Whether ``day`` is over at ``instant`` (the calendar's last day never is)."""
        ends = self._next_midnight(day)
        return ends is not None and instant >= ends

    def _steady(self, day: date, ends: datetime | None) -> bool:
        """Whether ``day``, ending at ``ends``, has one UTC offset all day in the zone."""
        if ends is None:
            return False
        begin = self._midnight(day).replace(tzinfo=None)
        _, _, until, _ = zone_offsets(self.zone).period(begin)
        return until >= ends.replace(tzinfo=None)

    # -- blackouts and jitter: slots to runs ----------------------------------------------

    def _cover(self, instant: datetime) -> Cover | None:
        return covering(self.blackouts, instant, self.zone) if self.blackouts else None

    def occurrence(self, slot: datetime) -> Occurrence:
        return self._covered(slot, self._cover(slot))

    def _covered(self, slot: datetime, cover: Cover | None) -> Occurrence:
        """``occurrence(slot)``, given the blackout covering it."""
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
        """The first occurrence that runs and starts strictly after ``after``, looked for
        up to ``HORIZON`` ahead (``_horizon``).

        Each step takes the next slot and, when a blackout skips it, goes on from the
        end of that blackout. ``_Repeats`` steps over whole cycles of steps that come
        round again, which a schedule blacked out at every occurrence otherwise walks
        one by one to the horizon: it lands where the steps would have, so the answer is
        the same.
        """
        shifted = after - self.offset
        cover = self._cover(shifted)
        if cover is not None and cover.window.defer:
            first = self.slot(cover.begin - _EPSILON)
            if first is not None and first <= shifted:
                deferred = self.occurrence(first)
                # not when windows chain into one another: the first slot of the one
                # ``after`` is in may have been skipped by an earlier one; scan on
                if deferred.start is not None and deferred.start > after:
                    return deferred
        horizon = self._horizon(shifted)
        repeats = _Repeats.of(self)
        position: datetime | None = None  # where the last step went on from
        current = self.slot(shifted)
        for _ in range(_SCAN_LIMIT):
            if current is None:
                return None
            blocked = self._cover(current)
            found = self._covered(current, blocked)
            if found.start is not None and found.start > after:
                return found
            if current > horizon:
                return None
            skip_to = current
            if found.skipped is not None and blocked is not None and blocked.end > current:
                skip_to = blocked.end - _EPSILON
            if repeats is not None and position is not None:
                skip_to = repeats.forward(position, skip_to, horizon)
            position = skip_to
            current = self.slot(skip_to)
        return None

    def _spans(self) -> list[tuple[datetime, datetime]]:
        """Instants (UTC) between which each from/to window can cover anything: its wall
        times widened by two days, as no UTC offset reaches a day."""
        out = []
        for window in self.blackouts:
            if window.start is not None and window.end is not None:
                begin = window.start.replace(tzinfo=UTC) - _OFFSETS_APART
                out.append((begin, window.end.replace(tzinfo=UTC) + _OFFSETS_APART))
        return out

    def _horizon(self, after: datetime) -> datetime:
        """Up to when ``_next_run`` looks: ``HORIZON`` past ``after``, or past the end of
        the last from/to window when that is later (a freeze of many years is one step,
        and what runs after it is what a person asks for)."""
        start = max([after, *(end for _, end in self._spans())])
        try:
            return start + self.horizon
        except OverflowError:
            return datetime.max.replace(tzinfo=UTC)

    def _regular(self, at: datetime) -> _Span | None:
        """The span around ``at`` in which the zone keeps one UTC offset and no from/to
        window can cover anything, or None when ``at`` is not in one."""
        zone = self.zone
        if isinstance(zone, timezone):
            low, high = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
            offset = zone.utcoffset(None)
        else:
            try:
                naive = at.astimezone(UTC).replace(tzinfo=None)
                offset, begin, end, _ = zone_offsets(zone).period(naive)
            except (OverflowError, OSError, ValueError):
                return None
            low, high = begin.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        for begin, end in self._spans():
            if begin <= at < end:
                return None
            if end <= at:
                low = max(low, end)
            else:
                high = min(high, begin)
        return _Span(low, high, offset)

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


@dataclass(frozen=True)
class _Span:
    """Instants ``[low, high)`` in which a zone keeps the UTC offset ``offset`` and no
    from/to window can cover anything."""

    low: datetime
    high: datetime
    offset: timedelta


class _Crossing(NamedTuple):
    """What the steps of a scan from ``landing`` (where it jumped to, near the end of a
    span) across the change of offset that ends the span depend on, when its windows
    and occurrences repeat with the period: the offsets, the landing's wall time within
    the period, and how far ahead the change lies."""

    offset_before: timedelta
    offset_after: timedelta
    wall_phase: int
    to_change: timedelta


class _Repeats:
    """Steps ``EffectiveTimeline._next_run`` over the cycles its steps go round.

    Where the zone keeps one UTC offset and no from/to window lies (a ``_Span``), the
    nominal timeline and every recurring window repeat with ``period`` (the least
    common multiple of theirs, ``Timeline.period``), and so does a step of the scan
    (from a position to the end of the blackout that skips the next slot): the step
    from ``p + period`` is the step from ``p`` moved by ``period``, as long as all it
    looks at (windows begun up to ``reach`` before ``p``, offsets within
    ``_OFFSETS_APART``) lies in one span. So once the scan reaches a position a whole
    number of periods after an earlier one, with every slot between skipped, it would
    go round that cycle until it nears the end of the span or the horizon: ``forward``
    goes there at once.

    From there the scan crosses the change of offset at the span's end step by step
    until it comes round again in the next span. How it does depends only on the two
    offsets, on where the change falls from the position it started from and on that
    position's wall time within the period: the next crossing with the same four is
    the same steps moved, so it is not walked again (``crossings``). That is what lets a
    schedule blacked out at every occurrence reach the horizon in a few steps a year.

    Every position it goes on from is one the scan would have reached, with every slot
    before it skipped, so the answer is the step-by-step scan's. Positions of the first
    step are left out: before the timeline's first instant (a ``start_date``, an
    interval's anchor) it does not repeat.
    """

    def __init__(self, timeline: EffectiveTimeline, period: timedelta, reach: timedelta):
        self.timeline = timeline
        self.period = period // _EPSILON
        self.reach = reach
        #: The positions since the chain of steps began, by their phase in the period.
        self.seen: dict[int, datetime] = {}
        #: The crossing the scan is on, from where it last jumped to.
        self.landed: tuple[_Crossing, datetime] | None = None
        #: For each crossing walked: how far past its landing the scan came round, and
        #: the cycle it went round there.
        self.crossings: dict[_Crossing, tuple[timedelta, timedelta]] = {}

    @classmethod
    def of(cls, timeline: EffectiveTimeline) -> _Repeats | None:
        """For a timeline whose occurrences and windows repeat, else None (a calendar's
        holidays do not, nor a day of the month)."""
        if timeline.calendar is not None or not timeline.blackouts:
            return None
        periods = [timeline.nominal.period()]
        durations = [timedelta(0)]
        for window in timeline.blackouts:
            if window.cron is not None and window.duration is not None:
                periods.append(window.period(timeline.zone))
                durations.append(window.duration)
        total = 1
        for period in periods:
            if period is None or period <= timedelta(0):
                return None
            total = math.lcm(total, period // _EPSILON)
        if total * _EPSILON > _LONGEST_PERIOD:
            return None
        return cls(timeline, total * _EPSILON, max(durations) + _OFFSETS_APART)

    def forward(self, before: datetime, after: datetime, horizon: datetime) -> datetime:
        """Where the scan goes on from, after a step from ``before`` to ``after`` that
        skipped every slot: ``after``, or a whole number of cycles later."""
        try:
            return self._forward(before, after, horizon)
        except OverflowError:  # at the end of the calendar: step by step
            self.seen.clear()
            self.landed = None
            return after

    def _forward(self, before: datetime, after: datetime, horizon: datetime) -> datetime:
        span = self.timeline._regular(after)
        if span is None or before - self.reach < span.low or after + _OFFSETS_APART > span.high:
            self.seen.clear()
            return after
        if not self.seen:
            self.seen[self._phase(before)] = before
        phase = self._phase(after)
        earlier = self.seen.get(phase)
        self.seen[phase] = after
        if earlier is None:
            return after
        cycle = after - earlier
        if self.landed is not None:
            crossing, landing = self.landed
            if landing + crossing.to_change >= span.low:  # came round next to that change
                self.crossings[crossing] = (after - landing, cycle)
            self.landed = None
        return self._around(after, cycle, span, horizon)

    def _around(self, at: datetime, cycle: timedelta, span: _Span, horizon: datetime) -> datetime:
        """Go round ``cycle`` from ``at`` as often as ``span`` and ``horizon`` allow,
        then over each crossing already walked, and round again, as far as that goes."""
        while True:
            rounds = min((span.high - _OFFSETS_APART - at) // cycle, (horizon - at) // cycle)
            if rounds <= 0:
                return at
            self.seen.clear()
            at += cycle * rounds
            self.landed = self._landing(at, span)
            known = self.crossings.get(self.landed[0]) if self.landed is not None else None
            if self.landed is None or known is None:
                return at
            comes_round, cycle = known
            again = at + comes_round
            beyond = self.timeline._regular(again)
            if (
                again > horizon
                or beyond is None
                or beyond.low > span.high
                or beyond.offset != self.landed[0].offset_after
                or again + _OFFSETS_APART > beyond.high
            ):
                return at
            self.landed = None
            at, span = again, beyond

    def _landing(self, at: datetime, span: _Span) -> tuple[_Crossing, datetime] | None:
        beyond = self.timeline._regular(span.high)
        if beyond is None:
            return None
        wall_phase = (at + span.offset - _EPOCH) // _EPSILON % self.period
        return _Crossing(span.offset, beyond.offset, wall_phase, span.high - at), at

    def _phase(self, position: datetime) -> int:
        return (position - _EPOCH) // _EPSILON % self.period


class _RollTargets:
    """The day a roll puts each day's occurrences on (``Calendar.roll``), for one scan
    forward in time. The days of a stretch the calendar excludes share a target, so a
    stretch is walked once, not once for each of its days."""

    def __init__(self, calendar: Calendar, roll: Roll) -> None:
        self.calendar = calendar
        self.roll = roll
        self.forward = roll == "next_business_day"
        #: Forward: every day from ``low`` to the day before ``target`` is excluded.
        #: Backward: every day after ``target`` up to ``high`` is excluded.
        self.low: date | None = None
        self.high: date | None = None
        self.target: date | None = None

    def of(self, day: date) -> date | None:
        """``day`` itself when the calendar runs on it, else the day it rolls to (None:
        no such day within ``MAX_ROLL_DAYS``)."""
        calendar = self.calendar
        if calendar.excluded(day) is None:
            return day
        target = self.target
        if target is not None:
            if self.forward:
                if self.low is not None and self.low <= day < target:
                    return target
            elif self.high is not None and target < day:
                # the days since the stretch was last seen must be excluded too
                while self.high < day and calendar.excluded(self.high + timedelta(1)):
                    self.high += timedelta(1)
                if self.high >= day:
                    return target if (day - target).days <= MAX_ROLL_DAYS else None
        found = calendar.roll(day, self.roll)
        self.target, self.low, self.high = found, day, day
        return found

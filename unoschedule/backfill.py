"""Run the occurrences of a past window again, or for the first time.

Each occurrence becomes one queued run with its own scheduled instant (the job sees it
in ``$UNO_SCHEDULED_TIME``) and trigger ``backfill``; the leader takes them like manual
runs, so queue limits and priorities apply. Each is enqueued under a key of its own
(schedule, instant, ``backfill``): the same window given twice queues nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import UnoScheduleError
from .model import ScheduleDefinition
from .timeutil import format_instant

if TYPE_CHECKING:
    from .abc import Store
    from .model import RunRecord

__all__ = ["CEILING", "DEFAULT_MAX", "backfill", "occurrences"]

#: More occurrences than this need ``yes=True`` (``--yes``).
DEFAULT_MAX = 1000
#: The most occurrences one backfill lists or queues, ``yes`` or not: each is a run
#: record, and a window of millions (an every-second schedule over two months) is a
#: slip more often than a wish. A longer window is backfilled in parts.
CEILING = 100_000
_EPSILON = timedelta(microseconds=1)


def occurrences(
    store: Store | None,
    definition: ScheduleDefinition,
    start: datetime,
    end: datetime,
    cap: int,
) -> list[datetime]:
    """Occurrences in ``[start, end]`` (at most ``cap + 1``, enough to refuse): the
    instants the run loop claims them under (``slot``), without those a blackout
    window skips, so that a backfilled run and a scheduled one share their key."""
    state = store.get_schedule(definition.name) if store is not None else None
    timeline = definition.timeline(state.anchor if state else None)
    out: list[datetime] = []
    instant = timeline.slot(start - _EPSILON)
    while instant is not None and instant <= end and len(out) <= cap:
        if timeline.occurrence(instant).skipped is None:
            out.append(instant)
        instant = timeline.slot(instant)
    return out


def backfill(
    definition: ScheduleDefinition,
    start: datetime,
    end: datetime,
    *,
    store: Store | None,
    now: datetime,
    enqueue: Callable[[list[RunRecord]], list[bool]],
    dry_run: bool = False,
    limit: int = DEFAULT_MAX,
    yes: bool = False,
) -> dict[str, Any]:
    """Queue (or with ``dry_run`` only list) a run of each occurrence in ``[start, end]``.

    Returns ``{"schedule", "dry_run", "occurrences", "queued", "already_queued"}``, the
    last two as lists of ``{"scheduled_time", "run_id"}`` / instants. ``store`` is read
    (None: no state yet); ``enqueue`` writes, returning False for each run queued before
    (``Store.enqueue_unique`` after the caller made sure the schedule is stored).
    """
    if not definition.schedule.on_clock:
        what = "events" if definition.schedule.kind == "event" else "another schedule's runs"
        raise UnoScheduleError(f"{definition.name} runs on {what}; it has no occurrences")
    if start > end:
        raise UnoScheduleError("--from is after --to")
    if start > now:
        raise UnoScheduleError(
            f"--from {format_instant(start)} is in the future; backfill runs past occurrences"
        )
    end = min(end, now)  # occurrences still to come are the scheduler's, not a backfill's
    if limit > CEILING:
        raise UnoScheduleError(f"--max is at most {CEILING:,} (one backfill's most)")
    cap = CEILING if yes else max(limit, 0)
    instants = occurrences(store, definition, start, end, cap)
    if len(instants) > CEILING:
        raise UnoScheduleError(
            f"more than {CEILING:,} occurrences of {definition.name} between "
            f"{format_instant(start)} and {format_instant(end)}, the most one backfill "
            "takes; backfill the window in parts"
        )
    if len(instants) > limit and not yes:
        raise UnoScheduleError(
            f"more than {limit} occurrences of {definition.name} between "
            f"{format_instant(start)} and {format_instant(end)}; narrow the window, raise "
            "--max, or add --yes"
        )
    record: dict[str, Any] = {
        "schedule": definition.name,
        "dry_run": dry_run,
        "occurrences": [format_instant(t) for t in instants],
        "queued": [],
        "already_queued": [],
    }
    if dry_run or not instants:
        return record
    from .runs import new_run

    runs = [new_run(definition, instant, "backfill", now) for instant in instants]
    for run, fresh in zip(runs, enqueue(runs), strict=True):
        when = format_instant(run.scheduled_time)
        if fresh:
            record["queued"].append({"scheduled_time": when, "run_id": run.run_id})
        else:
            record["already_queued"].append(when)
    return record

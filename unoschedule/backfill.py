"""Run the occurrences of a past window again, or for the first time.

Each occurrence becomes one queued run with its own scheduled instant (the job sees it
in ``$UNO_SCHEDULED_TIME``) and trigger ``backfill``; the leader takes them like manual
runs, so queue limits and priorities apply. Each is enqueued under a key of its own
(schedule, instant, ``backfill``): the same window given twice queues nothing new.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import UnoScheduleError
from .model import RunRecord, ScheduleDefinition
from .timeutil import format_instant

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["CEILING", "DEFAULT_MAX", "backfill", "occurrences"]

#: More occurrences than this need ``yes=True`` (``--yes``).
DEFAULT_MAX = 1000
#: The most occurrences one backfill lists or queues, ``yes`` or not: each is a run
#: record, and a window of millions (an every-second schedule over two months) is a
#: slip more often than a wish. A longer window is backfilled in parts.
CEILING = 100_000
_EPSILON = timedelta(microseconds=1)


def occurrences(
    scheduler: Scheduler, definition: ScheduleDefinition, start: datetime, end: datetime, cap: int
) -> list[datetime]:
    """Fire instants in ``[start, end]`` (at most ``cap + 1``, enough to refuse)."""
    store = scheduler._store_if_any()
    state = store.get_schedule(definition.name) if store is not None else None
    timeline = definition.timeline(state.anchor if state else None)
    out: list[datetime] = []
    for instant in timeline.iter(start - _EPSILON):
        if instant > end or len(out) > cap:
            break
        out.append(instant)
    return out


def backfill(
    scheduler: Scheduler,
    definition: ScheduleDefinition,
    start: datetime,
    end: datetime,
    *,
    dry_run: bool = False,
    limit: int = DEFAULT_MAX,
    yes: bool = False,
) -> dict[str, Any]:
    """Queue (or with ``dry_run`` only list) a run of each occurrence in ``[start, end]``.

    Returns ``{"schedule", "dry_run", "occurrences", "queued", "already_queued"}``, the
    last two as lists of ``{"scheduled_time", "run_id"}`` / instants.
    """
    if definition.schedule.kind == "event":
        raise UnoScheduleError(f"{definition.name} fires on events; it has no occurrences")
    now = scheduler.clock.now()
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
    instants = occurrences(scheduler, definition, start, end, cap)
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
    from .runner.loop import new_run_id

    scheduler._ensure_known(definition)
    runs = [
        RunRecord(
            run_id=new_run_id(now),
            schedule=definition.name,
            scheduled_time=instant,
            trigger="backfill",
            result="queued",
            queued_at=now,
            queue=definition.queue_name,
            priority=definition.priority,
        )
        for instant in instants
    ]
    store = scheduler.store
    for run, fresh in zip(runs, store.enqueue_unique(runs), strict=True):
        when = format_instant(run.scheduled_time)
        if fresh:
            record["queued"].append({"scheduled_time": when, "run_id": run.run_id})
        else:
            record["already_queued"].append(when)
    store.notify()
    return record

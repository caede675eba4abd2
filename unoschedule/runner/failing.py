"""``pause_after_failures``: a schedule whose runs failed that many times in a row is
paused, by whichever process saw the last of them end.

One rule for the leader (its own runs, and those workers settled) and for a worker (the
runs it ran), counted from the state (``runs.failure_streak``), not in a process's
memory: a worker's failures count, and a restart or a change of leader does not start
the count again. A pause already there is not made twice (``Store.pause_schedules``
returns only the schedules it paused), so two processes counting the same streak pause
it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .. import pauses
from ..abc import Store
from ..model import RunRecord, ScheduleDefinition
from ..runs import failure_streak, retries_left

__all__ = ["FailurePause", "ends_a_streak", "pause_if_failing"]

#: Records read beyond a streak's own (its runs and their retries) when failures in a
#: row are counted: the skipped and missed occurrences between them are passed over.
STREAK_SLACK = 50
#: Before any pause: a schedule's pauses are read from the beginning.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FailurePause:
    """A pause this process made: what it says, and the last failed run (for the log
    and the ``paused`` notification)."""

    reason: str
    last: RunRecord


def ends_a_streak(run: RunRecord, result: str, definition: ScheduleDefinition | None) -> bool:
    """Whether a run that ended with ``result`` may complete a streak worth counting: a
    final failure (no retry follows) of a schedule with ``pause_after_failures``."""
    return (
        definition is not None
        and definition.pause_after_failures is not None
        and result in ("error", "timeout")
        and not retries_left(run, definition)
    )


def pause_if_failing(
    store: Store, definition: ScheduleDefinition, at: datetime
) -> FailurePause | None:
    """Pause ``definition``'s schedule when its latest runs failed for good
    ``pause_after_failures`` times in a row since it was last resumed (a resume starts
    the count afresh). None when it is not failing that much, or was paused already.
    Reads and writes the store: call it in a thread."""
    limit = definition.pause_after_failures
    if limit is None:
        return None
    name = definition.name
    resumed = [p.resumed_at for p in store.pauses(name, EARLIEST, at) if p.resumed_at]
    lookback = limit * (definition.max_retries + 1) + STREAK_SLACK
    streak = failure_streak(store.history(name, lookback), definition, max(resumed, default=None))
    if len(streak) < limit:
        return None
    last = streak[0]
    reason = f"{len(streak)} consecutive failures (pause_after_failures), the last: " + (
        last.error or last.result
    )
    if not store.pause_schedules([name], "failures", at, reason=reason, by=pauses.SCHEDULER):
        return None
    return FailurePause(reason, last)

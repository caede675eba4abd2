"""What a run is made of: the queued record of an attempt, its occurrence key, the job
spec it runs with, and the retry policy that decides the next attempt.

Every path that makes runs (the run loop's occurrences and retries, manual triggers,
events, backfills, the Redis worker's retries, a foreground ``trigger --wait``) builds
them here, so that a run's queue, priority and retry delay cannot differ with the
process that made it. Pure: ``now`` is passed in, nothing is read or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from .chains import chain_key
from .ids import new_run_id
from .jobs import JobSpec
from .model import RunRecord, ScheduleDefinition, SchedulerOptions
from .timeutil import MAX_DURATION, format_instant

__all__ = [
    "chained_runs",
    "failure_streak",
    "import_paths_of",
    "job_spec",
    "new_run",
    "next_attempt",
    "occurrence_key",
    "retries_left",
    "retry_delay_seconds",
]


def occurrence_key(name: str, scheduled: datetime, attempt: int) -> str:
    """The unique key an attempt of an occurrence is claimed under (at most once)."""
    return f"{name}@{format_instant(scheduled)}#{attempt}"


def new_run(
    definition: ScheduleDefinition,
    scheduled: datetime,
    trigger: str,
    now: datetime,
    *,
    attempt: int = 1,
    epoch: int = 0,
    instance_id: str | None = None,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
) -> RunRecord:
    """A ``queued`` attempt of ``definition`` due at ``scheduled``, in the schedule's
    queue and at its priority (both stored with the definition)."""
    return RunRecord(
        run_id=new_run_id(now),
        schedule=definition.name,
        scheduled_time=scheduled,
        trigger=trigger,  # type: ignore[arg-type]
        attempt=attempt,
        result="queued",
        queued_at=now,
        epoch=epoch,
        instance_id=instance_id,
        args=list(args) if args is not None else None,
        kwargs=dict(kwargs) if kwargs is not None else None,
        event=event,
        queue=definition.queue_name,
        priority=definition.priority,
    )


def chained_runs(
    run: RunRecord,
    result: str,
    final: bool,
    definitions: Iterable[ScheduleDefinition],
    now: datetime,
) -> list[tuple[str, RunRecord]]:
    """The runs (with their keys) that ``run`` ending with ``result`` starts: one per
    enabled schedule whose ``after:`` follows it, queued now, with the upstream run in
    its event payload (``{"after": {"schedule", "run_id", "result"}}``). The rule of
    which ends start a chain is ``chains.Chain.follows``."""
    out = []
    for definition in definitions:
        chain = definition.after
        if chain is None or chain.schedule != run.schedule or not definition.enabled:
            continue
        if not chain.follows(result, final):
            continue
        payload = {"after": {"schedule": run.schedule, "run_id": run.run_id, "result": result}}
        downstream = new_run(definition, now, "event", now, event=payload)
        out.append((chain_key(definition.name, run.run_id), downstream))
    return out


def retry_delay_seconds(definition: ScheduleDefinition, attempt: int) -> float:
    """``retry_delay * retry_backoff ** (attempt - 1)``, at most ``MAX_DURATION``: a large
    backoff overflows a float after a few attempts, and no delay may outrun a datetime."""
    longest = MAX_DURATION.total_seconds()
    try:
        delay = definition.retry_delay * (definition.retry_backoff ** (attempt - 1))
    except OverflowError:
        return longest
    return min(delay, longest) if delay == delay else longest


def retries_left(run: RunRecord, definition: ScheduleDefinition | None) -> bool:
    """Whether an attempt that did not succeed is followed by another one."""
    return definition is not None and run.attempt <= definition.max_retries


def failure_streak(
    history: Sequence[RunRecord], definition: ScheduleDefinition, since: datetime | None
) -> list[RunRecord]:
    """The runs of ``definition`` that failed for good in a row, newest first, from its
    ``history`` (newest first, as the stores list it): an error or a timeout after which
    its retry policy allowed no other attempt. A success ends the streak. What neither
    failed nor succeeded (skipped, missed, interrupted, cancelled, not ended yet) and a
    failure that was retried are passed over, as are the runs that ended by ``since``
    (the schedule was resumed then: its count starts afresh).

    Counted from the state, not in a process's memory, so that the runs of every worker
    count, and a restart or a change of leader does not start the count again."""
    streak: list[RunRecord] = []
    for run in history:
        if run.finished_at is None:
            continue
        if since is not None and run.finished_at <= since:
            break
        if run.result == "success":
            break
        if run.result in ("error", "timeout") and not retries_left(run, definition):
            streak.append(run)
    return streak


def next_attempt(
    run: RunRecord,
    definition: ScheduleDefinition | None,
    now: datetime,
    *,
    epoch: int = 0,
    instance_id: str | None = None,
) -> RunRecord | None:
    """The attempt after ``run`` (which did not succeed), queued to start after the
    retry delay; None when the retry policy allows no more."""
    if definition is None or not retries_left(run, definition):
        return None
    retry = new_run(
        definition,
        run.scheduled_time,
        "retry",
        now,
        attempt=run.attempt + 1,
        epoch=epoch,
        instance_id=instance_id,
        args=run.args,
        kwargs=run.kwargs,
        event=run.event,
    )
    retry.queued_at = now + timedelta(seconds=retry_delay_seconds(definition, run.attempt))
    return retry


def import_paths_of(options: SchedulerOptions, base_cwd: str | None) -> tuple[str, ...]:
    """``scheduler.import_paths``, a relative one read against the schedule file's folder
    (``base_cwd``), as every relative path of the file is (``state``, ``log_dir``, a
    schedule's ``cwd``): read against the process's folder, it depended on where the
    runner was started (``WorkingDirectory=``). Without a file, as given."""
    if base_cwd is None:
        return options.import_paths
    return tuple(os.path.join(base_cwd, os.path.expanduser(p)) for p in options.import_paths)


def job_spec(
    run: RunRecord,
    definition: ScheduleDefinition,
    options: SchedulerOptions,
    base_cwd: str | None,
) -> JobSpec:
    """What the executor needs to run one attempt (``base_cwd``: the YAML file's folder,
    against which a relative ``cwd`` is read)."""
    return JobSpec(
        run=run,
        definition=definition,
        kill_grace=options.kill_grace,
        output_tail=options.output_tail,
        import_paths=import_paths_of(options, base_cwd),
        base_cwd=base_cwd,
    )

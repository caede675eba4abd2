"""Why did it (not) run? Every occurrence a schedule should have had in a window, and
what became of it.

The occurrences come from the schedule's own timeline (without its start and end dates,
so that those outside them can say so); what became of each comes from its run records,
else from the pause records, else from where it stands against now and against the
state's next due instant. An occurrence in the past with none of these is ``missed``:
no scheduler ran it and none recorded it (or the retention pruned its record).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .abc import PauseRecord
from .chains import upstream_of
from .effective import EffectiveTimeline
from .errors import UnoScheduleError
from .model import RunRecord, ScheduleDefinition, ScheduleState
from .overlap import BUFFERED
from .timeutil import format_elapsed, format_instant

if TYPE_CHECKING:
    from .abc import Store

__all__ = ["DEFAULT_WINDOW", "MAX_OCCURRENCES", "OUTCOMES", "explain", "outcomes"]

OUTCOMES = (
    "success", "error", "timeout", "skipped", "missed", "paused", "interrupted", "cancelled",
    "running", "queued", "buffered", "outside_window", "not_due", "excluded",
)  # fmt: skip

#: ``--since`` defaults to this long before ``--until`` (or less: see MAX_OCCURRENCES).
DEFAULT_WINDOW = timedelta(hours=24)
#: At most this many occurrences are explained: a window given that holds more is
#: refused (narrow it); the default window keeps the newest this many (an every-second
#: schedule has 86,400 a day).
MAX_OCCURRENCES = 10_000
_EPSILON = timedelta(microseconds=1)
#: The triggers whose runs stand for an occurrence (manual and event runs do not).
_OCCURRENCE_TRIGGERS = ("schedule", "missed", "retry", "backfill")


def explain(
    store: Store | None,
    definition: ScheduleDefinition,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """What became of each occurrence of ``definition`` in ``[since, until]`` (None for
    ``store``: no state yet)."""
    until = until or now
    chosen = since is not None
    since = since or until - DEFAULT_WINDOW
    if since > until:
        raise UnoScheduleError("--since is after --until")
    name = definition.name
    state = store.get_schedule(name) if store is not None else None
    runs = store.runs_between(name, since, until) if store is not None else []
    paused = store.pauses(name, since, until) if store is not None else []
    if not definition.schedule.on_clock:  # no occurrences: its runs
        return [_from_run(r) for r in runs if r.attempt == _last_attempt(runs, r)]
    found = outcomes(definition, state, runs, paused, since, until, now)
    if definition.after is not None:  # the runs its chain started, among its occurrences
        chained = [_from_run(r) for r in runs if upstream_of(r.trigger, r.event) is not None]
        found = sorted(found + chained, key=lambda row: row["scheduled_time"])
    first_seen = state.created_at if state is not None and definition.run_on_start else None
    listed = {row["scheduled_time"] for row in found}
    at_start = [
        r
        for r in runs
        if r.scheduled_time == first_seen
        and r.trigger in _OCCURRENCE_TRIGGERS
        and format_instant(first_seen) not in listed
        and r.attempt == _last_attempt(runs, r)
    ]
    if at_start:  # the run at start is no occurrence of the timeline, but it ran
        rows = [_from_run(r) for r in at_start]
        for row in rows:
            row["detail"] = _joined("run at start (run_on_start)", row["detail"])
        found = sorted(found + rows, key=lambda row: row["scheduled_time"])
    if chosen and len(found) > MAX_OCCURRENCES:
        raise UnoScheduleError(
            f"more than {MAX_OCCURRENCES:,} occurrences of {name} between "
            f"{format_instant(since)} and {format_instant(until)}; narrow the window "
            "(--since, --until)"
        )
    return found[-MAX_OCCURRENCES:]


def _last_attempt(runs: Sequence[RunRecord], run: RunRecord) -> int:
    return max(r.attempt for r in runs if r.scheduled_time == run.scheduled_time)


def outcomes(
    definition: ScheduleDefinition,
    state: ScheduleState | None,
    runs: Sequence[RunRecord],
    paused: Sequence[PauseRecord],
    since: datetime,
    until: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """The pure part: occurrences in ``[since, until]`` and their outcomes (the newest
    ``MAX_OCCURRENCES``, and one more when there are more, so the caller can tell)."""
    anchor = definition.start_date or (state.anchor if state is not None else None)
    timeline = definition.timeline(anchor, bounded=False)
    # (instant, why the calendar excludes or moved it): the nominal instants, so that
    # those a calendar excludes are listed too, and each rolled one where it runs.
    instants: list[tuple[datetime, str | None]] = []
    nominal = timeline.nominal if isinstance(timeline, EffectiveTimeline) else timeline
    for instant in nominal.iter(since - _EPSILON):
        if instant > until:
            break
        instants.append((instant, None))
        if isinstance(timeline, EffectiveTimeline) and timeline.calendar is not None:
            why = timeline.exclusion(instant)
            moved = timeline.rolled(instant)
            if why is not None and moved is not None:
                instants[-1] = (moved, f"moved from {format_instant(instant)} ({why})")
            elif why is not None:
                instants[-1] = (instant, why)
        if len(instants) > MAX_OCCURRENCES + 1:
            del instants[0]
    by_instant: dict[datetime, RunRecord] = {}
    for run in runs:
        if run.trigger in _OCCURRENCE_TRIGGERS:
            held = by_instant.get(run.scheduled_time)
            if held is None or (run.attempt, _order(run)) >= (held.attempt, _order(held)):
                by_instant[run.scheduled_time] = run
    out = []
    for instant, calendar_note in instants:
        found = by_instant.get(instant)
        rolled = calendar_note is not None and calendar_note.startswith("moved")
        if calendar_note is not None and not rolled:
            outcome, detail = "excluded", calendar_note
        elif found is not None:
            row = _from_run(found)
            note = timeline.occurrence(instant).note if row["outcome"] != "skipped" else None
            row["detail"] = _joined(row["detail"], note, calendar_note)
            out.append(row)
            continue
        else:
            outcome, detail = _without_run(definition, state, paused, instant, now)
            occurrence = timeline.occurrence(instant)
            if occurrence.skipped is not None and instant > now:
                detail = f"{detail}; will be {occurrence.skipped}"
            elif occurrence.skipped is not None and outcome == "missed":
                outcome, detail = "skipped", occurrence.skipped
            detail = _joined(detail, occurrence.note, calendar_note)
        out.append(
            {
                "scheduled_time": format_instant(instant),
                "outcome": outcome,
                "run_id": None,
                "detail": detail,
            }
        )
    return out


def _joined(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _order(run: RunRecord) -> int:
    """Among records of one attempt, a backfill or a run outranks a skip or a miss."""
    return 0 if run.result in ("missed", "skipped") else 1


def _from_run(run: RunRecord) -> dict[str, Any]:
    detail = run.error or ""
    extra = []
    upstream = upstream_of(run.trigger, run.event)
    if upstream is not None:
        extra.append(
            f"started by run {upstream['run_id']} of {upstream.get('schedule')} "
            f"({upstream.get('result')})"
        )
    elif run.trigger not in ("schedule",):
        extra.append(f"trigger {run.trigger}")
    if run.attempt > 1:
        extra.append(f"attempt {run.attempt}")
    if run.duration is not None:
        extra.append(f"took {format_elapsed(run.duration)}")
    if extra:
        detail = (detail + "; " if detail else "") + ", ".join(extra)
    outcome: str = run.result
    if outcome == "queued" and (run.error or "").startswith(BUFFERED):
        outcome = "buffered"  # waits its turn behind a run of its schedule
    return {
        "scheduled_time": format_instant(run.scheduled_time),
        "outcome": outcome,
        "run_id": run.run_id,
        "detail": detail,
    }


def _without_run(
    definition: ScheduleDefinition,
    state: ScheduleState | None,
    paused: Sequence[PauseRecord],
    instant: datetime,
    now: datetime,
) -> tuple[str, str]:
    if definition.start_date is not None and instant < definition.start_date:
        return "outside_window", f"before start_date {format_instant(definition.start_date)}"
    if definition.end_date is not None and instant > definition.end_date:
        return "outside_window", f"after end_date {format_instant(definition.end_date)}"
    for pause in paused:
        if pause.paused_at <= instant and (pause.resumed_at is None or instant < pause.resumed_at):
            # the reason first: it is what a narrow table keeps of the line
            by = f" by {pause.paused_by}" if pause.paused_by else ""
            when = f"paused{by} at {format_instant(pause.paused_at)}"
            return "paused", f"{pause.reason} ({when})" if pause.reason else when
    if instant > now:
        return "not_due", "in the future"
    if state is None:
        return "not_due", "the scheduler has not seen this schedule yet"
    if state.created_at is not None and instant <= state.created_at:
        return "not_due", f"before it was first seen ({format_instant(state.created_at)})"
    if state.status == "paused":
        return "paused", "paused (no record of when)"
    if state.status in ("disabled", "removed"):
        return "not_due", f"the schedule is {state.status}"
    if state.status == "active" and state.next_run is not None and instant >= state.next_run:
        return "not_due", "due; the scheduler has not fired it yet"
    return "missed", "no record: no scheduler ran it (or retention pruned its record)"

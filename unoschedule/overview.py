"""What ``uno-schedule top`` shows: one snapshot of the state, cheap enough to take every
second next to a busy runner (a few indexed reads; only the definitions of the few
schedules due next are decoded)."""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .abc import held_lease
from .timeutil import format_instant

if TYPE_CHECKING:
    from .abc import Store
    from .model import ScheduleState

__all__ = ["snapshot"]


def snapshot(store: Store | None, now: datetime, rows: int = 10) -> dict[str, Any]:
    """``{"now", "leader", "epoch", "running", "next", "recent", "counts"}``: the runs
    running or queued (the leader's, the workers', a foreground trigger's), the next due
    schedules, the latest results, newest first, and how many schedules are in each
    status (None for ``store``: no state yet)."""
    out: dict[str, Any] = {
        "now": format_instant(now),
        "leader": None,
        "epoch": None,
        "running": [],
        "next": [],
        "recent": [],
        "counts": {},
    }
    if store is None:
        return out
    lease = held_lease(store, now)
    if lease is not None:
        out["leader"], out["epoch"] = lease.instance_id, lease.epoch
    out["running"] = [
        {
            "schedule": r.schedule,
            "run_id": r.run_id,
            "result": r.result,
            "trigger": r.trigger,
            "attempt": r.attempt,
            "scheduled_time": format_instant(r.scheduled_time),
            "started_at": format_instant(r.started_at),
            "seconds": round((now - r.started_at).total_seconds(), 1) if r.started_at else None,
        }
        for r in store.active_runs()
    ]
    states = store.list_schedules(definitions=False)
    counts: dict[str, int] = {}
    for state in states:
        counts[state.status] = counts.get(state.status, 0) + 1
    out["counts"] = counts
    out["next"] = [
        {
            "schedule": s.name,
            "next_run": format_instant(start),
            "in_seconds": round((start - now).total_seconds(), 1),
            "last_result": s.last_result,
        }
        for s, start in _next_starts(store, states, rows)
    ]
    finished = sorted(
        (r for r in store.history(None, limit=rows * 3) if r.finished_at is not None),
        key=lambda r: (r.finished_at, r.run_id),
        reverse=True,
    )
    out["recent"] = [
        {
            "schedule": r.schedule,
            "run_id": r.run_id,
            "result": r.result,
            "trigger": r.trigger,
            "finished_at": format_instant(r.finished_at),
            "duration": r.duration,
            "error": r.error,
        }
        for r in finished[:rows]
    ]
    return out


def _next_starts(
    store: Store, states: list[ScheduleState], rows: int
) -> list[tuple[ScheduleState, datetime]]:
    """The ``rows`` active schedules that start first, with when each starts
    (``ScheduleDefinition.next_start``, as status says: a blackout or jitter moves the
    start off the stored claim instant). No start comes before its claim instant, so
    the schedules are taken by claim instant and the scan ends once the next claim lies
    after the last of ``rows`` starts found: only those few definitions are read."""
    if rows <= 0:
        return []
    due = sorted(
        (s for s in states if s.status == "active" and s.next_run is not None),
        key=lambda s: (s.next_run, s.name),
    )
    found: list[tuple[datetime, str, ScheduleState]] = []
    for light in due:
        assert light.next_run is not None
        if len(found) >= rows and light.next_run > found[-1][0]:
            break
        start = _start_of(store, light, light.next_run)
        if start is not None:
            bisect.insort(found, (start, light.name, light), key=lambda f: (f[0], f[1]))
            del found[rows:]
    return [(state, start) for start, _, state in found]


def _start_of(store: Store, light: ScheduleState, next_run: datetime) -> datetime | None:
    """When ``light`` (listed without its definition) next starts; its claim instant
    when its stored definition no longer parses."""
    state = store.get_schedule(light.name)
    definition = state.stored_definition() if state is not None else None
    if definition is None:
        return next_run
    return definition.next_start(next_run, light.anchor)

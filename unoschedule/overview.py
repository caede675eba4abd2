"""What ``uno-schedule top`` shows: one snapshot of the state, cheap enough to take every
second next to a busy runner (a few indexed reads, no definitions decoded)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .timeutil import format_instant

if TYPE_CHECKING:
    from .abc import Store

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
    lease = store.current_lease()
    if lease is not None and lease.expires_at > now:
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
    due = sorted(
        (s for s in states if s.status == "active" and s.next_run is not None),
        key=lambda s: (s.next_run, s.name),
    )[:rows]
    out["next"] = [
        {
            "schedule": s.name,
            "next_run": format_instant(s.next_run),
            "in_seconds": round((s.next_run - now).total_seconds(), 1) if s.next_run else None,
            "last_result": s.last_result,
        }
        for s in due
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

"""Pauses with a reason, an author and an expiry.

A schedule's ``status`` says whether it is paused; the ``pauses`` records say why, who
paused it, since when and until when, and they stay after the resume, so that
``explain`` can tell a paused occurrence from a missed one. The leader resumes a pause
whose ``until`` has come (``runner.ops``); the shell only writes records.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .abc import PauseRecord, Store
from .errors import UnoScheduleError
from .timeutil import format_instant, parse_duration, parse_instant

__all__ = [
    "current_user",
    "end",
    "fields_of",
    "open_by_name",
    "parse_until",
    "record",
    "record_json",
    "resume",
]

#: ``paused_by`` of a pause the scheduler made itself (``pause_after_failures``).
SCHEDULER = "uno-schedule"


def current_user() -> str:
    """``user@host``: who ran the command, as an operator reading history wants it."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in a container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def parse_until(text: str, now: datetime) -> datetime:
    """``--until``: an ISO 8601 instant, or a duration from now (``30m``, ``2h``, ``1d``)."""
    value = text.strip()
    try:
        return now + parse_duration(value, what="--until")
    except UnoScheduleError:
        pass
    try:
        when = parse_instant(value)
    except UnoScheduleError:
        raise UnoScheduleError(
            f"--until {text!r} is neither an instant (2026-12-01T10:00:00Z) nor a duration (2h)"
        ) from None
    if when <= now:
        raise UnoScheduleError(f"--until {format_instant(when)} is not in the future")
    return when


def record(
    store: Store,
    names: Iterable[str],
    now: datetime,
    *,
    reason: str | None,
    until: datetime | None,
    by: str | None,
) -> None:
    """Record why ``names`` (just paused) are paused."""
    for name in names:
        store.record_pause(PauseRecord(name, now, until, reason, by))


def end(store: Store, names: Sequence[str], now: datetime) -> None:
    """Close the pause records of ``names`` (just resumed)."""
    if names:
        store.end_pauses(names, now)


def resume(store: Store, names: Sequence[str], now: datetime) -> list[str]:
    """Resume ``names`` if paused: continue from now (nothing paused over counts as
    missed) and close their pause records. Returns the names resumed."""
    paused = [n for n in names if (s := store.get_schedule(n)) is not None and s.status == "paused"]
    for name in paused:
        store.set_next_run(name, None)
    changed = store.set_status(paused, "active", now) if paused else []
    end(store, changed, now)
    return changed


def open_by_name(store: Store | None) -> dict[str, PauseRecord]:
    return {p.schedule: p for p in store.open_pauses()} if store is not None else {}


def fields_of(pause: PauseRecord | None) -> dict[str, Any]:
    """The ``paused_*`` keys of ``status --json`` and ``list --json`` (null when none)."""
    return {
        "paused_reason": pause.reason if pause else None,
        "paused_until": format_instant(pause.paused_until) if pause else None,
        "paused_at": format_instant(pause.paused_at) if pause else None,
        "paused_by": pause.paused_by if pause else None,
    }


def record_json(pause: PauseRecord) -> dict[str, Any]:
    return {
        **fields_of(pause),
        "resumed_at": format_instant(pause.resumed_at),
    }

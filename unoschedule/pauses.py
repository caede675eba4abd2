"""Pauses with a reason, an author and an expiry: the helpers around the records.

A schedule's ``status`` says whether it is paused; the ``pauses`` records say why, who
paused it, since when and until when, and what made each (``PauseKind``): the stores
decide from them, in one transaction each, what a resume or an expiry ends
(``Store.pause_schedules``, ``resume_schedules``, ``expire_pauses``). The records stay
after the resume, so that ``explain`` can tell a paused occurrence from a missed one.
What is here is pure: parsing ``--until``, naming the user, and the fields of output.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import UnoScheduleError
from .timeutil import format_instant, parse_duration, parse_instant

if TYPE_CHECKING:
    from .abc import PauseRecord, Store

__all__ = [
    "SCHEDULER",
    "current_user",
    "fields_of",
    "open_by_name",
    "parse_until",
    "record_json",
]

#: ``paused_by`` of a pause the scheduler made itself (``pause_after_failures``).
SCHEDULER = "uno-schedule"


def current_user() -> str:
    """``user@host``: who ran the command, as an operator reading history wants it."""
    import getpass  # here: only a pause needs it

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in a container
        user = "unknown"
    return f"{user}@{os.uname().nodename}"  # gethostname(), without loading socket


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


def open_by_name(store: Store | None) -> dict[str, PauseRecord]:
    """The newest open pause of each schedule: the one status and list show."""
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

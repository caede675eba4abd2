"""Pauses with a reason, an author and an expiry.

A schedule's ``status`` says whether it is paused; the ``pauses`` records say why, who
paused it, since when and until when, and they stay after the resume, so that
``explain`` can tell a paused occurrence from a missed one. The leader resumes a pause
whose ``until`` has come (``runner.ops``); the shell only writes records.

Which schedules pause *calls* paused (as opposed to the file's ``paused: true``) is kept
apart, in one metadata value (``KEY``), by pure functions (text in, text out), so that
the library's store and the shell's direct writes (``unoschedule.view``) keep it by the
same rules: ``resume()`` resumes the schedules ``pause()`` paused together,
``resume --all`` (``resume_paused()``) every one a call paused, and neither touches what
the file declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import UnoScheduleError
from .timeutil import format_instant, parse_duration, parse_instant

if TYPE_CHECKING:
    from .abc import PauseRecord, Store

__all__ = [
    "CLOSE_OPEN_PAUSE",
    "KEY",
    "OPEN_PAUSE",
    "OPEN_PAUSES",
    "current_user",
    "end",
    "fields_from_row",
    "fields_of",
    "open_by_name",
    "parse_until",
    "paused",
    "record",
    "record_json",
    "resume",
    "resumed",
    "selected",
]

#: The statements that close a schedule's open pause record and open a new one, shared by
#: the SQLite store and the shell's direct writes (``unoschedule.view``).
CLOSE_OPEN_PAUSE = "UPDATE pauses SET resumed_at = ? WHERE schedule = ? AND resumed_at IS NULL"
OPEN_PAUSE = (
    "INSERT INTO pauses (schedule, paused_at, paused_until, reason, paused_by) "
    "VALUES (?, ?, ?, ?, ?)"
)

#: ``paused_by`` of a pause the scheduler made itself (``pause_after_failures``).
SCHEDULER = "uno-schedule"


def current_user() -> str:
    """``user@host``: who ran the command, as an operator reading history wants it."""
    import getpass  # here: with socket, a tenth of what the shell's view may cost to load
    import socket

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
    from .abc import PauseRecord

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


#: The open pauses by schedule, as ``open_rows`` reads them (the store's columns).
OPEN_PAUSES = (
    "SELECT schedule, paused_at, paused_until, reason, paused_by FROM pauses "
    "WHERE resumed_at IS NULL ORDER BY paused_at"
)


def fields_from_row(row: tuple[Any, ...] | None) -> dict[str, Any]:
    """``fields_of`` from a row of ``OPEN_PAUSES`` (the shell's view reads them so)."""
    if row is None:
        return fields_of(None)
    _, paused_at, paused_until, reason, by = row
    return {
        "paused_reason": reason,
        "paused_until": format_instant(parse_instant(paused_until)) if paused_until else None,
        "paused_at": format_instant(parse_instant(paused_at)) if paused_at else None,
        "paused_by": by,
    }


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


# -- what pause calls paused ------------------------------------------------------------

KEY = "paused_by_call"


def _read(text: str | None) -> dict[str, list[str]]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        value = {}
    if not isinstance(value, dict):
        value = {}
    return {key: [str(n) for n in value.get(key) or ()] for key in ("any", "together")}


def paused(text: str | None, names: Iterable[str], *, together: bool) -> str:
    """The record after a call paused ``names`` (``together``: by ``pause()``)."""
    record = _read(text)
    names = set(names)
    record["any"] = sorted(set(record["any"]) | names)
    if together:
        record["together"] = sorted(set(record["together"]) | names)
    return json.dumps(record)


def resumed(text: str | None, names: Iterable[str]) -> str:
    """The record after ``names`` were resumed (by any call)."""
    record = _read(text)
    names = set(names)
    return json.dumps({key: sorted(set(value) - names) for key, value in record.items()})


def selected(text: str | None, which: str) -> list[str]:
    """``together`` (what ``resume()`` resumes) or ``any`` (what ``resume --all`` does)."""
    return sorted(_read(text)[which])

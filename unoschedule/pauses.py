"""Which schedules pause calls paused, so that the resumes restore exactly those.

A schedule can be paused by the file (``paused: true``), or by a call: ``pause NAME``
(``pause_schedule``) or ``pause --all`` (``Scheduler.pause()``, which pauses the active
ones *together*). ``resume()`` resumes the ones paused together, ``resume --all``
(``resume_paused()``) every one a call paused; neither touches what the file declares.

The record is one JSON value in the state's metadata under ``KEY``. These functions are
pure (text in, text out), so the library's store and the shell's direct writes
(``unoschedule.view``) keep it by the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

__all__ = ["KEY", "paused", "resumed", "selected"]

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

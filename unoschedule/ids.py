"""Run ids, in a module of their own: the shell queues runs without loading the run loop.

A run id is shown shortened, as git shows a commit: the shortest prefix of at least
``SHORT`` characters that no other run of the state shares; every command that takes a
run id takes such a prefix (``resolve_run_id``), and refuses one that several runs share.
Both are given the state's lookup (``Store.run_ids_starting``), so this stays pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime

from .errors import UnoScheduleError

#: The state's ids that start with a prefix, in order, at most so many.
Lookup = Callable[[str, int], list[str]]

__all__ = ["SHORT", "Lookup", "new_run_id", "resolve_run_id", "short_run_ids"]

#: The fewest characters a shortened run id has.
SHORT = 8

#: The most candidates an ambiguous prefix lists, and the most runs a shortened id is
#: told apart from (beyond, the id is shown whole).
_CANDIDATES = 5
_NEIGHBOURS = 1000


def new_run_id(now: datetime) -> str:
    """Sortable by creation time, unique without coordination.

    ``os.urandom`` is what ``secrets.token_hex`` reads; importing ``secrets`` (with
    ``random``, ``hashlib`` and ``hmac``) would cost a shell command's ``trigger`` 4 ms.
    """
    return f"{int(now.timestamp() * 1000):011x}{os.urandom(4).hex()}"


def resolve_run_id(lookup: Lookup, text: str, schedule: str | None = None) -> str:
    """The run id that ``text`` (a whole id or a prefix no other run of the state shares)
    stands for.

    Raises ``UnoScheduleError`` (one line) when no run matches (of ``schedule``, when
    given, which the message names) or several runs do (listed)."""
    prefix = text.strip()
    if not prefix:
        raise UnoScheduleError("a run id is empty")
    found = lookup(prefix, _CANDIDATES + 1)
    if prefix in found:
        return prefix
    if not found:
        raise UnoScheduleError(f"{schedule or 'the state'} has no run {prefix!r}")
    if len(found) > 1:
        listed = ", ".join(found[:_CANDIDATES]) + (", ..." if len(found) > _CANDIDATES else "")
        raise UnoScheduleError(f"run id {prefix!r} is ambiguous: {listed} (give more characters)")
    return found[0]


def short_run_ids(lookup: Lookup | None, ids: Iterable[str]) -> dict[str, str]:
    """Each id shortened to the fewest characters (at least ``SHORT``) that tell it from
    every other run of the state: one read per distinct ``SHORT``-character prefix."""
    wanted = sorted(set(ids))
    out: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for run_id in wanted:
        groups.setdefault(run_id[:SHORT], []).append(run_id)
    for head, members in groups.items():
        others = set(members)
        if lookup is not None:
            near = lookup(head, _NEIGHBOURS + 1)
            if len(near) > _NEIGHBOURS:
                out.update((m, m) for m in members)
                continue
            others.update(near)
        for run_id in members:
            length = max([SHORT, *(_common(run_id, o) + 1 for o in others if o != run_id)])
            out[run_id] = run_id[:length]
    return out


def _common(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

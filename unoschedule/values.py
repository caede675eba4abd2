"""Limits on the plain values a run carries (args, kwargs, an event payload).

They are stored as JSON and handed to jobs as JSON, so they must be trees of plain data:
a YAML alias can make a value contain itself (``&a [*a]``), and a value nested a few
thousand levels deep overflows the recursion of every JSON encoder and decoder on the
way. Both are refused here, in one line, before anything is stored; the check itself
walks the value with an explicit stack, so it cannot overflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import UnoScheduleError

__all__ = ["MAX_DEPTH", "ValueLimitError", "check_plain_value"]

#: The deepest nesting a run's value may have (lists and mappings inside each other).
MAX_DEPTH = 100


class ValueLimitError(UnoScheduleError, ValueError):
    """A run's value is recursive or nested too deeply to be stored as JSON."""


def check_plain_value(value: Any, what: str) -> None:
    """Raise ``ValueLimitError`` if ``value`` contains itself or nests deeper than
    ``MAX_DEPTH``; ``what`` names it in the message (``--kwarg day``, ``event data``)."""
    stack: list[tuple[Any, int, frozenset[int]]] = [(value, 0, frozenset())]
    while stack:
        item, depth, parents = stack.pop()
        if not isinstance(item, Mapping | list | tuple):
            continue
        if id(item) in parents:
            raise ValueLimitError(f"{what} contains itself (a recursive YAML alias?)")
        if depth >= MAX_DEPTH:
            raise ValueLimitError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        inner = parents | {id(item)}
        children = list(item.keys()) + list(item.values()) if isinstance(item, Mapping) else item
        stack.extend((child, depth + 1, inner) for child in children)

"""Limits on the plain values a run carries (args, kwargs, an event payload).

They are stored as JSON and handed to jobs as JSON, so they must be trees of plain data:
a YAML alias can make a value contain itself (``&a [*a]``), and a value nested a few
thousand levels deep overflows the recursion of every JSON encoder and decoder on the
way. Both are refused here, in one line, before anything is stored; the check itself
walks the value with an explicit stack, so it cannot overflow.

A command gets an event's payload and its kwargs each in one environment variable, and
Linux refuses to start a program with a variable (or an argument) over 128 KiB ("Argument
list too long"): a value over ``MAX_JSON_BYTES`` as JSON is refused when it is given, not
by every run it would trigger.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import UnoScheduleError

__all__ = ["MAX_DEPTH", "MAX_JSON_BYTES", "ValueLimitError", "check_plain_value"]

#: The deepest nesting a run's value may have (lists and mappings inside each other).
MAX_DEPTH = 100
#: The largest a run's value may be as JSON (well under Linux's 128 KiB for one
#: environment variable or argument of a program).
MAX_JSON_BYTES = 64 * 1024


class ValueLimitError(UnoScheduleError, ValueError):
    """A run's value is recursive or nested too deeply to be stored as JSON."""


def check_plain_value(value: Any, what: str) -> None:
    """Raise ``ValueLimitError`` if ``value`` contains itself, nests deeper than
    ``MAX_DEPTH`` or is over ``MAX_JSON_BYTES`` as JSON; ``what`` names it in the message
    (``--kwarg day``, ``event data``)."""
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
    size = len(json.dumps(value, default=str).encode())
    if size > MAX_JSON_BYTES:
        raise ValueLimitError(
            f"{what} is {size:,} bytes as JSON, more than {MAX_JSON_BYTES:,} (a command gets "
            "it in one environment variable); hand a job a file name instead"
        )

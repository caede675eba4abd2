"""Converters of the keys about what follows a run: ``after:`` (a chain to another
schedule's runs) and ``notify:`` (who is told of a failure, a recovery, an alarm).

The rules live outside the file front end (``chains``, ``notifications``); this module
only reads them from nodes, so that each problem is reported at its FILE:LINE:COLUMN.
``fields`` wraps these in its converter table (which makes the JSON Schema and the
reference). Names with a leading underscore are internal to ``unoschedule.config``.
"""

from __future__ import annotations

from typing import Any

from ..chains import CHAIN_ON, Chain
from ..errors import ScheduleSyntaxError
from ..notifications import NOTIFY_EVENTS, Notify, check_event, check_target
from .context import _Context, _Invalid, _pairs, _show, _suggest, _text
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode

_AFTER_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "required": ["schedule"],
            "additionalProperties": False,
            "properties": {
                "schedule": {"type": "string"},
                "on": {"enum": list(CHAIN_ON)},
            },
        },
    ]
}


def _after(ctx: _Context, node: Node) -> Chain:
    """``after: extract`` or ``after: {schedule: extract, on: success|failure|any}``."""
    if isinstance(node, ScalarNode):
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid("after names the schedule to follow, e.g. after: extract", node)
        return Chain(text.strip())
    if not isinstance(node, MappingNode):
        raise _Invalid(
            "after is a schedule name or a mapping {schedule: NAME, on: success|failure|any}, "
            f"not {_show(node)}",
            node,
        )
    schedule: str | None = None
    on = "success"
    for key, key_node, value in _pairs(ctx, node):
        if key == "schedule":
            schedule = _text(value)
            if not schedule or not schedule.strip():
                raise _Invalid("after's schedule must be a schedule name", value)
        elif key == "on":
            text = _text(value) or ""
            if text not in CHAIN_ON:
                hint = _suggest(text, CHAIN_ON) if text else None
                extra = f"; did you mean {hint!r}?" if hint else ""
                raise _Invalid(
                    f"after's on must be one of {', '.join(CHAIN_ON)}, not {_show(value)}{extra}",
                    value,
                )
            on = text
        else:
            hint = _suggest(key, ("schedule", "on"))
            extra = f"; did you mean {hint!r}?" if hint else " (use schedule and on)"
            raise _Invalid(f"unknown key {key!r} in after{extra}", key_node)
    if schedule is None:
        raise _Invalid("after needs schedule: (the schedule to follow)", node)
    try:
        return Chain(schedule.strip(), on)  # type: ignore[arg-type]
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, node) from None


_NOTIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "targets": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "targets_file": {"type": "string"},
        "events": {
            "anyOf": [
                {"enum": list(NOTIFY_EVENTS)},
                {"type": "array", "items": {"enum": list(NOTIFY_EVENTS)}},
            ]
        },
    },
}


def _notify(ctx: _Context, node: Node) -> Notify:
    """``notify: {targets: [URL, ...], targets_file: PATH, events: [failure, ...]}``."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"notify is a mapping with targets: (Apprise URLs) and events:, not {_show(node)}",
            node,
        )
    values: dict[str, Any] = {}
    for key, key_node, value in _pairs(ctx, node):
        if key in ("targets", "events"):
            items = value.value if isinstance(value, SequenceNode) else [value]
            texts = []
            for item in items:
                text = _text(item)
                if not text:
                    raise _Invalid(f"notify's {key} are strings, not {_show(item)}", item)
                try:
                    (check_event if key == "events" else check_target)(text)
                except ScheduleSyntaxError as exc:
                    raise _Invalid(exc.message, item) from None
                texts.append(text)
            values[key] = tuple(texts)
        elif key == "targets_file":
            text = _text(value)
            if not text:
                raise _Invalid("notify's targets_file is a path", value)
            values[key] = text
        else:
            hint = _suggest(key, ("targets", "targets_file", "events"))
            extra = f"; did you mean {hint!r}?" if hint else " (use targets, targets_file, events)"
            raise _Invalid(f"unknown key {key!r} in notify{extra}", key_node)
    try:
        return Notify(**values)
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, node) from None

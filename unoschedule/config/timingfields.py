"""Converters of the keys that change when a schedule runs: ``calendar:`` and
``scheduler.calendars:``, ``blackout:`` (of a schedule, a template or ``scheduler:``).

The rules themselves live in the time core (``calendars``, ``blackout``); this module
only reads them from nodes, so that each problem is reported at its FILE:LINE:COLUMN:
an unknown calendar, an include of an unknown calendar, an include cycle. ``fields``
wraps these in its converter table (which makes the JSON Schema and the reference).

Names with a leading underscore are internal to the ``unoschedule.config`` package.
"""

from __future__ import annotations

from typing import Any

from ..blackout import Blackout, blackout_from_config
from ..calendars import Calendar, HolidayRegion, parse_date_range
from ..errors import ScheduleSyntaxError
from .context import _BOOL, _NULL, _Context, _Invalid, _pairs, _plain, _show, _suggest, _text
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode

_CALENDAR_KEYS = ("holidays", "dates", "business_days", "include", "exclude", "name")

#: JSON Schema of one calendar (``scheduler.calendars`` values, an inline ``calendar:``).
_HOLIDAY_REGION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["country"],
    "additionalProperties": False,
    "properties": {"country": {"type": "string"}, "subdiv": {"type": "string"}},
}
_CALENDAR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "holidays": {
            "anyOf": [
                _HOLIDAY_REGION_SCHEMA,
                {"type": "array", "items": _HOLIDAY_REGION_SCHEMA},
            ]
        },
        "dates": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
        "business_days": {"type": "boolean"},
        "include": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
        "exclude": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
    },
}
_WINDOW_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "when": {"type": "string"},
                "cron": {"type": "string"},
                "for": {"$ref": "#/$defs/duration"},
                "from": {"type": ["string", "number"]},
                "to": {"type": ["string", "number"]},
                "defer": {"type": "boolean"},
            },
        },
    ]
}
_BLACKOUT_SCHEMA: dict[str, Any] = {
    "anyOf": [_WINDOW_SCHEMA, {"type": "array", "items": _WINDOW_SCHEMA}]
}


# -- blackout windows ------------------------------------------------------------------


def _blackout(ctx: _Context, node: Node) -> tuple[Blackout, ...]:
    """One window or a list of them."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    out = []
    for item in items:
        if isinstance(item, ScalarNode) and item.tag == _NULL:
            raise _Invalid("a blackout window is a string such as 'Sat 22:00 for 6h'", item)
        try:
            out.append(blackout_from_config(_plain(ctx, item)))
        except ScheduleSyntaxError as exc:
            raise _Invalid(exc.message, item) from None
    return tuple(out)


# -- calendars -------------------------------------------------------------------------


class _Unresolved:
    """A calendar as written, its includes and excludes still names (with their nodes)."""

    def __init__(self, name: str, node: Node) -> None:
        self.name = name
        self.node = node
        self.values: dict[str, Any] = {}
        self.include: list[tuple[str | _Unresolved, Node]] = []
        self.exclude: list[tuple[str | _Unresolved, Node]] = []


def _read_calendar(ctx: _Context, name: str, node: Node) -> _Unresolved:
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"calendar {name!r} must be a mapping with holidays, dates, business_days, "
            f"include or exclude, not {_show(node)}",
            node,
        )
    out = _Unresolved(name, node)
    for key, key_node, value in _pairs(ctx, node):
        if key == "name":
            text = _text(value)
            if text:
                out.name = text
        elif key == "holidays":
            regions = value.value if isinstance(value, SequenceNode) else [value]
            out.values["holidays"] = tuple(_region(ctx, r) for r in regions)
        elif key == "dates":
            if not isinstance(value, SequenceNode):
                raise _Invalid(
                    f"dates must be a list of dates or ranges such as 2026-12-24..2026-12-31, "
                    f"not {_show(value)}",
                    value,
                )
            ranges = []
            for item in value.value:
                try:
                    ranges.append(parse_date_range(_plain(ctx, item)))
                except ScheduleSyntaxError as exc:
                    raise _Invalid(exc.message, item) from None
            out.values["dates"] = tuple(ranges)
        elif key == "business_days":
            if not (isinstance(value, ScalarNode) and value.tag == _BOOL):
                raise _Invalid(f"business_days must be true or false, not {_show(value)}", value)
            out.values["business_days"] = bool(_plain(ctx, value))
        elif key in ("include", "exclude"):
            items = value.value if isinstance(value, SequenceNode) else [value]
            refs = out.include if key == "include" else out.exclude
            for item in items:
                if isinstance(item, MappingNode):
                    refs.append((_read_calendar(ctx, "inline", item), item))
                    continue
                text = _text(item)
                if text is None:
                    raise _Invalid(f"{key} lists calendar names, not {_show(item)}", item)
                refs.append((text, item))
        else:
            hint = _suggest(key, _CALENDAR_KEYS)
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise _Invalid(
                f"unknown key {key!r} in calendar {name!r}{extra} "
                f"(use {', '.join(_CALENDAR_KEYS[:5])})",
                key_node,
            )
    return out


def _region(ctx: _Context, node: Node) -> HolidayRegion:
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"holidays must be a mapping such as {{country: DE, subdiv: BY}}, not {_show(node)}",
            node,
        )
    values: dict[str, str] = {}
    for key, key_node, value in _pairs(ctx, node):
        if key not in ("country", "subdiv"):
            raise _Invalid(f"unknown key {key!r} in holidays (use country and subdiv)", key_node)
        text = _text(value)
        if not text:
            raise _Invalid(f"holidays {key} must be a string, not {_show(value)}", value)
        values[key] = text.strip()
    if "country" not in values:
        raise _Invalid("holidays needs country: (an ISO 3166 code such as DE)", node)
    from ..holidaycal import check_region  # the holidays package, only for such calendars

    try:
        check_region(values["country"], values.get("subdiv"))
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, node) from None
    return HolidayRegion(values["country"], values.get("subdiv"))


def _resolve(
    ctx: _Context,
    calendar: _Unresolved,
    known: dict[str, _Unresolved],
    done: dict[str, Calendar | None],
    chain: tuple[str, ...],
) -> Calendar | None:
    """The calendar with its includes written out; None (reported) when one is unknown
    or the includes go round in a cycle."""
    ok = True
    parts: dict[str, list[Calendar]] = {"include": [], "exclude": []}
    for kind, refs in (("include", calendar.include), ("exclude", calendar.exclude)):
        for ref, node in refs:
            if isinstance(ref, _Unresolved):
                inner = _resolve(ctx, ref, known, done, chain)
            elif ref in chain:
                cycle = [*chain[chain.index(ref) :], ref]
                ctx.error(node, "calendar include cycle: " + " -> ".join(cycle))
                inner = None
            elif ref not in known:
                ctx.error(node, _unknown_calendar(ref, list(known)))
                inner = None
            elif ref in done:
                inner = done[ref]
            else:
                inner = done[ref] = _resolve(ctx, known[ref], known, done, (*chain, ref))
            if inner is None:
                ok = False
            else:
                parts[kind].append(inner)
    if not ok:
        return None
    return Calendar(
        name=calendar.name,
        include=tuple(parts["include"]),
        exclude=tuple(parts["exclude"]),
        **calendar.values,
    )


def _unknown_calendar(name: str, known: list[str]) -> str:
    hint = _suggest(name, known)
    if hint:
        extra = f"; did you mean {hint!r}?"
    elif known:
        extra = f" (calendars: {', '.join(known)})"
    else:
        extra = " (the file has no scheduler.calendars)"
    return f"unknown calendar {name!r}{extra}"


def _calendars(ctx: _Context, node: Node) -> dict[str, Calendar]:
    """``scheduler.calendars``: names to calendars, includes resolved and checked."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"calendars must map calendar names to calendars, e.g. "
            f"{{de-by: {{holidays: {{country: DE, subdiv: BY}}}}}}, not {_show(node)}",
            node,
        )
    known: dict[str, _Unresolved] = {}
    for name, _, body in _pairs(ctx, node, "calendar name"):
        try:
            known[name] = _read_calendar(ctx, name, body)
        except _Invalid as exc:
            ctx.invalid(exc, body)
            known[name] = _Unresolved(name, body)  # reported; refs to it are not unknown
    done: dict[str, Calendar | None] = {}
    for name, calendar in known.items():
        if name not in done:
            done[name] = _resolve(ctx, calendar, known, done, (name,))
    return {name: found for name, found in done.items() if found is not None}


def _calendar_ref(ctx: _Context, node: Node) -> Calendar:
    """A schedule's ``calendar:``: the name of one of ``scheduler.calendars`` (or a
    calendar written in place, as a stored definition holds it)."""
    if isinstance(node, MappingNode):
        inline = _read_calendar(ctx, "inline", node)
        known = {name: _Unresolved(name, node) for name in ctx.calendars}
        errors = len(ctx.errors)
        found = _resolve_inline(ctx, inline, known)
        if found is None:
            raise _Invalid(ctx.errors.pop().message if len(ctx.errors) > errors else "", node)
        return found
    text = _text(node)
    if text is None:
        raise _Invalid(f"calendar must be the name of a calendar, not {_show(node)}", node)
    found_named = ctx.calendars.get(text.strip())
    if found_named is None:
        raise _Invalid(_unknown_calendar(text, list(ctx.calendars)), node)
    assert isinstance(found_named, Calendar)
    return found_named


def _resolve_inline(
    ctx: _Context, calendar: _Unresolved, known: dict[str, _Unresolved]
) -> Calendar | None:
    done: dict[str, Calendar | None] = dict(ctx.calendars)
    return _resolve(ctx, calendar, known, done, ())

"""A JSON Schema (draft 2020-12) of the schedule file, for editors and CI linters.

Why publish one: with ``# yaml-language-server: $schema=...`` at the top of the file,
editors complete keys and flag a typo such as ``shedule:`` as it is typed, long before
``uno-schedule validate`` runs. The schema is deliberately a little looser than the
loader where JSON Schema cannot say what we check (a cron string's fields, a zone's
existence, ``end_date`` after ``start_date``, task-or-command after template merging):
it never rejects a file that the loader accepts.

The properties of schedules, templates and ``scheduler:`` are not written here: they are
built from the loader's converter tables in ``fields.py``, where each converter carries
the fragment of what it accepts and each key its description. This module only holds
the shared building blocks (``$defs``) those fragments refer to, and the file's frame.

``uno-schedule schema`` prints ``json_schema()``; ``unoschedule/schedules.schema.json``
is the same document, regenerated with ``python -m unoschedule.config.schema`` (a test
keeps the two equal).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ..model import ScheduleDefinition, SchedulerOptions
from ..timeutil import format_duration
from .fields import _SCHEDULE_CONVERTERS, _SCHEDULER_CONVERTERS, _Converter

__all__ = ["SCHEMA_FILE", "json_schema", "schema_text"]

#: The copy shipped in the package, which the example file points editors at.
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schedules.schema.json"

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds")
_DURATION_PATTERN = (
    r"^\s*(?:[0-9]+(?:\.[0-9]+)?\s*|"
    r"(?:[0-9]+(?:\.[0-9]+)?\s*(?:[mM][sS]|[wWdDhHmMsS])\s*)+)$"
)
_INSTANT_PATTERN = (
    r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:[Tt ]+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
    r"\s*(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?\s*$"
)
_ZERO_PATTERN = r"^\s*0+(?:\.0+)?\s*(?:[mM][sS]|[sSmMhHdDwW])?\s*$"
_TIME_PATTERN = r"^\s*[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?\s*$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _described(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, **schema}


def _definitions() -> dict[str, Any]:
    """The building blocks shared by schedules, templates and scheduler options."""
    return {
        "durationOrZero": {
            "description": "A duration, or 0 (none).",
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": _DURATION_PATTERN},
                {
                    "type": "object",
                    "properties": {k: {"type": "number", "minimum": 0} for k in _TIMEDELTA_KEYS},
                    "additionalProperties": False,
                    "minProperties": 1,
                },
            ],
        },
        "duration": {
            "description": "A duration: 90s, 5m, 2h, 1d, 1h30m, a number of seconds, or a "
            "mapping of timedelta keywords such as {minutes: 5}; more than zero.",
            "allOf": [_ref("durationOrZero")],
            "not": {"anyOf": [{"const": 0}, {"type": "string", "pattern": _ZERO_PATTERN}]},
        },
        "text": {
            "description": "A non-empty string; a number or true/false is taken as written.",
            "type": ["string", "number", "boolean"],
            "minLength": 1,
            "pattern": "\\S",
        },
        "scalar": {
            "description": "A string; a number or true/false is taken as written.",
            "type": ["string", "number", "boolean"],
        },
        "zone": {
            "description": "An IANA time zone name, e.g. Europe/Berlin or UTC.",
            "type": "string",
            "minLength": 1,
            "pattern": "\\S",
        },
        "instant": {
            "description": "An ISO 8601 date and time, e.g. 2026-12-01T10:00:00Z; without Z "
            "or an offset it is wall time in the schedule's time zone. In UTC it must fall "
            "between 0001-01-01 and 9999-12-31.",
            "type": "string",
            "pattern": _INSTANT_PATTERN,
        },
        "timeOfDay": {
            "description": 'A time of day, HH:MM or HH:MM:SS (quote it: "09:30").',
            "type": "string",
            "pattern": _TIME_PATTERN,
        },
        "timesOfDay": {
            "anyOf": [
                _ref("timeOfDay"),
                {"type": "array", "items": _ref("timeOfDay"), "minItems": 1},
            ]
        },
        "weekday": {
            "description": "A day of the week: monday..sunday (or mon, tue...), or 0-7 with "
            "0 and 7 for Sunday.",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^\s*[A-Za-z]{3,9}\s*$",
                    "examples": list(_WEEKDAYS),
                },
                {"type": "integer", "minimum": 0, "maximum": 7},
            ],
        },
        "monthDay": {
            "description": "A day of the month, 1-31, or last (also -1).",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 31},
                {"const": -1},
                {"enum": ["last", "Last", "LAST", "L", "l", "-1"]},
            ],
        },
        "cron": {
            "description": "A cron expression: 5 fields (minute hour day month weekday), or 6 "
            "with seconds first; names, L, W, #, H and @daily-style aliases work. Quote it "
            "when it starts with '*'.",
            "type": "string",
            "minLength": 1,
        },
        "schedule": _schedule_definition(),
        "command": {
            "description": "A program: a list of words ([df, -h]) or one string, split into "
            "words as a shell would (and run without a shell unless shell: true).",
            "anyOf": [
                {"type": "string", "minLength": 1, "pattern": "\\S"},
                {"type": "array", "items": _ref("scalar"), "minItems": 1},
            ],
        },
        "dst": {
            "description": "What a wall time in a DST gap or overlap does; keys left out "
            "follow cronie's rule for the schedule's kind.",
            "type": "object",
            "properties": {
                "gap": {
                    "enum": ["shift", "skip"],
                    "description": "shift: fire when the clock jumps; skip: never.",
                },
                "overlap": {
                    "enum": ["first", "both"],
                    "description": "first: fire on the first pass; both: on both.",
                },
            },
            "additionalProperties": False,
        },
        "scheduleFields": _schedule_fields(),
        # additionalProperties (not unevaluatedProperties) on the shared definition:
        # editors' schema engines understand it, and templates take the same keys.
        "template": {
            "description": "Defaults that schedules inherit with template: NAME.",
            "$ref": "#/$defs/scheduleFields",
        },
        "scheduleEntry": {
            "description": "One schedule: when (schedule:) and what (task: or command:).",
            "$ref": "#/$defs/scheduleFields",
        },
        "scheduler": _scheduler_definition(),
    }


def _schedule_definition() -> dict[str, Any]:
    """The schedule union: a cron string or a mapping with exactly one schedule type."""
    days_time = {
        "type": "object",
        "required": ["days"],
        "additionalProperties": False,
    }
    kinds: dict[str, Any] = {
        "cron": _ref("cron"),
        "every": _described(
            "An interval of elapsed time, anchored at start_date.", _ref("duration")
        ),
        "at": _described("Once, at this instant.", _ref("instant")),
        "daily": _described("Every day at these times of day.", _ref("timesOfDay")),
        "weekly": {
            **days_time,
            "description": "On these days of the week at these times, e.g. "
            '{days: [monday, thursday], time: "10:00"}.',
            "properties": {
                "days": {
                    "anyOf": [
                        _ref("weekday"),
                        {"type": "array", "items": _ref("weekday"), "minItems": 1},
                    ]
                },
                "time": _ref("timesOfDay"),
            },
        },
        "monthly": {
            **days_time,
            "description": "On these days of the month (last = the last day) at these times, "
            'e.g. {days: [1, 15], time: "12:00"}.',
            "properties": {
                "days": {
                    "anyOf": [
                        _ref("monthDay"),
                        {"type": "array", "items": _ref("monthDay"), "minItems": 1},
                    ]
                },
                "time": _ref("timesOfDay"),
            },
        },
        "event": {
            "description": "Fires when this event is raised, e.g. inventory.low_stock.",
            "type": "string",
            "minLength": 1,
        },
    }
    return {
        "description": "When the job fires: a cron string, or a mapping with exactly one of "
        + ", ".join(kinds)
        + ".",
        "anyOf": [
            _ref("cron"),
            {
                "type": "object",
                "properties": kinds,
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
            },
        ],
    }


def _properties(table: dict[str, _Converter], model: type) -> dict[str, Any]:
    """Each key's fragment from the converter table, with its description and, where the
    model's field has one, its default (durations written as a duration: ``1m``)."""
    defaults = _defaults(model)
    out: dict[str, Any] = {}
    for key, convert in table.items():
        # a copy: a caller may change the schema it got without changing the tables
        fragment = _described(convert.description, copy.deepcopy(convert.schema))
        if key in defaults:
            default = defaults[key]
            if "/duration" in json.dumps(convert.schema) and isinstance(default, float):
                default = format_duration(default)
            fragment["default"] = default
        out[key] = fragment
    return out


def _defaults(model: type) -> dict[str, Any]:
    """The dataclass's field defaults as JSON values; None (unset) is left out."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(model):
        if field.default is not dataclasses.MISSING:
            value: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            continue
        if value is not None:
            out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def _schedule_fields() -> dict[str, Any]:
    """Every per-schedule key (shared by schedules and templates)."""
    return {
        "type": "object",
        "properties": _properties(_SCHEDULE_CONVERTERS, ScheduleDefinition),
        "additionalProperties": False,
        "not": {
            "required": ["task", "command"],
            "description": "Set either task or command, not both.",
        },
    }


def _scheduler_definition() -> dict[str, Any]:
    """The ``scheduler:`` options (the library's Scheduler(...) arguments)."""
    return {
        "description": "Options of the scheduler itself.",
        "type": "object",
        "additionalProperties": False,
        "properties": _properties(_SCHEDULER_CONVERTERS, SchedulerOptions),
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole schedule file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "uno-schedule schedule file",
        "description": "Schedules, templates and scheduler options of uno-schedule.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string", "description": "Where this schema is."},
            "scheduler": _nullable(_ref("scheduler")),
            "templates": _nullable(
                {
                    "description": "Named sets of keys that schedules inherit with template:.",
                    "type": "object",
                    "additionalProperties": _ref("template"),
                }
            ),
            "schedules": _nullable(
                {
                    "description": "Schedules by unique name.",
                    "type": "object",
                    "additionalProperties": _ref("scheduleEntry"),
                }
            ),
        },
        "$defs": _definitions(),
    }


def schema_text() -> str:
    """The schema as it is written to ``schedules.schema.json`` (stable, diff-friendly)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m unoschedule.config.schema [--write]``: print, or rewrite the shipped file."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

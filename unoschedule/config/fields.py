"""Field converters: one YAML value node to the value a dataclass field wants, with a
message that names the key when it cannot be; and the tables that map each key of a
schedule, a template and ``scheduler:`` to its converter.

Names with a leading underscore are internal to the ``unoschedule.config`` package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from ..errors import ScheduleSyntaxError
from ..model import PRIORITIES
from ..schedules import SCHEDULE_KEYS as SCHEDULE_TYPES
from ..schedules import CronSchedule, OneTimeSchedule, ScheduleSpec, schedule_from_config
from ..timeutil import as_utc, get_zone, parse_duration, parse_instant
from .context import (  # package-internal names, shared within unoschedule.config
    _BOOL,
    _FLOAT,
    _INT,
    _NULL,
    _Context,
    _Invalid,
    _pairs,
    _plain,
    _scalar,
    _show,
    _suggest,
    _text,
    _unknown_key,
)
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode

_ZERO_DURATION_RE = re.compile(r"^\s*0+(\.0+)?\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)

# -- field converters ----------------------------------------------------------------------
#
# A converter turns one value node into the value a dataclass field wants, or raises
# _Invalid. Those for fields whose default is None accept null (it unsets a template's
# value). Converters are built per key by small factories so that messages name the key.

_Converter = Callable[[_Context, Node], Any]


def _optional(convert: _Converter) -> _Converter:
    def run(ctx: _Context, node: Node) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        return convert(ctx, node)

    return run


def _string(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(f"{key} must be a non-empty string, not {_show(node)}", node)
        return text

    return run


def _boolean(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> bool:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(_scalar(node))
        raise _Invalid(f"{key} must be true or false, not {_show(node)}", node)

    return run


def _whole(key: str, minimum: int) -> _Converter:
    def run(ctx: _Context, node: Node) -> int:
        if isinstance(node, ScalarNode) and node.tag == _INT:
            value = int(_scalar(node))
            if value >= minimum:
                return value
        raise _Invalid(f"{key} must be a whole number >= {minimum}, not {_show(node)}", node)

    return run


def _number(key: str, minimum: float) -> _Converter:
    def run(ctx: _Context, node: Node) -> float:
        if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT):
            value = float(_scalar(node))
            if minimum <= value < math.inf:
                return value
        raise _Invalid(f"{key} must be a number >= {minimum:g}, not {_show(node)}", node)

    return run


def _duration(key: str, *, allow_zero: bool = False) -> _Converter:
    """Seconds from ``30s``, ``5m``, ``1h30m``, a number of seconds or a timedelta mapping."""

    def run(ctx: _Context, node: Node) -> float:
        if isinstance(node, SequenceNode) or (isinstance(node, ScalarNode) and node.tag == _NULL):
            raise _Invalid(
                f"{key} must be a duration such as 30s, 5m or 1h30m, not {_show(node)}", node
            )
        value = _plain(ctx, node)
        if allow_zero and _is_zero(value):
            return 0.0
        try:
            return parse_duration(value, what=key).total_seconds()
        except ScheduleSyntaxError as exc:
            raise _Invalid(exc.message, node) from None

    return run


def _address(key: str) -> _Converter:
    """``HOST:PORT`` (or ``:PORT``, all interfaces) for a listening socket."""

    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        host, sep, port = (text or "").strip().rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise _Invalid(
                f"{key} must be HOST:PORT such as 127.0.0.1:9650, not {_show(node)}", node
            )
        return f"{host}:{port}"

    return run


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and bool(_ZERO_DURATION_RE.match(value))


def _choice(key: str, choices: Sequence[str]) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is not None and text in choices:
            return text
        hint = _suggest(text, choices) if text else None
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise _Invalid(f"{key} must be one of {', '.join(choices)}, not {_show(node)}{extra}", node)

    return run


def _words(key: str) -> _Converter:
    """A list of strings (tags, import paths); scalars are taken as written."""

    def run(ctx: _Context, node: Node) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            raise _Invalid(
                f"{key} must be a list of strings, e.g. [nightly], not {_show(node)}", node
            )
        out: list[str] = []
        for item in node.value:
            text = _text(item)
            if text is None or not text.strip():
                raise _Invalid(
                    f"each entry of {key} must be a non-empty string, not {_show(item)}", item
                )
            out.append(text)
        return tuple(out)

    return run


def _mapping(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise _Invalid(f"{key} must be a mapping (key: value), not {_show(node)}", node)
        value: dict[str, Any] = _plain(ctx, node)
        return value

    return run


def _env(ctx: _Context, node: Node) -> dict[str, str]:
    """Environment variables: names to strings, scalars taken as written (``1``, ``yes``)."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"env must be a mapping of variable names to values, not {_show(node)}", node
        )
    out: dict[str, str] = {}
    for name, key_node, value_node in _pairs(ctx, node):
        if not name or "=" in name or "\0" in name:
            raise _Invalid(f"{name!r} is not an environment variable name", key_node)
        text = _text(value_node)
        if text is None:
            raise _Invalid(f"env {name} must be a string, not {_show(value_node)}", value_node)
        out[name] = text
    return out


def _args(ctx: _Context, node: Node) -> tuple[Any, ...]:
    if not isinstance(node, SequenceNode):
        raise _Invalid(f'args must be a list, e.g. [1, "two"], not {_show(node)}', node)
    return tuple(_plain(ctx, node))


def _command(key: str) -> _Converter:
    """A string (split later, unless ``shell: true``) or a list of words as written."""

    def run(ctx: _Context, node: Node) -> str | tuple[str, ...]:
        if isinstance(node, SequenceNode):
            words: list[str] = []
            for item in node.value:
                text = _text(item)
                if text is None:
                    raise _Invalid(f"each word of {key} must be a string, not {_show(item)}", item)
                words.append(text)
            if not words:
                raise _Invalid(f"{key} is an empty list; give the program and its arguments", node)
            return tuple(words)
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(
                f"{key} must be a string or a list of words, e.g. [df, -h], not {_show(node)}", node
            )
        return text

    return run


def _zone_name(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(
                f"{key} must be an IANA zone name such as Europe/Berlin, not {_show(node)}", node
            )
        try:
            get_zone(text.strip())
        except ScheduleSyntaxError as exc:
            raise _Invalid(exc.message, node) from None
        return text.strip()

    return run


def _instant(key: str) -> _Converter:
    """A datetime, naive when the file gave no zone (read later in the schedule's zone)."""

    def run(ctx: _Context, node: Node) -> datetime:
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            raise _Invalid(
                f"{key} must be a date and time such as 2026-12-01T10:00:00Z, not {_show(node)}",
                node,
            )
        value = _scalar(node)
        try:
            return _as_datetime(value)
        except ScheduleSyntaxError as exc:
            raise _Invalid(f"{key}: {exc.message}", node) from None

    return run


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return parse_instant(text)  # raises ScheduleSyntaxError with the usual message


def _dst(ctx: _Context, node: Node) -> dict[str, str]:
    """``{gap: shift|skip, overlap: first|both}``; keys left out take the schedule's default."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"dst must be a mapping such as {{gap: skip, overlap: first}}, not {_show(node)}", node
        )
    choices = {"gap": ("shift", "skip"), "overlap": ("first", "both")}
    out: dict[str, str] = {}
    for key, key_node, value_node in _pairs(ctx, node):
        if key not in choices:
            raise _Invalid(_unknown_key(key, list(choices), "dst"), key_node)
        out[key] = _choice(f"dst {key}", choices[key])(ctx, value_node)
    return out


def _template_ref(ctx: _Context, node: Node) -> str:
    text = _text(node)
    if text is None:
        raise _Invalid(f"template must be the name of a template, not {_show(node)}", node)
    if text not in ctx.template_names:
        hint = _suggest(text, list(ctx.template_names))
        if hint:
            extra = f"; did you mean {hint!r}?"
        elif ctx.template_names:
            extra = f" (templates: {', '.join(ctx.template_names)})"
        else:
            extra = " (the file has no templates: section)"
        raise _Invalid(f"unknown template {text!r}{extra}", node)
    return text


def _queues(ctx: _Context, node: Node) -> dict[str, int]:
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"queues must map queue names to concurrency limits, e.g. "
            f"{{default: 4}}, not {_show(node)}",
            node,
        )
    return {
        name: _whole(f"the concurrency of queue {name!r}", 1)(ctx, value)
        for name, _, value in _pairs(ctx, node)
    }


# -- the schedule: key ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ScheduleValue:
    """A validated schedule type; a naive ``at`` is re-read once the zone is known."""

    spec: ScheduleSpec
    naive_at: datetime | None = None

    def bind(self, zone: tzinfo) -> ScheduleSpec:
        if self.naive_at is None:
            return self.spec
        return OneTimeSchedule(as_utc(self.naive_at, zone))


def _schedule(ctx: _Context, node: Node) -> _ScheduleValue:
    """A cron string, or a mapping with exactly one of cron/every/at/daily/weekly/..."""
    if isinstance(node, ScalarNode) and node.tag != _NULL:
        return _ScheduleValue(_cron(node))
    if not isinstance(node, MappingNode):
        raise _Invalid(
            'schedule must be a cron string such as "30 2 * * *" or a mapping with one of '
            f"{', '.join(SCHEDULE_TYPES)} (e.g. {{every: 5m}}), not {_show(node)}",
            node,
        )
    kinds: list[tuple[str, Node, Node]] = []
    for key, key_node, value_node in _pairs(ctx, node):
        if key in SCHEDULE_TYPES:
            kinds.append((key, key_node, value_node))
        else:
            hint = _suggest(key, SCHEDULE_TYPES)
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise _Invalid(
                f"unknown schedule type {key!r}{extra} (use one of {', '.join(SCHEDULE_TYPES)})",
                key_node,
            )
    if not kinds:
        raise _Invalid(f"schedule needs one of {', '.join(SCHEDULE_TYPES)}", node)
    if len(kinds) > 1:
        names = " and ".join(k for k, _, _ in kinds)
        raise _Invalid(
            f"a schedule has exactly one type, this one has {names}; use one schedule per entry",
            kinds[1][1],
        )
    kind, _, body = kinds[0]
    return _typed_schedule(ctx, kind, body)


def _cron(node: ScalarNode) -> CronSchedule:
    try:
        return CronSchedule(str(node.value))
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, node, exc.column) from None


def _typed_schedule(ctx: _Context, kind: str, body: Node) -> _ScheduleValue:
    if kind == "cron":
        if not isinstance(body, ScalarNode) or body.tag == _NULL:
            raise _Invalid(
                f'cron must be a cron string such as "30 2 * * *", not {_show(body)}', body
            )
        return _ScheduleValue(_cron(body))
    if kind == "at":
        moment = _instant("at")(ctx, body)
        naive = moment if moment.tzinfo is None else None
        return _ScheduleValue(OneTimeSchedule(as_utc(moment)), naive)
    if kind == "daily":
        value: Any = _times(ctx, body)
    elif kind in ("weekly", "monthly"):
        value = _days_and_time(ctx, kind, body)
    elif kind == "event":
        value = _text(body)
        if value is None:
            raise _Invalid(
                f"event must be an event name such as inventory.low_stock, not {_show(body)}", body
            )
    else:
        value = _plain(ctx, body)
    try:
        return _ScheduleValue(schedule_from_config({kind: value}))
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, body) from None


def _times(ctx: _Context, node: Node) -> Any:
    """Times of day as written: YAML 1.1 reads an unquoted ``10:00`` as the number 600."""
    if isinstance(node, SequenceNode):
        return [_time_text(ctx, item) for item in node.value]
    return _time_text(ctx, node)


def _time_text(ctx: _Context, node: Node) -> Any:
    if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT) and ":" in node.value:
        return node.value
    return _plain(ctx, node)


def _days_and_time(ctx: _Context, kind: str, node: Node) -> dict[str, Any]:
    example = (
        '{days: [monday], time: "09:00"}'
        if kind == "weekly"
        else ('{days: [1, 15], time: "12:00"}')
    )
    if not isinstance(node, MappingNode):
        raise _Invalid(f"{kind} takes a mapping such as {example}, not {_show(node)}", node)
    out: dict[str, Any] = {}
    for key, key_node, value_node in _pairs(ctx, node):
        if key == "time":
            out["time"] = _times(ctx, value_node)
        elif key == "days":
            out["days"] = _plain(ctx, value_node)
        else:
            raise _Invalid(_unknown_key(key, ("days", "time"), kind), key_node)
    if "days" not in out:
        raise _Invalid(f"{kind} needs days:, e.g. {example}", node)
    return out


# -- key tables ----------------------------------------------------------------------------

_SCHEDULE_CONVERTERS: dict[str, _Converter] = {
    "schedule": _schedule,
    "task": _optional(_string("task")),
    "command": _optional(_command("command")),
    "shell": _boolean("shell"),
    "args": _args,
    "kwargs": _mapping("kwargs"),
    "queue": _optional(_string("queue")),
    "priority": _choice("priority", tuple(PRIORITIES)),
    "start_date": _optional(_instant("start_date")),
    "end_date": _optional(_instant("end_date")),
    "timezone": _optional(_zone_name("timezone")),
    "max_retries": _whole("max_retries", 0),
    "retry_delay": _duration("retry_delay", allow_zero=True),
    "retry_backoff": _number("retry_backoff", 1),
    "tags": _words("tags"),
    "metadata": _mapping("metadata"),
    "timeout": _optional(_duration("timeout")),
    "unique": _boolean("unique"),
    "template": _optional(_template_ref),
    "enabled": _boolean("enabled"),
    "paused": _boolean("paused"),
    "description": _optional(_string("description")),
    "dst": _optional(_dst),
    "on_error": _optional(_command("on_error")),
    "env": _env,
    "cwd": _optional(_string("cwd")),
    "expect_success_within": _optional(_duration("expect_success_within")),
    "pause_after_failures": _optional(_whole("pause_after_failures", 1)),
}

_SCHEDULER_CONVERTERS: dict[str, _Converter] = {
    "queue_name": _string("queue_name"),
    "timezone": _zone_name("timezone"),
    "check_interval": _duration("check_interval"),
    "missed_threshold": _duration("missed_threshold", allow_zero=True),
    "missed_schedule_handling": _choice(
        "missed_schedule_handling", ("trigger", "skip", "coalesce")
    ),
    "max_missed_schedules": _whole("max_missed_schedules", 0),
    "lock_timeout": _duration("lock_timeout"),
    "metrics_enabled": _boolean("metrics_enabled"),
    "instance_id": _optional(_string("instance_id")),
    "storage": _optional(_string("storage")),
    "state": _optional(_string("state")),
    "queues": _queues,
    "default_concurrency": _whole("default_concurrency", 1),
    "shutdown_grace": _duration("shutdown_grace", allow_zero=True),
    "kill_grace": _duration("kill_grace", allow_zero=True),
    "import_paths": _words("import_paths"),
    "output_tail": _whole("output_tail", 0),
    "log_dir": _optional(_string("log_dir")),
    "on_error": _optional(_command("on_error")),
    "metrics_address": _address("metrics_address"),
    "keep_runs": _whole("keep_runs", 1),
    "keep_for": _duration("keep_for"),
}

#: Keys that belong one level down, and where to put them.
_MISPLACED = {
    **{
        k: f"{k} is a schedule type; put it under schedule:, e.g. schedule: {{{k}: ...}}"
        for k in SCHEDULE_TYPES
    },
    "name": "a schedule's name is its key under schedules:, not a name: field",
}

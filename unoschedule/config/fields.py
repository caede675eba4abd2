"""Field converters: one YAML value node to the value a dataclass field wants, with a
message that names the key when it cannot be; and the tables that map each key of a
schedule, a template and ``scheduler:`` to its converter.

Names with a leading underscore are internal to the ``unoschedule.config`` package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from ..calendars import ROLLS
from ..errors import ScheduleSyntaxError
from ..model import OVERLAPS, PRIORITIES
from ..schedules import SCHEDULE_KEYS as SCHEDULE_TYPES
from ..schedules import CronSchedule, OneTimeSchedule, ScheduleSpec, schedule_from_config
from ..timeutil import as_utc, get_zone, parse_datetime, parse_duration
from .chainfields import _AFTER_SCHEMA, _NOTIFY_SCHEMA, _after, _notify
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
from .timingfields import (
    _BLACKOUT_SCHEMA,
    _CALENDAR_SCHEMA,
    _blackout,
    _calendar_ref,
    _calendars,
)
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode

#: HOST:PORT (or :PORT) as ``_address`` reads it, for the schema.
_ADDRESS_PATTERN = r"^\s*[^\s]*:[0-9]{1,5}\s*$"
_ZERO_DURATION_RE = re.compile(r"^\s*0+(\.0+)?\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)

# -- field converters ----------------------------------------------------------------------
#
# A converter turns one value node into the value a dataclass field wants, or raises
# _Invalid. Those for fields whose default is None accept null (it unsets a template's
# value). Converters are built per key by small factories so that messages name the key.
#
# Each converter also carries the JSON Schema fragment of what it accepts, and the key
# tables at the end a one-line description per key: ``schema.py`` builds the schema's
# properties from those tables (and docs/yaml-reference.md is written from the schema),
# so the schema cannot list a key the loader refuses or drift from what it checks.
# Fragments may ``$ref`` the shared building blocks of ``schema.py`` (``#/$defs/NAME``).

_Run = Callable[[_Context, Node], Any]


@dataclass(frozen=True, slots=True)
class _Converter:
    """A key's converter, the JSON Schema fragment of what it accepts, and what it means."""

    run: _Run
    schema: dict[str, Any]
    description: str = ""

    def __call__(self, ctx: _Context, node: Node) -> Any:
        return self.run(ctx, node)

    def about(self, description: str) -> _Converter:
        """This converter, described for the schema and the reference."""
        return replace(self, description=description)


def _ref(name: str) -> dict[str, str]:
    """A reference to one of the shared definitions that ``schema.py`` writes."""
    return {"$ref": f"#/$defs/{name}"}


#: Scalars as the loader reads them where it wants text: written as is (``5``, ``yes``).
_TEXT: dict[str, Any] = _ref("text")


def _optional(convert: _Converter) -> _Converter:
    def run(ctx: _Context, node: Node) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        return convert.run(ctx, node)

    return _Converter(run, {"anyOf": [convert.schema, {"type": "null"}]})


def _string(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(f"{key} must be a non-empty string, not {_show(node)}", node)
        return text

    return _Converter(run, _TEXT)


def _boolean(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> bool:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(_scalar(node))
        raise _Invalid(f"{key} must be true or false, not {_show(node)}", node)

    return _Converter(run, {"type": "boolean"})


def _whole(key: str, minimum: int) -> _Converter:
    def run(ctx: _Context, node: Node) -> int:
        if isinstance(node, ScalarNode) and node.tag == _INT:
            value = int(_scalar(node))
            if value >= minimum:
                return value
        raise _Invalid(f"{key} must be a whole number >= {minimum}, not {_show(node)}", node)

    return _Converter(run, {"type": "integer", "minimum": minimum})


def _number(key: str, minimum: float) -> _Converter:
    def run(ctx: _Context, node: Node) -> float:
        if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT):
            value = float(_scalar(node))
            if minimum <= value < math.inf:
                return value
        raise _Invalid(f"{key} must be a number >= {minimum:g}, not {_show(node)}", node)

    return _Converter(run, {"type": "number", "minimum": minimum})


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

    return _Converter(run, _ref("durationOrZero" if allow_zero else "duration"))


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

    return _Converter(run, {"type": "string", "pattern": _ADDRESS_PATTERN})


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

    return _Converter(run, {"enum": list(choices)})


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

    return _Converter(run, {"type": "array", "items": _TEXT})


def _mapping(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise _Invalid(f"{key} must be a mapping (key: value), not {_show(node)}", node)
        value: dict[str, Any] = _plain(ctx, node)
        return value

    return _Converter(run, {"type": "object"})


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
            if not words[0].strip():
                raise _Invalid(
                    f"{key} starts with a blank word; its first word is the program to run",
                    node.value[0],
                )
            return tuple(words)
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(
                f"{key} must be a string or a list of words, e.g. [df, -h], not {_show(node)}", node
            )
        return text

    return _Converter(run, _ref("command"))


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

    return _Converter(run, _ref("zone"))


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
            return parse_datetime(value)
        except ScheduleSyntaxError as exc:
            raise _Invalid(f"{key}: {exc.message}", node) from None

    return _Converter(run, _ref("instant"))


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


def _groups(ctx: _Context, node: Node) -> dict[str, int]:
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"groups must map group names to how many of their runs may run at once, e.g. "
            f"{{warehouse: 2}}, not {_show(node)}",
            node,
        )
    return {
        name: _whole(f"the limit of group {name!r}", 1)(ctx, value)
        for name, _, value in _pairs(ctx, node)
    }


def _group_ref(ctx: _Context, node: Node) -> str:
    """A schedule's ``concurrency_group:``: a group of ``scheduler.groups`` (which gives
    its limit; a group without one would be no limit at all)."""
    text = _text(node)
    if text is None or not text.strip():
        raise _Invalid(f"concurrency_group must be a group's name, not {_show(node)}", node)
    if text not in ctx.groups:
        hint = _suggest(text, list(ctx.groups))
        known = f" (known: {', '.join(sorted(ctx.groups))})" if ctx.groups else ""
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise _Invalid(
            f"concurrency_group {text!r} has no limit: add it under scheduler.groups, "
            f"e.g. groups: {{{text}: 2}}{known}{extra}",
            node,
        )
    return text


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
#
# The one description of the file's keys: the loader converts with these, ``schema.py``
# builds the JSON Schema's properties from them (converter.schema + description), and
# docs/yaml-reference.md is written from that schema.

_ENV_NAME_PATTERN = "^[^=\\x00]+$"

_SCHEDULE_CONVERTERS: dict[str, _Converter] = {
    "schedule": _Converter(_schedule, _ref("schedule")).about(
        "When the job fires: a cron string, or a mapping with exactly one schedule type."
    ),
    "task": _optional(_string("task")).about(
        "A Python callable, package.module.function or package.module:function (sync or async)."
    ),
    "command": _optional(_command("command")).about("A program to run instead of a task."),
    "shell": _boolean("shell").about(
        "Run command, and a string on_error, as a shell script (sh -c). Commands only: "
        "refused on a task."
    ),
    "args": _Converter(_args, {"type": "array"}).about(
        "Positional arguments (appended to a command's words)."
    ),
    "kwargs": _mapping("kwargs").about("Keyword arguments of the task (as JSON in UNO_KWARGS)."),
    "queue": _optional(_string("queue")).about(
        "The queue the job runs in (each has a concurrency limit)."
    ),
    "priority": _choice("priority", tuple(PRIORITIES)).about("Order within a queue."),
    "start_date": _optional(_instant("start_date")).about(
        "No occurrence before this instant (of a clock: refused on an event's or an "
        "after:-only schedule)."
    ),
    "end_date": _optional(_instant("end_date")).about(
        "No occurrence after this instant (of a clock: refused on an event's or an "
        "after:-only schedule)."
    ),
    "timezone": _optional(_zone_name("timezone")).about(
        "IANA zone the schedule is evaluated in, e.g. Europe/Berlin (default: scheduler.timezone)."
    ),
    "max_retries": _whole("max_retries", 0).about("Retries of a failed or timed-out run."),
    "retry_delay": _duration("retry_delay", allow_zero=True).about("Wait before a retry."),
    "retry_backoff": _number("retry_backoff", 1).about(
        "Multiplier of retry_delay per further retry."
    ),
    "tags": _words("tags").about("Labels for list --tag."),
    "metadata": _mapping("metadata").about("Free-form data kept with the schedule."),
    "timeout": _optional(_duration("timeout")).about("Stop a run after this long."),
    "unique": _boolean("unique").about("true: overlap: skip (the older name)."),
    "overlap": _choice("overlap", OVERLAPS).about(
        "What an occurrence does while a run of this schedule is in flight: skip it "
        "(recorded skipped), buffer_one (at most one waits, started when the current one "
        "ends), buffer_all (every one waits its turn, in order), cancel_other (stop the "
        "running one, recorded cancelled, then start), allow_all (run beside it; the "
        "default). A manual trigger or an event's run is not held by it."
    ),
    "concurrency_group": _optional(_Converter(_group_ref, _TEXT)).about(
        "A group of scheduler.groups: at most its limit of runs of the group's "
        "schedules run at once, across every host and worker; the rest wait in priority "
        "then due order."
    ),
    "template": _optional(_Converter(_template_ref, _TEXT)).about(
        "Inherit the keys of this template."
    ),
    "enabled": _boolean("enabled").about("false: keep the schedule defined but never fire it."),
    "paused": _boolean("paused").about(
        "Keep it paused (uno-schedule resume resumes it; so does changing this back to "
        "false, which leaves a pause from uno-schedule pause in place)."
    ),
    "description": _optional(_string("description")).about("Shown by list and status."),
    "dst": _optional(_Converter(_dst, _ref("dst"))).about(
        "What a wall time in a DST gap or overlap does (default: cronie's rule for the "
        "schedule's kind). For cron, daily, weekly and monthly schedules: refused on the "
        "others, which have no wall times."
    ),
    "on_error": _optional(_command("on_error")).about(
        "A command run when a job fails for good. With shell: true a string is a script "
        "for the same shell as command:; a list is run as its words."
    ),
    "env": _Converter(
        _env,
        {
            "type": "object",
            "propertyNames": {"pattern": _ENV_NAME_PATTERN},
            "additionalProperties": _ref("scalar"),
        },
    ).about(
        "Extra environment variables of a command (refused on a task: give a task its "
        "settings in kwargs)."
    ),
    "cwd": _optional(_string("cwd")).about("Working directory of a command (refused on a task)."),
    "expect_success_within": _optional(_duration("expect_success_within")).about(
        "Dead-man alarm: overdue when no run succeeded for this long."
    ),
    "pause_after_failures": _optional(_whole("pause_after_failures", 1)).about(
        "Pause the schedule after this many consecutive final failures."
    ),
    "jitter": _duration("jitter", allow_zero=True).about(
        "Delay each run's start by a random amount in [0, jitter) (the occurrence is "
        "claimed on time; a restart during the delay neither redraws nor repeats it). Of "
        "a clock's occurrences: refused on an event's or an after:-only schedule."
    ),
    "jitter_fixed": _boolean("jitter_fixed").about(
        "Make the jitter delay the same for every run, hashed from the schedule's name."
    ),
    "calendar": _optional(_Converter(_calendar_ref, {"anyOf": [_TEXT, _CALENDAR_SCHEMA]})).about(
        "A calendar of scheduler.calendars: occurrences on the days it excludes do not "
        "run (of a clock: refused on an event's or an after:-only schedule)."
    ),
    "roll": _choice("roll", ROLLS).about(
        "What an occurrence on a day the calendar excludes does: skip (not run), or move "
        "to the next or previous day the calendar runs on, at the same wall time."
    ),
    "run_on_start": _boolean("run_on_start").about(
        "Run once when the scheduler first sees the schedule (not on every restart)."
    ),
    "after": _optional(_Converter(_after, _AFTER_SCHEMA)).about(
        "Run after each run of another schedule that ends as on: says (success, failure "
        "after its last attempt, or any), with that run's id and result as the event "
        "payload; a schedule with after: needs no schedule: of its own."
    ),
    "notify": _optional(_Converter(_notify, _NOTIFY_SCHEMA)).about(
        "Whom to tell (targets: Apprise URLs such as slack://, mailto://, json://; "
        "${VAR} is read from the environment when sending; or targets_file:) of which "
        "events (failure, recovery, overdue, paused); replaces scheduler.notify."
    ),
    "blackout": _Converter(_blackout, _BLACKOUT_SCHEMA).about(
        "Windows in which occurrences do not run ('Sat 22:00 for 6h', a cron with for:, "
        "or from/to dates in the schedule's zone): recorded skipped, or run at the "
        "window's end with defer: true. Of a clock's occurrences: refused on an event's "
        "or an after:-only schedule."
    ),
}

_SCHEDULER_CONVERTERS: dict[str, _Converter] = {
    "queue_name": _string("queue_name").about("The default queue."),
    "timezone": _zone_name("timezone").about("Zone of schedules that name none."),
    "check_interval": _duration("check_interval").about("Longest sleep of the run loop."),
    "missed_threshold": _duration("missed_threshold", allow_zero=True).about(
        "Lateness after which an occurrence is missed."
    ),
    "missed_schedule_handling": _choice(
        "missed_schedule_handling", ("trigger", "skip", "coalesce")
    ).about(
        "What missed occurrences do: trigger runs each (up to max_missed_schedules), "
        "skip runs none, coalesce runs one."
    ),
    "max_missed_schedules": _whole("max_missed_schedules", 0).about(
        "Most missed occurrences run by trigger."
    ),
    "lock_timeout": _duration("lock_timeout").about("How long the leader's lease lasts."),
    "metrics_enabled": _boolean("metrics_enabled").about(
        "Serve Prometheus metrics on metrics_address while running. Unset: "
        "`uno-schedule run` serves them; a library Scheduler only when given a "
        "metrics_address."
    ),
    "instance_id": _optional(_string("instance_id")).about(
        "This process's name in leases and runs (default: host name and process id)."
    ),
    "storage": _optional(_string("storage")).about(
        "Where state lives: a SQLite path, or redis://host/db."
    ),
    "state": _optional(_string("state")).about(
        "The SQLite state file, relative to this file's folder."
    ),
    "queues": _Converter(
        _queues,
        {"type": "object", "additionalProperties": _whole("queue", 1).schema},
    ).about("Concurrency limit of each queue."),
    "default_concurrency": _whole("default_concurrency", 1).about(
        "Limit of queues not listed in queues (default: 16 per CPU, at least 32)."
    ),
    "shutdown_grace": _duration("shutdown_grace", allow_zero=True).about(
        "On SIGTERM, how long running jobs may finish."
    ),
    "kill_grace": _duration("kill_grace", allow_zero=True).about(
        "After SIGTERM to a job, how long before SIGKILL."
    ),
    "import_paths": _words("import_paths").about(
        "Folders tasks are imported from, a relative one read against the file's folder "
        "(the file's own folder is one by default)."
    ),
    "output_tail": _whole("output_tail", 0).about("Bytes of a job's output kept with its run."),
    "log_dir": _optional(_string("log_dir")).about(
        "Folder for the full output of each run (default: <state>.logs beside the state "
        "file), pruned with the runs."
    ),
    "log_max_bytes": _whole("log_max_bytes", 0).about(
        "Largest file of one run's output under log_dir, in bytes (0: no limit); the rest "
        "is cut, with a note."
    ),
    "on_error": _optional(_command("on_error")).about("A command run when any job fails for good."),
    "metrics_address": _address("metrics_address").about("HOST:PORT of the /metrics endpoint."),
    "keep_runs": _whole("keep_runs", 1).about("Runs kept per schedule; older ones are pruned."),
    "keep_for": _duration("keep_for").about("How long runs are kept."),
    "groups": _Converter(
        _groups,
        {"type": "object", "additionalProperties": _whole("group", 1).schema},
    ).about("Concurrency groups: how many runs of the schedules naming each may run at once."),
    "calendars": _Converter(
        _calendars, {"type": "object", "additionalProperties": _CALENDAR_SCHEMA}
    ).about(
        "Named calendars of days not run on: holidays ({country: DE, subdiv: BY}), dates "
        "(ranges as 2026-12-24..2026-12-31), business_days: true (no weekends), include "
        "and exclude of other calendars."
    ),
    "notify": _optional(_Converter(_notify, _NOTIFY_SCHEMA)).about(
        "Notifications of every schedule in the file that sets no notify: of its own."
    ),
    "blackout": _Converter(_blackout, _BLACKOUT_SCHEMA).about(
        "Blackout windows of every schedule in the file (added to each one's own). They "
        "hold back occurrences of a schedule's clock only: a run an event, an after: "
        "chain or a manual trigger starts is not held back."
    ),
}

#: Keys that belong one level down, and where to put them.
_MISPLACED = {
    **{
        k: f"{k} is a schedule type; put it under schedule:, e.g. schedule: {{{k}: ...}}"
        for k in SCHEDULE_TYPES
    },
    "name": "a schedule's name is its key under schedules:, not a name: field",
}

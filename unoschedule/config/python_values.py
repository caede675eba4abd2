"""Definitions and options given as Python values (the library's ``schedule()``,
``update_schedule()`` and ``Scheduler(...)``), checked by the schedule file's own rules.

Why through the file's rules: one validation for every front end. A value the YAML file
refuses is refused here with the same message (without the FILE:LINE:COLUMN, which a
call does not have), and nothing the library accepts can fail later at run time, or
fail to load when the same definition is read back from the state.

The values are written as a small YAML document and read back by the loader; that
costs about a millisecond per call, which only the library's write calls pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import yaml

from ..blackout import Blackout
from ..calendars import Calendar
from ..chains import Chain
from ..errors import ConfigError, ConfigErrors
from ..model import ScheduleDefinition, SchedulerOptions
from ..notifications import Notify
from ..schedules import ScheduleSpec
from ..wallclock import DstPolicy
from .loader import JOB_KEYS, Config, parse_config

__all__ = [
    "GIVEN_TEMPLATE",
    "definition_from_values",
    "definition_from_written",
    "options_from_values",
    "stored_written",
    "updated_written",
    "written_form",
]

_WHERE = "<call>"
#: What a template given as a value (a ``ScheduleTemplate``, which has no name) is
#: called in the document the loader reads, and so in its messages.
GIVEN_TEMPLATE = "ScheduleTemplate"


def definition_from_values(
    name: str,
    values: Mapping[str, Any],
    *,
    options: SchedulerOptions | None = None,
    calendars: Mapping[str, Calendar] | None = None,
    groups: Mapping[str, int] | None = None,
    others: Mapping[str, ScheduleDefinition] | None = None,
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    template: Mapping[str, Any] | None = None,
) -> ScheduleDefinition:
    """The definition ``values`` describe, checked as the file would check it.

    ``options``: the scheduler's, whose zone, queue and blackout windows the schedule
    takes (as in the file, under its ``scheduler:`` key); naive dates are read in that
    zone. ``calendars``: what ``calendar:`` may name (default: ``options``' calendars);
    ``groups``: what ``concurrency_group:`` may name (default: ``options``' groups).
    ``others``: the schedules an ``after:`` may name (the chain's cycle is checked too).
    ``templates``: the named templates a ``template:`` may name (the file's, as
    written). ``template``: the keys of a template given as a value, which ``values``
    are merged over as the file merges a schedule over its template (the loader's
    one merge); the definition then names the template that one names, if any.
    """
    if options is not None:
        calendars = options.calendars if calendars is None else calendars
        groups = options.groups if groups is None else groups
    written = written_form(values, options, templates=templates, template=template)
    return definition_from_written(name, written, calendars=calendars, groups=groups, others=others)


# -- what a schedule was made of, and an update of it ------------------------------------


def written_form(
    values: Mapping[str, Any],
    options: SchedulerOptions | None = None,
    *,
    templates: Mapping[str, Mapping[str, Any]] | None = None,
    template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a schedule made of ``values`` under ``options`` is made of, nothing resolved:
    ``{"schedule": values, "scheduler": the options that shape a schedule, "templates":
    the templates it is merged over}``, as a schedule file holds a schedule's keys and,
    apart, its ``scheduler:`` and ``templates:`` keys. ``templates``: the named ones a
    ``template:`` in ``values`` may name (the file's; only those it reaches are kept);
    ``template``: the keys of a template given as a value, kept as the template
    ``GIVEN_TEMPLATE`` (``given_template`` says which name it took).

    Kept apart because the loader resolves them together (the scheduler's zone, queue
    and windows, a template, ``unique``, the DST rule a cron implies, naive dates read in
    the zone): an update that replaced keys of the resolved definition would keep what
    the old keys implied. ``definition_from_written`` reads it; ``stored_written`` is
    its stored form (``ScheduleState.written``).
    """
    written: dict[str, Any] = {"schedule": dict(values)}
    named = _reached(values.get("template"), templates or {})
    if template is not None:
        given = GIVEN_TEMPLATE
        while given in named:  # never in the way of a template of the file
            given += "_"
        named[given] = dict(template)
        named.update(_reached(template.get("template"), templates or {}))
        written["schedule"]["template"] = given
        written["given_template"] = given
    if named:
        written["templates"] = named
    if options is not None:
        scheduler: dict[str, Any] = {
            "timezone": options.timezone,
            "queue_name": options.queue_name,
        }
        if options.blackout:
            scheduler["blackout"] = _plain(options.blackout)
        if options.notify is not None:
            scheduler["notify"] = options.notify.to_config()
        written["scheduler"] = scheduler
    return written


def updated_written(written: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``written`` with the keys of its schedule that ``changes`` sets replaced, as an
    edit of the file replaces them (``_REPLACED_TOGETHER``: a task replaces a command,
    ``overlap`` replaces ``unique``, and the other way round). Nothing else is carried
    over from the old keys: what they implied is resolved again from the new ones."""
    keys = dict(written["schedule"])
    for together in _REPLACED_TOGETHER:
        if not changes.keys().isdisjoint(together):
            for key in together:
                keys.pop(key, None)
    keys.update(changes)
    return {**written, "schedule": keys}


#: Keys an update replaces together: what a schedule runs (``JOB_KEYS``), and what its
#: runs do when they would overlap, under both its names (``unique: true`` is the older
#: name of ``overlap: skip``).
_REPLACED_TOGETHER: tuple[tuple[str, ...], ...] = (JOB_KEYS, ("overlap", "unique"))


def definition_from_written(
    name: str,
    written: Mapping[str, Any],
    *,
    calendars: Mapping[str, Calendar] | None = None,
    groups: Mapping[str, int] | None = None,
    others: Mapping[str, ScheduleDefinition] | None = None,
) -> ScheduleDefinition:
    """The definition of ``written`` (``written_form``, or ``loader.written_in_file``:
    with the file's whole ``scheduler:`` and its ``templates:``), read by the loader as
    a file holding it would be. ``calendars`` and ``groups``: what ``calendar:`` and
    ``concurrency_group:`` may name when ``written`` holds none of its own."""
    scheduler: dict[str, Any] = dict(written.get("scheduler") or {})
    if groups and "groups" not in scheduler:
        scheduler["groups"] = dict(groups)
    if calendars and "calendars" not in scheduler:
        scheduler["calendars"] = {key: _plain(value) for key, value in calendars.items()}
    document: dict[str, Any] = {"schedules": {name: _plain_mapping(written["schedule"])}}
    if scheduler:
        document["scheduler"] = scheduler
    if written.get("templates"):
        document["templates"] = {
            str(key): _plain_mapping(value) for key, value in written["templates"].items()
        }
    config = _parse(document, others)
    definition = config.schedules[name]
    given = written.get("given_template")
    if given is not None:  # a template given as a value has no name: name what it names
        definition = definition.with_changes(template=written["templates"][given].get("template"))
    return definition


def _reached(name: Any, templates: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The templates that a ``template: name`` merges, itself and those it names in
    turn (a file's others are no part of what the schedule was written with). All of
    them when one named is not there: the loader then refuses the name and says which
    it may have meant."""
    found: dict[str, dict[str, Any]] = {}
    while isinstance(name, str) and name not in found:
        if name not in templates:
            return {str(key): dict(value) for key, value in templates.items()}
        found[name] = dict(templates[name])
        name = found[name].get("template")
    return found


def stored_written(written: Mapping[str, Any], definition: ScheduleDefinition) -> dict[str, Any]:
    """``written`` as the state keeps it: JSON values (a date and time as ISO 8601 text,
    a naive one still naive, to be read in the schedule's zone again). A calendar named
    from the scheduler's calendars is kept as the calendar it named, as the schedule's
    zone and queue are (``SchedulerOptions.schedule_defaults``): whatever calendars the
    process that updates it has, it keeps meaning the same days."""
    keys = _stored(written["schedule"])
    if isinstance(keys.get("calendar"), str) and definition.calendar is not None:
        keys["calendar"] = definition.calendar.to_config()
    out = {"schedule": keys}
    for key in ("scheduler", "templates", "given_template"):
        if written.get(key):
            out[key] = _stored(written[key])
    return out


def _stored(value: Any) -> Any:
    """``_plain(value)`` in JSON types."""
    value = _plain(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    return value


def options_from_values(values: Mapping[str, Any]) -> SchedulerOptions:
    """``SchedulerOptions`` from keyword values, checked as the file's ``scheduler:``."""
    return _parse({"scheduler": _plain_mapping(values)}).options


def _parse(
    document: dict[str, Any], others: Mapping[str, ScheduleDefinition] | None = None
) -> Config:
    try:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    except yaml.representer.RepresenterError as exc:
        value = exc.args[1] if len(exc.args) > 1 else "?"
        raise ConfigError(
            f"cannot store {type(value).__name__} value {value!r}: values must be strings, "
            "numbers, booleans, dates, lists and mappings of them"
        ) from None
    try:
        return parse_config(text, _WHERE, others=others)
    except ConfigErrors as exc:
        raise ConfigErrors([ConfigError(e.message) for e in exc.errors]) from None


def _plain_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): _plain(value) for key, value in values.items()}


def _plain(value: Any) -> Any:
    """What YAML can write for ``value``; anything else is left for the dumper to refuse."""
    if isinstance(value, ScheduleSpec):
        return value.to_config()
    if isinstance(value, DstPolicy):
        return value.to_config()
    if isinstance(value, Calendar | Blackout | Notify | Chain):
        return value.to_config()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime | date | str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

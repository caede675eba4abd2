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
from datetime import date, datetime, timedelta
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
from .loader import Config, parse_config

__all__ = ["GIVEN_TEMPLATE", "definition_from_values", "options_from_values"]

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
    schedule = _plain_mapping(values)
    named = {str(key): _plain_mapping(value) for key, value in (templates or {}).items()}
    if template is not None:
        given = GIVEN_TEMPLATE
        while given in named:  # never in the way of a template of the file
            given += "_"
        named[given] = _plain_mapping(template)
        schedule["template"] = given
    document: dict[str, Any] = {"schedules": {name: schedule}}
    if named:
        document["templates"] = named
    scheduler: dict[str, Any] = {}
    if options is not None:
        scheduler = {"timezone": options.timezone, "queue_name": options.queue_name}
        if options.blackout:
            scheduler["blackout"] = _plain(options.blackout)
        groups = options.groups if groups is None else groups
        if options.notify is not None:
            scheduler["notify"] = options.notify.to_config()
        calendars = options.calendars if calendars is None else calendars
    if groups:
        scheduler["groups"] = dict(groups)
    if calendars:
        scheduler["calendars"] = {key: _plain(value) for key, value in calendars.items()}
    if scheduler:
        document["scheduler"] = scheduler
    config = _parse(document, others)
    definition = config.schedules[name]
    if template is not None:
        definition = definition.with_changes(template=template.get("template"))
    return definition


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

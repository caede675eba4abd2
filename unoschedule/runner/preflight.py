"""Checks that a configuration which validated can also be applied, before it is.

The loader checks each value on its own; a reload must also be sure that the run loop
can work with each new or changed schedule (compute its next run) before anything of
it reaches the state. A schedule that cannot is reported like a validation error, and
the service keeps the last good configuration, as it does for an invalid file.
Whether the file leaves a schedule made through the API following nothing is
``followed.check_followed``'s, which ``validate`` and ``plan`` ask too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import ConfigError, ConfigErrors, UnoScheduleError
from ..followed import check_followed
from ..model import ScheduleDefinition

if TYPE_CHECKING:
    from ..abc import Engine
    from ..config.loader import Config

__all__ = ["check_applicable", "check_applicable_config"]


def check_applicable(
    new: Mapping[str, ScheduleDefinition],
    old: Mapping[str, ScheduleDefinition],
    *,
    now: datetime,
    file: str = "",
) -> None:
    """Raise ``ConfigErrors`` naming each new or changed schedule whose next run cannot
    be computed (an arithmetic overflow near the end of the calendar, say)."""
    errors = []
    for name, definition in new.items():
        if old.get(name) == definition:
            continue
        try:
            definition.timeline().next(now)
        except (OverflowError, ValueError, ArithmeticError, UnoScheduleError) as exc:
            errors.append(ConfigError(f"{name}: cannot compute its next run ({exc})", file))
    if errors:
        raise ConfigErrors(errors)


def check_applicable_config(config: Config, scheduler: Engine) -> None:
    """``check_applicable`` for a reloaded ``config`` against what ``scheduler`` runs,
    and ``check_followed``."""
    file = str(config.path or "")
    check_applicable(config.schedules, scheduler.definitions, now=scheduler.clock.now(), file=file)
    check_followed(config.schedules, scheduler.store, file=file)

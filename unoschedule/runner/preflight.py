"""Checks that a configuration which validated can also be applied, before it is.

The loader checks each value on its own; a reload must also be sure that the run loop
can work with each new or changed schedule (compute its next run) before anything of
it reaches the state. A schedule that cannot is reported like a validation error, and
the service keeps the last good configuration, as it does for an invalid file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import ConfigError, ConfigErrors, UnoScheduleError
from ..model import LIVE_STATUSES, ScheduleDefinition

if TYPE_CHECKING:
    from ..abc import Engine
    from ..config.loader import Config

__all__ = ["check_applicable", "check_applicable_config", "check_followed"]


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
    check_followed(config.schedules, scheduler, file=file)


def check_followed(
    new: Mapping[str, ScheduleDefinition], scheduler: Engine, *, file: str = ""
) -> None:
    """Raise ``ConfigErrors`` when the file's ``new`` schedules leave out one that a
    schedule made through the API runs after (``after:``): removing it would leave that
    one following nothing, never to run again, as deleting it through the library would
    (``chains.orphaned_by``, which refuses both). Read from the state, not from what the
    loop runs (a schedule added a moment ago counts too), and cheap when no schedule
    made through the API follows another: a start over 100,000 schedules pays nothing."""
    from ..chains import orphaned_by

    store = scheduler.store
    chains = {
        state.name: definition.after
        for state in store.list_schedules(statuses=LIVE_STATUSES, source="api")
        if (definition := state.stored_definition()) is not None
    }
    chains.update({name: d.after for name, d in new.items()})
    followed = {chain.schedule for chain in chains.values() if chain is not None} - set(chains)
    removed: dict[str, ScheduleDefinition | None] = {}
    for name in sorted(followed):
        state = store.get_schedule(name)
        if state is not None and state.status in LIVE_STATUSES and state.source == "file":
            removed[name] = state.stored_definition()
    if not removed:
        return
    before = {**chains, **{name: d.after if d else None for name, d in removed.items()}}
    errors = []
    for name in orphaned_by(before, removed):
        after = chains[name]
        assert after is not None
        errors.append(
            ConfigError(
                f"schedule {after.schedule!r} is no longer in the file, but schedule "
                f"{name!r} (made through the API) runs after it; delete or change "
                f"{name!r} first, or keep {after.schedule!r}",
                file,
            )
        )
    if errors:
        raise ConfigErrors(errors)

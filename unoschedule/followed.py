"""A file that leaves a schedule made through the API following nothing.

A schedule made through the API may run after one of the file's (``after:``). A file
that no longer declares that upstream would remove it, and leave the follower never to
run again, as deleting the upstream through the library would: ``run`` refuses such a
file (at its start, and at a reload, which keeps the last good file), and ``validate``
and ``plan`` say the same, through ``check_followed`` here, so that a check before a
deploy finds what the deploy would. Apart from the run loop (``runner.preflight`` asks
it too): a shell command that loads none of the runner can ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import ConfigError, ConfigErrors
from .model import LIVE_STATUSES, ScheduleDefinition

if TYPE_CHECKING:
    from .abc import Store
    from .chains import Chain

__all__ = ["check_followed", "follows_the_file"]


def check_followed(new: Mapping[str, ScheduleDefinition], store: Store, *, file: str = "") -> None:
    """Raise ``ConfigErrors`` when the file's ``new`` schedules leave out one that a
    schedule made through the API runs after (``after:``): removing it would leave that
    one following nothing, never to run again, as deleting it through the library would
    (``chains.orphaned_by``, which refuses both). Read from the state in ``store``, not
    from what a loop runs (a schedule added a moment ago counts too), and cheap when no
    schedule made through the API follows another: a start over 100,000 schedules pays
    nothing. ``run`` (start and reload), ``validate`` and ``plan`` all ask it."""
    from .chains import orphaned_by

    chains = _api_chains(store)
    chains.update({name: d.after for name, d in new.items()})
    removed: dict[str, ScheduleDefinition | None] = {}
    for name in sorted(_upstreams_outside(chains)):
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


def follows_the_file(store: Store) -> bool:
    """Whether a schedule made through the API runs after one the API did not make (one
    of a file's): only then can ``check_followed`` refuse a file. A command that knows a
    file valid without reading it (unchanged since the state read it) reads it after all
    when this is so, for that check: the API's schedules may have changed since."""
    return bool(_upstreams_outside(_api_chains(store)))


def _api_chains(store: Store) -> dict[str, Chain | None]:
    """The ``after:`` of each live schedule made through the API (None: it follows none)."""
    return {
        state.name: definition.after
        for state in store.list_schedules(statuses=LIVE_STATUSES, source="api")
        if (definition := state.stored_definition()) is not None
    }


def _upstreams_outside(chains: Mapping[str, Chain | None]) -> set[str]:
    """The schedules that ``chains`` run after and that are not among them."""
    return {chain.schedule for chain in chains.values() if chain is not None} - set(chains)

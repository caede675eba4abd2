"""Preparing and writing a reload off the event loop, so that firing goes on meanwhile.

Comparing a reload of tens of thousands of changed schedules with the state and writing
their new versions takes seconds; on the event loop and in one transaction, nothing
would fire for that long. Here the comparison runs in a
worker thread and the writes go in chunks of ``CHUNK`` schedules, one transaction each,
and between two of them the thread waits for a turn of the event loop (``loop_turn``),
so that the loop's claims get the store between them. The run loop keeps the old
definitions until the new state is written, then loads it in one step (each chunk raises
the state's generation and wakes the leader, which takes no change from the state while
its reload is written: ``Service._take_changes``).

Chunks mean a crash in the middle leaves the reload half written; the next start
compares the file with the state again and writes the rest (a schedule whose new
version was written counts as unchanged), so nothing is lost or written twice.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..abc import Store
from ..model import ScheduleDefinition, ScheduleState, VersionRecord
from ..sync import Plan, apply_plan, file_plan
from .log import Logger

if TYPE_CHECKING:
    from ..abc import Engine
    from ..config.loader import Config

__all__ = ["CHUNK", "Written", "loop_turn", "write_reload", "write_reload_of"]

#: Schedules written per transaction while a reload is applied.
CHUNK = 500
#: Up to this many schedules per kind of change are logged one by one.
LOG_EACH_CHANGE = 50
#: Longest wait for a turn of the event loop between two chunks (a loop that stopped
#: turning does not hold the reload up for longer).
TURN_WAIT = 1.0

T = TypeVar("T")


class Written(NamedTuple):
    """The state after a reload was written, for the loop to load in one step."""

    #: The stored schedules, without definitions.
    states: list[ScheduleState]
    #: The state's generation read just before ``states``: a definition written by
    #: another process after it raises the generation, so the leader takes it later.
    generation: int


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def loop_turn(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """What the reload's thread does between two chunks: wait until ``loop`` has run
    what was ready when it asked (a tick waiting for the store, say), at most
    ``TURN_WAIT``. The store's lock is not fair, and a pause of the thread let the loop
    in only if the loop's thread was scheduled within it; a turn does not depend on
    how the threads are scheduled."""

    def wait() -> None:
        turned = threading.Event()
        try:
            loop.call_soon_threadsafe(turned.set)
        except RuntimeError:  # the loop is closed: nothing fires any more
            return
        turned.wait(TURN_WAIT)

    return wait


class _ChunkedWrites:
    """The store, with ``save_schedules`` split into transactions of ``CHUNK`` rows,
    ``between`` called after each one (while the thread holds no lock)."""

    def __init__(self, store: Store, between: Callable[[], None]) -> None:
        self._store = store
        self._between = between

    def save_schedules(self, items: Iterable[tuple[ScheduleState, VersionRecord | None]]) -> None:
        for chunk in _chunks(items, CHUNK):
            self._store.save_schedules(chunk)
            self._between()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def write_reload(
    store: Store,
    definitions: Mapping[str, ScheduleDefinition],
    *,
    now: datetime,
    source: str,
    log: Logger,
    changelog: str = "reloaded",
    between: Callable[[], None] | None = None,
) -> Written:
    """Compare the file's ``definitions`` with the state and write the difference;
    return the stored schedules, without definitions, for the loop. ``between``: write
    in chunks (from a worker thread, while the loop fires), calling it between two
    (``loop_turn``); None: in one transaction. Only the file's schedules are compared:
    those made through the API are neither changed nor removed by the file (unless the
    file now declares one: then the file takes it over, continuing its versions)."""
    generation = store.generation()
    states = store.list_schedules(definitions=False)
    plan = file_plan(store, definitions, now=now, states=states)
    if plan.empty:
        return Written(states, generation)
    del states
    target: Any = store if between is None else _ChunkedWrites(store, between)
    apply_plan(target, plan, definitions, now=now, source=source, changelog=changelog)
    _log_plan(log, plan, source)
    del plan  # its entries hold the old states: free them before the new ones are read
    generation = store.generation()
    return Written(store.list_schedules(definitions=False), generation)


def _log_plan(log: Logger, plan: Plan, source: str) -> None:
    for entry in plan.changed:
        if entry.takes_over:
            log.warning(
                f"{entry.name}: declared in the file; the file's definition replaces "
                "the one made through the API"
            )
    for entries, what in (
        (plan.added, "added"),
        (plan.changed, f"changed ({source})"),
        (plan.removed, "removed from the file; it stops, its history stays"),
    ):
        if len(entries) <= LOG_EACH_CHANGE:
            for entry in entries:
                log.info(f"{entry.name}: {what}")
        elif entries:
            names = ", ".join(e.name for e in entries[:5])
            log.info(f"{len(entries)} schedules {what}: {names}, ...")


def write_reload_of(
    config: Config, engine: Engine, log: Logger, between: Callable[[], None]
) -> Written:
    """``write_reload`` of a reloaded ``config`` into ``engine``'s state, in chunks."""
    from ..sync import git_source

    return write_reload(
        engine.store,
        config.schedules,
        now=engine.clock.now(),
        source=git_source(config.path),
        log=log,
        between=between,
    )

"""The serving loop's sleep tells its own wake-ups from another process's."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from unoschedule.runner.service import _Sleeper
from unoschedule.store.sqlite import SQLiteStorage


def test_own_wake_ups_and_the_shells_are_told_apart(tmp_path: Path) -> None:
    leader = SQLiteStorage(tmp_path / "state.db")
    shell = SQLiteStorage(tmp_path / "state.db")  # another process's connection
    waiter = leader.waiter()

    async def scenario() -> list[tuple[bool, float]]:
        sleeper = _Sleeper(waiter, asyncio.get_running_loop(), leader.notify)
        seen = []
        try:
            for wake in (sleeper.wake, shell.notify, None):
                if wake is not None:
                    asyncio.get_running_loop().call_later(0.05, wake)
                started = time.monotonic()
                called = await sleeper.sleep(30 if wake is not None else 0.1)
                seen.append((called, time.monotonic() - started))
        finally:
            sleeper.close()
        return seen

    try:
        (own, own_took), (other, other_took), (timed_out, _) = asyncio.run(scenario())
    finally:
        waiter.close()
        shell.close()
        leader.close()
    assert own_took < 29 and other_took < 29  # both cut a 30 s sleep short
    assert own is False  # a retry came due: no need to re-read every status
    assert other is True  # the shell called: statuses may have changed
    assert timed_out is False


def test_a_sleep_ends_at_its_deadline_never_before_it(tmp_path: Path) -> None:
    """The event loop's own timer ends a sleep up to a millisecond late; the sleeper ends
    its last stretch itself, and must not end it early: a tick then finds nothing due."""
    store = SQLiteStorage(tmp_path / "state.db")
    waiter = store.waiter()

    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(waiter, loop, store.notify)
        early = []
        try:
            for timeout in (0.0004, 0.0021, 0.0137, 0.05):
                deadline = loop.time() + timeout
                await sleeper.sleep(timeout)
                early.append(deadline - loop.time())
        finally:
            sleeper.close()
        return early

    try:
        early = asyncio.run(scenario())
    finally:
        waiter.close()
        store.close()
    assert all(e <= 0 for e in early), early

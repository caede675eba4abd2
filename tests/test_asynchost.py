"""The async tasks' host (``runner.asynchost``): when it counts as stalled, what retiring
it hands back, and that it ends its thread once retired and empty.

"Now" is passed in to ``stalled``; the host's loop is blocked or released by the test
(a callback waiting on an event), so no answer depends on how fast threads run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from unoschedule.runner.asynchost import BEAT, STALLED_AFTER, AsyncRun, Posts, TaskHost


@pytest.fixture
def home() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop standing for the scheduler's (never run: the runs' ``done`` live in it)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _run(home: asyncio.AbstractEventLoop, gate: threading.Event | None = None) -> AsyncRun:
    async def task() -> str:
        while gate is not None and not gate.is_set():
            await asyncio.sleep(0.01)
        return "done"

    return AsyncRun(home, task, [], {}, Posts(home))


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_host_whose_loop_has_not_taken_a_run_is_stalled_after_the_limit(
    home: asyncio.AbstractEventLoop,
) -> None:
    host = TaskHost()
    gate = threading.Event()
    host.loop.call_soon_threadsafe(gate.wait)  # its loop cannot turn until the gate opens
    run = _run(home)
    handed = time.monotonic()
    try:
        assert host.submit(run)
        assert not host.stalled(handed)
        assert host.stalled(handed + STALLED_AFTER + 1.0)
        assert host.retire() == [run]  # not begun: for another host
        assert not host.submit(_run(home))  # retired: takes nothing more
    finally:
        gate.set()
    _until(host.loop.is_closed, "the retired, empty host to end")
    assert run.host is None  # never begun there


def test_a_host_running_runs_is_stalled_once_it_misses_two_heartbeats(
    home: asyncio.AbstractEventLoop,
) -> None:
    host = TaskHost()
    gate = threading.Event()
    run = _run(home, gate)
    try:
        assert host.submit(run)
        _until(lambda: run.host is host, "the run to begin")
        beat = host.beat
        assert not host.stalled(beat + 2 * BEAT - 0.01)
        assert host.stalled(beat + 2 * BEAT + 0.01)
    finally:
        gate.set()
        host.close()
    _until(host.loop.is_closed, "the closed host to end")


def test_an_idle_host_is_never_stalled_however_long_it_waits(
    home: asyncio.AbstractEventLoop,
) -> None:
    host = TaskHost()
    run = _run(home)
    try:
        assert host.submit(run)
        _until(lambda: run.host is host and not host.hosting, "the run to end")
        assert not host.stalled(time.monotonic() + 3600)
    finally:
        host.close()

"""The state's identity (``identity.StateIdentity``), on both stores: the rule every
runner and worker checks the state by, and the race of runners started together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, unique_prefix

from unoschedule.abc import Store
from unoschedule.identity import STATE_ID_KEY, StateIdentity, lost, reinitialise
from unoschedule.store.redis import RedisStorage
from unoschedule.store.sqlite import SQLiteStorage


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "sqlite":
        made = SQLiteStorage(tmp_path / "state.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStorage(server.url, key_prefix=unique_prefix())
    try:
        yield made
    finally:
        made.close()


class ReadBeforeAnotherWrote:
    """``store`` as a runner sees it when it read the identity just before another
    runner wrote the first one: its first read of the identity finds none."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stale = True

    def get_meta(self, key: str) -> str | None:
        if key == STATE_ID_KEY and self._stale:
            self._stale = False
            return None
        return self._store.get_meta(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_runners_started_together_on_an_empty_state_adopt_one_identity(store: Store) -> None:
    """Both read no identity; the second to write adopts the first's instead of writing
    its own over it (which made the first find its identity gone, mark the state lost,
    and stop every runner until an operator came)."""
    first, second = StateIdentity("first"), StateIdentity("second")
    assert first.check(store, create=True) == "ok"
    late = ReadBeforeAnotherWrote(store)
    assert second.check(late, create=True) == "ok"  # type: ignore[arg-type]
    assert second.known == first.known == store.get_meta(STATE_ID_KEY)
    for _ in range(2):
        assert first.check(store, create=True) == "ok"
        assert second.check(store, create=True) == "ok"
    assert lost(store) is None


def test_a_state_that_lost_the_identity_a_runner_knew_is_marked_lost(store: Store) -> None:
    runner = StateIdentity("runner")
    assert runner.check(store, create=True) == "ok"
    store.set_meta(STATE_ID_KEY, "")  # emptied under it (a Redis restarted empty)
    assert runner.check(store, create=True) == "lost"
    assert lost(store) == f"{runner.known} by runner"
    newcomer = StateIdentity("newcomer")  # never knew one: still may not lead it
    assert newcomer.check(store, create=True) == "lost"
    renewed = reinitialise(store)
    assert runner.check(store, create=True) == "renewed" and runner.known == renewed


def test_a_worker_never_creates_the_identity(store: Store) -> None:
    worker = StateIdentity("worker")
    assert worker.check(store, create=False) == "absent"
    assert store.get_meta(STATE_ID_KEY) is None
    runner = StateIdentity("runner")
    assert runner.check(store, create=True) == "ok"
    assert worker.check(store, create=False) == "ok" and worker.known == runner.known

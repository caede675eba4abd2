"""Shared test configuration.

Hypothesis profiles: ``ci`` (the default) bounds the number of examples and has no
deadline, so that the whole suite stays fast on a 2-core machine; ``thorough`` is for a
deliberate long run (``HYPOTHESIS_PROFILE=thorough pytest tests/test_schedule_properties.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from redis_server import RedisServer

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves the process environment as it found it: the CLI's global options
    set variables for the store (``--redis-password-file``), and a test that runs a
    command in this process must not hand them to the tests after it."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


# -- a private redis-server for the Redis store's tests -------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session (tests keep apart by key prefix)."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url

"""Where state lives: the SQLite file by default, Redis for several hosts.

``open_store`` is the one place that turns the ``--state`` / ``storage:`` setting into a
``Store``, so the CLI and the runner pick a backend the same way. Backends load lazily:
``import unoschedule.store`` stays cheap for commands that never touch state.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..abc import Store

if TYPE_CHECKING:
    from .redis import RedisStorage
    from .sqlite import SQLiteStorage

__all__ = ["RedisStorage", "SQLiteStorage", "is_url", "open_store"]

_URL_SCHEMES = ("redis://", "rediss://", "unix://")
#: The key prefix of a store opened from a URL (``RedisStorage(key_prefix=...)`` in code).
PREFIX_ENV = "UNO_SCHEDULE_REDIS_PREFIX"
DEFAULT_PREFIX = "uno-schedule:"


def is_url(spec: str | os.PathLike[str]) -> bool:
    """True for a Redis URL, False for a path to a SQLite state file."""
    return os.fspath(spec).startswith(_URL_SCHEMES)


def open_store(
    spec: str | os.PathLike[str], *, create: bool = True, readonly: bool = False
) -> Store:
    """Open the store named by ``spec``: a Redis URL, else a SQLite file path.

    ``create=False`` is for read-only commands: a missing SQLite file raises
    ``StateError`` instead of being created.
    """
    if is_url(spec):
        from .redis import RedisStorage

        return RedisStorage(
            os.fspath(spec), key_prefix=os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
        )
    from .sqlite import SQLiteStorage

    return SQLiteStorage(spec, create=create, readonly=readonly)


def __getattr__(name: str) -> Any:
    if name == "SQLiteStorage":
        from .sqlite import SQLiteStorage

        return SQLiteStorage
    if name == "RedisStorage":
        from .redis import RedisStorage

        return RedisStorage
    raise AttributeError(name)

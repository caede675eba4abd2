"""Where state lives: the SQLite file by default, Redis for several hosts.

``open_store`` is the one place that turns the ``--state`` / ``storage:`` setting into a
``Store``, so the CLI and the runner pick a backend the same way. Backends load lazily:
``import unoschedule.store`` stays cheap for commands that never touch state.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, cast

from ..abc import Store
from ..errors import StateError

if TYPE_CHECKING:
    from .sqlite import SQLiteStorage

__all__ = ["SQLiteStorage", "is_url", "open_store"]

_URL_SCHEMES = ("redis://", "rediss://", "unix://")


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
        try:
            module = importlib.import_module(".redis", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.redis":
                raise
            raise StateError(
                f"cannot use {os.fspath(spec)}: Redis state is not part of this version "
                "yet; use a SQLite state file (--state FILE)"
            ) from None
        return cast(Store, module.RedisStorage(os.fspath(spec)))
    from .sqlite import SQLiteStorage

    return SQLiteStorage(spec, create=create, readonly=readonly)


def __getattr__(name: str) -> Any:
    if name == "SQLiteStorage":
        from .sqlite import SQLiteStorage

        return SQLiteStorage
    raise AttributeError(name)

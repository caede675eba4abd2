"""The design document's ``storage`` module (``from unoschedule.storage import
RedisStorage``): the state backends, loaded when first named so that importing this
module costs nothing for a user of the other one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store.redis import RedisStorage
    from .store.sqlite import SQLiteStorage

__all__ = ["RedisStorage", "SQLiteStorage"]


def __getattr__(name: str) -> Any:
    if name == "RedisStorage":
        from .store.redis import RedisStorage

        return RedisStorage
    if name == "SQLiteStorage":
        from .store.sqlite import SQLiteStorage

        return SQLiteStorage
    raise AttributeError(name)

"""Where state lives: the SQLite file by default, Redis for several hosts.

``open_store`` is the one place that turns the ``--state`` / ``storage:`` setting into a
``Store``, so the CLI and the runner pick a backend the same way. Backends load lazily:
``import unoschedule.store`` stays cheap for commands that never touch state.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..abc import Store
from ..errors import StateError

if TYPE_CHECKING:
    from .redis import RedisStorage
    from .sqlite import SQLiteStorage

__all__ = [
    "PASSWORD_ENV",
    "RedisStorage",
    "SQLiteStorage",
    "argv_without_password",
    "holds_state",
    "is_url",
    "mask_url",
    "open_store",
    "url_scheme",
]

#: The schemes a store serves (matched without regard to case); any other ``scheme://``
#: is refused, never taken for a file name.
_SERVED_SCHEMES = ("redis", "rediss", "unix")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:)([^@/]*)@")
#: A password in a word of a command line: ``redis://:PW@host`` or ``--state=rediss://u:PW@h``.
_ARGV_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://([^:@/\s]*)):([^@/\s]*)@")
#: The Redis password, when the URL carries none (``store.redis`` reads it, or the file
#: named by ``UNO_SCHEDULE_REDIS_PASSWORD_FILE``).
PASSWORD_ENV = "UNO_SCHEDULE_REDIS_PASSWORD"
#: The key prefix of a store opened from a URL (``RedisStorage(key_prefix=...)`` in code).
PREFIX_ENV = "UNO_SCHEDULE_REDIS_PREFIX"
DEFAULT_PREFIX = "uno-schedule:"


def is_url(spec: str | os.PathLike[str]) -> bool:
    """True for anything of the form ``scheme://...`` (a store URL, served or not),
    False for a path to a SQLite state file."""
    return _URL.match(os.fspath(spec)) is not None


def holds_state(path: str | os.PathLike[str]) -> bool:
    """Whether a state file is at ``path``: a regular file with something in it, or a
    write-ahead log beside it. An empty file (a ``touch``, or a first start that died
    right after creating it) holds nothing yet, and is read as no state at all, as
    SQLite itself reads it: commands answer from the schedule file, and the first that
    writes makes the state in it. The one answer for the shell and the library."""
    path = os.fspath(path)
    try:
        if os.path.getsize(path) > 0:
            return os.path.isfile(path)
        return os.path.getsize(path + "-wal") > 32
    except OSError:
        return False


def url_scheme(spec: str | os.PathLike[str]) -> str | None:
    """The scheme of a URL, in lower case (``REDIS://`` is ``redis``), else None."""
    match = _URL.match(os.fspath(spec))
    return match.group(1).lower() if match else None


def mask_url(spec: str | os.PathLike[str]) -> str:
    """The URL with its password (``user:PASSWORD@``) replaced by ``***``, for messages."""
    return _PASSWORD.sub(r"\1***@", os.fspath(spec))


def argv_without_password(argv: Sequence[str]) -> tuple[list[str], str] | None:
    """``argv`` with the password of a store URL taken out (``redis://:PW@h`` becomes
    ``redis://h``, ``redis://user:PW@h`` ``redis://user@h``) and that password; None when
    no word carries one. Any user can read a process's command line (``ps``)."""
    found: list[str] = []

    def strip(match: re.Match[str]) -> str:
        found.append(unquote(match.group(3)))
        return f"{match.group(1)}@" if match.group(2) else match.group(1)

    cleaned = [_ARGV_PASSWORD.sub(strip, word) for word in argv]
    passwords = [p for p in found if p]
    return (cleaned, passwords[0]) if passwords else None


def open_store(
    spec: str | os.PathLike[str], *, create: bool = True, readonly: bool = False
) -> Store:
    """Open the store named by ``spec``: a Redis URL, else a SQLite file path.

    ``create=False`` is for read-only commands: a missing SQLite file raises
    ``StateError`` instead of being created. A URL of any other scheme is refused.
    """
    scheme = url_scheme(spec)
    if scheme is not None:
        shown = mask_url(spec)
        if scheme not in _SERVED_SCHEMES:
            raise StateError(
                f"cannot use {shown}: unknown state URL scheme {scheme!r}; use a SQLite "
                "state file (--state FILE) or a redis:// URL"
            )
        from .redis import RedisStorage

        try:
            return RedisStorage(
                os.fspath(spec), key_prefix=os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
            )
        except StateError as exc:
            raise StateError(mask_password_in(str(exc), os.fspath(spec))) from None
    from .sqlite import SQLiteStorage

    return SQLiteStorage(spec, create=create, readonly=readonly)


def mask_password_in(text: str, url: str) -> str:
    """``text`` with the URL's password, wherever it appears, replaced by ``***``."""
    match = _PASSWORD.match(url)
    password = match.group(2) if match else ""
    return text.replace(password, "***") if password else text


def __getattr__(name: str) -> Any:
    if name == "SQLiteStorage":
        from .sqlite import SQLiteStorage

        return SQLiteStorage
    if name == "RedisStorage":
        from .redis import RedisStorage

        return RedisStorage
    raise AttributeError(name)

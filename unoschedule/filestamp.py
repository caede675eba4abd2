"""The state's record of the schedule file whose schedules it holds: the loader runs only
when the file changed.

Why: a command at the shell must answer in a few times the start of Python itself, and
reading the YAML file (and loading the YAML library) costs more than that. When the state
holds the file's schedules exactly as the file reads (``run`` wrote them, or a command
found nothing to change), it also keeps the file's stamp (size, mtime and CRC-32), where
the file puts the state, and the file's scheduler options (meta key ``file_stamp``). A
command that finds the same stamp builds its ``Scheduler`` over the state with those
options, and every schedule comes from the state, through the store, as for schedules
made through the API. There is no second copy of a schedule: only the stamp and options.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .model import SchedulerOptions

if TYPE_CHECKING:
    from .abc import Store
    from .config import Config

__all__ = ["KEY", "LOSSY", "file_stamp", "record", "recorded_options", "state_guess"]

KEY = "file_stamp"
#: Bump when the record's shape changes: an older record is then ignored, not misread.
FORMAT = 1
_TUPLES = {"import_paths", "on_error"}
#: Options whose record is not their value (their objects are written as plain mappings):
#: whoever follows the record takes these from its own file.
LOSSY = frozenset({"calendars", "blackout", "notify"})


def file_stamp(path: str | os.PathLike[str]) -> dict[str, int] | None:
    """Size, mtime (ns) and CRC-32 of the file: equal stamps mean the same content.

    The CRC catches a change within the mtime's granularity; size and mtime catch the
    rest cheaply. None when the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "crc32": zlib.crc32(data)}


def record(store: Store, config: Config, stamp: dict[str, int] | None = None) -> None:
    """Keep the record of ``config``'s file current (a no-op when it is). Call it only
    when the state holds exactly the file's schedules.

    ``stamp``: the file's stamp taken before it was read. Nothing is recorded when the
    file changed since, so that a record never pairs a new stamp with old content.
    """
    if config.path is None:
        return
    now = file_stamp(config.path)
    if now is None or (stamp is not None and stamp != now):
        return
    options = asdict(config.options)
    entry = {
        "format": FORMAT,
        "version": __version__,
        "config": os.path.abspath(config.path),
        "state": os.path.abspath(config.state_path(None)),
        "stamp": now,
        "options": options,
    }
    text = json.dumps(entry, separators=(",", ":"), sort_keys=True, default=str)
    if store.get_meta(KEY) != text:
        store.set_meta(KEY, text)


def recorded_options(
    store: Store,
    config_path: str | os.PathLike[str],
    guessed_state: str | os.PathLike[str] | None = None,
    *,
    any_stamp: bool = False,
) -> SchedulerOptions | None:
    """The file's options when the state's record matches the file as it is now (or,
    with ``any_stamp``, the last good file's, whatever the file now reads), else None.

    ``guessed_state``: the state path found by ``state_guess``; the record must say the
    file puts its state there.
    """
    text = store.get_meta(KEY)
    if text is None:
        return None
    try:
        entry = json.loads(text)
        if entry.get("format") != FORMAT or entry.get("version") != __version__:
            return None
        if entry["config"] != os.path.abspath(config_path):
            return None
        if guessed_state is not None and entry["state"] != os.path.abspath(guessed_state):
            return None
        if not any_stamp and entry["stamp"] != file_stamp(config_path):
            return None
        return _options(entry["options"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _options(values: dict[str, Any]) -> SchedulerOptions:
    known = {f.name for f in fields(SchedulerOptions)}
    kept: dict[str, Any] = {
        k: tuple(v) if k in _TUPLES and isinstance(v, list) else v
        for k, v in values.items()
        if k in known
    }
    return SchedulerOptions(**kept)


_STATE_LINE = re.compile(
    r"""^\s+(?:state|storage):\s*(?P<q>["']?)(?P<v>[^"'#]*?)(?P=q)\s*(#.*)?$"""
)


def state_guess(config_path: str | os.PathLike[str]) -> Path:
    """Where the file puts its state, by a look at its text (the record checks it).

    Only the block style (``scheduler:`` then an indented ``state: PATH``) is recognised;
    anything else gives the default beside the file, and the record of what the loader
    resolved decides whether the guess was right.
    """
    folder = Path(config_path).parent
    try:
        text = Path(config_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return folder / "uno-schedule.db"
    inside = False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            inside = line.split("#", 1)[0].rstrip() == "scheduler:"
            continue
        if inside:
            match = _STATE_LINE.match(line)
            if match and match.group("v") and "://" not in match.group("v"):
                path = Path(match.group("v")).expanduser()
                return path if path.is_absolute() else folder / path
    return folder / "uno-schedule.db"

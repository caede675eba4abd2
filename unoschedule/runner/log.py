"""One line per event on stderr, the way journald and a terminal each want it.

Under journald (``JOURNAL_STREAM`` set) each line starts with a syslog priority prefix
such as ``<4>`` so that ``journalctl -p warning`` filters correctly; on a terminal the
level is coloured; anywhere else the line is plain with an ISO timestamp.

Lines logged in one turn of the running event loop are written together at its end (one
``write`` for a burst of runs starting, not two per run); a line logged with no loop
running in its thread is written at once, after what waits, and what waits is written
at exit too.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, TextIO, cast

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

_PRIORITY = {"debug": 7, "info": 6, "notice": 5, "warning": 4, "error": 3, "critical": 2}
_COLOUR = {
    "debug": "2",
    "info": "36",
    "notice": "32",
    "warning": "33",
    "error": "31;1",
    "critical": "41;1",
}


class Logger:
    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.journald = bool(os.environ.get("JOURNAL_STREAM"))
        self.colour = not self.journald and self.stream.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()
        #: Lines of the current loop turn, written by ``flush`` at its end.
        self._pending: list[str] = []
        #: The second of the last timestamp and its text (one ``strftime`` a second).
        self._second = -1
        self._stamp = ""
        _ALL.add(self)

    def _timestamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def _emit(self, level: str, message: str) -> None:
        if level == "debug" and not self.verbose:
            return
        message = message.replace("\n", "\\n")
        if self.journald:
            line = f"<{_PRIORITY[level]}>{message}\n"
        else:
            tag = level.upper()
            if self.colour:
                tag = f"\x1b[{_COLOUR[level]}m{tag}\x1b[0m"
            line = f"{self._timestamp()} {tag} {message}\n"
        loop = _running_loop()
        with self._lock:
            self._pending.append(line)
            if loop is not None and len(self._pending) > 1:
                return  # the flush of this turn is scheduled already
        if loop is None:
            self.flush()
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines that wait, in one call."""
        with self._lock:
            lines, self._pending = self._pending, []
            if not lines:
                return
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def debug(self, message: str) -> None:
        self._emit("debug", message)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def notice(self, message: str) -> None:
        self._emit("notice", message)

    def warning(self, message: str) -> None:
        self._emit("warning", message)

    def error(self, message: str) -> None:
        self._emit("error", message)

    def critical(self, message: str) -> None:
        self._emit("critical", message)


_ALL: weakref.WeakSet[Logger] = weakref.WeakSet()


def _running_loop() -> AbstractEventLoop | None:
    """The event loop running in this thread, if any (asyncio is not imported for it:
    a command at the shell never loads it)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return cast("AbstractEventLoop", asyncio.get_running_loop())
    except RuntimeError:
        return None


@atexit.register
def _flush_all() -> None:
    for logger in list(_ALL):
        logger.flush()

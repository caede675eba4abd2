"""One line per event on stderr, the way journald and a terminal each want it.

Under journald (``JOURNAL_STREAM`` set) each line starts with a syslog priority prefix
such as ``<4>`` so that ``journalctl -p warning`` filters correctly; on a terminal the
level is coloured; anywhere else the line is plain with an ISO timestamp.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

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

    def _emit(self, level: str, message: str) -> None:
        if level == "debug" and not self.verbose:
            return
        message = message.replace("\n", "\\n")
        if self.journald:
            line = f"<{_PRIORITY[level]}>{message}"
        else:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            tag = level.upper()
            if self.colour:
                tag = f"\x1b[{_COLOUR[level]}m{tag}\x1b[0m"
            line = f"{stamp} {tag} {message}"
        with self._lock:
            try:
                self.stream.write(line + "\n")
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

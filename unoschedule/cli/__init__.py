"""The ``uno-schedule`` command line: a thin client of the ``unoschedule`` library.

One declaration of the commands, with typer: the application and what its commands
share in ``app``, the commands in ``commands`` and ``ops``. Importing this package is
cheap on purpose: typer is imported by ``main()`` (or on first access to ``app``), rich
only when a terminal shows a table, and the YAML loader only when the state's record of
the file does not match it (see ``unoschedule.shell``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .application import app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``uno-schedule`` console script and ``python -m unoschedule``."""
    if argv is None:
        _hide_password()
    args = sys.argv[1:] if argv is None else list(argv)
    app_for = _commands()

    try:
        try:
            app_for(args)(args=args, prog_name="uno-schedule")
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        # The reader went away (``uno-schedule list | head``): say nothing more, and
        # keep the interpreter's last flush from printing "Broken pipe" at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)  # as a process killed by SIGPIPE


def _hide_password() -> None:
    """Start again without the Redis password on the command line, where any user reads
    it (``ps``): the password moves to this process's environment, which only its owner
    can read, and the URL keeps the rest."""
    if not any("://" in word and "@" in word for word in sys.orig_argv):
        return  # the usual case, without importing the store package
    from unoschedule.store import PASSWORD_ENV, argv_without_password

    found = argv_without_password(sys.orig_argv)
    if found is None:
        return
    cleaned, password = found
    before = os.environ.get(PASSWORD_ENV)
    os.environ[PASSWORD_ENV] = password
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.execv(sys.executable, cleaned)
    except OSError:  # cannot start again: go on as we are
        if before is None:
            os.environ.pop(PASSWORD_ENV, None)
        else:
            os.environ[PASSWORD_ENV] = before


def __getattr__(name: str) -> Any:
    if name == "app":
        _commands()
        from .application import app

        return app
    raise AttributeError(name)


def _commands() -> Any:
    """Register every command on the application; returns ``app_for``."""
    from . import commands, ops  # noqa: F401 - each module registers its commands
    from .application import app_for

    return app_for

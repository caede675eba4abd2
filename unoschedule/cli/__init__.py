"""The ``uno-schedule`` command line: a thin client of the ``unoschedule`` library.

One declaration of the commands, with typer: the application and what its commands
share in ``app``, the commands in ``commands`` and ``ops``. Importing this package is
cheap on purpose: an everyday command that ``fastpath`` understands runs without typer
(from the table derived from that declaration), anything else imports typer in
``main()`` (or on first access to ``app``); rich only when a terminal shows a table, and
the YAML loader only when the state's record of the file does not match it (see
``unoschedule.shell``).
"""

from __future__ import annotations

import gc
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
    from . import fastpath, output

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            if not fastpath.run(args, _typer_main):
                _typer_main(args)
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        output.reader_gone()
        sys.exit(141)  # as a process killed by SIGPIPE
    finally:
        if argv is None:
            # The process ends with the command: what it made lives until then, and the
            # collections at exit would scan all of it for nothing (a tenth of an
            # everyday command's time).
            gc.freeze()


def _typer_main(args: list[str]) -> None:
    """The typer application, given the command line (narrowed to the command it names)."""
    _commands()(args)(args=args, prog_name="uno-schedule")


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

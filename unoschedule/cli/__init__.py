"""The ``uno-schedule`` command line: a thin client of the ``unoschedule`` library.

Importing this package is cheap on purpose: typer is imported by ``main()`` (or on first
access to ``app``), rich only by commands that draw tables, and the state store only by
the library when a state file exists. ``next-runs`` must answer about as fast as Python
can import yaml (see ``unoschedule.cli.fast``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commands import app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``uno-schedule`` console script and ``python -m unoschedule``."""
    args = sys.argv[1:] if argv is None else list(argv)
    from .fast import try_fast_path

    try:
        try:
            code = try_fast_path(args)
            if code is not None:
                sys.exit(code)
            from .commands import app

            app(args=args, prog_name="uno-schedule")
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        # The reader went away (``uno-schedule list | head``): say nothing more, and
        # keep the interpreter's last flush from printing "Broken pipe" at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)  # as a process killed by SIGPIPE


def __getattr__(name: str) -> Any:
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(name)

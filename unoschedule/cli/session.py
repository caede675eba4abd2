"""What every command of the shell shares, without typer: the global options, the
scheduler a command opens, the zone it shows instants in, and the one mapping of our
errors to a line on stderr and an exit status.

typer-free so that the everyday commands (``actions``) can run without importing typer
(``fastpath``); the typer application (``application``) calls the same functions.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from unoschedule.errors import (
    ArgumentError,
    CommandFailed,
    ConfigErrors,
    StateError,
    UnoScheduleError,
    UsageError,
)

from . import output

if TYPE_CHECKING:
    from unoschedule.scheduler import Scheduler

__all__ = [
    "Globals",
    "check_state_folder",
    "exit_status",
    "load",
    "run_async",
    "scheduler_for",
    "start",
    "zone",
]

T = TypeVar("T")


class Globals:
    """The global options of the command line, as the application's callback takes them.

    A plain class: a dataclass or a named tuple costs a shell command about a millisecond
    to define at every start (its methods are compiled then).
    """

    __slots__ = ("config", "plain", "state")

    def __init__(
        self, config: Path = Path("schedules.yaml"), state: str | None = None, plain: bool = False
    ) -> None:
        self.config = config
        self.state = state
        self.plain = plain

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Globals) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"Globals(config={self.config!r}, state={self.state!r}, plain={self.plain!r})"

    def _values(self) -> tuple[Path, str | None, bool]:
        return (self.config, self.state, self.plain)


def start(
    config: Path, state: str | None, plain: bool, redis_password_file: Path | None = None
) -> Globals:
    """The global options taken: the output form chosen, the options a command reads,
    and a Redis password file handed to the store (which reads the variable)."""
    output.set_plain(plain)
    if redis_password_file is not None:
        os.environ["UNO_SCHEDULE_REDIS_PASSWORD_FILE"] = str(redis_password_file)
    return Globals(config, state or None, plain)


def exit_status(exc: BaseException) -> int:
    """The exit status of a command that raised ``exc``, after its one line on stderr;
    ``exc`` itself again when it is not ours to report."""
    if isinstance(exc, CommandFailed):
        return exc.status
    if isinstance(exc, ConfigErrors):
        for error in exc.errors:  # FILE:LINE:COLUMN: message, one per line
            output.err(str(error) if error.file else f"error: {error}")
        return 1
    if isinstance(exc, UsageError):
        raise exc  # the shell's own report of usage errors (typer's) shows it
    if isinstance(exc, ArgumentError):
        output.err(f"error: {exc}")
        return 2
    if isinstance(exc, UnoScheduleError):
        output.err(f"error: {exc}")
        return 1
    if isinstance(exc, KeyboardInterrupt):
        output.err("interrupted")
        return 130
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        if exc.filename is not None:
            output.err(f"error: {exc.strerror or exc}: {exc.filename}")
        else:
            output.err(f"error: {exc}")
        return 1
    raise exc  # a closed pipe ends quietly in ``main``; anything else is a defect


def check_state_folder(g: Globals) -> None:
    """An explicit ``--state`` in a folder that does not exist is a typo, not a new state:
    say so instead of answering from the YAML file alone."""
    if g.state and "://" not in g.state:
        folder = Path(g.state).expanduser().parent
        if not folder.is_dir():
            raise StateError(
                f"the folder of the state file {g.state} does not exist ({folder}); "
                "fix --state or create the folder"
            )


@contextmanager
def scheduler_for(g: Globals, *, create_state: bool = False) -> Iterator[Scheduler]:
    """The library's scheduler for this command (``unoschedule.shell.open_scheduler``);
    read-only commands create no state. When the file cannot be read but a state
    exists, the command works from the state after one warning line naming the error."""
    from unoschedule.shell import open_scheduler

    check_state_folder(g)
    with open_scheduler(g.config, g.state, create_state=create_state) as opened:
        if opened.file_error:
            output.err(f"warning: {opened.file_error}; working from the state")
        yield opened.scheduler


def load(g: Globals) -> Any:
    """The file itself, for the commands about the file (``run``, ``plan``, ``worker``)."""
    from unoschedule.config import load_config

    return load_config(g.config)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # lazily: it costs as much as typer itself

    return asyncio.run(coro)


def zone(name: str | None, schedule_zone: str | None = None) -> tzinfo:
    """The zone instants are shown in: ``--tz`` (``schedule``, ``local``, ``UTC`` or a zone
    name); without it, the schedule's own zone."""
    from unoschedule.timeutil import get_zone

    choice = name or "schedule"
    if choice.lower() == "schedule":
        return get_zone(schedule_zone) if schedule_zone else UTC
    if choice.lower() == "local":
        return output.local_zone()
    if choice.upper() == "UTC":
        return UTC
    try:
        return get_zone(choice)
    except UnoScheduleError as exc:
        raise UsageError(str(exc), param_hint="'--tz'") from None


def check_tz(tz: str | None) -> None:
    if tz and tz.lower() not in ("schedule", "local", "utc"):
        zone(tz)

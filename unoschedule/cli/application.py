"""The typer application and what its commands share: the global options, the common
arguments, and typer's side of what ``session`` holds without typer (the scheduler a
command opens, the zone it shows, our errors mapped to exit statuses in ``_Group``).

The commands themselves are declared in ``commands`` (schedules and runs) and ``ops``
(operating a runner); both register on ``app`` here and import nothing from each other.
The everyday commands' bodies are in ``actions``, called through ``call`` (here) or by
``fastpath``. Nothing heavy is imported at module level: the library is reached through
``unoschedule.shell``, rich through ``output`` and only when a terminal shows a table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from unoschedule.errors import UnoScheduleError, UsageError

from . import session
from .session import Globals, run_async

if TYPE_CHECKING:
    from unoschedule.scheduler import Scheduler

__all__ = ["app", "app_for", "run_async"]

COMMAND_ORDER = (
    "run", "worker", "validate", "plan", "list", "status", "next-runs", "history", "stats",
    "pause", "resume", "trigger", "event", "calendar", "schema",
)  # fmt: skip


class _Group(TyperGroup):
    """Maps every ``UnoScheduleError`` to one line on stderr and exit status 1 (2 for a
    usage error), through ``session.exit_status``."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else 99)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (UnoScheduleError, KeyboardInterrupt, OSError) as exc:
            raise typer.Exit(session.exit_status(exc)) from None


app = typer.Typer(
    name="uno-schedule",
    cls=_Group,
    help=(
        "A job scheduler for one Linux host that grows to many: schedules in a YAML file "
        "kept in git, state in SQLite, exactly-once firing, DST-correct cron."
    ),
    epilog=(
        "Examples:\n\n"
        "  uno-schedule validate\n\n"
        "  uno-schedule -c schedules.yaml list\n\n"
        "  uno-schedule next-runs backup --count 3 --json\n\n"
        "  uno-schedule --install-completion bash"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


_GLOBAL_VALUED = ("-c", "--config", "--state")


def app_for(args: list[str]) -> typer.Typer:
    """``app`` narrowed to the one command that ``args`` names.

    typer builds the click object of every registered command on each start (reading
    each signature and its annotations): a fifth of a fast command's time, for commands
    that will not run. The commands are still declared once; this only hands typer the
    one asked for. Help, completion and anything unrecognised get the whole application.
    """
    if any(k.startswith("_UNO_SCHEDULE_COMPLETE") for k in os.environ):
        return app
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_VALUED:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            break
    else:
        return app
    chosen = [
        info
        for info in app.registered_commands
        if (info.name or getattr(info.callback, "__name__", "").replace("_", "-")) == args[i]
    ]
    if len(chosen) != 1:
        return app
    import copy

    narrowed = copy.copy(app)
    narrowed.registered_commands = chosen
    return narrowed


def globals_of(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    if isinstance(obj, Globals):
        return obj
    return Globals()


@contextmanager
def usage_errors() -> Iterator[None]:
    """A ``UsageError`` of ours reported as typer reports a bad option value (inside the
    command, so that its usage line is the command's)."""
    try:
        yield
    except UsageError as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.param_hint) from None


def call(ctx: typer.Context, action: Callable[..., None], **values: Any) -> None:
    """Run an everyday command's ``actions`` function with the global options and the
    command's own values, as ``fastpath`` runs it."""
    with usage_errors():
        action(globals_of(ctx), **values)


def check_state_folder(ctx: typer.Context) -> None:
    session.check_state_folder(globals_of(ctx))


@contextmanager
def scheduler_for(ctx: typer.Context, *, create_state: bool = False) -> Iterator[Scheduler]:
    """``session.scheduler_for`` with this command's global options."""
    with session.scheduler_for(globals_of(ctx), create_state=create_state) as scheduler:
        yield scheduler


def load(ctx: typer.Context) -> Any:
    """The file itself, for the commands about the file (``run``, ``plan``, ``worker``)."""
    return session.load(globals_of(ctx))


def zone(name: str | None, schedule_zone: str | None = None) -> tzinfo:
    """``session.zone``, a bad ``--tz`` reported as typer reports a bad option value."""
    with usage_errors():
        return session.zone(name, schedule_zone)


def _complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """Schedule names for shell completion, from the library."""
    params = ctx.find_root().params
    config = params.get("config") or os.environ.get("UNO_SCHEDULE_CONFIG") or "schedules.yaml"
    state = params.get("state") or os.environ.get("UNO_SCHEDULE_STATE") or None
    try:
        from unoschedule.shell import open_scheduler

        with open_scheduler(config, state) as opened:
            names = [r["name"] for r in opened.scheduler.schedule_list()]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [n for n in names if n.startswith(incomplete)]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (no colour).")]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FORMAT",
        help="wide: every column, in full (default: the columns that fit the terminal, "
        "as many as its width allows).",
    ),
]
NameArg = Annotated[
    str,
    typer.Argument(metavar="NAME", help="The schedule's name.", autocompletion=_complete_name),
]
OptionalName = Annotated[
    str | None,
    typer.Argument(metavar="[NAME]", help="The schedule's name.", autocompletion=_complete_name),
]
TzOption = Annotated[
    str | None,
    typer.Option(
        "--tz",
        metavar="ZONE",
        help="Show instants in: schedule (its own zone, the default), local, UTC, or an "
        "IANA zone such as Europe/Berlin. JSON stays in UTC.",
    ),
]


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option(
            "-c",
            "--config",
            envvar="UNO_SCHEDULE_CONFIG",
            metavar="FILE",
            help="The schedule file.",
            # the loader says why a file cannot be read, in one line (exit 1)
            readable=False,
        ),
    ] = Path("schedules.yaml"),
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="UNO_SCHEDULE_STATE",
            metavar="FILE",
            help="The state file (default: scheduler.state in the YAML file, else "
            "uno-schedule.db beside it).",
        ),
    ] = None,
    redis_password_file: Annotated[
        Path | None,
        typer.Option(
            "--redis-password-file",
            envvar="UNO_SCHEDULE_REDIS_PASSWORD_FILE",
            metavar="FILE",
            help="A file holding the Redis password (never on the command line: any user "
            "reads it with ps).",
        ),
    ] = None,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain",
            help="Plain rows even on a terminal: a header line, tab-separated cells, no "
            "colour (the default when stdout is not a terminal).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        from unoschedule import __version__

        typer.echo(f"uno-schedule {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:  # a usage error: show what the commands are
        typer.echo(ctx.get_help())  # (typer's rich help prints itself and returns "")
        raise typer.Exit(2)
    ctx.obj = session.start(config, state, plain, redis_password_file)

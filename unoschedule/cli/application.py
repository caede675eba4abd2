"""The typer application and what its commands share: global options, one error mapping,
the scheduler a command opens, the common arguments.

The commands themselves are declared in ``commands`` (schedules and runs) and ``ops``
(operating a runner); both register on ``app`` here and import nothing from each other.
Nothing heavy is imported at module level: the library is reached through
``unoschedule.shell``, rich through ``output`` and only when a terminal shows a table.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from unoschedule.errors import ArgumentError, ConfigErrors, StateError, UnoScheduleError

from . import output

if TYPE_CHECKING:
    from unoschedule.scheduler import Scheduler

__all__ = ["app", "app_for"]

T = TypeVar("T")

COMMAND_ORDER = (
    "run", "worker", "validate", "plan", "list", "status", "next-runs", "history", "stats",
    "pause", "resume", "trigger", "event", "calendar", "schema",
)  # fmt: skip


class _Group(TyperGroup):
    """Maps every ``UnoScheduleError`` to one line on stderr and exit status 1 (2 for a
    usage error), here only."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else 99)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigErrors as exc:
            for error in exc.errors:  # FILE:LINE:COLUMN: message, one per line
                output.err(str(error) if error.file else f"error: {error}")
            raise typer.Exit(1) from None
        except ArgumentError as exc:
            output.err(f"error: {exc}")
            raise typer.Exit(2) from None
        except UnoScheduleError as exc:
            output.err(f"error: {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            output.err("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            raise  # the reader went away: ``main`` ends quietly, as ``| head`` expects
        except OSError as exc:
            if exc.filename is not None:
                output.err(f"error: {exc.strerror or exc}: {exc.filename}")
            else:
                output.err(f"error: {exc}")
            raise typer.Exit(1) from None


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


@dataclass
class Globals:
    config: Path
    state: str | None


def globals_of(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    if isinstance(obj, Globals):
        return obj
    return Globals(Path("schedules.yaml"), None)


def check_state_folder(ctx: typer.Context) -> None:
    """An explicit ``--state`` in a folder that does not exist is a typo, not a new state:
    say so instead of answering from the YAML file alone."""
    g = globals_of(ctx)
    if g.state and "://" not in g.state:
        folder = Path(g.state).expanduser().parent
        if not folder.is_dir():
            raise StateError(
                f"the folder of the state file {g.state} does not exist ({folder}); "
                "fix --state or create the folder"
            )


@contextmanager
def scheduler_for(ctx: typer.Context, *, create_state: bool = False) -> Iterator[Scheduler]:
    """The library's scheduler for this command (``unoschedule.shell.open_scheduler``);
    read-only commands create no state. When the file cannot be read but a state
    exists, the command works from the state after one warning line naming the error."""
    from unoschedule.shell import open_scheduler

    check_state_folder(ctx)
    g = globals_of(ctx)
    with open_scheduler(g.config, g.state, create_state=create_state) as opened:
        if opened.file_error:
            output.err(f"warning: {opened.file_error}; working from the state")
        yield opened.scheduler


def load(ctx: typer.Context) -> Any:
    """The file itself, for the commands about the file (``run``, ``plan``, ``worker``)."""
    from unoschedule.config import load_config

    return load_config(globals_of(ctx).config)


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
        raise typer.BadParameter(str(exc), param_hint="'--tz'") from None


def check_tz(tz: str | None) -> None:
    if tz and tz.lower() not in ("schedule", "local", "utc"):
        zone(tz)


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


def not_running(leader: dict[str, Any], zone: tzinfo) -> str | None:
    """None while a leader runs, else the one line that says since when it does not
    (``unoschedule.shell.leader_status``)."""
    reason = leader["reason"]
    if reason == "running":
        return None
    if reason == "no-state":
        return "scheduler not running (no state file yet: `uno-schedule run` starts it)"
    if reason == "never":
        return "scheduler not running (it has never run with this state)"
    if leader["since"] is None:
        return "scheduler not running"
    return f"scheduler not running since {output.when(leader['since'], zone)}"


def paused_note(row: dict[str, Any], zone: Any) -> str:
    """After ``paused`` in ``list`` and ``status``: why, by whom, until when (plain text:
    the table styles and escapes its cells itself)."""
    if row.get("status") != "paused" or not (row.get("paused_reason") or row.get("paused_at")):
        return ""
    parts = [str(row["paused_reason"] or "no reason given")]
    if row.get("paused_by"):
        parts.append(f"by {row['paused_by']}")
    if row.get("paused_until"):
        parts.append(f"until {output.when(row['paused_until'], zone, ago=False)}")
    return f" ({', '.join(parts)})"


def print_pauses(pauses: list[dict[str, Any]], zone: Any) -> None:
    """Below ``history``: the latest pauses, who made them and why."""
    for p in pauses:
        until = (
            f" until {output.when(p['paused_until'], zone, ago=False)}" if p["paused_until"] else ""
        )
        ended = (
            f", resumed {output.when(p['resumed_at'], zone, ago=False)}"
            if p["resumed_at"]
            else " (still paused)"
        )
        typer.echo(
            f"paused {output.when(p['paused_at'], zone, ago=False)}{until}"
            f" by {p['paused_by'] or '?'}: {p['paused_reason'] or 'no reason given'}{ended}"
        )


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
    output.set_plain(plain)
    if redis_password_file is not None:  # read by the Redis store, as is the variable
        os.environ["UNO_SCHEDULE_REDIS_PASSWORD_FILE"] = str(redis_password_file)
    ctx.obj = Globals(config, state or None)

"""The typer application: global options, one function per command, one error mapping.

This is the one declaration of the commands: help, completion and the man page
(``python -m unoschedule.cli.manpage``) all come from it. Each command is a few lines over
one library call. Nothing heavy is imported at module level: the read and control
commands first ask ``unoschedule.view`` (the state's snapshot of an unchanged file, read
with the standard ``sqlite3``), and only when it cannot answer load the YAML file and the
``Scheduler``; rich is reached through ``output`` and only when a terminal shows a table.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from unoschedule.errors import ConfigError, ConfigErrors, StateError, UnoScheduleError
from unoschedule.values import MAX_DEPTH, ValueLimitError, check_plain_value

from . import output

if TYPE_CHECKING:
    from unoschedule.config import Config
    from unoschedule.scheduler import Scheduler
    from unoschedule.view import StateView

__all__ = ["app", "app_for"]

T = TypeVar("T")

COMMAND_ORDER = (
    "run", "worker", "validate", "plan", "list", "status", "next-runs", "history", "stats",
    "pause", "resume", "trigger", "event", "calendar", "schema",
)  # fmt: skip


class _Group(TyperGroup):
    """Maps every ``UnoScheduleError`` to one line on stderr and exit status 1, here only."""

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
    that will not run. The commands are still declared once, above and below; this only
    hands typer the one asked for. Help, completion and anything unrecognised get the
    whole application.
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
    views: list[StateView] = field(default_factory=list)


# -- shared helpers ---------------------------------------------------------------------


def _globals(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    if isinstance(obj, Globals):
        return obj
    return Globals(Path("schedules.yaml"), None)


def _check_state_folder(g: Globals) -> None:
    """An explicit ``--state`` in a folder that does not exist is a typo, not a new state:
    say so instead of answering from the YAML file alone."""
    if g.state and "://" not in g.state:
        folder = Path(g.state).expanduser().parent
        if not folder.is_dir():
            raise StateError(
                f"the folder of the state file {g.state} does not exist ({folder}); "
                "fix --state or create the folder"
            )


def _view(ctx: typer.Context) -> StateView | None:
    """The fast view of the state, or None when the full path must answer."""
    from unoschedule.view import StateView

    g = _globals(ctx)
    _check_state_folder(g)
    view = StateView.open(g.config, g.state)
    if view is not None:
        g.views.append(view)
    return view


def _load(ctx: typer.Context) -> Config:
    from unoschedule.config import load_config

    return load_config(_globals(ctx).config)


@contextmanager
def _scheduler(
    ctx: typer.Context, *, create_state: bool = False, snapshot: bool = True
) -> Iterator[Scheduler]:
    """The library's scheduler over the YAML file (read-only commands create no state).

    Beside an existing local state it records the file's snapshot, so that the next
    command can answer from the state alone (``unoschedule.view``).
    """
    from unoschedule.scheduler import Scheduler
    from unoschedule.view import file_stamp, record_snapshot

    g = _globals(ctx)
    _check_state_folder(g)
    if g.state and not g.config.exists():
        # A state alone (no schedule file): the schedules stored there are all there is.
        with contextlib.closing(Scheduler.for_state(g.state, create_state=create_state)) as bare:
            yield bare
        return
    stamp = file_stamp(g.config)  # before the file is read: see record_snapshot
    config = _load(ctx)
    scheduler = Scheduler.from_config(config, state=g.state, create_state=create_state)
    try:
        yield scheduler
        if snapshot and scheduler.state_path is not None and scheduler.state_path.exists():
            record_snapshot(scheduler.store, config, stamp)
    finally:
        scheduler.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # lazily: it costs as much as typer itself

    return asyncio.run(coro)


def _zone(name: str | None, schedule_zone: str | None = None) -> tzinfo:
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


def _check_tz(tz: str | None) -> None:
    if tz and tz.lower() not in ("schedule", "local", "utc"):
        _zone(tz)


def _complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """Schedule names for shell completion, from the state's snapshot or the file."""
    params = ctx.find_root().params
    config = params.get("config") or os.environ.get("UNO_SCHEDULE_CONFIG") or "schedules.yaml"
    state = params.get("state") or os.environ.get("UNO_SCHEDULE_STATE") or None
    try:
        from unoschedule.view import StateView

        view = StateView.open(config, state)
        if view is not None:
            names = list(view.schedules)
            view.close()
        else:
            from unoschedule.config import load_config

            names = list(load_config(config).schedules)
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [n for n in names if n.startswith(incomplete)]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (no colour).")]
NameArg = Annotated[
    str,
    typer.Argument(metavar="NAME", help="The schedule's name.", autocompletion=_complete_name),
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
    g = Globals(config, state or None)
    ctx.obj = g
    ctx.call_on_close(lambda: _close(g.views))


def _close(views: list[StateView]) -> None:
    for view in views:
        view.close()


def _not_running(
    expires: datetime | None,
    stopped: str | None,
    started: str | None,
    has_state: bool,
    zone: tzinfo,
) -> str | None:
    """None while a leader is alive, else the one line that says since when it is not."""
    now = datetime.now(UTC)
    if expires is not None and expires > now:
        return None
    if not has_state:
        return "scheduler not running (no state file yet: `uno-schedule run` starts it)"
    moments = [stopped] if stopped else []
    if expires is not None and expires.year > 1970:
        moments.append(expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    if not moments and started is None and expires is None:
        return "scheduler not running (it has never run with this state)"
    if not moments:
        return "scheduler not running"
    since = max(moments, key=lambda m: datetime.fromisoformat(m.replace("Z", "+00:00")))
    return f"scheduler not running since {output.when(since, zone)}"


def _leader_view(view: StateView, zone: tzinfo) -> str | None:
    lease = view.lease()
    return _not_running(
        lease[1] if lease else None, view.meta("stopped_at"), view.meta("started_at"), True, zone
    )


def _leader_full(scheduler: Scheduler, zone: tzinfo) -> str | None:
    if not scheduler.has_state():
        return _not_running(None, None, None, False, zone)
    store = scheduler.store
    lease = store.current_lease()
    return _not_running(
        lease.expires_at if lease else None,
        store.get_meta("stopped_at"),
        store.get_meta("started_at"),
        True,
        zone,
    )


# -- run, validate, plan, schema ---------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            metavar="Q1,Q2",
            help="Execute only these queues here ('' for none); workers on other hosts "
            "run the others (needs Redis storage). Default: every queue.",
        ),
    ] = None,
) -> None:
    """Run the scheduler: fire due jobs and record them in the state, until SIGTERM.

    Only one instance leads per state file (or Redis); the others wait as standbys and
    take over when the leader dies. SIGHUP (or a change of the file) reloads the schedules.

    Examples:

      uno-schedule run

      uno-schedule -c /etc/uno-schedule/schedules.yaml --state /var/lib/uno/state.db run

      uno-schedule --state redis://redis.internal:6379/0 run --queues default
    """
    from unoschedule.runner.worker import parse_queues
    from unoschedule.scheduler import Scheduler

    g = _globals(ctx)
    scheduler = Scheduler.from_config(_load(ctx), state=g.state, create_state=True)
    if queues is not None:
        if scheduler.state_path is not None:
            raise StateError(
                "run --queues needs Redis storage (--state redis://HOST:PORT/DB): workers on "
                "other hosts take the other queues from it"
            )
        scheduler.local_queues = frozenset(parse_queues(queues))
    raise typer.Exit(scheduler.run_forever())


@app.command()
def worker(
    ctx: typer.Context,
    queues: Annotated[
        str,
        typer.Option("--queues", metavar="Q1,Q2", help="The queues to serve (comma-separated)."),
    ],
    visibility_timeout: Annotated[
        float,
        typer.Option(
            "--visibility-timeout",
            min=1.0,
            metavar="SECONDS",
            help="A job whose worker is silent this long is taken over by another worker.",
        ),
    ] = 30.0,
) -> None:
    """Run the jobs of some queues on this host, for the leader (needs Redis storage).

    A queue's concurrency holds across all its workers. A job held by a worker that
    died is recorded interrupted and retried under its retry policy.

    Examples:

      uno-schedule worker --queues reports,default

      uno-schedule --state redis://redis.internal:6379/0 worker --queues reports
    """
    from unoschedule.runner.worker import Worker, parse_queues
    from unoschedule.scheduler import Scheduler

    g = _globals(ctx)
    scheduler = Scheduler.from_config(_load(ctx), state=g.state, create_state=False)
    if scheduler.state_path is not None:
        raise StateError(
            "worker needs Redis storage (--state redis://HOST:PORT/DB or scheduler.storage)"
        )
    try:
        status = Worker(scheduler, parse_queues(queues), visibility=visibility_timeout).run()
    finally:
        scheduler.close()
    raise typer.Exit(status)


@app.command()
def validate(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE]...", help="Files to check (default: the --config file)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON list of {file, line, column, message}."),
    ] = False,
) -> None:
    """Check the schedule file; list every error as FILE:LINE:COLUMN: message.

    Exits 1 when there is any error, so it fits CI and pre-commit hooks. A file that
    has not changed since the state last read it (same size, time and checksum, same
    uno-schedule version) is known to be valid without reading it again.

    Examples:

      uno-schedule validate

      uno-schedule validate schedules.yaml other.yaml

      uno-schedule validate --json
    """
    errors: list[ConfigError] = []
    counts: list[tuple[Path, int]] = []
    view = None
    g = _globals(ctx)
    if not files and not (g.state and not Path(g.state).expanduser().parent.is_dir()):
        from unoschedule.view import StateView

        view = StateView.open(g.config, g.state)
        if view is not None:
            g.views.append(view)
            counts.append((g.config, len(view.schedules)))
    if view is None:
        from unoschedule.config import load_config

        for path in files or [_globals(ctx).config]:
            try:
                config = load_config(path)
            except ConfigErrors as exc:
                errors.extend(exc.errors)
                continue
            except ConfigError as exc:
                errors.append(exc)
                continue
            counts.append((path, len(config.schedules)))
    if as_json:
        output.print_json(
            [
                {
                    "file": e.file or None,
                    "line": e.line or None,
                    "column": e.column or None,
                    "message": e.message,
                }
                for e in errors
            ]
        )
        if errors:
            raise typer.Exit(1)
        return
    for path, n in counts:
        typer.echo(f"ok: {n} schedule{'s' if n != 1 else ''}" + (f" in {path}" if files else ""))
    if errors:
        raise ConfigErrors(errors)


@app.command()
def plan(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show what `run` would change in the state: added, changed and removed schedules.

    Each change comes with the diff of its definition and its next run times before and
    after. Without a state file every schedule is added. Nothing is written.

    Examples:

      uno-schedule plan

      uno-schedule plan --json
    """
    with _scheduler(ctx, snapshot=False) as scheduler:
        result = scheduler.plan()
    if as_json:
        output.print_json(result.to_json())
        return
    _print_plan(result)


def _print_plan(result: Any) -> None:
    from rich.syntax import Syntax
    from rich.text import Text

    con = output.console()
    summary = (
        f"Plan: {len(result.added)} to add, {len(result.changed)} to change, "
        f"{len(result.removed)} to remove"
    )
    if result.empty:
        con.print(Text(summary + ": the state matches the file.", style="green"))
        return
    con.print(Text(summary, style="bold"))
    for sign, style, entries in (
        ("+", "green", result.added),
        ("~", "yellow", result.changed),
        ("-", "red", result.removed),
    ):
        for entry in entries:
            con.print(Text(f"\n{sign} {entry.name}", style=f"bold {style}"))
            if entry.takes_over:
                con.print(Text("  made through the API: the file's definition takes it over"))
            if entry.diff:
                con.print(
                    Syntax(
                        entry.diff.rstrip("\n"),
                        "diff",
                        theme="ansi_dark",
                        background_color="default",
                    )
                )
            for label, runs, show in (
                ("next runs before", entry.next_before, sign != "+"),
                ("next runs after ", entry.next_after, sign != "-"),
            ):
                if show and (entry.next_before or entry.next_after):
                    shown = ", ".join(output.when(r, ago=False) for r in runs) or "-"
                    con.print(Text(f"  {label}: {shown}"))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the schedule file, for editors and CI.

    Examples:

      uno-schedule schema > schedules.schema.json

    Editors with the YAML language server then validate as you type when the file
    starts with the line `# yaml-language-server: $schema=./schedules.schema.json`.
    """
    from unoschedule.config.schema import json_schema

    output.print_json(json_schema())


# -- observation ---------------------------------------------------------------------------


_CALENDAR_KINDS = ("cron", "daily", "weekly", "monthly")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only schedules with this status (active, paused, ...)."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only schedules with this tag (repeatable).")
    ] = None,
    tz: TzOption = None,
    as_json: JsonOption = False,
) -> None:
    """List schedules: type, what the schedule means, next run and last result.

    Piped (or with --plain) it prints one schedule per line, tab-separated, after a
    header line: ready for grep, cut and awk. Times are in each schedule's own zone
    unless --tz says otherwise. When no scheduler is running, it says so on stderr and
    shows no next run as if one were coming.

    Examples:

      uno-schedule list

      uno-schedule list --status paused

      uno-schedule list --tag reports --json

      uno-schedule list | cut -f1,5
    """
    _check_tz(tz)
    view = _view(ctx)
    if view is not None:
        note = None if as_json else _leader_view(view, _zone(tz, "UTC"))
        rows = view.list_schedules(status=status, tags=tag or None, next_runs=note is None)
    else:
        with _scheduler(ctx) as scheduler:
            rows = _run(scheduler.list_schedules(status=status, tags=tag or None))
            note = None if as_json else _leader_full(scheduler, _zone(tz, "UTC"))
    if as_json:
        output.print_json(rows)
        return
    now = datetime.now(UTC)
    from .ops import paused_note

    output.table(
        ["name", "type", "schedule", "status", "next run", "last result"],
        (
            [
                r["name"],
                r["type"],
                _list_description(r),
                str(r.get("status")) + paused_note(r, _zone(tz, r.get("timezone"))),
                (
                    "not running"
                    if note and r.get("status") == "active" and r["type"] != "event"
                    else output.when(r.get("next_run"), _zone(tz, r.get("timezone")), now)
                ),
                r.get("last_result"),
            ]
            for r in rows
        ),
        styled=("status", "last result"),
    )
    if note:
        output.err(f"note: {note}; nothing fires until it starts")
    if not rows:
        output.err("no schedules match" if status or tag else "no schedules in the file")


def _list_description(row: dict[str, Any]) -> str:
    text = str(row.get("description") or "")
    zone = row.get("timezone")
    if zone and row.get("type") in _CALENDAR_KINDS and str(zone) not in text:
        text += f", {zone}"
    return text


def _schedule_text(value: Any) -> str:
    """The schedule as written: ``30 2 * * *``, ``every: 5m``, ``weekly: {...}``."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "cron" and isinstance(inner, str):
            return inner
        text = inner if isinstance(inner, str) else json.dumps(inner, ensure_ascii=False)
        return f"{key}: {text}"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _extras(definition: Any) -> dict[str, Any]:
    return {
        "timezone": definition.zone_name,
        "schedule": definition.schedule.to_config(),
        "queue": definition.queue_name,
        "user_description": definition.description,
    }


@app.command()
def status(
    ctx: typer.Context, name: NameArg, tz: TzOption = None, as_json: JsonOption = False
) -> None:
    """Show one schedule's status record: last and next run, counts, average duration.

    Also the schedule as written, its zone and queue, and its description: yours (the
    file's `description:`) beside the generated one.

    Examples:

      uno-schedule status backup

      uno-schedule status backup --tz local

      uno-schedule status backup --json
    """
    _check_tz(tz)
    view = _view(ctx)
    if view is not None:
        record = view.schedule_status(name)
        record.update(view.extras(name))
        note = _leader_view(view, _zone(tz, record["timezone"]))
    else:
        with _scheduler(ctx) as scheduler:
            record = _run(scheduler.get_schedule_status(name))
            # the file's or the state's (made through the API): ``definitions`` holds
            # only what a leader runs, the file's when no leader runs here
            record.update(_extras(_run(scheduler.get_schedule(name))))
            note = _leader_full(scheduler, _zone(tz, record["timezone"]))
    record["scheduler_running"] = note is None
    if as_json:
        output.print_json(record)
        return
    from .ops import paused_note

    zone = _zone(tz, record["timezone"])
    schedule = record["schedule"]
    next_run = output.when(record.get("next_run"), zone)
    if note and next_run:
        next_run = f"{note} (due {output.when(record.get('next_run'), zone, ago=False)})"
    elif note and not next_run:
        next_run = note
    output.kv(
        {
            "name": record["name"],
            "status": str(record["status"]) + paused_note(record, zone),
            "description": record.get("user_description"),
            "schedule": _schedule_text(schedule),
            "means": record.get("description"),
            "type": record["type"],
            "timezone": record["timezone"],
            "queue": record["queue"],
            "next run": next_run,
            "last run": output.when(record.get("last_run"), zone),
            "last result": record.get("last_result"),
            "runs": record.get("run_count"),
            "successes": record.get("success_count"),
            "errors": record.get("error_count"),
            "missed": record.get("missed_count"),
            "skipped": record.get("skipped_count"),
            "average duration": output.duration(record.get("average_duration")),
            "version": record.get("version"),
            "tags": record.get("tags"),
            "metadata": record.get("metadata"),
        }
    )


@app.command("next-runs")
def next_runs(
    ctx: typer.Context,
    name: NameArg,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many fire instants.")] = 5,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="INSTANT",
            help="Start after this ISO 8601 instant (default: now; naive: in --tz).",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE",
            help="Print instants with the offset of: schedule (its own zone), local, UTC, "
            "or an IANA zone (default: UTC, …Z).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the next fire instants of a schedule, from the YAML file alone.

    Needs no state file and creates none. Instants are UTC (…Z) unless --tz is given.

    Examples:

      uno-schedule next-runs backup

      uno-schedule next-runs backup --count 3 --from 2026-03-28T00:00:00Z --json

      uno-schedule next-runs backup --tz Europe/Berlin
    """
    from .nextruns import next_run_times, parse_from, render

    _check_tz(tz)
    view = _view(ctx)
    g = _globals(ctx)
    state_alone = view is None and g.state is not None and not g.config.exists()
    zone: tzinfo | None = None
    if tz and tz.lower() == "schedule":
        if view is not None:
            zone = _zone(None, view.resolve(name)["timezone"])
        else:
            with _scheduler(ctx) as scheduler:
                definition = scheduler.known_definitions().get(name)
            zone = _zone(None, definition.zone_name if definition else None)
    elif tz:
        zone = _zone(tz)
    try:
        after = parse_from(from_, zone)
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--from'") from None
    if view is not None:
        instants = view.next_run_times(name, count, after)
    elif state_alone:  # no schedule file: the state's schedules are all there is
        with _scheduler(ctx) as scheduler:
            instants = scheduler.next_run_times(name, count, after)
    else:
        instants = next_run_times(g.config, g.state, name, count, after)
    text = render(instants, zone, as_json)
    if text:
        typer.echo(text)


@app.command()
def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="How many runs.")] = 50,
    versions: Annotated[
        bool, typer.Option("--versions", help="Show definition versions with diffs instead.")
    ] = False,
    tz: TzOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a schedule's runs, newest first, or its definition versions with diffs.

    Examples:

      uno-schedule history backup --limit 10

      uno-schedule history backup --versions

      uno-schedule history backup --json
    """
    _check_tz(tz)
    view = None if versions else _view(ctx)
    paused: list[dict[str, Any]] = []
    if view is not None:
        records = view.history(name, limit)
        known = view.schedules.get(name)
        zone_name = known["timezone"] if known else view.options["timezone"]
    else:
        with _scheduler(ctx) as scheduler:
            if versions:
                records = _run(scheduler.get_schedule_versions(name))
            else:
                records = _run(scheduler.get_run_history(name, limit=limit))
            definition = scheduler.known_definitions().get(name)
            paused = [] if versions or as_json else _run(scheduler.get_pauses(name))
            zone_name = definition.zone_name if definition else "UTC"
    if as_json:
        output.print_json(records)
        return
    zone = _zone(tz, zone_name)
    if versions:
        _print_versions(records, zone)
        return
    output.table(
        ["run", "scheduled", "trigger", "attempt", "started", "duration", "result", "error"],
        (
            [
                r.get("run_id"),
                output.when(r.get("scheduled_time"), zone, ago=False),
                r.get("trigger"),
                r.get("attempt"),
                output.when(r.get("started_at"), zone, ago=False),
                output.duration(r.get("duration")),
                r.get("result"),
                _one_line(r.get("error")) if r.get("error") else None,
            ]
            for r in records
        ),
        styled=("result",),
        title=f"{name}: {len(records)} run{'s' if len(records) != 1 else ''}",
    )
    from .ops import print_pauses

    print_pauses(paused, zone)


def _one_line(text: Any, width: int = 80) -> str:
    line = " ".join(str(text).split())
    if output.is_plain():
        return line
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_versions(records: list[dict[str, Any]], zone: tzinfo | None) -> None:
    if output.is_plain():
        text = []
        for v in records:
            changed = output.when(v.get("changed_at"), zone, ago=False)
            head = f"version {v.get('version')}\t{changed}\t{v.get('changelog') or ''}"
            text.append(f"{head}\t{v.get('source') or ''}")
            text.extend(str(v.get("diff") or "").rstrip("\n").splitlines())
        output.lines(
            text or ["no versions recorded (the scheduler has not seen this schedule yet)"]
        )
        return
    from rich.syntax import Syntax
    from rich.text import Text

    con = output.console()
    if not records:
        con.print(Text("no versions recorded (the scheduler has not seen this schedule yet)"))
    for v in records:
        con.print(
            Text.assemble(
                (f"version {v.get('version')}", "bold"),
                f"  {output.when(v.get('changed_at'), zone, ago=False)}  "
                f"{v.get('changelog') or ''}",
                (f"  ({v.get('source')})" if v.get("source") else "", "dim"),
            )
        )
        if v.get("diff"):
            con.print(
                Syntax(
                    str(v["diff"]).rstrip("\n"),
                    "diff",
                    theme="ansi_dark",
                    background_color="default",
                )
            )


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show scheduler statistics: schedules, jobs triggered, success rate, uptime.

    Examples:

      uno-schedule stats

      uno-schedule stats --json
    """
    view = _view(ctx)
    if view is not None:
        record = view.statistics()
    else:
        with _scheduler(ctx) as scheduler:
            record = _run(scheduler.get_statistics())
    if as_json:
        output.print_json(record)
        return
    shown: dict[str, Any] = {k.replace("_", " "): v for k, v in record.items()}
    shown["success rate"] = output.rate(record.get("success_rate"))
    shown["scheduler uptime"] = (
        output.duration(record.get("scheduler_uptime")) if record.get("leader") else "not running"
    )
    output.kv(shown)


# -- control -----------------------------------------------------------------------------


def _target(name: str | None, all_: bool) -> None:
    if bool(name) == all_:
        raise typer.BadParameter("give a schedule NAME or --all (not both)")


AllOption = Annotated[bool, typer.Option("--all", help="Every schedule.")]
OptionalName = Annotated[
    str | None,
    typer.Argument(metavar="[NAME]", help="The schedule's name.", autocompletion=_complete_name),
]


def _changed(verb: str, changed: list[str], as_json: bool) -> None:
    if as_json:
        output.print_json({"changed": changed})
        return
    typer.echo(
        f"{verb} {len(changed)} schedule{'s' if len(changed) != 1 else ''}"
        + (": " + ", ".join(changed) if changed else "")
    )


@app.command()
def pause(
    ctx: typer.Context,
    name: OptionalName = None,
    all_: AllOption = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (shown by status and list)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="INSTANT|DURATION",
            help="Resume by itself then: an ISO 8601 instant or a duration (2h).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pause a schedule (or every one with --all): it stops firing until resumed.

    Examples:

      uno-schedule pause backup

      uno-schedule pause backup --reason "disk replacement" --until 2h

      uno-schedule pause --all
    """
    from unoschedule.view import Fallback

    _target(name, all_)
    from unoschedule import pauses

    why: dict[str, Any] = {"by": pauses.current_user(), "reason": reason or None}
    if until:
        try:
            why["until"] = pauses.parse_until(until, datetime.now(UTC))
        except UnoScheduleError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--until'") from None
    done: bool | None = None
    # A plain pause of one schedule is a small write the state view does itself.
    view = None if all_ or reason or until else _view(ctx)
    if view is not None:
        try:
            done = view.pause(str(name))
        except Fallback:
            done = None
    if done is None:
        with _scheduler(ctx, create_state=True) as scheduler:
            if all_:
                _changed("paused", _run(scheduler.pause(**why)), as_json)
                return
            done = _run(scheduler.pause_schedule(str(name), **why))
    if as_json:
        output.print_json({"changed": [name] if done else []})
    elif done:
        typer.echo(f"paused {name}")
    else:
        typer.echo(f"{name} was not active; its status stays as it was")


@app.command()
def resume(
    ctx: typer.Context,
    name: OptionalName = None,
    all_: AllOption = False,
    as_json: JsonOption = False,
) -> None:
    """Resume a paused schedule (or every paused one with --all).

    Examples:

      uno-schedule resume backup

      uno-schedule resume --all
    """
    from unoschedule.view import Fallback

    _target(name, all_)
    done: bool | None = None
    view = None if all_ else _view(ctx)
    if view is not None:
        try:
            done = view.resume(str(name))
        except Fallback:
            done = None
    if done is None:
        with _scheduler(ctx, create_state=True) as scheduler:
            if all_:
                _changed("resumed", _run(scheduler.resume_paused()), as_json)
                return
            done = _run(scheduler.resume_schedule(str(name)))
    if as_json:
        output.print_json({"changed": [name] if done else []})
    elif done:
        typer.echo(f"resumed {name}")
    else:
        typer.echo(f"{name} was not paused; nothing changed")


def _kwargs(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    from unoschedule.config.yamltext import parse_value

    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--kwarg'")
        try:
            out[key] = parse_value(value) if value else ""
        except ConfigError as exc:
            raise typer.BadParameter(f"{key}: {exc}", param_hint="'--kwarg'") from None
        check_plain_value(out[key], f"--kwarg {key}")  # one line, not a RecursionError
    return out


@app.command()
def trigger(
    ctx: typer.Context,
    name: NameArg,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="Replace the job's args (repeatable).")
    ] = None,
    kwarg: Annotated[
        list[str] | None,
        typer.Option(
            "--kwarg",
            metavar="KEY=VALUE",
            help="Override one kwarg; VALUE is read as YAML (repeatable).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for the result; exit 1 if the run failed. "
            "With no scheduler running, run it here.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a schedule's job now (a manual run); prints its run id.

    The run is queued for the running scheduler. With --wait the command waits for the
    result (running the job in the foreground when no scheduler runs) and exits non-zero
    if it failed.

    Examples:

      uno-schedule trigger backup

      uno-schedule trigger report --kwarg day=2026-03-01 --kwarg dry_run=true --wait

      uno-schedule trigger cleanup --arg /tmp --arg 7
    """
    from unoschedule.view import Fallback

    kwargs = _kwargs(kwarg)
    args = list(arg) if arg else None
    if not wait:
        view = _view(ctx)
        if view is not None:
            try:
                run_id = view.trigger(name, args, kwargs)
            except Fallback:
                pass
            else:
                _queued(run_id, as_json, view.leader_alive())
                return
    with _scheduler(ctx, create_state=True) as scheduler:
        if not wait:
            run_id = _run(scheduler.trigger_now(name, args=args, kwargs=kwargs))
            _queued(run_id, as_json, scheduler.leader_running())
            return
        record = _run(
            scheduler.run_and_wait(
                name, args=args, kwargs=kwargs, on_run_id=None if as_json else typer.echo
            )
        )
    if as_json:
        output.print_json(record)
    else:
        _report_run(record)
    if record.get("result") != "success":
        raise typer.Exit(1)


def _queued(run_id: str, as_json: bool, running: bool) -> None:
    if as_json:
        output.print_json({"run_id": run_id, "result": "queued"})
    else:
        typer.echo(run_id)
    if not running:
        output.err("note: no scheduler is running; the run waits until one starts")


def _report_run(record: dict[str, Any]) -> None:
    result = record.get("result")
    took = output.duration(record.get("duration"))
    output.err(
        f"{result}"
        + (f" in {took}" if took else "")
        + (f": {record['error']}" if record.get("error") else "")
    )
    if result != "success" and record.get("output"):
        output.err(str(record["output"]).rstrip("\n"))


def _data_text(data: str) -> str:
    """``--data``: the JSON itself, ``@FILE`` for a file's content, ``-`` for stdin (a
    large payload does not fit in one argument of a command line)."""
    if data == "-":
        return sys.stdin.read()
    if data.startswith("@"):
        with open(data[1:], encoding="utf-8") as fh:
            return fh.read()
    return data


@app.command()
def event(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="EVENT", help="The event's name.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="JSON",
            help="The event payload, a JSON object; @FILE reads a file, - stdin.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Raise an event: every schedule listening for it gets a run; prints the run ids.

    Exits 1 when no active schedule listens for the event (a typo in its name, or every
    listener paused), so that a script notices.

    Examples:

      uno-schedule event inventory.low_stock

      uno-schedule event inventory.low_stock --data '{"sku": "A-42", "left": 3}'

      uno-schedule event inventory.sync --data @payload.json
    """
    from unoschedule.view import Fallback

    payload: dict[str, Any] | None = None
    if data is not None:
        text = _data_text(data)
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="'--data'") from None
        except RecursionError:
            raise ValueLimitError(f"--data is nested more than {MAX_DEPTH} levels deep") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="'--data'")
        check_plain_value(loaded, "--data")
        payload = loaded
    run_ids: list[str] | None = None
    view = _view(ctx)
    if view is not None:
        try:
            run_ids = view.event(name, payload)
            running = view.leader_alive()
        except Fallback:
            run_ids = None
    if run_ids is None:
        with _scheduler(ctx, create_state=True) as scheduler:
            run_ids = _run(scheduler.trigger_event(name, payload))
            running = scheduler.leader_running()
    if not run_ids:
        raise UnoScheduleError(f"no active schedule listens for event {name!r}; nothing queued")
    if as_json:
        output.print_json(run_ids)
    else:
        for run_id in run_ids:
            typer.echo(run_id)
    if not running:
        output.err("note: no scheduler is running; the runs wait until one starts")


@app.command()
def calendar(
    ctx: typer.Context,
    window: Annotated[
        str, typer.Option("--window", help="How far ahead: 24h, 7d, or any duration.")
    ] = "24h",
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="INSTANT", help="Start of the window (default: now)."),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="Column width such as 15m or 2h (default: fits).")
    ] = None,
    tz: TzOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw when every schedule fires over a window, with load and collisions.

    One row per schedule on a shared time axis, a load row (fires per column) and the
    instants where several schedules fire together, such as the midnight pile-up.

    Examples:

      uno-schedule calendar

      uno-schedule calendar --window 7d --tz Europe/Berlin

      uno-schedule calendar --window 24h --json
    """
    from unoschedule.timeutil import parse_duration

    from . import calendar as cal
    from .nextruns import parse_from

    try:
        span = parse_duration(window, what="window")
        size = parse_duration(bucket, what="bucket") if bucket else None
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc)) from None
    zone = _zone(tz)
    try:
        start = parse_from(from_, zone) or datetime.now(UTC)
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--from'") from None
    with _scheduler(ctx) as scheduler:
        rows = _run(scheduler.list_schedules())
        zone_name = tz or scheduler.options.timezone or "UTC"
        if zone is None:
            zone = _zone(zone_name) or UTC
        hidden = {r["name"]: str(r["status"]) for r in rows if r.get("status") != "active"}
        timelines = scheduler.timelines(start)
        if size is None:
            columns = 96 if as_json else _columns(timelines)
            size = cal.choose_bucket(span, columns)
        data = cal.compute(
            timelines, cal.floor_local(start, size, zone), span, size, zone, zone_name, hidden
        )
    if as_json:
        output.print_json(cal.to_json(data))
        return
    con = output.console()
    for renderable in cal.render(data):
        con.print(renderable, overflow="ignore", crop=False, no_wrap=True)


def _columns(definitions: dict[str, Any]) -> int:
    label = min(28, max([len(n) for n in definitions] + [12]))
    width = int(output.console().width)
    return max(24, min(96, width - label - 10))


from . import ops as _ops  # noqa: E402, F401 - health, explain, backfill, logs, top

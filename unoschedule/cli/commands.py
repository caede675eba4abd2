"""The typer application: global options, one function per command, one error mapping.

Each command is a few lines over one library call. Library modules are imported inside
the command functions, so that ``--help`` and fast commands load only what they use;
rich is reached through ``output`` and only for human-readable tables.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from unoschedule.errors import ConfigError, ConfigErrors, UnoScheduleError

from . import output

if TYPE_CHECKING:
    from unoschedule.config import Config
    from unoschedule.scheduler import Scheduler

__all__ = ["app"]

T = TypeVar("T")

COMMAND_ORDER = (
    "run", "validate", "plan", "list", "status", "next-runs", "history", "stats",
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
        "  uno-schedule next-runs backup --count 3 --json"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    config: Path
    state: str | None


# -- shared helpers ---------------------------------------------------------------------


def _globals(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    if isinstance(obj, Globals):
        return obj
    return Globals(Path("schedules.yaml"), None)


def _load(ctx: typer.Context) -> Config:
    from unoschedule.config import load_config

    return load_config(_globals(ctx).config)


@contextmanager
def _scheduler(ctx: typer.Context, *, create_state: bool = False) -> Iterator[Scheduler]:
    """The library's scheduler over the YAML file (read-only commands create no state)."""
    from unoschedule.scheduler import Scheduler

    g = _globals(ctx)
    config = _load(ctx)
    scheduler = Scheduler.from_config(config, state=g.state, create_state=create_state)
    try:
        yield scheduler
    finally:
        scheduler.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio  # lazily: it costs as much as typer itself

    return asyncio.run(coro)


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    from unoschedule.timeutil import get_zone

    try:
        return get_zone(name)
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--tz'") from None


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts (no colour).")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]
TzOption = Annotated[
    str | None, typer.Option("--tz", help="Show instants in this IANA zone instead of UTC.")
]


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option(
            "-c", "--config", envvar="UNO_SCHEDULE_CONFIG", metavar="FILE",
            help="The schedule file.",
        ),
    ] = Path("schedules.yaml"),
    state: Annotated[
        str | None,
        typer.Option(
            "--state", envvar="UNO_SCHEDULE_STATE", metavar="FILE",
            help="The state file (default: scheduler.state in the YAML file, else "
            "uno-schedule.db beside it).",
        ),
    ] = None,
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
    ctx.obj = Globals(config, state or None)


# -- run, validate, plan, schema ---------------------------------------------------------


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the scheduler: fire due jobs and record them in the state, until SIGTERM.

    Only one instance leads per state file; a second one waits as a standby and takes
    over when the leader dies. SIGHUP (or a change of the file) reloads the schedules.

    Examples:

      uno-schedule run

      uno-schedule -c /etc/uno-schedule/schedules.yaml --state /var/lib/uno/state.db run
    """
    from unoschedule.scheduler import Scheduler

    g = _globals(ctx)
    scheduler = Scheduler.from_config(_load(ctx), state=g.state, create_state=True)
    raise typer.Exit(scheduler.run_forever())


@app.command()
def validate(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE]...", help="Files to check (default: the --config file)."),
    ] = None,
) -> None:
    """Check the schedule file; list every error as FILE:LINE:COLUMN: message.

    Exits 1 when there is any error, so it fits CI and pre-commit hooks.

    Examples:

      uno-schedule validate

      uno-schedule validate schedules.yaml other.yaml
    """
    from unoschedule.config import load_config

    errors: list[ConfigError] = []
    for path in files or [_globals(ctx).config]:
        try:
            config = load_config(path)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        except ConfigError as exc:
            errors.append(exc)
            continue
        n = len(config.schedules)
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
    with _scheduler(ctx) as scheduler:
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
        ("+", "green", result.added), ("~", "yellow", result.changed), ("-", "red", result.removed)
    ):
        for entry in entries:
            con.print(Text(f"\n{sign} {entry.name}", style=f"bold {style}"))
            if entry.diff:
                con.print(Syntax(entry.diff.rstrip("\n"), "diff", theme="ansi_dark",
                                 background_color="default"))
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

    Examples:

      uno-schedule list

      uno-schedule list --status paused

      uno-schedule list --tag reports --json
    """
    zone = _zone(tz)
    with _scheduler(ctx) as scheduler:
        rows = _run(scheduler.list_schedules(status=status, tags=tag or None))
    if as_json:
        output.print_json(rows)
        return
    now = datetime.now(UTC)
    from .ops import paused_note

    table = output.table(
        ["name", "type", "schedule", "status", "next run", "last result"],
        (
            [
                output.esc(r["name"]),
                output.esc(r["type"]),
                output.esc(_list_description(r)),
                output.styled_result(r.get("status")) + paused_note(r, zone),
                output.esc(output.when(r.get("next_run"), zone, now)),
                output.styled_result(r.get("last_result")),
            ]
            for r in rows
        ),
    )
    output.console().print(table)
    if not rows:
        output.err("no schedules match" if status or tag else "no schedules in the file")


def _list_description(row: dict[str, Any]) -> str:
    text = str(row.get("description") or "")
    zone = row.get("timezone")
    if zone and row.get("type") in _CALENDAR_KINDS and str(zone) not in text:
        text += f", {zone}"
    return text


@app.command()
def status(
    ctx: typer.Context, name: NameArg, tz: TzOption = None, as_json: JsonOption = False
) -> None:
    """Show one schedule's status record: last and next run, counts, average duration.

    Examples:

      uno-schedule status backup

      uno-schedule status backup --json
    """
    zone = _zone(tz)
    with _scheduler(ctx) as scheduler:
        record = _run(scheduler.get_schedule_status(name))
    if as_json:
        output.print_json(record)
        return
    shown = dict(record)
    for key in ("last_run", "next_run"):
        if record.get(key):
            shown[key] = output.when(record[key], zone)
    output.console().print(output.kv_table(shown))


@app.command("next-runs")
def next_runs(
    ctx: typer.Context,
    name: NameArg,
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, help="How many fire instants.")
    ] = 5,
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="INSTANT",
                     help="Start after this ISO 8601 instant (default: now; naive: in --tz)."),
    ] = None,
    tz: TzOption = None,
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

    zone = _zone(tz)
    try:
        after = parse_from(from_, zone)
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--from'") from None
    g = _globals(ctx)
    text = render(next_run_times(g.config, g.state, name, count, after), zone, as_json)
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
    zone = _zone(tz)
    with _scheduler(ctx) as scheduler:
        if versions:
            records = _run(scheduler.get_schedule_versions(name))
        else:
            records = _run(scheduler.get_schedule_history(name, limit=limit))
        paused = [] if versions or as_json else _run(scheduler.get_pauses(name))
    if as_json:
        output.print_json(records)
        return
    if versions:
        _print_versions(records, zone)
        return
    output.console().print(
        output.table(
            ["run", "scheduled", "trigger", "attempt", "started", "duration", "result", "error"],
            (
                [
                    output.esc(r.get("run_id")),
                    output.esc(output.when(r.get("scheduled_time"), zone, ago=False)),
                    output.esc(r.get("trigger")),
                    output.esc(r.get("attempt")),
                    output.esc(output.when(r.get("started_at"), zone, ago=False))
                    if r.get("started_at") else None,
                    f"{r['duration']:.3g}s" if r.get("duration") is not None else None,
                    output.styled_result(r.get("result")),
                    output.esc(_one_line(r.get("error"))) if r.get("error") else None,
                ]
                for r in records
            ),
            title=f"{name}: {len(records)} run{'s' if len(records) != 1 else ''}",
        )
    )
    from .ops import print_pauses

    print_pauses(paused, zone)


def _one_line(text: Any, width: int = 80) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _print_versions(records: list[dict[str, Any]], zone: tzinfo | None) -> None:
    from rich.syntax import Syntax
    from rich.text import Text

    con = output.console()
    if not records:
        con.print(Text("no versions recorded (the scheduler has not seen this schedule yet)"))
    for v in records:
        con.print(Text.assemble(
            (f"version {v.get('version')}", "bold"),
            f"  {output.when(v.get('changed_at'), zone, ago=False)}  {v.get('changelog') or ''}",
            (f"  ({v.get('source')})" if v.get("source") else "", "dim"),
        ))
        if v.get("diff"):
            con.print(Syntax(str(v["diff"]).rstrip("\n"), "diff", theme="ansi_dark",
                             background_color="default"))


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show scheduler statistics: schedules, jobs triggered, success rate, uptime.

    Examples:

      uno-schedule stats

      uno-schedule stats --json
    """
    with _scheduler(ctx) as scheduler:
        record = _run(scheduler.get_statistics())
    if as_json:
        output.print_json(record)
        return
    output.console().print(output.kv_table(record))


# -- control -----------------------------------------------------------------------------


def _target(name: str | None, all_: bool) -> None:
    if bool(name) == all_:
        raise typer.BadParameter("give a schedule NAME or --all (not both)")


AllOption = Annotated[bool, typer.Option("--all", help="Every schedule.")]


@app.command()
def pause(ctx: typer.Context, name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="The schedule's name.")
    ] = None,
          all_: AllOption = False,
          reason: Annotated[str | None, typer.Option(
              "--reason", metavar="TEXT", help="Why (shown by status and list).")] = None,
          until: Annotated[str | None, typer.Option(
              "--until", metavar="INSTANT|DURATION",
              help="Resume by itself then: an ISO 8601 instant or a duration (2h).")] = None,
          ) -> None:
    """Pause a schedule (or every one with --all): it stops firing until resumed.

    Examples:

      uno-schedule pause backup

      uno-schedule pause backup --reason "disk replacement" --until 2h

      uno-schedule pause --all
    """
    _target(name, all_)
    from unoschedule import pauses

    why: dict[str, Any] = {"by": pauses.current_user(), "reason": reason or None}
    if until:
        try:
            why["until"] = pauses.parse_until(until, datetime.now(UTC))
        except UnoScheduleError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--until'") from None
    with _scheduler(ctx, create_state=True) as scheduler:
        if all_:
            changed = _run(scheduler.pause(**why))
            typer.echo(f"paused {len(changed)} schedule{'s' if len(changed) != 1 else ''}"
                       + (": " + ", ".join(changed) if changed else ""))
        elif _run(scheduler.pause_schedule(str(name), **why)):
            typer.echo(f"paused {name}")
        else:
            typer.echo(f"{name} was not active; nothing changed")


@app.command()
def resume(ctx: typer.Context, name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="The schedule's name.")
    ] = None,
           all_: AllOption = False) -> None:
    """Resume a paused schedule (or every paused one with --all).

    Examples:

      uno-schedule resume backup

      uno-schedule resume --all
    """
    _target(name, all_)
    with _scheduler(ctx, create_state=True) as scheduler:
        if all_:
            changed = _run(scheduler.resume())
            typer.echo(f"resumed {len(changed)} schedule{'s' if len(changed) != 1 else ''}"
                       + (": " + ", ".join(changed) if changed else ""))
        elif _run(scheduler.resume_schedule(str(name))):
            typer.echo(f"resumed {name}")
        else:
            typer.echo(f"{name} was not paused; nothing changed")


def _kwargs(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    from unoschedule.config.yamltext import parse_value
    from unoschedule.errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--kwarg'")
        try:
            out[key] = parse_value(value) if value else ""
        except ConfigError as exc:
            raise typer.BadParameter(f"{key}: {exc}", param_hint="'--kwarg'") from None
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
        typer.Option("--kwarg", metavar="KEY=VALUE",
                     help="Override one kwarg; VALUE is read as YAML (repeatable)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the result; exit 1 if the run failed. "
                                          "With no scheduler running, run it here.")
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
    kwargs = _kwargs(kwarg)
    args = list(arg) if arg else None
    with _scheduler(ctx, create_state=True) as scheduler:
        if not wait:
            run_id = _run(scheduler.trigger_now(name, args=args, kwargs=kwargs))
            if as_json:
                output.print_json({"run_id": run_id, "result": "queued"})
            else:
                typer.echo(run_id)
            if not scheduler.leader_running():
                output.err("note: no scheduler is running; the run waits until one starts")
            return
        if scheduler.leader_running():
            run_id = _run(scheduler.trigger_now(name, args=args, kwargs=kwargs))
            if not as_json:
                typer.echo(run_id)
            record = _run(scheduler.wait_for_run(run_id))
        else:
            record = _run(scheduler.run_in_foreground(name, args=args, kwargs=kwargs))
            if not as_json:
                typer.echo(record.get("run_id", ""))
    if as_json:
        output.print_json(record)
    else:
        _report_run(record)
    if record.get("result") != "success":
        raise typer.Exit(1)


def _report_run(record: dict[str, Any]) -> None:
    result = record.get("result")
    duration = record.get("duration")
    took = f" in {duration:.3g}s" if isinstance(duration, int | float) else ""
    output.err(f"{result}{took}" + (f": {record['error']}" if record.get("error") else ""))
    if result != "success" and record.get("output"):
        output.err(str(record["output"]).rstrip("\n"))


@app.command()
def event(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="EVENT", help="The event's name.")],
    data: Annotated[
        str | None, typer.Option("--data", metavar="JSON", help="The event payload, a JSON object.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Raise an event: every schedule listening for it gets a run; prints the run ids.

    Examples:

      uno-schedule event inventory.low_stock

      uno-schedule event inventory.low_stock --data '{"sku": "A-42", "left": 3}'
    """
    payload: dict[str, Any] | None = None
    if data is not None:
        try:
            loaded = json.loads(data)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="'--data'") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="'--data'")
        payload = loaded
    with _scheduler(ctx, create_state=True) as scheduler:
        run_ids = _run(scheduler.trigger_event(name, payload))
        running = scheduler.leader_running()
    if as_json:
        output.print_json(run_ids)
    else:
        for run_id in run_ids:
            typer.echo(run_id)
    if not run_ids:
        output.err(f"note: no active schedule listens for event {name!r}")
    elif not running:
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
        str | None,
        typer.Option("--bucket", help="Column width such as 15m or 2h (default: fits).")
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
        if size is None:
            columns = 96 if as_json else _columns(scheduler.definitions)
            size = cal.choose_bucket(span, columns)
        data = cal.compute(
            scheduler.definitions, scheduler.options.timezone,
            cal.floor_local(start, size, zone), span, size, zone, zone_name, hidden, start,
        )
    if as_json:
        output.print_json(cal.to_json(data))
        return
    con = output.console()
    for renderable in cal.render(data):
        con.print(renderable, overflow="ignore", crop=False, no_wrap=True)


def _columns(definitions: dict[str, Any]) -> int:
    label = min(28, max([len(n) for n in definitions] + [12]))
    width = output.console().width
    return max(24, min(96, width - label - 10))


from . import ops as _ops  # noqa: E402, F401 - health, explain, backfill, logs, top

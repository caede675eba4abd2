"""The commands about schedules and their runs: run, validate, plan, list, status,
next-runs, history, stats, pause, resume, trigger, event, calendar, schema.

This is the one declaration of their command line. The everyday commands collect their
options and call the function of the same name in ``actions`` (typer-free, so that
``fastpath`` can call it too); the others are a few lines over one library call (the
``Scheduler``'s synchronous face), then printing. The options and the scheduler every
command shares are in ``app``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from unoschedule.errors import StateError, UnoScheduleError

from . import actions, output
from .application import (
    JsonOption,
    NameArg,
    OptionalName,
    OutputOption,
    TzOption,
    app,
    call,
    check_state_folder,
    globals_of,
    load,
    scheduler_for,
    zone,
)

__all__: list[str] = []

#: The most fire instants ``next-runs`` lists: a hundred thousand take a few seconds;
#: an unbounded count would run until memory ran out, with nothing printed.
MAX_NEXT_RUNS = 100_000


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
    from unoschedule.shell import runner

    g = globals_of(ctx)  # a state in a folder that does not exist yet: run creates it
    raise typer.Exit(runner(g.config, g.state, queues=queues).run_forever())


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
            help=(
                "A job whose worker is silent this long is taken over by another worker; "
                "one whose heartbeats miss Redis for 0.8 of it is killed where it runs, "
                "so a short timeout kills sound jobs on a loaded host."
            ),
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

    g = globals_of(ctx)
    scheduler = Scheduler.from_config(load(ctx), state=g.state, create_state=False)
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

    Exits 1 when there is any error, so it fits CI and pre-commit hooks. With a state,
    the --config file is also checked against it as `run` checks it: a file that no
    longer declares a schedule which one made through the API runs after (`after:`) is
    an error, with the message `run` gives. FILE arguments are checked alone. A file
    that has not changed since the state last read it (same size, time and checksum,
    same uno-schedule version) is known to be valid without reading it again.

    Examples:

      uno-schedule validate

      uno-schedule validate schedules.yaml other.yaml

      uno-schedule validate --json
    """
    call(ctx, actions.validate, files=files, as_json=as_json)


@app.command()
def plan(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show what `run` would change in the state: added, changed and removed schedules.

    Each change comes with the diff of its definition and its next run times before and
    after. Without a state file every schedule is added. Nothing is written. When `run`
    would refuse the file for what the state holds (it no longer declares a schedule
    which one made through the API runs after), this prints `run`'s message and exits 1.

    Examples:

      uno-schedule plan

      uno-schedule plan --json
    """
    from unoschedule.scheduler import Scheduler

    check_state_folder(ctx)
    g = globals_of(ctx)
    with contextlib.closing(Scheduler.from_config(load(ctx), state=g.state)) as scheduler:
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
    form: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """List schedules: next run and time left, last run and time passed, last result.

    On a terminal the columns that do not fit its width are left out, least needed
    first (the schedule, the last run's instant, the type...); -o wide shows them all,
    and each schedule's description (its description: key) last.
    Piped (or with --plain) it prints every column, one schedule per line,
    tab-separated, after a header line: ready for grep, cut and awk. Times are in each
    schedule's own zone unless --tz says otherwise. When no scheduler is running, it
    says so on stderr and promises no next run.

    Examples:

      uno-schedule list

      uno-schedule list --status paused

      uno-schedule list -o wide

      uno-schedule list --tag reports --json

      uno-schedule list | cut -f1,5
    """
    call(ctx, actions.list_, status=status, tag=tag, tz=tz, form=form, as_json=as_json)


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
    call(ctx, actions.status, name=name, tz=tz, as_json=as_json)


@app.command("next-runs")
def next_runs(
    ctx: typer.Context,
    name: NameArg,
    count: Annotated[
        int,
        typer.Option(
            "-n",
            "--count",
            min=1,
            max=MAX_NEXT_RUNS,
            help=f"How many fire instants (at most {MAX_NEXT_RUNS:,}).",
        ),
    ] = 5,
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
            "or an IANA zone (default: UTC, …Z); --json is always UTC.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the next fire instants of a schedule.

    Needs no state file and creates none; with one, an interval continues from where the
    state anchors it, as the scheduler runs it. Instants are UTC (…Z) unless --tz is given.

    Examples:

      uno-schedule next-runs backup

      uno-schedule next-runs backup --count 3 --from 2026-03-28T00:00:00Z --json

      uno-schedule next-runs backup --tz Europe/Berlin
    """
    call(ctx, actions.next_runs, name=name, count=count, from_=from_, tz=tz, as_json=as_json)


@app.command()
def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[
        int, typer.Option("-n", "--limit", min=1, help="How many runs (or versions).")
    ] = 50,
    versions: Annotated[
        bool, typer.Option("--versions", help="Show definition versions with diffs instead.")
    ] = False,
    tz: TzOption = None,
    form: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a schedule's runs, newest first, or its definition versions with diffs.

    On a terminal run ids are shortened to a prefix no other run shares (every command
    that takes a run id takes such a prefix), and the columns that do not fit are left
    out (-o wide shows them all); piped and --json output give whole ids.

    Examples:

      uno-schedule history backup --limit 10

      uno-schedule history backup --versions

      uno-schedule history backup --json
    """
    call(
        ctx,
        actions.history,
        name=name,
        limit=limit,
        versions=versions,
        tz=tz,
        form=form,
        as_json=as_json,
    )


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show scheduler statistics: schedules, jobs triggered, success rate, uptime.

    Examples:

      uno-schedule stats

      uno-schedule stats --json
    """
    call(ctx, actions.stats, as_json=as_json)


# -- control -----------------------------------------------------------------------------


AllOption = Annotated[bool, typer.Option("--all", help="Every schedule.")]


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
    call(ctx, actions.pause, name=name, all_=all_, reason=reason, until=until, as_json=as_json)


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
    call(ctx, actions.resume, name=name, all_=all_, as_json=as_json)


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
            help="Wait for the result of the last attempt (retries included); exit 1 "
            "if it failed. With no scheduler running, run it here.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a schedule's job now (a manual run); prints its run id.

    The run is queued for the running scheduler. With --wait the command waits for the
    result of the last attempt, printing each attempt's outcome (running the job and its
    retries in the foreground when no scheduler runs), and exits non-zero if it failed.

    Examples:

      uno-schedule trigger backup

      uno-schedule trigger report --kwarg day=2026-03-01 --kwarg dry_run=true --wait

      uno-schedule trigger cleanup --arg /tmp --arg 7
    """
    call(ctx, actions.trigger, name=name, arg=arg, kwarg=kwarg, wait=wait, as_json=as_json)


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
    call(ctx, actions.event, name=name, data=data, as_json=as_json)


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
    instants where several schedules fire together, such as the midnight pile-up. The
    axis is in --tz, else in the file's scheduler.timezone (else UTC), and its columns
    follow that zone's clock: a day is a local day (23 or 25 hours when DST changes),
    the window counts that clock's days and hours, and an hour the clock skips has no
    column.

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
    with scheduler_for(ctx) as scheduler:
        zone_name = _axis_zone(tz, scheduler.options.timezone)
        shown = zone(zone_name)
        try:
            start = parse_from(from_, shown) or scheduler.clock.now()
        except UnoScheduleError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--from'") from None
        rows = scheduler.schedule_list()
        hidden = {r["name"]: str(r["status"]) for r in rows if r.get("status") != "active"}
        timelines = scheduler.timelines(start)
        if size is None:
            columns = 96 if as_json else _columns(timelines)
            size = cal.choose_bucket(span, columns)
        data = cal.compute(timelines, start, span, size, shown, zone_name, hidden)
    if as_json:
        output.print_json(cal.to_json(data))
        return
    con = output.console()
    for renderable in cal.render(data):
        con.print(renderable, overflow="ignore", crop=False, no_wrap=True)


def _axis_zone(tz: str | None, file_zone: str | None) -> str:
    """The one zone ``calendar`` both draws its axis in and names: ``--tz``, else (and
    for ``--tz schedule``) the file's ``scheduler.timezone``, the zone its schedules
    are read in unless they name their own; else UTC."""
    if tz and tz.lower() != "schedule":
        return tz
    return file_zone or "UTC"


def _columns(definitions: dict[str, Any]) -> int:
    label = min(28, max([len(n) for n in definitions] + [12]))
    width = int(output.console().width)
    return max(24, min(96, width - label - 10))


from .importing import import_app  # noqa: E402 - import crontab, import systemd-timer

app.add_typer(import_app, name="import")

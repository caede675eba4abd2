"""The commands about schedules and their runs: run, validate, plan, list, status,
next-runs, history, stats, pause, resume, trigger, event, calendar, schema.

Each command is a few lines over one library call (the ``Scheduler``'s synchronous face,
or ``unoschedule.shell`` for the records a shell shows), then printing. The options and
the scheduler every command shares are in ``app``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any

import typer

from unoschedule.errors import ConfigError, ConfigErrors, StateError, UnoScheduleError
from unoschedule.values import MAX_DEPTH, ValueLimitError, check_plain_value

from . import output
from .application import (
    JsonOption,
    NameArg,
    OptionalName,
    TzOption,
    app,
    check_state_folder,
    check_tz,
    globals_of,
    load,
    not_running,
    paused_note,
    print_pauses,
    run_async,
    scheduler_for,
    zone,
)

__all__: list[str] = []


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

    Exits 1 when there is any error, so it fits CI and pre-commit hooks. A file that
    has not changed since the state last read it (same size, time and checksum, same
    uno-schedule version) is known to be valid without reading it again.

    Examples:

      uno-schedule validate

      uno-schedule validate schedules.yaml other.yaml

      uno-schedule validate --json
    """
    from unoschedule.budget import descriptor_warnings
    from unoschedule.shell import checked_file

    errors: list[ConfigError] = []
    counts: list[tuple[Path, int]] = []
    g = globals_of(ctx)
    state = g.state if g.state and Path(g.state).expanduser().parent.is_dir() else None
    for path in files or [g.config]:
        try:
            count, options = checked_file(path, None if files else state)
            counts.append((path, count))
            for warning in descriptor_warnings(options):
                typer.echo(f"warning: {path}: {warning}", err=True)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
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
    from unoschedule.shell import schedule_list

    check_tz(tz)
    with scheduler_for(ctx) as scheduler:
        record = schedule_list(scheduler, status, tag or None, all_next_runs=as_json)
    if as_json:
        output.print_json(record["rows"])
        return
    rows = record["rows"]
    note = not_running(record["leader_status"], zone(tz, "UTC"))
    now = datetime.now(UTC)
    output.table(
        ["name", "type", "schedule", "status", "next run", "last result"],
        (
            [
                r["name"],
                r["type"],
                _list_description(r),
                str(r.get("status")) + paused_note(r, zone(tz, r.get("timezone"))),
                (
                    "not running"
                    if note and r.get("status") == "active" and r["type"] != "event"
                    else output.when(r.get("next_run"), zone(tz, r.get("timezone")), now)
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
    named = row.get("timezone")
    if named and row.get("type") in _CALENDAR_KINDS and str(named) not in text:
        text += f", {named}"
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
    from unoschedule.shell import status as status_record

    check_tz(tz)
    with scheduler_for(ctx) as scheduler:
        record = status_record(scheduler, name)
    if as_json:
        output.print_json(record)
        return
    shown = zone(tz, record["timezone"])
    note = not_running(record["leader_status"], shown)
    schedule = record["schedule"]
    next_run = output.when(record.get("next_run"), shown)
    if note and next_run:
        next_run = f"{note} (due {output.when(record.get('next_run'), shown, ago=False)})"
    elif note and not next_run:
        next_run = note
    output.kv(
        {
            "name": record["name"],
            "status": str(record["status"]) + paused_note(record, shown),
            "description": record.get("user_description"),
            "schedule": _schedule_text(schedule),
            "means": record.get("description"),
            "type": record["type"],
            "timezone": record["timezone"],
            "queue": record["queue"],
            "next run": next_run,
            "last run": output.when(record.get("last_run"), shown),
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
    """Print the next fire instants of a schedule.

    Needs no state file and creates none; with one, an interval continues from where the
    state anchors it, as the scheduler runs it. Instants are UTC (…Z) unless --tz is given.

    Examples:

      uno-schedule next-runs backup

      uno-schedule next-runs backup --count 3 --from 2026-03-28T00:00:00Z --json

      uno-schedule next-runs backup --tz Europe/Berlin
    """
    from unoschedule.shell import schedule_zone

    from .nextruns import parse_from, render

    check_tz(tz)
    with scheduler_for(ctx) as scheduler:
        shown: tzinfo | None = None
        if tz and tz.lower() == "schedule":
            shown = zone(None, schedule_zone(scheduler, name))
        elif tz:
            shown = zone(tz)
        try:
            after = parse_from(from_, shown)
        except UnoScheduleError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--from'") from None
        instants = scheduler.next_run_times(name, count, after)
    text = render(instants, shown, as_json)
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
    from unoschedule.shell import history as history_record

    check_tz(tz)
    with scheduler_for(ctx) as scheduler:
        found = history_record(scheduler, name, limit, versions=versions)
    records = found["records"]
    if as_json:
        output.print_json(records)
        return
    shown = zone(tz, found["timezone"])
    if versions:
        _print_versions(records, shown)
        return
    output.table(
        ["run", "scheduled", "trigger", "attempt", "started", "duration", "result", "error"],
        (
            [
                r.get("run_id"),
                output.when(r.get("scheduled_time"), shown, ago=False),
                r.get("trigger"),
                r.get("attempt"),
                output.when(r.get("started_at"), shown, ago=False),
                output.duration(r.get("duration")),
                r.get("result"),
                _one_line(r.get("error")) if r.get("error") else None,
            ]
            for r in records
        ),
        styled=("result",),
        title=f"{name}: {len(records)} run{'s' if len(records) != 1 else ''}",
    )
    print_pauses(found["pauses"], shown)


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
    with scheduler_for(ctx) as scheduler:
        record = scheduler.statistics()
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
    _target(name, all_)
    from unoschedule import pauses

    why: dict[str, Any] = {"by": pauses.current_user(), "reason": reason or None}
    if until:
        try:
            why["until"] = pauses.parse_until(until, datetime.now(UTC))
        except UnoScheduleError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--until'") from None
    with scheduler_for(ctx, create_state=True) as scheduler:
        if all_:
            _changed("paused", scheduler.pause_every(**why), as_json)
            return
        done = scheduler.pause_one(str(name), **why)
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
    _target(name, all_)
    with scheduler_for(ctx, create_state=True) as scheduler:
        if all_:
            _changed("resumed", scheduler.resume_every_paused(), as_json)
            return
        done = scheduler.resume_one(str(name))
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
    kwargs = _kwargs(kwarg)
    args = list(arg) if arg else None
    if not wait:
        with scheduler_for(ctx, create_state=True) as scheduler:
            run_id = scheduler.trigger(name, args, kwargs)
            _queued(run_id, as_json, scheduler.leader_running())
        return
    from unoschedule.scheduler import Scheduler

    check_state_folder(ctx)
    g = globals_of(ctx)
    config = load(ctx)
    attempts: list[dict[str, Any]] = []
    with contextlib.closing(
        Scheduler.from_config(config, state=g.state, create_state=True)
    ) as scheduler:
        record = run_async(
            scheduler.run_and_wait(
                name,
                args=args,
                kwargs=kwargs,
                on_run_id=None if as_json else typer.echo,
                on_attempt=attempts.append if as_json else _report_run,
            )
        )
    if as_json:
        output.print_json({**record, "attempts": attempts})
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
    """One attempt's outcome, as it ends (a failed attempt may be retried)."""
    result = record.get("result")
    took = output.duration(record.get("duration"))
    attempt = record.get("attempt") or 1
    output.err(
        ("" if attempt == 1 and result == "success" else f"attempt {attempt}: ")
        + f"{result}"
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
    with scheduler_for(ctx, create_state=True) as scheduler:
        run_ids = scheduler.raise_event(name, payload)
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
    shown = zone(tz)
    try:
        start = parse_from(from_, shown) or datetime.now(UTC)
    except UnoScheduleError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--from'") from None
    with scheduler_for(ctx) as scheduler:
        rows = scheduler.schedule_list()
        zone_name = tz or scheduler.options.timezone or "UTC"
        hidden = {r["name"]: str(r["status"]) for r in rows if r.get("status") != "active"}
        timelines = scheduler.timelines(start)
        if size is None:
            columns = 96 if as_json else _columns(timelines)
            size = cal.choose_bucket(span, columns)
        data = cal.compute(
            timelines, cal.floor_local(start, size, shown), span, size, shown, zone_name, hidden
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


from .importing import import_app  # noqa: E402 - import crontab, import systemd-timer

app.add_typer(import_app, name="import")

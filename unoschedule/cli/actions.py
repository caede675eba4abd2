"""What the everyday commands do (list, status, next-runs, history, stats, validate,
pause, resume, trigger, event): plain functions over one library call each, then printing.

The command line itself is declared once, with typer, in ``commands``; each of those
commands collects its options and calls the function of the same name here with the
global options (``session.Globals``) and its own values as keywords. Nothing here imports
typer, so that ``fastpath`` can call the same function when it understands the command
line from the table derived from that declaration. Usage errors are ``UsageError``,
exit statuses ``CommandFailed``: the caller reports them.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unoschedule.errors import (
    CommandFailed,
    ConfigError,
    ConfigErrors,
    UnoScheduleError,
    UsageError,
)
from unoschedule.values import MAX_DEPTH, ValueLimitError, check_plain_value

from . import output
from .fitting import Column
from .session import Globals, check_tz, run_async, scheduler_for, zone

if TYPE_CHECKING:
    from unoschedule.model import ScheduleDefinition

__all__ = [
    "EVERYDAY",
    "event",
    "history",
    "list_",
    "next_runs",
    "pause",
    "resume",
    "stats",
    "status",
    "trigger",
    "validate",
]

#: The everyday commands and the function here that each calls: what ``fastpath`` may
#: run without typer (``make docs`` writes their table, ``commands.json``).
EVERYDAY = {
    "validate": "validate",
    "list": "list_",
    "status": "status",
    "next-runs": "next_runs",
    "history": "history",
    "stats": "stats",
    "pause": "pause",
    "resume": "resume",
    "trigger": "trigger",
    "event": "event",
}


# -- validate ------------------------------------------------------------------------------


def validate(g: Globals, *, files: list[Path] | None, as_json: bool) -> None:
    from unoschedule.budget import descriptor_warnings
    from unoschedule.shell import checked_file

    errors: list[ConfigError] = []
    counts: list[tuple[Path, int]] = []
    state = g.state or None  # a path where no state is (yet) judges the file alone
    for path in files or [g.config]:
        try:
            # FILE arguments are judged alone; the --config file also as run judges it
            count, options = checked_file(path, None if files else state, against_state=not files)
            counts.append((path, count))
            for warning in descriptor_warnings(options):
                output.err(f"warning: {path}: {warning}")
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
            raise CommandFailed(1)
        return
    for path, n in counts:
        output.echo(f"ok: {n} schedule{'s' if n != 1 else ''}" + (f" in {path}" if files else ""))
    if errors:
        raise ConfigErrors(errors)


# -- observation ---------------------------------------------------------------------------


_CALENDAR_KINDS = ("cron", "daily", "weekly", "monthly")


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


def list_(
    g: Globals,
    *,
    status: str | None,
    tag: list[str] | None,
    tz: str | None,
    form: str | None = None,
    as_json: bool,
) -> None:
    from unoschedule.shell import schedule_list

    check_tz(tz)
    wide = output.is_wide(form)
    with scheduler_for(g) as scheduler:
        record = schedule_list(scheduler, status, tag or None, all_next_runs=as_json)
    if as_json:
        output.print_json(record["rows"])
        return
    rows = record["rows"]
    note = not_running(record["leader_status"], zone(tz, "UTC"))
    now = datetime.now(UTC)
    shown = []
    for r in rows:
        here = zone(tz, r.get("timezone"))
        next_run = _next_of(r, bool(note))
        last_run = r.get("last_run")
        shown.append(
            [
                r["name"],
                r["type"],
                output.instants_in(_list_description(r), here),
                r.get("status"),
                output.when(next_run, here, ago=False) if next_run else _no_next(r, bool(note)),
                output.until(next_run, now) if next_run else None,
                output.when(last_run, here, ago=False),
                output.since(last_run, now),
                r.get("last_result"),
                paused_note(r, here).strip(" ()"),
                *([r.get("user_description")] if wide else []),
            ]
        )
    columns = [
        Column("name"),
        Column("type", drop=6),
        Column("schedule", drop=4, shorten=True),
        Column("status", styled=True),
        Column("next", drop=2),
        Column("left"),
        Column("last", drop=5),
        Column("passed", drop=3),
        Column("result", drop=1, styled=True),
        Column("why", drop=7, shorten=True),
    ]
    if wide:  # last, and only here: the plain rows scripts cut keep their columns
        columns.append(Column("description", shorten=True))
    output.table(columns, shown, wide=wide)
    if note:
        output.err(f"note: {note}; nothing fires until it starts")
    if not rows:
        output.err("no schedules match" if status or tag else "no schedules in the file")


def _next_of(row: dict[str, Any], stopped: bool) -> str | None:
    """The next run ``list`` promises: none for a schedule that does not fire by the
    clock (paused, disabled, completed, an event's), nor for any while no scheduler runs."""
    if stopped or row.get("status") != "active" or row.get("type") in ("event", "after"):
        return None
    return row.get("next_run") or None


def _no_next(row: dict[str, Any], stopped: bool) -> str:
    """What ``list`` shows instead of a next run: why there is none."""
    if row.get("type") in ("event", "after") and row.get("status") == "active":
        return "on event" if row.get("type") == "event" else "after a run"
    if row.get("status") != "active":
        return ""
    return "not running" if stopped else ""


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


def status(g: Globals, *, name: str, tz: str | None, as_json: bool) -> None:
    from unoschedule.shell import status as status_record

    check_tz(tz)
    with scheduler_for(g) as scheduler:
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


def next_runs(
    g: Globals, *, name: str, count: int, from_: str | None, tz: str | None, as_json: bool
) -> None:
    from unoschedule.shell import schedule_zone

    from .nextruns import parse_from, render

    check_tz(tz)
    with scheduler_for(g) as scheduler:
        shown: tzinfo | None = None
        if tz and tz.lower() == "schedule":
            shown = zone(None, schedule_zone(scheduler, name))
        elif tz:
            shown = zone(tz)
        try:
            after = parse_from(from_, shown)
        except UnoScheduleError as exc:
            raise UsageError(str(exc), param_hint="'--from'") from None
        instants = scheduler.next_run_times(name, count, after)
        definition = scheduler.definition(name) if not instants and not as_json else None
    text = render(instants, shown, as_json)
    if text:
        output.echo(text)
    elif definition is not None:  # a person asked: say why nothing is coming
        output.err(_why_no_runs(definition))


def _why_no_runs(definition: ScheduleDefinition) -> str:
    """Why ``next-runs`` lists nothing for ``definition``."""
    name, chain = definition.name, definition.after
    if chain is not None:
        ends = {"success": "succeeds", "failure": "fails"}.get(chain.on)
        which = f"that {ends}" if ends else "as it ends"
        return f"{name} runs after each run of {chain.schedule} {which}, not by the clock"
    event = getattr(definition.schedule, "event", None)
    if event is not None:
        return f"{name} runs when the event {event} is raised (uno-schedule event {event})"
    return f"{name} has no run to come"


def history(
    g: Globals,
    *,
    name: str,
    limit: int,
    versions: bool,
    tz: str | None,
    form: str | None = None,
    as_json: bool,
) -> None:
    from unoschedule.shell import history as history_record
    from unoschedule.shell import short_run_ids

    check_tz(tz)
    wide = output.is_wide(form)
    with scheduler_for(g) as scheduler:
        found = history_record(scheduler, name, limit, versions=versions)
        records = found["records"]
        # shortened on a terminal; whole for scripts (a prefix unique now may not stay so)
        short = (
            {}
            if as_json or versions or output.is_plain()
            else short_run_ids(scheduler, (r.get("run_id") for r in records))
        )
    if as_json:
        output.print_json(records)
        return
    shown = zone(tz, found["timezone"])
    if versions:
        _print_versions(records, shown)
        return
    output.table(
        [
            Column("run"),
            Column("scheduled", drop=2),
            Column("trigger", drop=4),
            Column("attempt", drop=5),
            Column("started", drop=3),
            Column("duration", drop=1),
            Column("result", styled=True),
            Column("error", drop=2, shorten=True),
        ],
        (
            [
                short.get(r.get("run_id") or "", r.get("run_id")),
                output.when(r.get("scheduled_time"), shown, ago=False),
                r.get("trigger"),
                r.get("attempt"),
                output.when(r.get("started_at"), shown, ago=False),
                output.duration(r.get("duration")),
                r.get("result"),
                output.instants_in(r.get("error"), shown),
            ]
            for r in records
        ),
        title=f"{name}: {len(records)} run{'s' if len(records) != 1 else ''}",
        wide=wide,
    )
    _print_pauses(found["pauses"], shown)


def _print_pauses(pauses: list[dict[str, Any]], zone: Any) -> None:
    """Below ``history``: the latest pauses, who made them and why (a table on a
    terminal, fitted like the runs above it)."""
    if not output.is_plain():
        if pauses:
            output.table(
                [
                    Column("paused"),
                    Column("until", drop=3),
                    Column("by", drop=2),
                    Column("reason", drop=1, shorten=True),
                    Column("resumed"),
                ],
                (
                    [
                        output.when(p["paused_at"], zone, ago=False),
                        output.when(p["paused_until"], zone, ago=False),
                        p["paused_by"],
                        p["paused_reason"] or "no reason given",
                        output.when(p["resumed_at"], zone, ago=False) or "still paused",
                    ]
                    for p in pauses
                ),
                title="pauses",
            )
        return
    for p in pauses:
        until = (
            f" until {output.when(p['paused_until'], zone, ago=False)}" if p["paused_until"] else ""
        )
        ended = (
            f", resumed {output.when(p['resumed_at'], zone, ago=False)}"
            if p["resumed_at"]
            else " (still paused)"
        )
        output.echo(
            f"paused {output.when(p['paused_at'], zone, ago=False)}{until}"
            f" by {p['paused_by'] or '?'}: {p['paused_reason'] or 'no reason given'}{ended}"
        )


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


def stats(g: Globals, *, as_json: bool) -> None:
    with scheduler_for(g) as scheduler:
        record = scheduler.statistics()
    if as_json:
        output.print_json(record)
        return
    shown: dict[str, Any] = {k.replace("_", " "): v for k, v in record.items()}
    shown["success rate"] = output.rate(record.get("success_rate"))
    shown["scheduler uptime"] = (
        output.duration(record.get("scheduler_uptime")) if record.get("leader") else "not running"
    )
    now = datetime.now(UTC)
    shown["leader lease until"] = output.when(record.get("leader_lease_until"), UTC, now)
    for role in ("standbys", "workers"):
        shown[role] = ", ".join(
            p["instance_id"]
            + (f" [{','.join(p['queues'])}]" if p.get("queues") else "")
            + f" (seen {output.since(p['seen_at'], now)})"
            for p in record.get(role) or []
        )
    output.kv(shown)


# -- control -------------------------------------------------------------------------------


def _target(name: str | None, all_: bool) -> None:
    if bool(name) == all_:
        raise UsageError("give a schedule NAME or --all (not both)")


def _changed(verb: str, changed: list[str], as_json: bool) -> None:
    if as_json:
        output.print_json({"changed": changed})
        return
    output.echo(
        f"{verb} {len(changed)} schedule{'s' if len(changed) != 1 else ''}"
        + (": " + ", ".join(changed) if changed else "")
    )


def pause(
    g: Globals,
    *,
    name: str | None,
    all_: bool,
    reason: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    _target(name, all_)
    from unoschedule import pauses

    why: dict[str, Any] = {"by": pauses.current_user(), "reason": reason or None}
    if until:
        try:
            why["until"] = pauses.parse_until(until, datetime.now(UTC))
        except UnoScheduleError as exc:
            raise UsageError(str(exc), param_hint="'--until'") from None
    with scheduler_for(g, create_state=True) as scheduler:
        if all_:
            _changed("paused", scheduler.pause_every(**why), as_json)
            return
        done = scheduler.pause_one(str(name), **why)
    if as_json:
        output.print_json({"changed": [name] if done else []})
    elif done:
        output.echo(f"paused {name}")
    else:
        output.echo(f"{name} was not active; its status stays as it was")


def resume(g: Globals, *, name: str | None, all_: bool, as_json: bool) -> None:
    _target(name, all_)
    with scheduler_for(g, create_state=True) as scheduler:
        if all_:
            _changed("resumed", scheduler.resume_every_paused(), as_json)
            return
        done = scheduler.resume_one(str(name))
    if as_json:
        output.print_json({"changed": [name] if done else []})
    elif done:
        output.echo(f"resumed {name}")
    else:
        output.echo(f"{name} was not paused; nothing changed")


def _kwargs(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    from unoschedule.config.yamltext import parse_value

    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"{item!r} is not KEY=VALUE", param_hint="'--kwarg'")
        try:
            out[key] = parse_value(value) if value else ""
        except ConfigError as exc:
            raise UsageError(f"{key}: {exc}", param_hint="'--kwarg'") from None
        check_plain_value(out[key], f"--kwarg {key}")  # one line, not a RecursionError
    return out


def trigger(
    g: Globals,
    *,
    name: str,
    arg: list[str] | None,
    kwarg: list[str] | None,
    wait: bool,
    as_json: bool,
) -> None:
    kwargs = _kwargs(kwarg)
    args = list(arg) if arg else None
    if not wait:
        with scheduler_for(g, create_state=True) as scheduler:
            run_id = scheduler.trigger(name, args, kwargs)
            _queued(run_id, as_json, scheduler.leader_running())
        return
    attempts: list[dict[str, Any]] = []
    with scheduler_for(g, create_state=True) as scheduler:
        scheduler.hook_log = output.err
        record = run_async(
            scheduler.run_and_wait(
                name,
                args=args,
                kwargs=kwargs,
                on_run_id=None if as_json else output.echo,
                on_attempt=attempts.append if as_json else _report_run,
            )
        )
    if as_json:
        output.print_json({**record, "attempts": attempts})
    if record.get("result") != "success":
        raise CommandFailed(1)


def _queued(run_id: str, as_json: bool, running: bool) -> None:
    if as_json:
        output.print_json({"run_id": run_id, "result": "queued"})
    else:
        output.echo(run_id)
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


def event(g: Globals, *, name: str, data: str | None, as_json: bool) -> None:
    payload: dict[str, Any] | None = None
    if data is not None:
        text = _data_text(data)
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"not JSON: {exc}", param_hint="'--data'") from None
        except RecursionError:
            raise ValueLimitError(f"--data is nested more than {MAX_DEPTH} levels deep") from None
        if not isinstance(loaded, dict):
            raise UsageError("must be a JSON object", param_hint="'--data'")
        check_plain_value(loaded, "--data")
        payload = loaded
    with scheduler_for(g, create_state=True) as scheduler:
        run_ids = scheduler.raise_event(name, payload)
        running = scheduler.leader_running()
    if not run_ids:
        raise UnoScheduleError(f"no active schedule listens for event {name!r}; nothing queued")
    if as_json:
        output.print_json(run_ids)
    else:
        for run_id in run_ids:
            output.echo(run_id)
    if not running:
        output.err("note: no scheduler is running; the runs wait until one starts")

"""Commands for operating a runner: health, explain, backfill, logs, top.

Registered on the one typer app (``app``); each command is a few lines over one library
call, with ``--json`` for scripts and one-line errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from unoschedule.errors import UnoScheduleError

from . import output
from .application import (
    JsonOption,
    NameArg,
    OutputOption,
    TzOption,
    app,
    run_async,
    scheduler_for,
    zone,
)
from .fitting import Column

__all__ = ["fold_occurrences", "parse_when"]


def parse_when(text: str | None, now: datetime, option: str) -> datetime | None:
    """An instant option: ISO 8601 (naive: UTC), ``now``, or a duration meaning that
    long ago (``30m``, ``2h``, ``7d``)."""
    if text is None:
        return None
    value = text.strip()
    if value.lower() == "now":
        return now
    from unoschedule.timeutil import parse_duration, parse_instant

    try:
        return now - parse_duration(value.removesuffix(" ago").removesuffix("ago"), what=option)
    except UnoScheduleError:
        pass
    try:
        return parse_instant(value, UTC)
    except UnoScheduleError:
        raise typer.BadParameter(
            f"{text!r} is neither an instant (2026-12-01T10:00:00Z) nor a duration ago (30m)",
            param_hint=f"'{option}'",
        ) from None


@app.command()
def health(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Exit 0 when a leader holds a current lease and no schedule is overdue, else 1.

    For systemd, Kubernetes probes and cron-style monitors: one line says why not.
    Overdue means a schedule with expect_success_within has not succeeded for that long.

    Examples:

      uno-schedule health

      uno-schedule health --json
    """
    with scheduler_for(ctx) as scheduler:
        record = run_async(scheduler.health())
    if as_json:
        output.print_json(record)
    elif record["healthy"]:
        typer.echo(record["reason"])
    else:
        output.err(f"unhealthy: {record['reason']}")
    if not record["healthy"]:
        raise typer.Exit(1)


@app.command("init-state")
def init_state(
    ctx: typer.Context,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: serve the state as it is now.")
    ] = False,
) -> None:
    """Serve a shared state again after it lost its identity (Redis restarted empty).

    Runners and workers that find the state they served gone (health says "the state
    lost its identity") fire nothing until this is run. Check the state first (restore
    a backup, or accept that its schedules, pauses and history are gone); running
    runners and workers then take it up within a second.

    Examples:

      uno-schedule --state redis://redis.internal:6379/0 init-state --yes
    """
    if not yes:
        output.err("init-state makes runners and workers serve the state as it is: add --yes")
        raise typer.Exit(2)
    with scheduler_for(ctx) as scheduler:
        identity = scheduler.reinitialise_state()
    typer.echo(f"state re-initialised (identity {identity}); runners and workers serve it again")


@app.command()
def explain(
    ctx: typer.Context,
    name: NameArg,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="INSTANT",
            help="Start of the window: ISO 8601 or a duration ago (default 24h, or the "
            "newest 10,000 occurrences if fewer; a window given may hold at most 10,000).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="INSTANT",
            help="End of the window: ISO 8601 or a duration ago (default now).",
        ),
    ] = None,
    tz: TzOption = None,
    form: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every occurrence a schedule should have had in a window and what became of it.

    Consecutive occurrences with the same outcome and no run of their own are shown as
    one line (their count, the first and last instant); --json lists every one.

    Outcomes: success, error, timeout, skipped (overlap, blackout window), missed, paused,
    interrupted, running, queued, outside_window (start/end dates), not_due, excluded
    (calendar).

    Examples:

      uno-schedule explain backup

      uno-schedule explain report --since 2026-03-01T00:00:00Z --until 2026-03-08T00:00:00Z

      uno-schedule explain tick --since 10m --json
    """
    from unoschedule.shell import schedule_zone, short_run_ids

    wide = output.is_wide(form)
    now = datetime.now(UTC)
    start, end = parse_when(since, now, "--since"), parse_when(until, now, "--until")
    with scheduler_for(ctx) as scheduler:
        rows = run_async(scheduler.explain(name, start, end))
        if as_json:
            output.print_json(rows)
            return
        shown = zone(tz, schedule_zone(scheduler, name))
        short = {} if output.is_plain() else short_run_ids(scheduler, (r["run_id"] for r in rows))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items(), key=lambda i: -i[1]))
    output.table(
        [
            Column("scheduled"),
            Column("count"),
            Column("outcome", styled=True),
            Column("run", drop=1),
            Column("detail", drop=2, shorten=True),
        ],
        (
            [
                output.when_range(first["scheduled_time"], last["scheduled_time"], shown),
                n,
                first["outcome"],
                short.get(first["run_id"] or "", first["run_id"]),
                output.instants_in(first["detail"], shown),
            ]
            for first, last, n in fold_occurrences(rows)
        ),
        title=f"{name}: {len(rows)} occurrences" + (f" ({summary})" if summary else ""),
        wide=wide,
    )


def fold_occurrences(
    rows: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], dict[str, Any], int]]:
    """``explain``'s occurrences for people: each run of consecutive occurrences with
    the same outcome and detail and no run of their own (288 ``not_due`` of a new
    ``*/5`` job) as one ``(first, last, count)``; an occurrence with a run stays alone."""
    out: list[tuple[dict[str, Any], dict[str, Any], int]] = []
    for row in rows:
        if out and not row["run_id"]:
            first, _, n = out[-1]
            if (
                not first["run_id"]
                and first["outcome"] == row["outcome"]
                and first["detail"] == row["detail"]
            ):
                out[-1] = (first, row, n + 1)
                continue
        out.append((row, row, 1))
    return out


@app.command()
def backfill(
    ctx: typer.Context,
    name: NameArg,
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="INSTANT",
            help="First instant (ISO 8601, or a duration ago such as 1h).",
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="INSTANT",
            help="Last instant, inclusive (ISO 8601, a duration ago, or now).",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the occurrences; queue nothing.")
    ] = False,
    max_: Annotated[
        int,
        typer.Option(
            "--max",
            min=1,
            max=100_000,
            help="Refuse more occurrences than this without --yes (at most 100,000).",
        ),
    ] = 1000,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Allow more than --max, up to 100,000 (one backfill's most)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run each occurrence of a past window with its own scheduled instant.

    Each run gets trigger `backfill` and sees its occurrence in $UNO_SCHEDULED_TIME; queue
    limits apply. An occurrence backfilled before is not queued again.

    Examples:

      uno-schedule backfill report --from 2026-03-01T00:00:00Z --to 2026-03-07T23:59:59Z

      uno-schedule backfill tick --from 10m --to now --dry-run
    """
    now = datetime.now(UTC)
    start, end = parse_when(from_, now, "--from"), parse_when(to, now, "--to")
    assert start is not None and end is not None
    with scheduler_for(ctx, create_state=not dry_run) as scheduler:
        record = run_async(
            scheduler.backfill(name, start, end, dry_run=dry_run, limit=max_, yes=yes)
        )
        running = scheduler.leader_running() if not dry_run else True
    if as_json:
        output.print_json(record)
    elif dry_run:
        for instant in record["occurrences"]:
            typer.echo(instant)
        output.err(f"{len(record['occurrences'])} occurrences (dry run: nothing queued)")
    else:
        for item in record["queued"]:
            typer.echo(f"{item['scheduled_time']}\t{item['run_id']}")
        again = len(record["already_queued"])
        output.err(
            f"queued {len(record['queued'])} backfill run(s) of {name}"
            + (f"; {again} were backfilled before" if again else "")
        )
    if not running:
        output.err("note: no scheduler is running; the runs wait until one starts")


@app.command()
def logs(
    ctx: typer.Context,
    name: NameArg,
    run_id: Annotated[
        str | None, typer.Argument(metavar="[RUN_ID]", help="A run (default: the latest).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing until the run ends.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Print the full output of a run (the latest one unless RUN_ID is given).

    Runs keep their whole output under scheduler.log_dir (default: beside the state
    file); when the file is gone, the tail kept in the state is printed, with a note.

    Examples:

      uno-schedule logs backup

      uno-schedule logs backup 1a2b3c4d5e6f7a8b9c0 --follow
    """
    import sys

    from unoschedule.shell import follow_output

    with scheduler_for(ctx) as scheduler:
        record = run_async(scheduler.get_run_output(name, run_id))
        if as_json:
            output.print_json(record)
            return
        sys.stdout.write(record["output"])
        sys.stdout.flush()
        if not record["complete"]:
            # on a terminal the note must not run on from an output without a final newline
            text = record["output"]
            apart = "\n" if text and not text.endswith("\n") and not output.is_plain() else ""
            output.err(f"{apart}note: only the end of run {record['run_id']}'s output was kept")
        if follow:
            for chunk in follow_output(scheduler, record):
                sys.stdout.write(chunk)
                sys.stdout.flush()


@app.command()
def top(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option("-n", "--rows", min=1, help="Rows per section.")] = 10,
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")] = False,
    tz: TzOption = None,
    form: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """A live view: running jobs, the next due schedules, the latest results.

    Refreshed every second until Ctrl-C. With --once (or --json) one snapshot is printed.
    Runs held by workers on other hosts are listed with the leader's; on a terminal each
    section gets as many rows as its height allows and the columns that fit its width.

    Examples:

      uno-schedule top

      uno-schedule top --once --rows 20

      uno-schedule top --json
    """
    import time

    from unoschedule.shell import schedule_zone, short_run_ids

    shown = zone(tz)
    own_zones = (tz or "schedule").lower() == "schedule"
    wide = output.is_wide(form)
    with scheduler_for(ctx) as scheduler:
        if as_json:
            output.print_json(run_async(scheduler.overview(rows)))
            return

        def snapshot() -> dict[str, Any]:
            data: dict[str, Any] = run_async(scheduler.overview(_rows_that_fit(rows)))
            if own_zones:  # each row in its schedule's zone, as list shows it
                names = {
                    r["schedule"] for part in ("running", "next", "recent") for r in data[part]
                }
                data["zones"] = {n: zone(None, schedule_zone(scheduler, n)) for n in names}
            if not output.is_plain():
                data["short"] = short_run_ids(
                    scheduler, (r["run_id"] for r in (*data["running"], *data["recent"]))
                )
            return data

        if once or output.is_plain():  # piped: a live redraw would be escape codes
            if output.is_plain():
                _top_plain(snapshot(), shown)
            else:
                output.console(wide=wide).print(_top_view(snapshot(), shown, wide))
            return
        from rich.live import Live

        try:
            with Live(
                _top_view(snapshot(), shown, wide),
                console=output.console(wide=wide),
                refresh_per_second=4,
                transient=False,
            ) as live:
                while True:
                    time.sleep(1.0)
                    live.update(_top_view(snapshot(), shown, wide))
        except KeyboardInterrupt:
            return


def _rows_that_fit(asked: int) -> int:
    """Rows per section: as asked, but on a terminal no more than its height holds
    (a header line, then three sections of a title, a header and a rule each)."""
    if output.is_plain():
        return asked
    height = int(output.console().height)
    return max(1, min(asked, (height - 1 - 3 * 3 - 1) // 3))


_Section = tuple[str, list[Column], list[list[Any]]]


def _top_sections(
    data: dict[str, Any], zone: Any
) -> tuple[list[tuple[str, int]], str, list[_Section]]:
    """What ``top`` shows, drawn by ``_top_view`` on a terminal and as plain rows
    when piped: its header's parts with how soon each is left out on a narrow terminal
    (``fitting.fit_line``), the leader part apart (red when none leads), and sections."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["counts"].items())) or "no schedules"
    leader = f"leader {data['leader']}" if data["leader"] else "no leader: nothing fires"
    now = output.when(data["now"], zone, ago=False)
    zones = data.get("zones", {})

    def at(instant: str | None, schedule: str) -> str:
        return output.when(instant, zones.get(schedule, zone))

    header = [("uno-schedule", 2), (now, 0), (counts, 1), (leader, 0)]
    if data["leader"]:
        header.append((f"(epoch {data['epoch']})", 3))
    short = data.get("short", {})
    running = [
        [r["schedule"], short.get(r["run_id"], r["run_id"]), r["result"], r["trigger"],
         r["attempt"], output.duration(r["seconds"])]
        for r in data["running"]
    ]  # fmt: skip
    upcoming = [
        [r["schedule"], at(r["next_run"], r["schedule"]), r["last_result"]] for r in data["next"]
    ]
    recent = [
        [r["schedule"], at(r["finished_at"], r["schedule"]), r["result"], r["trigger"],
         output.duration(r["duration"]), r["error"] or None]
        for r in data["recent"]
    ]  # fmt: skip
    return (
        header,
        leader,
        [
            (
                f"running and queued ({len(running)})",
                [
                    Column("schedule"),
                    Column("run", drop=2),
                    Column("state", styled=True),
                    Column("trigger", drop=3),
                    Column("attempt", drop=4),
                    Column("running for", drop=1),
                ],
                running,
            ),
            (
                "next due",
                [Column("schedule"), Column("next run"), Column("last result", styled=True)],
                upcoming,
            ),
            (
                "latest results, newest first",
                [
                    Column("schedule"),
                    Column("finished"),
                    Column("result", styled=True),
                    Column("trigger", drop=3),
                    Column("duration", drop=1),
                    Column("error", drop=2, shorten=True),
                ],
                recent,
            ),
        ],
    )


def _top_plain(data: dict[str, Any], zone: Any) -> None:
    """One snapshot as plain lines: the header, then each section's title and its rows."""
    header, _, sections = _top_sections(data, zone)
    output.lines([_header_line([text for text, _ in header])])
    for title, columns, rows in sections:
        output.lines(["", title])
        output.table(columns, rows)


def _header_line(parts: list[str]) -> str:
    """``top``'s header parts on one line, two spaces apart; the epoch stays beside its
    leader."""
    return "  ".join(parts).replace("  (epoch ", " (epoch ")


def _top_view(data: dict[str, Any], zone: Any, wide: bool = False) -> Any:
    from rich.console import Group
    from rich.markup import escape
    from rich.text import Text

    from unoschedule.cli.fitting import fit_line

    header, leader, sections = _top_sections(data, zone)
    width = None if wide else int(output.console().width)
    marked = {"uno-schedule": "[bold]uno-schedule[/bold]"}
    if not data["leader"]:
        marked[leader] = f"[red]{escape(leader)}[/red]"
    title = Text.from_markup(
        _header_line(
            [marked.get(header[i][0], escape(header[i][0])) for i in fit_line(header, width)]
        )
    )
    tables = [
        output.rich_table(columns, rows, title=name, width=width)
        for name, columns, rows in sections
    ]
    return Group(title, *tables)

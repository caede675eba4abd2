"""``uno-schedule import crontab|systemd-timer``: a schedule file from what a host runs.

A typer group of its own, added to the one app by ``commands`` (``app.add_typer``), so
that this module imports nothing of the application; each command is a few lines over
one library call in ``unoschedule.config.importers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["import_app"]

import_app = typer.Typer(
    name="import",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help=(
        "Write a schedule file for a crontab or systemd timers: every line translated "
        "exactly (times, zones, environment) or refused with its FILE:LINE and why.\n\n"
        "Examples:\n\n"
        "  uno-schedule import crontab /etc/crontab -o schedules.yaml\n\n"
        "  crontab -l | uno-schedule import crontab -\n\n"
        "  uno-schedule import systemd-timer /etc/systemd/system/backup.timer"
    ),
)

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o", "--output", metavar="FILE", help="Write the YAML here (default: standard output)."
    ),
]
ZoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help="The zone the times were read in (default: this machine's, as cron and "
        "systemd read them).",
    ),
]
PartialOption = Annotated[
    bool,
    typer.Option(
        "--partial",
        help="Write what translates and list the refused lines in a comment at the top "
        "(default: refuse the whole file, every reason on stderr).",
    ),
]


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _zone(timezone: str | None) -> str | None:
    from unoschedule.config.importers import machine_zone_name

    return timezone or machine_zone_name()


@import_app.command("crontab")
def crontab(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="The crontab, or - for standard input.")
    ],
    output: OutputOption = None,
    system: Annotated[
        bool | None,
        typer.Option(
            "--system/--user",
            help="A system crontab, with a user field before each command (default: "
            "/etc/crontab and files in a cron.d folder are).",
        ),
    ] = None,
    timezone: ZoneOption = None,
    partial: PartialOption = False,
) -> None:
    """Write the schedule file for a crontab (cronie's syntax).

    Each job keeps its times (`@daily` and the like too), the zone of `CRON_TZ=`, the
    environment lines above it as `env:`, its shell and folder (`$HOME`, as cron runs
    it), the comment right above it as `description:`; `MAILTO` becomes an `on_error`
    hook that mails failures. Input after `%` reaches the command on its standard
    input, as under cron. A system crontab's user field goes to `metadata.cron_user`:
    the scheduler runs every job as its own user. `@reboot` is refused (start such a
    command from a systemd unit).

    Examples:

      crontab -l | uno-schedule import crontab - -o schedules.yaml

      uno-schedule import crontab /etc/cron.d/certbot --timezone Europe/Berlin

      uno-schedule import crontab old.crontab --partial
    """
    from unoschedule.config.importers import import_crontab_file

    text = import_crontab_file(file, system=system, timezone=_zone(timezone), partial=partial)
    _write(text, output)


@import_app.command("systemd-timer")
def systemd_timer(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="UNIT.timer...", help="Timer units; each one's service is read beside it."
        ),
    ],
    output: OutputOption = None,
    timezone: ZoneOption = None,
    partial: PartialOption = False,
) -> None:
    """Write the schedule file for systemd timers and the services they start.

    `OnCalendar=` becomes a cron schedule where the translation is exact (weekdays,
    lists, ranges, steps, `~` days from the month's end, seconds, a year as
    `start_date`/`end_date`, the event's zone), with systemd's DST behaviour (`dst:`).
    From the service: `ExecStart=` (its `$VAR` and `%n`-style specifiers resolved),
    `WorkingDirectory=`, `Environment=`, `TimeoutStartSec=`. `Persistent=true` becomes
    `missed_schedule_handling: coalesce` (one catch-up run), false `skip`.
    Several `OnCalendar=` lines become one schedule each when they never elapse at the
    same instant. `RandomizedDelaySec=`, `OnBootSec=` and the like are refused with the
    reason.

    Examples:

      uno-schedule import systemd-timer /etc/systemd/system/backup.timer -o schedules.yaml

      uno-schedule import systemd-timer ~/.config/systemd/user/*.timer --partial
    """
    from unoschedule.config.importers import import_timer_files

    _write(import_timer_files(files, timezone=_zone(timezone), partial=partial), output)

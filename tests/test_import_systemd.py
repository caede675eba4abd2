"""``uno-schedule import systemd-timer``: a timer and its service become a schedule that
fires when systemd would, checked against ``systemd-analyze calendar`` itself around the
DST changes of three zones; what has no exact form is refused at its ``FILE:LINE``."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unoschedule.cli import app
from unoschedule.config import parse_config
from unoschedule.config.importers import import_timer_files
from unoschedule.errors import ConfigErrors

ANALYZE = shutil.which("systemd-analyze")

EVENTS = [
    "minutely", "hourly", "daily", "weekly", "monthly", "yearly", "quarterly", "semiannually",
    "*-*-* 02:30:00 Europe/Berlin",
    "*-*-* 02:00:00 Europe/Berlin",
    "*-*-* *:30:00 Europe/Berlin",
    "Mon..Fri *-*-* 09:00 Europe/Berlin",
    "Sat,Sun 02:15 America/New_York",
    "*-*-* 01:30 America/New_York",
    "*-*-* 01..03:00/20 America/New_York",
    "*-*-* 02:00,30 Australia/Lord_Howe",
    "*-*-* *:15/15 Australia/Lord_Howe",
    "*-*-* 06:00:30",
    "*:0/10",
    "*-*-* 8..18/2:00",
    "*-*~01 23:00",
    "*-*~7/1 04:00",
    "*-02~03 12:00",
    "*-*-1/3 05:00",
    "Mon *-*-1..7 10:00",
    "Tue,Thu *-*-8..21 10:00 Europe/Berlin",
    "2027-*-* 10:00",
    "*-01,04,07,10-15 12:00 Europe/Berlin",
    "daily Australia/Lord_Howe",
    "Fri 2026..2027-*-* 17:00",
]  # fmt: skip
BASES = [
    datetime(2026, 3, 7, 12, tzinfo=UTC),  # New York springs forward on the 8th
    datetime(2026, 3, 28, 12, tzinfo=UTC),  # Berlin on the 29th
    datetime(2026, 4, 4, 12, tzinfo=UTC),  # Lord Howe falls back half an hour on the 5th
    datetime(2026, 10, 3, 12, tzinfo=UTC),  # Lord Howe springs forward half an hour
    datetime(2026, 10, 24, 12, tzinfo=UTC),  # Berlin falls back on the 25th
    datetime(2026, 10, 31, 12, tzinfo=UTC),  # New York on 1 November
    datetime(2026, 12, 30, 12, tzinfo=UTC),  # into 2027
]
COUNT = 12


def write_timer(folder: Path, name: str, timer: str, service: str) -> Path:
    (folder / f"{name}.service").write_text(service)
    path = folder / f"{name}.timer"
    path.write_text(timer)
    return path


def imported(tmp_path: Path, event: str) -> object:
    path = write_timer(
        tmp_path, "job", f"[Timer]\nOnCalendar={event}\n", "[Service]\nExecStart=/bin/true\n"
    )
    config = parse_config(import_timer_files([str(path)], timezone="UTC"))
    return config.schedules["job"]


def systemd_runs(event: str, base: datetime) -> list[datetime]:
    assert ANALYZE is not None
    done = subprocess.run(
        [ANALYZE, "calendar", f"--iterations={COUNT}",
         f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", event],
        capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    out = []
    for line in done.stdout.splitlines():
        label, _, value = line.strip().partition(": ")
        if label in ("Next elapse", *(f"Iter. #{n}" for n in range(2, COUNT + 1))):
            out.append(datetime.strptime(value, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC))
    return out


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("event", EVENTS)
def test_each_imported_timer_fires_when_systemd_analyze_says_it_elapses(
    tmp_path: Path, event: str
) -> None:
    timeline = imported(tmp_path, event).timeline("UTC")  # type: ignore[attr-defined]
    for base in BASES:
        expected = systemd_runs(event, base)
        assert timeline.take(base, COUNT) == expected, (event, base)


def test_the_service_gives_command_folder_environment_and_timeout(tmp_path: Path) -> None:
    path = write_timer(
        tmp_path,
        "backup",
        "[Unit]\nDescription=Nightly backup\n[Timer]\nOnCalendar=*-*-* 02:30\nPersistent=true\n",
        '[Service]\nType=oneshot\nEnvironment="TARGET=/mnt/b" MODE=full\n'
        "WorkingDirectory=-/srv/backup\n"
        "ExecStart=/usr/local/bin/backup-db --mode $MODE --to ${TARGET}/%N --pct 100%%\n"
        "TimeoutStartSec=1h 30min\nNice=10\n",
    )
    text = import_timer_files([str(path)], timezone="Europe/Berlin")
    config = parse_config(text)
    job = config.schedules["backup"]
    assert job.command == (
        "/usr/local/bin/backup-db", "--mode", "full", "--to", "/mnt/b/backup", "--pct", "100%",
    )  # fmt: skip
    assert (job.cwd, job.env, job.description) == (
        "/srv/backup", {"TARGET": "/mnt/b", "MODE": "full"}, "Nightly backup",
    )  # fmt: skip
    assert job.timeout == 5400
    assert (job.timezone, job.dst.gap, job.dst.overlap) == ("Europe/Berlin", "skip", "first")
    assert config.options.missed_schedule_handling == "coalesce"
    assert "not carried over from the service: Nice=" in text


def test_without_persistent_nothing_missed_is_made_up(tmp_path: Path) -> None:
    path = write_timer(tmp_path, "t", "[Timer]\nOnCalendar=daily\n", "[Service]\nExecStart=/x\n")
    config = parse_config(import_timer_files([str(path)]))
    assert config.options.missed_schedule_handling == "skip"


@pytest.mark.parametrize(
    ("timer", "service", "line", "reason"),
    [
        ("[Timer]\nOnCalendar=daily\nRandomizedDelaySec=1h\n", "[Service]\nExecStart=/x\n",
         "t.timer:3", "RandomizedDelaySec= delays each run by a new random amount"),
        ("[Timer]\nOnBootSec=15min\n", "[Service]\nExecStart=/x\n",
         "t.timer:2", "OnBootSec= counts from boot"),
        ("[Timer]\nOnCalendar=Fri *-*-13 00:00\n", "[Service]\nExecStart=/x\n",
         "t.timer:2", "weekdays together with days of the month"),
        ("[Timer]\nOnCalendar=*-*-* 10:00:30.5\n", "[Service]\nExecStart=/x\n",
         "t.timer:2", "fractions of a second"),
        ("[Timer]\nOnCalendar=2026,2028-*-* 10:00\n", "[Service]\nExecStart=/x\n",
         "t.timer:2", "only one year or one range of years"),
        ("[Timer]\nOnCalendar=daily\n", "[Service]\n\nExecStart=/x $UNSET\n",
         "t.service:3", "$UNSET is not set by the unit's Environment="),
        ("[Timer]\nOnCalendar=daily\n", "[Service]\nEnvironmentFile=/etc/x\nExecStart=/x\n",
         "t.service:2", "EnvironmentFile= is read when the service starts"),
    ],
)  # fmt: skip
def test_what_has_no_exact_form_is_refused_at_its_line_with_the_reason(
    tmp_path: Path, timer: str, service: str, line: str, reason: str
) -> None:
    path = write_timer(tmp_path, "t", timer, service)
    with pytest.raises(ConfigErrors) as caught:
        import_timer_files([str(path)])
    [error] = caught.value.errors
    assert str(error).startswith(f"{tmp_path}/{line}: "), str(error)
    assert reason in str(error)


def test_the_command_writes_a_file_that_validates(tmp_path: Path) -> None:
    path = write_timer(
        tmp_path, "report", "[Timer]\nOnCalendar=Mon 10:00\n", "[Service]\nExecStart=/bin/true\n"
    )
    out = tmp_path / "schedules.yaml"
    runner = CliRunner()
    result = runner.invoke(app, ["import", "systemd-timer", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["-c", str(out), "validate"])
    assert (result.exit_code, result.stdout.strip()) == (0, "ok: 1 schedule")

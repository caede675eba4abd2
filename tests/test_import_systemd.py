"""``uno-schedule import systemd-timer``: a timer and its service become a schedule that
fires when systemd would, checked against ``systemd-analyze calendar`` itself around the
DST changes of three zones; what has no exact form is refused at its ``FILE:LINE``."""

from __future__ import annotations

import calendar
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from reference import ref_runs
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


# -- a brute-force systemd, for machines without systemd-analyze ----------------------------

SHORT = {
    "minutely": "*-*-* *:*:00", "hourly": "*-*-* *:00:00", "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00", "weekly": "Mon *-*-* 00:00:00",
    "yearly": "*-01-01 00:00:00", "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}  # fmt: skip
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def component(text: str, high: int) -> set[int]:
    """systemd.time(7): ``*``, ``a``, ``a..b``, with ``/step``; comma lists of those."""
    out: set[int] = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        first, _, last = rng.partition("..")
        lo = 0 if first == "*" else int(first)
        hi = int(last) if last else (high if step or first == "*" else lo)
        out.update(range(lo, hi + 1, int(step or 1)))
    return out


def systemd_matcher(event: str) -> tuple[Callable[[datetime], bool], ZoneInfo, int]:
    """(does a wall time match, zone, walking step in seconds) of a calendar event."""
    words = event.split()
    zone = ZoneInfo(words.pop() if re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/]+", words[-1]) else "UTC")
    text = SHORT.get(" ".join(words), " ".join(words)).split()
    days = set(range(7))
    if text[0][0].isalpha():
        days = set()
        for item in text.pop(0).lower().split(","):
            a, _, b = item.partition("..")
            days.update(range(DAYS.index(a[:3]), DAYS.index((b or a)[:3]) + 1))
    date = next((w for w in text if "-" in w or "~" in w), "*-*-*")
    time = next((w for w in text if ":" in w), "00:00:00")
    if date.count("-") + date.count("~") == 1:
        date = "*-" + date
    year, month, day = re.split(r"-|~", date)
    from_end = "~" in date
    hms = (time + ":00" if time.count(":") == 1 else time).split(":")
    hours, minutes, seconds = (component(hms[0], 23), component(hms[1], 59), component(hms[2], 59))
    months = component(month, 12)
    if from_end:  # ~a/s counts back from the a-th last day: a, a-s, ... down to 1
        first, _, back = day.partition("/")
        doms = set(range(int(first), 0, -int(back or int(first) + 1)))
    else:
        doms = component(day, 31)
    years = None if year == "*" else component(year, 9999)

    def matches(wall: datetime) -> bool:
        last = calendar.monthrange(wall.year, wall.month)[1]
        dom = last - wall.day + 1 if from_end else wall.day
        return (
            (years is None or wall.year in years) and wall.month in months
            and dom in doms and wall.weekday() in days
            and wall.hour in hours and wall.minute in minutes and wall.second in seconds
        )  # fmt: skip

    return matches, zone, math.gcd(60, *seconds)


def brute_force_runs(event: str, base: datetime, until: datetime) -> list[datetime]:
    """systemd's rule: a wall time that does not exist is skipped, a repeated one fires
    once (on its first pass)."""
    matches, zone, step = systemd_matcher(event)
    return ref_runs(matches, zone, base, until, gap="skip", overlap="first", step=step)


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


@pytest.mark.parametrize("event", EVENTS)
def test_each_imported_timer_fires_when_systemd_says_it_elapses(tmp_path: Path, event: str) -> None:
    """systemd-analyze itself where it is installed, else the brute force above."""
    timeline = imported(tmp_path, event).timeline()  # type: ignore[attr-defined]
    for base in BASES:
        if ANALYZE is not None:
            expected = systemd_runs(event, base)
            assert timeline.take(base, COUNT) == expected, (event, base)
        else:
            until = base + timedelta(days=8)
            got = [t for t in timeline.take(base, 60 * 24 * 8 + 1) if t <= until]
            assert got == brute_force_runs(event, base, until), (event, base)


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("event", EVENTS)
def test_the_brute_force_systemd_agrees_with_systemd_analyze(event: str) -> None:
    for base in BASES:
        until = base + timedelta(days=8)
        expected = [t for t in systemd_runs(event, base) if t <= until]
        if len(expected) < COUNT:  # every elapse up to the window's end is listed
            assert brute_force_runs(event, base, until) == expected, (event, base)
        else:
            assert brute_force_runs(event, base, expected[-1]) == expected, (event, base)


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
        ("[Timer]\nOnCalendar=daily\n", "[Service]\nExecStart=%h/bin/sync\n",
         "t.service:2", "ExecStart=: the specifier %h is resolved by systemd when the unit"),
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


def test_several_calendar_lines_become_several_schedules_only_when_they_never_meet(
    tmp_path: Path,
) -> None:
    service = "[Service]\nExecStart=/usr/local/bin/sync\n"
    path = write_timer(
        tmp_path, "sync", "[Timer]\nOnCalendar=Mon..Fri 09:00\nOnCalendar=Sat,Sun 12:00\n", service
    )
    config = parse_config(import_timer_files([str(path)], timezone="UTC"))
    assert [str(d.schedule.to_config()["cron"]) for d in config.schedules.values()] == [
        "0 9 * * MON,TUE,WED,THU,FRI", "0 12 * * SAT,SUN",
    ]  # fmt: skip
    assert list(config.schedules) == ["sync", "sync-2"]
    # daily and Monday midnight meet every Monday: systemd runs once, two schedules twice
    path = write_timer(tmp_path, "sync", "[Timer]\nOnCalendar=daily\nOnCalendar=Mon\n", service)
    with pytest.raises(ConfigErrors) as caught:
        import_timer_files([str(path)])
    [error] = caught.value.errors
    assert str(error).startswith(f"{path}:3: this OnCalendar= may elapse at the same instant")

"""systemd timers (a ``.timer`` and the ``.service`` it starts) read as schedules.

``OnCalendar=`` goes through ``calendar.translate_calendar``; the service gives the
command (``ExecStart=``, its ``$VAR`` and ``%`` specifiers resolved as systemd would from
the unit alone), ``WorkingDirectory=``, ``Environment=`` and ``TimeoutStartSec=``.
``Persistent=`` is what ``scheduler.missed_schedule_handling`` says for the whole file:
``true`` runs one catch-up (``coalesce``), ``false`` none (``skip``). What has no exact
equivalent (``RandomizedDelaySec=``, boot-relative timers, ``EnvironmentFile=``) is
refused with a one-line reason at its ``FILE:LINE``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from ...cron import CronExpression
from ...errors import ConfigErrors, ImportRefusedError, ScheduleSyntaxError
from ...timeutil import format_duration, get_zone
from .calendar import DST, CalendarError, never_together, translate_calendar
from .emit import render
from .job import ImportedJob, refusal

__all__ = ["Unit", "parse_unit", "timers_to_yaml"]

_RELATIVE = ("OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec")
_SPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3, "s": 1, "sec": 1, "second": 1,
    "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600,
    "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400, "w": 604800,
    "week": 604800, "weeks": 604800, "M": 2629800, "month": 2629800, "months": 2629800,
    "y": 31557600, "year": 31557600, "years": 31557600,
}  # fmt: skip


@dataclass
class Unit:
    """A unit file: ``(line, value)`` of each key, per section, in order."""

    path: str
    sections: dict[str, dict[str, list[tuple[int, str]]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[tuple[int, str]]:
        """Every value of ``key``; an empty assignment resets the list, as in systemd."""
        out: list[tuple[int, str]] = []
        for line, value in self.sections.get(section, {}).get(key, []):
            out = [] if value == "" else [*out, (line, value)]
        return out

    def last(self, section: str, key: str) -> tuple[int, str] | None:
        found = self.sections.get(section, {}).get(key, [])
        return found[-1] if found else None


def parse_unit(text: str, path: str) -> Unit:
    """Sections, keys and values of a unit file (comments, continuation lines)."""
    unit = Unit(path)
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.sections.setdefault(section, {})
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise refusal(f"cannot read {line!r} (not KEY=VALUE)", path, number)
        unit.sections.setdefault(section, {}).setdefault(key.strip(), []).append(
            (number, value.strip())
        )
    return unit


def _span(text: str) -> float:
    """A systemd time span (``90``, ``5min``, ``1h 30min``) in seconds."""
    if text.strip() in ("infinity", ""):
        return float("inf")
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        return float(text)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)", text):
        if unit not in _SPAN_UNITS:
            raise ValueError(unit)
        total += float(number) * _SPAN_UNITS[unit]
    return total


def _specifiers(text: str, unit_name: str) -> str:
    """``%n``, ``%N``, ``%p``, ``%i`` and ``%%`` resolved; any other specifier refused."""
    stem = unit_name.rsplit(".", 1)[0]
    prefix, _, instance = stem.partition("@")
    known = {"n": unit_name, "N": stem, "p": prefix, "i": instance, "%": "%"}

    def one(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter not in known:
            raise ValueError(
                f"the specifier %{letter} is resolved by systemd when the unit starts; write "
                "its value (only %n, %N, %p, %i and %% are resolved here)"
            )
        return known[letter]

    return re.sub(r"%(.)", one, text)


_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")


def _exec_words(command: str, env: dict[str, str], unit_name: str) -> list[str]:
    """ExecStart='s words, with ``$VAR`` (split into words) and ``${VAR}`` (in place) taken
    from ``Environment=``; ``KeyError`` names a variable the unit does not set."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in env:
            raise KeyError(name)
        return env[name]

    words: list[str] = []
    for word in shlex.split(_specifiers(command, unit_name)):
        whole = re.fullmatch(r"\$([A-Za-z_]\w*)", word)
        if whole:
            words += value(whole).split()
        else:
            words.append(_VARIABLE.sub(value, word))
    return words


def _service_job(
    timer: Unit, service: Unit, job: ImportedJob, refused: list[ImportRefusedError]
) -> None:
    """The command, folder, environment and timeout of ``job`` from its service."""
    name = os.path.basename(service.path)
    env: dict[str, str] = {}
    for line, value in service.values("Service", "Environment"):
        try:
            for item in shlex.split(_specifiers(value, name)):
                key, eq, val = item.partition("=")
                if eq:
                    env[key] = val
        except ValueError as exc:
            refused.append(refusal(f"cannot read Environment={value}: {exc}", service.path, line))
    for line, _ in service.values("Service", "EnvironmentFile"):
        refused.append(
            refusal(
                "EnvironmentFile= is read when the service starts; copy its variables into "
                "env: of the schedule",
                service.path,
                line,
            )
        )
    job.env = env
    starts = service.values("Service", "ExecStart")
    if not starts:
        refused.append(refusal("the service has no ExecStart=", service.path, 1))
        return
    if len(starts) > 1:
        refused.append(
            refusal(
                "several ExecStart= lines: write them as one script (shell: true)",
                service.path,
                starts[1][0],
            )
        )
        return
    line, command = starts[0]
    flags = re.match(r"^[-@:+!]*", command)
    prefix = flags.group(0) if flags else ""
    command = command[len(prefix) :].strip()
    if "@" in prefix:
        refused.append(
            refusal("ExecStart=@ sets argv[0], which a schedule cannot", service.path, line)
        )
        return
    if "-" in prefix:
        job.notes.append("ExecStart=- ignored failures; here a failure is recorded as one")
    try:
        job.command = _exec_words(command, {} if ":" in prefix else env, name)
    except KeyError as exc:
        refused.append(
            refusal(
                f"${exc.args[0]} is not set by the unit's Environment=; write its value",
                service.path,
                line,
            )
        )
        return
    except ValueError as exc:
        refused.append(refusal(f"ExecStart=: {exc}", service.path, line))
        return
    folder = service.last("Service", "WorkingDirectory")
    if folder is not None:
        path = folder[1].lstrip("-")
        job.cwd = path if path else None
    timeout = service.last("Service", "TimeoutStartSec") or service.last("Service", "TimeoutSec")
    if timeout is not None:
        try:
            seconds = _span(timeout[1])
        except ValueError:
            refused.append(
                refusal(f"cannot read the time span {timeout[1]!r}", service.path, timeout[0])
            )
            return
        if seconds != float("inf") and seconds > 0:
            job.timeout = format_duration(seconds)
    user = service.last("Service", "User")
    if user is not None:
        job.metadata["systemd_user"] = user[1]
        job.notes.append(
            f"ran as User={user[1]}; uno-schedule runs it as its own user "
            "(run the scheduler as that user)"
        )
    skipped = sorted(
        k for k in service.sections.get("Service", {})
        if k not in {"ExecStart", "Environment", "EnvironmentFile", "WorkingDirectory",
                     "TimeoutStartSec", "TimeoutSec", "User", "Type"}
    )  # fmt: skip
    if skipped:
        job.notes.append(
            "not carried over from the service: " + ", ".join(f"{k}=" for k in skipped)
        )


def _timer_jobs(
    timer: Unit, service: Unit | None, timezone: str | None, refused: list[ImportRefusedError]
) -> list[ImportedJob]:
    base = os.path.basename(timer.path).removesuffix(".timer")
    for key in _RELATIVE:
        for line, _ in timer.values("Timer", key):
            refused.append(
                refusal(
                    f"{key}= counts from boot or from the unit's own runs; uno-schedule has "
                    "calendar times and fixed intervals (every:) only",
                    timer.path,
                    line,
                )
            )
    delay = timer.last("Timer", "RandomizedDelaySec")
    if delay is not None:
        try:
            seconds = _span(delay[1])
        except ValueError:
            seconds = 1
        if seconds:
            refused.append(
                refusal(
                    "RandomizedDelaySec= delays each run by a new random amount; uno-schedule "
                    "fires on time (spread schedules with H in a cron field instead)",
                    timer.path,
                    delay[0],
                )
            )
    events = timer.values("Timer", "OnCalendar")
    if not events and not any(timer.values("Timer", k) for k in _RELATIVE):
        refused.append(refusal("the timer has no OnCalendar=", timer.path, 1))
    translations = []
    for line, event in events:
        try:
            found = translate_calendar(event)
            CronExpression(found.cron)
        except (CalendarError, ScheduleSyntaxError) as exc:
            refused.append(refusal(f"OnCalendar={event}: {exc}", timer.path, line))
            continue
        translations.append((line, found))
    for i, (line, found) in enumerate(translations):
        if any(not never_together(found, other) for _, other in translations[:i]):
            refused.append(
                refusal(
                    "this OnCalendar= may elapse at the same instant as one above it, where "
                    "systemd runs the service once and two schedules would run it twice",
                    timer.path,
                    line,
                )
            )
            return []
    description = timer.last("Unit", "Description")
    jobs = []
    for line, found in translations:
        job = ImportedJob(
            line=line,
            name_hint=re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "timer",
            schedule=found.cron,
            command="",
            description=description[1] if description else None,
            timezone=found.timezone or timezone,
            dst=dict(DST),
            start_date=found.start_date,
            end_date=found.end_date,
        )
        if len(translations) > 1:
            job.notes.append(f"OnCalendar= of line {line} of {os.path.basename(timer.path)}")
        accuracy = timer.last("Timer", "AccuracySec")
        if accuracy is not None:
            job.notes.append(f"AccuracySec={accuracy[1]} dropped: uno-schedule fires on time")
        if service is None:
            refused.append(refusal("no .service unit beside the timer", timer.path, 1))
            continue
        _service_job(timer, service, job, refused)
        jobs.append(job)
    return jobs


def timers_to_yaml(
    units: list[tuple[Unit, Unit | None]],
    *,
    timezone: str | None = None,
    partial: bool = False,
) -> str:
    """The schedule file for ``(timer, service)`` pairs; ``ConfigErrors`` with every
    refused line unless ``partial``. ``timezone``: the zone of events that name none."""
    if timezone:
        get_zone(timezone)  # an unknown zone: ScheduleSyntaxError, before any work
    refused: list[ImportRefusedError] = []
    jobs: list[ImportedJob] = []
    persistent: tuple[str, int, bool] | None = None
    for timer, service in units:
        found = timer.last("Timer", "Persistent")
        value = found is not None and found[1].lower() in ("1", "yes", "true", "on")
        if persistent is not None and persistent[2] != value:
            refused.append(
                refusal(
                    f"Persistent={found[1] if found else 'no'} differs from {persistent[0]}; "
                    "catching up is one setting for the whole file "
                    "(scheduler.missed_schedule_handling)",
                    timer.path,
                    found[0] if found else 1,
                )
            )
        elif persistent is None:
            persistent = (timer.path, found[0] if found else 1, value)
        jobs += _timer_jobs(timer, service, timezone, refused)
    if refused and not partial:
        raise ConfigErrors(list(refused))
    catch_up = persistent is not None and persistent[2]
    note = (
        "Persistent=true: after downtime, one run makes up for what was missed"
        if catch_up
        else "Persistent=false: what came due while the scheduler was down does not run"
    )
    header = [
        "Imported from systemd timers by `uno-schedule import systemd-timer`: "
        + ", ".join(t.path for t, _ in units),
        "Times, zones and DST as systemd reads them (a skipped wall time is skipped, a",
        "repeated one fires once); check it with: uno-schedule -c FILE validate",
    ]
    if timezone is None:
        header.append(
            "Events without a zone run in scheduler.timezone (systemd used the system's)."
        )
    return render(
        jobs,
        header=header,
        scheduler={"missed_schedule_handling": "coalesce" if catch_up else "skip"},
        scheduler_notes=[note],
        refused=refused,
    )

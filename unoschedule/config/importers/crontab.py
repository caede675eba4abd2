"""A crontab (cronie's syntax) read as schedules: what each line means to cron, kept.

Semantics taken from cronie, the cron of most Linux hosts:

* ``NAME=value`` lines (spaces around ``=`` allowed, value optionally quoted) set the
  environment of the jobs below them. ``CRON_TZ`` is the zone their times are read in;
  ``TZ`` only reaches the command's environment (cronie reads times in the system zone
  whatever ``TZ`` says). ``HOME`` is also the folder the job runs in (cron changes to
  ``$HOME``); ``SHELL`` is the shell that runs the command; ``MAILTO`` is where cron
  mails the output.
* A command runs through the shell; the first ``%`` not escaped as ``\\%`` ends it, and
  the rest is its standard input, further ``%`` being newlines.
* A system crontab (``/etc/crontab``, ``/etc/cron.d/*``) has a user field after the
  times; uno-schedule runs every job as its own user, so the user is kept in
  ``metadata.cron_user`` and said in a note.

Anything without an exact equivalent (``@reboot``, cronie's random ``~``) is refused with
a one-line reason at its ``FILE:LINE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...cron import ALIASES, CronExpression
from ...errors import ConfigErrors, ImportRefusedError, ScheduleSyntaxError
from ...timeutil import get_zone
from .emit import render
from .job import ImportedJob, name_from_command, refusal

__all__ = ["crontab_to_yaml", "is_system_crontab", "parse_crontab", "split_percent"]

_HEADER_LINE = re.compile(r"^#\s*m(in(ute)?)?\s+h(our)?\s+(dom|day)", re.IGNORECASE)
_CRON_LINE = re.compile(r"^#\s*(@[a-z]+|[\d*][-\d*,/]*\s+[\d*][-\d*,/]*(\s+\S+){3})\s+\S")
_NOT_ENV = {"MAILTO", "MAILFROM", "CRON_TZ", "CONTENT_TYPE", "CONTENT_TRANSFER_ENCODING"}
_MAIL_HOOK = (
    'printf "%s: %s %s\\n" "$UNO_SCHEDULE_NAME" "$UNO_RESULT" "$UNO_ERROR" '
    '| mail -s "uno-schedule: $UNO_SCHEDULE_NAME failed" "$1"'
)


def is_system_crontab(path: str) -> bool:
    """``/etc/crontab`` and files of a ``cron.d`` folder have a user field."""
    parts = path.replace("\\", "/").split("/")
    return (parts[-1] == "crontab" and parts[-2:-1] == ["etc"]) or "cron.d" in parts[:-1]


def _env_line(line: str) -> tuple[str, str] | None:
    """``(name, value)`` when ``line`` is an environment setting as cronie reads one."""
    match = re.match(r"""^\s*("[^"=]*"|'[^'=]*'|[^\s=]+)\s*=\s*(.*)$""", line)
    if match is None:
        return None
    name, value = match.group(1), match.group(2).rstrip()
    if name[:1] in "\"'":
        name = name[1:-1]
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        if end < 0 or value[end + 1 :].strip():
            return None
        value = value[1:end]
    return (name, value) if name else None


def split_percent(command: str) -> tuple[str, str | None]:
    """cron's ``%``: the command, and its standard input (None when there is none).

    In the command, ``\\%`` is a ``%`` and other backslashes stay; the first bare ``%``
    ends it. In the input, ``%`` is a newline, ``\\%`` a ``%``, and a final newline is
    added when the input does not end with one.
    """
    out: list[str] = []
    i, escaped = 0, False
    while i < len(command):
        ch = command[i]
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "%":
            break
        else:
            out.append(ch)
        i += 1
    if i >= len(command):
        return "".join(out), None
    data: list[str] = []
    escaped = False
    for ch in command[i + 1 :]:
        if escaped:
            data.append(ch if ch == "%" else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            data.append("\n" if ch == "%" else ch)
    if escaped:
        data.append("\\")
    text = "".join(data)
    if text and not text.endswith("\n"):
        text += "\n"
    return "".join(out), text


def _with_stdin(script: str, data: str) -> str:
    """``script`` reading ``data`` on its standard input, as one shell script: a
    quoted here-document (no expansion inside) that the shell takes as its stdin."""
    tag = "CRON_STDIN"
    lines = data.split("\n")
    while tag in lines:
        tag += "_"
    return f"exec <<'{tag}'\n{data}{tag}\n{script}"


@dataclass
class _Env:
    values: dict[str, str] = field(default_factory=dict)
    bad_zone: int | None = None  # the line of an unknown CRON_TZ in force

    def job_env(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if k not in _NOT_ENV and k != "SHELL"}


def _description(lines: list[str], index: int) -> str | None:
    """The comment lines right above line ``index`` (no blank line between), up to a
    ``# m h dom mon dow command`` header or a commented-out job."""
    found: list[str] = []
    j = index - 1
    while j >= 0:
        text = lines[j].strip()
        if not text.startswith("#") or _HEADER_LINE.match(text) or _CRON_LINE.match(text):
            break
        found.append(text.lstrip("#").strip())
        j -= 1
    words = " ".join(t for t in reversed(found) if t)
    return words or None


def _fields(text: str, count: int) -> tuple[list[str], str] | None:
    """The first ``count`` blank-separated fields of ``text`` and the rest."""
    parts = text.split(None, count)
    if len(parts) <= count:
        return None
    return parts[:count], parts[count]


def parse_crontab(
    text: str,
    source: str = "crontab",
    *,
    system: bool = False,
    timezone: str | None = None,
) -> tuple[list[ImportedJob], list[ImportRefusedError], list[str]]:
    """The jobs of a crontab, the lines refused, and notes for the file's header.

    ``timezone`` is the zone cron ran in (the machine's); jobs under ``CRON_TZ=`` get
    that zone instead. None leaves jobs without ``CRON_TZ`` on ``scheduler.timezone``.
    """
    lines = text.splitlines()
    env = _Env()
    jobs: list[ImportedJob] = []
    refused: list[ImportRefusedError] = []
    notes: list[str] = []
    for index, raw in enumerate(lines):
        number = index + 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        setting = _env_line(line)
        if setting is not None:
            name, value = setting
            if name == "CRON_TZ":
                env.bad_zone = None
            if name == "CRON_TZ" and value:
                try:
                    get_zone(value)
                except ScheduleSyntaxError as exc:
                    refused.append(refusal(f"CRON_TZ: {exc}", source, number))
                    env.bad_zone = number
            env.values[name] = value
            if name == "TZ":
                notes.append(
                    f"line {number}: TZ={value} reaches the commands' environment only; "
                    "cron reads the times in the system zone (CRON_TZ= changes that)"
                )
            continue
        try:
            jobs.append(_job(lines, index, line, env, source, system, timezone))
        except ImportRefusedError as exc:
            refused.append(exc)
    return jobs, refused, notes


def _job(
    lines: list[str],
    index: int,
    line: str,
    env: _Env,
    source: str,
    system: bool,
    timezone: str | None,
) -> ImportedJob:
    number = index + 1
    if env.bad_zone is not None:
        raise refusal(f"the CRON_TZ= of line {env.bad_zone} is not a known zone", source, number)
    body = line[1:].lstrip() if line.startswith("-") else line  # "-": do not syslog it
    if body.startswith("@"):
        alias, _, rest = re.sub(r"[ \t]+", " ", body, count=1).partition(" ")
        if alias.lower() == "@reboot":
            raise refusal(
                "@reboot runs at boot, which uno-schedule has no schedule for; start the "
                "command from a systemd unit (WantedBy=multi-user.target) instead",
                source,
                number,
            )
        if alias.lower() not in ALIASES:
            raise refusal(f"unknown cron shortcut {alias!r}", source, number)
        expression = ALIASES[alias.lower()]
    else:
        split = _fields(body, 5)
        if split is None:
            raise refusal("a cron line has 5 time fields and a command", source, number)
        fields, rest = split
        if any("~" in f for f in fields):
            raise refusal(
                "'~' picks a random value each time cron loads the crontab; write a fixed "
                "value, or H for a spread that is stable per schedule",
                source,
                number,
            )
        expression = " ".join(fields)
    user = None
    if system:
        split = _fields(rest, 1)
        if split is None:
            raise refusal("a system crontab line has a user before the command", source, number)
        (user,), rest = split
    mail_on_error_only = False
    while re.match(r"^-n[ \t]", rest):  # cronie: mail only when the job fails
        mail_on_error_only = True
        rest = rest[2:].lstrip()
    try:
        CronExpression(expression)
    except ScheduleSyntaxError as exc:
        raise refusal(f"{expression!r}: {exc}", source, number) from None
    script, stdin = split_percent(rest)
    if not script.strip():
        raise refusal("the line has no command", source, number)
    if stdin is not None:
        script = _with_stdin(script, stdin)
    values = env.values
    zone = values.get("CRON_TZ") or timezone
    job = ImportedJob(
        line=number,
        name_hint=name_from_command(script if stdin is None else rest.split("%")[0]),
        schedule=expression if not body.startswith("@") else body.split()[0].lower(),
        command=script,
        description=_description(lines, index),
        timezone=zone or None,
        shell=True,
        env=env.job_env(),
    )
    shell = values.get("SHELL", "/bin/sh")
    if shell not in ("/bin/sh", "sh"):
        job.command, job.shell = [shell, "-c", script], False
    if values.get("HOME"):
        job.cwd = values["HOME"]
    elif not system:
        job.cwd = "~"  # cron runs a user's jobs in their home folder
    mailto = values.get("MAILTO")
    if mailto:
        job.on_error = ["sh", "-c", _MAIL_HOOK, "sh", mailto]
        if not mail_on_error_only:
            job.notes.append(
                f"cron mailed all output to {mailto}; on_error mails failures only "
                "(the output of every run: uno-schedule logs NAME)"
            )
        else:
            job.notes.append(f"cron mailed the output of failures to {mailto} (-n)")
    if user is not None:
        job.metadata["cron_user"] = user
        job.notes.append(
            f"ran as {user} under cron; uno-schedule runs it as its own user "
            "(run the scheduler as that user, or wrap the command: runuser -u USER --)"
        )
    return job


def crontab_to_yaml(
    text: str,
    source: str = "crontab",
    *,
    system: bool | None = None,
    timezone: str | None = None,
    partial: bool = False,
) -> str:
    """The schedule file (YAML text) for a crontab; ``ConfigErrors`` with every refused
    line unless ``partial`` (then they are listed in a comment at the top).

    ``system``: None detects a system crontab by its path (``is_system_crontab``).
    """
    if system is None:
        system = is_system_crontab(source)
    if timezone:
        get_zone(timezone)  # an unknown zone: ScheduleSyntaxError, before any work
    jobs, refused, notes = parse_crontab(text, source, system=system, timezone=timezone)
    if refused and not partial:
        raise ConfigErrors(list(refused))
    scheduler: dict[str, object] = {"missed_schedule_handling": "skip"}
    scheduler_notes = ["cron never runs what came due while it was down: nor does this file"]
    hooks = {repr(job.on_error) for job in jobs}
    if len(hooks) == 1 and jobs[0].on_error:  # one MAILTO for all: one hook for all
        scheduler["on_error"] = jobs[0].on_error
        shared = next((n for n in jobs[0].notes if n.startswith("cron mailed")), "")
        scheduler_notes.append(shared)
        for job in jobs:
            job.on_error = None
            job.notes = [n for n in job.notes if n != shared]
    kind = "system crontab" if system else "crontab"
    header = [
        f"Imported from the {kind} {source} by `uno-schedule import crontab`.",
        "Each job keeps its line's times (cronie's rules, DST included), its shell, its",
        "environment and its folder; check it with: uno-schedule -c FILE validate",
    ]
    if timezone is None:
        header.append("Jobs without CRON_TZ= run in scheduler.timezone (cron used the system's).")
    header += notes
    return render(
        jobs,
        header=header,
        scheduler=scheduler,
        scheduler_notes=[n for n in scheduler_notes if n],
        refused=refused,
    )

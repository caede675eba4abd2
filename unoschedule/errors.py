"""One exception hierarchy for everything a user can get wrong or run into.

Every message is written to be shown to an operator as it is, on one line: the CLI maps
any ``UnoScheduleError`` to ``error: <message>`` and exit status 1 in one place
(``unoschedule.cli``), and never shows a traceback for one.
"""

from __future__ import annotations


class UnoScheduleError(Exception):
    """Base of every error this package raises on purpose."""


class ScheduleSyntaxError(UnoScheduleError, ValueError):
    """A schedule expression (cron, interval, time of day, instant, zone) is malformed.

    ``column`` is the 0-based offset inside the expression text where the problem
    starts, when known, so that the YAML loader can point at the exact character.
    """

    def __init__(self, message: str, *, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


class ConfigError(UnoScheduleError):
    """One problem in a schedule file, located as ``FILE:LINE:COLUMN``."""

    def __init__(self, message: str, file: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        if self.file:  # a problem of the file as a whole: no line to point at
            return f"{self.file}: {self.message}"
        return self.message


class ConfigErrors(UnoScheduleError):
    """Every problem found in one schedule file; validation reports them all at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        first = str(self.errors[0]) if self.errors else "invalid configuration"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(first + more)


class ImportRefusedError(ConfigError):
    """A line of a crontab or systemd unit that has no exact equivalent in a schedule
    file, located as ``FILE:LINE`` (an importer refuses rather than guess)."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.file else self.message


class UnknownScheduleError(UnoScheduleError, LookupError):
    """A schedule name or id that the configuration or state does not hold."""

    def __init__(self, name: str, suggestion: str | None = None) -> None:
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        super().__init__(f"no schedule named {name!r}{hint}")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


class ArgumentError(UnoScheduleError, ValueError):
    """A call's argument outside what it can be (a status no schedule has): the
    caller's mistake, a usage error at the shell (exit status 2)."""


class UsageError(ArgumentError):
    """A command-line value a command cannot use (``--until soon``, ``--kwarg x``): exit
    status 2, reported as the shell reports its other usage errors, naming the option
    ``param_hint`` (such as ``'--until'``) when there is one."""

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


class CommandFailed(UnoScheduleError):
    """A command that has shown its outcome itself (``validate --json`` with errors, a
    failed ``trigger --wait``) and ends with exit status ``status``, nothing more said."""

    def __init__(self, status: int = 1) -> None:
        super().__init__(f"exit status {status}")
        self.status = status


class StateError(UnoScheduleError):
    """The state store cannot be used (unreadable, corrupt, from a newer version)."""


class LeadershipError(UnoScheduleError):
    """This instance lost, or never held, the right to fire occurrences."""


class JobError(UnoScheduleError):
    """A job could not be started (task not importable, command not found)."""


class VersionConflictError(UnoScheduleError):
    """An update named a version that is not the next one: someone else changed the
    schedule meanwhile (or the caller read an old version)."""


class TaskFailure(Exception):
    """What ``on_schedule_error`` handlers get when the exception itself is not at hand
    (a task that ran in another process, a command): its type name, message and
    traceback text, rebuilt from the run record.

    ``str()`` is the message alone, as the original exception's ``str()`` was, so that
    a handler written for the exception itself reads the same text; ``type_name``,
    ``traceback``, ``result`` and ``run_id`` say the rest.
    """

    def __init__(
        self, type_name: str, message: str, traceback: str, *, result: str, run_id: str
    ) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.result = result
        self.run_id = run_id

    def __str__(self) -> str:
        return self.message

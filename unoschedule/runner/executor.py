"""Run one attempt of a job (a command or a Python task) and report how it ended.

The run loop decides *when* and *whether* a job runs; this module only runs it, and owns
everything that touches processes, so that the hard guarantees live in one place:

- every command (and every sync task that has a timeout) runs in its own session and
  process group, so a timeout or a shutdown can signal the whole tree with one
  ``killpg`` and nothing the job started outlives it;
- a job's context reaches it in ``UNO_*`` environment variables (a payload too large
  for one, in a file that ``UNO_EVENT_FILE`` names) and extra arguments are separate
  argv entries (``$1``... under ``shell: true``): nothing from a run is ever spliced
  into a shell string;
- ``run`` never raises for anything the job did (missing program, failed import,
  exception, hang): it returns a ``JobOutcome`` the loop can record as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NoReturn

from ..abc import JobRunner
from ..budget import DescriptorBudget
from ..errors import JobError
from ..jobs import CONTRACT_VARIABLES, JobOutcome, JobSpec
from ..model import ScheduleDefinition, SchedulerOptions
from ..runs import import_paths_of
from ..timeutil import format_instant
from .asynchost import BEAT, BLOCKED_AFTER, AsyncRun, Posts, TaskHost
from .forker import ServerGone
from .processes import (
    begin_child,
    drop_own_environment,
    fork,
    group_alive,
    inheritable_environment,
    signal_group,
    stop_orphans,
    watch_pid,
)
from .tasks import (
    NOT_IN_THIS_PROCESS,
    describe_exception,
    format_traceback_tail,
    has_local,
    is_async_callable,
    resolve_task,
)
from .workers import Ticket, WorkerPool, repr_head, switch_environment

__all__ = [
    "SHUTDOWN_ERROR",
    "Executor",
    "JobOutcome",
    "JobSpec",
    "command_argv",
    "effective_args",
    "effective_kwargs",
    "hook_argv",
    "job_environment",
    "run_hook",
    "shell_argv",
]

LogFn = Callable[[str], None]

#: ``error`` of a run that ``stop_all`` cut off.
SHUTDOWN_ERROR = "stopped by scheduler shutdown"
#: ``error`` of an async task's run refused while an earlier run's task, abandoned at
#: its timeout, has not ended (each such run, blocked too, would hold one more thread).
ABANDONED_ERROR = (
    "not started: the task of an earlier run, abandoned at its timeout, has not ended yet"
)
#: How long to keep reading output after the job's processes are gone. Only a process
#: that left the job's group (a daemon that called ``setsid``) can hold the pipe open
#: that long, and we must not wait for it.
DRAIN_TIMEOUT = 0.5
#: A job's output is watched (a reader in the event loop) once the job has run this
#: long; what a job that ends sooner printed is read at its end. Watching costs the
#: loop an ``epoll`` registration and its removal, a tenth of its work per command in a
#: burst of short ones; a line printed meanwhile is logged at most this much later.
WATCH_OUTPUT_AFTER = 0.05
#: A line longer than this (no newline in sight) is logged in pieces, to bound memory.
_LINE_LIMIT = 65536
#: The most read from a job's output pipe at once (what asyncio's pipe transport read).
_READ_SIZE = 256 * 1024
#: Upper bound of a forked task's result message (the child truncates to output_tail).
_RESULT_LIMIT = 1 << 20
#: After SIGKILL, how long to wait for the kernel to report the main process dead.
_KILL_WAIT = 5.0
_POLL = 0.02


# -- what a job gets -------------------------------------------------------------------


def effective_args(spec: JobSpec) -> list[Any]:
    """The run's ``args`` override (``trigger --arg``) if given, else the definition's."""
    run_args = spec.run.args
    return list(run_args) if run_args is not None else list(spec.definition.args)


def effective_kwargs(spec: JobSpec) -> dict[str, Any]:
    """The definition's ``kwargs`` updated with the run's overrides (``trigger --kwarg``)."""
    kwargs = dict(spec.definition.kwargs)
    if spec.run.kwargs:
        kwargs.update(spec.run.kwargs)
    return kwargs


def task_kwargs(spec: JobSpec) -> dict[str, Any]:
    """A Python task's keyword arguments: ``effective_kwargs`` and, for a run an event
    triggered, its payload as ``event`` (commands get it as ``$UNO_EVENT`` instead)."""
    kwargs = effective_kwargs(spec)
    if spec.run.event is not None:
        kwargs["event"] = spec.run.event
    return kwargs


def _json_default(value: object) -> str:
    # YAML gives dates and datetimes for unquoted timestamps; print them as SPEC does.
    if isinstance(value, datetime):
        return format_instant(value) or ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


#: One encoder for the JSON of ``UNO_KWARGS`` and ``UNO_EVENT`` (``json.dumps`` with an
#: option makes one per call, and every run prints its kwargs).
_ENV_JSON = json.JSONEncoder(default=_json_default).encode


def job_environment(spec: JobSpec) -> dict[str, str]:
    """The ``UNO_*`` variables of SPEC section 6 for this attempt (nothing else)."""
    run = spec.run
    env = {
        "UNO_SCHEDULE_NAME": run.schedule,
        "UNO_RUN_ID": run.run_id,
        "UNO_SCHEDULED_TIME": format_instant(run.scheduled_time) or "",
        "UNO_ATTEMPT": str(run.attempt),
        "UNO_TRIGGER": str(run.trigger),
        "UNO_KWARGS": _ENV_JSON(effective_kwargs(spec)),
    }
    if run.event is not None:
        env["UNO_EVENT"] = _ENV_JSON(run.event)
    return env


#: A value longer than this (``UNO_EVENT``, ``UNO_KWARGS``) reaches a command in a file
#: named by ``<NAME>_FILE`` instead: Linux refuses to start a program with one
#: environment string over 128 KiB ("Argument list too long").
ENV_VALUE_LIMIT = 64 * 1024
_BULKY_VARS = ("UNO_EVENT", "UNO_KWARGS")


def _spill_bulky(env: dict[str, str]) -> list[str]:
    """Move each value over ``ENV_VALUE_LIMIT`` of ``env`` into a file of its own (0600,
    in the temp folder) named by ``<NAME>_FILE``; returns the files, for removal when
    the job has ended."""
    files = []
    for name in _BULKY_VARS:
        value = env.get(name)
        if value is None or len(value) <= ENV_VALUE_LIMIT:
            continue
        fd, path = tempfile.mkstemp(prefix=f"uno-{name.lower()}-", suffix=".json")
        files.append(path)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        del env[name]
        env[f"{name}_FILE"] = path
    return files


def _base_environment() -> dict[str, str]:
    """This process's environment without the runner's own variables (its settings and
    secrets) and the contract's (a runner started from inside a job)."""
    return {
        k: v for k, v in inheritable_environment(os.environ).items() if k not in CONTRACT_VARIABLES
    }


def _process_environment(spec: JobSpec, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (the scheduler's environment, see ``_base_environment``), then the
    schedule's ``env:``, then the contract (which always wins)."""
    env = dict(base)
    env.update({str(k): str(v) for k, v in spec.definition.env.items()})
    env.update(job_environment(spec))
    return env


#: The shell of ``shell: true``: it runs a schedule's command and its ``on_error`` hook.
SHELL = "/bin/sh"


def shell_argv(script: str, args: Sequence[str] = ()) -> list[str]:
    """The argv that runs ``script`` under ``shell: true``: ``sh -c`` with ``args`` as
    ``$1``... (never spliced into the script) and ``$0`` naming us.

    The one place that says how the shell is asked, so that a schedule's command and its
    ``on_error`` hook run under the same shell in the same way.
    """
    return [SHELL, "-c", script, "uno-schedule", *args]


def command_argv(definition: ScheduleDefinition, args: Sequence[Any]) -> list[str]:
    """The argv that runs ``definition.command`` with ``args`` appended.

    A string command is split as a shell would split it but runs without one. With
    ``shell: true`` the command (a list is joined with spaces: whoever asks for a shell
    wants its expansions) becomes ``sh -c`` script text and the args follow as ``$1``...,
    so an argument can never be read as shell syntax.
    """
    command = definition.command
    extra = [str(a) for a in args]
    if command is None:
        raise JobError("schedule has no command")
    if definition.shell:
        script = command if isinstance(command, str) else " ".join(command)
        if not script.strip():
            raise JobError("empty command")
        return shell_argv(script, extra)
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise JobError(f"cannot split command into words: {exc}") from None
    else:
        words = [str(w) for w in command]
    if not words:
        raise JobError("empty command")
    return [*words, *extra]


#: How long a program found on PATH is started by the path found without looking again.
PROGRAM_FOUND_FOR = 1.0


class _ProgramPaths:
    """Where the bare program names of commands are on PATH, looked up at most once a
    ``PROGRAM_FOUND_FOR`` per name and PATH.

    ``processes.start_command`` searches PATH itself for a bare name, trying every
    candidate path at every start: in a burst of commands, work per command that a
    known path spares. A program found is started by its full path (its argv[0] stays
    as written); one removed since is looked up again at once (``forget``), one
    installed earlier on PATH is seen within ``PROGRAM_FOUND_FOR``. A PATH with an empty
    or relative entry (which depends on the job's folder) is left to ``start_command``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._found: dict[tuple[str, str], tuple[float, str]] = {}

    def find(self, program: str, path: str | None) -> str | None:
        if "/" in program or not program or not path:
            return None
        key = (program, path)
        now = self._clock()
        hit = self._found.get(key)
        if hit is not None and now - hit[0] < PROGRAM_FOUND_FOR:
            return hit[1]
        if not all(os.path.isabs(entry) for entry in path.split(os.pathsep)):
            return None
        found = shutil.which(program, path=path)
        if found is None:
            self._found.pop(key, None)
            return None
        if len(self._found) >= 1024:
            self._found.clear()
        self._found[key] = (now, found)
        return found

    def forget(self, program: str, path: str | None) -> None:
        if path:
            self._found.pop((program, path), None)


def _resolve_cwd(spec: JobSpec) -> str | None:
    """``cwd:`` (relative to the YAML file's folder), else that folder, else (a library
    schedule without one) the folder the scheduler is in now, as for a child of its own:
    the fork server that starts the command may have started in another, so a relative
    path left (no file's folder) is made absolute here too. Checked up front, so that a
    missing folder is reported as such and not as a missing program. None only when the
    scheduler's own folder is gone (the server's is used then)."""
    base = spec.base_cwd
    path = spec.definition.cwd
    if path:
        path = os.path.expanduser(path)
        if base and not os.path.isabs(path):
            path = os.path.join(base, path)
    else:
        path = base
    if not path:
        try:
            return os.getcwd()
        except OSError:  # the scheduler's own folder is gone: the server's, then
            return None
    if not os.path.isabs(path):
        # Against the scheduler's folder, not the server's (gone: isdir says so below).
        with contextlib.suppress(OSError):
            path = os.path.abspath(path)
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise JobError(f"working directory is not a folder: {path}")
        raise JobError(f"working directory not found: {path}")
    return path


# -- process groups ----------------------------------------------------------------------


def _answered(payload: dict[str, Any], pid: int | None) -> JobOutcome:
    """The outcome a task's process answered (``workers.run_task_call``'s dict)."""
    output = str(payload.get("output", ""))
    if payload.get("ok"):
        return JobOutcome("success", None, output, pid)
    return JobOutcome("error", str(payload.get("error")), output, pid)


def _cut_short(spec: JobSpec, how: How, output: str, pid: int) -> JobOutcome | None:
    """The outcome of a job's process that did not end by itself: timed out or stopped."""
    if how == "timeout":
        timeout = spec.definition.timeout or 0.0
        return JobOutcome("timeout", f"timed out after {_seconds(timeout)}", output, pid)
    if how == "stopped":
        return _interrupted(output, pid)
    return None


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"


def _seconds(value: float) -> str:
    return f"{value:g}s"


class _Output:
    """Reads a job's merged stdout/stderr from the read end of its pipe, in the event loop:
    keeps the last bytes, hands each chunk read to ``chunks`` (whole: a call per line of
    a job printing millions of them held the event loop), or else logs every line.

    A reader callback on the descriptor itself, not an asyncio pipe transport: the
    transport's set-up (a coroutine awaited for a loop turn, a protocol handshake, an
    ``fstat``) was a good part of the loop's work per command in a burst.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        limit: int,
        emit: LogFn | None,
        chunks: Callable[[bytes], None] | None = None,
    ):
        self._loop = loop
        self._fd = fd
        self._limit = limit
        self._emit = emit
        self._chunks = chunks
        self._tail = bytearray()
        self._pending = bytearray()
        self.closed: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        self._watching = False
        self._soon: asyncio.TimerHandle | None = loop.call_later(WATCH_OUTPUT_AFTER, self.watch)

    def watch(self) -> None:
        """Read the output as it comes (see ``WATCH_OUTPUT_AFTER``)."""
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if self._fd >= 0 and not self._watching:
            self._watching = True
            self._loop.add_reader(self._fd, self._readable)

    def take_waiting(self) -> None:
        """Read what the pipe holds now, without waiting (closing it at its end)."""
        while self._fd >= 0:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if data:
                self._received(data)
            else:
                self.close()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # as the end of the output: nothing more can be read
            data = b""
        if data:
            self._received(data)
        else:
            self.close()

    def close(self) -> None:
        """Stop reading (at the end of the output, or when we stop waiting for it)."""
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if self._fd < 0:
            return
        if self._watching:
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        if self._emit is not None and self._pending:
            self._line(self._pending)
        self._pending = bytearray()
        if not self.closed.done():
            self.closed.set_result(None)

    def _received(self, data: bytes) -> None:
        if self._limit > 0:
            self._tail += data
            if len(self._tail) > self._limit:
                del self._tail[: len(self._tail) - self._limit]
        if self._chunks is not None:
            try:
                self._chunks(data)
            except Exception:  # a broken output sink must not break the job
                self._chunks = None
        if self._emit is None:
            return
        self._pending += data
        if b"\n" in data:
            *lines, rest = self._pending.split(b"\n")
            for line in lines:
                self._line(line)
            self._pending = bytearray(rest)
        if len(self._pending) > _LINE_LIMIT:
            self._line(self._pending)
            self._pending = bytearray()

    def _line(self, raw: bytes | bytearray) -> None:
        assert self._emit is not None
        try:
            self._emit(bytes(raw).decode("utf-8", "replace").rstrip("\r"))
        except Exception:  # a broken log sink must not break the job
            self._emit = None

    def raw(self) -> bytes:
        return bytes(self._tail)

    def text(self) -> str:
        data = bytes(self._tail)
        # The cut may fall inside a UTF-8 sequence; drop its orphaned continuation bytes.
        start = 0
        while start < min(len(data), 3) and 0x80 <= data[start] < 0xC0:
            start += 1
        return data[start:].decode("utf-8", "replace")


async def _drain(reader: _Output) -> None:
    """Take what is left in the pipe, but never wait long for a writer we cannot see."""
    reader.take_waiting()
    if not reader.closed.done():
        reader.watch()
        await asyncio.wait({reader.closed}, timeout=DRAIN_TIMEOUT)
    reader.close()


# -- one running job ---------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Job:
    """Book-keeping of one ``run`` call, so that ``stop_all`` can reach it. Plain flags
    and callbacks, no ``asyncio.Event``: every run makes one, and only a stop reads it."""

    label: str
    run_id: str = ""
    #: Set by ``request_stop``.
    stopping: bool = False
    #: Called once ``request_stop`` is: the waits of ``Executor._wait_end``.
    wakers: list[Callable[[], None]] = field(default_factory=list)
    #: Resolved when ``run`` returns: made only for ``stop_all``, which waits on them.
    ended: list[asyncio.Future[None]] = field(default_factory=list)
    grace: float = 5.0

    def request_stop(self) -> None:
        self.stopping = True
        for wake in list(self.wakers):
            wake()

    def returned(self) -> None:
        for ended in self.ended:
            if not ended.done():
                ended.set_result(None)


How = Literal["exit", "timeout", "stopped"]


def _outcome_value(value: Any, limit: int, pid: int | None = None) -> JobOutcome:
    return JobOutcome("success", None, repr_head(value, limit), pid)


def _outcome_exception(exc: BaseException, limit: int, pid: int | None = None) -> JobOutcome:
    return JobOutcome("error", describe_exception(exc), format_traceback_tail(exc, limit), pid, exc)


def _interrupted(output: str = "", pid: int | None = None) -> JobOutcome:
    return JobOutcome("interrupted", SHUTDOWN_ERROR, output, pid)


async def _until_cancelled(running: AsyncRun, grace: float) -> None:
    """Wait up to ``grace`` for a cancelled task to end, but not for one whose loop has
    missed two heartbeats: it is blocked and cannot take the cancellation."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while not running.done.done() and loop.time() < deadline:
        if running.blocked_for() > 2 * BEAT:
            return
        await asyncio.wait({running.done}, timeout=min(BEAT, deadline - loop.time()))


#: How often the pool is looked at for the workers that took pooled tasks, while
#: ``Executor``'s ``on_group`` waits to be told of one (well under a worker's fence).
TELL_TAKERS_EVERY = 0.05


class Executor(JobRunner):
    """Runs job attempts concurrently in the current event loop and can stop them all.

    One instance serves the whole scheduler: ``running`` feeds the status line and
    ``stop_all`` is the last step of a SIGTERM shutdown. After ``stop_all`` the executor
    refuses new work (a run started then returns ``interrupted`` at once), so a job
    dispatched during shutdown cannot slip past it.
    """

    def __init__(
        self,
        log: LogFn | None = None,
        warn: LogFn | None = None,
        output: Callable[[str, str, bytes], None] | None = None,
        on_group: Callable[[str, int], None] | None = None,
    ) -> None:
        self._log = log
        #: Told (run id, process group) of each job in a process of its own once that
        #: group is known: a command's or forked task's at its start, a pooled task's
        #: once a worker takes it. For a watcher outside this process that must be able
        #: to kill the job when this process cannot (a Redis worker's keeper): a pooled
        #: task carries no ``UNO_RUN_ID`` in its environment to be found by.
        self._on_group = on_group
        #: Pooled tasks whose group ``_on_group`` was not told yet (run id by ticket).
        self._untold: dict[Ticket, str] = {}
        self._telling: asyncio.Task[None] | None = None
        #: Where what a command prints goes, chunk by chunk (schedule, run id, bytes);
        #: without it, each line goes to ``log``.
        self._output = output
        #: Where what the operator must see goes (a blocked async task); else ``log``.
        self._warn_log = warn or log
        self._jobs: set[_Job] = set()
        self._stopping = False
        #: Where async tasks run (``asynchost``); a new one when it stalls.
        self._host: TaskHost | None = None
        #: Where hosts post the ends of async tasks (for the current loop).
        self._posts: Posts | None = None
        #: The async tasks running, watched for a loop they block (``_watch_blocking``).
        self._watched: dict[AsyncRun, _Job] = {}
        self._watcher: asyncio.Future[None] | None = None
        #: Per schedule, an async task abandoned at its timeout while it blocked its
        #: thread: the schedule's next runs are refused until that thread is free.
        self._abandoned: dict[str, AsyncRun] = {}
        self._workers = WorkerPool()  # raises the soft descriptor limit first
        self._preparing: asyncio.Task[None] | None = None
        #: How many jobs this process's descriptors hold.
        self.budget = DescriptorBudget.of_this_process()
        #: The scheduler's environment as the executor started, as cron and systemd
        #: give it: rebuilding it from ``os.environ`` for every job was a quarter of
        #: the cost of starting a command in a burst.
        self._environment = _base_environment()
        self._programs = _ProgramPaths()

    @property
    def running(self) -> int:
        return len(self._jobs)

    def room(self, running: int) -> int:
        return self.budget.room(running)

    # -- public ------------------------------------------------------------------------

    async def run(
        self, spec: JobSpec, on_start: Callable[[int | None], None] | None = None
    ) -> JobOutcome:
        """Run one attempt to its end; never raises for what the job does.

        ``on_start`` is called once the job has really started (with the pid of its
        process, or None when it runs in this process), which is the instant the loop
        records as ``started_at``. Cancelling ``run`` kills the job's process group.
        """
        job = _Job(
            label=f"[{spec.run.schedule} {spec.run.run_id}]",
            run_id=spec.run.run_id,
            grace=spec.kill_grace,
        )
        self._jobs.add(job)
        try:
            if self._stopping:
                return _interrupted()
            definition = spec.definition
            if definition.command is not None:
                return await self._run_command(spec, job, on_start)
            if definition.task:
                return await self._run_task(spec, job, on_start)
            return JobOutcome("error", "schedule has neither task nor command", "", None)
        except OSError as exc:
            # No pipe, no process (EMFILE, ENFILE, EAGAIN...): the job never started,
            # and a started one was killed where it failed; the run ends as an error.
            return JobOutcome("error", f"cannot start the job: {exc.strerror or exc}", "", None)
        finally:
            self._jobs.discard(job)
            job.returned()

    def fence(self, deadline: float | None) -> None:
        self._workers.fence(deadline)

    def stop(self, run_id: str, grace: float) -> bool:
        for job in self._jobs:
            if job.run_id == run_id:
                job.grace = grace
                job.request_stop()  # wakes the job's wait, not only marks it
                return True
        return False

    async def stop_all(self, grace: float) -> None:
        """Stop every running job: SIGTERM now, SIGKILL after ``grace`` (async tasks:
        cancelled after ``grace``); returns once each affected ``run`` has returned."""
        self._stopping = True
        jobs = list(self._jobs)
        if not jobs:
            return
        for job in jobs:
            job.grace = grace
            job.request_stop()
        loop = asyncio.get_running_loop()
        waiters = []
        for job in jobs:
            waiter: asyncio.Future[None] = loop.create_future()
            job.ended.append(waiter)
            waiters.append(waiter)
        try:
            await asyncio.wait(waiters, timeout=grace + _KILL_WAIT + 1.0)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def close(self) -> None:
        """Let the idle task workers and the async tasks' loop go (a runner calls this as
        it stops)."""
        self._workers.close()
        if self._telling is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed already
                self._telling.cancel()
        if self._host is not None:
            self._host.close()
            self._host = None

    def prepare(
        self,
        definitions: Iterable[ScheduleDefinition],
        options: SchedulerOptions,
        base_cwd: str | None,
    ) -> None:
        """Have the task workers of ``definitions`` ready before they fall due: as many
        as their queues run at once (sync tasks that ``may_run_pooled``), within ``MAX_IDLE`` and
        half the descriptor budget. Their modules are imported first (so that the
        workers forked after have them) and the workers forked, in the background: the
        first burst after a start then runs as fast as the next."""
        pooled: dict[tuple[str, str], int] = {}
        for definition in definitions:
            if definition.task and may_run_pooled(definition):
                key = (definition.task, definition.queue or options.queue_name)
                pooled[key] = pooled.get(key, 0) + 1
        if self._preparing is not None:
            self._preparing.cancel()
        if not pooled:
            self._workers.keep(0)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # nothing runs without a loop: its first run forks
            return
        self._preparing = loop.create_task(self._prepare(pooled, options, base_cwd))

    async def prepared(self) -> int:
        """Wait until what ``prepare`` started is done; the task workers alive then."""
        if self._preparing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._preparing
        return await self._workers.filled()

    async def _prepare(
        self,
        pooled: dict[tuple[str, str], int],
        options: SchedulerOptions,
        base_cwd: str | None,
    ) -> None:
        await asyncio.sleep(0)  # after the caller's turn (the runner's READY)
        roots = (*import_paths_of(options, base_cwd), base_cwd)
        sync: dict[str, bool] = {}
        modules: set[str] = set()
        per_queue: dict[str, int] = {}
        for (task, name), count in pooled.items():
            if task not in sync:
                try:
                    func = resolve_task(task, roots)
                except JobError:  # its run reports why
                    sync[task] = False
                else:
                    sync[task] = not is_async_callable(func)
                    module = _module_of(func)
                    if sync[task] and module is not None:
                        modules.add(module)
                await asyncio.sleep(0)
            if sync[task]:
                per_queue[name] = per_queue.get(name, 0) + count
        wanted = sum(min(n, options.concurrency(q)) for q, n in per_queue.items())
        self._workers.keep(min(wanted, self.budget.most // 2), modules)

    # -- helpers -----------------------------------------------------------------------

    def _say(self, job: _Job, line: str) -> None:
        if self._log is None:
            return
        with contextlib.suppress(Exception):
            self._log(f"{job.label} {line}")

    def _warn(self, job: _Job, line: str) -> None:
        if self._warn_log is None:
            return
        with contextlib.suppress(Exception):
            self._warn_log(f"{job.label} {line}")

    def _emitter(self, job: _Job) -> LogFn | None:
        if self._log is None:
            return None
        log, prefix = self._log, job.label + " "

        def emit(line: str) -> None:
            log(prefix + line)

        return emit

    def _chunks_of(self, spec: JobSpec) -> Callable[[bytes], None] | None:
        sink = self._output
        if sink is None:
            return None
        schedule, run_id = spec.run.schedule, spec.run.run_id

        def chunks(data: bytes) -> None:
            sink(schedule, run_id, data)

        return chunks

    def _make_room(self) -> None:
        """Before a job takes new descriptors: let go the idle task workers whose
        descriptors it needs (a pooled task reuses an idle worker's instead)."""
        workers = self._workers.idle
        if workers:
            self._workers.let_go(self.budget.idle_to_let_go(len(self._jobs), workers))

    @staticmethod
    def _started(on_start: Callable[[int | None], None] | None, pid: int | None) -> None:
        if on_start is not None:
            on_start(pid)

    async def _wait_end(self, job: _Job, ended: asyncio.Future[Any], timeout: float | None) -> How:
        """Wait for ``ended``, the timeout or a stop request, whichever comes first."""
        if ended.done():
            return "exit"
        if job.stopping:
            return "stopped"
        # Callbacks, not a task per wait: this runs for every job, and a burst starts
        # thousands of them.
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        ended.add_done_callback(wake)
        job.wakers.append(wake)
        timer = loop.call_later(timeout, wake) if timeout is not None else None
        try:
            await woken
        finally:
            ended.remove_done_callback(wake)
            job.wakers.remove(wake)
            if timer is not None:
                timer.cancel()
        if ended.done():
            return "exit"
        return "stopped" if job.stopping else "timeout"

    async def _terminate(self, pgid: int, exited: asyncio.Future[int], grace: float) -> None:
        """SIGTERM the group; SIGKILL it once ``grace`` has passed with anything still alive.

        Returns early when the main process and every other group member are gone, so a
        job that honours SIGTERM does not cost the whole grace period.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), grace)
        pause = _POLL
        while loop.time() < deadline and group_alive(pgid):
            # Back off: each check may scan /proc, which is not free on a busy host.
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
            pause = min(pause * 2, 0.25)
        if not exited.done() or group_alive(pgid):
            signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), _KILL_WAIT)
        # SIGKILL is delivered at once but a process takes a moment to die: return only
        # when nothing of the group is left, so that "no process behind" holds on return.
        deadline = loop.time() + _KILL_WAIT
        while group_alive(pgid) and loop.time() < deadline:
            await asyncio.sleep(_POLL)

    async def _sweep(self, spec: JobSpec, job: _Job) -> None:
        """At a timeout or a stop, end every process that carries the run's
        ``UNO_RUN_ID``: a daemon that called ``setsid`` left the job's process group,
        so the group's ``killpg`` cannot reach it, but it keeps the environment."""
        stopped = await asyncio.to_thread(stop_orphans, [spec.run.run_id], spec.kill_grace)
        if stopped:
            self._say(
                job,
                f"stopped {len(stopped)} process(es) that left the job's process group "
                f"(pids {', '.join(map(str, stopped[:10]))})",
            )

    async def _supervise(
        self, spec: JobSpec, job: _Job, pid: int, exited: asyncio.Future[int]
    ) -> How:
        """Wait for process ``pid`` (leader of its own group) and clean up its group.

        Whatever the job left running in its group when its main process ended is
        terminated too: a finished job's orphans are nobody's to watch, and they would
        hold the output pipe open.
        """
        how = await self._wait_end(job, exited, spec.definition.timeout)
        if how == "stopped":
            await self._terminate(pid, exited, job.grace)
        elif how == "timeout":
            await self._terminate(pid, exited, spec.kill_grace)
        elif group_alive(pid):
            self._say(job, "main process ended; terminating processes it left behind")
            await self._terminate(pid, exited, spec.kill_grace)
        return how

    async def _to_the_end(
        self,
        spec: JobSpec,
        job: _Job,
        pid: int,
        exited: asyncio.Future[int],
        reader: _Output,
        on_start: Callable[[int | None], None] | None,
    ) -> How:
        """Follow a job's process, started, to its end: its timeout or a stop, what it
        left behind swept, its output read to the last byte. Cancelled by the caller, or
        failing in ``on_start``, it never leaves the job behind: the group is killed."""
        try:
            self._started(on_start, pid)
            if self._on_group is not None:
                self._on_group(job.run_id, pid)
            how = await self._supervise(spec, job, pid, exited)
            if how != "exit":
                await self._sweep(spec, job)
            await _drain(reader)
        except BaseException:
            signal_group(pid, signal.SIGKILL)
            reader.close()
            raise
        return how

    # -- commands ----------------------------------------------------------------------

    async def _run_command(
        self, spec: JobSpec, job: _Job, on_start: Callable[[int | None], None] | None
    ) -> JobOutcome:
        try:
            argv = command_argv(spec.definition, effective_args(spec))
            cwd = _resolve_cwd(spec)
        except JobError as exc:
            return JobOutcome("error", str(exc), "", None)
        env = _process_environment(spec, self._environment)
        spilled = _spill_bulky(env)
        try:
            return await self._spawn(spec, job, on_start, argv, cwd, env)
        finally:
            for path in spilled:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    async def _spawn(
        self,
        spec: JobSpec,
        job: _Job,
        on_start: Callable[[int | None], None] | None,
        argv: list[str],
        cwd: str | None,
        env: dict[str, str],
    ) -> JobOutcome:
        loop = asyncio.get_running_loop()
        self._make_room()
        search = env.get("PATH")
        found = self._programs.find(argv[0], search)
        # A fork server starts it, so that the event loop does not wait in ``vfork``.
        # Without one (no descriptor or process left for it here) the job cannot start.
        server = self._workers.command_server()
        try:
            try:
                pid, read_fd, exited = await server.start(argv, found, env, cwd)
            except FileNotFoundError as exc:
                if found is None or exc.filename == cwd:
                    raise
                self._programs.forget(argv[0], search)  # gone since: look again
                pid, read_fd, exited = await server.start(argv, None, env, cwd)
        except ServerGone as exc:
            await self._sweep(spec, job)  # it may have started all the same
            return JobOutcome("error", f"cannot start {argv[0]}: {exc.strerror}", "", None)
        except OSError as exc:
            found = self._programs.find(argv[0], search)  # the file it named, if any
            return JobOutcome("error", _spawn_error(exc, argv[0], cwd, found), "", None)
        try:
            chunks, emit = self._chunks_of(spec), None
            if chunks is None:
                emit = self._emitter(job)
            reader = _Output(loop, read_fd, spec.output_tail, emit, chunks)
        except BaseException:
            os.close(read_fd)
            signal_group(pid, signal.SIGKILL)
            raise
        how = await self._to_the_end(spec, job, pid, exited, reader, on_start)
        output = reader.text()
        cut = _cut_short(spec, how, output, pid)
        if cut is not None:
            return cut
        returncode = exited.result()
        if returncode == 0:
            return JobOutcome("success", None, output, pid)
        return JobOutcome("error", _describe_exit(returncode), output, pid)

    # -- Python tasks ------------------------------------------------------------------

    async def _run_task(
        self, spec: JobSpec, job: _Job, on_start: Callable[[int | None], None] | None
    ) -> JobOutcome:
        task_path = spec.definition.task or ""
        roots = (*spec.import_paths, spec.base_cwd)
        if spec.definition.in_process and not has_local(task_path):
            return JobOutcome("error", NOT_IN_THIS_PROCESS, "", None)
        try:
            func = resolve_task(task_path, roots)
        except JobError as exc:
            cause = exc.__cause__
            output = format_traceback_tail(cause, spec.output_tail) if cause else ""
            return JobOutcome("error", str(exc), output, None)
        args, kwargs = effective_args(spec), task_kwargs(spec)
        if is_async_callable(func):
            return await self._run_async(spec, job, func, args, kwargs, on_start)
        if not may_run_pooled(spec.definition):
            return await self._run_forked(spec, job, func, args, kwargs, on_start)
        return await self._run_pooled(spec, job, func, (task_path, roots), args, kwargs, on_start)

    async def _run_async(
        self,
        spec: JobSpec,
        job: _Job,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        on_start: Callable[[int | None], None] | None,
    ) -> JobOutcome:
        """An ``async def`` task: in the event loop of the async tasks' host thread.

        In the scheduler's loop, a task that blocks (``time.sleep`` in ``async def``)
        froze all firing, and its timeout, a cancellation, could not land until it
        yielded. Here a blocked task stalls only the host's loop, which the next runs
        leave for a new one; its timeout is recorded when it falls due (the task is
        abandoned if it never yields), and the host's heartbeat tells when it blocks,
        which is logged as a warning.
        """
        name = spec.run.schedule
        stuck = self._abandoned.get(name)
        if stuck is not None and not stuck.done.done():
            return JobOutcome("error", ABANDONED_ERROR, "", None)
        self._abandoned.pop(name, None)
        loop = asyncio.get_running_loop()
        self._make_room()
        posts = self._posts
        if posts is None or posts.loop is not loop:
            posts = self._posts = Posts(loop)
        running = AsyncRun(loop, func, args, kwargs, posts, job.label)
        self._submit_async(running)
        self._started(on_start, None)
        timeout = spec.definition.timeout
        self._watch_blocking(job, running)
        try:
            how = await self._wait_end(job, running.done, timeout)
            if how == "stopped":
                await asyncio.wait({running.done}, timeout=job.grace)
                if not running.done.done():
                    running.cancel()
                    await asyncio.wait({running.done}, timeout=min(job.grace, 1.0))
                    return _interrupted()
            elif how == "timeout":
                running.cancel()
                await _until_cancelled(running, spec.kill_grace)
                error = f"timed out after {_seconds(timeout or 0.0)}"
                if not running.done.done():
                    # A blocked loop cannot be stopped: the task is left to end when it
                    # may, and no run of this schedule starts another beside it meanwhile.
                    self._abandoned[name] = running
                    blocker = running.blocker()
                    if blocker is None or blocker is running:
                        error += "; the task blocked its event loop and was abandoned"
                    else:
                        error += (
                            f"; the event loop it shares was blocked by {blocker.label}"
                            " and it was abandoned"
                        )
                return JobOutcome("timeout", error, "", None)
        except BaseException:
            running.cancel()
            raise
        finally:
            self._watched.pop(running, None)
        return self._settled(spec, running.done)

    def _submit_async(self, *runs: AsyncRun) -> None:
        """Hand ``runs`` to the async tasks' host: the current one, or a new one when it
        is stalled (a task blocks its loop); the runs a stalled host had not begun go to
        the new one first."""
        host = self._host
        if host is not None and host.stalled(time.monotonic()):
            runs = (*host.retire(), *runs)
            host = self._host = None
        for run in runs:
            while host is None or not host.submit(run):
                host = TaskHost()
            self._host = host

    def _watch_blocking(self, job: _Job, running: AsyncRun) -> None:
        """Have ``running`` watched: a warning once its loop has not turned for
        ``BLOCKED_AFTER`` seconds. One watcher for all async tasks running (a task each
        was a quarter of the scheduler's work in a burst of them)."""
        self._watched[running] = job
        watcher = self._watcher
        if (
            watcher is None
            or watcher.done()
            or watcher.get_loop() is not asyncio.get_running_loop()
        ):
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while self._watched:
            await asyncio.sleep(BLOCKED_AFTER / 4)
            self._submit_async()  # what waits in a stalled loop begins in a new one
            for running, job in list(self._watched.items()):
                blocked = running.blocked_for()
                if blocked < BLOCKED_AFTER:
                    continue
                blocker = running.blocker()
                if blocker is not None and blocker is not running:
                    continue  # it waits on another task, the one warned of
                del self._watched[running]  # said once
                self._warn(
                    job,
                    f"async task blocks its event loop (no progress for {blocked:.1f}s): "
                    "a blocking call in 'async def'? it cannot be cancelled until it "
                    "yields; the async tasks sharing its loop wait for it, the next ones "
                    "start in another",
                )

    @staticmethod
    def _settled(spec: JobSpec, fut: asyncio.Future[Any]) -> JobOutcome:
        if fut.cancelled():
            return JobOutcome("error", "task was cancelled", "", None)
        exc = fut.exception()
        if exc is not None:
            if isinstance(exc, asyncio.CancelledError):
                return JobOutcome("error", "task was cancelled", "", None)
            return _outcome_exception(exc, spec.output_tail)
        return _outcome_value(fut.result(), spec.output_tail)

    async def _run_pooled(
        self,
        spec: JobSpec,
        job: _Job,
        func: Callable[..., Any],
        where: tuple[str, tuple[str | None, ...]],
        args: list[Any],
        kwargs: dict[str, Any],
        on_start: Callable[[int | None], None] | None,
    ) -> JobOutcome:
        """A sync task without a timeout: in a reused worker process (see ``workers``),
        so that a task that exits, aborts or segfaults ends only its worker and its run
        records how the worker died; the scheduler and its other runs go on. Which
        worker runs it is known once one takes it (``on_start`` gets no pid; ``_on_group``
        is told its group then); a request too large for the workers' queue is run in a
        child forked for it."""
        env = job_environment(spec)
        try:
            request = (*where, args, kwargs, spec.output_tail, env)
            ticket = self._workers.submit(request, _module_of(func))
        except OSError as exc:
            return JobOutcome("error", f"cannot fork task process: {exc.strerror}", "", None)
        if ticket is None:
            return await self._run_forked(spec, job, func, args, kwargs, on_start)
        self._started(on_start, None)
        if self._on_group is not None:
            self._untold[ticket] = job.run_id
            if self._telling is None or self._telling.done():
                self._telling = asyncio.get_running_loop().create_task(
                    self._tell_takers(self._on_group)
                )
        try:
            return await self._pooled_end(spec, job, ticket)
        finally:
            self._untold.pop(ticket, None)

    async def _tell_takers(self, tell: Callable[[str, int], None]) -> None:
        """Tell ``_on_group`` the group of the worker that took each pooled task (each
        leads its own), in one look at the pool every ``TELL_TAKERS_EVERY`` while any
        is untold, not in a wait per task (which cost a burst of short tasks half its
        time). A task that ended first is not told: its worker runs others now."""
        while self._untold:
            takers = self._workers.takers()
            for ticket, run_id in list(self._untold.items()):
                worker = takers.get(ticket.seq)
                if ticket.answer.done():
                    del self._untold[ticket]
                elif worker is not None:
                    del self._untold[ticket]
                    tell(run_id, worker.pid)
            await asyncio.sleep(TELL_TAKERS_EVERY)

    async def _pooled_end(self, spec: JobSpec, job: _Job, ticket: Ticket) -> JobOutcome:
        """What a pooled task's run ends with: its answer, how its worker died, or its
        stop (the worker that took it is killed)."""
        answer = ticket.answer
        how = await self._wait_end(job, answer, None)
        if how == "stopped":
            await asyncio.wait({answer}, timeout=job.grace)
            if not answer.done():
                worker = await self._workers.taken(ticket)
                pid = worker.pid if worker is not None else None
                if worker is not None and not answer.done():
                    await self._terminate(worker.pid, worker.exited, spec.kill_grace)
                    self._workers.discard(worker)
                if not answer.done() or answer.result() is None:
                    await self._sweep(spec, job)
                    return _interrupted("", pid)
                # it returned before the stop reached it: what it did is recorded
        payload = answer.result()
        worker = ticket.worker
        pid = worker.pid if worker is not None else None
        if payload is None:  # the worker died before it answered
            returncode: int | None = None
            if worker is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(worker.exited), _KILL_WAIT)
                returncode = worker.exited.result() if worker.exited.done() else None
            if returncode is None:
                death = "its process ended"
            elif returncode < 0:
                death = f"its process was {_describe_exit(returncode)}"
            else:
                death = f"its process ended with exit status {returncode}"
            return JobOutcome("error", f"task died: {death} before returning", "", pid)
        return _answered(payload, pid)

    async def _run_forked(
        self,
        spec: JobSpec,
        job: _Job,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        on_start: Callable[[int | None], None] | None,
    ) -> JobOutcome:
        """A sync task with a timeout: a forked child in its own group, so it can be killed.

        Forking (not spawning) keeps the start cheap and the task already imported; the
        child sends its result or exception back as JSON over a pipe. The child only runs
        the task and ``_exit``s; a lock another thread held at the fork could hang it, and
        then its timeout (the reason we forked) still ends it.
        """
        loop = asyncio.get_running_loop()
        limit = spec.output_tail
        self._make_room()
        read_fd, write_fd = os.pipe()
        try:
            pid = fork()
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            return JobOutcome("error", f"cannot fork task process: {exc.strerror}", "", None)
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            drop_own_environment()
            switch_environment(job_environment(spec))  # the child's own copy: see _sweep
            _child_main(func, args, kwargs, read_fd, write_fd, limit)
        os.close(write_fd)
        exited = watch_pid(loop, pid)
        try:
            reader = _Output(loop, read_fd, _RESULT_LIMIT, None)
        except BaseException:
            os.close(read_fd)
            signal_group(pid, signal.SIGKILL)
            raise
        self._workers.adopt(pid)  # killed at the fence too, though no server forked it
        try:
            how = await self._to_the_end(spec, job, pid, exited, reader, on_start)
        finally:
            self._workers.release(pid)
        cut = _cut_short(spec, how, "", pid)
        if cut is not None:
            return cut
        try:
            payload = json.loads(reader.raw().decode("utf-8", "replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return _answered(payload, pid)
        returncode = exited.result() if exited.done() else 255
        if returncode < 0:
            return JobOutcome("error", _describe_exit(returncode), "", pid)
        return JobOutcome(
            "error", f"task process ended with exit status {returncode} and no result", "", pid
        )


def _module_of(func: Callable[..., Any]) -> str | None:
    """The name of the module a task's callable comes from (what its workers must have)."""
    module = getattr(func, "__module__", None)
    return module if isinstance(module, str) else None


def may_run_pooled(definition: ScheduleDefinition) -> bool:
    """Whether a Python task of ``definition`` runs in a pooled worker when it is sync
    (an ``async def`` one runs on a thread). With a timeout it gets a forked child of
    its own, killed whole at the timeout; an in-process callable (a closure...) is known
    only to this process as it is now: a fork per run has it, a pooled worker forked
    earlier may not."""
    return definition.timeout is None and not definition.in_process


def _spawn_error(exc: OSError, program: str, cwd: str | None, found: str | None = None) -> str:
    """Why a command could not start, for its run's error. ``found``: where its bare
    name was found on PATH."""
    if isinstance(exc, FileNotFoundError):
        if cwd and exc.filename == cwd:
            return f"working directory not found: {cwd}"
        file = os.path.join(cwd or "", program) if "/" in program else found
        if file is not None and os.path.isfile(file):
            # The kernel says ENOENT for a script whose ``#!`` interpreter is missing.
            interpreter = _interpreter(file)
            if interpreter is not None and not os.path.exists(interpreter):
                return f"interpreter not found: {interpreter} (the first line of {file})"
            return f"cannot start {file}: a file it needs is missing ({exc.strerror})"
        return f"command not found: {program}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {program}"
    return f"cannot start {program}: {exc.strerror or exc}"


def _interpreter(file: str) -> str | None:
    """The program a script's ``#!`` line names; None without one."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return None
    words = head[2:].split(b"\n", 1)[0].split() if head.startswith(b"#!") else []
    return os.fsdecode(words[0]) if words else None


def _child_main(
    func: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    read_fd: int,
    write_fd: int,
    limit: int,
) -> NoReturn:  # pragma: no cover - runs in the forked child
    """Body of a forked task process: run, report, ``_exit`` (no atexit, no loop teardown).

    Signal handlers inherited from the scheduler are reset first: asyncio's handlers
    write to a wakeup fd shared with the parent, so a SIGTERM sent to the task would
    otherwise be read by the *scheduler* as its own SIGTERM.
    """
    code = 0
    try:
        begin_child([read_fd])
        payload: dict[str, Any]
        try:
            value = func(*args, **kwargs)
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise TypeError("a plain function returned an awaitable; declare it 'async def'")
            payload = {"ok": True, "output": repr_head(value, limit)}
        except BaseException as exc:
            payload = {
                "ok": False,
                "error": describe_exception(exc),
                "output": format_traceback_tail(exc, limit),
            }
        view = memoryview(json.dumps(payload).encode())
        while view:
            view = view[os.write(write_fd, view) :]
    except BaseException:
        code = 70
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


# -- hooks -------------------------------------------------------------------------------


def hook_argv(hook: Sequence[str] | str, shell: bool = False) -> list[str]:
    """The argv of an ``on_error`` hook, by the rule of its schedule's command.

    With ``shell`` (the schedule's ``shell: true``) a string is a script for the shell
    that runs the command (``shell_argv``); without, a string is split into words as for
    ``command:`` and runs without a shell. A list is the program and its words as
    written, either way (what ``[sh, -c, ...]`` hooks rely on).
    """
    if isinstance(hook, str):
        return shell_argv(hook) if shell else shlex.split(hook)
    return [str(word) for word in hook]


def run_hook(
    argv: Sequence[str] | str,
    env: Mapping[str, str],
    timeout: float = 60,
    *,
    shell: bool = False,
    log: LogFn | None = None,
) -> None:
    """Run an ``on_error`` hook to its end (at most ``timeout`` seconds); never raises.

    Blocking on purpose: the loop calls it from a worker thread. ``argv`` becomes words
    by ``hook_argv`` (``shell``: the hook's schedule has ``shell: true``); ``env`` is
    laid over this process's environment. The hook gets its own process group, killed
    whole at the timeout, and its output goes to ``log``.
    """
    try:
        words = hook_argv(argv, shell)
        if not words:
            return
        full_env = _base_environment()
        full_env.update({str(k): str(v) for k, v in env.items()})
        # A file, not a pipe: a grandchild holding a pipe open could block us forever.
        with tempfile.TemporaryFile() as out:
            try:
                proc = subprocess.Popen(
                    words,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    start_new_session=True,
                )
            except OSError as exc:
                if log:
                    log(f"on_error hook: {_spawn_error(exc, words[0], None)}")
                return
            try:
                returncode: int | None = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                returncode = None
            signal_group(proc.pid, signal.SIGKILL)  # the hook's leftovers, or all of it
            if returncode is None:
                proc.wait()
            if log is None:
                return
            out.seek(max(out.seek(0, os.SEEK_END) - 4096, 0))
            for line in out.read().decode("utf-8", "replace").splitlines():
                log(f"on_error hook {words[0]}: {line}")
            if returncode is None:
                log(f"on_error hook {words[0]} timed out after {_seconds(timeout)}; killed")
            elif returncode != 0:
                log(f"on_error hook {words[0]} failed: {_describe_exit(returncode)}")
    except Exception as exc:  # a hook is best effort; the scheduler must go on
        if log is not None:
            with contextlib.suppress(Exception):
                log(f"on_error hook failed: {describe_exception(exc)}")

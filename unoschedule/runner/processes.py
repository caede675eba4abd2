"""Processes as the executor sees them: process groups, exits and leftovers.

Everything here is about pids and /proc, not about jobs: signalling a whole group,
telling whether anything of a group still lives (zombies do not count), being told of a
child's exit through a pidfd, and finding the processes a dead scheduler left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "begin_child",
    "close_on_exec",
    "die_with_parent",
    "drop_own_environment",
    "fork",
    "group_alive",
    "inheritable_environment",
    "pid_exists",
    "process_gone",
    "process_token",
    "reset_child_signals",
    "signal_group",
    "start_command",
    "steady",
    "stop_orphans",
    "watch_pid",
]

#: How often a process group is looked at while waiting for it to go.
POLL = 0.02
#: The runner's own settings (``UNO_SCHEDULE_CONFIG``, ``UNO_SCHEDULE_REDIS_PASSWORD``,
#: shell completion's ``_UNO_SCHEDULE_COMPLETE``...): its business, never a job's. A
#: job gets the run's variables (``UNO_SCHEDULE_NAME``, ``UNO_RUN_ID``...) set anew.
_OWN_PREFIXES = ("UNO_SCHEDULE_", "_UNO_SCHEDULE_")


def inheritable_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the runner's own variables: what a job or hook inherits."""
    return {k: v for k, v in environ.items() if not k.startswith(_OWN_PREFIXES)}


def drop_own_environment() -> None:  # pragma: no cover - runs in a forked child
    """In a forked task process: forget the runner's own variables before the task runs."""
    for key in [k for k in os.environ if k.startswith(_OWN_PREFIXES)]:
        os.environ.pop(key, None)


def _start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, /proc/PID/stat field 22): with the
    pid, it names one process, never a later one that reused the pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def process_token(pid: int | None = None) -> str:
    """``HOST:PID:START``: this process (or ``pid``), as ``process_gone`` can check it."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def process_gone(token: str) -> bool | None:
    """Whether the process a ``process_token`` names is known dead: True when it is of
    this host and its pid is free or reused; None when it cannot be known here (another
    host, or not a token)."""
    parts = token.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid, start = parts
    if host != socket.gethostname():
        return None
    now = _start_ticks(int(pid))
    if now is None:
        return True
    return start != "?" and now != start


def pid_exists(pid: int) -> bool:
    """Whether a process of this pid lives (a zombie does too), by the signal 0 test."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def steady() -> float:
    """Seconds on a clock shared by every process of the host that keeps counting while
    the host is suspended (``CLOCK_BOOTTIME``)."""
    return time.clock_gettime(_STEADY)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_has_live_member(pgid: int) -> bool:
    """Whether a non-zombie process is in group ``pgid`` (per /proc).

    ``killpg(pgid, 0)`` also succeeds for zombies, and orphaned grandchildren stay
    zombies for as long as PID 1 of a container does not reap them, so the signal test
    alone would make every termination wait out the whole grace period.
    """
    try:
        names = os.listdir("/proc")
    except OSError:
        return True
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _group_has_live_member(pgid)


def watch_pid(loop: asyncio.AbstractEventLoop, pid: int) -> asyncio.Future[int]:
    """A future with the exit code (negative: signal) of our forked child ``pid``.

    A pidfd makes the exit an ordinary readable fd for the event loop: no thread and no
    SIGCHLD handler, which asyncio's own child watcher may already own.
    """
    fut: asyncio.Future[int] = loop.create_future()

    def reap(block: bool) -> bool:
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the code is lost
            done, status = pid, 255 << 8
        if done == 0:
            return False
        if not fut.done():
            fut.set_result(os.waitstatus_to_exitcode(status))
        return True

    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):

        async def poll() -> None:
            while not reap(block=False):
                await asyncio.sleep(0.01)

        task = loop.create_task(poll())
        fut.add_done_callback(lambda _: task.cancel())
        return fut

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        reap(block=True)

    loop.add_reader(pidfd, on_exit)
    return fut


def die_with_parent(sig: int = signal.SIGKILL) -> None:  # pragma: no cover - in a child
    """Ask the kernel to send ``sig`` (SIGKILL: to kill) this process when the scheduler
    dies (Linux ``PR_SET_PDEATHSIG``): a forked task carries no ``UNO_RUN_ID`` in its
    environment for the next leader to find it by, so it must not outlive a scheduler
    killed with -9. (The fork server asks for a signal it handles: see ``forker``.)"""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)


def stop_orphans(run_ids: Iterable[str], grace: float) -> list[int]:
    """Stop the processes of runs that a dead scheduler left running; return their pids.

    A command carries ``UNO_RUN_ID`` in its environment, and so does everything it
    started: the processes whose environment names one of ``run_ids`` are found in
    /proc, their process groups get SIGTERM and, after ``grace`` seconds, SIGKILL.
    Otherwise an orphan of a scheduler killed with -9 would keep running beside the
    retry of its own run (and ``unique`` would not hold).
    """
    wanted = {f"UNO_RUN_ID={run_id}".encode() for run_id in run_ids}
    if not wanted:
        return []
    found = _processes_with_environment(wanted)
    groups = set()
    for pid in found:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)  # in case it left its group
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _any_alive(found):
        time.sleep(POLL)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return sorted(found)


def _processes_with_environment(wanted: set[bytes]) -> list[int]:
    """Pids (not our own) whose initial environment holds one of ``wanted``."""
    me = os.getpid()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                entries = fh.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if wanted.intersection(entries):
            found.append(int(name))
    return found


def _any_alive(pids: Iterable[int]) -> bool:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X"):
            return True
    return False


def fork() -> int:
    """``os.fork`` for a task process: what this process printed is flushed first (or
    the child would print it again), and the child's garbage collector never walks the
    objects it inherited: a walk writes to every object, and each page written is
    copied, so a child's first collection would copy the scheduler's whole heap into it.

    The child freezes them (``gc.freeze`` relinks the generations' lists, touching no
    object), with collection off across the fork so that none runs before. The parent
    freezes nothing: unfreezing after the fork would also return to collection what it
    had frozen itself (``Service`` freezes the loaded state once, so that no full
    collection rescans 100,000 schedules), and keeping the fork's freeze would keep
    every cycle alive at that moment for ever.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    collecting = gc.isenabled()
    gc.disable()
    pid = -1
    try:
        with warnings.catch_warnings():  # 3.12+ warns about fork with threads: the child
            warnings.simplefilter("ignore", DeprecationWarning)  # runs only the task
            pid = os.fork()
    finally:
        if pid == 0:  # pragma: no cover - in the child
            gc.freeze()
        if collecting:
            gc.enable()
    return pid


def reset_child_signals() -> None:  # pragma: no cover - runs in a forked child
    """Signal handlers inherited from the scheduler go back to their defaults: asyncio's
    handlers write to a wakeup fd shared with the parent, so a SIGTERM sent to the child
    would otherwise be read by the *scheduler* as its own SIGTERM."""
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError, TypeError):
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)


def begin_child(  # pragma: no cover - in a forked child
    close: Iterable[int] = (), death: int = signal.SIGKILL
) -> None:
    """The first acts of a process forked to run jobs (a task worker, the fork server,
    a task's own child): close the descriptors it must not hold, read nothing of the
    scheduler's stdin (``/dev/null`` instead), lead a session and process group of its
    own (a stop kills its tree with one ``killpg``), get ``death`` when its parent dies
    (``die_with_parent``), and leave the parent's signal handlers behind."""
    for fd in close:
        with contextlib.suppress(OSError):
            os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.setsid()
    die_with_parent(death)
    reset_child_signals()
    _run_as_batch()


def _run_as_batch() -> None:  # pragma: no cover - in a forked child
    """Put this process under ``SCHED_BATCH`` if it runs under the default policy: a
    job's process, woken, then waits for the running thread's time slice instead of
    preempting it. A burst wakes hundreds of them at once; under the default policy
    each took the CPU from the scheduler, which hands out the rest of the burst. Its
    share of the CPU is unchanged (its nice value still sets it), what it starts
    inherits the policy as ``CPUSchedulingPolicy=batch`` would give it, and a policy
    the operator chose (``idle``, a real-time one) is left as it is."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: nothing to change
        if os.sched_getscheduler(0) == os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


#: Signals Python ignores (``SIGPIPE``, ``SIGXFSZ``) that a command starts with at their
#: defaults, as ``subprocess.Popen`` gives them (``restore_signals``): ``yes | head``
#: must end at the closed pipe. Handlers go by themselves at ``exec``.
_RESTORED = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))


def start_command(
    argv: Sequence[str],
    program: str | None,
    output: int,
    env: Mapping[str, str],
    cwd: str | int,
) -> int:
    """Start a command and return its pid: ``argv`` run by ``program`` (else by
    ``argv[0]``, looked up on the ``PATH`` of ``env`` as ``Popen`` does), in ``cwd`` (a
    path or an open directory), with stdin from ``/dev/null`` and stdout and stderr to
    ``output``, leading a session of its own, with no other descriptor of ours.

    ``posix_spawn``, not ``Popen``: it does the same in half the caller's time. It has
    no working directory of its own, so this one changes the caller's: only a
    single-threaded process (the fork server) may call it. Descriptors are left behind
    because every one the caller holds is close-on-exec (see ``close_on_exec``).
    """
    if isinstance(cwd, int):
        os.fchdir(cwd)
    else:
        os.chdir(cwd)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, output, 1),
        (os.POSIX_SPAWN_DUP2, output, 2),
    ]
    name = program or argv[0]
    if os.path.dirname(name):
        paths = [name]
    else:
        paths = [os.path.join(entry, name) for entry in os.get_exec_path(env)]
    # As execvpe and Popen do: every candidate in turn, then the first error that is not
    # "no such file" (a program found but not runnable says so), else the last.
    first: OSError | None = None
    last: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    for path in paths:
        try:
            return os.posix_spawn(
                path, list(argv), env, file_actions=actions, setsid=True, setsigdef=_RESTORED
            )
        except OSError as exc:
            last = exc
            if first is None and exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                first = exc
    raise first or last


def close_on_exec() -> None:  # pragma: no cover - runs in the fork server
    """Mark every descriptor above stderr close-on-exec: Python makes its own so, but
    one inherited from whoever started the scheduler may not be, and ``start_command``
    must hand a command only its stdin, stdout and stderr (``Popen``'s ``close_fds``)."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.set_inheritable(fd, False)

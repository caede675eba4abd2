"""The full output of each run, one file per run under ``scheduler.log_dir``.

The state keeps only the tail of a run's output (``output_tail``, for ``history`` and
failure messages); the whole of it goes to ``<log_dir>/<schedule>/<run_id>.log``, written
as the job prints (so ``logs --follow`` sees it live), cut at ``log_max_bytes``, and
deleted with the run record when the retention prunes it. The default folder is
``<state file>.logs`` beside the state.

The runner often runs as root and the folders may sit where others can reach: each
folder is made 0700 whatever the umask, a schedule's name becomes a file name that can
neither climb out (``..``) nor nest (``a/b``), and below ``log_dir`` nothing is opened
through a symbolic link (``openat`` with ``O_NOFOLLOW`` from the folder's descriptor), so
that swapping a folder for a link makes the write fail instead of going where the link
points.

The runner's side is ``OutputSink``: the executor hands what a command prints, chunk by
chunk as it reads it, to the sink, which appends it to the run's file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from .errors import UnoScheduleError

if TYPE_CHECKING:
    from .abc import Store
    from .jobs import JobOutcome
    from .model import RunRecord, SchedulerOptions


class _HasLogDir(Protocol):
    """What ``log_dir_of`` reads: the library's ``Scheduler`` or the runner's engine."""

    options: SchedulerOptions

    @property
    def base_dir(self) -> str | None: ...

    @property
    def state_path(self) -> Path | None: ...


__all__ = [
    "OutputSink",
    "file_name",
    "log_dir_of",
    "path_of",
    "read_output",
    "remove",
    "sink_of",
]

#: A run's file is flushed at most this often while it prints (and when it ends): a
#: write per line stays a copy into a buffer, not a system call.
FLUSH_SECONDS = 0.5


def log_dir_of(scheduler: _HasLogDir) -> Path | None:
    """``scheduler.log_dir`` (relative: to the YAML file's folder), else beside the state
    file; None for a remote store with no ``log_dir``.

    The folder is the scheduler's ``base_dir``, the one a relative ``cwd`` is read
    against too: it is the file's also for a command that was opened over the state
    without reading the file, so that ``logs`` reads where the runner wrote.
    """
    configured = scheduler.options.log_dir
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and scheduler.base_dir is not None:
            path = Path(scheduler.base_dir) / path
        return path
    state = scheduler.state_path
    return None if state is None else Path(str(state) + ".logs")


#: Longest file name written for a schedule (file systems allow 255 bytes).
_NAME_BYTES = 120
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def file_name(schedule: str) -> str:
    """The folder name of a schedule's runs: one name per schedule, never ``.``, ``..``
    or a path. Letters, digits, ``-_.`` stay; anything else (and a leading dot) is
    written ``%XX`` per UTF-8 byte; a name too long for a file keeps its head and a hash."""
    out = []
    for i, ch in enumerate(schedule):
        if ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    name = "".join(out) or "%"
    if len(name) > _NAME_BYTES:
        digest = hashlib.sha256(schedule.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = f"{name[: _NAME_BYTES - 17]}~{digest}"
    return name


def path_of(log_dir: Path, schedule: str, run_id: str) -> Path:
    return log_dir / file_name(schedule) / file_name(f"{run_id}.log")


def _make_private(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700 whatever the umask."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
            os.chmod(folder, 0o700)  # a umask cannot widen it, but may narrow it


@contextlib.contextmanager
def _folder(log_dir: Path, schedule: str, *, create: bool) -> Iterator[int]:
    """A descriptor of the schedule's folder, reached from ``log_dir`` without following
    a link (``log_dir`` itself is the operator's choice and may be one)."""
    if create:
        _make_private(log_dir)
    top = os.open(log_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        name = file_name(schedule)
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=top)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=top)
    finally:
        os.close(top)
    try:
        yield fd
    finally:
        os.close(fd)


def open_run_file(log_dir: Path, schedule: str, run_id: str) -> int:
    """A descriptor to append a run's output to, created 0600; never through a link."""
    with _folder(log_dir, schedule, create=True) as folder:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW
        return os.open(file_name(f"{run_id}.log"), flags, 0o600, dir_fd=folder)


def read_run_file(log_dir: Path, schedule: str, run_id: str) -> str | None:
    """A run's whole output, or None when it has no file (or only through a link)."""
    try:
        with _folder(log_dir, schedule, create=False) as folder:
            fd = os.open(file_name(f"{run_id}.log"), os.O_RDONLY | _NOFOLLOW, dir_fd=folder)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def run_ids_of(log_dir: Path, schedule: str, older_than: float) -> list[str]:
    """The runs of ``schedule`` with a file under ``log_dir`` last written more than
    ``older_than`` seconds ago (a running job's file is written as it prints)."""
    found: list[str] = []
    limit = time.time() - older_than
    with contextlib.suppress(OSError), _folder(log_dir, schedule, create=False) as folder:
        for entry in os.scandir(folder):
            if not entry.name.endswith(".log"):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < limit:
                    found.append(entry.name[: -len(".log")])
    return found


def remove(log_dir: Path | None, runs: Iterable[tuple[str, str]]) -> None:
    """Delete the files of pruned runs (schedule, run_id); missing ones are fine."""
    if log_dir is None:
        return
    for schedule, run_id in runs:
        with contextlib.suppress(OSError), _folder(log_dir, schedule, create=False) as folder:
            os.unlink(file_name(f"{run_id}.log"), dir_fd=folder)


class OutputSink:
    """Writes what each command prints, as the executor reads it (chunks of up to
    256 KiB, not lines: a job printing millions of short lines cost a call per line on
    the event loop), to that run's file; with ``echo``, each line also goes to
    ``forward`` as ``[schedule run_id] line`` (the runner's debug log)."""

    def __init__(
        self,
        log_dir: Path,
        forward: Callable[[str], None],
        max_bytes: int = 0,
        *,
        echo: bool = False,
    ) -> None:
        self.log_dir = log_dir
        self.forward = forward
        #: A run's file stops growing past this many bytes (0: no limit).
        self.max_bytes = max_bytes
        self.echo = echo
        self._files: dict[str, IO[bytes]] = {}
        self._flushed: dict[str, float] = {}
        self._written: dict[str, int] = {}
        #: Runs whose file cannot be written (not tried again), and the schedules
        #: already warned about: one folder swapped for a link stops only its own.
        self._broken: set[str] = set()
        self._warned: set[str] = set()

    def write(self, schedule: str, run_id: str, data: bytes) -> None:
        """``data`` as the run's command printed it (its lines cut anywhere)."""
        if self.echo:
            for line in data.decode("utf-8", "replace").splitlines():
                self.forward(f"[{schedule} {run_id}] {line}")
        if run_id in self._broken:
            return
        try:
            handle = self._files.get(run_id)
            if handle is None:
                handle = self._files[run_id] = self._open(schedule, run_id)
            handle.write(self._room(run_id, data))
            now = time.monotonic()
            if now - self._flushed.get(run_id, 0.0) >= FLUSH_SECONDS:
                handle.flush()  # ``logs --follow`` sees output within this long
                self._flushed[run_id] = now
        except OSError as exc:
            self._broken.add(run_id)  # stop trying for this run; the job runs on
            if schedule not in self._warned:
                self._warned.add(schedule)
                self.forward(f"cannot write run output of {schedule} under {self.log_dir}: {exc}")

    def _open(self, schedule: str, run_id: str) -> IO[bytes]:
        return os.fdopen(open_run_file(self.log_dir, schedule, run_id), "ab")

    def _room(self, run_id: str, data: bytes) -> bytes:
        """What of ``data`` fits under ``max_bytes``; where it stops fitting, a note
        saying that the file was cut."""
        if self.max_bytes <= 0:
            return data
        written = self._written.get(run_id, 0)
        if written > self.max_bytes:
            return b""
        self._written[run_id] = written + len(data)
        if written + len(data) <= self.max_bytes:
            return data
        self._written[run_id] = self.max_bytes + 1
        note = (
            f"\n[uno-schedule: output cut at {self.max_bytes} bytes "
            "(scheduler.log_max_bytes); the end of it is in the run's output tail]\n"
        )
        return data[: self.max_bytes - written] + note.encode()

    def finished(self, schedule: str, run_id: str, output: str | None, success: bool) -> None:
        """Close the run's file. A failed run that printed nothing through the pipe (a
        Python task) gets what the executor reported, its traceback; a successful one
        gets no file (its return value is in the state; a file per run would cost a
        burst of 10,000 tasks half a second of the event loop)."""
        handle = self._files.pop(run_id, None)
        self._flushed.pop(run_id, None)
        self._written.pop(run_id, None)
        if run_id in self._broken:
            self._broken.discard(run_id)
            return
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
            return
        if output and not success:
            text = output if output.endswith("\n") else output + "\n"
            with contextlib.suppress(OSError), self._open(schedule, run_id) as out:
                out.write(text.encode("utf-8", "replace"))

    def ended(self, run: RunRecord, outcome: JobOutcome) -> None:
        """``finished``, for a run's end as the executor reported it."""
        self.finished(run.schedule, run.run_id, outcome.output, outcome.result == "success")

    def close(self) -> None:
        for handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()


def sink_of(
    scheduler: _HasLogDir, forward: Callable[[str], None], *, echo: bool = False
) -> OutputSink | None:
    """The writer of the full output of the runs ``scheduler`` runs in this process, the
    leader's, a worker's and a foreground ``trigger --wait``'s alike: under its
    ``log_dir``, cut at ``log_max_bytes``, where ``logs`` reads. None without a
    ``log_dir`` (a remote store with none configured)."""
    log_dir = log_dir_of(scheduler)
    if log_dir is None:
        return None
    return OutputSink(log_dir, forward, scheduler.options.log_max_bytes, echo=echo)


def read_output(
    scheduler: _HasLogDir, store: Store | None, name: str, run_id: str | None
) -> dict[str, Any]:
    """The output of one run (default: the latest that started): ``{"run_id", "result",
    "path", "complete", "output"}``; ``complete`` is False when only the tail kept in the
    state is left (no file: written before log_dir, or by a foreground ``trigger``)."""
    if store is None:
        raise UnoScheduleError("no state file: the scheduler has never run here")
    if run_id is None:
        started = [r for r in store.history(name, limit=50) if r.started_at is not None]
        if not started:
            raise UnoScheduleError(f"{name} has no run with output yet")
        run = max(started, key=lambda r: (r.started_at, r.run_id))
    else:
        from .ids import resolve_run_id

        found = store.get_run(resolve_run_id(store.run_ids_starting, run_id, name))
        if found is None or found.schedule != name:
            raise UnoScheduleError(f"{name} has no run {run_id!r}")
        run = found
    log_dir = log_dir_of(scheduler)
    text = read_run_file(log_dir, name, run.run_id) if log_dir is not None else None
    if log_dir is not None and text is not None:
        path = path_of(log_dir, name, run.run_id)
        return {
            "run_id": run.run_id, "result": run.result, "path": str(path),
            "complete": True, "output": text,
        }  # fmt: skip
    return {
        "run_id": run.run_id, "result": run.result, "path": None,
        "complete": False, "output": run.output or "",
    }  # fmt: skip

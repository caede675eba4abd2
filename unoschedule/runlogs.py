"""The full output of each run, one file per run under ``scheduler.log_dir``.

The state keeps only the tail of a run's output (``output_tail``, for ``history`` and
failure messages); the whole of it goes to ``<log_dir>/<schedule>/<run_id>.log``, written
as the job prints (so ``logs --follow`` sees it live) and deleted with the run record
when the retention prunes it. The default folder is ``<state file>.logs`` beside the state.

The runner's side is ``OutputSink``: the executor hands every output line of a command
to a log callback, prefixed with ``[schedule run_id]``; the sink routes each line to its
run's file and passes it on unchanged.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from .errors import UnoScheduleError

if TYPE_CHECKING:
    from .abc import Store
    from .config import Config
    from .model import SchedulerOptions


class _HasLogDir(Protocol):
    """What ``log_dir_of`` reads: the library's ``Scheduler`` or the runner's engine."""

    options: SchedulerOptions
    config: Config | None

    @property
    def state_path(self) -> Path | None: ...


__all__ = ["OutputSink", "log_dir_of", "path_of", "read_output", "remove"]

#: A run's file is flushed at most this often while it prints (and when it ends): a
#: write per line stays a copy into a buffer, not a system call.
FLUSH_SECONDS = 0.5


def log_dir_of(scheduler: _HasLogDir) -> Path | None:
    """``scheduler.log_dir`` (relative: to the YAML file's folder), else beside the state
    file; None for a remote store with no ``log_dir``."""
    configured = scheduler.options.log_dir
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and scheduler.config is not None:
            path = scheduler.config.folder / path
        return path
    state = scheduler.state_path
    return None if state is None else Path(str(state) + ".logs")


def path_of(log_dir: Path, schedule: str, run_id: str) -> Path:
    safe = schedule.replace(os.sep, "_").replace("\0", "_") or "_"
    return log_dir / safe / f"{run_id}.log"


def remove(log_dir: Path | None, runs: Iterable[tuple[str, str]]) -> None:
    """Delete the files of pruned runs (schedule, run_id); missing ones are fine."""
    if log_dir is None:
        return
    for schedule, run_id in runs:
        with contextlib.suppress(OSError):
            path_of(log_dir, schedule, run_id).unlink()


class OutputSink:
    """Routes ``[schedule run_id] line`` to that run's file, then to ``forward``."""

    def __init__(self, log_dir: Path, forward: Callable[[str], None]) -> None:
        self.log_dir = log_dir
        self.forward = forward
        self._files: dict[str, IO[str]] = {}
        self._flushed: dict[str, float] = {}
        self._broken = False

    def __call__(self, line: str) -> None:
        self.forward(line)
        if self._broken or not line.startswith("["):
            return
        label, sep, text = line.partition("] ")
        if not sep:
            return
        schedule, _, run_id = label[1:].rpartition(" ")
        try:
            handle = self._files.get(run_id)
            if handle is None:
                handle = self._files[run_id] = self._open(schedule, run_id)
            handle.write(text + "\n")
            now = time.monotonic()
            if now - self._flushed.get(run_id, 0.0) >= FLUSH_SECONDS:
                handle.flush()  # ``logs --follow`` sees output within this long
                self._flushed[run_id] = now
        except OSError as exc:
            self._broken = True  # one warning's worth: stop trying, keep running jobs
            self.forward(f"cannot write run output under {self.log_dir}: {exc}")

    def _open(self, schedule: str, run_id: str) -> IO[str]:
        path = path_of(self.log_dir, schedule, run_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding="utf-8", errors="replace")

    def finished(self, schedule: str, run_id: str, output: str | None, success: bool) -> None:
        """Close the run's file. A failed run that printed nothing through the pipe (a
        Python task) gets what the executor reported, its traceback; a successful one
        gets no file (its return value is in the state; a file per run would cost a
        burst of 10,000 tasks half a second of the event loop)."""
        handle = self._files.pop(run_id, None)
        self._flushed.pop(run_id, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
            return
        if output and not success and not self._broken:
            with contextlib.suppress(OSError), self._open(schedule, run_id) as out:
                out.write(output if output.endswith("\n") else output + "\n")

    def close(self) -> None:
        for handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()


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
        found = store.get_run(run_id)
        if found is None or found.schedule != name:
            raise UnoScheduleError(f"{name} has no run {run_id!r}")
        run = found
    log_dir = log_dir_of(scheduler)
    path = path_of(log_dir, name, run.run_id) if log_dir is not None else None
    if path is not None and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        return {
            "run_id": run.run_id, "result": run.result, "path": str(path),
            "complete": True, "output": text,
        }  # fmt: skip
    return {
        "run_id": run.run_id, "result": run.result, "path": None,
        "complete": False, "output": run.output or "",
    }  # fmt: skip

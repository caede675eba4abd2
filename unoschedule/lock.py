"""The leader lock: an exclusive ``flock`` on ``<state>.lock``, held for a runner's life.

Why a file lock as well as the lease in the state: the kernel drops a ``flock`` the moment
its holder dies, even by SIGKILL, so a standby on the same host takes over within its
poll interval instead of waiting for the lease to expire. The lease (in the store) still
fences a leader that was paused and resumed; the two together give a fast takeover that
is also safe.

A sidecar ``<state>.lock.info`` names the holder (pid and host), so that a standby can
say whom it waits for. It is advisory text only; the lock itself is the truth.

This is the only module that imports ``filelock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import LeadershipError
from .private import make_private_dirs

if TYPE_CHECKING:
    import filelock

__all__ = ["LeaderLock", "held_elsewhere"]

_POLL = 0.05


class LeaderLock:
    """Exclusive, non-reentrant leadership of one state file on this host.

    ``path`` is the lock file (``<state>.lock``) or the state file itself, in which case
    ``.lock`` is appended.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        text = os.path.abspath(os.fspath(path))
        self.path = Path(text if text.endswith(".lock") else text + ".lock")
        self.info_path = Path(str(self.path) + ".info")
        self._file_lock: filelock.FileLock | None = None

    @property
    def _lock(self) -> filelock.FileLock:
        """Made on first use: ``held_elsewhere`` (every opening of a state with a log)
        needs only the path, and importing filelock costs a shell command 15 ms."""
        if self._file_lock is None:
            import filelock

            self._file_lock = filelock.FileLock(
                str(self.path),
                mode=0o600,
                thread_local=False,
                is_singleton=False,
                fallback_to_soft=False,  # a soft lock would survive a SIGKILL of its holder
                poll_interval=_POLL,
            )
        return self._file_lock

    @classmethod
    def for_state(cls, state_path: str | os.PathLike[str]) -> LeaderLock:
        return cls(os.fspath(state_path) + ".lock")

    @property
    def held(self) -> bool:
        return self._file_lock is not None and bool(self._file_lock.is_locked)

    def acquire(
        self,
        blocking: bool = True,
        timeout: float | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> bool:
        """Take the lock. Non-blocking returns at once; blocking waits up to ``timeout``
        (None: for ever). ``on_wait`` is called once, before waiting, so the caller can log
        that it stands by (``holder()`` says for whom)."""
        if self.held:
            return True
        try:
            make_private_dirs(self.path.parent)
        except OSError as exc:
            raise LeadershipError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        if self._try(0):
            return True
        if not blocking or (timeout is not None and timeout <= 0):
            return False
        if on_wait is not None:
            on_wait()
        return self._try(-1 if timeout is None else timeout)

    def _try(self, timeout: float) -> bool:
        import filelock

        try:
            self._lock.acquire(timeout=timeout, poll_interval=_POLL)
        except filelock.Timeout:
            return False
        except OSError as exc:
            raise LeadershipError(
                f"cannot lock {self.path}: {exc.strerror or exc}; check its owner and mode"
            ) from None
        self._write_info()
        return True

    def _write_info(self) -> None:
        """Write atomically (temp file and rename) so a reader never sees half of it."""
        tmp = f"{self.info_path}.{os.getpid()}.tmp"
        with contextlib.suppress(OSError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n".encode())
            finally:
                os.close(fd)
            os.replace(tmp, self.info_path)

    def holder(self) -> str | None:
        """Who holds the lock, as ``pid N on HOST``, when known (for a standby's log)."""
        try:
            fields = self.info_path.read_text().split()
        except (OSError, UnicodeDecodeError):
            return None
        if len(fields) < 2 or not fields[0].isdigit():
            return None
        return f"pid {fields[0]} on {fields[1]}"

    def holder_pid(self) -> int | None:
        try:
            first = self.info_path.read_text().split()[0]
        except (OSError, UnicodeDecodeError, IndexError):
            return None
        return int(first) if first.isdigit() else None

    def release(self) -> None:
        if not self.held:
            return
        if self.holder_pid() == os.getpid():
            with contextlib.suppress(OSError):
                self.info_path.unlink()
        self._lock.release(force=True)

    def __enter__(self) -> LeaderLock:
        if not self.acquire():
            raise LeadershipError(f"could not lock {self.path}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"LeaderLock({str(self.path)!r}, held={self.held})"


def held_elsewhere(state_path: str | os.PathLike[str]) -> str | None:
    """Who else holds the leader lock of ``state_path`` (``pid N on HOST``, or "another
    process"), or None when nobody does or this process holds it itself.

    A probe with a shared non-blocking ``flock`` on a separate descriptor: it fails
    exactly while a runner holds the exclusive lock, and it never waits.
    """
    lock = LeaderLock.for_state(state_path)
    try:
        fd = os.open(lock.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        if lock.holder_pid() == os.getpid():
            return None
        return lock.holder() or "another process"
    except OSError:
        return None
    finally:
        os.close(fd)  # also drops the probe's own shared lock
    return None

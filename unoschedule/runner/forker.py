"""A fork server: one small process, forked once from the scheduler, that forks the
task workers for it.

A fork costs the forking process more than the call. Afterwards every page of its heap
is shared with the child, so each page it then writes is copied first. When the
scheduler forked each worker itself, it paid that copy once per worker. Filling a pool
of 256 workers made firing lag by 36-56 ms for two seconds. The fork server writes
almost nothing between two forks, so the copies are its own, on another core, and the
scheduler pays them once, for the server.

Its children are not the scheduler's, so the scheduler cannot ``waitpid`` them. The
server reaps each one and reports its exit status on the same socket that carries the
requests. A worker's answer pipe is made in the server and its read end passed to the
scheduler with the worker's pid (``SCM_RIGHTS``). The server dies with the scheduler
(``PR_SET_PDEATHSIG``) and its workers with it, as they did with the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import struct
from collections.abc import Callable, Sequence
from typing import NoReturn

from .processes import begin_child, fork, watch_pid

__all__ = ["Forker"]

_SLOT = struct.Struct("!I")
#: A worker was born: its slot and pid (its answer pipe rides along as a descriptor).
_BORN = struct.Struct("!Ii")
#: A worker ended: its pid and ``waitpid`` status.
_ENDED = struct.Struct("!ii")
#: Most slots one request names (one datagram).
_MOST_SLOTS = 1024

#: Starts a worker in the server's freshly forked child: its slot, the write end of its
#: answer pipe, and the descriptors the child must close. Never returns.
StartWorker = Callable[[int, int, list[int]], NoReturn]
#: Told of a worker born (slot, pid, answer read end) or of a fork that failed (slot,
#: pid -1, fd -1).
Born = Callable[[int, int, int], None]
#: Told of a worker's end: pid and exit code (negative: the signal that ended it).
Ended = Callable[[int, int], None]


class Forker:
    """The scheduler's side of the fork server."""

    def __init__(
        self,
        start_worker: StartWorker,
        born: Born,
        ended: Ended,
        gone: Callable[[Forker], None],
        close_in_child: Sequence[int] = (),
    ) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:  # pragma: no cover - runs in the server, which never returns
            ours.close()
            _serve(theirs, start_worker, list(close_in_child))
        theirs.close()
        ours.setblocking(False)
        self.pid = pid
        self._sock = ours
        self._born = born
        self._ended = ended
        self._gone = gone
        self._loop = loop
        self.dead = False
        #: Slots asked for and not answered yet.
        self.pending: set[int] = set()
        self.exited = watch_pid(loop, pid)
        self.exited.add_done_callback(lambda _: self.close())
        loop.add_reader(ours.fileno(), self._readable)

    def fork(self, slots: Sequence[int]) -> None:
        """Ask for one worker per slot; each is reported through ``born`` when it
        exists. Raises ``OSError`` if the request cannot be sent."""
        if self.dead:
            raise OSError("the fork server is gone")
        for start in range(0, len(slots), _MOST_SLOTS):
            part = slots[start : start + _MOST_SLOTS]
            self._sock.send(b"".join(_SLOT.pack(slot) for slot in part))
            self.pending.update(part)

    def _readable(self) -> None:
        while not self.dead:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._sock, 64, 1)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self.close()
                return
            if len(data) == _BORN.size:
                slot, pid = _BORN.unpack(data)
                self.pending.discard(slot)
                self._born(slot, pid, fds[0] if fds else -1)
            elif len(data) == _ENDED.size + 1:
                pid, status = _ENDED.unpack_from(data, 1)
                self._ended(pid, os.waitstatus_to_exitcode(status))
            for fd in fds[1:]:
                os.close(fd)

    def close(self) -> None:
        """Stop the server (its workers die with it) and give back what it was asked
        for and had not forked."""
        if self.dead:
            return
        self.dead = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        if not self.exited.done():  # once reaped, its pid may be another process's
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self._sock.close()
        self._gone(self)


def _serve(  # pragma: no cover - runs in the server
    sock: socket.socket, start_worker: StartWorker, close: list[int]
) -> NoReturn:
    """Body of the server: fork a worker for each slot asked for; reap the workers and
    report their ends; leave when the scheduler's end of the socket closes."""
    code = 0
    try:
        begin_child(close)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        sock.setblocking(True)
        ctrl = sock.fileno()
        while True:
            ready, _, _ = select.select([ctrl, wake_r], [], [])
            if wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 4096)
            _report_ends(sock)
            if ctrl not in ready:
                continue
            data = sock.recv(_SLOT.size * _MOST_SLOTS)
            if not data:
                break
            for (slot,) in _SLOT.iter_unpack(data):
                _fork_one(sock, slot, start_worker, [ctrl, wake_r, wake_w])
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _fork_one(  # pragma: no cover - runs in the server
    sock: socket.socket, slot: int, start_worker: StartWorker, close: list[int]
) -> None:
    answer_r, answer_w = os.pipe()
    try:
        pid = fork()
    except OSError:
        os.close(answer_r)
        os.close(answer_w)
        sock.send(_BORN.pack(slot, -1))
        return
    if pid == 0:  # the worker's own start (``begin_child``) resets the signal handlers
        start_worker(slot, answer_w, [answer_r, *close])
    os.close(answer_w)
    try:
        socket.send_fds(sock, [_BORN.pack(slot, pid)], [answer_r])
    finally:
        os.close(answer_r)


def _report_ends(sock: socket.socket) -> None:  # pragma: no cover - runs in the server
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(b"X" + _ENDED.pack(pid, status))

"""A fork server: one small process, forked once from the scheduler, that forks the
task workers and starts the commands for it.

A fork costs the forking process more than the call. Afterwards every page of its heap
is shared with the child, so each page it then writes is copied first. When the
scheduler forked each worker itself, it paid that copy once per worker. Filling a pool
of 256 workers made firing lag by 36-56 ms for two seconds. The fork server writes
almost nothing between two forks, so the copies are its own, on another core, and the
scheduler pays them once, for the server.

Starting a command costs its parent a wait: ``vfork`` suspends the parent until the
child has called ``exec`` (390 of the 530 us of a ``Popen`` here). In the scheduler,
that wait stopped the event loop once per command, and a burst of commands was bound by
it. The server starts them (``start_command``), so the wait is the server's, on another
core.

Its children are not the scheduler's, so the scheduler cannot ``waitpid`` them. The
server reaps each one and reports its exit status on the same socket that carries the
requests. A worker's answer pipe and a command's output pipe are made in the server and
their read ends passed to the scheduler with the pid (``SCM_RIGHTS``), a command's
pidfd too. The server dies with the scheduler (``PR_SET_PDEATHSIG``) and its workers
with it, as they did with the scheduler. A command does not (the death signal is not
inherited): it outlives a dead scheduler as it always did, and when only the server
dies, the scheduler still learns of each command's end from its pidfd, but not its exit
status, which is then 255 (as for a child that someone else reaped).

A leader whose lease only the store keeps (Redis) sets a fence at each renewal
(``fence``): an instant at which the server kills every worker and command it started,
unless told a later one first. The server is not frozen when the scheduler is, so a
leader frozen past its lease has its jobs killed before a successor starts their retries.
With a fence set, a server whose scheduler died (killed with -9) kills them at once: a
successor on another host cannot find them to stop them, and will retry their runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import itertools
import marshal
import math
import os
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, NoReturn

from .processes import (
    begin_child,
    close_on_exec,
    fork,
    pid_exists,
    signal_group,
    start_command,
    steady,
    watch_pid,
)

__all__ = ["Forker", "ServerGone", "Started"]

# Each message, either way, starts with a byte that says what it is.
#: ``W`` + slots: fork a worker for each (scheduler to server).
_SLOT = struct.Struct("!I")
#: ``C`` + ticket + the command (``marshal``, or in a memfd passed along): start it.
_TICKET = struct.Struct("!I")
#: ``B``: a worker was born: its slot and pid (its answer pipe rides along).
_BORN = struct.Struct("!Ii")
#: ``X``: a child ended: its pid and ``waitpid`` status.
_ENDED = struct.Struct("!ii")
#: ``S``: a command started: its ticket and pid (its output pipe and pidfd ride along).
_STARTED = struct.Struct("!Ii")
#: ``E``: a command could not start: its ticket, the errno, then the file it names.
_FAILED = struct.Struct("!Ii")
#: ``L`` + an instant on ``processes.steady``'s clock (0: none): at that instant, unless
#: told a later one first, kill every worker and command started (scheduler to server).
_FENCE = struct.Struct("!d")
#: ``G`` / ``g`` + a pid: kill its group at the fence too / no longer (a task the
#: scheduler forked itself, not the server).
_GROUP = struct.Struct("!i")
#: The signal the server gets when the scheduler dies (``PR_SET_PDEATHSIG``), handled.
_ORPHANED = signal.SIGUSR2
#: Most slots one request names, and most ends one report names (one datagram each).
_MOST_SLOTS = _MOST_ENDS = 1024
#: A command's request up to this size goes in its datagram; a larger one (a large
#: environment) in a memfd, as a datagram cannot be larger than the socket's buffer.
_INLINE = 48 * 1024
#: The largest message the server sends: a report of ``_MOST_ENDS`` ends, or a failed
#: start naming a path (a datagram read into less is cut, and its end lost).
_REPLY_BYTES = max(1 + _MOST_ENDS * _ENDED.size, 1 + _FAILED.size + 4096)
#: Exit code of a command whose status was lost with the server.
LOST = 255

#: Starts a worker in the server's freshly forked child: its slot, the write end of its
#: answer pipe, and the descriptors the child must close. Never returns.
StartWorker = Callable[[int, int, list[int]], NoReturn]
#: Told of a worker born (the server that forked it, slot, pid, answer read end) or of a
#: fork that failed (server, slot, pid -1, fd -1).
Born = Callable[["Forker", int, int, int], None]
#: Told of a worker's end: pid and exit code (negative: the signal that ended it).
Ended = Callable[[int, int], None]


class ServerGone(OSError):
    """The fork server ended before it said whether it started a command: the command
    may be running, unwatched."""


class Started(NamedTuple):
    """A command the server started: its pid, the read end of its output pipe (now the
    caller's to close) and its exit code to come (negative: the signal that ended it)."""

    pid: int
    output: int
    exited: asyncio.Future[int]


class _Running(NamedTuple):
    pidfd: int
    exited: asyncio.Future[int]


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
        #: Commands asked for and not answered yet, by ticket.
        self._starting: dict[int, asyncio.Future[Started]] = {}
        #: Commands started whose end the server has not reported, by pid.
        self._running: dict[int, _Running] = {}
        self._tickets = itertools.count(1)
        #: When it was last asked to start a command (``time.monotonic``).
        self.active_at = time.monotonic()
        #: Messages the socket had no room for yet, with the descriptors they carry.
        self._unsent: collections.deque[tuple[bytes, list[int]]] = collections.deque()
        self.exited = watch_pid(loop, pid)
        self.exited.add_done_callback(lambda _: self.close())
        loop.add_reader(ours.fileno(), self._readable)

    @property
    def busy(self) -> int:
        """Commands asked of this server and not started yet."""
        return len(self._starting)

    @property
    def idle(self) -> bool:
        """Nothing asked of it waits and no command it started runs."""
        return not self._starting and not self._running and not self.pending

    def fork(self, slots: Sequence[int]) -> None:
        """Ask for one worker per slot; each is reported through ``born`` when it
        exists. Raises ``OSError`` if the request cannot be sent."""
        if self.dead:
            raise OSError("the fork server is gone")
        for start in range(0, len(slots), _MOST_SLOTS):
            part = slots[start : start + _MOST_SLOTS]
            self._send(b"W" + b"".join(_SLOT.pack(slot) for slot in part))
            self.pending.update(part)

    def adopt(self, pid: int, adopted: bool = True) -> None:
        """Have the server kill the group of ``pid`` at the fence too (a job the
        scheduler forked itself), or no longer. Raises ``OSError`` if it cannot be told."""
        if self.dead:
            raise OSError("the fork server is gone")
        self._send((b"G" if adopted else b"g") + _GROUP.pack(pid))

    def fence(self, deadline: float | None) -> None:
        """Have the server kill every worker it forked and every command it started at
        ``deadline`` (``processes.steady``), unless told a later one first; None: never.
        Raises ``OSError`` if the request cannot be sent."""
        if self.dead:
            raise OSError("the fork server is gone")
        self._send(b"L" + _FENCE.pack(deadline or 0.0))

    async def start(
        self, argv: Sequence[str], program: str | None, env: dict[str, str], cwd: str | None
    ) -> Started:
        """Start a command (see ``processes.start_command``; ``cwd`` None: the folder the
        scheduler was in when it started the server). Raises ``OSError`` as ``Popen``
        would, or ``ServerGone``."""
        if self.dead:
            raise OSError(errno.EPIPE, "the fork server is gone")
        ticket = next(self._tickets)
        body = marshal.dumps((list(argv), program, env, cwd))  # a dict, as marshal needs
        head = b"C" + _TICKET.pack(ticket)
        if len(body) <= _INLINE:
            self._send(head + body)
        else:
            held = os.memfd_create("uno-command", os.MFD_CLOEXEC)
            try:
                with open(held, "wb", closefd=False) as handle:
                    handle.write(body)
                self._send(head, [held])
            except BaseException:
                os.close(held)
                raise
        answer: asyncio.Future[Started] = self._loop.create_future()
        self._starting[ticket] = answer
        self.active_at = time.monotonic()
        try:
            return await answer
        except asyncio.CancelledError:
            # Cancelled as the answer came: the command is nobody's, end it.
            if answer.done() and not answer.cancelled() and answer.exception() is None:
                self._abandon(answer.result())
            raise

    def _abandon(self, started: Started) -> None:
        signal_group(started.pid, signal.SIGKILL)
        os.close(started.output)

    def _send(self, data: bytes, fds: list[int] | None = None) -> None:
        """Send now, or once the socket has room (the scheduler never blocks on the
        server); the descriptors sent are closed here. Raises ``OSError`` when the
        server cannot be reached."""
        if self._unsent:
            self._unsent.append((data, fds or []))
            return
        try:
            self._deliver(data, fds)
        except BlockingIOError:
            self._unsent.append((data, fds or []))
            self._loop.add_writer(self._sock.fileno(), self._flush)
            return
        for fd in fds or ():
            os.close(fd)

    def _deliver(self, data: bytes, fds: list[int] | None) -> None:
        if fds:
            socket.send_fds(self._sock, [data], fds)
        else:
            self._sock.send(data)

    def _flush(self) -> None:
        while self._unsent:
            data, fds = self._unsent[0]
            try:
                self._deliver(data, fds)
            except BlockingIOError:
                return
            except OSError:  # unreachable: ``close`` answers what waits, a new one serves
                self.close()
                return
            self._unsent.popleft()
            for fd in fds:
                os.close(fd)
        self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        while not self.dead:
            try:
                data, fds = _receive(self._sock, _REPLY_BYTES, 2)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data:
                self.close()
                return
            kind, used = data[:1], 0
            if kind == b"X":
                for pid, status in _ENDED.iter_unpack(data[1:]):
                    self._child_ended(pid, os.waitstatus_to_exitcode(status))
            elif kind == b"S":
                ticket, pid = _STARTED.unpack_from(data, 1)
                self._started(ticket, pid, fds[0] if fds else -1, fds[1] if len(fds) > 1 else -1)
                used = 2
            elif kind == b"E":
                ticket, code = _FAILED.unpack_from(data, 1)
                name = os.fsdecode(data[1 + _FAILED.size :]) or None
                answer = self._starting.pop(ticket, None)
                if answer is not None and not answer.done():
                    answer.set_exception(OSError(code, os.strerror(code), name))
            elif kind == b"B":
                slot, pid = _BORN.unpack_from(data, 1)
                self.pending.discard(slot)
                self._born(self, slot, pid, fds[0] if fds else -1)
                used = 1 if fds else 0
            for fd in fds[used:]:
                os.close(fd)

    def _child_ended(self, pid: int, code: int) -> None:
        running = self._running.pop(pid, None)
        if running is None:
            self._ended(pid, code)
            return
        if running.pidfd >= 0:
            os.close(running.pidfd)
        if not running.exited.done():
            running.exited.set_result(code)

    def _started(self, ticket: int, pid: int, output: int, pidfd: int) -> None:
        exited: asyncio.Future[int] = self._loop.create_future()
        self._running[pid] = _Running(pidfd, exited)
        answer = self._starting.pop(ticket, None)
        if output < 0:  # its descriptors could not be taken (none free here)
            signal_group(pid, signal.SIGKILL)
            if answer is not None and not answer.done():
                answer.set_exception(OSError(errno.EMFILE, os.strerror(errno.EMFILE)))
            return
        started = Started(pid, output, exited)
        if answer is None or answer.done():  # its run was cancelled meanwhile
            self._abandon(started)
        else:
            answer.set_result(started)

    def close(self) -> None:
        """Stop the server (its workers die with it, the commands it started do not)
        and give back what it was asked for and had not done."""
        if self.dead:
            return
        self.dead = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        if self._unsent:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._sock.fileno())
            for _data, fds in self._unsent:
                for fd in fds:
                    os.close(fd)
            self._unsent.clear()
        if not self.exited.done():  # once reaped, its pid may be another process's
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self._sock.close()
        for answer in self._starting.values():
            if not answer.done():
                answer.set_exception(
                    ServerGone(errno.EPIPE, "the fork server ended while it started the command")
                )
        self._starting.clear()
        for pid, running in self._running.items():
            self._watch_orphan(pid, running)
        self._running.clear()
        self._gone(self)

    def _watch_orphan(self, pid: int, running: _Running) -> None:
        """A command of a server that is gone: its end comes from its pidfd (without
        one, from polling its pid), its exit status is lost."""
        exited, pidfd = running.exited, running.pidfd
        if exited.done() or self._loop.is_closed():
            if pidfd >= 0:
                os.close(pidfd)
            return

        def ended() -> None:
            if pidfd >= 0:
                self._loop.remove_reader(pidfd)
                os.close(pidfd)
            if not exited.done():
                exited.set_result(LOST)

        if pidfd >= 0:
            self._loop.add_reader(pidfd, ended)
            return

        async def poll() -> None:
            while pid_exists(pid):
                await asyncio.sleep(0.1)
            ended()

        task = self._loop.create_task(poll())
        exited.add_done_callback(lambda _: task.cancel())


_FD = struct.Struct("i")


def _receive(
    sock: socket.socket, size: int, most_fds: int, flags: int = 0
) -> tuple[bytes, list[int]]:
    """One message and the descriptors it carries (``socket.recv_fds`` of Python 3.11
    drops its ``flags``, so it cannot be told not to wait)."""
    data, ancillary, _flags, _addr = sock.recvmsg(size, socket.CMSG_LEN(most_fds * _FD.size), flags)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(
                fd for (fd,) in _FD.iter_unpack(payload[: len(payload) - len(payload) % _FD.size])
            )
    return data, fds


def _serve(  # pragma: no cover - runs in the server
    sock: socket.socket, start_worker: StartWorker, close: list[int]
) -> NoReturn:
    """Body of the server: fork a worker for each slot asked for, start each command
    asked for; reap the children and report their ends; kill them all at the fence the
    scheduler set, unless it moved it first; leave when the scheduler's end of the
    socket closes.

    The fence is how a leader whose lease only the store keeps (Redis) ends its jobs
    when it may have lost that lease without knowing it: the leader moves it forward
    at each renewal, so a leader frozen (SIGSTOP, a stalled VM thread) or cut off long
    enough for another to take over has its jobs killed here, in a process that is not
    frozen with it, before its successor may start their retries."""
    code = 0
    children: set[int] = set()
    adopted: set[int] = set()
    fence = 0.0
    parent = os.getppid()

    def kill_all() -> None:
        for pid in children | adopted:  # each leads its own group
            signal_group(pid, signal.SIGKILL)

    def leave() -> NoReturn:
        """The scheduler is gone: with a fence set, its jobs go now (a successor retries
        them); without, the commands outlive it, as they always did."""
        if fence:
            kill_all()
        _leave(0)

    try:
        begin_child(close, _ORPHANED)  # not SIGKILL: the server kills the fenced jobs first
        close_on_exec()
        home = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(_ORPHANED, lambda *_: None)
        sock.setblocking(True)
        ctrl = sock.fileno()
        own = [ctrl, wake_r, wake_w, home]
        poller = select.poll()  # not ``select``: a descriptor may be past 1023
        poller.register(ctrl, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            wait = None if not fence else max(0, math.ceil((fence - steady()) * 1000))
            ready = [fd for fd, _events in poller.poll(wait)]
            if fence and steady() >= fence:
                fence = 0.0
                kill_all()
            if wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 4096)
            if os.getppid() != parent:
                leave()
            _report_ends(sock, children)
            if ctrl not in ready:
                continue
            while True:  # every request waiting, then the ends they may have brought
                try:
                    data, fds = _receive(sock, _INLINE + 64, 1, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if not data:
                    leave()
                if data[:1] == b"W":
                    for (slot,) in _SLOT.iter_unpack(data[1:]):
                        children.add(_fork_one(sock, slot, start_worker, own))
                elif data[:1] == b"C":
                    children.add(_start_one(sock, data, fds, home))
                elif data[:1] == b"L":
                    (fence,) = _FENCE.unpack_from(data, 1)
                elif data[:1] == b"G":
                    adopted.add(_GROUP.unpack_from(data, 1)[0])
                elif data[:1] == b"g":
                    adopted.discard(_GROUP.unpack_from(data, 1)[0])
                children.discard(-1)
                for fd in fds:
                    os.close(fd)
    except BaseException:
        code = 70
    _leave(code)


def _leave(code: int) -> NoReturn:  # pragma: no cover - runs in the server
    os._exit(code)


def _fork_one(  # pragma: no cover - runs in the server
    sock: socket.socket, slot: int, start_worker: StartWorker, close: list[int]
) -> int:
    """Fork a worker for ``slot``; its pid (-1: none)."""
    answer_r, answer_w = os.pipe()
    try:
        pid = fork()
    except OSError:
        os.close(answer_r)
        os.close(answer_w)
        sock.send(b"B" + _BORN.pack(slot, -1))
        return -1
    if pid == 0:  # the worker's own start (``begin_child``) resets the signal handlers
        start_worker(slot, answer_w, [answer_r, *close])
    os.close(answer_w)
    try:
        socket.send_fds(sock, [b"B" + _BORN.pack(slot, pid)], [answer_r])
    finally:
        os.close(answer_r)
    return pid


def _start_one(  # pragma: no cover - runs in the server
    sock: socket.socket, data: bytes, fds: list[int], home: int
) -> int:
    """Start the command ``data`` asks for; its pid (-1: none)."""
    (ticket,) = _TICKET.unpack_from(data, 1)
    output_r = pidfd = -1
    try:
        if fds:
            with open(fds[0], "rb", closefd=False) as handle:
                handle.seek(0)  # the scheduler's writing left the shared offset at the end
                body = handle.read()
        else:
            body = data[1 + _TICKET.size :]
        argv, program, env, cwd = marshal.loads(body)
        output_r, output_w = os.pipe()
        try:
            pid = start_command(argv, program, output_w, env, home if cwd is None else cwd)
        finally:
            os.close(output_w)
    except Exception as exc:
        if output_r >= 0:
            os.close(output_r)
        name = getattr(exc, "filename", None)
        code = getattr(exc, "errno", None) or errno.EINVAL
        tail = os.fsencode(name) if isinstance(name, str) else b""
        sock.send(b"E" + _FAILED.pack(ticket, code) + tail)
        return -1
    with contextlib.suppress(OSError):  # a kernel without pidfds: the scheduler polls
        pidfd = os.pidfd_open(pid)
    fds = [output_r] if pidfd < 0 else [output_r, pidfd]
    try:
        socket.send_fds(sock, [b"S" + _STARTED.pack(ticket, pid)], fds)
    finally:
        for fd in fds:
            os.close(fd)
    return pid


def _report_ends(  # pragma: no cover - runs in the server
    sock: socket.socket, children: set[int]
) -> None:
    """Reap every child that has ended and report them in one message: the scheduler
    then ends their runs in one turn (one write of the state), and it is woken once."""
    ends: list[bytes] = []
    while len(ends) < _MOST_ENDS:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        children.discard(pid)
        ends.append(_ENDED.pack(pid, status))
    if ends:
        sock.send(b"X" + b"".join(ends))
        if len(ends) == _MOST_ENDS:
            _report_ends(sock, children)

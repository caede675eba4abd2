"""Forked worker processes that run sync Python tasks outside the scheduler's process.

A sync task without a timeout used to run in a thread of the scheduler, so a task that
called ``os._exit`` or crashed the interpreter (a segfault in a C extension) took the
whole scheduler down with every run it was supervising. Forking per run, as the timeout
path does, isolates it but costs a fork on every firing; a small pool of reused workers
keeps the isolation at the price of a pipe round trip.

The pool is filled ahead of the first burst (``keep``: as many workers as the sync
tasks' queues can run at once, forked in the background after start, their task modules
imported first), so that a burst due minutes after start finds them ready instead of
forking one per task while it is late; a worker that dies is replaced the same way.

Each worker is forked by the fork server (``forker``), itself forked from the scheduler
once the task modules are imported, so a worker starts with them imported. A reload that
brings a task module the server lacks renews the server (``keep``): otherwise each worker
would import the module on its first run of it, paying its time and memory once per
worker instead of once. It leads its own session and
process group (a stop kills its whole tree with one ``killpg``), dies with the fork
server, which dies with the scheduler (``PR_SET_PDEATHSIG``), and runs one task at a
time. When the fork server cannot be started or reached, the scheduler forks the worker
itself, as it did before there was one.

The free workers all wait on one queue of requests, each a pickled ``(number,
task path, import roots, args, kwargs, output limit, env)``: a burst is handed out with
one wake-up, where a pipe per worker cost the scheduler's loop a wake-up per task. The
answer is the same JSON the forked timeout child writes, with the request's number.
The task sees the run's ``UNO_*`` variables in its environment while it runs, and
only then. A worker that dies mid-task is simply not reused, and the run records how
it died.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import inspect
import itertools
import json
import mmap
import os
import pickle
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NoReturn

from ..budget import raise_soft_limit
from ..jobs import CONTRACT_VARIABLES
from ..model import usable_cpus
from .forker import Forker
from .processes import (
    begin_child,
    drop_own_environment,
    fork,
    signal_group,
    watch_pid,
)
from .tasks import describe_exception, format_traceback_tail, resolve_task

__all__ = ["TaskWorker", "Ticket", "WorkerPool", "repr_head"]

#: Idle workers kept for reuse; beyond this, a worker that finishes is let go. Many, so
#: that a burst of tasks due together (200 at one instant) finds them forked already.
MAX_IDLE = 256


def most_spawners() -> int:
    """Fork servers that may start commands at once: one per CPU and one more. Each
    waits in ``vfork`` until the command it starts has called ``exec``; with one more
    than the CPUs, the CPUs stay busy starting commands while servers wait. At most 8
    (each holds a socket and a pidfd of the scheduler's, see ``budget.HEADROOM``)."""
    return min(usable_cpus() + 1, 8)


#: A worker idle this long is let go (a burst long past does not hold memory for ever).
IDLE_SECONDS = 60.0
#: How often a renewed fork server still running a command is looked at again.
_RETIRED_LOOK_SECONDS = 1.0
_HEADER = struct.Struct("!I")
#: Upper bound of a worker's answer (the worker truncates the output to output_tail).
_ANSWER_LIMIT = 1 << 20
#: Largest request the queue carries: one packet, read whole by one worker.
_PACKET = select.PIPE_BUF
#: Bytes of the queue's pipe: a burst's requests fit at once (256 packets).
_QUEUE_BYTES = 1 << 20
#: The number of the request a worker runs (0: none), one per worker.
_SLOT = struct.Struct("q")
_SLOTS = 1 << 16
#: Requests queued before they are sent without waiting for the end of the loop's turn
#: (the first workers start while the scheduler hands out the rest of a burst).
_BATCH = 16
#: Requests written by one ``writev`` at most (two buffers each, within ``IOV_MAX``).
_WRITEV_PACKETS = 64
#: The padding of a request to a whole packet, sliced without copying.
_ZEROS = memoryview(bytes(_PACKET))
#: The request that tells the worker taking it to leave.
_LEAVE = pickle.dumps(None)
#: Whether the kernel cuts one write into packets of exactly ``_PACKET`` bytes (a pipe
#: in packet mode makes a packet of each page it fills): then requests padded to a page
#: go out many per ``write`` and still reach the workers one each (``pickle`` ignores
#: the padding); else one ``write`` per request.
_PAGED = mmap.PAGESIZE == _PACKET


def repr_head(value: Any, limit: int) -> str:
    """``repr`` of a task's return value ('' for None, the common case), cut to ``limit``."""
    if value is None or limit <= 0:
        return ""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {describe_exception(exc)}>"
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


class Ticket:
    """One request in the shared queue: its answer (None if the worker that took it died
    first) and, once known, the worker that took it."""

    __slots__ = ("answer", "seq", "worker")

    def __init__(self, seq: int, answer: asyncio.Future[dict[str, Any] | None]) -> None:
        self.seq = seq
        self.answer = answer
        self.worker: TaskWorker | None = None


class _Queue:
    """A queue of requests: a pipe in packet mode, read by the workers forked while it
    is the pool's. A renewed fork server (``WorkerPool._renew``) gives the pool a new
    one, and each worker of the old one a request to leave there, after the requests
    already in it: so no worker forked before the renewal takes a request made after."""

    __slots__ = ("leaves", "read", "told", "write")

    def __init__(self) -> None:
        self.read, self.write = os.pipe2(os.O_DIRECT | os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # room for a burst's requests at once
            fcntl.fcntl(self.write, fcntl.F_SETPIPE_SZ, _QUEUE_BYTES)
        os.set_blocking(self.write, False)
        #: Its workers told to leave that have not gone yet.
        self.told = 0
        #: Requests to leave not written yet (the queue was full).
        self.leaves = 0

    def close(self) -> None:
        for fd in (self.read, self.write):
            with contextlib.suppress(OSError):
                os.close(fd)


class TaskWorker:
    """The scheduler's side of one worker: its pid, its answer pipe and its slot (where
    it writes the number of the request it runs)."""

    def __init__(
        self,
        pool: WorkerPool,
        pid: int,
        slot: int,
        answers: int,
        loop: asyncio.AbstractEventLoop,
        queue: _Queue,
        server: Forker | None = None,
    ):
        self.pid = pid
        self.slot = slot
        #: The queue it takes its requests from.
        self.queue = queue
        self._pool = pool
        self._answers = answers
        self._loop = loop
        self._buffer = bytearray()
        #: The fork server that forked it and reports its end (None: our own child).
        self.server = server
        self.exited: asyncio.Future[int] = (
            loop.create_future() if server is not None else watch_pid(loop, pid)
        )
        self.dead = False
        loop.add_reader(answers, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._answers, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > _ANSWER_LIMIT:
                self.kill()
                return
            if len(self._buffer) < _HEADER.size + size:
                return
            body = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
            del self._buffer[: _HEADER.size + size]
            try:
                answer = json.loads(body.decode("utf-8", "replace"))
            except ValueError:
                answer = None
            self._pool.answered(self, answer if isinstance(answer, dict) else None)

    def _gone(self) -> None:
        """The worker's end of the pipe closed: it died (or was let go)."""
        if self.dead:
            return
        self.dead = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._answers)
        with contextlib.suppress(OSError):
            os.close(self._answers)
        self._pool.gone(self)

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)
        self._gone()


class WorkerPool:
    """Workers that take requests from one shared queue; a new one is forked whenever
    more requests wait than workers are free, and ``keep`` holds a number of them ready
    before they are asked for.

    The queue is a pipe in packet mode (``O_DIRECT``): a read takes exactly one request,
    so any free worker may take the next, and a burst costs the scheduler one wake-up of
    one worker instead of one per task (a worker that leaves requests behind wakes the
    next). Each worker writes the number of the request it runs in its slot of a shared
    page, which is how a stop finds the process to kill; its answer comes back on a pipe
    of its own with that number."""

    def __init__(self) -> None:
        raise_soft_limit()  # each worker holds descriptors: see runner.budget
        self._queue = _Queue()
        self._slots = mmap.mmap(-1, _SLOTS * _SLOT.size)
        self._free_slots = list(range(_SLOTS - 1, -1, -1))
        self._all: set[TaskWorker] = set()
        self._tickets: dict[int, Ticket] = {}
        self._numbers = itertools.count(1)
        self._unsent: collections.deque[bytes] = collections.deque()
        self._flushing = False
        self._writer = False
        #: Workers told to go (a ``None`` request each) that have not gone yet.
        self._leaving = 0
        self._last_busy = time.monotonic()
        #: Workers held ready (busy or idle), never let go for being idle.
        self._keep = 0
        self._filling: asyncio.Task[None] | None = None
        #: Forks the workers (see ``forker``); started on first use.
        self._server: Forker | None = None
        #: More fork servers, that only start commands (see ``command_server``), and how
        #: many servers may start commands at once (asked once, not at every command).
        self._spawners: list[Forker] = []
        self._most_spawners = most_spawners()
        #: The modules the scheduler had when it forked the current server: its workers
        #: have them without importing them (see ``_renew``).
        self._server_modules: frozenset[str] = frozenset()
        #: The queue of the current server and of each renewed one that still runs.
        self._queue_of: dict[Forker, _Queue] = {}
        #: Renewed queues, until nothing reads them (``_let_retired_go``).
        self._old_queues: list[_Queue] = []
        self._retired_look: asyncio.TimerHandle | None = None
        #: The fork server's workers whose end it has not reported yet, by pid.
        self._served: dict[int, TaskWorker] = {}
        #: When every server kills what it started, unless moved (``fence``).
        self._fence: float | None = None
        #: Tasks the scheduler forked itself, by pid: the server that kills them too.
        self._adopted: dict[int, Forker] = {}

    @property
    def size(self) -> int:
        """Workers alive (busy and idle)."""
        return len(self._all)

    @property
    def idle(self) -> int:
        """Workers free for a request (each holds a pipe and a pidfd here)."""
        return max(0, len(self._all) - self._leaving - len(self._tickets))

    def keep(self, count: int, modules: Collection[str] = ()) -> None:
        """Hold ``count`` workers: the missing ones are forked in the background, one
        per turn of the event loop (firing goes on meanwhile), and a worker that dies is
        replaced; idle ones beyond ``count`` still go after ``IDLE_SECONDS``.
        ``modules``: the modules of their tasks, imported here already; when the fork
        server was forked without one of them, the server is renewed."""
        self._keep = max(0, min(count, MAX_IDLE))
        if self._stale_for(modules):
            self._renew()
        self._fill_soon()

    @property
    def _retiring(self) -> list[Forker]:
        """The renewed servers still running: they serve their workers or commands."""
        return [server for server in self._queue_of if server is not self._server]

    def _stale_for(self, modules: Iterable[str]) -> bool:
        """Whether the fork server was forked without one of ``modules`` that this
        process has imported since (one it never imported cannot renew it: its workers
        would import it all the same, at every renewal)."""
        if self._server is None:
            return False
        known = self._server_modules
        return any(name not in known and name in sys.modules for name in modules)

    def _renew(self) -> None:
        """Fork the workers from a new server from now on, forked from the scheduler as
        it is now (task modules included), and give them a new queue. Each worker of
        the old queue finds a request to leave there once it is free, after the requests
        queued before; the old server goes once none of its workers and commands runs
        (they would die with it), and the old queue once none of its workers does."""
        old = self._server
        if old is None or old.dead:
            return
        try:
            queue = _Queue()
        except OSError:  # no descriptors: its workers import what they lack
            return
        self._server = None  # ``old`` stays in ``_queue_of``: it is retiring
        stale, self._queue = self._queue, queue
        self._old_queues.append(stale)
        if self._writer:  # the requests waiting for room go to the new queue
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_writer(stale.write)
            self._writer = False
            self._flush()
        readers = sum(1 for worker in self._all if worker.queue is stale) + len(old.pending)
        leaves = max(0, readers - stale.told)
        stale.told += leaves
        self._leaving += leaves
        stale.leaves += leaves
        self._send_leaves(stale)
        with contextlib.suppress(OSError):  # out of processes: forked as they are asked for
            self._grow(self._keep - self._staffed)
        self._let_retired_go()

    def _send_leaves(self, queue: _Queue) -> None:
        """Write the requests to leave ``queue`` still owes, as it has room."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_writer(queue.write)
        while queue.leaves:
            try:
                if _PAGED:
                    packets = _LEAVE.ljust(_PACKET, b"\0") * queue.leaves
                    queue.leaves -= os.write(queue.write, packets) // _PACKET
                else:
                    os.write(queue.write, _LEAVE)
                    queue.leaves -= 1
            except BlockingIOError:
                loop.add_writer(queue.write, self._send_leaves, queue)
                return
            except OSError:  # closed
                queue.leaves = 0

    def _let_retired_go(self) -> None:
        """Close the renewed servers that serve nothing any more. The end of a worker
        brings the next look (``gone``); while one runs a command (whose end only it
        sees) or forks a worker, it is looked at again every ``_RETIRED_LOOK_SECONDS``."""
        if self._retired_look is not None:
            self._retired_look.cancel()
            self._retired_look = None
        busy = False
        for server in self._retiring:
            if server.dead:
                continue
            if not server.idle:
                busy = True
            elif not self._served_by(server):
                server.close()  # ``_server_gone`` takes it out of ``_queue_of``
        for queue in list(self._old_queues):
            forking = queue in self._queue_of.values()  # its server may fork a reader
            if not forking and not self._read_by(queue):
                self._old_queues.remove(queue)
                self._drain(queue)
        if busy:
            self._retired_look = asyncio.get_running_loop().call_later(
                _RETIRED_LOOK_SECONDS, self._let_retired_go
            )

    def _served_by(self, server: Forker) -> bool:
        return any(worker.server is server for worker in self._all)

    def _read_by(self, queue: _Queue) -> bool:
        return any(worker.queue is queue for worker in self._all)

    def _drain(self, queue: _Queue) -> None:
        """Close an old queue nobody reads any more; a request still in it (its workers
        died with their server) goes to the current queue."""
        with contextlib.suppress(Exception):  # requests to leave it still owed: moot
            asyncio.get_running_loop().remove_writer(queue.write)
        queue.leaves = 0
        os.set_blocking(queue.read, False)  # no worker shares the read end now
        while True:
            try:
                packet = os.read(queue.read, _PACKET)
            except OSError:
                break
            if not packet:
                break
            if packet.rstrip(b"\0") != _LEAVE:
                self._send(packet)
            elif queue.told:  # meant for a worker that died instead
                queue.told -= 1
                self._leaving = max(0, self._leaving - 1)
        queue.close()

    @property
    def _unborn(self) -> int:
        """Workers asked of the fork server and not forked yet."""
        return len(self._server.pending) if self._server is not None else 0

    @property
    def _staffed(self) -> int:
        """Workers that are or will be free for requests: alive or asked for, less those
        told to leave."""
        return len(self._all) + self._unborn - self._leaving

    def _fill_soon(self) -> None:
        if len(self._all) + self._unborn >= self._keep or (
            self._filling and not self._filling.done()
        ):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test calling a sync method): next time
            return
        self._filling = loop.create_task(self._fill())

    async def filled(self) -> int:
        """Wait for the background forks ``keep`` started; the workers alive then."""
        if self._filling is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._filling
        while self._unborn:  # asked of the fork server, which reports them as it forks
            await asyncio.sleep(0.005)
        return len(self._all)

    async def _fill(self) -> None:
        with contextlib.suppress(OSError):  # out of processes or descriptors: on demand
            self._grow(self._keep - self._staffed)

    def let_go(self, count: int) -> None:
        """Let ``count`` idle workers go (their descriptors are wanted): each takes a
        request to leave from the queue when it is free."""
        count = min(count, self.idle)
        if count <= 0:
            return
        self._leaving += count
        self._queue.told += count
        for _ in range(count):
            self._send(_LEAVE)

    def submit(self, request: tuple[Any, ...], module: str | None = None) -> Ticket | None:
        """Queue one task for the next free worker (one is forked if none will be free:
        raises ``OSError`` if it cannot fork). None when the request is too large for
        one packet of the queue: the caller runs it another way. ``module``: the task's
        module, imported here; a server forked without it is renewed first (a task
        due before ``keep`` was told of its module)."""
        modules = self._server_modules  # the check for a module it has: one lookup
        if module is not None and module not in modules and self._stale_for((module,)):
            self._renew()
        loop = asyncio.get_running_loop()
        number = next(self._numbers)
        ticket = Ticket(number, loop.create_future())
        try:
            body = pickle.dumps((number, *request))
        except Exception as exc:  # an argument that cannot cross a process boundary
            ticket.answer.set_result(
                {"ok": False, "error": f"cannot pass the task its arguments: {exc}", "output": ""}
            )
            return ticket
        if len(body) > _PACKET:
            return None
        self._retire_stale()
        self._tickets[number] = ticket
        self._last_busy = time.monotonic()
        try:
            self._staff()
        except OSError:
            del self._tickets[number]
            raise
        self._send(body)
        return ticket

    def _staff(self) -> None:
        """Ask for workers until every request waiting or running has one."""
        self._grow(len(self._tickets) - self._staffed)

    def _grow(self, count: int) -> None:
        """Ask the fork server for ``count`` more workers (they join the pool as it
        reports them), or fork them here when it cannot be reached. Raises ``OSError``
        when neither can."""
        if count <= 0:
            return
        slots: list[int] = []
        try:
            for _ in range(count):
                slots.append(self._take_slot())
            self.server().fork(slots)
        except OSError:
            sent = self._server.pending if self._server is not None else set()
            unsent = [slot for slot in slots if slot not in sent]
            self._free_slots.extend(unsent)
            for _ in unsent:
                self._fork()

    def server(self) -> Forker:
        """The fork server, started if it is not running (raises ``OSError`` if it
        cannot be): it forks the workers, and starts the commands (``Forker.start``)."""
        server = self._server
        if server is None or server.dead:
            modules = frozenset(sys.modules)
            server = self._server = self._fork_server(self._server_gone)
            self._server_modules = modules
            self._queue_of[server] = self._queue
        return server

    def _fork_server(self, gone: Callable[[Forker], None]) -> Forker:
        server = Forker(
            self._start_worker,
            self._born,
            self._ended,
            gone,
            [*self._not_for_children(), *(worker._answers for worker in self._all)],
        )
        if self._fence is not None:
            with contextlib.suppress(OSError):
                server.fence(self._fence)
        return server

    def adopt(self, pid: int) -> None:
        """While a fence is set, have the fork server kill the group of ``pid`` (a task
        the scheduler forked itself) at it too, until ``release``."""
        if self._fence is None:
            return
        with contextlib.suppress(OSError):
            server = self.server()
            server.adopt(pid)
            self._adopted[pid] = server

    def release(self, pid: int) -> None:
        server = self._adopted.pop(pid, None)
        if server is not None and not server.dead:
            with contextlib.suppress(OSError):
                server.adopt(pid, adopted=False)

    def fence(self, deadline: float | None) -> None:
        """Have every fork server kill the workers it forked and the commands it started
        at ``deadline`` (``processes.steady``) unless moved first; None: never (see
        ``forker._serve``). A server that cannot be told is gone, and so are its
        workers; the commands it started are not, and are left to the scheduler."""
        self._fence = deadline
        current = [self._server] if self._server is not None else []
        for server in {*current, *self._spawners, *self._queue_of}:
            if not server.dead:
                with contextlib.suppress(OSError):
                    server.fence(deadline)

    def command_server(self) -> Forker:
        """The fork server to start a command: the least busy. While every one has a
        start waiting, another is forked, up to ``most_spawners()``; one idle for
        ``IDLE_SECONDS`` goes (each keeps the pages of the scheduler as they were when
        it was forked). Raises ``OSError`` when none can be had."""
        best = self.server()
        for spawner in self._spawners:
            if spawner.busy < best.busy:
                best = spawner
        if best.busy and 1 + len(self._spawners) < self._most_spawners:
            with contextlib.suppress(OSError):  # out of processes: the busy one will do
                best = self._fork_server(self._spawners.remove)
                self._spawners.append(best)
                asyncio.get_running_loop().call_later(IDLE_SECONDS, self._retire, best)
        return best

    def _retire(self, spawner: Forker) -> None:
        if spawner.dead:
            return
        if spawner.idle and time.monotonic() - spawner.active_at >= IDLE_SECONDS:
            spawner.close()
        else:
            asyncio.get_running_loop().call_later(IDLE_SECONDS, self._retire, spawner)

    def _take_slot(self) -> int:
        if not self._free_slots:
            raise OSError(errno.EAGAIN, "too many task workers")
        slot = self._free_slots.pop()
        _SLOT.pack_into(self._slots, slot * _SLOT.size, 0)
        return slot

    def _start_worker(self, slot: int, answers: int, close: list[int]) -> NoReturn:
        """In the fork server's child: become the worker of ``slot``."""
        _worker_main(self._queue.read, answers, self._slots, slot, close)

    def _not_for_children(self) -> list[int]:
        """What a server or worker forked now closes: the queues' ends it does not read."""
        old = [fd for queue in self._old_queues for fd in (queue.read, queue.write)]
        return [self._queue.write, *old]

    def _born(self, server: Forker, slot: int, pid: int, answers: int) -> None:
        """``server`` forked the worker of ``slot`` (pid -1: it could not)."""
        queue = self._queue_of.get(server)
        if pid < 0 or answers < 0 or queue is None:
            self._free_slots.append(slot)
            if answers >= 0:
                os.close(answers)
            if pid > 0:
                signal_group(pid, signal.SIGKILL)
            if pid < 0:  # the server could not fork: requests waiting need one from here
                with contextlib.suppress(OSError):
                    while len(self._tickets) > self._staffed:
                        self._fork()
            return
        os.set_blocking(answers, False)
        worker = TaskWorker(self, pid, slot, answers, asyncio.get_running_loop(), queue, server)
        self._all.add(worker)
        self._served[pid] = worker

    def _ended(self, pid: int, code: int) -> None:
        worker = self._served.pop(pid, None)
        if worker is not None and not worker.exited.done():
            worker.exited.set_result(code)

    def _server_gone(self, server: Forker) -> None:
        """The fork server ended, and its workers with it (they die with their parent,
        by ``SIGKILL``): what it had not forked is asked of the next one."""
        for pid, worker in list(self._served.items()):
            if worker.server is server:
                del self._served[pid]
                if not worker.exited.done():
                    worker.exited.set_result(-signal.SIGKILL)
        self._free_slots.extend(server.pending)
        server.pending.clear()
        self._queue_of.pop(server, None)
        if self._server is not server:
            return  # closed by ``close``, or renewed
        self._server = None
        if self._tickets:
            with contextlib.suppress(OSError):
                self._staff()
        self._fill_soon()

    def _send(self, body: bytes) -> None:
        """Requests go out in batches (what a turn of the loop queued, or ``_BATCH``
        of them): a worker woken by the first finds the others there instead of the
        scheduler waking one per request."""
        self._unsent.append(body)
        if len(self._unsent) >= _BATCH and not self._writer:
            self._flush()
        elif not self._flushing and not self._writer:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        unsent = self._unsent
        while unsent:
            try:
                if _PAGED:
                    # One system call for up to ``_WRITEV_PACKETS`` requests, each with
                    # its padding (a view of zeros, not a copy): the kernel still wakes
                    # one worker per packet, each waking the next while requests are
                    # left. Bounded, so that a backlog is not walked again each time the
                    # full queue has room for a few more.
                    batch = list(itertools.islice(unsent, _WRITEV_PACKETS))
                    pieces: list[bytes | memoryview] = []
                    for body in batch:
                        pieces += (body, _ZEROS[: _PACKET - len(body)])
                    written = os.writev(self._queue.write, pieces) // _PACKET
                    for _ in range(written):
                        unsent.popleft()
                    if written < len(batch):  # a part went: the queue is full
                        raise BlockingIOError
                    continue
                os.write(self._queue.write, unsent[0])
            except BlockingIOError:  # the queue is full: the rest when it has room
                if not self._writer:
                    self._writer = True
                    asyncio.get_running_loop().add_writer(self._queue.write, self._flush)
                return
            except OSError:  # closed
                unsent.clear()
                break
            unsent.popleft()
        if self._writer:
            self._writer = False
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_writer(self._queue.write)

    def taker(self, ticket: Ticket) -> TaskWorker | None:
        """The worker running ``ticket`` now (None: not taken yet, or answered)."""
        if ticket.worker is not None:
            return ticket.worker
        return self.takers().get(ticket.seq)

    def takers(self) -> dict[int, TaskWorker]:
        """The workers running a request now, by its number (one look at every slot)."""
        return {self._running(worker): worker for worker in self._all}

    async def taken(self, ticket: Ticket) -> TaskWorker | None:
        """The worker that took ``ticket``, waiting until one has (None: it was answered
        meanwhile). No deadline: a request still in the queue would run later, after its
        run was recorded as ended, so a stop waits for the worker it must kill. A worker
        is forked for every request outstanding, so one takes it soon; at shutdown the
        workers die with the scheduler, and ``stop_all`` does not wait past its grace."""
        worker = self.taker(ticket)
        while worker is None and not ticket.answer.done():
            await asyncio.sleep(0.01)
            worker = self.taker(ticket)
        return worker

    def _running(self, worker: TaskWorker) -> int:
        return int(_SLOT.unpack_from(self._slots, worker.slot * _SLOT.size)[0])

    def answered(self, worker: TaskWorker, answer: dict[str, Any] | None) -> None:
        """A worker's answer: the ticket it names gets it; a worker that answers
        nonsense is killed (its ticket then records its death)."""
        number = answer.pop("seq", None) if answer is not None else None
        ticket = self._tickets.pop(number, None) if isinstance(number, int) else None
        if ticket is None:
            worker.kill()
            return
        ticket.worker = worker
        if not ticket.answer.done():
            ticket.answer.set_result(answer)
        if self.idle > MAX_IDLE:
            self.let_go(1)

    def gone(self, worker: TaskWorker) -> None:
        """A worker died or left: the request it ran (if any) answers None."""
        number = self._running(worker)
        self._all.discard(worker)
        _SLOT.pack_into(self._slots, worker.slot * _SLOT.size, 0)
        self._free_slots.append(worker.slot)
        ticket = self._tickets.pop(number, None) if number else None
        if ticket is not None:
            ticket.worker = worker
            if not ticket.answer.done():
                ticket.answer.set_result(None)
        elif self._leaving:
            self._leaving -= 1
            worker.queue.told = max(0, worker.queue.told - 1)
        if self._retiring or self._old_queues:
            self._let_retired_go()
        if self._tickets:
            with contextlib.suppress(OSError):
                self._staff()
        self._fill_soon()

    def _retire_stale(self) -> None:
        """Let go the workers beyond ``keep`` once none has been busy for ``IDLE_SECONDS``."""
        if self._tickets or time.monotonic() - self._last_busy < IDLE_SECONDS:
            return
        self.let_go(len(self._all) - self._leaving - self._keep)

    def discard(self, worker: TaskWorker) -> None:
        """Kill a worker in doubt (its task was stopped); replace it."""
        worker.kill()

    def close(self) -> None:
        self._keep = 0
        if self._filling is not None:
            self._filling.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for spawner in [*self._spawners, *self._retiring]:
            spawner.close()
        self._queue_of.clear()
        if self._retired_look is not None:
            self._retired_look.cancel()
            self._retired_look = None
        for queue in self._old_queues:  # their workers are killed next
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_writer(queue.write)
            queue.close()
        self._old_queues.clear()
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._unsent.clear()
        for ticket in self._tickets.values():
            if not ticket.answer.done():
                ticket.answer.set_result(None)
        self._tickets.clear()
        if self._writer:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_writer(self._queue.write)
            self._writer = False

    def __del__(self) -> None:
        """The queue's pipe outlives ``close`` (a closed executor may run again); it
        goes with the pool."""
        with contextlib.suppress(AttributeError):
            for queue in [self._queue, *self._old_queues]:
                queue.close()

    def _fork(self) -> TaskWorker:
        """Fork a worker here, when the fork server cannot be reached."""
        loop = asyncio.get_running_loop()
        slot = self._take_slot()
        ans_r, ans_w = os.pipe()
        try:
            pid = fork()
        except OSError:
            for fd in (ans_r, ans_w):
                os.close(fd)
            self._free_slots.append(slot)
            raise
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            others = [w._answers for w in self._all]
            close = [ans_r, *self._not_for_children(), *others]
            _worker_main(self._queue.read, ans_w, self._slots, slot, close)
        os.close(ans_w)
        os.set_blocking(ans_r, False)
        worker = TaskWorker(self, pid, slot, ans_r, loop, self._queue)
        self._all.add(worker)
        return worker


def run_task_call(func: Callable[..., Any], args: Any, kwargs: Any, limit: int) -> dict[str, Any]:
    """Call a sync task in a child; an awaitable it returns is run to its end here."""
    try:
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return {"ok": True, "output": repr_head(value, limit)}
    except BaseException as exc:
        return {
            "ok": False,
            "error": describe_exception(exc),
            "output": format_traceback_tail(exc, limit),
        }


def switch_environment(env: Mapping[str, str]) -> None:
    """Give this process the contract's variables of ``env`` (a run's ``UNO_*``) in place
    of those of the run before it in the same worker (or its task's changes to them):
    only the ones that differ are written, and those the new run has not (``UNO_EVENT``)
    removed. A burst's runs differ in two or three of them; setting all and restoring
    the worker's own after each task was a third of a worker's time per task."""
    environ = os.environ
    for key in CONTRACT_VARIABLES:
        if key not in env and key in environ:
            del environ[key]
    for key, value in env.items():
        if environ.get(key) != value:
            environ[key] = value


async def _awaited(value: Any) -> Any:
    return await value


def _worker_main(  # pragma: no cover - runs in the child
    requests: int, answers: int, slots: mmap.mmap, slot: int, close: list[int]
) -> NoReturn:
    """Body of a worker: take requests from the queue until told to leave."""
    code = 0
    offset = slot * _SLOT.size
    try:
        begin_child(close)
        drop_own_environment()
        while True:
            packet = os.read(requests, _PACKET)
            message = pickle.loads(packet) if packet else None
            if message is None:
                break
            number = message[0]
            _SLOT.pack_into(slots, offset, number)
            payload: dict[str, Any]
            try:
                _, task_path, roots, args, kwargs, limit, env = message
                func = resolve_task(task_path, roots)
            except BaseException as exc:
                payload = {"ok": False, "error": describe_exception(exc), "output": ""}
            else:
                # The run's UNO_* variables: a process it starts carries UNO_RUN_ID,
                # which is how a stop finds one that left the group.
                switch_environment(env)
                payload = run_task_call(func, args, kwargs, limit)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            payload["seq"] = number
            data = json.dumps(payload).encode()
            view = memoryview(_HEADER.pack(len(data)) + data)
            while view:
                view = view[os.write(answers, view) :]
            _SLOT.pack_into(slots, offset, 0)
    except BaseException:
        code = 70
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

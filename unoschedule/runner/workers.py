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

Each worker is forked from the scheduler (so it starts with the task modules already
imported), leads its own session and process group (a stop kills its whole tree with
one ``killpg``), dies with the scheduler (``PR_SET_PDEATHSIG``) and runs one task at a
time: a request is a pickled ``(task path, import roots, args, kwargs, output limit, env)``,
the answer the same JSON the forked timeout child writes. The task sees the run's
``UNO_*`` variables in its environment while it runs. A worker that dies mid-task
is simply not reused, and the run records how it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import pickle
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from ..budget import raise_soft_limit
from .processes import die_with_parent, drop_own_environment, signal_group, watch_pid
from .tasks import describe_exception, format_traceback_tail, resolve_task

__all__ = ["TaskWorker", "WorkerPool", "repr_head"]

#: Idle workers kept for reuse; beyond this, a worker that finishes is let go. Many, so
#: that a burst of tasks due together (200 at one instant) finds them forked already.
MAX_IDLE = 256
#: A worker idle this long is let go (a burst long past does not hold memory for ever).
IDLE_SECONDS = 60.0
_HEADER = struct.Struct("!I")
#: Upper bound of a worker's answer (the worker truncates the output to output_tail).
_ANSWER_LIMIT = 1 << 20


def repr_head(value: Any, limit: int) -> str:
    """``repr`` of a task's return value ('' for None, the common case), cut to ``limit``."""
    if value is None or limit <= 0:
        return ""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(value).__name__}: {describe_exception(exc)}>"
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


class TaskWorker:
    """The scheduler's side of one worker: its pid, its pipes and the answer awaited."""

    def __init__(self, pid: int, requests: int, answers: int, loop: asyncio.AbstractEventLoop):
        self.pid = pid
        self._requests = requests
        self._answers = answers
        self._loop = loop
        self._buffer = bytearray()
        self.exited: asyncio.Future[int] = watch_pid(loop, pid)
        self._answer: asyncio.Future[dict[str, Any] | None] | None = None
        self.dead = False
        loop.add_reader(answers, self._readable)

    def fds(self) -> tuple[int, int]:
        return self._requests, self._answers

    def submit(self, request: tuple[Any, ...]) -> asyncio.Future[dict[str, Any] | None]:
        """Send one task; the future holds its answer, or None if the worker died first."""
        fut: asyncio.Future[dict[str, Any] | None] = self._loop.create_future()
        self._answer = fut
        try:
            body = pickle.dumps(request)
        except Exception as exc:  # an argument that cannot cross a process boundary
            fut.set_result(
                {"ok": False, "error": f"cannot pass the task its arguments: {exc}", "output": ""}
            )
            return fut
        view = memoryview(_HEADER.pack(len(body)) + body)
        try:
            while view:  # the worker is idle, blocked reading: this never waits long
                view = view[os.write(self._requests, view) :]
        except OSError:
            self._gone()
        return fut

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
        if len(self._buffer) > _ANSWER_LIMIT + _HEADER.size:
            self.kill()
            return
        if len(self._buffer) < _HEADER.size:
            return
        (size,) = _HEADER.unpack_from(self._buffer)
        if len(self._buffer) < _HEADER.size + size:
            return
        body = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
        del self._buffer[: _HEADER.size + size]
        try:
            answer = json.loads(body.decode("utf-8", "replace"))
        except ValueError:
            answer = None
        fut, self._answer = self._answer, None
        if fut is not None and not fut.done():
            fut.set_result(answer if isinstance(answer, dict) else None)

    def _gone(self) -> None:
        """The worker's end of the pipe closed: it died (or was told to go)."""
        if self.dead:
            return
        self.dead = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._answers)
        for fd in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        fut, self._answer = self._answer, None
        if fut is not None and not fut.done():
            fut.set_result(None)

    def kill(self) -> None:
        signal_group(self.pid, signal.SIGKILL)
        self._gone()

    def retire(self) -> None:
        """Let an idle worker go: it reads end-of-file and exits."""
        self._gone()


class WorkerPool:
    """Idle workers, reused; a new one is forked whenever none is idle, and ``keep``
    holds a number of them ready before they are asked for."""

    def __init__(self) -> None:
        raise_soft_limit()  # each worker holds descriptors: see runner.budget
        self._idle: list[TaskWorker] = []
        self._idle_since: dict[TaskWorker, float] = {}
        self._all: set[TaskWorker] = set()
        #: Workers held ready (busy or idle), never let go for being idle.
        self._keep = 0
        self._filling: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        """Workers alive (busy and idle)."""
        return len(self._all)

    def keep(self, count: int) -> None:
        """Hold ``count`` workers: the missing ones are forked in the background, one
        per turn of the event loop (firing goes on meanwhile), and a worker that dies is
        replaced; idle ones beyond ``count`` still go after ``IDLE_SECONDS``."""
        self._keep = max(0, min(count, MAX_IDLE))
        self._fill_soon()

    def _fill_soon(self) -> None:
        if len(self._all) >= self._keep or (self._filling and not self._filling.done()):
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
        return len(self._all)

    async def _fill(self) -> None:
        while len(self._all) < self._keep:
            try:
                worker = self._fork()
            except OSError:  # out of processes or descriptors: forked on demand instead
                return
            self._idle.insert(0, worker)
            self._idle_since[worker] = time.monotonic()
            await asyncio.sleep(0)

    @property
    def idle(self) -> int:
        """Idle workers (each holds two pipes and a pidfd here)."""
        return len(self._idle)

    def let_go(self, count: int) -> None:
        """Let the ``count`` longest idle workers go (their descriptors are wanted)."""
        for worker in self._idle[:count]:
            worker.retire()
            self._forget(worker)

    def acquire(self) -> TaskWorker:
        """An idle worker, or a new one (raises ``OSError`` if it cannot fork)."""
        self._retire_stale()
        while self._idle:
            worker = self._idle.pop()
            self._idle_since.pop(worker, None)
            if not worker.dead and not worker.exited.done():
                return worker
            self._forget(worker)
        return self._fork()

    def _retire_stale(self) -> None:
        """Let go the workers idle for more than ``IDLE_SECONDS`` (the oldest are first)."""
        limit = time.monotonic() - IDLE_SECONDS
        while (
            self._idle
            and len(self._all) > self._keep
            and self._idle_since.get(self._idle[0], 0.0) < limit
        ):
            worker = self._idle.pop(0)
            self._idle_since.pop(worker, None)
            worker.retire()
            self._forget(worker)

    def release(self, worker: TaskWorker) -> None:
        """Back to the idle list after a clean answer; a worker in doubt is killed."""
        if worker.dead or worker.exited.done():
            self._forget(worker)
        elif len(self._idle) >= MAX_IDLE:
            worker.retire()
            self._forget(worker)
        else:
            self._idle.append(worker)
            self._idle_since[worker] = time.monotonic()

    def discard(self, worker: TaskWorker) -> None:
        """Kill a worker in doubt (it died, or its task was stopped); replace it."""
        worker.kill()
        self._forget(worker)
        self._fill_soon()

    def close(self) -> None:
        self._keep = 0
        if self._filling is not None:
            self._filling.cancel()
        for worker in list(self._all):
            worker.kill()
        self._all.clear()
        self._idle.clear()
        self._idle_since.clear()

    def _forget(self, worker: TaskWorker) -> None:
        self._all.discard(worker)
        self._idle_since.pop(worker, None)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)

    def _fork(self) -> TaskWorker:
        loop = asyncio.get_running_loop()
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # or the child would print them again
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            with warnings.catch_warnings():  # 3.12+ warns about fork with threads
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            for fd in (req_r, req_w, ans_r, ans_w):
                os.close(fd)
            raise
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            others = [fd for w in self._all for fd in w.fds()]
            _worker_main(req_r, ans_w, [req_w, ans_r, *others])
        os.close(req_r)
        os.close(ans_w)
        os.set_blocking(ans_r, False)
        worker = TaskWorker(pid, req_w, ans_r, loop)
        self._all.add(worker)
        return worker


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        data = os.read(fd, size - len(chunks))
        if not data:
            return None
        chunks += data
    return bytes(chunks)


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


async def _awaited(value: Any) -> Any:
    return await value


def _waiting(idle: bool) -> None:  # pragma: no cover - runs in a forked child
    """An idle worker waits under ``SCHED_BATCH``, which the kernel never lets preempt
    the running process when it wakes: the scheduler hands a burst out to all its
    workers without being switched out for each one; the task runs as any process."""
    with contextlib.suppress(AttributeError, OSError):
        policy = os.SCHED_BATCH if idle else os.SCHED_OTHER
        os.sched_setscheduler(0, policy, os.sched_param(0))


def _worker_main(requests: int, answers: int, close: list[int]) -> NoReturn:  # pragma: no cover
    """Body of a worker: answer requests until the scheduler closes the pipe."""
    code = 0
    try:
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.setsid()
        die_with_parent()
        drop_own_environment()
        reset_child_signals()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        while True:
            _waiting(True)
            header = _read_exactly(requests, _HEADER.size)
            _waiting(False)
            if header is None:
                break
            body = _read_exactly(requests, _HEADER.unpack(header)[0])
            if body is None:
                break
            payload: dict[str, Any]
            try:
                task_path, roots, args, kwargs, limit, env = pickle.loads(body)
                func = resolve_task(task_path, roots)
            except BaseException as exc:
                payload = {"ok": False, "error": describe_exception(exc), "output": ""}
            else:
                # The run's UNO_* variables, for this task only: a process it starts
                # carries UNO_RUN_ID, which is how a stop finds one that left the group.
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    payload = run_task_call(func, args, kwargs, limit)
                finally:
                    for key, value in saved.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            data = json.dumps(payload).encode()
            view = memoryview(_HEADER.pack(len(data)) + data)
            while view:
                view = view[os.write(answers, view) :]
    except BaseException:
        code = 70
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

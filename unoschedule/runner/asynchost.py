"""Where ``async def`` tasks run: an event loop on a thread of its own, apart from the
scheduler's loop, shared by the async tasks running at once.

Apart, because a task that blocks (``time.sleep`` in ``async def``) must not freeze the
firing of every schedule, nor keep its timeout from being recorded. Shared, because a
thread and a loop per task made each task a hand-off of the interpreter's lock between
threads, which cost a burst of async tasks more than the scheduler's own work for them.

A task that blocks its host's loop stalls the tasks sharing that loop until it yields.
The executor sees it (the host's heartbeat stops, or a wake it sent is not taken): the
host is retired, the runs it had not yet begun and every run after go to a new host,
and the retired one ends its thread once its last run has ended.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

#: An async task whose event loop has not turned for this long is reported as blocking it.
BLOCKED_AFTER = 1.0
#: How often a host's loop beats while it hosts runs.
BEAT = BLOCKED_AFTER / 4
#: A host that has not taken the runs handed to it for this long, or has not beaten for
#: ``2 * BEAT`` while hosting runs, is stalled: new runs go to a new host.
STALLED_AFTER = 0.1

_T = TypeVar("_T")

#: The run whose code is running, in each task's context: the tasks a run starts belong
#: to it, and are cancelled when it ends.
_OWNER: contextvars.ContextVar[AsyncRun | None] = contextvars.ContextVar(
    "unoschedule_async_run", default=None
)


class Posts:
    """Where hosts post the ends of their runs for the scheduler's loop: the first post of
    a batch wakes that loop (one write to its self-pipe), the others join it, so a burst
    of tasks ending together is one wake-up, not one each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._posted: collections.deque[AsyncRun] = collections.deque()
        self._woken = False

    def post(self, run: AsyncRun) -> None:
        self._posted.append(run)
        if not self._woken:
            self._woken = True
            with contextlib.suppress(RuntimeError):  # scheduler loop closed: nobody waits
                self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        self._woken = False  # before taking them: a later post wakes the loop again
        posted = self._posted
        while posted:
            posted.popleft().settle()


class AsyncRun:
    """One async task, seen from the scheduler's loop: ``done`` settles with its result,
    ``cancel`` reaches it across threads, ``blocked_for`` reads its host's heartbeat."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        func: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        posts: Posts,
        label: str = "",
    ) -> None:
        self.label = label
        self.done: asyncio.Future[Any] = loop.create_future()
        self.host: TaskHost | None = None
        self._func = func
        self._args = args
        self._kwargs = kwargs
        self._posts = posts
        self._task: asyncio.Task[Any] | None = None
        #: The tasks it started that have not ended (its host's thread alone writes it).
        self._made: set[asyncio.Task[Any]] = set()
        self._cancelled = False

    def blocked_for(self) -> float:
        """How long its host's loop has not turned (0 once it has ended)."""
        host = self.host
        if self.done.done() or host is None:
            return 0.0
        return time.monotonic() - host.beat

    def blocker(self) -> AsyncRun | None:
        """The run whose code its host's loop is running now (itself, or a run that
        shares the loop), or None."""
        host = self.host
        return host.running_run() if host is not None else None

    def owns(self, task: asyncio.Task[Any]) -> bool:
        return task is self._task or task in self._made

    def cancel(self) -> None:
        self._cancelled = True
        host, task = self.host, self._task
        if host is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop already closed
                host.loop.call_soon_threadsafe(task.cancel)

    def settle(self) -> None:
        """Give ``done`` the end of its task (ended: its host posted it)."""
        task = self._task
        if self.done.done() or task is None:
            return
        if task.cancelled():
            self.done.cancel()  # nobody need read it: a timeout or a stop cancelled it
            return
        error = task.exception()
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(task.result())

    # -- in the host's thread ----------------------------------------------------------

    def begin(self, host: TaskHost) -> None:
        self.host = host
        context = contextvars.Context()
        context.run(_OWNER.set, self)
        self._task = host.loop.create_task(self._main(), context=context)
        self._task.add_done_callback(self._ended)

    def adopt(self, task: asyncio.Task[Any]) -> None:
        self._made.add(task)
        task.add_done_callback(self._made.discard)

    async def _main(self) -> Any:
        if self._cancelled:
            raise asyncio.CancelledError
        return await self._func(*self._args, **self._kwargs)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if any(not made.done() for made in self._made):
            assert self.host is not None
            self.host.loop.create_task(self._end_leftovers())
        else:
            self._post()

    async def _end_leftovers(self) -> None:
        """Cancel what the task left running, as ``asyncio.run`` does at its end, so that
        nothing of a run outlives it in a loop other runs share."""
        for _ in range(3):  # what a cancelled task starts as it ends is cancelled too
            pending = [made for made in self._made if not made.done()]
            if not pending:
                break
            for made in pending:
                made.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._post()

    def _post(self) -> None:
        assert self.host is not None
        self.host.left(self)
        self._posts.post(self)


class TaskHost:
    """A thread running one event loop for async tasks, until ``close`` or, once
    retired, until its last run has ended."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(self._task)
        #: When the loop last turned while hosting runs.
        self.beat = time.monotonic()
        self.retired = False
        self._lock = threading.Lock()
        self._pending: list[AsyncRun] = []
        self._woken_at: float | None = None
        #: The runs begun and not ended (the host's thread alone writes it).
        self._hosted: set[AsyncRun] = set()
        self._heart: asyncio.Task[None] | None = None
        _thread.start_new_thread(self._serve, ())

    # -- from the scheduler's thread ---------------------------------------------------

    def submit(self, run: AsyncRun) -> bool:
        """Have ``run`` begun in this host's loop; False once the host is retired."""
        with self._lock:
            if self.retired:
                return False
            self._pending.append(run)
            if self._woken_at is not None:
                return True
            self._woken_at = time.monotonic()
        try:
            self.loop.call_soon_threadsafe(self._take)
        except RuntimeError:  # closed under us
            return False
        return True

    @property
    def hosting(self) -> int:
        """Runs begun in its loop that have not ended."""
        return len(self._hosted)

    def stalled(self, now: float) -> bool:
        """Whether its loop has stopped turning: a wake not taken or a beat missed."""
        woken = self._woken_at
        if woken is not None and now - woken > STALLED_AFTER:
            return True
        return bool(self._hosted) and now - self.beat > 2 * BEAT

    def retire(self) -> list[AsyncRun]:
        """Take no more runs; those handed to it and not yet begun are returned, for
        another host. Its thread ends once the runs it began have ended."""
        with self._lock:
            self.retired = True
            pending, self._pending = self._pending, []
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._stop_if_idle)
        return pending

    def close(self) -> None:
        """Stop the loop (the runs still in it with it) and end the thread."""
        with self._lock:
            self.retired = True
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)

    def running_run(self) -> AsyncRun | None:
        """The run whose code the loop is running now, if any."""
        task = asyncio.current_task(self.loop)
        if task is None:
            return None
        for run in list(self._hosted):
            if run.owns(task):
                return run
        return None

    # -- in the host's thread ----------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)  # for tasks that ask ``get_event_loop``
        try:
            self.loop.run_forever()
        finally:
            self._end()

    def _end(self) -> None:
        with contextlib.suppress(BaseException):
            left = asyncio.all_tasks(self.loop)
            for task in left:
                task.cancel()
            if left:
                self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        with contextlib.suppress(Exception):
            self.loop.close()
        asyncio.set_event_loop(None)

    def _task(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, _T] | Coroutine[Any, Any, _T],
        /,
        **options: Any,
    ) -> asyncio.Task[_T]:
        task = asyncio.Task(coro, loop=loop, **options)
        owner = _OWNER.get()  # the run whose code starts it, if any
        if owner is not None:
            owner.adopt(task)
        return task

    def _take(self) -> None:
        with self._lock:
            runs, self._pending = self._pending, []
            self._woken_at = None
        if runs and not self._hosted:
            self.beat = time.monotonic()
        for run in runs:
            self._hosted.add(run)
            run.begin(self)
        if self._hosted and (self._heart is None or self._heart.done()):
            self._heart = self.loop.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        while self._hosted:
            self.beat = time.monotonic()
            await asyncio.sleep(BEAT)

    def left(self, run: AsyncRun) -> None:
        self._hosted.discard(run)
        self._stop_if_idle()

    def _stop_if_idle(self) -> None:
        if self.retired and not self._hosted and not self._pending:
            self.loop.stop()

"""The leader's run loop: decide what is due, claim it, queue it, run it, record it.

``tick(now)`` does all the deciding for one instant and is synchronous, so tests drive it
with a fake clock and never sleep; ``serve()`` is the thin asynchronous shell that sleeps
until the earliest due instant and calls ``tick`` again.

Exactly once: an occurrence is written to the store under a unique key (schedule,
instant, attempt) together with the schedule's advanced ``next_run`` in one transaction,
fenced by the leader's epoch, and only then started; the run is marked ``running`` before
its process is spawned. A crash can therefore lose the start of a claimed run (it becomes
``interrupted`` and is retried under the retry policy) but can never start it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from ..abc import Clock, JobRunner, Observer, StateFile, Store
from ..effective import draw_start, next_start
from ..errors import UnoScheduleError
from ..jobs import JobOutcome
from ..model import (
    PRIORITIES,
    RunRecord,
    ScheduleDefinition,
    SchedulerOptions,
    ScheduleState,
)
from ..overlap import (
    GROUP_POLL,
    bound_by_policy,
    cancelled_outcome,
    decide,
    group_members,
    may_start,
)
from ..records import Claim, Finish
from ..runs import job_spec, new_run, occurrence_key
from ..schedules import IntervalSchedule, Timeline
from ..timeutil import format_instant
from .failpoints import failpoint
from .keeper import FENCE
from .log import Logger
from .notify import Notifier
from .processes import process_gone, steady, stop_orphans
from .settle import Ended, FailureHandler, Settler, with_retry

__all__ = ["RunLoop"]

#: The lease is renewed every third of ``lock_timeout``, but not more often than this (a
#: ``lock_timeout`` of 1 s still leaves two renewals before the lease runs out).
RENEW_FLOOR = 0.2

#: "Not computed yet" for a shared timeline's first instant (None means "none left").
_UNKNOWN: Any = object()

#: ``error`` of a run marked running whose job was not started: the leader lost its
#: lease in between (it was frozen). It or its successor, whichever records the run
#: first, settles it (``RunLoop._interrupt``).
LEASE_LOST = "the scheduler lost its leadership before the job started"

#: Why an end of this leader was not recorded (``RunLoop._why_not_written``), for the log.
ENDED_BY_SUCCESSOR = (
    "this scheduler lost its lease; the leader that took over settles the run and its retry"
)
ENDED_ELSEWHERE = "another process ended the run first"

#: ``error`` of a queued run whose schedule a reload removed before it could start.
REMOVED_BEFORE_START = "the schedule was removed before the run started"

#: ``error`` of a run whose task is an in-process callable of another process.

#: ``error`` of a queued run whose schedule a reload changed before it could start.
CHANGED_BEFORE_START = "the schedule was changed before the run started"

#: How often the run loop checks that its state file is still the one it opened.
STATE_CHECK_SECONDS = 1.0

#: The statuses other processes give schedules outside the definitions' changes (a
#: pause from the shell, a delete through the API): what ``refresh`` lists. ``completed``
#: is given by the leader itself and only a new definition ends it, so the schedules it
#: holds (all the one-shots ever run, in the end) are never listed on a wake-up.
HELD = ("disabled", "paused", "removed")
#: Most schedules one tick fires (one transaction). Those due beyond wait for the next
#: tick, which comes after one turn of the event loop: the first runs of a burst of
#: 10,000 start while the rest is claimed, instead of after the whole claim.
TICK_SCHEDULES = 1000

#: At most this many occurrences of one schedule are recorded when catching up after
#: downtime; an every-second schedule down for a day would otherwise write 86,400 rows.
CATCH_UP_LIMIT = 1000


class _Waiting(NamedTuple):
    """A run waiting in its queue's heap. A tuple, so that the heap compares entries in C
    (a burst pops thousands); ``seq`` is unique, so no comparison reaches ``run``."""

    priority: int
    scheduled: datetime
    seq: int
    run: RunRecord
    #: The definition the run was fired for (None for manual triggers and retries): a
    #: reload that changes it before the run starts drops the run.
    definition: ScheduleDefinition | None = None


class StatusWatch:
    """What the run loop noted about statuses while a copy of the schedules was read off
    the event loop (``RunLoop.watch_statuses``): the schedules noted one by one, and
    whether everything was noted afresh (a load) meanwhile."""

    __slots__ = ("names", "overtaken")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.overtaken = False


class _Batch:
    """The claims one tick makes, committed together (one fsync for a burst)."""

    def __init__(self) -> None:
        self.claims: list[Claim] = []
        #: Whether each claimed run is to be started (else it is a finished record).
        self.starts: list[bool] = []
        #: What to log once each record is committed.
        self.notes: list[Callable[[], None] | None] = []
        #: Schedules with no occurrence left, marked ``completed`` by the commit.
        self.completed: list[str] = []

    def add(
        self,
        run: RunRecord,
        next_run: datetime | None,
        *,
        start: bool = False,
        note: Callable[[], None] | None = None,
    ) -> None:
        key = occurrence_key(run.schedule, run.scheduled_time, run.attempt)
        self.claims.append(Claim(run, key, next_run))
        self.starts.append(start)
        self.notes.append(note)


class RunLoop:
    """Everything the leader does, for one epoch of leadership."""

    def __init__(
        self,
        *,
        store: Store,
        definitions: dict[str, ScheduleDefinition],
        options: SchedulerOptions,
        executor: JobRunner,
        clock: Clock,
        instance_id: str,
        log: Logger | None = None,
        base_dir: str | None = None,
        on_failure: FailureHandler | None = None,
        wake: Callable[[], None] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.definitions = definitions
        self.options = options
        self.executor = executor
        self.clock = clock
        self.instance_id = instance_id
        self.log = log or Logger()
        self.base_dir = base_dir
        self.settler = Settler(
            options,
            log=self.log,
            on_failure=on_failure,
            on_finished=self._observe_end,
            definitions=lambda: self.definitions,
            notifier=notifier,
            active=lambda name: name not in self._inactive,
        )
        self.wake = wake or store.notify
        self.epoch = 0
        self.firing = True
        #: Set once this loop knows, or cannot rule out, that its lease is lost: another
        #: leader may already record its running runs interrupted and start their retries.
        self.deposed = False
        #: Whether the jobs are fenced by the lease (``JobRunner.fence``): a lease that
        #: only the store keeps (Redis) lapses under a frozen leader while its jobs run.
        self.fence_jobs = False
        self._timelines: dict[str, Timeline] = {}
        self._next: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._delayed: list[tuple[datetime, int, RunRecord]] = []
        self._queues: dict[str, list[_Waiting]] = {}
        self._active: dict[str, int] = {}
        self._inflight: dict[str, int] = {}
        #: Runs fired by the timeline and still waiting in a queue, per schedule.
        self._pending: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count()
        self.fired = 0
        self._in_tick = False
        #: (schedule, group) whose group has no limit here, already logged.
        self._ungrouped: set[tuple[str, str]] = set()
        self._pumps: set[str] = set()
        #: Schedules not active at the last look: ``_held`` and ``_completed`` together.
        self._inactive: set[str] = set()
        #: Each schedule in a status of ``HELD`` at the last look, with its status
        #: (``refresh`` watches them for resumes).
        self._held: dict[str, str] = {}
        #: Schedules ``completed``: by this leader, or at the last full look.
        self._completed: set[str] = set()
        #: Copies of the schedules being read off the loop (``watch_statuses``).
        self._watches: list[StatusWatch] = []
        #: The runs whose jobs run here, per schedule, oldest first (the overlap policy).
        self._running: dict[str, list[str]] = {}
        #: Runs stopped by ``overlap: cancel_other``, with why: recorded ``cancelled``.
        self._cancelling: dict[str, str] = {}
        #: Queues holding runs that wait for room in their concurrency group, and since
        #: when each run waits (its wait is a metric).
        self._group_held: set[str] = set()
        self._group_wait: dict[str, datetime] = {}
        #: The ends waiting for this turn's transaction, each with its waiter.
        self._finishing: list[tuple[Finish, asyncio.Future[bool]]] = []
        self._lease_renewed = datetime.min.replace(tzinfo=UTC)
        #: Queues this runner executes itself (None: every queue); runs of the others go
        #: to ``hand_off`` (workers on other hosts, see ``runner.worker``).
        self.local_queues: Collection[str] | None = None
        self.hand_off: Callable[[str, list[RunRecord]], None] | None = None
        #: Asks the worker running a handed-off run to stop it (run id, why).
        self.stop_handed: Callable[[str, str], None] | None = None
        self._identity_checked = float("-inf")
        #: Told of runs as they start and end (metrics, retention; see ``runner.ops``).
        self.observer: Observer | None = None
        #: Runs handed to workers, by schedule: run id -> [still counted waiting (fired
        #: runs, until a worker starts it), still counted in flight (schedules with an
        #: overlap policy, until its record ends)].
        self._handed: dict[str, dict[str, list[bool]]] = {}
        #: Draws the random jitter of each run's start (a test seeds its own).
        self.rng = random.Random()
        #: Queues whose last pump stopped for want of descriptors (a job's end, in any
        #: queue, pumps them again), with the runs each would have started then.
        self._starved: dict[str, int] = {}
        #: Entries queued before this sequence number waited for descriptors, per queue.
        self._starved_before: dict[str, int] = {}
        self._descriptor_waits = 0
        #: ``run_on_start`` schedules never run yet: (name, when first seen), claimed by
        #: the next tick under that instant, so that only the first start runs them.
        self._on_start: list[tuple[str, datetime]] = []

    @property
    def on_failure(self) -> FailureHandler | None:
        """Called once a run failed for good (after its last attempt)."""
        return self.settler.on_failure

    @on_failure.setter
    def on_failure(self, handler: FailureHandler | None) -> None:
        self.settler.on_failure = handler

    # -- leadership and start-up ----------------------------------------------------------

    def take_lease(self, now: datetime, *, force: bool = False) -> bool:
        """Become the leader. ``force`` takes the lease from a holder that is known dead
        (the caller holds the exclusive file lock, which the kernel frees when it dies)."""
        sent = steady()
        lease = self.store.acquire_lease(self.instance_id, self.options.lock_timeout, now)
        if lease is None and force:
            held = self.store.current_lease()
            if held is not None:
                self.log.warning(
                    f"taking over from {held.instance_id} (epoch {held.epoch}), which is gone"
                )
                self.store.release_lease(held.instance_id, held.epoch)
            lease = self.store.acquire_lease(self.instance_id, self.options.lock_timeout, now)
        if lease is None:
            return False
        self.epoch = lease.epoch
        self._lease_renewed = now
        self._fence(sent)
        return True

    def _fence(self, sent: float) -> None:
        """The lease was taken or renewed by a request sent at ``sent`` (``steady``): it
        lasts ``lock_timeout`` from a moment no earlier, so the jobs are killed at
        ``FENCE`` of it from ``sent`` unless renewed again (the keeper's margin, for
        clock rates and the kill itself)."""
        if self.fence_jobs:
            self.executor.fence(sent + FENCE * self.options.lock_timeout)

    def renew_lease(self, now: datetime) -> bool:
        sent = steady()
        try:
            renewed = self.store.renew_lease(
                self.instance_id, self.epoch, self.options.lock_timeout, now
            )
        except UnoScheduleError as exc:  # cannot tell whether we still lead: we do not
            self.log.error(f"cannot renew the leader lease ({exc}); not firing any more")
            self.firing, self.deposed = False, True
            return False
        if not renewed:
            self.log.error(f"lost the leader lease (epoch {self.epoch}); not firing any more")
            self.firing, self.deposed = False, True
            return False
        self._lease_renewed = now
        self._fence(sent)
        return True

    def recover(self, now: datetime) -> None:
        """Settle runs that an earlier leader left unfinished.

        A run still ``running`` was cut off by a crash: it is recorded ``interrupted`` and
        retried while its retry policy allows. A run still ``queued`` never started, so
        it is simply run now (or handed to its queue's workers again: counted once, as
        any queued run). A run a worker started is the worker's to settle
        (``Store.unfinished_runs`` leaves it out), but it is still in flight: it is
        tracked as ``_hand_off`` tracks the runs it hands over, so that the overlap
        policies hold for it (and for the queued runs of its schedule, dispatched
        after it) until the state says it ended.
        """
        if isinstance(self.store, StateFile):
            self.store.reserve_space()
        active = self.store.active_runs()
        claimed = self.store.unfinished_runs()
        self._track_held_by_workers(active, claimed)
        # Whatever their epoch: a process that leads again while its lease still lives
        # keeps its epoch (``Store.acquire_lease``), and what its last term left is
        # this term's to settle (nothing runs in a loop that is only starting).
        unfinished = claimed
        cut_off = [r.run_id for r in unfinished if r.result == "running"]
        if cut_off:
            stopped = stop_orphans(cut_off, self.options.kill_grace)
            if stopped:
                self.log.warning(
                    f"stopped {len(stopped)} process(es) that runs cut off by a crash left "
                    f"behind (pids {', '.join(map(str, stopped[:10]))})"
                )
        self.recover_foreground(now)
        for run in unfinished:
            if run.result == "running":
                self._interrupt(run, now, "the scheduler stopped while it ran", "a crash")
            else:
                self._inflight[run.schedule] = self._inflight.get(run.schedule, 0) + 1
                self._dispatch_when_due(run)

    def _track_held_by_workers(
        self, active: Iterable[RunRecord], claimed: Iterable[RunRecord]
    ) -> None:
        """Track the runs held by workers as handed over (``_track_handed``): the runs
        claimed by an earlier leader and not ended (``active``, read first) that
        ``Store.unfinished_runs`` (``claimed``, read after) leaves to workers, the one
        judge of that. A run a worker starts or ends between the two reads is tracked
        too (``_settle_handed`` reads it again); one still queued is in ``claimed``,
        dispatched and counted by ``recover`` as any queued run, so never twice."""
        ours = {r.run_id for r in claimed}
        for run in active:
            if run.epoch <= 0 or run.run_id in ours:
                continue  # not claimed by a leader, or one the recovery settles itself
            # counted in flight as its claim counted it, then as ``_hand_off`` counts a
            # run handed over, started (a worker holds it): not waiting any more
            self._inflight[run.schedule] = self._inflight.get(run.schedule, 0) + 1
            self._track_handed(run, waiting=False)

    def _interrupt(self, run: RunRecord, now: datetime, error: str, cause: str) -> None:
        """Record a run cut off by ``cause`` ``interrupted`` through the settle step (its
        retry, chains, observer): the one rule for a successor's recovery and for the
        deposed leader that finds its lease lost before the job started, whichever
        writes first (``_record_cut_off`` queues the retry once); only the one that
        recorded it says so."""
        definition = self.definitions.get(run.schedule)
        started = run.started_at or now
        ended = self.settler.interrupted(run, definition, error, started, now, self._record_cut_off)
        if ended.recorded:
            self.log.warning(
                f"{run.schedule}: run {run.run_id} ({format_instant(run.scheduled_time)}, "
                f"attempt {run.attempt}) was interrupted by {cause}"
            )

    def _record_cut_off(self, finish: Finish, retry: RunRecord | None) -> Ended:
        """The recorder of an interruption: the retry is queued under its occurrence key
        in the transaction that records the end, and only if that transaction records it
        (``Store.finish_runs``). A deposed leader, whose epoch can claim nothing, thus
        queues it as a successor would, and of two processes that record the same run
        only the first queues it; the leader then takes it as a queued run."""
        finish = self._with_retry(finish, retry)
        if not self._write_end(finish):
            return Ended(recorded=False, why=self._why_not_written())
        if finish.then:
            self.wake()
        return Ended(recorded=True, retried=retry is not None)

    def _with_retry(self, finish: Finish, retry: RunRecord | None) -> Finish:
        """``finish`` with the next attempt queued by this leader (``settle.with_retry``)."""
        return with_retry(finish, retry, self.instance_id)

    def _write_end(self, finish: Finish) -> bool:
        """Write ``finish`` now (not in the batch of ends) and say whether this write
        recorded it: the store leaves a run another process ended first as it is, and
        that end is then not this process's to count."""
        return finish.run_id in self.store.finish_runs([finish])

    def _why_not_written(self) -> str:
        """Why the store left out an end of this leader, for the operator: whoever ended
        the run first holds it, most often the leader that took this one's lease over
        and recorded the run ``interrupted`` (its recovery owns the run and its retry)."""
        if not self.deposed:
            try:  # the last lease ours, even expired: nobody took over from us
                lease = self.store.current_lease()
            except UnoScheduleError:  # whose lease it is cannot be told: say what is sure
                return ENDED_ELSEWHERE
            if lease is not None and (lease.instance_id, lease.epoch) == (
                self.instance_id,
                self.epoch,
            ):
                return ENDED_ELSEWHERE
        return ENDED_BY_SUCCESSOR

    def recover_foreground(self, now: datetime) -> None:
        """Settle the runs of foreground processes (``trigger --wait`` with no scheduler
        running) that died without recording their end (``kill -9``): known dead when
        their process was of this host (pid and start time, ``process_gone``). Their
        jobs, which outlive them, are stopped first."""
        dead = [r for r in self.store.foreground_runs() if process_gone(r.instance_id or "")]
        if not dead:
            return
        stop_orphans([r.run_id for r in dead], self.options.kill_grace)
        for run in dead:
            self._interrupt(run, now, "its foreground process died", "the death of its process")

    def load(self, states: list[ScheduleState], now: datetime) -> None:
        """Build the due-heap from stored states; compute ``next_run`` where unknown."""
        self._next.clear()
        self._heap.clear()
        self._timelines.clear()
        self._note_statuses(states, afresh=True)
        self._track_all(states, now)
        self._prepare_jobs()

    @property
    def statuses(self) -> Mapping[str, str]:
        """The status of each schedule not active (metrics count schedules by status).
        A scrape reads it from the metrics' thread: it is built from copies of the sets
        the loop changes, each copy taken in one step (one call into C, under the GIL)."""
        completed = tuple(self._completed)
        held = self._held.copy()
        return {**dict.fromkeys(completed, "completed"), **held}

    def _note_statuses(self, states: Iterable[ScheduleState], *, afresh: bool = False) -> None:
        """Take the status of each of ``states`` as the one to act on: the one owner of
        ``_inactive``, ``_held`` and ``_completed``. ``afresh``: ``states`` are all the
        schedules there are, and what was noted before is forgotten."""
        if afresh:
            self._inactive, self._held, self._completed = set(), {}, set()
            for watch in self._watches:
                watch.overtaken = True
        elif self._watches:
            states = list(states)
            self._watched(state.name for state in states)
        inactive, held, completed = self._inactive, self._held, self._completed
        for state in states:
            name, status = state.name, state.status
            if status == "active":
                inactive.discard(name)
                held.pop(name, None)
                completed.discard(name)
                continue
            inactive.add(name)
            if status == "completed":
                held.pop(name, None)
                completed.add(name)
            else:
                completed.discard(name)
                held[name] = status

    def _note_completed(self, names: Iterable[str]) -> None:
        """Schedules this leader marked ``completed``."""
        if self._watches:
            names = list(names)
            self._watched(names)
        for name in names:
            self._held.pop(name, None)
            self._completed.add(name)
            self._inactive.add(name)

    def _watched(self, names: Iterable[str]) -> None:
        for name in names:
            for watch in self._watches:
                watch.names.add(name)

    def watch_statuses(self) -> StatusWatch:
        """Begin a read of the schedules off the event loop (a look at every one, a
        reload): from now until ``since_watch``, each schedule whose status this loop
        notes is remembered, so that the copy read meanwhile never undoes what was noted
        after it was read (a pause from the shell in between would be lifted)."""
        watch = StatusWatch()
        self._watches.append(watch)
        return watch

    def since_watch(self, watch: StatusWatch, states: list[ScheduleState]) -> list[ScheduleState]:
        """``states``, read off the loop since ``watch`` began, with every schedule noted
        meanwhile read again from the store here (they are few). ``watch.overtaken``
        says whether everything was noted afresh meanwhile: a look at every schedule then
        drops its copy, older than what the loop holds."""
        self.unwatch(watch)
        if not watch.names:
            return states
        current = [state for state in states if state.name not in watch.names]
        for name in sorted(watch.names):
            state = self.store.get_schedule(name)
            if state is not None:
                current.append(state)
        return current

    def unwatch(self, watch: StatusWatch) -> None:
        with contextlib.suppress(ValueError):
            self._watches.remove(watch)

    def _prepare_jobs(self) -> None:
        """Let the executor get ready for the jobs of the schedules run here (the task
        workers a burst will need), before any of them falls due."""
        local, default = self.local_queues, self.options.queue_name
        self.executor.prepare(
            (
                d
                for d in self.definitions.values()
                if d.task and (local is None or (d.queue or default) in local)
            ),
            self.options,
            self.base_dir,
        )

    def _track_all(self, states: list[ScheduleState], now: datetime) -> None:
        """Track ``states``, writing the next runs computed here (and the schedules found
        complete) in one transaction each, not one per schedule."""
        computed: dict[str, datetime | None] = {}
        completed: list[str] = []
        shared: dict[tuple[Any, ...], tuple[Timeline, datetime | None]] = {}
        for state in states:
            self._track(state, now, computed, completed, shared)
        if computed:
            self.store.set_next_runs(computed)
        if completed:
            self.store.set_status(completed, "completed", now)
            self._note_completed(completed)

    def _track(
        self,
        state: ScheduleState,
        now: datetime,
        computed: dict[str, datetime | None],
        completed: list[str],
        shared: dict[tuple[Any, ...], tuple[Timeline, datetime | None]],
    ) -> None:
        name = state.name
        definition = self.definitions.get(name)
        self._next.pop(name, None)
        if definition is None or state.status != "active":
            return
        if definition.run_on_start and state.last_run is None and state.created_at is not None:
            self._on_start.append((name, state.created_at))
        spec = definition.schedule
        # Schedules written alike (one cron line, one daily time) share one timeline and
        # its first instant after ``now``: a start with 100,000 of them builds a few
        # thousand timelines, not 100,000.
        key = (
            (
                id(spec),
                definition.timezone,
                definition.dst,
                definition.start_date,
                definition.end_date,
            )
            if spec.name_free and not definition.has_timing
            else None
        )
        found = shared.get(key) if key is not None else None
        if found is None:
            timeline = definition.timeline(state.anchor, next_run=state.next_run)
            first: datetime | None = _UNKNOWN
        else:
            timeline, first = found
        self._timelines[name] = timeline
        next_run = state.next_run
        if next_run is None:
            # Never claimed, just changed or just resumed: the first occurrence after now.
            # Nothing before that point counts as missed.
            if first is _UNKNOWN:
                first = timeline.slot(now)
            next_run = first
            computed[name] = next_run
        if key is not None:
            shared[key] = (timeline, first)
        if next_run is None:
            if definition.schedule.on_clock and state.last_run is not None:
                completed.append(name)
            return
        self._next[name] = next_run
        heapq.heappush(self._heap, (next_run, name))

    def retrack(self, states: list[ScheduleState], now: datetime) -> None:
        """Follow schedules whose definitions changed (or went): their next run is
        computed afresh from the new definition (``states`` come with ``next_run``
        cleared by the change)."""
        for state in states:
            self._next.pop(state.name, None)
            self._timelines.pop(state.name, None)
        self._note_statuses(states)
        self._track_all(states, now)
        self._prepare_jobs()

    def refresh(self, now: datetime, *, full: bool = False) -> None:
        """Re-read statuses after another process paused or resumed schedules.

        Only the schedules in a status of ``HELD`` are listed (few, even among 100,000);
        the ones that were at the last look and are not now (resumed) are read one by
        one. ``full`` re-reads every schedule (the service's periodic safety net), the
        ``completed`` ones included.
        """
        if full:
            self.refresh_all(self.store.list_schedules(definitions=False), now)
            return
        states = self.store.list_schedules(definitions=False, statuses=HELD)
        listed = {s.name for s in states}
        candidates = []
        for name in self._held.keys() - listed:
            state = self.store.get_schedule(name)
            if state is None:  # gone from the state altogether
                self._watched([name])
                self._held.pop(name, None)
                self._inactive.discard(name)
                continue
            self._note_statuses([state])
            if state.status == "active":
                candidates.append(state)
        self._note_statuses(states)
        self._follow_resumed(candidates, now)

    def refresh_all(self, states: list[ScheduleState], now: datetime) -> None:
        """The full look with ``states``, every schedule there is (without definitions):
        statuses noted afresh, and the active ones not followed (resumed) followed."""
        self._note_statuses(states, afresh=True)
        self._follow_resumed([s for s in states if s.status == "active"], now)

    def _follow_resumed(self, candidates: list[ScheduleState], now: datetime) -> None:
        for name in self._inactive & self._next.keys():
            del self._next[name]  # paused, disabled or removed meanwhile
        resumed = []
        for state in candidates:
            if state.name not in self._next:
                if state.next_run is not None and state.next_run < now:
                    state.next_run = None  # resumed: continue from now, nothing is missed
                resumed.append(state)
        self._track_all(resumed, now)

    # -- the tick -------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Fire everything due at ``now``: queued requests, retries, then schedules."""
        if not self.firing or not self._state_intact():
            return
        self._in_tick = True
        try:
            self._tick(now)
        finally:
            self._in_tick = False
        for queue in list(self._queues):
            self._pump(queue)

    def _state_intact(self) -> bool:
        """At most once a second, whether the state is still the one opened: a runner
        whose state file was deleted would write its runs into a file nobody sees."""
        mono = self.clock.monotonic()
        if mono - self._identity_checked < STATE_CHECK_SECONDS:
            return True
        self._identity_checked = mono
        try:
            if isinstance(self.store, StateFile):
                self.store.check_identity()
        except UnoScheduleError as exc:
            self.log.error(f"{exc}")
            self.firing = False
            return False
        return True

    def _renew_every(self) -> float:
        """Seconds between two renewals of the lease: a third of ``lock_timeout``."""
        return max(RENEW_FLOOR, self.options.lock_timeout / 3)

    def _tick(self, now: datetime) -> None:
        stale = (now - self._lease_renewed).total_seconds() >= self._renew_every()
        if (stale or now < self._lease_renewed) and not self.renew_lease(now):
            return
        for run in self.store.take_queued(self.epoch, self.instance_id):
            self._inflight[run.schedule] = self._inflight.get(run.schedule, 0) + 1
            self._dispatch_when_due(run)
        while self._delayed and self._delayed[0][0] <= now:
            _, _, run = heapq.heappop(self._delayed)
            self._enqueue(run)
        batch = _Batch()
        on_start, self._on_start = self._on_start, []
        for name, seen in on_start:
            if name in self.definitions and name not in self._inactive:
                run = self._new_run(self.definitions[name], seen, "schedule", now)
                self._inflight[name] = self._inflight.get(name, 0) + 1
                batch.add(run, self._next.get(name), start=True)
        fired = 0
        while self._heap and self._heap[0][0] <= now and fired < TICK_SCHEDULES:
            due, name = heapq.heappop(self._heap)
            if self._next.get(name) != due:
                continue  # stale heap entry (paused, removed or rescheduled)
            self._fire_schedule(name, now, batch)
            fired += 1
        self._commit(batch, now)

    def _fire_schedule(self, name: str, now: datetime, batch: _Batch) -> None:
        """Decide what to record for every occurrence of ``name`` due by ``now``; the
        claims go into ``batch``, which the tick commits in one transaction."""
        definition = self.definitions[name]
        timeline = self._timelines[name]
        if name in self._handed:
            self._settle_handed(name)
        due: list[datetime] = []
        instant: datetime | None = self._next[name]
        while instant is not None and instant <= now and len(due) < CATCH_UP_LIMIT:
            due.append(instant)
            instant = timeline.slot(instant)
        if instant is not None and instant <= now:
            skipped_to = timeline.slot(now)
            self.log.warning(
                f"{name}: more than {CATCH_UP_LIMIT} occurrences were due; those between "
                f"{format_instant(instant)} and {format_instant(now)} are not recorded"
            )
            instant = skipped_to
        threshold = self.options.missed_threshold
        waiting = self._pending.get(name, 0) > 0
        late = [d for d in due if (now - d).total_seconds() > threshold]
        handling = self.options.missed_schedule_handling
        if handling == "coalesce":
            # everything that came due while nothing ran, late or not, is one run
            to_run: set[datetime] = set(due[-1:])
        else:
            to_run = set(due[len(late) :])
        if late and handling == "trigger":
            keep = self.options.max_missed_schedules
            to_run.update(late[-keep:] if keep > 0 else [])
        for i, scheduled in enumerate(due):
            following = due[i + 1] if i + 1 < len(due) else instant
            occurrence = timeline.occurrence(scheduled)  # blackouts and jitter
            if occurrence.skipped is not None:
                self._record(
                    definition, scheduled, "skipped", following, now, batch,
                    error=occurrence.skipped,
                )  # fmt: skip
                continue
            if scheduled in to_run:
                trigger = "missed" if scheduled in late else "schedule"
                buffers = definition.overlap in ("buffer_one", "buffer_all")
                if waiting and not buffers:
                    self._record(
                        definition,
                        scheduled,
                        "skipped",
                        following,
                        now,
                        batch,
                        error="the previous run was still waiting in its queue",
                    )
                    continue
                running = self._in_flight(name) if definition.overlap != "allow_all" else []
                decision = decide(
                    definition.overlap,
                    running,
                    max(0, self._inflight.get(name, 0) - len(running)),
                )
                if decision.action == "skip":
                    self._record(
                        definition,
                        scheduled,
                        "skipped",
                        following,
                        now,
                        batch,
                        error=decision.reason or "",
                    )
                    continue
                run = self._new_run(definition, scheduled, trigger, now)
                if decision.action == "buffer":
                    run.error = decision.reason  # kept with the waiting run (history, explain)
                elif decision.action == "cancel":
                    self._cancel(name, decision.cancel, decision.reason or "")
                start = draw_start(occurrence, self.rng)
                if start is not None and start > now:  # claimed now, started later
                    run.queued_at = start
                # Counted now so that the overlap policy sees it for the next due occurrence
                # in this same batch; given back if the claim is refused.
                self._inflight[name] = self._inflight.get(name, 0) + 1
                batch.add(run, following, start=True)
            else:
                self._record(
                    definition,
                    scheduled,
                    "missed",
                    following,
                    now,
                    batch,
                    error=f"missed: due {format_instant(scheduled)}, "
                    f"{(now - scheduled).total_seconds():.0f}s late",
                )
        if instant is None:
            self._next.pop(name, None)
            if definition.schedule.on_clock:
                batch.completed.append(name)
        else:
            self._next[name] = instant
            heapq.heappush(self._heap, (instant, name))

    def _commit(self, batch: _Batch, now: datetime) -> None:
        """Claim everything the tick decided, in one durable transaction, then start what
        was claimed. A refused claim was claimed before (or our lease is gone)."""
        if not batch.claims:
            return
        results = self.store.claim_many(
            batch.claims, epoch=self.epoch, completed=batch.completed, now=now
        )
        refused = False
        for claim, start, note, ok in zip(
            batch.claims, batch.starts, batch.notes, results, strict=True
        ):
            run = claim.run
            if not ok:
                refused = True
                if start:
                    self._inflight[run.schedule] = max(0, self._inflight.get(run.schedule, 0) - 1)
                self.log.debug(f"{run.schedule}: {claim.key} was claimed before; not firing it")
                continue
            self.fired += 1
            if start:
                failpoint("after_claim")
                self._dispatch_when_due(run)  # a jittered or deferred run waits
                continue
            if note is not None:
                note()
            if self.observer is not None:
                self.observer.recorded(run)
        if refused and self._lost_lease():
            return  # nothing was written: the schedules are not completed either
        if batch.completed:
            self._note_completed(batch.completed)

    def _new_run(
        self, definition: ScheduleDefinition, scheduled: datetime, trigger: str, now: datetime
    ) -> RunRecord:
        return new_run(
            definition,
            scheduled,
            trigger,
            now,
            epoch=self.epoch,
            instance_id=self.instance_id,
        )

    def _lost_lease(self) -> bool:
        """After a refused claim: stop firing unless the store's fence still lets our
        lease claim (``Lease.fences``). Then the refusal was of an occurrence claimed
        before; else it was the fence's (Redis: our lease's key expired while this
        process was frozen mid-tick, even if nobody took it over)."""
        lease = self.store.current_lease()
        if lease is None or (lease.instance_id, lease.epoch) == (self.instance_id, self.epoch):
            if lease is not None and lease.fences:
                return False
            held = "this scheduler's lease expired before it was renewed, and nobody holds it"
        else:
            held = f"the lease is {lease.instance_id}'s (epoch {lease.epoch})"
        self.log.error(f"a claim was refused: {held}; stopping")
        self.firing, self.deposed = False, True
        return True

    def _record(
        self,
        definition: ScheduleDefinition,
        scheduled: datetime,
        result: str,
        next_run: datetime | None,
        now: datetime,
        batch: _Batch,
        *,
        error: str,
    ) -> None:
        """Add a finished record (``skipped`` or ``missed``) for an occurrence not run."""
        run = self._new_run(definition, scheduled, "schedule", now)
        run.result = result  # type: ignore[assignment]
        run.finished_at = now
        run.error = error
        name = definition.name
        if result == "missed":
            batch.add(run, next_run, note=lambda: self.log.warning(f"{name}: {error}"))
        else:
            when = format_instant(scheduled)
            batch.add(run, next_run, note=lambda: self.log.info(f"{name}: skipped {when}: {error}"))

    # -- queues ---------------------------------------------------------------------------

    def _dispatch_when_due(self, run: RunRecord) -> None:
        eligible = run.queued_at
        if eligible is not None and eligible > self.clock.now():
            heapq.heappush(self._delayed, (eligible, next(self._seq), run))
        else:
            self._enqueue(run)

    def _enqueue(self, run: RunRecord) -> None:
        """Add to its queue; ``tick`` starts jobs only after everything due is queued, so
        that priority orders all the runs due at one instant."""
        queue = run.queue or self.options.queue_name
        fired = run.trigger in ("schedule", "missed")
        waiting = _Waiting(
            PRIORITIES.get(run.priority, 1),
            run.scheduled_time,
            next(self._seq),
            run,
            self.definitions.get(run.schedule) if fired else None,
        )
        if fired:
            self._pending[run.schedule] = self._pending.get(run.schedule, 0) + 1
        heapq.heappush(self._queues.setdefault(queue, []), waiting)
        if not self._in_tick:
            self._pump(queue)

    def _pump(self, queue: str) -> None:
        """Start waiting runs while the queue has room: all of them marked ``running`` in
        one transaction, committed before any of their jobs starts."""
        if not self.firing or not self._may_start():
            return  # stopping (or deposed): what waits stays queued for the next leader
        if self.local_queues is not None and queue not in self.local_queues:
            self._hand_off(queue)
            return
        limit = self.options.concurrency(queue)
        waiting = self._queues.get(queue, [])
        starting: list[RunRecord] = []
        held: list[_Waiting] = []
        room = self.executor.room(sum(self._active.values())) if waiting else None
        starved = False
        started = self.clock.now()
        grouped: set[str] = set()
        members: dict[str, list[str]] | None = None
        self._group_held.discard(queue)
        while waiting and self._active.get(queue, 0) < limit:
            if room is not None and len(starting) >= room:
                starved = True  # more would hold more descriptors than the runner may
                break
            entry = heapq.heappop(waiting)
            run = entry.run
            if self._held_by_policy(run, starting):
                held.append(entry)  # waits for the running one, never overlaps it
                continue
            group = self._group_of(run)
            if group is not None:
                if members is None:
                    members = group_members(self.definitions, self.options.groups)
                if not self.store.start_in_group(
                    run.run_id, started, members.get(group, []), self.options.groups[group]
                ):
                    self._group_wait.setdefault(run.run_id, started)
                    self._group_held.add(queue)
                    held.append(entry)  # the group is full: waits for one of its runs to end
                    continue
                grouped.add(run.run_id)
                since = self._group_wait.pop(run.run_id, None)
                if self.observer is not None:
                    self.observer.group_admitted(
                        run, group, (started - since).total_seconds() if since else 0.0
                    )
            self._active[queue] = self._active.get(queue, 0) + 1
            if entry.definition is not None:
                self._pending[run.schedule] = max(0, self._pending.get(run.schedule, 0) - 1)
            current = self.definitions.get(run.schedule)
            if current is None:
                self._removed_before_start(queue, run)
                continue
            changed = entry.definition is not None and current is not entry.definition
            if changed and current != entry.definition:
                self._removed_before_start(queue, run, CHANGED_BEFORE_START, "skipped")
                continue
            starting.append(run)
            if entry.seq < self._starved_before.get(queue, -1):
                self._descriptor_waits += 1
        for item in held:
            heapq.heappush(waiting, item)
        self._note_starved(
            queue, min(len(waiting), limit - self._active.get(queue, 0)) if starved else 0
        )
        if not starting:
            return
        ungrouped = [(run.run_id, started, None) for run in starting if run.run_id not in grouped]
        ours = set(self.store.start_runs(ungrouped)) | grouped
        if self.observer is not None:
            self.observer.started([r for r in starting if r.run_id in ours], started)
        loop = asyncio.get_running_loop()
        for run in starting:
            if run.run_id not in ours:  # started by another leader meanwhile: not ours to run
                self.log.warning(f"{run.schedule}: run {run.run_id} was started elsewhere")
                self._inflight[run.schedule] = max(0, self._inflight.get(run.schedule, 0) - 1)
                self._active[queue] = max(0, self._active.get(queue, 0) - 1)
                continue
            task = loop.create_task(self._execute(queue, run, started))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _note_starved(self, queue: str, waiting: int) -> None:
        """Keep count of the runs of ``queue`` that wait for descriptors now (its
        concurrency would start them), and say so once when they begin to."""
        if waiting <= 0:
            self._starved.pop(queue, None)
            return
        if queue not in self._starved:
            running = sum(self._active.values())
            self.log.warning(
                f"queue {queue}: {waiting:,} run(s) wait for a slot: this runner's open-file "
                f"limit holds no more than the {running:,} jobs running; they start as "
                "jobs end"
            )
        self._starved[queue] = waiting
        self._starved_before[queue] = next(self._seq)

    def waiting_for_descriptors(self) -> int:
        return sum(self._starved.values())

    @property
    def descriptor_waits(self) -> int:
        return self._descriptor_waits

    def _may_start(self) -> bool:
        """False once this runner stopped firing, or when its lease may have run out
        (a whole ``lock_timeout`` since it was last renewed: the process was frozen or
        starved) and cannot be renewed: a job that finished while this leader was frozen
        must not make it start the next one after another took over."""
        return self.firing and self._lease_holds()

    def _lease_holds(self) -> bool:
        """True unless a whole ``lock_timeout`` passed since the lease was last renewed
        and it cannot be renewed now."""
        now = self.clock.now()
        if (now - self._lease_renewed).total_seconds() < self.options.lock_timeout:
            return True
        return self.renew_lease(now)

    def _hand_off(self, queue: str) -> None:
        """Give the claimed runs of a queue served elsewhere to its workers, by priority."""
        waiting = self._queues.get(queue, [])
        entries: list[_Waiting] = []
        held: list[_Waiting] = []
        handing: list[RunRecord] = []
        while waiting:
            entry = heapq.heappop(waiting)
            # A run its overlap policy holds is not handed over while another of its
            # schedule is in flight on a worker: no worker can start it beside that one.
            if self._held_by_policy(entry.run, handing):
                held.append(entry)
                continue
            entries.append(entry)
            handing.append(entry.run)
        for entry in held:
            heapq.heappush(waiting, entry)
        runs = [entry.run for entry in entries]
        if not runs or self.hand_off is None:
            return
        self.hand_off(queue, runs)
        for entry in entries:  # a worker runs it now; its start and end are not seen here
            self._track_handed(entry.run, waiting=entry.definition is not None)

    def _track_handed(self, run: RunRecord, *, waiting: bool) -> None:
        """Track ``run``, in a worker's hands, until ``_settle_handed`` reads from the
        state that a worker started it (when ``waiting``: a fired run, counted in
        ``_pending``) and that it ended (when its schedule has an overlap policy: it
        stays counted in ``_inflight``, as a run running here does); a run of neither
        kind is forgotten now (no longer counted in ``_inflight``)."""
        definition = self.definitions.get(run.schedule)
        bound = definition is not None and definition.overlap != "allow_all"
        if waiting or bound:
            self._handed.setdefault(run.schedule, {})[run.run_id] = [waiting, bound]
        if not bound:
            self._inflight[run.schedule] = max(0, self._inflight.get(run.schedule, 0) - 1)

    def _settle_handed(self, name: str) -> None:
        """A schedule's runs handed to workers count as waiting until a worker starts
        them (at most one waiting run, ``coalesce``), and those of a schedule with an
        overlap policy as in flight until their record ends, as local runs do: read from
        the state when the schedule's next occurrence is due or a held run may start."""
        handed = self._handed.get(name)
        if not handed:
            return
        for run_id, (waiting, unique) in list(handed.items()):
            run = self.store.get_run(run_id)
            result = run.result if run is not None else None
            if waiting and result != "queued":
                self._pending[name] = max(0, self._pending.get(name, 0) - 1)
                waiting = handed[run_id][0] = False
            if unique and result not in ("queued", "running"):
                self._inflight[name] = max(0, self._inflight.get(name, 0) - 1)
                unique = handed[run_id][1] = False
            if not waiting and not unique:
                del handed[run_id]
                self._cancelling.pop(run_id, None)  # its worker recorded it
        if not handed:
            del self._handed[name]

    def _in_flight(self, name: str) -> list[str]:
        """The runs of ``name`` in flight, oldest first: running here, or handed to a
        worker and not ended (their records are read again first)."""
        if name in self._handed:
            self._settle_handed(name)
        handed = [run_id for run_id, (_, bound) in self._handed.get(name, {}).items() if bound]
        return handed + self._running.get(name, [])

    def _held_by_policy(self, run: RunRecord, starting: list[RunRecord]) -> bool:
        """Whether ``run`` must wait: its overlap policy lets it start only when no other
        run of its schedule is in flight (``overlap.may_start``)."""
        definition = self.definitions.get(run.schedule)
        if definition is None or not bound_by_policy(run.trigger):
            return False
        name = run.schedule
        if definition.overlap == "allow_all":
            return False
        others = len(self._in_flight(name)) + sum(r.schedule == name for r in starting)
        return not may_start(definition.overlap, others)

    def _cancel(self, name: str, run_ids: tuple[str, ...], reason: str) -> None:
        """Stop the runs of ``name`` that ``overlap: cancel_other`` replaces (the normal
        graceful stop); they are recorded ``cancelled``. A run on a worker is asked to
        stop through the state (``stop_handed``; its worker stops it and records it); the
        new run waits for its end either way (``_held_by_policy``)."""
        for run_id in run_ids:
            if run_id in self._cancelling:
                continue
            if self.executor.stop(run_id, self.options.kill_grace):
                self._cancelling[run_id] = reason
                self.log.info(f"{name}: cancelling run {run_id}: {reason}")
            elif self.stop_handed is not None:
                self._cancelling[run_id] = reason
                self.stop_handed(run_id, reason)
                self.log.info(f"{name}: asked the worker of run {run_id} to stop it: {reason}")

    def _group_of(self, run: RunRecord) -> str | None:
        """The concurrency group whose limit ``run`` counts against (None: no group)."""
        definition = self.definitions.get(run.schedule)
        group = definition.concurrency_group if definition is not None else None
        if group is None:
            return None
        if group not in self.options.groups:
            if (run.schedule, group) not in self._ungrouped:  # said once, not per run
                self._ungrouped.add((run.schedule, group))
                self.log.warning(
                    f"{run.schedule}: concurrency group {group!r} has no limit in this "
                    "runner's scheduler.groups: its runs are not limited by it"
                )
            return None
        return group

    def _request_pump(self, queue: str) -> None:
        """Pump ``queue`` once the current callbacks have run: the slots that jobs ending
        together free are then filled by one ``_pump`` (one transaction), not one each."""
        if not self._pumps:
            asyncio.get_running_loop().call_soon(self._pump_requested)
        self._pumps.add(queue)

    def _pump_requested(self) -> None:
        queues, self._pumps = self._pumps, set()
        for queue in queues:
            self._pump(queue)

    def _removed_before_start(
        self,
        queue: str,
        run: RunRecord,
        error: str = REMOVED_BEFORE_START,
        result: str = "error",
    ) -> None:
        self._end_unstarted(run, result, error)
        self._inflight[run.schedule] = max(0, self._inflight.get(run.schedule, 0) - 1)
        self._active[queue] = max(0, self._active.get(queue, 0) - 1)

    def _end_unstarted(self, run: RunRecord, result: str, error: str) -> None:
        """Record the end of a run whose job never started (its schedule was removed or
        changed first) and tell the observer, as of every other recorded end: the
        metrics count what status and stats count."""
        now = self.clock.now()
        finish = Finish(run.run_id, result, now, error=error)
        recorded = self._write_end(finish)
        if not recorded:
            self.settler.not_recorded(run, finish, self._why_not_written())
        elif self.observer is not None:
            ended = dataclasses.replace(run, finished_at=now, error=error)
            ended.result = result  # type: ignore[assignment]
            self.observer.recorded(ended)

    async def _finish(self, finish: Finish) -> bool:
        """Record how a run ended; whether the store recorded it (``Store.finish_runs``).
        Runs that end together share one transaction: the first schedules a flush for
        after the current callbacks, the rest join it. Each waits on a future of its
        own, so that cancelling one wait leaves the others (and the write) alone without
        a ``shield`` per run."""
        loop = asyncio.get_running_loop()
        if not self._finishing:
            loop.call_soon(self._flush_finishes)
        written: asyncio.Future[bool] = loop.create_future()
        self._finishing.append((finish, written))
        return await written

    def _flush_finishes(self) -> None:
        batch, self._finishing = self._finishing, []
        finishes = [finish for finish, _ in batch]
        failure: Exception | None = None
        recorded: set[str] = set()
        try:
            try:
                recorded.update(self.store.finish_runs(finishes))
            except UnoScheduleError as exc:
                # A full disk: write these ends into the room reserved at start, then
                # stop, since nothing new can be claimed.
                if not isinstance(self.store, StateFile) or not self.store.release_reserve():
                    raise
                recorded.update(self.store.finish_runs(finishes))
                self.log.error(
                    f"{exc}; the end of {len(finishes)} run(s) went into the space reserved "
                    "for it; not firing any more"
                )
                self.firing = False
        except Exception as exc:  # each waiting run gets it, as if it had written alone
            failure = exc
        for finish, written in batch:
            if written.done():  # its run was cancelled while it waited; the end is written
                continue
            if failure is None:
                written.set_result(finish.run_id in recorded)
            else:
                written.set_exception(failure)

    async def _execute(self, queue: str, run: RunRecord, started: datetime) -> None:
        name = run.schedule
        self._running.setdefault(name, []).append(run.run_id)
        try:
            definition = self.definitions.get(name)
            if definition is None:  # removed by a reload since the pump
                self._end_unstarted(run, "error", REMOVED_BEFORE_START)
                return
            if not self._lease_holds():  # frozen between marking it running and here
                cause = "the loss of the lease before its job started"
                self._interrupt(run, self.clock.now(), LEASE_LOST, cause)
                return
            self.log.info(
                f"{name}: starting run {run.run_id} (trigger {run.trigger}, attempt "
                f"{run.attempt}, due {format_instant(run.scheduled_time)})"
            )
            spec = job_spec(run, definition, self.options, self.base_dir)
            failpoint("before_spawn")
            outcome = await self.executor.run(spec, on_start=lambda pid: failpoint("after_spawn"))
            outcome = cancelled_outcome(outcome, self._cancelling.pop(run.run_id, None))
            failpoint("before_finish")
            await self.settler.settle(
                run, definition, outcome, started, self.clock.now(), self._record_end
            )
        finally:
            self._inflight[name] = max(0, self._inflight.get(name, 0) - 1)
            self._active[queue] = max(0, self._active.get(queue, 0) - 1)
            running = self._running.get(name, [])
            if run.run_id in running:
                running.remove(run.run_id)
            if not running:
                self._running.pop(name, None)
            self._request_pump(queue)
            for starved in self._starved:  # its descriptors are free for them too
                self._request_pump(starved)
            for grouped in self._group_held:  # its group may have room now
                self._request_pump(grouped)

    async def _record_end(self, finish: Finish, retry: RunRecord | None) -> Ended:
        """The loop's recorder for the settle step: the end joins the current batch of
        ends, with the next attempt queued under its occurrence key in that same
        transaction (``Store.finish_runs``), as an interruption's is (``_record_cut_off``):
        claimed in a transaction of its own after the end, a retry was lost when the
        leader died between the two. The leader takes it as a queued run at its next
        tick (woken now), a successor at its first."""
        finish = self._with_retry(finish, retry)
        try:
            written = await self._finish(finish)
        except UnoScheduleError as exc:  # the store is unreachable (or the disk full):
            # the next leader finds the run still running and records it interrupted
            self.log.error(
                f"run {finish.run_id}: cannot record its end ({finish.result}): {exc}; "
                "not firing any more"
            )
            self.firing = False
            return Ended(recorded=False)
        failpoint("after_end")
        if not written:  # ended first by another: its retry, if any, is theirs
            return Ended(recorded=False, why=self._why_not_written())
        if finish.then:  # the runs it started were queued with it: take them now
            failpoint("after_chained_end")
            self.wake()
        return Ended(recorded=True, retried=retry is not None)

    def _observe_end(
        self, run: RunRecord, outcome: JobOutcome, started: datetime, finished: datetime
    ) -> None:
        if self.observer is not None:
            self.observer.finished(run, outcome, started, finished)

    async def report_failure(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: JobOutcome
    ) -> None:
        """Tell the error handlers of a failure the loop did not see (a dead-man alarm)."""
        await self.settler.failed(run, definition, outcome)

    # -- what the leader's housekeeping reads (``abc.LeaderLoop``) --------------------------

    def next_runs(self) -> Mapping[str, datetime]:
        """When each active schedule next starts (``effective.next_start``: the claim
        instant moved by its blackouts and jitter), as status and ``top`` show it. Read
        by a scrape in the metrics' thread: from a copy of ``_next`` taken in one step."""
        timelines = self._timelines
        starts: dict[str, datetime] = {}
        for name, due in self._next.copy().items():
            timeline = timelines.get(name)
            start = next_start(timeline, due) if timeline is not None else due
            if start is not None:
                starts[name] = start
        return starts

    def running_per_queue(self) -> Mapping[str, int]:
        return self._active

    def inactive(self) -> Collection[str]:
        return self._inactive

    # -- timing and shutdown --------------------------------------------------------------

    def next_due(self) -> datetime | None:
        candidates = []
        while self._heap and self._next.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        if self._heap:
            candidates.append(self._heap[0][0])
        if self._delayed:
            candidates.append(self._delayed[0][0])
        return min(candidates) if candidates else None

    def seconds_until_next(self, now: datetime) -> float:
        """How long the loop may sleep: until the earliest due instant, capped by
        ``check_interval`` and by the lease's next renewal (a third of ``lock_timeout``
        after the last, not up to two thirds: the jobs' fence comes at 0.8)."""
        every = self._renew_every()
        renew_in = every - (now - self._lease_renewed).total_seconds()
        # (overdue only when no tick ran since: the tick renews before anything else)
        cap = min(self.options.check_interval, renew_in if renew_in > 0 else every)
        if self._group_held:  # a run of the group may end on another host or a worker
            cap = min(cap, GROUP_POLL)
        due = self.next_due()
        if due is None:
            return cap
        return max(0.0, min(cap, (due - now).total_seconds()))

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float) -> None:
        """Let running jobs finish within ``grace`` seconds, then stop the rest."""
        self.firing = False
        if self._tasks:
            self.log.info(f"waiting up to {grace:g}s for {len(self._tasks)} running job(s)")
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            if pending:
                self.log.warning(f"stopping {len(pending)} job(s) that outlived the grace period")
                await self.executor.stop_all(self.options.kill_grace)
                await asyncio.wait(pending, timeout=self.options.kill_grace + 5)
        # Runs still waiting in a queue never started; they stay queued for the next leader.
        self._queues.clear()
        self._pending.clear()
        close = getattr(self.executor, "close", None)  # a test's stand-in may have none
        if close is not None:
            close()

    def clock_jumped(self, drift: float) -> None:
        """Follow a wall-clock jump of ``drift`` seconds (wall minus monotonic progress).

        Intervals count elapsed time (SPEC 3): each interval's next run and each pending
        retry delay moves with the jump, and the interval is re-anchored there, so a
        clock set back an hour neither stalls it for the hour nor fires it in a burst
        after a jump forwards. The new anchor is stored with the next run: next-runs,
        explain, a reload and the next leader all count from it, as this one does. An
        interval with a ``start_date`` counts from it (``ScheduleSpec.timeline``): its
        next run moves, and the runs after it keep their phase. A next run the jump
        would move outside ``start_date``..``end_date`` stays where it is. Cron-like
        schedules keep their next run, as cronie does for jobs at fixed times: what
        already ran (an occurrence is claimed once) is not run again after a jump back,
        and a jump forwards follows the missed policy.
        """
        shift = timedelta(seconds=drift)
        moved: dict[str, datetime] = {}
        for name, due in list(self._next.items()):
            definition = self.definitions.get(name)
            if definition is None or not isinstance(definition.schedule, IntervalSchedule):
                continue
            new = due + shift
            if not _within_dates(definition, new):
                continue
            self._timelines[name] = definition.timeline(new, next_run=new)
            self._next[name] = moved[name] = new
            heapq.heappush(self._heap, (new, name))
        if self._delayed:
            self._delayed = [(due + shift, seq, run) for due, seq, run in self._delayed]
            heapq.heapify(self._delayed)
        if moved:
            self.store.set_next_runs(moved, anchors=moved)
            self.log.info(f"{len(moved)} interval schedule(s) follow elapsed time across the jump")

    async def wait_idle(self) -> None:
        """Wait until no job runs (tests use this instead of sleeping)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


def _within_dates(definition: ScheduleDefinition, instant: datetime) -> bool:
    """Whether ``instant`` lies within the schedule's ``start_date`` and ``end_date``
    (a naive bound, which no loaded definition has, bounds nothing here)."""
    start, end = definition.start_date, definition.end_date
    if start is not None and start.tzinfo is not None and instant < start:
        return False
    return end is None or end.tzinfo is None or instant <= end

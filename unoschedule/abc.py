"""Every interface of the package in one place: the store, its waker, the clock, and
the protocols the runner serves through.

A ``Store`` holds what must survive the process: schedules and their versions, runs,
events, and the leader lease. It is deliberately small and primitive (each method is one
transaction, every one abstract); the policy of what to write lives in the scheduler, so
that SQLite and Redis implement the same few operations and one contract test suite
covers both. What only some backends can do is a capability the backend declares by
subclassing (``StateFile``, ``WorkerQueues``) and callers ask for with ``isinstance``.

``Engine`` (what the runner needs of the library's ``Scheduler``), ``LeaderLoop`` (what
the leader's housekeeping reads of the run loop) and ``Observer`` live here too, so
that the modules on either side of them never import each other.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from .model import RunRecord, ScheduleState, VersionRecord

if TYPE_CHECKING:
    from pathlib import Path

    from .jobs import JobOutcome, JobSpec
    from .model import ScheduleDefinition, SchedulerOptions
    from .records import Claim, Finish, Pruned

__all__ = [
    "NOTIFICATION_MEMORY",
    "PAUSE_CALLS",
    "PAUSE_KINDS",
    "Clock",
    "Engine",
    "JobRunner",
    "LeaderLoop",
    "Lease",
    "Observer",
    "PauseKind",
    "PauseRecord",
    "Presence",
    "StateFile",
    "Store",
    "SystemClock",
    "Waiter",
    "Wakeups",
    "WorkQueues",
    "WorkerQueues",
    "held_lease",
    "last_led_at",
]


#: How long a claimed notification is remembered (``Store.claim_notification``).
NOTIFICATION_MEMORY = timedelta(days=7)


@dataclass(frozen=True)
class Lease:
    """Who may fire occurrences, until when, and the fencing epoch of that leadership."""

    instance_id: str
    epoch: int
    expires_at: datetime
    acquired_at: datetime
    #: Whether the store's fence still lets its holder claim, whatever the clock says:
    #: SQLite's does until another takes the lease (the file lock keeps one runner);
    #: Redis's only while the lease's own key lives. What a refused claim asks.
    fences: bool = True

    def holds_at(self, now: datetime) -> bool:
        """Whether its holder leads at ``now``: only until it expires. A lease the store
        still gives past that names the last leader, not a current one."""
        return self.expires_at > now


@dataclass(frozen=True)
class Presence:
    """A process that serves the state beside the leader: a ``standby`` runner waiting
    for the lease, or a ``worker`` (``detail``: its queues), as it last said it was
    there (``seen_at``); forgotten after ``expires_at`` unless it says so again."""

    role: str
    instance_id: str
    seen_at: datetime
    expires_at: datetime
    detail: str = ""


#: What made a pause, which decides what ends it: ``operator`` (a pause of one schedule:
#: ``pause NAME``, ``pause_schedule``), ``all`` (``pause --all``, ``pause()``: what
#: ``resume()`` ends), ``failures`` (the scheduler's own, ``pause_after_failures``) and
#: ``definition`` (the definition's ``paused: true``: no resume of many ends it).
PauseKind = Literal["operator", "all", "failures", "definition"]
PAUSE_KINDS: tuple[PauseKind, ...] = ("operator", "all", "failures", "definition")
#: The pauses ``resume --all`` ends: every one but the definition's.
PAUSE_CALLS: tuple[PauseKind, ...] = ("operator", "all", "failures")


@dataclass(frozen=True)
class PauseRecord:
    """One pause of one schedule: why, by whom, from when, until when (None: open-ended),
    when it ended (None: still in force) and what made it (``kind``). A schedule may be
    under several at once (a timed pause over an open-ended one); it is paused while any
    is open. ``explain`` reads them to mark occurrences."""

    schedule: str
    paused_at: datetime
    paused_until: datetime | None = None
    reason: str | None = None
    paused_by: str | None = None
    resumed_at: datetime | None = None
    kind: PauseKind = "operator"


class Waiter(ABC):
    """What the run loop sleeps on: returns early when another process calls ``notify``."""

    @abstractmethod
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if woken by a notification."""

    @abstractmethod
    def close(self) -> None: ...

    def fileno(self) -> int | None:
        """A file descriptor that becomes readable on a notification, for a loop that
        watches it itself instead of blocking in ``wait``; None when there is none."""
        return None

    def drain(self) -> None:
        """Consume pending notifications (after ``fileno`` turned readable)."""
        return None


class Wakeups(ABC):
    """How a change made anywhere reaches the sleeping leader within milliseconds.

    Apart from the store so that a backend's storage and its wake-ups can be chosen and
    tested on their own (a datagram socket beside a SQLite file, pub/sub on Redis); a
    store names the wake-ups that go with it (``Store.wakeups``).
    """

    @abstractmethod
    def notify(self) -> None:
        """Wake the running leader (after a pause, resume, trigger, event or a change of
        a definition). Never fails: without a leader, nothing listens."""

    @abstractmethod
    def waiter(self) -> Waiter:
        """What the leader sleeps on, so that ``notify`` wakes it."""


class JobRunner(ABC):
    """Runs one attempt of a job to its end (the run loop and the workers take one, so a
    test or another executor can stand in for processes)."""

    @property
    @abstractmethod
    def running(self) -> int:
        """Attempts running now."""

    @abstractmethod
    async def run(
        self, spec: JobSpec, on_start: Callable[[int | None], None] | None = None
    ) -> JobOutcome:
        """Run ``spec`` to its end; never raises for what the job does. ``on_start`` is
        called once it really started (with its pid, or None in this process)."""

    @abstractmethod
    async def stop_all(self, grace: float) -> None:
        """Stop every running attempt (SIGTERM, SIGKILL after ``grace``)."""

    def stop(self, run_id: str, grace: float) -> bool:
        """Ask the attempt of ``run_id`` to stop (SIGTERM, SIGKILL after ``grace``; it
        then ends ``interrupted``); False when none of this runner's attempts is it."""
        return False

    def fence(self, deadline: float | None) -> None:
        """Have the attempts running in processes of their own killed at ``deadline``
        (seconds on ``CLOCK_BOOTTIME``) by a process that is not this one, unless this
        is called again first; None: never. A leader whose lease only the store keeps
        moves it forward at each renewal: frozen or cut off past it, the leader may have
        lost the lease, and its jobs die before a successor may start their retries."""
        return None

    def room(self, running: int) -> int | None:
        """How many more attempts may start beside ``running`` ones before the process
        runs out of what each one holds (descriptors); None: no such limit."""
        return None

    def prepare(
        self,
        definitions: Iterable[ScheduleDefinition],
        options: SchedulerOptions,
        base_cwd: str | None,
    ) -> None:
        """Get ready for the jobs of ``definitions`` before they fall due (what a first
        run would otherwise set up while it is late); by default nothing."""
        return None


class Store(ABC):
    """Durable state. Every method is atomic; none holds a transaction between calls."""

    #: The operations whose commits a leader must react to (a definition written, a
    #: status changed, a run enqueued, an event): every backend's implementation of them
    #: wakes the leader itself once it returns (``__init_subclass__``), so no caller can
    #: forget to, and a new backend gets it without a line.
    WAKES_LEADER: ClassVar[frozenset[str]] = frozenset(
        {
            "save_schedules",
            "save_schedule_if",
            "set_status",
            "delete_schedule",
            "enqueue",
            "enqueue_unique",
            "add_event",
            "pause_schedules",
            "resume_schedules",
        }
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in Store.WAKES_LEADER & vars(cls).keys():
            setattr(cls, name, _then_wake(vars(cls)[name]))

    # -- schedules ----------------------------------------------------------------------

    @abstractmethod
    def get_schedule(self, name: str) -> ScheduleState | None: ...

    @abstractmethod
    def list_schedules(
        self,
        *,
        definitions: bool = True,
        statuses: Collection[str] | None = None,
        source: str | None = None,
    ) -> list[ScheduleState]:
        """All schedules (or those in ``statuses``, or of one ``source``), including
        removed ones, by name.

        ``definitions=False`` leaves each ``definition`` empty: the run loop's start needs
        only status and timing, and decoding 100,000 definitions would double its time.
        """

    def save_schedule(self, state: ScheduleState, version: VersionRecord | None = None) -> None:
        """Insert or replace ``state``; with ``version``, record it in the same transaction."""
        self.save_schedules([(state, version)])

    @abstractmethod
    def save_schedules(self, items: Iterable[tuple[ScheduleState, VersionRecord | None]]) -> None:
        """``save_schedule`` for many, at once (a first start with 100,000 schedules
        commits once, not 100,000 times), the generation moved exactly once, after every
        item is written: a reader that sees the new ``generation`` (and reads the
        schedules after it) sees the whole save, so that a file's changes are taken
        together.

        Whether a reader that does not wait for the generation can see part of a save
        is the backend's: SQLite writes it in one transaction; Redis writes it by 1,000
        schedules a script (one script for 100,000 would stop every other client of that
        Redis, lease renewals included, for seconds), so a look between two sees the
        first part until the generation moves. A save that fails part way raises; what
        it wrote stays written (nothing, on SQLite) and the generation moves for it when
        the store can still be reached, so that no follower misses it.

        Writing a schedule over a removed one (adding it again) ends the open pauses the
        removed one still holds, as of its removal, as ``set_status`` ends them: a state
        written before removals ended pauses holds them open, and the schedule would
        come back paused, or shown paused, with a reason of long ago."""

    @abstractmethod
    def save_schedule_if(
        self, state: ScheduleState, version: VersionRecord, *, expected_version: int | None
    ) -> bool:
        """Write ``state`` and its ``version`` only if the stored schedule is still at
        ``expected_version`` (None: absent or removed), checked and written in one
        transaction, so that two editors can never overwrite each other. False (nothing
        written) otherwise. Over a removed schedule, as ``save_schedules``."""

    def generation(self) -> int:
        """A number that grows with every write of definitions (once per
        ``save_schedules`` or ``save_schedule_if``, after all it wrote) and with every
        removal (``set_status`` to ``removed``): the leader and the workers compare it
        to notice changes made by other processes without reading every schedule."""
        return int(self.get_meta("generation") or 0)

    @abstractmethod
    def set_status(self, names: Sequence[str] | None, status: str, now: datetime) -> list[str]:
        """Set the status of ``names`` (None: every schedule not removed or completed).
        A removal moves ``generation`` (in the same write): the definitions in force
        changed, and a worker must not start a run of a removed schedule. It also ends
        the schedule's open pauses, of every kind, at ``now`` (in the same write): a
        removed schedule holds no pause, so one added again under its name starts
        unpaused.

        Returns the names whose status actually changed.
        """

    def set_next_run(self, name: str, next_run: datetime | None) -> None:
        self.set_next_runs({name: next_run})

    @abstractmethod
    def set_next_runs(
        self,
        next_runs: Mapping[str, datetime | None],
        *,
        anchors: Mapping[str, datetime] | None = None,
    ) -> None:
        """Record the next due instant of many schedules at once (unknown names are
        left out); with ``anchors``, also the instant the interval of each schedule it
        names counts from (a wall-clock jump re-anchors intervals:
        ``RunLoop.clock_jumped``). Each schedule's ``next_run`` and anchor are written
        whole, together; SQLite writes them all in one transaction, Redis by 1,000 a
        script (as ``save_schedules``), so a reader may see some schedules before
        others: each is one schedule's own next instant, true alone, so no schedule is
        ever seen half written."""

    @abstractmethod
    def delete_schedule(self, name: str) -> bool:
        """Forget a schedule and its versions; its runs stay in history."""

    @abstractmethod
    def versions(self, name: str) -> list[VersionRecord]:
        """Definition versions, newest first."""

    # -- runs -----------------------------------------------------------------------------

    def claim(self, run: RunRecord, key: str, next_run: datetime | None, *, epoch: int) -> bool:
        """Record ``run`` under the unique occurrence ``key`` and advance the schedule's
        ``next_run``, durably, only if ``epoch`` is the current lease's.

        Returns False (and writes nothing) when ``key`` was claimed before or the epoch is
        stale: this is what makes an occurrence fire at most once.
        """
        from .records import Claim  # not at import: a shell command never claims

        return self.claim_many([Claim(run, key, next_run)], epoch=epoch)[0]

    @abstractmethod
    def claim_many(
        self,
        claims: Sequence[Claim],
        *,
        epoch: int,
        completed: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[bool]:
        """``claim`` for every occurrence due at one tick, in one durable transaction.

        One result per claim, in order: False for a key claimed before (that claim writes
        nothing, the others still do); all False, and nothing written, when ``epoch`` is
        not the current lease's. A burst of 10,000 occurrences thus costs one fsync.
        ``completed``: schedules the tick left with no occurrence, given status
        ``completed`` as of ``now`` (as ``set_status`` does) in that same transaction,
        on the rows the claims advance anyway: a burst of one-shot schedules writes each
        row once. Nothing is marked when ``epoch`` is not the lease's.
        """

    @abstractmethod
    def enqueue(self, run: RunRecord) -> None:
        """Add a run requested from outside the loop (manual, event): result ``queued``,
        epoch 0, for the leader to pick up with ``take_queued``."""

    @abstractmethod
    def record_started(self, run: RunRecord) -> None:
        """Record a run that the calling process starts itself, outside any leader (a
        foreground ``trigger --wait``): written ``running`` from ``run.started_at``, epoch
        0, never queued, so that no leader's ``take_queued`` or ``start_runs`` hands it
        out to be started a second time. It ends through ``finish_runs``."""

    @abstractmethod
    def start_in_foreground(
        self, run_id: str, started_at: datetime, pid: int | None, instance_id: str
    ) -> bool:
        """Start a queued run that no leader took yet (epoch 0: the retry a foreground
        ``trigger --wait`` queued with its failed attempt's end) as the calling process's
        own, as ``record_started`` writes one: ``running`` from ``started_at``, epoch 0,
        with ``pid`` and ``instance_id`` (how a leader tells that process died,
        ``foreground_runs``). Decided in one transaction against ``take_queued``: of the
        process and a leader, exactly one gets the run.

        False: a leader took it first, or it is no longer queued; the caller must not
        run its job."""

    @abstractmethod
    def take_queued(self, epoch: int, instance_id: str) -> list[RunRecord]:
        """Hand every unassigned queued run to this leader (stamping epoch and instance)."""

    def start_run(self, run_id: str, started_at: datetime, pid: int | None = None) -> bool:
        return bool(self.start_runs([(run_id, started_at, pid)]))

    @abstractmethod
    def start_runs(self, starts: Sequence[tuple[str, datetime, int | None]]) -> list[str]:
        """Mark runs ``running`` from ``started_at`` (with the job's pid where known), in
        one transaction: the loop does this before their jobs start, so that a crash
        after it can only interrupt them, never start them again.

        Only a run still ``queued`` starts; returns the ids of those started. A run that
        another leader (or a worker) started, or that was finished meanwhile, is left
        alone: the caller must not run its job.
        """

    @abstractmethod
    def start_in_group(
        self, run_id: str, started_at: datetime, members: Sequence[str], limit: int
    ) -> bool:
        """Start a queued run only if fewer than ``limit`` runs of the schedules
        ``members`` (its concurrency group) are ``running``, whoever runs them (a
        leader, a worker, or a foreground ``trigger --wait``, ``record_started``): the
        count and the start in one transaction, so that no two processes fill one place.

        False: the group is full, or the run is no longer queued (not ours to run).
        The count is of the run records themselves: a run that ends, however it ends
        (a crash recorded ``interrupted`` too), gives its place back.
        """

    def finish_run(
        self,
        run_id: str,
        result: str,
        finished_at: datetime,
        *,
        error: str | None = None,
        output: str | None = None,
    ) -> bool:
        """Close a run (duration derived from start) and update the schedule's last
        result; False when the end was not recorded (see ``finish_runs``)."""
        from .records import Finish  # not at import: a shell command rarely ends a run

        return bool(self.finish_runs([Finish(run_id, result, finished_at, error, output)]))

    @abstractmethod
    def finish_runs(self, finishes: Sequence[Finish]) -> list[str]:
        """``finish_run`` for many, in one transaction; returns the run ids of the ends
        it recorded, in order. Unknown run ids, and runs no longer ``queued`` or
        ``running`` (finished, or recorded ``interrupted`` by a newer leader), are left as
        they are and left out of the result: the caller must then not act on that end
        (log it as the run's, count it, notify, take its retry as queued), since the
        state says otherwise and whoever settled the run owns it. An end is recorded
        whole: result, ``finished_at``, duration (none without a start), error and
        output replace what the run said before (a buffered run's reason, from its
        claim), each None clearing it. The runs of a finish's ``then`` are enqueued
        (``queued``, epoch 0, as ``enqueue``) under their keys when that finish is
        recorded, and not when it is not; a key enqueued before is not enqueued again."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def run_ids_starting(self, prefix: str, limit: int) -> list[str]:
        """The ids of the runs that start with ``prefix``, in order, at most ``limit``:
        what a shortened run id (``1a2376e5``) stands for (``ids.resolve_run_id``)."""

    @abstractmethod
    def history(self, name: str | None, limit: int = 50) -> list[RunRecord]:
        """Runs of one schedule (None: all), newest scheduled instant first."""

    @abstractmethod
    def unfinished_runs(self) -> list[RunRecord]:
        """Runs claimed by some leader (epoch > 0) still ``queued`` or ``running``."""

    @abstractmethod
    def active_runs(self) -> list[RunRecord]:
        """Every run ``queued`` or ``running``, whoever holds it (a leader, a worker, a
        foreground ``trigger --wait``, nobody yet), by scheduled instant then attempt:
        what is going on now (``top``)."""

    @abstractmethod
    def foreground_runs(self) -> list[RunRecord]:
        """Runs recorded started by a foreground process (``record_started``, epoch 0)
        still ``running``: the leader settles those whose process is known dead."""

    @abstractmethod
    def run_counts(
        self,
        since: datetime | None = None,
        schedule: str | None = None,
        recent: datetime | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Per schedule: ``{"run_count", "success_count", "error_count", "missed_count",
        "skipped_count", "total_duration", "finished_count"}`` for runs since ``since``;
        with ``schedule``, of that one only (``status`` reads one, not every run); with
        ``recent``, also ``recent_run_count``, the runs among them that ran scheduled at
        or after it (``stats`` reads all time and the last day in one pass)."""

    # -- events ---------------------------------------------------------------------------

    @abstractmethod
    def add_event(
        self, name: str, payload: dict[str, Any] | None, runs: Sequence[RunRecord], now: datetime
    ) -> int:
        """Record an event and enqueue the runs it triggers, in one transaction."""

    # -- leadership -----------------------------------------------------------------------

    @abstractmethod
    def acquire_lease(self, instance_id: str, ttl: float, now: datetime) -> Lease | None:
        """Take the lease if it is free, expired, or already ours. A new holder gets a new,
        higher epoch. None while another instance holds a live lease."""

    @abstractmethod
    def renew_lease(self, instance_id: str, epoch: int, ttl: float, now: datetime) -> bool:
        """Extend our lease; False if it is no longer ours (then stop firing at once)."""

    @abstractmethod
    def release_lease(self, instance_id: str, epoch: int) -> None:
        """Give our lease up (a clean stop): free at once for the next holder, who still
        gets a higher epoch, and no longer given by ``current_lease``. A lease that is not
        ours (another holder or epoch) is left as it is."""

    @abstractmethod
    def current_lease(self) -> Lease | None:
        """The lease as its holder last took or renewed it, expired or not, until
        another takes the lease or its holder releases it; None if none was ever taken
        or it was released. An expired one (its holder stopped renewing: it died, or
        hangs) says who led last and until when, which ``status`` shows; it names a
        leader only while ``Lease.holds_at(now)``: ask ``held_lease`` who leads.
        ``Lease.fences`` says whether the store still lets its holder claim."""

    # -- the processes beside the leader ------------------------------------------------

    @abstractmethod
    def announce(self, presence: Presence) -> None:
        """Record (or renew) that a standby or worker is there, for ``stats``."""

    @abstractmethod
    def withdraw(self, role: str, instance_id: str) -> None:
        """Forget a presence at once (a clean stop, a standby that became the leader)."""

    @abstractmethod
    def presences(self, now: datetime) -> list[Presence]:
        """The presences not expired at ``now``, by role then instance id; expired ones
        are forgotten."""

    # -- pauses: each operation one transaction, deciding from the records ---------------

    @abstractmethod
    def pause_schedules(
        self,
        names: Sequence[str] | None,
        kind: PauseKind,
        at: datetime,
        *,
        until: datetime | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> list[str]:
        """Open a pause of ``kind`` on ``names`` (None: every active schedule) at ``at``.

        A schedule that is active becomes paused; one already paused or disabled gets the
        record and keeps its status, so that its own reason outlives this pause (a paused
        schedule without an open record is paused by its definition: that pause is
        recorded first, as ``definition``, from the schedule's last change; an active
        schedule's open records were left by a change of its definition and end first).
        An open pause of the same kind and form (both timed, or both open-ended) is
        replaced when a reason or an end is given, and kept otherwise; one of another
        form stays, so that a timed pause over an open-ended one ends alone. Returns the
        names that became paused.
        """

    @abstractmethod
    def resume_schedules(
        self, names: Sequence[str] | None, kinds: Collection[PauseKind], at: datetime
    ) -> list[str]:
        """End the open pauses of ``kinds`` on ``names`` (None: wherever one is open).

        A paused schedule left with no open pause becomes active and continues from now
        (``next_run`` cleared: nothing paused over counts as missed); a named schedule
        that is paused with no record at all (its definition's pause) is resumed too.
        Returns the names resumed.
        """

    @abstractmethod
    def expire_pauses(self, at: datetime) -> list[str]:
        """End the timed pauses whose end has come by ``at``, and resume the schedules
        that no other pause holds (as ``resume_schedules``). Returns the names resumed."""

    @abstractmethod
    def open_pauses(self) -> list[PauseRecord]:
        """Every pause still in force, oldest first (a schedule may have several)."""

    # -- metadata and wake-ups ------------------------------------------------------------

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def set_meta_if_absent(self, key: str, value: str) -> str:
        """Write ``value`` under ``key`` unless the key holds one; the value it holds
        afterwards, in one atomic step: of processes racing to write the first value,
        each gets the one that won."""

    @abstractmethod
    def wakeups(self) -> Wakeups:
        """The wake-ups that go with this store."""

    def notify(self) -> None:
        """``wakeups().notify()``: wake the running leader. Never fails."""
        self.wakeups().notify()

    def waiter(self) -> Waiter:
        """``wakeups().waiter()``: what the leader sleeps on."""
        return self.wakeups().waiter()

    @abstractmethod
    def close(self) -> None: ...

    # -- operations: pauses, retention, explain, backfill -----------------------------------

    @abstractmethod
    def clone(self) -> Store:
        """A second handle on the same state for a background worker (the pruner), so
        that its reads never queue behind the run loop's (a store whose handle is shared
        safely may return itself)."""

    def pauses(self, name: str, since: datetime, until: datetime) -> list[PauseRecord]:
        """Pauses of ``name`` that overlap ``[since, until]``, oldest first."""
        return []

    @abstractmethod
    def runs_between(self, name: str, since: datetime, until: datetime) -> list[RunRecord]:
        """Runs of ``name`` scheduled in ``[since, until]``, by instant then attempt."""

    @abstractmethod
    def enqueue_unique(self, runs: Sequence[RunRecord]) -> list[bool]:
        """``enqueue`` each run under its occurrence key (schedule, instant, trigger), in
        one transaction; False for one enqueued before (a backfill given twice)."""

    @abstractmethod
    def claim_notification(self, key: str, at: datetime) -> bool:
        """Claim the notification ``key`` (``notifications.notification_key``) before it
        is sent: True for the first claim, False for every later one, by any process, so
        that no event is notified twice across failover. Claims are kept for
        ``NOTIFICATION_MEMORY`` after ``at``, then forgotten."""

    @abstractmethod
    def last_successes(self) -> dict[str, datetime]:
        """When each schedule's latest successful run finished (dead-man alarms),
        whether or not its record is still stored: a success does not un-happen when
        the retention prunes its run (``prune_runs`` keeps it, in the same transaction),
        and a pruned older success never moves it back."""

    @abstractmethod
    def run_totals(self) -> dict[str, int]:
        """Rows per schedule in the runs (the pruner's starting point)."""

    @abstractmethod
    def prune_runs(
        self, name: str | None, *, keep: int | None, before: datetime | None, limit: int
    ) -> Pruned:
        """Delete at most ``limit`` finished runs: of ``name`` beyond its newest ``keep``,
        or (``name`` None) any scheduled before ``before``; their counts are folded into
        the totals that ``run_counts`` adds, so statistics survive. One short transaction."""


def held_lease(store: Store, now: datetime) -> Lease | None:
    """The lease of the leader at ``now``, or None when nobody leads: the one rule of
    every command that names a leader (``health``, ``stats``, ``status``, ``top``)."""
    lease = store.current_lease()
    return lease if lease is not None and lease.holds_at(now) else None


def last_led_at(store: Store) -> datetime | None:
    """When the last leader stopped leading, for a state nobody leads now (ask
    ``held_lease`` first): the later of its clean stop (meta ``stopped_at``) and the end
    of the last lease (one whose holder died stays, expired, until another takes it);
    None when the state tells neither. The one answer of ``status``, ``list`` and
    ``health`` to "since when"."""
    from .timeutil import parse_instant

    moments = []
    stopped = store.get_meta("stopped_at")
    if stopped:
        moments.append(parse_instant(stopped))
    lease = store.current_lease()  # expired (a released one is none): its holder's end
    if lease is not None:
        moments.append(lease.expires_at)
    return max(moments) if moments else None


def _then_wake(operation: Callable[..., Any]) -> Callable[..., Any]:
    """``operation``, then ``Store.notify`` (never fails: without a leader nobody hears)."""

    @functools.wraps(operation)
    def operation_then_wake(self: Store, *args: Any, **kwargs: Any) -> Any:
        result = operation(self, *args, **kwargs)
        self.notify()
        return result

    return operation_then_wake


class StateFile(ABC):
    """The capability of a store kept in one file on this host (SQLite), declared by
    subclassing: a runner over it checks that the file is still the one it opened and
    reserves room for the ends of its runs in flight. A store over the network has no
    such file and does not declare it."""

    #: The file, its symbolic links resolved: what names the same store as another path.
    path: str

    @abstractmethod
    def check_identity(self) -> None:
        """Raise ``StateError`` if the file this store opened is no longer what its name
        points at (deleted or replaced under a runner)."""

    @abstractmethod
    def reserve_space(self) -> None:
        """Set aside room for the records of runs in flight (a runner calls this at
        start), so that a full disk cannot leave a finished run ``running``."""

    @abstractmethod
    def release_reserve(self) -> bool:
        """Give the reserved room back to the store's writes; True if there was any."""


class WorkQueues(Protocol):
    """Queues of runs served by ``uno-schedule worker`` processes on other hosts: the
    leader hands runs to them, a worker takes a slot, reads an entry, starts the run,
    heartbeats while it runs and settles it (see ``store.redis.RedisQueues``)."""

    def hand_off(self, queue: str, runs: Sequence[RunRecord]) -> None: ...

    def connection(self) -> dict[str, str]: ...

    def acquire_slots(
        self, queue: str, limit: int, base: str, ttl: float, want: int = 1, waiter: str = ""
    ) -> list[str]:
        """Up to ``want`` of the queue's ``limit`` slots, as tokens. Free slots go to the
        workers in line first; a ``waiter`` given none joins the line, so workers that
        share a queue kept full take turns."""
        ...

    def wait_for_slot(self, queue: str, waiter: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot freed while ``waiter`` is first in
        line."""
        ...

    def leave_line(self, queue: str, waiter: str) -> None: ...

    def release_slots(self, queue: str, tokens: Sequence[str]) -> None: ...

    def read(
        self, queues: Sequence[str], consumer: str, block: float, count: int = 1
    ) -> list[tuple[str, str, str]]:
        """At most ``count`` new entries per queue, ``(queue, entry, run id)``: of the
        highest priority first, first in, first out within one priority; waits up to
        ``block`` seconds when none waits. ``entry`` names the entry for every other
        call (``heartbeat``, ``start``, ``settle``): compare it, never parse it."""
        ...

    def reclaim(
        self, queue: str, consumer: str, min_idle: float, count: int = 16
    ) -> list[tuple[str, str, str]]:
        """Up to ``count`` entries of ``queue``, of any priority, idle for ``min_idle``
        seconds (their worker died), now ``consumer``'s."""
        ...

    def heartbeat(
        self, queue: str, entry_id: str, consumer: str, token: str, ttl: float
    ) -> bool: ...

    def request_stop(self, run_id: str, reason: str) -> None:
        """Ask the worker running ``run_id`` to stop it (``overlap: cancel_other``);
        ``reason`` is what its run record says."""
        ...

    def stop_requested(self, run_id: str) -> str | None:
        """The reason given by ``request_stop`` for ``run_id``, if asked."""
        ...

    def start(
        self,
        run_id: str,
        started_at: datetime,
        pid: int,
        groups: Sequence[tuple[int, Sequence[str]]] = (),
        entry_id: str = "",
    ) -> tuple[bool, RunRecord | None, str]:
        """Start a queued run on a worker; ``groups``: each concurrency group's limit and
        schedules, so that a run of a full group is left ``queued`` (as
        ``Store.start_in_group`` leaves it). The run remembers ``entry_id``, the stream
        entry that started it; returns (whether this call started it, the run, the entry
        that started it: "" if unknown). A run may have two entries (handed off again by
        a new leader): only the one that started it may say its worker died."""
        ...

    def settle(
        self,
        queue: str,
        entry_id: str,
        token: str,
        finish: Finish | None,
        *,
        started_at: datetime | None = None,
        scheduled: datetime | None = None,
        retry: tuple[str, RunRecord] | None = None,
    ) -> int:
        """Record ``finish`` exactly as ``Store.finish_runs`` records an end, enqueue
        ``retry`` if this call recorded it, acknowledge the entry and free the slot, at
        once. Returns 0 when no end was recorded (``finish`` None, or a run that
        ``finish_runs`` would leave out), 1 when it was, 2 when ``retry`` was queued
        with it."""
        ...


class WorkerQueues(ABC):
    """The capability of a store shared by several hosts (Redis) to serve queues to
    workers, declared by subclassing; ``run --queues`` and ``worker`` need it."""

    @property
    @abstractmethod
    def queues(self) -> WorkQueues: ...


class Clock:
    """Wall and monotonic time; the run loop takes one so tests can drive time by hand."""

    def now(self) -> datetime:
        raise NotImplementedError

    def monotonic(self) -> float:
        raise NotImplementedError


_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps and, where Linux has it, counts time spent
        suspended (``CLOCK_BOOTTIME``): a machine waking from sleep is then not taken
        for a wall-clock jump, and intervals count the sleep as the elapsed time it is."""
        return time.clock_gettime(_STEADY)


class Observer:
    """What the run loop tells about runs as they go (each call is cheap): the leader's
    housekeeping (``runner.ops``: metrics, retention, alarms) listens."""

    def started(self, runs: Sequence[RunRecord], at: datetime) -> None:
        """``runs`` were marked running at ``at`` (their jobs start next)."""

    def finished(
        self, run: RunRecord, outcome: JobOutcome, started: datetime, at: datetime
    ) -> None:
        """``run`` ended with ``outcome`` (recorded)."""

    def recorded(self, run: RunRecord) -> None:
        """A final record without a job (a missed or skipped occurrence)."""

    def group_admitted(self, run: RunRecord, group: str, waited: float) -> None:
        """``run`` got a place in concurrency ``group`` after waiting ``waited`` seconds."""


class LeaderLoop(Protocol):
    """What the leader's housekeeping reads of the run loop it serves (``RunLoop``), so
    that ``runner.ops`` needs neither the loop's module nor its private members."""

    observer: Observer | None

    @property
    def epoch(self) -> int: ...

    @property
    def firing(self) -> bool: ...

    @property
    def definitions(self) -> Mapping[str, ScheduleDefinition]: ...

    @property
    def statuses(self) -> Mapping[str, str]:
        """The status of each schedule not active."""

    def next_runs(self) -> Mapping[str, datetime]:
        """When each active schedule next starts (``effective.next_start``)."""

    def running_per_queue(self) -> Mapping[str, int]:
        """Jobs running now, per queue."""

    def waiting_for_descriptors(self) -> int:
        """Runs their queue would start now that wait for descriptors of the runner."""

    @property
    def descriptor_waits(self) -> int:
        """Runs that waited for descriptors before they started, since this loop began."""

    def inactive(self) -> Collection[str]:
        """Schedules not active at the last look."""

    def refresh(self, now: datetime, *, full: bool = False) -> None:
        """Re-read statuses from the store (a pause or resume made elsewhere)."""

    def recover_foreground(self, now: datetime) -> None:
        """Settle the foreground runs whose process is known dead."""

    async def report_failure(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: JobOutcome
    ) -> None:
        """Tell the error handlers of a failure the loop itself did not see (an alarm)."""


class Engine(Protocol):
    """What the runner needs of the engine it serves (the library's ``Scheduler``):
    declared here so that the runner never imports the API that drives it."""

    options: SchedulerOptions
    clock: Clock
    #: The schedule file (``config.Config``) or None: typed loosely, because the
    #: interfaces may not import the file front end (it imports them).
    config: Any
    instance_id: str
    definitions: dict[str, ScheduleDefinition]
    file_definitions: dict[str, ScheduleDefinition]
    #: The queues this process executes (None: all); others are handed to workers.
    local_queues: frozenset[str] | None
    #: Where ``notify_failure`` tells how the ``on_error`` hook went (a log's warning).
    hook_log: Callable[[str], None] | None

    @property
    def base_dir(self) -> str | None:
        """The folder a relative ``cwd`` is read against (the schedule file's)."""

    @property
    def store(self) -> Store: ...

    @property
    def state_path(self) -> Path | None: ...

    def reconcile_definitions(self, states: Sequence[ScheduleState] | None = None) -> list[str]: ...

    def replace_file_definitions(self, definitions: dict[str, ScheduleDefinition]) -> None: ...

    async def notify_failure(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: Any
    ) -> None: ...

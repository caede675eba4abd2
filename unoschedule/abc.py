"""Every interface of the package in one place: the store, its waker, and the clock.

A ``Store`` holds what must survive the process: schedules and their versions, runs,
events, and the leader lease. It is deliberately small and primitive (each method is one
transaction); the policy of what to write lives in the scheduler, so that SQLite and
Redis implement the same few operations and one contract test suite covers both.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .model import JobOutcome, JobSpec, RunRecord, ScheduleState, VersionRecord

__all__ = [
    "Claim",
    "Clock",
    "Finish",
    "JobRunner",
    "Lease",
    "PauseRecord",
    "Pruned",
    "Store",
    "SystemClock",
    "Waiter",
    "Wakeups",
]


@dataclass(frozen=True)
class Lease:
    """Who may fire occurrences, until when, and the fencing epoch of that leadership."""

    instance_id: str
    epoch: int
    expires_at: datetime
    acquired_at: datetime


@dataclass(frozen=True)
class Claim:
    """One occurrence to record under its unique ``key``, advancing its schedule to
    ``next_run`` (see ``Store.claim_many``)."""

    run: RunRecord
    key: str
    next_run: datetime | None


@dataclass(frozen=True)
class Finish:
    """How one run ended (see ``Store.finish_runs``)."""

    run_id: str
    result: str
    finished_at: datetime
    error: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class PauseRecord:
    """One pause of one schedule: why, by whom, from when, until when (None: open-ended),
    and when it ended (None: still paused). ``explain`` reads them to mark occurrences."""

    schedule: str
    paused_at: datetime
    paused_until: datetime | None = None
    reason: str | None = None
    paused_by: str | None = None
    resumed_at: datetime | None = None


@dataclass(frozen=True)
class Pruned:
    """What one batch of ``Store.prune_runs`` deleted, and how long it held the write lock."""

    run_ids: tuple[tuple[str, str], ...]
    seconds: float


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


class Store(ABC):
    """Durable state. Every method is atomic; none holds a transaction between calls."""

    def check_identity(self) -> None:
        """Raise ``StateError`` if the state this store opened is no longer what its
        name points at (a state file deleted or replaced under a runner); a store
        without such a name has nothing to check."""
        return None

    def reserve_space(self) -> None:
        """Set aside room for the records of runs in flight (a runner calls this at
        start), so that a full disk cannot leave a finished run ``running``."""
        return None

    def release_reserve(self) -> bool:
        """Give the reserved room back to the store's writes; True if there was any."""
        return False

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
        """``save_schedule`` for many, in one transaction (a file's changes land together,
        and a first start with 100,000 schedules commits once, not 100,000 times)."""

    @abstractmethod
    def save_schedule_if(
        self, state: ScheduleState, version: VersionRecord, *, expected_version: int | None
    ) -> bool:
        """Write ``state`` and its ``version`` only if the stored schedule is still at
        ``expected_version`` (None: absent or removed), checked and written in one
        transaction, so that two editors can never overwrite each other. False (nothing
        written) otherwise."""

    def generation(self) -> int:
        """A number that grows with every write of a definition (``save_schedules``,
        ``save_schedule_if``): the leader compares it to notice changes made by other
        processes without reading every schedule."""
        return int(self.get_meta("generation") or 0)

    @abstractmethod
    def set_status(self, names: Sequence[str] | None, status: str, now: datetime) -> list[str]:
        """Set the status of ``names`` (None: every schedule not removed or completed).

        Returns the names whose status actually changed.
        """

    def set_next_run(self, name: str, next_run: datetime | None) -> None:
        self.set_next_runs({name: next_run})

    @abstractmethod
    def set_next_runs(self, next_runs: Mapping[str, datetime | None]) -> None:
        """Record the next due instant of many schedules in one transaction."""

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
        return self.claim_many([Claim(run, key, next_run)], epoch=epoch)[0]

    @abstractmethod
    def claim_many(self, claims: Sequence[Claim], *, epoch: int) -> list[bool]:
        """``claim`` for every occurrence due at one tick, in one durable transaction.

        One result per claim, in order: False for a key claimed before (that claim writes
        nothing, the others still do); all False, and nothing written, when ``epoch`` is
        not the current lease's. A burst of 10,000 occurrences thus costs one fsync.
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

    def finish_run(
        self,
        run_id: str,
        result: str,
        finished_at: datetime,
        *,
        error: str | None = None,
        output: str | None = None,
    ) -> None:
        """Close a run (duration derived from start) and update the schedule's last result."""
        self.finish_runs([Finish(run_id, result, finished_at, error, output)])

    @abstractmethod
    def finish_runs(self, finishes: Sequence[Finish]) -> None:
        """``finish_run`` for many, in one transaction. Unknown run ids, and runs no longer
        ``queued`` or ``running`` (finished, or recorded ``interrupted`` by a newer leader),
        are left as they are."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def history(self, name: str | None, limit: int = 50) -> list[RunRecord]:
        """Runs of one schedule (None: all), newest scheduled instant first."""

    @abstractmethod
    def unfinished_runs(self) -> list[RunRecord]:
        """Runs claimed by some leader (epoch > 0) still ``queued`` or ``running``."""

    @abstractmethod
    def run_counts(
        self, since: datetime | None = None, schedule: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Per schedule: ``{"run_count", "success_count", "error_count", "missed_count",
        "skipped_count", "total_duration", "finished_count"}`` for runs since ``since``;
        with ``schedule``, of that one only (``status`` reads one, not every run)."""

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
    def release_lease(self, instance_id: str, epoch: int) -> None: ...

    @abstractmethod
    def current_lease(self) -> Lease | None: ...

    # -- metadata and wake-ups ------------------------------------------------------------

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

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

    # -- operations (issue 8): pauses, retention, explain, backfill -------------------------
    # Not abstract, so that a store written before them still loads; each says plainly
    # that it is missing instead of failing somewhere deeper.

    def clone(self) -> Store:
        """A second handle on the same state for a background worker (the pruner), so
        that its reads never queue behind the run loop's; the store itself by default."""
        return self

    def record_pause(self, pause: PauseRecord) -> None:
        """Record a pause (closing any open one of that schedule first)."""
        raise NotImplementedError(f"{type(self).__name__} does not record pauses")

    def end_pauses(self, names: Sequence[str], at: datetime) -> None:
        """Close the open pauses of ``names`` (they were resumed at ``at``)."""
        raise NotImplementedError(f"{type(self).__name__} does not record pauses")

    def open_pauses(self) -> list[PauseRecord]:
        """Every pause still in force, oldest first."""
        return []

    def pauses(self, name: str, since: datetime, until: datetime) -> list[PauseRecord]:
        """Pauses of ``name`` that overlap ``[since, until]``, oldest first."""
        return []

    def runs_between(self, name: str, since: datetime, until: datetime) -> list[RunRecord]:
        """Runs of ``name`` scheduled in ``[since, until]``, by instant then attempt."""
        raise NotImplementedError(f"{type(self).__name__} cannot list runs by instant")

    def enqueue_unique(self, runs: Sequence[RunRecord]) -> list[bool]:
        """``enqueue`` each run under its occurrence key (schedule, instant, trigger), in
        one transaction; False for one enqueued before (a backfill given twice)."""
        raise NotImplementedError(f"{type(self).__name__} cannot enqueue by occurrence")

    def last_successes(self) -> dict[str, datetime]:
        """When each schedule's latest successful run finished (dead-man alarms)."""
        return {}

    def run_totals(self) -> dict[str, int]:
        """Rows per schedule in the runs (the pruner's starting point)."""
        return {}

    def prune_runs(
        self, name: str | None, *, keep: int | None, before: datetime | None, limit: int
    ) -> Pruned:
        """Delete at most ``limit`` finished runs: of ``name`` beyond its newest ``keep``,
        or (``name`` None) any scheduled before ``before``; their counts are folded into
        the totals that ``run_counts`` adds, so statistics survive. One short transaction."""
        return Pruned((), 0.0)


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

"""What the leader does besides firing: metrics, retention, pause expiry, dead-man alarms,
and the full output of each run.

All of it hangs off the run loop through one ``Observer`` (told when runs start and end)
and one background task, so the firing path only ever pays for a few in-memory updates:
pruning reads and deletes through its own connection, in a thread, in small batches,
and the metrics endpoint reads the loop's memory when it is scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import runlogs
from ..abc import Engine, LeaderLoop, Observer, Store
from ..health import overdue
from ..jobs import JobOutcome
from ..model import RunRecord, SchedulerOptions
from ..runlogs import OutputSink
from .failing import ends_a_streak, pause_if_failing
from .log import Logger
from .notify import Notifier

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["Operations"]

#: Runs deleted per pruning transaction: each holds the write lock for a few ms (the
#: longest of 4,500 batches pruning 900,000 runs: 31 ms at 500 rows on a loaded 2-core
#: machine, so 200 keeps a wide margin under the 50 ms a firing may wait).
PRUNE_BATCH = 200
#: The pruner's pause between batches. SQLite's busy handler polls a waiting writer at
#: growing intervals (1, 2, 5, 10, 15, 20, 25 ms...); back-to-back batches kept landing
#: in those gaps and starved a claim for 180 ms although no batch held the lock 12 ms.
#: A pause longer than the poll interval lets every waiting claim in first.
PRUNE_PAUSE = 0.03
#: The longest the background task sleeps. It wakes earlier at a pause's end, at the
#: next dead-man deadline, when runs ended over keep_runs, and when the shell wrote
#: something (``poke``): an idle leader wakes once a minute for it.
HOUSEKEEPING_SECONDS = 60.0
#: How often runs older than ``keep_for`` are looked for.
AGE_PRUNE_SECONDS = 60.0
#: With workers, how often the leader reads from the state what they settled (history
#: sizes for ``keep_runs``, last successes for dead-man alarms): their ends are recorded
#: by the store, not seen by this process.
WORKER_RUNS_SECONDS = 5.0


class Operations(Observer):
    """One per service: created at start, attached to the run loop once it leads."""

    @property
    def options(self) -> SchedulerOptions:
        """The scheduler's options as they are now (a reload may change them)."""
        return self.scheduler.options

    @property
    def _prune_at(self) -> int:
        """``SchedulerOptions.prune_at`` of the options as they are now (keep_runs 5:
        history never holds more than 5 finished runs and 1 running)."""
        return self.options.prune_at

    def __init__(self, scheduler: Engine, log: Logger) -> None:
        self.scheduler = scheduler
        self.log = log
        self.loop: LeaderLoop | None = None
        #: The leader's notifications (``notify:``): its runs' ends and its alarms.
        self.notifier = Notifier(scheduler.store.clone, log, folder=scheduler.base_dir)
        self.metrics: Metrics | None = None
        #: Whether metrics are served when ``metrics_enabled`` is unset: ``run``'s.
        self.metrics_by_default = False
        self._counts: dict[str, int] | None = None
        self._over: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruner: Store | None = None
        self._next_expiry: datetime | None = None
        self._next_overdue: datetime | None = None
        self._stopping = False
        self.log_dir = runlogs.log_dir_of(scheduler)
        self.sink: OutputSink | None = None
        self._last_success: dict[str, datetime] = {}
        self._first_seen: dict[str, datetime] = {}
        self._overdue: set[str] = set()
        #: The schedules with ``expect_success_within`` (the others cost nothing per check).
        self._watched: list[str] = []
        self._background: set[asyncio.Task[None]] = set()
        #: Longest time one pruning transaction held the write lock (bench, tests).
        self.longest_prune_hold = 0.0
        self.pruned = 0

    # -- metrics ------------------------------------------------------------------------

    def serve_metrics(self, scheduler: Engine, *, leading: bool = False) -> None:
        """Serve /metrics when asked (a standby too, with leader 0); a taken address is
        a warning. Called at start and again on taking the lead, so that a standby whose
        port was held (by the leader it replaces, on this host) takes the port over.

        Asked: ``metrics_enabled``, else ``metrics_by_default`` (``run`` sets it; a
        library embedded in an application opens no port unless it asks for one, with
        ``metrics_enabled=True`` or a ``metrics_address``). The store is opened first: a
        state that cannot be used fails the start before anything is served or logged."""
        if not self.options.serves_metrics(self.metrics_by_default):
            return
        if self.metrics is not None and self.metrics.port is not None:
            return
        scheduler.store.current_lease()  # a store that cannot be reached fails the start
        from ..metrics import Metrics

        if self.metrics is None:
            self.metrics = Metrics()
        address = self.options.metrics_address
        try:
            self.metrics.serve(address)
        except (OSError, ValueError) as exc:
            # Not the OS's "Address already in use": a standby's log is searched for
            # "ready" to tell when it took over.
            if getattr(exc, "errno", None) != errno.EADDRINUSE:
                why = getattr(exc, "strerror", None) or str(exc)
            elif leading:  # the runner that held it for this state is gone: not ours
                why = "the address is in use by another process, not a runner of this state"
            else:
                why = (
                    "the address is in use, by this state's leader if it runs on this host; "
                    "taken over on leading"
                )
            self.log.warning(f"metrics: cannot listen on {address} ({why}); /metrics is not served")
            return
        self.log.info(f"metrics on http://{address}/metrics")

    # -- the full output of runs ----------------------------------------------------------

    def output_sink(self) -> Callable[[str, str, bytes], None] | None:
        """The executor's output callback: what a command prints goes to its run's file
        (and, with a verbose log, line by line to the log); None without ``log_dir``."""
        self.sink = runlogs.sink_of(self.scheduler, self.log.debug, echo=self.log.verbose)
        return None if self.sink is None else self.sink.write

    def removed_runs(self, run_ids: Sequence[tuple[str, str]]) -> None:
        """Delete the output files of pruned runs."""
        runlogs.remove(self.log_dir, run_ids)

    # -- the loop's observer --------------------------------------------------------------

    def attach(self, loop: LeaderLoop) -> None:
        self.loop = loop
        loop.observer = self
        if self.metrics is not None:
            view = self.metrics.view
            view.leader = lambda: loop.firing and loop.epoch > 0
            view.next_runs = loop.next_runs
            view.running = loop.running_per_queue
            view.overdue = self.overdue_view
            view.notification_failures = lambda: self.notifier.failures
            view.statuses = lambda: _status_counts(loop)
            view.waiting_for_descriptors = loop.waiting_for_descriptors
            view.descriptor_waits = lambda: loop.descriptor_waits

    def started(self, runs: Sequence[RunRecord], at: datetime) -> None:
        if self.metrics is not None:
            self.metrics.started(runs, at)

    def finished(
        self, run: RunRecord, outcome: JobOutcome, started: datetime, at: datetime
    ) -> None:
        if self.metrics is not None:
            self.metrics.finished(run, outcome.result, (at - started).total_seconds(), at)
        if self.sink is not None:
            self.sink.ended(run, outcome)
        self._count(run.schedule)
        self._watch_failures(run, outcome, at)

    def recorded(self, run: RunRecord) -> None:
        if self.metrics is not None:
            self.metrics.recorded(run)
        self._count(run.schedule)

    def group_admitted(self, run: RunRecord, group: str, waited: float) -> None:
        if self.metrics is not None:
            self.metrics.group_waited(group, waited)

    def _count(self, name: str) -> None:
        counts = self._counts
        if counts is None:
            return
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > self._prune_at:
            self._over.add(name)
            self._wake.set()

    # -- the background task ------------------------------------------------------------

    def start(self) -> None:
        """Start the background task (again, after a lost lease was led again)."""
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """End the background task between two pruning batches (a batch cut off after
        its delete would leave its runs' output files behind)."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.wait_background()
        if self._pruner is not None and self._pruner is not self.scheduler.store:
            self._pruner.close()
        self._pruner = None
        await asyncio.to_thread(self.notifier.close)  # lets notifications under way end
        if self.sink is not None:
            self.sink.close()

    async def wait_background(self, timeout: float = 5.0) -> None:
        """Let the work started for ended runs finish (a pause after failures, an alarm's
        handlers): at a stop, a pause already decided still lands."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None

    async def _run(self) -> None:
        clock = self.scheduler.clock
        store = self.scheduler.store
        self._pruner = await asyncio.to_thread(store.clone)
        self._counts = await asyncio.to_thread(self._pruner.run_totals)
        self._over = {n for n, c in self._counts.items() if c > self._prune_at}
        self.watch()
        if self._watched:  # in a thread: it reads every schedule, which takes a while
            successes, created = await asyncio.to_thread(_dead_man_starts, self._pruner)
            self.load_successes(successes, clock.now(), created)
        last_age = -AGE_PRUNE_SECONDS
        while not self._stopping:
            self._wake.clear()
            try:
                now = clock.now()
                self.expire_pauses(now)
                if self._workers_settle:
                    failing = await asyncio.to_thread(self._read_worker_runs)
                    await self._count_failures(failing, now)
                self.check_overdue(now)
                mono = clock.monotonic()
                if mono - last_age >= AGE_PRUNE_SECONDS:
                    last_age = mono
                    self.watch()
                    await self._prune_by_age(now)
                await self._prune_by_count()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # housekeeping must never stop the leader
                self.log.error(f"housekeeping failed: {type(exc).__name__}: {exc}")
            timeout = AGE_PRUNE_SECONDS - (clock.monotonic() - last_age)
            if self._workers_settle:
                timeout = min(timeout, WORKER_RUNS_SECONDS)
            for when in (self._next_expiry, self._next_overdue):
                if when is not None:  # at a pause's end or a deadline, not later
                    timeout = min(timeout, (when - clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), max(0.0, min(timeout, HOUSEKEEPING_SECONDS))
                )

    @property
    def _workers_settle(self) -> bool:
        """Whether runs of this leader are settled by workers (``run --queues``)."""
        return self.scheduler.local_queues is not None

    def _read_worker_runs(self) -> list[str]:
        """Take what workers settled from the state, whose settle script keeps it: the
        history sizes (for ``keep_runs``) and the last successes (dead-man clocks).
        Returns the schedules with ``pause_after_failures`` that have runs this process
        did not see end: their failures in a row are counted again."""
        store = self._pruner or self.scheduler.store
        seen = self._counts or {}
        counts = store.run_totals()
        self._counts = counts
        definitions = self.scheduler.definitions
        failing = [
            name
            for name, count in counts.items()
            if count > seen.get(name, 0)
            and (definition := definitions.get(name)) is not None
            and definition.pause_after_failures is not None
        ]
        self._over = {n for n, c in counts.items() if c > self._prune_at}
        if self._watched:
            for name, when in store.last_successes().items():
                known = self._last_success.get(name)
                if known is None or when > known:
                    self._last_success[name] = when
        return failing

    def poke(self) -> None:
        """The shell wrote something (a pause with an end, say): look again now."""
        self._wake.set()

    # -- pauses ---------------------------------------------------------------------------

    def expire_pauses(self, now: datetime) -> list[str]:
        """End the pauses whose ``--until`` has come; returns the schedules resumed (a
        schedule another pause holds, or disabled, stays as it is)."""
        store = self.scheduler.store
        ends = [p.paused_until for p in store.open_pauses() if p.paused_until is not None]
        later = [end for end in ends if end > now]
        self._next_expiry = min(later) if later else None
        # a read first: the write transaction only when a pause ends (the loop waits on it)
        resumed = store.expire_pauses(now) if len(later) < len(ends) else []
        for name in resumed:
            self.log.notice(f"{name}: resumed (its pause ended at {_fmt(now)})")
        if resumed and self.loop is not None:
            self.loop.refresh(now)
        return resumed

    # -- dead-man alarms and failure policies --------------------------------------------

    def load_successes(
        self,
        last_success: dict[str, datetime],
        now: datetime,
        created: dict[str, datetime] | None = None,
    ) -> None:
        """Start the dead-man clocks: from each schedule's last success, else its creation
        in the state (``created``, read here when not given), else now."""
        self._last_success = dict(last_success)
        if created is None:
            created = _created_at(self.scheduler.store)
        self.watch()
        for name in self._watched:
            if name not in self._last_success:
                self._first_seen[name] = created.get(name) or now

    def watch(self) -> None:
        """Find the schedules with dead-man alarms (at start, then every minute: a reload
        that adds one is watched within a minute)."""
        self._watched = [
            n for n, d in self.scheduler.definitions.items() if d.expect_success_within
        ]

    def check_overdue(self, now: datetime) -> list[str]:
        """Mark schedules past their ``expect_success_within``; returns those that just
        became overdue (each alarms once per overdue spell; a success ends the spell)."""
        loop = self.loop
        inactive = loop.inactive() if loop is not None else set()
        definitions = self.scheduler.definitions
        watched = {n: definitions[n] for n in self._watched if n in definitions}
        for name in watched:
            self._first_seen.setdefault(name, now)
        found = overdue(
            watched,
            active={name for name in watched if name not in inactive},
            last_success=self._last_success,
            first_seen=self._first_seen,
            now=now,
        )
        fresh = []
        for name in self._watched:
            due = found.late.get(name)
            if due is None:
                self._overdue.discard(name)
            elif name not in self._overdue:
                self._overdue.add(name)
                fresh.append(name)
                self._alarm(name, due)
        self._next_overdue = found.next_due
        return fresh

    def overdue_view(self) -> dict[str, bool]:
        return {name: name in self._overdue for name in self._watched}

    def _alarm(self, name: str, due: datetime) -> None:
        from ..timeutil import format_duration

        definition = self.scheduler.definitions[name]
        within = definition.expect_success_within or 0.0
        since = due - timedelta(seconds=within)
        message = f"overdue: no successful run for {format_duration(within)} (since {_fmt(since)})"
        self.log.error(f"{name}: {message}")
        loop = self.loop
        if loop is None:
            return
        run = RunRecord(run_id="", schedule=name, scheduled_time=since, result="error")
        outcome = JobOutcome("overdue", message, "", None)  # type: ignore[arg-type]
        handled = loop.report_failure(run, definition, outcome)
        self._background.add(task := asyncio.get_running_loop().create_task(handled))
        task.add_done_callback(self._background.discard)

    def _watch_failures(self, run: RunRecord, outcome: JobOutcome, at: datetime) -> None:
        name = run.schedule
        if outcome.result == "success":
            self._last_success[name] = at
            self._overdue.discard(name)
            return
        if ends_a_streak(run, outcome.result, self.scheduler.definitions.get(name)):
            task = asyncio.get_running_loop().create_task(self._count_failures([name], at))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _count_failures(self, names: Sequence[str], at: datetime) -> None:
        """Pause each of ``names`` that failed ``pause_after_failures`` times in a row
        (``failing.pause_if_failing``, in a thread: it reads the state)."""
        for name in names:
            definition = self.scheduler.definitions.get(name)
            if definition is None or definition.pause_after_failures is None:
                continue
            made = await asyncio.to_thread(pause_if_failing, self.scheduler.store, definition, at)
            if made is None:
                continue
            self.log.error(f"{name}: paused after {made.reason}")
            self.notifier.tell("paused", made.last, definition, made.reason, made.last.output)
            if self.loop is not None:
                self.loop.refresh(at)

    # -- retention ------------------------------------------------------------------------

    async def _prune_by_count(self) -> None:
        """Trim every schedule over ``keep_runs``, one small transaction at a time."""
        counts, keep = self._counts, self.options.keep_runs
        if counts is None:
            return
        while self._over and not self._stopping:
            name = self._over.pop()
            while True:
                if self._stopping:
                    self._over.add(name)
                    return
                batch = await self._prune(name, keep=keep, before=None)
                if batch < PRUNE_BATCH:
                    counts[name] = min(counts.get(name, 0), keep)
                    break
                counts[name] = max(keep, counts.get(name, 0) - batch)

    async def _prune_by_age(self, now: datetime) -> None:
        before = now - timedelta(seconds=self.options.keep_for)
        while not self._stopping:
            if await self._prune(None, keep=None, before=before) < PRUNE_BATCH:
                return

    async def _prune(self, name: str | None, *, keep: int | None, before: datetime | None) -> int:
        store = self._pruner
        assert store is not None
        pruned = await asyncio.to_thread(
            store.prune_runs, name, keep=keep, before=before, limit=PRUNE_BATCH
        )
        if pruned.run_ids:
            await asyncio.sleep(PRUNE_PAUSE)  # let waiting writers (claims) in first
        self.longest_prune_hold = max(self.longest_prune_hold, pruned.seconds)
        self.pruned += len(pruned.run_ids)
        if name is None and self._counts is not None:
            for schedule, _ in pruned.run_ids:
                self._counts[schedule] = max(0, self._counts.get(schedule, 0) - 1)
        self.removed_runs(pruned.run_ids)
        return len(pruned.run_ids)


def _status_counts(loop: LeaderLoop) -> dict[str, int]:
    """Schedules per status from the loop's memory (read at a scrape, in its thread)."""
    others = dict(loop.statuses)
    counts: dict[str, int] = {"active": sum(1 for n in list(loop.definitions) if n not in others)}
    for status in others.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def _created_at(store: Store) -> dict[str, datetime]:
    """When each schedule was created in the state."""
    return {
        s.name: s.created_at
        for s in store.list_schedules(definitions=False)
        if s.created_at is not None
    }


def _dead_man_starts(store: Store) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """What the dead-man clocks start from: each schedule's last success, and when each
    was created (``load_successes``)."""
    return store.last_successes(), _created_at(store)


def _fmt(when: datetime) -> str:
    from ..timeutil import format_instant

    return format_instant(when) or ""

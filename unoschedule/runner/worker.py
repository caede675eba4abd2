"""``uno-schedule worker``: run the jobs of some queues on this host, for a leader
elsewhere, through Redis.

The leader claims occurrences exactly as always (one fenced script), then hands the runs
of the queues it does not serve itself (``run --queues``) to a Redis Stream per queue and
priority. Workers on any host read them through one consumer group, so an entry goes to
one worker, and a worker reads the highest priority that has one first (a run of
priority ``high`` handed over behind a backlog of ``low`` ones starts before them, as
on a leader); the run itself starts only from ``queued`` (so a run delivered twice,
after a leader change, still starts once). A queue's concurrency holds across all
workers and priorities: a worker takes a slot of the queue (shared in Redis) before it
reads an entry.

From the read of an entry to its settling, the worker's keeper (``runner.keeper``, a
small process of its own) heartbeats the entry and its slot, so a frozen worker keeps
the claims of its runs, started or about to start;
the keeper kills a job whose claim is gone (taken over, or not renewed for most of the
visibility timeout) and every held job when the worker dies. A worker that dies stops
heartbeating: after the visibility timeout another worker takes the entry over
(``XAUTOCLAIM``), records the run ``interrupted`` and enqueues the next attempt under the
schedule's retry policy (once: under the attempt's occurrence key). Jobs run exactly as
``run`` runs them: the same executor, specs, timeouts, output capture and error hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import runlogs
from ..abc import WorkerQueues, WorkQueues
from ..errors import StateError, UnoScheduleError
from ..filestamp import LOSSY, recorded_options
from ..identity import StateIdentity
from ..jobs import JobOutcome
from ..model import RunRecord, ScheduleDefinition, SchedulerOptions, reloaded_options
from ..overlap import GROUP_POLL, cancelled_outcome, group_members
from ..records import Finish
from ..runs import job_spec, occurrence_key
from .executor import Executor
from .failing import ends_a_streak, pause_if_failing
from .failpoints import failpoint
from .keeper import FENCE, KeeperLink, steady
from .log import Logger
from .loop import REMOVED_BEFORE_START
from .notify import Notifier
from .presence import Announcer
from .settle import Ended, Recorder, Settler
from .systemd import SystemdNotifier

if TYPE_CHECKING:
    from ..abc import Engine
    from ..metrics import Metrics
    from .loop import RunLoop

__all__ = [
    "DEFAULT_VISIBILITY",
    "Worker",
    "attach_hand_off",
    "parse_queues",
]

#: Seconds without a heartbeat after which a worker's job is taken over.
DEFAULT_VISIBILITY = 30.0
#: How long one read of a stream blocks (and so how soon a stop is seen).
READ_BLOCK = 1.0
#: How long a worker in line for a queue's slot waits to be woken before it asks again.
SLOT_ASK = 0.1
#: How often a worker removes the output files of the runs retention deleted, and how
#: long a file is left alone after its last write.
SWEEP_SECONDS = 600.0
#: Runs read beyond what retention keeps of a schedule (``SchedulerOptions.prune_at``)
#: when its files are matched with the state: those that ended while retention ran.
SWEEP_SLACK = 50
#: Why a worker's end was not recorded: a worker that took the run's stream entry over
#: (this one missed its heartbeats) settled the run first.
SETTLED_ELSEWHERE = "another worker settled the run first (it took the run over)"


def parse_queues(text: str) -> list[str]:
    """``reports,default`` -> ``["reports", "default"]``; empty names are dropped."""
    return list(dict.fromkeys(q.strip() for q in text.split(",") if q.strip()))


def may_interrupt(entry_id: str, started_by: str) -> bool:
    """Whether the reclaimed stream entry ``entry_id`` of a running run may record it
    interrupted by the death of its worker: only if it is the entry that started the
    run (``started_by``, from ``WorkQueues.start``). A run can have two entries: a new
    leader hands off again a run that an earlier one handed off and no worker started
    yet. The other entry is then a stale duplicate: that it went unacknowledged says
    nothing about the worker running the run, which heartbeats the entry it started
    from. A run started before the entry was recorded ("") is judged as before: its
    reclaimed entry is taken for its own, or a dead worker's run would never end."""
    return not started_by or started_by == entry_id


def _queues_of(scheduler: Engine) -> WorkQueues:
    store = scheduler.store
    if not isinstance(store, WorkerQueues):
        raise StateError(
            "queues served by workers need Redis storage (--state redis://HOST:PORT/DB): "
            "workers on other hosts take their runs from it"
        )
    return store.queues


def attach_hand_off(runloop: RunLoop, scheduler: Engine) -> None:
    """Make ``runloop`` execute only ``scheduler.local_queues`` and hand the others to
    workers (nothing to do when it executes every queue)."""
    local = scheduler.local_queues
    if local is None:
        return
    runloop.local_queues = frozenset(local)
    queues = _queues_of(scheduler)
    runloop.hand_off = queues.hand_off
    runloop.stop_handed = queues.request_stop


class Worker:
    """One ``uno-schedule worker`` process: a reader task per queue, a task per job."""

    def __init__(
        self,
        scheduler: Engine,
        queues: Sequence[str],
        *,
        visibility: float = DEFAULT_VISIBILITY,
        log: Logger | None = None,
    ) -> None:
        if not queues:
            raise StateError("name the queues to serve, e.g. --queues reports,default")
        if visibility <= 0:
            raise StateError("the visibility timeout must be positive")
        self.scheduler = scheduler
        self.queues = list(queues)
        self.visibility = visibility
        self.log = log or Logger(verbose=bool(os.environ.get("UNO_SCHEDULE_DEBUG")))
        self.consumer = scheduler.instance_id
        scheduler.hook_log = self.log.warning
        self.streams = _queues_of(scheduler)
        #: The full output of the runs this worker runs, under this host's ``log_dir``
        #: (``logs`` on this host reads it), as a runner keeps its own.
        self.log_dir = runlogs.log_dir_of(scheduler)
        self.sink = runlogs.sink_of(scheduler, self.log.debug, echo=self.log.verbose)
        # A job's lines only when they are shown: a call per line held the loop.
        self.executor = Executor(
            log=self.log.debug if self.log.verbose else None,
            output=self.sink.write if self.sink is not None else None,
            # the keeper kills a job by its group, a pooled task's included
            on_group=lambda run_id, pgid: self.keeper.group(run_id, pgid),
        )
        self.settler = Settler(
            scheduler.options,
            log=self.log,
            on_failure=scheduler.notify_failure,
            on_finished=self._finished,
            definitions=lambda: scheduler.definitions,
            notifier=Notifier(scheduler.store.clone, self.log, folder=scheduler.base_dir),
            active=self._active,
        )
        #: This worker's run metrics (``/metrics`` on ``metrics_address``), if served.
        self.metrics: Metrics | None = None
        self.active: dict[str, int] = dict.fromkeys(self.queues, 0)
        self.finished = 0
        self._freed: dict[str, asyncio.Event] = {}
        self._stop: asyncio.Event | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._generation = -1
        #: The leader's options last followed (``_follow_options``).
        self._led: SchedulerOptions | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Schedules the state says were removed (``_reconcile``).
        self._removed: frozenset[str] = frozenset()
        self.identity = StateIdentity(self.consumer)
        #: Set while the state is the one known: readers take nothing while it is not.
        self._state_ok = asyncio.Event()
        self._verdict = ""
        self._following = asyncio.Lock()
        #: What ``stats`` reads of this worker while it serves.
        self.presence = Announcer(
            lambda: scheduler.store,
            "worker",
            self.consumer,
            scheduler.clock.now,
            ",".join(self.queues),
        )
        setup = {"consumer": self.consumer, "visibility": visibility}
        self.keeper = KeeperLink({**self.streams.connection(), **setup}, on_error=self.log.error)

    # -- entry points ---------------------------------------------------------------------

    def run(self) -> int:
        return asyncio.run(self.serve())

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def serve(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._freed = {q: asyncio.Event() for q in self.queues}
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
        store = self.scheduler.store
        store.current_lease()  # a wrong URL or password: one line, exit 1
        self._check_state()
        self._serve_metrics()
        self.keeper.start()
        self._prepare_jobs()
        try:
            return await self._serve(loop)
        finally:
            self.keeper.close()
            if self.settler.notifier is not None:
                await asyncio.to_thread(self.settler.notifier.close)
            if self.metrics is not None:
                self.metrics.close()
            if self.sink is not None:
                self.sink.close()

    def _serve_metrics(self) -> None:
        """Serve the runs of this worker on ``/metrics`` as a runner serves its own (the
        same series, ``leader`` 0): the job-failed alert then fires for worker runs. A
        taken address (a runner on this host) is a warning."""
        options = self.scheduler.options
        if not options.serves_metrics(by_default=True):
            return
        from ..metrics import Metrics

        metrics = Metrics()
        try:
            metrics.serve(options.metrics_address)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self.log.warning(
                f"metrics: cannot listen on {options.metrics_address} ({why}); "
                "/metrics is not served by this worker"
            )
            return
        metrics.view.running = lambda: dict(self.active)
        metrics.view.state_lost = lambda: self._verdict == "lost"
        self.metrics = metrics
        self.log.info(f"metrics on http://{options.metrics_address}/metrics")

    def _finished(
        self, run: RunRecord, outcome: JobOutcome, started: datetime, at: datetime
    ) -> None:
        if self.metrics is not None:
            self.metrics.finished(run, outcome.result, (at - started).total_seconds(), at)
        if self.sink is not None:
            self.sink.ended(run, outcome)

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> int:
        assert self._stop is not None
        limits = ", ".join(f"{q} ({self.limit(q)})" for q in self.queues)
        self.log.notice(f"worker {self.consumer} serving {limits}")
        readers = [loop.create_task(self._read(q)) for q in self.queues]
        reclaimer = loop.create_task(self._reclaim_forever())
        sweeper = loop.create_task(self._sweep_forever())
        notifier = SystemdNotifier()
        notifier.ready(f"serving {limits}")
        interval = notifier.watchdog_interval
        tick = min(1.0, interval * 0.9) if interval is not None else 1.0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
            self.keeper.check()
            await asyncio.to_thread(self._check_state)
            if self._state_ok.is_set():
                await asyncio.to_thread(self._follow_options)
            if self._state_ok.is_set():
                await asyncio.to_thread(self.presence.beat)
            if interval is not None:
                notifier.watchdog()
        notifier.stopping()
        notifier.close()
        await asyncio.to_thread(self.presence.leave)
        self.log.notice("stopping: no new jobs will start")
        for task in (*readers, reclaimer, sweeper):
            task.cancel()
        await asyncio.gather(*readers, reclaimer, sweeper, return_exceptions=True)
        await asyncio.to_thread(self._leave_lines)
        grace = self.scheduler.options.shutdown_grace
        if self._jobs:
            self.log.info(f"waiting up to {grace:g}s for {len(self._jobs)} running job(s)")
            _, pending = await asyncio.wait(set(self._jobs), timeout=grace)
            if pending:
                await self.executor.stop_all(self.scheduler.options.kill_grace)
                await asyncio.wait(pending, timeout=self.scheduler.options.kill_grace + 5)
        self.log.notice("stopped")
        return 0

    def _leave_lines(self) -> None:
        """Give up this worker's places in line for slots: those behind it take them now,
        not once its silence has lasted long enough."""
        for queue in self.queues:
            with contextlib.suppress(UnoScheduleError):
                self.streams.leave_line(queue, self.consumer)

    def _check_state(self) -> None:
        """Serve only the state this worker knows (``StateIdentity``; a worker never
        creates one): a state that lost its identity, or none at all, is said once and
        nothing is read from it until it is re-initialised or a leader created it."""
        store = self.scheduler.store
        try:
            verdict = self.identity.check(store, create=False)
        except UnoScheduleError as exc:
            self.log.error(f"cannot check the state: {exc}")
            return
        if verdict != self._verdict:
            where = getattr(store, "url", "the state")
            if verdict == "lost":
                self.log.critical(StateIdentity.lost_message(where))
            elif verdict == "absent":
                # A wrong key prefix or database reads as an empty state: say so, not idle.
                self.log.warning(
                    f"no state under {where} with key prefix "
                    f"{getattr(store, 'prefix', '')!r}: no leader has run with it (check "
                    "UNO_SCHEDULE_REDIS_PREFIX and the URL's database); waiting for one"
                )
            elif self._verdict:
                self.log.notice(f"serving the state again (identity {self.identity.known})")
            self._verdict = verdict
        if verdict in ("ok", "renewed"):
            self._state_ok.set()
        else:
            self._state_ok.clear()

    def limit(self, queue: str) -> int:
        return max(1, self.scheduler.options.concurrency(queue))

    # -- reading --------------------------------------------------------------------------

    async def _read(self, queue: str) -> None:
        """Take slots while this worker has room, then read as many entries.

        Idle, a worker holds one slot while it waits for an entry (so idle workers do
        not hold the slots others could use); once entries come, it takes up to twice as
        many slots as it got entries the last time (up to its room) and reads as many
        entries without waiting: a burst is taken in a few doubling rounds, and a steady
        trickle costs a slot or two per read, not the whole queue's. Given no slot, it
        waits in the queue's line (``acquire_slots``), woken when one is freed for it, and
        leaves the line when it has no room of its own: while it stands there, a slot
        freed by another worker's job goes to it, not back to that worker.
        """
        assert self._stop is not None
        busy = 0
        in_line = False
        while not self._stop.is_set():
            limit = self.limit(queue)  # the leader's file may change it (a reload)
            free = limit - self.active[queue]
            room = self.executor.room(sum(self.active.values()))  # descriptors: budget.py
            if room is not None:
                free = min(free, room)
            if in_line and (free <= 0 or not self._state_ok.is_set()):
                in_line = False  # it would hold its place without asking
                with contextlib.suppress(UnoScheduleError):
                    await asyncio.to_thread(self.streams.leave_line, queue, self.consumer)
            if not self._state_ok.is_set():
                await self._state_ok.wait()
                continue
            if free <= 0:
                self._freed[queue].clear()
                await self._freed[queue].wait()
                continue
            try:
                tokens = await asyncio.to_thread(
                    self.streams.acquire_slots,
                    queue,
                    limit,
                    secrets.token_hex(8),
                    self.visibility,
                    min(free, max(1, 2 * busy)),
                    self.consumer,
                )
                in_line = not tokens
                if not tokens:  # the slots are taken, or others wait for them first
                    busy = 0
                    await asyncio.to_thread(
                        self.streams.wait_for_slot, queue, self.consumer, SLOT_ASK
                    )
                    continue
                since = steady()
                try:
                    entries = await asyncio.to_thread(
                        self.streams.read,
                        [queue],
                        self.consumer,
                        0.01 if busy else READ_BLOCK,
                        len(tokens),
                    )
                except BaseException:
                    await asyncio.to_thread(self.streams.release_slots, queue, tokens)
                    raise
                for (_, entry_id, run_id), token in zip(entries, tokens, strict=False):
                    self._spawn(queue, entry_id, run_id, token, since, reclaimed=False)
                busy = len(entries)
                if len(entries) < len(tokens):
                    await asyncio.to_thread(
                        self.streams.release_slots, queue, tokens[len(entries) :]
                    )
            except UnoScheduleError as exc:
                self.log.error(f"queue {queue}: {exc}; trying again in a second")
                busy = 0
                await asyncio.sleep(1.0)

    async def _slots(self, queue: str, limit: int, want: int) -> list[str]:
        return await asyncio.to_thread(
            self.streams.acquire_slots, queue, limit, secrets.token_hex(8), self.visibility, want
        )

    async def _reclaim_forever(self) -> None:
        """Take over the entries of dead workers, every half visibility timeout."""
        assert self._stop is not None
        while not self._stop.is_set():
            for queue in self.queues if self._state_ok.is_set() else ():
                since = steady()
                try:
                    entries = await asyncio.to_thread(
                        self.streams.reclaim, queue, self.consumer, self.visibility
                    )
                except UnoScheduleError as exc:
                    self.log.error(f"queue {queue}: cannot reclaim: {exc}")
                    continue
                for _, entry_id, run_id in entries:
                    await self._reclaimed(queue, entry_id, run_id, since)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.visibility / 2)

    async def _sweep_forever(self) -> None:
        """Every ``SWEEP_SECONDS``, remove the output files of runs the state no longer
        holds: the leader's retention deletes runs, and the files of those it ran, but
        not the files on this host."""
        assert self._stop is not None
        while self.log_dir is not None and not self._stop.is_set():
            if self._state_ok.is_set():
                try:
                    await asyncio.to_thread(self._sweep, self.log_dir)
                except UnoScheduleError as exc:
                    self.log.error(f"cannot look for the output files of pruned runs: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SWEEP_SECONDS)

    def _sweep(self, log_dir: Path) -> None:
        store = self.scheduler.store
        look = self.scheduler.options.prune_at + SWEEP_SLACK
        for name in list(self.scheduler.definitions):
            files = runlogs.run_ids_of(log_dir, name, SWEEP_SECONDS)
            if not files:
                continue
            held = {r.run_id for r in store.history(name, look)}
            runlogs.remove(log_dir, [(name, run_id) for run_id in files if run_id not in held])

    async def _reclaimed(self, queue: str, entry_id: str, run_id: str, since: float) -> None:
        run = await asyncio.to_thread(self.scheduler.store.get_run, run_id)
        if run is not None and run.result == "queued":  # its worker died before starting it
            tokens = await self._slots(queue, self.limit(queue), 1)
            if tokens:
                self.log.warning(f"queue {queue}: took over run {run_id} from a dead worker")
                self._spawn(queue, entry_id, run_id, tokens[0], since, reclaimed=True)
            return  # no slot now: it stays pending and is taken over again later
        self._spawn(queue, entry_id, run_id, "", since, reclaimed=True)

    def _spawn(
        self, queue: str, entry_id: str, run_id: str, token: str, since: float, *, reclaimed: bool
    ) -> None:
        self.active[queue] += 1
        task = asyncio.get_running_loop().create_task(
            self._work(queue, entry_id, run_id, token, since, reclaimed)
        )
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    # -- one job --------------------------------------------------------------------------

    async def _work(
        self, queue: str, entry_id: str, run_id: str, token: str, since: float, reclaimed: bool
    ) -> None:
        try:
            await self._work_inner(queue, entry_id, run_id, token, since, reclaimed)
        except UnoScheduleError as exc:  # the entry stays pending: it is taken over later
            self.log.error(f"queue {queue}: run {run_id}: {exc}")
        finally:
            self.keeper.drop(run_id, entry_id)  # not the hold of the run's other entry
            self.active[queue] -= 1
            self._wake_readers()  # its descriptors are free for every queue

    async def _work_inner(
        self, queue: str, entry_id: str, run_id: str, token: str, since: float, reclaimed: bool
    ) -> None:
        clock = self.scheduler.clock
        streams = self.streams
        # Held from the read on, not from the job's start: a worker frozen between
        # marking the run started and starting its job would otherwise let the entry go
        # idle, another worker would record the run interrupted and start its retry, and
        # this one, thawed, would start the job beside it.
        self.keeper.hold(run_id, queue, entry_id, token, since)
        if steady() - since >= FENCE * self.visibility:
            # frozen since the entry was read: another worker may take it over any time
            self.log.warning(
                f"queue {queue}: run {run_id} left to another worker: its claim lapsed"
            )
            return
        started = clock.now()
        await self._follow_definitions()  # a schedule just put in a group counts in it
        groups = await asyncio.to_thread(self._groups)
        ours, run, started_by = await asyncio.to_thread(
            streams.start, run_id, started, os.getpid(), groups, entry_id
        )
        failpoint("worker_after_start")
        if not ours and groups and run is not None and run.result == "queued":
            # its concurrency group is full: wait for a place, the entry held meanwhile
            waiting = steady()
            while not ours and run is not None and run.result == "queued":
                assert self._stop is not None
                if self._stop.is_set():
                    return  # left pending: another worker takes it over
                await asyncio.sleep(GROUP_POLL)
                started = clock.now()
                groups = await asyncio.to_thread(self._groups)
                ours, run, started_by = await asyncio.to_thread(
                    streams.start, run_id, started, os.getpid(), groups, entry_id
                )
            if ours and run is not None:
                self._group_waited(run, steady() - waiting)
        if run is None or run.result not in ("queued", "running"):
            await asyncio.to_thread(streams.settle, queue, entry_id, token, None)
            return
        await self._follow_definitions()
        definition = self.scheduler.definitions.get(run.schedule)
        if definition is None:
            definition = await asyncio.to_thread(self._definition, run.schedule)
        if not ours:  # running: by a worker that died (reclaimed), or another one
            if not reclaimed or not may_interrupt(entry_id, started_by):
                if reclaimed:
                    self.log.warning(
                        f"queue {queue}: entry {entry_id} of run {run_id} dropped: a "
                        f"duplicate, the run was started from entry {started_by}"
                    )
                await asyncio.to_thread(streams.settle, queue, entry_id, token, None)
                return
            # it was started by a worker that stopped heartbeating
            error = f"the worker running it stopped (no heartbeat for {self.visibility:g}s)"
            outcome = JobOutcome("interrupted", error, "", None)
            begun = run.started_at or run.scheduled_time
            record = self._recorder(
                queue, entry_id, token, run.started_at, run.scheduled_time, ran_here=False
            )
            ended = await self.settler.settle(run, definition, outcome, begun, clock.now(), record)
            if ended.recorded:
                self.log.warning(
                    f"{run.schedule}: run {run.run_id} was interrupted by the death of its worker"
                )
            return
        if definition is None or run.schedule in self._removed:
            error = (
                REMOVED_BEFORE_START
                if run.schedule in self._removed
                else f"no schedule named {run.schedule!r} is known to this worker"
            )
            finish = Finish(run.run_id, "error", clock.now(), error=error)
            code = await asyncio.to_thread(
                streams.settle, queue, entry_id, token, finish, started_at=started
            )
            if code:
                self.log.error(f"{run.schedule}: run {run.run_id}: {error}")
            else:
                self.settler.not_recorded(run, finish, SETTLED_ELSEWHERE)
            return
        run.started_at = started
        if self.metrics is not None:
            self.metrics.started([run], started)
        self.log.info(
            f"{run.schedule}: starting run {run.run_id} (trigger {run.trigger}, attempt "
            f"{run.attempt}, queue {queue})"
        )
        self.keeper.hold(run.run_id, queue, entry_id, token, since, replace=True)
        stopped: list[str] = []  # why the leader asked to stop it, once it has
        watch = (
            asyncio.get_running_loop().create_task(self._watch_stop(run_id, stopped))
            if definition.overlap == "cancel_other"
            else None
        )
        try:
            outcome = await self.executor.run(
                job_spec(run, definition, self.scheduler.options, self.scheduler.base_dir)
            )
        finally:
            if watch is not None:
                watch.cancel()
        outcome = cancelled_outcome(outcome, stopped[0] if stopped else None)
        self.keeper.group(run_id, 0)  # its processes are gone: nothing left to kill
        record = self._recorder(queue, entry_id, token, started, None, ran_here=True)
        ended = await self.settler.settle(run, definition, outcome, started, clock.now(), record)
        self.finished += 1
        if ended.recorded and ends_a_streak(run, outcome.result, definition):
            await self._count_failures(definition)

    async def _count_failures(self, definition: ScheduleDefinition) -> None:
        """Pause the schedule when this failure made ``pause_after_failures`` in a row
        (``failing.pause_if_failing``), and wake the leader to see it: it counts the runs
        of workers only every few seconds, while this one's occurrences keep coming."""
        store = self.scheduler.store
        try:
            made = await asyncio.to_thread(
                pause_if_failing, store, definition, self.scheduler.clock.now()
            )
        except UnoScheduleError as exc:  # the leader counts it again from the state
            self.log.error(f"{definition.name}: cannot count its failures: {exc}")
            return
        if made is None:
            return
        await asyncio.to_thread(store.notify)
        self.log.error(f"{definition.name}: paused after {made.reason}")
        if self.settler.notifier is not None:
            self.settler.notifier.tell(
                "paused", made.last, definition, made.reason, made.last.output
            )

    async def _watch_stop(self, run_id: str, stopped: list[str]) -> None:
        """Stop ``run_id`` gracefully (SIGTERM, SIGKILL after ``kill_grace``) once the
        leader asks for it (``overlap: cancel_other``), putting its reason in ``stopped``.
        A failed look (Redis away) is tried again at the next poll."""
        queues = self.streams
        while True:
            await asyncio.sleep(GROUP_POLL)
            try:
                reason = await asyncio.to_thread(queues.stop_requested, run_id)
            except UnoScheduleError:
                continue
            if reason is not None:
                stopped.append(reason)
                self.executor.stop(run_id, self.scheduler.options.kill_grace)
                self.log.info(f"run {run_id}: stopping it, as the leader asked: {reason}")
                return

    def _groups(self) -> list[tuple[int, list[str]]]:
        """Each concurrency group's limit and schedules, for ``start`` to count, with the
        options followed first: a group just added or changed counts from this start."""
        self._follow_options()
        limits = self.scheduler.options.groups
        members = group_members(self.scheduler.definitions, limits)
        return [(limits[group], names) for group, names in members.items()]

    def _follow_options(self) -> None:
        """Hold the options of the file as the leader last loaded it (its record in the
        state), as a reload applies them on the leader (``reloaded_options``: those only
        a restart applies stay this worker's): the worker read its own copy at its
        start, and a reload since (a queue's concurrency, a group, the graces) reaches
        the leader only. Without that record (another file path, no leader yet), this
        worker's own file's stand; so do those the record keeps only as text
        (``filestamp.LOSSY``: calendars, blackouts, notifications)."""
        config = self.scheduler.config
        if config is None or config.path is None:
            return
        try:
            led = recorded_options(self.scheduler.store, config.path, any_stamp=True)
        except UnoScheduleError:  # Redis away: the options held stand; looked at next second
            return
        if led is None or led == self._led:
            return
        self._led = led
        current = self.scheduler.options
        led = replace(led, **{name: getattr(current, name) for name in LOSSY})
        options, _ = reloaded_options(current, led)
        changed = [
            f.name for f in fields(options) if getattr(options, f.name) != getattr(current, f.name)
        ]
        if not changed:
            return
        self.scheduler.options = self.settler.options = options
        self.log.info(f"scheduler options of the leader's file applied: {', '.join(changed)}")
        if self._loop is not None:  # a queue's limit may have grown: readers look again
            self._loop.call_soon_threadsafe(self._wake_readers)

    def _wake_readers(self) -> None:
        for freed in self._freed.values():
            freed.set()

    def _group_waited(self, run: RunRecord, seconds: float) -> None:
        definition = self.scheduler.definitions.get(run.schedule)
        group = definition.concurrency_group if definition is not None else None
        if self.metrics is not None and group is not None:
            self.metrics.group_waited(group, seconds)

    def _recorder(
        self,
        queue: str,
        entry_id: str,
        token: str,
        started: datetime | None,
        scheduled: datetime | None,
        *,
        ran_here: bool,
    ) -> Recorder:
        """The worker's recorder for the settle step: the end, the next attempt (under
        its occurrence key) and the stream entry settle in one script. While Redis cannot
        be reached, it tries again every half second (a result recorded late beats one
        recorded ``interrupted`` by whichever worker reclaims the entry later)."""

        async def record(finish: Finish, retry: RunRecord | None) -> Ended:
            assert self._stop is not None
            keyed = None
            if retry is not None:
                keyed = (occurrence_key(retry.schedule, retry.scheduled_time, retry.attempt), retry)
            told = False
            while True:
                try:
                    code = await asyncio.to_thread(
                        self.streams.settle,
                        queue,
                        entry_id,
                        token,
                        finish,
                        started_at=started,
                        scheduled=scheduled,
                        retry=keyed,
                    )
                    break
                except UnoScheduleError as exc:
                    if self._stop.is_set():
                        raise
                    if not told:
                        self.log.error(f"run {finish.run_id}: cannot record its end yet: {exc}")
                        told = True
                    await asyncio.sleep(0.5)
            if code == 0:  # the settle step says why, for a job that ran here
                return Ended(recorded=False, why=SETTLED_ELSEWHERE if ran_here else None)
            if finish.then:  # the runs it started wait for the leader
                await asyncio.to_thread(self.scheduler.store.notify)
            return Ended(recorded=True, retried=code == 2)

        return record

    async def _follow_definitions(self) -> None:
        """Run what the leader runs: when the state's definitions changed (a reload, the
        API: ``Store.generation`` moved), take them from the state as the leader does
        (``Scheduler.reconcile_definitions``), before a run starts."""
        async with self._following:
            generation = await asyncio.to_thread(self.scheduler.store.generation)
            if generation == self._generation:
                return
            changed = await asyncio.to_thread(self._reconcile)
            self._generation = generation
            if changed:
                self._prepare_jobs()
            for name in changed[:10]:
                self.log.info(f"{name}: definition taken from the state")

    def _reconcile(self) -> list[str]:
        """``Scheduler.reconcile_definitions``, noting which schedules the state says
        were removed: a run of one handed over before its removal does not start, as on
        the leader (this worker's own file may still hold it)."""
        states = self.scheduler.store.list_schedules(definitions=False)
        self._removed = frozenset(s.name for s in states if s.status == "removed")
        return self.scheduler.reconcile_definitions(states)

    def _prepare_jobs(self) -> None:
        """Have the executor ready for the tasks of the queues served here (their task
        workers forked) before the first entry is read, as a runner does at its start:
        otherwise the first burst a worker takes forks a process per task while it is late."""
        default = self.scheduler.options.queue_name
        served = set(self.queues)
        self.executor.prepare(
            (
                d
                for d in self.scheduler.definitions.values()
                if d.task and (d.queue or default) in served
            ),
            self.scheduler.options,
            self.scheduler.base_dir,
        )

    def _active(self, name: str) -> bool:
        """Whether ``name`` is active, as the state says (asked only for a schedule that
        a run's end would start: the worker keeps no statuses)."""
        state = self.scheduler.store.get_schedule(name)
        return state is not None and state.status == "active"

    def _definition(self, name: str) -> ScheduleDefinition | None:
        """From this worker's file, else as the leader stored it."""
        definition = self.scheduler.definitions.get(name)
        if definition is not None:
            return definition
        state = self.scheduler.store.get_schedule(name)
        if state is None or not state.definition or state.status == "removed":
            return None
        return state.stored_definition()

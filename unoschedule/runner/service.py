"""The long-running service around the run loop: leadership, signals, reloads, systemd.

``run()`` is ``uno-schedule run``: it takes the exclusive file lock beside the state (a
second instance waits there as a standby and takes over within a second of the leader's
death, because the kernel frees the lock), then serves until SIGTERM. ``serve()`` is the
same loop for library users inside their own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import filestamp
from ..abc import Engine, Store, Waiter, held_lease
from ..errors import ConfigErrors, LeadershipError, StateError, UnoScheduleError
from ..followed import check_followed
from ..identity import StateIdentity
from ..model import SchedulerOptions, ScheduleState, reloaded_options
from ..private import make_private_dirs
from ..sync import git_source
from ..timeutil import format_instant
from .executor import Executor
from .log import Logger
from .loop import RunLoop
from .ops import Operations
from .preflight import check_applicable_config
from .presence import Announcer
from .reloading import loop_turn, write_reload, write_reload_of
from .servedby import check_served_by
from .systemd import SystemdNotifier
from .tasks import changed_sources
from .worker import attach_hand_off

__all__ = ["Service"]

if TYPE_CHECKING:
    from ..lock import LeaderLock


#: How often the YAML file is checked for changes (a stat call, no parsing).
FILE_POLL_SECONDS = 2.0
#: How often the leader looks at every schedule's status, in case a wake-up was missed.
FULL_LOOK_SECONDS = 300.0
#: How often the leader looks for runs of foreground processes that died.
FOREGROUND_SECONDS = 5.0
#: Up to this many schedules added, changed or removed at once are logged one by one;
#: beyond it, one summary line (a first start with 100,000 schedules is not 100,000 lines).
LOG_EACH_CHANGE = 50
#: A difference between wall-clock and monotonic progress above this is a clock jump.
JUMP_SECONDS = 2.0
#: How many objects the process makes (net) between two collections of the youngest
#: generation while it serves, instead of Python's 700. A burst's runs make futures,
#: records and frames by the thousand that reference counting frees: in a burst of
#: 2,000 runs the default threshold collected about 60 times and found nothing to free
#: (7-10 ms of the run loop's thread). Cycles are still collected, less often.
YOUNG_GC_THRESHOLD = 20_000
#: How long before a deadline the event loop's own timer ends a sleep (it may end up to
#: a millisecond late); the serving thread sleeps the rest (``_Sleeper``).
LOOP_TIMER_SLACK = 0.0015


class Service:
    def __init__(
        self,
        scheduler: Engine,
        *,
        install_signals: bool,
        log: Logger | None = None,
        standby: bool = True,
    ):
        self.scheduler = scheduler
        self.install_signals = install_signals
        #: Wait as a standby while another scheduler leads (else raise LeadershipError).
        self.standby = standby
        #: True from the moment this service leads until it stops.
        self.leading = False
        self._generation = -1
        self.log = log or Logger(verbose=bool(os.environ.get("UNO_SCHEDULE_DEBUG")))
        self.notifier = SystemdNotifier()
        self.started = asyncio.Event() if _has_loop() else None  # set by serve()
        self._stop = False
        self._grace: float | None = None
        self._reload = False
        self._reload_task: asyncio.Task[None] | None = None
        self._full_look: asyncio.Task[None] | None = None
        #: A reload is being compared and written: the state holds part of it.
        self._writing_reload = False
        self._file_stamp: tuple[int, int, int] | None = None
        self._lock: LeaderLock | None = None
        self._sleeper: _Sleeper | None = None
        self.exit_status = 0
        #: ``run``: an error of the store before the first lead is tried again, not raised.
        self._keep_trying = False
        self.ops = Operations(scheduler, self.log)
        #: The identity of the shared state this service serves (kept across leaderships).
        self.identity = StateIdentity(scheduler.instance_id)
        #: What ``stats`` reads of this runner while it waits as a standby.
        self._standby = Announcer(
            lambda: scheduler.store, "standby", scheduler.instance_id, scheduler.clock.now
        )
        self._told_lost = False

    # -- process entry point ----------------------------------------------------------------

    def run(self) -> int:
        """Lead (waiting as a standby if needed), then serve until stopped."""
        gc.freeze()  # the loaded file lives as long as the process: never rescan it
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_GC_THRESHOLD, *thresholds[1:])
        self.ops.metrics_by_default = True  # `run` serves unless told not to
        self.ops.serve_metrics(self.scheduler)  # a standby serves too (leader 0)
        try:
            if self.scheduler.state_path is None:
                return self._serve_shared()
            return asyncio.run(self.serve())
        finally:
            self.ops.close()
            gc.set_threshold(*thresholds)

    def request_stop(self, grace: float | None = None) -> None:
        self._stop = True
        self._grace = grace
        self._wake()

    def _wake(self) -> None:
        if self._sleeper is not None:
            self._sleeper.wake()
            return
        with contextlib.suppress(UnoScheduleError):
            self.scheduler.store.notify()

    # -- the serving loop -----------------------------------------------------------------

    async def serve(self) -> int:
        """Lead (after waiting as a standby if need be) until stopped; the exit status.

        On a shared store (Redis), where the lease alone decides who leads, a runner that
        lost the lease (frozen past it, or cut off from the store) stops firing at once,
        stops its running jobs (its successor retries them) and goes back to standby
        instead of returning: on
        several hosts, the runners that stay up are the fail-over, and a library
        ``start()`` leads again after a stall as ``run`` does. An error talking to the
        store is logged and treated as "not leader" (before this service ever started,
        it is raised, unless ``run`` keeps trying)."""
        if self.started is None:
            self.started = asyncio.Event()
        if self.scheduler.state_path is not None:
            return await self._serve_round()
        last_error, told_at = "", 0.0
        while True:
            failed = False
            try:
                status = await self._serve_round()
            except UnoScheduleError as exc:
                if isinstance(exc, LeadershipError) or not (
                    self._keep_trying or self.started.is_set()
                ):
                    raise
                failed, status = True, 1
                # the same error every second of an outage is told every 30 s
                if str(exc) != last_error or time.monotonic() - told_at > 30:
                    self.log.error(f"{exc}; not leading, trying again every second")
                    last_error, told_at = str(exc), time.monotonic()
            if self._stop:
                return status
            self.exit_status = 0
            for _ in range(10):
                await asyncio.sleep(0.1)
                if self._stop:
                    self.log.info("standby stopped before it became the leader")
                    return 0
            if not failed:
                last_error = ""
                self.log.notice("standby again: waiting for the lease")

    async def _serve_round(self) -> int:
        try:
            return await self._serve()
        finally:
            self.leading = False
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    async def _lead(self) -> tuple[RunLoop, Waiter] | None:
        """Take leadership, the one way ``run`` and a library ``start()`` both take it:
        the file lock of the state's real file (``_take_lock``), then the lease, forced
        from its holder only under that lock, which proves the holder dead. Returns the
        run loop holding the lease and the waiter it sleeps on; None when stopped while
        a standby; ``LeadershipError`` when another leads and standing by is not wanted."""
        assert self.started is not None
        sched = self.scheduler
        if sched.state_path is not None:
            self._lock = await self._take_lock(sched.state_path)
            if self._lock is None:
                return None
        store = sched.store
        waiter = store.waiter()
        runloop = self._run_loop()
        # Under the file lock no other leader can start while this one lives, frozen or
        # not; a lease alone (Redis) lapses under a frozen leader: its jobs are fenced.
        runloop.fence_jobs = self._lock is None
        now = sched.clock.now()
        holder: tuple[str, int] | None = None
        while not (self._state_served() and runloop.take_lease(now, force=self._lock is not None)):
            if self._stop:
                waiter.close()
                self._standby.leave()
                return None
            if not self.standby:
                waiter.close()
                held = held_lease(store, now)
                raise LeadershipError(
                    f"{held.instance_id if held else 'another instance'} leads; "
                    "start(standby=True) waits for it as a standby"
                )
            lease = held_lease(store, now)
            if lease is None or (lease.instance_id, lease.epoch) != holder:
                holder = (lease.instance_id, lease.epoch) if lease else None
                self.log.notice(
                    f"standby: {lease.instance_id if lease else 'another instance'} holds the "
                    f"lease until {format_instant(lease.expires_at) if lease else '?'}"
                )
            self.started.set()
            self._standby.beat()
            await asyncio.to_thread(waiter.wait, min(1.0, sched.options.lock_timeout / 3))
            now = sched.clock.now()
        self._standby.leave()
        return runloop, waiter

    def _state_served(self) -> bool:
        """Whether the shared state is the one this service knows (``StateIdentity``);
        a state that lost its identity is reported once (CRITICAL) and not led."""
        if self.scheduler.state_path is not None:
            return True  # a file: its deletion or replacement is the store's to notice
        store = self.scheduler.store
        verdict = self.identity.check(store, create=True)
        if verdict == "lost":
            if not self._told_lost:
                self.log.critical(StateIdentity.lost_message(store_name(store)))
                self._told_lost = True
            return False
        if verdict == "renewed":
            self.log.notice(f"the state was re-initialised (identity {self.identity.known})")
        self._told_lost = False
        return True

    async def _take_lock(self, state_path: Path) -> LeaderLock | None:
        """The leader lock of the state: at once if free, else as a standby until the
        leader goes (None if stopped first). Taken on the real file, symbolic links
        resolved, so that every alias of one state meets at one lock (a second lock
        would let its holder take the lease of a live leader)."""
        from ..lock import LeaderLock
        from ..store.sqlite import real_state_path

        assert self.started is not None
        make_private_dirs(state_path.parent)
        lock = LeaderLock.for_state(real_state_path(state_path))
        if lock.acquire(blocking=False):
            return lock
        holder = lock.holder()
        held_by = f" ({holder})" if holder else ""
        if not self.standby:
            raise LeadershipError(
                f"another scheduler leads on {state_path}{held_by}; "
                "start(standby=True) waits for it as a standby"
            )
        self.log.notice(f"standby: another scheduler leads on {state_path}{held_by}; waiting")
        self.notifier.status("standby: waiting for the leader")
        self.started.set()
        while not self._stop:
            if state_path.exists():
                self._standby.beat()
            if await asyncio.to_thread(lock.acquire, blocking=True, timeout=0.2):
                self._standby.leave()
                if not state_path.exists():
                    lock.release()
                    raise StateError(
                        f"state file {state_path} is gone, but its leader had one: not "
                        "starting over on a new, empty state (restore it, or start again "
                        "to create a new one)"
                    )
                self.log.notice("the leader is gone; taking over")
                return lock
        self._standby.leave()
        self.log.info("standby stopped before it became the leader")
        return None

    def _run_loop(self) -> RunLoop:
        sched = self.scheduler
        base_dir = sched.base_dir
        executor = Executor(
            log=self.log.debug, warn=self.log.warning, output=self.ops.output_sink()
        )
        budget = executor.budget
        self.log.info(
            f"open-file limit {budget.limit:,}: {budget.reserved:,} kept for the runner, "
            f"room for about {budget.most:,} jobs at once"
        )
        runloop = RunLoop(
            store=sched.store,
            definitions=sched.definitions,
            options=sched.options,
            executor=executor,
            clock=sched.clock,
            instance_id=sched.instance_id,
            log=self.log,
            base_dir=base_dir,
            on_failure=sched.notify_failure,
            wake=self._wake,
            notifier=self.ops.notifier,
        )
        attach_hand_off(runloop, sched)
        sched.hook_log = self.log.warning
        self.ops.serve_metrics(sched, leading=True)
        if self.ops.metrics is not None:
            self.ops.metrics.view.state_lost = lambda: self._told_lost
        return runloop

    async def _serve(self) -> int:
        assert self.started is not None
        sched = self.scheduler
        store = sched.store
        clock = sched.clock
        loop = asyncio.get_running_loop()
        if self.install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        led = await self._lead()
        if led is None:
            self.started.set()
            return 0
        runloop, waiter = led
        now = clock.now()
        self.log.notice(
            f"leader {sched.instance_id} (epoch {runloop.epoch}) on "
            f"{sched.state_path or 'remote storage'}"
        )
        sleeper = self._sleeper = _Sleeper(waiter, loop, store.notify)
        self.ops.attach(runloop)
        began = time.monotonic()
        self.leading = True
        with _quiet_gc():
            states = self._apply_definitions(now, "loaded at start")
            runloop.recover(now)
            synced = time.monotonic()
            runloop.load(states, now)
            del states
        store.set_meta("started_at", format_instant(now) or "")
        if sched.config is not None and sched.config.path and sched.state_path is not None:
            check_served_by(sched.config.path, sched.state_path, store, self.log)
        self._file_stamp = self._stamp()
        n = len(sched.definitions)
        status = f"{n} schedule{'s' if n != 1 else ''}, epoch {runloop.epoch}"
        self.notifier.ready(status)
        self.log.info(
            f"ready: {status} (state synced in {synced - began:.2f}s, "
            f"due times in {time.monotonic() - synced:.2f}s)"
        )
        self.started.set()
        self.ops.start()
        last_wall, last_mono = clock.now(), clock.monotonic()
        last_watchdog = last_mono
        last_refresh = last_identity = last_foreground = last_mono
        try:
            while not self._stop:
                now, mono = clock.now(), clock.monotonic()
                drift = (now - last_wall).total_seconds() - (mono - last_mono)
                if abs(drift) > JUMP_SECONDS:
                    direction = "forwards" if drift > 0 else "backwards"
                    self.log.warning(
                        f"the wall clock jumped {direction} by {abs(drift):.1f}s; claimed "
                        "occurrences never fire again, skipped-over ones follow the missed policy"
                    )
                    runloop.clock_jumped(drift)
                last_wall, last_mono = now, mono
                if self._reload or self._file_changed():
                    self._start_reload(runloop, now)  # in the background: firing goes on
                if mono - last_refresh > FULL_LOOK_SECONDS:
                    self._take_changes(runloop, now)
                    self._start_full_look(runloop)
                    last_refresh = mono
                if mono - last_identity >= 1.0:
                    last_identity = mono
                    if not self._state_served():
                        runloop.firing = False
                if mono - last_foreground >= FOREGROUND_SECONDS:
                    last_foreground = mono
                    runloop.recover_foreground(now)
                runloop.tick(now)
                if not runloop.firing:
                    self.exit_status = 1
                    break
                watchdog = self.notifier.watchdog_interval
                if watchdog is not None and mono - last_watchdog >= watchdog * 0.9:
                    self.notifier.watchdog()
                    last_watchdog = mono
                timeout = runloop.seconds_until_next(clock.now())
                if sched.config is not None and sched.config.path is not None:
                    timeout = min(timeout, FILE_POLL_SECONDS)
                if self.notifier.watchdog_interval is not None:
                    timeout = min(timeout, self.notifier.watchdog_interval)
                if sched.state_path is None:  # the state's identity, checked every second
                    timeout = min(timeout, 1.0)
                if timeout > 0:
                    called = await sleeper.sleep(timeout)
                    if called and not self._stop:
                        # Another process changed something: schedules added, changed or
                        # deleted through the API, a pause or a resume from the shell.
                        self._take_changes(runloop, clock.now())
                        self.ops.poke()
                        runloop.refresh(clock.now())
                        last_refresh = clock.monotonic()
                else:
                    await asyncio.sleep(0)
        finally:
            self.notifier.stopping()
            self.log.notice("stopping: no new runs will start")
            grace = self._grace if self._grace is not None else sched.options.shutdown_grace
            if runloop.deposed and runloop.busy:
                # Its successor records these runs interrupted and starts their retries:
                # left to end, a job would run beside its own retry.
                self.log.warning(
                    f"the lease is lost: stopping {runloop.busy} running job(s) now; the "
                    "next leader retries them under their retry policy"
                )
                grace = 0.0
            await self.ops.stop()
            await runloop.drain(grace)
            store.release_lease(sched.instance_id, runloop.epoch)
            store.set_meta("stopped_at", format_instant(clock.now()) or "")  # for the shell
            self._sleeper = None
            sleeper.close()
            waiter.close()
            self.ops.close()
            self.log.notice("stopped")
        return self.exit_status

    # -- configuration changes --------------------------------------------------------------

    def _request_reload(self) -> None:
        self._reload = True
        self._wake()

    def _stamp(self) -> tuple[int, int, int] | None:
        config = self.scheduler.config
        if config is None or config.path is None:
            return None
        try:
            st = os.stat(config.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _file_changed(self) -> bool:
        stamp = self._stamp()
        return stamp is not None and stamp != self._file_stamp

    def _take_changes(self, runloop: RunLoop, now: datetime) -> None:
        """Act on definitions that other processes changed through the API (noticed by
        the store's generation, so an idle leader reads nothing more).

        Not while a reload is written: the state then holds part of the reload (each of
        its chunks raises the generation and wakes the leader), which this would take
        for changes through the API and follow here, on the event loop, chunk by chunk.
        The reload's end takes what others changed meanwhile (``_do_reload``)."""
        if self._writing_reload:
            return
        sched = self.scheduler
        generation = sched.store.generation()
        if generation == self._generation:
            return
        self._generation = generation
        changed = sched.reconcile_definitions()
        if not changed:
            return
        states = [s for s in (sched.store.get_schedule(n) for n in changed) if s is not None]
        runloop.retrack(states, now)
        self._log_changes(changed)

    def _log_changes(self, changed: list[str]) -> None:
        definitions = self.scheduler.definitions
        for name in changed[:LOG_EACH_CHANGE]:
            what = "changed" if name in definitions else "deleted"
            self.log.info(f"{name}: {what} through the API")

    def _apply_definitions(self, now: datetime, changelog: str) -> list[ScheduleState]:
        """Bring the state in line with the file's definitions (the API's are left alone);
        return the stored schedules (without definitions) for the run loop, read once when
        nothing changed. Without a file, only the API's schedules are run."""
        sched = self.scheduler
        store = sched.store
        if sched.config is not None:
            check_followed(sched.file_definitions, store, file=str(sched.config.path or ""))
            states, generation = write_reload(
                store,
                sched.file_definitions,
                now=now,
                source=git_source(sched.config.path),
                log=self.log,
                changelog=changelog,  # at start nothing fires yet: one transaction
            )
            filestamp.record(store, sched.config)  # the shell need not read the file now
        else:
            generation = store.generation()
            states = store.list_schedules(definitions=False)
        sched.reconcile_definitions(states)
        self._generation = generation
        return states

    async def _do_reload(self, runloop: RunLoop, now: datetime) -> None:
        # The reload makes the new definitions by the hundred thousand, in threads that
        # hold the interpreter while they collect: a collection of them held a tick
        # for seconds. They are frozen at the end instead (``_quiet_gc``).
        with _quiet_gc():
            await self._reload_quietly(runloop, now)

    async def _reload_quietly(self, runloop: RunLoop, now: datetime) -> None:
        from ..config import load_config

        self._reload = False
        sched = self.scheduler
        assert sched.config is not None and sched.config.path is not None
        self._file_stamp = self._stamp()
        self.notifier.reloading()
        self.log.info(f"reloading {sched.config.path}")
        try:
            # In a thread: a large file takes seconds to read, and jobs already running
            # meanwhile still get their results recorded by the event loop.
            stamp = filestamp.file_stamp(sched.config.path)  # before it is read
            config = await asyncio.to_thread(load_config, sched.config.path)
            await asyncio.to_thread(check_applicable_config, config, sched)
        except ConfigErrors as exc:
            for error in exc.errors:
                self.log.error(f"reload rejected: {error}")
            self.log.error("keeping the last good configuration")
            self.notifier.ready("reload rejected; running the last good configuration")
            return
        except UnoScheduleError as exc:
            self.log.error(f"reload rejected: {exc}; keeping the last good configuration")
            self.notifier.ready("reload rejected; running the last good configuration")
            return
        # Compared and written in a thread (firing goes on: see runner/reloading.py).
        watch = runloop.watch_statuses()  # a pause from the shell meanwhile stands
        try:
            self._writing_reload = True
            try:
                between = loop_turn(asyncio.get_running_loop())
                states, generation = await asyncio.to_thread(
                    write_reload_of, config, sched, self.log, between
                )
                await asyncio.to_thread(filestamp.record, sched.store, config, stamp)
            finally:
                self._writing_reload = False
            now = sched.clock.now()  # the file may have taken a while to read
            sched.config = config
            self._apply_options(runloop, config.options)
            sched.replace_file_definitions(config.schedules)
            # What other processes changed through the API while the reload was written,
            # as the schedules it read after its writes show, is loaded in the same step
            # (each compared by fingerprint, the file's computed when it was compared).
            self._log_changes(sched.reconcile_definitions(states))
            self._generation = generation
            runloop.load(runloop.since_watch(watch, states), now)
        finally:
            runloop.unwatch(watch)  # whatever failed: the loop stops collecting for it
        self._take_changes(runloop, now)  # and what they changed since it read them
        self.log.notice(f"reloaded {config.path}: {len(config.schedules)} schedules")
        for module, file in changed_sources():  # a reload reads the file, not task code
            self.log.warning(
                f"task module {module} ({file}) changed since it was imported: its runs "
                "go on with the code imported then until the runner restarts"
            )
        self.notifier.ready(f"{len(config.schedules)} schedules, epoch {runloop.epoch}")
        self._wake()  # the due times changed: the loop's sleep was computed before

    def _apply_options(self, runloop: RunLoop, loaded: SchedulerOptions) -> None:
        """The reloaded file's ``scheduler:`` options hold from now on (concurrency,
        group limits, graces, the missed policy...), except those only a restart can
        apply (``RESTART_ONLY_OPTIONS``), which are logged as waiting for one."""
        sched = self.scheduler
        options, later = reloaded_options(sched.options, loaded)
        for name in later:
            self.log.warning(
                f"scheduler option {name} changed in the file: it takes effect when the "
                "runner restarts"
            )
        changed = [
            f.name
            for f in fields(options)
            if getattr(options, f.name) != getattr(sched.options, f.name)
        ]
        if not changed:
            return
        sched.options = options
        runloop.options = options
        self.log.info(f"scheduler options applied: {', '.join(changed)}")

    def _start_full_look(self, runloop: RunLoop) -> None:
        """Look at every schedule (``RunLoop.refresh_all``, the safety net for a wake-up
        missed), one look at a time, read in a thread over a handle of its own: 100,000
        schedules take a quarter of a second to read, which the event loop spent not
        firing. What the loop noted meanwhile is read again (``RunLoop.since_watch``); a
        reload's load meanwhile makes the copy moot."""
        if self._full_look is not None and not self._full_look.done():
            return
        task = asyncio.get_running_loop().create_task(self._look_at_all(runloop))
        self._full_look = task

        def done(finished: asyncio.Task[None]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                self.log.error(f"the look at every schedule failed: {finished.exception()}")

        task.add_done_callback(done)

    async def _look_at_all(self, runloop: RunLoop) -> None:
        watch = runloop.watch_statuses()
        try:
            states = await asyncio.to_thread(_all_statuses, self.scheduler.store)
        finally:
            runloop.unwatch(watch)
        if watch.overtaken or self._stop or not runloop.firing:
            return
        runloop.refresh_all(runloop.since_watch(watch, states), self.scheduler.clock.now())
        self._wake()  # a resumed schedule may be due before the loop's sleep ends

    def _start_reload(self, runloop: RunLoop, now: datetime) -> None:
        """Run ``_do_reload`` as a task beside the serving loop, one at a time: a change
        seen meanwhile is picked up by the next look at the file once this one is done."""
        if self._reload_task is not None and not self._reload_task.done():
            return
        task = asyncio.get_running_loop().create_task(self._do_reload(runloop, now))
        self._reload_task = task

        def done(finished: asyncio.Task[None]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                self.log.error(f"reload failed: {finished.exception()}")

        task.add_done_callback(done)

    def _serve_shared(self) -> int:
        """``run`` on a shared store: ``serve`` goes back to standby after a lost lease;
        an error of the store, even the first, is logged and tried again."""
        self.scheduler.store.current_lease()  # a wrong URL or password: one line, exit 1
        self._keep_trying = True
        return asyncio.run(self.serve())


class _Sleeper:
    """How the serving loop sleeps: until its timeout, its own wake-up (a retry became
    due, a stop or a reload was asked) or a datagram from another process.

    Only the last kind means the shell may have paused or resumed schedules, which makes
    the loop re-read statuses; telling them apart keeps a retry of a failed job from
    doing that. The waiter's descriptor is watched by the event loop itself where it has
    one (no thread per sleep); otherwise a thread waits on it.

    The event loop times a sleep in whole milliseconds, rounded up (``epoll``), so a
    sleep until an occurrence due at 10:00:00.000 ended up to a millisecond after it,
    and a ``wait_for`` took a turn more: every occurrence fired 1-2 ms late. The loop
    sleeps until ``LOOP_TIMER_SLACK`` before the deadline, and this thread the rest.
    """

    def __init__(
        self, waiter: Waiter, loop: asyncio.AbstractEventLoop, notify: Callable[[], None]
    ) -> None:
        self._waiter = waiter
        self._loop = loop
        self._notify = notify
        #: A wake-up came since the last sleep returned (it cuts the next one short).
        self._woken = False
        self._called = False
        #: Resolved by a wake-up or the timer of the sleep under way.
        self._waiting: asyncio.Future[None] | None = None
        self._fd = waiter.fileno()
        if self._fd is not None:
            loop.add_reader(self._fd, self._datagram)

    def _datagram(self) -> None:
        self._waiter.drain()
        self._called = True
        self._set()

    def _set(self) -> None:
        self._woken = True
        _resolve(self._waiting)

    def wake(self) -> None:
        """Cut the current sleep short (from any thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._set)
        if self._fd is None:  # the waiting thread hears only the store's notifications
            with contextlib.suppress(Exception):
                self._notify()

    async def sleep(self, timeout: float) -> bool:
        """Sleep; True when another process called (then statuses may have changed)."""
        if self._fd is None:
            self._called = await asyncio.to_thread(self._waiter.wait, timeout)
        elif not self._woken:
            loop = self._loop
            deadline = loop.time() + timeout
            if timeout > LOOP_TIMER_SLACK:
                waiting = self._waiting = loop.create_future()
                timer = loop.call_at(deadline - LOOP_TIMER_SLACK, _resolve, waiting)
                try:
                    await waiting
                finally:
                    timer.cancel()
                    self._waiting = None
            rest = deadline - loop.time()
            if not self._woken and rest > 0:
                time.sleep(rest)
        called, self._called = self._called, False
        self._woken = False
        return called

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
            self._fd = None


def _resolve(waiting: asyncio.Future[None] | None) -> None:
    if waiting is not None and not waiting.done():
        waiting.set_result(None)


def _all_statuses(store: Store) -> list[ScheduleState]:
    """Every schedule, without definitions, over a handle of its own (in a thread: the
    run loop's handle stays free for its claims), closed here whatever happens to the
    task that waits for it."""
    reader = store.clone()
    try:
        return reader.list_schedules(definitions=False)
    finally:
        if reader is not store:
            reader.close()


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic collection while the state is synced and the due-heap built, then the
    survivors frozen out of later collections.

    With 100,000 schedules those steps make millions of long-lived objects, and each
    full collection in between rescans them all (it added 40% to the start). Frozen,
    they are never rescanned, which also keeps an idle runner's CPU near zero.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def store_name(store: object) -> str:
    return str(getattr(store, "url", None) or store)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False

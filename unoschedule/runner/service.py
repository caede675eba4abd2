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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..abc import Waiter
from ..errors import ConfigErrors, UnoScheduleError
from ..model import ScheduleState
from ..sync import apply_plan, git_source, plan_for_store
from ..timeutil import format_instant
from .executor import Executor
from .log import Logger
from .loop import RunLoop
from .systemd import SystemdNotifier
from .worker import attach_hand_off

__all__ = ["Service"]

if TYPE_CHECKING:
    from ..scheduler import Scheduler

#: How often the YAML file is checked for changes (a stat call, no parsing).
FILE_POLL_SECONDS = 2.0
#: Up to this many schedules added, changed or removed at once are logged one by one;
#: beyond it, one summary line (a first start with 100,000 schedules is not 100,000 lines).
LOG_EACH_CHANGE = 50
#: A difference between wall-clock and monotonic progress above this is a clock jump.
JUMP_SECONDS = 2.0


class Service:
    def __init__(self, scheduler: Scheduler, *, install_signals: bool, log: Logger | None = None):
        self.scheduler = scheduler
        self.install_signals = install_signals
        self.log = log or Logger(verbose=bool(os.environ.get("UNO_SCHEDULE_DEBUG")))
        self.notifier = SystemdNotifier()
        self.started = asyncio.Event() if _has_loop() else None  # set by serve()
        self._stop = False
        self._grace: float | None = None
        self._reload = False
        self._file_stamp: tuple[int, int, int] | None = None
        self._lock: object | None = None
        self._sleeper: _Sleeper | None = None
        self.exit_status = 0

    # -- process entry point ----------------------------------------------------------------

    def run(self) -> int:
        """Take the leader lock (waiting as a standby if needed), then serve until stopped."""
        gc.freeze()  # the loaded file lives as long as the process: never rescan it
        lock = None
        state_path = self.scheduler.state_path
        if state_path is not None:
            from ..lock import LeaderLock

            state_path.parent.mkdir(parents=True, exist_ok=True)
            lock = LeaderLock(Path(str(state_path) + ".lock"))
            stopping = {"flag": False}

            def on_term(signum: int, frame: object) -> None:
                stopping["flag"] = True

            old = signal.signal(signal.SIGTERM, on_term)
            old_int = signal.signal(signal.SIGINT, on_term)
            try:
                if not lock.acquire(blocking=False):
                    holder = _describe_holder(lock)
                    self.log.notice(
                        f"standby: another scheduler leads on {state_path}{holder}; waiting"
                    )
                    self.notifier.status("standby: waiting for the leader")
                    while not stopping["flag"]:
                        if lock.acquire(blocking=True, timeout=0.2):
                            break
                    if stopping["flag"]:
                        self.log.info("standby stopped before it became the leader")
                        return 0
                    self.log.notice("the leader is gone; taking over")
            finally:
                signal.signal(signal.SIGTERM, old)
                signal.signal(signal.SIGINT, old_int)
        try:
            if lock is None:
                return self._serve_shared()
            return asyncio.run(self.serve())
        finally:
            if lock is not None:
                lock.release()

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
        if self.started is None:
            self.started = asyncio.Event()
        sched = self.scheduler
        opts = sched.options
        store = sched.store
        clock = sched.clock
        loop = asyncio.get_running_loop()
        if self.install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        waiter = store.waiter()
        base_dir = (
            str(sched.config.path.parent)
            if sched.config is not None and sched.config.path
            else None
        )
        executor = Executor(log=self.log.debug)
        runloop = RunLoop(
            store=store,
            definitions=sched.definitions,
            options=opts,
            executor=executor,
            clock=clock,
            instance_id=sched.instance_id,
            log=self.log,
            base_dir=base_dir,
            on_failure=sched._notify_failure,
            wake=self._wake,
        )
        attach_hand_off(runloop, sched)
        now = clock.now()
        force = sched.state_path is not None  # we hold the file lock: the old holder is dead
        holder: tuple[str, int] | None = None
        while not runloop.take_lease(now, force=force):
            if self._stop:
                waiter.close()
                self.started.set()
                return 0
            lease = store.current_lease()
            if lease is None or (lease.instance_id, lease.epoch) != holder:
                holder = (lease.instance_id, lease.epoch) if lease else None
                self.log.notice(
                    f"standby: {lease.instance_id if lease else 'another instance'} holds the "
                    f"lease until {format_instant(lease.expires_at) if lease else '?'}"
                )
            self.started.set()
            await asyncio.to_thread(waiter.wait, min(1.0, opts.lock_timeout / 3))
            now = clock.now()
        self.log.notice(
            f"leader {sched.instance_id} (epoch {runloop.epoch}) on "
            f"{sched.state_path or 'remote storage'}"
        )
        sleeper = self._sleeper = _Sleeper(waiter, loop, store.notify)
        began = time.monotonic()
        with _quiet_gc():
            runloop.recover(now)
            states = self._apply_definitions(now, "loaded at start")
            synced = time.monotonic()
            runloop.load(states, now)
            del states
        store.set_meta("started_at", format_instant(now) or "")
        self._file_stamp = self._stamp()
        status = f"{len(sched.definitions)} schedules, epoch {runloop.epoch}"
        self.notifier.ready(status)
        self.log.info(
            f"ready: {status} (state synced in {synced - began:.2f}s, "
            f"due times in {time.monotonic() - synced:.2f}s)"
        )
        self.started.set()
        last_wall, last_mono = clock.now(), clock.monotonic()
        last_watchdog = last_mono
        last_refresh = last_mono
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
                last_wall, last_mono = now, mono
                if self._reload or self._file_changed():
                    await self._do_reload(runloop, now)
                if mono - last_refresh > 300:
                    runloop.refresh(now, full=True)
                    last_refresh = mono
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
                if timeout > 0:
                    called = await sleeper.sleep(timeout)
                    if called and not self._stop:
                        runloop.refresh(clock.now())  # a pause or resume from the shell?
                        last_refresh = clock.monotonic()
                else:
                    await asyncio.sleep(0)
        finally:
            self.notifier.stopping()
            self.log.notice("stopping: no new runs will start")
            grace = self._grace if self._grace is not None else opts.shutdown_grace
            await runloop.drain(grace)
            store.release_lease(sched.instance_id, runloop.epoch)
            self._sleeper = None
            sleeper.close()
            waiter.close()
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

    def _apply_definitions(self, now: datetime, changelog: str) -> list[ScheduleState]:
        """Bring the state in line with the definitions; return the stored schedules
        (without definitions) for the run loop, read once when nothing changed."""
        sched = self.scheduler
        store = sched.store
        states = store.list_schedules(definitions=False)
        plan = plan_for_store(
            store, sched.definitions, now=now, default_zone=sched.options.timezone, states=states
        )
        if plan.empty:
            return states
        del states
        source = git_source(sched.config.path if sched.config else None)
        apply_plan(store, plan, sched.definitions, now=now, source=source, changelog=changelog)
        for entries, what in (
            (plan.added, "added"),
            (plan.changed, f"changed ({source})"),
            (plan.removed, "removed from the file; it stops, its history stays"),
        ):
            if len(entries) <= LOG_EACH_CHANGE:
                for entry in entries:
                    self.log.info(f"{entry.name}: {what}")
            elif entries:
                names = ", ".join(e.name for e in entries[:5])
                self.log.info(f"{len(entries)} schedules {what}: {names}, ...")
        del plan  # its entries hold the old states: free them before the new ones are read
        return store.list_schedules(definitions=False)

    async def _do_reload(self, runloop: RunLoop, now: datetime) -> None:
        from ..config import load_config

        self._reload = False
        sched = self.scheduler
        assert sched.config is not None and sched.config.path is not None
        self._file_stamp = self._stamp()
        self.notifier.reloading()
        try:
            # In a thread: a large file takes seconds to read, and jobs already running
            # meanwhile still get their results recorded by the event loop.
            config = await asyncio.to_thread(load_config, sched.config.path)
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
        now = sched.clock.now()  # the file may have taken a while to read
        sched.config = config
        sched.definitions.clear()
        sched.definitions.update(config.schedules)
        with _quiet_gc():
            runloop.load(self._apply_definitions(now, "reloaded"), now)
        self.log.notice(f"reloaded {config.path}: {len(config.schedules)} schedules")
        self.notifier.ready(f"{len(config.schedules)} schedules, epoch {runloop.epoch}")

    def _serve_shared(self) -> int:
        """Serve on a shared store (Redis), where the lease alone decides who leads.

        A runner that lost the lease (frozen past it, or cut off from the store) stops
        firing at once, lets its running jobs end, and goes back to standby instead of
        exiting: on several hosts, the runners that stay up are the fail-over. An error
        talking to the store is logged and treated as "not leader".
        """
        self.scheduler.store.current_lease()  # a wrong URL or password: one line, exit 1
        last_error, told_at = "", 0.0
        while True:
            failed = False
            try:
                status = asyncio.run(self.serve())
            except UnoScheduleError as exc:
                failed, status = True, 1
                # the same error every second of an outage is told every 30 s
                if str(exc) != last_error or time.monotonic() - told_at > 30:
                    self.log.error(f"{exc}; not leading, trying again every second")
                    last_error, told_at = str(exc), time.monotonic()
            if self._stop:
                return status
            self.exit_status = 0
            self.started = None
            old = signal.signal(signal.SIGTERM, self._stop_between)
            old_int = signal.signal(signal.SIGINT, self._stop_between)
            try:
                time.sleep(1.0)
            finally:
                signal.signal(signal.SIGTERM, old)
                signal.signal(signal.SIGINT, old_int)
            if self._stop:
                self.log.info("standby stopped before it became the leader")
                return 0
            if not failed:
                last_error = ""
                self.log.notice("standby again: waiting for the lease")

    def _stop_between(self, signum: int, frame: object) -> None:
        self._stop = True


class _Sleeper:
    """How the serving loop sleeps: until its timeout, its own wake-up (a retry became
    due, a stop or a reload was asked) or a datagram from another process.

    Only the last kind means the shell may have paused or resumed schedules, which makes
    the loop re-read statuses; telling them apart keeps a retry of a failed job from
    doing that. The waiter's descriptor is watched by the event loop itself where it has
    one (no thread per sleep); otherwise a thread waits on it.
    """

    def __init__(
        self, waiter: Waiter, loop: asyncio.AbstractEventLoop, notify: Callable[[], None]
    ) -> None:
        self._waiter = waiter
        self._loop = loop
        self._notify = notify
        self._event = asyncio.Event()
        self._called = False
        self._fd = waiter.fileno()
        if self._fd is not None:
            loop.add_reader(self._fd, self._datagram)

    def _datagram(self) -> None:
        self._waiter.drain()
        self._called = True
        self._event.set()

    def wake(self) -> None:
        """Cut the current sleep short (from any thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)
        if self._fd is None:  # the waiting thread hears only the store's notifications
            with contextlib.suppress(Exception):
                self._notify()

    async def sleep(self, timeout: float) -> bool:
        """Sleep; True when another process called (then statuses may have changed)."""
        if self._fd is None:
            self._called = await asyncio.to_thread(self._waiter.wait, timeout)
        elif not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        called, self._called = self._called, False
        self._event.clear()
        return called

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
            self._fd = None


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


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _describe_holder(lock: object) -> str:
    info = getattr(lock, "holder", None)
    text = info() if callable(info) else None
    return f" ({text})" if text else ""

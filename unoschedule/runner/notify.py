"""Sending notifications (``notify:``), off the event loop and never in its way.

Every settle step (the leader's, a worker's, a foreground run's) and the leader's
alarms tell the process's ``Notifier`` of an event (``tell``); it decides here, once,
whether the schedule wants it (``recovery`` asks the state whether the run before
failed), limits how many a schedule sends per minute, claims the notification in the
store (``Store.claim_notification``: at most once across failover) and sends it on a
thread, to each target with retries and backoff. A failing target is logged (never
its URL's secrets) and counted, and never delays a run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ..abc import Store
from ..model import FINAL_RESULTS, RunRecord, ScheduleDefinition
from ..notifications import PLACEHOLDER, Notify, message, notification_key, redact
from .log import Logger

__all__ = ["Notifier", "expand_targets"]

#: At most this many notifications per schedule in ``RATE_WINDOW`` seconds; the rest
#: are dropped (logged and counted): a schedule failing every second must not flood.
RATE_LIMIT = 5
RATE_WINDOW = 60.0
#: Attempts per target, and the first pause between them (doubled each time).
ATTEMPTS = 3
BACKOFF = 1.0

Sender = Callable[[str, str, str], bool]


def _apprise_send(url: str, title: str, body: str) -> bool:
    from ..notify_apprise import send

    return send(url, title, body)


class Notifier:
    """The notifications of one process."""

    def __init__(
        self,
        store: Callable[[], Store],
        log: Logger | None = None,
        *,
        sender: Sender | None = None,
        later: Callable[[float, Callable[[], None]], None] | None = None,
        backoff: float = BACKOFF,
        folder: str | None = None,
    ) -> None:
        #: The schedule file's folder: a relative ``targets_file`` is read against it.
        self.folder = folder
        self._store_factory = store
        self._store: Store | None = None
        self.log = log or Logger()
        self.sender = sender or _apprise_send
        #: Runs a retry after a delay (a test passes one that records the delay).
        self.later = later or self._later
        self._timers: set[threading.Timer] = set()
        self.backoff = backoff
        self._pool: ThreadPoolExecutor | None = None
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        #: Targets that failed (after their retries) and notifications dropped by the
        #: rate limit, per schedule: the ``/metrics`` counters.
        self.failures: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.sent = 0

    def tell(
        self,
        event: str,
        run: RunRecord,
        definition: ScheduleDefinition,
        detail: str | None,
        output: str | None = None,
    ) -> None:
        """An event of ``run``: ``success`` (a recovery if the run before failed),
        ``failure`` (after the last attempt), ``overdue`` or ``paused``. Returns at once."""
        notify = definition.notify
        if notify is None:
            return
        wanted = "recovery" if event == "success" else event
        if wanted not in notify.events:
            return
        if self._pool is None:  # one thread: a failure is told before its recovery
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
        self._pool.submit(self._deliver, event, run, definition, detail, output)

    def close(self, wait: bool = True) -> None:
        """Let the notifications under way end (``wait``; retries still waiting for
        their backoff are dropped), then let go of the store."""
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=wait)
            self._pool = None
        store, self._store = self._store, None
        if store is not None and store is not getattr(self._store_factory, "__self__", None):
            store.close()  # a handle of its own (a store may hand out itself)

    # -- on a thread ------------------------------------------------------------------

    def _store_handle(self) -> Store:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def _deliver(
        self,
        event: str,
        run: RunRecord,
        definition: ScheduleDefinition,
        detail: str | None,
        output: str | None,
    ) -> None:
        name = definition.name
        try:
            store = self._store_handle()
            if event == "success":
                if not self._recovered(store, run):
                    return
                event = "recovery"
            if not self._admit(name):
                self._count(self.dropped, name)
                self.log.warning(f"{name}: {event} notification dropped (more than "
                                 f"{RATE_LIMIT} in {RATE_WINDOW:g}s)")  # fmt: skip
                return
            run_part = run.run_id or _instant(run)
            if not store.claim_notification(
                notification_key(event, name, run_part), datetime.now(UTC)
            ):
                return  # sent by another process (or before a failover)
            self._send(event, run, definition, detail, output)
        except Exception as exc:  # never let a notification take anything down
            self._count(self.failures, name)
            self.log.error(f"{name}: {event} notification failed: {type(exc).__name__}")

    def _recovered(self, store: Store, run: RunRecord) -> bool:
        """Whether the run that ended before ``run`` (another occurrence's last
        attempt) failed: then this success is a recovery."""
        earlier = [
            r
            for r in store.history(run.schedule, limit=20)
            if r.run_id != run.run_id
            and r.scheduled_time != run.scheduled_time
            and r.result in FINAL_RESULTS
            and r.result not in ("skipped", "missed", "interrupted")
            and r.finished_at is not None
        ]
        if not earlier:
            return False
        last = max(earlier, key=lambda r: (r.finished_at, r.attempt))
        return last.result in ("error", "timeout")

    def _count(self, counter: dict[str, int], name: str) -> None:
        with self._lock:
            counter[name] = counter.get(name, 0) + 1

    def _admit(self, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            sent = self._sent.setdefault(name, deque())
            while sent and now - sent[0] >= RATE_WINDOW:
                sent.popleft()
            if len(sent) >= RATE_LIMIT:
                return False
            sent.append(now)
            return True

    def _send(
        self,
        event: str,
        run: RunRecord,
        definition: ScheduleDefinition,
        detail: str | None,
        output: str | None,
    ) -> None:
        name = definition.name
        assert definition.notify is not None
        urls, problems = expand_targets(definition.notify, folder=self.folder)
        for problem in problems:
            self._count(self.failures, name)
            self.log.error(f"{name}: notify: {problem}")
        title, body = message(event, name, run.run_id, detail, output)
        for url in urls:
            self._attempt(name, event, url, title, body, 1)

    def _attempt(self, name: str, event: str, url: str, title: str, body: str, n: int) -> None:
        """Attempt ``n`` of sending to one target; a failed one is tried again after a
        backoff (``later``: the wait holds no thread, so a dead target delays no other
        notification), and counted after the last."""
        try:
            ok = self.sender(url, title, body)
        except Exception:
            ok = False
        if ok:
            self.sent += 1
        elif n < ATTEMPTS:
            again = functools.partial(self._attempt, name, event, url, title, body, n + 1)
            self.later(self.backoff * 2 ** (n - 1), again)
        else:
            self._count(self.failures, name)
            self.log.error(
                f"{name}: {event} notification to {redact(url)} failed after {ATTEMPTS} attempts"
            )

    def _later(self, delay: float, attempt: Callable[[], None]) -> None:
        """Run ``attempt`` on the notification thread after ``delay`` seconds."""

        def submit() -> None:
            with self._lock:
                self._timers.discard(timer)
                pool = self._pool
            if pool is not None:
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    pool.submit(attempt)

        timer = threading.Timer(delay, submit)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()


def expand_targets(
    notify: Notify, environ: Mapping[str, str] | None = None, folder: str | None = None
) -> tuple[list[str], list[str]]:
    """The URLs to send to, with ``${VAR}`` read from ``environ`` (default: the
    process's) and the lines of ``targets_file`` (a relative one read against ``folder``,
    the schedule file's, as every relative path of the file is); and the problems (a
    variable unset, a file unreadable), told without any secret."""
    env = os.environ if environ is None else environ
    urls: list[str] = []
    problems: list[str] = []
    written = list(notify.targets)
    if notify.targets_file:
        try:
            path = os.path.join(folder or "", os.path.expanduser(notify.targets_file))
            with open(path, encoding="utf-8") as file:
                lines = [line.strip() for line in file]
        except OSError as exc:
            problems.append(f"cannot read targets_file {notify.targets_file}: {exc.strerror}")
            lines = []
        written += [line for line in lines if line and not line.startswith("#")]
    for target in written:
        missing = [m for m in PLACEHOLDER.findall(target) if m not in env]
        if missing:
            problems.append(f"{redact(target)}: ${{{missing[0]}}} is not set")
            continue
        urls.append(PLACEHOLDER.sub(lambda m: env[m.group(1)], target))
    return urls, problems


def _instant(run: RunRecord) -> str:
    from ..timeutil import format_instant

    return format_instant(run.scheduled_time) or ""

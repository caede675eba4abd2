"""Prometheus metrics of a runner: the numbers, their exposition and the ``/metrics`` server.

Two kinds of numbers, fed two ways so that the firing path pays next to nothing:

- what happens (runs by result, durations, fire lag, last success): plain counts the
  run loop's observer bumps as runs start and end (a dict increment, about a
  microsecond), never on the claim itself;
- what is (leader or standby, next due instant per schedule, running jobs per queue,
  schedules per status, overdue schedules): read from the run loop's memory when
  Prometheus scrapes, in a server thread, without touching the state file.

A runner may hold tens of thousands of schedules, so the series per schedule are few:
its run counts (by result and trigger, only those that happened), its last success, its
next due instant and, with a dead-man alarm, whether it is overdue. Histograms are per
queue, never per schedule. The exposition is written here as plain text (one f-string
per series, label text cached per name) in the server's thread, yielding the GIL between
chunks, so that a scrape neither costs the event loop nor delays a firing.

The server answers each connection in a thread of its own, but only
``budget.METRICS_CONNECTIONS`` at a time (Prometheus holds one per target; a few more
leave room for a curl and a second Prometheus) and each for at most ``IDLE_SECONDS`` of
silence; a new connection when all are taken replaces the oldest that has sent nothing.
Idle connections can then neither take the descriptors the jobs need nor keep
Prometheus out.

The names are the contract of SPEC 6 (``uno_schedule_runs_total`` and
``uno_schedule_leader`` are stable); ``contrib/prometheus-alerts.yaml`` uses them.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .budget import METRICS_CONNECTIONS

if TYPE_CHECKING:
    from .model import RunRecord

__all__ = ["Metrics", "MetricsView", "parse_address"]

#: Fire lag: from a few milliseconds (the goal) to minutes (a catch-up after downtime).
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Job durations: a quick command to an hour-long batch job.
DURATION_BUCKETS = (0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600)
#: Waits for a place in a concurrency group: none to an hour.
GROUP_WAIT_BUCKETS = (0.1, 1, 5, 15, 60, 300, 900, 3600)
#: A connection that sends nothing for this long is closed (a scrape sends its request
#: at once and reads the answer within its own timeout).
IDLE_SECONDS = 10.0
#: Connections the kernel holds until the server accepts them (socketserver's default
#: is 5). They take no descriptor of ours; with a shorter queue, a burst of connections
#: faster than the accepting thread sees its SYNs dropped and each late one waits a
#: second for the client's retransmission.
LISTEN_BACKLOG = 128
#: Between chunks of this many lines a scrape sleeps 0, so that the event loop's thread
#: gets the GIL back at once rather than after the switch interval.
_CHUNK = 100


@dataclass
class MetricsView:
    """The present state a scrape reads; the service points these at the run loop.

    Each callable runs in the HTTP server's thread, so it must only copy what it reads
    (a dict copy is atomic under the GIL) and never touch the store.
    """

    leader: Callable[[], bool] = lambda: False
    next_runs: Callable[[], Mapping[str, datetime]] = dict
    running: Callable[[], Mapping[str, int]] = dict
    statuses: Callable[[], Mapping[str, int]] = dict
    overdue: Callable[[], Mapping[str, bool]] = dict
    #: Notifications whose target failed after its retries, per schedule.
    notification_failures: Callable[[], Mapping[str, int]] = dict
    #: True while the shared state has lost its identity (``unoschedule.identity``).
    state_lost: Callable[[], bool] = lambda: False
    waiting_for_descriptors: Callable[[], int] = lambda: 0
    descriptor_waits: Callable[[], int] = lambda: 0


def _histogram(bounds: tuple[float, ...]) -> list[float]:
    """Counts per bucket (not cumulative; the last one is +Inf), then sum, then count."""
    return [0.0] * (len(bounds) + 3)


def _observe(counts: list[float], bounds: tuple[float, ...], value: float) -> None:
    counts[bisect_left(bounds, value)] += 1
    counts[-2] += value
    counts[-1] += 1


def _number(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``1.0``, ``2.5e-05``)."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value != value:
        return "NaN"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """The numbers of one runner, kept in plain dicts and lists.

    Not prometheus-client's ``Counter``/``Histogram`` objects: a labelled child costs
    ~50 us to create and ~8 us to update under its lock, which a burst of 10,000
    schedules paid on the event loop (0.5 s). Here an update is a dict or list increment.
    """

    def __init__(self) -> None:
        self.view = MetricsView()
        self._runs: dict[tuple[str, str, str], int] = {}
        self._durations: dict[str, list[float]] = {}
        self._lag = _histogram(LAG_BUCKETS)
        self._group_waits: dict[str, list[float]] = {}
        self._last_success: dict[str, float] = {}
        #: ``schedule="name"`` per schedule name, escaped once (a scrape writes it often).
        self._labels: dict[str, str] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- fed by the run loop's observer ---------------------------------------------------

    def started(self, runs: Sequence[RunRecord], at: datetime) -> None:
        lag = self._lag
        for run in runs:
            if run.trigger in ("schedule", "missed"):
                _observe(lag, LAG_BUCKETS, max(0.0, (at - run.scheduled_time).total_seconds()))

    def finished(self, run: RunRecord, result: str, seconds: float | None, at: datetime) -> None:
        key = (run.schedule, result, run.trigger)
        self._runs[key] = self._runs.get(key, 0) + 1
        if seconds is not None:
            queue = run.queue or ""
            counts = self._durations.get(queue)
            if counts is None:
                counts = self._durations[queue] = _histogram(DURATION_BUCKETS)
            _observe(counts, DURATION_BUCKETS, seconds)
        if result == "success":
            self._last_success[run.schedule] = at.timestamp()

    def recorded(self, run: RunRecord) -> None:
        """A final record without a job: a missed or skipped occurrence."""
        key = (run.schedule, run.result, run.trigger)
        self._runs[key] = self._runs.get(key, 0) + 1

    def group_waited(self, group: str, seconds: float) -> None:
        """A run waited ``seconds`` for a place in concurrency ``group``."""
        counts = self._group_waits.get(group)
        if counts is None:
            counts = self._group_waits[group] = _histogram(GROUP_WAIT_BUCKETS)
        _observe(counts, GROUP_WAIT_BUCKETS, seconds)

    # -- the exposition -------------------------------------------------------------------

    def text(self) -> str:
        """The exposition text, as a scrape gets it."""
        return "".join(self._lines())

    def _label(self, name: str) -> str:
        label = self._labels.get(name)
        if label is None:
            label = self._labels[name] = f'schedule="{_escape(name)}"'
        return label

    def _lines(self) -> Iterable[str]:
        view, label = self.view, self._label
        yield from _head(
            "uno_schedule_runs_total",
            "counter",
            "Runs recorded, by schedule, result and trigger.",
        )
        for i, ((name, result, trigger), count) in enumerate(sorted(dict(self._runs).items())):
            yield (
                f'uno_schedule_runs_total{{result="{_escape(result)}",{label(name)},'
                f'trigger="{_escape(trigger)}"}} {count}.0\n'
            )
            _breathe(i)
        yield from _head(
            "uno_schedule_run_duration_seconds",
            "histogram",
            "How long runs took, by queue.",
        )
        for queue, counts in sorted(dict(self._durations).items()):
            yield from _histogram_lines(
                "uno_schedule_run_duration_seconds", f'queue="{_escape(queue)}"',
                list(counts), DURATION_BUCKETS,
            )  # fmt: skip
        yield from _head(
            "uno_schedule_group_wait_seconds",
            "histogram",
            "How long runs waited for a place in their concurrency group, by group.",
        )
        for group, counts in sorted(dict(self._group_waits).items()):
            yield from _histogram_lines(
                "uno_schedule_group_wait_seconds", f'group="{_escape(group)}"',
                list(counts), GROUP_WAIT_BUCKETS,
            )  # fmt: skip
        yield from _head(
            "uno_schedule_fire_lag_seconds",
            "histogram",
            "Start of a run minus its scheduled instant (scheduled and missed runs).",
        )
        yield from _histogram_lines(
            "uno_schedule_fire_lag_seconds", "", list(self._lag), LAG_BUCKETS
        )
        yield from _head(
            "uno_schedule_last_success_timestamp_seconds",
            "gauge",
            "When each schedule last succeeded (Unix time), since this runner started.",
        )
        for i, (name, when) in enumerate(sorted(dict(self._last_success).items())):
            yield f"uno_schedule_last_success_timestamp_seconds{{{label(name)}}} {when!r}\n"
            _breathe(i)
        yield from _head(
            "uno_schedule_leader",
            "gauge",
            "1 while this instance leads (fires jobs), 0 on a standby.",
        )
        yield f"uno_schedule_leader {1.0 if view.leader() else 0.0}\n"
        yield from _head(
            "uno_schedule_state_lost",
            "gauge",
            "1 while the state this instance served has lost its identity (Redis restarted "
            "empty): nothing fires until `uno-schedule init-state`.",
        )
        yield f"uno_schedule_state_lost {1.0 if view.state_lost() else 0.0}\n"
        yield from _head(
            "uno_schedule_next_run_timestamp_seconds",
            "gauge",
            "When each active schedule next starts (Unix time), after its blackouts and "
            "jitter, as status shows it.",
        )
        for i, (name, at) in enumerate(sorted(dict(view.next_runs()).items())):
            yield f"uno_schedule_next_run_timestamp_seconds{{{label(name)}}} {at.timestamp()!r}\n"
            _breathe(i)
        yield from _head("uno_schedule_running_jobs", "gauge", "Jobs running now, per queue.")
        for queue, count in sorted(dict(view.running()).items()):
            yield f'uno_schedule_running_jobs{{queue="{_escape(queue)}"}} {float(count)!r}\n'
        yield from _head(
            "uno_schedule_runs_waiting_for_descriptors",
            "gauge",
            "Runs their queue would start now that wait for the runner's open-file limit.",
        )
        waiting = float(view.waiting_for_descriptors())
        yield f"uno_schedule_runs_waiting_for_descriptors {waiting!r}\n"
        yield from _head(
            "uno_schedule_descriptor_waits_total",
            "counter",
            "Runs that waited for the runner's open-file limit before they started.",
        )
        yield f"uno_schedule_descriptor_waits_total {float(view.descriptor_waits())!r}\n"
        yield from _head(
            "uno_schedule_notification_failures_total",
            "counter",
            "Notifications (notify:) that a target did not take after their retries.",
        )
        for name, count in sorted(dict(view.notification_failures()).items()):
            yield f"uno_schedule_notification_failures_total{{{label(name)}}} {float(count)!r}\n"
        yield from _head("uno_schedule_schedules", "gauge", "Schedules per status.")
        for status, count in sorted(dict(view.statuses()).items()):
            yield f'uno_schedule_schedules{{status="{_escape(status)}"}} {float(count)!r}\n'
        yield from _head(
            "uno_schedule_overdue",
            "gauge",
            "1 when a schedule with expect_success_within has not succeeded for that long.",
        )
        for i, (name, late) in enumerate(sorted(dict(view.overdue()).items())):
            yield f"uno_schedule_overdue{{{label(name)}}} {1.0 if late else 0.0}\n"
            _breathe(i)

    # -- serving ----------------------------------------------------------------------------

    def serve(self, address: str) -> None:
        """Serve ``/metrics`` on ``HOST:PORT`` in a daemon thread; raises OSError when
        the address is taken (the caller logs it: never fatal, SPEC 6)."""
        host, port = parse_address(address)
        server = _Server(host, port, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="uno-metrics", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _head(name: str, kind: str, about: str) -> Iterable[str]:
    yield f"# HELP {name} {about}\n# TYPE {name} {kind}\n"


def _breathe(i: int) -> None:
    if i and i % _CHUNK == 0:
        time.sleep(0)


def _histogram_lines(
    name: str, labels: str, counts: list[float], bounds: tuple[float, ...]
) -> Iterable[str]:
    """Cumulative buckets, count and sum; ``labels`` (``queue="x"``) follow ``le`` as
    Prometheus sorts them."""
    more = f",{labels}" if labels else ""
    total = 0.0
    for bound, n in zip((*bounds, math.inf), counts, strict=False):
        total += n
        yield f'{name}_bucket{{le="{_number(bound)}"{more}}} {total!r}\n'
    braces = f"{{{labels}}}" if labels else ""
    yield f"{name}_count{braces} {counts[-1]!r}\n{name}_sum{braces} {counts[-2]!r}\n"


class _Handler(BaseHTTPRequestHandler):
    """``GET /metrics`` (and ``/``); the socket times out after ``IDLE_SECONDS``."""

    timeout = IDLE_SECONDS
    server: _Server

    def do_GET(self) -> None:
        self.server.asked(self.request)
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self.send_error(404)
            return
        body = self.server.metrics.text().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a scrape every 15 s is no news."""


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``METRICS_CONNECTIONS`` of them.

    When all are taken, the oldest connection that has not sent its request yet is
    closed for the new one: idle connections can hold the server's places only until
    a scrape comes, never keep it out."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, host: str, port: int, metrics: Metrics) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.metrics = metrics
        self._slots = threading.BoundedSemaphore(METRICS_CONNECTIONS)
        #: Connections that have not sent a request yet, oldest first.
        self._idle: dict[Any, None] = {}
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def asked(self, request: Any) -> None:
        with self._lock:
            self._idle.pop(request, None)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                oldest = next(iter(self._idle), None)
                if oldest is not None:
                    del self._idle[oldest]
            if oldest is not None:
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)  # its thread ends, freeing a place
            if oldest is None or not self._slots.acquire(timeout=1.0):
                self.shutdown_request(request)  # full of scrapes: close it now
                return
        with self._lock:
            self._idle[request] = None
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.asked(request)
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.asked(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or timed out is no error of ours."""


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` or ``[::1]:PORT`` too) as (host, port); empty host: all."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)

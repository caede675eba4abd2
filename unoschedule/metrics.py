"""Prometheus metrics of a runner: the only module that imports ``prometheus_client``.

Two kinds of numbers, fed two ways so that the firing path pays next to nothing:

- what happens (runs by result, durations, fire lag, missed occurrences, last success):
  plain counts the run loop's observer bumps as runs start and end (a dict increment,
  about a microsecond), never on the claim itself;
- what is (leader or standby, next due instant per schedule, running jobs per queue,
  schedules per status, overdue schedules): read from the run loop's memory when
  Prometheus scrapes, in the HTTP server's thread, without touching the state file.

The names are the contract of SPEC 6 (``uno_schedule_runs_total`` and
``uno_schedule_leader`` are stable); ``contrib/prometheus-alerts.yaml`` uses them.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from .model import RunRecord

__all__ = ["Metrics", "MetricsView", "parse_address"]

#: Fire lag: from a few milliseconds (the goal) to minutes (a catch-up after downtime).
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Job durations: a quick command to an hour-long batch job.
DURATION_BUCKETS = (0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600)


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
    #: True while the shared state has lost its identity (``unoschedule.identity``).
    state_lost: Callable[[], bool] = lambda: False
    extra: list[Callable[[], Iterable[Any]]] = field(default_factory=list)


def _histogram(bounds: tuple[float, ...]) -> list[float]:
    """Counts per bucket (not cumulative; the last one is +Inf), then sum, then count."""
    return [0.0] * (len(bounds) + 3)


def _observe(counts: list[float], bounds: tuple[float, ...], value: float) -> None:
    counts[bisect_left(bounds, value)] += 1
    counts[-2] += value
    counts[-1] += 1


def _buckets(counts: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    out, total = [], 0.0
    for bound, n in zip((*bounds, math.inf), counts, strict=False):
        total += n
        out.append((floatToGoString(bound), total))  # type: ignore[no-untyped-call]
    return out


class Metrics:
    """The numbers of one runner, kept in plain dicts and lists.

    Not prometheus-client's ``Counter``/``Histogram`` objects: a labelled child costs
    ~50 us to create and ~8 us to update under its lock, which a burst of 10,000
    schedules paid on the event loop (0.5 s). Here an update is a dict or list
    increment; prometheus-client builds the metric families and the exposition when
    Prometheus scrapes, in its server thread, which yields the GIL between chunks.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.view = MetricsView()
        self._runs: dict[tuple[str, str, str], int] = {}
        self._durations: dict[str, list[float]] = {}
        self._lag = _histogram(LAG_BUCKETS)
        self._missed: dict[str, int] = {}
        self._last_success: dict[str, float] = {}
        self.registry.register(_Collector(self))
        self._server: Any = None
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
            counts = self._durations.get(run.schedule)
            if counts is None:
                counts = self._durations[run.schedule] = _histogram(DURATION_BUCKETS)
            _observe(counts, DURATION_BUCKETS, seconds)
        if result == "success":
            self._last_success[run.schedule] = at.timestamp()

    def recorded(self, run: RunRecord) -> None:
        """A final record without a job: a missed or skipped occurrence."""
        key = (run.schedule, run.result, run.trigger)
        self._runs[key] = self._runs.get(key, 0) + 1
        if run.result == "missed":
            self._missed[run.schedule] = self._missed.get(run.schedule, 0) + 1

    # -- serving ----------------------------------------------------------------------------

    def serve(self, address: str) -> None:
        """Serve ``/metrics`` on ``HOST:PORT`` in a daemon thread; raises OSError when
        the address is taken (the caller logs it: never fatal, SPEC 6)."""
        host, port = parse_address(address)
        self._server, self._thread = start_http_server(port, host, registry=self.registry)

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def text(self) -> str:
        """The exposition text, as a scrape would get it (tests, benchmarks)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


#: Between chunks of this many series a scrape sleeps 0, so that the event loop's
#: thread gets the GIL back at once rather than after the switch interval.
_CHUNK = 500


def _yielding(items: Iterable[Any]) -> Iterable[Any]:
    for i, item in enumerate(items):
        if i and i % _CHUNK == 0:
            time.sleep(0)
        yield item


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        m, view = self.metrics, self.metrics.view
        runs = CounterMetricFamily(
            "uno_schedule_runs",
            "Runs recorded, by schedule, result and trigger.",
            labels=["schedule", "result", "trigger"],
        )
        for key, count in _yielding(sorted(dict(m._runs).items())):
            runs.add_metric(list(key), count)
        yield runs
        duration = HistogramMetricFamily(
            "uno_schedule_run_duration_seconds", "How long runs took, by schedule.",
            labels=["schedule"],
        )  # fmt: skip
        for name, counts in _yielding(sorted(dict(m._durations).items())):
            counts = list(counts)
            duration.add_metric([name], _buckets(counts, DURATION_BUCKETS), counts[-2])
        yield duration
        lag = HistogramMetricFamily(
            "uno_schedule_fire_lag_seconds",
            "Start of a run minus its scheduled instant (scheduled and missed runs).",
        )
        counts = list(m._lag)
        lag.add_metric([], _buckets(counts, LAG_BUCKETS), counts[-2])
        yield lag
        missed = CounterMetricFamily(
            "uno_schedule_missed", "Occurrences recorded as missed, by schedule.",
            labels=["schedule"],
        )  # fmt: skip
        for name, count in sorted(dict(m._missed).items()):
            missed.add_metric([name], count)
        yield missed
        success = GaugeMetricFamily(
            "uno_schedule_last_success_timestamp_seconds",
            "When each schedule last succeeded (Unix time), since this runner started.",
            labels=["schedule"],
        )
        for name, when in _yielding(sorted(dict(m._last_success).items())):
            success.add_metric([name], when)
        yield success
        yield GaugeMetricFamily(
            "uno_schedule_state_lost",
            "1 while the state this instance served has lost its identity (Redis restarted "
            "empty): nothing fires until `uno-schedule init-state`.",
            value=1 if view.state_lost() else 0,
        )
        yield GaugeMetricFamily(
            "uno_schedule_leader",
            "1 while this instance leads (fires jobs), 0 on a standby.",
            value=1 if view.leader() else 0,
        )
        nxt = GaugeMetricFamily(
            "uno_schedule_next_run_timestamp_seconds",
            "When each active schedule fires next (Unix time).",
            labels=["schedule"],
        )
        for name, when in _yielding(sorted(dict(view.next_runs()).items())):
            nxt.add_metric([name], when.timestamp())
        yield nxt
        running = GaugeMetricFamily(
            "uno_schedule_running_jobs", "Jobs running now, per queue.", labels=["queue"]
        )
        for queue, count in sorted(dict(view.running()).items()):
            running.add_metric([queue], count)
        yield running
        statuses = GaugeMetricFamily(
            "uno_schedule_schedules", "Schedules per status.", labels=["status"]
        )
        for status, count in sorted(dict(view.statuses()).items()):
            statuses.add_metric([status], count)
        yield statuses
        overdue = GaugeMetricFamily(
            "uno_schedule_overdue",
            "1 when a schedule with expect_success_within has not succeeded for that long.",
            labels=["schedule"],
        )
        for name, late in _yielding(sorted(dict(view.overdue()).items())):
            overdue.add_metric([name], 1 if late else 0)
        yield overdue


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` or ``[::1]:PORT`` too) as (host, port); empty host: all."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)

"""Prometheus metrics of a runner: the only module that imports ``prometheus_client``.

Two kinds of numbers, fed two ways so that the firing path pays next to nothing:

- what happens (runs by result, durations, fire lag, missed occurrences, last success):
  counters and histograms the run loop's observer bumps as runs start and end, a few
  microseconds each, never on the claim itself;
- what is (leader or standby, next due instant per schedule, running jobs per queue,
  schedules per status, overdue schedules): read from the run loop's memory when
  Prometheus scrapes, in the HTTP server's thread, without touching the state file.

The names are the contract of SPEC 6 (``uno_schedule_runs_total`` and
``uno_schedule_leader`` are stable); ``contrib/prometheus-alerts.yaml`` uses them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .model import RunRecord

__all__ = ["Metrics", "MetricsView", "parse_address"]

#: Fire lag: from a few milliseconds (the goal) to minutes (a catch-up after downtime).
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Job durations: a quick command to an hour-long batch job.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600)


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
    extra: list[Callable[[], Iterable[Any]]] = field(default_factory=list)


class _ViewCollector(Collector):
    def __init__(self, view: MetricsView) -> None:
        self.view = view

    def collect(self) -> Iterable[Any]:
        view = self.view
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
        for name, when in sorted(dict(view.next_runs()).items()):
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
        for name, late in sorted(dict(view.overdue()).items()):
            overdue.add_metric([name], 1 if late else 0)
        yield overdue


class Metrics:
    """One registry per runner (never the process-global one: a library user's own
    metrics stay theirs, and tests may make several)."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the output for nothing
        self.registry = CollectorRegistry(auto_describe=False)
        self.view = MetricsView()
        r = self.registry
        self.runs = Counter(
            "uno_schedule_runs",
            "Runs recorded, by schedule, result and trigger.",
            ["schedule", "result", "trigger"],
            registry=r,
        )
        self.duration = Histogram(
            "uno_schedule_run_duration_seconds",
            "How long runs took, by schedule.",
            ["schedule"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            "uno_schedule_fire_lag_seconds",
            "Start of a run minus its scheduled instant (scheduled and missed runs).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.missed = Counter(
            "uno_schedule_missed",
            "Occurrences recorded as missed, by schedule.",
            ["schedule"],
            registry=r,
        )
        self.last_success = Gauge(
            "uno_schedule_last_success_timestamp_seconds",
            "When each schedule last succeeded (Unix time), since this runner started.",
            ["schedule"],
            registry=r,
        )
        r.register(_ViewCollector(self.view))
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- fed by the run loop's observer ---------------------------------------------------

    def started(self, runs: Sequence[RunRecord], at: datetime) -> None:
        observe = self.lag.observe
        for run in runs:
            if run.trigger in ("schedule", "missed"):
                observe(max(0.0, (at - run.scheduled_time).total_seconds()))

    def finished(self, run: RunRecord, result: str, seconds: float | None, at: datetime) -> None:
        self.runs.labels(run.schedule, result, run.trigger).inc()
        if seconds is not None:
            self.duration.labels(run.schedule).observe(seconds)
        if result == "success":
            self.last_success.labels(run.schedule).set(at.timestamp())

    def recorded(self, run: RunRecord) -> None:
        """A final record without a job: a missed or skipped occurrence."""
        self.runs.labels(run.schedule, run.result, run.trigger).inc()
        if run.result == "missed":
            self.missed.labels(run.schedule).inc()

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
        """The exposition text, as a scrape would get it (tests, ``top``)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` or ``[::1]:PORT`` too) as (host, port); empty host: all."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)

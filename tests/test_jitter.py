"""Jitter: the distribution of random delays (a Kolmogorov-Smirnov test over 10,000
draws against the uniform law), the stable delays of ``jitter_fixed`` (hashed from the
name, as cron ``H`` is), and the run loop claiming on the nominal instant.
"""

from __future__ import annotations

import math
import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_loop import Harness, T, cron, run

from unoschedule.effective import draw_start
from unoschedule.model import ScheduleDefinition
from unoschedule.schedules import CronSchedule, Occurrence

DRAWS = 10_000
#: The Kolmogorov-Smirnov critical value at the 0.1% level, for large n: 1.949 / sqrt(n).
CRITICAL = 1.949 / math.sqrt(DRAWS)
NOMINAL = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def ks_statistic_against_uniform(samples: list[float]) -> float:
    """sup |F_n(x) - x| for samples in [0, 1): the two one-sided gaps at each sample."""
    ordered = sorted(samples)
    n = len(ordered)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(ordered))


def _fractions(rng: random.Random, spread: timedelta) -> list[float]:
    occurrence = Occurrence(NOMINAL, NOMINAL, spread)
    out = []
    for _ in range(DRAWS):
        start = draw_start(occurrence, rng)
        assert start is not None
        out.append((start - NOMINAL) / spread)
    return out


def test_random_delays_are_uniform_over_the_jitter_by_kolmogorov_smirnov() -> None:
    fractions = _fractions(random.Random(20261202), timedelta(minutes=5))
    assert all(0 <= f < 1 for f in fractions)
    assert ks_statistic_against_uniform(fractions) < CRITICAL


def test_the_ks_statistic_rejects_delays_that_are_not_uniform() -> None:
    """The test above has power: squared uniforms (piled up near 0) fail it."""
    rng = random.Random(1)
    assert ks_statistic_against_uniform([rng.random() ** 2 for _ in range(DRAWS)]) > CRITICAL


def _definition(name: str, **kw: object) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=name,
        schedule=CronSchedule("0 9 * * *"),
        command=("true",),
        **kw,  # type: ignore[arg-type]
    )


def test_fixed_jitter_is_the_name_hash_fraction_of_the_jitter_and_stable() -> None:
    for name in ("backup", "report", "sync-3"):
        definition = _definition(name, jitter=300.0, jitter_fixed=True)
        expected = int(300 * zlib.crc32(f"{name}\0jitter".encode()) / 2**32)
        runs = definition.timeline().take(NOMINAL - timedelta(seconds=1), 3)
        assert [r - (NOMINAL + timedelta(days=i)) for i, r in enumerate(runs)] == [
            timedelta(seconds=expected)
        ] * 3
        assert 0 <= expected < 300


def test_fixed_jitter_spreads_schedules_of_different_names() -> None:
    offsets = {
        _definition(f"job{i}", jitter=3600.0, jitter_fixed=True).timeline().next(NOMINAL)
        for i in range(50)
    }
    assert len(offsets) > 45


def test_next_runs_show_the_jittered_instant_or_the_window(tmp_path: Path) -> None:
    from unoschedule.config import load_config
    from unoschedule.scheduler import Scheduler

    def next_run_times(path: Path, name: str, count: int, after: datetime) -> list[str]:
        scheduler = Scheduler.from_config(load_config(path), state=str(tmp_path / "s.db"))
        try:
            return scheduler.next_run_times(name, count, after)
        finally:
            scheduler.close()

    path = tmp_path / "s.yaml"
    path.write_text(
        "schedules:\n"
        "  fixed: {schedule: '0 9 * * *', command: 'true', jitter: 5m, jitter_fixed: true}\n"
        "  spread: {schedule: '0 9 * * *', command: 'true', jitter: 5m}\n"
    )
    offset = int(300 * zlib.crc32(b"fixed\0jitter") / 2**32)
    fixed = next_run_times(path, "fixed", 2, NOMINAL - timedelta(seconds=1))
    at = NOMINAL + timedelta(seconds=offset)
    assert fixed == [
        at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    spread = next_run_times(path, "spread", 1, NOMINAL - timedelta(seconds=1))
    assert spread == ["2026-06-01T09:00:00Z/2026-06-01T09:05:00Z"]


def test_a_jittered_run_is_claimed_on_time_and_starts_after_its_delay(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("spread", "0 9 * * *", jitter=600.0)])

    async def go() -> None:
        loop = h.start()
        loop.rng = random.Random(7)
        delay = random.Random(7).random() * 600
        await h.at("2026-06-01T09:00:00Z")
        runs = h.store.history("spread", limit=10)
        assert [(r.scheduled_time, r.result) for r in runs] == [
            (T("2026-06-01T09:00:00Z"), "queued")
        ]
        assert runs[0].queued_at == T("2026-06-01T09:00:00Z") + timedelta(seconds=delay)
        assert h.executor.calls == []
        await h.at((runs[0].queued_at - timedelta(seconds=1)).isoformat())  # type: ignore[union-attr]
        assert h.executor.calls == []
        await h.at(runs[0].queued_at.isoformat())  # type: ignore[union-attr]
        assert len(h.executor.calls) == 1

    run(go)
    assert h.history("spread") == [("09:00", "schedule", 1, "success")]


def test_a_restart_during_the_delay_neither_redraws_nor_runs_twice(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("spread", "0 9 * * *", jitter=600.0)])

    async def go() -> None:
        first = h.start("a")
        first.rng = random.Random(3)
        await h.at("2026-06-01T09:00:00Z")
        (queued,) = h.store.history("spread", limit=10)
        due = queued.queued_at
        assert due is not None and due > T("2026-06-01T09:00:00Z")
        # the leader dies during the delay; another starts (and would draw otherwise)
        h.clock.set(T("2026-06-01T09:00:01Z"))
        second = h.start("b")
        second.rng = random.Random(99)
        await h.at("2026-06-01T09:00:02Z")
        assert h.executor.calls == []
        await h.at(due.isoformat())
        await h.at("2026-06-01T09:30:00Z")
        assert [c[:3] for c in h.executor.calls] == [("spread", T("2026-06-01T09:00:00Z"), 1)]
        (done,) = h.store.history("spread", limit=10)
        assert done.run_id == queued.run_id and done.started_at == due

    run(go)


def test_a_backfill_of_a_fixed_jitter_schedule_uses_the_nominal_instants() -> None:
    from unoschedule.backfill import occurrences

    definition = _definition("spread", jitter=300.0, jitter_fixed=True)
    found = occurrences(None, definition, NOMINAL, NOMINAL + timedelta(days=1), 10)
    assert found == [NOMINAL, NOMINAL + timedelta(days=1)]


def test_explain_says_each_occurrence_starts_within_its_random_jitter() -> None:
    from unoschedule.explain import explain

    definition = ScheduleDefinition(
        name="fleet-sync", schedule=CronSchedule("0 * * * *"), command="true", jitter=300.0
    )
    rows = explain(
        None,
        definition,
        T("2026-06-01T10:30:00Z"),
        T("2026-06-01T12:30:00Z"),
        T("2026-06-01T09:00:00Z"),
    )
    assert [row["scheduled_time"] for row in rows] == [
        "2026-06-01T11:00:00Z",
        "2026-06-01T12:00:00Z",
    ]
    assert all("random jitter up to 5m" in row["detail"] for row in rows)

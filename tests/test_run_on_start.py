"""``run_on_start: true``: one run when the scheduler first sees the schedule, never
again on a restart (the run is claimed under the instant it was first seen)."""

from __future__ import annotations

from pathlib import Path

from test_loop import Harness, T, cron, run

from unoschedule.explain import explain


def test_a_new_schedule_runs_once_at_start_and_not_again_after_a_restart(tmp_path: Path) -> None:
    h = Harness(
        tmp_path, [cron("warm-cache", "0 3 * * *", run_on_start=True), cron("plain", "0 3 * * *")]
    )

    async def go() -> None:
        h.start("a")
        await h.at("2026-06-01T09:00:00Z")
        h.clock.set(T("2026-06-01T09:05:00Z"))
        h.start("b")  # a restart
        await h.at("2026-06-01T09:05:00Z")
        h.clock.set(T("2026-06-01T09:10:00Z"))
        h.start("c")
        await h.at("2026-06-02T03:00:00Z")

    run(go)
    calls = sorted((c[0], c[1]) for c in h.executor.calls)
    assert calls == [
        ("plain", T("2026-06-02T03:00:00Z")),
        ("warm-cache", T("2026-06-01T08:59:00Z")),  # when the scheduler first saw it
        ("warm-cache", T("2026-06-02T03:00:00Z")),
    ]


def test_explain_lists_the_run_at_start_beside_the_occurrences(tmp_path: Path) -> None:
    h = Harness(tmp_path, [cron("warm-cache", "0 3 * * *", run_on_start=True)])

    async def go() -> None:
        h.start("a")
        await h.at("2026-06-01T09:00:00Z")

    run(go)
    definition = h.definitions["warm-cache"]
    rows = explain(
        h.store, definition, T("2026-06-01T00:00:00Z"), T("2026-06-01T10:00:00Z"), h.clock.now()
    )
    assert [(r["scheduled_time"], r["outcome"]) for r in rows] == [
        ("2026-06-01T03:00:00Z", "not_due"),  # the scheduler saw it later
        ("2026-06-01T08:59:00Z", "success"),  # when it first saw it
    ]
    assert "run_on_start" in rows[-1]["detail"]

"""The overlap policy as a pure rule (``overlap.decide`` and ``overlap.may_start``):
every policy against what is in flight, with no process and no clock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from unoschedule import Scheduler
from unoschedule.config.python_values import definition_from_values
from unoschedule.errors import ConfigErrors
from unoschedule.model import OVERLAPS, SchedulerOptions
from unoschedule.overlap import bound_by_policy, decide, may_start


@pytest.mark.parametrize("policy", OVERLAPS)
def test_an_occurrence_with_nothing_in_flight_starts_under_every_policy(policy: str) -> None:
    assert decide(policy, [], 0).action == "start"  # type: ignore[arg-type]


def test_allow_all_starts_beside_running_and_waiting_runs() -> None:
    assert decide("allow_all", ["r1", "r2"], 3).action == "start"
    assert may_start("allow_all", 5)


def test_skip_records_the_occurrence_skipped_naming_the_run_still_running() -> None:
    decision = decide("skip", ["r1", "r2"], 0)
    assert decision.action == "skip"
    assert decision.reason == "skipped: previous run r2 still running (overlap: skip)"


def test_skip_also_skips_while_a_claimed_run_waits_to_start() -> None:
    assert decide("skip", [], 1).action == "skip"


def test_buffer_one_holds_one_run_and_skips_the_next_while_that_one_waits() -> None:
    first = decide("buffer_one", ["r1"], 0)
    assert first.action == "buffer"
    assert first.reason == "buffered: waits for run r1 (overlap: buffer_one)"
    second = decide("buffer_one", ["r1"], 1)
    assert second.action == "skip"
    assert second.reason is not None and "(overlap: buffer_one)" in second.reason


def test_buffer_all_holds_every_occurrence_however_many_wait() -> None:
    for waiting in (0, 1, 50):
        decision = decide("buffer_all", ["r1"], waiting)
        assert decision.action == "buffer"
        assert decision.reason == "buffered: waits for run r1 (overlap: buffer_all)"


def test_cancel_other_cancels_every_running_run_then_starts() -> None:
    decision = decide("cancel_other", ["r1", "r2"], 0)
    assert (decision.action, decision.cancel) == ("cancel", ("r1", "r2"))
    assert decision.reason is not None and "(overlap: cancel_other)" in decision.reason
    assert decide("cancel_other", [], 1).action == "start"  # nothing running to cancel


@pytest.mark.parametrize("policy", ["skip", "buffer_one", "buffer_all", "cancel_other"])
def test_a_held_run_starts_only_when_no_run_of_its_schedule_runs(policy: str) -> None:
    assert may_start(policy, 0)  # type: ignore[arg-type]
    assert not may_start(policy, 1)  # type: ignore[arg-type]


def test_a_manual_trigger_is_not_held_by_the_policy_but_scheduled_runs_are() -> None:
    assert not bound_by_policy("manual")
    assert all(bound_by_policy(t) for t in ("schedule", "missed", "retry", "backfill"))


def test_the_library_reads_overlap_and_unique_as_the_file_does() -> None:
    values = {"schedule": "* * * * *", "command": "true"}
    assert definition_from_values("a", {**values, "unique": True}).overlap == "skip"
    assert definition_from_values("a", {**values, "overlap": "buffer_all"}).overlap == "buffer_all"
    with pytest.raises(ConfigErrors, match="overlap must be one of skip, buffer_one"):
        definition_from_values("a", {**values, "overlap": "queue"})
    with pytest.raises(ConfigErrors, match="unique: true is overlap: skip"):
        definition_from_values("a", {**values, "unique": True, "overlap": "allow_all"})


def test_a_concurrency_group_without_a_limit_is_refused_by_the_library_too() -> None:
    values = {"schedule": "* * * * *", "command": "true", "concurrency_group": "warehouse"}
    with pytest.raises(ConfigErrors, match="concurrency_group 'warehouse' has no limit"):
        definition_from_values("a", values)
    options = SchedulerOptions(groups={"warehouse": 2})
    assert definition_from_values("a", values, options=options).concurrency_group == "warehouse"


def test_validate_points_at_a_concurrency_group_without_a_limit(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(
        "scheduler:\n"
        "  groups: {warehouse: 2}\n"
        "schedules:\n"
        "  load:\n"
        '    schedule: "* * * * *"\n'
        '    command: "true"\n'
        "    concurrency_group: warehose\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml"), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "schedules.yaml:7:24: concurrency_group 'warehose' has no limit" in done.stderr
    assert "did you mean 'warehouse'?" in done.stderr


def test_the_time_runs_waited_for_their_group_is_a_histogram_per_group() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from unoschedule.metrics import Metrics

    metrics = Metrics()
    metrics.group_waited("warehouse", 0.0)
    metrics.group_waited("warehouse", 3.0)
    families = {f.name: f for f in text_string_to_metric_families(metrics.text())}
    family = families["uno_schedule_group_wait_seconds"]
    assert family.type == "histogram"
    values = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert values[("uno_schedule_group_wait_seconds_count", None)] == 2
    assert values[("uno_schedule_group_wait_seconds_sum", None)] == 3.0
    assert values[("uno_schedule_group_wait_seconds_bucket", "1.0")] == 1
    assert values[("uno_schedule_group_wait_seconds_bucket", "5.0")] == 2


def test_the_library_takes_overlap_and_groups_with_the_files_checks(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = Scheduler(state=tmp_path / "state.db", groups={"warehouse": 2})
        try:
            await scheduler.schedule(
                command=["true"],
                schedule="0 * * * *",
                name="load",
                overlap="buffer_one",
                concurrency_group="warehouse",
            )
            stored = await scheduler.get_schedule_by_name("load")
            assert (stored.overlap, stored.concurrency_group) == ("buffer_one", "warehouse")
            await scheduler.update_schedule("load", overlap="cancel_other")
            stored = await scheduler.get_schedule_by_name("load")
            assert (stored.overlap, stored.concurrency_group) == ("cancel_other", "warehouse")
            with pytest.raises(ConfigErrors, match="concurrency_group 'lake' has no limit"):
                await scheduler.update_schedule("load", concurrency_group="lake")
            with pytest.raises(ConfigErrors, match="overlap must be one of"):
                await scheduler.update_schedule("load", overlap="sometimes")
        finally:
            scheduler.close()

    asyncio.run(go())

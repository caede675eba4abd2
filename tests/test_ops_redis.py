"""Operating a runner on Redis state: retention, explain and backfill through real
``uno-schedule`` processes with ``--state redis://...``, as test_ops does them on SQLite
(every command works the same on both)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from test_redis_workers import Procs, wait_until


@pytest.fixture
def procs(tmp_path: Path, redis_server: RedisServer) -> Iterator[Procs]:
    p = Procs(tmp_path, redis_server.url)
    yield p
    p.close()


def configure(procs: Procs, body: str) -> None:
    (procs.workdir / "schedules.yaml").write_text(textwrap.dedent(body))


def as_json(procs: Procs, *args: str) -> Any:
    return json.loads(procs.cli(*args, "--json"))


@pytest.mark.slow
def test_keep_runs_holds_redis_history_of_a_live_every_second_schedule(procs: Procs) -> None:
    configure(
        procs,
        """
        scheduler:
          metrics_enabled: false
          keep_runs: 5
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
        """,
    )
    runner = procs.start("runner", "run")
    wait_until(lambda: "ready:" in procs.log("runner"), 30, "the runner")
    seen: list[int] = []

    def enough() -> bool:
        status = as_json(procs, "status", "tick")
        seen.append(len(as_json(procs, "history", "tick")))
        return bool(status["run_count"] >= 10)

    wait_until(enough, timeout=40, what="ten runs")
    assert max(seen) <= 6, seen
    runner.terminate()
    assert runner.wait(30) == 0
    status = as_json(procs, "status", "tick")
    assert status["success_count"] == status["run_count"] >= 10  # totals kept
    assert len(as_json(procs, "history", "tick")) <= 6


@pytest.mark.slow
def test_explain_and_backfill_over_redis_state(procs: Procs) -> None:
    configure(
        procs,
        """
        scheduler:
          metrics_enabled: false
          shutdown_grace: 5
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
          minutely:
            schedule: "* * * * *"
            command: "echo $UNO_SCHEDULED_TIME $UNO_TRIGGER >> minutes.log"
            shell: true
        """,
    )
    runner = procs.start("runner", "run")
    wait_until(lambda: "ready:" in procs.log("runner"), 30, "the runner")
    # A run of tick is seen running for a moment before it succeeds (more so on a busy
    # machine): wait for one that ended.
    rows = wait_until(
        lambda: [
            r
            for r in as_json(procs, "explain", "tick", "--since", "20s")
            if r["run_id"] and r["outcome"] != "running"
        ],
        what="explain to show an ended run of tick",
    )
    assert {"scheduled_time", "outcome", "run_id", "detail"} <= set(rows[0])
    assert rows[0]["outcome"] == "success"
    run = as_json(procs, "history", "tick")
    assert rows[0]["run_id"] in {r["run_id"] for r in run}

    # One window for both calls: "3m" ago, read at each call, moves when a minute turns
    # between them. Off the minute (never on one), it holds three minutely instants.
    end = datetime.now(UTC)
    if end.second == end.microsecond == 0:
        end -= timedelta(microseconds=1)
    start = end - timedelta(minutes=3)
    window = ["--from", start.isoformat(), "--to", end.isoformat()]
    done = as_json(procs, "backfill", "minutely", *window)
    queued = done["queued"]
    assert len(queued) == 3, done
    again = as_json(procs, "backfill", "minutely", *window)
    first = {q["scheduled_time"] for q in queued}
    # given twice: nothing runs twice
    assert again["queued"] == []
    assert first == set(again["already_queued"])

    def backfilled() -> list[dict[str, Any]]:
        runs = [r for r in as_json(procs, "history", "minutely") if r["trigger"] == "backfill"]
        return runs if runs and all(r["result"] == "success" for r in runs) else []

    runs = wait_until(backfilled, what="the backfill runs")
    assert first <= {r["scheduled_time"] for r in runs}
    lines = (procs.workdir / "minutes.log").read_text().split("\n")
    for q in queued:
        assert lines.count(f"{q['scheduled_time']} backfill") == 1
    explained = as_json(procs, "explain", "minutely", "--since", "4m")
    outcomes = {r["scheduled_time"]: r["outcome"] for r in explained}
    for q in queued:  # explain finds the backfilled runs at their own instants
        assert outcomes[q["scheduled_time"]] == "success", explained
    runner.terminate()
    assert runner.wait(30) == 0


@pytest.mark.slow
def test_a_leaders_expiry_on_redis_runs_nothing_that_must_stay_off(procs: Procs) -> None:
    configure(
        procs,
        """
        scheduler:
          metrics_enabled: false
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
          held: {schedule: {every: 1s}, command: "true", paused: true}
          off: {schedule: {every: 1s}, command: "true", enabled: false}
          fixing: {schedule: {every: 1s}, command: "true"}
        """,
    )
    runner = procs.start("runner", "run")
    wait_until(lambda: "ready:" in procs.log("runner"), 30, "the runner")
    procs.cli("pause", "fixing", "--reason", "until the fix")
    before = len(as_json(procs, "history", "fixing"))  # it may fire before the pause lands
    for name in ("held", "off", "fixing"):
        procs.cli("pause", name, "--reason", "window", "--until", "2s")
    wait_until(
        lambda: all(r["paused_until"] is None for r in as_json(procs, "list")),
        30,
        "the timed pauses to end",
    )
    runs = as_json(procs, "status", "tick")["run_count"]
    wait_until(
        lambda: as_json(procs, "status", "tick")["run_count"] >= runs + 3,
        30,
        "three more ticks after the expiry",
    )
    rows = {r["name"]: r for r in as_json(procs, "list")}
    assert [rows[n]["status"] for n in ("held", "off", "fixing")] == [
        "paused", "disabled", "paused",
    ]  # fmt: skip
    assert rows["fixing"]["paused_reason"] == "until the fix"
    assert as_json(procs, "history", "held") == as_json(procs, "history", "off") == []
    assert len(as_json(procs, "history", "fixing")) == before
    runner.terminate()
    assert runner.wait(30) == 0

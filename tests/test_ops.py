"""Operating a runner: metrics, health, retention, pauses with a reason, explain,
backfill, logs, dead-man alarms.

Live-runner tests use real ``uno-schedule run`` processes (helpers from test_service)
and wait on observable conditions with deadlines; the decisions themselves are tested
under an injected clock (the ``Harness`` of test_loop).
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_service import Runner, uno_cli, wait_until, write_config

from unoschedule.model import RunRecord
from unoschedule.store.sqlite import SQLiteStorage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args], capture_output=True, text=True, timeout=60, cwd=workdir
    )


def T(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- metrics ------------------------------------------------------------------------------


@pytest.mark.slow
def test_metrics_of_a_live_leader_and_its_standby(tmp_path: Path) -> None:
    leader_port, standby_port = free_port(), free_port()
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_address: 127.0.0.1:{leader_port}
        schedules:
          tick:
            schedule: {{every: 1s}}
            command: "true"
          broken:
            schedule: {{every: 1s}}
            command: ["sh", "-c", "exit 3"]
        """,
    )
    leader = Runner(tmp_path, "leader")
    standby = None
    try:
        leader.wait_log("ready:")

        def counted() -> dict[str, float] | None:
            values = samples(scrape(leader_port))
            ok = 'uno_schedule_runs_total{result="success",schedule="tick",trigger="schedule"}'
            bad = 'uno_schedule_runs_total{result="error",schedule="broken",trigger="schedule"}'
            return values if values.get(ok, 0) >= 2 and values.get(bad, 0) >= 2 else None

        values = wait_until(counted, what="two runs of each schedule in /metrics")
        assert values["uno_schedule_leader"] == 1
        assert values["uno_schedule_fire_lag_seconds_count"] >= 4
        assert values['uno_schedule_run_duration_seconds_count{schedule="tick"}'] >= 2
        assert values['uno_schedule_schedules{status="active"}'] == 2
        assert 'uno_schedule_last_success_timestamp_seconds{schedule="tick"}' in values
        assert 'uno_schedule_last_success_timestamp_seconds{schedule="broken"}' not in values
        assert values['uno_schedule_next_run_timestamp_seconds{schedule="tick"}'] > 0
        assert 'uno_schedule_running_jobs{queue="scheduled"}' in values

        # A standby on the same state (its own copy of the file, on its own port) serves
        # too, and says that it does not lead.
        other = tmp_path / "standby"
        other.mkdir()
        text = (tmp_path / "schedules.yaml").read_text()
        (other / "schedules.yaml").write_text(text.replace(str(leader_port), str(standby_port)))
        standby = _runner_on(other, tmp_path / "state.db")
        wait_until(lambda: "uno_schedule_leader 0.0" in scrape(standby_port), what="standby")
    finally:
        leader.close()
        if standby is not None:
            standby.close()


def _runner_on(workdir: Path, state: Path) -> Runner:
    runner = Runner.__new__(Runner)
    runner.log_path = workdir / "run.log"
    runner.log = open(runner.log_path, "w")  # noqa: SIM115 - closed by close()
    runner.proc = subprocess.Popen(
        [*uno_cli(workdir)[:-1], str(state), "run"],
        cwd=workdir,
        stdout=runner.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return runner


@pytest.mark.slow
def test_metrics_can_be_turned_off_and_a_taken_address_is_only_a_warning(
    tmp_path: Path,
) -> None:
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_address: 127.0.0.1:{port}
        schedules:
          tick: {{schedule: {{every: 1s}}, command: "true"}}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        assert f"metrics: cannot listen on 127.0.0.1:{port}" in runner.text()
        wait_until(lambda: cli(tmp_path, "history", "tick", "--json").stdout.count("success"))
    finally:
        runner.close()
        blocker.close()
    other = tmp_path / "off"
    other.mkdir()
    write_config(
        other,
        f"""
        scheduler:
          metrics_enabled: false
          metrics_address: 127.0.0.1:{port}
        schedules:
          tick: {{schedule: {{every: 1s}}, command: "true"}}
        """,
    )
    runner = Runner(other, "b")
    try:
        runner.wait_log("ready:")
        assert scrape(port) == ""
        assert "/metrics" not in runner.text()
    finally:
        runner.close()


# -- retention ----------------------------------------------------------------------------


def _finished(name: str, instant: datetime, result: str = "success") -> RunRecord:
    return RunRecord(
        run_id=f"{name}-{instant.timestamp():.0f}",
        schedule=name,
        scheduled_time=instant,
        result=result,  # type: ignore[arg-type]
        started_at=instant,
        finished_at=instant + timedelta(seconds=2),
        duration=2.0,
    )


def _fill(store: SQLiteStorage, name: str, start: datetime, count: int, every: int = 60) -> None:
    from unoschedule.abc import Claim

    lease = store.acquire_lease("t", 300, start)
    assert lease is not None
    claims = []
    for i in range(count):
        when = start + timedelta(seconds=every * i)
        result = "error" if i % 4 == 0 else "success"
        claims.append(Claim(_finished(name, when, result), f"{name}@{i}", None))
    assert all(store.claim_many(claims, epoch=lease.epoch))


def test_pruning_keeps_the_newest_runs_and_the_statistics_totals(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "state.db")
    start = T("2026-01-01T00:00:00Z")
    _fill(store, "a", start, 1200)
    _fill(store, "b", start, 10)
    before = store.run_counts()
    assert before["a"]["run_count"] == 1200 and before["a"]["error_count"] == 300

    deleted = 0
    while batch := store.prune_runs("a", keep=1000, before=None, limit=150).run_ids:
        deleted += len(batch)
    assert deleted == 200
    kept = store.history("a", limit=5000)
    assert len(kept) == 1000
    assert min(r.scheduled_time for r in kept) == start + timedelta(minutes=200)
    assert store.run_counts() == before  # totals survive the pruning
    assert store.run_totals() == {"a": 1000, "b": 10}

    # By age: everything scheduled before the cut goes, whatever the schedule.
    cut = start + timedelta(minutes=1100)
    while store.prune_runs(None, keep=None, before=cut, limit=64).run_ids:
        pass
    assert store.run_totals() == {"a": 100}
    assert store.run_counts() == before
    store.close()


def test_pruning_never_deletes_a_run_that_is_still_running(tmp_path: Path) -> None:
    store = SQLiteStorage(tmp_path / "state.db")
    start = T("2026-01-01T00:00:00Z")
    _fill(store, "a", start, 5)
    store.start_run("a-1767225600", start)  # the oldest is running again (a retry)
    store.prune_runs("a", keep=1, before=None, limit=100)
    assert sorted(r.result for r in store.history("a")) == ["error", "running"]  # newest, oldest
    store.close()


@pytest.mark.slow
def test_keep_runs_holds_history_of_a_live_every_second_schedule(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
          keep_runs: 5
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        seen = []

        def enough() -> bool:
            status = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)
            history = json.loads(cli(tmp_path, "history", "tick", "--json").stdout)
            seen.append(len(history))
            return bool(status["run_count"] >= 10)

        wait_until(enough, timeout=40, what="ten runs")
        assert max(seen) <= 6, seen
    finally:
        runner.close()
    status = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)
    assert status["success_count"] == status["run_count"] >= 10  # totals kept
    assert len(json.loads(cli(tmp_path, "history", "tick", "--json").stdout)) <= 6

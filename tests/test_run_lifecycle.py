"""A run's life from queued to settled, the same whoever runs it: a foreground
``trigger --wait`` is fenced like a leader's run (no scheduler started meanwhile starts
it again), and ``--wait`` / ``run_and_wait`` wait for the last attempt, retries included,
whether the job runs here or under a leader.

Process tests drive the real CLI; waits are on observable conditions with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_service import Runner, runners, runs, uno_cli, wait_until, write_config

from unoschedule import Scheduler

__all__ = ["runners"]  # the fixture, imported for its name

FLAKY = """
    schedules:
      flaky:
        schedule: {every: 100d}
        shell: true
        command: 'echo "$UNO_ATTEMPT" >> {log}; [ "$UNO_ATTEMPT" -ge 3 ]'
        max_retries: 2
        retry_delay: 0.1s
      hopeless:
        schedule: {every: 100d}
        shell: true
        command: 'echo "$UNO_ATTEMPT" >> {log}; echo "attempt $UNO_ATTEMPT failed"; exit 4'
        max_retries: 1
        retry_delay: 0.1s
"""


def lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args], cwd=workdir, capture_output=True, text=True, timeout=60
    )


def attempts_of(workdir: Path, schedule: str) -> list[tuple[int, str, str]]:
    return [
        (r["attempt"], r["trigger"], r["result"])
        for r in runs(workdir)
        if r["schedule"] == schedule
    ]


@pytest.mark.slow
def test_a_foreground_trigger_wait_is_not_started_again_by_a_scheduler_started_meanwhile(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    starts = tmp_path / "starts.log"
    write_config(
        tmp_path,
        f"""
        schedules:
          slow:
            schedule: {{every: 100d}}
            shell: true
            command: 'echo "$UNO_RUN_ID" >> {starts}; sleep 4'
        """,
    )
    waiting = subprocess.Popen(
        [*uno_cli(tmp_path), "trigger", "slow", "--wait"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: lines(starts), 20, "the job started in the foreground")
        runner = runners()
        runner.wait_log("ready")
        assert waiting.poll() is None, "the job ended before the scheduler was up"
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    (run_id,) = out.split()
    time.sleep(0.5)  # the scheduler ticks a few times more: nothing starts
    assert runner.term() == 0
    assert lines(starts) == [run_id]  # started once, by the foreground
    (only,) = [r for r in runs(tmp_path) if r["schedule"] == "slow"]
    assert (only["run_id"], only["result"], only["epoch"]) == (run_id, "success", 0)


@pytest.mark.slow
def test_trigger_wait_without_a_scheduler_runs_the_retries_here_and_reports_each_attempt(
    tmp_path: Path,
) -> None:
    log = tmp_path / "attempts.log"
    write_config(tmp_path, FLAKY.replace("{log}", str(log)))
    done = cli(tmp_path, "trigger", "flaky", "--wait")
    assert done.returncode == 0, done.stderr
    assert lines(log) == ["1", "2", "3"]
    assert "attempt 1: error" in done.stderr and "attempt 2: error" in done.stderr
    assert "attempt 3: success" in done.stderr
    assert attempts_of(tmp_path, "flaky") == [
        (1, "manual", "error"),
        (2, "retry", "error"),
        (3, "retry", "success"),
    ]
    failed = cli(tmp_path, "trigger", "hopeless", "--wait", "--json")
    assert failed.returncode == 1
    record = json.loads(failed.stdout)
    assert (record["attempt"], record["result"]) == (2, "error")
    assert [(a["attempt"], a["result"]) for a in record["attempts"]] == [(1, "error"), (2, "error")]


@pytest.mark.slow
def test_trigger_wait_through_a_running_scheduler_waits_for_the_last_attempt(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    log = tmp_path / "attempts.log"
    write_config(tmp_path, FLAKY.replace("{log}", str(log)))
    runner = runners()
    runner.wait_log("ready")
    done = cli(tmp_path, "trigger", "flaky", "--wait")
    assert done.returncode == 0, done.stderr
    assert lines(log) == ["1", "2", "3"]
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]
    failed = cli(tmp_path, "trigger", "hopeless", "--wait")
    assert failed.returncode == 1
    assert "attempt 2: error" in failed.stderr and "attempt 2 failed" in failed.stderr
    assert [a for a in attempts_of(tmp_path, "hopeless")] == [
        (1, "manual", "error"),
        (2, "retry", "error"),
    ]
    assert runner.term() == 0


def test_run_and_wait_returns_the_last_attempt_here_and_through_a_leader(tmp_path: Path) -> None:
    log = tmp_path / "attempts.log"
    command = f'echo "$UNO_ATTEMPT" >> {log}; [ "$UNO_ATTEMPT" -ge 3 ]'
    handled: list[str] = []

    async def go() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        scheduler.on_schedule_error(lambda name, exc: handled.append(name))
        await scheduler.schedule(
            command=command,
            shell=True,
            schedule="0 0 1 1 *",
            name="flaky",
            max_retries=2,
            retry_delay=0.05,
        )
        alone = await scheduler.run_and_wait("flaky")
        assert (alone["attempt"], alone["result"]) == (3, "success")
        await scheduler.start()
        heard: list[dict[str, Any]] = []
        led = await asyncio.wait_for(scheduler.run_and_wait("flaky", on_attempt=heard.append), 30)
        assert (led["attempt"], led["result"], led["trigger"]) == (3, "success", "retry")
        assert [(r["attempt"], r["result"]) for r in heard] == [
            (1, "error"),
            (2, "error"),
            (3, "success"),
        ]
        await scheduler.update_schedule("flaky", max_retries=1)
        failed = await asyncio.wait_for(scheduler.run_and_wait("flaky"), 30)
        assert (failed["attempt"], failed["result"]) == (2, "error")
        await scheduler.shutdown()

    asyncio.run(go())
    assert lines(log) == ["1", "2", "3"] * 2 + ["1", "2"]
    assert handled == ["flaky"]  # once, after the last attempt of the run that failed


@pytest.mark.slow
def test_a_foreground_run_stopped_with_ctrl_c_is_recorded_interrupted_and_its_job_stopped(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids.log"
    write_config(
        tmp_path,
        f"""
        schedules:
          slow:
            schedule: {{every: 100d}}
            shell: true
            command: 'echo $$ >> {pids}; sleep 60'
        """,
    )
    waiting = subprocess.Popen(
        [*uno_cli(tmp_path), "trigger", "slow", "--wait"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: lines(pids), 20, "the job started in the foreground")
        waiting.send_signal(signal.SIGINT)
        waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode != 0
    (job,) = lines(pids)
    wait_until(lambda: not Path(f"/proc/{job}").exists(), 10, "the job stopped")
    (only,) = [r for r in runs(tmp_path) if r["schedule"] == "slow"]
    assert only["result"] == "interrupted"

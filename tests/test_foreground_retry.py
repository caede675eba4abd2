"""The retry of a foreground ``trigger --wait`` (no scheduler running) lives in the state.

A failed attempt with retries left queues the next one in the transaction that records
its end, as the run loop does; the waiting process then starts that queued attempt
itself when it is due, claimed against any leader (exactly one of them runs it). So a
process killed while it waits for the retry delay loses nothing: the next leader runs
the attempt. Each front is exercised: the CLI, and the library's ``run_and_wait``.

These tests are about processes, so they use real ones and wait on observable
conditions (a line of output, a row in the state) with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_service import Runner, runners, runs, uno_cli, wait_until, write_config

from unoschedule import Scheduler
from unoschedule.scheduler import STOPPED_HERE

__all__ = ["runners"]  # the fixture, imported for its name

pytestmark = pytest.mark.slow

#: Fails its first attempt and succeeds its second, each attempt noted in ``{log}``; the
#: retry delay leaves time to kill the waiting process, or to start a leader, meanwhile.
FLAKY = """
    schedules:
      flaky:
        schedule: {every: 100d}
        shell: true
        command: 'echo "$UNO_ATTEMPT" >> {log}; [ "$UNO_ATTEMPT" -ge 2 ]'
        max_retries: 1
        retry_delay: {delay}s
"""


def lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def flaky(workdir: Path, delay: float) -> Path:
    log = workdir / "attempts.log"
    write_config(workdir, FLAKY.replace("{log}", str(log)).replace("{delay}", f"{delay:g}"))
    return log


def attempts(workdir: Path) -> list[tuple[int, str, str]]:
    return [(r["attempt"], r["trigger"], r["result"]) for r in runs(workdir)]


def waiting_trigger(workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*uno_cli(workdir), "trigger", "flaky", "--wait"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(stream: Any, needle: str, proc: subprocess.Popen[str]) -> list[str]:
    """The lines of ``stream`` up to the first one holding ``needle`` (the process must
    print it: a broken build fails here, at the test's timeout, with what it printed)."""
    seen: list[str] = []
    while True:
        line = stream.readline()
        if not line:
            proc.wait(10)
            raise AssertionError(f"{needle!r} never printed; printed {seen}")
        seen.append(line.rstrip("\n"))
        if needle in line:
            return seen


def kill_during_the_delay(proc: subprocess.Popen[str], attempt_ended: str, stream: Any) -> None:
    """SIGKILL ``proc`` as soon as it says the first attempt ended (it then waits the
    retry delay): like a power cut, nothing of it runs after."""
    read_until(stream, attempt_ended, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def retry_of(workdir: Path) -> dict[str, Any]:
    """The row of attempt 2 (an empty one until it is queued)."""
    return next((r for r in runs(workdir) if r["attempt"] == 2), {"epoch": 0})


def assert_attempt_two_waits_queued(workdir: Path) -> None:
    assert attempts(workdir) == [(1, "manual", "error"), (2, "retry", "queued")], (
        "the retry of the killed process is not in the state"
    )
    (second,) = [r for r in runs(workdir) if r["attempt"] == 2]
    assert second["epoch"] == 0  # no leader's yet: the next one takes it


def test_a_trigger_wait_killed_during_its_retry_delay_leaves_the_retry_to_the_next_leader(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    log = flaky(tmp_path, 3)
    waiting = waiting_trigger(tmp_path)
    try:
        kill_during_the_delay(waiting, "attempt 1: error", waiting.stderr)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert lines(log) == ["1"]
    assert_attempt_two_waits_queued(tmp_path)
    runner = runners()
    wait_until(lambda: lines(log) == ["1", "2"], 30, "the leader ran attempt 2")
    wait_until(lambda: attempts(tmp_path)[-1][2] == "success", 10, "attempt 2 recorded")
    time.sleep(0.5)  # the leader ticks a few times more: nothing starts again
    assert runner.term() == 0
    assert lines(log) == ["1", "2"]
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "success")]
    (second,) = [r for r in runs(tmp_path) if r["attempt"] == 2]
    assert second["epoch"] > 0  # run by the leader


def test_a_trigger_wait_runs_its_queued_retry_itself_when_no_leader_takes_it(
    tmp_path: Path,
) -> None:
    log = flaky(tmp_path, 0.2)
    done = subprocess.run(
        [*uno_cli(tmp_path), "trigger", "flaky", "--wait"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert lines(log) == ["1", "2"]
    assert [line.split(" in ")[0] for line in done.stderr.splitlines()] == [
        "attempt 1: error",
        "attempt 2: success",
    ]
    first, second = runs(tmp_path)
    assert done.stdout.split() == [first["run_id"]]  # the run id, as attempt 1 starts
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "success")]
    assert second["epoch"] == 0  # run here, not handed to any leader
    assert second["instance_id"] == first["instance_id"]  # by the same process


def test_a_trigger_wait_that_stops_for_good_exits_1_with_every_attempt_in_its_json(
    tmp_path: Path,
) -> None:
    log = tmp_path / "attempts.log"
    write_config(
        tmp_path,
        f"""
        schedules:
          hopeless:
            schedule: {{every: 100d}}
            shell: true
            command: 'echo "$UNO_ATTEMPT" >> {log}; exit 4'
            max_retries: 1
            retry_delay: 0.1s
        """,
    )
    done = subprocess.run(
        [*uno_cli(tmp_path), "trigger", "hopeless", "--wait", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert (record["attempt"], record["result"], record["trigger"]) == (2, "error", "retry")
    assert [(a["attempt"], a["result"]) for a in record["attempts"]] == [(1, "error"), (2, "error")]
    assert lines(log) == ["1", "2"]
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "error")]


def test_a_leader_started_while_a_trigger_wait_retry_is_queued_runs_it_and_only_it(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The leader takes the queued retry before it is due (the waiting process is
    frozen until it did); the waiting process finds it taken when it is due, leaves it
    to the leader and reports its end all the same."""
    log = flaky(tmp_path, 2)
    waiting = waiting_trigger(tmp_path)
    try:
        assert waiting.stderr is not None
        read_until(waiting.stderr, "attempt 1: error", waiting)
        waiting.send_signal(signal.SIGSTOP)
        runner = runners()
        wait_until(lambda: retry_of(tmp_path)["epoch"] > 0, 30, "the leader took attempt 2")
        waiting.send_signal(signal.SIGCONT)
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.send_signal(signal.SIGCONT)
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "attempt 2: success" in err
    assert lines(log) == ["1", "2"]  # attempt 2 ran once
    time.sleep(0.5)  # the leader ticks a few times more: nothing starts again
    assert runner.term() == 0
    assert lines(log) == ["1", "2"]
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "success")]
    first, second = runs(tmp_path)
    assert out.split() == [first["run_id"]]
    assert second["epoch"] > 0  # the leader's


def test_a_trigger_wait_stopped_with_ctrl_c_during_its_retry_delay_stops_the_retry_too(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """Ctrl-C stops the run as it stops an attempt that runs: the queued retry is
    recorded stopped, and no leader runs it later."""
    log = flaky(tmp_path, 3)
    waiting = waiting_trigger(tmp_path)
    try:
        assert waiting.stderr is not None
        read_until(waiting.stderr, "attempt 1: error", waiting)
        waiting.send_signal(signal.SIGINT)
        waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode != 0
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "interrupted")]
    assert runs(tmp_path)[1]["error"] == STOPPED_HERE
    runner = runners()
    runner.wait_log("ready")
    time.sleep(3.5)  # past the retry's due instant: the leader starts nothing
    assert runner.term() == 0
    assert lines(log) == ["1"]


# -- the library front --------------------------------------------------------------------

#: ``run_and_wait`` in a process of its own, printing each attempt as it ends.
LIBRARY_WAIT = """
import asyncio, sys
from unoschedule import Scheduler
from unoschedule.scheduler import STOPPED_HERE

async def main() -> None:
    scheduler = Scheduler(storage=sys.argv[1])
    await scheduler.schedule(
        command='echo "$UNO_ATTEMPT" >> ' + sys.argv[2] + '; [ "$UNO_ATTEMPT" -ge 2 ]',
        shell=True, schedule="0 0 1 1 *", name="flaky", max_retries=1,
        retry_delay=float(sys.argv[3]),
    )
    def heard(record):
        print("attempt", record["attempt"], record["result"], flush=True)
    last = await scheduler.run_and_wait("flaky", on_attempt=heard)
    print("last", last["attempt"], last["result"], flush=True)

asyncio.run(main())
"""


def library_wait(workdir: Path, log: Path, delay: float) -> subprocess.Popen[str]:
    script = workdir / "wait.py"
    script.write_text(textwrap.dedent(LIBRARY_WAIT))
    state = workdir / "state.db"
    return subprocess.Popen(
        [sys.executable, str(script), str(state), str(log), f"{delay:g}"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_run_and_wait_killed_during_its_retry_delay_leaves_the_retry_to_the_next_leader(
    tmp_path: Path,
) -> None:
    log = tmp_path / "attempts.log"
    waiting = library_wait(tmp_path, log, 3)
    try:
        kill_during_the_delay(waiting, "attempt 1 error", waiting.stdout)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert lines(log) == ["1"]
    assert_attempt_two_waits_queued(tmp_path)

    async def lead() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.start()
        try:
            deadline = time.monotonic() + 30
            while lines(log) != ["1", "2"] or attempts(tmp_path)[-1][2] != "success":
                assert time.monotonic() < deadline, f"attempt 2 not run: {attempts(tmp_path)}"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # a few ticks more: nothing starts again
        finally:
            await scheduler.shutdown()

    asyncio.run(lead())
    assert lines(log) == ["1", "2"]
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "success")]


def test_run_and_wait_without_a_leader_runs_its_queued_retry_itself(tmp_path: Path) -> None:
    log = tmp_path / "attempts.log"
    waiting = library_wait(tmp_path, log, 0.2)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.splitlines() == ["attempt 1 error", "attempt 2 success", "last 2 success"]
    assert attempts(tmp_path) == [(1, "manual", "error"), (2, "retry", "success")]
    assert runs(tmp_path)[1]["epoch"] == 0  # run here, claimed as a foreground run

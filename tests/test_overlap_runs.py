"""Overlap policies and concurrency groups with real ``uno-schedule run`` processes.

Each schedule fires every second and its job sleeps 2.5 s, so that every policy meets
a run still in flight. The jobs write their own start and end stamps; what the runner
decided is read back from ``history --json``. Waits are on observable conditions with
a deadline; the deadlines only bound how long a broken build takes to fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from redis_server import unique_prefix
from test_service import Runner, runners, uno_cli, wait_until, write_config

pytestmark = pytest.mark.slow

__all__ = ["runners"]  # the fixture, imported for its name

#: A job that stamps its start and end (with its run id) and sleeps 2.5 s in between.
JOB = (
    'command: "echo start $UNO_RUN_ID $(date +%s.%N) >> stamps; sleep 2.5; '
    'echo end $UNO_RUN_ID $(date +%s.%N) >> stamps"'
)


def one_schedule(policy: str) -> str:
    return f"""
    scheduler:
      shutdown_grace: 0
      kill_grace: 1
    schedules:
      slow:
        schedule: "* * * * * *"
        overlap: {policy}
        max_retries: 1
        retry_delay: 0s
        shell: true
        {JOB}
    """


def history(workdir: Path, name: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*uno_cli(workdir), "history", name, "--json", "--limit", "100"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def stamps(workdir: Path) -> dict[str, tuple[float, float]]:
    """Each run's (start, end) as its job wrote them; a run still running (or stopped
    before its end) ends at infinity."""
    path = workdir / "stamps"
    spans: dict[str, list[float]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        kind, run_id, when = line.split()
        span = spans.setdefault(run_id, [0.0, float("inf")])
        span[0 if kind == "start" else 1] = float(when)
    return {run_id: (start, end) for run_id, (start, end) in spans.items()}


def most_at_once(spans: dict[str, tuple[float, float]]) -> int:
    events = sorted(
        [(start, 1) for start, _ in spans.values()] + [(end, -1) for _, end in spans.values()]
    )  # an end sorts before a start at the same instant
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def ended(workdir: Path, count: int) -> Callable[[], bool]:
    return lambda: sum(end < float("inf") for _, end in stamps(workdir).values()) >= count


def test_skip_records_the_occurrences_met_by_a_running_run_and_never_overlaps(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, one_schedule("skip"))
    runner = runners()
    wait_until(ended(tmp_path, 2), 30, "two runs to end")
    runner.term()
    runs = history(tmp_path, "slow")
    skipped = [r for r in runs if r["result"] == "skipped"]
    assert len(skipped) >= 2
    ran = {r["run_id"] for r in runs if r["result"] == "success"}
    for run in skipped:
        assert run["error"].startswith("skipped: previous run ")
        assert run["error"].endswith(" still running (overlap: skip)")
        assert run["error"].split()[3] in ran  # names the run that was running
    assert most_at_once(stamps(tmp_path)) == 1


@pytest.mark.serial
def test_buffer_one_keeps_at_most_one_run_waiting_and_starts_it_when_the_current_ends(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, one_schedule("buffer_one"))
    runner = runners()
    runner.wait_log("ready:")  # history needs the state the runner creates
    waiting_seen: list[int] = []

    def two_ended() -> bool:
        waiting_seen.append(sum(r["result"] == "queued" for r in history(tmp_path, "slow")))
        return ended(tmp_path, 2)()

    wait_until(two_ended, 30, "two runs to end")
    runner.term()
    runs = history(tmp_path, "slow")
    assert waiting_seen and max(waiting_seen) <= 1
    assert any(r["error"] and "(overlap: buffer_one)" in r["error"] for r in runs)
    assert any(r["result"] == "skipped" and "buffer_one" in r["error"] for r in runs)
    spans = sorted(stamps(tmp_path).values())
    assert most_at_once(stamps(tmp_path)) == 1
    # the buffered run starts as the one before it ends, not at its next occurrence
    gaps = [later[0] - earlier[1] for earlier, later in pairwise(spans)]
    assert gaps and min(gaps) < 0.5, gaps


def test_buffer_all_runs_every_occurrence_in_order_one_at_a_time(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, one_schedule("buffer_all"))
    runner = runners()
    wait_until(ended(tmp_path, 2), 30, "two runs to end")
    runner.term()
    runs = history(tmp_path, "slow")
    assert not [r for r in runs if r["result"] == "skipped"]
    # (a retry of the run the shutdown interrupted waits too, with no note)
    waiting = [r for r in runs if r["result"] == "queued" and r["trigger"] == "schedule"]
    assert len(waiting) >= 2  # every occurrence waits its turn
    assert all("(overlap: buffer_all)" in r["error"] for r in waiting)
    spans = stamps(tmp_path)
    assert most_at_once(spans) == 1
    explained = subprocess.run(
        [*uno_cli(tmp_path), "explain", "slow", "--since", "1m", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    outcomes = {row["run_id"]: row for row in json.loads(explained.stdout)}
    for run in waiting:
        assert outcomes[run["run_id"]]["outcome"] == "buffered"
        assert outcomes[run["run_id"]]["detail"].startswith("buffered: waits for ")
    by_id = {r["run_id"]: r["scheduled_time"] for r in runs}
    started = sorted(spans, key=lambda run_id: spans[run_id][0])
    assert [by_id[i] for i in started] == sorted(by_id[i] for i in started)


@pytest.mark.serial
def test_cancel_other_stops_the_running_run_records_it_cancelled_and_starts_the_new(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, one_schedule("cancel_other"))
    runner = runners()
    runner.wait_log("ready:")  # history needs the state the runner creates
    wait_until(
        lambda: sum(r["result"] == "cancelled" for r in history(tmp_path, "slow")) >= 2,
        30,
        "two runs cancelled",
    )
    runner.term()
    runs = history(tmp_path, "slow")
    cancelled = [r for r in runs if r["result"] == "cancelled"]
    for run in cancelled:
        assert run["error"] == "cancelled: a later occurrence replaced it (overlap: cancel_other)"
        assert run["duration"] < 2.5  # stopped before its job's end
    spans = stamps(tmp_path)
    assert all(spans[r["run_id"]][1] == float("inf") for r in cancelled)  # never ended itself
    retried = {r["scheduled_time"] for r in runs if r["attempt"] > 1}
    assert not retried & {r["scheduled_time"] for r in cancelled}  # not retried (max_retries 1)
    # a cancelled run ends when its record says (its job was stopped): the new one
    # started only after that
    finished = {
        r["run_id"]: datetime.fromisoformat(r["finished_at"]).timestamp() for r in cancelled
    }
    assert most_at_once({k: (v[0], finished.get(k, v[1])) for k, v in spans.items()}) == 1


def test_allow_all_lets_runs_of_one_schedule_overlap(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, one_schedule("allow_all"))
    runner = runners()
    wait_until(ended(tmp_path, 2), 30, "two runs to end")
    runner.term()
    assert most_at_once(stamps(tmp_path)) >= 2
    assert not [r for r in history(tmp_path, "slow") if r["result"] == "skipped"]


GROUP = f"""
    scheduler:
      shutdown_grace: 0
      kill_grace: 1
      groups: {{warehouse: 2}}
    templates:
      load:
        schedule: "* * * * * *"
        concurrency_group: warehouse
        shell: true
        {JOB}
    schedules:
      a: {{template: load}}
      b: {{template: load}}
      c: {{template: load}}
"""


def test_a_concurrency_group_of_two_never_runs_three_of_its_schedules_at_once(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, GROUP)
    runner = runners()
    wait_until(ended(tmp_path, 4), 30, "four runs to end")
    runner.term()
    spans = stamps(tmp_path)
    assert most_at_once(spans) == 2  # the limit, reached and never passed
    names = {r["run_id"]: name for name in "abc" for r in history(tmp_path, name)}
    assert len({names[run_id] for run_id in spans}) >= 2


ON_WORKERS = """
    scheduler:
      lock_timeout: 3s
      shutdown_grace: 0
      kill_grace: 1
      queues: {heavy: 4, solo: 4}
      groups: {warehouse: 2}
    templates:
      load:
        schedule: "* * * * * *"
        queue: heavy
        shell: true
        command: >-
          echo start $UNO_RUN_ID $(date +%s.%N) >> $STAMPS; sleep 2.5;
          echo end $UNO_RUN_ID $(date +%s.%N) >> $STAMPS
    schedules:
      a: {template: load, concurrency_group: warehouse, env: {STAMPS: group}}
      b: {template: load, concurrency_group: warehouse, env: {STAMPS: group}}
      c: {template: load, concurrency_group: warehouse, env: {STAMPS: group}}
      slow: {template: load, queue: solo, overlap: buffer_one, env: {STAMPS: stamps}}
"""


def test_two_workers_keep_a_group_to_its_limit_and_a_buffered_run_behind_the_running_one(
    tmp_path: Path, redis_server: Any
) -> None:
    """The leader hands every run to two workers: the group's limit is counted in Redis
    by each worker's start, and the leader hands a buffered run over only after the run
    before it ended."""
    write_config(tmp_path, ON_WORKERS)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix(),
    }
    env.pop("UNO_SCHEDULE_STATE", None)
    env.pop("NOTIFY_SOCKET", None)
    argv = [
        sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml"),
        "--state", redis_server.url,
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
            ("leader", ["run", "--queues", ""]),
            ("w1", ["worker", "--queues", "heavy,solo"]),
            ("w2", ["worker", "--queues", "heavy,solo"]),
        ):
            with open(tmp_path / f"{name}.log", "w") as log:
                procs.append(
                    subprocess.Popen(
                        [*argv, *args],
                        cwd=tmp_path,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )
                )
        group = tmp_path / "group"

        def group_ended() -> bool:
            lines = group.read_text().splitlines() if group.exists() else []
            return sum(line.startswith("end") for line in lines) >= 4

        wait_until(group_ended, 30, "four runs of the group to end on the workers")
        wait_until(ended(tmp_path, 2), 30, "two runs of the buffered schedule to end")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    workers = {line.split()[1] for line in group.read_text().splitlines()}
    ran_on = (tmp_path / "w1.log").read_text() + (tmp_path / "w2.log").read_text()
    assert all(run_id in ran_on for run_id in workers)  # the workers ran them
    spans: dict[str, tuple[float, float]] = {}
    for line in group.read_text().splitlines():
        kind, run_id, when = line.split()
        start, end = spans.get(run_id, (0.0, float("inf")))
        spans[run_id] = (float(when), end) if kind == "start" else (start, float(when))
    assert most_at_once(spans) == 2
    assert most_at_once(stamps(tmp_path)) == 1


def test_a_reload_that_gives_schedules_a_group_holds_them_to_its_limit(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, GROUP.replace("warehouse: 2", "warehouse: 3"))
    runner = runners()
    runner.wait_log("ready:")  # not "leader": a warning that the metrics port is taken says it
    write_config(tmp_path, GROUP.replace("warehouse: 2", "warehouse: 1"))
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")
    reloaded = time.time()
    wait_until(
        lambda: sum(start > reloaded + 3 for start, _ in stamps(tmp_path).values()) >= 2,
        30,
        "two runs started after the reload",
    )
    runner.term()
    after = {k: v for k, v in stamps(tmp_path).items() if v[0] > reloaded + 3}
    assert most_at_once(after) == 1  # the reloaded limit, not the one of the start


def test_a_worker_holds_a_group_to_the_limit_of_the_file_the_leader_reloaded(
    tmp_path: Path, redis_server: Any
) -> None:
    """The worker was started on the file before the reload: the group's limit it counts
    against is the one the leader runs now."""
    body = ON_WORKERS.replace("\n      slow: {template: load, queue: solo", "\n      #")
    write_config(tmp_path, body.replace("warehouse: 2", "warehouse: 3"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix()}
    env.pop("UNO_SCHEDULE_STATE", None)
    env.pop("NOTIFY_SOCKET", None)
    argv = [
        sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml"),
        "--state", redis_server.url,
    ]  # fmt: skip
    procs: dict[str, subprocess.Popen[bytes]] = {}
    group = tmp_path / "group"
    try:
        for name, args in (
            ("leader", ["run", "--queues", ""]),
            ("w1", ["worker", "--queues", "heavy"]),
        ):
            with open(tmp_path / f"{name}.log", "w") as log:
                procs[name] = subprocess.Popen(
                    [*argv, *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                    env=env, start_new_session=True,
                )  # fmt: skip
        wait_until(group.exists, 30, "a run of the group to start")
        write_config(tmp_path, body.replace("warehouse: 2", "warehouse: 1"))
        procs["leader"].send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in (tmp_path / "leader.log").read_text(), 30, "the reload")
        reloaded = time.time()

        def spans() -> dict[str, tuple[float, float]]:
            found: dict[str, tuple[float, float]] = {}
            for line in group.read_text().splitlines():
                kind, run_id, when = line.split()
                start, end = found.get(run_id, (0.0, float("inf")))
                found[run_id] = (float(when), end) if kind == "start" else (start, float(when))
            return {k: v for k, v in found.items() if v[0] > reloaded + 3}

        wait_until(lambda: len(spans()) >= 2, 30, "two runs of the group after the reload")
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(10)
    assert most_at_once(spans()) == 1


def test_cancel_other_stops_a_run_on_a_worker_records_it_cancelled_and_starts_the_new(
    tmp_path: Path, redis_server: Any
) -> None:
    """The leader asks through the state; the worker running the run stops its job
    (SIGTERM, as at shutdown) and records it ``cancelled``, not retried."""
    body = one_schedule("cancel_other").replace("overlap:", "queue: heavy\n        overlap:")
    write_config(tmp_path, body)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix()}
    env.pop("UNO_SCHEDULE_STATE", None)
    env.pop("NOTIFY_SOCKET", None)
    argv = [
        sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml"),
        "--state", redis_server.url,
    ]  # fmt: skip

    def runs() -> list[dict[str, Any]]:
        done = subprocess.run(
            [*argv, "history", "slow", "--json", "--limit", "100"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found

    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
            ("leader", ["run", "--queues", ""]),
            ("w1", ["worker", "--queues", "heavy"]),
        ):
            with open(tmp_path / f"{name}.log", "w") as log:
                procs.append(
                    subprocess.Popen(
                        [*argv, *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                        env=env, start_new_session=True,
                    )
                )  # fmt: skip
        wait_until(
            lambda: sum(r["result"] == "cancelled" for r in runs()) >= 2, 30, "two runs cancelled"
        )
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    history_ = runs()
    cancelled = [r for r in history_ if r["result"] == "cancelled"]
    for run in cancelled:
        assert run["error"] == "cancelled: a later occurrence replaced it (overlap: cancel_other)"
        assert run["duration"] < 2.5  # stopped before its job's end
    spans = stamps(tmp_path)
    assert all(spans[r["run_id"]][1] == float("inf") for r in cancelled)  # never ended itself
    retried = {r["scheduled_time"] for r in history_ if r["attempt"] > 1}
    assert not retried & {r["scheduled_time"] for r in cancelled}  # not retried
    finished = {
        r["run_id"]: datetime.fromisoformat(r["finished_at"]).timestamp() for r in cancelled
    }
    assert most_at_once({k: (v[0], finished.get(k, v[1])) for k, v in spans.items()}) == 1

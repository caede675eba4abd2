"""The runner's descriptor budget: a run waits for a slot rather than fail for want of
open files, what one job holds is what the budget counts, and ``validate`` warns of a
concurrency the limit cannot hold."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from redis_server import RedisServer, unique_prefix
from test_executor import make_spec
from test_ops import free_port
from test_service import runs, uno_cli, wait_until, write_config

from unoschedule.budget import (
    HEADROOM,
    PER_JOB,
    DescriptorBudget,
    concurrency_warnings,
    job_slots,
)
from unoschedule.model import RunRecord
from unoschedule.runlogs import OutputSink
from unoschedule.runner.executor import Executor
from unoschedule.store.redis import RedisStorage


def test_job_slots_are_what_the_limit_leaves_after_the_runner_and_the_running_jobs() -> None:
    assert job_slots(limit=1024, reserved=100, running=0) == (1024 - 100) // PER_JOB
    assert job_slots(limit=1024, reserved=100, running=100) == (1024 - 100) // PER_JOB - 100
    assert job_slots(limit=1024, reserved=100, running=400) == 0
    # a limit too low for one job still lets one start at a time, never none for ever
    assert job_slots(limit=64, reserved=100, running=0) == 1
    assert job_slots(limit=64, reserved=100, running=1) == 0


def test_idle_workers_are_let_go_only_as_far_as_running_jobs_need_their_descriptors() -> None:
    budget = DescriptorBudget(limit=400, reserved=100)  # room for 100 jobs
    assert budget.idle_to_let_go(running=50, idle=40) == 0
    assert budget.idle_to_let_go(running=70, idle=40) == 10
    assert budget.idle_to_let_go(running=100, idle=40) == 40
    assert budget.idle_to_let_go(running=120, idle=5) == 5


def test_a_command_takes_the_descriptors_of_idle_task_workers_it_needs() -> None:
    async def go() -> tuple[int, int, bool]:
        executor = Executor()
        tasks = [make_spec(task="time:sleep", args=(0.3,)) for _ in range(6)]
        await asyncio.gather(*(executor.run(spec) for spec in tasks))
        idle = executor._workers.idle
        # the limit now holds two jobs beside what is reserved: a command's start lets
        # go all but one of the idle workers (it and the command fit)
        executor.budget = DescriptorBudget(limit=100 + 2 * PER_JOB, reserved=100)
        outcome = await executor.run(make_spec(command=("true",)))
        left = executor._workers.idle
        executor.close()
        return idle, left, outcome.result == "success"

    idle, left, ok = asyncio.run(go())
    assert (idle, left, ok) == (6, 1, True)


def _open() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    "kind",
    ["command that prints", "task in the worker pool", "task with a timeout", "async task"],
)
def test_a_job_in_flight_holds_no_more_descriptors_than_the_budget_counts(
    kind: str, tmp_path: Path
) -> None:
    specs = {
        "command that prints": lambda: make_spec(command=("sh", "-c", "echo hi; sleep 2")),
        "task in the worker pool": lambda: make_spec(task="time:sleep", args=(2,)),
        "task with a timeout": lambda: make_spec(task="time:sleep", args=(2,), timeout=10),
        "async task": lambda: make_spec(task="asyncio:sleep", args=(2,)),
    }
    jobs = 20
    sink = OutputSink(tmp_path, lambda line: None)

    async def measure() -> tuple[int, int, set[str]]:
        executor = Executor(output=sink.write)
        executor._workers.server()  # its socket and pidfd are held once, not per job
        before = _open()
        made = [specs[kind]() for _ in range(jobs)]
        for i, spec in enumerate(made):
            spec.run.run_id = f"run-{i}"
        started: list[int | None] = []
        running = [asyncio.ensure_future(executor.run(s, started.append)) for s in made]
        deadline = time.monotonic() + 10
        while len(started) < jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the commands' first output (and so their log files)
        # and so are those of each fork server that a burst of commands adds
        during = _open() - 2 * len(executor._workers._spawners)
        outcomes = await asyncio.gather(*running)
        executor.close()
        return before, during, {o.result for o in outcomes}

    before, during, results = asyncio.run(measure())
    sink.close()
    assert results == {"success"}
    if kind == "async task":
        # They share one event loop (its epoll and self-pipe), made here or already there;
        # another test's loop closing meanwhile may even leave fewer open than before.
        assert during - before <= 3
    else:
        assert 0 < during - before <= jobs * PER_JOB


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.slow
def test_a_burst_past_the_open_file_limit_waits_for_slots_and_every_run_succeeds_once(
    tmp_path: Path,
) -> None:
    limit, count = 256, 600
    port = free_port()
    schedules = "".join(
        f'  c{i:03d}:\n    schedule: {{every: 1h}}\n    run_on_start: true\n    command: "true"\n'
        for i in range(count)
    )
    write_config(
        tmp_path,
        f"scheduler:\n  default_concurrency: {count}\n  metrics_address: 127.0.0.1:{port}\n"
        f"  shutdown_grace: 5s\nschedules:\n{schedules}",
    )
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        runner = subprocess.Popen(
            [*uno_cli(tmp_path), "run"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)),
        )
        try:
            wait_until(lambda: "ready:" in log_path.read_text(), 30, "the runner to be ready")

            def all_ended() -> list[dict[str, object]] | None:
                found = runs(tmp_path)
                ended = [r for r in found if r["result"] not in ("queued", "running")]
                return found if len(ended) >= count else None

            found = wait_until(all_ended, timeout=60, what=f"{count} runs to end")
            metrics = _scrape(port)
        finally:
            runner.terminate()
            runner.wait(30)
    text = log_path.read_text()
    assert Counter(r["result"] for r in found) == {"success": count}, text[-3000:]
    assert Counter(Counter((r["schedule"], r["scheduled_time"]) for r in found).values()) == {
        1: count
    }
    assert "Too many open files" not in text
    # they waited (the limit holds far fewer than 600 jobs), and it was counted and said
    assert metrics["uno_schedule_descriptor_waits_total"] > 0
    assert metrics["uno_schedule_runs_waiting_for_descriptors"] == 0
    assert "wait for a slot" in text


def test_validate_warns_of_a_concurrency_the_open_file_limit_cannot_hold(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "scheduler:\n  default_concurrency: 600\n  queues: {small: 10}\n"
        'schedules:\n  a:\n    schedule: {every: 1h}\n    command: "true"\n',
    )
    done = subprocess.run(
        [*uno_cli(tmp_path), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)),
    )
    assert done.returncode == 0, done.stderr
    assert "ok: 1 schedule" in done.stdout
    assert "queue 'scheduled': concurrency 600 cannot be met" in done.stderr
    assert "soft 256 / hard 256" in done.stderr
    assert "'small'" not in done.stderr


def test_the_warning_reckons_with_the_soft_limit_raised_towards_the_hard_one() -> None:
    most = (1024 - 3 - 16 - HEADROOM) // PER_JOB
    assert concurrency_warnings({"default": most}, (1024, 1024)) == []
    assert concurrency_warnings({"default": 10_000}, (1024, 1_048_576)) == []
    (line,) = concurrency_warnings({"default": most + 1}, (256, 1024))
    assert "under a limit of 1,024 open files" in line
    assert "soft 256 / hard 1,024" in line


@pytest.mark.slow
def test_a_worker_under_a_low_open_file_limit_runs_a_wide_queue_once_each_without_failing(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    limit, count = 128, 300
    prefix = unique_prefix()
    schedules = "".join(
        f"  w{i:03d}:\n    schedule: {{every: 1h}}\n    run_on_start: true\n"
        '    queue: bulk\n    command: "true"\n'
        for i in range(count)
    )
    write_config(
        tmp_path,
        f"scheduler:\n  queues: {{bulk: {count}}}\n  metrics_enabled: false\n"
        f"  shutdown_grace: 5s\nschedules:\n{schedules}",
    )
    config = str(tmp_path / "schedules.yaml")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "UNO_SCHEDULE_REDIS_PREFIX": prefix}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("UNO_SCHEDULE_STATE", None)
    argv = [sys.executable, "-m", "unoschedule", "-c", config, "--state", redis_server.url]
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str, files: int | None = None) -> Path:
        path = tmp_path / f"{name}.log"
        with open(path, "w") as log:
            started.append(
                subprocess.Popen(
                    [*argv, *args],
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=None
                    if files is None
                    else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (files, files)),
                )
            )
        return path

    store = RedisStorage(redis_server.url, key_prefix=prefix)
    try:
        worker = start("worker", "worker", "--queues", "bulk", files=limit)
        wait_until(lambda: "serving" in worker.read_text(), 30, "the worker")
        start("leader", "run", "--queues", "")

        def all_ended() -> list[RunRecord] | None:
            found = [r for i in range(count) for r in store.history(f"w{i:03d}", limit=10)]
            ended = [r for r in found if r.result not in ("queued", "running")]
            return found if len(ended) >= count else None

        found = wait_until(all_ended, timeout=60, what=f"{count} runs to end")
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(30)
        store.close()
    text = worker.read_text()
    assert Counter(r.result for r in found) == {"success": count}, text[-3000:]
    assert Counter(Counter((r.schedule, r.scheduled_time) for r in found).values()) == {1: count}
    assert "Too many open files" not in text

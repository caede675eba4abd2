"""The pool of worker processes that runs sync Python tasks, through the executor: real
forks, a shared queue of requests, stops, crashes and what each run sees."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from pathlib import Path

from test_executor import alive, make_spec

from unoschedule.runner.executor import Executor, JobOutcome, JobSpec


def with_run_id(spec: JobSpec, run_id: str) -> JobSpec:
    return dataclasses.replace(spec, run=dataclasses.replace(spec.run, run_id=run_id))


async def until_exists(*paths: Path) -> None:
    deadline = time.monotonic() + 10
    while not all(p.exists() and p.read_text() for p in paths):
        assert time.monotonic() < deadline, "the tasks never started"
        await asyncio.sleep(0.02)


def test_stopping_one_of_two_pooled_tasks_kills_the_worker_running_it_and_no_other(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"

    async def go() -> tuple[JobOutcome, int, int, bool, JobOutcome]:
        executor = Executor()
        try:
            a = asyncio.ensure_future(
                executor.run(
                    with_run_id(
                        make_spec(task="executor_tasks.pid_then_sleep", args=(str(first), 30)),
                        "run-a",
                    )
                )
            )
            b = asyncio.ensure_future(
                executor.run(
                    with_run_id(
                        make_spec(task="executor_tasks.pid_then_sleep", args=(str(second), 30)),
                        "run-b",
                    )
                )
            )
            await until_exists(first, second)
            assert executor.stop("run-a", 0.2)
            stopped = await a
            other_alive = alive(int(second.read_text()))
            assert executor.stop("run-b", 0.2)
            return stopped, int(first.read_text()), int(second.read_text()), other_alive, await b
        finally:
            executor.close()

    stopped, pid_a, pid_b, other_alive, later = asyncio.run(go())
    assert stopped.result == "interrupted" and stopped.pid == pid_a
    assert not alive(pid_a)
    assert other_alive  # the other run's worker was left alone
    assert later.result == "interrupted" and later.pid == pid_b and not alive(pid_b)


def test_a_burst_of_pooled_tasks_runs_each_once_and_each_run_gets_its_own_answer(
    tmp_path: Path,
) -> None:
    record = tmp_path / "runs.txt"
    specs = [
        with_run_id(make_spec(task="executor_tasks.record_run", args=(str(record),)), f"run-{i}")
        for i in range(40)
    ]

    async def go() -> tuple[list[JobOutcome], int]:
        executor = Executor()
        try:
            outcomes = await asyncio.gather(*(executor.run(spec) for spec in specs))
            return list(outcomes), executor._workers.size
        finally:
            executor.close()

    outcomes, workers = asyncio.run(go())
    assert [o.result for o in outcomes] == ["success"] * 40
    assert [o.output for o in outcomes] == [repr(f"run-{i}") for i in range(40)]
    assert sorted(record.read_text().split()) == sorted(f"run-{i}" for i in range(40))
    assert 1 <= workers <= 40


def test_a_task_sees_nothing_of_the_environment_of_the_run_before_it_on_its_worker() -> None:
    async def go() -> list[JobOutcome]:
        executor = Executor()
        try:
            with_event = make_spec(task="executor_tasks.uno_event", event={"path": "/x"})
            without = make_spec(task="executor_tasks.uno_event")
            return [await executor.run(with_event), await executor.run(without)]
        finally:
            executor.close()

    first, second = asyncio.run(go())
    assert first.pid == second.pid  # the same worker ran both
    assert first.output == repr('{"path": "/x"}')
    assert (second.result, second.output) == ("success", "")


def test_a_task_that_exits_within_a_burst_fails_only_its_own_run() -> None:
    specs = [
        with_run_id(make_spec(task="executor_tasks.add", args=(i, 0)), f"run-{i}")
        for i in range(10)
    ]
    specs.insert(5, with_run_id(make_spec(task="executor_tasks.exit3"), "run-exit"))

    async def go() -> tuple[list[JobOutcome], JobOutcome]:
        executor = Executor()
        try:
            outcomes = list(await asyncio.gather(*(executor.run(spec) for spec in specs)))
            after = await executor.run(make_spec(task="executor_tasks.my_pid"))
            return outcomes, after
        finally:
            executor.close()

    outcomes, after = asyncio.run(go())
    died = outcomes.pop(5)
    assert died.result == "error" and "exit status 3" in (died.error or "")
    assert [o.result for o in outcomes] == ["success"] * 10
    assert [eval(o.output)["sum"] for o in outcomes] == list(range(10))
    assert after.result == "success" and after.pid != died.pid and not alive(died.pid or 0)


def test_a_request_too_large_for_the_workers_queue_runs_in_a_child_forked_for_it() -> None:
    big = "x" * 20_000

    async def go() -> tuple[JobOutcome, JobOutcome, set[int]]:
        executor = Executor()
        try:
            small = await executor.run(make_spec(task="executor_tasks.add", args=(1, 2)))
            large = await executor.run(
                make_spec(task="executor_tasks.add", args=(1, 2), kwargs={"scale": 1, "pad": big})
            )
            return small, large, {w.pid for w in executor._workers._all}
        finally:
            executor.close()

    small, large, workers = asyncio.run(go())
    assert small.result == "success"
    # add() has no 'pad': the large request reached the task, which refused it
    assert large.result == "error" and "pad" in (large.error or "")
    assert large.pid is not None and large.pid not in workers and large.pid != os.getpid()


def test_a_task_process_never_collects_what_it_inherited_and_the_scheduler_keeps_its_freeze() -> (
    None
):
    import gc

    pooled = make_spec(task="executor_tasks.inherited_objects_frozen")
    forked = make_spec(task="executor_tasks.inherited_objects_frozen", timeout=30)
    loaded = [[n] for n in range(1000)]  # the state a runner loads and freezes once

    async def go() -> list[JobOutcome]:
        executor = Executor()
        try:
            return [await executor.run(pooled), await executor.run(forked)]
        finally:
            executor.close()

    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        outcomes = asyncio.run(go())
        # The forks neither unfroze what the scheduler froze (the count would fall to
        # nothing) nor froze more of it (what it made since would be counted). It may
        # fall a little: a frozen object that other tests of this process left behind can
        # be freed meanwhile, and leaves the frozen generation then.
        assert len(loaded) < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
    assert [(o.result, o.output) for o in outcomes] == [("success", "True")] * 2
    assert len(loaded) == 1000


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def test_workers_are_forked_by_the_fork_server_and_report_how_they_ended_through_it() -> None:
    async def go() -> tuple[JobOutcome, int, int, JobOutcome]:
        executor = Executor()
        try:
            first = await executor.run(make_spec(task="executor_tasks.my_pid"))
            server = executor._workers._server
            assert server is not None
            forked_by = parent_of(int(first.output))
            died = await executor.run(make_spec(task="executor_tasks.exit3"))
            return first, forked_by, server.pid, died
        finally:
            executor.close()

    first, forked_by, server, died = asyncio.run(go())
    assert first.result == "success"
    assert forked_by == server != os.getpid()  # not a child of the scheduler
    # its exit status came from the server, which reaped it: the scheduler could not
    assert died.result == "error" and "exit status 3" in (died.error or ""), died


def test_a_fork_server_that_dies_ends_its_workers_runs_and_a_new_one_serves_the_next(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pid"

    async def go() -> tuple[JobOutcome, int, int, JobOutcome]:
        executor = Executor()
        try:
            running = asyncio.ensure_future(
                executor.run(
                    make_spec(task="executor_tasks.pid_then_sleep", args=(str(marker), 30))
                )
            )
            await until_exists(marker)
            server = executor._workers._server
            assert server is not None
            os.kill(server.pid, signal.SIGKILL)
            ended = await asyncio.wait_for(running, 10)
            after = await asyncio.wait_for(
                executor.run(make_spec(task="executor_tasks.my_pid")), 10
            )
            return ended, server.pid, int(marker.read_text()), after
        finally:
            executor.close()

    ended, old_server, worker, after = asyncio.run(go())
    # the worker died with its server (PR_SET_PDEATHSIG), and its run says so
    assert ended.result == "error" and "task died" in (ended.error or ""), ended
    assert not alive(worker)
    assert after.result == "success" and parent_of(int(after.output)) not in (old_server, 0)

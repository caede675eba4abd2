"""The pool of worker processes that runs sync Python tasks, through the executor: real
forks, a shared queue of requests, stops, crashes and what each run sees."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from test_executor import JOBS, alive, make_spec, task_definition

from unoschedule.model import ScheduleDefinition, SchedulerOptions
from unoschedule.runner.executor import Executor, JobOutcome, JobSpec
from unoschedule.runner.forker import Forker


def with_run_id(spec: JobSpec, run_id: str) -> JobSpec:
    return dataclasses.replace(spec, run=dataclasses.replace(spec.run, run_id=run_id))


async def until_exists(*paths: Path) -> None:
    deadline = time.monotonic() + 10
    while not all(p.exists() and p.read_text() for p in paths):
        assert time.monotonic() < deadline, "the tasks never started"
        await asyncio.sleep(0.02)


def run_in_turn(*specs: JobSpec) -> list[JobOutcome]:
    """Each of ``specs`` run to its end, one after the other, by one executor."""

    async def go() -> list[JobOutcome]:
        executor = Executor()
        try:
            return [await executor.run(spec) for spec in specs]
        finally:
            executor.close()

    return asyncio.run(go())


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
    with_event = make_spec(task="executor_tasks.uno_event", event={"path": "/x"})
    without = make_spec(task="executor_tasks.uno_event")
    first, second = run_in_turn(with_event, without)
    assert first.pid == second.pid  # the same worker ran both
    assert first.output == repr('{"path": "/x"}')
    assert (second.result, second.output) == ("success", "")


def test_a_task_sees_its_own_run_s_variables_whatever_the_task_before_it_did_to_them() -> None:
    clobber = make_spec(task="executor_tasks.clobber_uno_variables")
    look = make_spec(
        task="executor_tasks.uno_variables", trigger="manual", attempt=2, kwargs={"k": 1}
    )
    first, second = run_in_turn(clobber, look)
    assert first.result == "success"
    assert first.pid == second.pid  # the same worker ran both
    assert eval(second.output or "") == {
        "UNO_RUN_ID": look.run.run_id,
        "UNO_TRIGGER": "manual",
        "UNO_ATTEMPT": "2",
        "UNO_KWARGS": '{"k": 1}',
        "UNO_EVENT": None,
    }


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["pooled", "forked"])
def test_a_task_gets_none_of_the_contract_s_variables_the_runner_itself_carries(
    timeout: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner started from inside a job carries that job's ``UNO_*``: a task of a run
    without an event must not see the job's ``UNO_EVENT``, in a worker or a forked child."""
    monkeypatch.setenv("UNO_EVENT", '{"from": "the runner"}')
    spec = make_spec(task="executor_tasks.uno_variables", timeout=timeout)
    (outcome,) = run_in_turn(spec)
    assert outcome.result == "success"
    seen = eval(outcome.output or "")
    assert seen["UNO_EVENT"] is None and seen["UNO_RUN_ID"] == spec.run.run_id


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

    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        outcomes = run_in_turn(pooled, forked)
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


def module_a_reload_brings(folder: Path) -> tuple[str, Path]:
    """Write a module of a name never imported in ``folder``: its name, and the file
    into which each import of it writes the pid of the process importing it."""
    name = f"brought_{uuid.uuid4().hex}"
    imports = folder / "imports"
    (folder / f"{name}.py").write_text(
        "import os\n"
        f"with open({str(imports)!r}, 'a') as seen:\n"
        "    seen.write(f'{os.getpid()}\\n')\n"
        "def my_pid():\n"
        "    return os.getpid()\n"
    )
    return name, imports


def spec_in(roots: tuple[str, ...], task: str, *args: object) -> JobSpec:
    """A run of ``task`` with ``args``, its modules looked up in ``roots``."""
    return dataclasses.replace(make_spec(task=task, args=args), import_paths=roots)


async def reload_into(
    executor: Executor,
    first: list[ScheduleDefinition],
    brought: list[ScheduleDefinition],
    options: SchedulerOptions,
) -> tuple[Forker, Forker]:
    """Prepare ``first`` (workers forked), then ``first + brought`` as a reload does; the
    fork server before the reload and after it."""
    executor.prepare(first, options, None)
    await executor.prepared()
    old = executor._workers._server
    executor.prepare(first + brought, options, None)
    await executor.prepared()
    new = executor._workers._server
    assert old is not None and new is not None
    return old, new


async def gone_within(server: Forker, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not server.dead and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return server.dead


async def alive_after(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still alive once ``seconds`` passed or all are gone: a worker
    whose server went exits on its own, a moment later under load."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


def test_a_task_module_a_reload_brings_is_imported_by_the_scheduler_once_not_by_each_worker(
    tmp_path: Path,
) -> None:
    module, imports = module_a_reload_brings(tmp_path)
    options = SchedulerOptions(default_concurrency=3, import_paths=(JOBS, str(tmp_path)))
    first = [task_definition(f"s{i}", "executor_tasks.my_pid") for i in range(3)]
    brought = [task_definition(f"n{i}", f"{module}.my_pid") for i in range(3)]
    spec = spec_in((JOBS, str(tmp_path)), f"{module}.my_pid")

    async def go() -> tuple[int, int, list[JobOutcome], set[int], bool]:
        executor = Executor()
        try:
            old, new = await reload_into(executor, first, brought, options)
            outcomes = await asyncio.gather(*(executor.run(spec) for _ in range(3)))
            parents = {parent_of(int(o.output)) for o in outcomes if o.result == "success"}
            return old.pid, new.pid, list(outcomes), parents, await gone_within(old, 10)
        finally:
            executor.close()

    old, new, outcomes, parents, old_gone = asyncio.run(go())
    assert [o.result for o in outcomes] == ["success"] * 3, outcomes
    # imported here, before the workers that ran it were forked: never in a worker
    assert imports.read_text().split() == [str(os.getpid())]
    assert new != old and parents == {new}
    assert old_gone  # the old server went once its workers had left


def test_a_renewed_fork_server_lets_busy_workers_finish_and_goes_with_the_last_of_them(
    tmp_path: Path,
) -> None:
    module, imports = module_a_reload_brings(tmp_path)
    roots = (JOBS, str(tmp_path))
    options = SchedulerOptions(default_concurrency=2, import_paths=roots)
    first = [task_definition(f"s{i}", "executor_tasks.my_pid") for i in range(2)]
    brought = [task_definition("n", f"{module}.my_pid")]
    markers = [tmp_path / "a", tmp_path / "b"]

    async def go() -> tuple[list[JobOutcome], list[int], int, bool, list[int]]:
        executor = Executor()
        try:
            executor.prepare(first, options, None)
            await executor.prepared()
            old = executor._workers._server
            assert old is not None
            busy = [
                asyncio.ensure_future(
                    executor.run(spec_in(roots, "executor_tasks.pid_then_sleep", str(m), 1))
                )
                for m in markers
            ]
            await until_exists(*markers)
            queued = asyncio.ensure_future(executor.run(spec_in(roots, "executor_tasks.my_pid")))
            await asyncio.sleep(0.05)  # in the old queue, behind the busy workers
            executor.prepare(first + brought, options, None)  # what a reload does
            await executor.prepared()
            new = executor._workers._server
            assert new is not None and new is not old
            brought_run = await executor.run(spec_in(roots, f"{module}.my_pid"))
            outcomes = [*await asyncio.gather(*busy, queued), brought_run]
            olds = [int(m.read_text()) for m in markers]
            parent = parent_of(int(brought_run.output)) - new.pid
            gone = await gone_within(old, 10)
            return outcomes, olds, parent, gone, await alive_after(olds, 10)
        finally:
            executor.close()

    outcomes, olds, parent, old_gone, left = asyncio.run(go())
    assert [o.result for o in outcomes] == ["success"] * 4, outcomes
    assert [o.pid for o in outcomes[:2]] == olds  # the busy ones finished where they ran
    assert parent == 0  # the task of the new module ran in a worker of the new server
    assert imports.read_text().split() == [str(os.getpid())]
    assert old_gone and left == []  # they left once free, and their server went after


def test_a_request_left_in_the_old_queue_when_the_renewed_server_dies_runs_in_the_new_one(
    tmp_path: Path,
) -> None:
    module, _ = module_a_reload_brings(tmp_path)
    roots = (JOBS, str(tmp_path))
    options = SchedulerOptions(default_concurrency=1, import_paths=roots)
    first = [task_definition("s", "executor_tasks.my_pid")]
    marker = tmp_path / "busy"

    async def go() -> tuple[JobOutcome, JobOutcome, int]:
        executor = Executor()
        try:
            executor.prepare(first, options, None)
            await executor.prepared()
            old = executor._workers._server
            assert old is not None
            busy = asyncio.ensure_future(
                executor.run(spec_in(roots, "executor_tasks.pid_then_sleep", str(marker), 30))
            )
            await until_exists(marker)
            os.kill(old.pid, signal.SIGSTOP)  # it cannot fork the worker the next one asks
            waiting = asyncio.ensure_future(executor.run(spec_in(roots, "executor_tasks.my_pid")))
            await asyncio.sleep(0.05)
            executor.prepare([*first, task_definition("n", f"{module}.my_pid")], options, None)
            await executor.prepared()
            new = executor._workers._server
            assert new is not None and new is not old
            os.kill(old.pid, signal.SIGKILL)  # its worker dies with it; the request waits
            died = await asyncio.wait_for(busy, 10)
            ran = await asyncio.wait_for(waiting, 10)
            return died, ran, parent_of(int(ran.output)) - new.pid
        finally:
            executor.close()

    died, ran, parent = asyncio.run(go())
    assert died.result == "error" and "task died" in (died.error or ""), died
    assert ran.result == "success", ran
    assert parent == 0  # taken from the old queue, run by a worker of the new server


def test_a_task_due_before_the_pool_was_told_of_its_module_renews_the_server_itself(
    tmp_path: Path,
) -> None:
    module, imports = module_a_reload_brings(tmp_path)
    roots = (JOBS, str(tmp_path))
    options = SchedulerOptions(default_concurrency=2, import_paths=roots)

    async def go() -> tuple[JobOutcome, int, int]:
        executor = Executor()
        try:
            executor.prepare([task_definition("s", "executor_tasks.my_pid")], options, None)
            await executor.prepared()
            old = executor._workers._server
            assert old is not None
            ran = await executor.run(spec_in(roots, f"{module}.my_pid"))  # no prepare first
            new = executor._workers._server
            assert new is not None and new is not old
            return ran, parent_of(int(ran.output)), new.pid
        finally:
            executor.close()

    ran, parent, new = asyncio.run(go())
    assert ran.result == "success" and parent == new
    assert imports.read_text().split() == [str(os.getpid())]

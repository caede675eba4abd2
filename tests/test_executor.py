"""The executor against real processes: environment, argv, exits, timeouts, process groups.

Every property here is about processes, so nothing is mocked: jobs are real commands
and real (forked or threaded) Python calls, and "nothing left behind" is checked in
/proc. Timeouts are short (0.5 s, grace 0.3 s) to keep the file fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from unoschedule.model import RunRecord, ScheduleDefinition, SchedulerOptions
from unoschedule.runner.executor import (
    Executor,
    JobOutcome,
    JobSpec,
    job_environment,
    run_hook,
)
from unoschedule.schedules import IntervalSchedule

JOBS = str(Path(__file__).parent / "jobs")
PY = sys.executable
GRACE = 0.3


def make_spec(
    *,
    command: tuple[str, ...] | str | None = None,
    task: str | None = None,
    shell: bool = False,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    base_cwd: str | None = None,
    run_args: list[Any] | None = None,
    run_kwargs: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    trigger: Any = "schedule",
    attempt: int = 1,
    run_id: str | None = None,
    output_tail: int = 4096,
) -> JobSpec:
    definition = ScheduleDefinition(
        name="nightly",
        schedule=IntervalSchedule("5m"),
        task=task,
        command=command,
        shell=shell,
        args=args,
        kwargs=kwargs or {},
        timeout=timeout,
        env=env or {},
        cwd=cwd,
    )
    # A run id of its own: a timeout or a stop ends every process on the machine that
    # carries it (``stop_orphans``), other tests' jobs running alongside included.
    run = RunRecord(
        run_id=run_id or f"run-{uuid.uuid4().hex[:12]}",
        schedule="nightly",
        scheduled_time=datetime(2026, 3, 1, 2, 30, tzinfo=UTC),
        trigger=trigger,
        attempt=attempt,
        args=run_args,
        kwargs=run_kwargs,
        event=event,
    )
    return JobSpec(
        run=run,
        definition=definition,
        kill_grace=GRACE,
        output_tail=output_tail,
        import_paths=(JOBS,),
        base_cwd=base_cwd,
    )


def run_job(spec: JobSpec, executor: Executor | None = None) -> JobOutcome:
    executor = executor or Executor()

    async def run() -> JobOutcome:
        try:
            return await executor.run(spec)
        finally:
            executor.close()

    return asyncio.run(run())


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (container PID 1 may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def group_members(pgid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                found.append(int(name))
    return found


# -- what a command gets -------------------------------------------------------------------


def test_a_command_gets_every_uno_variable_of_the_contract_and_its_own_env(
    tmp_path: Path,
) -> None:
    (tmp_path / "work").mkdir()
    spec = make_spec(
        command=(
            PY,
            "-c",
            "import json, os; print(json.dumps({**os.environ, 'CWD': os.getcwd()}))",
        ),
        kwargs={"region": "eu", "limit": 5},
        run_kwargs={"limit": 7},
        event={"sku": "A-1", "count": 2},
        trigger="event",
        attempt=2,
        env={"GREETING": "hi", "UNO_RUN_ID": "not-allowed-to-override"},
        cwd="work",
        base_cwd=str(tmp_path),
    )
    outcome = run_job(spec)
    assert outcome.result == "success", outcome
    seen = json.loads(outcome.output)
    assert seen["UNO_SCHEDULE_NAME"] == "nightly"
    assert seen["UNO_RUN_ID"] == spec.run.run_id
    assert seen["UNO_SCHEDULED_TIME"] == "2026-03-01T02:30:00Z"
    assert seen["UNO_ATTEMPT"] == "2"
    assert seen["UNO_TRIGGER"] == "event"
    assert json.loads(seen["UNO_KWARGS"]) == {"region": "eu", "limit": 7}
    assert json.loads(seen["UNO_EVENT"]) == {"sku": "A-1", "count": 2}
    assert seen["GREETING"] == "hi"
    assert seen["CWD"] == str(tmp_path / "work")
    assert job_environment(spec)["UNO_RUN_ID"] == spec.run.run_id


def test_a_run_without_an_event_has_no_uno_event_even_if_the_scheduler_had_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNO_EVENT", '{"stale": true}')
    outcome = run_job(
        make_spec(command=(PY, "-c", "import os; print(os.environ.get('UNO_EVENT'))"))
    )
    assert outcome.output.strip() == "None"


def test_args_are_appended_to_argv_without_a_shell() -> None:
    outcome = run_job(
        make_spec(
            command=(PY, "-c", "import sys; print(sys.argv[1:])"), args=("a b", 3, "$(echo pwned)")
        )
    )
    assert outcome.output.strip() == "['a b', '3', '$(echo pwned)']"


def test_a_string_command_is_split_like_a_shell_but_runs_without_one() -> None:
    outcome = run_job(make_spec(command="printf '%s|' 'x y' $HOME", run_args=["z"]))
    assert outcome.result == "success"
    assert outcome.output == "x y|$HOME|z|"


def test_with_shell_true_args_arrive_as_positional_parameters_never_as_code() -> None:
    outcome = run_job(
        make_spec(command='echo "first=$1 second=$2 count=$#"', shell=True, args=("a b", "; id"))
    )
    assert outcome.result == "success"
    assert outcome.output == "first=a b second=; id count=2\n"


# -- how a command ends ----------------------------------------------------------------------


def test_exit_zero_is_success_and_the_output_is_kept() -> None:
    lines: list[str] = []
    outcome = asyncio.run(
        Executor(log=lines.append).run(
            make_spec(command=("sh", "-c", "echo out; echo err >&2"), run_id="run-1")
        )
    )
    assert (outcome.result, outcome.error) == ("success", None)
    assert outcome.output == "out\nerr\n"
    assert isinstance(outcome.pid, int)
    assert lines == ["[nightly run-1] out", "[nightly run-1] err"]


def test_a_non_zero_exit_is_an_error_naming_the_status() -> None:
    outcome = run_job(make_spec(command=("sh", "-c", "echo oops; exit 3")))
    assert (outcome.result, outcome.error, outcome.output) == ("error", "exit status 3", "oops\n")


def test_a_command_killed_by_a_signal_names_the_signal() -> None:
    outcome = run_job(make_spec(command=("sh", "-c", "kill -9 $$")))
    assert (outcome.result, outcome.error) == ("error", "killed by SIGKILL")


def test_a_missing_program_is_an_error_not_an_exception() -> None:
    outcome = run_job(make_spec(command=("definitely-not-a-program-xyz", "--flag")))
    assert outcome == JobOutcome(
        "error", "command not found: definitely-not-a-program-xyz", "", None
    )


def _program(folder: Path, name: str, says: str) -> None:
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f'#!/bin/sh\necho {says} "$@"\n')
    script.chmod(0o755)


def test_a_program_moved_on_path_between_two_runs_is_found_where_it_is_now(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _program(first, "uno-probe", "first")
    path = f"{first}{os.pathsep}{second}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    spec = make_spec(command=("uno-probe", "a b"), env={"PATH": path})
    executor = Executor()
    assert run_job(spec, executor).output == "first a b\n"
    (first / "uno-probe").unlink()  # gone from where it was found
    _program(second, "uno-probe", "second")
    assert run_job(spec, executor).output == "second a b\n"
    (second / "uno-probe").unlink()
    outcome = run_job(spec, executor)
    assert (outcome.result, outcome.error) == ("error", "command not found: uno-probe")


def test_a_program_is_looked_up_on_the_path_the_schedule_sets(tmp_path: Path) -> None:
    _program(tmp_path / "a", "uno-probe", "from-a")
    _program(tmp_path / "b", "uno-probe", "from-b")
    executor = Executor()
    for folder in ("a", "b", "a"):
        env = {"PATH": f"{tmp_path / folder}{os.pathsep}{os.defpath}"}
        outcome = run_job(make_spec(command=("uno-probe",), env=env), executor)
        assert outcome.output == f"from-{folder}\n"


def test_a_missing_working_directory_is_reported_as_such(tmp_path: Path) -> None:
    outcome = run_job(make_spec(command=("true",), cwd="nowhere", base_cwd=str(tmp_path)))
    assert outcome.result == "error"
    assert outcome.error == f"working directory not found: {tmp_path / 'nowhere'}"


def test_a_program_without_execute_permission_is_refused_with_why(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)  # no execute bit for anyone: refused even to root
    outcome = run_job(make_spec(command=(str(script),)))
    assert (outcome.result, outcome.error) == ("error", f"permission denied: {script}")


def test_a_script_whose_interpreter_is_missing_says_so_not_that_it_is_missing(
    tmp_path: Path,
) -> None:
    script = tmp_path / "uses-a-missing-interpreter"
    script.write_text("#!/nonexistent/uno-interp -x\necho ran\n")
    script.chmod(0o755)
    for program, env in ((str(script), None), (script.name, {"PATH": str(tmp_path)})):
        outcome = run_job(make_spec(command=(program,), env=env))
        assert outcome.result == "error"
        assert outcome.error == (
            f"interpreter not found: /nonexistent/uno-interp (the first line of {script})"
        )


def test_a_file_that_is_not_a_program_is_refused_with_why(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00\x01\x02 not a program")
    data.chmod(0o755)
    outcome = run_job(make_spec(command=(str(data),)))
    assert outcome.result == "error"
    assert outcome.error == f"cannot start {data}: Exec format error"


def test_a_working_directory_that_is_a_file_is_refused_with_why(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a folder")
    outcome = run_job(make_spec(command=("true",), cwd="plain", base_cwd=str(tmp_path)))
    assert outcome.result == "error"
    assert outcome.error == f"working directory is not a folder: {tmp_path / 'plain'}"


def test_a_command_without_a_folder_runs_where_the_scheduler_is_now_not_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library schedule without a base folder runs in the scheduler's current folder,
    as a child of the scheduler would, not in the one its fork server started in."""
    (tmp_path / "first").mkdir()
    (tmp_path / "then" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "first")

    async def go() -> list[JobOutcome]:
        executor = Executor()
        try:
            before = await executor.run(make_spec(command=("pwd",)))  # forks the server
            os.chdir(tmp_path / "then")
            now = await executor.run(make_spec(command=("pwd",)))
            # a command given a folder of its own leaves the server there; the next
            # one's relative folder is still the scheduler's
            elsewhere = await executor.run(make_spec(command=("pwd",), cwd=str(tmp_path)))
            relative = await executor.run(make_spec(command=("pwd",), cwd="sub"))
            return [before, now, elsewhere, relative]
        finally:
            executor.close()

    outcomes = asyncio.run(go())
    assert [o.output for o in outcomes] == [
        f"{tmp_path / 'first'}\n",
        f"{tmp_path / 'then'}\n",
        f"{tmp_path}\n",
        f"{tmp_path / 'then' / 'sub'}\n",
    ]


def test_the_output_tail_is_bounded_and_holds_the_last_bytes_while_every_line_is_logged() -> None:
    lines: list[str] = []
    script = "for i in range(20000): print(f'line {i:05d}')"
    outcome = asyncio.run(
        Executor(log=lines.append).run(
            make_spec(command=(PY, "-c", script), output_tail=100, run_id="run-1")
        )
    )
    assert outcome.result == "success"
    assert len(outcome.output.encode()) <= 100
    assert outcome.output.endswith("line 19998\nline 19999\n")
    assert len(lines) == 20000
    assert lines[0] == "[nightly run-1] line 00000"


def test_a_line_is_logged_while_its_command_still_runs(tmp_path: Path) -> None:
    release = tmp_path / "release"
    script = f"echo first; while [ ! -e {release} ]; do sleep 0.01; done; echo second"
    lines: list[str] = []

    async def scenario() -> tuple[list[str], JobOutcome]:
        executor = Executor(log=lines.append)
        job = asyncio.ensure_future(
            executor.run(make_spec(command=("sh", "-c", script), run_id="run-1"))
        )
        deadline = time.monotonic() + 10
        while not lines and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        seen = list(lines)
        release.touch()
        return seen, await job

    seen, outcome = asyncio.run(scenario())
    assert seen == ["[nightly run-1] first"]
    assert outcome.output == "first\nsecond\n"


# -- timeouts and process groups -------------------------------------------------------------


@pytest.mark.serial
def test_a_timeout_kills_the_whole_process_group_including_the_grandchild(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    spec = make_spec(
        command=("sh", "-c", f"sleep 300 & echo $! > {pid_file}; sleep 300"), timeout=0.5
    )
    started = time.monotonic()
    outcome = run_job(spec)
    took = time.monotonic() - started
    assert (outcome.result, outcome.error) == ("timeout", "timed out after 0.5s")
    assert took < 0.5 + GRACE + 1.0
    grandchild = int(pid_file.read_text())
    assert outcome.pid is not None
    assert not alive(outcome.pid)
    assert not alive(grandchild)
    assert group_members(outcome.pid) == []


@pytest.mark.serial
def test_a_job_that_ignores_sigterm_is_killed_at_timeout_plus_grace() -> None:
    spec = make_spec(command=("sh", "-c", "trap '' TERM; sleep 300"), timeout=0.5)
    started = time.monotonic()
    outcome = run_job(spec)
    took = time.monotonic() - started
    assert outcome.result == "timeout"
    assert 0.5 + GRACE - 0.05 <= took < 0.5 + GRACE + 1.0
    assert outcome.pid is not None
    assert group_members(outcome.pid) == []


@pytest.mark.serial
def test_a_grandchild_holding_the_pipe_does_not_keep_a_finished_job_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    spec = make_spec(command=("sh", "-c", f"sleep 300 & echo $! > {pid_file}; echo done"))
    started = time.monotonic()
    outcome = run_job(spec)
    assert time.monotonic() - started < 1.5
    assert (outcome.result, outcome.output) == ("success", "done\n")
    assert not alive(int(pid_file.read_text()))


def test_stop_all_interrupts_a_running_command_and_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    spec = make_spec(command=("sh", "-c", f"sleep 300 & echo $! > {pid_file}; sleep 300"))

    async def scenario() -> tuple[JobOutcome, list[int | None], int]:
        executor = Executor()
        pids: list[int | None] = []
        job = asyncio.ensure_future(executor.run(spec, on_start=pids.append))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.01)
        assert executor.running == 1
        await executor.stop_all(GRACE)
        outcome = await job
        late = await executor.run(make_spec(command=("true",)))
        assert late.result == "interrupted"
        return outcome, pids, executor.running

    outcome, pids, running = asyncio.run(scenario())
    assert (outcome.result, outcome.error) == ("interrupted", "stopped by scheduler shutdown")
    assert pids == [outcome.pid]
    assert running == 0
    assert outcome.pid is not None
    assert group_members(outcome.pid) == []
    assert not alive(int(pid_file.read_text()))


def test_cancelling_a_run_kills_its_process_group() -> None:
    async def scenario() -> int:
        pids: list[int | None] = []
        job = asyncio.ensure_future(
            Executor().run(make_spec(command=("sh", "-c", "sleep 300")), on_start=pids.append)
        )
        while not pids:
            await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert pids[0] is not None
        return pids[0]

    pgid = asyncio.run(scenario())
    deadline = time.monotonic() + 2
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert group_members(pgid) == []


# -- how a command is started: by the fork server ------------------------------------------


def test_a_command_is_the_fork_servers_child_and_its_exit_status_comes_back() -> None:
    async def scenario() -> tuple[list[JobOutcome], list[int], int]:
        executor = Executor()
        try:
            outcomes = []
            for code in (0, 3):
                # The shell says who its parent is: read from /proc once it has started,
                # a command that ended first (a loaded machine) would be gone.
                script = f"echo $PPID; sleep 0.2; exit {code}"
                spec = make_spec(command=("sh", "-c", script))
                outcomes.append(await executor.run(spec))
            parents = [int(o.output) for o in outcomes]
            return outcomes, parents, executor._workers.server().pid
        finally:
            executor.close()

    outcomes, parents, server = asyncio.run(scenario())
    assert [(o.result, o.error) for o in outcomes] == [
        ("success", None),
        ("error", "exit status 3"),
    ]
    assert parents == [server, server]
    assert server != os.getpid()


def test_a_burst_of_commands_is_spread_over_more_fork_servers_which_go_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from unoschedule.runner import workers

    monkeypatch.setattr(workers, "most_spawners", lambda: 3)
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.3)

    async def scenario() -> tuple[set[int], int, int, list[str]]:
        executor = Executor()
        try:
            specs = [make_spec(command=("sh", "-c", "echo $PPID; sleep 0.2")) for _ in range(40)]
            outcomes = await asyncio.gather(*(executor.run(s) for s in specs))
            parents = {int(o.output) for o in outcomes if o.result == "success"}
            servers = 1 + len(executor._workers._spawners)
            deadline = time.monotonic() + 10
            while executor._workers._spawners and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            results = [
                o.result if o.result == "success" else f"{o.result}: {o.error}" for o in outcomes
            ]
            return parents, servers, len(executor._workers._spawners), results
        finally:
            executor.close()

    parents, servers, left, results = asyncio.run(scenario())
    assert results == ["success"] * 40
    assert servers == 3  # all starts waited on the first: two more were forked
    assert 1 < len(parents) <= 3
    assert left == 0  # idle past IDLE_SECONDS: gone; the first server stays


def test_on_group_is_told_the_group_of_each_job_in_a_process_of_its_own(tmp_path: Path) -> None:
    """What a worker's keeper kills a job by: a command's group at its start, and the
    group of the pooled worker that took a sync task (each leads its own), as the task
    carries no ``UNO_RUN_ID`` to be found by."""
    told: list[tuple[str, int]] = []
    path = tmp_path / "pid"
    task = make_spec(task="executor_tasks.pid_then_sleep", args=(str(path), 0.5))
    command = make_spec(command=("sh", "-c", "echo $$"))

    async def scenario() -> list[JobOutcome]:
        executor = Executor(on_group=lambda run_id, pgid: told.append((run_id, pgid)))
        try:
            return [await executor.run(task), await executor.run(command)]
        finally:
            executor.close()

    ran, said = asyncio.run(scenario())
    assert (ran.result, said.result) == ("success", "success")
    assert told == [
        (task.run.run_id, int(path.read_text())),
        (command.run.run_id, int(said.output)),
    ]


def test_the_fork_servers_kill_what_they_started_at_the_fence_unless_it_moves_first() -> None:
    """The fence a leader moves at each renewal of a lease only the store keeps: at it,
    the command, the pooled task and the task forked here (it has a timeout) still
    running are killed by a fork server (not by this process, which may be frozen
    then); moved before it came, it kills nothing."""
    from unoschedule.runner.processes import steady

    async def scenario() -> tuple[list[str], list[str]]:
        executor = Executor()
        try:
            cmd = make_spec(command=("sh", "-c", "sleep 5"))
            task = make_spec(task="executor_tasks.sleep_sync", args=(5.0,))
            forked = make_spec(task="executor_tasks.sleep_sync", args=(5.0,), timeout=30)
            short = make_spec(command=("sh", "-c", "sleep 0.6"))
            short_task = make_spec(task="executor_tasks.sleep_sync", args=(0.6,))
            executor.fence(steady() + 0.3)
            running = asyncio.gather(executor.run(short), executor.run(short_task))
            await asyncio.sleep(0.1)
            executor.fence(steady() + 30.0)  # moved before it came: they live on past it
            spared = await running
            executor.fence(steady() + 0.3)
            killed = await asyncio.wait_for(
                asyncio.gather(executor.run(cmd), executor.run(task), executor.run(forked)), 4.0
            )
            executor.fence(None)
            return [f"{o.result} {o.error}" for o in spared], [
                f"{o.result} {o.error}" for o in killed
            ]
        finally:
            executor.close()

    spared, killed = asyncio.run(scenario())
    assert spared == ["success None", "success None"]
    assert killed[0] == "error killed by SIGKILL"
    assert killed[1].startswith("error task died: its process was killed by SIGKILL")
    assert killed[2] == "error killed by SIGKILL"  # forked here (its timeout), not by a server


def test_the_largest_report_of_ends_the_server_sends_is_read_whole() -> None:
    # The server reports at most _MOST_ENDS reaped children in one datagram; one read
    # into a smaller buffer would cut it, and the last runs would never end.
    import socket
    import struct

    from unoschedule.runner import forker

    async def scenario() -> list[int]:
        ended: list[int] = []
        server = forker.Forker(
            lambda *_: os._exit(0),
            lambda *_: None,
            lambda pid, _: ended.append(pid),
            lambda _: None,
        )
        theirs, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            asyncio.get_running_loop().remove_reader(server._sock.fileno())
            server._sock.close()
            server._sock = ours  # the report comes from this test, not from the server
            ours.setblocking(False)
            pids = range(100_000, 100_000 + forker._MOST_ENDS)
            theirs.send(b"X" + b"".join(struct.pack("!ii", pid, 0) for pid in pids))
            server._readable()
            return ended
        finally:
            server.close()
            theirs.close()

    ended = asyncio.run(scenario())
    assert ended == list(range(100_000, 100_000 + forker._MOST_ENDS))


def test_a_command_starts_with_sigpipe_at_its_default_as_popen_gives_it() -> None:
    # Python ignores SIGPIPE; a command that inherited that would see EPIPE instead of
    # dying at a closed pipe, and ``yes`` would complain into the output.
    outcome = run_job(
        make_spec(command=("sh", "-c", "yes | head -n 2; grep SigIgn /proc/self/status"))
    )
    assert outcome.result == "success", outcome
    lines = outcome.output.splitlines()
    assert lines[:2] == ["y", "y"] and lines[2].startswith("SigIgn:"), lines  # no EPIPE error
    ignored = int(lines[2].split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


_POLICY_OF_A_COMMAND = ("sh", "-c", "cut -d' ' -f41 /proc/self/stat")


def test_jobs_run_as_batch_work_so_a_burst_does_not_preempt_the_scheduler() -> None:
    """A command (and what it starts) and a sync task in a pooled worker run under
    ``SCHED_BATCH``; the scheduler itself keeps the default policy."""
    command = run_job(make_spec(command=_POLICY_OF_A_COMMAND))
    assert command.result == "success", command
    assert int(command.output) == os.SCHED_BATCH
    task = run_job(make_spec(task="executor_tasks.policy"))
    assert task.result == "success", task
    assert task.output == repr(os.SCHED_BATCH)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_a_policy_the_operator_chose_for_the_scheduler_is_kept_for_its_jobs() -> None:
    """A scheduler started under ``SCHED_IDLE`` (``CPUSchedulingPolicy=idle``) does not
    give its jobs a higher one."""
    script = (
        "import asyncio, os, sys\n"
        "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_executor import make_spec, run_job, _POLICY_OF_A_COMMAND\n"
        "print(run_job(make_spec(command=_POLICY_OF_A_COMMAND)).output.strip())\n"
    )
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", script, here], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) == os.SCHED_IDLE


def test_a_command_holds_no_descriptor_but_its_stdin_stdout_and_stderr(tmp_path: Path) -> None:
    # A descriptor the scheduler inherited without close-on-exec (as from whoever started
    # it) and one it holds itself must not reach a job.
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    try:
        outcome = run_job(
            make_spec(command=(PY, "-c", "import os; print(sorted(os.listdir('/proc/self/fd')))"))
        )
    finally:
        os.close(leaked)
    assert outcome.result == "success", outcome
    assert json.loads(outcome.output.replace("'", '"')) == ["0", "1", "2", "3"]  # 3: the listing's


def test_a_command_with_an_environment_larger_than_a_datagram_gets_all_of_it() -> None:
    value = "x" * 100_000  # over the datagram, under exec's 128 KiB a string
    outcome = run_job(
        make_spec(
            command=(PY, "-c", "import os; print(len(os.environ['BIG']))"), env={"BIG": value}
        )
    )
    assert (outcome.result, outcome.output) == ("success", "100000\n")


def test_a_command_outlives_its_fork_server_and_its_run_still_ends_with_its_end(
    tmp_path: Path,
) -> None:
    # The server is killed while a command runs: the command goes on, its output is still
    # read, its end is seen (its status is lost: 255), and the next command gets a new
    # server.
    release = tmp_path / "release"
    script = f"echo started; while [ ! -e {release} ]; do sleep 0.02; done; echo done; exit 7"

    async def scenario() -> tuple[JobOutcome, JobOutcome, int, int]:
        executor = Executor()
        try:
            pids: list[int | None] = []
            job = asyncio.ensure_future(
                executor.run(make_spec(command=("sh", "-c", script)), on_start=pids.append)
            )
            while not pids:
                await asyncio.sleep(0.01)
            first = executor._workers.server()
            os.kill(first.pid, signal.SIGKILL)
            while not first.dead:
                await asyncio.sleep(0.01)
            assert pids[0] is not None and alive(pids[0])
            release.touch()
            outcome = await asyncio.wait_for(job, 10)
            after = await executor.run(make_spec(command=("true",)))
            return outcome, after, first.pid, executor._workers.server().pid
        finally:
            executor.close()

    outcome, after, first, second = asyncio.run(scenario())
    assert (outcome.result, outcome.error) == ("error", "exit status 255")
    assert outcome.output == "started\ndone\n"
    assert after.result == "success"
    assert second != first


# -- Python tasks --------------------------------------------------------------------------


def test_a_sync_task_gets_args_and_merged_kwargs_and_runs_in_a_reused_worker_process() -> None:
    pids: list[int | None] = []
    spec = make_spec(
        task="executor_tasks.add", args=(2, 3), kwargs={"scale": 1}, run_kwargs={"scale": 10}
    )

    async def twice() -> list[JobOutcome]:
        executor = Executor()
        try:
            return [await executor.run(spec, on_start=pids.append) for _ in range(2)]
        finally:
            executor.close()

    first, second = asyncio.run(twice())
    assert first.result == "success", first
    worker = first.pid
    assert worker is not None and worker != os.getpid()
    assert first.output == repr({"sum": 50, "pid": worker})
    assert second.pid == worker  # the second run reused the idle worker
    assert pids == [None, None]  # which worker takes a request is known only once it has
    assert second.output == first.output


def descendants() -> set[int]:
    """Live (not zombie) processes descended from this test process: the task workers
    are the children of the executor's fork server, itself a child."""
    parents: dict[bytes, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if fields[0] not in (b"Z", b"X"):
                parents.setdefault(fields[1], []).append(int(name))
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for child in parents.get(str(todo.pop()).encode(), []):
            found.add(child)
            todo.append(child)
    return found


def task_definition(name: str, task: str, **fields: Any) -> ScheduleDefinition:
    return ScheduleDefinition(name=name, schedule=IntervalSchedule("5m"), task=task, **fields)


def test_prepare_forks_a_worker_per_slot_of_the_sync_tasks_before_their_first_run() -> None:
    definitions = [task_definition(f"s{i}", "executor_tasks.my_pid") for i in range(5)]
    definitions += [
        task_definition("a", "executor_tasks.async_add"),  # runs on a thread
        task_definition("t", "executor_tasks.my_pid", timeout=5.0),  # forked per run
        task_definition("q", "executor_tasks.my_pid", queue="other"),
    ]
    options = SchedulerOptions(default_concurrency=3, import_paths=(JOBS,))
    pids: list[int | None] = []

    async def go() -> tuple[int, set[int], list[JobOutcome]]:
        executor = Executor()
        others = descendants()  # of the test process: a redis-server of other tests...
        try:
            executor.prepare(definitions, options, None)
            ready = await executor.prepared()
            before = descendants() - others
            spec = make_spec(task="executor_tasks.my_pid")
            outcomes = [await executor.run(spec, on_start=pids.append) for _ in range(2)]
            return ready, before, outcomes
        finally:
            executor.close()

    ready, before, outcomes = asyncio.run(go())
    assert ready == 3 + 1  # 5 sync tasks in a queue of 3 slots, 1 in queue 'other'
    assert len(before) == ready + 1  # and the fork server
    assert [o.result for o in outcomes] == ["success", "success"]
    assert {o.pid for o in outcomes} <= before  # the runs found their workers forked already
    assert {int(o.output) for o in outcomes} <= before


@pytest.mark.parametrize(("task", "error"), [("exit3", "exit status 3"), ("segfault", "SIGSEGV")])
def test_a_prepared_worker_killed_by_its_task_is_recorded_and_replaced(
    task: str, error: str
) -> None:
    options = SchedulerOptions(import_paths=(JOBS,))

    async def go() -> tuple[JobOutcome, set[int], int, JobOutcome, set[int]]:
        executor = Executor()
        others = descendants()
        try:
            executor.prepare([task_definition("d", f"executor_tasks.{task}")], options, None)
            await executor.prepared()
            first = descendants() - others
            died = await executor.run(make_spec(task=f"executor_tasks.{task}"))
            ready = await executor.prepared()
            second = descendants() - others
            fine = await executor.run(make_spec(task="executor_tasks.my_pid"))
            return died, first, ready, fine, second
        finally:
            executor.close()

    died, first, ready, fine, second = asyncio.run(go())
    assert died.result == "error" and error in (died.error or ""), died
    assert died.pid in first
    # a new worker, ready (beside the fork server, which both sets hold)
    assert ready == 1 and len(second) == 2 and len(first) == 2 and second != first
    assert fine.result == "success" and int(fine.output) in second


def test_what_an_async_task_leaves_running_is_cancelled_before_its_run_ends(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "cancelled"

    async def go() -> tuple[JobOutcome, bool, JobOutcome]:
        executor = Executor()
        try:
            first = await executor.run(
                make_spec(task="executor_tasks.leave_a_task_behind", args=(str(marker),))
            )
            cancelled = marker.exists()  # before the next task is even submitted
            second = await executor.run(make_spec(task="executor_tasks.thread_ident"))
            return first, cancelled, second
        finally:
            executor.close()

    first, cancelled, second = asyncio.run(go())
    assert first.result == "success" and second.result == "success"
    assert cancelled


def test_a_colon_path_may_name_an_attribute_of_a_class() -> None:
    outcome = run_job(make_spec(task="executor_tasks:Greeter.hello", args=("ops",)))
    assert (outcome.result, outcome.output) == ("success", "'hello ops'")


def test_an_async_task_is_awaited_with_its_args() -> None:
    outcome = run_job(make_spec(task="executor_tasks.async_add", args=(1, 2), kwargs={"scale": 3}))
    assert (outcome.result, outcome.output) == ("success", "9")


def test_a_sync_task_with_a_timeout_runs_in_a_forked_child_and_returns_its_result() -> None:
    pids: list[int | None] = []
    spec = make_spec(task="executor_tasks.add", args=(2, 3), kwargs={"scale": 2}, timeout=5)
    outcome = asyncio.run(Executor().run(spec, on_start=pids.append))
    assert outcome.result == "success", outcome
    assert outcome.pid is not None and outcome.pid != os.getpid()
    assert pids == [outcome.pid]
    assert outcome.output == repr({"sum": 10, "pid": outcome.pid})


@pytest.mark.serial
def test_a_sync_task_is_stopped_at_its_timeout() -> None:
    spec = make_spec(task="executor_tasks.sleep_sync", args=(30,), timeout=0.5)
    started = time.monotonic()
    outcome = run_job(spec)
    assert time.monotonic() - started < 2.0
    assert (outcome.result, outcome.error) == ("timeout", "timed out after 0.5s")
    assert outcome.pid is not None
    assert not alive(outcome.pid)


def test_a_timed_out_sync_task_takes_its_own_subprocesses_with_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    spec = make_spec(task="executor_tasks.spawn_and_sleep", args=(str(pid_file),), timeout=0.5)
    outcome = run_job(spec)
    assert outcome.result == "timeout"
    assert not alive(int(pid_file.read_text()))


def test_killing_a_forked_task_does_not_deliver_sigterm_to_the_scheduler() -> None:
    async def scenario() -> tuple[JobOutcome, list[int]]:
        received: list[int] = []
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, received.append, signal.SIGTERM)
        try:
            spec = make_spec(task="executor_tasks.sleep_sync", args=(30,), timeout=0.3)
            outcome = await Executor().run(spec)
            await asyncio.sleep(0.05)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
        return outcome, received

    outcome, received = asyncio.run(scenario())
    assert outcome.result == "timeout"
    assert received == []


@pytest.mark.serial
def test_an_async_task_is_cancelled_at_its_timeout() -> None:
    started = time.monotonic()
    outcome = run_job(make_spec(task="executor_tasks.sleep_async", args=(30,), timeout=0.3))
    assert time.monotonic() - started < 1.5
    assert (outcome.result, outcome.error) == ("timeout", "timed out after 0.3s")


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["in-a-thread", "forked"])
def test_an_exception_becomes_an_error_with_its_type_message_and_traceback(
    timeout: float | None,
) -> None:
    outcome = run_job(make_spec(task="executor_tasks.boom", args=("disk full",), timeout=timeout))
    assert (outcome.result, outcome.error) == ("error", "ValueError: disk full")
    assert "Traceback" in outcome.output
    assert outcome.output.rstrip().endswith("ValueError: disk full")


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ("executor_tasks.nope", "'executor_tasks' has no attribute 'nope'"),
        ("no_such_module_xyz.run", "No module named 'no_such_module_xyz'"),
        ("executor_tasks", "is a module; name a function in it"),
    ],
)
def test_an_import_failure_is_an_error_outcome_naming_the_task(task: str, reason: str) -> None:
    outcome = run_job(make_spec(task=task))
    assert outcome.result == "error"
    assert outcome.error is not None
    assert outcome.error.startswith(f"cannot import task {task!r}: ")
    assert reason in outcome.error


def test_the_yaml_folder_is_an_import_root(tmp_path: Path) -> None:
    (tmp_path / "local_jobs_for_executor.py").write_text("def ping():\n    return 'pong'\n")
    spec = make_spec(task="local_jobs_for_executor:ping", base_cwd=str(tmp_path))
    assert run_job(spec).output == "'pong'"


@pytest.mark.serial
def test_stop_all_cancels_an_async_task_after_the_grace_period() -> None:
    async def scenario() -> tuple[JobOutcome, float]:
        executor = Executor()
        job = asyncio.ensure_future(
            executor.run(make_spec(task="executor_tasks.sleep_async", args=(30,)))
        )
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await executor.stop_all(0.2)
        return await job, time.monotonic() - started

    outcome, took = asyncio.run(scenario())
    assert (outcome.result, outcome.error) == ("interrupted", "stopped by scheduler shutdown")
    assert 0.15 <= took < 1.5


# -- hooks ---------------------------------------------------------------------------------


@pytest.mark.serial
def test_a_hook_runs_with_the_given_environment_and_never_raises(tmp_path: Path) -> None:
    out = tmp_path / "hook.txt"
    lines: list[str] = []
    run_hook(
        ["sh", "-c", f'echo "$UNO_SCHEDULE_NAME failed" > {out}; echo logged; exit 2'],
        {"UNO_SCHEDULE_NAME": "nightly"},
        log=lines.append,
    )
    assert out.read_text() == "nightly failed\n"
    assert any("logged" in line for line in lines)
    assert any("exit status 2" in line for line in lines)
    run_hook("definitely-not-a-program-xyz", {}, log=lines.append)
    assert "command not found" in lines[-1]
    started = time.monotonic()
    run_hook(["sleep", "30"], {}, timeout=0.2)
    assert time.monotonic() - started < 2


@pytest.mark.serial
@pytest.mark.parametrize("timeout", [None, 30.0], ids=["thread", "forked"])
def test_stop_all_interrupts_a_sync_task_within_the_grace_period(timeout: float | None) -> None:
    async def scenario() -> tuple[JobOutcome, float]:
        executor = Executor()
        spec = make_spec(task="executor_tasks.sleep_sync", args=(30,), timeout=timeout)
        job = asyncio.ensure_future(executor.run(spec))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await executor.stop_all(0.2)
        return await job, time.monotonic() - started

    outcome, took = asyncio.run(scenario())
    assert (outcome.result, outcome.error) == ("interrupted", "stopped by scheduler shutdown")
    assert took < 1.5
    if timeout is not None:
        assert outcome.pid is not None
        assert not alive(outcome.pid)


def test_a_cut_through_a_utf8_character_does_not_garble_the_tail() -> None:
    outcome = run_job(make_spec(command=(PY, "-c", "print('é' * 100, end='')"), output_tail=51))
    assert outcome.output == "é" * 25


@pytest.mark.serial
def test_a_grandchild_that_ignores_sigterm_is_killed_after_its_parent_obeyed(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"(trap '' TERM; exec sleep 300) & echo $! > {pid_file}; sleep 300"
    started = time.monotonic()
    outcome = run_job(make_spec(command=("sh", "-c", script), timeout=0.5))
    took = time.monotonic() - started
    assert outcome.result == "timeout"
    assert 0.5 + GRACE - 0.05 <= took < 0.5 + GRACE + 1.0
    assert not alive(int(pid_file.read_text()))


def test_a_job_that_cannot_start_for_want_of_descriptors_is_an_error_not_an_exception(
    tmp_path: Path,
) -> None:
    # A process whose descriptors are all taken (as a runner's were by idle /metrics
    # connections) runs a command: the run must end as an error that says why.
    script = tmp_path / "starve.py"
    script.write_text(
        "import asyncio, os, resource, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_executor import make_spec\n"
        "from unoschedule.runner.executor import Executor\n"
        "async def main():\n"
        "    executor = Executor()\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "    held = []\n"
        "    try:\n"
        "        while True:\n"
        "            held.append(os.open(os.devnull, os.O_RDONLY))\n"
        "    except OSError:\n"
        "        pass\n"
        "    for spec in (make_spec(command=('true',)), make_spec(task='os:getpid', timeout=5)):\n"
        "        outcome = await executor.run(spec)\n"
        "        print(outcome.result, outcome.error)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "error cannot start the job: Too many open files",
        "error cannot start the job: Too many open files",
    ]


def test_an_async_task_blocking_its_loop_times_out_on_time_and_holds_one_thread_at_most() -> None:
    import dataclasses

    release = _release_event()
    spec = dataclasses.replace(
        make_spec(task="executor_tasks.block_async", timeout=0.5), kill_grace=8.0
    )

    async def go() -> tuple[JobOutcome, float, JobOutcome, int, int, JobOutcome]:
        executor = Executor()
        began = time.monotonic()
        first = await executor.run(spec)  # its cancellation cannot land: abandoned
        took = time.monotonic() - began
        threads = _threads_of_this_process()
        second = await executor.run(spec)  # the first still blocks its thread
        after = _threads_of_this_process()
        release.set()
        deadline = time.monotonic() + 10
        while True:  # once the first's thread is free, a run starts again
            third = await executor.run(spec)
            if third.result == "success" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        executor.close()
        return first, took, second, threads, after, third

    first, took, second, threads, after, third = asyncio.run(go())
    assert first.result == "timeout" and "abandoned" in (first.error or "")
    assert took < 4.0  # at its timeout, not after the kill grace (8 s)
    assert second.result == "error" and after <= threads  # no thread for the refused run
    assert second.error == (
        "not started: the task of an earlier run, abandoned at its timeout, has not ended yet"
    )
    assert third.result == "success"


def test_a_commands_output_reaches_the_output_callback_whole_in_chunks_not_lines() -> None:
    # A job printing many short lines must not cost the event loop a call per line.
    got: list[tuple[str, str, bytes]] = []
    lines: list[str] = []
    executor = Executor(log=lines.append, output=lambda *chunk: got.append(chunk))
    spec = make_spec(command=("seq", "300000"), output_tail=16)
    outcome = run_job(spec, executor)
    assert outcome.result == "success" and outcome.output.endswith("299999\n300000\n")
    expected = "".join(f"{i}\n" for i in range(1, 300001)).encode()
    assert b"".join(data for _, _, data in got) == expected
    assert {(schedule, run_id) for schedule, run_id, _ in got} == {("nightly", spec.run.run_id)}
    # How many bytes each read finds depends on how far `seq` ran ahead of the reader, so
    # the count of chunks is not fixed; but a chunk is never less than one of seq's writes
    # (4 KiB, atomic in a pipe), against 7 bytes a line: far under one call per 100 lines.
    assert len(got) < 300000 // 100
    assert not any(line.endswith("] 1") for line in lines)  # no line by line as well


def _threads_of_this_process() -> int:
    return len(os.listdir("/proc/self/task"))


def _release_event() -> threading.Event:
    """``executor_tasks.RELEASE``, cleared (the module as the executor imports it)."""
    run_job(make_spec(task="executor_tasks.thread_ident"))
    release: threading.Event = sys.modules["executor_tasks"].RELEASE
    release.clear()
    return release


def test_async_tasks_running_at_once_share_one_thread_apart_from_the_scheduler() -> None:
    async def go() -> tuple[list[JobOutcome], int]:
        executor = Executor()
        before = _threads_of_this_process()
        try:
            outcomes = await asyncio.gather(
                *(
                    executor.run(make_spec(task="executor_tasks.thread_ident_after", args=(0.3,)))
                    for _ in range(50)
                )
            )
            return list(outcomes), _threads_of_this_process() - before
        finally:
            executor.close()

    outcomes, added = asyncio.run(go())
    assert {outcome.result for outcome in outcomes} == {"success"}
    idents = {outcome.output for outcome in outcomes}
    assert len(idents) == 1 and idents != {repr(threading.get_ident())}
    assert added <= 1


def test_what_an_async_task_leaves_running_is_cancelled_at_its_end_not_another_runs() -> None:
    async def go(folder: Path) -> tuple[JobOutcome, bool, bool, JobOutcome, bool]:
        executor = Executor()
        mine, theirs = folder / "mine", folder / "theirs"
        try:
            longer = asyncio.ensure_future(
                executor.run(
                    make_spec(task="executor_tasks.leave_a_task_and_sleep", args=(str(theirs), 1.0))
                )
            )
            first = await executor.run(
                make_spec(task="executor_tasks.leave_a_task_and_sleep", args=(str(mine), 0.1))
            )
            ended_with_it, not_the_others = mine.exists(), not theirs.exists()
            second = await longer
            return first, ended_with_it, not_the_others, second, theirs.exists()
        finally:
            executor.close()

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        first, ended_with_it, not_the_others, second, theirs_ended = asyncio.run(go(Path(folder)))
    assert (first.result, first.output) == ("success", "'still running'")
    assert ended_with_it and not_the_others
    assert (second.result, second.output) == ("success", "'still running'")
    assert theirs_ended


def test_a_task_that_blocks_its_loop_holds_back_no_task_started_after_it() -> None:
    release = _release_event()
    warnings: list[str] = []

    async def go() -> tuple[JobOutcome, JobOutcome, JobOutcome, bool]:
        executor = Executor(warn=warnings.append)
        try:
            beside = asyncio.ensure_future(
                executor.run(
                    make_spec(task="executor_tasks.sleep_async", args=(0.2,), run_id="beside")
                )
            )
            await asyncio.sleep(0.05)  # begun in the loop the blocker is about to block
            blocker = asyncio.ensure_future(
                executor.run(make_spec(task="executor_tasks.block_async", run_id="blocker"))
            )
            await asyncio.sleep(0.3)
            after = await asyncio.wait_for(
                executor.run(make_spec(task="executor_tasks.thread_ident", run_id="after")), 10
            )
            deadline = time.monotonic() + 10
            while not warnings and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            still_blocked = not blocker.done()
            release.set()
            return await blocker, await beside, after, still_blocked
        finally:
            release.set()
            executor.close()

    first, beside, after, still_blocked = asyncio.run(go())
    assert still_blocked and after.result == "success"  # began in a new loop meanwhile
    assert (first.result, first.output) == ("success", "'released'")
    assert beside.result == "success"  # it waited for the blocker to yield
    assert len(warnings) == 1 and warnings[0].startswith("[nightly blocker] async task blocks")

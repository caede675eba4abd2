"""Issue 7: faults and hostile input that used to break ``uno-schedule run``.

Each test drives the real CLI as a subprocess where the item is about processes (a task
that kills its process, a daemon that escapes, a signal, a deleted state file), and the
library with an injected clock where it is about time. Waits are on observable
conditions with a deadline; the deadlines only bound how long a broken build takes to
fail.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from test_service import Runner, runners, runs, uno_cli, wait_until, write_config

pytestmark = pytest.mark.slow

__all__ = ["runners"]  # the fixture, imported for its name

HARMFUL_TASKS = """
import ctypes
import os
import time


def exit3():
    os._exit(3)


def segfault():
    ctypes.string_at(0)


def fine():
    return os.getpid()
"""


def write_tasks(workdir: Path, name: str, body: str) -> None:
    (workdir / f"{name}.py").write_text(textwrap.dedent(body))


def results_of(workdir: Path, schedule: str) -> list[dict[str, object]]:
    return [r for r in runs(workdir) if r["schedule"] == schedule]


def cli(workdir: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


# -- 1. a sync task cannot kill the scheduler ---------------------------------------------


@pytest.mark.parametrize(("task", "error"), [("exit3", "exit status 3"), ("segfault", "SIGSEGV")])
def test_a_sync_task_that_kills_its_process_does_not_kill_the_scheduler(
    tmp_path: Path, runners: Callable[..., Runner], task: str, error: str
) -> None:
    write_tasks(tmp_path, "harmful", HARMFUL_TASKS)
    write_config(
        tmp_path,
        f"""
        schedules:
          deadly:
            schedule: {{every: 1h}}
            task: harmful.{task}
          alive:
            schedule: "* * * * * *"
            task: harmful.fine
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    assert cli(tmp_path, "trigger", "deadly").returncode == 0
    wait_until(
        lambda: [r for r in results_of(tmp_path, "deadly") if r["result"] == "error"],
        20,
        "the deadly run recorded as an error",
    )
    (dead,) = results_of(tmp_path, "deadly")
    assert error in str(dead["error"])
    count = len(results_of(tmp_path, "alive"))
    wait_until(lambda: len(results_of(tmp_path, "alive")) >= count + 2, 20, "firing goes on")
    assert runner.proc.poll() is None
    assert runner.term() == 0
    pids = {r["output"] for r in results_of(tmp_path, "alive") if r["result"] == "success"}
    assert str(runner.proc.pid) not in pids  # the task did not run in the scheduler

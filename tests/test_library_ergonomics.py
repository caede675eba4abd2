"""What a program embedding the library meets first: the errors its handlers get, where
its tasks are imported from, and which ports it opens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from unoschedule import Scheduler, TaskFailure
from unoschedule.runner.ops import Operations
from unoschedule.scheduler import _rebuilt


def failure(error: str) -> TaskFailure:
    outcome = SimpleNamespace(error=error, result="error", output="Traceback ...\nboom\n")
    return _rebuilt(outcome, SimpleNamespace(run_id="r-1"))  # type: ignore[arg-type]


def test_a_failure_rebuilt_from_another_process_reads_as_the_original_message() -> None:
    exc = failure("ValueError: the database is on fire")
    assert str(exc) == "the database is on fire" == str(ValueError("the database is on fire"))
    assert isinstance(exc, ValueError)
    assert (exc.type_name, exc.message, exc.run_id) == (
        "ValueError",
        "the database is on fire",
        "r-1",
    )
    assert exc.traceback.startswith("Traceback")


def test_a_rebuilt_key_error_reads_as_the_key_error_did() -> None:
    original = KeyError("sku")
    exc = failure(f"KeyError: {original}")
    assert isinstance(exc, KeyError)
    assert str(exc) == str(original)


class Recorder:
    """The runner's log, kept in memory."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    def warning(self, text: str) -> None:
        self.lines.append(text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def operations(tmp_path: Path, **options: Any) -> tuple[Operations, Recorder]:
    scheduler = Scheduler(storage=str(tmp_path / "state.db"), **options)
    log = Recorder()
    return Operations(scheduler, log), log  # type: ignore[arg-type]


def test_a_library_scheduler_opens_no_metrics_port_unless_asked(tmp_path: Path) -> None:
    ops, _ = operations(tmp_path)
    ops.serve_metrics(ops.scheduler, leading=True)
    assert ops.metrics is None
    port = free_port()
    asked, _ = operations(tmp_path, metrics_address=f"127.0.0.1:{port}")
    try:
        asked.serve_metrics(asked.scheduler, leading=True)
        assert asked.metrics is not None and asked.metrics.port == port
    finally:
        asked.close()


def test_run_serves_metrics_unless_told_not_to(tmp_path: Path) -> None:
    port = free_port()
    ops, _ = operations(tmp_path, metrics_address=f"127.0.0.1:{port}", metrics_enabled=False)
    ops.metrics_by_default = True
    ops.serve_metrics(ops.scheduler)
    assert ops.metrics is None


def test_a_standby_takes_the_metrics_port_over_when_it_leads(tmp_path: Path) -> None:
    port = free_port()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    ops, log = operations(tmp_path, metrics_address=f"127.0.0.1:{port}")
    try:
        ops.serve_metrics(ops.scheduler)  # a standby beside the leader holding the port
        assert ops.metrics is None or ops.metrics.port is None
        assert "by this state's leader if it runs on this host" in log.lines[-1]
        ops.serve_metrics(ops.scheduler, leading=True)  # still held: not by a runner
        assert "by another process, not a runner of this state" in log.lines[-1]
        holder.close()  # the old leader's process is gone
        ops.serve_metrics(ops.scheduler, leading=True)
        assert ops.metrics is not None and ops.metrics.port == port
        assert log.lines[-1] == f"metrics on http://127.0.0.1:{port}/metrics"
    finally:
        holder.close()
        ops.close()


def shell(folder: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "uno-schedule"), "--state", str(state), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_task_not_found_names_the_import_paths_it_was_looked_for_in(tmp_path: Path) -> None:
    """A script registers ``jobs.greet`` from its folder; the shell, run there, cannot
    import it and says where it looked and what decides it."""
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "__init__.py").write_text("def greet():\n    print('hello')\n")
    state = tmp_path / "state.db"
    (tmp_path / "register.py").write_text(
        textwrap.dedent(f"""
        import asyncio
        from unoschedule import Scheduler, EventTrigger
        async def main():
            s = Scheduler(storage={str(state)!r})
            await s.schedule(task="jobs.greet", schedule=EventTrigger("hi"), name="greeter")
        asyncio.run(main())
        """)
    )
    subprocess.run([sys.executable, "register.py"], cwd=tmp_path, check=True, timeout=60)
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    (elsewhere / "schedules.yaml").write_text("schedules: {}\n")
    done = shell(tmp_path, state, "-c", "conf/schedules.yaml", "trigger", "greeter", "--wait")
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert "No module named 'jobs'" in text
    assert f"import paths: {elsewhere}, then sys.path" in text and "import_paths" in text


def test_a_closure_run_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    script = textwrap.dedent(f"""
        import asyncio, warnings
        from unoschedule import Scheduler, EventTrigger
        async def main():
            def closure():
                print("ran")
            s = Scheduler(storage={str(state)!r})
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await s.schedule(task=closure, schedule=EventTrigger("go"), name="closure")
            print(caught[0].category.__name__, caught[0].message)
        asyncio.run(main())
        """)
    made = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert made.stdout.startswith("RuntimeWarning schedule 'closure'")
    assert "forked from this one" in made.stdout and "is lost" in made.stdout
    (tmp_path / "schedules.yaml").write_text("schedules: {}\n")
    done = shell(tmp_path, state, "trigger", "closure", "--wait")
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert "in-process callable" in text and "this process does not have it" in text
    assert "Traceback" not in text and "cannot import task" not in text

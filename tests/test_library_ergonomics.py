"""What a program embedding the library meets first: the errors its handlers get, where
its tasks are imported from, and which ports it opens."""

from __future__ import annotations

import socket
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
    asked, log = operations(tmp_path, metrics_address=f"127.0.0.1:{port}")
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

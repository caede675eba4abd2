"""``uno-schedule run`` as a real process: crashes, standby takeover, signals, reloads.

These tests are about processes, so they use real ones. They wait on observable
conditions (a line in a file, a row in the state) with a deadline, never on fixed sleeps
for correctness; the deadlines only bound how long a broken build takes to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import random
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_task_workers import module_a_reload_brings

from unoschedule import Scheduler
from unoschedule.runner.reloading import CHUNK, loop_turn, write_reload
from unoschedule.runner.service import YOUNG_GC_THRESHOLD

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Runner:
    """One ``uno-schedule run`` subprocess with its log captured to a file."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str] | None = None) -> None:
        self.log_path = workdir / f"{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [*uno_cli(workdir), "run"],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_log(self, needle: str, timeout: float = 20.0) -> None:
        wait_until(lambda: needle in self.text(), timeout, f"{needle!r} in {self.log_path.name}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def term(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    started: list[Runner] = []

    def start(name: str = "a", env: dict[str, str] | None = None) -> Runner:
        runner = Runner(tmp_path, name, env)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.close()
    for runner in started:  # pytest shows what a teardown prints only when the test failed
        with contextlib.suppress(OSError):
            tail = runner.text().splitlines()[-40:]
            print(f"--- the end of {runner.log_path.name}", *tail, sep="\n")


def uno_cli(workdir: Path) -> list[str]:
    """The argv prefix of ``uno-schedule`` on the file and state in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "unoschedule",
        "-c",
        str(workdir / "schedules.yaml"),
        "--state",
        str(workdir / "state.db"),
    ]


def write_config(workdir: Path, body: str) -> None:
    (workdir / "schedules.yaml").write_text(textwrap.dedent(body))


def runs(workdir: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{workdir / 'state.db'}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [
            dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY scheduled_time, attempt")
        ]
    finally:
        conn.close()


def starts(workdir: Path) -> list[str]:
    path = workdir / "starts.log"
    return path.read_text().split("\n")[:-1] if path.exists() else []


EVERY_SECOND = """
    scheduler:
      missed_threshold: 600
      shutdown_grace: 5
    schedules:
      tick:
        schedule: "* * * * * *"
        command: "echo $UNO_SCHEDULED_TIME $UNO_ATTEMPT >> starts.log"
        shell: true
"""


def assert_no_duplicate_starts(workdir: Path) -> list[str]:
    lines = starts(workdir)
    duplicates = [line for line, n in Counter(lines).items() if n > 1]
    assert not duplicates, f"started twice: {duplicates}"
    return lines


def assert_every_occurrence_recorded(workdir: Path) -> None:
    rows = [r for r in runs(workdir) if r["schedule"] == "tick" and r["attempt"] == 1]
    instants = sorted({r["scheduled_time"] for r in rows})
    assert len(instants) == len(rows), "an occurrence was recorded twice"
    from datetime import datetime, timedelta

    parsed = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in instants]
    gaps = [(a, b) for a, b in itertools.pairwise(parsed) if b - a != timedelta(seconds=1)]
    assert not gaps, f"occurrences without a record between {gaps[:3]}"


@pytest.mark.parametrize("point", ["after_claim", "before_spawn", "after_spawn", "before_finish"])
def test_a_crash_at_any_point_never_starts_an_occurrence_twice(
    tmp_path: Path, runners: Callable[..., Runner], point: str
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    crashing = runners("crash", {"UNO_SCHEDULE_FAILPOINT": f"{point}:3"})
    assert crashing.proc.wait(30) == -signal.SIGKILL
    survivor = runners("after")
    survivor.wait_log("ready")
    wait_until(lambda: len(starts(tmp_path)) >= 4, 20, "runs after the restart")
    assert survivor.term() == 0
    assert_no_duplicate_starts(tmp_path)
    assert_every_occurrence_recorded(tmp_path)
    results = Counter(r["result"] for r in runs(tmp_path))
    assert results["running"] == 0 and results["queued"] == 0
    if point in ("before_spawn", "after_spawn", "before_finish"):
        assert results["interrupted"] == 1


RETRIED = """
    scheduler: {metrics_enabled: false}
    schedules:
      flaky:
        schedule: {every: 1h}
        run_on_start: true
        max_retries: 1
        retry_delay: 1s
        shell: true
        command: "echo $UNO_ATTEMPT >> attempts.log; exit 3"
"""


def test_a_leader_killed_right_after_recording_a_failure_leaves_its_retry_to_the_next(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The retry is queued in the transaction that records the failure: a leader killed
    right after that write (before it could claim anything more) loses no attempt."""
    write_config(tmp_path, RETRIED)
    crashing = runners("crash", {"UNO_SCHEDULE_FAILPOINT": "after_end:1"})
    assert crashing.proc.wait(30) == -signal.SIGKILL
    survivor = runners("after")
    survivor.wait_log("ready")
    attempts = tmp_path / "attempts.log"
    wait_until(lambda: attempts.read_text().split() == ["1", "2"], 20, "the retry")
    assert survivor.term() == 0
    assert attempts.read_text().split() == ["1", "2"]
    flaky = [(r["attempt"], r["trigger"], r["result"]) for r in runs(tmp_path)]
    assert flaky == [(1, "schedule", "error"), (2, "retry", "error")]


def test_random_kills_never_start_an_occurrence_twice(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    rng = random.Random(7)
    for i in range(5):
        runner = runners(f"r{i}")
        runner.wait_log("ready")
        time.sleep(
            rng.uniform(0.3, 1.7)
        )  # a random moment to die; correctness does not depend on it
        runner.kill()
    last = runners("last")
    last.wait_log("ready")
    wait_until(lambda: len(starts(tmp_path)) >= 6, 20, "runs")
    assert last.term() == 0
    assert len(assert_no_duplicate_starts(tmp_path)) >= 6
    assert_every_occurrence_recorded(tmp_path)


@pytest.mark.serial
def test_a_standby_takes_over_within_a_second_of_the_leaders_death(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    leader = runners("leader")
    leader.wait_log("ready")
    standby = runners("standby")
    standby.wait_log("standby")
    wait_until(lambda: len(starts(tmp_path)) >= 2, 20, "runs")
    assert "ready" not in standby.text()
    leader.kill()
    killed_at = time.monotonic()
    standby.wait_log("ready", timeout=10)
    assert time.monotonic() - killed_at < 2.0
    count = len(starts(tmp_path))
    wait_until(lambda: len(starts(tmp_path)) >= count + 2, 20, "runs by the new leader")
    assert standby.term() == 0
    assert_no_duplicate_starts(tmp_path)
    leaders = {r["instance_id"] for r in runs(tmp_path) if r["result"] == "success"}
    assert len(leaders) == 2


def test_sigterm_lets_a_running_job_finish_and_exits_cleanly(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          shutdown_grace: 10
        schedules:
          slow:
            schedule: "* * * * * *"
            unique: true
            command: "echo started >> starts.log; sleep 1; echo finished >> done.log"
            shell: true
    """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: starts(tmp_path), 20, "a start")
    assert runner.term() == 0
    assert (tmp_path / "done.log").exists()
    results = Counter(r["result"] for r in runs(tmp_path))
    assert results["running"] == 0
    assert results["interrupted"] == 0


def test_a_job_that_ignores_sigterm_is_killed_at_timeout_and_leaves_no_process(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    marker = f"uno-test-{os.getpid()}-{random.randrange(10**9)}"
    write_config(
        tmp_path,
        f"""
        scheduler:
          kill_grace: 0.5
        schedules:
          stubborn:
            schedule: {{every: 1h}}
            timeout: 1s
            command: "trap '' TERM; sleep 300 & echo $! > child.pid; sleep 301 # {marker}"
            shell: true
    """,
    )
    runner = runners()
    runner.wait_log("ready")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "unoschedule",
            "-c",
            str(tmp_path / "schedules.yaml"),
            "--state",
            str(tmp_path / "state.db"),
            "trigger",
            "stubborn",
            "--wait",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    rows = [r for r in runs(tmp_path) if r["schedule"] == "stubborn"]
    assert [r["result"] for r in rows] == ["timeout"]
    assert rows[0]["duration"] < 1 + 0.5 + 2
    child = int((tmp_path / "child.pid").read_text())
    wait_until(
        lambda: (
            not Path(f"/proc/{child}").exists()
            or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
        ),
        5,
        "grandchild gone",
    )
    assert runner.term() == 0


def test_retries_and_timeouts_are_recorded_as_the_contract_says(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    (tmp_path / "jobs.py").write_text(
        textwrap.dedent("""
        import json, os
        def record(*args, **kwargs):
            with open("python.log", "a") as f:
                f.write(json.dumps({"args": list(args), "kwargs": kwargs}) + "\\n")
            return "ok"
    """)
    )
    write_config(
        tmp_path,
        """
        schedules:
          flaky:
            schedule: {every: 1h}
            command: [sh, -c, "exit 3"]
            max_retries: 2
            retry_delay: 0.2
          python:
            schedule: {every: 1h}
            task: jobs.record
            args: [1, two]
            kwargs: {three: 3}
    """,
    )
    runner = runners()
    runner.wait_log("ready")
    cli = uno_cli(tmp_path)
    subprocess.run([*cli, "trigger", "flaky"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(
        [*cli, "trigger", "python", "--wait"], cwd=tmp_path, check=True, capture_output=True
    )
    wait_until(
        lambda: (
            len(
                [
                    r
                    for r in runs(tmp_path)
                    if r["schedule"] == "flaky" and r["result"] not in ("queued", "running")
                ]
            )
            == 3
        ),
        20,
        "three attempts",
    )
    assert runner.term() == 0
    history = json.loads(
        subprocess.run(
            [*cli, "history", "flaky", "--json"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert [(h["trigger"], h["attempt"], h["result"]) for h in history] == [
        ("retry", 3, "error"),
        ("retry", 2, "error"),
        ("manual", 1, "error"),
    ]
    assert all(h["error"] == "exit status 3" for h in history)
    calls = [json.loads(line) for line in (tmp_path / "python.log").read_text().splitlines()]
    assert calls == [{"args": [1, "two"], "kwargs": {"three": 3}}]


def test_the_state_file_is_private_to_its_owner(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    runner = runners()
    runner.wait_log("ready")
    assert runner.term() == 0
    mode = stat.S_IMODE(os.stat(tmp_path / "state.db").st_mode)
    assert mode == 0o600


def test_an_invalid_reload_keeps_the_last_good_configuration(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    runner = runners()
    runner.wait_log("ready")
    (tmp_path / "schedules.yaml").write_text("schedules:\n  tick:\n    shedule: '* * * * *'\n")
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reload rejected")
    count = len(starts(tmp_path))
    wait_until(lambda: len(starts(tmp_path)) >= count + 2, 20, "runs after the rejected reload")
    write_config(tmp_path, EVERY_SECOND.replace('"* * * * * *"', '"*/2 * * * * *"'))
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")
    assert runner.term() == 0
    cli = uno_cli(tmp_path)
    versions = json.loads(
        subprocess.run(
            [*cli, "history", "tick", "--versions", "--json"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert [v["version"] for v in versions] == [2, 1]
    assert "*/2 * * * * *" in versions[0]["diff"]


LONG_JOB = """
    scheduler:
      shutdown_grace: {grace}
      kill_grace: 1
      metrics_enabled: false
      metrics_address: {metrics}
    schedules:
      long:
        schedule: "* * * * * *"
        command: "sleep 40"
        shell: true
        overlap: skip
"""


def test_a_reload_applies_the_files_scheduler_options_and_says_which_wait_for_a_restart(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The reloaded ``shutdown_grace`` decides how long a stop waits for the running job
    (the first, 60 s, would outlast the test); a changed listening address is named as
    taking effect at the next start, not silently dropped."""
    write_config(tmp_path, LONG_JOB.format(grace=60, metrics="127.0.0.1:19650"))
    runner = runners()
    runner.wait_log("long: starting run")
    write_config(tmp_path, LONG_JOB.format(grace=0, metrics="127.0.0.1:19651"))
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")
    text = runner.text()
    assert "scheduler options applied: shutdown_grace" in text
    assert (
        "scheduler option metrics_address changed in the file: it takes effect when the "
        "runner restarts" in text
    )
    assert runner.term(timeout=20) == 0
    assert [r["result"] for r in runs(tmp_path)] == ["interrupted"]


def many_hourly(count: int, version: int) -> str:
    lines = ["schedules:"]
    for i in range(count):
        lines += [
            f"  s{i:05d}:",
            f'    schedule: "{i % 60} * * * *"',
            f"    command: [echo, v{version}]",
        ]
    return "\n".join(lines) + "\n"


def test_a_reload_written_in_chunks_is_loaded_whole_and_changes_through_the_api_still_count(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """Each chunk the reload writes wakes the leader (a definition write does); the
    leader does not take the reload's own writes for changes through the API, and a
    change another process makes through the API while the reload is written is taken."""
    count = 6 * CHUNK
    (tmp_path / "schedules.yaml").write_text(many_hourly(count, 1))
    runner = runners()
    runner.wait_log("ready", timeout=60)

    async def through_the_api(change: str) -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        try:
            if change == "add":
                await scheduler.schedule(command="true", schedule="0 3 * * *", name="api")
            else:
                await scheduler.update_schedule("api", command="false")
        finally:
            scheduler.close()

    def reload_written_in_part() -> bool:
        conn = sqlite3.connect(f"file:{tmp_path / 'state.db'}?mode=ro", uri=True, timeout=10)
        try:
            return bool(conn.execute("SELECT 1 FROM schedules WHERE version = 2").fetchone())
        finally:
            conn.close()

    taken = "api: changed through the API"
    asyncio.run(through_the_api("add"))
    runner.wait_log(taken)
    (tmp_path / "schedules.yaml").write_text(many_hourly(count, 2))  # every one changed
    runner.proc.send_signal(signal.SIGHUP)
    wait_until(reload_written_in_part, 60, "the reload's first chunk written")
    asyncio.run(through_the_api("update"))
    runner.wait_log("reloaded", timeout=60)
    wait_until(lambda: runner.text().count(taken) == 2, 20, "the update through the API taken")
    assert runner.term() == 0
    text = runner.text()
    assert f"{count} schedules changed" in text
    taken_from_file = re.findall(r"s\d{5}: \w+ through the API", text)
    assert not taken_from_file, taken_from_file[:3]


def test_a_reload_in_chunks_calls_between_after_each_while_the_thread_holds_no_lock(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from unoschedule.model import ScheduleDefinition
    from unoschedule.runner.log import Logger
    from unoschedule.schedules import CronSchedule
    from unoschedule.store.sqlite import SQLiteStorage

    store = SQLiteStorage(tmp_path / "state.db")
    definitions = {
        f"s{i:05d}": ScheduleDefinition(
            name=f"s{i:05d}", schedule=CronSchedule(f"{i % 60} * * * *"), command=("true",)
        )
        for i in range(2 * CHUNK + CHUNK // 2)
    }
    written: list[int] = []

    def between() -> None:  # the loop's claim, as it would take the store here
        assert store._lock.acquire(blocking=False), "the reload's thread holds the store"
        store._lock.release()
        written.append(len(store.list_schedules(definitions=False)))

    now = datetime(2026, 6, 1, tzinfo=UTC)
    log = Logger(io.StringIO())
    try:
        done = write_reload(store, definitions, now=now, source="file", log=log, between=between)
    finally:
        store.close()
    assert written == [CHUNK, 2 * CHUNK, len(definitions)]
    assert len(done.states) == len(definitions)


def run_loops_seen(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The run loops of this process, each added as it first reads the schedules off the
    event loop (a reload, the look at every schedule)."""
    from unoschedule.runner.loop import RunLoop, StatusWatch

    loops: list[RunLoop] = []
    watch = RunLoop.watch_statuses

    def watching(self: RunLoop) -> StatusWatch:
        if self not in loops:
            loops.append(self)
        return watch(self)

    monkeypatch.setattr(RunLoop, "watch_statuses", watching)
    return loops


def test_a_pause_from_the_shell_while_a_reload_is_written_is_not_lifted_by_the_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload reads the schedules in a thread, then loads them on the event loop: a
    pause the leader noted in between is not undone by the reload's older copy."""
    from unoschedule.config import load_config
    from unoschedule.runner import service as service_module

    config = tmp_path / "schedules.yaml"
    state = tmp_path / "state.db"
    body = 'schedules:\n  x: {schedule: "0 3 * * *", command: "true"}\n'
    config.write_text(body)
    monkeypatch.setattr(service_module, "FILE_POLL_SECONDS", 0.05)
    loops = run_loops_seen(monkeypatch)
    record = service_module.filestamp.record

    def pause_then_record(*args: Any) -> None:  # in the reload's thread, after its read
        if threading.current_thread() is threading.main_thread():  # the start's own
            record(*args)
            return

        async def pause() -> None:
            shell = Scheduler.for_state(state)
            try:
                await shell.pause_schedule("x", reason="maintenance")
            finally:
                shell.close()

        asyncio.run(pause())
        wait_until(lambda: "x" in loops[0]._inactive, 10, "the leader noting the pause")
        record(*args)

    monkeypatch.setattr(service_module.filestamp, "record", pause_then_record)

    async def go() -> tuple[bool, bool]:
        scheduler = Scheduler.from_config(load_config(config), state=str(state), create_state=True)
        await scheduler.start()
        try:
            config.write_text(body + '  y: {schedule: "0 4 * * *", command: "true"}\n')
            for _ in range(400):
                await asyncio.sleep(0.05)
                if "y" in scheduler.definitions:
                    break
            runloop = loops[0]
            return "x" in runloop._inactive, "x" in runloop._next
        finally:
            await scheduler.shutdown()

    paused, followed = asyncio.run(go())
    assert paused and not followed


def test_the_look_at_every_schedule_reads_them_off_the_event_loop_and_acts_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net for a missed wake-up: a pause written without one is found by the
    periodic look, whose read (a quarter of a second at 100,000) is not on the loop."""
    from unoschedule.config import load_config
    from unoschedule.runner import service as service_module

    config = tmp_path / "schedules.yaml"
    state = tmp_path / "state.db"
    config.write_text('schedules:\n  x: {schedule: "0 3 * * *", command: "true"}\n')
    monkeypatch.setattr(service_module, "FULL_LOOK_SECONDS", 0.05)
    monkeypatch.setattr(service_module, "FILE_POLL_SECONDS", 0.05)
    loops = run_loops_seen(monkeypatch)
    readers: list[str] = []
    read_all = service_module._all_statuses

    def reading(store: Any) -> Any:
        readers.append(threading.current_thread().name)
        return read_all(store)

    monkeypatch.setattr(service_module, "_all_statuses", reading)

    async def go() -> bool:
        scheduler = Scheduler.from_config(load_config(config), state=str(state), create_state=True)
        await scheduler.start()
        try:
            conn = sqlite3.connect(state)  # a pause that wakes nobody
            with conn:
                conn.execute("UPDATE schedules SET status = 'paused' WHERE name = 'x'")
            conn.close()
            for _ in range(400):
                await asyncio.sleep(0.05)
                if loops and "x" in loops[0]._inactive:
                    return "x" not in loops[0]._next
            return False
        finally:
            await scheduler.shutdown()

    assert asyncio.run(go())
    assert readers and threading.main_thread().name not in readers


def test_between_two_chunks_the_reload_waits_for_a_turn_of_the_event_loop() -> None:
    order: list[str] = []

    async def main() -> None:
        asked = threading.Event()
        wait = loop_turn(asyncio.get_running_loop())

        def reload_thread() -> None:
            order.append("chunk 1 written")
            asked.set()
            wait()
            order.append("chunk 2 written")

        thread = threading.Thread(target=reload_thread)
        thread.start()
        asked.wait(10)  # the loop's thread is busy (a tick) when the reload asks
        time.sleep(0.05)  # and stays busy a while: a pause of the thread would not wait
        order.append("the loop's tick")
        await asyncio.to_thread(thread.join, 10)

    asyncio.run(main())
    assert order == ["chunk 1 written", "the loop's tick", "chunk 2 written"]


def test_systemd_hears_ready_reloading_and_stopping(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, EVERY_SECOND)
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(20)
    try:
        runner = runners(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
        messages: list[str] = []

        def receive_until(needle: str) -> None:
            while not any(needle in m for m in messages):
                messages.append(sock.recv(4096).decode())

        receive_until("READY=1")
        receive_until("WATCHDOG=1")
        runner.proc.send_signal(signal.SIGHUP)
        receive_until("RELOADING=1")
        assert any("MONOTONIC_USEC=" in m for m in messages)
        assert runner.term() == 0
        receive_until("STOPPING=1")
        assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in messages)
    finally:
        sock.close()


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = (Path("/proc") / name / "cmdline").read_bytes()
            state = (Path("/proc") / name / "stat").read_bytes()
        except OSError:
            continue
        alive = state[state.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
        if marker.encode() in cmdline and alive:
            found.append(int(name))
    return found


def test_failover_end_to_end_reads_right_in_history(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The acceptance story of the run loop: fast schedules, a standby, the leader
    killed with -9, the standby stopped with SIGTERM; then history --json is read."""
    marker = f"uno-orphan-{os.getpid()}-{random.randrange(1 << 30)}"
    (tmp_path / "jobs.py").write_text(
        textwrap.dedent("""
        import json
        def record(*args, **kwargs):
            with open("python.log", "a") as f:
                f.write(json.dumps({"args": list(args), "kwargs": kwargs}) + "\\n")
    """)
    )
    write_config(
        tmp_path,
        f"""
        scheduler:
          missed_threshold: 600
          shutdown_grace: 2
          kill_grace: 0.5
          lock_timeout: 5
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo $UNO_SCHEDULED_TIME $UNO_ATTEMPT >> starts.log"
            shell: true
          flaky:
            schedule: "*/3 * * * * *"
            command: [sh, -c, "exit 3"]
            max_retries: 2
            retry_delay: 0.2
          slow:
            schedule: "*/4 * * * * *"
            command: [sh, -c, "sleep 30; : {marker}"]
            timeout: 1
            unique: true
          python:
            schedule: "*/2 * * * * *"
            task: jobs.record
            args: [1, two]
            kwargs: {{three: 3}}
    """,
    )
    first = runners("first")
    first.wait_log("ready")
    second = runners("second")
    second.wait_log("standby")
    # Let the leader fire, and kill it while a slow job runs (its orphan must not survive).
    wait_until(lambda: len(starts(tmp_path)) >= 4, 20, "the first leader's runs")
    wait_until(lambda: _processes_with(marker), 10, "a slow job running")
    first.kill()
    second.wait_log("taking over", 5)
    second.wait_log("ready", 10)
    wait_until(
        lambda: any(r["instance_id"] != runs(tmp_path)[0]["instance_id"] for r in runs(tmp_path)),
        10,
        "the second leader's runs",
    )
    wait_until(lambda: len(starts(tmp_path)) >= 12, 30, "more runs")
    assert second.term() == 0
    assert not _processes_with(marker), "a job's process outlived the schedulers"

    history: list[dict[str, Any]] = []
    for name in ("tick", "flaky", "slow", "python"):
        history += json.loads(
            subprocess.run(
                [*uno_cli(tmp_path), "history", name, "--limit", "100000", "--json"],
                cwd=tmp_path,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    keys = Counter((h["schedule"], h["scheduled_time"], h["attempt"]) for h in history)
    assert [k for k, n in keys.items() if n > 1] == []
    assert_no_duplicate_starts(tmp_path)
    assert len({r["instance_id"] for r in runs(tmp_path)}) == 2  # the standby took over
    by_occurrence: dict[str, list[dict[str, Any]]] = {}
    for h in history:
        if h["schedule"] == "flaky":
            by_occurrence.setdefault(h["scheduled_time"], []).append(h)
    finished = [
        sorted(rs, key=lambda r: r["attempt"])
        for rs in by_occurrence.values()
        if all(r["result"] not in ("queued", "running") for r in rs) and len(rs) == 3
    ]
    assert finished, "no flaky occurrence went through all its attempts"
    for attempts in finished:
        assert [r["attempt"] for r in attempts] == [1, 2, 3]
        assert [r["trigger"] for r in attempts] == ["schedule", "retry", "retry"]
        assert all(r["result"] in ("error", "interrupted") for r in attempts)
    slow = [h for h in history if h["schedule"] == "slow"]
    assert any(h["result"] == "timeout" and h["error"] == "timed out after 1s" for h in slow)
    assert all(h["result"] in ("timeout", "interrupted", "skipped", "missed") for h in slow)
    calls = [json.loads(line) for line in (tmp_path / "python.log").read_text().splitlines()]
    assert calls and all(c == {"args": [1, "two"], "kwargs": {"three": 3}} for c in calls)
    assert stat.S_IMODE((tmp_path / "state.db").stat().st_mode) == 0o600


def test_the_shell_wakes_a_sleeping_leader_at_once(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """pause, resume and trigger are seen at once, not after check_interval (60 s)."""
    write_config(
        tmp_path,
        """
        scheduler:
          check_interval: 60
        schedules:
          hourly:
            schedule: {every: 1h}
            command: "echo $UNO_TRIGGER >> starts.log"
            shell: true
    """,
    )
    runner = runners()
    runner.wait_log("ready")
    time.sleep(0.5)  # let the leader go to sleep (nothing is due for an hour)
    cli = uno_cli(tmp_path)
    asked = time.monotonic()
    subprocess.run([*cli, "trigger", "hourly"], cwd=tmp_path, check=True, capture_output=True)
    wait_until(lambda: starts(tmp_path) == ["manual"], 10, "the manual run")
    assert time.monotonic() - asked < 5, "the leader waited for check_interval"
    assert runner.term() == 0


def test_a_task_module_a_reload_brings_is_imported_by_the_scheduler_not_by_its_workers(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    (tmp_path / "first_tasks.py").write_text("def noop():\n    return None\n")
    module, imports = module_a_reload_brings(tmp_path)
    first = """
        scheduler:
          default_concurrency: 3
          shutdown_grace: 5
        schedules:
          first:
            schedule: "* * * * * *"
            task: first_tasks.noop
    """
    write_config(tmp_path, first)
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: any(r["schedule"] == "first" for r in runs(tmp_path)), 20, "a first run")
    brought = "".join(
        f"""
          brought{i}:
            schedule: "* * * * * *"
            task: {module}.my_pid
        """
        for i in range(3)
    )
    write_config(tmp_path, first + brought)
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")

    def brought_runs() -> list[dict[str, Any]]:
        return [
            r
            for r in runs(tmp_path)
            if r["schedule"].startswith("brought") and r["result"] == "success"
        ]

    wait_until(lambda: len(brought_runs()) >= 9, 30, "runs of the module the reload brought")
    assert runner.term() == 0
    workers = {r["pid"] for r in brought_runs()}
    assert runner.proc.pid not in workers and len(workers) >= 1
    # imported once, in the scheduler, before the workers that ran it were forked
    assert imports.read_text().split() == [str(runner.proc.pid)]


def test_a_reload_says_which_task_modules_changed_since_they_were_imported(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    module = tmp_path / "versioned_tasks.py"
    module.write_text("def version():\n    return 'first'\n")
    write_config(
        tmp_path,
        """
        scheduler:
          shutdown_grace: 5
        schedules:
          versioned:
            schedule: "* * * * * *"
            task: versioned_tasks.version
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: any(r["output"] == "'first'" for r in runs(tmp_path)), 20, "a run")
    module.write_text("def version():\n    return 'second, longer'\n")
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded")
    runner.wait_log(f"task module versioned_tasks ({module}) changed since it was imported")
    seen = len(runs(tmp_path))
    wait_until(lambda: len(runs(tmp_path)) >= seen + 2, 20, "runs after the reload")
    assert runner.term() == 0
    # what the warning says: the code imported at start runs on
    assert {r["output"] for r in runs(tmp_path)} == {"'first'"}


def test_a_runner_collects_its_youngest_objects_less_often_while_it_serves(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """``YOUNG_GC_THRESHOLD``: an async task runs in the runner's own process and reads
    the collector's thresholds there."""
    (tmp_path / "gc_tasks.py").write_text(
        "import gc, json, os\n\n"
        "async def thresholds():\n"
        "    with open('thresholds.json', 'w') as fh:\n"
        "        json.dump([os.getpid(), *gc.get_threshold()], fh)\n"
    )
    write_config(
        tmp_path,
        """
        schedules:
          look:
            schedule: "* * * * * *"
            task: gc_tasks.thresholds
    """,
    )
    runner = runners()
    seen = tmp_path / "thresholds.json"
    wait_until(lambda: seen.exists() and seen.read_text(), 20, "the task's report")
    assert runner.term() == 0
    pid, young, *older = json.loads(seen.read_text())
    assert pid == runner.proc.pid
    assert (young, older) == (YOUNG_GC_THRESHOLD, [10, 10])

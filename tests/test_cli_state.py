"""The shell works from the state: a typo in the file does not lock the operator out, a
state whose schedules were all made through the API needs no file, and the records the
commands print (a schedule's zone, a usage error) come from the library.

Real processes where the item is about them: a runner that keeps its last good file
while the shell is asked about the state.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_service import Runner, runners, uno_cli, wait_until, write_config

from unoschedule.runlogs import path_of
from unoschedule.scheduler import Scheduler

__all__ = ["runners"]  # the fixture, imported for its name

GOOD = """
    scheduler:
      timezone: Europe/Berlin
    schedules:
      backup:
        schedule: "30 2 * * *"
        command: ["true"]
      tick:
        schedule: {every: 1h}
        command: ["true"]
"""


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args], cwd=workdir, capture_output=True, text=True, timeout=60
    )


def test_a_typo_in_the_file_leaves_every_command_on_the_state_working(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, GOOD)
    runner = runners()
    runner.wait_log("ready")
    (tmp_path / "schedules.yaml").write_text(
        (tmp_path / "schedules.yaml").read_text().replace("schedule: {every: 1h}", "schedle: 1h")
    )
    runner.wait_log("reload rejected", timeout=30)
    for command in (
        ["health"],
        ["list"],
        ["status", "backup"],
        ["history", "backup"],
        ["next-runs", "tick"],
        ["stats"],
        ["pause", "backup"],
        ["resume", "backup"],
        ["trigger", "tick"],
    ):
        done = cli(tmp_path, *command)
        assert done.returncode == 0, (command, done.stderr)
        warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1, (command, done.stderr)
        assert "schedules.yaml:" in warnings[0] and "schedle" in warnings[0], warnings
        assert "working from the state" in warnings[0]
    listed = json.loads(cli(tmp_path, "list", "--json").stdout)
    assert {r["name"] for r in listed} == {"backup", "tick"}  # the last good file's
    status = json.loads(cli(tmp_path, "status", "backup", "--json").stdout)
    assert status["timezone"] == "Europe/Berlin"  # the last good file's options
    for command in (["validate"], ["plan"]):
        done = cli(tmp_path, *command)
        assert done.returncode == 1, (command, done.stdout)
        assert "schedle" in done.stderr
    assert runner.proc.poll() is None  # the runner goes on with the last good file


def _api_only_state(folder: Path) -> Path:
    state = folder / "state.db"

    async def add() -> None:
        scheduler = Scheduler(state=state)
        try:
            await scheduler.schedule(
                command=["true"], schedule="15 * * * *", name="hourly", timezone="Asia/Tokyo"
            )
        finally:
            scheduler.close()

    asyncio.run(add())
    return state


def test_next_runs_and_run_need_no_file_on_a_state_made_through_the_api(
    tmp_path: Path,
) -> None:
    state = _api_only_state(tmp_path)
    assert not (tmp_path / "schedules.yaml").exists()
    done = cli(tmp_path, "next-runs", "hourly", "--count", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert [i[14:16] for i in json.loads(done.stdout)] == ["15", "15"]
    proc = subprocess.Popen(
        [*uno_cli(tmp_path), "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: json.loads(cli(tmp_path, "stats", "--json").stdout)["leader"],
            30,
            "a leader over the state alone",
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert state.exists()


def test_trigger_wait_runs_a_schedule_made_through_the_api_with_no_file(
    tmp_path: Path,
) -> None:
    _api_only_state(tmp_path)
    done = cli(tmp_path, "trigger", "hourly", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "success"


def test_trigger_wait_reads_a_relative_cwd_from_the_files_folder_when_the_file_is_unchanged(
    tmp_path: Path,
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          here:
            schedule: {every: 1h}
            shell: true
            command: pwd > where.txt
            cwd: sub
        """,
    )
    (tmp_path / "sub").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = [*uno_cli(tmp_path)]  # -c and --state name files in tmp_path

    def cli_elsewhere(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, *args], cwd=elsewhere, capture_output=True, text=True, timeout=60
        )

    assert cli_elsewhere("pause", "here").returncode == 0  # the state keeps the file
    for _ in range(2):  # the file read, then the file's record in the state
        done = cli_elsewhere("trigger", "here", "--wait")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "sub" / "where.txt").read_text().strip() == str(tmp_path / "sub")
        (tmp_path / "sub" / "where.txt").unlink()


def test_logs_reads_a_relative_log_dir_from_the_files_folder_when_the_file_is_unchanged(
    tmp_path: Path,
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          log_dir: runlogs
        schedules:
          here:
            schedule: {every: 1h}
            command: "true"
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = [*uno_cli(tmp_path)]  # -c and --state name files in tmp_path
    assert subprocess.run([*argv, "pause", "here"], cwd=elsewhere).returncode == 0
    _finished_run(tmp_path / "state.db", "here", "r1")
    kept = path_of(tmp_path / "runlogs", "here", "r1")  # where the runner writes it
    kept.parent.mkdir(parents=True)
    kept.write_text("every line the run printed\n")
    for _ in range(2):  # the file read, then the file's record in the state
        done = subprocess.run(
            [*argv, "logs", "here", "r1", "--json"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        assert (record["complete"], record["path"]) == (True, str(kept))
        assert record["output"] == "every line the run printed\n"


def _finished_run(state: Path, schedule: str, run_id: str) -> None:
    """A run of ``schedule`` recorded as the runner records one that succeeded."""
    from unoschedule.model import RunRecord
    from unoschedule.records import Finish
    from unoschedule.store.sqlite import SQLiteStorage

    at = datetime(2026, 6, 1, tzinfo=UTC)
    store = SQLiteStorage(state)
    try:
        store.enqueue(RunRecord(run_id=run_id, schedule=schedule, scheduled_time=at, queued_at=at))
        store.start_runs([(run_id, at, 1)])
        store.finish_runs([Finish(run_id, "success", at + timedelta(seconds=1))])
    finally:
        store.close()


def test_history_shows_a_schedule_made_through_the_api_in_its_own_zone(tmp_path: Path) -> None:
    write_config(tmp_path, GOOD)
    _api_only_state(tmp_path)
    assert cli(tmp_path, "trigger", "hourly").returncode == 0
    done = cli(tmp_path, "history", "hourly")
    assert done.returncode == 0, done.stderr
    scheduled = done.stdout.splitlines()[1].split("\t")[1]
    assert scheduled.endswith("JST"), done.stdout  # Asia/Tokyo, not the file's Berlin


def test_list_with_a_status_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    write_config(tmp_path, GOOD)
    done = cli(tmp_path, "list", "--status", "bogus")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: no status 'bogus'; a schedule is one of: active, paused, completed, "
        "disabled, removed"
    ]
    assert cli(tmp_path, "list", "--status", "paused").returncode == 0


@pytest.mark.parametrize("as_json", [False, True])
def test_plain_status_says_why_by_whom_and_until_when_a_schedule_is_paused(
    tmp_path: Path, as_json: bool
) -> None:
    write_config(tmp_path, GOOD)
    done = cli(tmp_path, "pause", "backup", "--reason", "disk swap", "--until", "2h")
    assert done.returncode == 0, done.stderr
    done = cli(tmp_path, "status", "backup", *(["--json"] if as_json else []))
    assert done.returncode == 0, done.stderr
    if as_json:
        record = json.loads(done.stdout)
        assert record["paused_reason"] == "disk swap" and record["paused_until"]
        return
    status = dict(line.split("\t", 1) for line in done.stdout.splitlines())["status"]
    assert status.startswith("paused (disk swap, by ") and " until " in status


# -- a file or a state that is not what it seems --------------------------------------------


@pytest.mark.parametrize("command", [["status", "tick"], ["list"], ["list", "--json"], ["stats"]])
def test_a_mistyped_file_beside_a_state_not_made_yet_is_the_files_error(
    tmp_path: Path, command: list[str]
) -> None:
    done = cli(tmp_path, "-c", "typo.yaml", "--state", "nothere.db", *command)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: cannot read typo.yaml: No such file or directory\n"
    assert not (tmp_path / "nothere.db").exists()


def test_an_empty_state_file_is_read_as_no_state_yet(tmp_path: Path) -> None:
    write_config(tmp_path, GOOD)
    (tmp_path / "empty.db").touch()
    listed = cli(tmp_path, "--state", "empty.db", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {row["name"] for row in json.loads(listed.stdout)} == {"backup", "tick"}
    assert cli(tmp_path, "--state", "empty.db", "next-runs", "tick").returncode == 0
    paused = cli(tmp_path, "--state", "empty.db", "pause", "tick")
    assert paused.returncode == 0, paused.stderr
    status = cli(tmp_path, "--state", "empty.db", "status", "tick", "--json")
    assert json.loads(status.stdout)["status"] == "paused"


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_file_that_cannot_be_read_is_one_line_and_exit_1(tmp_path: Path) -> None:
    write_config(tmp_path, GOOD)
    (tmp_path / "schedules.yaml").chmod(0)
    # root reads every file: drop that power for the command, as for any other user
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search"]
    drop += ["--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    for command in (["validate"], ["list"], ["status", "tick"]):
        done = subprocess.run(
            [*drop, *uno_cli(tmp_path), *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, (command, done.stderr)
        path = tmp_path / "schedules.yaml"
        assert done.stderr == f"error: cannot read {path}: Permission denied\n", command

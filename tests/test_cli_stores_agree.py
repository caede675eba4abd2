"""The same commands give the same answers on SQLite and on Redis state: real
``uno-schedule`` processes, once with ``--state FILE`` and once with ``--state
redis://...``, over a state that the test writes (or a foreground ``trigger --wait``
runs) the same way on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, unique_prefix

from unoschedule.abc import Store
from unoschedule.runlogs import path_of
from unoschedule.store import PREFIX_ENV
from unoschedule.store.redis import RedisStorage
from unoschedule.store.sqlite import SQLiteStorage
from unoschedule.timeutil import format_instant


@dataclass
class State:
    """One state the commands run on: where (``spec``), with what environment."""

    workdir: Path
    spec: str
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        config = str(self.workdir / "schedules.yaml")
        return subprocess.run(
            [sys.executable, "-m", "unoschedule", "-c", config, "--state", self.spec, *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def store(self) -> Store:
        """The state opened in this process, as the commands open it."""
        prefix = self.env.get(PREFIX_ENV)
        if prefix is None:
            return SQLiteStorage(self.spec)
        return RedisStorage(self.spec, key_prefix=prefix)


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    env = {**os.environ}
    env.pop("UNO_SCHEDULE_STATE", None)
    env.pop(PREFIX_ENV, None)
    if request.param == "sqlite":
        spec = str(tmp_path / "state.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        spec = server.url
        env[PREFIX_ENV] = unique_prefix()
    (tmp_path / "schedules.yaml").write_text(
        textwrap.dedent("""
            schedules:
              quiet: {schedule: {every: 1h}, command: "true"}
        """)
    )
    yield State(tmp_path, spec, env)


def test_after_a_clean_stop_no_command_names_a_leader(state: State) -> None:
    """A runner's clean stop releases its lease: ``health``, ``stats`` and ``top`` say
    that nobody leads, on either store, rather than naming the last holder with an
    expiry in 1970."""
    store = state.store()
    try:
        lease = store.acquire_lease("vm:3830", 30, datetime.now(UTC))
        assert lease is not None
        store.release_lease(lease.instance_id, lease.epoch)
    finally:
        store.close()
    health = state.cli("health", "--json")
    assert health.returncode == 1
    record = json.loads(health.stdout)
    assert record["reason"] == "no leader: no scheduler holds a current lease"
    assert (record["leader"], record["epoch"], record["lease_expires_at"]) == (None, None, None)
    assert record["no_leader_since"] is None  # a release tells no end, and no stop was said
    stats = state.json("stats")
    assert (stats["leader"], stats["instance_id"], stats["leader_lease_until"]) == (
        None,
        None,
        None,
    )
    top = state.json("top")
    assert (top["leader"], top["epoch"]) == (None, None)


def test_after_a_leader_died_status_and_list_say_since_when_nobody_leads(state: State) -> None:
    """A runner killed (``kill -9``) never releases its lease: ``status`` and ``list``
    say that nobody leads since that lease's end, on either store; on Redis too, where
    the lease's own key is gone once its time-to-live ran out (1 ms here)."""
    died = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    store = state.store()
    try:
        store.set_meta("started_at", format_instant(died - timedelta(hours=1)) or "")
        lease = store.acquire_lease("vm:3830", 0.001, died)
        assert lease is not None
    finally:
        store.close()
    record = state.json("status", "quiet")
    assert record["leader_status"] == {
        "running": False,
        "leader": None,
        "since": format_instant(lease.expires_at),
        "reason": "stopped",
    }
    listed = state.cli("list")
    assert listed.returncode == 0, listed.stderr
    assert "scheduler not running since " in listed.stdout + listed.stderr
    health = state.cli("health", "--json")
    assert health.returncode == 1
    checked = json.loads(health.stdout)
    since = format_instant(lease.expires_at)
    assert checked["no_leader_since"] == since
    assert checked["reason"] == f"no leader since {since}: no scheduler holds a current lease"


def test_a_run_that_printed_nothing_has_the_empty_output_on_either_store(state: State) -> None:
    done = state.cli("trigger", "quiet", "--wait")
    assert done.returncode == 0, done.stderr
    (run,) = state.json("history", "quiet")
    assert (run["result"], run["output"]) == ("success", "")


def test_logs_shows_the_whole_output_of_a_run_that_trigger_wait_ran_itself(
    state: State,
) -> None:
    """With no scheduler running, ``trigger --wait`` runs the job in its own process; its
    output is kept under ``log_dir`` (beside a state file by default), cut at
    ``log_max_bytes``, as a leader's run's is, and ``logs`` prints it whole."""
    remote = state.env.get(PREFIX_ENV) is not None
    (state.workdir / "schedules.yaml").write_text(
        textwrap.dedent(f"""
            scheduler:
              output_tail: 64
              log_max_bytes: 300
              {"log_dir: run-logs" if remote else ""}
            schedules:
              chatty: {{schedule: {{every: 1h}}, command: [sh, -c, "seq 1 200"]}}
        """)
    )
    done = state.cli("trigger", "chatty", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    folder = state.workdir / "run-logs" if remote else Path(f"{state.spec}.logs")
    shown = state.cli("logs", "chatty")
    assert shown.returncode == 0 and "only the end" not in shown.stderr, shown.stderr
    assert shown.stdout.startswith("1\n2\n3\n")
    assert "output cut at 300 bytes (scheduler.log_max_bytes)" in shown.stdout
    record = state.json("logs", "chatty")
    assert record["complete"] and record["path"] == str(path_of(folder, "chatty", run_id))

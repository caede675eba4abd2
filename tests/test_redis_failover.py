"""Several ``uno-schedule run`` processes on one real redis-server: the leader lease, its
fencing, and the fail-over, with real processes and real signals.

The runners share nothing but Redis (no file lock): whoever holds the lease fires. Every
job appends its occurrence to ``starts.log``, which is the ground truth of what started.
The tests wait on observable conditions with deadlines; the deadlines that are checked
(a takeover within ``lock_timeout`` plus a tick) are the guarantees under test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, unique_prefix

pytestmark = pytest.mark.slow

LOCK_TIMEOUT = 3.0

EVERY_SECOND = f"""
    scheduler:
      lock_timeout: {LOCK_TIMEOUT:g}s
      missed_threshold: 600
      shutdown_grace: 5
    schedules:
      tick:
        schedule: "* * * * * *"
        command: "echo $UNO_SCHEDULED_TIME $UNO_ATTEMPT >> starts.log"
        shell: true
"""


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Cluster:
    """Runners (and CLI calls) on one Redis URL and key prefix, in one folder."""

    def __init__(self, workdir: Path, url: str) -> None:
        self.workdir = workdir
        self.url = url
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix(),
        }
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("UNO_SCHEDULE_STATE", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        (workdir / "schedules.yaml").write_text(textwrap.dedent(EVERY_SECOND))

    def argv(self) -> list[str]:
        config = str(self.workdir / "schedules.yaml")
        return [sys.executable, "-m", "unoschedule", "-c", config, "--state", self.url]

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                [*self.argv(), *(command or ("run",))],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def leader(self) -> str | None:
        """The live runner whose latest line about leading says it leads."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            text = self.log(name)
            if text.rfind("ready:") > max(text.rfind("standby"), text.rfind("not firing")):
                return name
        return None

    def starts(self) -> list[str]:
        path = self.workdir / "starts.log"
        return path.read_text().split("\n")[:-1] if path.exists() else []

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [*self.argv(), *args], capture_output=True, text=True, env=self.env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    c = Cluster(tmp_path, redis_server.url)
    yield c
    c.close()


def assert_started_once_and_recorded(cluster: Cluster) -> list[str]:
    """No (instant, attempt) started twice; every start is a successful run in
    ``history --json``; the recorded instants have no gap."""
    lines = cluster.starts()
    duplicates = [line for line, n in Counter(lines).items() if n > 1]
    assert not duplicates, f"started twice: {duplicates}"
    history = cluster.cli("history", "tick", "--json", "--limit", "100000")
    keys = Counter((r["scheduled_time"], r["attempt"]) for r in history)
    assert not [k for k, n in keys.items() if n > 1], "an occurrence recorded twice"
    started = {tuple(line.split()) for line in lines}
    recorded = {(r["scheduled_time"], str(r["attempt"])) for r in history}
    assert started <= recorded, f"started without a record: {sorted(started - recorded)[:3]}"
    instants = sorted(datetime.fromisoformat(t) for t, _ in keys)
    gaps = [(a, b) for a, b in itertools.pairwise(instants) if b - a != timedelta(seconds=1)]
    assert not gaps, f"occurrences without a record between {gaps[:3]}"
    # A run cut off by the SIGKILL or the SIGSTOP is recorded ``interrupted`` by the next
    # leader (and the stale leader's late "success" is refused); every other one succeeded.
    # Each of the two disruptions can cut two: the run in flight, and one the leader had
    # marked running but not yet spawned (recorded "lease lost" when it is thawed).
    results = Counter(r["result"] for r in history)
    assert set(results) <= {"success", "interrupted"} and results["interrupted"] <= 4, results
    return lines


@pytest.mark.serial
def test_kill_the_leader_freeze_the_next_thaw_it(cluster: Cluster) -> None:
    """SIGKILL the leader, SIGSTOP its successor past the lease, SIGCONT it: every
    occurrence starts once, a survivor fires within lock_timeout plus a tick each time,
    and the thawed leader starts nothing and steps down to standby."""
    for name in ("a", "b", "c"):
        cluster.start(name)
        if name == "a":
            wait_until(lambda: "ready:" in cluster.log("a"), 30, "a leads")
    wait_until(lambda: all("standby" in cluster.log(n) for n in "bc"), 30, "two standbys")
    wait_until(lambda: len(cluster.starts()) >= 3, 20, "runs by the first leader")

    # 1. SIGKILL the leader: a standby fires within lock_timeout plus one tick
    count = len(cluster.starts())
    cluster.procs["a"].kill()
    killed = time.monotonic()
    wait_until(lambda: len(cluster.starts()) > count + 1, 20, "runs after the kill")
    took = time.monotonic() - killed
    assert took < LOCK_TIMEOUT + 1.0 + 1.0, f"first fire {took:.2f}s after the kill"
    second = wait_until(cluster.leader, 5, "a new leader")
    third = next(n for n in "bc" if n != second)

    # 2. SIGSTOP the new leader past its lease: the third takes over
    frozen = cluster.procs[second]
    frozen.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    wait_until(lambda: "ready:" in cluster.log(third), 20, f"{third} takes over")
    count = len(cluster.starts())
    wait_until(lambda: len(cluster.starts()) >= count + 2, 20, "runs by the third leader")
    # The frozen leader renewed its lease up to a renewal period (a third of the
    # timeout) before the SIGSTOP: the takeover comes no sooner than that lease's end.
    assert time.monotonic() - stopped > LOCK_TIMEOUT * 2 / 3

    # 3. SIGCONT: the thawed one starts nothing and steps down
    before = len(cluster.log(second))
    frozen.send_signal(signal.SIGCONT)
    wait_until(
        lambda: "standby again" in cluster.log(second)[before:], 20, "the thawed one steps down"
    )
    count = len(cluster.starts())
    wait_until(lambda: len(cluster.starts()) >= count + 2, 20, "runs after the thaw")
    after_thaw = cluster.log(second)[before:]
    assert "starting run" not in after_thaw, after_thaw
    assert "lost the leader lease" in after_thaw or "another leader holds" in after_thaw
    assert frozen.poll() is None and cluster.procs[third].poll() is None  # both stay up

    stats = cluster.cli("stats", "--json")
    assert stats["instance_id"] == stats["leader"]
    assert stats["instance_id"].endswith(f":{cluster.procs[third].pid}")
    for name in (second, third):
        cluster.procs[name].send_signal(signal.SIGTERM)
    for name in (second, third):
        assert cluster.procs[name].wait(30) == 0
    lines = assert_started_once_and_recorded(cluster)
    assert len(lines) >= 9
    leaders = {r["instance_id"] for r in cluster.cli("history", "tick", "--json", "-n", "1000")}
    assert len(leaders) == 3  # each of the three led once


def test_a_redis_outage_stops_firing_and_the_runners_stay_up(tmp_path: Path) -> None:
    """Redis stopped for a few seconds (the 30 s case is bench/redis_outage.py): nothing
    starts without a claim, the runners stay up and log it, firing resumes."""
    server = RedisServer(tmp_path / "redis", persist=True)
    server.start()
    cluster = Cluster(tmp_path, server.url)
    try:
        cluster.start("a")
        wait_until(lambda: "ready:" in cluster.log("a"), 30, "a leads")
        cluster.start("b")
        wait_until(lambda: "standby" in cluster.log("b"), 30, "b waits")
        wait_until(lambda: len(cluster.starts()) >= 2, 20, "runs")
        server.stop()
        down = len(cluster.starts())
        wait_until(lambda: "cannot reach Redis" in cluster.log("a"), 20, "the leader notices")
        time.sleep(4)  # the outage itself: what is checked is what happens meanwhile
        during = len(cluster.starts())
        assert during <= down + 1  # at most a job claimed just before the stop
        assert all(p.poll() is None for p in cluster.procs.values())
        server.start()
        wait_until(lambda: len(cluster.starts()) >= during + 3, 40, "firing resumes")
        assert all(p.poll() is None for p in cluster.procs.values())
        for proc in cluster.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in cluster.procs.values():
            assert proc.wait(30) == 0
        lines = cluster.starts()
        assert not [line for line, n in Counter(lines).items() if n > 1]
        history = cluster.cli("history", "tick", "--json", "--limit", "100000")
        recorded = {(r["scheduled_time"], str(r["attempt"])) for r in history}
        started = {tuple(line.split()) for line in lines}
        assert started <= recorded, f"fired without a claim: {sorted(started - recorded)[:3]}"
    finally:
        cluster.close()
        server.stop()


def test_a_redis_outage_leaves_a_worker_up_and_serving_when_redis_is_back(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis", persist=True)
    server.start()
    cluster = Cluster(tmp_path, server.url)
    config = tmp_path / "schedules.yaml"
    config.write_text(
        config.read_text().replace("    shell: true", "    shell: true\n    queue: w")
    )
    try:
        cluster.start("leader", "run", "--queues", "")
        cluster.start("worker", "worker", "--queues", "w")
        wait_until(lambda: len(cluster.starts()) >= 2, 30, "runs on the worker")
        server.stop()
        wait_until(lambda: "cannot reach Redis" in cluster.log("worker"), 20, "it notices")
        time.sleep(4)  # several of its one-second looks at the state, with Redis away
        assert cluster.procs["worker"].poll() is None, cluster.log("worker")[-2000:]
        server.start()
        during = len(cluster.starts())
        wait_until(lambda: len(cluster.starts()) >= during + 3, 40, "the worker runs again")
        assert all(p.poll() is None for p in cluster.procs.values())
        for proc in cluster.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in cluster.procs.values():
            assert proc.wait(30) == 0
    finally:
        cluster.close()
        server.stop()


def test_storage_in_the_file_serves_run_and_every_command(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """``scheduler.storage: redis://...`` without ``--state``: ``run`` leads on Redis and
    the shell reads and writes the same state (no state file appears)."""
    cluster = Cluster(tmp_path, redis_server.url)
    text = (tmp_path / "schedules.yaml").read_text()
    (tmp_path / "schedules.yaml").write_text(
        text.replace("scheduler:\n", f"scheduler:\n  storage: {redis_server.url}\n", 1)
    )
    config = str(tmp_path / "schedules.yaml")
    argv = [sys.executable, "-m", "unoschedule", "-c", config]

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=cluster.env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    with open(tmp_path / "a.log", "w") as log:
        proc = subprocess.Popen(
            [*argv, "run"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=cluster.env
        )
    cluster.procs["a"] = proc
    try:
        wait_until(lambda: len(cluster.starts()) >= 2, 30, "runs")
        cli("pause", "tick")
        assert cli("status", "tick", "--json")["status"] == "paused"
        paused_at = len(cluster.starts())
        cli("resume", "tick")
        wait_until(lambda: len(cluster.starts()) >= paused_at + 2, 30, "runs after resume")
        history = cli("history", "tick", "--json", "-n", "1000")
        assert {r["result"] for r in history} <= {"success", "running", "queued"}
        assert cli("stats", "--json")["instance_id"].endswith(f":{proc.pid}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert sorted(p.name for p in tmp_path.iterdir() if ".db" in p.name) == []
    finally:
        cluster.close()

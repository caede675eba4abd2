"""``stats`` and ``top`` on Redis with real processes: the standby and the worker beside
the leader (each with when it was last seen), and the runs a worker holds."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer
from test_redis_workers import Procs, wait_until

from unoschedule.cli import output


@pytest.fixture
def procs(tmp_path: Path, redis_server: RedisServer) -> Iterator[Procs]:
    p = Procs(tmp_path, redis_server.url)
    yield p
    p.close()


@pytest.mark.slow
def test_stats_lists_the_standby_and_the_worker_beside_the_leader_and_forgets_them(
    procs: Procs,
) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("standby", "run", "--queues", "")
    worker = procs.start("w1", "worker", "--queues", "reports")
    wait_until(lambda: "standby:" in procs.log("standby"), 30, "the standby")
    wait_until(lambda: "serving" in procs.log("w1"), 30, "the worker")

    def stats() -> dict[str, object]:
        return json.loads(procs.cli("stats", "--json"))  # type: ignore[no-any-return]

    found = wait_until(lambda: (s := stats())["standbys"] and s["workers"] and s, 30, "both")
    assert [p["queues"] for p in found["workers"]] == [["reports"]]
    assert found["leader"] and found["leader_lease_until"]
    (standby,) = found["standbys"]
    (held,) = found["workers"]
    assert standby["instance_id"] != found["leader"] != held["instance_id"]
    assert standby["seen_at"].endswith("Z") and held["seen_at"].endswith("Z")
    shown = procs.cli("stats")  # piped: field<TAB>value
    rows = dict(line.split("\t", 1) for line in shown.splitlines())
    assert rows["standbys"].startswith(f"{standby['instance_id']} (seen ")
    assert rows["workers"].startswith(f"{held['instance_id']} [reports] (seen ")
    worker.send_signal(signal.SIGTERM)  # a clean stop withdraws at once
    assert worker.wait(30) == 0
    assert stats()["workers"] == []


@pytest.mark.slow
def test_top_shows_a_run_held_by_a_worker(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    procs.start("leader", "run", "--queues", "")
    wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
    procs.start("w1", "worker", "--queues", "reports")
    wait_until(lambda: "serving" in procs.log("w1"), 30, "the worker")
    run_id = procs.cli("trigger", "slow").strip()
    slow = Path(procs.workdir / "slow.log")
    wait_until(lambda: slow.exists() and "start" in slow.read_text(), 30, "the job")
    snapshot = json.loads(procs.cli("top", "--json"))
    assert [(r["run_id"], r["result"]) for r in snapshot["running"]] == [(run_id, "running")]
    assert output.is_plain()  # the piped form below is what a script reads
    shown = procs.cli("top", "--once").splitlines()
    assert "running and queued (1)" in shown
    assert any(line.startswith(f"slow\t{run_id}\trunning\t") for line in shown)

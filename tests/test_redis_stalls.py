"""A leader on a Redis that stalls (SIGSTOP of the redis-server past the lease) and
comes back: it leads again, with its housekeeping, from ``run`` and from the library's
``start()``; real redis-server, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer, unique_prefix
from test_redis_failover import Cluster, wait_until

pytestmark = pytest.mark.slow

FILE = """
    scheduler:
      lock_timeout: 2s
      missed_threshold: 600
      shutdown_grace: 2
    schedules:
      held:
        schedule: "* * * * * *"
        command: "echo $UNO_SCHEDULED_TIME >> held.log"
        shell: true
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path / "redis")
    s.start()
    yield s
    if s.proc is not None:
        os.kill(s.proc.pid, signal.SIGCONT)
    s.stop()


def stall_until_it_stops_leading(server: RedisServer, log: Callable[[], str]) -> None:
    """Stop the redis-server until the leader whose output ``log()`` reads stops leading
    (past the lease and a socket timeout).

    A stall of a fixed length is not enough: a lease that expired in Redis while no one
    else took it is renewed after the stall, so the leader loses it only when one of
    its calls times out while Redis is still stopped, and when that call is sent
    depends on what the leader was doing (a housekeeping read waits out its own socket
    timeout first)."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: "stopping: no new runs will start" in log(), 30, "it stops leading")
    finally:
        server.proc.send_signal(signal.SIGCONT)


def held_lines(path: Path) -> int:
    log = path / "held.log"
    return len(log.read_text().split("\n")) - 1 if log.exists() else 0


def test_a_leader_that_lost_its_lease_does_its_housekeeping_when_it_leads_again(
    tmp_path: Path, server: RedisServer
) -> None:
    """After a stall past the lease, the runner leads again, and a timed pause taken then
    still ends on time (the pause expiry is the housekeeping's)."""
    cluster = Cluster(tmp_path, server.url)
    (tmp_path / "schedules.yaml").write_text(textwrap.dedent(FILE))
    try:
        cluster.start("a")
        wait_until(lambda: "ready:" in cluster.log("a"), 30, "a leads")
        stall_until_it_stops_leading(server, lambda: cluster.log("a"))
        try:
            wait_until(lambda: cluster.log("a").count("ready:") >= 2, 60, "a leads again")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; runner log:\n{cluster.log('a')[-3000:]}") from None
        subprocess.run(
            [*cluster.argv(), "pause", "held", "--until", "2s"],
            env=cluster.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        time.sleep(1.5)  # a run claimed before the pause may still append its line
        paused = held_lines(tmp_path)
        wait_until(lambda: held_lines(tmp_path) > paused, 15, "the pause to end")
        assert "held: resumed" in cluster.log("a")
    finally:
        cluster.close()


LIBRARY = """
import asyncio, sys
from unoschedule import Scheduler

async def main() -> None:
    s = Scheduler(storage=sys.argv[1], lock_timeout=2.0)
    await s.start()
    while True:
        print("leading" if s.leading else "not leading", flush=True)
        await asyncio.sleep(0.2)

asyncio.run(main())
"""


def test_the_librarys_start_leads_again_after_a_redis_stall(
    tmp_path: Path, server: RedisServer
) -> None:
    env = {**os.environ, "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix(), "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "lib.log"
    with open(out, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", LIBRARY, server.url],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        wait_until(lambda: "leading\n" in out.read_text().replace("not leading", ""), 30, "lead")
        stall_until_it_stops_leading(server, out.read_text)
        wait_until(lambda: out.read_text().endswith("not leading\n"), 10, "the lease lost")
        mark = len(out.read_text())
        wait_until(
            lambda: "\nleading" in out.read_text()[mark:], 20, "leading again after the stall"
        )
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.serial
def test_a_workers_job_cut_off_from_redis_is_killed_before_anyone_may_take_it_over(
    tmp_path: Path, server: RedisServer
) -> None:
    """Redis unreachable for longer than the visibility timeout (a partition, as the
    worker's host sees it): the keeper kills the job at 0.8 of the timeout after its
    last heartbeat got through, while Redis is still away, so no other worker can take
    the run over while the job still runs."""
    from test_redis_workers import Procs, alive, slow_lines

    procs = Procs(tmp_path, server.url)
    try:
        procs.start("leader", "run", "--queues", "")
        wait_until(lambda: "ready:" in procs.log("leader"), 30, "the leader")
        procs.start("w", "worker", "--queues", "reports", "--visibility-timeout", "2")
        wait_until(lambda: "serving" in procs.log("w"), 30, "the worker")
        path = procs.workdir / "schedules.yaml"
        path.write_text(path.read_text().replace("sleep 3;", "sleep 30;"))
        procs.procs["leader"].send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in procs.log("leader"), 30, "the reload")
        procs.cli("trigger", "slow")
        wait_until(lambda: slow_lines(procs), 30, "the job to start")
        job = int(slow_lines(procs)[0][2])
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        try:
            cut = time.monotonic()
            wait_until(lambda: not alive(job), 2 * 0.8 + 2 / 3 + 1.0, "the job to be killed")
            assert time.monotonic() - cut < 2.0  # before its claim could lapse (V = 2 s)
        finally:
            server.proc.send_signal(signal.SIGCONT)
        # The keeper kills the job, sweeps for its orphans, then says so: the line may
        # come a moment after the job is seen dead.
        wait_until(lambda: "no heartbeat reached Redis" in procs.log("w"), 10, "the keeper's line")
    finally:
        procs.close()


def test_a_keeper_wakes_at_a_jobs_fence_when_its_next_heartbeat_is_due_after_it() -> None:
    """A failed heartbeat is tried again an interval after it was sent: after two, with
    a timeout of 2 s, the next try is due 2 s after the last heartbeat that got through,
    the instant another worker may take the run over. The keeper must wake at the fence
    (0.8 of the timeout) to kill the job before that, not at the next try."""
    from unoschedule.runner.keeper import FENCE, Keeper

    keeper = Keeper(object(), "c", visibility=2.0)
    keeper.take({"op": "hold", "run": "r", "queue": "q", "entry": "1-0", "since": 100.0})
    assert keeper.next_due() == 100.0 + keeper.interval  # healthy: the next heartbeat
    keeper.held["r"].due = 100.0 + 3 * keeper.interval  # as after two failed tries
    assert keeper.next_due() == 100.0 + FENCE * 2.0

"""After SIGKILL of the leader on Redis, how soon the next due occurrence fires.

Three ``uno-schedule run`` processes share a local redis-server, ``lock_timeout: 2s``,
one schedule every second whose command appends its instant to a file. Each trial waits
until the current leader has fired, SIGKILLs it, and measures from the kill to the next
start of an occurrence by a survivor (the file grows); a new runner is started in place
of the dead one, so three run in every trial. Goal: within ``lock_timeout`` plus one
tick (1 s) in every trial. Also checked: no instant started twice over all trials.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from common import Result, judge, median, say, tempdir
from redis_common import Proc, redis_server, unique_prefix

NAME = "redis_takeover"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("next_fire_worst", "trials_within")
LOCK_TIMEOUT = 2.0

FILE = f"""\
scheduler:
  lock_timeout: {LOCK_TIMEOUT:g}s
  missed_threshold: 600
  shutdown_grace: 2s
schedules:
  tick:
    schedule: "* * * * * *"
    shell: true
    command: "echo $UNO_SCHEDULED_TIME >> starts.log"
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _leader(procs: list[Proc]) -> Proc | None:
    for proc in procs:
        text = proc.text()
        if proc.proc.poll() is None and text.rfind("ready:") > max(
            text.rfind("standby"), text.rfind("not firing")
        ):
            return proc
    return None


def run(quick: bool) -> list[Result]:
    trials = 3 if quick else 50
    waits: list[float] = []
    with tempdir("rtakeover") as folder, redis_server(folder / "redis") as server:
        config = folder / "schedules.yaml"
        config.write_text(FILE)
        starts = folder / "starts.log"
        prefix = unique_prefix()
        procs = [Proc(config, server.url, prefix, "run", tag=f"r{i}") for i in range(3)]
        spawned = 3
        try:
            for _ in range(trials):
                deadline = time.time() + 30
                leader = None
                while leader is None and time.time() < deadline:
                    leader = _leader(procs)
                    time.sleep(0.02)
                if leader is None:
                    raise RuntimeError("no leader")
                count = len(_lines(starts))
                while len(_lines(starts)) < count + 2:  # it fires
                    time.sleep(0.02)
                count = len(_lines(starts))
                killed = time.time()
                leader.proc.send_signal(signal.SIGKILL)
                leader.proc.wait(10)
                while len(_lines(starts)) <= count and time.time() < killed + 30:
                    time.sleep(0.005)
                waits.append(time.time() - killed)
                procs.remove(leader)
                procs.append(Proc(config, server.url, prefix, "run", tag=f"r{spawned}"))
                spawned += 1
        finally:
            for proc in procs:
                proc.stop()
        lines = _lines(starts)
    twice = [line for line, n in Counter(lines).items() if n > 1]
    within = sum(1 for w in waits if w <= LOCK_TIMEOUT + 1.0)
    say(
        f"kill to next fire: median {median(waits):.2f}s, max {max(waits):.2f}s; "
        f"{within}/{len(waits)} within {LOCK_TIMEOUT + 1:g}s; {len(lines)} starts, "
        f"{len(twice)} twice"
    )
    note = (
        f"{trials} trials; median {median(waits):.2f}s; lock_timeout {LOCK_TIMEOUT:g}s; "
        f"{len(lines)} starts over all trials, {len(twice)} started twice"
    )
    return [
        Result(
            f"Redis: leader kill -9 to the next fire, worst of {trials}",
            max(waits),
            "s",
            f"<= {LOCK_TIMEOUT + 1:g} s (lock_timeout + 1 tick)",
            judge(max(waits), below=LOCK_TIMEOUT + 1.0 + 1e-9),
            [note],
            key="next_fire_worst",
        ),
        Result(
            f"Redis: trials fired within lock_timeout + 1 tick (of {trials})",
            within,
            "",
            f"{trials}",
            "PASS" if within == trials and not twice else "FAIL",
            key="trials_within",
        ),
    ]

"""Redis stopped for 30 s and started again, under two runners and a worker.

A redis-server with an append-only file (so that a restart keeps the state), two
``uno-schedule run`` processes (``--queues scheduled``) and one ``uno-schedule worker
--queues reports``; two schedules fire every second, one in each queue, and every job
appends its schedule and instant to a file. After some runs Redis is stopped for 30 s
(5 s with ``--quick``), then started on the same port. Checked: every process stays up
through the outage; nothing starts without a claim (every line of the file is a run
in the state); nothing starts twice; and the time from the restart to the next start in
each queue.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from common import Result, say, tempdir
from redis_common import Proc, RedisServer, unique_prefix

NAME = "redis_outage"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("no_start_without_claim", "firing_again")

FILE = """\
scheduler:
  lock_timeout: 3s
  missed_threshold: 600
  shutdown_grace: 2s
schedules:
  local:
    schedule: "* * * * * *"
    shell: true
    command: "echo local $UNO_SCHEDULED_TIME $UNO_ATTEMPT >> starts.log"
  remote:
    schedule: "* * * * * *"
    queue: reports
    shell: true
    command: "echo remote $UNO_SCHEDULED_TIME $UNO_ATTEMPT >> starts.log"
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def run(quick: bool) -> list[Result]:
    from unoschedule.store.redis import RedisStorage

    outage = 5.0 if quick else 30.0
    with tempdir("routage") as folder:
        server = RedisServer(folder / "redis", persist=True)
        server.start()
        config = folder / "schedules.yaml"
        config.write_text(FILE)
        starts = folder / "starts.log"
        prefix = unique_prefix()
        procs = [
            Proc(config, server.url, prefix, "run", "--queues", "scheduled", tag="r1"),
            Proc(config, server.url, prefix, "run", "--queues", "scheduled", tag="r2"),
            Proc(config, server.url, prefix, "worker", "--queues", "reports", tag="w1"),
        ]
        resumed: dict[str, float] = {}
        try:
            deadline = time.time() + 60
            while len(_lines(starts)) < 6 and time.time() < deadline:
                time.sleep(0.05)
            server.stop()
            stopped = time.time()
            before = len(_lines(starts))
            time.sleep(outage)
            during = len(_lines(starts)) - before
            alive_during = [p.proc.poll() is None for p in procs]
            server.start()
            restarted = time.time()
            seen = len(_lines(starts))
            deadline = restarted + 60
            while len(resumed) < 2 and time.time() < deadline:
                for line in _lines(starts)[seen:]:
                    kind = line.split()[0]
                    resumed.setdefault(kind, time.time() - restarted)
                time.sleep(0.02)
            time.sleep(2)
            alive_after = [p.proc.poll() is None for p in procs]
            errors = sum(p.text().count("cannot reach Redis") for p in procs)
        finally:
            codes = [p.stop() for p in procs]
        store = RedisStorage(server.url, key_prefix=prefix)
        try:
            recorded = {
                (r.schedule, r.scheduled_time.isoformat().replace("+00:00", "Z"), r.attempt)
                for name in ("local", "remote")
                for r in store.history(name, limit=100_000)
            }
        finally:
            store.close()
            server.stop()
        lines = _lines(starts)
    started = Counter(lines)
    twice = [line for line, n in started.items() if n > 1]

    def key(line: str) -> tuple[str, str, int]:
        kind, instant, attempt = line.split()
        from datetime import datetime

        at = datetime.fromisoformat(instant).isoformat().replace("+00:00", "Z")
        return kind, at, int(attempt)

    unclaimed = [line for line in lines if key(line) not in recorded]
    up = all(alive_during) and all(alive_after)
    say(
        f"outage {outage:g}s (stopped at +{stopped:.0f}): {during} starts during it; "
        f"resumed after restart: {resumed}; alive during/after {alive_during}/{alive_after}; "
        f"{errors} error lines; exit codes {codes}; {len(lines)} starts, {len(twice)} twice, "
        f"{len(unclaimed)} without a claim"
    )
    note = (
        f"{len(lines)} starts in all, {during} during the outage, {len(twice)} twice, "
        f"{len(unclaimed)} without a claim; {errors} logged errors; exit codes {codes}"
    )
    worst = max(resumed.values()) if len(resumed) == 2 else None
    ok = up and not twice and not unclaimed
    return [
        Result(
            f"Redis down {outage:g}s: runners and worker up, no start without a claim",
            1.0 if ok else 0.0,
            "",
            "1 (yes)",
            "PASS" if ok else "FAIL",
            [note],
            key="no_start_without_claim",
        ),
        Result(
            f"Redis down {outage:g}s: restart to firing again (both queues)",
            worst,
            "s",
            notes=[f"per queue: {resumed}"],
            key="firing_again",
        ),
    ]

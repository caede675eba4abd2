"""The peer a user would pick for in-process jobs: APScheduler 3, in-memory job store,
a thread pool. Run as a subprocess by the benchmarks (not one of them itself), so that
it has a process of its own as our runner does.

    python bench/aps_peer.py burst SPEC.json   # bursts of date jobs; stamps to a file
    python bench/aps_peer.py idle COUNT         # COUNT hourly cron jobs; prints READY
    python bench/aps_peer.py burst4 SPEC.json  # the same bursts with APScheduler 4

``burst``: SPEC is ``{"out": path, "pool": threads, "bursts": [[tag, count, at], ...]}``;
each job calls ``burststamp.stamp(tag, out)`` (the module our runner's tasks call, found
beside SPEC). The process exits once every job has run.
``burst4``: the same with APScheduler 4 (run by the interpreter of a venv of its own:
both are the package ``apscheduler``), its in-memory data store and a thread pool of
``pool`` threads, as many jobs at once (``max_concurrent_jobs``).
``idle``: prints ``READY`` once the jobs are added and the scheduler started, then
sleeps until killed, so that the caller can read its CPU time.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def burst(spec_path: str) -> None:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, str(Path(spec_path).parent))
    import burststamp  # type: ignore[import-not-found]

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(spec["pool"])},
        job_defaults={"misfire_grace_time": None, "coalesce": False},
        timezone="UTC",
    )
    total = 0
    for tag, count, at in spec["bursts"]:
        when = datetime.fromtimestamp(at, UTC)
        for _ in range(count):
            scheduler.add_job(
                burststamp.stamp, "date", run_date=when, kwargs={"tag": tag, "out": spec["out"]}
            )
        total += count
    scheduler.start()
    print("READY", flush=True)
    out = Path(spec["out"])
    deadline = time.time() + spec.get("timeout", 120)
    while time.time() < deadline:
        time.sleep(0.2)
        if out.exists() and out.read_text().count("\n") >= total:
            break
    scheduler.shutdown(wait=True)


def burst4(spec_path: str) -> None:
    from apscheduler import Scheduler, SchedulerRole  # type: ignore[attr-defined]
    from apscheduler.datastores.memory import MemoryDataStore
    from apscheduler.executors.thread import ThreadPoolJobExecutor
    from apscheduler.triggers.date import DateTrigger

    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, str(Path(spec_path).parent))
    import burststamp

    scheduler = Scheduler(
        MemoryDataStore(),
        role=SchedulerRole.both,
        max_concurrent_jobs=spec["pool"],
        job_executors={"threadpool": ThreadPoolJobExecutor(max_workers=spec["pool"])},
    )
    total = 0
    for tag, count, at in spec["bursts"]:
        when = datetime.fromtimestamp(at, UTC)
        for i in range(count):
            scheduler.add_schedule(
                burststamp.stamp,
                DateTrigger(when),
                id=f"{tag}-{i:05d}",
                kwargs={"tag": tag, "out": spec["out"]},
                misfire_grace_time=None,
            )
        total += count
    scheduler.start_in_background()
    print("READY", flush=True)
    out = Path(spec["out"])
    deadline = time.time() + spec.get("timeout", 120)
    while time.time() < deadline:
        time.sleep(0.2)
        if out.exists() and out.read_text().count("\n") >= total:
            break
    scheduler.stop()


def idle(count: int) -> None:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    minute = (datetime.now(UTC).minute + 30) % 60  # nothing due while we measure
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(4)},
        timezone="UTC",
    )
    for i in range(count):
        scheduler.add_job(print, "cron", minute=minute, second=i % 60, args=("x",), id=f"h-{i:06d}")
    scheduler.start()
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "burst":
        burst(sys.argv[2])
    elif sys.argv[1] == "burst4":
        burst4(sys.argv[2])
    else:
        idle(int(sys.argv[2]))

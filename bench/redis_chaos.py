"""Three runners on one Redis under random SIGKILL and SIGSTOP; then three workers.

Three ``uno-schedule run`` processes, ``lock_timeout: 2s``, 30 schedules every second
(thousands of occurrences over the run). Every few seconds the leader is either killed
(SIGKILL, and a new runner started in its place) or frozen (SIGSTOP) for longer than
the lease and thawed (SIGCONT). Every job appends its schedule, instant, attempt, the
runner that started it (its tag, from the environment it inherits: its parent is the
runner's fork server, and no longer any process of the runner's once a SIGKILL ended
both) and its own clock to a file. Checked:

- no (schedule, instant, attempt) started twice;
- no start by a stale leader: each start happened while the runner that started it held
  the lease (its "leader ... (epoch N)" line until the next leader's);
- no occurrence without a record while a runner lived: every schedule's instants from
  its first to its last record are contiguous, each with a run in the state;
- no CRITICAL line in any runner's log (a runner that stops serving the state, its
  identity lost say, leaves nothing for the chaos to act on: each is counted as a
  failure). A run with fewer than half the starts its length allows keeps its logs.

Then the workers: one leader hands every run to three ``uno-schedule worker`` processes
(``--visibility-timeout 2``), and every few seconds a worker is killed (SIGKILL, a new
one started in its place) or frozen past the visibility timeout and thawed. Every job
writes a line when it starts, every quarter second while it runs, and when it ends.
Checked: no occurrence completed twice as the state records it (two executions with an
``end`` line whose runs the state records as ended, whatever the attempts), and no two
executions of one occurrence overlapping in time (from each one's first line to its
last). An execution that wrote its ``end`` line as its worker was killed, before the
worker recorded the end, is recorded ``interrupted`` and retried: that is the promise
(at least once, never two at a time), and it is counted and shown apart, with the time
from its ``end`` line to the kill.
"""

from __future__ import annotations

import itertools
import random
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from common import Result, say, tempdir
from redis_common import Proc, redis_server, unique_prefix

if TYPE_CHECKING:
    from unoschedule.store.redis import RedisStorage

NAME = "redis_chaos"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("workers_twice_overlaps", "runners_bad_starts", "runners_started")
LOCK_TIMEOUT = 2.0
SCHEDULES = 30
LEADER = re.compile(r"^(\S+) NOTICE leader (\S+):(\d+) \(epoch (\d+)\)", re.M)


def _file(count: int) -> str:
    lines = [
        "scheduler:",
        f"  lock_timeout: {LOCK_TIMEOUT:g}s",
        "  missed_threshold: 600",
        "  shutdown_grace: 2s",
        "  default_concurrency: 100",
        "schedules:",
    ]
    for i in range(count):
        lines += [
            f"  s{i:02d}:",
            '    schedule: "* * * * * *"',
            "    shell: true",
            '    command: "echo $UNO_SCHEDULE_NAME $UNO_SCHEDULED_TIME $UNO_ATTEMPT'
            ' $BENCH_RUNNER_TAG $(date +%s.%N) >> starts.log"',
        ]
    return "\n".join(lines) + "\n"


WORK_SCHEDULES = 8
VISIBILITY = 2.0
#: Seconds after a job's ``end`` line within which its worker's SIGKILL counts as landing
#: before the worker could record the end (under this load it records one in
#: milliseconds); an end left unrecorded by a worker killed later is counted a defect.
UNRECORDED = 1.0


def _work_file(count: int) -> str:
    lines = [
        "scheduler:",
        f"  lock_timeout: {LOCK_TIMEOUT:g}s",
        "  missed_threshold: 600",
        "  shutdown_grace: 2s",
        "  queues:",
        "    work: 100",
        "schedules:",
    ]
    mark = (
        "$UNO_SCHEDULE_NAME $UNO_SCHEDULED_TIME $UNO_ATTEMPT $UNO_RUN_ID $(date +%s.%N)"
        " $BENCH_RUNNER_TAG"
    )
    for i in range(count):
        lines += [
            f"  w{i:02d}:",
            '    schedule: "*/2 * * * * *"',
            "    queue: work",
            "    max_retries: 3",
            "    retry_delay: 0s",
            "    shell: true",
            f'    command: "echo start {mark} >> spans.log; for i in 1 2 3 4 5 6; do sleep 0.25;'
            f' echo tick {mark} >> spans.log; done; echo end {mark} >> spans.log"',
        ]
    return "\n".join(lines) + "\n"


def worker_chaos(quick: bool) -> list[Result]:
    """Workers killed and frozen under a steady load: runs completed twice, overlaps."""
    from unoschedule.store.redis import RedisStorage

    duration = 25.0 if quick else 120.0
    rng = random.Random(14)
    actions = Counter[str]()
    killed: dict[str, float] = {}  # worker tag -> when it was sent SIGKILL
    with tempdir("wchaos") as folder, redis_server(folder / "redis") as server:
        config = folder / "schedules.yaml"
        config.write_text(_work_file(WORK_SCHEDULES))
        prefix = unique_prefix()
        leader = Proc(config, server.url, prefix, "run", "--queues", "", tag="leader")
        argv = ("worker", "--queues", "work", "--visibility-timeout", f"{VISIBILITY:g}")
        workers = [Proc(config, server.url, prefix, *argv, tag=f"w{i}") for i in range(3)]
        every = [leader, *workers]
        try:
            end = time.time() + duration
            while time.time() < end:
                time.sleep(rng.uniform(2.0, 4.0))
                victim = rng.choice(workers)
                if rng.random() < 0.5:
                    killed[victim.tag] = time.time()
                    victim.proc.send_signal(signal.SIGKILL)
                    victim.proc.wait(10)
                    workers.remove(victim)
                    fresh = Proc(config, server.url, prefix, *argv, tag=f"w{len(every)}")
                    workers.append(fresh)
                    every.append(fresh)
                    actions["SIGKILL"] += 1
                else:
                    victim.proc.send_signal(signal.SIGSTOP)
                    time.sleep(VISIBILITY + rng.uniform(0.5, 2.0))
                    victim.proc.send_signal(signal.SIGCONT)
                    actions["SIGSTOP+SIGCONT"] += 1
            time.sleep(4)
        finally:
            codes = [p.stop() for p in [leader, *workers]]
        lines = [line.split() for line in (folder / "spans.log").read_text().split("\n")[:-1]]
        store = RedisStorage(server.url, key_prefix=prefix)
        try:
            ended = {line[4] for line in lines if line[0] == "end"}
            result = {run_id: _result_of(store, run_id) for run_id in ended}
        finally:
            store.close()
    spans: dict[str, list[float]] = {}
    occurrence: dict[str, tuple[str, str]] = {}
    ends = Counter[tuple[str, str]]()
    unrecorded: list[float] = []  # end line to its worker's SIGKILL, seconds
    for kind, name, instant, _attempt, run_id, at, tag in (line[:7] for line in lines):
        spans.setdefault(run_id, []).append(float(at))
        occurrence[run_id] = (name, instant)
        if kind != "end":
            continue
        gap = killed[tag] - float(at) if tag in killed else None
        if result[run_id] == "interrupted" and gap is not None and -0.5 <= gap <= UNRECORDED:
            unrecorded.append(gap)
        else:
            ends[(name, instant)] += 1
    twice = [k for k, n in ends.items() if n > 1]
    by_occurrence: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run_id, times in spans.items():
        by_occurrence.setdefault(occurrence[run_id], []).append((min(times), max(times)))
    overlaps = 0
    for runs in by_occurrence.values():
        runs.sort()
        overlaps += sum(1 for a, b in itertools.pairwise(runs) if b[0] < a[1])
    retried = sum(1 for runs in by_occurrence.values() if len(runs) > 1)
    late = ", ".join(f"{gap * 1000:+.1f} ms" for gap in sorted(unrecorded))
    note = (
        f"{duration:g}s, {dict(actions)}, {len(by_occurrence):,} occurrences, "
        f"{len(spans):,} executions ({retried} occurrences started again after a kill); "
        f"{len(twice)} completed twice, {overlaps} overlaps; {len(unrecorded)} ended as "
        f"their worker was killed, before it recorded the end (kill after the end line: "
        f"{late or '-'}), recorded interrupted and retried; exit codes {codes}"
    )
    say(note)
    return [
        Result(
            "Redis chaos (3 workers, SIGKILL / SIGSTOP): completed twice, overlaps",
            float(len(twice) + overlaps),
            "",
            "0",
            "PASS" if not twice and not overlaps else "FAIL",
            [note],
            key="workers_twice_overlaps",
        ),
    ]


def _keep_if_short(folder: Path, starts: int, duration: float) -> Path | None:
    """A copy of the run's folder (the runners' logs, the starts) when it started fewer
    than half the occurrences its length allows (a runner leads nearly all the time), so
    that such a run can be read afterwards; None when the count is as expected."""
    if starts >= SCHEDULES * duration / 2:
        return None
    kept = Path(tempfile.mkdtemp(prefix="uno-bench-rchaos-kept-"))
    shutil.copytree(folder, kept, dirs_exist_ok=True, ignore=shutil.ignore_patterns("redis"))
    return kept


def _result_of(store: RedisStorage, run_id: str) -> str:
    """What the state recorded of run ``run_id`` ('' when it holds no such run)."""
    run = store.get_run(run_id)
    return run.result if run is not None else ""


def _leader(procs: list[Proc]) -> Proc | None:
    for proc in procs:
        text = proc.text()
        if proc.proc.poll() is None and text.rfind("ready:") > max(
            text.rfind("standby"), text.rfind("not firing")
        ):
            return proc
    return None


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(quick: bool) -> list[Result]:
    from unoschedule.store.redis import RedisStorage

    duration = 25.0 if quick else 120.0
    rng = random.Random(10)
    actions = Counter[str]()
    with tempdir("rchaos") as folder, redis_server(folder / "redis") as server:
        config = folder / "schedules.yaml"
        config.write_text(_file(SCHEDULES))
        prefix = unique_prefix()
        procs = [Proc(config, server.url, prefix, "run", tag=f"r{i}") for i in range(3)]
        every = list(procs)
        try:
            end = time.time() + duration
            while time.time() < end:
                time.sleep(rng.uniform(2.0, 5.0))
                leader = _leader(procs)
                if leader is None:
                    continue
                if rng.random() < 0.5:
                    leader.proc.send_signal(signal.SIGKILL)
                    leader.proc.wait(10)
                    procs.remove(leader)
                    fresh = Proc(config, server.url, prefix, "run", tag=f"r{len(every)}")
                    procs.append(fresh)
                    every.append(fresh)
                    actions["SIGKILL"] += 1
                else:
                    leader.proc.send_signal(signal.SIGSTOP)
                    time.sleep(LOCK_TIMEOUT + rng.uniform(0.5, 2.0))
                    leader.proc.send_signal(signal.SIGCONT)
                    actions["SIGSTOP+SIGCONT"] += 1
            time.sleep(3)
        finally:
            codes = [p.stop() for p in procs]
        logs = {p.pid: p.text() for p in every}
        pids = {p.tag: p.pid for p in every}
        store = RedisStorage(server.url, key_prefix=prefix)
        try:
            runs = [r for i in range(SCHEDULES) for r in store.history(f"s{i:02d}", limit=100_000)]
        finally:
            store.close()
        lines = (folder / "starts.log").read_text().split("\n")[:-1]
        kept = _keep_if_short(folder, len(lines), duration)
    # leadership intervals, by epoch
    epochs = sorted(
        (int(m[3]), _ts(m[0]), int(m[2])) for text in logs.values() for m in LEADER.findall(text)
    )
    intervals: dict[int, list[tuple[float, float]]] = {}
    for (_, begin, pid), following in zip(epochs, [*epochs[1:], None], strict=True):
        stop = following[1] if following else float("inf")
        intervals.setdefault(pid, []).append((begin, stop))
    starts = [[*s[:3], str(pids.get(s[3], 0)), *s[4:]] for s in (line.split() for line in lines)]
    twice = [k for k, n in Counter(tuple(s[:3]) for s in starts).items() if n > 1]
    stale = [
        s
        for s in starts
        if not any(a - 0.05 <= float(s[4]) <= b + 0.05 for a, b in intervals.get(int(s[3]), []))
    ]
    recorded = {(r.schedule, r.scheduled_time.timestamp(), r.attempt) for r in runs}
    unrecorded = [s for s in starts if (s[0], _ts(s[1]), int(s[2])) not in recorded]
    gaps = 0
    for i in range(SCHEDULES):
        instants = sorted({t for name, t, a in recorded if name == f"s{i:02d}" and a == 1})
        gaps += sum(1 for a, b in itertools.pairwise(instants) if b - a != 1.0)
    say(
        f"{dict(actions)}; {len(epochs)} leaderships; {len(starts):,} starts, {len(runs):,} "
        f"runs {dict(Counter(r.result for r in runs))}; {len(twice)} twice, "
        f"{len(stale)} by a stale leader, {len(unrecorded)} "
        f"without a record, {gaps} gaps; exit codes {codes}"
    )
    for s in stale[:5]:
        windows = [(round(a, 3), round(b, 3)) for a, b in intervals.get(int(s[3]), [])]
        say(f"stale start {s} by pid {s[3]}, whose leaderships were {windows}")
    # A runner that stops serving the state (its identity lost, say) leaves the others
    # nothing to take over: the run then tests nothing, and must say so.
    critical = [
        line for text in logs.values() for line in text.splitlines() if " CRITICAL " in line
    ]
    for line in critical[:3]:
        say(f"a runner logged: {line}")
    ok = not twice and not stale and not unrecorded and not gaps and not critical
    if kept is not None:
        say(f"only {len(starts):,} starts in {duration:g}s: the runners' logs are kept in {kept}")
    note = (
        f"{duration:g}s, {dict(actions)}, {len(epochs)} leaderships, {len(starts):,} starts; "
        f"{len(twice)} twice, {len(stale)} by a stale leader, {len(unrecorded)} without a "
        f"record, {gaps} gaps in the records"
        + (f"; {len(critical)} CRITICAL line(s) in the runners' logs" if critical else "")
        + (f"; FEWER STARTS THAN EXPECTED, logs kept in {kept}" if kept is not None else "")
    )
    return [
        Result(
            "Redis chaos (3 runners, SIGKILL / SIGSTOP): duplicate or stale starts, gaps",
            float(len(twice) + len(stale) + len(unrecorded) + gaps + len(critical)),
            "",
            "0",
            "PASS" if ok else "FAIL",
            [note],
            key="runners_bad_starts",
        ),
        Result("Redis chaos: occurrences started", float(len(starts)), "", key="runners_started"),
        *worker_chaos(quick),
    ]

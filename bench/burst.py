"""A burst of 10,000 occurrences due at one instant.

The real service runs as a subprocess on a temp YAML file of 10,000 one-time schedules
(``at: T``) and a temp state file. T is a whole second far enough after the launch that
READY comes at least 3 s before it (if READY is later, the run is repeated with a larger
margin). After T we poll the state read-only until every run has ``started_at``, then
read from the ``runs`` table:

- claimed and dispatched: when a poll first saw a row for every occurrence in ``runs``,
  minus T. The tick that claims a batch puts every claimed run in its queue right after
  the commit, so this is "claimed and handed to the queues", what the goal asks for
  (``queued_at`` is the tick's instant, not the commit's, so it cannot say this; the
  poll runs every 0.1 s, which bounds the resolution);
- all started: ``max(started_at) - T``, the stricter reading: every job actually begun.
  With a concurrency limit this is bounded by how fast jobs end, so for commands it is
  mostly the machine's process creation; the ``floor`` row (10,000 bare ``Popen`` of
  ``true`` at the same concurrency, no scheduler) says what the machine allows;
- finished: ``max(finished_at) - T``, for information.

The queue's concurrency is 200, so that the default limit is not what is measured.
Variants: a trivial sync Python task (in a pooled worker process) and the command
``true``; each of ``ROUNDS`` rounds runs both and then the floor, and the rows are
medians (the floor's ratio too), so that ours and the floor see the same load.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from common import (
    Result,
    Runner,
    iso,
    judge,
    median,
    parse_ts,
    read_only,
    say,
    tempdir,
    write_task_module,
)

NAME = "burst"
ROWS = (
    "task_dispatched",
    "task_started",
    "command_dispatched",
    "command_started",
    "popen_floor",
    "command_vs_floor",
)
CONCURRENCY = 200


def _file(path: Path, count: int, at: float, job: str) -> None:
    lines = [
        "scheduler:",
        f"  default_concurrency: {CONCURRENCY}",
        "  missed_threshold: 5m",
        "  shutdown_grace: 2s",
        "  kill_grace: 1s",
        "schedules:",
    ]
    stamp = iso(at)
    for i in range(count):
        lines += [f"  b-{i:05d}:", f"    schedule: {{at: {stamp}}}", f"    {job}"]
    path.write_text("\n".join(lines) + "\n")


def _counts(state: Path) -> tuple[int, int]:
    conn = read_only(state)
    try:
        row = conn.execute("SELECT count(*), count(started_at) FROM runs").fetchone()
        return int(row[0]), int(row[1])
    finally:
        conn.close()


def _once(count: int, job: str, margin: float, timeout: float) -> tuple[dict[str, float], str]:
    with tempdir("burst") as folder:
        write_task_module(folder)
        config, state = folder / "schedules.yaml", folder / "state.db"
        at = math.ceil(time.time() + margin)
        _file(config, count, at, job)
        runner = Runner(config, state)
        with runner:
            ready = runner.wait_ready(margin + 60)
            assert runner.ready_wall is not None
            if runner.ready_wall > at - 3:
                raise _TooLate(
                    f"READY {runner.ready_wall - at:+.1f}s from T ({ready:.1f}s after launch)"
                )
            time.sleep(max(0.0, at - time.time()))
            deadline = time.time() + timeout
            rows, started = 0, 0
            claimed_seen: float | None = None
            while time.time() < deadline:
                time.sleep(0.1)
                try:
                    rows, started = _counts(state)
                except Exception:  # the table may be busy for a moment; try again
                    continue
                if rows >= count and claimed_seen is None:
                    claimed_seen = time.time()
                if started >= count:
                    break
            runner.stop()
        conn = read_only(state)
        try:
            s, f, n, ns = conn.execute(
                "SELECT max(started_at), max(finished_at), count(*), count(started_at) FROM runs"
            ).fetchone()
        finally:
            conn.close()
    out: dict[str, float] = {}
    if claimed_seen is not None:
        out["claimed"] = claimed_seen - at
    if ns >= count and s:
        out["started"] = parse_ts(s) - at
        if f:
            out["finished"] = parse_ts(f) - at
    info = (
        f"{n:,} runs recorded, {ns:,} started (of {count:,}); READY {ready:.1f}s after "
        f"launch, {at - runner.ready_wall:.1f}s before T; concurrency {CONCURRENCY}"
    )
    return out, info


class _TooLate(Exception):
    pass


def _spawn_floor(count: int) -> float:
    """Seconds to start ``count`` processes of ``true`` from one Python process with
    ``subprocess.Popen`` (own session, stdout to a pipe), at most CONCURRENCY alive:
    what this machine allows before any scheduler work, for the command variant."""
    import os
    import subprocess
    from collections import deque

    alive: deque[subprocess.Popen[bytes]] = deque()
    started = time.perf_counter()
    for _ in range(count):
        read_fd, write_fd = os.pipe()
        alive.append(
            subprocess.Popen(
                ["true"],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        os.close(write_fd)
        os.close(read_fd)
        if len(alive) >= CONCURRENCY:
            alive.popleft().wait()
    elapsed = time.perf_counter() - started
    for proc in alive:
        proc.wait()
    return elapsed


ROUNDS = 3


def _measure(count: int, job: str, timeout: float, quick: bool) -> tuple[dict[str, float], str]:
    margin = 10.0 if quick else 20.0
    for _attempt in range(3):
        try:
            return _once(count, job, margin, timeout)
        except _TooLate as exc:
            say(f"{exc}; again with a larger margin")
            margin *= 2
    return {}, "READY never came early enough"


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f} s" if values else "-"


def run(quick: bool) -> list[Result]:
    count = 2_000 if quick else 10_000
    timeout = 60.0 if quick else 120.0
    variants = (("Python task", "task: benchtasks.noop"), ("command `true`", 'command: ["true"]'))
    kinds = {"Python task": "task", "command `true`": "command"}
    seen: dict[str, dict[str, list[float]]] = {label: {} for label, _ in variants}
    notes: dict[str, list[str]] = {label: [] for label, _ in variants}
    floors: list[float] = []
    # Rounds alternate ours and the floor, so that both see the same load.
    for number in range(ROUNDS):
        for label, job in variants:
            times, info = _measure(count, job, timeout, quick)
            shown = ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
            say(f"round {number + 1}, {label}: {shown} ({info})")
            for key, value in times.items():
                seen[label].setdefault(key, []).append(value)
            if "started" not in times:
                notes[label].append(f"round {number + 1}: not all started within {timeout:.0f}s")
        floors.append(_spawn_floor(count))
        say(f"round {number + 1}, floor: {count:,} x Popen(true): {floors[-1]:.2f}s")
    results = []
    for label, _ in variants:
        claimed, started = seen[label].get("claimed", []), seen[label].get("started", [])
        mid = median(claimed) if claimed else None
        results.append(
            Result(
                f"burst {count:,} at one instant, {label}: claimed and dispatched",
                mid,
                "s",
                "< 5 s",
                judge(mid, below=5.0) if mid is not None else "FAIL",
                [f"{_spread(claimed)} over {ROUNDS} rounds"],
                key=f"{kinds[label]}_dispatched",
            )
        )
        results.append(
            Result(
                f"burst {count:,} at one instant, {label}: all jobs started",
                median(started) if started else None,
                "s",
                "-",
                "n/a",
                [
                    f"{_spread(started)} over {ROUNDS} rounds, concurrency {CONCURRENCY}",
                    *notes[label],
                ],
                key=f"{kinds[label]}_started",
            )
        )
    floor = median(floors)
    results.append(
        Result(
            f"floor: {count:,} x Popen `true`, no scheduler",
            floor,
            "s",
            notes=[f"{_spread(floors)}; what this machine allows for starting the commands"],
            key="popen_floor",
        )
    )
    commands = seen["command `true`"].get("started", [])
    ratio = median(commands) / floor if commands and floor else None
    results.append(
        Result(
            f"burst {count:,} commands `true` at concurrency {CONCURRENCY}: all started / floor",
            ratio,
            "x",
            "<= 1.2x",
            "n/a" if ratio is None else ("PASS" if ratio <= 1.2 else "FAIL"),
            [f"medians of {ROUNDS} rounds, each ours then the floor"],
            key="command_vs_floor",
        )
    )
    return results

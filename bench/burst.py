"""Issue 3: a burst of 10,000 occurrences due at one instant.

The real service runs as a subprocess on a temp YAML file of 10,000 one-time schedules
(``at: T``) and a temp state file. T is a whole second far enough after the launch that
READY comes at least 3 s before it (if READY is later, the run is repeated with a larger
margin). After T we poll the state read-only until every run has ``started_at``, then
read from the ``runs`` table:

- claimed and dispatched: when a poll first saw a row for every occurrence in ``runs``,
  minus T. The tick that claims a batch puts every claimed run in its queue right after
  the commit, so this is "claimed and handed to the queues", the issue's goal (``queued_at``
  is the tick's instant, not the commit's, so it cannot say this; the poll runs every
  0.1 s, which bounds the resolution);
- all started: ``max(started_at) - T``, the stricter reading: every job actually begun.
  With a concurrency limit this is bounded by how fast jobs end, so for commands it is
  mostly the machine's process creation; the ``floor`` row (10,000 bare ``Popen`` of
  ``true`` at the same concurrency, no scheduler) says what the machine allows;
- finished: ``max(finished_at) - T``, for information.

The queue's concurrency is 200, so that the configured limit (default 4) is not what
is measured. Variants: a trivial Python task (in a thread) and the command ``true``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from common import Result, Runner, iso, judge, parse_ts, read_only, say, tempdir, write_task_module

NAME = "burst"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("task_dispatched", "task_started", "command_dispatched", "command_started", "popen_floor")
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


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    timeout = 60.0 if quick else 120.0
    results = []
    variants = (
        ("task", "Python task", "task: benchtasks.noop"),
        ("command", "command `true`", 'command: ["true"]'),
    )
    for kind, label, job in variants:
        margin = 10.0 if quick else 20.0
        for _attempt in range(3):
            try:
                times, info = _once(count, job, margin, timeout)
                break
            except _TooLate as exc:
                say(f"{label}: {exc}; again with a larger margin")
                margin *= 2
        else:
            results.append(
                Result(
                    f"burst {count:,} at one instant, {label}: claimed and dispatched",
                    None,
                    "s",
                    "< 5 s",
                    "n/a",
                    ["READY never came early enough"],
                    key=f"{kind}_dispatched",
                )
            )
            continue
        say(f"{label}: {', '.join(f'{k} {v:.2f}s' for k, v in times.items())} ({info})")
        dispatched = times.get("started")
        note = info + "".join(f"; {k} {v:.2f}s after T" for k, v in times.items())
        if dispatched is None:
            note += f"; not all started within {timeout:.0f}s"
        claimed = times.get("claimed")
        results.append(
            Result(
                f"burst {count:,} at one instant, {label}: claimed and dispatched",
                claimed,
                "s",
                "< 5 s",
                judge(claimed, below=5.0) if claimed is not None else "FAIL",
                key=f"{kind}_dispatched",
            )
        )
        results.append(
            Result(
                f"burst {count:,} at one instant, {label}: all jobs started",
                dispatched,
                "s",
                "-",
                "n/a",
                [note],
                key=f"{kind}_started",
            )
        )
        if kind == "command":
            floor = _spawn_floor(count)
            say(f"floor: {count:,} x Popen(true) from one Python process: {floor:.2f}s")
            results.append(
                Result(
                    f"floor: {count:,} x Popen `true`, no scheduler",
                    floor,
                    "s",
                    notes=["what this machine allows for starting the commands"],
                    key="popen_floor",
                )
            )
    return results

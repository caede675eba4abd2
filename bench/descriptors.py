"""10,000 commands due at once, concurrency 10,000, under ``ulimit -n 1024``.

The runner may hold 1,024 descriptors and each job in flight holds three, so most of
the runs must wait for a slot (still ``queued``) instead of starting and failing with
"Too many open files". The runner is a subprocess whose soft and hard ``RLIMIT_NOFILE``
are set to the limit before it starts (so it cannot raise them); every schedule is
``run_on_start``, so all of them are due at the first tick. Once every run has ended,
the state is read:

- successes, runs failed for want of descriptors ("Too many open files" in ``error``),
  occurrences run twice (two runs of one schedule and instant), runs not ended;
- the most descriptors the runner held (sampled from /proc every 0.1 s) and the most
  runs waiting for descriptors at once, and the runs that waited in all (/metrics);
- seconds from READY until every run ended, beside the same burst with no limit to
  speak of (the soft limit raised to the hard one, as ``run`` does by itself).
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

from common import UNO, Result, judge, read_only, say, tempdir

NAME = "descriptors"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("successes", "failed_emfile", "run_twice", "all_ended", "all_ended_unlimited")
LIMIT = 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _file(path: Path, count: int, port: int) -> None:
    lines = [
        "scheduler:",
        f"  default_concurrency: {count}",
        f"  metrics_address: 127.0.0.1:{port}",
        "  keep_runs: 100",
        "  shutdown_grace: 5s",
        "schedules:",
    ]
    for i in range(count):
        lines += [
            f"  c-{i:05d}:",
            "    schedule: {every: 1d}",
            "    run_on_start: true",
            '    command: ["true"]',
        ]
    path.write_text("\n".join(lines) + "\n")


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("uno_schedule_") and "{" not in line:
            name, value = line.split(" ")
            out[name] = float(value)
    return out


def _open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _ended(state: Path) -> int:
    conn = read_only(state)
    try:
        row = conn.execute(
            "SELECT count(*) FROM runs WHERE result NOT IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def _once(count: int, limit: int | None, timeout: float) -> dict[str, float]:
    with tempdir("descriptors") as folder:
        config, state, log = folder / "schedules.yaml", folder / "state.db", folder / "run.log"
        port = _free_port()
        _file(config, count, port)

        def cap() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE")}
        env.pop("NOTIFY_SOCKET", None)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [UNO, "-c", str(config), "--state", str(state), "run"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,
                start_new_session=True,
                preexec_fn=cap,
            )
        try:
            deadline = time.monotonic() + 120
            while b"ready:" not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the runner never became ready: {log.read_text()[-800:]}")
                time.sleep(0.05)
            ready = time.perf_counter()
            most_fds, most_waiting, ended = 0, 0.0, 0
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                most_fds = max(most_fds, _open_fds(proc.pid))
                with contextlib.suppress(Exception):
                    ended = _ended(state)
                if ended >= count:
                    break
                most_waiting = max(
                    most_waiting,
                    _scrape(port).get("uno_schedule_runs_waiting_for_descriptors", 0.0),
                )
                time.sleep(0.1)
            took = time.perf_counter() - ready
            waits = _scrape(port).get("uno_schedule_descriptor_waits_total", 0.0)
        finally:
            proc.terminate()
            proc.wait(60)
        conn = read_only(state)
        try:
            rows = conn.execute(
                "SELECT schedule, scheduled_time, result, error FROM runs"
            ).fetchall()
        finally:
            conn.close()
    results = Counter(r[2] for r in rows)
    twice = sum(n - 1 for n in Counter((r[0], r[1]) for r in rows).values() if n > 1)
    return {
        "success": results.get("success", 0),
        "emfile": sum(1 for r in rows if r[3] and "Too many open files" in r[3]),
        "failed": sum(n for k, n in results.items() if k not in ("success", "queued", "running")),
        "unended": results.get("queued", 0) + results.get("running", 0),
        "twice": twice,
        "seconds": took,
        "fds": most_fds,
        "waiting": most_waiting,
        "waits": waits,
        "runs": len(rows),
    }


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    limit = 256 if quick else LIMIT
    timeout = 120.0 if quick else 600.0
    capped = _once(count, limit, timeout)
    say(f"ulimit -n {limit}: {capped}")
    free = _once(count, None, timeout)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    say(f"soft limit raised to the hard one ({hard}): {free}")
    head = f"{count:,} commands due at once, concurrency {count:,}, ulimit -n {limit:,}"
    note = (
        f"{capped['runs']:,.0f} runs recorded, {capped['failed']:,.0f} failed, "
        f"{capped['unended']:,.0f} not ended; at most {capped['fds']:,.0f} descriptors held "
        f"and {capped['waiting']:,.0f} runs waiting for descriptors at once; "
        f"{capped['waits']:,.0f} runs waited in all"
    )
    return [
        Result(
            f"{head}: successes",
            capped["success"],
            "runs",
            f"= {count:,}",
            "PASS" if capped["success"] == count else "FAIL",
            [note],
            key="successes",
        ),
        Result(
            f"{head}: failed for lack of descriptors",
            capped["emfile"],
            "runs",
            "= 0",
            "PASS" if capped["emfile"] == 0 else "FAIL",
            key="failed_emfile",
        ),
        Result(
            f"{head}: occurrences run twice",
            capped["twice"],
            "runs",
            "= 0",
            "PASS" if capped["twice"] == 0 else "FAIL",
            key="run_twice",
        ),
        Result(
            f"{head}: READY to all ended", capped["seconds"], "s", "-", judge(None), key="all_ended"
        ),
        Result(
            f"{count:,} commands due at once, concurrency {count:,}, no low limit: READY to "
            "all ended",
            free["seconds"],
            "s",
            notes=[
                f"{free['success']:,.0f} successes, {free['failed']:,.0f} failed, at most "
                f"{free['fds']:,.0f} descriptors held"
            ],
            key="all_ended_unlimited",
        ),
    ]

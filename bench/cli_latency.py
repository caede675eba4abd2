"""Issue 9: the everyday commands at the shell, each against ``python -c pass``.

A state with thousands of runs (the normal case on a host that has run the scheduler
for a while) is built through the library's store, then every command (human and
``--json``) is timed as a new user's shell would run it: the venv's console script, output
to a pipe. Runs are interleaved with the baseline (``python -c pass`` on the same venv
interpreter) so that drift of the machine hits both alike; the table shows medians and
the ratio. Goal (issue 9): every command within 6x the baseline.

The library's path is timed too, without a goal: the first command after an edit of the
file (the state's snapshot no longer matches, so the file is read and the snapshot
recorded again) and commands on a state with schedules made through ``Scheduler.schedule()``
(which the state's view leaves to the library).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PYTHON, UNO, Result, median, say, tempdir, timed_run

NAME = "cli_latency"
GOAL = 6.0

SCHEDULES = """\
scheduler:
  timezone: Europe/Berlin
schedules:
  backup:
    description: Nightly backup of /etc to the NAS
    schedule: "30 2 * * *"
    command: ["true"]
    queue: maintenance
    tags: [ops, nightly]
  report:
    schedule: {weekly: {days: [monday, thursday], time: "09:00"}}
    timezone: America/New_York
    command: ["true"]
  heartbeat:
    schedule: {every: 1m}
    command: "true"
  restock:
    schedule: {event: inventory.low_stock}
    command: ["true"]
"""
EXTRA = 40  # more schedules, so that the file is not a toy
RUNS = 5000


def _config(folder: Path) -> Path:
    text = SCHEDULES + "".join(
        f"  job-{i:03d}-with-a-rather-long-descriptive-name:\n"
        f'    schedule: "{i % 60} {i % 24} * * *"\n'
        f'    command: ["true"]\n'
        for i in range(EXTRA)
    )
    path = folder / "schedules.yaml"
    path.write_text(text)
    return path


def _build_state(config: Path, state: Path, runs: int) -> None:
    """Schedules through the CLI (as a first ``pause``/``resume`` would), runs through the
    store: ``runs`` finished runs of ``heartbeat`` and ``backup`` over the past days."""
    env = {**os.environ, "UNO_SCHEDULE_CONFIG": str(config), "UNO_SCHEDULE_STATE": str(state)}
    subprocess.run([UNO, "pause", "--all"], env=env, check=True, capture_output=True)
    subprocess.run([UNO, "resume", "--all"], env=env, check=True, capture_output=True)

    from unoschedule.abc import Finish
    from unoschedule.model import RunRecord
    from unoschedule.store.sqlite import SQLiteStorage

    now = datetime.now(UTC).replace(microsecond=0)
    store = SQLiteStorage(state)
    try:
        batch: list[RunRecord] = []
        for i in range(runs):
            name = "heartbeat" if i % 5 else "backup"
            at = now - timedelta(minutes=i + 1)
            batch.append(
                RunRecord(
                    run_id=f"bench-{i:06d}",
                    schedule=name,
                    scheduled_time=at,
                    queued_at=at,
                    result="queued",
                    output="x" * 200,
                )
            )
        for run in batch:
            store.enqueue(run)
        store.start_runs([(r.run_id, r.scheduled_time, 4242) for r in batch])
        store.finish_runs(
            [
                Finish(
                    r.run_id,
                    "success" if i % 7 else "error",
                    r.scheduled_time + timedelta(milliseconds=12 + i % 90),
                    error=None if i % 7 else "exit status 1",
                    output="done",
                )
                for i, r in enumerate(batch)
            ]
        )
    finally:
        store.close()


COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("next-runs", ["next-runs", "backup"]),
    ("validate", ["validate"]),
    ("list", ["list"]),
    ("status", ["status", "backup"]),
    ("history", ["history", "backup"]),
    ("stats", ["stats"]),
    ("pause", ["pause", "report"]),
    ("resume", ["resume", "report"]),
    ("trigger", ["trigger", "report"]),
    ("event", ["event", "inventory.low_stock"]),
)


def _variants() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for label, argv in COMMANDS:
        out.append((label, argv))
        out.append((f"{label} --json", [*argv, "--json"]))
    return out


def _timed(argv: list[str]) -> float | None:
    """Wall seconds of one run, None if the command failed (shown as such in the table)."""
    try:
        return timed_run(argv)
    except RuntimeError as exc:
        say(f"failed: {exc}".splitlines()[0])
        return None


#: The commands timed on the library's path as well (the view cannot answer there).
SLOW_COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("list", ["list"]),
    ("status", ["status", "backup"]),
    ("next-runs", ["next-runs", "backup"]),
    ("history", ["history", "backup"]),
    ("pause", ["pause", "report"]),
)


def _edit(config: Path) -> None:
    """A new mtime, as an edit of the file gives it: the state's snapshot no longer
    matches, so the next command reads the file through the library (and records it)."""
    st = config.stat()
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def _add_api_schedules(config: Path, state: Path) -> None:
    """Two schedules made through ``Scheduler.schedule()``: the view leaves a state with
    such schedules to the library (``StateView.open``), so every command reads the file."""
    import asyncio

    from unoschedule.config import load_config
    from unoschedule.scheduler import Scheduler

    async def add() -> None:
        scheduler = Scheduler.from_config(load_config(config), state=str(state))
        try:
            await scheduler.schedule(command=["true"], schedule="15 * * * *", name="api-hourly")
            await scheduler.schedule(command=["true"], schedule={"every": "10m"}, name="api-poll")
        finally:
            scheduler.close()

    asyncio.run(add())


def measure_slow(runs: int, history: int) -> tuple[float, list[tuple[str, float, float]]]:
    """The library's path, (label, median ms, ratio): the first command after an edit of
    the file, and every command on a state with schedules made through the API."""
    with tempdir("cli-slow") as folder:
        config = _config(folder)
        state = folder / "state.db"
        _build_state(config, state, history)
        api_folder = folder / "api"
        api_folder.mkdir()
        api_config = _config(api_folder)
        api_state = api_folder / "state.db"
        _build_state(api_config, api_state, history)
        _add_api_schedules(api_config, api_state)
        cases: list[tuple[str, list[str], dict[str, str], Path | None]] = []
        for label, argv in SLOW_COMMANDS:
            env = {"UNO_SCHEDULE_CONFIG": str(config), "UNO_SCHEDULE_STATE": str(state)}
            cases.append((f"{label} (file edited)", argv, env, config))
        for label, argv in SLOW_COMMANDS[:2]:
            env = {"UNO_SCHEDULE_CONFIG": str(api_config), "UNO_SCHEDULE_STATE": str(api_state)}
            for extra in ([], ["--json"]):
                cases.append(
                    (" ".join([label, *extra, "(API schedules)"]), [*argv, *extra], env, None)
                )
        base = [PYTHON, "-c", "pass"]
        base_t: list[float] = []
        times: dict[str, list[float | None]] = {label: [] for label, *_ in cases}
        for i in range(runs + 1):  # the first round warms up
            for label, argv, env, edited in cases:
                os.environ.update(env)
                try:
                    b = timed_run(base)
                    if edited is not None:
                        _edit(edited)
                    t = _timed([UNO, *argv])
                finally:
                    for key in env:
                        os.environ.pop(key, None)
                if i:
                    base_t.append(b)
                    times[label].append(t)
        base_ms = median(base_t) * 1000
        rows = []
        for label, *_ in cases:
            ok = [t for t in times[label] if t is not None]
            ms = median(ok) * 1000 if len(ok) == len(times[label]) else float("nan")
            rows.append((label, ms, ms / base_ms))
            say(f"{label:<32} {ms:7.1f} ms  {ms / base_ms:5.2f}x")
        return base_ms, rows


def measure(runs: int, history: int) -> tuple[float, list[tuple[str, float, float]]]:
    """The baseline median and, per command, (label, median ms, ratio)."""
    with tempdir("cli") as folder:
        config = _config(folder)
        state = folder / "state.db"
        _build_state(config, state, history)
        base = [PYTHON, "-c", "pass"]
        env = {"UNO_SCHEDULE_CONFIG": str(config), "UNO_SCHEDULE_STATE": str(state)}
        os.environ.update(env)
        try:
            variants = _variants()
            for _ in range(2):  # warm-up: page cache, bytecode
                timed_run(base)
                for _label, argv in variants:
                    _timed([UNO, *argv])
            base_t: list[float] = []
            times: dict[str, list[float | None]] = {label: [] for label, _ in variants}
            for _ in range(runs):
                for label, argv in variants:
                    base_t.append(timed_run(base))
                    times[label].append(_timed([UNO, *argv]))
        finally:
            for key in env:
                os.environ.pop(key, None)
        base_ms = median(base_t) * 1000
        rows = []
        for label, _ in variants:
            ok = [t for t in times[label] if t is not None]
            if len(ok) < len(times[label]):
                rows.append((label, float("nan"), float("nan")))
                say(f"{label:<20} failed")
                continue
            ms = median(ok) * 1000
            rows.append((label, ms, ms / base_ms))
            say(f"{label:<20} {ms:7.1f} ms  {ms / base_ms:5.2f}x")
        return base_ms, rows


def _compile() -> None:
    """Bytecode for the package, as ``make install`` and a regular pip install write it:
    with ``PYTHONDONTWRITEBYTECODE`` set, a module edited since would be compiled again
    on every start, which would be measured here."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "unoschedule"), quiet=1)


def run(quick: bool) -> list[Result]:
    _compile()
    base_ms, rows = measure(3 if quick else 9, 500 if quick else RUNS)
    history = 500 if quick else RUNS
    results = [
        Result(
            "cli: python -c pass",
            base_ms,
            "ms",
            "",
            "n/a",
            [
                f"state with {history} runs, {EXTRA + 4} schedules; medians of "
                f"{3 if quick else 9} interleaved runs after 2 warm-ups"
            ],
        )
    ]
    for label, ms, ratio in rows:
        if ms != ms:  # NaN: the command failed
            results.append(
                Result(
                    f"cli: {label}",
                    None,
                    "ms",
                    f"<= {GOAL:g}x",
                    "FAIL",
                    [f"{label} exited non-zero"],
                )
            )
            continue
        results.append(Result(f"cli: {label}", ms, "ms", "", "n/a"))
        results.append(
            Result(
                f"cli: {label} / python -c pass",
                ratio,
                "x",
                f"<= {GOAL:g}x",
                "PASS" if ratio <= GOAL else "FAIL",
            )
        )
    slow_base, slow = measure_slow(3 if quick else 5, 500 if quick else RUNS)
    results.append(
        Result(
            "cli, library path: python -c pass",
            slow_base,
            "ms",
            "",
            "n/a",
            [
                "library path: the first command after an edit of the file, and any command "
                "on a state with schedules made through the API; medians of 5 interleaved "
                "runs after 1 warm-up (no goal: the everyday case is the state's snapshot of "
                "an unchanged file, above)"
            ],
        )
    )
    for label, ms, ratio in slow:
        results.append(Result(f"cli: {label}", None if ms != ms else ms, "ms", "", "n/a"))
        results.append(
            Result(f"cli: {label} / python -c pass", None if ms != ms else ratio, "x", "", "n/a")
        )
    return results


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    _compile()
    base, table = measure(3 if quick else 9, 500 if quick else RUNS)
    print(f"{'command':<22} {'median ms':>10} {'x python -c pass':>17}")
    print(f"{'python -c pass':<22} {base:10.1f} {1.0:17.2f}")
    for label, ms, ratio in table:
        print(f"{label:<22} {ms:10.1f} {ratio:17.2f}")
    base, table = measure_slow(3 if quick else 5, 500 if quick else RUNS)
    print(f"\n{'library path':<34} {'median ms':>10} {'x python -c pass':>17}")
    print(f"{'python -c pass':<34} {base:10.1f} {1.0:17.2f}")
    for label, ms, ratio in table:
        print(f"{label:<34} {ms:10.1f} {ratio:17.2f}")

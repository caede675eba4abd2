"""The everyday commands at the shell, each against ``python -c pass``.

The package is installed as a user installs it: a regular ``pip install .`` into a venv
of its own (``--venv``, default /tmp/uno-bench-venv), never the editable ``.venv``, whose
import finder makes ``python -c pass`` slower and every ratio look about twice as good.
This script then runs itself with that venv's interpreter.

A state with thousands of runs (the normal case on a host that has run the scheduler
for a while) is built through the library's store, then every command (human and
``--json``) is timed as a new user's shell would run it: the venv's console script, output
to a pipe. Runs are interleaved with the baseline (``python -c pass`` on the same venv
interpreter) so that drift of the machine hits both alike; the table shows medians and
the ratio. Goal: every command within 6x the baseline.

Timed too, without a goal: the first command after an edit of the file (the state's
record of the file no longer matches, so the file is read) and commands on a state with
schedules made through ``Scheduler.schedule()``.

    python bench/cli_latency.py [--quick] [--json] [--venv PATH]
    UNO_BENCH_VENV=PATH make bench
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

    from unoschedule.model import RunRecord
    from unoschedule.records import Finish
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


#: The commands timed after an edit of the file as well.
SLOW_COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("list", ["list"]),
    ("status", ["status", "backup"]),
    ("next-runs", ["next-runs", "backup"]),
    ("history", ["history", "backup"]),
    ("pause", ["pause", "report"]),
)


def _key(label: str) -> str:
    """A command's row key: ``stats --json`` is ``stats.json``, ``list (file edited)``
    is ``list.edited``, ``next-runs --json (API schedules)`` is ``next-runs.json.api``."""
    for words, part in (
        (" --json", ".json"),
        (" (file edited)", ".edited"),
        (" (API schedules)", ".api"),
    ):
        label = label.replace(words, part)
    return label


#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = (
    "pass",
    "slowest_ratio",
    "edited_pass",
    *(
        f"{key}{ratio}"
        for label, _ in COMMANDS
        for key in (_key(label), _key(f"{label} --json"))
        for ratio in ("", ".ratio")
    ),
    *(
        f"{key}{ratio}"
        for label, _ in SLOW_COMMANDS
        for key in (
            _key(f"{label} (file edited)"),
            *(_key(f"{label}{extra} (API schedules)") for extra in ("", " --json")),
        )
        for ratio in ("", ".ratio")
    ),
)


def _edit(config: Path) -> None:
    """A new mtime, as an edit of the file gives it: the state's record of the file no
    longer matches, so the next command reads the file (and records it again)."""
    st = config.stat()
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def _add_api_schedules(config: Path, state: Path) -> None:
    """Two schedules made through ``Scheduler.schedule()``, beside the file's."""
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


#: Where the package is installed as a user installs it (``--venv`` or the environment
#: variable ``UNO_BENCH_VENV`` changes it; ``make bench`` runs ``run()``, without options).
DEFAULT_VENV = Path(os.environ.get("UNO_BENCH_VENV") or "/tmp/uno-bench-venv")
ROOT = Path(__file__).resolve().parent.parent


def install(venv: Path) -> Path:
    """A regular (non-editable) ``pip install`` of this tree into ``venv``, created when
    missing; returns its interpreter. Not the editable ``.venv``: its import finder makes
    ``python -c pass`` slower and every ratio look about twice as good."""
    python = venv / "bin" / "python"
    if not python.exists():
        say(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = (venv / ".uno-deps").exists()
    say(f"pip install {ROOT} into {venv}" + (" (package only)" if installed else ""))
    extra = ["--force-reinstall", "--no-deps"] if installed else []
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *extra, "."],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (venv / ".uno-deps").touch()
    return python


def _in_venv(venv: Path, quick: bool) -> dict[str, Any]:
    """Both tables, measured by this script run with the venv's interpreter."""
    python = install(venv)
    argv = [str(python), str(Path(__file__).resolve()), "--inside", "--json"]
    done = subprocess.run(
        [*argv, *(["--quick"] if quick else [])],
        stdout=subprocess.PIPE,
        check=True,
        cwd=Path(__file__).resolve().parent,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _measured(quick: bool) -> dict[str, Any]:
    runs, history = (3, 500) if quick else (9, RUNS)
    base, rows = measure(runs, history)
    slow_base, slow = measure_slow(3 if quick else 5, history)
    return {
        "python": sys.executable,
        "history": history,
        "runs": runs,
        "goal": GOAL,
        "base_ms": base,
        "commands": [{"command": c, "ms": ms, "ratio": r} for c, ms, r in rows],
        "library_base_ms": slow_base,
        "library_path": [{"command": c, "ms": ms, "ratio": r} for c, ms, r in slow],
    }


def run(quick: bool, venv: Path = DEFAULT_VENV) -> list[Result]:
    data = _in_venv(venv, quick)
    results = [
        Result(
            "cli: python -c pass",
            data["base_ms"],
            "ms",
            "",
            "n/a",
            [
                f"{data['python']} (a regular pip install); state with {data['history']} "
                f"runs, {EXTRA + 4} schedules; medians of {data['runs']} interleaved runs "
                "after 2 warm-ups"
            ],
            key="pass",
        )
    ]
    for row in data["commands"]:
        label, ms, ratio = row["command"], row["ms"], row["ratio"]
        if ms is None or ms != ms:  # NaN: the command failed
            results.append(
                Result(
                    f"cli: {label}",
                    None,
                    "ms",
                    f"<= {GOAL:g}x",
                    "FAIL",
                    [f"{label} failed"],
                    key=_key(label),
                )
            )
            continue
        results.append(Result(f"cli: {label}", ms, "ms", "", "n/a", key=_key(label)))
        results.append(
            Result(
                f"cli: {label} / python -c pass",
                ratio,
                "x",
                f"<= {GOAL:g}x",
                "PASS" if ratio <= GOAL else "FAIL",
                key=f"{_key(label)}.ratio",
            )
        )
    ratios = {
        row["command"]: row["ratio"]
        for row in data["commands"]
        if row["ratio"] is not None and row["ratio"] == row["ratio"]
    }
    if ratios:
        slowest = max(ratios, key=lambda label: ratios[label])
        results.append(
            Result(
                "cli: slowest everyday command / python -c pass",
                ratios[slowest],
                "x",
                f"<= {GOAL:g}x",
                "PASS"
                if ratios[slowest] <= GOAL and len(ratios) == len(data["commands"])
                else "FAIL",
                [f"{slowest}; all {min(ratios.values()):.2f}-{ratios[slowest]:.2f}x"],
                key="slowest_ratio",
            )
        )
    results.append(
        Result(
            "cli, first command after an edit: python -c pass",
            data["library_base_ms"],
            "ms",
            "",
            "n/a",
            [
                "the first command after an edit of the file (which reads it), and commands "
                "on a state with schedules made through the API; no goal"
            ],
            key="edited_pass",
        )
    )
    for row in data["library_path"]:
        ms = row["ms"]
        ok = ms is not None and ms == ms
        key = _key(row["command"])
        results.append(Result(f"cli: {row['command']}", ms if ok else None, "ms", key=key))
        ratio = row["ratio"] if ok else None
        results.append(
            Result(f"cli: {row['command']} / python -c pass", ratio, "x", key=f"{key}.ratio")
        )
    return results


def _print_tables(data: dict[str, Any]) -> None:
    print(f"{data['python']}: medians of {data['runs']} interleaved runs, goal <= {GOAL:g}x")
    print(f"{'command':<34} {'median ms':>10} {'x python -c pass':>17}")
    print(f"{'python -c pass':<34} {data['base_ms']:10.1f} {1.0:17.2f}")
    for row in data["commands"]:
        flag = "" if row["ratio"] <= GOAL else "  over the goal"
        print(f"{row['command']:<34} {row['ms']:10.1f} {row['ratio']:17.2f}{flag}")
    print(f"\n{'no goal':<34} {'median ms':>10} {'x python -c pass':>17}")
    print(f"{'python -c pass':<34} {data['library_base_ms']:10.1f} {1.0:17.2f}")
    for row in data["library_path"]:
        print(f"{row['command']:<34} {row['ms']:10.1f} {row['ratio']:17.2f}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--venv",
        type=Path,
        default=DEFAULT_VENV,
        help=f"the venv the package is installed into (default {DEFAULT_VENV})",
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    result = _measured(args.quick) if args.inside else _in_venv(args.venv, args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_tables(result)

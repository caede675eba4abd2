"""Run every benchmark (or ``--only NAME``) and print one table.

    .venv/bin/python bench/run.py            # everything, full sizes (make bench)
    .venv/bin/python bench/run.py --quick    # small sizes, a smoke test
    .venv/bin/python bench/run.py --only next_fire --only cold_start

Progress goes to stderr; stdout gets the table and its notes. Numbers are measured on
this machine in this run; nothing asserts on them. The exit status is 0 even when a
goal is missed (the verdict column says so), and 1 only when a benchmark crashed.

Each benchmark starts after ``sync``: the files the one before wrote (a venv, states of
100,000 schedules) would otherwise be written back by the kernel up to 30 s later, in
the middle of the next one, and a durable commit waits behind that writeback: the
latency rows would measure the benchmark before them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Result, fmt_value, format_table

#: In the order they run: the cheap in-process ones first, then the runner subprocesses.
BENCHMARKS = (
    "cold_start",
    "cli_latency",
    "next_fire",
    "validate",
    "fire_latency",
    "wake_latency",
    "api_latency",
    "takeover",
    "idle_cpu",
    "startup_scale",
    "burst",
    "burst_peers",
    "redis_claims",
    "redis_fire_latency",
    "redis_burst",
    "redis_takeover",
    "redis_outage",
    "redis_chaos",
    "reload_firing",
    "prune",
    "metrics_scale",
    "descriptors",
)


def name_rows(module: str, rows: list[Result], declared: Sequence[str]) -> list[Result]:
    """Each row's key as ``module.key``; a key its module does not declare in ``ROWS`` (which
    the README's table could not name) is shown as ``module.?`` with a note saying so."""
    for row in rows:
        if row.key not in declared and row.key != "crashed":
            row.notes.append(f"row key {row.key!r} is not in {module}.ROWS")
            row.key = "?"
        row.key = f"{module}.{row.key}"
    return rows


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def run_header(
    quick: bool, total: float, load_before: Sequence[float], load_after: Sequence[float]
) -> str:
    """When, on what and under which load the table was measured: the lines the README
    quotes above its table (numbers from another machine or commit do not compare)."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (dirty: uncommitted changes)"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"uno-schedule benchmarks{' (--quick, small sizes)' if quick else ''}",
            f"date: {when}; total {total:.0f}s",
            f"commit: {commit}",
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, {platform.platform()}",
            # Other work on the machine moves these numbers: the runners share its cores.
            "load average (1/5/15 min): before {:.2f}/{:.2f}/{:.2f}, after "
            "{:.2f}/{:.2f}/{:.2f}".format(*load_before, *load_after),
        ]
    )


def markdown_table(results: Sequence[Result]) -> str:
    """The rows as the README's performance table writes them: the ``bench`` column
    first (the row's key, which tests/test_readme_bench.py checks against ``ROWS``)."""
    lines = ["| bench | benchmark | value | goal | verdict |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        value = f"{fmt_value(r.value)} {r.unit}".strip()
        cells = (f"`{r.key}`", r.name.replace("|", "\\|"), value, r.goal or "-", r.verdict)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only]

    results: list[Result] = []
    crashed = False
    load_before = os.getloadavg()
    began = time.perf_counter()
    for name in chosen:
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        os.sync()  # the writeback of what the benchmarks before wrote, not in this one
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
            rows = module.run(quick=args.quick)
        except Exception as exc:
            crashed = True
            traceback.print_exc()
            rows = [
                Result(
                    name, None, "", "", "n/a", [f"crashed: {type(exc).__name__}: {exc}"], "crashed"
                )
            ]
        results.extend(name_rows(name, rows, getattr(module, "ROWS", ()) if rows else ()))
        print(f"[{name}] done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    total = time.perf_counter() - began
    print()
    print(run_header(args.quick, total, load_before, os.getloadavg()))
    print()
    print(format_table(results))
    print()
    print(markdown_table(results))
    notes = [(r.name, n) for r in results for n in r.notes]
    if notes:
        print()
        print("notes:")
        for name, note in notes:
            first, *rest = note.splitlines() or [""]
            print(f"  {name}: {first}")
            for line in rest:
                print(f"      {line}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())

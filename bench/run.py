"""Run every benchmark (or ``--only NAME``) and print one table.

    .venv/bin/python bench/run.py            # everything, full sizes (make bench)
    .venv/bin/python bench/run.py --quick    # small sizes, a smoke test
    .venv/bin/python bench/run.py --only next_fire --only cold_start

Progress goes to stderr; stdout gets the table and its notes. Numbers are measured on
this machine in this run; nothing asserts on them. The exit status is 0 even when a
goal is missed (the verdict column says so), and 1 only when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, format_table

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
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(name)
            rows = module.run(quick=args.quick)
        except Exception as exc:
            crashed = True
            traceback.print_exc()
            rows = [Result(name, None, "", "", "n/a", [f"crashed: {type(exc).__name__}: {exc}"])]
        results.extend(rows)
        print(f"[{name}] done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    total = time.perf_counter() - began
    print()
    print(
        f"uno-schedule benchmarks{' (--quick)' if args.quick else ''}: "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; total {total:.0f}s"
    )
    # Other work on the machine moves these numbers: the runner benchmarks share 2 cores.
    print(
        "load average (1/5/15 min) at start {:.2f}/{:.2f}/{:.2f}, "
        "at end {:.2f}/{:.2f}/{:.2f}".format(*load_before, *os.getloadavg())
    )
    print()
    print(format_table(results))
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

"""Cold start of ``uno-schedule -c FILE next-runs NAME --count 5 --json``.

Compared with a bare ``python -c "import yaml, croniter"`` on the same venv interpreter:
2 warm-up runs each, then runs interleaved (baseline, ours, baseline, ours, ...) so
that drift of the machine hits both alike; the medians and their ratio are reported.
Wall time of ``subprocess.run`` from fork to exit, output to a pipe.
"""

from __future__ import annotations

import json
import subprocess

from common import PYTHON, UNO, Result, median, say, tempdir, timed_run

NAME = "cold_start"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("next_runs", "bare_import", "ratio")

SMALL_FILE = """\
scheduler:
  timezone: Europe/Berlin
templates:
  nightly:
    queue: maintenance
    timeout: 10m
    tags: [nightly]
schedules:
  backup:
    template: nightly
    schedule: "30 2 * * *"
    command: ["tar", "czf", "/tmp/backup.tgz", "/etc/hostname"]
  report:
    schedule: {weekly: {days: [monday, thursday], time: "09:00"}}
    timezone: America/New_York
    task: reports.build
    kwargs: {format: pdf}
  heartbeat:
    schedule: {every: 1m}
    command: "true"
  cleanup:
    schedule: {cron: "H 3 * * 1-5"}
    command: "true"
  month-end:
    schedule: {monthly: {days: [last], time: "23:00"}}
    command: "true"
"""


def run(quick: bool) -> list[Result]:
    runs = 5 if quick else 20
    with tempdir("cold") as folder:
        config = folder / "schedules.yaml"
        config.write_text(SMALL_FILE)
        # -c is a global option (SPEC 6: uno-schedule [--config FILE] COMMAND): it goes first.
        ours = [UNO, "-c", str(config), "next-runs", "backup", "--count", "5", "--json"]
        base = [PYTHON, "-c", "import yaml, croniter"]
        out = subprocess.run(ours, capture_output=True, text=True, check=True).stdout
        instants = json.loads(out)
        if len(instants) != 5:
            raise RuntimeError(f"next-runs printed {out!r}")
        if (folder / "uno-schedule.db").exists():
            raise RuntimeError("next-runs created a state file")
        for _ in range(2):
            timed_run(base)
            timed_run(ours)
        base_t: list[float] = []
        ours_t: list[float] = []
        for _ in range(runs):
            base_t.append(timed_run(base))
            ours_t.append(timed_run(ours))
        base_ms, ours_ms = median(base_t) * 1000, median(ours_t) * 1000
        ratio = ours_ms / base_ms
        say(f"next-runs {ours_ms:.1f} ms, import yaml+croniter {base_ms:.1f} ms, ratio {ratio:.2f}")
        spread = (
            f"next-runs min/max {min(ours_t) * 1000:.1f}/{max(ours_t) * 1000:.1f} ms, "
            f"baseline min/max {min(base_t) * 1000:.1f}/{max(base_t) * 1000:.1f} ms, "
            f"{runs} runs each after 2 warm-ups"
        )
        return [
            Result(
                "cold start: next-runs --count 5 --json",
                ours_ms,
                "ms",
                "",
                "n/a",
                [spread],
                key="next_runs",
            ),
            Result(
                "cold start: python -c 'import yaml, croniter'",
                base_ms,
                "ms",
                "",
                "n/a",
                key="bare_import",
            ),
            Result(
                "cold start: ratio next-runs / bare import",
                ratio,
                "x",
                "<= 1.5x",
                "PASS" if ratio <= 1.5 else "FAIL",
                key="ratio",
            ),
        ]

"""``uno-schedule -c FILE validate`` of a generated 10,000-schedule file.

The file mixes every clock schedule type (5- and 6-field cron with names, ranges, steps,
``L``/``W``/``#``/``H``, macros; ``every``; ``at``; ``daily``; ``weekly``; ``monthly``;
``event``), templates (one of them chained), time zones, tags, metadata, kwargs, tasks
and commands. Reported: wall time of the real CLI (median of 3 after a warm-up; it must
exit 0), and ``load_config()`` in this process (median of 3).
"""

from __future__ import annotations

import time
from pathlib import Path

from common import UNO, Result, judge, median, say, tempdir, timed_run, yaml_quote

NAME = "validate"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("cli", "load_config")

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Europe/London",
)
CRONS = (
    "*/5 * * * *",
    "0 9 * * 1-5",
    "30 2 * * *",
    "0 0 1,15 * MON",
    "15 10 L * *",
    "0 12 15W * *",
    "0 8 * * 5#2",
    "H H * * *",
    "H/15 * * * *",
    "0 */2 * JAN-JUN *",
    "*/20 * * * * *",
    "0 30 9 * * MON-FRI",
    "@hourly",
    "@daily",
    "0 0 */10 * MON",
    "5 4 * * 7",
    "0 22 * * 1L",
    "0 6 LW * *",
)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

HEADER = """\
scheduler:
  timezone: Europe/Berlin
  missed_schedule_handling: coalesce
  default_concurrency: 8
  queues:
    reports: 2
    maintenance: 1
templates:
  base:
    queue: maintenance
    timeout: 5m
    max_retries: 2
    retry_delay: 30s
    tags: [generated]
    metadata: {owner: platform}
  report:
    template: base
    queue: reports
    priority: low
    kwargs: {format: pdf}
    metadata: {audience: ops}
  fast:
    priority: high
    unique: true
schedules:
"""


def _schedule(i: int) -> str:
    kind = i % 10
    if kind in (0, 1, 2):
        spec = f"schedule: {yaml_quote(CRONS[i % len(CRONS)])}"
    elif kind == 3:
        spec = f"schedule: {{every: {1 + i % 90}m}}"
    elif kind == 4:
        spec = f"schedule: {{at: 2027-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z}}"
    elif kind == 5:
        spec = f'schedule: {{daily: ["{i % 24:02d}:{i % 60:02d}", "{(i + 7) % 24:02d}:30"]}}'
    elif kind == 6:
        days = f"[{DAYS[i % 7]}, {DAYS[(i + 3) % 7]}]"
        spec = f'schedule: {{weekly: {{days: {days}, time: "{i % 24:02d}:15"}}}}'
    elif kind == 7:
        spec = f'schedule: {{monthly: {{days: [1, {1 + i % 28}, last], time: "06:{i % 60:02d}"}}}}'
    elif kind == 8:
        spec = f"schedule: {{event: orders.event{i % 50}}}"
    else:
        spec = f'schedule: {{cron: "{i % 60} {i % 24} * * *"}}'
    lines = [f"  job-{i:05d}:", f"    {spec}"]
    if i % 3 == 0:
        lines.append(f"    task: jobs.module{i % 7}.run")
        lines.append(f"    kwargs: {{n: {i}, label: job{i}}}")
    else:
        lines.append(f'    command: ["echo", "job-{i}"]')
    template = ("base", "report", "fast", None)[i % 4]
    if template:
        lines.append(f"    template: {template}")
    if i % 5 == 0:
        lines.append(f"    timezone: {ZONES[i % len(ZONES)]}")
    if i % 4 == 1:
        lines.append(f"    tags: [team{i % 9}, generated]")
        lines.append(f"    metadata: {{ticket: OPS-{i}}}")
    if i % 11 == 0:
        lines.append(f"    description: Generated job number {i}.")
    return "\n".join(lines) + "\n"


def generate(path: Path, count: int) -> None:
    path.write_text(HEADER + "".join(_schedule(i) for i in range(count)))


def run(quick: bool) -> list[Result]:
    count = 1_000 if quick else 10_000
    from unoschedule.config import load_config

    with tempdir("validate") as folder:
        config = folder / "schedules.yaml"
        generate(config, count)
        size_kb = config.stat().st_size / 1024
        timed_run([UNO, "-c", str(config), "validate"])  # warm-up (page cache, .pyc)
        cli = [timed_run([UNO, "-c", str(config), "validate"]) for _ in range(3)]
        loads = []
        for _ in range(3):
            t0 = time.perf_counter()
            loaded = load_config(config)
            loads.append(time.perf_counter() - t0)
        if len(loaded.schedules) != count:
            raise RuntimeError(f"load_config gave {len(loaded.schedules)} schedules, not {count}")
    cli_s, load_s = median(cli), median(loads)
    say(
        f"validate {count:,} schedules ({size_kb:.0f} KiB): CLI {cli_s:.2f}s, "
        f"load_config {load_s:.2f}s"
    )
    note = (
        f"{count:,} schedules, {size_kb:.0f} KiB of YAML; CLI min/max "
        f"{min(cli):.2f}/{max(cli):.2f}s; load_config min/max "
        f"{min(loads):.2f}/{max(loads):.2f}s"
    )
    return [
        Result(
            f"validate {count:,} schedules (CLI, wall)",
            cli_s,
            "s",
            "< 2 s",
            judge(cli_s, below=2.0),
            [note],
            key="cli",
        ),
        Result(f"load_config {count:,} schedules (in-process)", load_s, "s", key="load_config"),
    ]

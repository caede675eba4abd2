"""How soon a sleeping leader starts a run that the shell asked for.

The real service runs on one hourly schedule with ``check_interval: 60`` (so nothing but
the wake-up can make it act within the minute). Twenty times, ``uno-schedule trigger``
is run as a subprocess; the run's ``queued_at`` (written by the CLI in the same
transaction that queues it, just before the CLI notifies the leader) and ``started_at``
(written by the leader before the job starts) give the latency of wake, take and
dispatch. Goal: within 100 ms.
"""

from __future__ import annotations

import subprocess
import time

from common import UNO, Result, Runner, judge, median, parse_ts, read_only, say, tempdir

NAME = "wake_latency"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("trigger_p50", "trigger_max")

FILE = """\
scheduler:
  check_interval: 60
schedules:
  hourly:
    schedule: {every: 1h}
    command: ["true"]
"""


def run(quick: bool) -> list[Result]:
    count = 5 if quick else 20
    with tempdir("wake") as folder:
        config, state = folder / "schedules.yaml", folder / "state.db"
        config.write_text(FILE)
        with Runner(config, state) as runner:
            runner.wait_ready(60)
            cli = [UNO, "-c", str(config), "--state", str(state)]
            for _ in range(count):
                time.sleep(0.3)  # the leader is asleep again
                subprocess.run([*cli, "trigger", "hourly"], check=True, capture_output=True)
            deadline = time.time() + 30
            rows: list[tuple[str, str | None]] = []
            while time.time() < deadline:
                conn = read_only(state)
                try:
                    rows = conn.execute(
                        "SELECT queued_at, started_at FROM runs WHERE trigger = 'manual'"
                    ).fetchall()
                finally:
                    conn.close()
                if len(rows) >= count and all(started for _, started in rows):
                    break
                time.sleep(0.2)
            runner.stop()
    waits = [(parse_ts(s) - parse_ts(q)) * 1000 for q, s in rows if s]
    if len(waits) < count:
        return [
            Result(
                "wake: CLI trigger to run start",
                None,
                "ms",
                "< 100 ms",
                "FAIL",
                [f"only {len(waits)} of {count} manual runs started"],
                key="trigger_max",
            )
        ]
    p50 = median(waits)
    say(f"trigger -> started_at over {count} triggers: p50 {p50:.1f} ms, max {max(waits):.1f} ms")
    return [
        Result("wake: CLI trigger to run start, p50", p50, "ms", key="trigger_p50"),
        Result(
            "wake: CLI trigger to run start, max",
            max(waits),
            "ms",
            "< 100 ms",
            judge(max(waits), below=100.0),
            [f"{count} triggers, check_interval 60 s"],
            key="trigger_max",
        ),
    ]

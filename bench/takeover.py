"""How soon a standby takes over when the leader dies (kill -9).

A leader and a standby run on one state file and a schedule that fires every second.
Five times: wait for the leader's READY=1 and the standby's "standby" log line, SIGKILL
the leader, and time from the kill to the standby's READY=1 (it sends READY only once it
holds the lock and the lease and has settled what the dead leader left). Goal: within a
second.
"""

from __future__ import annotations

import signal
import time

from common import Result, Runner, judge, median, say, tempdir

NAME = "takeover"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("median", "max")

FILE = """\
scheduler:
  missed_threshold: 600
schedules:
  tick:
    schedule: "* * * * * *"
    command: ["true"]
"""


def _once(round_: int) -> float:
    with tempdir("takeover") as folder:
        config, state = folder / "schedules.yaml", folder / "state.db"
        config.write_text(FILE)
        leader = Runner(config, state, tag="leader")
        standby = Runner(config, state, tag="standby")
        try:
            leader.start()
            leader.wait_ready(60)
            standby.start()
            deadline = time.time() + 30
            while "standby" not in standby.log_tail(50) and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # a few occurrences fire under the first leader
            assert leader.proc is not None
            killed = time.time()
            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait(10)
            standby.wait_ready(30)
            assert standby.ready_wall is not None
            return standby.ready_wall - killed
        finally:
            standby.stop()
            leader.stop()


def run(quick: bool) -> list[Result]:
    rounds = 2 if quick else 5
    waits = [_once(i) * 1000 for i in range(rounds)]
    say(f"kill -9 of the leader to the standby's READY: {', '.join(f'{w:.0f}' for w in waits)} ms")
    return [
        Result(
            "takeover: leader kill -9 to standby READY, median", median(waits), "ms", key="median"
        ),
        Result(
            "takeover: leader kill -9 to standby READY, max",
            max(waits),
            "ms",
            "< 1000 ms",
            judge(max(waits), below=1000.0),
            [f"{rounds} rounds"],
            key="max",
        ),
    ]

"""Issue 3: 100,000 schedules: time from process start to READY=1, and peak RSS.

The real service runs as a subprocess (``uno-schedule -c FILE --state FILE run``) with
``NOTIFY_SOCKET`` set to an AF_UNIX datagram socket of ours; the time is from just
before ``Popen`` to the arrival of ``READY=1`` (so it includes interpreter start,
imports, the YAML load, the state's creation and the due-heap). Peak RSS is ``VmHWM``
of /proc/PID/status read after READY and again just before SIGTERM (the larger).
The schedules fire hourly or daily outside the next 20 minutes (see ``idle_cpu``).

Two starts on the same files: the first on an empty state (every schedule is added,
with its first version), then a restart on the state the first one wrote.
"""

from __future__ import annotations

import time

from common import Result, Runner, judge, proc_status_kb, say, tempdir
from idle_cpu import hourly_file

NAME = "startup_scale"
#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = ("first_ready", "first_rss", "restart_ready", "restart_rss")


def _start(runner: Runner, timeout: float) -> tuple[float, int]:
    with runner:
        ready = runner.wait_ready(timeout)
        hwm = proc_status_kb(runner.pid, "VmHWM") or 0
        time.sleep(1.0)
        hwm = max(hwm, proc_status_kb(runner.pid, "VmHWM") or 0)
        code = runner.stop(timeout=120)
    if code != 0:
        raise RuntimeError(f"the runner exited {code} after SIGTERM:\n{runner.log_tail()}")
    return ready, hwm


def run(quick: bool) -> list[Result]:
    count = 10_000 if quick else 100_000
    timeout = 60.0 if quick else 180.0
    results = []
    with tempdir("scale") as folder:
        config = folder / "schedules.yaml"
        t0 = time.perf_counter()
        hourly_file(config, count)
        say(
            f"generated {count:,} schedules ({config.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        state = folder / "state.db"
        for kind, label in (
            ("first", "first start, empty state"),
            ("restart", "restart, existing state"),
        ):
            runner = Runner(config, state)
            try:
                ready, hwm = _start(runner, timeout)
            except (TimeoutError, RuntimeError) as exc:
                runner.stop()
                results.append(
                    Result(
                        f"{count:,} schedules, {label}: start to READY",
                        None,
                        "s",
                        "< 10 s",
                        "FAIL",
                        [str(exc)],
                        key=f"{kind}_ready",
                    )
                )
                break
            mib = hwm / 1024
            size = state.stat().st_size / 1e6
            say(f"{label}: READY after {ready:.1f}s, peak RSS {mib:.0f} MiB, state {size:.0f} MB")
            results.append(
                Result(
                    f"{count:,} schedules, {label}: start to READY",
                    ready,
                    "s",
                    "< 10 s",
                    judge(ready, below=10.0),
                    [f"state file {size:.0f} MB after it"],
                    key=f"{kind}_ready",
                )
            )
            results.append(
                Result(
                    f"{count:,} schedules, {label}: peak RSS (VmHWM)",
                    mib,
                    "MiB",
                    "< 500 MB",
                    judge(hwm * 1024 / 1e6, below=500.0),
                    key=f"{kind}_rss",
                )
            )
    return results

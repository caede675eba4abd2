"""Faults and hostile input that used to break ``uno-schedule run``.

Each test drives the real CLI as a subprocess where the item is about processes (a task
that kills its process, a daemon that escapes, a signal, a deleted state file), and the
library with an injected clock where it is about time. Waits are on observable
conditions with a deadline; the deadlines only bound how long a broken build takes to
fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from test_loop import Harness, T, cron, run
from test_service import (
    Runner,
    many_hourly,
    runners,
    runs,
    starts,
    uno_cli,
    wait_until,
    write_config,
)

from unoschedule.model import ScheduleDefinition
from unoschedule.schedules import IntervalSchedule

pytestmark = pytest.mark.slow

__all__ = ["runners"]  # the fixture, imported for its name

HARMFUL_TASKS = """
import ctypes
import os
import shutil
import signal
import time


def exit3():
    os._exit(3)


def segfault():
    ctypes.string_at(0)


def fine():
    return os.getpid()
"""


def write_tasks(workdir: Path, name: str, body: str) -> None:
    (workdir / f"{name}.py").write_text(textwrap.dedent(body))


def results_of(workdir: Path, schedule: str) -> list[dict[str, object]]:
    return [r for r in runs(workdir) if r["schedule"] == schedule]


def cli(workdir: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


# -- 1. a sync task cannot kill the scheduler ---------------------------------------------


@pytest.mark.parametrize(("task", "error"), [("exit3", "exit status 3"), ("segfault", "SIGSEGV")])
def test_a_sync_task_that_kills_its_process_does_not_kill_the_scheduler(
    tmp_path: Path, runners: Callable[..., Runner], task: str, error: str
) -> None:
    write_tasks(tmp_path, "harmful", HARMFUL_TASKS)
    write_config(
        tmp_path,
        f"""
        schedules:
          deadly:
            schedule: {{every: 1h}}
            task: harmful.{task}
          alive:
            schedule: "* * * * * *"
            task: harmful.fine
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    assert cli(tmp_path, "trigger", "deadly").returncode == 0
    wait_until(
        lambda: [r for r in results_of(tmp_path, "deadly") if r["result"] == "error"],
        20,
        "the deadly run recorded as an error",
    )
    (dead,) = results_of(tmp_path, "deadly")
    assert error in str(dead["error"])
    count = len(results_of(tmp_path, "alive"))
    wait_until(lambda: len(results_of(tmp_path, "alive")) >= count + 2, 20, "firing goes on")
    assert runner.proc.poll() is None
    assert runner.term() == 0
    pids = {r["output"] for r in results_of(tmp_path, "alive") if r["result"] == "success"}
    assert str(runner.proc.pid) not in pids  # the task did not run in the scheduler


# -- 2. a wall-clock jump ---------------------------------------------------------------


def jump(h: Harness, to: str) -> None:
    """Set the wall clock without monotonic progress and tell the loop, as the service does
    when it sees wall and monotonic time disagree."""
    assert h.loop is not None
    before_wall, before_mono = h.clock.now(), h.clock.monotonic()
    h.clock.current = T(to)
    drift = (h.clock.now() - before_wall).total_seconds() - (h.clock.monotonic() - before_mono)
    h.loop.clock_jumped(drift)


def test_after_a_backward_jump_intervals_fire_on_elapsed_time_and_cron_never_reruns(
    tmp_path: Path,
) -> None:
    every = ScheduleDefinition(name="every", schedule=IntervalSchedule("1m"), command=("true",))
    h = Harness(tmp_path, [every, cron("minutely", "* * * * *")])

    async def go() -> None:
        h.start()  # 08:59:00: the interval is anchored here
        await h.at("2026-06-01T09:00:00Z")
        jump(h, "2026-06-01T08:00:00Z")  # an hour back, right after the 09:00 runs
        for minute in ("01", "02", "03"):
            await h.at(f"2026-06-01T08:{minute}:00Z")  # a minute of elapsed time each
        await h.at("2026-06-01T09:01:00Z")

    run(go)
    every = [c[1].strftime("%H:%M") for c in h.executor.calls if c[0] == "every"]
    assert every[:4] == ["09:00", "08:01", "08:02", "08:03"]
    minutely = [c[1].strftime("%H:%M") for c in h.executor.calls if c[0] == "minutely"]
    assert minutely == ["09:00", "09:01"]  # nothing that already ran ran again


def test_after_a_forward_jump_an_interval_keeps_its_elapsed_time(tmp_path: Path) -> None:
    every = ScheduleDefinition(name="every", schedule=IntervalSchedule("10m"), command=("true",))
    h = Harness(tmp_path, [every], missed_threshold=60)

    async def go() -> None:
        h.start()  # 08:59:00
        jump(h, "2026-06-01T12:00:00Z")  # three hours forwards, no time elapsed
        await h.at("2026-06-01T12:09:00Z")  # 9 elapsed minutes: not due yet
        await h.at("2026-06-01T12:10:00Z")

    run(go)
    fired = [c[1].strftime("%H:%M") for c in h.executor.calls if c[0] == "every"]
    assert fired == ["12:10"]
    assert not [r for r in h.store.history("every", 100) if r.result == "missed"]


CLOCK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>

/* Adds the number of seconds written in $UNO_TEST_CLOCK_OFFSET_FILE to the wall clock
   (CLOCK_REALTIME only: monotonic time goes on undisturbed, as in a real clock step). */
static long offset(void) {
    const char *path = getenv("UNO_TEST_CLOCK_OFFSET_FILE");
    long value = 0;
    if (!path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (fscanf(f, "%ld", &value) != 1) value = 0;
    fclose(f);
    return value;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0 && tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    (void)tz;
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
"""


def build_clock_shim(workdir: Path) -> Path:
    compiler = next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if compiler is None:
        pytest.skip("no C compiler to build the clock shim")
    source, library = workdir / "clockshim.c", workdir / "clockshim.so"
    source.write_text(CLOCK_SHIM)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl"],
        check=True,
        capture_output=True,
    )
    return library


def test_a_real_runner_keeps_an_interval_firing_after_the_wall_clock_is_set_back(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    shim = build_clock_shim(tmp_path)
    offset = tmp_path / "offset"
    offset.write_text("0\n")
    write_config(
        tmp_path,
        """
        schedules:
          every:
            schedule: {every: 1s}
            command: "echo x >> starts.log"
            shell: true
        """,
    )
    env = {"LD_PRELOAD": str(shim), "UNO_TEST_CLOCK_OFFSET_FILE": str(offset)}
    runner = runners(env=env)
    runner.wait_log("ready")
    wait_until(lambda: len(starts(tmp_path)) >= 2, 20, "runs before the jump")
    offset.write_text("-3600\n")
    runner.wait_log("jumped backwards")
    count = len(starts(tmp_path))
    wait_until(lambda: len(starts(tmp_path)) >= count + 3, 15, "runs after the jump back")
    assert runner.term() == 0


# -- 3. giant values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "every", ["3000000d", "99999999999999999999d", "{seconds: 1e300}", "{days: 1.0e+300}", ".inf"]
)
def test_a_giant_interval_is_refused_in_one_line(tmp_path: Path, every: str) -> None:
    write_config(
        tmp_path,
        f"""
        schedules:
          huge:
            schedule: {{every: {every}}}
            command: "true"
        """,
    )
    done = cli(tmp_path, "validate")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "too long" in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_wall_time_outside_the_calendar_is_refused_in_one_line_each(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          last-minute-west:
            schedule: {at: "9999-12-31T23:59:00"}
            timezone: Etc/GMT+12
            command: "true"
          first-hour-east:
            schedule: {every: 1h}
            start_date: "0001-01-01T00:30:00"
            timezone: Etc/GMT-14
            command: "true"
        """,
    )
    for command in (("validate",), ("plan",), ("next-runs", "last-minute-west")):
        done = cli(tmp_path, *command)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr + done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2 and all("is outside the calendar" in line for line in lines), lines
        assert lines[0].startswith(str(tmp_path / "schedules.yaml") + ":4:")  # at the at:
        assert "start_date 0001-01-01T00:30:00 in Etc/GMT-14" in lines[1]


def test_the_largest_values_that_validate_also_run(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          check_interval: 36500d
          missed_threshold: 36500d
          default_concurrency: 99999999999999999999
          max_missed_schedules: 99999999999999999999
          output_tail: 99999999999999999999
        schedules:
          longest:
            schedule: {every: 36500d}
            command: "true"
            timeout: 36500d
          last-instant:
            schedule: {at: "9999-12-31T23:59:59Z"}
            command: "true"
          end-of-calendar:
            schedule: {every: 36500d}
            start_date: "9999-12-31T00:00:00Z"
            command: "true"
          backoff:
            schedule: {every: 36500d}
            command: "false"
            max_retries: 3
            retry_delay: 0.2s
            retry_backoff: 1.0e+300
        """,
    )
    assert cli(tmp_path, "validate").returncode == 0
    upcoming = cli(tmp_path, "next-runs", "end-of-calendar", "--count", "3")
    assert upcoming.returncode == 0 and upcoming.stdout.split() == ["9999-12-31T00:00:00Z"]
    runner = runners()
    runner.wait_log("ready")
    assert cli(tmp_path, "trigger", "backoff").returncode == 0
    assert cli(tmp_path, "trigger", "longest").returncode == 0
    runner.wait_log("attempt 3 of 4 in 3.1536e+09s")  # capped at 100 years, no overflow
    wait_until(
        lambda: [r for r in results_of(tmp_path, "longest") if r["result"] == "success"],
        20,
        "the longest interval's run",
    )
    assert runner.proc.poll() is None
    assert runner.term() == 0


def test_a_reload_with_a_giant_value_is_rejected_and_the_last_good_config_runs_on(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    good = """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo x >> starts.log"
            shell: true
        """
    write_config(tmp_path, good)
    runner = runners()
    runner.wait_log("ready")
    huge = "          huge:\n            schedule: {every: 3000000d}\n            command: 'true'\n"
    write_config(tmp_path, good.rstrip(" ") + huge)
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reload rejected")
    assert "too long" in runner.text()
    count = len(starts(tmp_path))
    wait_until(lambda: len(starts(tmp_path)) >= count + 2, 20, "runs after the rejected reload")
    assert runner.proc.poll() is None
    assert runner.term() == 0
    assert "Traceback" not in runner.text()


# -- 4. SIGTERM -----------------------------------------------------------------------------


def test_after_sigterm_no_queued_run_starts_and_every_started_run_finishes(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          default_concurrency: 1
          shutdown_grace: 20
        schedules:
          slow:
            schedule: "* * * * * *"
            command: "echo $UNO_RUN_ID >> starts.log; sleep 1.5; echo $UNO_RUN_ID >> ends.log"
            shell: true
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(
        lambda: (
            len(starts(tmp_path)) >= 1 and [r for r in runs(tmp_path) if r["result"] == "queued"]
        ),
        20,
        "a run started and another queued behind it",
    )
    assert runner.term() == 0
    log = runner.text()
    after_stop = log[log.index("stopping: no new runs will start") :]
    assert "starting run" not in after_stop
    ends = (tmp_path / "ends.log").read_text().split()
    assert sorted(starts(tmp_path)) == sorted(ends)  # every started run ran to its end
    results = Counter(r["result"] for r in runs(tmp_path))
    assert results["running"] == 0, results
    assert results["success"] == len(ends)


# -- 5. sub-second intervals and backlogs -------------------------------------------------


@pytest.mark.parametrize("every", ["0.000001s", "500ms", "{milliseconds: 999}", "0.5"])
def test_an_interval_below_one_second_is_refused(tmp_path: Path, every: str) -> None:
    write_config(
        tmp_path,
        f"""
        schedules:
          flood:
            schedule: {{every: {every}}}
            command: "true"
        """,
    )
    done = cli(tmp_path, "validate")
    assert done.returncode != 0
    assert "too short: at least 1s" in done.stderr and len(done.stderr.splitlines()) == 1
    with pytest.raises(ValueError, match="at least 1s"):
        IntervalSchedule("500ms")  # the library refuses it in the same place


def test_a_schedule_never_queues_more_than_one_waiting_run_and_a_change_drops_it(
    tmp_path: Path,
) -> None:
    every = ScheduleDefinition(name="every", schedule=IntervalSchedule("1m"), command=("true",))
    h = Harness(tmp_path, [every], default_concurrency=1)
    h.executor.hold["every"] = asyncio.Event()

    async def go() -> None:
        h.start()  # 08:59:00
        assert h.loop is not None
        for minute in range(5):  # 09:00 runs (held); the rest find it busy
            h.clock.set(T(f"2026-06-01T09:0{minute}:00Z"))
            h.loop.tick(h.clock.now())
            for _ in range(5):
                await asyncio.sleep(0)
        queued = [r for r in h.store.history("every", 100) if r.result == "queued"]
        assert len(queued) == 1
        h.definitions["every"] = ScheduleDefinition(
            name="every", schedule=IntervalSchedule("2m"), command=("true",)
        )
        h.executor.hold["every"].set()
        for _ in range(10):
            await asyncio.sleep(0)
        await h.loop.wait_idle()

    run(go)
    results = Counter(r.result for r in h.store.history("every", 100))
    assert results == {"success": 1, "skipped": 4}, results
    assert len(h.executor.calls) == 1  # the queued 09:01 run never started
    errors = {r.error for r in h.store.history("every", 100) if r.result == "skipped"}
    assert errors == {
        "the previous run was still waiting in its queue",
        "the schedule was changed before the run started",
    }


# -- 6. daemons that leave the job's process group ---------------------------------------


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


@pytest.mark.parametrize("end", ["timeout", "stop"])
def test_a_daemon_that_escaped_the_jobs_group_goes_at_timeout_and_at_stop(
    tmp_path: Path, runners: Callable[..., Runner], end: str
) -> None:
    timeout = "timeout: 3s" if end == "timeout" else ""
    write_config(
        tmp_path,
        f"""
        scheduler:
          kill_grace: 0.5
          shutdown_grace: 1
        schedules:
          escape:
            schedule: {{every: 1h}}
            {timeout}
            command: "setsid sleep 300 & echo $! > daemon.pid; sleep 60"
            shell: true
        """,
    )
    _escaped_daemon_goes(tmp_path, runners(), end)


# -- 7. an async task that blocks -----------------------------------------------------------

BLOCKING_TASKS = """
import time


async def block():
    time.sleep(15)
    return "woke"
"""


def test_a_blocking_async_task_neither_stalls_firing_nor_escapes_its_timeout(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_tasks(tmp_path, "blocking", BLOCKING_TASKS)
    write_config(
        tmp_path,
        """
        scheduler:
          kill_grace: 0.5
        schedules:
          blocker:
            schedule: {every: 1h}
            task: blocking.block
            timeout: 2s
          tick:
            schedule: "* * * * * *"
            command: "echo x >> starts.log"
            shell: true
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: starts(tmp_path), 20, "a first tick")
    assert cli(tmp_path, "trigger", "blocker").returncode == 0
    runner.wait_log("blocker: starting run")
    began = time.monotonic()
    count = len(starts(tmp_path))
    wait_until(lambda: len(starts(tmp_path)) >= count + 3, 8, "ticks while the task blocks")
    wait_until(
        lambda: [r for r in results_of(tmp_path, "blocker") if r["result"] != "running"],
        10,
        "the blocker's run to end",
    )
    (blocked,) = results_of(tmp_path, "blocker")
    assert blocked["result"] == "timeout", blocked
    assert time.monotonic() - began < 10  # the timeout held, not the 15 s sleep
    runner.wait_log("blocks its event loop")
    assert runner.term() == 0


# -- 8. the state file deleted under a runner ----------------------------------------------


def test_a_runner_whose_state_file_is_deleted_stops_with_a_clear_error(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo x >> starts.log"
            shell: true
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: starts(tmp_path), 20, "a first run")
    (tmp_path / "state.db").unlink()
    deleted = time.monotonic()
    assert runner.proc.wait(10) != 0
    assert time.monotonic() - deleted < 5
    assert "state file" in runner.text() and "deleted" in runner.text()
    assert not (tmp_path / "state.db").exists()


def test_a_standby_does_not_create_a_state_where_its_leader_had_one(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The state deleted under a leader with a standby: the leader stops, and the standby
    that takes its lock refuses to start over on a new, empty state."""
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo x >> starts.log"
            shell: true
        """,
    )
    leader = runners()
    leader.wait_log("ready")
    standby = runners()
    standby.wait_log("standby")
    wait_until(lambda: starts(tmp_path), 20, "a first run")
    (tmp_path / "state.db").unlink()
    assert leader.proc.wait(10) != 0
    assert standby.proc.wait(10) != 0
    assert "state file" in standby.text() and "its leader had one" in standby.text()
    assert not (tmp_path / "state.db").exists()


def test_the_cli_does_not_create_a_new_state_while_a_runner_holds_the_old_ones_lock(
    tmp_path: Path,
) -> None:
    from unoschedule.lock import LeaderLock

    write_config(
        tmp_path,
        """
        schedules:
          job:
            schedule: {every: 1h}
            command: "true"
        """,
    )
    with LeaderLock.for_state(tmp_path / "state.db"):  # a live runner, as far as anyone sees
        done = cli(tmp_path, "trigger", "job")
    assert done.returncode != 0
    assert "lock" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "state.db").exists()


# -- 9. symbolic links as the state path -------------------------------------------------


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_broken_symlink_as_the_state_is_one_line_not_a_recursion(
    tmp_path: Path, kind: str
) -> None:
    write_config(tmp_path, "schedules:\n  job:\n    schedule: {every: 1h}\n    command: 'true'\n")
    if kind == "dangling":
        (tmp_path / "state.db").symlink_to(tmp_path / "missing" / "real.db")
    else:
        (tmp_path / "other.db").symlink_to(tmp_path / "state.db")
        (tmp_path / "state.db").symlink_to(tmp_path / "other.db")
    for command in (["trigger", "job"], ["run"]):
        done = cli(tmp_path, *command)
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "symbolic link" in lines[0], done.stderr
        assert "Recursion" not in done.stderr
    assert not (tmp_path / "missing").exists()


def test_a_symlink_to_the_live_state_does_not_make_a_second_leader(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo x >> starts.log"
            shell: true
        """,
    )
    leader = runners("leader")
    leader.wait_log("ready")
    (tmp_path / "alias.db").symlink_to(tmp_path / "state.db")
    argv = [
        a if a != str(tmp_path / "state.db") else str(tmp_path / "alias.db")
        for a in uno_cli(tmp_path)
    ]
    log = open(tmp_path / "second.log", "w")  # noqa: SIM115 - closed below
    second = subprocess.Popen(
        [*argv, "run"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until(lambda: "standby" in (tmp_path / "second.log").read_text(), 20, "a standby")
        time.sleep(1.5)  # a chance to misbehave; correctness does not depend on it
        assert leader.proc.poll() is None
        assert "ready" not in (tmp_path / "second.log").read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
        log.close()
    assert leader.term() == 0


LIBRARY_START = """
import asyncio
import sys

from unoschedule import Scheduler


async def main() -> None:
    scheduler = Scheduler.for_state(sys.argv[1])
    await scheduler.start()
    print("leading" if scheduler.leading else "standby", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    print("leading" if scheduler.leading else "standby", flush=True)
    await scheduler.shutdown()


asyncio.run(main())
"""


def test_a_library_start_through_a_symlink_stands_by_behind_a_live_runner(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "true"
        """,
    )
    leader = runners("leader")
    leader.wait_log("ready")
    (tmp_path / "alias.db").symlink_to(tmp_path / "state.db")
    (tmp_path / "library.py").write_text(LIBRARY_START)
    errors_path = tmp_path / "library.err"
    errors = open(errors_path, "w")  # noqa: SIM115 - closed below
    library = subprocess.Popen(
        [sys.executable, str(tmp_path / "library.py"), str(tmp_path / "alias.db")],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        start_new_session=True,
    )
    try:
        assert library.stdout is not None and library.stdin is not None
        assert library.stdout.readline().strip() == "standby", errors_path.read_text()
        library.stdin.close()  # the library checks once more, then shuts down
        assert library.stdout.read().strip() == "standby"
        assert library.wait(30) == 0, errors_path.read_text()
    finally:
        errors.close()
        if library.poll() is None:
            library.kill()
            library.wait(10)
    assert leader.proc.poll() is None, leader.text()
    assert "lost the leader lease" not in leader.text()
    assert leader.term() == 0


# -- 10. a damaged write-ahead log after a crash -------------------------------------------


def test_a_damaged_wal_after_a_crash_is_refused_and_left_untouched(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "true"
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: len(results_of(tmp_path, "tick")) >= 4, 20, "a few runs")
    runner.kill()
    wal = tmp_path / "state.db-wal"
    assert wal.exists() and wal.stat().st_size > 4096
    with open(wal, "r+b") as fh:  # overwrite bytes of the first frame's page
        fh.seek(32 + 24 + 200)
        fh.write(b"\xde\xad\xbe\xef" * 16)
    files = ("state.db", "state.db-wal")
    before = {name: (tmp_path / name).read_bytes() for name in files}
    for command in (["list"], ["history", "tick"], ["run"]):
        done = cli(tmp_path, *command)
        assert done.returncode != 0, (command, done.stdout)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "damaged" in lines[0], done.stderr
    assert {name: (tmp_path / name).read_bytes() for name in files} == before


def test_a_clean_crash_leaves_a_wal_that_opens_with_every_run(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "true"
        """,
    )
    runner = runners()
    runner.wait_log("ready")
    wait_until(lambda: len(results_of(tmp_path, "tick")) >= 3, 20, "a few runs")
    runner.kill()
    recorded = len(results_of(tmp_path, "tick"))
    done = cli(tmp_path, "history", "tick", "--json")
    assert done.returncode == 0, done.stderr
    assert len(results_of(tmp_path, "tick")) >= recorded


# -- 11. disk full --------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (root only: mount needs it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_on_a_full_disk_a_finished_run_is_recorded_and_the_runner_stops_in_one_line(
    tmp_path: Path, small_disk: Path
) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "echo go >> starts.log; sleep 2; echo done >> ends.log"
            shell: true
        """,
    )
    state = small_disk / "state.db"
    argv = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    log_path = tmp_path / "runner.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*argv, "--state", str(state), "run"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        try:
            wait_until(lambda: "ready" in log_path.read_text(), 20, "ready")
            wait_until(lambda: (tmp_path / "starts.log").exists(), 20, "a started run")
            fill(small_disk)  # while it runs: its end is the first thing to record
            assert proc.wait(30) != 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert "never retrieved" not in text and "Traceback" not in text, text
    (small_disk / "filler").unlink()
    rows = subprocess.run(
        [*argv, "--state", str(state), "history", "tick", "--json", "--limit", "1000"],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    records = json.loads(rows.stdout)
    assert records and not [r for r in records if r["result"] == "running"], records
    assert [r for r in records if r["result"] == "success"]


# -- 12. URLs as the state ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "rediss://user:s3cret@cache.example:6380/0",
        "redis+sentinel://:s3cret@sentinel.example/mymaster",
        "REDIS://:s3cret@localhost/0",
        "Unix://:s3cret@/run/redis.sock",
        "postgres://admin:s3cret@db.example/uno",
        "foo://x:s3cret@y",
    ],
)
def test_a_url_as_the_state_is_never_a_path_and_never_echoes_its_password(
    tmp_path: Path, url: str
) -> None:
    write_config(tmp_path, "schedules:\n  job:\n    schedule: {every: 1h}\n    command: 'true'\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    base = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    for command in (["trigger", "job"], ["run"], ["history", "job"]):
        done = subprocess.run(
            [*base, "--state", url, *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, (command, done.stdout)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "s3cret" not in done.stderr + done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder, no file


def test_a_url_in_the_file_is_never_a_path_either(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          storage: "REDISS://u:s3cret@h/0"
        schedules:
          job:
            schedule: {every: 1h}
            command: "true"
        """,
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml"), "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "s3cret" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- 13. hostile command-line values ------------------------------------------------------

ONE_JOB = "schedules:\n  job:\n    schedule: {every: 1h}\n    command: 'true'\n"
EVENT_JOB = ONE_JOB + "  listener:\n    schedule: {event: big}\n    command: 'true'\n"


def assert_one_line_error(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode not in (0, None), done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "Error:" not in lines[0].split(":")[0]


@pytest.mark.parametrize(
    "value",
    ["x=&a [*a]", "x=" + "[" * 990 + "]" * 990, "x=" + "{a: " * 300 + "1" + "}" * 300],
    ids=["recursive", "990-deep-list", "300-deep-mapping"],
)
def test_a_hostile_kwarg_is_one_line(tmp_path: Path, value: str) -> None:
    write_config(tmp_path, ONE_JOB)
    assert_one_line_error(cli(tmp_path, "trigger", "job", "--kwarg", value))


def test_a_deep_event_payload_is_one_line(tmp_path: Path) -> None:
    write_config(tmp_path, EVENT_JOB)
    deep = '{"a":' * 6000 + "1" + "}" * 6000
    assert_one_line_error(cli(tmp_path, "event", "big", "--data", deep))
    (tmp_path / "deep.json").write_text(deep)
    assert_one_line_error(cli(tmp_path, "event", "big", "--data", "@deep.json"))
    assert_one_line_error(cli(tmp_path, "event", "big", "--data", "-", input=deep))


def test_a_large_event_payload_comes_from_a_file_or_stdin(tmp_path: Path) -> None:
    write_config(tmp_path, EVENT_JOB)
    payload = {"rows": ["x" * 100] * 20_000}  # about 2 MB: far beyond one argv string
    text = json.dumps(payload)
    (tmp_path / "payload.json").write_text(text)
    from_file = cli(tmp_path, "event", "big", "--data", "@payload.json", "--json")
    assert from_file.returncode == 0, from_file.stderr
    from_stdin = cli(tmp_path, "event", "big", "--data", "-", "--json", input=text)
    assert from_stdin.returncode == 0, from_stdin.stderr
    stored = [r for r in runs(tmp_path) if r["schedule"] == "listener"]
    assert len(stored) == 2 and all(json.loads(r["event"]) == payload for r in stored)
    missing = cli(tmp_path, "event", "big", "--data", "@nowhere.json")
    assert_one_line_error(missing)


@pytest.mark.parametrize("command", [["--help"], ["trigger", "--help"], ["list"]])
def test_output_into_a_closed_pipe_is_not_a_broken_pipe_error(
    tmp_path: Path, command: list[str]
) -> None:
    write_config(tmp_path, ONE_JOB * 1)
    # A reader that has closed its end before anything is written: every write is EPIPE.
    shell = " ".join([*(f"'{a}'" for a in uno_cli(tmp_path)), *command])
    shell += " | (exec 0<&-; sleep 2)"
    done = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, timeout=60)
    err = done.stderr.decode("utf-8", "replace")
    assert "Broken pipe" not in err and "BrokenPipeError" not in err, err


# -- 14. a large reload does not stop firing ------------------------------------------------


def big_config(count: int, version: int) -> str:
    """``many_hourly`` with a ``tick`` every second first."""
    tick = [
        "schedules:",
        "  tick:",
        '    schedule: "* * * * * *"',
        '    command: "echo $UNO_SCHEDULED_TIME >> starts.log"',
        "    shell: true",
    ]
    return "\n".join(tick) + "\n" + many_hourly(count, version).removeprefix("schedules:\n")


def test_firing_goes_on_while_a_large_reload_is_prepared(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    (tmp_path / "schedules.yaml").write_text(big_config(20_000, 1))
    runner = runners()
    runner.wait_log("ready", timeout=120)
    wait_until(lambda: len(starts(tmp_path)) >= 2, 20, "ticks")
    (tmp_path / "schedules.yaml").write_text(big_config(20_000, 2))  # every one changed
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reloaded", timeout=120)
    assert runner.term() == 0

    def when(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    # The reload as the runner logged it: from reading the file to loading the new state.
    logged = [line.split(" ", 3) for line in runner.text().splitlines()]
    began = next(when(at) for at, _, what, *_ in logged if what == "reloading")
    ended = next(when(at) for at, _, what, *_ in logged if what == "reloaded" and when(at) > began)
    # Ticks that fell due while the reload was read, compared and written, and started
    # before it was loaded: firing went on meanwhile (reading, comparing and writing
    # 20,000 changed schedules takes seconds, so ticks fall due in it).
    during = [
        r
        for r in runs(tmp_path)
        if r["schedule"] == "tick"
        and r["started_at"]
        and began < when(r["scheduled_time"])
        and when(r["started_at"]) < ended
    ]
    assert during, f"no tick started while the reload was prepared ({ended - began:.1f}s)"


# -- 15. schedule names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ['""', '"   "', '"\\t"', '"line\\nbreak"', '"esc\\x1b[31m"', '"evil\\u202egnp.exe"',
     '"zero\\u200bwidth"', '" padded"', '"nul\\x00"'],
    ids=["empty", "blank", "tab", "newline", "escape", "bidi-override", "zero-width", "padded",
         "nul"],
)  # fmt: skip
def test_a_name_that_is_blank_or_holds_control_or_bidi_characters_is_refused(
    tmp_path: Path, name: str
) -> None:
    write_config(
        tmp_path, f"schedules:\n  {name}:\n    schedule: {{every: 1h}}\n    command: 'true'\n"
    )
    done = cli(tmp_path, "validate")
    assert done.returncode != 0, done.stdout
    assert "schedule name" in done.stderr and len(done.stderr.strip().splitlines()) == 1, (
        done.stderr
    )


def test_the_library_refuses_the_same_names(tmp_path: Path) -> None:
    from unoschedule import Scheduler
    from unoschedule.errors import UnoScheduleError

    async def go() -> None:
        scheduler = Scheduler(storage=str(tmp_path / "state.db"))
        for name in ("  ", "a\nb", "evil\u202egnp", "x\x1b[2J"):  # "" means: derive one
            # the library checks a name by the file's rules, with the same message
            with pytest.raises(UnoScheduleError, match="schedule name"):
                await scheduler.schedule(command="true", schedule=IntervalSchedule("1h"), name=name)
        assert await scheduler.schedule(
            command="true", schedule=IntervalSchedule("1h"), name="Nightly report (v2) – é"
        )
        scheduler.close()

    asyncio.run(go())


# -- 16. private files under any umask ----------------------------------------------------


def test_every_folder_and_file_created_is_private_even_under_umask_000(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        schedules:
          tick:
            schedule: "* * * * * *"
            command: "true"
        """,
    )
    state = tmp_path / "var" / "lib" / "uno" / "state.db"
    base = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    base += ["--state", str(state)]

    def open_umask() -> None:
        os.umask(0)

    log = open(tmp_path / "runner.log", "w")  # noqa: SIM115 - closed below
    runner = subprocess.Popen(
        [*base, "run"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=open_umask, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: "ready" in (tmp_path / "runner.log").read_text(), 30, "ready")
        wait_until(lambda: (tmp_path / "var").exists() and runs_in(state), 20, "a run")
        done = subprocess.run(
            [*base, "trigger", "tick"], cwd=tmp_path, capture_output=True, preexec_fn=open_umask
        )
        assert done.returncode == 0, done.stderr
        created = [p for p in (tmp_path / "var").rglob("*")] + [tmp_path / "var"]
        loose = {
            str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
            for p in created
            if p.exists() and p.stat().st_mode & 0o077
        }
        assert not loose, loose
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(30)
        log.close()


def runs_in(state: Path) -> bool:
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
        try:
            return bool(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return False


# -- 17. two states on one file ----------------------------------------------------------------


def test_a_second_runner_with_another_state_on_the_same_file_is_warned(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    write_config(tmp_path, "schedules:\n  job:\n    schedule: {every: 1h}\n    command: 'true'\n")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    first = runners("first", env)
    first.wait_log("ready")
    other = tmp_path / "other.db"
    argv = [a if a != str(tmp_path / "state.db") else str(other) for a in uno_cli(tmp_path)]
    log = open(tmp_path / "second.log", "w")  # noqa: SIM115 - closed below
    second = subprocess.Popen(
        [*argv, "run"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **env}, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: "ready" in (tmp_path / "second.log").read_text(), 30, "second ready")
        text = (tmp_path / "second.log").read_text()
        assert "also served by another runner" in text and str(first.proc.pid) in text, text
        assert "WARNING" in text
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        log.close()
    assert first.term() == 0
    # the first runner had nothing to be warned about (a metrics port taken by another
    # process on the machine is a warning of its own, not this one)
    assert "also served by another runner" not in first.text()


ESCAPING_TASKS = """
import subprocess
import time


def escape():
    daemon = subprocess.Popen(["sleep", "300"], start_new_session=True)  # its own session
    with open("daemon.pid", "w") as fh:
        fh.write(str(daemon.pid))
    time.sleep(60)
"""


@pytest.mark.parametrize("end", ["timeout", "stop"])
def test_a_daemon_a_python_task_started_goes_at_timeout_and_at_stop(
    tmp_path: Path, runners: Callable[..., Runner], end: str
) -> None:
    write_tasks(tmp_path, "escaping", ESCAPING_TASKS)
    timeout = "timeout: 3s" if end == "timeout" else ""
    write_config(
        tmp_path,
        f"""
        scheduler:
          kill_grace: 0.5
          shutdown_grace: 1
        schedules:
          escape:
            schedule: {{every: 1h}}
            {timeout}
            task: escaping.escape
        """,
    )
    _escaped_daemon_goes(tmp_path, runners(), end)


def _escaped_daemon_goes(tmp_path: Path, runner: Runner, end: str) -> None:
    """Trigger ``escape`` (its job leaves a daemon that called ``setsid``, pid in
    ``daemon.pid``) and check the daemon goes at the run's timeout or the runner's stop."""
    runner.wait_log("ready")
    assert cli(tmp_path, "trigger", "escape").returncode == 0
    pid_file = tmp_path / "daemon.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 20, "the daemon")
    daemon = int(pid_file.read_text())
    try:
        assert alive(daemon)
        if end == "timeout":
            wait_until(
                lambda: [r for r in results_of(tmp_path, "escape") if r["result"] == "timeout"],
                20,
                "the timeout",
            )
        else:
            assert runner.term() == 0
        wait_until(lambda: not alive(daemon), 10, "the escaped daemon to be gone")
    finally:
        if alive(daemon):
            os.kill(daemon, signal.SIGKILL)


@pytest.mark.slow
def test_the_redis_password_is_in_no_command_line_and_no_jobs_environment(
    tmp_path: Path,
) -> None:
    from redis_server import RedisServer, unique_prefix

    server = RedisServer(tmp_path / "redis", password="pw-s3cret-7")
    server.start()
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
        schedules:
          envdump:
            schedule: {every: 1s}
            shell: true
            command: env > env.txt; cat /proc/$PPID/cmdline > parent.txt 2>/dev/null; true
          pytask:
            schedule: {every: 1s}
            task: os:getenv
            args: [UNO_SCHEDULE_REDIS_PASSWORD]
            timeout: 10s
        """,
    )
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix(),
        "UNO_SCHEDULE_DEBUG": "",
    }
    env.pop("UNO_SCHEDULE_REDIS_PASSWORD", None)
    argv = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.Popen(
            [*argv, "--state", server.url, "run"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        wait_until(lambda: (tmp_path / "env.txt").exists(), 30, "a run of envdump")
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"pw-s3cret-7" not in cmdline, cmdline
        assert b"--state" in cmdline  # the same process, its URL without the password
        wait_until(lambda: "pytask: run" in (tmp_path / "run.log").read_text(), 30, "pytask")
    finally:
        proc.kill()
        proc.wait(10)
        server.stop()
    job_env = (tmp_path / "env.txt").read_text()
    assert "pw-s3cret-7" not in job_env
    assert not [line for line in job_env.splitlines() if line.startswith("UNO_SCHEDULE_REDIS")]
    assert "UNO_SCHEDULE_NAME=envdump" in job_env and "UNO_SCHEDULE_DEBUG" not in job_env
    text = (tmp_path / "run.log").read_text()
    assert "pw-s3cret-7" not in text
    assert "pytask: run" in text and "failed" not in text


def test_the_redis_password_can_come_from_a_file(tmp_path: Path) -> None:
    from redis_server import RedisServer, unique_prefix

    server = RedisServer(tmp_path / "redis", password="pw-from-file")
    server.start()
    secret = tmp_path / "redis.password"
    secret.write_text("pw-from-file\n")
    secret.chmod(0o600)
    write_config(tmp_path, "schedules:\n  job:\n    schedule: {every: 1h}\n    command: 'true'\n")
    env = {**os.environ, "UNO_SCHEDULE_REDIS_PREFIX": unique_prefix()}
    env.pop("UNO_SCHEDULE_REDIS_PASSWORD", None)
    argv = [sys.executable, "-m", "unoschedule", "-c", str(tmp_path / "schedules.yaml")]
    bare = f"redis://127.0.0.1:{server.port}/0"
    try:
        without = subprocess.run(
            [*argv, "--state", bare, "history", "job"], capture_output=True, text=True,
            env=env, timeout=60,
        )  # fmt: skip
        assert without.returncode != 0 and "needs a password" in without.stderr
        env["UNO_SCHEDULE_REDIS_PASSWORD_FILE"] = str(secret)
        done = subprocess.run(
            [*argv, "--state", bare, "history", "job"], capture_output=True, text=True,
            env=env, timeout=60,
        )  # fmt: skip
        assert "password" not in done.stderr, done.stderr
        del env["UNO_SCHEDULE_REDIS_PASSWORD_FILE"]
        flag = subprocess.run(
            [*argv, "--redis-password-file", str(secret), "--state", bare, "history", "job"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert "password" not in flag.stderr, flag.stderr
        env["UNO_SCHEDULE_REDIS_PASSWORD_FILE"] = str(tmp_path / "missing")
        missing = subprocess.run(
            [*argv, "--state", bare, "history", "job"], capture_output=True, text=True,
            env=env, timeout=60,
        )  # fmt: skip
        assert missing.returncode != 0
        assert missing.stderr.strip().splitlines() == [
            f"error: cannot read the Redis password from {tmp_path / 'missing'}: "
            "No such file or directory"
        ]
    finally:
        server.stop()


# -- a foreground run whose process was killed -------------------------------------------


def test_a_foreground_run_killed_with_minus_9_is_recovered_by_the_leader(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """``trigger --wait`` with no scheduler running, then a scheduler started, then the
    foreground process killed with -9: the leader sees its process dead (pid and start
    time), stops the job it left, records the run interrupted and runs the retry."""
    write_config(
        tmp_path,
        """
        schedules:
          job:
            schedule: {every: 1h}
            max_retries: 1
            retry_delay: 0s
            shell: true
            command: >-
              if [ "$UNO_ATTEMPT" = 1 ]; then echo $$ >> fg.log; exec sleep 60; fi;
              echo done $UNO_ATTEMPT >> fg.log
        """,
    )
    foreground = subprocess.Popen(
        [*uno_cli(tmp_path), "trigger", "job", "--wait"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log = tmp_path / "fg.log"
    try:
        wait_until(lambda: log.exists() and log.read_text().strip(), 30, "attempt 1")
        job = int(log.read_text().split()[0])
        runner = runners()
        runner.wait_log("ready")
        time.sleep(1)
        assert results_of(tmp_path, "job")[0]["result"] == "running"  # alive: not taken
        foreground.kill()
        foreground.wait(10)
        wait_until(lambda: "done 2" in log.read_text(), 30, "the retry by the leader")
        first = next(r for r in results_of(tmp_path, "job") if r["attempt"] == 1)
        assert first["result"] == "interrupted"
        wait_until(
            lambda: (
                not os.path.exists(f"/proc/{job}")
                or b") Z" in Path(f"/proc/{job}/stat").read_bytes()
            ),
            10,
            "its job stopped",
        )
    finally:
        foreground.kill()
        with contextlib.suppress(ProcessLookupError, ValueError, NameError):
            os.kill(job, signal.SIGKILL)

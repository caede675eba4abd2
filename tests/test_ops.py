"""Operating a runner: metrics, health, retention, pauses with a reason, explain,
backfill, logs, dead-man alarms.

Live-runner tests use real ``uno-schedule run`` processes (helpers from test_service)
and wait on observable conditions with deadlines; the decisions themselves are tested
under an injected clock (the ``Harness`` of test_loop).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_service import Runner, runs, uno_cli, wait_until, write_config

from unoschedule.model import RunRecord
from unoschedule.store.sqlite import SQLiteStorage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*uno_cli(workdir), *args], capture_output=True, text=True, timeout=60, cwd=workdir
    )


def T(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- metrics ------------------------------------------------------------------------------


@pytest.mark.slow
def test_metrics_of_a_live_leader_and_its_standby(tmp_path: Path) -> None:
    leader_port, standby_port = free_port(), free_port()
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_address: 127.0.0.1:{leader_port}
        schedules:
          tick:
            schedule: {{every: 1s}}
            command: "true"
          broken:
            schedule: {{every: 1s}}
            command: ["sh", "-c", "exit 3"]
        """,
    )
    leader = Runner(tmp_path, "leader")
    standby = None
    try:
        leader.wait_log("ready:")

        def counted() -> dict[str, float] | None:
            values = samples(scrape(leader_port))
            ok = 'uno_schedule_runs_total{result="success",schedule="tick",trigger="schedule"}'
            bad = 'uno_schedule_runs_total{result="error",schedule="broken",trigger="schedule"}'
            return values if values.get(ok, 0) >= 2 and values.get(bad, 0) >= 2 else None

        values = wait_until(counted, what="two runs of each schedule in /metrics")
        assert values["uno_schedule_leader"] == 1
        assert values["uno_schedule_fire_lag_seconds_count"] >= 4
        assert values['uno_schedule_run_duration_seconds_count{queue="scheduled"}'] >= 4
        assert values['uno_schedule_schedules{status="active"}'] == 2
        assert 'uno_schedule_last_success_timestamp_seconds{schedule="tick"}' in values
        assert 'uno_schedule_last_success_timestamp_seconds{schedule="broken"}' not in values
        assert values['uno_schedule_next_run_timestamp_seconds{schedule="tick"}'] > 0
        assert 'uno_schedule_running_jobs{queue="scheduled"}' in values

        # A standby on the same state (its own copy of the file, on its own port) serves
        # too, and says that it does not lead.
        other = tmp_path / "standby"
        other.mkdir()
        text = (tmp_path / "schedules.yaml").read_text()
        (other / "schedules.yaml").write_text(text.replace(str(leader_port), str(standby_port)))
        standby = _runner_on(other, tmp_path / "state.db")
        wait_until(lambda: "uno_schedule_leader 0.0" in scrape(standby_port), what="standby")
    finally:
        leader.close()
        if standby is not None:
            standby.close()


def _runner_on(workdir: Path, state: Path) -> Runner:
    runner = Runner.__new__(Runner)
    runner.log_path = workdir / "run.log"
    runner.log = open(runner.log_path, "w")  # noqa: SIM115 - closed by close()
    runner.proc = subprocess.Popen(
        [*uno_cli(workdir)[:-1], str(state), "run"],
        cwd=workdir,
        stdout=runner.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return runner


@pytest.mark.slow
def test_metrics_can_be_turned_off_and_a_taken_address_is_only_a_warning(
    tmp_path: Path,
) -> None:
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen()
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_address: 127.0.0.1:{port}
        schedules:
          tick: {{schedule: {{every: 1s}}, command: "true"}}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        assert f"metrics: cannot listen on 127.0.0.1:{port}" in runner.text()
        wait_until(lambda: cli(tmp_path, "history", "tick", "--json").stdout.count("success"))
    finally:
        runner.close()
        blocker.close()
    other = tmp_path / "off"
    other.mkdir()
    write_config(
        other,
        f"""
        scheduler:
          metrics_enabled: false
          metrics_address: 127.0.0.1:{port}
        schedules:
          tick: {{schedule: {{every: 1s}}, command: "true"}}
        """,
    )
    runner = Runner(other, "b")
    try:
        runner.wait_log("ready:")
        assert scrape(port) == ""
        assert "/metrics" not in runner.text()
    finally:
        runner.close()


# -- retention ----------------------------------------------------------------------------


# Pruning, its totals and the runs it must leave alone are store behaviour: they are
# tested on SQLite and on Redis alike in tests/store_contract.py.


@pytest.mark.slow
def test_keep_runs_holds_history_of_a_live_every_second_schedule(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
          keep_runs: 5
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        seen = []

        def enough() -> bool:
            status = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)
            history = json.loads(cli(tmp_path, "history", "tick", "--json").stdout)
            seen.append(len(history))
            return bool(status["run_count"] >= 10)

        wait_until(enough, timeout=40, what="ten runs")
        assert max(seen) <= 6, seen
    finally:
        runner.close()
    status = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)
    assert status["success_count"] == status["run_count"] >= 10  # totals kept
    assert len(json.loads(cli(tmp_path, "history", "tick", "--json").stdout)) <= 6


# -- pauses, explain, backfill under an injected clock --------------------------------------


def _ops_harness(tmp_path: Path, *definitions: Any) -> tuple[Any, Any, Any]:
    from test_loop import Harness

    from unoschedule.runner.log import Logger
    from unoschedule.runner.ops import Operations
    from unoschedule.scheduler import Scheduler

    h = Harness(tmp_path, list(definitions))
    scheduler = Scheduler(storage=h.store, clock=h.clock, metrics_enabled=False)
    scheduler.definitions = h.definitions
    ops = Operations(scheduler, Logger(verbose=False))
    return h, scheduler, ops


def test_a_pause_with_until_resumes_at_its_end_and_explain_shows_it(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    h, scheduler, ops = _ops_harness(tmp_path, cron("m", "* * * * *"))

    async def go() -> None:
        loop = h.start()
        ops.attach(loop)
        await h.at("2026-06-01T09:00:00Z")
        h.clock.set(T("2026-06-01T09:00:30Z"))
        await scheduler.pause_schedule(
            "m", reason="disk swap", until=T("2026-06-01T09:03:30Z"), by="ops@host"
        )
        loop.refresh(h.clock.now())
        status = await scheduler.get_schedule_status("m")
        assert status["status"] == "paused"
        assert status["paused_reason"] == "disk swap"
        assert status["paused_until"] == "2026-06-01T09:03:30Z"
        assert status["paused_at"] == "2026-06-01T09:00:30Z"
        assert status["paused_by"] == "ops@host"
        for minute in (1, 2, 3):
            h.clock.set(T(f"2026-06-01T09:0{minute}:00Z"))
            assert ops.expire_pauses(h.clock.now()) == []
            await h.at(f"2026-06-01T09:0{minute}:00Z")
        h.clock.set(T("2026-06-01T09:03:30Z"))
        assert ops.expire_pauses(h.clock.now()) == ["m"]  # at its end, by itself
        for minute in (4, 5):
            await h.at(f"2026-06-01T09:0{minute}:00Z")
        status = await scheduler.get_schedule_status("m")
        assert status["status"] == "active" and status["paused_reason"] is None
        rows = await scheduler.explain(
            "m", since=T("2026-06-01T09:00:00Z"), until=T("2026-06-01T09:06:00Z")
        )
        assert [(r["scheduled_time"][11:16], r["outcome"]) for r in rows] == [
            ("09:00", "success"),
            ("09:01", "paused"),
            ("09:02", "paused"),
            ("09:03", "paused"),
            ("09:04", "success"),
            ("09:05", "success"),
            ("09:06", "not_due"),
        ]
        assert "disk swap" in rows[1]["detail"] and rows[0]["run_id"]

    asyncio.run(go())
    assert h.history("m") == [
        ("09:00", "schedule", 1, "success"),
        ("09:04", "schedule", 1, "success"),
        ("09:05", "schedule", 1, "success"),
    ]


def test_a_timed_pause_ends_alone_and_never_switches_on_what_stays_paused_or_disabled(
    tmp_path: Path,
) -> None:
    import asyncio

    from test_loop import cron

    held = cron("held", "* * * * *", paused=True)  # the file's ``paused: true``
    off = cron("off", "* * * * *", enabled=False)
    h, scheduler, ops = _ops_harness(tmp_path, held, off, cron("m", "* * * * *"))

    async def go() -> None:
        loop = h.start()
        ops.attach(loop)
        h.clock.set(T("2026-06-01T09:00:30Z"))
        await scheduler.pause_schedule("m", reason="until the fix", by="ops@host")
        end = T("2026-06-01T09:02:00Z")
        for name in ("held", "off", "m"):
            await scheduler.pause_schedule(name, reason="window", until=end, by="ops@host")
        loop.refresh(h.clock.now())
        status = await scheduler.get_schedule_status("m")
        assert (status["paused_reason"], status["paused_until"]) == (
            "window",
            "2026-06-01T09:02:00Z",
        )
        h.clock.set(end)
        assert ops.expire_pauses(h.clock.now()) == []  # each stays as it was for its reason
        loop.refresh(h.clock.now())
        statuses = {r["name"]: r["status"] for r in await scheduler.list_schedules()}
        assert statuses == {"held": "paused", "off": "disabled", "m": "paused"}
        status = await scheduler.get_schedule_status("m")
        assert (status["paused_reason"], status["paused_until"]) == ("until the fix", None)
        for minute in (3, 4):
            await h.at(f"2026-06-01T09:0{minute}:00Z")

    asyncio.run(go())
    assert h.history("held") == h.history("off") == h.history("m") == []


def test_resume_all_after_an_expired_timed_pause_leaves_the_files_pause(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    held = cron("held", "* * * * *", paused=True)
    off = cron("off", "* * * * *", enabled=False)
    h, scheduler, ops = _ops_harness(tmp_path, held, off, cron("m", "* * * * *"))

    async def go() -> None:
        loop = h.start()
        ops.attach(loop)
        h.clock.set(T("2026-06-01T09:00:30Z"))
        for name in ("held", "off", "m"):
            await scheduler.pause_schedule(name, until=T("2026-06-01T09:01:30Z"))
        loop.refresh(h.clock.now())  # as the leader does on the wake-up of a pause
        h.clock.set(T("2026-06-01T09:01:30Z"))
        assert ops.expire_pauses(h.clock.now()) == ["m"]
        await scheduler.pause_schedule("m")
        assert await scheduler.resume_paused() == ["m"]
        statuses = {r["name"]: r["status"] for r in await scheduler.list_schedules()}
        assert statuses == {"held": "paused", "off": "disabled", "m": "active"}
        loop.refresh(h.clock.now())
        await h.at("2026-06-01T09:02:00Z")

    asyncio.run(go())
    assert h.history("held") == h.history("off") == []
    assert h.history("m") == [("09:02", "schedule", 1, "success")]


@pytest.mark.slow
def test_a_leaders_expiry_of_timed_pauses_runs_nothing_that_must_stay_off(
    tmp_path: Path,
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
          held: {schedule: {every: 1s}, command: "true", paused: true}
          off: {schedule: {every: 1s}, command: "true", enabled: false}
          fixing: {schedule: {every: 1s}, command: "true"}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        held = cli(tmp_path, "pause", "fixing", "--reason", "until the fix")
        assert held.returncode == 0, held.stderr

        def history(name: str) -> list[dict[str, object]]:
            return list(json.loads(cli(tmp_path, "history", name, "--json").stdout))

        before = len(history("fixing"))  # it may fire before the pause lands
        for name in ("held", "off", "fixing"):
            done = cli(tmp_path, "pause", name, "--reason", "window", "--until", "2s")
            assert done.returncode == 0, done.stderr

        def ended() -> bool:
            rows = json.loads(cli(tmp_path, "list", "--json").stdout)
            return all(r["paused_until"] is None for r in rows)

        wait_until(ended, what="the timed pauses to end")
        runs = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)["run_count"]
        wait_until(
            lambda: (
                json.loads(cli(tmp_path, "status", "tick", "--json").stdout)["run_count"]
                >= runs + 3
            ),
            what="three more ticks after the expiry",
        )
        rows = {r["name"]: r for r in json.loads(cli(tmp_path, "list", "--json").stdout)}
        assert [rows[n]["status"] for n in ("held", "off", "fixing")] == [
            "paused", "disabled", "paused",
        ]  # fmt: skip
        assert rows["fixing"]["paused_reason"] == "until the fix"
        assert history("held") == history("off") == []
        assert len(history("fixing")) == before
        again = cli(tmp_path, "resume", "--all")
        assert again.returncode == 0, again.stderr
        rows = {r["name"]: r for r in json.loads(cli(tmp_path, "list", "--json").stdout)}
        assert [rows[n]["status"] for n in ("held", "off", "fixing")] == [
            "paused", "disabled", "active",
        ]  # fmt: skip
    finally:
        runner.close()


def test_explain_names_every_outcome_it_can_tell(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    definition = cron("m", "* * * * *", start_date=T("2026-06-01T09:00:00Z"))
    h, scheduler, _ = _ops_harness(tmp_path, definition)
    h.executor.script["m"] = ["success", "error", "timeout"]

    async def go() -> None:
        h.start()
        for minute in (0, 1, 2):
            await h.at(f"2026-06-01T09:0{minute}:00Z")
        await h.at("2026-06-01T09:15:00Z")  # 09:03-09:14 late: the missed policy decides
        rows = await scheduler.explain(
            "m", since=T("2026-06-01T08:58:00Z"), until=T("2026-06-01T09:16:00Z")
        )
        outcome = {r["scheduled_time"][11:16]: r["outcome"] for r in rows}
        assert outcome["08:58"] == outcome["08:59"] == "outside_window"
        assert (outcome["09:00"], outcome["09:01"], outcome["09:02"]) == (
            "success", "error", "timeout",
        )  # fmt: skip
        assert outcome["09:15"] == "success" and outcome["09:16"] == "not_due"
        assert set(rows[i]["outcome"] for i in range(5, 17)) <= {"missed", "success"}

    asyncio.run(go())


def test_backfill_runs_each_occurrence_once_with_its_own_instant(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    from unoschedule.errors import UnoScheduleError

    h, scheduler, _ = _ops_harness(tmp_path, cron("m", "* * * * *"))

    async def go() -> None:
        h.start()
        h.clock.set(T("2026-06-01T09:00:30Z"))
        window = (T("2026-06-01T08:55:00Z"), T("2026-06-01T08:59:59Z"))
        dry = await scheduler.backfill("m", *window, dry_run=True)
        assert dry["occurrences"] == [f"2026-06-01T08:5{m}:00Z" for m in range(5, 10)]
        assert dry["queued"] == []
        with pytest.raises(UnoScheduleError, match="more than 3 occurrences"):
            await scheduler.backfill("m", *window, limit=3)
        with pytest.raises(UnoScheduleError, match="in the future"):
            await scheduler.backfill("m", T("2026-06-01T10:00:00Z"), T("2026-06-01T11:00:00Z"))
        ahead = await scheduler.backfill("m", window[0], T("2026-06-01T10:00:00Z"), dry_run=True)
        assert ahead["occurrences"][-1] == "2026-06-01T09:00:00Z"  # not past now (09:00:30)
        done = await scheduler.backfill("m", *window)
        assert len(done["queued"]) == 5
        again = await scheduler.backfill("m", *window)
        assert again["queued"] == [] and len(again["already_queued"]) == 5
        await h.at("2026-06-01T09:00:31Z")

    asyncio.run(go())
    calls = sorted((c[1].strftime("%H:%M"), c[3]) for c in h.executor.calls)
    assert calls == [*((f"08:5{m}", "backfill") for m in range(5, 10)), ("09:00", "schedule")]


def test_health_says_until_when_the_lease_holds_in_whole_seconds(tmp_path: Path) -> None:
    from unoschedule.health import check

    now = T("2026-06-01T09:00:00.123456Z")
    store = SQLiteStorage(tmp_path / "state.db")
    store.acquire_lease("a", 300, now)
    record = check(store, {}, now, None)
    assert record["reason"] == "ok: leader a (epoch 1), lease until 2026-06-01T09:05:00Z"
    store.close()


def test_health_wants_a_live_lease_and_nothing_overdue(tmp_path: Path) -> None:
    from unoschedule.health import check
    from unoschedule.model import ScheduleDefinition, ScheduleState
    from unoschedule.schedules import IntervalSchedule

    now = T("2026-06-01T09:00:00Z")
    store = SQLiteStorage(tmp_path / "state.db")
    definition = ScheduleDefinition(
        name="nightly",
        schedule=IntervalSchedule("1h"),
        command=("true",),
        expect_success_within=3600.0,
    )
    definitions = {"nightly": definition}
    assert not check(store, definitions, now, None)["healthy"]
    assert "no leader" in check(store, definitions, now, None)["reason"]
    store.acquire_lease("a", 300, now)
    store.save_schedule(
        ScheduleState("nightly", definition.to_config(), created_at=now - timedelta(minutes=30))
    )
    record = check(store, definitions, now, None)
    assert record["healthy"] and record["leader"] == "a"
    later = now + timedelta(minutes=40)
    store.renew_lease("a", 1, 300, later)
    record = check(store, definitions, later, None)
    assert not record["healthy"] and record["overdue"] == {"nightly": "2026-06-01T09:30:00Z"}
    assert "1 overdue schedule: nightly" in record["reason"]
    store.close()


# -- the live runner, as an operator drives it ---------------------------------------------


@pytest.mark.slow
def test_an_operator_session_against_a_live_runner(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
          shutdown_grace: 5
        schedules:
          tick: {schedule: {every: 1s}, command: "true"}
          minutely:
            schedule: "* * * * *"
            command: "echo $UNO_SCHEDULED_TIME $UNO_TRIGGER >> minutes.log"
            shell: true
        """,
    )
    assert cli(tmp_path, "health").returncode == 1
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        healthy = cli(tmp_path, "health")
        assert healthy.returncode == 0 and healthy.stdout.startswith("ok: leader")

        paused = cli(tmp_path, "pause", "tick", "--reason", "maintenance", "--until", "3s")
        assert paused.returncode == 0, paused.stderr
        status = json.loads(cli(tmp_path, "status", "tick", "--json").stdout)
        assert status["status"] == "paused" and status["paused_reason"] == "maintenance"
        assert status["paused_until"] and status["paused_at"] and status["paused_by"]
        wait_until(
            lambda: (
                json.loads(cli(tmp_path, "status", "tick", "--json").stdout)["status"] == "active"
            ),
            what="the pause to end by itself",
        )
        wait_until(
            lambda: "success" in cli(tmp_path, "explain", "tick", "--since", "2s").stdout,
            what="a run after the resume",
        )
        rows = json.loads(cli(tmp_path, "explain", "tick", "--since", "30s", "--json").stdout)
        assert {"scheduled_time", "outcome", "run_id", "detail"} <= set(rows[0])
        assert 2 <= sum(r["outcome"] == "paused" for r in rows) <= 4

        done = cli(tmp_path, "backfill", "minutely", "--from", "3m", "--to", "now", "--json")
        assert done.returncode == 0, done.stderr
        queued = json.loads(done.stdout)["queued"]
        assert len(queued) == 3

        def backfilled() -> list[dict[str, Any]]:
            history = json.loads(cli(tmp_path, "history", "minutely", "--json").stdout)
            runs = [r for r in history if r["trigger"] == "backfill"]
            return runs if all(r["result"] == "success" for r in runs) else []

        runs = wait_until(backfilled, what="the backfill runs")
        assert sorted(r["scheduled_time"] for r in runs) == sorted(
            q["scheduled_time"] for q in queued
        )
        lines = (tmp_path / "minutes.log").read_text().split("\n")
        for q in queued:
            assert lines.count(f"{q['scheduled_time']} backfill") == 1
        assert runner.term() == 0
    finally:
        runner.close()
    stopped = cli(tmp_path, "health")
    assert stopped.returncode == 1 and "no leader" in stopped.stderr


# -- configuration ----------------------------------------------------------------------


def test_the_operations_keys_are_read_and_checked() -> None:
    import textwrap

    from unoschedule.config import parse_config
    from unoschedule.errors import ConfigErrors

    def parse(text: str) -> Any:
        return parse_config(textwrap.dedent(text), "schedules.yaml")

    config = parse("""
        scheduler: {keep_runs: 5, keep_for: 7d, metrics_address: ":9700"}
        schedules:
          job:
            schedule: {every: 1m}
            command: "true"
            expect_success_within: 2h
            pause_after_failures: 3
    """)
    assert (config.options.keep_runs, config.options.keep_for) == (5, 7 * 86400.0)
    assert config.options.metrics_address == ":9700"
    job = config.schedules["job"]
    assert (job.expect_success_within, job.pause_after_failures) == (7200.0, 3)
    defaults = parse("schedules: {}").options
    assert (defaults.keep_runs, defaults.keep_for) == (1000, 90 * 86400.0)
    assert (defaults.metrics_enabled, defaults.metrics_address) == (None, "127.0.0.1:9650")
    with pytest.raises(ConfigErrors) as caught:
        parse("""
            scheduler: {keep_runs: 0, keep_for: forever, metrics_address: "localhost"}
            schedules:
              job: {schedule: {every: 1m}, command: "true", pause_after_failures: 0}
        """)
    messages = "\n".join(str(e) for e in caught.value.errors)
    assert "keep_runs must be a whole number >= 1" in messages
    assert "keep_for" in messages and "metrics_address must be HOST:PORT" in messages
    assert "pause_after_failures must be a whole number >= 1" in messages


# -- the full output of runs ----------------------------------------------------------------


def test_the_output_sink_writes_each_runs_chunks_to_its_file(tmp_path: Path) -> None:
    from unoschedule.runlogs import OutputSink, path_of, remove

    forwarded: list[str] = []
    sink = OutputSink(tmp_path / "logs", forwarded.append, echo=True)
    sink.write("backup", "1a", b"first\nsec")
    sink.write("nightly report", "2b", b"other\n")
    sink.write("backup", "1a", b"ond\n")
    sink.finished("backup", "1a", "ignored: the pipe wrote the file", False)
    sink.finished("task", "3c", "Traceback (most recent call last): ...", False)  # a task
    sink.finished("task", "4d", "'its return value'", True)  # in the state; no file
    sink.close()
    assert not path_of(tmp_path / "logs", "task", "4d").exists()
    assert path_of(tmp_path / "logs", "backup", "1a").read_text() == "first\nsecond\n"
    assert path_of(tmp_path / "logs", "nightly report", "2b").read_text() == "other\n"
    assert path_of(tmp_path / "logs", "task", "3c").read_text().startswith("Traceback")
    assert forwarded[:2] == ["[backup 1a] first", "[backup 1a] sec"]  # echo: for the log
    remove(tmp_path / "logs", [("backup", "1a"), ("backup", "gone")])
    assert not path_of(tmp_path / "logs", "backup", "1a").exists()
    capped = OutputSink(tmp_path / "capped", forwarded.append, max_bytes=10)
    capped.write("big", "5e", b"0123456")
    capped.write("big", "5e", b"789abcdef\n")
    capped.write("big", "5e", b"more\n")
    capped.close()
    text = path_of(tmp_path / "capped", "big", "5e").read_text()
    assert text.startswith("0123456789\n[uno-schedule: output cut at 10 bytes")
    assert "more" not in text


@pytest.mark.slow
def test_logs_prints_the_whole_output_and_files_go_with_their_runs(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
          output_tail: 64
          keep_runs: 2
        schedules:
          chatty:
            schedule: {every: 1s}
            command: ["sh", "-c", "seq 1 200; echo the-cause >&2; exit 4"]
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        wait_until(lambda: runner.text().count("chatty: run") >= 4, what="four runs")
        assert runner.term() == 0  # a kill between a prune and its files' removal orphans one
    finally:
        runner.close()
    shown = cli(tmp_path, "logs", "chatty")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split("\n")[:3] == ["1", "2", "3"]  # the whole output, not the tail
    assert shown.stdout.endswith("200\nthe-cause\n")
    record = json.loads(cli(tmp_path, "logs", "chatty", "--json").stdout)
    assert record["complete"] and record["result"] == "error"
    history = json.loads(cli(tmp_path, "history", "chatty", "--json").stdout)
    assert len(history[-1]["output"]) <= 64  # the state keeps the tail only
    files = sorted((tmp_path / "state.db.logs" / "chatty").iterdir())
    assert {f.stem for f in files} <= {r["run_id"] for r in history}  # pruned together
    assert "exit status 4 (" in runner.text() and "output: 199 | 200 | the-cause" in runner.text()
    missing = cli(tmp_path, "logs", "chatty", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: chatty has no run 'nope'"


def test_a_foreground_run_keeps_its_whole_output_where_a_leader_keeps_it(tmp_path: Path) -> None:
    """``run_and_wait`` with no leader runs the job here: its output goes to the same file
    a leader's run would get (``<state>.logs/NAME/RUN_ID.log``, cut at
    ``log_max_bytes``), so that ``get_run_output`` has all of it, not the state's tail."""
    import asyncio

    from unoschedule import Scheduler
    from unoschedule.runlogs import path_of

    state = tmp_path / "state.db"

    async def go() -> list[tuple[str, dict[str, Any]]]:
        scheduler = Scheduler(storage=state, output_tail=64, log_max_bytes=300)
        try:
            await scheduler.schedule(
                command=["sh", "-c", "seq 1 200"], schedule="0 0 * * *", name="chatty"
            )
            ran = []
            for call in (scheduler.run_and_wait, scheduler.run_in_foreground):
                record = await call("chatty")
                ran.append((record["run_id"], await scheduler.get_run_output("chatty")))
            return ran
        finally:
            scheduler.close()

    for run_id, shown in asyncio.run(go()):
        assert shown["run_id"] == run_id and shown["complete"]
        assert shown["path"] == str(path_of(Path(f"{state}.logs"), "chatty", run_id))
        assert shown["output"].startswith("1\n2\n3\n")
        assert "output cut at 300 bytes (scheduler.log_max_bytes)" in shown["output"]


# -- dead-man alarms and failure policies ---------------------------------------------------


def test_overdue_alarms_once_per_spell_and_failures_pause_the_schedule(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    late = cron("late", "* * * * *", expect_success_within=150.0)
    flaky = cron("flaky", "* * * * *", pause_after_failures=2)
    h, scheduler, ops = _ops_harness(tmp_path, late, flaky)
    h.executor.script = {"late": ["error", "error", "error", "error", "success"]}
    h.executor.script["flaky"] = ["error"] * 10
    alarms: list[tuple[str, str, str]] = []

    @scheduler.on_schedule_error
    def record(name: str, exc: BaseException) -> None:
        alarms.append((name, getattr(exc, "result", ""), str(exc)))

    async def go() -> None:
        loop = h.start()
        loop.on_failure = scheduler.notify_failure
        ops.attach(loop)
        ops.load_successes({}, h.clock.now())  # the clocks start at creation: 08:59
        for when in ("09:00:00", "09:01:00", "09:01:29"):
            await h.at(f"2026-06-01T{when}Z")
            await ops.wait_background()  # flaky's failures counted (in a thread)
            assert ops.check_overdue(h.clock.now()) == []
        alarms.clear()  # the plain failures of late so far
        h.clock.set(T("2026-06-01T09:01:30Z"))
        assert ops.check_overdue(h.clock.now()) == ["late"]
        await asyncio.sleep(0)
        assert alarms == [("late", "overdue", alarms[0][2])]
        assert alarms[0][2].startswith("no successful run for 2m30s (since ")  # str(): the message
        assert ops.overdue_view() == {"late": True}
        for when in ("09:02:00", "09:03:00"):
            await h.at(f"2026-06-01T{when}Z")
            assert ops.check_overdue(h.clock.now()) == []  # the same spell: no new alarm
        assert [a[1] for a in alarms].count("overdue") == 1
        await h.at("2026-06-01T09:04:00Z")  # late succeeds: the spell ends
        assert ops.check_overdue(h.clock.now()) == []
        assert ops.overdue_view() == {"late": False}
        status = await scheduler.get_schedule_status("flaky")
        assert status["status"] == "paused" and status["paused_by"] == "uno-schedule"
        assert status["paused_reason"].startswith("2 consecutive failures")

    asyncio.run(go())
    assert h.history("flaky") == [
        ("09:00", "schedule", 1, "error"),
        ("09:01", "schedule", 1, "error"),
    ]


def test_failures_in_a_row_are_counted_from_the_state_across_a_restart_and_afresh_after_a_resume(
    tmp_path: Path,
) -> None:
    import asyncio

    from test_loop import cron

    from unoschedule.runner.log import Logger
    from unoschedule.runner.ops import Operations

    h, scheduler, ops = _ops_harness(tmp_path, cron("flaky", "* * * * *", pause_after_failures=2))
    h.executor.script = {"flaky": ["error"] * 10}

    async def status() -> str:
        return str((await scheduler.get_schedule_status("flaky"))["status"])

    async def go() -> None:
        loop = h.start()
        ops.attach(loop)
        await h.at("2026-06-01T09:00:00Z")
        await ops.wait_background()
        assert await status() == "active"
        again = Operations(scheduler, Logger(verbose=False))  # what a restart starts with
        again.attach(loop)
        await h.at("2026-06-01T09:01:00Z")
        await again.wait_background()
        assert await status() == "paused"  # the failure before the restart counts
        h.clock.set(T("2026-06-01T09:01:30Z"))
        await scheduler.resume_schedule("flaky")
        loop.refresh(h.clock.now())
        await h.at("2026-06-01T09:02:00Z")
        await again.wait_background()
        assert await status() == "active"  # counted afresh from the resume
        await h.at("2026-06-01T09:03:00Z")
        await again.wait_background()
        assert await status() == "paused"

    asyncio.run(go())


def test_a_failure_streak_counts_final_failures_in_a_row_and_passes_over_the_rest() -> None:
    from test_loop import cron

    from unoschedule.model import RunRecord
    from unoschedule.runs import failure_streak

    flaky = cron("flaky", "* * * * *", pause_after_failures=3, max_retries=1)

    def ended(minute: int, result: str, attempt: int = 1) -> RunRecord:
        at = T(f"2026-06-01T09:{minute:02d}:00Z")
        return RunRecord("r", "flaky", at, attempt=attempt, result=result, finished_at=at)  # type: ignore[arg-type]

    newest_first = [
        RunRecord("q", "flaky", T("2026-06-01T09:09:00Z")),  # queued: not ended
        ended(8, "timeout", attempt=2),
        ended(8, "error"),  # retried: not a final failure
        ended(7, "skipped"),
        ended(6, "error", attempt=2),
        ended(5, "interrupted", attempt=2),
        ended(4, "success"),
        ended(3, "error", attempt=2),
    ]
    assert [r.scheduled_time.minute for r in failure_streak(newest_first, flaky, None)] == [8, 6]
    since = T("2026-06-01T09:07:00Z")  # resumed then
    assert [r.scheduled_time.minute for r in failure_streak(newest_first, flaky, since)] == [8]


# -- top ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_top_shows_the_live_state_and_ends_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import signal
    import time

    write_config(
        tmp_path,
        """
        scheduler: {metrics_enabled: false}
        schedules:
          slow: {schedule: {every: 1s}, command: "sleep 5", unique: true}
        """,
    )
    runner = Runner(tmp_path, "a")
    try:

        def top() -> dict[str, Any]:
            done = cli(tmp_path, "top", "--json")
            assert done.returncode == 0 and done.stdout, done.stderr  # say why, if it fails
            return dict(json.loads(done.stdout))

        snapshot = wait_until(
            lambda: (s := top())["running"] and s, what="a running job in top --json"
        )
        assert snapshot["leader"] and snapshot["running"][0]["schedule"] == "slow"
        assert snapshot["counts"] == {"active": 1}
        once = cli(tmp_path, "top", "--once")
        assert "running and queued (1)" in once.stdout and "next due" in once.stdout
        live = subprocess.Popen(
            [*uno_cli(tmp_path), "top"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(2.5)  # two refreshes; only bounds how long the view runs
        live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=20)
        assert live.returncode == 0, err
        assert "Traceback" not in err and "latest results" in out
    finally:
        runner.close()


def test_backfill_runs_of_a_unique_schedule_never_overlap(tmp_path: Path) -> None:
    import asyncio

    from test_loop import cron

    h, scheduler, _ = _ops_harness(tmp_path, cron("m", "* * * * *", overlap="skip"))
    release = asyncio.Event  # the queue's concurrency (4) has room for all three

    async def go() -> None:
        h.executor.hold["m"] = release()
        loop = h.start()
        h.clock.set(T("2026-06-01T08:59:30Z"))
        done = await scheduler.backfill("m", T("2026-06-01T08:56:00Z"), T("2026-06-01T08:58:00Z"))
        assert len(done["queued"]) == 3
        loop.tick(h.clock.now())
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(h.executor.calls) == 1  # one at a time, although the queue has room
        h.executor.hold["m"].set()
        while len(h.executor.calls) < 3 or loop.busy:
            await asyncio.sleep(0)

    asyncio.run(go())
    assert [c[1].strftime("%H:%M") for c in h.executor.calls] == ["08:56", "08:57", "08:58"]


def test_the_metrics_exposition_counts_what_the_loop_reported() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from unoschedule.metrics import Metrics

    m = Metrics()
    at = T("2026-06-01T09:00:02Z")
    due = RunRecord(run_id="1", schedule="a", scheduled_time=T("2026-06-01T09:00:00Z"))
    manual = RunRecord(
        run_id="2", schedule='a "b"', scheduled_time=at, trigger="manual", queue="reports"
    )
    m.started([due, manual], at)  # lag counts scheduled runs only: 2 s
    m.finished(due, "success", 0.2, at)
    m.finished(manual, "error", 7.0, at)
    missed = RunRecord(run_id="3", schedule="b", scheduled_time=at, result="missed")
    m.recorded(missed)
    m.view.leader = lambda: True
    m.view.statuses = lambda: {"active": 2}
    text = m.text()
    kinds = {f.name: f.type for f in text_string_to_metric_families(text)}  # it parses
    assert kinds["uno_schedule_runs"] == "counter"
    assert kinds["uno_schedule_run_duration_seconds"] == "histogram"
    values = samples(text)
    assert values['uno_schedule_runs_total{result="success",schedule="a",trigger="schedule"}'] == 1
    assert (
        values['uno_schedule_runs_total{result="error",schedule="a \\"b\\"",trigger="manual"}'] == 1
    )
    assert values['uno_schedule_runs_total{result="missed",schedule="b",trigger="schedule"}'] == 1
    assert values["uno_schedule_fire_lag_seconds_count"] == 1
    assert values['uno_schedule_fire_lag_seconds_bucket{le="1.0"}'] == 0
    assert values['uno_schedule_fire_lag_seconds_bucket{le="2.5"}'] == 1
    # durations per queue, never per schedule (a run with no queue counts under "")
    bucket = 'uno_schedule_run_duration_seconds_bucket{{le="{1}",queue="{0}"}}'
    assert [values[bucket.format("", le)] for le in ("0.05", "0.25", "+Inf")] == [0, 1, 1]
    assert [values[bucket.format("reports", le)] for le in ("5.0", "15.0", "+Inf")] == [0, 1, 1]
    assert values['uno_schedule_run_duration_seconds_sum{queue="reports"}'] == 7.0
    assert not any("schedule=" in key for key in values if "duration" in key)
    assert values['uno_schedule_last_success_timestamp_seconds{schedule="a"}'] == at.timestamp()
    assert values["uno_schedule_leader"] == 1
    assert values['uno_schedule_schedules{status="active"}'] == 2


def test_a_version_1_state_file_is_migrated_with_its_runs(tmp_path: Path) -> None:
    import sqlite3

    import sqlite_utils

    from unoschedule.store import sqlite as sqlite_mod

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    sqlite_mod._migrate_v1(sqlite_utils.Database(conn))
    conn.execute(f"PRAGMA application_id = {sqlite_mod.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (run_id, occurrence_key, schedule, scheduled_time, trigger, attempt, "
        "result) VALUES ('r1', 'a@x#1', 'a', '2026-01-01T00:00:00.000000Z', 'schedule', 1, "
        "'success')"
    )
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    assert [r.run_id for r in store.history("a")] == ["r1"]
    assert store.run_counts()["a"]["success_count"] == 1
    assert store.open_pauses() == []
    assert Path(f"{path}.v1.bak").exists()
    store.close()


def _runner_with_open_files(workdir: Path, limit: int) -> Runner:
    """A ``uno-schedule run`` whose process may hold at most ``limit`` descriptors."""
    return _runner_after(workdir, f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))")


def _runner_after(workdir: Path, setup: str) -> Runner:
    """A ``uno-schedule run`` started after the Python statement ``setup`` ran in its
    process (``os`` and ``resource`` imported)."""
    runner = Runner.__new__(Runner)
    runner.log_path = workdir / "run.log"
    runner.log = open(runner.log_path, "w")  # noqa: SIM115 - closed by close()
    argv = [*uno_cli(workdir), "run"]
    boot = f"import os, resource, sys; {setup}; os.execv(sys.argv[1], sys.argv[1:])"
    runner.proc = subprocess.Popen(
        [argv[0], "-c", boot, *argv],
        cwd=workdir,
        stdout=runner.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return runner


@pytest.mark.slow
def test_idle_metrics_connections_never_take_the_descriptors_jobs_need(tmp_path: Path) -> None:
    port = free_port()
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_address: 127.0.0.1:{port}
        schedules:
          tick:
            schedule: {{every: 1s}}
            command: "true"
        """,
    )
    runner = _runner_with_open_files(tmp_path, 96)
    idle: list[socket.socket] = []
    try:
        runner.wait_log("ready:")
        for _ in range(150):  # more than the runner may have files: each says nothing
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:  # the listen queue is full: the runner has stopped accepting
                break
        time.sleep(0.5)  # the server accepts them in its own time
        since = len(runs(tmp_path))

        def ran_on() -> list[dict[str, Any]] | None:
            found = runs(tmp_path)[since:]
            done = [r for r in found if r["result"] not in ("queued", "running")]
            return found if len(done) >= 3 else None

        later = wait_until(ran_on, timeout=20, what="three more runs while connections idle")
        assert {r["result"] for r in later if r["result"] != "running"} == {"success"}
        assert "Too many open files" not in runner.text()
        assert "uno_schedule_leader 1.0" in scrape(port)  # and it is still served
    finally:
        for conn in idle:
            conn.close()
        runner.close()


@pytest.mark.slow
def test_run_logs_stay_private_and_inside_log_dir_whatever_the_names_and_links(
    tmp_path: Path,
) -> None:
    # Under umask 000, as a careless service manager may leave it; "..", "a/b" and
    # ".hidden" are valid schedule names; "victim"'s folder is swapped for a link to a
    # folder elsewhere (a local user could, when the folders were 0777).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    logs = tmp_path / "var" / "logs"
    write_config(
        tmp_path,
        f"""
        scheduler:
          metrics_enabled: false
          log_dir: {logs}
          log_max_bytes: 2000
        schedules:
          "..":
            schedule: {{every: 1s}}
            command: ["echo", "dots"]
          "a/b":
            schedule: {{every: 1s}}
            command: ["echo", "slash"]
          victim:
            schedule: {{every: 1s}}
            command: ["echo", "secret"]
          chatty:
            schedule: {{every: 1s}}
            command: ["sh", "-c", "yes 0123456789012345678901234567890123456789 | head -n 1000"]
        """,
    )
    from unoschedule.runlogs import file_name

    victim = logs / file_name("victim")
    runner = _runner_after(tmp_path, "os.umask(0)")
    try:
        runner.wait_log("ready:")
        wait_until(lambda: victim.is_dir() and any(victim.iterdir()), what="victim's log")
        shutil.rmtree(victim)  # the swap: victim's folder becomes a link
        victim.symlink_to(elsewhere)
        since = len(runs(tmp_path))

        def written() -> bool:
            later = runs(tmp_path)[since:]
            names = {r["schedule"] for r in later if r["result"] != "running"}
            return {"..", "a/b", "victim", "chatty"} <= names

        wait_until(written, what="a finished run of each schedule after the swap")
        time.sleep(0.5)  # the files of the last runs are closed
    finally:
        runner.close()
    assert list(elsewhere.iterdir()) == []  # nothing through the link
    assert not list(tmp_path.glob("var/*.log")) and not list(tmp_path.glob("var/**/a/*"))
    for folder in [logs.parent, logs, *(p for p in logs.iterdir() if not p.is_symlink())]:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    dots = list((logs / file_name("..")).iterdir())
    assert dots and dots[0].read_text() == "dots\n"
    assert (dots[0].stat().st_mode & 0o777) == 0o600
    assert next(iter((logs / file_name("a/b")).iterdir())).read_text() == "slash\n"
    chatty = next(iter((logs / file_name("chatty")).iterdir())).read_text()
    assert len(chatty) < 2200 and "output cut at 2000 bytes" in chatty


def test_schedule_names_map_to_distinct_plain_file_names() -> None:
    from unoschedule.runlogs import file_name

    names = ["..", ".", "a/b", "a%2Fb", ".hidden", "x" * 200, "x" * 199 + "y", "é", ""]
    mapped = [file_name(n) for n in names]
    assert len(set(mapped)) == len(names)
    for m in mapped:
        assert "/" not in m and m not in (".", "..") and not m.startswith(".")
        assert 0 < len(m.encode()) <= 120
    assert file_name("nightly-backup_2.sh") == "nightly-backup_2.sh"


# -- bounded work ----------------------------------------------------------------------------


@pytest.mark.slow
def test_an_event_payload_too_big_for_a_variable_reaches_a_command_in_a_file(
    tmp_path: Path,
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
        schedules:
          listener:
            schedule: {event: big}
            shell: true
            command: >-
              if [ -n "$UNO_EVENT_FILE" ]; then cat "$UNO_EVENT_FILE" > "got-$UNO_RUN_ID";
              echo "$UNO_EVENT_FILE" > "path-$UNO_RUN_ID";
              else printf %s "$UNO_EVENT" > "got-$UNO_RUN_ID"; fi
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("ready:")
        payloads = [{"blob": "x" * (130 * 1024)}, {"blob": "y" * (60 * 1024)}]
        for i, payload in enumerate(payloads):
            (tmp_path / f"p{i}.json").write_text(json.dumps(payload))
            done = cli(tmp_path, "event", "big", "--data", f"@p{i}.json")
            assert done.returncode == 0, done.stderr

        def ended() -> list[dict[str, Any]] | None:
            found = runs(tmp_path)
            return found if len(found) == 2 and all(r["finished_at"] for r in found) else None

        finished = wait_until(ended, what="both listener runs")
    finally:
        runner.close()
    assert [r["result"] for r in finished] == ["success", "success"], finished
    got = {json.loads(p.read_text())["blob"][0] for p in tmp_path.glob("got-*")}
    assert got == {"x", "y"}  # each whole, the big one from its file
    (path,) = [Path(p.read_text().strip()) for p in tmp_path.glob("path-*")]
    assert not path.exists()  # removed once its run ended


def test_backfill_and_explain_say_when_a_window_holds_too_many_occurrences(
    tmp_path: Path,
) -> None:
    write_config(
        tmp_path,
        """
        scheduler:
          metrics_enabled: false
        schedules:
          tick:
            schedule: {every: 1s}
            command: "true"
        """,
    )
    huge = cli(tmp_path, "backfill", "tick", "--from", "61d", "--to", "now", "--dry-run", "--yes")
    assert huge.returncode == 1 and huge.stdout == ""
    (line,) = huge.stderr.strip().splitlines()
    assert "more than 100,000 occurrences of tick" in line and "in parts" in line
    above = cli(tmp_path, "backfill", "tick", "--from", "1d", "--to", "now", "--max", "200000")
    assert above.returncode == 2 and "100000" in above.stderr
    asked = cli(tmp_path, "explain", "tick", "--since", "3h", "--json")
    assert asked.returncode == 1 and asked.stdout == ""
    (line,) = asked.stderr.strip().splitlines()
    assert "more than 10,000 occurrences of tick" in line and "narrow the window" in line
    default = cli(tmp_path, "explain", "tick", "--json")  # 24h: the newest 10,000
    assert default.returncode == 0, default.stderr
    rows = json.loads(default.stdout)
    assert len(rows) == 10_000
    assert T(rows[-1]["scheduled_time"]) > datetime.now(UTC) - timedelta(seconds=5)


def test_the_dead_man_clocks_start_from_reads_made_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every schedule is read to start them: in a thread, over the
    housekeeping's own connection, not on the loop that fires."""
    import asyncio
    import threading

    from test_loop import cron

    h, _, ops = _ops_harness(tmp_path, cron("late", "* * * * *", expect_success_within=150.0))
    on_the_loop: list[bool] = []
    read = type(h.store).list_schedules

    def reading(store: Any, *args: Any, **kwargs: Any) -> Any:
        on_the_loop.append(threading.current_thread() is threading.main_thread())
        return read(store, *args, **kwargs)

    async def go() -> None:
        ops.attach(h.start())
        monkeypatch.setattr(type(h.store), "list_schedules", reading)
        ops.start()
        deadline = asyncio.get_running_loop().time() + 10
        while "late" not in ops._first_seen and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await ops.stop()

    asyncio.run(go())
    assert "late" in ops._first_seen  # its clock started, from its creation
    assert on_the_loop and not any(on_the_loop)

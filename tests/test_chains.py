"""Chains (``after:``): a downstream schedule runs once per upstream run that ends as
its ``on:`` says, whoever records that end, and across the leader's death.

The reference is the jobs themselves: the downstream job appends the upstream run id
it was given (``$UNO_EVENT``) to a file, so a run started twice or never shows there,
whatever the state says.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_service import Runner, runners, runs, uno_cli, wait_until, write_config

from unoschedule import Scheduler
from unoschedule.chains import Chain, chain_problems
from unoschedule.config import parse_config
from unoschedule.errors import ConfigErrors, UnoScheduleError
from unoschedule.model import RunRecord, ScheduleDefinition
from unoschedule.runs import chained_runs
from unoschedule.schedules import IntervalSchedule

__all__ = ["runners"]  # the fixture, imported for its name

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CHAIN = """
    scheduler:
      missed_threshold: 600
      shutdown_grace: 5
    schedules:
      extract:
        schedule: "* * * * * *"
        command: "echo $UNO_RUN_ID >> upstream.log"
        shell: true
      load:
        after: {schedule: extract, on: success}
        command: >-
          python3 -c "import json, os; print(json.loads(os.environ['UNO_EVENT'])
          ['after']['run_id'])" >> downstream.log
        shell: true
"""


def lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def definition(name: str, after: Chain | None = None) -> ScheduleDefinition:
    return ScheduleDefinition(name, IntervalSchedule("1h"), command="true", after=after)


# -- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "result", "final", "starts"),
    [
        ("success", "success", True, True),
        ("success", "error", True, False),
        ("failure", "error", False, False),  # a retry follows: not yet a failure
        ("failure", "timeout", True, True),
        ("failure", "success", True, False),
        ("any", "error", True, True),
        ("any", "success", True, True),
        ("any", "interrupted", True, False),
    ],
)
def test_a_chain_follows_the_upstream_ends_its_on_names(
    on: str, result: str, final: bool, starts: bool
) -> None:
    up = RunRecord("r1", "extract", T0, trigger="schedule")
    down = definition("load", Chain("extract", on))  # type: ignore[arg-type]
    got = chained_runs(up, result, final, [down, definition("other")], T0)
    assert bool(got) is starts
    if starts:
        (key, run) = got[0]
        assert key == "load@after:r1"
        assert (run.schedule, run.trigger) == ("load", "event")
        assert run.event == {"after": {"schedule": "extract", "run_id": "r1", "result": result}}


def test_chain_problems_name_unknown_upstreams_and_each_schedule_on_a_cycle() -> None:
    found = chain_problems({"a": Chain("b"), "b": Chain("a"), "c": Chain("nope"), "d": Chain("a")})
    assert sorted(name for name, _ in found) == ["a", "b", "c"]
    assert "after makes a cycle: " in dict(found)["a"]


def test_validate_refuses_a_chain_cycle_and_an_unknown_upstream_at_the_after_key() -> None:
    text = textwrap.dedent(
        """
        schedules:
          a:
            after: b
            command: "true"
          b:
            after: {schedule: a, on: any}
            command: "true"
          c:
            schedule: {every: 1h}
            after: {schedule: extrct}
            command: "true"
        """
    )
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text, "s.yaml")
    shown = [str(e) for e in caught.value.errors]
    assert shown == [
        "s.yaml:4:12: schedule 'a': after makes a cycle: a -> b -> a",
        "s.yaml:7:12: schedule 'b': after makes a cycle: a -> b -> a",
        "s.yaml:11:12: schedule 'c': after names no schedule 'extrct'",
    ]


def test_a_chained_schedule_needs_no_schedule_of_its_own_and_round_trips() -> None:
    config = parse_config(
        "schedules:\n  up: {schedule: {every: 1h}, command: 'true'}\n"
        "  down: {after: {schedule: up, on: failure}, command: 'true'}\n"
    )
    down = config.schedules["down"]
    assert down.after == Chain("up", "failure")
    assert "schedule" not in down.to_config()
    assert ScheduleDefinition.from_config("down", down.to_config()) == down


def test_the_library_checks_after_as_the_file_does(tmp_path: Path) -> None:
    async def go() -> None:
        scheduler = Scheduler(state=str(tmp_path / "s.db"))
        await scheduler.schedule(command="true", schedule={"every": "1h"}, name="up")
        await scheduler.schedule(command="true", name="down", after={"schedule": "up"})
        with pytest.raises(UnoScheduleError, match="after names no schedule 'nope'"):
            await scheduler.schedule(command="true", name="x", after="nope")
        with pytest.raises(UnoScheduleError, match="after makes a cycle"):
            await scheduler.update_schedule("up", after="down")
        with pytest.raises(UnoScheduleError, match="after's on must be one of success, failure"):
            await scheduler.schedule(command="true", name="y", after={"schedule": "up", "on": "ok"})
        down = await scheduler.get_schedule("down")
        assert down.after == Chain("up") and down.schedule.kind == "after"
        scheduler.close()

    asyncio.run(go())


# -- real processes ----------------------------------------------------------------------


@pytest.mark.slow
def test_a_leader_killed_between_the_upstream_end_and_the_downstream_start_runs_it_once(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    """The leader dies (SIGKILL) right after recording the second upstream end, before
    it starts the downstream run: the standby that takes over runs it, once."""
    write_config(tmp_path, CHAIN)
    leader = runners("leader", {"UNO_SCHEDULE_FAILPOINT": "after_chained_end:2"})
    leader.wait_log("ready")
    standby = runners("standby")
    # A standby started after the leader already died (a slow start on a loaded
    # machine) leads at once: it takes the run over all the same.
    wait_until(lambda: "standby" in standby.text() or "ready" in standby.text(), 20, "standby")
    assert leader.proc.wait(10) == -9
    standby.wait_log("ready", timeout=10)
    wait_until(lambda: len(lines(tmp_path / "downstream.log")) >= 4, 10, "chained runs")
    assert standby.term() == 0
    upstream = lines(tmp_path / "upstream.log")
    downstream = lines(tmp_path / "downstream.log")
    twice = [run_id for run_id, n in Counter(downstream).items() if n > 1]
    assert not twice, f"started twice for {twice}"
    succeeded = {r["run_id"] for r in runs(tmp_path) if r["schedule"] == "extract"
                 and r["result"] == "success"}  # fmt: skip
    assert set(downstream) == succeeded  # each recorded success started one, no other
    assert set(downstream) <= set(upstream)
    # the leader's second chained end was its last act: its downstream run was taken
    # from the state by the standby
    assert leader.text().count("starts load") == 1
    rows = runs(tmp_path)
    by_id = {r["run_id"]: r for r in rows}
    handed_over = [
        r for r in rows if r["schedule"] == "load"
        and by_id[json.loads(r["event"])["after"]["run_id"]]["instance_id"] != r["instance_id"]
    ]  # fmt: skip
    assert len(handed_over) == 1
    # a schedule with no time of its own is never complete (the standby started with
    # its last run known)
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as conn:
        status = conn.execute("SELECT status FROM schedules WHERE name = 'load'").fetchone()
    assert status == ("active",)
    # explain of the downstream names the upstream run that started each of its runs
    import subprocess

    shown = subprocess.run(
        [*uno_cli(tmp_path), "explain", "load", "--json"], capture_output=True, text=True
    )
    rows = json.loads(shown.stdout)
    assert {row["detail"].split()[3] for row in rows} == set(downstream)
    assert all(row["detail"].startswith("started by run ") for row in rows)
    assert datetime.now(UTC) - timedelta(minutes=5) < datetime.fromisoformat(
        rows[0]["scheduled_time"].replace("Z", "+00:00")
    )


def test_the_settle_step_hands_the_chained_runs_to_the_recorder_with_the_end() -> None:
    """One record call carries the end and the runs it starts (one transaction); a
    paused downstream gets none, as a paused schedule gets no event run."""
    from unoschedule.jobs import JobOutcome
    from unoschedule.model import SchedulerOptions
    from unoschedule.records import Finish
    from unoschedule.runner.settle import Ended, Settler

    definitions = {"extract": definition("extract"), "load": definition("load", Chain("extract"))}
    paused: set[str] = set()
    recorded: list[Finish] = []

    async def record(finish: Finish, retry: RunRecord | None) -> Ended:
        recorded.append(finish)
        return Ended(recorded=True)

    settler = Settler(
        SchedulerOptions(), definitions=lambda: definitions, active=lambda n: n not in paused
    )
    up = RunRecord("r1", "extract", T0)
    ok = JobOutcome("success", None, "", None)
    asyncio.run(settler.settle(up, definitions["extract"], ok, T0, T0, record))
    paused.add("load")
    asyncio.run(settler.settle(up, definitions["extract"], ok, T0, T0, record))
    assert [[key for key, _ in f.then] for f in recorded] == [["load@after:r1"], []]


def test_a_foreground_run_queues_its_chain_for_the_next_runner(tmp_path: Path) -> None:
    """``trigger --wait`` with no runner: the downstream run is queued with the end,
    also before any runner stored the file's schedules."""
    import subprocess

    write_config(tmp_path, CHAIN)
    done = subprocess.run(
        [*uno_cli(tmp_path), "trigger", "extract", "--wait"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (upstream,) = lines(tmp_path / "upstream.log")
    queued = [r for r in runs(tmp_path) if r["schedule"] == "load"]
    assert [(r["result"], json.loads(r["event"])["after"]["run_id"]) for r in queued] == [
        ("queued", upstream)
    ]


def test_a_reload_that_drops_a_schedule_an_api_schedule_runs_after_is_rejected(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    import signal

    write_config(
        tmp_path,
        'schedules:\n  extract:\n    schedule: "0 3 * * *"\n    command: ["true"]\n'
        '  other:\n    schedule: "0 4 * * *"\n    command: ["true"]\n',
    )
    runner = runners()
    runner.wait_log("ready")

    async def add() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(name="load", command=["true"], after="extract")
        scheduler.close()

    asyncio.run(add())
    write_config(
        tmp_path, 'schedules:\n  other:\n    schedule: "0 4 * * *"\n    command: ["true"]\n'
    )
    runner.proc.send_signal(signal.SIGHUP)
    runner.wait_log("reload rejected")
    assert "schedule 'load' (made through the API) runs after it" in runner.text()
    status = Scheduler(storage=tmp_path / "state.db")
    states = {s.name: s.status for s in status.store.list_schedules(definitions=False)}
    status.close()
    assert states["extract"] == "active" and states["load"] == "active"
    assert runner.term() == 0


def test_orphaned_by_names_only_the_chains_a_removal_breaks() -> None:
    from unoschedule.chains import orphaned_by

    chains = {
        "extract": None,
        "load": Chain("extract"),
        "report": Chain("load"),
        "stale": Chain("gone-already"),
    }
    assert orphaned_by(chains, ["extract"]) == ["load"]
    assert orphaned_by(chains, ["report"]) == []
    assert orphaned_by(chains, ["load", "report"]) == []  # its follower goes with it
    assert orphaned_by(chains, ["extract", "load"]) == ["report"]


def test_a_start_on_a_file_that_dropped_a_schedule_an_api_schedule_runs_after_is_refused(
    tmp_path: Path, runners: Callable[..., Runner]
) -> None:
    import subprocess

    both = (
        'schedules:\n  extract:\n    schedule: "0 3 * * *"\n    command: ["true"]\n'
        '  other:\n    schedule: "0 4 * * *"\n    command: ["true"]\n'
    )
    write_config(tmp_path, both)
    runner = runners()
    runner.wait_log("ready")
    assert runner.term() == 0

    async def add() -> None:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        await scheduler.schedule(name="load", command=["true"], after="extract")
        scheduler.close()

    asyncio.run(add())
    write_config(
        tmp_path, 'schedules:\n  other:\n    schedule: "0 4 * * *"\n    command: ["true"]\n'
    )
    done = subprocess.run(
        [*uno_cli(tmp_path), "run"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "schedules.yaml: schedule 'extract' is no longer in the file, but schedule 'load' "
            "(made through the API) runs after it; delete or change 'load' first, or keep 'extract'"
        )
    )

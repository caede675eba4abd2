"""At the shell: plain output for pipes, units and zones, the truth about a stopped
scheduler, the state's record of the file (an unchanged file is not read again, and the
answers are the same as when it is), completion, the man page and the systemd unit."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from unoschedule import filestamp
from unoschedule.cli import app, output

ROOT = Path(__file__).resolve().parent.parent
LONG = "nightly-database-backup-of-the-customer-orders-and-invoices-to-the-offsite-nas-" * 2
SCHEDULES = f"""\
scheduler:
  timezone: UTC
schedules:
  backup:
    description: Nightly backup of /etc to the NAS
    command: ["true"]
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    queue: maintenance
    tags: [ops, nightly]
  poll:
    command: "echo hi"
    schedule: {{every: 5m}}
  restock:
    command: ["true"]
    schedule: {{event: inventory.low_stock}}
  {LONG.rstrip("-")}:
    command: ["true"]
    schedule: "0 4 * * *"
"""

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(SCHEDULES)
    return path


def invoke(
    config: Path,
    *args: str,
    state: Path | str | None = None,
    env: dict[str, str | None] | None = None,
) -> tuple[int, str, str]:
    argv = ["-c", str(config)]
    if state is not None:
        argv += ["--state", str(state)]
    base: dict[str, str | None] = {
        "UNO_SCHEDULE_CONFIG": None,
        "UNO_SCHEDULE_STATE": None,
        "COLUMNS": "80",
    }
    result = runner.invoke(app, [*argv, *args], env={**base, **(env or {})})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def cli(
    config: Path, *args: str, state: Path | str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A real process with stdout on a pipe, as `uno-schedule list | grep` has it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    full.update({"PYTHONPATH": str(ROOT), "COLUMNS": "40", **(env or {})})
    argv = [sys.executable, "-m", "unoschedule", "-c", str(config)]
    if state is not None:
        argv += ["--state", str(state)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, env=full, timeout=60)


def make_state(config: Path, runs: int = 30) -> Path:
    """A state the shell has seen (pause/resume add the schedules) with finished runs."""
    state = config.parent / "state.db"
    assert invoke(config, "pause", "--all", state=state)[0] == 0
    assert invoke(config, "resume", "--all", state=state)[0] == 0
    from unoschedule.model import RunRecord
    from unoschedule.records import Finish
    from unoschedule.store.sqlite import SQLiteStorage

    now = datetime.now(UTC).replace(microsecond=0)
    store = SQLiteStorage(state)
    try:
        batch = [
            RunRecord(
                run_id=f"r{i:04d}",
                schedule="backup",
                scheduled_time=now - timedelta(hours=i),
                queued_at=now - timedelta(hours=i),
                result="queued",
            )
            for i in range(1, runs + 1)
        ]
        for run in batch:
            store.enqueue(run)
        store.start_runs([(r.run_id, r.scheduled_time, 1) for r in batch])
        store.finish_runs(
            [
                Finish(
                    r.run_id,
                    "success" if i % 4 else "error",
                    r.scheduled_time + timedelta(milliseconds=12),
                    error=None if i % 4 else "boom",
                )
                for i, r in enumerate(batch)
            ]
        )
    finally:
        store.close()
    return state


def drop_record(state: Path) -> None:
    conn = sqlite3.connect(state)
    conn.execute("DELETE FROM meta WHERE key = ?", (filestamp.KEY,))
    conn.commit()
    conn.close()


def recorded(config: Path, state: Path) -> bool:
    """True when the state's record of the file matches it (a command will not read it)."""
    from unoschedule.store.sqlite import SQLiteStorage

    store = SQLiteStorage(state, create=False)
    try:
        return filestamp.recorded_options(store, config) is not None
    finally:
        store.close()


def no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any parse of the schedule file fail the test: the state must answer."""
    import unoschedule.config

    def boom(*_: Any, **__: Any) -> Any:
        raise AssertionError("the YAML file was parsed")

    monkeypatch.setattr(unoschedule.config, "load_config", boom)


# -- plain output ----------------------------------------------------------------------------


def test_piped_list_is_one_plain_line_per_schedule_with_long_names_whole(config: Path) -> None:
    done = cli(config, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split("\t") == [
        "name", "type", "schedule", "status", "next", "left", "last", "passed", "result", "why",
    ]  # fmt: skip
    assert len(lines) == 1 + 4  # a header and one line per schedule, whatever COLUMNS says
    assert not any(ch in done.stdout for ch in "─│┃━┏┗╭╰|")
    assert "\x1b[" not in done.stdout
    names = [line.split("\t")[0] for line in lines[1:]]
    assert names == sorted(["backup", "poll", "restock", LONG.rstrip("-")])  # by name
    assert all(len(line.split("\t")) == 10 for line in lines)
    grep = [line for line in lines if line.startswith(LONG[:30])]
    assert len(grep) == 1 and "At 04:00 every day" in grep[0]


def test_a_terminal_gets_a_table_and_no_colour_with_no_color(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "is_plain", lambda: False)
    code, out, _ = invoke(
        config, "list", env={"FORCE_COLOR": "1", "NO_COLOR": None, "COLUMNS": "200"}
    )
    assert code == 0 and "───" in out  # the rule under the header
    assert "\x1b[" in out  # a terminal: colour
    code, out, _ = invoke(
        config, "list", env={"FORCE_COLOR": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    )
    assert code == 0 and "\x1b[3" not in out  # NO_COLOR: no colours (bold may stay)


def test_plain_flag_on_status_and_history(config: Path) -> None:
    state = make_state(config)
    code, out, _ = invoke(config, "--plain", "status", "backup", state=state)
    assert code == 0
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["field"] == "value"
    assert rows["timezone"] == "Europe/Berlin" and rows["queue"] == "maintenance"
    assert rows["description"] == "Nightly backup of /etc to the NAS"
    assert rows["means"] == "At 02:30 every day" and rows["schedule"] == "30 2 * * *"
    assert rows["average duration"] == "12 ms"
    assert rows["runs"] == "30" and rows["errors"] == "8"
    code, out, _ = invoke(config, "--plain", "history", "backup", "-n", "3", state=state)
    lines = out.splitlines()
    assert lines[0].split("\t")[0] == "run" and len(lines) == 5
    assert lines[4].startswith("paused ")  # make_state's pause --all, below the runs
    assert lines[1].split("\t")[5] == "12 ms"


# -- units and zones -------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0.012, "12 ms"), (1.5, "1.5 s"), (59.4, "59.4 s"), (250, "4m 10s"), (3720, "1h 2m"),
    (3600, "1h"), (90061, "1d 1h"), (None, ""),
])  # fmt: skip
def test_durations_carry_units(seconds: float | None, text: str) -> None:
    assert output.duration(seconds) == text


def test_rates_and_uptime_carry_units(config: Path) -> None:
    assert output.rate(0.3846) == "38.5 %"
    state = make_state(config)
    _, out, _ = invoke(config, "stats", state=state)
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["success rate"] == "73.3 %"  # 22 of 30
    assert rows["scheduler uptime"] == "not running"
    _, out, _ = invoke(config, "stats", "--json", state=state)
    assert json.loads(out)["success_rate"] == 0.7333  # JSON keeps the number


def test_tz_schedule_local_utc(config: Path) -> None:
    state = make_state(config)
    rows = {}
    for tz, env in (("schedule", None), ("UTC", None), ("local", {"TZ": "Asia/Tokyo"})):
        args = ["--plain", "history", "backup", "-n", "1"] + (["--tz", tz] if tz else [])
        code, out, _ = invoke(config, *args, state=state, env=env)
        assert code == 0
        rows[tz] = out.splitlines()[1].split("\t")[1]
    assert rows["schedule"].endswith(("CET", "CEST"))
    assert rows["UTC"].endswith("UTC")
    assert rows["local"].endswith("JST")
    code, _, err = invoke(config, "history", "backup", "--tz", "Mars/Olympus", state=state)
    assert code == 2 and "--tz" in err
    code, out, _ = invoke(config, "history", "backup", "--json", "--tz", "local", state=state)
    assert json.loads(out)[0]["scheduled_time"].endswith("Z")  # JSON stays in UTC


# -- the truth about the scheduler, events and paths ----------------------------------------


def test_no_leader_means_no_promised_next_run(config: Path) -> None:
    state = make_state(config)
    code, out, err = invoke(config, "list", state=state)
    assert code == 0
    assert "scheduler not running" in err
    backup = next(line for line in out.splitlines() if line.startswith("backup\t"))
    assert backup.split("\t")[4] == "not running"
    code, out, _ = invoke(config, "status", "backup", state=state)
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["next run"].startswith("scheduler not running")
    # with a live leader the next run is shown
    from unoschedule.store.sqlite import SQLiteStorage

    store = SQLiteStorage(state)
    store.acquire_lease("host:1", 300, datetime.now(UTC))
    store.close()
    code, out, err = invoke(config, "status", "backup", state=state)
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert "not running" not in rows["next run"] and "(in " in rows["next run"]
    code, out, err = invoke(config, "list", state=state)
    assert "not running" not in out + err


def test_not_running_since_the_recorded_stop(config: Path) -> None:
    state = make_state(config)
    from unoschedule.store.sqlite import SQLiteStorage

    store = SQLiteStorage(state)
    lease = store.acquire_lease("host:1", 300, datetime.now(UTC) - timedelta(hours=2))
    assert lease is not None
    store.release_lease("host:1", lease.epoch)
    store.set_meta("stopped_at", "2026-01-02T03:04:00Z")
    store.close()
    _, out, _ = invoke(config, "status", "poll", "--tz", "UTC", state=state)
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["next run"].startswith("scheduler not running since 2026-01-02 03:04 UTC")


def test_event_without_listener_exits_1_with_one_line(config: Path) -> None:
    for state in (None, make_state(config)):
        code, out, err = invoke(config, "event", "inventory.lowstock", state=state)
        assert code == 1
        assert err.strip().splitlines() == [
            "error: no active schedule listens for event 'inventory.lowstock'; nothing queued"
        ]
    code, out, _ = invoke(
        config, "event", "inventory.low_stock", "--json", state=config.parent / "state.db"
    )
    assert code == 0 and len(json.loads(out)) == 1


@pytest.mark.parametrize("command", [
    ["list"], ["status", "backup"], ["stats"], ["history", "backup"], ["pause", "backup"],
    ["trigger", "backup"], ["next-runs", "backup"],
])  # fmt: skip
def test_a_state_in_a_missing_folder_is_an_error(config: Path, command: list[str]) -> None:
    code, out, err = invoke(config, *command, state=config.parent / "nope" / "x.db")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        f"error: the folder of the state file {config.parent / 'nope' / 'x.db'} does not "
        f"exist ({config.parent / 'nope'}); fix --state or create the folder"
    ]
    assert not (config.parent / "nope").exists()


def test_validate_json(config: Path, tmp_path: Path) -> None:
    code, out, _ = invoke(config, "validate", "--json")
    assert (code, json.loads(out)) == (0, [])
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedules:\n  a:\n    command: x\n    schedule: '61 * * * *'\n  b: {}\n")
    code, out, _ = invoke(config, "validate", str(bad), "--json")
    assert code == 1
    errors = json.loads(out)
    assert len(errors) >= 2
    assert all(set(e) == {"file", "line", "column", "message"} for e in errors)
    assert errors[0]["file"] == str(bad) and errors[0]["line"] == 4


def test_control_commands_print_json(config: Path) -> None:
    state = make_state(config)
    code, out, _ = invoke(config, "pause", "backup", "--json", state=state)
    assert (code, json.loads(out)) == (0, {"changed": ["backup"]})
    code, out, _ = invoke(config, "pause", "backup", "--json", state=state)
    assert json.loads(out) == {"changed": []}
    code, out, _ = invoke(config, "resume", "--all", "--json", state=state)
    assert json.loads(out) == {"changed": ["backup"]}
    code, out, _ = invoke(config, "trigger", "poll", "--json", state=state)
    assert json.loads(out)["result"] == "queued"


# -- the snapshot ----------------------------------------------------------------------------


READS = (
    ["list", "--json"],
    ["status", "backup", "--json"],
    ["stats", "--json"],
    ["history", "backup", "--json"],
    ["next-runs", "backup", "--json"],
    ["next-runs", "poll", "--json"],
    ["validate"],
)


def test_an_unchanged_file_is_not_read_and_the_answers_are_the_same(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = make_state(config)
    assert recorded(config, state)  # the CLI recorded it
    with monkeypatch.context() as m:
        no_yaml(m)
        fast = [invoke(config, *args, state=state) for args in READS]
    drop_record(state)
    assert not recorded(config, state)
    with monkeypatch.context() as m:
        m.setattr(filestamp, "record", lambda *a: None)  # read the file every time
        full = [invoke(config, *args, state=state) for args in READS]
    for args, f, s in zip(READS, fast, full, strict=True):
        assert f == s, args
        assert f[0] == 0, args


def test_the_snapshot_is_found_from_the_file_without_state_option(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config.write_text(
        SCHEDULES.replace("  timezone: UTC\n", "  timezone: UTC\n  state: var/s.db\n")
    )
    (config.parent / "var").mkdir()
    assert invoke(config, "pause", "--all")[0] == 0  # the state now holds the file
    assert invoke(config, "resume", "--all")[0] == 0
    code, _, err = invoke(config, "pause", "poll")
    assert code == 0, err
    assert (config.parent / "var" / "s.db").exists()
    no_yaml(monkeypatch)
    code, out, _ = invoke(config, "list", "--json")
    assert code == 0 and {r["name"]: r["status"] for r in json.loads(out)}["poll"] == "paused"


def test_a_changed_file_is_read_again(config: Path) -> None:
    state = make_state(config)
    assert recorded(config, state)
    config.write_text(SCHEDULES + "  added:\n    command: ['true']\n    schedule: '0 5 * * *'\n")
    assert not recorded(config, state)
    code, out, _ = invoke(config, "list", "--json", state=state)
    assert "added" in [r["name"] for r in json.loads(out)]
    assert not recorded(config, state)  # the state does not hold "added" yet
    assert invoke(config, "pause", "added", state=state)[0] == 0
    assert recorded(config, state)  # now it does: recorded again
    config.write_text("schedules: {broken")
    code, _, err = invoke(config, "validate", state=state)
    assert code == 1 and "schedules.yaml:2:1: invalid YAML" in err


def test_control_commands_work_from_the_state_without_reading_the_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = make_state(config)
    # pause and resume take the library path: the store decides what each pause covers
    assert invoke(config, "pause", "backup", state=state)[1] == "paused backup\n"
    no_yaml(monkeypatch)
    code, out, _ = invoke(config, "trigger", "backup", "--arg", "x", state=state)
    assert code == 0
    run_id = out.strip()
    code, out, _ = invoke(
        config, "event", "inventory.low_stock", "--data", '{"sku": 1}', state=state
    )
    assert code == 0
    event_run = out.strip()
    monkeypatch.undo()
    assert invoke(config, "resume", "backup", state=state)[1] == "resumed backup\n"
    _, out, _ = invoke(config, "history", "backup", "-n", "1", "--json", state=state)
    manual = json.loads(out)[0]
    assert manual["run_id"] == run_id and manual["args"] == ["x"]
    assert manual["trigger"] == "manual" and manual["queue"] == "maintenance"
    _, out, _ = invoke(config, "history", "restock", "--json", state=state)
    assert [(r["run_id"], r["trigger"], r["event"]) for r in json.loads(out)] == [
        (event_run, "event", {"sku": 1})
    ]
    conn = sqlite3.connect(state)
    assert conn.execute(
        "SELECT status, next_run FROM schedules WHERE name = 'backup'"
    ).fetchone() == ("active", None)
    assert conn.execute("SELECT name FROM events").fetchall() == [("inventory.low_stock",)]
    conn.close()


# -- completion, man page, the unit ----------------------------------------------------------


def test_completion_offers_schedule_names(config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "_UNO_SCHEDULE_COMPLETE": "complete_bash",
            "COMP_WORDS": f"uno-schedule -c {config} status ba",
            "COMP_CWORD": "4",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stdout.split() == ["backup"]
    # --install-completion and --show-completion detect the shell; this variable of
    # typer's makes them take it as a value instead, as a test needs
    expected = {"bash": "complete_bash", "zsh": "complete_zsh", "fish": "complete_fish"}
    for shell, marker in expected.items():
        done = cli(
            config,
            "--show-completion",
            shell,
            env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        )
        assert done.returncode == 0 and f"_UNO_SCHEDULE_COMPLETE={marker}" in done.stdout, shell


def test_the_man_page_is_generated_from_the_commands_and_current() -> None:
    from unoschedule.cli.manpage import render

    text = render()
    assert text.startswith(".TH UNO-SCHEDULE 1")
    for name in ("run", "validate", "list", "status", "next\\-runs", "event", "calendar"):
        assert f".SS uno\\-schedule {name}\n" in text
    assert "\\fB\\-\\-plain\\fR" in text
    assert (ROOT / "man" / "uno-schedule.1").read_text() == text, "run `make man`"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "contrib" / "uno-schedule.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=",
        "StateDirectory=uno-schedule",
        "LogsDirectory=uno-schedule",
        "ReadWritePaths=-/etc/uno-schedule/var",
    ):
        assert line in unit
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    exe = Path(sys.executable).parent / "uno-schedule"
    copy = tmp_path / "uno-schedule.service"
    copy.write_text(unit.replace("/opt/uno-schedule/venv/bin/uno-schedule", str(exe)))
    done = subprocess.run(
        [tool, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # systemd only warns about a bad line and goes on: any line about the file fails
    assert [line for line in done.stderr.splitlines() if str(copy) in line] == []


@pytest.mark.parametrize(
    "args",
    [
        ["list"], ["status", "backup"], ["history", "backup"], ["next-runs", "poll"],
        ["stats"], ["validate"], ["pause", "backup"], ["resume", "backup"],
        ["trigger", "backup"], ["event", "inventory.low_stock"],
    ],
)  # fmt: skip
def test_an_everyday_command_loads_no_typer_asyncio_yaml_rich_or_redis(
    config: Path, args: list[str]
) -> None:
    """What keeps the everyday commands fast on an unchanged file: the command, run in a
    process of its own, leaves typer (the fast path runs it), asyncio, YAML, rich, redis,
    prometheus_client, filelock, sqlite_utils and the run loop unloaded."""
    state = make_state(config)
    code = (
        "import sys\n"
        "from unoschedule.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('asyncio', 'yaml', 'rich', 'prometheus_client', 'redis', 'filelock',"
        " 'sqlite_utils', 'unoschedule.runner', 'unoschedule.config', 'unoschedule.sync',"
        " 'typer', 'click')\n"
        "print(sorted(m for m in sys.modules if any("
        "m == h or m.startswith(h + '.') for h in heavy)), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", code, "-c", str(config), "--state", str(state), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_a_schedule_made_through_the_api_shows_at_the_shell(config: Path) -> None:
    """A schedule made by ``Scheduler.schedule()``: ``status`` of one shows its record
    and what it was made with, beside the file's."""
    import asyncio

    from unoschedule.config import load_config
    from unoschedule.scheduler import Scheduler

    state = make_state(config)

    async def add() -> None:
        scheduler = Scheduler.from_config(load_config(config), state=str(state))
        try:
            await scheduler.schedule(
                command=["true"], schedule="15 * * * *", name="api-hourly", timezone="Asia/Tokyo"
            )
        finally:
            scheduler.close()

    asyncio.run(add())
    code, out, err = invoke(config, "status", "api-hourly", "--json", state=state)
    assert (code, err) == (0, "")
    record = json.loads(out)
    assert record["source"] == "api"
    assert record["schedule"] == {"cron": "15 * * * *"}
    assert record["timezone"] == "Asia/Tokyo"
    assert record["queue"] == "scheduled"
    code, out, _ = invoke(config, "status", "api-hourly", state=state)
    assert code == 0 and "timezone\tAsia/Tokyo" in out
    code, out, _ = invoke(config, "list", state=state)
    assert code == 0 and "api-hourly" in [line.split("\t")[0] for line in out.splitlines()]
    code, out, _ = invoke(config, "status", "backup", "--json", state=state)
    assert json.loads(out)["queue"] == "maintenance"  # the file's still come from the file


def _rows(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What the control commands wrote, without ids and instants (they differ run to run)."""
    conn = sqlite3.connect(state)
    try:
        return {
            "schedules": conn.execute(
                "SELECT name, status, next_run IS NULL, updated_at IS NULL, version "
                "FROM schedules ORDER BY name"
            ).fetchall(),
            "runs": conn.execute(
                "SELECT schedule, trigger, attempt, result, substr(occurrence_key, 1, 7), "
                "epoch, args, kwargs, event, queue, priority, queued_at = scheduled_time, "
                "length(run_id) FROM runs WHERE run_id NOT LIKE 'r%' ORDER BY schedule, trigger"
            ).fetchall(),
            "events": conn.execute("SELECT name, payload FROM events ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def test_control_writes_from_the_state_are_those_from_the_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = (
        ["pause", "backup"], ["pause", "backup"], ["trigger", "backup", "--arg", "a"],
        ["trigger", "poll", "--kwarg", "day=2026-03-01", "--kwarg", "n=3"],
        ["event", "inventory.low_stock", "--data", '{"sku": "A-42", "left": 3}'],
        ["resume", "backup"], ["resume", "backup"], ["pause", "poll"],
    )  # fmt: skip
    results = {}
    for mode in ("fast", "full"):
        folder = config.parent / mode
        folder.mkdir()
        cfg = folder / "schedules.yaml"
        cfg.write_text(SCHEDULES)
        state = make_state(cfg)
        outputs = []
        with monkeypatch.context() as m:
            if mode == "fast":
                no_yaml(m)
            else:
                drop_record(state)
                m.setattr(filestamp, "record", lambda *a: None)
            for step in steps:
                with monkeypatch.context() as fast:
                    # pause and resume take the library path: the store decides
                    if mode == "fast" and step[0] not in ("pause", "resume"):
                        no_yaml(fast)
                    code, out, err = invoke(cfg, *step, state=state)
                assert code == 0, (mode, step, err)
                outputs.append(out if step[0] not in ("trigger", "event") else len(out))
        results[mode] = (outputs, _rows(state))
    assert results["fast"] == results["full"]
    assert results["fast"][1]["events"] == [("inventory.low_stock", '{"left": 3, "sku": "A-42"}')]


@pytest.mark.parametrize("first", [["next-runs", "poll"], ["list"], ["status", "poll"]])
def test_the_first_command_that_reads_the_file_records_it(config: Path, first: list[str]) -> None:
    state = make_state(config)
    drop_record(state)
    assert not recorded(config, state)
    code, _, err = invoke(config, *first, state=state)
    assert code == 0, err
    assert recorded(config, state)


def test_a_file_changed_while_it_was_read_is_not_recorded(config: Path) -> None:
    from unoschedule.config import load_config
    from unoschedule.store.sqlite import SQLiteStorage

    state = make_state(config)
    drop_record(state)
    stamp = filestamp.file_stamp(config)
    loaded = load_config(config)
    config.write_text(SCHEDULES + "  late:\n    command: ['true']\n    schedule: '0 6 * * *'\n")
    store = SQLiteStorage(state)
    try:
        filestamp.record(store, loaded, stamp)  # the file is no longer what was read
        assert store.get_meta(filestamp.KEY) is None
        filestamp.record(store, load_config(config), filestamp.file_stamp(config))
        assert store.get_meta(filestamp.KEY) is not None
    finally:
        store.close()
    assert recorded(config, state)


def test_a_record_made_by_another_version_is_not_trusted(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = make_state(config)
    assert recorded(config, state)
    monkeypatch.setattr(filestamp, "__version__", "9.9.9")
    assert not recorded(config, state)


# -- a file that `run` would refuse for what the state holds ---------------------------------


def add_api_follower(state: Path | str, upstream: str, name: str = "load") -> None:
    """A schedule made through the library that runs after ``upstream`` (``after:``)."""
    import asyncio

    from unoschedule.scheduler import Scheduler

    async def add() -> None:
        scheduler = Scheduler(storage=state)
        try:
            await scheduler.schedule(name=name, command=["true"], after=upstream)
        finally:
            scheduler.close()

    asyncio.run(add())


def refusal(config: Path, upstream: str = "backup", follower: str = "load") -> str:
    """The line ``run`` prints when it refuses the file (``preflight.check_followed``)."""
    return (
        f"{config}: schedule {upstream!r} is no longer in the file, but schedule {follower!r} "
        f"(made through the API) runs after it; delete or change {follower!r} first, "
        f"or keep {upstream!r}"
    )


def without_backup(config: Path) -> None:
    start = SCHEDULES.index("  backup:\n")
    end = SCHEDULES.index("  poll:\n")
    config.write_text(SCHEDULES[:start] + SCHEDULES[end:])


def test_validate_refuses_a_file_that_dropped_a_schedule_an_api_schedule_runs_after(
    config: Path,
) -> None:
    state = make_state(config)
    add_api_follower(state, "backup")
    config.write_text(SCHEDULES + "  late:\n    command: ['true']\n    schedule: '0 6 * * *'\n")
    done = cli(config, "validate", state=state)  # a file that keeps backup is still fine
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok: 5 schedules\n", "")
    without_backup(config)
    done = cli(config, "validate", state=state)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [refusal(config)]
    code, out, _ = invoke(config, "validate", "--json", state=state)
    assert code == 1
    message = refusal(config).removeprefix(f"{config}: ")
    assert json.loads(out) == [
        {"file": str(config), "line": None, "column": None, "message": message}
    ]
    # the same words as `run`, which keeps the state as it was
    ran = cli(config, "run", state=state)
    assert ran.returncode == 1 and ran.stderr.splitlines()[-1].endswith(refusal(config))
    # FILE arguments are judged alone, as before
    code, out, _ = invoke(config, "validate", str(config), state=state)
    assert (code, out) == (0, f"ok: 3 schedules in {config}\n")


def test_validate_checks_the_file_against_the_redis_state_that_state_names(
    config: Path, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--state redis://...`` is the state validate checks against, as ``run`` does;
    it was dropped for want of a folder, and the file judged alone."""
    from redis_server import unique_prefix

    prefix = unique_prefix()
    monkeypatch.setenv("UNO_SCHEDULE_REDIS_PREFIX", prefix)
    url = redis_server.url
    assert invoke(config, "pause", "--all", state=url)[0] == 0
    add_api_follower(url, "backup")
    without_backup(config)
    done = cli(config, "validate", state=url, env={"UNO_SCHEDULE_REDIS_PREFIX": prefix})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [refusal(config)]


def test_validate_reads_an_unchanged_file_again_when_an_api_schedule_follows_a_file_one(
    config: Path, tmp_path: Path
) -> None:
    """The state's record says the file is unchanged, but the state now also holds a
    schedule of another file that a schedule made through the API runs after: ``run``
    with this file would drop it, and refuse."""
    state = make_state(config)
    assert recorded(config, state)
    done = cli(config, "validate", state=state)
    assert (done.returncode, done.stdout) == (0, "ok: 4 schedules\n")
    other = tmp_path / "other.yaml"
    other.write_text("schedules:\n  extra:\n    command: ['true']\n    schedule: '0 7 * * *'\n")
    assert invoke(other, "pause", "extra", state=state)[0] == 0  # the state adds extra
    add_api_follower(state, "extra")
    assert recorded(config, state)
    done = cli(config, "validate", state=state)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [refusal(config, "extra")]
    ran = cli(config, "run", state=state)
    assert ran.returncode == 1 and ran.stderr.splitlines()[-1].endswith(refusal(config, "extra"))


def test_plan_refuses_a_file_that_dropped_a_schedule_an_api_schedule_runs_after(
    config: Path,
) -> None:
    state = make_state(config)
    add_api_follower(state, "backup")
    code, out, err = invoke(config, "plan", "--json", state=state)
    assert (code, err) == (0, "")
    assert json.loads(out)["removed"] == []
    without_backup(config)
    for args in (["plan"], ["plan", "--json"]):
        code, out, err = invoke(config, *args, state=state)
        assert (code, out) == (1, ""), args
        assert err.splitlines() == [refusal(config)], args


def test_the_library_plan_refuses_as_run_does(config: Path) -> None:
    from unoschedule.config import load_config
    from unoschedule.errors import ConfigErrors
    from unoschedule.scheduler import Scheduler

    state = make_state(config)
    add_api_follower(state, "backup")
    scheduler = Scheduler.from_config(load_config(config), state=str(state))
    try:
        assert scheduler.plan().empty  # the file keeps backup
    finally:
        scheduler.close()
    without_backup(config)
    scheduler = Scheduler.from_config(load_config(config), state=str(state))
    try:
        with pytest.raises(ConfigErrors) as raised:
            scheduler.plan()
    finally:
        scheduler.close()
    assert [str(e) for e in raised.value.errors] == [refusal(config)]
    # an everyday command over that file still answers (from the state's side of it)
    code, out, err = invoke(config, "list", "--json", state=state)
    assert code == 0, err
    assert "load" in [r["name"] for r in json.loads(out)]

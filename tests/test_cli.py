"""The command line (SPEC 6 and its contract), through typer's CliRunner and one subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unoschedule.cli import app

runner = CliRunner()

SCHEDULES = """\
scheduler:
  timezone: UTC
schedules:
  backup:
    command: ["true"]
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    tags: [ops, nightly]
  poll:
    command: "echo hi"
    schedule: {every: 5m}
    tags: [ops]
  report:
    command: ["true"]
    schedule: {daily: ["00:00"]}
  nightly:
    command: ["true"]
    schedule: "0 0 * * *"
  restock:
    command: ["true"]
    schedule: {event: inventory.low_stock}
"""

STATUS_KEYS = {
    "name", "status", "last_run", "last_result", "next_run", "run_count",
    "success_count", "error_count", "average_duration",
}  # fmt: skip
STATS_KEYS = {
    "schedules_total", "schedules_active", "schedules_paused", "jobs_triggered_total",
    "jobs_triggered_last_24h", "success_rate", "scheduler_uptime", "missed_schedules",
}  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(SCHEDULES)
    return path


def invoke(
    config: Path, *args: str, state: Path | None = None, columns: int = 80
) -> tuple[int, str, str]:
    argv = ["-c", str(config)]
    if state is not None:
        argv += ["--state", str(state)]
    env = {"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None, "COLUMNS": str(columns)}
    result = runner.invoke(app, [*argv, *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def state_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "schedules.yaml")


# -- validate ---------------------------------------------------------------------------


def test_validate_ok(config: Path) -> None:
    code, out, err = invoke(config, "validate")
    assert code == 0, err
    assert out.strip() == "ok: 5 schedules"


def test_validate_lists_every_error_as_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schedules:\n"
        "  a:\n"
        "    command: ['true']\n"
        "    shedule: '0 0 * * *'\n"
        "  b:\n"
        "    command: ['true']\n"
        "    schedule: '0 0 30 2 *'\n"
    )
    code, out, err = invoke(bad, "validate")
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) >= 2
    for line in lines:
        file, line_no, column, message = line.split(":", 3)
        assert file == str(bad)
        assert line_no.isdigit() and column.isdigit()
        assert message.strip()
    assert "Traceback" not in err
    assert any("schedule" in line for line in lines)  # the typo names what was meant


def test_missing_config_is_one_line_exit_1(tmp_path: Path) -> None:
    code, _out, err = invoke(tmp_path / "nope.yaml", "list")
    assert code == 1
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


# -- next-runs ----------------------------------------------------------------------------


def test_next_runs_json_across_dst(config: Path) -> None:
    code, out, err = invoke(
        config, "next-runs", "backup", "--count", "3", "--from", "2026-03-28T00:00:00Z", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]
    assert state_files(config.parent) == []


def test_next_runs_tz_and_plain(config: Path) -> None:
    code, out, _ = invoke(
        config,
        "next-runs",
        "backup",
        "-n",
        "2",
        "--from",
        "2026-03-28T00:00:00Z",
        "--tz",
        "Europe/Berlin",
    )
    assert code == 0
    assert out.split() == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00"]


def test_next_runs_json_stays_utc_whatever_tz_says(config: Path) -> None:
    """SPEC: ``--json`` prints ``YYYY-MM-DDTHH:MM:SSZ`` strings; ``--tz`` is for people."""
    args = ["next-runs", "backup", "-n", "2", "--from", "2026-03-28T00:00:00Z", "--json"]
    code, out, err = invoke(config, *args, "--tz", "Europe/Berlin")
    assert code == 0, err
    assert json.loads(out) == ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z"]


def test_next_runs_interval_and_fractions(config: Path) -> None:
    code, out, _ = invoke(
        config, "next-runs", "poll", "-n", "2", "--from", "2026-01-01T00:00:00.5Z", "--json"
    )
    assert code == 0
    assert json.loads(out) == ["2026-01-01T00:05:00.500000Z", "2026-01-01T00:10:00.500000Z"]


def test_next_runs_bad_from_is_a_usage_error(config: Path) -> None:
    code, _, err = invoke(config, "next-runs", "backup", "--from", "yesterday")
    assert code == 2
    assert "--from" in err


def test_next_runs_refuses_a_count_it_could_not_answer_at_once(config: Path) -> None:
    code, out, err = invoke(config, "next-runs", "backup", "--count", "100000000")
    assert (code, out) == (2, "")
    assert "--count" in err and "100000" in err
    code, out, _ = invoke(config, "next-runs", "backup", "--count", "100000", "--json")
    assert code == 0 and len(json.loads(out)) == 100_000


def test_next_runs_of_a_schedule_that_does_not_fire_by_the_clock_says_why_on_stderr(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "schedules:\n"
        "  extract: {schedule: '@hourly', command: 'true'}\n"
        "  load: {after: {schedule: extract, on: failure}, command: 'true'}\n"
        "  restock: {schedule: {event: stock.low}, command: 'true'}\n"
    )
    code, out, err = invoke(config, "next-runs", "load")
    assert (code, out) == (0, "")
    assert err.strip() == "load runs after each run of extract that fails, not by the clock"
    code, out, err = invoke(config, "next-runs", "restock")
    assert (code, out) == (0, "")
    assert err.strip() == (
        "restock runs when the event stock.low is raised (uno-schedule event stock.low)"
    )
    code, out, err = invoke(config, "next-runs", "restock", "--json")
    assert (code, out.strip(), err) == (0, "[]", "")


def test_unknown_schedule_suggests(config: Path) -> None:
    for command in ("next-runs", "status", "history"):
        code, _out, err = invoke(config, command, "bakup")
        assert code == 1, command
        assert err.strip() == "error: no schedule named 'bakup'; did you mean 'backup'?"
        assert "Traceback" not in err


# -- list, status, stats, plan, history ------------------------------------------------------


def test_list_json(config: Path) -> None:
    code, out, _ = invoke(config, "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["backup", "nightly", "poll", "report", "restock"]
    for row in rows:
        assert {"name", "type", "status", "next_run", "tags"} <= set(row)
    backup = rows[0]
    assert backup["type"] == "cron" and backup["tags"] == ["ops", "nightly"]
    assert backup["next_run"].endswith("Z")
    assert state_files(config.parent) == []


def test_list_filters_and_human(config: Path) -> None:
    code, out, _ = invoke(config, "list", "--tag", "ops", "--json")
    assert [r["name"] for r in json.loads(out)] == ["backup", "poll"]
    code, out, _ = invoke(config, "list", "--status", "paused", "--json")
    assert json.loads(out) == []
    code, out, _ = invoke(config, "list", columns=200)
    assert code == 0
    assert "At 02:30 every day, Europe/Berlin" in out
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


def test_status_and_stats_without_state(config: Path) -> None:
    code, out, _ = invoke(config, "status", "backup", "--json")
    assert code == 0
    record = json.loads(out)
    assert set(record) >= STATUS_KEYS
    assert record["name"] == "backup" and record["run_count"] == 0
    code, out, _ = invoke(config, "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    assert set(stats) >= STATS_KEYS
    assert stats["schedules_total"] == 5
    code, out, _ = invoke(config, "status", "backup")
    assert code == 0 and "next run" in out
    assert state_files(config.parent) == []


def test_status_and_stats_with_state(config: Path) -> None:
    state = config.parent / "state.db"
    code, out, err = invoke(config, "trigger", "report", state=state)  # creates the state
    assert code == 0, err
    run_id = out.strip()
    assert run_id and "no scheduler is running" in err
    code, out, err = invoke(config, "pause", "report", state=state)
    assert code == 0, err
    assert state.exists()
    code, out, _ = invoke(config, "status", "report", "--json", state=state)
    record = json.loads(out)
    assert set(record) >= STATUS_KEYS
    assert record["status"] == "paused"
    code, out, _ = invoke(config, "stats", "--json", state=state)
    stats = json.loads(out)
    assert set(stats) >= STATS_KEYS
    assert stats["schedules_paused"] == 1
    code, out, _ = invoke(config, "list", "--status", "paused", "--json", state=state)
    assert [r["name"] for r in json.loads(out)] == ["report"]
    code, out, _ = invoke(config, "resume", "--all", state=state)
    assert code == 0 and "report" in out
    code, out, _ = invoke(config, "history", "report", "--json", state=state)
    assert code == 0
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["trigger"] == "manual" and runs[0]["result"] == "queued"


def test_pause_before_the_scheduler_ever_ran(config: Path) -> None:
    state = config.parent / "state.db"
    code, out, err = invoke(config, "pause", "report", state=state)
    assert code == 0, err
    code, out, _ = invoke(config, "status", "report", "--json", state=state)
    assert json.loads(out)["status"] == "paused"


def test_plain_status_says_why_by_whom_and_until_when_a_schedule_is_paused(
    config: Path,
) -> None:
    state = config.parent / "state.db"
    until = "2030-01-02T03:04:00Z"
    code, _, err = invoke(
        config, "pause", "report", "--reason", "disk swap", "--until", until, state=state
    )
    assert code == 0, err
    code, out, _ = invoke(config, "--plain", "status", "report", state=state)
    assert code == 0
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["status"].startswith("paused (disk swap, by ")
    assert rows["status"].endswith(", until 2030-01-02 03:04 UTC)")


def test_pause_needs_a_name_or_all(config: Path) -> None:
    code, _, _ = invoke(config, "pause")
    assert code == 2
    code, _, _ = invoke(config, "pause", "backup", "--all")
    assert code == 2


def test_plan_without_state_adds_everything(config: Path) -> None:
    code, out, _ = invoke(config, "plan", "--json")
    assert code == 0
    plan = json.loads(out)
    assert sorted(e["name"] for e in plan["added"]) == [
        "backup",
        "nightly",
        "poll",
        "report",
        "restock",
    ]
    assert plan["changed"] == [] and plan["removed"] == []
    code, out, _ = invoke(config, "plan")
    assert code == 0 and "5 to add" in out
    assert state_files(config.parent) == []


def test_plan_sees_a_change(config: Path) -> None:
    state = config.parent / "state.db"
    assert invoke(config, "trigger", "backup", state=state)[0] == 0  # the state knows backup
    config.write_text(SCHEDULES.replace('"30 2 * * *"', '"45 3 * * *"'))
    _code, out, _ = invoke(config, "plan", "--json", state=state)
    plan = json.loads(out)
    assert [e["name"] for e in plan["changed"]] == ["backup"]
    assert "45 3" in plan["changed"][0]["diff"]


def test_the_first_version_shows_the_whole_definition_as_added(config: Path) -> None:
    state = config.parent / "state.db"
    assert invoke(config, "pause", "backup", state=state)[0] == 0  # the state adds backup
    code, out, err = invoke(config, "history", "backup", "--versions", "--json", state=state)
    assert code == 0, err
    (first,) = json.loads(out)
    assert (first["version"], first["changelog"]) == (1, "added")
    assert first["diff"].startswith("--- /dev/null\n+++ backup (new)\n")
    assert "+schedule:\n+  cron: 30 2 * * *\n" in first["diff"]


def test_trigger_kwarg_must_be_key_value(config: Path) -> None:
    code, _, err = invoke(config, "trigger", "backup", "--kwarg", "novalue")
    assert code == 2
    assert "KEY=VALUE" in err


def test_trigger_kwarg_values_are_read_as_yaml_and_bad_ones_say_why(config: Path) -> None:
    code, _, err = invoke(config, "trigger", "backup", "--kwarg", "retries=[1")
    assert code == 2
    assert "retries: '[1' is not a YAML value" in " ".join(err.split())


def test_event_data_must_be_a_json_object(config: Path) -> None:
    code, _, _ = invoke(config, "event", "inventory.low_stock", "--data", "[1, 2]")
    assert code == 2
    code, _, _ = invoke(config, "event", "inventory.low_stock", "--data", "{oops")
    assert code == 2


# -- calendar and schema ---------------------------------------------------------------------


def test_calendar_json_counts_the_midnight_pile_up(config: Path) -> None:
    code, out, err = invoke(
        config, "calendar", "--from", "2026-06-01T12:00:00Z", "--window", "24h", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["bucket_seconds"] == 900 and len(data["buckets"]) == 96
    assert data["start"] == "2026-06-01T12:00:00Z" and data["end"] == "2026-06-02T12:00:00Z"
    by_name = {s["name"]: s for s in data["schedules"]}
    assert by_name["backup"]["fires"] == 1 and by_name["nightly"]["fires"] == 1
    assert by_name["poll"]["fires"] == 288
    assert "restock" in data["hidden"]
    midnight = next(b for b in data["buckets"] if b["start"] == "2026-06-02T00:00:00Z")
    assert midnight["collision"] and midnight["peak"] == 3  # nightly, report, poll
    assert data["collisions"][0]["at"] == "2026-06-02T00:00:00Z"
    assert sum(b["fires"] for b in data["buckets"]) == sum(s["fires"] for s in data["schedules"])
    assert state_files(config.parent) == []


def test_calendar_without_tz_draws_its_axis_in_the_zone_it_names_the_files(
    config: Path,
) -> None:
    config.write_text(SCHEDULES.replace("timezone: UTC", "timezone: Europe/Berlin", 1))
    window = ("calendar", "--from", "2026-06-01T12:00:00Z", "--window", "3d", "--bucket", "1d")
    code, out, err = invoke(config, *window, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["timezone"] == "Europe/Berlin"
    # days from Berlin's midnight, the first one holding the window's start
    assert [b["start"] for b in data["buckets"]] == [
        "2026-05-31T22:00:00Z", "2026-06-01T22:00:00Z", "2026-06-02T22:00:00Z",
    ]  # fmt: skip
    assert data["buckets"][1]["local"] == "2026-06-02T00:00:00+02:00"
    code, out, _ = invoke(config, *window, columns=120)
    assert code == 0
    assert "2026-06-01 00:00 to 2026-06-04 00:00 Europe/Berlin" in out
    code, out, _ = invoke(config, *window, "--tz", "UTC", "--json")
    data = json.loads(out)
    assert data["timezone"] == "UTC" and data["buckets"][1]["start"] == "2026-06-02T00:00:00Z"


def test_calendar_human(config: Path) -> None:
    code, out, _ = invoke(config, "calendar", "--from", "2026-06-01T12:00:00Z", "--window", "7d")
    assert code == 0
    assert "backup" in out and "Collisions" in out and "fires" in out


NEW_YORK_DAILY = """\
scheduler:
  timezone: America/New_York
schedules:
  late:
    command: ["true"]
    schedule: {daily: "00:30"}
  hourly:
    command: ["true"]
    schedule: "0 * * * *"
"""


@pytest.mark.parametrize(
    ("start", "midnights"),
    [
        # New York skips 02:00-03:00 on Sunday 2026-03-08: that day is 23 hours long
        ("2026-03-06T12:00:00Z", ["03-06T05", "03-07T05", "03-08T05", "03-09T04", "03-10T04"]),
        # and repeats 01:00-02:00 on Sunday 2026-11-01: that day is 25 hours long
        ("2026-10-30T12:00:00Z", ["10-30T04", "10-31T04", "11-01T04", "11-02T05", "11-03T05"]),
    ],
)
def test_calendar_days_are_the_local_days_of_its_zone_across_a_dst_change(
    config: Path, start: str, midnights: list[str]
) -> None:
    config.write_text(NEW_YORK_DAILY)
    window = ("calendar", "--from", start, "--window", "5d", "--bucket", "1d")
    code, out, err = invoke(config, *window, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [b["start"][5:13] for b in data["buckets"]] == midnights
    assert {b["local"][11:19] for b in data["buckets"]} == {"00:00:00"}
    by_name = {s["name"]: s for s in data["schedules"]}
    assert by_name["late"]["counts"] == [1, 1, 1, 1, 1]  # once a day, every day
    hours = by_name["hourly"]["counts"]
    assert hours[2] == (23 if start.startswith("2026-03") else 25)
    assert [h for i, h in enumerate(hours) if i != 2] == [24, 24, 24, 24]
    code, out, _ = invoke(config, *window, columns=120)
    assert code == 0
    assert next(line for line in out.splitlines() if line.startswith("late")).split()[1:] == [
        "●●●●●",
        "5",
    ]


def test_calendar_hours_follow_the_local_clock_on_the_night_it_skips_an_hour(
    config: Path,
) -> None:
    config.write_text(NEW_YORK_DAILY)
    window = ("calendar", "--from", "2026-03-08T05:00:00Z", "--window", "24h", "--bucket", "1h")
    code, out, err = invoke(config, *window, "--json")
    assert code == 0, err
    data = json.loads(out)
    hourly = next(s for s in data["schedules"] if s["name"] == "hourly")
    # 23 columns, 00:00 to 23:00 of the local clock; 02:00 never happens that night, so
    # it has no column (not an empty one sharing 03:00's instant)
    assert hourly["counts"] == [1] * 23
    assert data["end"] == "2026-03-09T04:00:00Z"  # the next local midnight
    starts = [b["start"] for b in data["buckets"]]
    assert len(set(starts)) == len(starts) == 23
    assert (data["buckets"][2]["start"], data["buckets"][2]["local"][11:16]) == (
        "2026-03-08T07:00:00Z",
        "03:00",
    )
    code, out, _ = invoke(config, *window, columns=120)
    assert out.splitlines()[2].split() == ["00", "06", "12", "18"]  # the axis: local hours


def test_schema_is_json(config: Path) -> None:
    pytest.importorskip("unoschedule.config.schema")
    code, out, _ = invoke(config, "schema")
    assert code == 0
    assert isinstance(json.loads(out), dict)


# -- a real process ------------------------------------------------------------------------


def test_subprocess_smoke(config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    base = [sys.executable, "-m", "unoschedule", "-c", str(config)]
    done = subprocess.run(
        [*base, "next-runs", "backup", "--count", "3", "--from", "2026-03-28T00:00:00Z", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[1] == "2026-03-29T01:00:00Z"
    done = subprocess.run(
        [*base, "status", "bakup"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: no schedule named 'bakup'; did you mean 'backup'?"
    ]
    done = subprocess.run([*base, "nonsense"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert state_files(config.parent) == []


def test_an_unreachable_redis_is_one_line_without_its_password_and_never_a_file(
    config: Path,
) -> None:
    url = "redis://:s3cret@127.0.0.1:1/0"  # nothing listens on port 1
    config.write_text(
        SCHEDULES.replace("  timezone: UTC\n", f"  timezone: UTC\n  storage: {url}\n")
    )
    for args in (("status", "backup"), ("pause", "backup"), ("run",)):
        code, _, err = invoke(config, *args)
        assert code == 1, args
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("error: cannot reach Redis at redis://:***@127.0.0.1:1/0")
        assert "s3cret" not in err
    code, out, _ = invoke(config, "next-runs", "backup", "--count", "1", "--json", "--from",
                          "2026-01-01T00:00:00Z")  # fmt: skip
    assert code == 0 and len(json.loads(out)) == 1  # the file alone answers
    code, _, _ = invoke(config, "status", "backup", state=config.parent / "local.db")
    assert code == 0  # an explicit --state FILE wins over scheduler.storage
    assert state_files(config.parent) == []  # and a read-only command creates nothing


def test_version_prints_the_package_version_and_no_command_is_a_usage_error(
    config: Path,
) -> None:
    from unoschedule import __version__

    code, out, _ = invoke(config, "--version")
    assert (code, out.strip()) == (0, f"uno-schedule {__version__}")
    code, out, err = invoke(config)
    assert code == 2
    assert "Commands" in out + err and "next-runs" in out + err

"""Piped output is plain everywhere (no colour, no boxes, no wrapping at any width), and
every duration a command prints carries its unit. The pipes are real: each command runs
in a process of its own with its stdout a pipe and a terminal width of 80 columns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from unoschedule.explain import _from_run

ROOT = Path(__file__).resolve().parent.parent
BOXES = set("┏┃┡│└─━╇┳┩")


def piped(folder: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env.update(COLUMNS="80", LINES="24", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "unoschedule", "-c", "schedules.example.yaml", *args],
        cwd=folder,
        capture_output=True,  # stdout is a pipe
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def example(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "schedules.example.yaml", tmp_path)
    return tmp_path


def test_plan_through_a_pipe_never_wraps_a_line(tmp_path: Path) -> None:
    text = piped(example(tmp_path), "plan")
    assert "\x1b[" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) > 80  # drawn whole, not cut at the width
    for i, line in enumerate(lines):
        if "next runs after" in line:
            following = lines[i + 1] if i + 1 < len(lines) else ""
            assert line.rstrip().endswith("UTC") and not following.startswith("UTC"), line


def test_top_once_through_a_pipe_is_plain_rows(tmp_path: Path) -> None:
    text = piped(example(tmp_path), "top", "--once")
    assert "\x1b[" not in text and not BOXES & set(text)
    lines = text.splitlines()
    assert "schedule\tnext run\tlast result" in lines
    assert "schedule\tfinished\tresult\ttrigger\tduration\terror" in lines


def test_top_through_a_pipe_prints_one_snapshot_and_ends(tmp_path: Path) -> None:
    text = piped(example(tmp_path), "top")
    assert not BOXES & set(text) and "next due" in text


def test_top_shows_durations_with_their_unit() -> None:
    from unoschedule.cli.ops import _top_sections

    now = "2026-03-01T00:00:00Z"
    data = {
        "counts": {"active": 1},
        "leader": None,
        "epoch": None,
        "now": now,
        "running": [
            {"schedule": "a", "run_id": "r", "result": "running", "trigger": "schedule",
             "attempt": 1, "seconds": 0.00399}
        ],
        "next": [],
        "recent": [
            {"schedule": "a", "finished_at": now, "result": "success", "trigger": "schedule",
             "duration": 75.2, "error": ""}
        ],
    }  # fmt: skip
    _, _, sections = _top_sections(data, UTC)
    assert sections[0][2][0][-1] == "4 ms"
    assert sections[2][2][0][4] == "1m 15s"


def test_explain_says_how_long_a_run_took_with_its_unit() -> None:
    run = SimpleNamespace(
        error=None,
        trigger="schedule",
        event=None,
        attempt=1,
        duration=0.00543,
        result="success",
        run_id="r",
        scheduled_time=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert _from_run(run)["detail"] == "took 5 ms"  # type: ignore[arg-type]


def test_top_through_a_pipe_names_the_leader_and_its_epoch_on_its_first_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from unoschedule.cli import output
    from unoschedule.cli.ops import _top_plain

    data = {
        "counts": {"active": 10, "paused": 1},
        "leader": "vm:5329",
        "epoch": 1,
        "now": "2026-12-02T16:44:46Z",
        "running": [],
        "next": [],
        "recent": [],
    }
    monkeypatch.setattr(output, "is_plain", lambda: True)
    _top_plain(data, UTC)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        "uno-schedule  2026-12-02 16:44:46 UTC  10 active, 1 paused  leader vm:5329 (epoch 1)"
    )


def test_top_shows_each_schedules_instants_in_its_own_zone() -> None:
    from zoneinfo import ZoneInfo

    from unoschedule.cli.ops import _top_sections

    data = {
        "counts": {"active": 2},
        "leader": "vm:1",
        "epoch": 1,
        "now": "2026-12-02T16:00:00Z",
        "running": [],
        "next": [
            {"schedule": "berlin", "next_run": "2026-12-03T01:30:00Z", "last_result": None},
            {"schedule": "plain", "next_run": "2026-12-03T01:30:00Z", "last_result": None},
        ],
        "recent": [],
        "zones": {"berlin": ZoneInfo("Europe/Berlin")},
    }
    _, _, sections = _top_sections(data, UTC)
    berlin, plain = sections[1][2]
    assert berlin[1].startswith("2026-12-03 02:30 CET")
    assert plain[1].startswith("2026-12-03 01:30 UTC")

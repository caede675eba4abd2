"""Tables that fit a terminal: at 80 and 120 columns each row is one line and no cell is
cut inside a word (columns dropped or prose shortened by priority, ``-o wide`` for all),
run ids shortened to a prefix no other run shares and taken back wherever an id is,
``list``'s next and last runs, and ``explain``'s folded occurrences."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_cli_shell import LONG, SCHEDULES, invoke, make_state

from unoschedule.cli import output
from unoschedule.cli.fitting import Column, fit, shorten
from unoschedule.cli.ops import fold_occurrences
from unoschedule.errors import UnoScheduleError
from unoschedule.ids import resolve_run_id, short_run_ids
from unoschedule.store.sqlite import SQLiteStorage

RULE = re.compile(r"^[─━ ]+$")


#: A name as long as names get (the file of ``test_cli_shell`` has one of 160 characters,
#: longer than any terminal: it is shown whole and its row is as long as it is).
NAME = "nightly-database-backup-offsite"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(SCHEDULES.replace(LONG.rstrip("-"), NAME))
    return path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout is a terminal (the CLI draws fitted tables, not plain rows)."""
    monkeypatch.setattr(output, "is_plain", lambda: False)


def rows_of(out: str) -> list[str]:
    """The table lines of ``out`` (the header rule left out)."""
    return [line for line in out.splitlines() if line.strip() and not RULE.match(line)]


# -- the one owner of column fitting ---------------------------------------------------------


def test_a_column_of_higher_drop_goes_first_and_drop_zero_always_stays() -> None:
    columns = [Column("name"), Column("type", drop=2), Column("zone", drop=1), Column("x")]
    cells = [["berlin-nightly-cleanup", "cron", "Europe/Berlin", "success"]]
    assert fit(columns, cells, 200)[0] == [0, 1, 2, 3]
    kept, widths = fit(columns, cells, 22 + 13 + 7 + 6)  # no room for "type"
    assert kept == [0, 2, 3] and widths == [22, 13, 7]
    assert fit(columns, cells, 10)[0] == [0, 3]  # too narrow for all: never below drop 0
    assert fit(columns, cells, None) == ([0, 1, 2, 3], [22, 4, 13, 7])  # -o wide


def test_prose_is_shortened_at_a_word_boundary_before_a_column_is_dropped() -> None:
    text = "At 09:00 on Monday through Friday, Europe/Berlin"
    columns = [Column("name"), Column("schedule", drop=1, shorten=True)]
    kept, widths = fit(columns, [["backup", text]], 40)
    assert kept == [0, 1] and widths == [6, 40 - 6 - 3]
    short = shorten(text, widths[1])
    assert short == "At 09:00 on Monday through…"
    assert all(word in text.split() for word in short.rstrip("…").split())
    assert fit(columns, [["backup", text]], 20)[0] == [0]  # less than a few words: dropped


# -- the commands at 80 and 120 columns ------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120])
def test_list_history_status_and_stats_rows_fit_the_terminal_with_every_word_whole(
    config: Path, terminal: None, width: int
) -> None:
    state = make_state(config)
    for argv in (["list"], ["history", "backup"], ["status", "backup"], ["stats"]):
        code, out, err = invoke(config, *argv, state=state, env={"COLUMNS": str(width)})
        assert code == 0, err
        lines = rows_of(out)
        assert lines and max(len(line) for line in lines) <= width, (argv, out)
        if argv == ["list"]:
            names = [line.split()[0] for line in lines[1:]]
            assert names == ["backup", NAME, "poll", "restock"]
        if argv[0] == "history":
            runs = lines[2 : lines.index(next(x for x in lines if x.strip() == "pauses"))]
            ids = [line.split()[0] for line in runs]  # after the title and header
            assert len(ids) == 30 and all(re.fullmatch(r"r\d{4}", i) for i in ids), out
        if argv[0] == "status":
            assert "Europe/Berlin" in out.split()


def test_list_at_80_columns_keeps_name_status_time_left_and_result_and_wide_shows_all(
    config: Path, terminal: None
) -> None:
    state = make_state(config)
    code, out, _ = invoke(config, "list", state=state, env={"COLUMNS": "80"})
    header = rows_of(out)[0].split()
    assert {"name", "status", "left", "result"} <= set(header)
    assert "type" not in header and "schedule" not in header
    code, out, _ = invoke(config, "list", "-o", "wide", state=state, env={"COLUMNS": "80"})
    header = rows_of(out)[0].split()
    assert header[:4] == ["name", "type", "schedule", "status"] and "last" in header
    assert "At 04:00 every day" in out  # prose whole in -o wide
    assert header[-1] == "description" and "Nightly backup of /etc to the NAS" in out
    code, _, err = invoke(config, "list", "-o", "tall", state=state)
    assert code == 2 and "'tall' is not an output format" in err


def test_piped_tables_are_plain_rows_with_every_column(config: Path) -> None:
    state = make_state(config)
    code, out, _ = invoke(config, "history", "backup", state=state, env={"COLUMNS": "40"})
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("\t")[0] == "run" and len(lines[0].split("\t")) == 8
    assert lines[1].split("\t")[0] == "r0001"  # whole ids for scripts
    assert not any(ch in out for ch in "─│┃━")


# -- list: last and passed, no promise while nothing runs ------------------------------------


def test_list_shows_when_the_last_run_started_and_how_long_ago(
    config: Path, terminal: None
) -> None:
    state = make_state(config)
    code, out, _ = invoke(config, "list", "-o", "wide", state=state, env={"COLUMNS": "200"})
    assert code == 0
    backup = next(line for line in rows_of(out) if line.startswith("backup "))
    # the run finished last started 30 hours ago (make_state), shown in the schedule's zone
    started = (datetime.now(UTC) - timedelta(hours=30)).astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{started:%Y-%m-%d %H:%M}" in backup and " CE" in backup, backup
    assert "1d 6h ago" in backup, backup


def test_before_the_first_run_list_promises_no_next_run_paused_or_active(config: Path) -> None:
    state = config.parent / "state.db"
    assert invoke(config, "pause", "backup", "--reason", "disk swap", state=state)[0] == 0
    code, out, err = invoke(config, "list", state=state)
    assert code == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert rows["backup"][3].startswith("paused") and rows["backup"][4:6] == ["-", "-"]
    assert rows["poll"][4:6] == ["not running", "-"]
    assert rows["restock"][4] == "on event"
    assert "scheduler not running" in err


# -- run ids: shortened, and a prefix is taken wherever an id is -----------------------------


def _store_with(tmp_path: Path, ids: list[str]) -> SQLiteStorage:
    from unoschedule.model import RunRecord

    store = SQLiteStorage(tmp_path / "ids.db")
    for run_id in ids:
        at = datetime(2026, 3, 1, tzinfo=UTC)
        store.enqueue(RunRecord(run_id=run_id, schedule="a", scheduled_time=at, queued_at=at))
    return store


def test_a_run_id_is_shortened_to_the_least_prefix_no_other_run_shares(tmp_path: Path) -> None:
    ids = [
        "19abc0001aaaaaaaa01",
        "19abc0001aaaaaaab02",
        "19abc0009ffffffff03",
        "2000000000000000000",
    ]
    store = _store_with(tmp_path, ids)
    try:
        # the first two share 16 characters, the third only 8 with them: 9 tell it apart
        short = short_run_ids(store.run_ids_starting, [ids[0], ids[2], ids[3]])
        assert short == {ids[0]: ids[0][:17], ids[2]: ids[2][:9], ids[3]: ids[3][:8]}
    finally:
        store.close()


def test_a_unique_prefix_resolves_and_an_ambiguous_one_lists_the_candidates(
    tmp_path: Path,
) -> None:
    ids = ["19abc0001aaaaaaaa01", "19abc0001aaaaaaab02", "19abc0009ffffffff03"]
    store = _store_with(tmp_path, ids)
    try:
        assert resolve_run_id(store.run_ids_starting, "19abc0009") == ids[2]
        assert resolve_run_id(store.run_ids_starting, ids[0]) == ids[0]
        with pytest.raises(UnoScheduleError) as ambiguous:
            resolve_run_id(store.run_ids_starting, "19abc000")
        message = str(ambiguous.value)
        assert "\n" not in message and "ambiguous" in message
        assert all(i in message for i in ids)
        with pytest.raises(UnoScheduleError, match="a has no run '7'"):
            resolve_run_id(store.run_ids_starting, "7", "a")
    finally:
        store.close()


def test_logs_takes_a_unique_prefix_of_a_run_id_and_refuses_an_ambiguous_one(
    config: Path,
) -> None:
    state = make_state(config)  # runs r0001 .. r0030
    code, _, err = invoke(config, "logs", "backup", "r0003", state=state)
    assert code == 0, err
    code, _, err = invoke(config, "logs", "backup", "r001", state=state)
    assert code == 1 and "ambiguous" in err and "r0010" in err and "r0011" in err
    assert len(err.strip().splitlines()) == 1


def test_the_note_of_logs_starts_its_own_line_after_output_without_a_final_newline(
    config: Path, terminal: None
) -> None:
    import sqlite3

    state = make_state(config)
    conn = sqlite3.connect(state)
    assert conn.execute("UPDATE runs SET output = 'done' WHERE run_id = 'r0003'").rowcount == 1
    conn.commit()
    conn.close()
    code, out, err = invoke(config, "logs", "backup", "r0003", state=state)
    assert code == 0 and out == "done"
    assert err.startswith("\nnote: only the end of run r0003"), err


# -- explain: runs of one outcome folded -----------------------------------------------------


def test_explain_folds_consecutive_occurrences_of_one_outcome_without_a_run() -> None:
    def row(minute: int, outcome: str, run_id: str | None = None, detail: str = "d") -> Any:
        at = f"2026-03-01T00:{minute:02d}:00Z"
        return {"scheduled_time": at, "outcome": outcome, "run_id": run_id, "detail": detail}

    rows = [row(0, "not_due"), row(5, "not_due"), row(10, "not_due"),
            row(15, "success", "r1"), row(20, "success", "r2"), row(25, "missed"),
            row(30, "missed", detail="other")]  # fmt: skip
    folded = [(a["scheduled_time"][14:16], b["scheduled_time"][14:16], n)
              for a, b, n in fold_occurrences(rows)]  # fmt: skip
    assert folded == [("00", "10", 3), ("15", "15", 1), ("20", "20", 1), ("25", "25", 1),
                      ("30", "30", 1)]  # fmt: skip


def test_explain_of_a_new_five_minute_job_over_a_day_is_one_line_in_the_zone(
    tmp_path: Path, terminal: None
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        'schedules:\n  tick:\n    command: ["true"]\n    schedule: "*/5 * * * *"\n'
        "    timezone: Europe/Berlin\n"
    )
    state = tmp_path / "state.db"
    assert invoke(config, "pause", "tick", state=state)[0] == 0
    assert invoke(config, "resume", "tick", state=state)[0] == 0
    code, out, err = invoke(config, "explain", "tick", state=state, env={"COLUMNS": "120"})
    assert code == 0, err
    body = rows_of(out)[2:]  # after the title and the header
    assert len(body) == 1, out
    assert " 288 " in body[0] or " 287 " in body[0] or " 289 " in body[0]
    assert "CET" in body[0] and "before it was first seen (" in body[0]
    assert not re.search(r"\d\.\d{6}|T\d\d:\d\dZ", body[0])  # no microseconds, no raw ISO
    code, out, _ = invoke(config, "explain", "tick", "--json", state=state)
    assert len(json.loads(out)) >= 287


def test_explain_of_a_new_job_at_80_columns_says_why_in_whole_words(
    tmp_path: Path, terminal: None
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text('schedules:\n  tick:\n    command: ["true"]\n    schedule: "*/5 * * * *"\n')
    state = tmp_path / "state.db"
    assert invoke(config, "pause", "tick", state=state)[0] == 0
    assert invoke(config, "resume", "tick", state=state)[0] == 0
    code, out, err = invoke(config, "explain", "tick", state=state, env={"COLUMNS": "80"})
    assert code == 0, err
    body = rows_of(out)[2:]
    assert len(body) == 1 and len(body[0]) <= 80, out
    assert body[0].rstrip().endswith("before it was first seen…"), out


def test_a_span_within_one_year_writes_the_year_once() -> None:
    span = output.when_range("2026-12-01T16:40:00Z", "2026-12-02T16:35:00Z", ZoneInfo("UTC"))
    assert span == "2026-12-01 16:40 - 12-02 16:35 UTC"
    across = output.when_range("2026-12-31T23:00:00Z", "2027-01-01T01:00:00Z", ZoneInfo("UTC"))
    assert across == "2026-12-31 23:00 - 2027-01-01 01:00 UTC"


def test_shortened_prose_drops_a_closing_aside_whole_and_never_halves_an_instant() -> None:
    text = "before it was first seen (2026-12-02 16:37:40 GMT)"
    assert shorten(text, 30) == "before it was first seen…"
    paused = "paused by root@vm at 2026-12-02 16:38:12 GMT: disk swap"
    assert shorten(paused, 40) == "paused by root@vm at…"
    assert shorten(paused, 46) == "paused by root@vm at 2026-12-02 16:38:12 GMT…"
    assert shorten("Once at 2027-03-01 09:00 GMT", 26) == "Once at 2027-03-01 09:00…"


def test_the_header_of_top_fits_80_columns_with_a_leader_named(
    monkeypatch: pytest.MonkeyPatch, terminal: None
) -> None:
    from rich.console import Console

    from unoschedule.cli import ops

    data: dict[str, Any] = {
        "now": "2026-12-02T16:39:41Z",
        "counts": {"active": 10, "paused": 1},
        "leader": "build-host-01.example.com:5329",
        "epoch": 12,
        "running": [],
        "next": [],
        "recent": [],
    }
    for width in (80, 120):
        monkeypatch.setenv("COLUMNS", str(width))
        con = Console(width=width, record=True, force_terminal=False)
        con.print(ops._top_view(data, ZoneInfo("UTC")))
        lines = con.export_text().splitlines()
        first = lines[0]
        assert "leader build-host-01.example.com:5329" in first
        assert "2026-12-02 16:39:41 UTC" in first
        assert len(first) <= width and "running and queued" in lines[1], lines
    assert "uno-schedule" in first and "(epoch 12)" in first  # at 120 there is room


def test_explain_of_a_paused_occurrence_at_80_columns_keeps_the_reason(
    tmp_path: Path, terminal: None
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text('schedules:\n  tick:\n    command: ["true"]\n    schedule: "* * * * *"\n')
    state = tmp_path / "state.db"
    assert invoke(config, "pause", "tick", "--reason", "disk swap", state=state)[0] == 0
    import sqlite3

    conn = sqlite3.connect(state)  # the pause began 5 minutes ago
    (at,) = conn.execute("SELECT paused_at FROM pauses WHERE reason = 'disk swap'").fetchone()
    began = datetime.fromisoformat(at.replace("Z", "+00:00")) - timedelta(minutes=5)
    conn.execute("UPDATE pauses SET paused_at = ?", (at.replace(at[:19], began.isoformat()[:19]),))
    conn.commit()
    conn.close()
    code, out, err = invoke(config, "explain", "tick", "--since", "4m", state=state,
                            env={"COLUMNS": "80"})  # fmt: skip
    assert code == 0, err
    paused = [line for line in rows_of(out) if " paused " in line]
    assert paused and all(line.rstrip().endswith("disk swap…") for line in paused), out


def test_a_note_longer_than_the_terminal_goes_on_at_a_space(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    note = (
        "note: scheduler not running (it has never run with this state); nothing fires "
        "until it starts"
    )
    monkeypatch.setattr(output, "_stderr_columns", lambda: 80)
    output.err(note)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert " ".join(line.strip() for line in lines) == note
    monkeypatch.setattr(output, "_stderr_columns", lambda: None)  # piped: one line
    output.err(note)
    assert capsys.readouterr().err == note + "\n"


def test_a_column_with_nothing_in_it_goes_first_when_the_table_is_tight() -> None:
    columns = [Column("when"), Column("run", drop=1), Column("detail", drop=2, shorten=True)]
    cells = [["2026-12-02 16:40 GMT", "", "before it was first seen (2026-12-02 16:37:40 GMT)"]]
    kept, widths = fit(columns, cells, 50)
    assert kept == [0, 2] and widths[1] == 50 - 20 - 3
    kept, _ = fit(columns, cells, 200)  # room for all: nothing goes
    assert kept == [0, 1, 2]


def test_explain_at_80_columns_keeps_the_run_ids_and_shortens_the_detail(
    tmp_path: Path, terminal: None
) -> None:
    from unoschedule.model import RunRecord
    from unoschedule.records import Finish

    config = tmp_path / "schedules.yaml"
    config.write_text('schedules:\n  tick:\n    command: ["true"]\n    schedule: "* * * * *"\n')
    state = tmp_path / "state.db"
    assert invoke(config, "pause", "tick", state=state)[0] == 0
    assert invoke(config, "resume", "tick", state=state)[0] == 0
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    store = SQLiteStorage(state)
    runs = [
        RunRecord(run_id=f"run{i}", schedule="tick", scheduled_time=minute - timedelta(minutes=i),
                  queued_at=minute - timedelta(minutes=i), result="queued")
        for i in (2, 4)
    ]  # fmt: skip
    for run in runs:
        store.enqueue(run)
    store.start_runs([(r.run_id, r.scheduled_time, 1) for r in runs])
    store.finish_runs(
        [Finish(r.run_id, "success", r.scheduled_time + timedelta(milliseconds=9)) for r in runs]
    )
    store.close()
    code, out, err = invoke(config, "explain", "tick", "--since", "5m", "--tz", "UTC",
                            state=state, env={"COLUMNS": "80"})  # fmt: skip
    assert code == 0, err
    header = rows_of(out)[1]
    assert header.split()[:5] == ["scheduled", "count", "outcome", "run", "detail"], out
    assert any(" run2 " in line for line in rows_of(out)[2:]), out
    assert any("before it was first" in line for line in rows_of(out)[2:]), out

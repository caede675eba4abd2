"""Blackout windows: occurrences inside one are recorded ``skipped`` with the window's
name, or run once at its end (``defer: true``); the run loop (under an injected clock),
``next-runs --json`` and ``explain --json`` on the command line say the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_loop import Harness, T, run
from typer.testing import CliRunner

from unoschedule.cli import app
from unoschedule.config import load_config, parse_config
from unoschedule.errors import ConfigErrors

FILE = """\
scheduler:
  blackout:
    - {name: weekend-maintenance, when: "Sat 22:00 for 6h"}
templates:
  frozen:
    blackout: [{name: release-freeze, from: 2099-06-10, to: 2099-06-11}]
schedules:
  hourly:
    schedule: "0 * * * *"
    command: "true"
  nightly:
    schedule: {daily: "23:00"}
    command: "true"
    blackout: [{name: deploys, when: "Fri 22:00 for 6h", defer: true}]
  frozen-job:
    template: frozen
    schedule: {daily: "12:00"}
    command: "true"
"""


def _harness(tmp_path: Path, start: str) -> tuple[Harness, Path]:
    path = tmp_path / "schedules.yaml"
    path.write_text(FILE)
    config = load_config(path)
    h = Harness(tmp_path, list(config.schedules.values()))
    h.clock.set(T(start))
    return h, path


def _cli(config: Path, state: Path, *args: str) -> str:
    env = {"UNO_SCHEDULE_CONFIG": None, "UNO_SCHEDULE_STATE": None, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["-c", str(config), "--state", str(state), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_occurrences_inside_a_file_wide_window_are_recorded_skipped_with_its_name(
    tmp_path: Path,
) -> None:
    h, config = _harness(tmp_path, "2026-06-06T20:59:00Z")  # a Saturday

    async def go() -> None:
        h.start()
        for hour in ["21", "22", "23"]:
            await h.at(f"2026-06-06T{hour}:00:00Z")
        for hour in ["00", "01", "02", "03", "04"]:
            await h.at(f"2026-06-07T{hour}:00:00Z")

    run(go)
    assert [r[0] + " " + r[3] for r in h.history("hourly")] == [
        "00:00 skipped", "01:00 skipped", "02:00 skipped", "03:00 skipped", "04:00 success",
        "21:00 success", "22:00 skipped", "23:00 skipped",
    ]  # fmt: skip
    skipped = [r for r in h.store.history("hourly", limit=100) if r.result == "skipped"]
    assert {r.error for r in skipped} == {"skipped by blackout weekend-maintenance"}
    started = [c[1] for c in h.executor.calls if c[0] == "hourly"]
    assert started == [T("2026-06-06T21:00:00Z"), T("2026-06-07T04:00:00Z")]

    rows = json.loads(
        _cli(
            config, h.path, "explain", "hourly", "--json",
            "--since", "2026-06-06T21:00:00Z", "--until", "2026-06-07T04:00:00Z",
        )
    )  # fmt: skip
    assert [(r["scheduled_time"][11:16], r["outcome"]) for r in rows] == [
        ("21:00", "success"), ("22:00", "skipped"), ("23:00", "skipped"), ("00:00", "skipped"),
        ("01:00", "skipped"), ("02:00", "skipped"), ("03:00", "skipped"), ("04:00", "success"),
    ]  # fmt: skip
    assert rows[1]["detail"] == "skipped by blackout weekend-maintenance"


def test_a_deferred_occurrence_runs_once_at_the_windows_end(tmp_path: Path) -> None:
    h, config = _harness(tmp_path, "2026-06-05T22:59:00Z")  # a Friday

    async def go() -> None:
        h.start()
        await h.at("2026-06-05T23:00:00Z")
        assert [c for c in h.executor.calls if c[0] == "nightly"] == []
        (queued,) = h.store.history("nightly", limit=10)
        assert queued.result == "queued" and queued.queued_at == T("2026-06-06T04:00:00Z")
        await h.at("2026-06-06T03:59:59Z")
        assert [c for c in h.executor.calls if c[0] == "nightly"] == []
        await h.at("2026-06-06T04:00:00Z")

    run(go)
    assert [c[:2] for c in h.executor.calls if c[0] == "nightly"] == [
        ("nightly", T("2026-06-05T23:00:00Z"))
    ]
    (done,) = h.store.history("nightly", limit=10)
    assert done.result == "success" and done.started_at == T("2026-06-06T04:00:00Z")
    rows = json.loads(
        _cli(
            config, h.path, "explain", "nightly", "--json",
            "--since", "2026-06-05T12:00:00Z", "--until", "2026-06-06T12:00:00Z",
        )
    )  # fmt: skip
    assert [(r["scheduled_time"], r["outcome"]) for r in rows] == [
        ("2026-06-05T23:00:00Z", "success")
    ]
    assert "deferred by blackout deploys to 2026-06-06T04:00:00Z" in rows[0]["detail"]


def test_next_runs_leave_out_skipped_occurrences_and_show_deferred_ones_at_the_end(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(FILE)
    state = tmp_path / "none.db"
    hourly = json.loads(
        _cli(config, state, "next-runs", "hourly", "--json", "--count", "3",
             "--from", "2026-06-06T20:30:00Z")
    )  # fmt: skip
    assert hourly == ["2026-06-06T21:00:00Z", "2026-06-07T04:00:00Z", "2026-06-07T05:00:00Z"]
    nightly = json.loads(
        _cli(config, state, "next-runs", "nightly", "--json", "--count", "3",
             "--from", "2026-06-05T12:00:00Z")
    )  # fmt: skip
    # Friday's 23:00 runs at the deferring window's end; Saturday's is in the file's
    # weekend window (not deferred): skipped
    assert nightly == ["2026-06-06T04:00:00Z", "2026-06-07T23:00:00Z", "2026-06-08T23:00:00Z"]
    frozen = json.loads(
        _cli(config, state, "next-runs", "frozen-job", "--json", "--count", "2",
             "--from", "2099-06-09T13:00:00Z")
    )  # fmt: skip
    assert frozen == ["2099-06-12T12:00:00Z", "2099-06-13T12:00:00Z"]  # the template's window


def test_explain_says_a_future_occurrence_will_be_skipped_by_the_window(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(FILE)
    rows = json.loads(
        _cli(
            config, tmp_path / "none.db", "explain", "frozen-job", "--json",
            "--since", "2099-06-09T00:00:00Z", "--until", "2099-06-10T23:00:00Z",
        )
    )  # fmt: skip
    assert [(r["scheduled_time"], r["outcome"], r["detail"]) for r in rows] == [
        ("2099-06-09T12:00:00Z", "not_due", "in the future"),
        (
            "2099-06-10T12:00:00Z",
            "not_due",
            "in the future; will be skipped by blackout release-freeze",
        ),
    ]


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("Sat 25:00 for 6h", "25:00 is not a time of day"),
        ("Sot 22:00 for 6h", "unknown day of week 'sot'"),
        ("2026-06-10..2026-06-01", "ends before it starts"),
        ("whenever", "is not a blackout window"),
    ],
)
def test_validate_refuses_a_malformed_window_at_its_position(window: str, message: str) -> None:
    text = (
        "schedules:\n  x:\n    schedule: '0 1 * * *'\n    command: 'true'\n"
        f"    blackout: ['{window}']\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text, "f.yaml")
    (error,) = caught.value.errors
    assert str(error).startswith("f.yaml:5:16: ") and message in str(error)


def test_the_library_takes_windows_with_the_files_rules_and_messages(tmp_path: Path) -> None:
    import asyncio

    from unoschedule import Scheduler

    async def go() -> list[str]:
        scheduler = Scheduler(storage=str(tmp_path / "s.db"), blackout=["Sat 22:00 for 6h"])
        try:
            with pytest.raises(ConfigErrors, match="unknown day of week 'sot'"):
                await scheduler.schedule(
                    command="true", schedule="0 * * * *", name="x", blackout=["Sot 1:00 for 1h"]
                )
            await scheduler.schedule(command="true", schedule="0 * * * *", name="x")
            with pytest.raises(ConfigErrors, match="roll moves occurrences off a calendar"):
                await scheduler.update_schedule("x", roll="next_business_day")
            return await scheduler.get_next_run_times("x", count=2, after=T("2026-06-06T21:30:00Z"))
        finally:
            scheduler.close()

    assert asyncio.run(go()) == ["2026-06-07T04:00:00Z", "2026-06-07T05:00:00Z"]


def test_next_runs_with_a_state_file_apply_the_windows_too(tmp_path: Path) -> None:
    h, config = _harness(tmp_path, "2026-06-06T20:59:00Z")

    async def go() -> None:
        h.start()  # the state now knows the schedules (the shell reads it)

    run(go)
    _cli(config, h.path, "list")  # records the file's snapshot: the shell then reads the state
    for _ in range(2):
        hourly = json.loads(
            _cli(config, h.path, "next-runs", "hourly", "--json", "--count", "2",
                 "--from", "2026-06-06T21:30:00Z")
        )  # fmt: skip
        assert hourly == ["2026-06-07T04:00:00Z", "2026-06-07T05:00:00Z"]


# -- from/to bounds across a DST change -------------------------------------------------------
#
# New York skips 02:00-03:00 on 2026-03-08 (07:00Z is 03:00 EDT) and repeats 01:00-02:00
# on 2026-11-01 (05:30Z and 06:30Z are both 01:30). A bound the clock skips is the
# instant it jumps; a bound in the repeated hour is its first pass.

EVERY_5M = """\
scheduler:
  timezone: America/New_York
schedules:
  poll:
    schedule: "*/5 * * * *"
    command: "true"
    blackout: [{name: night, from: "FROM", to: "TO"DEFER}]
"""


def _every_5m(tmp_path: Path, start: str, end: str, defer: bool = False) -> Path:
    path = tmp_path / "schedules.yaml"
    text = EVERY_5M.replace("FROM", start).replace("TO", end)
    path.write_text(text.replace("DEFER", ", defer: true" if defer else ""))
    return path


def _loop_runs(tmp_path: Path, config: Path, first: str, last: str) -> list[tuple[str, str]]:
    """(occurrence, start), as ``HH:MM`` UTC, of each run the loop makes on 2026-03-08
    when started at ``first`` and ticked at every five minutes up to ``last``."""
    h = Harness(tmp_path, list(load_config(config).schedules.values()))
    h.clock.set(T(f"2026-03-08T{first}:00Z"))
    hour, minute = map(int, first.split(":"))
    ticks = []
    while True:
        minute += 5 - minute % 5
        hour, minute = hour + minute // 60, minute % 60
        if f"{hour:02d}:{minute:02d}" > last:
            break
        ticks.append(f"2026-03-08T{hour:02d}:{minute:02d}:00Z")

    async def go() -> None:
        h.start()
        for tick in ticks:
            await h.at(tick)

    run(go)
    return sorted(
        (r.scheduled_time.strftime("%H:%M"), r.started_at.strftime("%H:%M"))
        for r in h.store.history("poll", limit=1000)
        if r.result == "success" and r.started_at is not None
    )


def test_a_window_that_ends_in_a_dst_gap_ends_when_the_clock_jumps_for_loop_and_next_runs(
    tmp_path: Path,
) -> None:
    config = _every_5m(tmp_path, "2026-03-08T01:00", "2026-03-08T02:30")  # 06:00Z to 07:00Z
    ran = _loop_runs(tmp_path, config, "05:54", "07:10")
    assert [occurrence for occurrence, _ in ran] == ["05:55", "07:00", "07:05", "07:10"]
    shown = json.loads(
        _cli(config, tmp_path / "none.db", "next-runs", "poll", "--json", "--count", "4",
             "--from", "2026-03-08T05:50:00Z")
    )  # fmt: skip
    assert shown == [
        "2026-03-08T05:55:00Z", "2026-03-08T07:00:00Z",
        "2026-03-08T07:05:00Z", "2026-03-08T07:10:00Z",
    ]  # fmt: skip


def test_a_deferring_window_that_starts_in_a_dst_gap_releases_one_run_at_its_end(
    tmp_path: Path,
) -> None:
    # 02:30 does not exist: the window starts at the jump (07:00Z) and ends at 04:00 EDT
    config = _every_5m(tmp_path, "2026-03-08T02:30", "2026-03-08T04:00", defer=True)
    runs = _loop_runs(tmp_path, config, "06:49", "08:05")
    assert runs == [
        ("06:50", "06:50"), ("06:55", "06:55"),
        ("07:00", "08:00"),  # the first in the window, at its end; the others skipped
        ("08:05", "08:05"),  # (08:00's own: skipped, 07:00's run was still queued)
    ]  # fmt: skip
    shown = json.loads(
        _cli(config, tmp_path / "none.db", "next-runs", "poll", "--json", "--count", "4",
             "--from", "2026-03-08T06:52:00Z")
    )  # fmt: skip
    assert shown == [
        "2026-03-08T06:55:00Z", "2026-03-08T08:00:00Z",
        "2026-03-08T08:05:00Z", "2026-03-08T08:10:00Z",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "end", "covered", "free"),
    [
        # a bound the clock skips is the instant it jumps (07:00Z = 03:00 EDT)
        ("2026-03-08T02:30", "2026-03-08T04:00", ["07:00", "07:59"], ["06:59", "08:00"]),
        ("2026-03-08T01:00", "2026-03-08T02:30", ["06:00", "06:59"], ["05:59", "07:00"]),
        # a bound in the repeated hour is its first pass (05:30Z = 01:30 EDT); the window
        # is the real time between its bounds: not the second pass of 01:30-01:45
        ("2026-11-01T01:30", "2026-11-01T01:45", ["05:30", "05:44"], ["05:29", "05:45", "06:30"]),
        ("2026-11-01T00:00", "2026-11-01T01:30", ["04:00", "05:29"], ["03:59", "05:30", "06:00"]),
    ],
)
def test_a_from_to_bound_in_a_dst_change_is_read_as_cronie_reads_a_fixed_time(
    start: str, end: str, covered: list[str], free: list[str]
) -> None:
    from unoschedule.blackout import blackout_from_config
    from unoschedule.timeutil import get_zone

    zone = get_zone("America/New_York")
    window = blackout_from_config({"name": "w", "from": start, "to": end})

    def at(hhmm: str) -> datetime:
        return datetime.fromisoformat(f"{start[:10]}T{hhmm}:00+00:00")

    spans = {window.cover(at(t), zone) for t in covered}
    assert len(spans) == 1 and None not in spans
    ((begin, close),) = spans
    assert (begin, close - timedelta(minutes=1)) == (at(covered[0]), at(covered[1]))
    assert [window.cover(at(t), zone) for t in free] == [None] * len(free)


def test_a_window_bound_with_an_offset_is_that_instant_in_any_zone(tmp_path: Path) -> None:
    # 07:00Z to 07:30Z is 02:00-02:30 EST in New York: a wall-time reading would put the
    # window at 12:00Z-12:30Z and let the runs the operator meant to stop through
    config = _every_5m(tmp_path, "2026-03-07T07:00:00Z", "2026-03-07T07:30:00+00:00")
    shown = json.loads(
        _cli(config, tmp_path / "none.db", "next-runs", "poll", "--json", "--count", "3",
             "--from", "2026-03-07T06:52:00Z")
    )  # fmt: skip
    assert shown == ["2026-03-07T06:55:00Z", "2026-03-07T07:30:00Z", "2026-03-07T07:35:00Z"]
    later = json.loads(
        _cli(config, tmp_path / "none.db", "next-runs", "poll", "--json", "--count", "2",
             "--from", "2026-03-07T11:57:00Z")
    )  # fmt: skip
    assert later == ["2026-03-07T12:00:00Z", "2026-03-07T12:05:00Z"]


def test_deferring_windows_that_chain_into_one_another_leave_no_run_and_no_crash() -> None:
    # a window every hour lasting two: each occurrence is inside the window before its
    # own, which skips it; none is the first of a window, so none is deferred
    config = parse_config(
        'schedules:\n  j:\n    schedule: "34 * * * *"\n    command: "true"\n'
        "    jitter: 5m\n    jitter_fixed: true\n"
        '    blackout: [{name: w, cron: "34 * * * *", for: 2h, defer: true}]\n'
    )
    timeline = config.schedules["j"].timeline()
    assert timeline.upcoming(datetime(2026, 3, 1, 12, 40, tzinfo=UTC), 3) == []

"""SQLite store: the shared contract, plus what only a file on disk can get wrong."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from store_contract import T0, StoreContract, run, sched

from unoschedule.abc import StateFile, Store
from unoschedule.errors import StateError
from unoschedule.store import open_store
from unoschedule.store import sqlite as sqlite_mod
from unoschedule.store.sqlite import SCHEMA_VERSION, SQLiteStorage, socket_address


class TestSQLiteContract(StoreContract):
    CAPABILITIES = frozenset({StateFile})

    def make_store(self, tmp_path: Path) -> SQLiteStorage:
        return SQLiteStorage(tmp_path / "state.db")


@pytest.mark.parametrize(
    "operation",
    ["clone", "runs_between", "enqueue_unique", "last_successes", "run_totals", "prune_runs"],
)
def test_a_backend_without_an_operation_is_refused_when_made_not_silently_empty(
    operation: str,
) -> None:
    """A backend written from ``Store`` alone must implement each of these: before, the
    interface answered for it (an empty dict, no runs pruned) and hid the gap."""
    complete = {name: getattr(SQLiteStorage, name) for name in Store.__abstractmethods__}
    partial = type("Partial", (Store,), {k: v for k, v in complete.items() if k != operation})
    with pytest.raises(TypeError, match=operation):
        partial()


def test_the_file_hooks_are_no_part_of_the_generic_store() -> None:
    assert not {"check_identity", "reserve_space", "release_reserve"} & set(dir(Store))


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def make_db(path: Path) -> bytes:
    """A real state file with some rows, closed; returns its bytes."""
    s = SQLiteStorage(path)
    lease = s.acquire_lease("i1", 60, T0)
    assert lease is not None
    for i in range(200):
        s.save_schedule(sched(f"s{i:03}", definition={"pad": "x" * 200}))
        assert s.claim(run(f"r{i}", f"s{i:03}", output="y" * 200), f"k{i}", None, epoch=1)
    s.close()
    # fold the WAL into the main file so the file alone is the whole state
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.read_bytes()


# -- files and permissions ------------------------------------------------------------------


def test_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        s = SQLiteStorage(tmp_path / "state.db")
        s.set_meta("k", "v")
        waiter = s.waiter()
        try:
            assert mode(tmp_path / "state.db") == 0o600
            assert mode(tmp_path / "state.db-wal") == 0o600
            assert mode(tmp_path / "state.db-shm") == 0o600
            assert mode(str(tmp_path / "state.db") + ".sock") == 0o600
        finally:
            waiter.close()
            s.close()
    finally:
        os.umask(old)


def test_create_false_on_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(StateError, match=r"no state file at .*nope\.db; start `uno-schedule run`"):
        SQLiteStorage(path, create=False)
    with pytest.raises(StateError, match="no state file"):
        SQLiteStorage(path, readonly=True)
    assert list(tmp_path.iterdir()) == []


def test_reopen_keeps_state_and_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch(mode=0o600)
    s = SQLiteStorage(path)
    s.save_schedule(sched("a"))
    s.close()
    s = SQLiteStorage(path, create=False)
    assert [x.name for x in s.list_schedules()] == ["a"]
    s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_readonly_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    make_db(path)
    ro = SQLiteStorage(path, readonly=True)
    try:
        assert len(ro.list_schedules()) == 200
        with pytest.raises(StateError, match="read-only"):
            ro.set_meta("k", "v")
    finally:
        ro.close()


# -- refusing bad files, and never touching them ------------------------------------------


@pytest.mark.parametrize("create", [True, False])
def test_garbage_file_is_refused_and_untouched(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "state.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(StateError) as info:
        SQLiteStorage(path, create=create)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "not a SQLite database" in message
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_short_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"SQLite format 3\x00abc")
    with pytest.raises(StateError, match="not a SQLite database"):
        SQLiteStorage(path)
    assert path.read_bytes() == b"SQLite format 3\x00abc"


def test_truncated_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    data = make_db(path)
    assert len(data) > 16384
    truncated = data[: len(data) // 2]
    path.write_bytes(truncated)
    with pytest.raises(StateError) as info:
        SQLiteStorage(path)
    assert str(path) in str(info.value) and "untouched" in str(info.value)
    assert path.read_bytes() == truncated


def test_damaged_page_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    data = bytearray(make_db(path))
    page = 4096
    data[3 * page + 8 : 4 * page] = os.urandom(page - 8)  # scribble over a b-tree page
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match="unreadable"):
        SQLiteStorage(path)
    assert path.read_bytes() == bytes(data)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    make_db(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match=r"newer uno-schedule.*upgrade uno-schedule"):
        SQLiteStorage(path)
    assert path.read_bytes() == before


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="another program"):
        SQLiteStorage(path)
    assert path.read_bytes() == before


def test_migration_step_runs_once_with_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    make_db(path)
    calls: list[int] = []

    def v2(db: object) -> None:
        calls.append(1)
        assert type(db).__name__ == "Database"  # the step gets a sqlite-utils Database
        db.execute("ALTER TABLE schedules ADD COLUMN owner TEXT")  # type: ignore[attr-defined]

    monkeypatch.setattr(sqlite_mod, "MIGRATIONS", [*sqlite_mod.MIGRATIONS, v2])
    monkeypatch.setattr(sqlite_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    SQLiteStorage(path).close()
    SQLiteStorage(path).close()
    assert calls == [1]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert "owner" in [r[1] for r in conn.execute("PRAGMA table_info(schedules)")]
    conn.close()
    backup = Path(f"{path}.v{SCHEMA_VERSION}.bak")
    assert backup.exists() and mode(backup) == 0o600


def test_a_version_3_file_keeps_what_each_open_pause_covers(tmp_path: Path) -> None:
    import json

    import sqlite_utils

    from unoschedule.abc import PAUSE_CALLS

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    for step in sqlite_mod.MIGRATIONS[:3]:
        step(db)
    conn.execute(f"PRAGMA application_id = {sqlite_mod.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 3")
    at = "2026-03-01T12:00:00.000000Z"
    for name in ("held", "one", "both", "auto"):
        conn.execute(
            "INSERT INTO schedules (name, definition, status, updated_at) "
            "VALUES (?, '{}', 'paused', ?)",
            (name, at),
        )
        by = "uno-schedule" if name == "auto" else "ops@host"
        conn.execute(
            "INSERT INTO pauses (schedule, paused_at, reason, paused_by) VALUES (?, ?, ?, ?)",
            (name, at, f"why {name}", by),
        )
    calls = {"any": ["both", "one"], "together": ["both"]}
    conn.execute("INSERT INTO meta VALUES ('paused_by_call', ?)", (json.dumps(calls),))
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    kinds = sorted((p.schedule, p.kind) for p in store.open_pauses())
    assert kinds == [
        ("auto", "failures"), ("both", "all"), ("held", "definition"), ("held", "operator"),
        ("one", "operator"),
    ]  # fmt: skip
    assert store.get_meta("paused_by_call") is None
    # ``held`` was paused again over the file's ``paused: true``: resume --all keeps it
    assert store.resume_schedules(None, PAUSE_CALLS, T0) == ["auto", "both", "one"]
    assert store.get_schedule("held").status == "paused"  # type: ignore[union-attr]
    store.close()


def test_a_version_5_files_pruned_totals_stay_and_its_prunes_keep_successes(
    tmp_path: Path,
) -> None:
    """Step 6 adds where a prune keeps the last success; the totals already folded stay
    (the successes pruned before it are gone: no last success is made up for them)."""
    import sqlite_utils

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    for step in sqlite_mod.MIGRATIONS[:5]:
        step(db)
    conn.execute(f"PRAGMA application_id = {sqlite_mod.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 5")
    conn.execute("INSERT INTO run_totals (schedule, run_count, success_count) VALUES ('a', 4, 3)")
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    assert store.last_successes() == {}
    assert store.run_counts()["a"]["success_count"] == 3
    lease = store.acquire_lease("i1", 60, T0)
    assert lease is not None
    done = run("r1", "a", T0, result="success", started_at=T0, finished_at=T0)
    assert store.claim(done, "a@1", None, epoch=lease.epoch)
    assert store.prune_runs("a", keep=0, before=None, limit=10).run_ids == (("a", "r1"),)
    assert store.last_successes() == {"a": T0}
    assert store.run_counts()["a"]["success_count"] == 4
    store.close()


def test_a_version_6_files_schedules_keep_no_written_form_and_are_still_updated(
    tmp_path: Path,
) -> None:
    """Step 7 adds what a schedule was written with; one stored before has none, and an
    update starts from its stored definition."""
    import asyncio

    import sqlite_utils

    from unoschedule import Scheduler

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    for step in sqlite_mod.MIGRATIONS[:6]:
        step(db)
    conn.execute(f"PRAGMA application_id = {sqlite_mod.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 6")
    definition = '{"command": ["true"], "overlap": "skip", "schedule": {"cron": "0 9 * * *"}}'
    conn.execute(
        "INSERT INTO schedules (name, definition, version, status, fingerprint, source) "
        "VALUES ('old', ?, 1, 'active', 'f', 'api')",
        (definition,),
    )
    conn.commit()
    conn.close()
    store = SQLiteStorage(path)
    assert store.get_schedule("old").written is None  # type: ignore[union-attr]
    scheduler = Scheduler(storage=store)
    assert asyncio.run(scheduler.update_schedule("old", max_retries=2)) == 2
    changed = scheduler.definition("old")
    assert (changed.overlap, changed.max_retries) == ("skip", 2)
    assert store.get_schedule("old").written is not None  # type: ignore[union-attr]
    store.close()


def test_open_store_picks_sqlite(tmp_path: Path) -> None:
    s = open_store(tmp_path / "x.db")
    assert isinstance(s, SQLiteStorage)
    s.close()


# -- concurrency ----------------------------------------------------------------------------


def test_write_waits_for_another_writer(tmp_path: Path) -> None:
    """A CLI write while `run` is mid-transaction waits on the busy handler, no error."""
    path = tmp_path / "state.db"
    s = SQLiteStorage(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    t = time.monotonic()
    s.set_meta("k", "v")
    assert time.monotonic() - t >= 0.25
    assert s.get_meta("k") == "v"
    other.close()
    s.close()


def test_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    s = SQLiteStorage(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError, match=r"stayed locked by another process"):
            s.set_meta("k", "v")
    finally:
        other.execute("ROLLBACK")
        other.close()
    s.set_meta("k", "v")  # the connection is usable again
    s.close()


_CLAIMER = textwrap.dedent(
    """
    import sys, time, os
    from datetime import datetime, UTC
    from unoschedule.model import RunRecord
    from unoschedule.store.sqlite import SQLiteStorage
    path, tag, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = SQLiteStorage(path)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    won = 0
    at = datetime(2026, 1, 1, tzinfo=UTC)
    # opposite orders, so the two meet in the middle and really contend
    for i in (range(n) if tag == "p1" else reversed(range(n))):
        r = RunRecord(run_id=f"{tag}-{i}", schedule=f"s{i % 7}", scheduled_time=at)
        won += s.claim(r, f"key-{i}", None, epoch=1)
        s.set_meta(f"{tag}-last", str(i))  # plain writes interleaved with the claims
    print(won, flush=True)
    """
)


@pytest.mark.slow
def test_two_processes_claim_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    s = SQLiteStorage(path)
    assert s.acquire_lease("i1", 600, T0) is not None
    go = tmp_path / "go"
    n = 300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(path), tag, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    wins = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "locked" not in err
        wins.append(int(out.split()[-1]))
    assert sum(wins) == n, wins
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT occurrence_key, count(*) FROM runs GROUP BY 1").fetchall()
    conn.close()
    assert len(rows) == n and all(count == 1 for _, count in rows)
    assert len(s.history(None, limit=-1)) == n
    s.close()


# -- wake-up socket -------------------------------------------------------------------------


def test_long_path_falls_back_to_hashed_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = deep / "state.db"
    addresses = socket_address(path)
    assert len(addresses) == 1 and addresses[0].startswith("/tmp/uno-schedule-")
    s = SQLiteStorage(path)
    cli = SQLiteStorage(path, create=False)
    waiter = s.waiter()
    try:
        cli.notify()
        assert waiter.wait(1) is True
    finally:
        waiter.close()
        cli.close()
        s.close()
    assert not os.path.exists(addresses[0])


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    s = SQLiteStorage(tmp_path / "state.db")
    first = s.waiter()
    second = s.waiter()  # a new leader after one that died without cleaning up
    try:
        s.notify()
        assert second.wait(1) is True
    finally:
        first.close()  # must not remove the new leader's socket
        assert os.path.exists(str(tmp_path / "state.db") + ".sock")
        second.close()
        s.close()


def test_save_schedules_in_one_transaction(tmp_path: Path) -> None:
    from store_contract import version

    s = SQLiteStorage(tmp_path / "state.db")
    s.save_schedules([(sched(f"s{i}"), version(f"s{i}", 1)) for i in range(50)])
    assert len(s.list_schedules()) == 50
    assert [v.version for v in s.versions("s7")] == [1]
    with pytest.raises(StateError):  # a version of an unknown schedule: all or nothing
        s.save_schedules([(sched("x"), None), (sched("y"), version("nope", 1))])
    assert s.get_schedule("x") is None
    s.close()


def test_events_go_with_the_runs_retention_by_age(tmp_path: Path) -> None:
    from datetime import timedelta

    store = SQLiteStorage(tmp_path / "state.db")

    def names() -> list[int]:
        conn = sqlite3.connect(tmp_path / "state.db")
        try:
            return [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
        finally:
            conn.close()

    for minutes in (0, 1, 2, 10, 11):
        store.add_event("e", {"n": minutes}, [], T0 + timedelta(minutes=minutes))
    assert names() == [1, 2, 3, 4, 5]
    store.prune_runs(None, keep=None, before=T0 + timedelta(minutes=5), limit=2)
    assert names() == [3, 4, 5]  # the oldest 2
    store.prune_runs(None, keep=None, before=T0 + timedelta(minutes=5), limit=200)
    assert names() == [4, 5]  # newer ones stay
    store.close()

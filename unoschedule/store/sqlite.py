"""The SQLite state file: one file beside the schedules, shared by ``run`` and the CLI.

Why it is built the way it is:

- WAL mode and a busy timeout let CLI commands read and write while ``run`` works;
  every write is ``BEGIN IMMEDIATE`` so that it queues on the busy handler up front
  instead of failing with SQLITE_BUSY when a deferred read transaction tries to upgrade.
- ``claim`` is the exactly-once point: the lease epoch check, the insert under a unique
  occurrence key and the advance of ``next_run`` commit together, with
  ``synchronous=FULL`` so that a claim that returned True survives a power cut.
- A file that is not ours, corrupt, or from a newer version is refused with a one-line
  error and never written to: we read its header ourselves before SQLite may touch it.
- Instants are stored as fixed-width UTC text (``2026-01-01T10:00:00.000000Z``):
  readable in the ``sqlite3`` shell and, unlike the shortest form that
  ``format_instant`` prints, they sort correctly as text, which indexes and lease expiry
  comparisons rely on.

This is the only module that imports ``sqlite_utils``, and only to migrate: it costs more
than the rest of a CLI command, which opens an up-to-date file and never needs it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from .. import statements
from ..abc import (
    NOTIFICATION_MEMORY,
    Lease,
    PauseKind,
    PauseRecord,
    Presence,
    StateFile,
    Store,
    Waiter,
    Wakeups,
)
from ..errors import StateError
from ..model import RunRecord, ScheduleState, VersionRecord
from ..private import make_private_dirs
from ..timeutil import as_utc, format_stored, parse_instant, parse_stored, stored_json_default
from ..wakeup import notify, socket_address

#: The stored form of instants and JSON values (``timeutil``), as every store writes them.
_format_ts = format_stored
_parse_ts = parse_stored
_json_default = stored_json_default

if TYPE_CHECKING:
    import socket

    import sqlite_utils

    from ..records import Claim, Finish, Pruned

__all__ = ["SCHEMA_VERSION", "SQLiteStorage", "socket_address"]


#: ``PRAGMA application_id`` of our files ("UNOS"), so that we never migrate a foreign
#: SQLite database into a state file by accident.
APPLICATION_ID = 0x554E4F53
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_TIMEOUT = 30.0
#: The expiry of a released lease: its row stays, so that the next holder's epoch is
#: still higher, but it names no holder (``current_lease``).
_RELEASED = "1970-01-01T00:00:00.000000Z"

# -- schema and migrations ------------------------------------------------------------


def _migrate_v1(db: sqlite_utils.Database) -> None:
    """The first schema: schedules, versions, runs, events, the lease and meta."""
    db.table("schedules").create(
        {
            "name": str,
            "definition": str,
            "version": int,
            "status": str,
            "next_run": str,
            "anchor": str,
            "last_run": str,
            "last_result": str,
            "created_at": str,
            "updated_at": str,
            "fingerprint": str,
        },
        pk="name",
        not_null={"definition", "version", "status", "fingerprint"},
        defaults={"version": 1, "status": "active", "fingerprint": ""},
    )
    db.table("schedules").create_index(["next_run"], index_name="schedules_next_run")
    db.table("versions").create(
        {
            "schedule": str,
            "version": int,
            "changed_at": str,
            "changelog": str,
            "source": str,
            "definition": str,
            "diff": str,
        },
        pk=("schedule", "version"),
        foreign_keys=[("schedule", "schedules", "name")],
        not_null={"changed_at", "definition"},
    )
    db.table("runs").create(
        {
            "run_id": str,
            "occurrence_key": str,
            "schedule": str,
            "scheduled_time": str,
            "trigger": str,
            "attempt": int,
            "result": str,
            "queued_at": str,
            "started_at": str,
            "finished_at": str,
            "duration": float,
            "error": str,
            "output": str,
            "epoch": int,
            "instance_id": str,
            "pid": int,
            "args": str,
            "kwargs": str,
            "event": str,
            "queue": str,
            "priority": str,
        },
        pk="run_id",
        not_null={"occurrence_key", "schedule", "scheduled_time", "trigger", "attempt", "result"},
        defaults={"epoch": 0, "attempt": 1, "priority": "normal"},
    )
    db.table("runs").create_index(["occurrence_key"], index_name="runs_occurrence_key", unique=True)
    db.table("runs").create_index(["schedule", "scheduled_time"], index_name="runs_schedule_time")
    db.table("runs").create_index(["result"], index_name="runs_result")
    db.table("events").create(
        {"id": int, "name": str, "payload": str, "created_at": str},
        pk="id",
        not_null={"name", "created_at"},
    )
    db.table("lease").create(
        {"id": int, "instance_id": str, "epoch": int, "expires_at": str, "acquired_at": str},
        pk="id",
        not_null={"instance_id", "epoch", "expires_at", "acquired_at"},
    )
    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})


def _migrate_v2(db: sqlite_utils.Database) -> None:
    """Schedules get a source: ``file`` (the YAML file owns them) or ``api`` (the library
    or the CLI made them; a reload of the file leaves them alone)."""
    db.execute("ALTER TABLE schedules ADD COLUMN source TEXT NOT NULL DEFAULT 'file'")


def _migrate_v3(db: sqlite_utils.Database) -> None:
    """Operations: every pause with its reason, author and expiry (``status`` shows the
    open one, ``explain`` marks the occurrences inside each), and the totals of runs the
    retention pruned, so that statistics keep counting them."""
    db.execute(
        "CREATE TABLE pauses (id INTEGER PRIMARY KEY, schedule TEXT NOT NULL, "
        "paused_at TEXT NOT NULL, paused_until TEXT, reason TEXT, paused_by TEXT, "
        "resumed_at TEXT)"
    )
    db.execute("CREATE INDEX pauses_schedule ON pauses (schedule, paused_at)")
    db.execute(
        "CREATE TABLE run_totals (schedule TEXT PRIMARY KEY, "
        + ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _TOTAL_COUNTS)
        + ", total_duration REAL NOT NULL DEFAULT 0, finished_count INTEGER NOT NULL DEFAULT 0)"
    )


def _migrate_v4(db: sqlite_utils.Database) -> None:
    """Each pause says what made it (``kind``, see ``PauseKind``), so that a resume and
    an expiry end only the pauses they concern, in one transaction; the JSON value in
    ``meta`` that said which schedules a pause call had paused goes, into the records."""
    db.execute("ALTER TABLE pauses ADD COLUMN kind TEXT NOT NULL DEFAULT 'operator'")
    db.execute("CREATE INDEX pauses_open ON pauses (paused_at) WHERE resumed_at IS NULL")
    db.execute(
        "CREATE INDEX pauses_ending ON pauses (paused_until) "
        "WHERE resumed_at IS NULL AND paused_until IS NOT NULL"
    )
    row = db.execute("SELECT value FROM meta WHERE key = 'paused_by_call'").fetchone()
    try:
        calls = json.loads(row[0]) if row else {}
    except ValueError:
        calls = {}
    calls = calls if isinstance(calls, dict) else {}
    together, by_call = json.dumps(calls.get("together") or []), json.dumps(calls.get("any") or [])
    opened = "UPDATE pauses SET kind = ? WHERE resumed_at IS NULL AND kind = 'operator' AND "
    db.execute(opened + "paused_by = 'uno-schedule'", ["failures"])
    db.execute(opened + "schedule IN (SELECT value FROM json_each(?))", ["all", together])
    # A pause given again over the file's ``paused: true`` was never noted as a call's:
    # the definition's pause lies under it.
    db.execute(
        "INSERT INTO pauses (schedule, paused_at, kind) SELECT schedule, paused_at, "
        "'definition' FROM pauses WHERE resumed_at IS NULL AND kind = 'operator' "
        "AND schedule NOT IN (SELECT value FROM json_each(?))",
        [by_call],
    )
    db.execute("DELETE FROM meta WHERE key = 'paused_by_call'")


_TOTAL_COUNTS = ("run_count", "success_count", "error_count", "missed_count", "skipped_count")


def _migrate_v5(db: sqlite_utils.Database) -> None:
    """The notifications claimed (``claim_notification``): one row per key, so that a
    notification is sent at most once whichever leader or worker sends it."""
    db.execute("CREATE TABLE notifications (key TEXT PRIMARY KEY, claimed_at TEXT NOT NULL)")
    db.execute("CREATE INDEX notifications_claimed ON notifications (claimed_at)")


def _migrate_v6(db: sqlite_utils.Database) -> None:
    """Each schedule's latest success among the runs the retention pruned
    (``run_totals.last_success``), written by the prune that deletes them: a success
    does not un-happen because its record went, and the dead-man alarm must not count
    from an older one. A file migrated here had forgotten its pruned successes already;
    its clocks run from the successes still stored, as before."""
    db.execute("ALTER TABLE run_totals ADD COLUMN last_success TEXT")


def _migrate_v7(db: sqlite_utils.Database) -> None:
    """What a schedule made through the library was made of, before the loader resolved
    it (``ScheduleState.written``), so that an update starts from what its caller wrote.
    The schedules stored before have none: an update starts from their definition."""
    db.execute("ALTER TABLE schedules ADD COLUMN written TEXT")


#: ``MIGRATIONS[i]`` turns a version ``i`` file into version ``i + 1``. Append a step to
#: change the schema; never edit a released one, since files in the field ran it.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_v1,
    _migrate_v2,
    _migrate_v3,
    _migrate_v4,
    _migrate_v5,
    _migrate_v6,
    _migrate_v7,
]
SCHEMA_VERSION = len(MIGRATIONS)


# -- conversions ----------------------------------------------------------------------


def _ts(value: datetime | None) -> str | None:
    return None if value is None else _format_ts(value)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else _parse_ts(text)


#: One encoder for every stored JSON value (``json.dumps`` with options makes one a call).
_ENCODE = json.JSONEncoder(default=_json_default, sort_keys=True).encode


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return _ENCODE(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_RUN_COLUMNS = statements.RUN_FIELDS
_RUN_SELECT = "SELECT " + ", ".join(_RUN_COLUMNS) + " FROM runs"
_RUN_INSERT = (
    "INSERT INTO runs (occurrence_key, "
    + ", ".join(_RUN_COLUMNS)
    + ") VALUES ("
    + ", ".join("?" * (len(_RUN_COLUMNS) + 1))
    + ")"
)
_RUN_INSERT_OR_IGNORE = _RUN_INSERT.replace("INSERT", "INSERT OR IGNORE", 1)
_SCHEDULE_COLUMNS = statements.SCHEDULE_FIELDS
_SCHEDULE_SELECT = "SELECT " + ", ".join(_SCHEDULE_COLUMNS) + " FROM schedules"
#: The same columns with the definition and its written form left out (NULL decodes to
#: an empty mapping and to None).
_SCHEDULE_SELECT_LIGHT = (
    "SELECT "
    + ", ".join("NULL" if c in ("definition", "written") else c for c in _SCHEDULE_COLUMNS)
    + " FROM schedules"
)
_SCHEDULE_UPSERT = (
    f"INSERT INTO schedules ({', '.join(_SCHEDULE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_SCHEDULE_COLUMNS))}) ON CONFLICT(name) DO UPDATE SET "
    + ", ".join(
        # a caller that does not know when the schedule was created keeps the stored value
        f"{c} = COALESCE(excluded.{c}, schedules.{c})"
        if c == "created_at"
        else f"{c} = excluded.{c}"
        for c in _SCHEDULE_COLUMNS[1:]
    )
)


T = TypeVar("T")


_SET_NEXT_RUN = "UPDATE schedules SET next_run = ? WHERE name = ?"
#: ``_SET_NEXT_RUN`` for a schedule with no occurrence left, which becomes ``completed``
#: (``updated_at`` moves only when the status changes, as in ``set_status``).
_SET_COMPLETED = (
    "UPDATE schedules SET next_run = NULL, status = 'completed', updated_at = CASE "
    "WHEN status = 'completed' THEN updated_at ELSE ? END WHERE name = ?"
)

_VERSION_INSERT = (
    "INSERT OR REPLACE INTO versions "
    "(schedule, version, changed_at, changelog, source, definition, diff) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _schedule_params(state: ScheduleState, definition: str | None) -> tuple[Any, ...]:
    return (
        state.name,
        definition,
        state.version,
        state.status,
        _ts(state.next_run),
        _ts(state.anchor),
        _ts(state.last_run),
        state.last_result,
        _ts(state.created_at),
        _ts(state.updated_at),
        state.fingerprint,
        state.source,
        _dumps(state.written),
    )


def _version_params(version: VersionRecord, definition: str | None) -> tuple[Any, ...]:
    """``definition``: the encoded definition when the caller has it already."""
    return (
        version.schedule,
        version.version,
        _ts(version.changed_at),
        version.changelog,
        version.source,
        definition if definition is not None else _dumps(version.definition),
        version.diff,
    )


def _chunks(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    iterator = iter(items)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


#: Each run column with how its value is stored (None: as it is).
_RUN_STORED: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
    (
        column,
        _ts
        if column in ("scheduled_time", "queued_at", "started_at", "finished_at")
        else _dumps
        if column in ("args", "kwargs", "event")
        else None,
    )
    for column in _RUN_COLUMNS
)


#: A run's column values in one call (a claim of 10,000 runs reads them 10,000 times).
_RUN_VALUES = operator.attrgetter(*_RUN_COLUMNS)
_RUN_INDEX = {column: i for i, column in enumerate(_RUN_COLUMNS)}
_RUN_CONVERTED = tuple((i, stored) for i, (_, stored) in enumerate(_RUN_STORED) if stored)


def _run_params(run: RunRecord, key: str, **override: Any) -> tuple[Any, ...]:
    """The parameters of ``_RUN_INSERT``: ``key``, then each run column as stored, with
    ``override`` (column: value) in place of the run's own."""
    values = list(_RUN_VALUES(run))
    for column, value in override.items():
        values[_RUN_INDEX[column]] = value
    for i, stored in _RUN_CONVERTED:
        values[i] = stored(values[i])
    return (key, *values)


def _inserted(conn: sqlite3.Connection, params: tuple[Any, ...]) -> bool:
    """Insert one run (``_run_params``); False when a unique key refuses it."""
    try:
        conn.execute(_RUN_INSERT, params)
    except sqlite3.IntegrityError:
        return False  # that statement wrote nothing; the others stand
    return True


def _run_from_row(row: Sequence[Any]) -> RunRecord:
    v = dict(zip(_RUN_COLUMNS, row, strict=True))
    for column in ("scheduled_time", "queued_at", "started_at", "finished_at"):
        v[column] = _dt(v[column])
    for column in ("args", "kwargs", "event"):
        v[column] = _loads(v[column])
    return RunRecord(**v)


def _schedule_from_row(row: Sequence[Any]) -> ScheduleState:
    # positional, in _SCHEDULE_COLUMNS order: this runs 100,000 times at a big start-up
    name, definition, version, status, nxt, anchor, last, result, created, updated, fp, src, w = row
    return ScheduleState(
        name,
        _loads(definition) or {},
        version,
        status,
        _dt(nxt),
        _dt(anchor),
        _dt(last),
        result,
        _dt(created),
        _dt(updated),
        fp,
        src,
        _loads(w),
    )


def _pause_from_row(row: Sequence[Any]) -> PauseRecord:
    schedule, paused_at, until, reason, by, resumed, kind = row
    return PauseRecord(schedule, _parse_ts(paused_at), _dt(until), reason, by, _dt(resumed), kind)


_OPEN_PAUSE = (
    "INSERT INTO pauses (schedule, paused_at, paused_until, reason, paused_by, kind) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_IN = "(SELECT value FROM json_each(?))"

#: The runs a prune deletes: those of the rowids given (JSON) that are still finished.
_PRUNED = f"rowid IN {_IN} AND result NOT IN ('queued', 'running')"


def _fold_pruned() -> str:
    """The statement that adds the pruned runs (``_PRUNED``) to ``run_totals`` before
    they go: their counts, so that statistics survive, and their latest success, so
    that ``last_successes`` does too. Carried by the prune's own transaction, it costs
    the hot path (``finish_runs``) nothing."""
    ran = ", ".join(f"'{r}'" for r in statements.RAN)
    failed = ", ".join(f"'{r}'" for r in statements.FAILED)
    summed = (*_TOTAL_COUNTS, "total_duration", "finished_count")
    return (
        f"INSERT INTO run_totals (schedule, {', '.join(summed)}, last_success) "
        f"SELECT schedule, SUM(result IN ({ran})), SUM(result = 'success'), "
        f"SUM(result IN ({failed})), SUM(result = 'missed'), SUM(result = 'skipped'), "
        "TOTAL(duration), COUNT(duration), "
        "MAX(CASE WHEN result = 'success' THEN finished_at END) "
        f"FROM runs WHERE {_PRUNED} GROUP BY schedule "
        "ON CONFLICT(schedule) DO UPDATE SET "
        + ", ".join(f"{c} = {c} + excluded.{c}" for c in summed)
        # instants are fixed-width text: the later one is the greater
        + ", last_success = CASE WHEN excluded.last_success > COALESCE(last_success, '') "
        "THEN excluded.last_success ELSE last_success END"
    )


_FOLD_PRUNED = _fold_pruned()


def _end_pauses(conn: sqlite3.Connection, at: str, which: str, params: Sequence[Any]) -> None:
    """End, at ``at``, the open pauses that the condition ``which`` selects: the one write
    of a pause's end (a resume, an expiry, a pause that replaces one, a removal). The
    records stay, ended, for ``explain``."""
    conn.execute(
        f"UPDATE pauses SET resumed_at = ? WHERE resumed_at IS NULL AND {which}", [at, *params]
    )


#: The removed schedules that hold an open pause, with when each was removed (the
#: ``updated_at`` its removal wrote). From the open pauses, which are few: CROSS JOIN
#: keeps SQLite from reading every schedule instead.
_REMOVED_HOLDING = (
    "SELECT DISTINCT s.name, s.updated_at FROM pauses p CROSS JOIN schedules s "
    "ON s.name = p.schedule WHERE p.resumed_at IS NULL AND s.status = 'removed' "
    "AND s.updated_at IS NOT NULL"
)


def _end_removed_pauses(conn: sqlite3.Connection, names: Collection[str]) -> None:
    """A removed schedule holds no pause: end the open pauses of the removed ones among
    ``names``, as of their removal, so that one added again under its name starts
    unpaused. Run by the removal (``set_status``) and by a write over a removed
    schedule, which thus also ends those a state written before removals ended them
    still holds."""
    for name, removed_at in conn.execute(_REMOVED_HOLDING).fetchall():
        if name in names:
            _end_pauses(conn, removed_at, "schedule = ?", [name])


def _resume_unheld(conn: sqlite3.Connection, names: Collection[str], now: str) -> list[str]:
    """Resume the paused ``names`` that no open pause holds any more, from now."""
    rows = conn.execute(
        f"SELECT name FROM schedules WHERE status = 'paused' AND name IN {_IN} "
        "AND NOT EXISTS (SELECT 1 FROM pauses p WHERE p.resumed_at IS NULL "
        "AND p.schedule = schedules.name) ORDER BY name",
        (json.dumps(sorted(names)),),
    ).fetchall()
    resumed = [r[0] for r in rows]
    conn.execute(
        "UPDATE schedules SET status = 'active', updated_at = ?, next_run = NULL "
        f"WHERE name IN {_IN}",
        (now, json.dumps(resumed)),
    )
    return resumed


def _lease_from_row(row: Sequence[Any]) -> Lease:
    instance_id, epoch, expires_at, acquired_at = row
    return Lease(
        instance_id=instance_id,
        epoch=int(epoch),
        expires_at=parse_instant(expires_at),
        acquired_at=parse_instant(acquired_at),
    )


# -- wake-ups -------------------------------------------------------------------------


class _SocketWaiter(Waiter):
    """A bound Unix datagram socket: ``notify`` sends a byte, ``wait`` selects on it."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self._sock = sock
        self.path = path
        self._inode = os.stat(path).st_ino

    def fileno(self) -> int:
        return self._sock.fileno()

    def wait(self, timeout: float) -> bool:
        import select

        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):  # closed under us by another thread
            return False
        if not ready:
            return False
        self.drain()
        return True

    def drain(self) -> None:
        """Swallow queued datagrams, so that one burst of notifications wakes us once."""
        while True:
            try:
                self._sock.recv(64)
            except OSError:  # BlockingIOError when empty, or closed
                return

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)


class _SleepWaiter(Waiter):
    """Used when no socket could be bound: the loop still works, only without early wake."""

    def __init__(self) -> None:
        self._closed = threading.Event()

    def wait(self, timeout: float) -> bool:
        self._closed.wait(max(0.0, timeout))
        return False

    def close(self) -> None:
        self._closed.set()


def _bind_waiter(candidates: list[str]) -> Waiter:
    import socket  # here: only a leader binds; a shell command never needs the module

    errors: list[str] = []
    for path in candidates:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)  # stale: left by a leader that died
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.setblocking(False)
            return _SocketWaiter(sock, path)
        except OSError as exc:
            sock.close()
            errors.append(f"{path}: {exc.strerror or exc}")
    import logging  # here: a shell command that reads the state never logs

    logging.getLogger("unoschedule.store").warning(
        "cannot bind the wake-up socket (%s); CLI changes are seen only every check_interval",
        "; ".join(errors),
    )
    return _SleepWaiter()


def _bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT(key) "
        "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


#: Room set aside beside a runner's state for the records of runs in flight (disk full).
RESERVE_BYTES = 1 << 20


def real_state_path(path: str | os.PathLike[str]) -> str:
    """The state file a path names, symbolic links resolved, once: the runner's lock,
    its wake-up socket and every command then agree on one file, whatever alias each was
    given. A link that leads nowhere (dangling, or a loop) is refused in one line."""
    text = os.path.abspath(os.fspath(path))
    try:
        return os.path.realpath(text, strict=True)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StateError(
            f"state path {text} is a symbolic link that cannot be followed "
            f"({exc.strerror or exc}); point --state at a file"
        ) from None
    if os.path.islink(text):
        raise StateError(
            f"state path {text} is a symbolic link to {os.readlink(text)}, which does not "
            "exist; create the file it points to or point --state at a file"
        )
    real = os.path.realpath(text)  # a missing file: its folder's links resolved
    if os.path.lexists(real):  # a dangling link further down the chain
        raise StateError(
            f"state path {text} is a symbolic link that leads to nothing; point --state at a file"
        )
    return real


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _refuse_split(path: str) -> None:
    """Never create a state file while a runner holds the lock of one by that name: its
    file was deleted under it, and a new one would split the state in two."""
    from ..lock import held_elsewhere

    holder = held_elsewhere(path)
    if holder is not None:
        raise StateError(
            f"no state file at {path}, but a scheduler ({holder}) holds its lock: the file "
            "was deleted while it ran; stop that scheduler first, then start again"
        )


class SocketWakeups(Wakeups):
    """Wake-ups of a SQLite state: a datagram to a socket beside the state file (or under
    the temporary folder), which only processes on this host can reach, as only they
    can share the file."""

    def __init__(self, state_path: str) -> None:
        self.state_path = state_path

    def notify(self) -> None:
        notify(self.state_path)

    def waiter(self) -> Waiter:
        """Bind the wake-up socket. Only the leader (the holder of ``LeaderLock``) may call
        this: binding replaces whatever socket was there."""
        return _bind_waiter(socket_address(self.state_path))


# -- the store ------------------------------------------------------------------------


class SQLiteStorage(Store, StateFile):
    """The default store. One connection, guarded by a lock, never inside a transaction
    between calls, so the run loop and its worker threads can share it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        readonly: bool = False,
        busy_timeout: float = _BUSY_TIMEOUT,
        verify: bool = True,
    ) -> None:
        self.path = real_state_path(path)
        self._verify_pages = verify
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._sync = ""
        self._reserve: str | None = None
        fresh = self._prepare_file(create=create and not readonly)
        self._identity = _file_identity(self.path)
        self._conn = self._connect()
        try:
            self._check_and_migrate(fresh)
        except BaseException:
            self._conn.close()
            raise
        self._secure_sidecars()

    # -- opening ----------------------------------------------------------------------

    def _prepare_file(self, *, create: bool) -> bool:
        """Check the file before SQLite sees it; create it 0600 if asked. True if empty."""
        p = Path(self.path)
        try:
            st = p.stat()
        except FileNotFoundError:
            if not create:
                raise StateError(
                    f"no state file at {self.path}; start `uno-schedule run` first"
                ) from None
            _refuse_split(self.path)
            try:
                make_private_dirs(p.parent)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            except FileExistsError:
                return self._prepare_file(create=create)  # another process won the race
            except OSError as exc:
                raise StateError(
                    f"cannot create state file {self.path}: {exc.strerror or exc}"
                ) from None
            return True
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise StateError(
                f"state file {self.path} is not a regular file; point --state at a file"
            )
        wal = self._check_wal()
        if st.st_size == 0 and not wal:
            if not create:
                raise StateError(f"no state file at {self.path}; start `uno-schedule run` first")
            return True
        try:
            with open(self.path, "rb") as f:
                header = f.read(100)
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror or exc}") from None
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise StateError(
                f"state file {self.path} is not a SQLite database (corrupt or a different file); "
                "move it aside or restore a backup - it was left untouched"
            )
        return False

    def _check_wal(self) -> bool:
        """Refuse, untouched, a state whose ``-wal`` would lose committed transactions on
        recovery (see ``walcheck``); True when a log with frames is there.

        Only when no other process holds the leader lock: a live runner's log is in use,
        and only a log left by a process that died (an unclean stop) is recovered.
        """
        wal = self.path + "-wal"
        try:
            size = os.path.getsize(wal)
        except OSError:
            return False
        from ..lock import held_elsewhere  # here: most opens find no log to check
        from .walcheck import wal_damage

        if size <= 32 or held_elsewhere(self.path) is not None:
            return size > 32
        try:
            with open(wal, "rb") as fh:
                damage = wal_damage(fh.read())
        except OSError as exc:
            raise StateError(f"cannot read {wal}: {exc.strerror or exc}") from None
        if damage:
            raise StateError(
                f"state file {self.path}: its write-ahead log {wal} is damaged ({damage}); "
                "both files were left untouched - restore a backup or move them aside"
            )
        return True

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            target, uri = f"file:{quote(self.path)}?mode=ro", True
        else:
            target, uri = self.path, False
        try:
            conn = sqlite3.connect(
                target,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state file {self.path}: {exc}") from None
        return conn

    def _check_and_migrate(self, fresh: bool) -> None:
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            # A page cache of up to 32 MiB (the default is 2): a start that writes 100,000
            # schedules touches every page of their indexes more than once.
            conn.execute("PRAGMA cache_size = -32768")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if app_id not in (0, APPLICATION_ID) or (version == 0 and tables and not fresh):
            raise StateError(
                f"{self.path} is a SQLite database of another program, not an uno-schedule "
                "state file; point --state elsewhere"
            )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path} was written by a newer uno-schedule (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade uno-schedule"
            )
        if not fresh and version and self._verify_pages:
            self._verify()
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise StateError(
                    f"state file {self.path} is from an older uno-schedule and must be migrated; "
                    "run a command that writes (e.g. `uno-schedule run`) first"
                )
            return
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._set_sync("FULL")
            if version < SCHEMA_VERSION:
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from None

    def _verify(self) -> None:
        """``quick_check`` at open: a truncated or damaged file fails here, with a clear
        message, instead of in the middle of a run (it reads every page once)."""
        try:
            rows = self._conn.execute("PRAGMA quick_check(3)").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        if [r[0] for r in rows] != ["ok"]:
            raise self._corrupt(RuntimeError("; ".join(str(r[0]) for r in rows)))

    def _migrate(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if 0 < version < SCHEMA_VERSION:
            self._backup(version)  # outside the transaction: a backup cannot run inside one
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            import sqlite_utils

            db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
            for step in MIGRATIONS[version:]:
                step(db)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _backup(self, version: int) -> None:
        """Keep a copy of a file we are about to migrate: a downgrade stays possible."""
        target = f"{self.path}.v{version}.bak"
        if os.path.exists(target):
            return
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dest = sqlite3.connect(target)
        try:
            self._conn.backup(dest)
        finally:
            dest.close()

    def reserve_space(self) -> None:
        """A private ``<state>.reserve`` file of ``RESERVE_BYTES``: on a full disk its
        blocks are what the ends of the runs in flight are written into."""
        path = self.path + ".reserve"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            except OSError:  # no fallocate here: write it out
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, b"\0" * RESERVE_BYTES)
            self._reserve = path
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(path)
        finally:
            os.close(fd)

    def release_reserve(self) -> bool:
        path, self._reserve = self._reserve, None
        if path is None:
            return False
        try:
            os.unlink(path)
        except OSError:
            return False
        return True

    def check_identity(self) -> None:
        if self._identity is None:
            return
        now = _file_identity(self.path)
        if now is None:
            raise StateError(
                f"state file {self.path} was deleted while uno-schedule used it; stopping "
                "(nothing more is written to the deleted file; start again for a new state)"
            )
        if now != self._identity:
            raise StateError(
                f"state file {self.path} was replaced by another file while uno-schedule "
                "used it; stopping (start again to use the new file)"
            )

    def _secure_sidecars(self) -> None:
        """SQLite gives -wal/-shm the database file's mode; tighten them if someone loosened it."""
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                st = os.stat(self.path + suffix)
                if st.st_uid == os.getuid() and st.st_mode & 0o077:
                    os.chmod(self.path + suffix, 0o600)

    # -- transactions and errors ------------------------------------------------------

    def _corrupt(self, exc: BaseException) -> StateError:
        return StateError(
            f"state file {self.path} is unreadable ({exc}); move it aside or restore a "
            "backup - it was left untouched"
        )

    def _translate(self, exc: sqlite3.Error) -> StateError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return StateError(
                f"state file {self.path} stayed locked by another process for "
                f"{self.busy_timeout:.0f} s; is another command stuck?"
            )
        if "readonly" in text or "read-only" in text:
            return StateError(f"state file {self.path} is read-only here ({text})")
        if isinstance(exc, sqlite3.IntegrityError):
            return StateError(f"state file {self.path}: write refused ({text})")
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
            return StateError(f"state file {self.path} was already closed")
        if isinstance(exc, sqlite3.OperationalError) and (
            "disk I/O" in text or "full" in text or "unable to open" in text
        ):
            return StateError(f"cannot write state file {self.path}: {text}")
        return self._corrupt(exc)

    def _set_sync(self, level: str) -> None:
        if self._sync != level:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._sync = level

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._translate(exc) from None

    @contextlib.contextmanager
    def _write(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; ``durable`` fsyncs the commit (FULL).

        Others commit with ``synchronous=NORMAL``: safe against a crash of the process,
        only a power cut can lose them, and the next durable commit flushes them too.
        """
        with self._lock:
            conn = self._conn
            try:
                self._set_sync("FULL" if durable else "NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise self._translate(exc) from None

    # -- schedules --------------------------------------------------------------------

    def get_schedule(self, name: str) -> ScheduleState | None:
        with self._read() as conn:
            row = conn.execute(_SCHEDULE_SELECT + " WHERE name = ?", (name,)).fetchone()
        return None if row is None else _schedule_from_row(row)

    def list_schedules(
        self,
        *,
        definitions: bool = True,
        statuses: Collection[str] | None = None,
        source: str | None = None,
    ) -> list[ScheduleState]:
        select = _SCHEDULE_SELECT if definitions else _SCHEDULE_SELECT_LIGHT
        where: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            where.append("status IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(statuses)))
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if where:
            select += " WHERE " + " AND ".join(where)
        with self._read() as conn:
            rows = conn.execute(select + " ORDER BY name", params).fetchall()
        return [_schedule_from_row(r) for r in rows]

    def save_schedules(self, items: Iterable[tuple[ScheduleState, VersionRecord | None]]) -> None:
        # Rows go in by chunks through executemany: a first start writes 200,000 rows,
        # and one execute call per row was a fifth of the time.
        with self._write() as conn:
            for chunk in _chunks(items, 2000):
                schedules, versions = [], []
                for state, version in chunk:
                    definition = _dumps(state.definition)
                    schedules.append(_schedule_params(state, definition))
                    if version is not None:
                        same = version.definition is state.definition
                        versions.append(_version_params(version, definition if same else None))
                _end_removed_pauses(conn, {state.name for state, _ in chunk})
                conn.executemany(_SCHEDULE_UPSERT, schedules)
                if versions:
                    conn.executemany(_VERSION_INSERT, versions)
            _bump_generation(conn)

    def save_schedule_if(
        self, state: ScheduleState, version: VersionRecord, *, expected_version: int | None
    ) -> bool:
        with self._write() as conn:
            row = conn.execute(
                "SELECT version, status FROM schedules WHERE name = ?", (state.name,)
            ).fetchone()
            current = None if row is None or row[1] == "removed" else row[0]
            if current != expected_version:
                return False
            if row is not None and row[1] == "removed":
                _end_removed_pauses(conn, {state.name})
            definition = _dumps(state.definition)
            conn.execute(_SCHEDULE_UPSERT, _schedule_params(state, definition))
            conn.execute(_VERSION_INSERT, _version_params(version, definition))
            _bump_generation(conn)
        return True

    def set_status(self, names: Sequence[str] | None, status: str, now: datetime) -> list[str]:
        with self._write() as conn:
            if names is None:
                rows = conn.execute(
                    "SELECT name FROM schedules WHERE status NOT IN ('removed', 'completed') "
                    "AND status != ? ORDER BY name",
                    (status,),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT name FROM schedules WHERE name IN (SELECT value FROM json_each(?)) "
                    "AND status != ? ORDER BY name",
                    (json.dumps(list(names)), status),
                ).fetchall()
            changed = [r[0] for r in rows]
            conn.execute(
                "UPDATE schedules SET status = ?, updated_at = ? "
                "WHERE name IN (SELECT value FROM json_each(?))",
                (status, _ts(now), json.dumps(changed)),
            )
            if changed and status == "removed":  # the definitions in force changed
                _end_removed_pauses(conn, set(changed))
                _bump_generation(conn)
        return changed

    def set_next_runs(
        self,
        next_runs: Mapping[str, datetime | None],
        *,
        anchors: Mapping[str, datetime] | None = None,
    ) -> None:
        with self._write() as conn:
            conn.executemany(
                _SET_NEXT_RUN,
                [(_ts(when), name) for name, when in next_runs.items()],
            )
            if anchors:
                conn.executemany(
                    "UPDATE schedules SET anchor = ? WHERE name = ?",
                    [(_ts(when), name) for name, when in anchors.items() if name in next_runs],
                )

    def delete_schedule(self, name: str) -> bool:
        with self._write() as conn:
            conn.execute("DELETE FROM versions WHERE schedule = ?", (name,))
            return conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount > 0

    def versions(self, name: str) -> list[VersionRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT schedule, version, changed_at, changelog, source, definition, diff "
                "FROM versions WHERE schedule = ? ORDER BY version DESC",
                (name,),
            ).fetchall()
        return [
            VersionRecord(
                schedule=r[0],
                version=r[1],
                changed_at=parse_instant(r[2]),
                changelog=r[3] or "",
                source=r[4] or "",
                definition=_loads(r[5]) or {},
                diff=r[6] or "",
            )
            for r in rows
        ]

    # -- runs -------------------------------------------------------------------------

    def claim_many(
        self,
        claims: Sequence[Claim],
        *,
        epoch: int,
        completed: Sequence[str] = (),
        now: datetime | None = None,
    ) -> list[bool]:
        if not claims and not completed:
            return []
        with self._write(durable=True) as conn:
            lease = conn.execute("SELECT epoch, instance_id FROM lease WHERE id = 1").fetchone()
            if lease is None or lease[0] != epoch:
                return [False] * len(claims)
            rows = [
                _run_params(
                    claim.run, claim.key, epoch=epoch, instance_id=claim.run.instance_id or lease[1]
                )
                for claim in claims
            ]
            # The common case, every occurrence new, in one statement; any refusal (an
            # occurrence claimed before) undoes it and decides claim by claim.
            conn.execute("SAVEPOINT claims")
            before = conn.total_changes
            conn.executemany(_RUN_INSERT_OR_IGNORE, rows)
            if conn.total_changes - before == len(rows):
                conn.execute("RELEASE claims")
                results = [True] * len(claims)
            else:
                conn.execute("ROLLBACK TO claims")
                conn.execute("RELEASE claims")
                results = [_inserted(conn, params) for params in rows]
            advance: dict[str, str | None] = {}
            for claim, won in zip(claims, results, strict=True):
                if won:
                    advance[claim.run.schedule] = _ts(claim.next_run)
            ended = set(completed)
            conn.executemany(
                _SET_NEXT_RUN, [(when, name) for name, when in advance.items() if name not in ended]
            )
            if ended:
                at = _ts(now or datetime.now(UTC))
                conn.executemany(_SET_COMPLETED, [(at, name) for name in ended])
        return results

    def enqueue(self, run: RunRecord) -> None:
        with self._write(durable=True) as conn:
            self._insert_queued(conn, run)

    def _insert_queued(self, conn: sqlite3.Connection, run: RunRecord) -> None:
        conn.execute(
            _RUN_INSERT,
            _run_params(
                run,
                f"queued:{run.run_id}",
                epoch=0,
                result="queued",
                queued_at=run.queued_at or datetime.now(UTC),
            ),
        )

    def record_started(self, run: RunRecord) -> None:
        started = run.started_at or datetime.now(UTC)
        with self._write(durable=True) as conn:
            conn.execute(
                _RUN_INSERT,
                _run_params(
                    run,
                    f"started:{run.run_id}",
                    epoch=0,
                    result="running",
                    started_at=started,
                    queued_at=run.queued_at or started,
                ),
            )

    def start_in_foreground(
        self, run_id: str, started_at: datetime, pid: int | None, instance_id: str
    ) -> bool:
        with self._write(durable=True) as conn:
            started = conn.execute(
                "UPDATE runs SET result = 'running', started_at = ?, pid = ?, instance_id = ? "
                "WHERE run_id = ? AND result = 'queued' AND epoch = 0",
                (_ts(started_at), pid, instance_id, run_id),
            )
            return bool(started.rowcount)

    def take_queued(self, epoch: int, instance_id: str) -> list[RunRecord]:
        """Fenced like ``claim``: a stale leader gets nothing, so a queued run starts once.

        Called at every tick: a read (on an index) says whether there is anything to take
        before a write transaction is opened, so an idle leader writes nothing.
        """
        with self._read() as conn:
            waiting = conn.execute(
                "SELECT 1 FROM runs WHERE epoch = 0 AND result = 'queued' LIMIT 1"
            ).fetchone()
        if waiting is None:
            return []
        with self._write(durable=True) as conn:
            lease = conn.execute("SELECT epoch FROM lease WHERE id = 1").fetchone()
            if lease is None or lease[0] != epoch:
                return []
            rows = conn.execute(
                _RUN_SELECT + " WHERE epoch = 0 AND result = 'queued' ORDER BY queued_at, rowid"
            ).fetchall()
            if rows:
                conn.execute(
                    "UPDATE runs SET epoch = ?, instance_id = ? "
                    "WHERE epoch = 0 AND result = 'queued'",
                    (epoch, instance_id),
                )
        runs = [_run_from_row(r) for r in rows]
        for run in runs:
            run.epoch, run.instance_id = epoch, instance_id
        return runs

    def start_runs(self, starts: Sequence[tuple[str, datetime, int | None]]) -> list[str]:
        if not starts:
            return []
        # The runs a pump starts share their instant (and have no pid yet): one statement
        # for each such group, not one per run.
        groups: dict[tuple[str | None, int | None], list[str]] = {}
        for run_id, instant, pid in starts:
            groups.setdefault((_ts(instant), pid), []).append(run_id)
        started: set[str] = set()
        with self._write() as conn:
            for (started_at, pid), run_ids in groups.items():
                started.update(
                    row[0]
                    for row in conn.execute(
                        # ``+result``: found by run id, not by the index of results,
                        # which would walk every queued run of a burst per statement
                        "UPDATE runs SET result = 'running', started_at = ?, "
                        "pid = COALESCE(?, pid) WHERE run_id IN (SELECT value FROM "
                        "json_each(?)) AND +result = 'queued' RETURNING run_id",
                        (started_at, pid, json.dumps(run_ids)),
                    )
                )
        return [s[0] for s in starts if s[0] in started]

    def start_in_group(
        self, run_id: str, started_at: datetime, members: Sequence[str], limit: int
    ) -> bool:
        with self._write() as conn:
            (running,) = conn.execute(
                "SELECT count(*) FROM runs WHERE result = 'running' "
                "AND schedule IN (SELECT value FROM json_each(?))",
                (json.dumps(list(members)),),
            ).fetchone()
            if running >= limit:
                return False
            started = conn.execute(
                "UPDATE runs SET result = 'running', started_at = ? "
                "WHERE run_id = ? AND result = 'queued'",
                (_ts(started_at), run_id),
            )
            return bool(started.rowcount)

    def finish_runs(self, finishes: Sequence[Finish]) -> list[str]:
        if not finishes:
            return []
        recorded: list[str] = []
        with self._write(durable=any(f.then for f in finishes)) as conn:
            # Set-wise: the runs still open read in one statement, and each table
            # written by one prepared statement, as a burst's ends come in batches.
            open_runs = {
                row[0]: row[1:]
                for row in conn.execute(
                    "SELECT run_id, schedule, scheduled_time, started_at FROM runs "
                    "WHERE run_id IN (SELECT value FROM json_each(?)) "
                    "AND +result IN ('queued', 'running')",
                    (json.dumps([f.run_id for f in finishes]),),
                )
            }
            ended: list[tuple[Any, ...]] = []
            last: dict[str, tuple[Any, ...]] = {}
            chained: list[tuple[Any, ...]] = []
            for finish in finishes:
                row = open_runs.pop(finish.run_id, None)  # a second end of it: not recorded
                if row is None:
                    continue
                schedule, scheduled_time, started_at = row
                duration = None
                if started_at is not None:
                    elapsed = finish.finished_at - _parse_ts(started_at)
                    duration = max(0.0, elapsed.total_seconds())
                ended.append(
                    (
                        finish.result,
                        _ts(finish.finished_at),
                        duration,
                        finish.error,
                        finish.output,
                        finish.run_id,
                    )
                )
                recorded.append(finish.run_id)
                # the schedule's last end in this batch is the one it keeps
                last[schedule] = (started_at or scheduled_time, finish.result, schedule)
                for key, run in finish.then:
                    queued = run.queued_at or finish.finished_at
                    chained.append(
                        _run_params(run, key, epoch=0, result="queued", queued_at=queued)
                    )
            conn.executemany(
                "UPDATE runs SET result = ?, finished_at = ?, duration = ?, error = ?, "
                "output = ? WHERE run_id = ?",
                ended,
            )
            conn.executemany(
                "UPDATE schedules SET last_run = ?, last_result = ? WHERE name = ?",
                list(last.values()),
            )
            conn.executemany(_RUN_INSERT_OR_IGNORE, chained)
        return recorded

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            row = conn.execute(_RUN_SELECT + " WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _run_from_row(row)

    def active_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                _RUN_SELECT + " WHERE result IN ('queued', 'running') "
                "ORDER BY scheduled_time, attempt, run_id"
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def run_ids_starting(self, prefix: str, limit: int) -> list[str]:
        # a range on the primary key (LIKE would scan: it ignores case)
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit),
            ).fetchall()
        return [r[0] for r in rows]

    def history(self, name: str | None, limit: int = 50) -> list[RunRecord]:
        order = " ORDER BY scheduled_time DESC, attempt DESC, queued_at DESC LIMIT ?"
        with self._read() as conn:
            if name is None:
                rows = conn.execute(_RUN_SELECT + order, (limit,)).fetchall()
            else:
                rows = conn.execute(
                    _RUN_SELECT + " WHERE schedule = ?" + order, (name, limit)
                ).fetchall()
        return [_run_from_row(r) for r in rows]

    def foreground_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                _RUN_SELECT + " WHERE result = 'running' AND epoch = 0 ORDER BY started_at"
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def unfinished_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                _RUN_SELECT + " WHERE result IN ('queued', 'running') AND epoch > 0 "
                "ORDER BY scheduled_time, attempt"
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def run_counts(
        self,
        since: datetime | None = None,
        schedule: str | None = None,
        recent: datetime | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Counts by ``scheduled_time >= since``. ``run_count`` counts runs that ran
        (success, error, timeout, interrupted); ``error_count`` the failed ones among them;
        ``total_duration``/``finished_count`` cover runs with a duration, for averages;
        ``recent_run_count`` (with ``recent``) the runs that ran scheduled at or after it.
        Schedules without runs are absent."""
        sql = statements.run_counts(
            since=since is not None, one_schedule=schedule is not None, recent=recent is not None
        )
        params = [
            p
            for p in (_ts(recent) if recent else None, schedule, _ts(since) if since else None)
            if p is not None
        ]
        keys = statements.RUN_COUNT_KEYS + ((statements.RECENT_RUN_COUNT,) if recent else ())
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
            if since is None:  # the totals of pruned runs count too (none of them recent)
                totals = conn.execute(statements.RUN_TOTALS).fetchall()
                rows += [(*r, 0) if recent else r for r in totals if schedule in (None, r[0])]
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            counts = out.setdefault(row[0], dict.fromkeys(keys, 0))
            for key, value in zip(keys, row[1:], strict=True):
                counts[key] += value or 0
        for counts in out.values():
            counts["total_duration"] = float(counts["total_duration"])
        return out

    # -- events -----------------------------------------------------------------------

    def add_event(
        self, name: str, payload: dict[str, Any] | None, runs: Sequence[RunRecord], now: datetime
    ) -> int:
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                "INSERT INTO events (name, payload, created_at) VALUES (?, ?, ?)",
                (name, _dumps(payload), _ts(now)),
            )
            event_id = cursor.lastrowid
            for run in runs:
                if run.event is None and payload is not None:
                    run.event = payload
                if run.queued_at is None:
                    run.queued_at = now
                self._insert_queued(conn, run)
        return int(event_id or 0)

    # -- leadership -------------------------------------------------------------------

    def acquire_lease(self, instance_id: str, ttl: float, now: datetime) -> Lease | None:
        """Same instance with a live lease keeps its epoch (a restart of the loop inside
        one process); anyone taking a free or expired lease gets the next epoch."""
        expires = now + timedelta(seconds=ttl)
        with self._write(durable=True) as conn:
            row = conn.execute(
                "SELECT instance_id, epoch, expires_at, acquired_at FROM lease WHERE id = 1"
            ).fetchone()
            if row is None:
                lease = Lease(instance_id, 1, as_utc(expires), as_utc(now))
            else:
                current = _lease_from_row(row)
                live = current.expires_at > as_utc(now)
                if live and current.instance_id != instance_id:
                    return None
                if live:
                    lease = Lease(instance_id, current.epoch, as_utc(expires), current.acquired_at)
                else:
                    lease = Lease(instance_id, current.epoch + 1, as_utc(expires), as_utc(now))
            conn.execute(
                "INSERT INTO lease (id, instance_id, epoch, expires_at, acquired_at) "
                "VALUES (1, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "instance_id = excluded.instance_id, epoch = excluded.epoch, "
                "expires_at = excluded.expires_at, acquired_at = excluded.acquired_at",
                (lease.instance_id, lease.epoch, _ts(lease.expires_at), _ts(lease.acquired_at)),
            )
        return lease

    def renew_lease(self, instance_id: str, epoch: int, ttl: float, now: datetime) -> bool:
        with self._write(durable=True) as conn:
            cursor = conn.execute(
                "UPDATE lease SET expires_at = ? WHERE id = 1 AND instance_id = ? AND epoch = ?",
                (_ts(now + timedelta(seconds=ttl)), instance_id, epoch),
            )
            return cursor.rowcount == 1

    def release_lease(self, instance_id: str, epoch: int) -> None:
        with self._write(durable=True) as conn:
            conn.execute(
                "UPDATE lease SET expires_at = ? WHERE id = 1 AND instance_id = ? AND epoch = ?",
                (_RELEASED, instance_id, epoch),
            )

    def current_lease(self) -> Lease | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT instance_id, epoch, expires_at, acquired_at FROM lease "
                "WHERE id = 1 AND expires_at <> ?",
                (_RELEASED,),
            ).fetchone()
        return None if row is None else _lease_from_row(row)

    # -- metadata and wake-ups --------------------------------------------------------

    def announce(self, presence: Presence) -> None:
        self.set_meta(_presence_key(presence.role, presence.instance_id), _presence_json(presence))

    def withdraw(self, role: str, instance_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (_presence_key(role, instance_id),))

    def presences(self, now: datetime) -> list[Presence]:
        # kept in meta (one row each, ``presence:ROLE:ID``): no table of their own to migrate
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, value FROM meta WHERE key >= 'presence:' AND key < 'presence;' "
                "ORDER BY key"
            ).fetchall()
        found = [_presence_of(value) for _, value in rows]
        gone = [p for p in found if p is None or p.expires_at <= now]
        if gone:
            with self._write() as conn:
                conn.execute(
                    "DELETE FROM meta WHERE key >= 'presence:' AND key < 'presence;' "
                    "AND (json_valid(value) = 0 OR json_extract(value, '$.expires_at') <= ?)",
                    (_ts(now),),
                )
        return [p for p in found if p is not None and p.expires_at > now]

    def get_meta(self, key: str) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else cast(str, row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def set_meta_if_absent(self, key: str, value: str) -> str:
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return cast(str, row[0])

    def wakeups(self) -> SocketWakeups:
        return SocketWakeups(self.path)

    # -- operations: pauses, retention, explain, backfill -----------------------------

    def clone(self) -> SQLiteStorage:
        """A second connection, opened by SQLite alone: the header check of ``__init__``
        opens and closes the file itself, and closing any descriptor of a file drops
        every POSIX lock this process holds on it, the first connection's included (the
        runner's WAL then looked unused to others, who deleted it under it)."""
        other = object.__new__(SQLiteStorage)
        other.path, other.readonly, other.busy_timeout = self.path, False, self.busy_timeout
        other._lock = threading.RLock()
        other._sync = ""
        other._reserve = None  # the runner's first connection holds the reserve
        other._identity = self._identity
        other._conn = other._connect()
        other._conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        other._conn.execute("PRAGMA foreign_keys = ON")
        return other

    def pause_schedules(
        self,
        names: Sequence[str] | None,
        kind: PauseKind,
        at: datetime,
        *,
        until: datetime | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> list[str]:
        now = _ts(at) or ""
        select = "SELECT name, status, updated_at FROM schedules WHERE "
        with self._write() as conn:
            if names is None:
                rows = conn.execute(select + "status = 'active' ORDER BY name").fetchall()
            else:
                rows = conn.execute(
                    select + f"status IN ('active', 'paused', 'disabled') AND name IN {_IN} "
                    "ORDER BY name",
                    (json.dumps(list(names)),),
                ).fetchall()
            held: dict[str, list[tuple[int, str, str | None]]] = {}
            for pid, name, open_kind, open_until in conn.execute(
                f"SELECT id, schedule, kind, paused_until FROM pauses WHERE resumed_at IS NULL "
                f"AND schedule IN {_IN}",
                (json.dumps([r[0] for r in rows]),),
            ):
                held.setdefault(name, []).append((pid, open_kind, open_until))
            changed = []
            for name, status, updated in rows:
                records = held.get(name, [])
                if status == "active" and records:  # left open by a change of the definition
                    stale = json.dumps([pid for pid, _, _ in records])
                    _end_pauses(conn, now, f"id IN {_IN}", [stale])
                    records = []
                if status == "paused" and not records:  # its definition's pause
                    conn.execute(
                        _OPEN_PAUSE, (name, updated or now, None, None, None, "definition")
                    )
                same = [
                    pid for pid, k, u in records if k == kind and (u is None) == (until is None)
                ]
                if not same or reason is not None or until is not None:
                    _end_pauses(conn, now, f"id IN {_IN}", [json.dumps(same)])
                    conn.execute(_OPEN_PAUSE, (name, now, _ts(until), reason, by, kind))
                if status == "active":
                    changed.append(name)
            conn.execute(
                f"UPDATE schedules SET status = 'paused', updated_at = ? WHERE name IN {_IN}",
                (now, json.dumps(changed)),
            )
        return changed

    def resume_schedules(
        self, names: Sequence[str] | None, kinds: Collection[PauseKind], at: datetime
    ) -> list[str]:
        now = _ts(at) or ""
        which = f"kind IN {_IN}"
        params: list[Any] = [json.dumps(sorted(kinds))]
        if names is not None:
            which += f" AND schedule IN {_IN}"
            params.append(json.dumps(list(names)))
        with self._write() as conn:
            ending = [
                r[0]
                for r in conn.execute(
                    f"SELECT schedule FROM pauses WHERE resumed_at IS NULL AND {which}", params
                )
            ]
            _end_pauses(conn, now, which, params)
            return _resume_unheld(conn, set(ending) if names is None else set(names), now)

    def expire_pauses(self, at: datetime) -> list[str]:
        now = _ts(at) or ""
        which = "paused_until IS NOT NULL AND paused_until <= ?"
        with self._write() as conn:
            ending = [
                r[0]
                for r in conn.execute(
                    f"SELECT schedule FROM pauses WHERE resumed_at IS NULL AND {which}", [now]
                )
            ]
            if not ending:
                return []
            _end_pauses(conn, now, which, [now])
            return _resume_unheld(conn, set(ending), now)

    _PAUSE_SELECT = (
        "SELECT schedule, paused_at, paused_until, reason, paused_by, resumed_at, kind FROM pauses"
    )

    def open_pauses(self) -> list[PauseRecord]:
        with self._read() as conn:
            rows = conn.execute(
                self._PAUSE_SELECT + " WHERE resumed_at IS NULL ORDER BY paused_at, id"
            ).fetchall()
        return [_pause_from_row(r) for r in rows]

    def pauses(self, name: str, since: datetime, until: datetime) -> list[PauseRecord]:
        with self._read() as conn:
            rows = conn.execute(
                self._PAUSE_SELECT + " WHERE schedule = ? AND paused_at <= ? "
                "AND (resumed_at IS NULL OR resumed_at >= ?) ORDER BY paused_at, id",
                (name, _ts(until), _ts(since)),
            ).fetchall()
        return [_pause_from_row(r) for r in rows]

    def runs_between(self, name: str, since: datetime, until: datetime) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                _RUN_SELECT + " WHERE schedule = ? AND scheduled_time >= ? "
                "AND scheduled_time <= ? ORDER BY scheduled_time, attempt",
                (name, _ts(since), _ts(until)),
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def enqueue_unique(self, runs: Sequence[RunRecord]) -> list[bool]:
        results: list[bool] = []
        with self._write(durable=True) as conn:
            for run in runs:
                key = f"{run.schedule}@{_ts(run.scheduled_time)}#{run.trigger}"
                params = _run_params(
                    run, key, epoch=0, result="queued", queued_at=run.queued_at or datetime.now(UTC)
                )
                try:
                    conn.execute(_RUN_INSERT, params)
                except sqlite3.IntegrityError:
                    results.append(False)
                    continue
                results.append(True)
        return results

    def claim_notification(self, key: str, at: datetime) -> bool:
        with self._write(durable=True) as conn:
            conn.execute(
                "DELETE FROM notifications WHERE claimed_at < ?",
                (_ts(at - NOTIFICATION_MEMORY),),
            )
            inserted = conn.execute(
                "INSERT OR IGNORE INTO notifications (key, claimed_at) VALUES (?, ?)",
                (key, _ts(at)),
            )
            return inserted.rowcount == 1

    def last_successes(self) -> dict[str, datetime]:
        """The later of the latest success still stored and the latest one pruned
        (``run_totals.last_success``, written by ``prune_runs``)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT schedule, MAX(at) FROM ("
                "SELECT schedule, MAX(finished_at) AS at FROM runs WHERE result = 'success' "
                "GROUP BY schedule UNION ALL "
                "SELECT schedule, last_success FROM run_totals WHERE last_success IS NOT NULL"
                ") GROUP BY schedule"
            ).fetchall()
        return {r[0]: _parse_ts(r[1]) for r in rows if r[1] is not None}

    def run_totals(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute("SELECT schedule, count(*) FROM runs GROUP BY schedule").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def prune_runs(
        self, name: str | None, *, keep: int | None, before: datetime | None, limit: int
    ) -> Pruned:
        """The candidates are read first, outside any transaction (a WAL read blocks no
        writer); the write transaction then only deletes them by rowid, re-checking that
        each is still finished, and adds their counts to ``run_totals``. By age, events
        recorded before ``before`` go too (the oldest ``limit`` of them)."""
        from ..records import Pruned  # not at import: a shell command rarely prunes

        final = "result NOT IN ('queued', 'running')"
        events: list[int] = []
        with self._read() as conn:
            if name is not None and keep is not None:
                rows = conn.execute(
                    "SELECT rowid, result FROM runs WHERE schedule = ? "
                    "ORDER BY scheduled_time DESC LIMIT ? OFFSET ?",  # the index's order
                    (name, limit, keep),
                ).fetchall()
                rowids = [r[0] for r in rows if r[1] not in ("queued", "running")]
            elif before is not None:
                # The oldest rows first, by rowid (the order runs were recorded in): a
                # look at the front of the table, never a scan of a million rows to learn
                # that nothing is old enough. A run recorded late for an old instant (a
                # backfill) goes when it reaches the front, or by keep_runs.
                rowids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT rowid FROM (SELECT rowid, scheduled_time, result FROM runs "
                        f"ORDER BY rowid LIMIT ?) WHERE scheduled_time < ? AND {final} LIMIT ?",
                        (limit * 4, _ts(before), limit),
                    ).fetchall()
                ]
                events = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM (SELECT id, created_at FROM events ORDER BY id LIMIT ?) "
                        "WHERE created_at < ?",
                        (limit, _ts(before)),
                    ).fetchall()
                ]
            else:
                rowids = []
        if events:
            with self._write() as conn:
                conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(events),),
                )
        if not rowids:
            return Pruned((), 0.0)
        ids = json.dumps(rowids)
        with self._write() as conn:
            began = time.perf_counter()
            deleted = conn.execute(
                f"SELECT schedule, run_id FROM runs WHERE {_PRUNED}", (ids,)
            ).fetchall()
            conn.execute(_FOLD_PRUNED, (ids,))
            conn.execute(f"DELETE FROM runs WHERE {_PRUNED}", (ids,))
        held = time.perf_counter() - began  # to the commit: how long writers were held off
        return Pruned(tuple((r[0], r[1]) for r in deleted), held)

    def close(self) -> None:
        self.release_reserve()
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                if not self.readonly:
                    self._conn.execute("PRAGMA optimize")
            self._conn.close()

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r})"


def _presence_key(role: str, instance_id: str) -> str:
    return f"presence:{role}:{instance_id}"


def _presence_json(presence: Presence) -> str:
    return json.dumps(
        {
            "role": presence.role,
            "instance_id": presence.instance_id,
            "seen_at": _ts(presence.seen_at),
            "expires_at": _ts(presence.expires_at),
            "detail": presence.detail,
        }
    )


def _presence_of(value: str) -> Presence | None:
    try:
        data = json.loads(value)
        return Presence(
            role=data["role"],
            instance_id=data["instance_id"],
            seen_at=parse_instant(data["seen_at"]),
            expires_at=parse_instant(data["expires_at"]),
            detail=data.get("detail") or "",
        )
    except (ValueError, KeyError, TypeError):
        return None

"""A light view of a local state file for the shell: what ``list``, ``status``, ``stats``,
``history``, ``next-runs`` and the control commands need, without parsing the YAML file.

Why it exists: a command at the shell must answer in a few times the start of Python
itself (issue 9). Parsing the schedule file, building the whole model and opening the
full store cost several times that. So whenever the state is synced with the file, the
state keeps a *snapshot* of it (meta key ``file_snapshot``): the file's size, mtime and
CRC-32, the state path the file names, and per schedule the few fields the shell shows.
A command that finds the file unchanged since that snapshot reads everything from the
state with the standard ``sqlite3`` module; anything else (no state, a changed file, a
remote store, a schedule the state has not seen) returns None from ``StateView.open``
or raises ``Fallback`` and the command takes the full path through ``Scheduler``, which
gives the same answer, only slower (``tests/test_cli_fast.py`` compares the two).

The snapshot is written by ``record_snapshot``: by ``run`` when it syncs the file, and by
any CLI command that had to read the file beside an existing state.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import __version__, pauses, statements
from .errors import UnknownScheduleError
from .timeutil import format_instant, format_stored, parse_stored, stored_json_default

if TYPE_CHECKING:
    from .abc import Store
    from .config import Config

__all__ = ["SNAPSHOT_KEY", "Fallback", "StateView", "file_stamp", "record_snapshot"]

#: Definition keys that change when a schedule runs (``effective``): such a schedule's
#: instants come from its ``ScheduleDefinition``, not from ``timeline_from_config``.
_TIMED_KEYS = frozenset({"calendar", "blackout", "jitter"})

SNAPSHOT_KEY = "file_snapshot"
#: Bump when the snapshot's shape changes: an older snapshot is then ignored, not misread.
SNAPSHOT_FORMAT = 1
#: Above this many schedules no snapshot is kept: the CLI reads the file.
SNAPSHOT_MAX_SCHEDULES = 5000
_APPLICATION_ID = 0x554E4F53  # the store's PRAGMA application_id ("UNOS")
#: The store's schema this view reads and writes (``store.sqlite.SCHEMA_VERSION``; a test
#: keeps the two equal).
SCHEMA_VERSION = 4
_RUN_COLUMNS = statements.RUN_FIELDS
_INSTANT_COLUMNS = ("scheduled_time", "queued_at", "started_at", "finished_at")
_JSON_COLUMNS = ("args", "kwargs", "event")


class Fallback(Exception):
    """This view cannot answer exactly; take the full path."""


# -- the snapshot ------------------------------------------------------------------------


def file_stamp(path: str | os.PathLike[str]) -> dict[str, int] | None:
    """Size, mtime (ns) and CRC-32 of the file: equal stamps mean the same file content.

    The CRC catches a change within the mtime's granularity; size and mtime catch the
    rest cheaply. None when the file cannot be read.
    """
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "crc32": zlib.crc32(data)}


#: The modules whose code decides what a file means (validation, defaults, the generated
#: descriptions, timelines): a snapshot made by other code is not trusted.
_MEANING = (
    "config/loader.py", "config/fields.py", "config/context.py", "config/yamlnodes.py",
    "model.py", "schedules.py", "describe.py", "cron.py", "wallclock.py",
)  # fmt: skip


def _code_stamp() -> str:
    """The version and the size and mtime of the modules in ``_MEANING``, in one string."""
    here = os.path.dirname(os.path.abspath(__file__))
    parts = [__version__]
    for name in _MEANING:
        try:
            st = os.stat(os.path.join(here, name))
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return " ".join(parts)


def _snapshot(config: Config) -> dict[str, Any]:
    """What the shell shows of each schedule, and the options it needs."""
    assert config.path is not None
    schedules = {}
    for name, d in config.schedules.items():
        spec = d.schedule
        schedules[name] = {
            "type": d.type,
            "summary": spec.describe(),
            "description": d.description,
            "timezone": d.zone_name,
            "tags": list(d.tags),
            "queue": d.queue_name,
            "priority": d.priority,
            "schedule": spec.to_config(),
            "event": getattr(spec, "event", None) if d.type == "event" else None,
            "status": d.declared_status,
            "metadata": dict(d.metadata),
            "definition": d.to_config(),
        }
    return {
        "options": {"timezone": config.options.timezone, "queue_name": config.options.queue_name},
        "schedules": schedules,
    }


def record_snapshot(
    store: Store, config: Config | None, stamp: dict[str, int] | None = None
) -> None:
    """Keep the state's snapshot of ``config``'s file current (a no-op when it is).

    ``stamp``: the file's stamp taken before it was read. Nothing is recorded when the
    file changed since, so that a snapshot never pairs a new stamp with old content.
    """
    if config is None or config.path is None or config.store_url(None) is not None:
        return
    if len(config.schedules) > SNAPSHOT_MAX_SCHEDULES:
        return  # reading a snapshot that large would cost what parsing the file does
    now = file_stamp(config.path)
    if now is None or (stamp is not None and stamp != now):
        return
    key = {
        "format": SNAPSHOT_FORMAT,
        "version": _code_stamp(),
        "config": os.path.abspath(config.path),
        "state": os.path.abspath(config.state_path(None)),
        "stamp": now,
    }
    old = store.get_meta(SNAPSHOT_KEY)
    if old is not None:
        try:
            previous = json.loads(old)
        except ValueError:
            previous = None
        if isinstance(previous, dict) and all(previous.get(k) == v for k, v in key.items()):
            return  # current: not built again (a reload of a large file reads it here)
    snapshot = {**key, **_snapshot(config)}
    store.set_meta(SNAPSHOT_KEY, json.dumps(snapshot, separators=(",", ":"), default=str))


_STATE_LINE = re.compile(r"""^\s+state:\s*(?P<q>["']?)(?P<v>[^"'#]*?)(?P=q)\s*(#.*)?$""")


def _state_guess(config_path: Path) -> Path:
    """Where the file says the state is, by a look at its text (checked by the snapshot).

    Only the block style (``scheduler:`` then an indented ``state: PATH``) is recognised;
    anything else gives the default beside the file, and the snapshot's record of what
    the full parse resolved decides whether the guess was right.
    """
    folder = config_path.parent
    try:
        text = config_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return folder / "uno-schedule.db"
    inside = False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            inside = line.split("#", 1)[0].rstrip() == "scheduler:"
            continue
        if inside:
            match = _STATE_LINE.match(line)
            if match and match.group("v"):
                path = Path(match.group("v")).expanduser()
                return path if path.is_absolute() else folder / path
    return folder / "uno-schedule.db"


# -- the view ----------------------------------------------------------------------------


def _iso(text: str | None) -> str | None:
    """A stored fixed-width instant in the shortest form the CLI prints."""
    return None if text is None else format_instant(_dt(text))


#: The stores' form of instants (``timeutil``): read and written as the store does.
_dt = parse_stored
_ts = format_stored


class StateView:
    """The file's schedules (from the snapshot) with what the state knows of them."""

    def __init__(self, conn: sqlite3.Connection, path: Path, snapshot: dict[str, Any]) -> None:
        self.conn = conn
        self.path = path
        self.schedules: dict[str, dict[str, Any]] = snapshot["schedules"]
        self.options: dict[str, Any] = snapshot["options"]
        self.config_path = Path(snapshot["config"])

    @classmethod
    def open(cls, config_path: str | os.PathLike[str], state: str | None) -> StateView | None:
        """The view, or None when the full path must answer (see the module's docstring)."""
        config = Path(config_path)
        if state is not None and "://" in state:
            return None
        path = Path(state).expanduser() if state else _state_guess(config)
        try:
            if not path.is_file() or path.stat().st_size == 0:
                return None
            conn = sqlite3.connect(
                f"file:{quote(os.path.abspath(path))}?mode=ro",
                uri=True,
                timeout=30.0,
                isolation_level=None,
            )
        except (OSError, sqlite3.Error):
            return None
        try:
            if conn.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
                raise Fallback
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                raise Fallback  # to be migrated (or newer): the store decides
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (SNAPSHOT_KEY,)).fetchone()
            snapshot = json.loads(row[0]) if row else None
            if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
                raise Fallback
            if snapshot.get("version") != _code_stamp():  # other code may read it otherwise
                raise Fallback
            if snapshot["config"] != os.path.abspath(config):
                raise Fallback
            if not state and snapshot["state"] != os.path.abspath(path):
                raise Fallback
            if snapshot["stamp"] != file_stamp(config):
                raise Fallback
            if conn.execute(
                "SELECT 1 FROM schedules WHERE source = 'api' AND status != 'removed' LIMIT 1"
            ).fetchone():
                raise Fallback  # schedules made through the API: the library knows them
        except (Fallback, sqlite3.Error, ValueError, KeyError, TypeError):
            conn.close()
            return None
        return cls(conn, path, snapshot)

    def close(self) -> None:
        self.conn.close()

    # -- lookups ------------------------------------------------------------------------

    def resolve(self, name: str) -> dict[str, Any]:
        found = self.schedules.get(name)
        if found is None:
            import difflib

            hint = difflib.get_close_matches(name, list(self.schedules), n=1)
            raise UnknownScheduleError(name, hint[0] if hint else None)
        return found

    def _rows(self, names: list[str] | None = None) -> dict[str, tuple[Any, ...]]:
        sql = "SELECT name, status, next_run, anchor, last_run, last_result, version FROM schedules"
        if names is not None:
            sql += " WHERE name IN (SELECT value FROM json_each(?))"
            rows = self.conn.execute(sql, (json.dumps(names),)).fetchall()
        else:
            rows = self.conn.execute(sql).fetchall()
        return {r[0]: r for r in rows}

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _next_run(self, name: str, row: tuple[Any, ...] | None, status: str) -> str | None:
        if status != "active":
            return None
        if row is not None and row[2] is not None:
            return _iso(row[2])
        anchor = _dt(row[3]) if row is not None and row[3] else None
        return format_instant(self._timeline(name, anchor).next(self.now()))

    def _timeline(self, name: str, anchor: datetime | None) -> Any:
        from .schedules import timeline_from_config

        definition = self.schedules[name]["definition"]
        if _TIMED_KEYS & definition.keys():  # a calendar, blackouts or jitter: the model's
            from .model import ScheduleDefinition

            return ScheduleDefinition.from_config(name, definition).timeline(anchor)
        return timeline_from_config(name, definition, anchor)

    # -- the read commands --------------------------------------------------------------

    def list_schedules(
        self, status: str | None = None, tags: list[str] | None = None, *, next_runs: bool = True
    ) -> list[dict[str, Any]]:
        """``Scheduler.list_schedules``; ``next_runs=False`` leaves out the next runs that
        are not in the state (working them out is most of the cost of a listing)."""
        rows = self._rows()
        paused = self._open_pauses()
        out = []
        for name, s in self.schedules.items():
            row = rows.get(name)
            row_status = row[1] if row is not None else s["status"]
            if status is not None and row_status != status:
                continue
            if tags and not set(tags) <= set(s["tags"]):
                continue
            out.append(
                {
                    "name": name,
                    "type": s["type"],
                    "status": row_status,
                    "next_run": (
                        self._next_run(name, row, row_status)
                        if next_runs
                        else _iso(row[2])
                        if row is not None and row_status == "active"
                        else None
                    ),
                    "tags": list(s["tags"]),
                    "description": s["summary"],
                    "timezone": s["timezone"],
                    "last_run": _iso(row[4]) if row is not None else None,
                    "last_result": row[5] if row is not None else None,
                    "version": row[6] if row is not None else None,
                    "source": "file",
                    "in_process": False,
                    **pauses.fields_from_row(paused.get(name)),
                }
            )
        return out

    def _open_pauses(self) -> dict[str, tuple[Any, ...]]:
        """The open pause record of each paused schedule (why, by whom, until when)."""
        return {r[0]: r for r in self.conn.execute(pauses.OPEN_PAUSES).fetchall()}

    def _counts(self, name: str | None, since: datetime | None = None) -> dict[str, Any]:
        """The store's ``run_counts`` (same SQL: ``unoschedule.statements``), summed over
        one schedule (``name``) or all."""
        sql = statements.run_counts(since=since is not None, one_schedule=name is not None)
        params = [p for p in (name, _ts(since) if since is not None else None) if p is not None]
        rows = self.conn.execute(sql, params).fetchall()
        if since is None:  # the totals of pruned runs count too
            totals = self.conn.execute(statements.RUN_TOTALS).fetchall()
            rows += [r for r in totals if name is None or r[0] == name]
        keys = statements.RUN_COUNT_KEYS
        counts: dict[str, Any] = dict.fromkeys(keys, 0)
        for row in rows:
            for key, value in zip(keys, row[1:], strict=True):
                counts[key] += value or 0
        counts = {k: int(v) for k, v in counts.items()}
        counts["total_duration"] = float(sum(float(r[6] or 0.0) for r in rows))
        return counts

    def schedule_status(self, name: str) -> dict[str, Any]:
        s = self.resolve(name)
        row = self._rows([name]).get(name)
        status = row[1] if row is not None else s["status"]
        counts = self._counts(name)
        finished = counts["finished_count"]
        return {
            "name": name,
            "status": status,
            "type": s["type"],
            "description": s["summary"],
            "last_run": _iso(row[4]) if row is not None else None,
            "last_result": row[5] if row is not None else None,
            "next_run": self._next_run(name, row, status),
            "run_count": counts["run_count"],
            "success_count": counts["success_count"],
            "error_count": counts["error_count"],
            "missed_count": counts["missed_count"],
            "skipped_count": counts["skipped_count"],
            "average_duration": (
                round(counts["total_duration"] / finished, 3) if finished else None
            ),
            "version": row[6] if row is not None else None,
            "tags": list(s["tags"]),
            "metadata": dict(s["metadata"]),
            "source": "file",
            **pauses.fields_from_row(self._open_pauses().get(name)),
        }

    def extras(self, name: str) -> dict[str, Any]:
        """What ``status`` shows beyond the library's record: zone, schedule, queue, text."""
        s = self.resolve(name)
        return {
            "timezone": s["timezone"],
            "schedule": s["schedule"],
            "queue": s["queue"],
            "user_description": s["description"],
        }

    def lease(self) -> tuple[str, datetime, datetime] | None:
        """(instance id, expires at, acquired at) of the last lease, if any."""
        row = self.conn.execute(
            "SELECT instance_id, expires_at, acquired_at FROM lease WHERE id = 1"
        ).fetchone()
        return None if row is None else (row[0], _dt(row[1]), _dt(row[2]))

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def statistics(self) -> dict[str, Any]:
        now = self.now()
        rows = self._rows()
        statuses = [rows[n][1] if n in rows else s["status"] for n, s in self.schedules.items()]
        counts = self._counts(None)
        recent = self._counts(None, now - timedelta(hours=24))
        ran, ok = counts["run_count"], counts["success_count"]
        lease = self.lease()
        alive = lease is not None and lease[1] > now
        started = self.meta("started_at")
        uptime = 0.0
        if alive and started:
            uptime = max(0.0, (now - _dt(started.replace("Z", "+00:00"))).total_seconds())
        return {
            "schedules_total": len(self.schedules),
            "schedules_active": statuses.count("active"),
            "schedules_paused": statuses.count("paused"),
            "jobs_triggered_total": ran,
            "jobs_triggered_last_24h": recent["run_count"],
            "success_rate": round(ok / ran, 4) if ran else None,
            "scheduler_uptime": round(uptime, 1),
            "missed_schedules": counts["missed_count"],
            "leader": lease[0] if alive and lease is not None else None,
            "instance_id": lease[0] if alive and lease is not None else None,
        }

    def history(self, name: str, limit: int) -> list[dict[str, Any]]:
        if name not in self.schedules and not self._rows([name]):
            self.resolve(name)
        rows = self.conn.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE schedule = ? "
            "ORDER BY scheduled_time DESC, attempt DESC, queued_at DESC LIMIT ?",
            (name, limit),
        ).fetchall()
        out = []
        for row in rows:
            run = dict(zip(_RUN_COLUMNS, row, strict=True))
            for column in _INSTANT_COLUMNS:
                run[column] = _iso(run[column])
            for column in _JSON_COLUMNS:
                if run[column] is not None:
                    run[column] = json.loads(run[column])
            out.append(run)
        return out

    def next_run_times(self, name: str, count: int, after: datetime | None) -> list[str]:
        self.resolve(name)
        anchor = None
        if after is None:
            row = self.conn.execute(
                "SELECT anchor FROM schedules WHERE name = ?", (name,)
            ).fetchone()
            anchor = _dt(row[0]) if row is not None and row[0] else None
        timeline = self._timeline(name, anchor)
        return [o.text() for o in timeline.upcoming(after or self.now(), count)]

    def known(self, names: list[str]) -> bool:
        """True when the state has every one of ``names`` (not removed)."""
        rows = self._rows(names)
        return all(n in rows and rows[n][1] != "removed" for n in names)

    def status_of(self, name: str) -> str:
        row = self._rows([name]).get(name)
        return str(row[1]) if row is not None else str(self.schedules[name]["status"])

    # -- the control commands ------------------------------------------------------------
    #
    # Four small writes, in the store's own statements and transaction discipline
    # (``BEGIN IMMEDIATE``, ``synchronous=FULL``, a busy timeout). They are done here
    # rather than through ``SQLiteStorage`` because loading the store and the whole model
    # costs a shell command a fifth of its time; ``tests/test_cli_shell.py`` checks that
    # both write the same rows. Any SQLite error falls back to the full path, whose
    # store reports it.

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error:
            raise Fallback from None
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error:
            raise Fallback from None
        finally:
            conn.close()
        from .wakeup import notify

        notify(self.path)

    def leader_alive(self) -> bool:
        lease = self.lease()
        return lease is not None and lease[1] > self.now()

    def pause(self, name: str) -> bool:
        raise Fallback  # the store decides what each pause covers: the library path

    def resume(self, name: str) -> bool:
        raise Fallback

    def _insert_run(
        self,
        conn: sqlite3.Connection,
        name: str,
        trigger: str,
        now: datetime,
        args: list[Any] | None,
        kwargs: dict[str, Any] | None,
        event: dict[str, Any] | None,
    ) -> str:
        from .ids import new_run_id

        s = self.schedules[name]
        run_id = new_run_id(now)
        values: dict[str, Any] = dict.fromkeys(_RUN_COLUMNS)
        values.update(
            run_id=run_id,
            schedule=name,
            scheduled_time=_ts(now),
            trigger=trigger,
            attempt=1,
            result="queued",
            queued_at=_ts(now),
            epoch=0,
            args=_encode(args),
            kwargs=_encode(kwargs),
            event=_encode(event),
            queue=s["queue"],
            priority=s["priority"],
        )
        conn.execute(
            f"INSERT INTO runs (occurrence_key, {', '.join(_RUN_COLUMNS)}) "
            f"VALUES ({', '.join('?' * (len(_RUN_COLUMNS) + 1))})",
            (f"queued:{run_id}", *(values[c] for c in _RUN_COLUMNS)),
        )
        return run_id

    def trigger(self, name: str, args: list[Any] | None, kwargs: dict[str, Any] | None) -> str:
        self.resolve(name)
        if not self.known([name]):
            raise Fallback
        with self._write() as conn:
            return self._insert_run(conn, name, "manual", self.now(), args, kwargs, None)

    def event(self, event: str, data: dict[str, Any] | None) -> list[str]:
        listeners = [n for n, s in self.schedules.items() if s["event"] == event]
        if not self.known(listeners):
            raise Fallback
        active = [n for n in listeners if self.status_of(n) == "active"]
        now = self.now()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO events (name, payload, created_at) VALUES (?, ?, ?)",
                (event, _encode(data), _ts(now)),
            )
            return [self._insert_run(conn, n, "event", now, None, None, data or {}) for n in active]


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=stored_json_default)

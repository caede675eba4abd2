"""Redis state: several schedulers on several hosts share one Redis, one of them leads.

Why it is built the way it is:

- Every write that must be exactly-once is one Lua script, so it is atomic on the server
  without a lock held between round trips: the claim of an occurrence checks the lease's
  fencing epoch, refuses an occurrence key claimed before, writes the run record and
  advances the schedule's ``next_run`` in one step. A leader frozen (SIGSTOP, a long GC,
  a partition) past its lease can thus write no claim once another took over.
- The lease is ``SET lease NX PX ttl``: Redis itself frees it when the holder stops
  renewing. Renewal is a compare-and-set script (the holder and epoch must still be ours),
  never a bare ``PEXPIRE`` that would extend a lease someone else took meanwhile. The
  epoch comes from ``INCR``, so each new leadership has a higher one, stamped on every
  claim and run record.
- Starting a run moves it from ``queued`` to ``running`` only once (the caller learns
  which it started); finishing writes only a run still ``queued`` or ``running``. So a
  stale leader can neither start a run that the new leader took over, nor overwrite the
  ``interrupted`` verdict the new leader recorded.
- Values are JSON or plain strings, never pickles: anything else that reads the keys
  (``redis-cli``, another version) sees text.
- Wake-ups (``notify``/``waiter``) are pub/sub on one channel, in ``RedisWakeups``; a
  waiter also returns when the lease expires, so a standby takes it at once.
- A failure to talk to Redis is a one-line ``StateError`` (the password is never in
  it); redis-py's automatic retries are off, since a script retried after a timeout
  could have run already.

Key layout; ``P`` is the key prefix (``uno-schedule:`` by default), so that two
installations can share one Redis. Instants are fixed-width UTC text
(``2026-01-01T10:00:00.000000Z``), which sorts as time.

==================================  ======  ==============================================
key                                 type    holds
==================================  ======  ==============================================
``P:schedules``                     zset    every schedule name (score 0: by name)
``P:schedule:NAME``                 hash    a schedule's fields; ``definition`` and
                                            ``written`` (absent: none) are JSON
``P:status:STATUS``                 set     names of the schedules with that status
``P:versions:NAME``                 hash    version number -> the version record as JSON
``P:run:RUN_ID``                    hash    a run's fields (absent field: null); args,
                                            kwargs and event are JSON
``P:occurrences``                   hash    occurrence key -> run id (claimed once)
``P:history``                       zset    ``SCHEDULED|ATTEMPT|QUEUED|RUN_ID`` (score 0),
                                            so a reverse range is newest first
``P:history:NAME``                  zset    the same, for one schedule
``P:unfinished``                    set     run ids claimed by a leader, not yet finished
``P:queued``                        zset    ``QUEUED|SEQ|RUN_ID`` of requested runs no
                                            leader has taken yet
``P:seq``, ``P:event-id``           string  counters
``P:events``                        hash    event id -> ``{name, payload, created_at}``
``P:events-pruned``                 string  the last event id pruned by age (from the front)
``P:lease``                         string  ``{instance_id, epoch, expires_at,
                                            acquired_at}`` JSON, with a PX expiry
``P:lease-last``                    string  the last lease written (no expiry): what a
                                            holder renews once ``P:lease`` expired
``P:lease-record``                  string  the lease as last taken or renewed (no expiry),
                                            deleted when released: what
                                            ``current_lease`` gives once ``P:lease``
                                            expired; no leadership decision reads it
``P:epoch``                         string  the fencing epoch counter (``INCR``)
``P:meta``                          hash    metadata (``started_at``)
``P:wake``                          pubsub  the leader's wake-up channel
``P:stream:QUEUE``                  stream  ``{run: RUN_ID}`` entries for workers (consumer
                                            group ``workers``): the runs of priority
                                            ``normal``
``P:stream-high:QUEUE``,            stream  the same, for the runs of priority ``high``
``P:stream-low:QUEUE``                      and ``low`` (created when a run of that
                                            priority is first handed over)
``P:worker-slots:QUEUE``            zset    slot token -> expiry (ms): the queue's
                                            concurrency, shared by its workers
``P:slot-waiters:QUEUE``            zset    worker -> when it began to wait (ms): the
                                            workers in line for a slot, oldest first
``P:slot-seen:QUEUE``               zset    worker -> when it last asked (ms)
``P:slot-wake:QUEUE:WORKER``        list    a wake-up for the first worker in line, pushed
                                            when a slot is freed; five seconds
``P:worker-held``                   set     run ids a worker started (not a new leader's
                                            to interrupt; a dead worker's are reclaimed)
``P:stop:RUN_ID``                   string  why the leader asks the worker running it to
                                            stop it (``overlap: cancel_other``); a day
``P:pauses:NAME``                   list    a schedule's pauses, oldest first, as JSON
``P:pauses-open``                   set     names with a pause still open
``P:pauses-ending``                 zset    ``UNTIL|KIND|NAME`` of each open timed pause
                                            (score 0: by end, for the expiry)
``P:run-schedules``                 set     every schedule name that has had a run (for
                                            the pruner, deleted schedules included)
``P:totals``                        set     names with totals of pruned runs
``P:totals:NAME``                   hash    the ``run_counts`` fields of a schedule's
                                            pruned runs (added when no ``since``)
``P:last-success``                  hash    name -> when its latest successful run
                                            finished (dead-man alarms)
``P:presence``                      hash    ``ROLE|INSTANCE`` -> ``{seen_at, expires_at,
                                            detail}`` JSON of each standby and worker
==================================  ======  ==============================================

Retention (``prune_runs``) deletes a finished run's hash, its two history members and
its occurrence claim, as SQLite deletes the row with its unique key. A claim of an
occurrence advances ``next_run`` past it in the same script, so the loop never asks
for an instant before ``next_run`` again and a pruned claim cannot be re-fired; only a
``next_run`` computed afresh (a changed definition, a resume) from a wall clock set
back behind instants already run could reach one, on either backend (see
``prune_runs``).

The scripts touch keys they compute from the prefix, so this is for a single Redis (or
one with replicas and Sentinel), not Redis Cluster.

This is the only module that imports ``redis`` (redis-py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import statements
from ..abc import (
    NOTIFICATION_MEMORY,
    Lease,
    PauseKind,
    PauseRecord,
    Presence,
    Store,
    Waiter,
    Wakeups,
    WorkerQueues,
)
from ..errors import StateError
from ..model import PRIORITIES, RunRecord, ScheduleState, VersionRecord
from ..records import Claim, Finish, Pruned
from ..timeutil import format_stored, parse_stored, stored_json_default
from . import DEFAULT_PREFIX, PASSWORD_ENV

#: The stored form of instants and JSON values (``timeutil``), as every store writes them.
_format_ts = format_stored
_parse_ts = parse_stored
_json_default = stored_json_default

__all__ = ["DEFAULT_PREFIX", "RedisStorage", "RedisWakeups", "redacted_url"]

log = logging.getLogger("unoschedule.store")

#: A file holding the password (a systemd ``EnvironmentFile=`` can then stay
#: password-free); a systemd credential named ``redis-password`` (``LoadCredential=``)
#: is read the same way.
PASSWORD_FILE_ENV = "UNO_SCHEDULE_REDIS_PASSWORD_FILE"
CREDENTIAL = "redis-password"
_WHERE = f"in the file {PASSWORD_FILE_ENV} names, or in {PASSWORD_ENV}"
#: A command that has not answered in this long is an error (then: not leader).
SOCKET_TIMEOUT = 5.0
#: A worker in line for a queue's slot that has not asked again for this long (seconds:
#: stopped, killed, or out of room) loses its place; one in line asks every tenth.
SLOT_WAITER_SILENCE = 1.0
_CHUNK = 1000
#: How long a stop request for a worker's run is kept (seconds).
_STOP_KEPT = 86400
_UNFINISHED = ("queued", "running")
#: The fields of ``run_counts`` (and of a schedule's totals of pruned runs).
_COUNT_KEYS = statements.RUN_COUNT_KEYS

T = TypeVar("T")


# -- conversions ----------------------------------------------------------------------


def _ts(value: datetime | None) -> str | None:
    return None if value is None else _format_ts(value)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else _parse_ts(text)


_ENCODE = json.JSONEncoder(default=_json_default, sort_keys=True).encode

_RUN_TS = ("scheduled_time", "queued_at", "started_at", "finished_at")
_RUN_JSON = ("args", "kwargs", "event")
_RUN_INT = ("attempt", "epoch", "pid")
_RUN_FIELDS = statements.RUN_FIELDS
_SCHEDULE_TS = ("next_run", "anchor", "last_run", "created_at", "updated_at")
#: A schedule's fields but its definition and written form (listings that need neither).
_SCHEDULE_LIGHT = tuple(f for f in statements.SCHEDULE_FIELDS if f not in ("definition", "written"))


def _run_fields(run: RunRecord, **override: Any) -> dict[str, str]:
    """A run as hash fields; a None value is an absent field."""
    out: dict[str, str] = {}
    for name in _RUN_FIELDS:
        value = override[name] if name in override else getattr(run, name)
        if value is None:
            continue
        if name in _RUN_TS:
            out[name] = _format_ts(value)
        elif name in _RUN_JSON:
            out[name] = _ENCODE(value)
        elif name == "duration":
            out[name] = repr(float(value))
        else:
            out[name] = str(value)
    return out


def _then_arg(finish: Finish) -> str:
    """The runs a finish starts, as one JSON argument of a script (see
    ``_ENQUEUE_THEN``): ``[key, run id, schedule, history member, queued, fields]``."""
    if not finish.then:
        return ""
    items = []
    for key, run in finish.then:
        queued_at = run.queued_at or finish.finished_at
        fields = _run_fields(run, epoch=0, result="queued", queued_at=queued_at)
        member = _history_member(RunRecord(**{**run.__dict__, "queued_at": queued_at}))
        flat = [x for pair in fields.items() for x in pair]
        items.append([key, run.run_id, run.schedule, member, _format_ts(queued_at), flat])
    return _ENCODE(items)


def _end_args(finish: Finish, started: datetime | None, scheduled: str | None) -> list[str]:
    """An end as ``record_end`` (``_RECORD_END``) takes it: run id, result, finished,
    duration (from ``started``), error, output, and the schedule's ``last_run`` (the
    run's start, else its instant ``scheduled``, stored text), so that the leader's
    finish and a worker's settle record an end alike."""
    duration = ""
    if started is not None:
        duration = repr(max(0.0, (finish.finished_at - started).total_seconds()))
    last = _ts(started) or scheduled or _format_ts(finish.finished_at)
    return [
        finish.run_id,
        finish.result,
        _format_ts(finish.finished_at),
        duration,
        "" if finish.error is None else "=" + finish.error,
        "" if finish.output is None else "=" + finish.output,
        last,
    ]


def _run_from_hash(h: Mapping[str, str]) -> RunRecord:
    v: dict[str, Any] = {}
    for name in _RUN_FIELDS:
        text = h.get(name)
        if text is None:
            if name in ("attempt", "epoch"):
                v[name] = 1 if name == "attempt" else 0
            elif name not in ("trigger", "result", "priority"):
                v[name] = None
            continue
        if name in _RUN_TS:
            v[name] = _parse_ts(text)
        elif name in _RUN_JSON:
            v[name] = json.loads(text)
        elif name in _RUN_INT:
            v[name] = int(text)
        elif name == "duration":
            v[name] = float(text)
        else:
            v[name] = text
    return RunRecord(**v)


def _history_member(run: RunRecord) -> str:
    """Sorts as history does: by scheduled instant, then attempt, then queued instant."""
    queued = _ts(run.queued_at) or ""
    return f"{_format_ts(run.scheduled_time)}|{run.attempt:010d}|{queued}|{run.run_id}"


def _member_id(member: str) -> str:
    return member.rsplit("|", 1)[1]


def _schedule_fields(state: ScheduleState) -> tuple[dict[str, str], str]:
    """The fields of a schedule hash (None values absent) and its encoded definition."""
    definition = _ENCODE(state.definition)
    out = {
        "name": state.name,
        "definition": definition,
        "version": str(state.version),
        "status": state.status,
        "fingerprint": state.fingerprint,
        "source": state.source,
    }
    for name in _SCHEDULE_TS:
        value = getattr(state, name)
        if value is not None and name != "created_at":
            out[name] = _format_ts(value)
    if state.last_result is not None:
        out["last_result"] = state.last_result
    if state.written is not None:
        out["written"] = _ENCODE(state.written)
    return out, definition


def _schedule_from_hash(h: Mapping[str, str]) -> ScheduleState:
    text = h.get("definition")
    return ScheduleState(
        h["name"],
        json.loads(text) if text else {},
        int(h.get("version") or 1),
        h.get("status", "active"),  # type: ignore[arg-type]
        _dt(h.get("next_run")),
        _dt(h.get("anchor")),
        _dt(h.get("last_run")),
        h.get("last_result"),
        _dt(h.get("created_at")),
        _dt(h.get("updated_at")),
        h.get("fingerprint", ""),
        h.get("source", "file"),  # type: ignore[arg-type]
        json.loads(h["written"]) if h.get("written") else None,
    )


def _save_item(state: ScheduleState, version: VersionRecord | None) -> list[Any]:
    """One schedule (and its version) as the save scripts take it (see ``_SAVE_ONE``)."""
    fields, _ = _schedule_fields(state)
    return [
        state.name,
        state.status,
        _ts(state.created_at) or "",
        "" if version is None else str(version.version),
        "" if version is None else _version_json(version),
        [x for pair in fields.items() for x in pair],
    ]


def _save_batch(chunk: Sequence[tuple[ScheduleState, VersionRecord | None]]) -> str:
    """A chunk of a save as ``_SAVE_SCHEDULES`` takes it: one JSON array argument."""
    return json.dumps([_save_item(s, v) for s, v in chunk], separators=(",", ":"))


def _pause_json(pause: PauseRecord) -> str:
    return _ENCODE(
        {
            "paused_at": _ts(pause.paused_at),
            "paused_until": _ts(pause.paused_until),
            "reason": pause.reason,
            "paused_by": pause.paused_by,
            "resumed_at": _ts(pause.resumed_at),
            "kind": pause.kind,
        }
    )


def _pause_from_json(name: str, text: str) -> PauseRecord:
    data = json.loads(text)
    return PauseRecord(
        schedule=name,
        paused_at=_parse_ts(data["paused_at"]),
        paused_until=_dt(data.get("paused_until")),
        reason=data.get("reason"),
        paused_by=data.get("paused_by"),
        resumed_at=_dt(data.get("resumed_at")),
        kind=data.get("kind") or "operator",
    )


def _version_json(version: VersionRecord) -> str:
    return _ENCODE(
        {
            "changed_at": _ts(version.changed_at),
            "changelog": version.changelog,
            "source": version.source,
            "definition": version.definition,
            "diff": version.diff,
        }
    )


def _lease_from_json(text: str | None) -> Lease | None:
    if not text:
        return None
    data = json.loads(text)
    return Lease(
        instance_id=str(data["instance_id"]),
        epoch=int(data["epoch"]),
        expires_at=_parse_ts(data["expires_at"]),
        acquired_at=_parse_ts(data["acquired_at"]),
    )


def _ttl_ms(ttl: float) -> str:
    return str(max(1, int(ttl * 1000)))


def _chunks(items: Iterable[T], size: int = _CHUNK) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def redacted_url(url: str) -> str:
    """``url`` without its password, for messages: a password is never echoed."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if user else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- scripts --------------------------------------------------------------------------
# ARGV[1] is always the key prefix.

#: What a lease taken or renewed writes beside its ``P:lease`` (which expires): the
#: copy renewal falls back on, and the record that says who led last after a crash.
_LEASE_WRITTEN = """
local function lease_written(p, v)
  redis.call('SET', p .. 'lease-last', v)
  redis.call('SET', p .. 'lease-record', v)
end
"""

_LEASE_ACQUIRE = (
    _LEASE_WRITTEN
    + """
local p = ARGV[1]
local key = p .. 'lease'
local cur = redis.call('GET', key)
if cur then
  local l = cjson.decode(cur)
  local live = l.expires_at > ARGV[3]
  if live and l.instance_id ~= ARGV[2] then return false end
  if live then
    l.expires_at = ARGV[4]
    local v = cjson.encode(l)
    redis.call('SET', key, v, 'XX', 'PX', ARGV[5])
    lease_written(p, v)
    return v
  end
  redis.call('DEL', key)
end
local epoch = redis.call('INCR', p .. 'epoch')
local v = cjson.encode({instance_id = ARGV[2], epoch = epoch, expires_at = ARGV[4],
                        acquired_at = ARGV[3]})
if not redis.call('SET', key, v, 'NX', 'PX', ARGV[5]) then return false end
lease_written(p, v)
return v
"""
)

_LEASE_RENEW = (
    _LEASE_WRITTEN
    + """
local p = ARGV[1]
local key = p .. 'lease'
local cur = redis.call('GET', key)
local nx = false
if not cur then
  -- expired: still ours if nobody took a lease since (the epoch counter says so)
  if redis.call('GET', p .. 'epoch') ~= ARGV[3] then return 0 end
  cur = redis.call('GET', p .. 'lease-last')
  if not cur then return 0 end
  nx = true
end
local l = cjson.decode(cur)
if l.instance_id ~= ARGV[2] or tostring(l.epoch) ~= ARGV[3] then return 0 end
l.expires_at = ARGV[4]
local v = cjson.encode(l)
if nx then
  if not redis.call('SET', key, v, 'NX', 'PX', ARGV[5]) then return 0 end
else
  redis.call('SET', key, v, 'XX', 'PX', ARGV[5])
end
lease_written(p, v)
return 1
"""
)

#: The record goes even when ``P:lease`` expired first (a drain longer than the lease):
#: a released lease names nobody, as on SQLite. ``P:lease`` goes only while it is ours.
_LEASE_RELEASE = """
local p = ARGV[1]
local function ours(text)
  if not text then return false end
  local l = cjson.decode(text)
  return l.instance_id == ARGV[2] and tostring(l.epoch) == ARGV[3]
end
if ours(redis.call('GET', p .. 'lease-record')) then redis.call('DEL', p .. 'lease-record') end
if not ours(redis.call('GET', p .. 'lease')) then return 0 end
redis.call('DEL', p .. 'lease')
redis.call('PUBLISH', p .. 'wake', 'lease')
return 1
"""

#: Remembers when a schedule's latest successful run finished (``last_successes``):
#: instants are fixed-width text, so the later one is the greater string.
_NOTE_SUCCESS = """
local function note_success(p, sched, finished)
  local cur = redis.call('HGET', p .. 'last-success', sched)
  if not cur or finished > cur then redis.call('HSET', p .. 'last-success', sched, finished) end
end
"""

#: Writes one run requested from outside the loop (result ``queued``, epoch 0) under the
#: occurrence key ``okey`` (claimed by the caller) and queues it for ``take_queued``.
_INSERT_RUN = """
local function insert_run(p, okey, run_id, sched, member, fields)
  local rk = p .. 'run:' .. run_id
  redis.call('HSET', rk, unpack(fields))
  redis.call('HSET', rk, 'okey', okey, 'member', member)
  redis.call('ZADD', p .. 'history', 0, member)
  redis.call('ZADD', p .. 'history:' .. sched, 0, member)
  redis.call('SADD', p .. 'run-schedules', sched)
end
"""

_INSERT_QUEUED = (
    _INSERT_RUN
    + """
local function insert_queued(p, okey, run_id, sched, member, queued, fields)
  insert_run(p, okey, run_id, sched, member, fields)
  local seq = redis.call('INCR', p .. 'seq')
  local qm = queued .. '|' .. string.format('%015d', seq) .. '|' .. run_id
  redis.call('ZADD', p .. 'queued', 0, qm)
end
"""
)

#: The fencing check every fenced script starts with: the live lease is ours, by its
#: epoch and its holder (``EPOCH|INSTANCE``): epochs restart at 1 in a Redis restarted
#: empty, so the number alone could match another runner's lease.
_FENCE = """
local p = ARGV[1]
local cur = redis.call('GET', p .. 'lease')
if not cur then return {-1} end
local lease = cjson.decode(cur)
local fence = ARGV[2]
if string.find(fence, '|', 1, true) then
  if tostring(lease.epoch) .. '|' .. lease.instance_id ~= fence then return {-1} end
elseif tostring(lease.epoch) ~= fence then return {-1} end
"""

_CLAIM = (
    _NOTE_SUCCESS
    + _FENCE
    + """
local out = {}
local advance = {}
local order = {}
-- one JSON array of [key, run_id, schedule, has_next, next_run, unfinished, member,
-- [field, value, ...], finished_at if a success else ''] per claim: a burst of 10,000
-- is one argument, not 400,000
for c, claim in ipairs(cjson.decode(ARGV[3])) do
  local key, run_id, sched = claim[1], claim[2], claim[3]
  local has_next, nxt, unfinished, member = claim[4], claim[5], claim[6], claim[7]
  local fields = claim[8]
  if redis.call('HSETNX', p .. 'occurrences', key, run_id) == 1 then
    local rk = p .. 'run:' .. run_id
    redis.call('HSET', rk, unpack(fields))
    redis.call('HSET', rk, 'epoch', tostring(lease.epoch), 'okey', key, 'member', member)
    if redis.call('HEXISTS', rk, 'instance_id') == 0 then
      redis.call('HSET', rk, 'instance_id', lease.instance_id)
    end
    redis.call('ZADD', p .. 'history', 0, member)
    redis.call('ZADD', p .. 'history:' .. sched, 0, member)
    redis.call('SADD', p .. 'run-schedules', sched)
    if unfinished == 1 then redis.call('SADD', p .. 'unfinished', run_id) end
    if claim[9] ~= '' then note_success(p, sched, claim[9]) end
    if advance[sched] == nil then order[#order + 1] = sched end
    advance[sched] = {has_next, nxt}
    out[c] = 1
  else
    out[c] = 0
  end
end
for _, sched in ipairs(order) do
  local sk = p .. 'schedule:' .. sched
  if redis.call('EXISTS', sk) == 1 then
    if advance[sched][1] == 1 then
      redis.call('HSET', sk, 'next_run', advance[sched][2])
    else
      redis.call('HDEL', sk, 'next_run')
    end
  end
end
-- the schedules left with no occurrence: ``completed`` (as _SET_STATUS makes them)
for _, sched in ipairs(cjson.decode(ARGV[4])) do
  local sk = p .. 'schedule:' .. sched
  local st = redis.call('HGET', sk, 'status')
  if st then
    redis.call('HDEL', sk, 'next_run')
    if st ~= 'completed' then
      redis.call('HSET', sk, 'status', 'completed', 'updated_at', ARGV[5])
      redis.call('SREM', p .. 'status:' .. st, sched)
      redis.call('SADD', p .. 'status:completed', sched)
    end
  end
end
return out
"""
)

_TAKE_QUEUED = (
    _FENCE
    + """
local members = redis.call('ZRANGE', p .. 'queued', 0, -1)
local out = {}
for _, m in ipairs(members) do
  local run_id = string.match(m, '([^|]*)$')
  local rk = p .. 'run:' .. run_id
  if redis.call('HGET', rk, 'result') == 'queued' then
    redis.call('HSET', rk, 'epoch', tostring(lease.epoch), 'instance_id', ARGV[3])
    redis.call('SADD', p .. 'unfinished', run_id)
    out[#out + 1] = run_id
  end
end
redis.call('DEL', p .. 'queued')
return out
"""
)

_ENQUEUE = (
    _INSERT_QUEUED
    + """
local p = ARGV[1]
local event_id = 0
if ARGV[2] ~= '' then
  event_id = redis.call('INCR', p .. 'event-id')
  redis.call('HSET', p .. 'events', event_id, ARGV[2])
end
local i = 4
for c = 1, tonumber(ARGV[3]) do
  local run_id, sched, member, queued = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local n = tonumber(ARGV[i + 4])
  local fields = {}
  for j = 1, n * 2 do fields[j] = ARGV[i + 4 + j] end
  i = i + 5 + n * 2
  local okey = 'queued:' .. run_id
  if redis.call('HSETNX', p .. 'occurrences', okey, run_id) == 0 then
    return redis.error_reply('run id ' .. run_id .. ' exists')
  end
  insert_queued(p, okey, run_id, sched, member, queued, fields)
end
return event_id
"""
)

#: ``record_started``: ARGV[2..5] = okey, run_id, schedule, member, then field, value...
#: The run is not added to the queued runs, so no leader takes it.
_RECORD_STARTED = (
    _INSERT_RUN
    + """
local p = ARGV[1]
local okey, run_id, sched, member = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HSETNX', p .. 'occurrences', okey, run_id) == 0 then
  return redis.error_reply('run id ' .. run_id .. ' exists')
end
local fields = {}
for j = 6, #ARGV do fields[#fields + 1] = ARGV[j] end
insert_run(p, okey, run_id, sched, member, fields)
redis.call('SADD', p .. 'foreground', run_id)
return 1
"""
)

#: ``start_in_foreground``: ARGV[2..5] = run_id, started_at, pid ('' for none), instance.
#: Only a run still queued and not taken by a leader (epoch 0, in ``queued``) starts; it
#: leaves ``queued`` for ``foreground``, as ``record_started`` would have written it.
_START_IN_FOREGROUND = """
local p = ARGV[1]
local run_id, started, pid, instance = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rk = p .. 'run:' .. run_id
local now = redis.call('HMGET', rk, 'result', 'epoch')
if now[1] ~= 'queued' or (now[2] and now[2] ~= '0') then return 0 end
redis.call('HSET', rk, 'result', 'running', 'started_at', started, 'instance_id', instance)
if pid ~= '' then redis.call('HSET', rk, 'pid', pid) end
for _, m in ipairs(redis.call('ZRANGE', p .. 'queued', 0, -1)) do
  if string.match(m, '([^|]*)$') == run_id then redis.call('ZREM', p .. 'queued', m) end
end
redis.call('SADD', p .. 'foreground', run_id)
return 1
"""

#: ``enqueue_unique``: ARGV[2] runs of [okey, run_id, schedule, member, queued_at, n,
#: field, value, ...]; 1 for each written, 0 for an occurrence key taken before.
_ENQUEUE_UNIQUE = (
    _INSERT_QUEUED
    + """
local p = ARGV[1]
local out = {}
local i = 3
for c = 1, tonumber(ARGV[2]) do
  local okey, run_id, sched, member = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local queued, n = ARGV[i + 4], tonumber(ARGV[i + 5])
  local fields = {}
  for j = 1, n * 2 do fields[j] = ARGV[i + 5 + j] end
  i = i + 6 + n * 2
  if redis.call('HSETNX', p .. 'occurrences', okey, run_id) == 1 then
    insert_queued(p, okey, run_id, sched, member, queued, fields)
    out[c] = 1
  else
    out[c] = 0
  end
end
return out
"""
)

_START = """
local p = ARGV[1]
local out = {}
local i = 3
for c = 1, tonumber(ARGV[2]) do
  local run_id, started, pid = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local rk = p .. 'run:' .. run_id
  if redis.call('HGET', rk, 'result') == 'queued' then
    redis.call('HSET', rk, 'result', 'running', 'started_at', started)
    if pid ~= '' then redis.call('HSET', rk, 'pid', pid) end
    out[#out + 1] = run_id
  end
end
return out
"""

#: How many runs of a concurrency group's schedules (``members``, a set) are running:
#: counted from the run records themselves, so that a run however it ended gives its
#: place back. The candidates are the leaders' unfinished runs (a worker's stay in that
#: set while they run) and the foreground ones (``record_started``, kept apart so that no
#: leader takes them, yet holding a place as much as any). Shared by the leader's
#: ``start_in_group`` and a worker's start.
_GROUP_RUNNING = """
local function group_running(p, members)
  local running = 0
  for _, other in ipairs(redis.call('SUNION', p .. 'unfinished', p .. 'foreground')) do
    local fields = redis.call('HMGET', p .. 'run:' .. other, 'result', 'schedule')
    if fields[1] == 'running' and members[fields[2]] then running = running + 1 end
  end
  return running
end
"""

#: ``start_in_group``: count the running runs of the group and start the run only below
#: the limit, in one script.
_START_IN_GROUP = (
    _GROUP_RUNNING
    + """
local p = ARGV[1]
local run_id, started, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local members = {}
for i = 5, #ARGV do members[ARGV[i]] = true end
if group_running(p, members) >= limit then return 0 end
local rk = p .. 'run:' .. run_id
if redis.call('HGET', rk, 'result') ~= 'queued' then return 0 end
redis.call('HSET', rk, 'result', 'running', 'started_at', started)
return 1
"""
)

#: Enqueue the runs a recorded end starts (``Finish.then``, encoded by ``_then_arg``),
#: each once under its key.
_ENQUEUE_THEN = (
    _INSERT_QUEUED
    + """
local function enqueue_then(p, encoded)
  if encoded == '' then return end
  for _, item in ipairs(cjson.decode(encoded)) do
    if redis.call('HSETNX', p .. 'occurrences', item[1], item[2]) == 1 then
      insert_queued(p, item[1], item[2], item[3], item[4], item[5], item[6])
    end
  end
end
"""
)

#: Records the end of a run, the one rule for the leader's ``finish_runs`` and a worker's
#: settle: only a run still queued or running ends (false otherwise), and its end is
#: written whole, as SQLite writes its row: an absent duration, error or output clears
#: the field, so that nothing said of the run before (why it was buffered, at its claim)
#: outlives its end. ``err`` and ``output`` are '' for none, else '=' and the text: the
#: marker keeps an empty text (a command that printed nothing) a value, as SQLite keeps
#: it, not an absent field.
_RECORD_END = (
    _NOTE_SUCCESS
    + """
local function set_or_clear(rk, field, value)
  if value ~= '' then redis.call('HSET', rk, field, value)
  else redis.call('HDEL', rk, field) end
end
local function set_marked_or_clear(rk, field, marked)
  if marked ~= '' then redis.call('HSET', rk, field, string.sub(marked, 2))
  else redis.call('HDEL', rk, field) end
end
local function record_end(p, run_id, result, finished, duration, err, output, last_run)
  local rk = p .. 'run:' .. run_id
  local now = redis.call('HGET', rk, 'result')
  if now ~= 'queued' and now ~= 'running' then return false end
  redis.call('HSET', rk, 'result', result, 'finished_at', finished)
  set_or_clear(rk, 'duration', duration)
  set_marked_or_clear(rk, 'error', err)
  set_marked_or_clear(rk, 'output', output)
  redis.call('SREM', p .. 'unfinished', run_id)
  redis.call('SREM', p .. 'worker-held', run_id)
  local sched = redis.call('HGET', rk, 'schedule')
  local sk = p .. 'schedule:' .. sched
  if redis.call('EXISTS', sk) == 1 then
    redis.call('HSET', sk, 'last_run', last_run, 'last_result', result)
  end
  if result == 'success' then note_success(p, sched, finished) end
  return true
end
"""
)

#: ARGV[2] ends, each as ``_end_args`` encodes it, then the runs it starts (``_then_arg``).
#: Returns the run ids of the ends it recorded, in order.
_FINISH = (
    _RECORD_END
    + _ENQUEUE_THEN
    + """
local p = ARGV[1]
local recorded = {}
local i = 3
for c = 1, tonumber(ARGV[2]) do
  if record_end(p, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
                ARGV[i + 5], ARGV[i + 6]) then
    enqueue_then(p, ARGV[i + 7])
    recorded[#recorded + 1] = ARGV[i]
  end
  i = i + 8
end
return recorded
"""
)

#: The pause records of a schedule (``P:pauses:NAME``, JSON, oldest first) and the
#: status they decide. ``open_of`` lists the open ones as ``{index, record}``; a record
#: without ``kind`` was written before kinds existed and counts as the operator's;
#: ``resume_unheld`` resumes a paused schedule that no open pause holds any more and
#: keeps the set ``pauses-open`` (names with an open record) up to date;
#: ``end_removed_pauses`` ends those of a removed schedule.
_PAUSE_RECORDS = """
local function open_of(p, name)
  local out = {}
  for i, text in ipairs(redis.call('LRANGE', p .. 'pauses:' .. name, 0, -1)) do
    local r = cjson.decode(text)
    if r['resumed_at'] == nil or r['resumed_at'] == cjson.null then
      if r['kind'] == nil or r['kind'] == cjson.null then r['kind'] = 'operator' end
      out[#out + 1] = {i - 1, r}
    end
  end
  return out
end
local function ending_member(name, record)
  local until_ = record['paused_until']
  if until_ == nil or until_ == cjson.null then return nil end
  return until_ .. '|' .. record['kind'] .. '|' .. name
end
local function close_record(p, name, entry, at)
  entry[2]['resumed_at'] = at
  redis.call('LSET', p .. 'pauses:' .. name, entry[1], cjson.encode(entry[2]))
  local member = ending_member(name, entry[2])
  if member then redis.call('ZREM', p .. 'pauses-ending', member) end
end
local function set_status(p, name, old, new, now)
  local sk = p .. 'schedule:' .. name
  redis.call('HSET', sk, 'status', new, 'updated_at', now)
  redis.call('SREM', p .. 'status:' .. old, name)
  redis.call('SADD', p .. 'status:' .. new, name)
end
local function resume_unheld(p, names, now)
  local resumed = {}
  table.sort(names)
  for _, name in ipairs(names) do
    if #open_of(p, name) == 0 then
      redis.call('SREM', p .. 'pauses-open', name)
      if redis.call('HGET', p .. 'schedule:' .. name, 'status') == 'paused' then
        set_status(p, name, 'paused', 'active', now)
        redis.call('HDEL', p .. 'schedule:' .. name, 'next_run')
        resumed[#resumed + 1] = name
      end
    end
  end
  return resumed
end
-- A removed schedule holds no pause: its open ones end as of its removal (the
-- updated_at the removal wrote), so that one added again under its name starts
-- unpaused. Run by the removal and by a write over a removed schedule, which thus also
-- ends those that a state written before removals ended them still holds.
local function end_removed_pauses(p, name)
  local st = redis.call('HMGET', p .. 'schedule:' .. name, 'status', 'updated_at')
  if st[1] ~= 'removed' or not st[2] then return end
  for _, entry in ipairs(open_of(p, name)) do close_record(p, name, entry, st[2]) end
  redis.call('SREM', p .. 'pauses-open', name)
end
"""

#: Writes one schedule (and its version) from one decoded item ``[name, status,
#: created_at, version number, version JSON, [field, value, ...]]``. Shared by the plain
#: save and the compare-and-set one, which must write exactly the same.
_SAVE_ONE = (
    _PAUSE_RECORDS
    + """
local function save_one(p, item)
  local name, status, created = item[1], item[2], item[3]
  local vnum, vjson, fields = item[4], item[5], item[6]
  local sk = p .. 'schedule:' .. name
  local old_status = redis.call('HGET', sk, 'status')
  local old_created = redis.call('HGET', sk, 'created_at')
  if old_status == 'removed' then end_removed_pauses(p, name) end
  redis.call('DEL', sk)
  redis.call('HSET', sk, unpack(fields))
  if created ~= '' then
    redis.call('HSET', sk, 'created_at', created)
  elseif old_created then
    redis.call('HSET', sk, 'created_at', old_created)
  end
  if old_status and old_status ~= status then
    redis.call('SREM', p .. 'status:' .. old_status, name)
  end
  redis.call('SADD', p .. 'status:' .. status, name)
  redis.call('ZADD', p .. 'schedules', 0, name)
  if vnum ~= '' then redis.call('HSET', p .. 'versions:' .. name, vnum, vjson) end
end
"""
)

#: ARGV[2]: one JSON array of items (see ``_SAVE_ONE``); ARGV[3]: '1' in the last script
#: of a save, which moves the generation once all of it is written.
_SAVE_SCHEDULES = (
    _SAVE_ONE
    + """
local p = ARGV[1]
for _, item in ipairs(cjson.decode(ARGV[2])) do
  save_one(p, item)
end
if ARGV[3] == '1' then redis.call('HINCRBY', p .. 'meta', 'generation', 1) end
return 1
"""
)

#: ARGV[2]: the name, ARGV[3]: the expected version ('' for none), ARGV[4]: one item.
_SAVE_SCHEDULE_IF = (
    _SAVE_ONE
    + """
local p = ARGV[1]
local current = redis.call('HMGET', p .. 'schedule:' .. ARGV[2], 'version', 'status')
local at = ''
if current[1] and current[2] ~= 'removed' then at = current[1] end
if at ~= ARGV[3] then return 0 end
save_one(p, cjson.decode(ARGV[4]))
redis.call('HINCRBY', p .. 'meta', 'generation', 1)
return 1
"""
)

#: ARGV[2]: the kind, ARGV[3]: when, ARGV[4]: until ('' for none), ARGV[5]: the record
#: (JSON), ARGV[6]: '1' when it says something new (a reason or an end), ARGV[7..]: the
#: names (none: every active schedule). See ``Store.pause_schedules``.
_PAUSE_SCHEDULES = (
    _PAUSE_RECORDS
    + """
local p, kind, now, record = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local timed, news = ARGV[4] ~= '', ARGV[6] == '1'
local names = {}
if #ARGV < 7 then
  names = redis.call('SMEMBERS', p .. 'status:active')
else
  for j = 7, #ARGV do names[#names + 1] = ARGV[j] end
end
table.sort(names)
local changed = {}
for _, name in ipairs(names) do
  local sk = p .. 'schedule:' .. name
  local st = redis.call('HGET', sk, 'status')
  if st == 'active' or st == 'paused' or st == 'disabled' then
    local key = p .. 'pauses:' .. name
    local records = open_of(p, name)
    if st == 'active' and #records > 0 then  -- left open by a change of the definition
      for _, entry in ipairs(records) do close_record(p, name, entry, now) end
      records = {}
    end
    if st == 'paused' and #records == 0 then
      local since = redis.call('HGET', sk, 'updated_at') or now
      redis.call('RPUSH', key, cjson.encode({paused_at = since, kind = 'definition'}))
    end
    local same = {}
    for _, entry in ipairs(records) do
      local until_ = entry[2]['paused_until']
      local is_timed = until_ ~= nil and until_ ~= cjson.null
      if entry[2]['kind'] == kind and is_timed == timed then same[#same + 1] = entry end
    end
    if #same == 0 or news then
      for _, entry in ipairs(same) do close_record(p, name, entry, now) end
      redis.call('RPUSH', key, record)
      if timed then
        redis.call('ZADD', p .. 'pauses-ending', 0, ARGV[4] .. '|' .. kind .. '|' .. name)
      end
    end
    redis.call('SADD', p .. 'pauses-open', name)
    if st == 'active' then
      set_status(p, name, 'active', 'paused', now)
      changed[#changed + 1] = name
    end
  end
end
return changed
"""
)

#: ARGV[2]: when, ARGV[3]: the kinds (JSON list), ARGV[4..]: the names (none: wherever
#: a pause of those kinds is open). See ``Store.resume_schedules``.
_RESUME_SCHEDULES = (
    _PAUSE_RECORDS
    + """
local p, now, kinds = ARGV[1], ARGV[2], {}
for _, k in ipairs(cjson.decode(ARGV[3])) do kinds[k] = true end
local names = {}
local every = #ARGV < 4
if every then
  names = redis.call('SMEMBERS', p .. 'pauses-open')
else
  for j = 4, #ARGV do names[#names + 1] = ARGV[j] end
end
local touched = {}
for _, name in ipairs(names) do
  local ended = false
  for _, entry in ipairs(open_of(p, name)) do
    if kinds[entry[2]['kind']] then
      close_record(p, name, entry, now)
      ended = true
    end
  end
  if ended or not every then touched[#touched + 1] = name end
end
return resume_unheld(p, touched, now)
"""
)

#: ARGV[2]: when. See ``Store.expire_pauses``.
_EXPIRE_PAUSES = (
    _PAUSE_RECORDS
    + """
local p, now = ARGV[1], ARGV[2]
if redis.call('HSETNX', p .. 'meta', 'pauses-kinds', '1') == 1 then
  -- once, on a state written before pauses had kinds: what each open one covers, from
  -- the value that named the schedules a pause call paused, and their ends indexed
  local calls = redis.call('HGET', p .. 'meta', 'paused_by_call')
  local ok, decoded = pcall(cjson.decode, calls or '{}')
  calls = ok and type(decoded) == 'table' and decoded or {}
  local by_call, together = {}, {}
  for _, n in ipairs(calls['any'] or {}) do by_call[n] = true end
  for _, n in ipairs(calls['together'] or {}) do together[n] = true end
  for _, name in ipairs(redis.call('SMEMBERS', p .. 'pauses-open')) do
    local key = p .. 'pauses:' .. name
    for i, text in ipairs(redis.call('LRANGE', key, 0, -1)) do
      local r = cjson.decode(text)
      local open = r['resumed_at'] == nil or r['resumed_at'] == cjson.null
      if open and (r['kind'] == nil or r['kind'] == cjson.null) then
        r['kind'] = 'operator'
        if r['paused_by'] == 'uno-schedule' then r['kind'] = 'failures'
        elseif together[name] then r['kind'] = 'all'
        elseif not by_call[name] then  -- a pause again over the definition's own
          redis.call('RPUSH', key, cjson.encode({paused_at = r['paused_at'], kind = 'definition'}))
        end
        redis.call('LSET', key, i - 1, cjson.encode(r))
        local member = ending_member(name, r)
        if member then redis.call('ZADD', p .. 'pauses-ending', 0, member) end
      end
    end
  end
  redis.call('HDEL', p .. 'meta', 'paused_by_call')
end
local touched, seen = {}, {}
for _, member in ipairs(redis.call('ZRANGEBYLEX', p .. 'pauses-ending', '-', '[' .. now .. '~')) do
  local name = string.match(member, '^[^|]*|[^|]*|(.*)$')
  if not seen[name] then
    seen[name] = true
    for _, entry in ipairs(open_of(p, name)) do
      local until_ = entry[2]['paused_until']
      if until_ ~= nil and until_ ~= cjson.null and until_ <= now then
        close_record(p, name, entry, now)
      end
    end
    touched[#touched + 1] = name
  end
  redis.call('ZREM', p .. 'pauses-ending', member)
end
return resume_unheld(p, touched, now)
"""
)

_SET_STATUS = (
    _PAUSE_RECORDS
    + """
local p = ARGV[1]
local status, now, every = ARGV[2], ARGV[3], ARGV[4] == '1'
local names
if every then
  names = redis.call('ZRANGE', p .. 'schedules', 0, -1)
else
  names = {}
  for j = 5, #ARGV do names[#names + 1] = ARGV[j] end
end
local changed = {}
for _, name in ipairs(names) do
  local sk = p .. 'schedule:' .. name
  local st = redis.call('HGET', sk, 'status')
  local eligible = st and st ~= status
  if every and (st == 'removed' or st == 'completed') then eligible = false end
  if eligible then
    redis.call('HSET', sk, 'status', status, 'updated_at', now)
    redis.call('SREM', p .. 'status:' .. st, name)
    redis.call('SADD', p .. 'status:' .. status, name)
    if status == 'removed' then end_removed_pauses(p, name) end
    changed[#changed + 1] = name
  end
end
if #changed > 0 and status == 'removed' then  -- the definitions in force changed
  redis.call('HINCRBY', p .. 'meta', 'generation', 1)
end
return changed
"""
)

#: ARGV[2]: how many schedules, then for each: name, next run, anchor ('' for the next
#: run: none; for the anchor: kept). See ``Store.set_next_runs``.
_SET_NEXT_RUNS = """
local p = ARGV[1]
local i = 3
for c = 1, tonumber(ARGV[2]) do
  local sk = p .. 'schedule:' .. ARGV[i]
  if redis.call('EXISTS', sk) == 1 then
    if ARGV[i + 1] == '' then redis.call('HDEL', sk, 'next_run')
    else redis.call('HSET', sk, 'next_run', ARGV[i + 1]) end
    if ARGV[i + 2] ~= '' then redis.call('HSET', sk, 'anchor', ARGV[i + 2]) end
  end
  i = i + 3
end
return 1
"""

_DELETE_SCHEDULE = """
local p, name = ARGV[1], ARGV[2]
local sk = p .. 'schedule:' .. name
local st = redis.call('HGET', sk, 'status')
if not st then return 0 end
redis.call('SREM', p .. 'status:' .. st, name)
redis.call('DEL', sk, p .. 'versions:' .. name)
redis.call('ZREM', p .. 'schedules', name)
return 1
"""

#: ``prune_runs`` in one script, so that choosing a run, re-checking that it finished and
#: deleting it with its counts folded into the totals cannot be split by a write.
#: ARGV[2]: 'keep' (ARGV[4]: the schedule, ARGV[5]: how many newest to keep) or
#: 'before' (ARGV[4]: the instant); ARGV[3]: at most this many. Returns
#: ``{schedule, run_id, ...}`` of the runs deleted.
_PRUNE = """
local p, mode, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local members
if mode == 'keep' then
  members = redis.call('ZREVRANGEBYLEX', p .. 'history:' .. ARGV[4], '+', '-',
                       'LIMIT', tonumber(ARGV[5]), limit)
else
  -- the oldest by scheduled instant; a few more than wanted, past runs still going
  members = redis.call('ZRANGEBYLEX', p .. 'history', '-', '(' .. ARGV[4],
                       'LIMIT', 0, limit * 4)
end
local ran = {success = 1, error = 1, timeout = 1, interrupted = 1}
local failed = {error = 1, timeout = 1, interrupted = 1}
local out, counts, order = {}, {}, {}
local n = 0
for _, m in ipairs(members) do
  if n >= limit then break end
  local run_id = string.match(m, '([^|]*)$')
  local rk = p .. 'run:' .. run_id
  local f = redis.call('HMGET', rk, 'result', 'schedule', 'duration', 'okey')
  local result, sched, duration, okey = f[1], f[2], f[3], f[4]
  if not result then
    redis.call('ZREM', p .. 'history', m)  -- a member without its run: tidy it away
  elseif result ~= 'queued' and result ~= 'running' then
    local c = counts[sched]
    if c == nil then
      c = {0, 0, 0, 0, 0, 0}
      counts[sched] = c
      order[#order + 1] = sched
    end
    if ran[result] then c[1] = c[1] + 1 end
    if result == 'success' then c[2] = c[2] + 1 end
    if failed[result] then c[3] = c[3] + 1 end
    if result == 'missed' then c[4] = c[4] + 1 end
    if result == 'skipped' then c[5] = c[5] + 1 end
    if duration then
      c[6] = c[6] + 1
      -- the stored text, added by Redis itself: no rounding through a Lua number
      redis.call('HINCRBYFLOAT', p .. 'totals:' .. sched, 'total_duration', duration)
    end
    redis.call('DEL', rk)
    redis.call('ZREM', p .. 'history', m)
    redis.call('ZREM', p .. 'history:' .. sched, m)
    if okey and redis.call('HGET', p .. 'occurrences', okey) == run_id then
      redis.call('HDEL', p .. 'occurrences', okey)
    end
    redis.call('SREM', p .. 'unfinished', run_id)
    redis.call('SREM', p .. 'worker-held', run_id)
    n = n + 1
    out[#out + 1] = sched
    out[#out + 1] = run_id
  end
end
local names = {'run_count', 'success_count', 'error_count', 'missed_count', 'skipped_count',
               'finished_count'}
for _, sched in ipairs(order) do
  local tk = p .. 'totals:' .. sched
  for j, field in ipairs(names) do
    redis.call('HINCRBY', tk, field, counts[sched][j])
  end
  redis.call('SADD', p .. 'totals', sched)
end
if mode == 'before' then
  -- events recorded before the instant, the oldest first from where the last prune
  -- stopped (ids are sequential; stored instants compare as text)
  local cursor = tonumber(redis.call('GET', p .. 'events-pruned') or '0')
  local last = tonumber(redis.call('GET', p .. 'event-id') or '0')
  local upto = math.min(last, cursor + limit)
  while cursor < upto do
    local record = redis.call('HGET', p .. 'events', cursor + 1)
    if record and cjson.decode(record)['created_at'] >= ARGV[4] then break end
    if record then redis.call('HDEL', p .. 'events', cursor + 1) end
    cursor = cursor + 1
  end
  redis.call('SET', p .. 'events-pruned', cursor)
end
return out
"""


# -- wake-ups -------------------------------------------------------------------------


class _PubSubWaiter(Waiter):
    """Subscribed to the wake-up channel; survives a Redis restart by subscribing again."""

    def __init__(self, client: Any, channel: str, where: str, lease_key: str) -> None:
        self._client = client
        self._channel = channel
        self._where = where
        self._lease_key = lease_key
        self._pubsub: Any = None
        self._closed = threading.Event()
        self._failing = False
        try:
            self._subscribe()
        except (redis.RedisError, OSError) as exc:
            self._lost(exc)

    def _subscribe(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=False)
        try:
            pubsub.subscribe(self._channel)
            deadline = time.monotonic() + SOCKET_TIMEOUT
            while time.monotonic() < deadline:  # subscribed once the server confirms
                message = pubsub.get_message(timeout=0.5)
                if message is not None and message.get("type") == "subscribe":
                    break
        except BaseException:
            with contextlib.suppress(Exception):
                pubsub.close()
            raise
        self._pubsub = pubsub
        if self._failing or _PubSubWaiter._told:
            if _PubSubWaiter._told:
                log.warning("wake-ups from %s work again", self._where)
            self._failing = _PubSubWaiter._told = False

    #: Whether some waiter of this process already said that wake-ups are lost (a
    #: runner makes a new waiter at each attempt to lead during an outage).
    _told = False

    def _lost(self, exc: BaseException) -> None:
        if not self._failing and not _PubSubWaiter._told:
            log.warning("wake-ups from %s lost (%s); retrying", self._where, exc)
            _PubSubWaiter._told = True
        self._failing = True
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                self._pubsub.close()
        self._pubsub = None

    def wait(self, timeout: float) -> bool:
        """Also returns (False) just after the lease expires in Redis: a standby waiting
        here tries to take it then, not up to a poll period later."""
        with contextlib.suppress(redis.RedisError, OSError):
            left = self._client.pttl(self._lease_key)
            if 0 < left < timeout * 1000:
                timeout = left / 1000 + 0.002
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._closed.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                if self._pubsub is None:
                    self._subscribe()
                message = self._pubsub.get_message(timeout=remaining)
            except (redis.RedisError, OSError, ValueError, AttributeError) as exc:
                if self._closed.is_set():
                    return False
                self._lost(exc)
                self._closed.wait(min(max(0.0, deadline - time.monotonic()), 0.5))
                continue
            if message is not None and message.get("type") == "message":
                self.drain()
                return True
        return False

    def drain(self) -> None:
        """Swallow notifications already sent, so that a burst of them wakes us once."""
        with contextlib.suppress(Exception):
            while self._pubsub is not None:
                message = self._pubsub.get_message(timeout=0.002)
                if message is None:
                    return

    def close(self) -> None:
        self._closed.set()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()


class RedisWakeups(Wakeups):
    """``notify`` and ``waiter`` over pub/sub: a publish reaches every subscriber within
    a round trip, and needs neither a shared file system nor the leader's address."""

    def __init__(self, client: Any, channel: str, where: str, lease_key: str) -> None:
        self._client = client
        self.channel = channel
        self._where = where
        self._lease_key = lease_key

    def notify(self) -> None:
        try:
            self._client.publish(self.channel, "wake")
        except (redis.RedisError, OSError) as exc:  # the leader then sees it within a tick
            log.debug("cannot publish a wake-up to %s: %s", self._where, exc)

    def waiter(self) -> Waiter:
        return _PubSubWaiter(self._client, self.channel, self._where, self._lease_key)


# -- the store ------------------------------------------------------------------------


def _check_database(url: str, shown: str) -> None:
    """The database of a ``redis://`` URL is one number (``/3``) or none: redis-py reads
    ``/1/2`` as database 12 and ``/abc`` as 0, another installation's data or none."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        return
    path = parts.path.strip("/") if parts.path.count("/") <= 1 else parts.path
    if path and not (path.isascii() and path.isdigit()):
        raise StateError(
            f"cannot use Redis URL {shown}: the database must be one number, as in "
            f"redis://host:6379/0, not {parts.path!r}"
        )


def _password() -> str | None:
    """The password of a URL without one: from the file ``UNO_SCHEDULE_REDIS_PASSWORD_FILE``
    names, else the systemd credential ``redis-password``, else ``UNO_SCHEDULE_REDIS_PASSWORD``
    (a file's trailing newline is not part of it)."""
    path = os.environ.get(PASSWORD_FILE_ENV)
    if not path:
        folder = os.environ.get("CREDENTIALS_DIRECTORY")
        credential = os.path.join(folder, CREDENTIAL) if folder else None
        path = credential if credential and os.path.exists(credential) else None
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().rstrip("\r\n") or None
        except OSError as exc:
            raise StateError(
                f"cannot read the Redis password from {path}: {exc.strerror or exc}"
            ) from None
    return os.environ.get(PASSWORD_ENV) or None


class RedisStorage(Store, WorkerQueues):
    """State in one Redis, shared by the schedulers and workers of several hosts.

    ``redis_url``: ``redis://[:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://`` for TLS, or
    ``unix:///path/to/socket``; without a password in the URL, the one in the file that
    ``UNO_SCHEDULE_REDIS_PASSWORD_FILE`` names (or the systemd credential
    ``redis-password``, or ``UNO_SCHEDULE_REDIS_PASSWORD``) is used. ``key_prefix`` keeps
    installations apart.
    """

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379/0",
        *,
        key_prefix: str = DEFAULT_PREFIX,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        if not key_prefix:
            raise StateError("the Redis key prefix must not be empty")
        self.url = redacted_url(redis_url)
        self._spec = redis_url
        self.prefix = key_prefix if key_prefix.endswith(":") else key_prefix + ":"
        kwargs: dict[str, Any] = {
            "decode_responses": True,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": min(socket_timeout, 2.0),
            # No automatic retry: a script retried after a timeout could have run once
            # already. An error is reported instead, and the caller treats it as "not
            # leader" (a run loop) or prints it (a command).
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 15,
        }
        _check_database(redis_url, self.url)
        try:
            password = None if urlsplit(redis_url).password is not None else _password()
            if password:
                kwargs["password"] = password
            #: Typed loosely: redis-py's answers are str or bytes by a constructor flag.
            self.client: Any = redis.Redis.from_url(redis_url, **kwargs)
        except (ValueError, redis.RedisError) as exc:
            raise StateError(f"cannot use Redis URL {self.url}: {exc}") from None
        self._wakeups = RedisWakeups(self.client, self.k("wake"), self.url, self.k("lease"))
        self._scripts: dict[str, Any] = {}
        #: The instance that took each lease epoch through this handle (see ``_fence``).
        self._holders: dict[int, str] = {}

    # -- plumbing ---------------------------------------------------------------------

    def k(self, *parts: str) -> str:
        """The key ``PREFIX`` + ``parts`` joined by ``:``."""
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _talk(self) -> Iterator[None]:
        """Turn a failure to talk to Redis into a one-line ``StateError`` (no password)."""
        try:
            yield
        except redis.AuthenticationError as exc:
            if "required" in str(exc).lower():
                raise StateError(f"Redis at {self.url} needs a password ({_WHERE})") from None
            raise StateError(
                f"Redis at {self.url} refused the password (from the URL or {_WHERE})"
            ) from None
        except redis.ResponseError as exc:
            text = str(exc)
            if "NOAUTH" in text:
                raise StateError(f"Redis at {self.url} needs a password ({_WHERE})") from None
            raise StateError(f"Redis at {self.url} refused a command: {text}") from None
        except (redis.RedisError, OSError) as exc:
            raise StateError(f"cannot reach Redis at {self.url}: {exc}") from None

    def _script(self, source: str, *args: Any) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        with self._talk():
            return script(args=[self.prefix, *args])

    def _hashes(self, keys: Sequence[str], fields: Sequence[str] | None = None) -> list[Any]:
        """HGETALL (or HMGET of ``fields``) of many keys, pipelined by chunks."""
        out: list[Any] = []
        with self._talk():
            for chunk in _chunks(keys):
                pipe = self.client.pipeline(transaction=False)
                for key in chunk:
                    if fields is None:
                        pipe.hgetall(key)
                    else:
                        pipe.hmget(key, list(fields))
                out.extend(pipe.execute())
        return out

    def _runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        hashes = self._hashes([self.k("run", r) for r in run_ids])
        return [_run_from_hash(h) for h in hashes if h]

    # -- schedules --------------------------------------------------------------------

    def get_schedule(self, name: str) -> ScheduleState | None:
        with self._talk():
            h = self.client.hgetall(self.k("schedule", name))
        return _schedule_from_hash(h) if h else None

    def list_schedules(
        self,
        *,
        definitions: bool = True,
        statuses: Collection[str] | None = None,
        source: str | None = None,
    ) -> list[ScheduleState]:
        found = self._list_schedules(definitions, statuses)
        return found if source is None else [s for s in found if s.source == source]

    def _list_schedules(
        self, definitions: bool, statuses: Collection[str] | None
    ) -> list[ScheduleState]:
        with self._talk():
            if statuses is None:
                names = self.client.zrange(self.k("schedules"), 0, -1)
            elif not statuses:
                return []
            else:
                names = sorted(self.client.sunion([self.k("status", s) for s in statuses]))
        keys = [self.k("schedule", n) for n in names]
        if definitions:
            return [_schedule_from_hash(h) for h in self._hashes(keys) if h]
        out = []
        for values in self._hashes(keys, _SCHEDULE_LIGHT):
            if values[0] is None:
                continue  # deleted meanwhile
            h = {f: v for f, v in zip(_SCHEDULE_LIGHT, values, strict=True) if v is not None}
            out.append(_schedule_from_hash(h))
        return out

    def save_schedules(self, items: Iterable[tuple[ScheduleState, VersionRecord | None]]) -> None:
        """One script per ``_CHUNK`` schedules: one script for 100,000 would hold every
        other client of this Redis (the lease renewals too) off for seconds. The last
        script moves the generation, once, so that a reader that sees it move sees the
        whole save. A save that fails part way leaves the chunks it wrote and moves the
        generation for them if Redis still answers, so that followers take them (a
        script left without an answer may have run: one move too many costs a follower
        a needless look, one too few would hide a change from it)."""
        batches = (_save_batch(chunk) for chunk in _chunks(items))
        batch = next(batches, "[]")
        sent = False
        try:
            for following in batches:
                sent = True
                self._script(_SAVE_SCHEDULES, batch, "0")
                batch = following
            sent = True
            self._script(_SAVE_SCHEDULES, batch, "1")
        except BaseException:
            if sent:
                with contextlib.suppress(StateError):
                    self._bump_generation()
            raise

    def _bump_generation(self) -> None:
        with self._talk():
            self.client.hincrby(self.k("meta"), "generation", 1)

    def save_schedule_if(
        self, state: ScheduleState, version: VersionRecord, *, expected_version: int | None
    ) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        item = json.dumps(_save_item(state, version), separators=(",", ":"))
        return bool(self._script(_SAVE_SCHEDULE_IF, state.name, expected, item))

    def set_status(self, names: Sequence[str] | None, status: str, now: datetime) -> list[str]:
        every = names is None
        listed = [] if names is None else sorted(set(names))
        if not every and not listed:
            return []
        changed = self._script(_SET_STATUS, status, _format_ts(now), "1" if every else "0", *listed)
        return list(changed)

    def set_next_runs(
        self,
        next_runs: Mapping[str, datetime | None],
        *,
        anchors: Mapping[str, datetime] | None = None,
    ) -> None:
        anchors = anchors or {}
        for chunk in _chunks(next_runs.items()):
            args: list[Any] = [len(chunk)]
            for name, when in chunk:
                args += [name, _ts(when) or "", _ts(anchors.get(name)) or ""]
            self._script(_SET_NEXT_RUNS, *args)

    def delete_schedule(self, name: str) -> bool:
        return bool(self._script(_DELETE_SCHEDULE, name))

    def versions(self, name: str) -> list[VersionRecord]:
        with self._talk():
            rows = self.client.hgetall(self.k("versions", name))
        out = []
        for number, text in rows.items():
            data = json.loads(text)
            out.append(
                VersionRecord(
                    schedule=name,
                    version=int(number),
                    changed_at=_parse_ts(data["changed_at"]),
                    changelog=data.get("changelog") or "",
                    source=data.get("source") or "",
                    definition=data.get("definition") or {},
                    diff=data.get("diff") or "",
                )
            )
        out.sort(key=lambda v: v.version, reverse=True)
        return out

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
        batch = []
        for claim in claims:
            run = claim.run
            fields = _run_fields(run, epoch=epoch)
            batch.append(
                (
                    claim.key,
                    run.run_id,
                    run.schedule,
                    0 if claim.next_run is None else 1,
                    _ts(claim.next_run) or "",
                    1 if run.result in _UNFINISHED else 0,
                    _history_member(run),
                    [x for pair in fields.items() for x in pair],
                    _format_ts(run.finished_at)
                    if run.result == "success" and run.finished_at is not None
                    else "",
                )
            )
        args = [
            self._fence(epoch),
            json.dumps(batch, separators=(",", ":")),
            json.dumps(sorted(set(completed))),
            _format_ts(now or datetime.now(UTC)),
        ]
        results = self._script(_CLAIM, *args)
        if results and results[0] == -1:
            return [False] * len(claims)
        return [bool(r) for r in results]

    def _enqueue_args(self, runs: Sequence[RunRecord], now: datetime) -> list[Any]:
        args: list[Any] = [len(runs)]
        for run in runs:
            queued_at = run.queued_at or now
            fields = _run_fields(run, epoch=0, result="queued", queued_at=queued_at)
            member = _history_member(RunRecord(**{**run.__dict__, "queued_at": queued_at}))
            args += [run.run_id, run.schedule, member, _format_ts(queued_at), len(fields)]
            for key, value in fields.items():
                args += [key, value]
        return args

    def enqueue(self, run: RunRecord) -> None:
        self._script(_ENQUEUE, "", *self._enqueue_args([run], datetime.now(UTC)))

    def record_started(self, run: RunRecord) -> None:
        started = run.started_at or datetime.now(UTC)
        queued = run.queued_at or started
        fields = _run_fields(run, epoch=0, result="running", started_at=started, queued_at=queued)
        member = _history_member(RunRecord(**{**run.__dict__, "queued_at": queued}))
        args = [f"started:{run.run_id}", run.run_id, run.schedule, member]
        self._script(_RECORD_STARTED, *args, *(x for pair in fields.items() for x in pair))

    def start_in_foreground(
        self, run_id: str, started_at: datetime, pid: int | None, instance_id: str
    ) -> bool:
        started = _format_ts(started_at)
        pid_arg = "" if pid is None else str(pid)
        return bool(self._script(_START_IN_FOREGROUND, run_id, started, pid_arg, instance_id))

    def take_queued(self, epoch: int, instance_id: str) -> list[RunRecord]:
        """Fenced like ``claim``: a stale leader gets nothing, so a queued run starts once."""
        with self._talk():
            if not self.client.exists(self.k("queued")):
                return []  # an idle leader's tick: one read
        taken = self._script(_TAKE_QUEUED, f"{epoch}|{instance_id}", instance_id)
        if not taken or taken[0] == -1:
            return []
        runs = self._runs(taken)
        runs.sort(key=lambda r: r.queued_at or r.scheduled_time)
        return runs

    def start_runs(self, starts: Sequence[tuple[str, datetime, int | None]]) -> list[str]:
        if not starts:
            return []
        args: list[Any] = [len(starts)]
        for run_id, started_at, pid in starts:
            args += [run_id, _format_ts(started_at), "" if pid is None else str(pid)]
        return list(self._script(_START, *args))

    def start_in_group(
        self, run_id: str, started_at: datetime, members: Sequence[str], limit: int
    ) -> bool:
        started = _format_ts(started_at)
        return bool(self._script(_START_IN_GROUP, run_id, started, limit, *members))

    def finish_runs(self, finishes: Sequence[Finish]) -> list[str]:
        if not finishes:
            return []
        ids = [f.run_id for f in finishes]
        with self._talk():
            pipe = self.client.pipeline(transaction=False)
            for run_id in ids:
                pipe.hmget(self.k("run", run_id), ["scheduled_time", "started_at"])
            known = pipe.execute()
        args: list[Any] = [0]
        for finish, (scheduled, started) in zip(finishes, known, strict=True):
            if scheduled is None:
                continue  # unknown run: ignored
            args += _end_args(finish, _dt(started), scheduled)
            args.append(_then_arg(finish))
            args[0] += 1
        if not args[0]:
            return []
        return list(self._script(_FINISH, *args))

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._talk():
            h = self.client.hgetall(self.k("run", run_id))
        return _run_from_hash(h) if h else None

    def active_runs(self) -> list[RunRecord]:
        with self._talk():
            pipe = self.client.pipeline(transaction=False)
            pipe.sunion([self.k("unfinished"), self.k("foreground")])
            pipe.zrange(self.k("queued"), 0, -1)
            held, queued = pipe.execute()
        ids = sorted(set(held) | {_member_id(m) for m in queued})
        runs = [r for r in self._runs(ids) if r.result in _UNFINISHED]
        runs.sort(key=lambda r: (r.scheduled_time, r.attempt, r.run_id))
        return runs

    def run_ids_starting(self, prefix: str, limit: int) -> list[str]:
        # SCAN over the run keys: no index of ids is kept for this, and a shortened id is
        # looked up once a command, not on the run loop's path
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.k("run", prefix)) + "*"
        start = len(self.k("run", ""))
        with self._talk():
            found = sorted(
                key[start:]
                for key in self.client.scan_iter(match=pattern, count=1000)
                if ":" not in key[start:]
            )
        return found[:limit]

    def history(self, name: str | None, limit: int = 50) -> list[RunRecord]:
        key = self.k("history") if name is None else self.k("history", name)
        with self._talk():
            members = self.client.zrevrangebylex(key, "+", "-", start=0, num=limit)
        return self._runs([_member_id(m) for m in members])

    def foreground_runs(self) -> list[RunRecord]:
        """The set ``foreground`` (written by ``record_started``) is trimmed here of the
        runs that ended since, so the scripts that finish runs need not know of it."""
        with self._talk():
            ids = sorted(self.client.smembers(self.k("foreground")))
        runs = self._runs(ids)
        running = [r for r in runs if r.result == "running" and r.epoch == 0]
        done = set(ids) - {r.run_id for r in running}
        if done:
            with self._talk():
                self.client.srem(self.k("foreground"), *done)
        return sorted(running, key=lambda r: r.started_at or r.scheduled_time)

    def unfinished_runs(self) -> list[RunRecord]:
        with self._talk():
            # runs held by workers are theirs to settle (a dead worker's are reclaimed from
            # its stream), not a new leader's
            ids = sorted(self.client.sdiff([self.k("unfinished"), self.k("worker-held")]))
        runs = [r for r in self._runs(ids) if r.result in _UNFINISHED and r.epoch > 0]
        runs.sort(key=lambda r: (r.scheduled_time, r.attempt))
        return runs

    def run_counts(
        self,
        since: datetime | None = None,
        schedule: str | None = None,
        recent: datetime | None = None,
    ) -> dict[str, dict[str, Any]]:
        """As SQLite's: by ``scheduled_time >= since``; read by chunks of the history
        (of one schedule's history with ``schedule``)."""
        low = "-" if since is None else "[" + _format_ts(since)
        index = self.k("history") if schedule is None else self.k("history", schedule)
        with self._talk():
            members = self.client.zrangebylex(index, low, "+")
        keys = [self.k("run", _member_id(m)) for m in members]
        counted = _COUNT_KEYS + ((statements.RECENT_RUN_COUNT,) if recent else ())
        from_recent = _format_ts(recent) if recent else None
        out: dict[str, dict[str, Any]] = {}
        fields = ("schedule", "result", "duration", "scheduled_time")
        for name, result, duration, at in self._hashes(keys, fields):
            if name is None:
                continue
            c = out.get(name)
            if c is None:
                c = out[name] = dict.fromkeys(counted, 0)
                c["total_duration"] = 0.0
            if result in statements.RAN:
                c["run_count"] += 1
                if from_recent is not None and at >= from_recent:
                    c[statements.RECENT_RUN_COUNT] += 1
                if result == "success":
                    c["success_count"] += 1
                else:
                    c["error_count"] += 1
            elif result == "missed":
                c["missed_count"] += 1
            elif result == "skipped":
                c["skipped_count"] += 1
            if duration is not None:
                c["total_duration"] += float(duration)
                c["finished_count"] += 1
        if since is None:  # the totals of pruned runs count too (none of them recent)
            self._add_totals(out, schedule, counted)
        return out

    def _add_totals(
        self, out: dict[str, dict[str, Any]], schedule: str | None, counted: tuple[str, ...]
    ) -> None:
        with self._talk():
            names = sorted(self.client.smembers(self.k("totals")))
            if schedule is not None:
                names = [n for n in names if n == schedule]
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(self.k("totals", name))
            found = pipe.execute()
        for name, totals in zip(names, found, strict=True):
            if not totals:
                continue
            c = out.setdefault(name, dict.fromkeys(counted, 0))
            for key in _COUNT_KEYS:
                value = totals.get(key)
                if value is not None:
                    c[key] += float(value) if key == "total_duration" else int(value)
            c["total_duration"] = float(c["total_duration"])

    # -- events -----------------------------------------------------------------------

    def add_event(
        self, name: str, payload: dict[str, Any] | None, runs: Sequence[RunRecord], now: datetime
    ) -> int:
        for run in runs:
            if run.event is None and payload is not None:
                run.event = payload
            if run.queued_at is None:
                run.queued_at = now
        record = _ENCODE({"name": name, "payload": payload, "created_at": _format_ts(now)})
        return int(self._script(_ENQUEUE, record, *self._enqueue_args(runs, now)))

    # -- leadership -------------------------------------------------------------------

    def acquire_lease(self, instance_id: str, ttl: float, now: datetime) -> Lease | None:
        """Free (expired in Redis, or by ``now``), or ours: taken; else None."""
        expires = now + timedelta(seconds=ttl)
        text = self._script(
            _LEASE_ACQUIRE, instance_id, _format_ts(now), _format_ts(expires), _ttl_ms(ttl)
        )
        lease = _lease_from_json(text)
        if lease is not None:
            self._holders[lease.epoch] = lease.instance_id
        return lease

    def renew_lease(self, instance_id: str, epoch: int, ttl: float, now: datetime) -> bool:
        expires = now + timedelta(seconds=ttl)
        renewed = bool(
            self._script(_LEASE_RENEW, instance_id, str(epoch), _format_ts(expires), _ttl_ms(ttl))
        )
        if renewed:
            self._holders[epoch] = instance_id
        return renewed

    def _fence(self, epoch: int) -> str:
        """What the fence compares: the epoch and the instance this handle took it for
        (the epoch alone for a handle that never took a lease)."""
        holder = self._holders.get(epoch)
        return f"{epoch}|{holder}" if holder is not None else str(epoch)

    def release_lease(self, instance_id: str, epoch: int) -> None:
        """Never raises: a lease that cannot be released expires by itself."""
        try:
            self._script(_LEASE_RELEASE, instance_id, str(epoch))
        except StateError as exc:
            log.warning("cannot release the lease (it expires by itself): %s", exc)

    def current_lease(self) -> Lease | None:
        """``P:lease`` while it lives, else ``P:lease-record``: the lease its holder last
        took or renewed, past its expiry, until released or taken over (``P:lease`` first:
        a holder of an earlier version writes no record)."""
        with self._talk():
            live, last = self.client.mget(self.k("lease"), self.k("lease-record"))
        lease = _lease_from_json(live or last)
        if lease is not None and not live:  # the fence refuses its holder now
            lease = replace(lease, fences=False)
        return lease

    # -- pauses: one script each, deciding from the records ----------------------------

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
        if names is not None and not names:
            return []
        record = _pause_json(PauseRecord("", at, until, reason, by, None, kind))
        news = "1" if reason is not None or until is not None else "0"
        listed = [] if names is None else sorted(set(names))
        args = (kind, _format_ts(at), _ts(until) or "", record, news, *listed)
        return list(self._script(_PAUSE_SCHEDULES, *args))

    def resume_schedules(
        self, names: Sequence[str] | None, kinds: Collection[PauseKind], at: datetime
    ) -> list[str]:
        if names is not None and not names:
            return []
        listed = [] if names is None else sorted(set(names))
        kinds_json = json.dumps(sorted(kinds))
        return list(self._script(_RESUME_SCHEDULES, _format_ts(at), kinds_json, *listed))

    def expire_pauses(self, at: datetime) -> list[str]:
        return list(self._script(_EXPIRE_PAUSES, _format_ts(at)))

    def open_pauses(self) -> list[PauseRecord]:
        with self._talk():
            names = sorted(self.client.smembers(self.k("pauses-open")))
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.lrange(self.k("pauses", name), 0, -1)
            lists = pipe.execute()
        found = [
            _pause_from_json(name, text)
            for name, texts in zip(names, lists, strict=True)
            for text in texts
        ]
        return sorted((p for p in found if p.resumed_at is None), key=lambda p: p.paused_at)

    def pauses(self, name: str, since: datetime, until: datetime) -> list[PauseRecord]:
        with self._talk():
            texts = self.client.lrange(self.k("pauses", name), 0, -1)
        records = [_pause_from_json(name, t) for t in texts]
        return [
            p
            for p in records
            if p.paused_at <= until and (p.resumed_at is None or p.resumed_at >= since)
        ]

    # -- operations: retention, explain, backfill, dead-man alarms -----------

    def clone(self) -> RedisStorage:
        """A second handle on the same connection pool: the pruner's scripts and reads
        then go over connections of their own (redis-py takes one from the pool per
        command) and its script cache is its own; closing it leaves the pool to us."""
        other = object.__new__(RedisStorage)
        other.url, other.prefix, other._spec = self.url, self.prefix, self._spec
        other.client = redis.Redis(connection_pool=self.client.connection_pool)
        other._wakeups = self._wakeups
        other._scripts = {}
        other._holders = self._holders
        return other

    def runs_between(self, name: str, since: datetime, until: datetime) -> list[RunRecord]:
        """A range of the schedule's history: its members start with the fixed-width
        scheduled instant, and ``|`` then digits sort below ``~``."""
        low, high = "[" + _format_ts(since), "(" + _format_ts(until) + "|~"
        with self._talk():
            members = self.client.zrangebylex(self.k("history", name), low, high)
        return self._runs([_member_id(m) for m in members])

    def claim_notification(self, key: str, at: datetime) -> bool:
        seconds = int(NOTIFICATION_MEMORY.total_seconds())
        with self._talk():
            return bool(
                self.client.set(self.k("notified", key), _format_ts(at), nx=True, ex=seconds)
            )

    def enqueue_unique(self, runs: Sequence[RunRecord]) -> list[bool]:
        """Keyed as SQLite keys them (``NAME@INSTANT#TRIGGER``, the instant fixed-width),
        in one script."""
        if not runs:
            return []
        now = datetime.now(UTC)
        args: list[Any] = [len(runs)]
        for run in runs:
            queued_at = run.queued_at or now
            fields = _run_fields(run, epoch=0, result="queued", queued_at=queued_at)
            member = _history_member(RunRecord(**{**run.__dict__, "queued_at": queued_at}))
            key = f"{run.schedule}@{_format_ts(run.scheduled_time)}#{run.trigger}"
            args += [key, run.run_id, run.schedule, member, _format_ts(queued_at), len(fields)]
            for field, value in fields.items():
                args += [field, value]
        return [bool(r) for r in self._script(_ENQUEUE_UNIQUE, *args)]

    def last_successes(self) -> dict[str, datetime]:
        """Kept up to date by the scripts that record a success, apart from the runs
        (so pruning never touches it), and thus one read."""
        with self._talk():
            found = self.client.hgetall(self.k("last-success"))
        return {name: _parse_ts(text) for name, text in found.items()}

    def run_totals(self) -> dict[str, int]:
        """The size of each schedule's history; the schedules are those that ever had a
        run, and every defined one (for a state written before that set was kept)."""
        with self._talk():
            names = set(self.client.smembers(self.k("run-schedules")))
            names.update(self.client.zrange(self.k("schedules"), 0, -1))
            ordered = sorted(names)
            sizes: list[int] = []
            for chunk in _chunks(ordered):
                pipe = self.client.pipeline(transaction=False)
                for name in chunk:
                    pipe.zcard(self.k("history", name))
                sizes.extend(pipe.execute())
        return {name: int(size) for name, size in zip(ordered, sizes, strict=True) if size}

    def prune_runs(
        self, name: str | None, *, keep: int | None, before: datetime | None, limit: int
    ) -> Pruned:
        """One script (see ``_PRUNE``): Redis runs nothing else meanwhile, so ``seconds``
        (the round trip, an upper bound) is how long every other client waited. By age,
        events recorded before ``before`` go too (the oldest ``limit`` of them).

        By age, the candidates are the oldest by scheduled instant (the history's
        order), where SQLite looks at the oldest recorded: a run recorded late for an
        old instant (a backfill) goes here in its turn by age.

        Like SQLite, the occurrence claim goes with the run. That cannot re-fire it: its
        claim moved ``next_run`` past it, and the loop asks only for instants from
        ``next_run`` on. A ``next_run`` computed afresh (after a change of definition or
        a resume) starts from the wall clock, so only a clock set back behind instants
        already run and pruned could reach one again, as on SQLite.
        """
        if limit <= 0:
            return Pruned((), 0.0)
        if name is not None and keep is not None:
            args: list[Any] = ["keep", str(limit), name, str(max(0, keep))]
        elif before is not None:
            args = ["before", str(limit), _format_ts(before)]
        else:
            return Pruned((), 0.0)
        began = time.perf_counter()
        flat = self._script(_PRUNE, *args)
        held = time.perf_counter() - began
        pairs = tuple(zip(flat[::2], flat[1::2], strict=True))
        return Pruned(pairs, held if pairs else 0.0)

    # -- metadata and wake-ups --------------------------------------------------------

    def announce(self, presence: Presence) -> None:
        field = f"{presence.role}|{presence.instance_id}"
        value = json.dumps(
            {
                "seen_at": _format_ts(presence.seen_at),
                "expires_at": _format_ts(presence.expires_at),
                "detail": presence.detail,
            }
        )
        with self._talk():
            self.client.hset(self.k("presence"), field, value)

    def withdraw(self, role: str, instance_id: str) -> None:
        with self._talk():
            self.client.hdel(self.k("presence"), f"{role}|{instance_id}")

    def presences(self, now: datetime) -> list[Presence]:
        with self._talk():
            fields = self.client.hgetall(self.k("presence"))
        found: list[Presence] = []
        gone: list[str] = []
        for field, value in sorted(fields.items()):
            role, _, instance_id = field.partition("|")
            try:
                data = json.loads(value)
                presence = Presence(
                    role=role,
                    instance_id=instance_id,
                    seen_at=_parse_ts(data["seen_at"]),
                    expires_at=_parse_ts(data["expires_at"]),
                    detail=data.get("detail") or "",
                )
            except (ValueError, KeyError, TypeError):
                gone.append(field)
                continue
            if presence.expires_at <= now:
                gone.append(field)
            else:
                found.append(presence)
        if gone:
            with self._talk():
                self.client.hdel(self.k("presence"), *gone)
        return found

    def get_meta(self, key: str) -> str | None:
        with self._talk():
            value = self.client.hget(self.k("meta"), key)
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self._talk():
            self.client.hset(self.k("meta"), key, value)

    def set_meta_if_absent(self, key: str, value: str) -> str:
        with self._talk():
            pipe = self.client.pipeline(transaction=True)
            pipe.hsetnx(self.k("meta"), key, value)
            pipe.hget(self.k("meta"), key)
            _, stored = pipe.execute()
        return str(stored)

    def wakeups(self) -> RedisWakeups:
        return self._wakeups

    @functools.cached_property
    def queues(self) -> RedisQueues:
        """Queues served by workers on other hosts (``uno-schedule worker``)."""
        return RedisQueues(self)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> RedisStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisStorage({self.url!r}, key_prefix={self.prefix!r})"


# -- queues for workers ---------------------------------------------------------------

_GROUP = "workers"

#: The waiters for a queue's slots (``slot-waiters``: consumer -> when it began to wait,
#: ``slot-seen``: consumer -> when it last asked): the one reading of who is ahead, and
#: the wake-up of the first of them when a slot is freed, and a worker's leaving the line.
_SLOT_WAITERS = """
local function slot_keys(p, queue)
  return p .. 'slot-waiters:' .. queue, p .. 'slot-seen:' .. queue
end
local function slot_wake(p, queue, waiter)
  return p .. 'slot-wake:' .. queue .. ':' .. waiter
end
local function slot_freed(p, queue)
  local waiters = slot_keys(p, queue)
  local first = redis.call('ZRANGE', waiters, 0, 0)[1]
  if first then
    local wake = slot_wake(p, queue, first)
    redis.call('RPUSH', wake, 1)
    redis.call('PEXPIRE', wake, 5000)
  end
end
local function slot_leave(p, queue, waiter)
  local waiters, seen = slot_keys(p, queue)
  redis.call('ZREM', waiters, waiter)
  redis.call('ZREM', seen, waiter)
  redis.call('DEL', slot_wake(p, queue, waiter))
end
"""

#: Take up to ARGV[6] of a queue's ARGV[3] slots, as tokens ARGV[4]:0, :1, ...; returns
#: how many. Expired slots (a dead worker's) are dropped first. The slots free now go to
#: the waiters first, oldest first: the caller ARGV[7] gets those left after the waiters
#: ahead of it (all of them if it waits not), and joins the line when none is left for it
#: (unless ARGV[7] is empty). A waiter silent for ARGV[8] ms is forgotten.
_SLOT_ACQUIRE = (
    _SLOT_WAITERS
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local p, queue, me = ARGV[1], ARGV[2], ARGV[7]
local k = p .. 'worker-slots:' .. queue
redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
local waiters, seen = slot_keys(p, queue)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', now - tonumber(ARGV[8]))) do
  slot_leave(p, queue, gone)
end
local ahead = (me ~= '' and redis.call('ZRANK', waiters, me)) or redis.call('ZCARD', waiters)
local free = tonumber(ARGV[3]) - redis.call('ZCARD', k)
local n = math.min(free - ahead, tonumber(ARGV[6]))
if n <= 0 then
  if me == '' then return 0 end
  redis.call('ZADD', waiters, 'NX', now, me)
  redis.call('ZADD', seen, now, me)
  redis.call('PEXPIRE', waiters, 60000)
  redis.call('PEXPIRE', seen, 60000)
  return 0
end
for i = 0, n - 1 do
  redis.call('ZADD', k, now + tonumber(ARGV[5]), ARGV[4] .. ':' .. i)
end
slot_leave(p, queue, me)
if free > n then slot_freed(p, queue) end
return n
"""
)

#: Take worker ARGV[3] out of the line for the slots of queue ARGV[2].
_SLOT_LEAVE = _SLOT_WAITERS + "slot_leave(ARGV[1], ARGV[2], ARGV[3])\n"

#: Free the slots ARGV[3...] of queue ARGV[2] and wake its first waiter.
_SLOT_RELEASE = (
    _SLOT_WAITERS
    + """
local p, queue = ARGV[1], ARGV[2]
local k = p .. 'worker-slots:' .. queue
local freed = 0
for i = 3, #ARGV do freed = freed + redis.call('ZREM', k, ARGV[i]) end
if freed > 0 then slot_freed(p, queue) end
return freed
"""
)

#: Renew a worker's claim: its entry ARGV[4] of stream ARGV[3] (if still pending for
#: consumer ARGV[5]) and its slot ARGV[6] of queue ARGV[2]; 0 when the entry is another's.
_HEARTBEAT = """
local p, queue, stream, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local consumer, token = ARGV[5], ARGV[6]
local mine = redis.call('XPENDING', stream, 'workers', entry, entry, 1, consumer)
if #mine == 0 then return 0 end
redis.call('XCLAIM', stream, 'workers', consumer, 0, entry, 'JUSTID')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. 'worker-slots:' .. queue, 'XX', now + tonumber(ARGV[7]), token)
return 1
"""

#: Start a run on a worker (only from queued, and only if its concurrency group, among
#: ARGV[6..]: count, then per group its limit, its number of schedules and their names,
#: has room), remembering the stream entry ARGV[5] that started it (field ``entry``, not
#: part of the run record); returns {started, the run's fields}.
_WORKER_START = (
    _GROUP_RUNNING
    + """
local p, run_id, entry = ARGV[1], ARGV[2], ARGV[5]
local rk = p .. 'run:' .. run_id
local result = redis.call('HGET', rk, 'result')
if not result then return {0, {}} end
if result ~= 'queued' then return {0, redis.call('HGETALL', rk)} end
local schedule = redis.call('HGET', rk, 'schedule')
local i = 7
for g = 1, tonumber(ARGV[6] or '0') do
  local limit, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local members, mine = {}, false
  for j = i + 2, i + 1 + n do
    members[ARGV[j]] = true
    if ARGV[j] == schedule then mine = true end
  end
  if mine and group_running(p, members) >= limit then return {0, redis.call('HGETALL', rk)} end
  i = i + 2 + n
end
redis.call('HSET', rk, 'result', 'running', 'started_at', ARGV[3], 'pid', ARGV[4])
if entry ~= '' then redis.call('HSET', rk, 'entry', entry) end
redis.call('SADD', p .. 'worker-held', run_id)
return {1, redis.call('HGETALL', rk)}
"""
)

#: Settle a worker's run: record its end (``record_end``, as ``finish_runs`` does), enqueue
#: its retry under its occurrence key (only if this call finished it), acknowledge the
#: entry ARGV[4] of stream ARGV[3] and free the queue's slot ARGV[5] (waking the first
#: waiter for it), all at once.
_WORKER_SETTLE = (
    _SLOT_WAITERS
    + _RECORD_END
    + _ENQUEUE_THEN
    + """
local p, queue, stream, entry, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local done = 0
if ARGV[7] ~= '' and record_end(p, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11],
                                ARGV[12]) then
  done = 1
  local retry_key = ARGV[13]
  if retry_key ~= '' then
    local retry_id, sched, member, queued = ARGV[14], ARGV[15], ARGV[16], ARGV[17]
    local n = tonumber(ARGV[18])
    local fields = {}
    for j = 1, n * 2 do fields[j] = ARGV[18 + j] end
    if redis.call('HSETNX', p .. 'occurrences', retry_key, retry_id) == 1 then
      insert_queued(p, retry_key, retry_id, sched, member, queued, fields)
      done = 2
    end
  end
  enqueue_then(p, ARGV[19 + tonumber(ARGV[18]) * 2])
end
if entry ~= '' then
  redis.call('XACK', stream, 'workers', entry)
  redis.call('XDEL', stream, entry)
end
if token ~= '' and redis.call('ZREM', p .. 'worker-slots:' .. queue, token) == 1 then
  slot_freed(p, queue)
end
return done
"""
)


#: A stream entry's run id ('' for an entry deleted meanwhile, whose fields are gone):
#: the one reading of an entry for ``_READ`` and ``_RECLAIM``.
_RUN_OF_ENTRY = """
local function run_of(fields)
  if fields then
    for j = 1, #fields, 2 do
      if fields[j] == 'run' then return fields[j + 1] end
    end
  end
  return ''
end
"""


#: Read the new entries of queues, highest priority first: ARGV[4] entries at most per
#: queue, over the ARGV[5] streams of each queue (ARGV[6...], highest priority first),
#: through group ARGV[2] as consumer ARGV[3]. Returns {found, newest}: found holds
#: (stream number, entry id, run id) triples; when it is empty, newest holds the id of
#: the newest entry of each stream ('0-0' for none), for a wait on all of them that
#: consumes nothing. A stream no run was handed to is not created; a deleted group is
#: created again (from the start of its stream, as ``_ensure_group`` creates it).
_READ = (
    _RUN_OF_ENTRY
    + """
local group, consumer = ARGV[2], ARGV[3]
local count, levels = tonumber(ARGV[4]), tonumber(ARGV[5])
local streams = #ARGV - 5
local function take(key, n)
  local got = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', key, '>')
  if type(got) == 'table' and got.err then
    if not string.find(got.err, 'NOGROUP', 1, true) then error(got.err) end
    redis.call('XGROUP', 'CREATE', key, group, '0')
    got = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', n, 'STREAMS', key, '>')
  end
  if not got then return {} end
  return got[1][2]
end
local found = {}
for q = 0, streams / levels - 1 do
  local left = count
  for l = 1, levels do
    local i = q * levels + l
    local key = ARGV[5 + i]
    if left > 0 and redis.call('EXISTS', key) == 1 then
      for _, entry in ipairs(take(key, left)) do
        found[#found + 1] = i
        found[#found + 1] = entry[1]
        found[#found + 1] = run_of(entry[2])
        left = left - 1
      end
    end
  end
end
local newest = {}
if #found == 0 then
  for i = 1, streams do
    local top = redis.call('XREVRANGE', ARGV[5 + i], '+', '-', 'COUNT', 1)
    newest[i] = '0-0'
    if top[1] then newest[i] = top[1][1] end
  end
end
return {found, newest}
"""
)

#: Take over up to ARGV[5] entries idle for ARGV[4] ms (their worker died) from the
#: streams ARGV[6...] (highest priority first), for consumer ARGV[3] of group ARGV[2]:
#: (stream number, entry id, run id) triples, run id '' for an entry deleted meanwhile.
_RECLAIM = (
    _RUN_OF_ENTRY
    + """
local group, consumer, idle = ARGV[2], ARGV[3], ARGV[4]
local left = tonumber(ARGV[5])
local found = {}
for i = 6, #ARGV do
  local key = ARGV[i]
  if left > 0 and redis.call('EXISTS', key) == 1 then
    local got = redis.pcall('XAUTOCLAIM', key, group, consumer, idle, '0-0', 'COUNT', left)
    if got.err then
      if not string.find(got.err, 'NOGROUP', 1, true) then error(got.err) end
      redis.call('XGROUP', 'CREATE', key, group, '0')  -- a new group has nothing pending
    else
      for _, entry in ipairs(got[2]) do
        found[#found + 1] = i - 5
        found[#found + 1] = entry[1]
        found[#found + 1] = run_of(entry[2])
        left = left - 1
      end
    end
  end
end
return found
"""
)

#: The priorities, highest first: the order in which workers take a queue's runs.
_LEVELS = tuple(sorted(PRIORITIES, key=PRIORITIES.__getitem__))
#: The priority whose stream keeps the name a queue's one stream had (``stream:QUEUE``)
#: and whose entries are named by their bare id: what was handed over before priorities
#: had streams of their own is read, and settled, as runs of this priority.
_PLAIN = "normal"


def _level_of(priority: str) -> str:
    """The stream a run of ``priority`` goes to: its own, ``normal`` for one unknown."""
    return priority if priority in PRIORITIES else _PLAIN


def _triples(flat: Sequence[Any]) -> list[tuple[int, str, str]]:
    """A script's flat list of (stream number, entry id, run id) as triples."""
    rows = zip(flat[::3], flat[1::3], flat[2::3], strict=True)
    return [(int(i), str(e), str(r)) for i, e, r in rows]


class RedisQueues:
    """A Redis Stream per queue and priority, read by workers through one consumer group.

    The leader appends the runs it claimed for a queue that it does not execute itself
    (``hand_off``) to the stream of their priority. A worker takes a slot of the queue's
    concurrency first (a sorted set of slot tokens with expiry, shared by every worker,
    so the limit holds across hosts and priorities), then reads one entry, from the
    stream of the highest priority that has one (``read``), starts the run (only from
    ``queued``), keeps the entry and the slot alive with heartbeats while the job runs,
    and settles it in one script. An entry whose worker stopped heartbeating is taken
    over by ``reclaim`` (``XAUTOCLAIM`` after the visibility timeout), on every stream.

    An entry is named to the worker by its stream's priority and its id in that stream
    (``high:1700000000000-0``; the bare id for ``normal``): ids are unique in one stream
    only, and the run records which entry started it (``start``).
    """

    def __init__(self, store: RedisStorage) -> None:
        self.store = store
        self._groups: set[str] = set()

    def stream(self, queue: str, priority: str = _PLAIN) -> str:
        """The stream of the runs of ``queue`` of ``priority``."""
        if priority == _PLAIN:
            return self.store.k("stream", queue)
        return self.store.k(f"stream-{priority}", queue)

    @staticmethod
    def _entry(priority: str, entry_id: str) -> str:
        """What names an entry of the stream of ``priority`` (see the class)."""
        return entry_id if priority == _PLAIN else f"{priority}:{entry_id}"

    def _locate(self, queue: str, entry: str) -> tuple[str, str]:
        """The stream and the id of the entry ``entry`` of ``queue`` names."""
        priority, _, entry_id = entry.rpartition(":")
        return self.stream(queue, priority or _PLAIN), entry_id

    def connection(self) -> dict[str, str]:
        """How another process of this host opens the same queues (the worker's keeper):
        the URL as given (with its password: pass it through a pipe, never argv) and the
        key prefix."""
        return {"url": self.store._spec, "prefix": self.store.prefix}

    def _ensure_group(self, stream: str) -> None:
        if stream in self._groups:
            return
        with self.store._talk():
            try:
                self.store.client.xgroup_create(stream, _GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups.add(stream)

    def hand_off(self, queue: str, runs: Sequence[RunRecord]) -> None:
        """Append claimed runs to the streams of their queue and priority, for any worker
        to take: the highest priority first (a waiting worker wakes for it), each
        priority's runs in the order given."""
        if not runs:
            return
        by_level: dict[str, list[str]] = {}
        for run in runs:
            by_level.setdefault(_level_of(run.priority), []).append(run.run_id)
        streams = [(self.stream(queue, lv), by_level[lv]) for lv in _LEVELS if lv in by_level]
        for stream, _ in streams:
            self._ensure_group(stream)
        with self.store._talk():
            pipe = self.store.client.pipeline(transaction=False)
            for stream, run_ids in streams:
                for run_id in run_ids:
                    pipe.xadd(stream, {"run": run_id})
            pipe.execute()

    def acquire_slots(
        self, queue: str, limit: int, base: str, ttl: float, want: int = 1, waiter: str = ""
    ) -> list[str]:
        """Up to ``want`` of the queue's ``limit`` slots (shared by all workers), each for
        ``ttl`` seconds unless renewed by ``heartbeat``: their tokens.

        Free slots go first to the workers in line, oldest first. A ``waiter`` given
        nothing joins the line and keeps its place while it asks again (``wait_for_slot``
        between asks) at least every ``SLOT_WAITER_SILENCE`` seconds; without a ``waiter``
        the caller takes only the slots no one in line waits for. Without that line, a
        worker whose job ends takes its slot back at once, and a queue kept full runs on
        one worker alone."""
        got = self.store._script(
            _SLOT_ACQUIRE,
            queue,
            str(limit),
            base,
            _ttl_ms(ttl),
            str(want),
            waiter,
            _ttl_ms(SLOT_WAITER_SILENCE),
        )
        return [f"{base}:{i}" for i in range(int(got))]

    def wait_for_slot(self, queue: str, waiter: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a slot of ``queue`` freed while ``waiter`` is
        first in line; True if one was."""
        with self.store._talk():
            woken = self.store.client.blpop([self.store.k("slot-wake", queue, waiter)], timeout)
        return woken is not None

    def leave_line(self, queue: str, waiter: str) -> None:
        """Stop waiting for a slot of ``queue`` (a worker that stops, or has no room)."""
        self.store._script(_SLOT_LEAVE, queue, waiter)

    def release_slots(self, queue: str, tokens: Sequence[str]) -> None:
        if tokens:
            self.store._script(_SLOT_RELEASE, queue, *tokens)

    def read(
        self, queues: Sequence[str], consumer: str, block: float, count: int = 1
    ) -> list[tuple[str, str, str]]:
        """At most ``count`` new entries per queue, ``(queue, entry, run id)``: from the
        stream of its highest priority first, each stream first in, first out. With none
        waiting, wait up to ``block`` seconds for an entry on any of their streams, then
        read again.

        The wait reads (``XREAD``, which consumes nothing) after the newest entry each
        stream held when it was found empty, in the same script, so an entry handed over
        in between ends it at once. A blocking ``XREADGROUP`` on several streams would
        deliver the first entry of whichever stream has one, and up to ``count`` of each:
        more entries than the slots taken for them, and a low-priority one before a
        high-priority one handed over in the same instant."""
        keys: list[str] = []
        owners: list[tuple[str, str]] = []
        for queue in queues:
            for level in _LEVELS:
                keys.append(self.stream(queue, level))
                owners.append((queue, level))
        args = (_GROUP, consumer, str(count), str(len(_LEVELS)), *keys)
        found, newest = self.store._script(_READ, *args)
        if not found and block > 0:
            with self.store._talk():
                woke = self.store.client.xread(
                    dict(zip(keys, newest, strict=True)),
                    count=1,
                    block=max(1, int(block * 1000)),
                )
            if woke:
                found, _ = self.store._script(_READ, *args)
        out = []
        for number, entry_id, run_id in _triples(found):
            queue, level = owners[number - 1]
            out.append((queue, self._entry(level, entry_id), run_id))
        return out

    def reclaim(
        self, queue: str, consumer: str, min_idle: float, count: int = 16
    ) -> list[tuple[str, str, str]]:
        """Up to ``count`` entries of ``queue`` idle for ``min_idle`` seconds (their
        worker died), now ours: ``(queue, entry, run id)``, those of the highest priority
        first."""
        keys = [self.stream(queue, level) for level in _LEVELS]
        idle = str(int(min_idle * 1000))
        flat = self.store._script(_RECLAIM, _GROUP, consumer, idle, str(count), *keys)
        return [
            (queue, self._entry(_LEVELS[number - 1], entry_id), run_id)
            for number, entry_id, run_id in _triples(flat)
        ]

    def heartbeat(self, queue: str, entry_id: str, consumer: str, token: str, ttl: float) -> bool:
        """Keep our entry and slot alive; False when another worker took the entry."""
        stream, entry = self._locate(queue, entry_id)
        return bool(
            self.store._script(_HEARTBEAT, queue, stream, entry, consumer, token, _ttl_ms(ttl))
        )

    def request_stop(self, run_id: str, reason: str) -> None:
        """A stop request (key ``stop:{run_id}``), kept a day: the run it names ends
        long before, and nothing needs to delete it."""
        with self.store._talk():
            self.store.client.set(self.store.k("stop", run_id), reason, ex=_STOP_KEPT)

    def stop_requested(self, run_id: str) -> str | None:
        with self.store._talk():
            value = self.store.client.get(self.store.k("stop", run_id))
        return str(value) if value is not None else None

    def start(
        self,
        run_id: str,
        started_at: datetime,
        pid: int,
        groups: Sequence[tuple[int, Sequence[str]]] = (),
        entry_id: str = "",
    ) -> tuple[bool, RunRecord | None, str]:
        """Mark a run ``running`` on a worker (only from ``queued``, and only while its
        concurrency group has room), recording that the stream entry ``entry_id``
        started it, in one round trip with reading it: (whether this call started it,
        the run as it now is: still ``queued`` when its group is full, the entry that
        started it: "" when none is known, for a run started before entries were
        recorded)."""
        args: list[Any] = [run_id, _format_ts(started_at), str(pid), entry_id, len(groups)]
        for limit, members in groups:
            args += [limit, len(members), *members]
        started, flat = self.store._script(_WORKER_START, *args)
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        run = _run_from_hash(fields) if fields else None
        return bool(started), run, fields.get("entry", "")

    def settle(
        self,
        queue: str,
        entry_id: str,
        token: str,
        finish: Finish | None,
        *,
        started_at: datetime | None = None,
        scheduled: datetime | None = None,
        retry: tuple[str, RunRecord] | None = None,
    ) -> int:
        """Finish the run (if ``finish``), enqueue ``retry`` (occurrence key, run) if this
        finished it, acknowledge the entry and free the slot. 0: nothing finished (it was
        finished before), 1: finished, 2: finished and the retry enqueued."""
        stream, entry = self._locate(queue, entry_id)
        args: list[Any] = [queue, stream, entry, token]
        if finish is None:
            args += [""] * 7
        else:
            args += _end_args(finish, started_at, _ts(scheduled))
        if retry is None or finish is None:
            args += ["", "", "", "", "", 0]
        else:
            key, run = retry
            queued_at = run.queued_at or finish.finished_at
            fields = _run_fields(run, epoch=0, result="queued", queued_at=queued_at)
            args += [key, run.run_id, run.schedule, _history_member(run), _format_ts(queued_at)]
            args.append(len(fields))
            for name, value in fields.items():
                args += [name, value]
        args.append("" if finish is None else _then_arg(finish))
        return int(self.store._script(_WORKER_SETTLE, *args))

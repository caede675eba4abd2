"""Is the scheduler doing its job? The answer of ``uno-schedule health`` (and of the
dead-man alarms): a leader holds a current lease, and no schedule with
``expect_success_within`` has gone without a success for longer than that.

Made for probes (systemd, Kubernetes, cron-style monitors): one boolean, one line that
says why not, and the details for ``--json``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .abc import Store, held_lease, last_led_at
from .identity import lost
from .model import ScheduleDefinition
from .timeutil import format_duration, format_instant

__all__ = ["Overdue", "check", "overdue"]


@dataclass
class Overdue:
    #: The schedules past their deadline, each with the instant it became overdue.
    late: dict[str, datetime] = field(default_factory=dict)
    #: The soonest deadline still ahead (when to look again), if any.
    next_due: datetime | None = None


def overdue(
    definitions: Mapping[str, ScheduleDefinition],
    *,
    active: Collection[str],
    last_success: Mapping[str, datetime],
    first_seen: Mapping[str, datetime],
    now: datetime,
) -> Overdue:
    """The dead-man rule, for ``health`` and the leader's alarms alike: a schedule with
    ``expect_success_within`` is overdue that long after its last success, else after
    the state first saw it (``first_seen``); one that is not ``active`` (paused,
    completed) never is."""
    found = Overdue()
    for name, definition in definitions.items():
        within = definition.expect_success_within
        if within is None or name not in active:
            continue
        since = last_success.get(name) or first_seen.get(name)
        if since is None:
            continue
        due = since + timedelta(seconds=within)
        if due <= now:
            found.late[name] = due
        elif found.next_due is None or due < found.next_due:
            found.next_due = due
    return found


def _leader_process_gone(state_path: Path | None) -> str | None:
    """When the leader's lock file names a process of this host that is not alive, say
    so: its lease would otherwise look current until it expires (``lock_timeout``)."""
    if state_path is None:
        return None
    info = Path(str(state_path) + ".lock.info")
    try:
        fields = info.read_text().split()
    except FileNotFoundError:
        return "no runner holds the leader lock"
    except OSError:
        return None
    if len(fields) < 2 or not fields[0].isdigit() or fields[1] != socket.gethostname():
        return None
    try:
        os.kill(int(fields[0]), 0)
    except ProcessLookupError:
        return f"the leader (pid {fields[0]}) is gone"
    except PermissionError:
        return None
    return None


def check(
    store: Store | None,
    definitions: Mapping[str, ScheduleDefinition],
    now: datetime,
    state_path: Path | None,
) -> dict[str, Any]:
    """The health record: ``healthy``, ``reason`` (one line), ``leader``, ``epoch``,
    ``lease_expires_at`` (of the leader's current lease; all three None when nobody
    leads), ``no_leader_since`` (when nobody leads: since when, if the state tells) and
    ``overdue`` (name -> since when)."""
    record: dict[str, Any] = {
        "healthy": False,
        "reason": "",
        "leader": None,
        "epoch": None,
        "lease_expires_at": None,
        "no_leader_since": None,
        "overdue": {},
    }
    if store is None:
        record["reason"] = "no state file: the scheduler has never run here"
        return record
    lease = held_lease(store, now)
    if lease is not None:
        record.update(
            leader=lease.instance_id,
            epoch=lease.epoch,
            lease_expires_at=format_instant(lease.expires_at),
        )
    problems: list[str] = []
    marked = lost(store)
    if marked is not None:
        record["state_lost"] = marked
        problems.append(
            f"the state lost its identity ({marked}): nothing fires until `uno-schedule init-state`"
        )
    if lease is None:
        since = last_led_at(store)
        record["no_leader_since"] = format_instant(since) if since is not None else None
        when = f" since {record['no_leader_since']}" if since is not None else ""
        problems.append(f"no leader{when}: no scheduler holds a current lease")
    else:
        gone = _leader_process_gone(state_path)
        if gone:
            problems.append(f"no leader: {gone}")
    if any(d.expect_success_within is not None for d in definitions.values()):
        states = store.list_schedules(definitions=False)
        late = overdue(
            definitions,
            active={s.name for s in states if s.status == "active"},
            last_success=store.last_successes(),
            first_seen={s.name: s.created_at for s in states if s.created_at is not None},
            now=now,
        ).late
        record["overdue"] = {n: format_instant(t) for n, t in sorted(late.items())}
        if late:
            names = sorted(late)
            worst = min(late.values())
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            problems.append(
                f"{len(names)} overdue schedule{'s' if len(names) != 1 else ''}: {shown} "
                f"(the first overdue for {format_duration(now - worst)})"
            )
    record["healthy"] = not problems
    if problems:
        record["reason"] = "; ".join(problems)
    else:
        record["reason"] = (
            f"ok: leader {lease.instance_id if lease else '?'} "
            f"(epoch {lease.epoch if lease else '?'}), lease until "
            f"{format_instant(lease.expires_at.replace(microsecond=0)) if lease else '?'}"
        )
    return record

"""Reconciling the definitions of a file with the stored schedules.

``make_plan`` is pure: it compares definitions with stored states and says what would
be added, changed and removed. ``file_plan`` is that plan against a store, the one that
both ``uno-schedule plan`` (``Scheduler.plan``) and the run loop's start and reload
(``runner.reloading.write_reload``) compute, so that they agree by construction.
``apply_plan`` writes it, one version per changed schedule, with a unified diff of the
canonical YAML form and the source (file and git commit).

Scale matters here: the first start on a 100,000-schedule file adds every schedule.
Diffs are therefore built only when read (an addition's version holds its definition
and no diff), the store is read without definitions except for what changed
(``file_plan``), and all new and changed schedules are written in one transaction.
"""

from __future__ import annotations

import difflib
import itertools
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .abc import PauseKind, Store
from .config.yamltext import dump_canonical
from .model import ScheduleDefinition, ScheduleState, VersionRecord
from .timeutil import format_instant

__all__ = [
    "Plan",
    "PlanEntry",
    "apply_plan",
    "definition_diff",
    "definition_yaml",
    "end_definition_pauses",
    "ends_definition_pause",
    "file_plan",
    "git_source",
    "make_plan",
    "next_state",
    "remove_schedules",
]


@dataclass
class PlanEntry:
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    next_before: list[str] = field(default_factory=list)
    next_after: list[str] = field(default_factory=list)
    #: What the store held (None for a new schedule; the removed one for a returning one).
    state: ScheduleState | None = None
    _diff: str | None = field(default=None, repr=False)

    @property
    def diff(self) -> str:
        """The unified diff of the canonical YAML forms (built on first use)."""
        if self._diff is None:
            self._diff = definition_diff(self.name, self.before, self.after)
        return self._diff

    @property
    def takes_over(self) -> bool:
        """A schedule made through the API that the file now declares: its source
        becomes ``file`` (a change even when the definitions are the same)."""
        state = self.state
        return state is not None and state.source == "api" and state.status != "removed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "takes_over": self.takes_over,
            "diff": self.diff,
            "next_before": self.next_before,
            "next_after": self.next_after,
        }


@dataclass
class Plan:
    added: list[PlanEntry] = field(default_factory=list)
    changed: list[PlanEntry] = field(default_factory=list)
    removed: list[PlanEntry] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [e.to_json() for e in self.added],
            "changed": [e.to_json() for e in self.changed],
            "removed": [e.to_json() for e in self.removed],
            "unchanged": list(self.unchanged),
        }


def definition_yaml(config: Mapping[str, Any] | None) -> str:
    """The canonical YAML text of a definition, the unit that diffs are taken over."""
    if config is None:
        return ""
    return dump_canonical(config)


def definition_diff(
    name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> str:
    """The unified diff of two definitions' canonical YAML (None: absent)."""
    lines = difflib.unified_diff(
        definition_yaml(before).splitlines(keepends=True),
        definition_yaml(after).splitlines(keepends=True),
        fromfile=f"{name} (stored)" if before is not None else "/dev/null",
        tofile=f"{name} (new)" if after is not None else "/dev/null",
    )
    return "".join(lines)


def _upcoming(
    definition: ScheduleDefinition | None,
    now: datetime,
    count: int,
    anchor: datetime | None = None,
) -> list[str]:
    if definition is None or count <= 0:
        return []
    timeline = definition.timeline(anchor)
    return [format_instant(t) or "" for t in timeline.take(now, count)]


def make_plan(
    definitions: Mapping[str, ScheduleDefinition],
    states: Sequence[ScheduleState],
    *,
    now: datetime,
    preview: int = 3,
) -> Plan:
    """What applying the file's ``definitions`` to the stored ``states`` would change.

    A schedule made through the API that the file now declares is a change even when
    its definition is the same: the file takes it over (its source becomes ``file``).
    """
    plan = Plan()
    stored = {s.name: s for s in states if s.status != "removed"}
    # A schedule that comes back after removal is added again, continuing its versions.
    returning = {s.name: s for s in states if s.status == "removed"}
    for name, definition in definitions.items():
        state = stored.get(name)
        if (
            state is not None
            and state.fingerprint == definition.fingerprint()
            and state.source == "file"
        ):
            plan.unchanged.append(name)
            continue
        after, _ = definition.canonical()
        if state is None:
            plan.added.append(
                PlanEntry(
                    name,
                    None,
                    after,
                    [],
                    _upcoming(definition, now, preview),
                    returning.get(name),
                )
            )
        else:
            plan.changed.append(
                PlanEntry(
                    name,
                    state.definition,
                    after,
                    _upcoming(state.stored_definition(), now, preview, state.anchor),
                    _upcoming(definition, now, preview, state.anchor),
                    state,
                )
            )
    for name, state in stored.items():
        if name not in definitions:
            plan.removed.append(
                PlanEntry(
                    name,
                    state.definition,
                    None,
                    _upcoming(state.stored_definition(), now, preview, state.anchor),
                    [],
                    state,
                )
            )
    return plan


def file_plan(
    store: Store | None,
    definitions: Mapping[str, ScheduleDefinition],
    *,
    now: datetime,
    preview: int = 0,
    states: Sequence[ScheduleState] | None = None,
) -> Plan:
    """What loading the file's ``definitions`` changes in ``store`` (None: no state yet):
    the file's stored schedules added, changed and removed, and those made through the
    API that the file now declares taken over (changed). Those made through the API and
    not in the file are left alone.

    Stored definitions are decoded only where they differ (a restart with 100,000
    unchanged schedules reads none of them). ``states``: the store's schedules listed
    without definitions, when the caller has them.
    """
    if store is None:
        return make_plan(definitions, [], now=now, preview=preview)
    if states is None:
        states = store.list_schedules(definitions=False)
    mine = []
    for state in states:
        if state.source != "file" and state.name not in definitions:
            continue  # made through the API: not the file's to change or remove
        definition = definitions.get(state.name)
        if state.status != "removed" and (
            definition is None
            or definition.fingerprint() != state.fingerprint
            or state.source != "file"
        ):
            state = store.get_schedule(state.name) or state
        mine.append(state)
    return make_plan(definitions, mine, now=now, preview=preview)


def git_source(path: Path | None) -> str:
    """``FILE`` or ``FILE@COMMIT: subject`` when the file is tracked in a git repository."""
    if path is None:
        return "library"
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h %s", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return str(path)
    line = out.stdout.strip()
    if out.returncode != 0 or not line:
        return str(path)
    commit, _, subject = line.partition(" ")
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return f"{path}@{commit}{' (modified)' if dirty else ''}: {subject}"


def apply_plan(
    store: Store,
    plan: Plan,
    definitions: Mapping[str, ScheduleDefinition],
    *,
    now: datetime,
    source: str,
    changelog: str = "",
) -> None:
    """Write ``plan``: new schedules at version 1, changed ones at a new version (all in
    one transaction), removed ones marked ``removed`` (their runs and versions stay)."""
    if plan.added or plan.changed:
        store.save_schedules(_versions(plan, definitions, now, source, changelog))
        unpaused = [
            e.name for e in plan.changed if ends_definition_pause(e.state, definitions[e.name])
        ]
        end_definition_pauses(store, unpaused, now)
    if plan.removed:
        remove_schedules(store, [entry.name for entry in plan.removed], now)


def remove_schedules(store: Store, names: Sequence[str], now: datetime) -> None:
    """Mark ``names`` removed. The store ends their open pauses in the same write (a
    removed schedule holds no pause: ``Store.set_status``), so one added again under
    its name starts active and unpaused, as the loop runs it, instead of showing the old
    pause (and its reason) in status and explain."""
    store.set_status(names, "removed", now)


def next_state(
    definition: ScheduleDefinition,
    old: ScheduleState | None,
    now: datetime,
    *,
    source: str,
    config: dict[str, Any] | None = None,
    written: dict[str, Any] | None = None,
) -> ScheduleState:
    """The stored state of ``definition`` as the version after ``old`` (None or removed:
    added, again). A pause survives a change of the definition (the definition's own
    ``paused: true`` as well, until the version is written: a definition that no longer
    asks for it ends it then, ``end_definition_pauses``), an interval keeps its anchor,
    and the last run stays. ``config``: its canonical form, when at hand; ``written``:
    what it was made of (``ScheduleState.written``)."""
    live = old if old is not None and old.status != "removed" else None
    paused = live is not None and live.status == "paused"
    return ScheduleState(
        name=definition.name,
        definition=config if config is not None else definition.canonical()[0],
        version=old.version + 1 if old is not None else 1,
        status="paused" if paused else definition.declared_status,
        next_run=None,
        anchor=(live.anchor if live is not None else None) or definition.start_date or now,
        last_run=old.last_run if old else None,
        last_result=old.last_result if old else None,
        created_at=old.created_at if old else now,
        updated_at=now,
        fingerprint=definition.fingerprint(),
        source=source,  # type: ignore[arg-type]
        written=written,
    )


def ends_definition_pause(old: ScheduleState | None, definition: ScheduleDefinition) -> bool:
    """Whether writing ``definition`` over ``old`` ends the pause the old definition made:
    it said ``paused: true`` and the new one does not. A pause the definition made is the
    definition's to end; one of an operator (``pause``), of ``pause --all`` or of
    ``pause_after_failures`` is not, and holds the schedule paused still."""
    return (
        old is not None
        and old.status == "paused"
        and bool(old.definition.get("paused"))
        and not definition.paused
    )


def end_definition_pauses(store: Store, names: Sequence[str], now: datetime) -> list[str]:
    """End the pauses the definitions of ``names`` made, once their new versions are
    written (``ends_definition_pause`` chose them). The store decides from the records,
    in one transaction: a schedule that no other pause holds becomes active and goes on
    from now; one that an operator's pause holds stays paused. Returns those resumed."""
    if not names:
        return []
    return store.resume_schedules(names, _DEFINITIONS_OWN, now)


#: The pauses a definition makes (``paused: true``), which only a definition ends.
_DEFINITIONS_OWN: tuple[PauseKind, ...] = ("definition",)


def _versions(
    plan: Plan,
    definitions: Mapping[str, ScheduleDefinition],
    now: datetime,
    source: str,
    changelog: str,
) -> Iterator[tuple[ScheduleState, VersionRecord | None]]:
    """The states and versions to write, made one at a time as the store takes them."""
    for entry in itertools.chain(plan.added, plan.changed):
        old = entry.state
        added = old is None or old.status == "removed"
        state = next_state(definitions[entry.name], old, now, source="file", config=entry.after)
        version = state.version
        record = VersionRecord(
            schedule=entry.name,
            version=version,
            changed_at=now,
            changelog=changelog or ("added" if added else "changed"),
            source=source,
            definition=entry.after or {},
            diff="" if added else entry.diff,
        )
        yield state, record

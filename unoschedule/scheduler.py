"""The ``Scheduler`` of the design document: the one API that the CLI, the YAML file and
library users all go through.

A schedule's id is its unique name. Every schedule lives in the state: those of the YAML
file (source ``file``, written when ``run`` loads the file) and those made through this
API or the CLI (source ``api``, written at the call, kept until deleted). Read methods
work whether or not a run loop is active anywhere and see what any process wrote; write
methods check their values by the file's rules, write the state, and wake the leader
(in whatever process it runs), which acts on the change at once.

The async methods run their store work in a worker thread, so that a caller sharing
the event loop with ``start()``'s run loop never stalls it on a busy database.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import pauses
from .abc import (
    PAUSE_CALLS,
    PAUSE_KINDS,
    Clock,
    PauseKind,
    StateFile,
    Store,
    SystemClock,
    held_lease,
)
from .errors import (
    ArgumentError,
    ConfigError,
    TaskFailure,
    UnknownScheduleError,
    UnoScheduleError,
    VersionConflictError,
)
from .model import (
    LIVE_STATUSES,
    STATUSES,
    RunRecord,
    ScheduleDefinition,
    SchedulerOptions,
    ScheduleState,
    ScheduleTemplate,
    VersionRecord,
)
from .schedules import EventTrigger, ScheduleSpec, Timeline
from .timeutil import format_instant

if TYPE_CHECKING:
    import asyncio

    from .config import Config
    from .records import Finish
    from .runner.executor import Executor
    from .runner.settle import Ended, Recorder, Settler
    from .sync import Plan

__all__ = ["Scheduler"]

T = TypeVar("T")
ErrorHandler = Callable[[str, BaseException], Awaitable[None] | None]
_OPTION_NAMES = {f.name for f in fields(SchedulerOptions)}
#: ``error`` of a foreground run whose ``trigger --wait`` was stopped (Ctrl-C) as it ran.
STOPPED_HERE = "the command running it in the foreground was stopped"
#: How long ``wait_for_run`` looks for the next attempt of a failed one with retries
#: left: a worker records both in one script, the run loop right after each other.
RETRY_GRACE = 5.0


class Scheduler:
    """Create with the options of the YAML file's ``scheduler:`` key, or from a ``Config``.

    The store: ``storage`` (a store, a URL or a file) or ``state`` (a URL or a file),
    both only when they name the same one (else ``ArgumentError``); without either, the
    config's ``scheduler.storage`` or ``scheduler.state``, else ``uno-schedule.db``.
    """

    def __init__(
        self,
        *,
        storage: Store | str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        config: Config | None = None,
        state: str | os.PathLike[str] | None = None,
        create_state: bool = True,
        **options: Any,
    ) -> None:

        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            import difflib  # here: only a typo pays for it

            hint = difflib.get_close_matches(unknown[0], sorted(_OPTION_NAMES), n=1)
            raise TypeError(
                f"unknown Scheduler option {unknown[0]!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        base = config.options if config is not None else SchedulerOptions()
        where = _state_location(storage, state, config)
        if options:
            # The same rules as the file's scheduler: key, so that nothing the library
            # accepts fails later (a zero check_interval would be a busy loop).
            from .config.python_values import options_from_values

            checked = options_from_values(options)
            options = {key: getattr(checked, key) for key in options}
            if "metrics_address" in options:  # asked for an address: serve on it
                options.setdefault("metrics_enabled", True)
        self.options = replace(base, **options)
        self.config = config
        self.clock = clock or SystemClock()
        #: The schedules of the YAML file (the file front end); empty without one.
        self.file_definitions: dict[str, ScheduleDefinition] = (
            dict(config.schedules) if config is not None else {}
        )
        #: What the leader runs: the file's schedules and those stored through the API,
        #: kept in step with the state by ``reconcile_definitions``.
        self.definitions: dict[str, ScheduleDefinition] = dict(self.file_definitions)
        self.templates: dict[str, ScheduleTemplate] = {}
        self._store: Store | None = where if isinstance(where, Store) else None
        self._given_store = self._store is not None
        self._storage_url = where if isinstance(where, str) else None
        self._state_path: Path | None = where if isinstance(where, Path) else None
        self._base_dir: str | None = None
        self._create_state = create_state
        #: Check every page of a SQLite state when it is opened (``quick_check``): at the
        #: start of a run loop; a shell command, which reads a few rows, leaves it out.
        self.verify_state = True
        self._error_handlers: list[ErrorHandler] = []
        #: Where the ``on_error`` hook's output, failure or timeout is told (the runner's
        #: and the worker's log, ``trigger --wait``'s standard error); None: nowhere.
        self.hook_log: Callable[[str], None] | None = None
        self._service_task: asyncio.Task[int] | None = None
        self._service: Any = None
        self.instance_id = self.options.instance_id or f"{os.uname().nodename}:{os.getpid()}"
        #: The queues ``run`` executes itself (None: all); workers take the others.
        self.local_queues: frozenset[str] | None = None

    @classmethod
    def from_config(
        cls, config: Config, *, state: str | None = None, create_state: bool = False, **kw: Any
    ) -> Scheduler:
        """A scheduler over a loaded YAML file; ``state`` (a path or a store URL)
        overrides the file's ``scheduler.storage``/``state``, as ``--state`` does."""
        return cls(config=config, state=state, create_state=create_state, **kw)

    @classmethod
    def for_state(
        cls,
        state: str | os.PathLike[str],
        *,
        create_state: bool = False,
        options: SchedulerOptions | None = None,
    ) -> Scheduler:
        """A scheduler over a state alone: a path or a store URL. Every schedule, the
        file's included, is read from the state. ``options``: checked already (those the
        state keeps of its file, see ``filestamp``), else the defaults."""
        scheduler = cls(state=state, create_state=create_state)
        if options is not None:
            scheduler.options = options
            scheduler.instance_id = options.instance_id or scheduler.instance_id
        return scheduler

    # -- the store ------------------------------------------------------------------------

    @property
    def base_dir(self) -> str | None:
        """The folder a relative ``cwd`` is read against: the schedule file's, also when
        this scheduler was opened over the state because the file had not changed; None
        without a file (a relative ``cwd`` is then the process's)."""
        if self._base_dir is not None:
            return self._base_dir
        path = self.config.path if self.config is not None else None
        return str(path.parent) if path else None

    @base_dir.setter
    def base_dir(self, folder: str | None) -> None:
        self._base_dir = folder

    @property
    def state_path(self) -> Path | None:
        return self._state_path

    def has_state(self) -> bool:
        if self._store is not None or self._storage_url is not None:
            return True
        from .store import holds_state

        return self._state_path is not None and holds_state(self._state_path)

    @property
    def store(self) -> Store:
        """The store, opened on first use (``create_state=False`` never creates a file)."""
        if self._store is None:
            if self._storage_url is not None:
                from .store import open_store

                self._store = open_store(self._storage_url)
            else:
                from .store.sqlite import SQLiteStorage

                assert self._state_path is not None
                self._store = SQLiteStorage(
                    self._state_path, create=self._create_state, verify=self.verify_state
                )
        return self._store

    def _store_if_any(self) -> Store | None:
        return self.store if self.has_state() else None

    def close(self) -> None:
        """Close the store if this scheduler opened it; a store given to the constructor
        is the caller's (several schedulers may share one) and stays open."""
        if self._store is not None and not self._given_store:
            self._store.close()
            self._store = None

    # -- definitions: where each schedule comes from --------------------------------------

    def _stored_definitions(self) -> dict[str, ScheduleDefinition]:
        """The schedules the state holds that this scheduler's file does not declare:
        those made through the API, and the file's when this scheduler has no file
        (by this process or any other)."""
        store = self._store_if_any()
        if store is None:
            return {}
        found = {}
        for state in store.list_schedules(statuses=LIVE_STATUSES):
            if state.name in self.file_definitions:
                continue
            definition = state.stored_definition()
            if definition is not None:
                found[state.name] = definition
        return found

    def known_definitions(self) -> dict[str, ScheduleDefinition]:
        """Every schedule there is, as the state holds it (zone and queue included: see
        ``SchedulerOptions.schedule_defaults``), with this scheduler's file (as it reads
        now, which ``run`` will load) for the schedules the file declares. What every
        reader (status, list, health, history, next runs, explain) takes its schedules
        from, whatever options or file this process has."""
        return {**self._stored_definitions(), **self.file_definitions}

    def _resolve(self, schedule_id: str) -> ScheduleDefinition:
        definition = self.file_definitions.get(schedule_id)
        if definition is not None:
            return definition
        store = self._store_if_any()
        state = store.get_schedule(schedule_id) if store is not None else None
        if state is not None and state.status != "removed":
            found = state.stored_definition()
            if found is not None:
                return found
        import difflib  # here: only an unknown name pays for it

        hint = difflib.get_close_matches(schedule_id, list(self.known_definitions()), n=1)
        raise UnknownScheduleError(schedule_id, hint[0] if hint else None)

    def reconcile_definitions(self, states: Sequence[ScheduleState] | None = None) -> list[str]:
        """Bring ``definitions`` (what the leader runs) in line with the state: schedules
        added, changed or deleted through the API by any process. Returns the names whose
        definition changed; only those are read in full.

        ``states``: the stored schedules without their definitions, as the caller just
        read them (``store.list_schedules(definitions=False)``); they are not read again."""
        store = self.store
        changed: list[str] = []
        live: set[str] = set()
        if states is None:
            states = store.list_schedules(definitions=False)
        for light in states:
            if light.status == "removed":
                continue
            live.add(light.name)
            current = self.definitions.get(light.name)
            if current is not None and current.fingerprint() == light.fingerprint:
                continue
            state = store.get_schedule(light.name)
            definition = state.stored_definition() if state is not None else None
            if definition is not None:
                self.definitions[light.name] = definition
                changed.append(light.name)
        for name in [n for n in self.definitions if n not in live]:
            if name not in self.file_definitions:
                del self.definitions[name]
                changed.append(name)
        return changed

    def replace_file_definitions(self, definitions: dict[str, ScheduleDefinition]) -> None:
        """A reload of the file: its schedules replace the file's old ones; the API's stay
        (``definitions`` is changed in place: the run loop holds it)."""
        for name in self.file_definitions:
            self.definitions.pop(name, None)
        self.file_definitions = dict(definitions)
        self.definitions.update(definitions)

    # -- definitions: changes through the API ---------------------------------------------

    async def schedule(
        self,
        task: str | Callable[..., Any] | None = None,
        schedule: ScheduleSpec | str | dict[str, Any] | None = None,
        *,
        name: str | None = None,
        template: ScheduleTemplate | str | None = None,
        replace_existing: bool = False,
        **settings: Any,
    ) -> str:
        """Add a schedule; returns its id (its name). Options: the keys of a schedule in the file.

        The schedule is stored (source ``api``) and the leader, in any process, acts on it
        at once. Values are checked here, by the same rules as the YAML file's. The
        scheduler's ``timezone`` and ``queue_name`` are stored with a schedule that names
        none, so that every process reads it the same.

        ``template``: a ``ScheduleTemplate``, or the name of a template of this
        scheduler's YAML file (``template:`` in the file); the call's keys are merged
        over it as the file merges a schedule over its template.

        Declaring a schedule again as it is stored does nothing and returns its id, so
        that an application may declare its schedules each time it starts. A schedule of
        that name with another definition is replaced, as its next version, with
        ``replace_existing=True``; without it, that raises ``ConfigError``.
        """
        own = dict(settings)
        if task is not None:
            own["task"] = task
        if schedule is not None:
            own["schedule"] = schedule
        given: dict[str, Any] | None = None
        if isinstance(template, ScheduleTemplate):
            given = dict(template.values)
        elif isinstance(template, str):
            own["template"] = template
        elif template is not None:
            raise ConfigError(
                "template must be a ScheduleTemplate or the name of a template of the "
                f"scheduler's file, not {type(template).__name__} {template!r}"
            )
        from .config.python_values import written_form

        local = _callable_task(own) or (_callable_task(given) if given else None)
        files = self.config.templates if self.config is not None and template else None
        chosen = name or _default_name(own, given or {}, named=isinstance(template, str))
        if chosen is None:  # what it runs comes from a template of the file: merge first
            merged, _ = self._checked(
                _UNNAMED, written_form(own, self.options, templates=files), None
            )
            chosen = _default_name(_naming_values(merged), {}) or _UNNAMED  # (it runs one)
        written = written_form(own, self.options, templates=files, template=given)
        definition, kept = self._checked(chosen, written, local)
        if definition.in_process and local is not None:
            _warn_in_process(chosen, local)
        return await _in_thread(self._add, definition, replace_existing, kept)

    def _checked(
        self, name: str, written: dict[str, Any], local: Callable[..., Any] | None
    ) -> tuple[ScheduleDefinition, dict[str, Any]]:
        """The definition of ``written`` (``python_values.written_form``: the keys of a
        schedule, the scheduler options it takes and the templates it is merged over),
        checked by the file's rules, and ``written`` as the state keeps it. ``local``:
        the in-process callable of its keys or of a template given as a value,
        registered here under the path the definition names it by, if the merge keeps
        it."""
        from .config.python_values import definition_from_written, stored_written

        keys = written["schedule"]
        given = written.get("given_template")
        if local is not None:
            keys = _with_placeholder(keys)
            if given is not None:
                templates = dict(written["templates"])
                templates[given] = _with_placeholder(templates[given])
                written = {**written, "templates": templates}
        others = None
        if keys.get("after") is not None:  # what it may follow, and what follows it
            others = {k: v for k, v in self.known_definitions().items() if k != name}
        definition = definition_from_written(
            name,
            {**written, "schedule": keys},
            calendars=self.options.calendars,
            groups=self.options.groups,
            others=others,
        )
        if local is not None and definition.task == _LOCAL_PLACEHOLDER:
            from .runner.tasks import register_local

            path = _local_path(local, name)
            register_local(path, local)
            definition = definition.with_changes(task=path, in_process=True)
            keys = _named_placeholder(keys, path)
            if given is not None:  # the template's callable: stored by its path too
                templates = dict(written["templates"])
                templates[given] = _named_placeholder(templates[given], path)
                written = {**written, "templates": templates}
        return definition, stored_written({**written, "schedule": keys}, definition)

    def _add(
        self, definition: ScheduleDefinition, replace_existing: bool, written: dict[str, Any]
    ) -> str:
        name = definition.name
        if name in self.file_definitions:
            raise ConfigError(f"a schedule named {name!r} exists already (in the YAML file)")
        store = self.store
        old = store.get_schedule(name)
        live = old if old is not None and old.status != "removed" else None
        if live is not None and live.fingerprint == definition.fingerprint():
            return name  # declared again as it is: an application's next start
        if live is not None and live.source == "file":
            raise ConfigError(
                f"a schedule named {name!r} exists already (in the YAML file); change it there"
            )
        if live is not None and not replace_existing:
            raise ConfigError(
                f"a schedule named {name!r} exists already with another definition; "
                "pass replace_existing=True to replace it (as its next version)"
            )
        self._save(definition, old, "replaced" if live else "added", source="api", written=written)
        return name

    def _save(
        self,
        definition: ScheduleDefinition,
        old: ScheduleState | None,
        changelog: str,
        source: str,
        written: dict[str, Any] | None = None,
    ) -> int:
        """Write ``definition`` as the version after ``old`` (None or removed: an
        addition), if the store still holds ``old``; returns the new version. The pause
        the old definition made ends with it (``sync.ends_definition_pause``).
        ``written``: what it was made of (``ScheduleState.written``)."""
        from .sync import definition_diff, end_definition_pauses, ends_definition_pause, next_state

        live = old if old is not None and old.status != "removed" else None
        now = self.clock.now()
        state = next_state(definition, old, now, source=source, written=written)
        version = state.version
        before = live.definition if live is not None else None
        diff = definition_diff(definition.name, before, state.definition) if live else ""
        record = _version(definition, version, now, changelog, diff=diff)
        expected = live.version if live is not None else None
        if not self.store.save_schedule_if(state, record, expected_version=expected):
            raise VersionConflictError(
                f"{definition.name} was changed by someone else meanwhile; read it again and retry"
            )
        if ends_definition_pause(live, definition):
            end_definition_pauses(self.store, [definition.name], now)
        return version

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int | None = None,
        changelog: str | None = None,
        **changes: Any,
    ) -> int:
        """Change a schedule; returns its new version.

        ``changes`` are keys of a schedule in the file. The update is what the schedule
        was written with, those keys replaced, read again by the file's rules, as an edit
        of the file is: nothing the old keys implied stays (``unique``'s overlap, the DST
        rule of the old cron, a naive date read in the old zone), a ``task`` replaces a
        ``command`` and ``overlap`` replaces ``unique`` (and the other way round), and
        the scheduler options it was made under (zone, queue, blackout windows,
        notifications) apply as the file's ``scheduler:`` does (windows only to a
        schedule with a clock). ``paused=False`` ends the pause ``paused: true`` made;
        a pause from ``pause_schedule`` stays.

        A schedule of the YAML file is taken as the file writes it now, its ``template:``
        and ``scheduler:`` too, when this scheduler was made from the file; the file's
        next load writes the file's version again. Without the file, and for a schedule
        stored by a version that did not keep what it was written with, the update
        starts from the stored definition, in which those are resolved already; one
        that names a template of its file is then refused (the template is in the file).

        ``version``, when given, is the version this update creates: it must be the
        stored version + 1, else ``VersionConflictError`` (someone else changed it since
        it was read). The check and the write are one transaction.
        """
        return await _in_thread(self._update, schedule_id, version, changelog, changes)

    def _update(
        self,
        schedule_id: str,
        version: int | None,
        changelog: str | None,
        changes: dict[str, Any],
    ) -> int:
        old = self._resolve(schedule_id)
        self._ensure_known(old)
        store = self.store
        state = store.get_schedule(schedule_id)
        assert state is not None
        if version is not None and version != state.version + 1:
            raise VersionConflictError(
                f"{schedule_id} is at version {state.version}: an update creates version "
                f"{state.version + 1}, not {version}; read it again and retry"
            )
        from .config.python_values import updated_written

        # in_process is not a value one sets: it follows from the task
        changes = {key: value for key, value in changes.items() if key != "in_process"}
        if "task" not in changes and old.in_process:
            changes["task"] = _local_callable(old)
        local = _callable_task(changes)
        written = updated_written(self._written_of(old, state), changes)
        new, kept = self._checked(schedule_id, written, local)
        # What a schedule of the file was written with is the file: the state keeps none.
        mine = state.source == "api" and schedule_id not in self.file_definitions
        return self._save(
            new, state, changelog or "updated", source=state.source, written=kept if mine else None
        )

    def _written_of(self, old: ScheduleDefinition, state: ScheduleState) -> dict[str, Any]:
        """What an update of ``old`` starts from (``python_values.written_form``): the
        file's schedule as the file writes it now, when this scheduler has the file;
        else what the state keeps it was written with; else (stored before that was
        kept, or the file's schedule without the file) its stored definition, whose
        template, if it names one, this scheduler cannot read."""
        if old.name in self.file_definitions and self.config is not None:
            from .config.loader import written_in_file

            return written_in_file(self.config, old.name)
        if state.written is not None:
            return state.written
        if old.template is not None:
            raise ConfigError(
                f"{old.name} takes keys from template {old.template!r} of its schedule file, "
                "which this scheduler has not read: update it through a Scheduler made from "
                "that file (Scheduler.from_config), or change it in the file"
            )
        resolved = old.to_config()
        resolved.pop("in_process", None)
        return {"schedule": resolved}

    async def delete_schedule(self, schedule_id: str) -> None:
        """Stop a schedule for good; its runs and versions stay in history. (A schedule
        of the YAML file comes back when the file is next loaded: delete it there.)

        A schedule that others run after (their ``after:``) is not deleted: that raises
        ``ConfigError`` naming them, as the file refuses an ``after:`` that names no
        schedule. Delete them first, or give them another ``after:``."""
        await _in_thread(self._delete, schedule_id)

    def _delete(self, schedule_id: str) -> None:
        from .sync import remove_schedules

        self._resolve(schedule_id)
        followers = self._orphaned_by(schedule_id)
        if followers:
            shown = ", ".join(repr(name) for name in followers)
            many = len(followers) > 1
            raise ConfigError(
                f"cannot delete schedule {schedule_id!r}: "
                f"{'schedules' if many else 'schedule'} {shown} {'run' if many else 'runs'} "
                f"after it (after: {schedule_id}); delete {'them' if many else 'it'} first, "
                f"or give {'them' if many else 'it'} another after:"
            )
        remove_schedules(self.store, [schedule_id], self.clock.now())

    def _orphaned_by(self, schedule_id: str) -> list[str]:
        """The schedules whose ``after:`` would name no schedule once ``schedule_id`` is
        gone (``chains.chain_problems`` decides, as for the file); a chain broken
        already is not this deletion's doing."""
        from .chains import orphaned_by

        chains = {name: d.after for name, d in self.known_definitions().items()}
        return orphaned_by(chains, [schedule_id])

    async def pause_schedule(
        self,
        schedule_id: str,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> bool:
        """Pause; ``reason``, ``until`` (an instant, a timedelta or ``"2h"`` from now: the
        leader ends this pause then) and ``by`` are recorded and shown by status and list.
        A timed pause over another reason to stay off (an open-ended pause, the
        definition's ``paused: true`` or ``enabled: false``) ends alone: the schedule
        stays paused or disabled. Returns whether the schedule was active."""
        why = self._why(reason, until, by)
        return await _in_thread(self._pause_one, schedule_id, why)

    def _pause_one(self, schedule_id: str, why: dict[str, Any]) -> bool:
        self._ensure_known(self._resolve(schedule_id))
        changed = self.store.pause_schedules([schedule_id], "operator", self.clock.now(), **why)
        return bool(changed)

    async def resume_schedule(self, schedule_id: str) -> bool:
        """Resume: every pause of it ends (its definition's ``paused: true`` too)."""
        return bool(await _in_thread(self._resume_one, schedule_id))

    def _resume_one(self, schedule_id: str) -> list[str]:
        return self._resume([self._resolve(schedule_id).name], PAUSE_KINDS)

    async def pause(
        self,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> list[str]:
        """Pause every active schedule (``pause --all``), with ``pause_schedule``'s
        options. Schedules already paused or disabled are left as they are, and
        ``resume()`` resumes only the ones paused here."""
        why = self._why(reason, until, by)
        return await _in_thread(self._pause_all, why)

    def _pause_all(self, why: dict[str, Any]) -> list[str]:
        self._ensure_known(*self.file_definitions.values())
        changed = self.store.pause_schedules(None, "all", self.clock.now(), **why)
        return changed

    async def resume(self) -> list[str]:
        """Resume the schedules that ``pause()`` paused; a schedule paused on its own, or
        disabled, stays as it is."""
        return await _in_thread(self._resume, None, ("all",))

    async def resume_paused(self) -> list[str]:
        """Resume every schedule that a pause call or ``pause_after_failures`` paused
        (``resume --all``); those the definition declares ``paused: true`` or
        ``enabled: false`` stay as they are."""
        return await _in_thread(self._resume, None, PAUSE_CALLS)

    def _resume(self, names: Sequence[str] | None, kinds: Sequence[PauseKind]) -> list[str]:
        store = self._store_if_any()
        if store is None:
            return []
        changed = store.resume_schedules(names, kinds, self.clock.now())
        return changed

    def _sync(self, names: Iterable[str], changelog: str) -> None:
        """Write file schedules the state has not seen yet (before the first ``run``)."""
        if not self.has_state() and not self._create_state:
            return
        store = self.store
        now = self.clock.now()
        wanted = {n: self.file_definitions[n] for n in names}
        states = [store.get_schedule(n) for n in wanted]
        known = [s for s in states if s is not None]
        from .sync import apply_plan, git_source, make_plan

        plan = make_plan(wanted, known, now=now, preview=0)
        source = git_source(self.config.path if self.config else None)
        apply_plan(store, plan, wanted, now=now, source=source, changelog=changelog)

    def _ensure_known(self, *definitions: ScheduleDefinition) -> None:
        """Add file schedules the state has never seen (a pause or trigger from the shell
        before the first ``run``); a changed definition stays for ``run`` to version."""
        names = [d.name for d in definitions if d.name in self.file_definitions]
        if not names:
            return
        store = self.store
        if len(names) == 1:
            state = store.get_schedule(names[0])
            known = {names[0]} if state is not None and state.status != "removed" else set()
        else:
            known = {
                s.name for s in store.list_schedules(definitions=False) if s.status != "removed"
            }
        missing = [n for n in names if n not in known]
        if missing:
            self._sync(missing, "added")

    def plan(self) -> Plan:
        """What ``run`` would change in the state, computed as its start and reloads
        compute it (``sync.file_plan``): the file's schedules added, changed (including
        changes made through the API: drift, and schedules made through the API that the
        file now declares) and removed.

        Raises ``ConfigErrors``, with the message ``run`` gives, when ``run`` would
        refuse the file for what the state holds: the file no longer declares a schedule
        that one made through the API runs after (``after:``). A plan that would not be
        applied is not shown as if it would."""
        from .sync import file_plan

        store = self._store_if_any()
        if store is not None and self.config is not None:  # as run's start and reloads
            from .followed import check_followed

            check_followed(self.file_definitions, store, file=str(self.config.path or ""))
        return file_plan(store, self.file_definitions, now=self.clock.now(), preview=3)

    # -- observation ----------------------------------------------------------------------

    async def get_schedule(self, schedule_id: str) -> ScheduleDefinition:
        return await _in_thread(self._resolve, schedule_id)

    async def get_schedule_by_name(self, name: str) -> ScheduleDefinition:
        return await _in_thread(self._resolve, name)

    def _states(self) -> dict[str, ScheduleState]:
        store = self._store_if_any()
        return {s.name: s for s in store.list_schedules()} if store else {}

    def _next_run(
        self, definition: ScheduleDefinition, state: ScheduleState | None
    ) -> datetime | None:
        if state is not None:
            if state.status != "active":
                return None
            if state.next_run is not None:
                return definition.next_start(state.next_run, state.anchor)
        anchor = state.anchor if state is not None else None
        return definition.timeline(anchor).next(self.clock.now())

    def _status_of(self, definition: ScheduleDefinition, state: ScheduleState | None) -> str:
        return state.status if state is not None else definition.declared_status

    async def list_schedules(
        self, status: str | None = None, tags: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """The schedules, by name. ``description`` is the schedule in words (``At 03:00
        every day``), as ``list`` has always shown it; ``user_description`` is the
        schedule's own ``description``."""
        return await _in_thread(self._list, status, tags)

    def _list(
        self, status: str | None, tags: Sequence[str] | None, next_runs: bool = True
    ) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise ArgumentError(
                f"no status {status!r}; a schedule is one of: {', '.join(STATUSES)}"
            )
        states = self._states()
        paused = self._open_pauses()
        rows = []
        # By name: the same order whether the file's schedules come from it or the state.
        for name, definition in sorted(self.known_definitions().items()):
            state = states.get(name)
            row_status = self._status_of(definition, state)
            if status is not None and row_status != status:
                continue
            if tags and not set(tags) <= set(definition.tags):
                continue
            rows.append(
                {
                    "name": name,
                    "type": definition.type,
                    "status": row_status,
                    "next_run": format_instant(
                        self._next_run(definition, state)
                        if next_runs
                        else state.next_run
                        if state is not None and state.status == "active"
                        else None
                    ),
                    "tags": list(definition.tags),
                    "description": definition.schedule.describe(),
                    "user_description": definition.description,
                    "timezone": definition.zone_name,
                    "last_run": format_instant(state.last_run) if state else None,
                    "last_result": state.last_result if state else None,
                    "version": state.version if state else None,
                    "source": _source_of(name, self.file_definitions, state),
                    "in_process": definition.in_process,
                    **pauses.fields_of(paused.get(name)),
                }
            )
        return rows

    async def get_next_run_times(
        self, schedule_id: str, count: int = 5, after: datetime | None = None
    ) -> list[str]:
        return await _in_thread(self.next_run_times, schedule_id, count, after)

    def next_run_times(
        self, schedule_id: str, count: int = 5, after: datetime | None = None
    ) -> list[str]:
        """The next ``count`` fire instants after ``after`` (default now); an interval
        continues from where the state anchors it and from the next run it holds, as the
        leader will run it, from any ``after``. The state is read only for such a
        schedule: the others' instants follow from the definition alone."""
        definition = self._resolve(schedule_id)
        store = self._store_if_any() if definition.schedule.anchored else None
        state = store.get_schedule(schedule_id) if store is not None else None
        anchor = state.anchor if state is not None else None
        start = after or self.clock.now()
        timeline = definition.timeline(anchor, next_run=_held_next_run(definition, state))
        return [occurrence.text() for occurrence in timeline.upcoming(start, count)]

    def timelines(
        self, after: datetime | None = None
    ) -> dict[str, tuple[ScheduleDefinition, Timeline]]:
        """Each schedule with its timeline as ``next_run_times`` follows it: an interval
        counts from where the state anchors it, and one the state has not seen from its
        ``start_date``, else from ``after`` (default now). ``calendar`` draws these, so
        that it agrees with ``next-runs``."""
        states = self._states()
        start = after or self.clock.now()
        out = {}
        for name, definition in self.known_definitions().items():
            state = states.get(name)
            anchor = (state.anchor if state is not None else None) or definition.start_date
            next_run = _held_next_run(definition, state)
            out[name] = (definition, definition.timeline(anchor or start, next_run=next_run))
        return out

    async def get_schedule_status(self, schedule_id: str) -> dict[str, Any]:
        return await _in_thread(self._status, schedule_id)

    def _status(self, schedule_id: str) -> dict[str, Any]:
        definition = self._resolve(schedule_id)
        store = self._store_if_any()
        state = store.get_schedule(schedule_id) if store else None
        counts = store.run_counts(schedule=schedule_id).get(schedule_id, {}) if store else {}
        finished = counts.get("finished_count", 0) or 0
        total = counts.get("total_duration", 0.0) or 0.0
        return {
            "name": schedule_id,
            "status": self._status_of(definition, state),
            "type": definition.type,
            "description": definition.schedule.describe(),
            "user_description": definition.description,
            "last_run": format_instant(state.last_run) if state else None,
            "last_result": state.last_result if state else None,
            "next_run": format_instant(self._next_run(definition, state)),
            "run_count": counts.get("run_count", 0),
            "success_count": counts.get("success_count", 0),
            "error_count": counts.get("error_count", 0),
            "missed_count": counts.get("missed_count", 0),
            "skipped_count": counts.get("skipped_count", 0),
            "average_duration": round(total / finished, 3) if finished else None,
            "version": state.version if state else None,
            "tags": list(definition.tags),
            "metadata": dict(definition.metadata),
            "source": _source_of(schedule_id, self.file_definitions, state),
            **self._pause_fields(store, schedule_id),
        }

    async def get_statistics(self) -> dict[str, Any]:
        return await _in_thread(self._statistics)

    def _statistics(self) -> dict[str, Any]:
        now = self.clock.now()
        store = self._store_if_any()
        states = self._states()
        known = self.known_definitions()
        statuses = [self._status_of(d, states.get(n)) for n, d in known.items()]
        counts = store.run_counts(recent=now - timedelta(hours=24)) if store else {}
        ran = sum(c.get("run_count", 0) for c in counts.values())
        ok = sum(c.get("success_count", 0) for c in counts.values())
        uptime = 0.0
        lease = held_lease(store, now) if store else None
        started = store.get_meta("started_at") if store else None
        if lease is not None and started:
            from .timeutil import parse_instant

            uptime = max(0.0, (now - parse_instant(started)).total_seconds())
        return {
            "schedules_total": len(known),
            "schedules_active": statuses.count("active"),
            "schedules_paused": statuses.count("paused"),
            "jobs_triggered_total": ran,
            "jobs_triggered_last_24h": sum(c.get("recent_run_count", 0) for c in counts.values()),
            "success_rate": round(ok / ran, 4) if ran else None,
            "scheduler_uptime": round(uptime, 1),
            "missed_schedules": sum(c.get("missed_count", 0) for c in counts.values()),
            "leader": lease.instance_id if lease else None,
            # the current leader's instance id (HOSTNAME:PID unless configured)
            "instance_id": lease.instance_id if lease else None,
            # until when its lease holds unless it renews it (its heartbeat)
            "leader_lease_until": format_instant(lease.expires_at) if lease else None,
            **self._presences(store, now),
        }

    @staticmethod
    def _presences(store: Store | None, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """The standbys and workers beside the leader, each with when it last said so."""
        found = store.presences(now) if store else []
        return {
            role + "s": [
                {"instance_id": p.instance_id, "seen_at": format_instant(p.seen_at)}
                | ({"queues": p.detail.split(",")} if role == "worker" else {})
                for p in found
                if p.role == role
            ]
            for role in ("standby", "worker")
        }

    def _check_known(self, schedule_id: str) -> Store | None:
        """The store, after checking that ``schedule_id`` is or was a schedule."""
        store = self._store_if_any()
        if schedule_id in self.file_definitions:
            return store
        if store is None or store.get_schedule(schedule_id) is None:
            self._resolve(schedule_id)  # raises, with a suggestion
        return store

    async def get_run_history(self, schedule_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The schedule's runs, newest scheduled instant first."""
        return await _in_thread(self._run_history, schedule_id, limit)

    def _run_history(self, schedule_id: str, limit: int) -> list[dict[str, Any]]:
        store = self._check_known(schedule_id)
        return [_run_json(r) for r in store.history(schedule_id, limit)] if store else []

    async def get_schedule_history(
        self, schedule_id: str, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The schedule's versions, newest first: ``version``, ``changed_at``,
        ``changelog``, ``source`` and the ``diff`` from the version before; the newest
        ``limit`` of them (None: every one)."""
        return await _in_thread(self._versions, schedule_id, limit)

    #: The older name of ``get_schedule_history``.
    get_schedule_versions = get_schedule_history

    def _versions(self, schedule_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        if limit is not None and limit < 0:
            raise ArgumentError(f"limit must be 0 or more, not {limit}")
        store = self._check_known(schedule_id)
        if store is None:
            return []
        from .sync import definition_diff

        versions = store.versions(schedule_id)
        shown = versions if limit is None else versions[:limit]
        # each shown version against the one before it, whether that one is shown or not
        for newer, older in zip(shown, [*versions[1:], None], strict=False):
            if not newer.diff:
                # An addition is stored without its diff (a first start with 100,000
                # schedules would spend seconds on them); it is made here, when read.
                newer.diff = definition_diff(
                    schedule_id, older.definition if older else None, newer.definition
                )
        return [v.to_json() for v in shown]

    # -- manual runs and events -------------------------------------------------------------

    def leader_running(self) -> bool:
        store = self._store_if_any()
        if store is None:
            return False
        return held_lease(store, self.clock.now()) is not None

    def _manual_run(
        self,
        definition: ScheduleDefinition,
        trigger: str,
        args: Sequence[Any] | None,
        kwargs: dict[str, Any] | None,
        event: dict[str, Any] | None = None,
    ) -> RunRecord:
        from .runs import new_run

        check_run_values(args, kwargs, event)
        now = self.clock.now()
        return new_run(definition, now, trigger, now, args=args, kwargs=kwargs, event=event)

    async def trigger_now(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> str:
        """Queue a manual run for the leader; returns its run id."""
        return await _in_thread(self._trigger, schedule_id, args, kwargs)

    def _trigger(
        self, schedule_id: str, args: Sequence[Any] | None, kwargs: dict[str, Any] | None
    ) -> str:
        definition = self._resolve(schedule_id)
        self._ensure_known(definition)
        run = self._manual_run(definition, "manual", args, kwargs)
        self.store.enqueue(run)
        return run.run_id

    async def trigger_event(self, name: str, data: dict[str, Any] | None = None) -> list[str]:
        """Raise an event: every active schedule listening for it gets a queued run, and
        a Python task receives ``data`` as its keyword argument ``event``."""
        return await _in_thread(self._event, name, data)

    def _event(self, name: str, data: dict[str, Any] | None) -> list[str]:
        check_run_values(None, None, data)
        states = self._states()
        runs = []
        known = self.known_definitions()
        for definition in known.values():
            spec = definition.schedule
            if isinstance(spec, EventTrigger) and spec.event == name:
                if self._status_of(definition, states.get(definition.name)) != "active":
                    continue
                runs.append(self._manual_run(definition, "event", None, None, data or {}))
        self._ensure_known(*(known[run.schedule] for run in runs))
        self.store.add_event(name, data, runs, self.clock.now())
        return [r.run_id for r in runs]

    async def wait_for_run(
        self,
        run_id: str,
        timeout: float | None = None,
        *,
        on_attempt: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the store until the run and its retries reached a final result; returns
        the last attempt's record. ``on_attempt`` hears each attempt's record as it ends.

        An attempt that failed with retries left is followed by the next attempt of the
        same occurrence, queued by the leader or worker as it records the end (a run that
        never started its job, its schedule removed say, is not retried)."""
        import asyncio

        from .runs import retries_left

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = 0.05
        while True:
            run = await _in_thread(self.store.get_run, run_id)
            if run is None:
                raise UnoScheduleError(f"no run with id {run_id!r}")
            if run.result not in ("queued", "running"):
                if on_attempt is not None:
                    on_attempt(_run_json(run))
                if run.result == "success":
                    return _run_json(run)
                known = await _in_thread(self.known_definitions)
                definition = known.get(run.schedule)
                if not retries_left(run, definition):
                    return _run_json(run)
                following = await self._next_attempt_of(run, deadline)
                if following is None:
                    return _run_json(run)
                run_id, delay = following.run_id, 0.05
                continue
            if deadline is not None and loop.time() > deadline:
                raise UnoScheduleError(f"run {run_id} did not finish within {timeout:g}s")
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 1.5)

    async def _next_attempt_of(self, run: RunRecord, deadline: float | None) -> RunRecord | None:
        """The attempt that follows ``run``, once recorded; None if none comes within
        ``RETRY_GRACE`` (the leader queues it as it records the end; a run that never
        started its job, say because its schedule was removed, is not retried)."""
        import asyncio

        loop = asyncio.get_running_loop()
        give_up = loop.time() + RETRY_GRACE
        while True:
            following = await _in_thread(self._attempt_after, run)
            if following is not None:
                return following
            now = loop.time()
            if now > give_up or (deadline is not None and now > deadline):
                return None
            if not self.leader_running():
                give_up = min(give_up, now + 0.5)
            await asyncio.sleep(0.05)

    def _attempt_after(self, run: RunRecord) -> RunRecord | None:
        """The retry that follows ``run`` in the state (the next attempt of its
        occurrence), if one was queued."""
        later = self.store.runs_between(run.schedule, run.scheduled_time, run.scheduled_time)
        for other in later:
            if other.attempt == run.attempt + 1 and other.trigger == "retry":
                return other
        return None

    async def run_and_wait(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        on_run_id: Callable[[str], None] | None = None,
        on_attempt: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Run a job now and return the record of its last attempt (``trigger --wait``):
        through the running leader when there is one (it applies queues, concurrency groups and
        retries), else here, in the foreground, retries included. ``on_run_id`` hears the
        run's id as soon as it exists, ``on_attempt`` each attempt's record as it ends."""
        if await _in_thread(self.leader_running):
            run_id = await self.trigger_now(schedule_id, args=args, kwargs=kwargs)
            if on_run_id is not None:
                on_run_id(run_id)
            return await self.wait_for_run(run_id, on_attempt=on_attempt)
        return await self.run_in_foreground(
            schedule_id, args=args, kwargs=kwargs, on_run_id=on_run_id, on_attempt=on_attempt
        )

    async def run_in_foreground(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        on_run_id: Callable[[str], None] | None = None,
        on_attempt: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Run a job here and now, with its retries (``trigger --wait`` with no scheduler
        running); returns the last attempt's record.

        Each attempt is recorded started by this process, so that a scheduler started
        meanwhile never takes it and starts it again; it ends through the same settle step
        as the leader's runs (retry policy, error handler). A failed attempt's retry is
        queued in the state with its end, as a leader queues one: this process starts it
        when it is due, unless a scheduler started meanwhile took it first (this then
        waits for that scheduler's attempts), and if this process dies meanwhile, the
        next scheduler runs it. Stopped (Ctrl-C, a cancelled task), it records the
        attempt it runs, or the retry it waits for, ``interrupted``. Each attempt's full
        output is kept as a leader keeps it (``runlogs.sink_of``), for ``logs``."""
        from .runlogs import sink_of
        from .runner.executor import Executor
        from .runner.notify import Notifier
        from .runner.processes import process_token
        from .runner.settle import Ended, Settler, with_retry

        definition = self._resolve(schedule_id)
        self._ensure_known(definition)
        store = self.store
        token = process_token()  # how a leader tells this process died
        notifier = Notifier(store.clone, folder=self.base_dir)
        # a file that cannot be written is told where the operator looks (stderr for the CLI)
        sink = sink_of(self, lambda line: self.hook_log(line) if self.hook_log else None)
        settler = Settler(
            self.options,
            on_failure=self.notify_failure,
            on_finished=(lambda run, outcome, _s, _f: sink.ended(run, outcome)) if sink else None,
            definitions=self.known_definitions,
            notifier=notifier,
            # a schedule of the file not stored yet is active: the runner stores it
            active=lambda name: getattr(store.get_schedule(name), "status", "active") == "active",
        )
        executor = Executor(output=sink.write if sink else None)

        async def record(finish: Finish, retry: RunRecord | None) -> Ended:
            finish = with_retry(finish, retry, token)
            if finish.run_id not in await _in_thread(store.finish_runs, [finish]):
                # a leader judged this process dead and recorded the run interrupted, with
                # its retry: nothing here is to follow
                return Ended(recorded=False, why="a scheduler settled the run first")
            if finish.then:  # queued for a leader too: wake one if any runs
                store.notify()
            return Ended(recorded=True, retried=retry is not None)

        run = self._manual_run(definition, "manual", args, kwargs)
        run.result, run.started_at, run.pid = "running", self.clock.now(), os.getpid()
        run.instance_id = token
        await _in_thread(store.record_started, run)
        if on_run_id is not None:
            on_run_id(run.run_id)
        try:
            while True:
                final, ended = await self._attempt_here(run, definition, executor, settler, record)
                if on_attempt is not None:
                    on_attempt(final)
                queued = await self._next_attempt_of(run, None) if ended.retried else None
                if queued is None:
                    break
                following = await self._start_when_due(queued, token)
                if following is None:  # a leader took it: its attempts are the leader's
                    await _in_thread(notifier.close)
                    return await self.wait_for_run(queued.run_id, on_attempt=on_attempt)
                run = following
        except BaseException:  # Ctrl-C: the retry queued for this process is stopped too
            with contextlib.suppress(UnoScheduleError):  # what failed first is the news
                self._stop_retry_of(run, token)
            raise
        finally:
            if sink is not None:  # the file of an attempt stopped as it ran
                sink.close()
        await _in_thread(notifier.close)  # its notifications are sent before it returns
        return final

    async def _attempt_here(
        self,
        run: RunRecord,
        definition: ScheduleDefinition,
        executor: Executor,
        settler: Settler,
        record: Recorder,
    ) -> tuple[dict[str, Any], Ended]:
        """Run the job of ``run``, recorded started by this process, and settle its end
        (``record`` queues its retry with it); its stored record, and what was recorded."""
        from .runs import job_spec

        try:
            outcome = await executor.run(job_spec(run, definition, self.options, self.base_dir))
        except BaseException:  # Ctrl-C: the job's processes are stopped; say so
            self.store.finish_run(run.run_id, "interrupted", self.clock.now(), error=STOPPED_HERE)
            raise
        started = run.started_at or self.clock.now()
        ended = await settler.settle(run, definition, outcome, started, self.clock.now(), record)
        stored = await _in_thread(self.store.get_run, run.run_id)
        assert stored is not None
        return _run_json(stored), ended

    async def _start_when_due(self, queued: RunRecord, token: str) -> RunRecord | None:
        """Wait until the retry ``queued`` by a foreground run is due, then start it as
        this process's own (``Store.start_in_foreground``, ``token`` telling a leader when
        this process died); None when a leader took it first: exactly one of them runs it.
        Killed meanwhile, this process leaves it queued, and the next leader runs it."""
        import asyncio

        due = queued.queued_at or self.clock.now()
        await asyncio.sleep(max(0.0, (due - self.clock.now()).total_seconds()))
        started, pid = self.clock.now(), os.getpid()
        if not await _in_thread(self.store.start_in_foreground, queued.run_id, started, pid, token):
            return None
        return replace(queued, result="running", started_at=started, pid=pid, instance_id=token)

    def _stop_retry_of(self, run: RunRecord, token: str) -> None:
        """Record the retry of ``run`` stopped, as an attempt stopped as it ran is, when it
        waits queued for this foreground process (stopped with Ctrl-C during the retry
        delay): started first as this process's, so that a leader that took it keeps it."""
        store = self.store
        queued = self._attempt_after(run)
        now = self.clock.now()
        if queued is not None and store.start_in_foreground(queued.run_id, now, os.getpid(), token):
            store.finish_run(queued.run_id, "interrupted", now, error=STOPPED_HERE)

    # -- error handlers ---------------------------------------------------------------------

    def on_schedule_error(self, handler: ErrorHandler) -> ErrorHandler:
        """Decorator: ``handler(schedule_id, exception)`` is called when a job fails for
        good (after its last retry). ``exception`` is what the task raised; for a task run
        in another process, or a command, a ``TaskFailure`` with its type name, message
        and traceback text."""
        self._error_handlers.append(handler)
        return handler

    async def notify_failure(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: Any
    ) -> None:
        """Tell the handlers and the ``on_error`` hook that a run failed for good; a
        failing handler is logged by the caller, never silent.

        The schedule's own hook follows its command's rule: under ``shell: true`` a
        string hook is a script for the command's shell. The file-wide hook belongs to
        no schedule, and is run as words whatever the schedule's ``shell:``.
        """
        error = outcome.exception or _rebuilt(outcome, run)
        for handler in self._error_handlers:
            result = handler(definition.name, error)
            if result is not None:
                await result
        hook = definition.on_error or self.options.on_error
        if hook:
            from .runner.executor import run_hook

            env = {
                "UNO_SCHEDULE_NAME": definition.name,
                "UNO_RUN_ID": run.run_id,
                "UNO_SCHEDULED_TIME": format_instant(run.scheduled_time) or "",
                "UNO_ATTEMPT": str(run.attempt),
                "UNO_RESULT": outcome.result,
                "UNO_ERROR": outcome.error or "",
            }
            shell = definition.shell and bool(definition.on_error)
            await _in_thread(functools.partial(run_hook, hook, env, shell=shell, log=self.hook_log))

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, *, standby: bool = True) -> None:
        """Start the run loop in this event loop.

        Leadership is taken as ``uno-schedule run`` takes it: the state's leader lock and
        lease, never a live leader's. With another leader alive, ``start()`` returns
        once this scheduler waits as a standby (it takes over when that leader stops);
        ``standby=False`` raises ``LeadershipError`` instead. A start-up failure (an
        unusable state, an unknown zone) raises here.
        """
        import asyncio

        from .runner.service import Service

        if self._service_task is not None:
            return
        service = Service(self, install_signals=False, standby=standby)
        loop = asyncio.get_running_loop()
        task = loop.create_task(service.serve())
        assert service.started is not None
        started = loop.create_task(service.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            started.cancel()
            task.result()  # raises the start-up error
            return
        self._service = service
        self._service_task = task

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop firing, let running jobs finish within ``grace`` (default ``shutdown_grace``)."""
        if self._service is None or self._service_task is None:
            self.close()
            return
        self._service.request_stop(grace)
        await self._service_task
        self._service_task = None
        self._service = None
        self.close()

    @property
    def leading(self) -> bool:
        """True while this scheduler's run loop is the leader."""
        return self._service is not None and bool(self._service.leading)

    def run_forever(self) -> int:
        """Run as the long-lived service (``uno-schedule run``); returns the exit status."""
        from .runner.service import Service

        return Service(self, install_signals=True).run()

    # -- operations: pauses, health, explain, backfill, logs, top ---------------

    def _why(
        self, reason: str | None, until: datetime | timedelta | str | None, by: str | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        if isinstance(until, str):
            until = pauses.parse_until(until, now)
        elif isinstance(until, timedelta):
            until = now + until
        return {"reason": reason, "until": until, "by": by}

    def _open_pauses(self) -> dict[str, Any]:
        return pauses.open_by_name(self._store_if_any())

    def _pause_fields(self, store: Store | None, name: str) -> dict[str, Any]:
        return pauses.fields_of(pauses.open_by_name(store).get(name))

    async def health(self) -> dict[str, Any]:
        """Leader alive and nothing overdue? (``uno-schedule health``)."""
        return await _in_thread(self._health)

    def _health(self) -> dict[str, Any]:
        from .health import check

        return check(
            self._store_if_any(), self.known_definitions(), self.clock.now(), self.state_path
        )

    def reinitialise_state(self) -> str:
        """Serve the state as it is now (``uno-schedule init-state``): after a shared state
        lost its identity (Redis restarted empty), nothing fires until an operator has
        checked it and calls this; running runners and workers adopt the new identity.
        Returns it."""
        from .identity import reinitialise

        return reinitialise(self.store)

    async def explain(
        self, schedule_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every occurrence due in ``[since, until]`` and what became of it."""
        return await _in_thread(self._explain, schedule_id, since, until)

    def _explain(
        self, schedule_id: str, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        from .explain import explain

        definition = self._resolve(schedule_id)
        return explain(self._store_if_any(), definition, since, until, self.clock.now())

    async def backfill(
        self, schedule_id: str, start: datetime, end: datetime, **options: Any
    ) -> dict[str, Any]:
        """Queue a run of each occurrence in ``[start, end]`` (trigger ``backfill``)."""
        return await _in_thread(self._backfill, schedule_id, start, end, options)

    def _backfill(
        self, schedule_id: str, start: datetime, end: datetime, options: dict[str, Any]
    ) -> dict[str, Any]:
        from .backfill import backfill

        definition = self._resolve(schedule_id)

        def enqueue(runs: list[RunRecord]) -> list[bool]:
            self._ensure_known(definition)
            return self.store.enqueue_unique(runs)

        return backfill(
            definition,
            start,
            end,
            store=self._store_if_any(),
            now=self.clock.now(),
            enqueue=enqueue,
            **options,
        )

    async def get_run_output(self, schedule_id: str, run_id: str | None = None) -> dict[str, Any]:
        """The full output of a run (default: the latest started), from ``log_dir``."""
        return await _in_thread(self._run_output, schedule_id, run_id)

    def _run_output(self, schedule_id: str, run_id: str | None) -> dict[str, Any]:
        from .runlogs import read_output

        if schedule_id not in self.definitions and not self._states().get(schedule_id):
            self._resolve(schedule_id)
        return read_output(self, self._store_if_any(), schedule_id, run_id)

    async def overview(self, rows: int = 10) -> dict[str, Any]:
        """Running jobs, next due schedules, latest results (``uno-schedule top``)."""
        from .overview import snapshot

        return await _in_thread(lambda: snapshot(self._store_if_any(), self.clock.now(), rows))

    async def get_pauses(self, schedule_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The latest pauses of a schedule, newest first: reason, who, from, until, end."""
        return await _in_thread(self.pauses_of, schedule_id, limit)

    # -- the synchronous face: the same calls for a caller without an event loop -----------
    #
    # A command at the shell has no loop to share, and importing asyncio would cost it
    # more than its own work. Each method is the core its async namesake runs in a thread.

    def definition(self, schedule_id: str) -> ScheduleDefinition:
        """``get_schedule``: the file's definition, else the state's."""
        return self._resolve(schedule_id)

    def schedule_status(self, schedule_id: str) -> dict[str, Any]:
        """``get_schedule_status``."""
        return self._status(schedule_id)

    def schedule_list(
        self,
        status: str | None = None,
        tags: Sequence[str] | None = None,
        *,
        next_runs: bool = True,
    ) -> list[dict[str, Any]]:
        """``list_schedules``; ``next_runs=False`` leaves out the next runs the state does
        not hold (working them out is most of the cost of a listing)."""
        return self._list(status, tags, next_runs)

    def statistics(self) -> dict[str, Any]:
        """``get_statistics``."""
        return self._statistics()

    def run_history(self, schedule_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """``get_run_history``."""
        return self._run_history(schedule_id, limit)

    def schedule_versions(self, schedule_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """``get_schedule_history``."""
        return self._versions(schedule_id, limit)

    def pauses_of(self, schedule_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """``get_pauses``."""
        store = self._store_if_any()
        if store is None:
            return []
        now = self.clock.now()
        found = store.pauses(schedule_id, datetime.min.replace(tzinfo=UTC), now)
        return [pauses.record_json(p) for p in reversed(found[-limit:])]

    def pause_one(
        self,
        schedule_id: str,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> bool:
        """``pause_schedule``."""
        return self._pause_one(schedule_id, self._why(reason, until, by))

    def pause_every(
        self,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> list[str]:
        """``pause``."""
        return self._pause_all(self._why(reason, until, by))

    def resume_one(self, schedule_id: str) -> bool:
        """``resume_schedule``."""
        return bool(self._resume_one(schedule_id))

    def resume_every_paused(self) -> list[str]:
        """``resume_paused``."""
        return self._resume(None, PAUSE_CALLS)

    def trigger(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> str:
        """``trigger_now``."""
        return self._trigger(schedule_id, args, kwargs)

    def raise_event(self, name: str, data: dict[str, Any] | None = None) -> list[str]:
        """``trigger_event``."""
        return self._event(name, data)


#: Stands in for an in-process callable while its other values are checked.
_LOCAL_PLACEHOLDER = "unoschedule.local:callable"


def _held_next_run(definition: ScheduleDefinition, state: ScheduleState | None) -> datetime | None:
    """The next run ``state`` holds for ``definition``, which the leader runs next: none
    for a schedule that is not active (it starts afresh when resumed) or whose stored
    definition is not this one (a change starts afresh too)."""
    if state is None or state.status != "active":
        return None
    return state.next_run if state.fingerprint == definition.fingerprint() else None


def _source_of(
    name: str, file_definitions: dict[str, ScheduleDefinition], state: ScheduleState | None
) -> str:
    if state is not None:
        return state.source
    return "file" if name in file_definitions else "api"


def _version(
    definition: ScheduleDefinition, version: int, now: datetime, changelog: str, *, diff: str
) -> VersionRecord:
    return VersionRecord(
        schedule=definition.name,
        version=version,
        changed_at=now,
        changelog=changelog,
        source="library",
        definition=definition.canonical()[0],
        diff=diff,
    )


def _callable_task(values: dict[str, Any]) -> Callable[..., Any] | None:
    """Turn a callable ``task`` into its import path where it has one; return it when it
    has none (a closure, lambda, bound method, partial: it runs in this process only)."""
    task = values.get("task")
    if task is None or isinstance(task, str):
        return None
    if not callable(task):
        raise ConfigError(f"task must be an import path or a callable, not {task!r}")
    path = _import_path(task)
    if path is not None:
        values["task"] = path
        return None
    return task  # type: ignore[no-any-return]


def _import_path(func: Callable[..., Any]) -> str | None:
    """``module:qualname`` when importing that gives back ``func`` itself, else None."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__":
        return None
    if "<" in qualname:
        return None
    import importlib

    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception:
        return None
    return f"{module}:{qualname}" if target is func else None


def _warn_in_process(name: str, func: Callable[..., Any]) -> None:
    """Say where an in-process callable runs, since neither place is obvious: only in
    this process, and (a sync one) in a child forked for each run."""
    import warnings

    from .runner.tasks import is_async_callable

    forked = (
        ""
        if is_async_callable(func)
        else " A sync callable runs in a process forked from this one for each run: what "
        "it changes in this process's memory is lost (an async def runs in this process)."
    )
    warnings.warn(
        f"schedule {name!r} runs an in-process callable (a closure, lambda, bound method or "
        "partial): only this process can run it; a leader in another process records an "
        f"error instead.{forked} Schedule a module-level function to run it anywhere.",
        RuntimeWarning,
        stacklevel=3,
    )


def _local_path(func: Callable[..., Any], name: str) -> str:
    """The task path an in-process callable is known by: where it was written, and the
    schedule it belongs to (two lambdas share a qualname)."""
    module = getattr(func, "__module__", None) or "local"
    qualname = getattr(func, "__qualname__", None) or type(func).__name__
    return f"{module}:{qualname}#{name}"


def _local_callable(definition: ScheduleDefinition) -> Callable[..., Any]:
    from .runner.tasks import has_local, resolve_task

    path = definition.task or ""
    if not has_local(path):
        raise ConfigError(
            f"{definition.name} runs an in-process callable registered by another process; "
            "give update_schedule() a task"
        )
    return resolve_task(path)


def _rebuilt(outcome: Any, run: RunRecord) -> TaskFailure:
    """A ``TaskFailure`` from a run's one-line error (``Type: message``) and output.

    When the type is a built-in exception (``ValueError``, ``KeyError``...), the failure
    is also an instance of it, so that a handler's ``isinstance`` checks work as they
    would on the exception the task raised in its own process.
    """
    text = outcome.error or outcome.result
    type_name, sep, message = text.partition(": ")
    if not sep or not type_name.replace(".", "").replace("_", "").isalnum():
        type_name, message = outcome.result, text
    kind = _failure_class(type_name)
    return kind(type_name, message, outcome.output or "", result=outcome.result, run_id=run.run_id)


_FAILURE_CLASSES: dict[str, type[TaskFailure]] = {}


def _failure_class(type_name: str) -> type[TaskFailure]:
    found = _FAILURE_CLASSES.get(type_name)
    if found is not None:
        return found
    import builtins

    base = getattr(builtins, type_name, None)
    kind: type[TaskFailure] = TaskFailure
    if isinstance(base, type) and issubclass(base, Exception):
        try:
            kind = type(type_name, (TaskFailure, base), {"__module__": __name__})
        except TypeError:  # a built-in whose layout does not mix (OSError and kin)
            kind = TaskFailure
    _FAILURE_CLASSES[type_name] = kind
    return kind


def _named_placeholder(values: dict[str, Any], path: str) -> dict[str, Any]:
    """``values`` with the placeholder of ``_with_placeholder`` replaced by ``path``,
    the name the in-process callable is registered under."""
    return {**values, "task": path} if values.get("task") == _LOCAL_PLACEHOLDER else values


def _with_placeholder(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with a callable task written as the placeholder the file can hold."""
    task = values.get("task")
    if task is None or isinstance(task, str):
        return values
    return {**values, "task": _LOCAL_PLACEHOLDER}


def _naming_values(definition: ScheduleDefinition) -> dict[str, Any]:
    """What ``_default_name`` names a merged definition after."""
    return {"task": definition.task, "command": definition.command, "schedule": definition.schedule}


#: What a schedule is called while it is merged only to learn what to name it.
_UNNAMED = "unnamed"


def _default_name(own: dict[str, Any], base: dict[str, Any], *, named: bool = False) -> str | None:
    """A name from what the schedule runs and when: its own task or command and
    schedule, else its template's (``base``). None when they come from a template of
    the file (``named``): only the merged definition says then."""
    import hashlib

    target = own.get("task") or own.get("command") or base.get("task") or base.get("command")
    if not target:
        if named:
            return None
        raise ConfigError("schedule() needs a task or a command (or a template that has one)")
    if callable(target):
        target = getattr(target, "__qualname__", None) or type(target).__name__
    spec = own["schedule"] if "schedule" in own else base.get("schedule")
    shown = spec.to_config() if isinstance(spec, ScheduleSpec) else spec
    digest = hashlib.sha1(repr((target, shown)).encode()).hexdigest()[:6]
    # a blank command names nothing: the loader refuses it, with the file's message
    words = str(target if isinstance(target, str) else " ".join(map(str, target or ()))).split()
    word = words[0] if words else "command"
    return f"{word.rsplit('/', 1)[-1]}-{digest}"


def _run_json(run: RunRecord) -> dict[str, Any]:
    out = run.to_json()
    out["scheduled_time"] = format_instant(run.scheduled_time)
    return out


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` in a worker thread: the async face of the synchronous core.

    asyncio is imported here, not with the module: a shell command that never awaits
    anything does not pay for loading it.
    """
    import asyncio

    return await asyncio.to_thread(func, *args)


def _is_url(spec: str | os.PathLike[str]) -> bool:
    from .store import is_url

    return is_url(spec)


def _state_location(
    storage: Store | str | os.PathLike[str] | None,
    state: str | os.PathLike[str] | None,
    config: Config | None,
) -> Store | str | Path:
    """The store a scheduler's arguments mean: a store object, a URL (a remote store,
    opened on first use) or the path of a state file. The one rule for every way of
    making a scheduler (the constructor, ``from_config``, ``for_state``), so that none
    of them can open a file next to the YAML file while the file names Redis.

    ``storage`` or ``state`` wins when given; else the file's ``scheduler.storage`` or
    ``scheduler.state`` (a file read against its folder); else ``uno-schedule.db``. A
    URL is never taken for a file name, whichever argument or key holds it.
    """
    given = _one_store(storage, state)
    if isinstance(given, Store):
        return given
    if config is not None:
        return config.store_url(given) or config.state_path(given)
    spec = given if given is not None else "uno-schedule.db"
    return os.fspath(spec) if _is_url(spec) else Path(spec)


def _one_store(
    storage: Store | str | os.PathLike[str] | None, state: str | os.PathLike[str] | None
) -> Store | str | os.PathLike[str] | None:
    """``storage`` or ``state``, whichever is given. Both are accepted only when they
    name the same store: two different ones are a contradiction that no rule of
    precedence should settle silently."""
    if storage is None or state is None:
        return storage if storage is not None else state
    identity = _store_identity(storage)
    if identity is not None and identity == _store_identity(state):
        return storage
    raise ArgumentError(
        f"storage={_shown_store(storage)} and state={_shown_store(state)} name different "
        "stores: give one of them"
    )


def _store_identity(spec: Store | str | os.PathLike[str]) -> str | None:
    """What makes two arguments the same store: a URL as written, a file by its real
    path (links resolved); None for a store object not kept in a file."""
    if isinstance(spec, Store):
        return spec.path if isinstance(spec, StateFile) else None
    text = os.fspath(spec)
    return text if _is_url(text) else os.path.realpath(os.path.expanduser(text))


def _shown_store(spec: Store | str | os.PathLike[str]) -> str:
    """An argument as a message shows it: a URL without its password."""
    if isinstance(spec, Store):
        return type(spec).__name__
    from .store import mask_url

    return repr(mask_url(spec))


def check_run_values(
    args: Sequence[Any] | None, kwargs: dict[str, Any] | None, event: dict[str, Any] | None
) -> None:
    """A run's values must be storable as JSON (see ``values``)."""
    from .values import check_plain_value

    for value, what in ((args, "args"), (kwargs, "kwargs"), (event, "event data")):
        if value is not None:
            check_plain_value(value, what)

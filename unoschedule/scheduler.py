"""The ``Scheduler`` of the design document: the one API that the CLI, the YAML file and
library users all go through.

A schedule's id is its unique name. Definitions live in memory (from a YAML file or
from ``schedule()`` calls); what happened lives in the store. Read methods work whether
or not a run loop is active anywhere; write methods write the store and wake the leader.
"""

from __future__ import annotations

import asyncio
import difflib
import itertools
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pauses
from .abc import Clock, Store, SystemClock
from .errors import UnknownScheduleError, UnoScheduleError
from .model import (
    RunRecord,
    ScheduleDefinition,
    SchedulerOptions,
    ScheduleState,
    ScheduleTemplate,
)
from .schedules import EventTrigger, ScheduleSpec, schedule_from_config
from .sync import Plan, apply_plan, definition_diff, make_plan
from .timeutil import format_instant, parse_duration

if TYPE_CHECKING:
    from .config import Config

__all__ = ["Scheduler"]

ErrorHandler = Callable[[str, BaseException], Awaitable[None] | None]
_OPTION_NAMES = {f.name for f in fields(SchedulerOptions)}
_DEFINITION_NAMES = {f.name for f in fields(ScheduleDefinition)} - {"name", "schedule"}


class _JobFailed(Exception):
    """What ``on_schedule_error`` handlers receive when a job fails for good."""

    def __init__(self, message: str, result: str, run_id: str) -> None:
        super().__init__(message)
        self.result = result
        self.run_id = run_id


class Scheduler:
    """Create with the design document's options, or from a YAML ``Config``."""

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
            hint = difflib.get_close_matches(unknown[0], sorted(_OPTION_NAMES), n=1)
            raise TypeError(
                f"unknown Scheduler option {unknown[0]!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
        base = config.options if config is not None else SchedulerOptions()
        if "storage" in options and not isinstance(options["storage"], str | None):
            storage = options.pop("storage")
        self.options = replace(base, **options)
        self.config = config
        self.clock = clock or SystemClock()
        self.definitions: dict[str, ScheduleDefinition] = (
            dict(config.schedules) if config is not None else {}
        )
        self.templates: dict[str, ScheduleTemplate] = {}
        self._store: Store | None = storage if isinstance(storage, Store) else None
        self._storage_url = storage if isinstance(storage, str) and "://" in storage else None
        self._state_path: Path | None = None
        if self._store is None and self._storage_url is None:
            if storage is not None and not isinstance(storage, Store):
                self._state_path = Path(storage)
            elif state is not None:
                self._state_path = Path(state)
            elif config is not None:
                self._state_path = config.state_path(None)
            elif self.options.storage and "://" in self.options.storage:
                self._storage_url = self.options.storage
            else:
                self._state_path = Path(self.options.state or "uno-schedule.db")
        self._create_state = create_state
        self._error_handlers: list[ErrorHandler] = []
        self._service_task: asyncio.Task[int] | None = None
        self._service: Any = None
        self.instance_id = self.options.instance_id or f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    def from_config(
        cls, config: Config, *, state: str | None = None, create_state: bool = False, **kw: Any
    ) -> Scheduler:
        """A scheduler over a loaded YAML file; ``state`` overrides the state file path.

        A URL (``--state`` or ``scheduler.storage``) names a remote store rather than a
        file, so that it is opened as such (or refused with a clear error), never taken
        for a file name.
        """
        url = config.store_url(state)
        if url is not None:
            return cls(config=config, storage=url, create_state=create_state, **kw)
        return cls(config=config, state=config.state_path(state), create_state=create_state, **kw)

    # -- the store ------------------------------------------------------------------------

    @property
    def state_path(self) -> Path | None:
        return self._state_path

    def has_state(self) -> bool:
        if self._store is not None or self._storage_url is not None:
            return True
        return self._state_path is not None and self._state_path.exists()

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
                self._store = SQLiteStorage(self._state_path, create=self._create_state)
        return self._store

    def _store_if_any(self) -> Store | None:
        return self.store if self.has_state() else None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- definitions ----------------------------------------------------------------------

    def _resolve(self, schedule_id: str) -> ScheduleDefinition:
        definition = self.definitions.get(schedule_id)
        if definition is None:
            hint = difflib.get_close_matches(schedule_id, list(self.definitions), n=1)
            raise UnknownScheduleError(schedule_id, hint[0] if hint else None)
        return definition

    async def schedule(
        self,
        task: str | Callable[..., Any] | None = None,
        schedule: ScheduleSpec | str | dict[str, Any] | None = None,
        *,
        name: str | None = None,
        template: ScheduleTemplate | None = None,
        **settings: Any,
    ) -> str:
        """Add a schedule; returns its id (its name). Options as in the design document."""
        values: dict[str, Any] = dict(template.values) if template is not None else {}
        for key in ("kwargs", "metadata", "env"):
            if key in values and key in settings:
                settings[key] = {**values[key], **settings[key]}
        values.update(settings)
        if task is not None:
            values["task"] = (
                task if isinstance(task, str) else f"{task.__module__}:{task.__qualname__}"
            )
        if schedule is not None:
            values["schedule"] = schedule
        if "schedule" not in values:
            raise UnoScheduleError("schedule() needs a schedule (or a template that has one)")
        spec = schedule_from_config(values.pop("schedule"))
        if not values.get("task") and not values.get("command"):
            raise UnoScheduleError("schedule() needs a task or a command")
        definition = _definition(name or _default_name(values, spec), spec, values)
        if definition.name in self.definitions:
            raise UnoScheduleError(f"a schedule named {definition.name!r} exists already")
        self.definitions[definition.name] = definition
        self._sync([definition.name], "added")
        return definition.name

    async def get_schedule(self, schedule_id: str) -> ScheduleDefinition:
        return self._resolve(schedule_id)

    async def get_schedule_by_name(self, name: str) -> ScheduleDefinition:
        return self._resolve(name)

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int | None = None,
        changelog: str | None = None,
        **changes: Any,
    ) -> int:
        """Change a schedule; ``version`` (if given) must be the current one, so two
        concurrent editors cannot silently overwrite each other. Returns the new version."""
        old = self._resolve(schedule_id)
        store = self._store_if_any()
        state = store.get_schedule(schedule_id) if store else None
        if version is not None and state is not None and state.version != version:
            raise UnoScheduleError(
                f"{schedule_id} is at version {state.version}, not {version}; reload and retry"
            )
        values = old.to_config()
        values.pop("schedule")
        values.update(changes)
        spec = schedule_from_config(changes.get("schedule", old.schedule))
        values.pop("schedule", None)
        new = _definition(schedule_id, spec, values)
        self.definitions[schedule_id] = new
        self._sync([schedule_id], changelog or "updated")
        state = self.store.get_schedule(schedule_id)
        return state.version if state else 1

    async def delete_schedule(self, schedule_id: str) -> None:
        self._resolve(schedule_id)
        del self.definitions[schedule_id]
        self.store.set_status([schedule_id], "removed", self.clock.now())
        self.store.notify()

    async def pause_schedule(
        self,
        schedule_id: str,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> bool:
        """Pause; ``reason``, ``until`` (an instant, a timedelta or ``"2h"`` from now: the
        leader resumes it then) and ``by`` are recorded and shown by status and list."""
        self._ensure_known(self._resolve(schedule_id))
        why = self._why(reason, until, by)
        changed = self.store.set_status([schedule_id], "paused", self.clock.now())
        again = not changed and (reason or until)  # paused already: a new reason or end
        self._record_pause(changed or ([schedule_id] if again else []), why)
        self.store.notify()
        return bool(changed)

    async def resume_schedule(self, schedule_id: str) -> bool:
        self._resolve(schedule_id)
        state = self.store.get_schedule(schedule_id)
        if state is None or state.status != "paused":
            return False
        self.store.set_next_run(schedule_id, None)
        changed = self.store.set_status([schedule_id], "active", self.clock.now())
        self._end_pauses(changed)
        self.store.notify()
        return bool(changed)

    async def pause(
        self,
        *,
        reason: str | None = None,
        until: datetime | timedelta | str | None = None,
        by: str | None = None,
    ) -> list[str]:
        """Pause every schedule (``pause --all``), with ``pause_schedule``'s options."""
        self._ensure_known(*self.definitions.values())
        why = self._why(reason, until, by)
        changed = self.store.set_status(None, "paused", self.clock.now())
        self._record_pause(changed, why)
        self.store.notify()
        return changed

    async def resume(self) -> list[str]:
        paused = [s.name for s in self.store.list_schedules() if s.status == "paused"]
        for name in paused:
            self.store.set_next_run(name, None)
        changed = self.store.set_status(paused, "active", self.clock.now()) if paused else []
        self._end_pauses(changed)
        self.store.notify()
        return changed

    def _sync(self, names: Iterable[str] | None, changelog: str) -> None:
        if not self.has_state() and not self._create_state:
            return
        store = self.store
        now = self.clock.now()
        wanted = {n: self.definitions[n] for n in (names or self.definitions)}
        states = [store.get_schedule(n) for n in wanted] if names else store.list_schedules()
        known = [s for s in states if s is not None and s.name in wanted]
        plan = make_plan(wanted, known, now=now, default_zone=self.options.timezone, preview=0)
        apply_plan(store, plan, wanted, now=now, source="library", changelog=changelog)
        store.notify()

    def plan(self) -> Plan:
        """What ``run`` would change in the state: added, changed and removed schedules."""
        store = self._store_if_any()
        states = store.list_schedules() if store else []
        return make_plan(
            self.definitions, states, now=self.clock.now(), default_zone=self.options.timezone
        )

    # -- observation ----------------------------------------------------------------------

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
                return state.next_run
        anchor = state.anchor if state is not None else None
        return definition.timeline(self.options.timezone, anchor).next(self.clock.now())

    def _status_of(self, definition: ScheduleDefinition, state: ScheduleState | None) -> str:
        if state is not None:
            return state.status
        if definition.paused:
            return "paused"
        return "active" if definition.enabled else "disabled"

    async def list_schedules(
        self, status: str | None = None, tags: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        states = self._states()
        paused = self._open_pauses()
        rows = []
        for name, definition in self.definitions.items():
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
                    "next_run": format_instant(self._next_run(definition, state)),
                    "tags": list(definition.tags),
                    "description": definition.schedule.describe(),
                    "timezone": definition.timezone or self.options.timezone,
                    "last_run": format_instant(state.last_run) if state else None,
                    "last_result": state.last_result if state else None,
                    "version": state.version if state else None,
                    **pauses.fields_of(paused.get(name)),
                }
            )
        return rows

    async def get_next_run_times(
        self, schedule_id: str, count: int = 5, after: datetime | None = None
    ) -> list[str]:
        definition = self._resolve(schedule_id)
        state = self._states().get(schedule_id) if after is None else None
        anchor = state.anchor if state is not None else None
        start = after or self.clock.now()
        timeline = definition.timeline(self.options.timezone, anchor)
        return [format_instant(t) or "" for t in timeline.take(start, count)]

    async def get_schedule_status(self, schedule_id: str) -> dict[str, Any]:
        definition = self._resolve(schedule_id)
        store = self._store_if_any()
        state = store.get_schedule(schedule_id) if store else None
        counts = store.run_counts().get(schedule_id, {}) if store else {}
        finished = counts.get("finished_count", 0) or 0
        total = counts.get("total_duration", 0.0) or 0.0
        return {
            "name": schedule_id,
            "status": self._status_of(definition, state),
            "type": definition.type,
            "description": definition.schedule.describe(),
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
            **self._pause_fields(store, schedule_id),
        }

    async def get_statistics(self) -> dict[str, Any]:
        now = self.clock.now()
        store = self._store_if_any()
        states = self._states()
        statuses = [self._status_of(d, states.get(n)) for n, d in self.definitions.items()]
        counts = store.run_counts() if store else {}
        recent = store.run_counts(now - timedelta(hours=24)) if store else {}
        ran = sum(c.get("run_count", 0) for c in counts.values())
        ok = sum(c.get("success_count", 0) for c in counts.values())
        uptime = 0.0
        lease = store.current_lease() if store else None
        started = store.get_meta("started_at") if store else None
        if lease is not None and lease.expires_at > now and started:
            from .timeutil import parse_instant

            uptime = max(0.0, (now - parse_instant(started)).total_seconds())
        return {
            "schedules_total": len(self.definitions),
            "schedules_active": statuses.count("active"),
            "schedules_paused": statuses.count("paused"),
            "jobs_triggered_total": ran,
            "jobs_triggered_last_24h": sum(c.get("run_count", 0) for c in recent.values()),
            "success_rate": round(ok / ran, 4) if ran else None,
            "scheduler_uptime": round(uptime, 1),
            "missed_schedules": sum(c.get("missed_count", 0) for c in counts.values()),
            "leader": lease.instance_id if lease and lease.expires_at > now else None,
        }

    async def get_schedule_history(self, schedule_id: str, limit: int = 50) -> list[dict[str, Any]]:
        if schedule_id not in self.definitions and not self._states().get(schedule_id):
            self._resolve(schedule_id)
        store = self._store_if_any()
        return [_run_json(r) for r in store.history(schedule_id, limit)] if store else []

    async def get_schedule_versions(self, schedule_id: str) -> list[dict[str, Any]]:
        if schedule_id not in self.definitions and not self._states().get(schedule_id):
            self._resolve(schedule_id)
        store = self._store_if_any()
        if store is None:
            return []
        versions = store.versions(schedule_id)
        for newer, older in itertools.zip_longest(versions, versions[1:]):
            if not newer.diff:
                # An addition is stored without its diff (a first start with 100,000
                # schedules would spend seconds on them); it is made here, when read.
                newer.diff = definition_diff(
                    schedule_id, older.definition if older else None, newer.definition
                )
        return [v.to_json() for v in versions]

    # -- manual runs and events -------------------------------------------------------------

    def leader_running(self) -> bool:
        store = self._store_if_any()
        if store is None:
            return False
        lease = store.current_lease()
        return lease is not None and lease.expires_at > self.clock.now()

    def _manual_run(
        self,
        definition: ScheduleDefinition,
        trigger: str,
        args: Sequence[Any] | None,
        kwargs: dict[str, Any] | None,
        event: dict[str, Any] | None = None,
    ) -> RunRecord:
        from .runner.loop import new_run_id

        now = self.clock.now()
        return RunRecord(
            run_id=new_run_id(now),
            schedule=definition.name,
            scheduled_time=now,
            trigger=trigger,  # type: ignore[arg-type]
            result="queued",
            queued_at=now,
            args=list(args) if args is not None else None,
            kwargs=dict(kwargs) if kwargs is not None else None,
            event=event,
            queue=definition.queue or self.options.queue_name,
            priority=definition.priority,
        )

    async def trigger_now(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> str:
        """Queue a manual run for the leader; returns its run id."""
        definition = self._resolve(schedule_id)
        self._ensure_known(definition)
        run = self._manual_run(definition, "manual", args, kwargs)
        self.store.enqueue(run)
        self.store.notify()
        return run.run_id

    def _ensure_known(self, *definitions: ScheduleDefinition) -> None:
        """Add schedules the state has never seen (a pause or trigger from the shell before
        the first ``run``); a changed definition stays for ``run`` to version."""
        known = {s.name for s in self.store.list_schedules() if s.status != "removed"}
        missing = [d.name for d in definitions if d.name not in known]
        if missing:
            self._sync(missing, "added")

    async def trigger_event(self, name: str, data: dict[str, Any] | None = None) -> list[str]:
        """Raise an event: every active schedule listening for it gets a queued run."""
        states = self._states()
        runs = []
        for definition in self.definitions.values():
            spec = definition.schedule
            if isinstance(spec, EventTrigger) and spec.event == name:
                if self._status_of(definition, states.get(definition.name)) != "active":
                    continue
                runs.append(self._manual_run(definition, "event", None, None, data or {}))
        self._ensure_known(*(self.definitions[run.schedule] for run in runs))
        self.store.add_event(name, data, runs, self.clock.now())
        self.store.notify()
        return [r.run_id for r in runs]

    async def wait_for_run(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Poll the store until the run (and its retries) reached a final result."""
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        delay = 0.05
        while True:
            run = self.store.get_run(run_id)
            if run is None:
                raise UnoScheduleError(f"no run with id {run_id!r}")
            if run.result not in ("queued", "running"):
                return _run_json(run)
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                raise UnoScheduleError(f"run {run_id} did not finish within {timeout:g}s")
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 1.5)

    async def run_in_foreground(
        self,
        schedule_id: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a job here and now (``trigger --wait`` with no scheduler running)."""
        from .runner.executor import Executor, JobSpec

        definition = self._resolve(schedule_id)
        self._ensure_known(definition)
        run = self._manual_run(definition, "manual", args, kwargs)
        run.result = "running"
        run.started_at = self.clock.now()
        self.store.enqueue(run)
        base = str(self.config.path.parent) if self.config and self.config.path else None
        spec = JobSpec(
            run=run,
            definition=definition,
            kill_grace=self.options.kill_grace,
            output_tail=self.options.output_tail,
            import_paths=self.options.import_paths,
            base_cwd=base,
        )
        outcome = await Executor().run(spec)
        self.store.finish_run(
            run.run_id,
            outcome.result,
            self.clock.now(),
            error=outcome.error,
            output=outcome.output,
        )
        final = self.store.get_run(run.run_id)
        assert final is not None
        return _run_json(final)

    # -- error handlers ---------------------------------------------------------------------

    def on_schedule_error(self, handler: ErrorHandler) -> ErrorHandler:
        """Decorator: ``handler(schedule_id, exception)`` is called when a job fails for good."""
        self._error_handlers.append(handler)
        return handler

    async def _notify_failure(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: Any
    ) -> None:
        error = _JobFailed(outcome.error or outcome.result, outcome.result, run.run_id)
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
            await asyncio.to_thread(run_hook, hook, env)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the run loop in this event loop (returns once it leads or waits as standby)."""
        from .runner.service import Service

        if self._service_task is not None:
            return
        self._service = Service(self, install_signals=False)
        self._service_task = asyncio.get_running_loop().create_task(self._service.serve())
        await self._service.started.wait()

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

    def run_forever(self) -> int:
        """Run as the long-lived service (``uno-schedule run``); returns the exit status."""
        from .runner.service import Service

        return Service(self, install_signals=True).run()

    # -- operations (issue 8): pauses, health, explain, backfill, logs, top ---------------

    def _why(
        self, reason: str | None, until: datetime | timedelta | str | None, by: str | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        if isinstance(until, str):
            until = pauses.parse_until(until, now)
        elif isinstance(until, timedelta):
            until = now + until
        return {"reason": reason, "until": until, "by": by}

    def _record_pause(self, names: list[str], why: dict[str, Any]) -> None:
        pauses.record(self.store, names, self.clock.now(), **why)

    def _end_pauses(self, names: list[str]) -> None:
        pauses.end(self.store, names, self.clock.now())

    def _open_pauses(self) -> dict[str, Any]:
        return pauses.open_by_name(self._store_if_any())

    def _pause_fields(self, store: Store | None, name: str) -> dict[str, Any]:
        return pauses.fields_of(pauses.open_by_name(store).get(name))

    async def health(self) -> dict[str, Any]:
        """Leader alive and nothing overdue? (``uno-schedule health``)."""
        from .health import check

        return check(self._store_if_any(), self.definitions, self.clock.now(), self.state_path)

    async def explain(
        self, schedule_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every occurrence due in ``[since, until]`` and what became of it."""
        from .explain import explain

        definition = self._resolve(schedule_id)
        return explain(self, definition, since, until)

    async def backfill(
        self, schedule_id: str, start: datetime, end: datetime, **options: Any
    ) -> dict[str, Any]:
        """Queue a run of each occurrence in ``[start, end]`` (trigger ``backfill``)."""
        from .backfill import backfill

        definition = self._resolve(schedule_id)
        return backfill(self, definition, start, end, **options)

    async def get_run_output(self, schedule_id: str, run_id: str | None = None) -> dict[str, Any]:
        """The full output of a run (default: the latest started), from ``log_dir``."""
        from .runlogs import read_output

        if schedule_id not in self.definitions and not self._states().get(schedule_id):
            self._resolve(schedule_id)
        return read_output(self, schedule_id, run_id)

    async def overview(self, rows: int = 10) -> dict[str, Any]:
        """Running jobs, next due schedules, latest results (``uno-schedule top``)."""
        from .overview import snapshot

        return snapshot(self, rows)

    async def get_pauses(self, schedule_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The latest pauses of a schedule, newest first: reason, who, from, until, end."""
        store = self._store_if_any()
        if store is None:
            return []
        now = self.clock.now()
        found = store.pauses(schedule_id, datetime.min.replace(tzinfo=UTC), now)
        return [pauses.record_json(p) for p in reversed(found[-limit:])]


def _default_name(values: dict[str, Any], spec: ScheduleSpec) -> str:
    import hashlib

    target = values.get("task") or values.get("command")
    digest = hashlib.sha1(repr((target, spec.to_config())).encode()).hexdigest()[:6]
    base = str(target if isinstance(target, str) else " ".join(target or ())).split()[0]
    return f"{base.rsplit('/', 1)[-1]}-{digest}"


def _definition(name: str, spec: ScheduleSpec, values: dict[str, Any]) -> ScheduleDefinition:
    unknown = sorted(set(values) - _DEFINITION_NAMES)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], sorted(_DEFINITION_NAMES), n=1)
        raise UnoScheduleError(
            f"unknown schedule option {unknown[0]!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    data = {**values, "schedule": spec.to_config()}
    for key in ("timeout", "retry_delay"):
        if key in values and values[key] is not None:
            data[key] = parse_duration(values[key], what=key).total_seconds()
    if isinstance(values.get("command"), str) and not values.get("shell"):
        import shlex

        data["command"] = shlex.split(values["command"])
    for key in ("start_date", "end_date"):
        if isinstance(values.get(key), datetime):
            tz = values.get("timezone")
            from .timeutil import get_zone

            value = values[key]
            if value.tzinfo is None:
                value = value.replace(tzinfo=get_zone(tz) if tz else UTC)
            data[key] = format_instant(value)
    return ScheduleDefinition.from_config(name, data)


def _run_json(run: RunRecord) -> dict[str, Any]:
    out = run.to_json()
    out["scheduled_time"] = format_instant(run.scheduled_time)
    return out

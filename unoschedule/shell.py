"""What a command at the shell asks of the library, as complete records: each command of
``uno-schedule`` is a few lines of printing over one call here.

Why a module of its own: the decisions a shell client needs beyond the ``Scheduler``'s
records (where the scheduler comes from when the file is broken or unchanged, whether a
leader runs and since when it does not, a schedule's zone and queue, where ``next-runs``
reads from, how ``logs --follow`` waits) are made once, here, for every front end,
not in the CLI. Everything is synchronous: a shell command has no event loop to share,
and importing asyncio would cost it more than its own work.

Opening (``open_scheduler``), in order:

- the state keeps a record of the file (``filestamp``) and the file is unchanged since:
  a scheduler over the state, with the file's options; the loader never runs;
- otherwise the file is read; when it cannot be (a typo) and a state exists, a
  scheduler over the state (the runner keeps the last good file), with the file's
  error as ``file_error`` for one warning line;
- no file but a state named: the state alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filestamp
from .errors import ConfigError, ConfigErrors, StateError, UnoScheduleError

if TYPE_CHECKING:
    from .config import Config
    from .model import SchedulerOptions
    from .scheduler import Scheduler

__all__ = [
    "Opened",
    "checked_file",
    "follow_output",
    "history",
    "leader_status",
    "open_scheduler",
    "runner",
    "schedule_list",
    "schedule_zone",
    "serve_queues",
    "status",
]


@dataclass
class Opened:
    """A scheduler for one command, and the file's error when the file could not be read
    (the scheduler then works from the state)."""

    scheduler: Scheduler
    file_error: str | None = None
    config: Config | None = None
    stamp: dict[str, int] | None = None

    def close(self) -> None:
        """Close the store; when the file was read and the state now holds exactly its
        schedules, record the file's stamp so that the next command need not read it."""
        scheduler = self.scheduler
        try:
            if (
                self.config is not None
                and scheduler.state_path is not None
                and scheduler.has_state()
                and _holds_the_file(scheduler)
            ):
                filestamp.record(scheduler.store, self.config, self.stamp)
        finally:
            scheduler.close()


def _holds_the_file(scheduler: Scheduler) -> bool:
    """Whether the state holds exactly the file's schedules: ``run`` would change
    nothing. A file ``run`` would refuse is not held (the state keeps the last good one),
    and that is for ``validate`` and ``plan`` to say, not for the command that closes."""
    try:
        return scheduler.plan().empty
    except ConfigErrors:
        return False


def _first_error(exc: ConfigError | ConfigErrors) -> str:
    """One line, FILE:LINE:COLUMN: message, for a warning above a command's output."""
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    first = str(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first}{more}"


def _state_file(config_path: Path, state: str | None) -> tuple[str | None, Path | None]:
    """(the state's path or URL if one exists, the guessed path when not named)."""
    from .store import holds_state, is_url

    if state and is_url(state):
        return state, None
    guessed = None if state else filestamp.state_guess(config_path)
    path = Path(state).expanduser() if state else guessed
    assert path is not None
    return (str(path) if holds_state(path) else None), guessed


@contextlib.contextmanager
def open_scheduler(
    config_path: str | Path, state: str | None = None, *, create_state: bool = False
) -> Iterator[Opened]:
    """The scheduler a shell command works with (see the module's docstring).

    ``create_state``: a command that writes creates the state file; a read-only one
    never does. Raises the file's ``ConfigErrors`` when there is no state to fall back on.
    """
    config_path = Path(config_path)
    found, guessed = _state_file(config_path, state)
    opened: Opened | None = None
    if found is not None and config_path.exists():
        scheduler, matches = _over_state(found, config_path, guessed, create_state=create_state)
        if matches:
            opened = Opened(scheduler)
        else:
            scheduler.close()
    if opened is None:
        opened = _open_file(config_path, state, found, create_state)
    opened.scheduler.verify_state = False  # the integrity scan is the runner's, at its start
    try:
        yield opened
    except BaseException:
        opened.scheduler.close()  # nothing is recorded after a failed command
        raise
    opened.close()


def _over_state(
    found: str,
    config_path: Path,
    guessed: Path | None,
    *,
    create_state: bool = False,
    any_stamp: bool = False,
) -> tuple[Scheduler, bool]:
    """A scheduler over the state at ``found`` with the file's options from the state's
    record of it (``filestamp``), and whether the record matches the file (with
    ``any_stamp``: whether there is one)."""
    from .scheduler import Scheduler

    scheduler = Scheduler.for_state(found, create_state=create_state)
    scheduler.base_dir = str(config_path.parent)  # the file's, read or not
    scheduler.verify_state = False  # the integrity scan is the runner's, at its start
    try:
        options = filestamp.recorded_options(
            scheduler.store, config_path, guessed, any_stamp=any_stamp
        )
    except BaseException:
        scheduler.close()
        raise
    if options is not None:
        scheduler.options = options
        scheduler.instance_id = options.instance_id or scheduler.instance_id
    return scheduler, options is not None


def _open_file(
    config_path: Path, state: str | None, found: str | None, create_state: bool
) -> Opened:
    from .config import load_config
    from .scheduler import Scheduler

    if found is not None and not config_path.exists():
        # A state alone (no schedule file): the schedules stored there are all there is.
        # Neither there (a mistyped -c beside a --state not made yet): the file's error,
        # not the empty answers of a state that does not exist.
        return Opened(Scheduler.for_state(found, create_state=create_state))
    stamp = filestamp.file_stamp(config_path)  # before the file is read: see record
    try:
        config = load_config(config_path)
    except (ConfigErrors, ConfigError) as exc:
        if found is None or not config_path.exists():
            raise
        scheduler, _ = _over_state(
            found, config_path, None, create_state=create_state, any_stamp=True
        )
        return Opened(scheduler, file_error=_first_error(exc))
    scheduler = Scheduler.from_config(config, state=state, create_state=create_state)
    return Opened(scheduler, config=config, stamp=stamp)


def checked_file(
    config_path: str | Path, state: str | None = None, *, against_state: bool = True
) -> tuple[int, SchedulerOptions]:
    """``validate``: the number of schedules in a valid file (raises its ``ConfigErrors``)
    and the file's options (for what ``validate`` warns of).

    With ``against_state`` and a state, the file is also checked against it as ``run``
    checks it (``followed.check_followed``): a file that no longer declares a schedule
    which one made through the API runs after is refused here as ``run`` refuses it.
    Without, only the file itself is judged (``validate FILE...``). A file whose stamp
    the state keeps (unchanged since its schedules were written there, by the same
    version) is known to be valid without reading it again, unless (``against_state``)
    a schedule made through the API runs after one of a file's: the state may have
    changed since.
    """
    config_path = Path(config_path)
    found, guessed = _state_file(config_path, state)
    if found is None:
        from .config import load_config

        config = load_config(config_path)
        return len(config.schedules), config.options
    from .followed import check_followed, follows_the_file

    scheduler, matches = _over_state(found, config_path, guessed)
    with contextlib.closing(scheduler):
        store = scheduler.store
        if matches and not (against_state and follows_the_file(store)):
            from .model import LIVE_STATUSES

            states = store.list_schedules(definitions=False, statuses=LIVE_STATUSES, source="file")
            return len(states), scheduler.options
        from .config import load_config

        config = load_config(config_path)
        if against_state:
            check_followed(config.schedules, store, file=str(config.path or ""))
        return len(config.schedules), config.options


def runner(
    config_path: str | Path, state: str | None = None, *, queues: str | None = None
) -> Scheduler:
    """The scheduler ``uno-schedule run`` serves: over the file; over the state alone when
    there is no file but a state (its schedules all made through the API). ``queues``:
    see ``serve_queues``."""
    from .scheduler import Scheduler

    config_path = Path(config_path)
    found, _ = _state_file(config_path, state)
    if not config_path.exists() and (found is not None or state):
        scheduler = Scheduler.for_state(found or str(state), create_state=True)
    else:
        from .config import load_config

        config = load_config(config_path)
        scheduler = Scheduler.from_config(config, state=state, create_state=True)
    serve_queues(scheduler, queues)
    return scheduler


# -- the records a command prints ---------------------------------------------------------


def leader_status(scheduler: Scheduler) -> dict[str, Any]:
    """Whether a leader runs, and since when none does: ``running``, ``leader`` (its
    instance id), ``since`` (the later of the last clean stop and the last lease's end,
    ISO 8601), and ``reason``: ``running``, ``no-state`` (no state file yet), ``never``
    (the state has never had a leader) or ``stopped``."""
    if not scheduler.has_state():
        return {"running": False, "leader": None, "since": None, "reason": "no-state"}
    from .abc import held_lease, last_led_at
    from .timeutil import format_instant

    store = scheduler.store
    held = held_lease(store, scheduler.clock.now())
    if held is not None:
        return {"running": True, "leader": held.instance_id, "since": None, "reason": "running"}
    since = last_led_at(store)
    if since is None and store.get_meta("started_at") is None:
        return {"running": False, "leader": None, "since": None, "reason": "never"}
    shown = format_instant(since) if since is not None else None
    return {"running": False, "leader": None, "since": shown, "reason": "stopped"}


def schedule_list(
    scheduler: Scheduler,
    status: str | None = None,
    tags: list[str] | None = None,
    *,
    all_next_runs: bool = False,
) -> dict[str, Any]:
    """``list``: the schedules (``rows``) and ``leader_status``. With no leader running
    nothing fires, so the next runs the state does not hold are not worked out (most of
    a listing's cost) unless ``all_next_runs``."""
    leader = leader_status(scheduler)
    rows = scheduler.schedule_list(status, tags, next_runs=all_next_runs or leader["running"])
    return {"rows": rows, "leader_status": leader}


def schedule_zone(scheduler: Scheduler, name: str) -> str:
    """The zone a schedule's instants are read in: the one stored with it (for a schedule
    of the file and one made through the API alike); UTC for a name the state lacks."""
    try:
        return scheduler.definition(name).zone_name
    except UnoScheduleError:
        return "UTC"


def status(scheduler: Scheduler, name: str) -> dict[str, Any]:
    """``Scheduler.get_schedule_status``'s record with what a reader needs beside it: the
    schedule as written, its zone and queue, and the leader."""
    record = scheduler.schedule_status(name)
    definition = scheduler.definition(name)
    record.update(
        timezone=definition.zone_name,
        schedule=definition.schedule.to_config(),
        queue=definition.queue_name,
    )
    leader = leader_status(scheduler)
    record["scheduler_running"] = leader["running"]
    record["leader_status"] = leader
    return record


def history(
    scheduler: Scheduler, name: str, limit: int = 50, *, versions: bool = False
) -> dict[str, Any]:
    """A schedule's newest ``limit`` runs or versions (newest first), the zone its
    instants are shown in (its own, for schedules of the file and of the API alike) and
    its latest pauses."""
    if versions:
        records = scheduler.schedule_versions(name, limit)
        paused: list[dict[str, Any]] = []
    else:
        records = scheduler.run_history(name, limit)
        paused = scheduler.pauses_of(name)
    return {"records": records, "timezone": schedule_zone(scheduler, name), "pauses": paused}


def short_run_ids(scheduler: Scheduler, ids: Iterable[str | None]) -> dict[str, str]:
    """Run ids as the shell shows them: each shortened to a prefix no other run of the
    state shares (``ids.short_run_ids``)."""
    from .ids import short_run_ids as shorten

    lookup = scheduler.store.run_ids_starting if scheduler.has_state() else None
    return shorten(lookup, (i for i in ids if i))


def serve_queues(scheduler: Scheduler, queues: str | None) -> None:
    """``run --queues``: the queues this runner executes; the others are left to workers
    on other hosts, which take them from Redis (a state file has no such workers)."""
    if queues is None:
        return
    if scheduler.state_path is not None:
        raise StateError(
            "run --queues needs Redis storage (--state redis://HOST:PORT/DB): workers on "
            "other hosts take the other queues from it"
        )
    from .runner.worker import parse_queues

    scheduler.local_queues = frozenset(parse_queues(queues))


def follow_output(scheduler: Scheduler, record: dict[str, Any], poll: float = 0.2) -> Iterator[str]:
    """``logs --follow``: what the run writes after ``record`` (``get_run_output``'s), as
    it comes, until the run has ended."""
    if record.get("path") is None:
        return
    offset = len(str(record["output"]).encode())
    with open(record["path"], "rb") as handle:
        handle.seek(offset)
        while True:
            chunk = handle.read()
            if chunk:
                yield chunk.decode("utf-8", "replace")
                continue
            run = scheduler.store.get_run(record["run_id"])
            if run is None or run.result not in ("running", "queued"):
                rest = handle.read()
                if rest:
                    yield rest.decode("utf-8", "replace")
                return
            time.sleep(poll)

"""The values everything else passes around: definitions, options, and state records.

Definitions say what the operator asked for (from YAML or the library API); records
say what happened (from the store). Both are plain dataclasses with a JSON form, so
that stores, the CLI's ``--json`` and version diffs all serialise them the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, tzinfo
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

from .schedules import ScheduleSpec, Timeline, schedule_from_config
from .timeutil import format_instant, get_zone
from .wallclock import DstPolicy

if TYPE_CHECKING:  # both loaded only for a definition that has one (a shell command's start)
    from .blackout import Blackout
    from .calendars import Calendar, Roll
    from .chains import Chain
    from .notifications import Notify

__all__ = [
    "DEFAULT_QUEUE",
    "LIVE_STATUSES",
    "OVERLAPS",
    "PRIORITIES",
    "RESTART_ONLY_OPTIONS",
    "RESULTS",
    "STATUSES",
    "TRIGGERS",
    "RunRecord",
    "ScheduleDefinition",
    "ScheduleState",
    "ScheduleTemplate",
    "SchedulerOptions",
    "VersionRecord",
    "reloaded_options",
]

Priority = Literal["high", "normal", "low"]
PRIORITIES: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
TriggerKind = Literal["schedule", "manual", "event", "retry", "missed", "backfill"]
TRIGGERS = ("schedule", "manual", "event", "retry", "missed", "backfill")
Result = Literal[
    "success",
    "error",
    "timeout",
    "skipped",
    "missed",
    "interrupted",
    "cancelled",
    "running",
    "queued",
]
RESULTS = (
    "success", "error", "timeout", "skipped", "missed", "interrupted", "cancelled", "running",
    "queued",
)  # fmt: skip
FINAL_RESULTS = ("success", "error", "timeout", "skipped", "missed", "interrupted", "cancelled")
Status = Literal["active", "paused", "completed", "disabled", "removed"]
STATUSES = ("active", "paused", "completed", "disabled", "removed")
#: The statuses of a schedule that is there (a ``removed`` one is history only).
LIVE_STATUSES = ("active", "paused", "completed", "disabled")
MissedHandling = Literal["trigger", "skip", "coalesce"]
#: What an occurrence does while a run of its schedule is in flight (``overlap.decide``).
Overlap = Literal["skip", "buffer_one", "buffer_all", "cancel_other", "allow_all"]
OVERLAPS = ("skip", "buffer_one", "buffer_all", "cancel_other", "allow_all")
Source = Literal["file", "api"]
#: The queue of runs whose schedule names none (``SchedulerOptions.queue_name``'s default).
DEFAULT_QUEUE = "scheduled"


# Slotted: a start holds one per schedule for the life of the process, and past 30
# attributes an instance ``__dict__`` no longer shares its keys with the class (about
# 800 bytes each instead of 8 a field).
@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """One schedule as the operator defined it (after template merging)."""

    name: str
    schedule: ScheduleSpec
    task: str | None = None
    command: tuple[str, ...] | str | None = None
    shell: bool = False
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: Priority = "normal"
    start_date: datetime | None = None
    end_date: datetime | None = None
    timezone: str | None = None
    max_retries: int = 0
    retry_delay: float = 60.0
    retry_backoff: float = 1.0
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    #: What an occurrence does while a run of this schedule is in flight (``unique: true``
    #: in the file is ``overlap: skip``).
    overlap: Overlap = "allow_all"
    #: The ``scheduler.groups`` limit its runs share with the other schedules naming it.
    concurrency_group: str | None = None
    template: str | None = None
    enabled: bool = True
    paused: bool = False
    description: str | None = None
    dst: DstPolicy | None = None
    on_error: tuple[str, ...] | str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    expect_success_within: float | None = None
    pause_after_failures: int | None = None
    #: Seconds each run's start is delayed by, at random in ``[0, jitter)`` (or by a
    #: fixed fraction of it, hashed from the name, with ``jitter_fixed``).
    jitter: float = 0.0
    jitter_fixed: bool = False
    #: The calendar of days it does not run on, resolved from ``scheduler.calendars``.
    calendar: Calendar | None = None
    roll: Roll = "skip"
    #: Blackout windows: its own, its template's and the file's.
    blackout: tuple[Blackout, ...] = ()
    #: Run once when the scheduler first sees the schedule (claimed under that instant,
    #: so a restart does not run it again).
    run_on_start: bool = False
    #: Run after each run of another schedule that ends as it says (``chains``).
    after: Chain | None = None
    #: Whom to tell of its failures, recoveries and alarms (its own, else the file's).
    notify: Notify | None = None
    #: The task is a callable that cannot be imported (a closure, lambda, bound method or
    #: partial) and runs only in the process that scheduled it.
    in_process: bool = False
    #: ``fingerprint()`` once computed (the definition is frozen); not a field a caller
    #: sets, nor one that equality, hashing or ``to_config`` see.
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def zone_name(self) -> str:
        """The zone this schedule is evaluated in: its own, else UTC.

        Never the reading process's ``timezone`` option: that default is written into
        the definition when the schedule is made (``SchedulerOptions.schedule_defaults``),
        so that every process reads a stored schedule as meaning the same instants.
        """
        return self.timezone or "UTC"

    def zone(self) -> tzinfo:
        return get_zone(self.timezone) if self.timezone else UTC

    @property
    def unique(self) -> bool:
        """``unique: true``, the older name of ``overlap: skip``."""
        return self.overlap == "skip"

    @property
    def declared_status(self) -> Status:
        """The status it asks for (``paused: true``, ``enabled: false``), until the
        state holds another (a pause from the shell survives a change of the file)."""
        return "paused" if self.paused else ("active" if self.enabled else "disabled")

    @property
    def queue_name(self) -> str:
        """The queue its runs go to: its own, else the built-in default (see ``zone_name``
        for why not the reading process's ``queue_name`` option)."""
        return self.queue or DEFAULT_QUEUE

    @property
    def dst_policy(self) -> DstPolicy:
        """What its wall times do in a DST gap or a repeated hour: its ``dst``, else its
        schedule type's default (cronie's rules: see docs/time-and-dst.md)."""
        return self.dst or self.schedule.default_dst()

    @property
    def has_timing(self) -> bool:
        """Whether a calendar, blackouts or jitter change when it runs."""
        return bool(self.calendar is not None or self.blackout or self.jitter)

    def next_start(self, next_run: datetime, anchor: datetime | None = None) -> datetime | None:
        """When the occurrence claimed at ``next_run`` starts (``effective.next_start``),
        anchored as the state anchors it; without a calendar, blackouts or jitter that is
        ``next_run`` itself, and no timeline is built for it."""
        if not self.has_timing:
            return next_run
        from .effective import next_start

        return next_start(self.timeline(anchor, next_run=next_run), next_run)

    def timeline(
        self,
        anchor: datetime | None = None,
        *,
        bounded: bool = True,
        next_run: datetime | None = None,
    ) -> Timeline:
        """Fire instants of this schedule; ``anchor`` is when state first saw it (intervals).

        Its calendar, blackout windows and jitter are applied here (``effective``), the
        one place that turns nominal instants into effective ones. ``bounded=False``
        leaves out start_date and end_date (``explain`` shows what lies outside them).
        ``next_run``: the next occurrence the state holds, from which an interval goes
        on (``ScheduleSpec.timeline``).
        """
        nominal = self.schedule.timeline(
            zone=self.zone(),
            name=self.name,
            dst=self.dst_policy,
            anchor=anchor,
            start=self.start_date if bounded else None,
            end=self.end_date if bounded else None,
            next_run=next_run,
        )
        if not self.has_timing:
            return nominal
        from datetime import timedelta

        from .effective import EffectiveTimeline

        return EffectiveTimeline(
            nominal,
            zone=self.zone(),
            name=self.name,
            calendar=self.calendar,
            roll=self.roll,
            blackouts=self.blackout,
            jitter=timedelta(seconds=self.jitter),
            jitter_fixed=self.jitter_fixed,
            dst=self.dst_policy,
        )

    @property
    def type(self) -> str:
        return self.schedule.kind

    def to_config(self) -> dict[str, Any]:
        """The canonical mapping: defaults left out, so that diffs show only what was set."""
        out: dict[str, Any] = {}
        if self.schedule.kind != "after":  # a chain's own: it follows from ``after``
            out["schedule"] = self.schedule.to_config()
        values = _OPTIONAL_VALUES(self)
        for (name, default), value in zip(_DEFINITION_DEFAULTS, values, strict=True):
            if value == default:
                continue
            if isinstance(value, datetime):
                value = format_instant(value)
            elif name in ("dst", "calendar", "after", "notify"):  # (the default None is left out)
                value = value.to_config()
            elif name == "blackout":
                value = [window.to_config() for window in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    def canonical(self) -> tuple[dict[str, Any], str]:
        """``to_config()`` and ``fingerprint()`` from one build of the mapping.

        The fingerprint is kept (the definition is frozen; a start compares 100,000 of
        them with the store, a reload again); the mapping is not, it is the larger part.
        """
        config = self.to_config()
        cached = self._fingerprint
        if cached is None:
            text = _CANONICAL_JSON(config)
            import hashlib  # here: loading OpenSSL costs a tenth of a CLI cold start

            cached = hashlib.sha256(text.encode()).hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)
        return config, cached

    def fingerprint(self) -> str:
        """A digest of the definition; equal fingerprints mean nothing changed."""
        cached = self._fingerprint
        return cached if cached is not None else self.canonical()[1]

    @classmethod
    def from_config(cls, name: str, data: dict[str, Any]) -> ScheduleDefinition:
        """Rebuild from ``to_config`` output (as stored in the state)."""
        from .timeutil import parse_instant

        values: dict[str, Any] = dict(data)
        if values.pop("unique", False):  # stored before overlap: existed
            values.setdefault("overlap", "skip")
        if "schedule" not in values and isinstance(values.get("after"), dict):
            values["schedule"] = {"after": values["after"]["schedule"]}
        values["schedule"] = schedule_from_config(values["schedule"])
        for key in ("start_date", "end_date"):
            if values.get(key):
                values[key] = parse_instant(values[key])
        for key in ("args", "tags"):
            if key in values:
                values[key] = tuple(values[key])
        for key in ("command", "on_error"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        if isinstance(values.get("dst"), dict):
            values["dst"] = DstPolicy(**values["dst"])
        if isinstance(values.get("calendar"), dict):
            from .calendars import Calendar

            values["calendar"] = Calendar.from_config(values["calendar"])
        if isinstance(values.get("after"), dict):
            from .chains import Chain

            values["after"] = Chain.from_config(values["after"])
        if isinstance(values.get("notify"), dict):
            from .notifications import Notify

            values["notify"] = Notify.from_config(values["notify"])
        if "blackout" in values:
            from .blackout import blackout_from_config

            values["blackout"] = tuple(blackout_from_config(w) for w in values["blackout"])
        return cls(name=name, **values)

    def with_changes(self, **changes: Any) -> ScheduleDefinition:
        return replace(self, **changes)


#: The canonical JSON of a definition (one encoder for all: ``json.dumps`` with options
#: builds a new encoder per call, a third of the cost for a small mapping).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, default=str).encode

#: The fields a definition is made of (what its constructor takes; not the cache).
DEFINITION_FIELDS: tuple[Field[Any], ...] = tuple(f for f in fields(ScheduleDefinition) if f.init)

#: (field, default) of every optional field, for ``to_config``: the defaults a definition
#: leaves out of its canonical form.
_DEFINITION_DEFAULTS: tuple[tuple[str, Any], ...] = tuple(
    (f.name, f.default if f.default is not MISSING else f.default_factory())  # type: ignore[misc,operator]
    for f in DEFINITION_FIELDS
    if f.name not in ("name", "schedule")
)
#: The values of those fields of one definition, in that order (one call for all).
_OPTIONAL_VALUES = attrgetter(*(name for name, _ in _DEFINITION_DEFAULTS))


@dataclass(frozen=True)
class ScheduleTemplate:
    """Defaults shared by schedules that name it with ``template:``.

    Any per-schedule key may be set; mappings (``kwargs``, ``metadata``, ``env``) merge
    with the schedule's keys winning, everything else is replaced.
    """

    values: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "values", dict(values))


#: Jobs per CPU a queue runs at once unless told (``default_concurrency``), and at least.
JOBS_PER_CPU = 16
MIN_DEFAULT_CONCURRENCY = 32


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, else all of the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_concurrency() -> int:
    """The concurrency of a queue that sets none: ``JOBS_PER_CPU`` per CPU this process
    may run on, at least ``MIN_DEFAULT_CONCURRENCY``.

    Scheduled jobs mostly wait (on the network, a disk, a database), and each runs in a
    process of its own (a command, a sync task's worker) or a thread: a limit of 4 let a
    burst of 2,000 due jobs of 50 ms start at 80 a second, half a minute for the last.
    The runner's descriptor budget still holds back what its open-file limit cannot
    hold, so a high default never fails a run (``budget``).
    """
    return max(MIN_DEFAULT_CONCURRENCY, JOBS_PER_CPU * usable_cpus())


@dataclass(frozen=True)
class SchedulerOptions:
    """The options of ``Scheduler(...)``, also the YAML file's ``scheduler:`` key."""

    queue_name: str = DEFAULT_QUEUE
    timezone: str = "UTC"
    check_interval: float = 60.0
    missed_threshold: float = 300.0
    missed_schedule_handling: MissedHandling = "trigger"
    max_missed_schedules: int = 10
    lock_timeout: float = 300.0
    #: None: ``run`` serves metrics, a library scheduler only when given a
    #: ``metrics_address`` (an application embedding it opens no port unasked).
    metrics_enabled: bool | None = None
    instance_id: str | None = None
    storage: str | None = None
    state: str | None = None
    queues: dict[str, int] = field(default_factory=dict)
    #: None: ``host_concurrency()``, chosen for the machine the jobs run on.
    default_concurrency: int | None = None
    shutdown_grace: float = 30.0
    kill_grace: float = 5.0
    import_paths: tuple[str, ...] = ()
    output_tail: int = 4096
    log_dir: str | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    on_error: tuple[str, ...] | str | None = None
    metrics_address: str = "127.0.0.1:9650"
    keep_runs: int = 1000
    keep_for: float = 90 * 86400.0
    #: Named calendars that schedules refer to with ``calendar:``.
    calendars: dict[str, Calendar] = field(default_factory=dict)
    #: Blackout windows of every schedule of the file (added to each one's own).
    blackout: tuple[Blackout, ...] = ()
    #: Concurrency groups: at most this many runs of the schedules naming each at once.
    groups: dict[str, int] = field(default_factory=dict)
    #: Notifications of every schedule that names none of its own.
    notify: Notify | None = None

    @property
    def prune_at(self) -> int:
        """How many runs a schedule holds before retention trims it back to
        ``keep_runs``: a tenth more, so that the default prunes once per hundred runs,
        not at every run (``keep_runs: 5``: at every run)."""
        return self.keep_runs + self.keep_runs // 10

    def concurrency(self, queue: str) -> int:
        """How many runs of ``queue`` may run at once (before the descriptor budget)."""
        limit = self.queues.get(queue, self.default_concurrency)
        return host_concurrency() if limit is None else limit

    def serves_metrics(self, by_default: bool) -> bool:
        """Whether a process serves /metrics: as ``metrics_enabled`` says, else as its
        kind does by default (``run`` and ``worker`` do; a library embedded in an
        application opens no port unless asked)."""
        return by_default if self.metrics_enabled is None else self.metrics_enabled

    def schedule_defaults(self) -> dict[str, str]:
        """The options that change what a schedule means (its zone, its queue), as the
        values to write into each schedule made under them that sets none of its own.

        Written when the schedule is made (the file's load, ``Scheduler.schedule``), not
        applied when it is read: a stored schedule then means the same instants and queue
        to every process, whatever options that process has. Built-in defaults are left
        out, so that a definition's canonical form holds only what was chosen.
        """
        out = {}
        if self.timezone and self.timezone != "UTC":
            out["timezone"] = self.timezone
        if self.queue_name != DEFAULT_QUEUE:
            out["queue"] = self.queue_name
        return out


# -- state records ---------------------------------------------------------------------


#: The ``scheduler:`` options a running runner cannot take from a reloaded file: where
#: its state is and who it is, what it listens on, where run output goes. They take
#: effect when the runner restarts; every other option holds from the reload on.
RESTART_ONLY_OPTIONS = (
    "storage",
    "state",
    "instance_id",
    "metrics_enabled",
    "metrics_address",
    "log_dir",
    "log_max_bytes",
)


def reloaded_options(
    running: SchedulerOptions, loaded: SchedulerOptions
) -> tuple[SchedulerOptions, list[str]]:
    """The options a runner holds after a reload that read ``loaded``: the file's, but
    ``RESTART_ONLY_OPTIONS`` kept as ``running`` has them; with the names of those the
    file changed (for the runner to say that they wait for a restart)."""
    later = [
        name for name in RESTART_ONLY_OPTIONS if getattr(running, name) != getattr(loaded, name)
    ]
    kept = {name: getattr(running, name) for name in RESTART_ONLY_OPTIONS}
    return replace(loaded, **kept), later


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    return value


# Slotted: a start holds one per schedule until the run loop has its due times.
@dataclass(slots=True)
class ScheduleState:
    """What the store knows of one schedule."""

    name: str
    definition: dict[str, Any]
    version: int = 1
    status: Status = "active"
    next_run: datetime | None = None
    anchor: datetime | None = None
    last_run: datetime | None = None
    last_result: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fingerprint: str = ""
    #: ``file``: declared in the YAML file (a reload adds, changes and removes it);
    #: ``api``: made through the library or the CLI (it stays until deleted).
    source: Source = "file"
    #: What a schedule made through the library was made of, before the loader resolved
    #: it (``config.python_values.written_form``): the keys its caller wrote and the
    #: scheduler options it took. An update starts from it, as a changed file is read
    #: again. None for the file's schedules (the file is theirs) and for those stored
    #: before it was kept (an update then starts from ``definition``).
    written: dict[str, Any] | None = None

    def stored_definition(self) -> ScheduleDefinition | None:
        """The definition as stored; None when it no longer parses (written by an older
        version): such a schedule is not runnable, and is shown without next runs."""
        try:
            return ScheduleDefinition.from_config(self.name, self.definition)
        except Exception:
            return None

    def to_json(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass
class RunRecord:
    """One attempt of one occurrence (or a skipped or missed occurrence)."""

    run_id: str
    schedule: str
    scheduled_time: datetime
    trigger: TriggerKind = "schedule"
    attempt: int = 1
    result: Result = "queued"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    error: str | None = None
    output: str | None = None
    epoch: int = 0
    instance_id: str | None = None
    pid: int | None = None
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    queue: str | None = None
    priority: Priority = "normal"

    def to_json(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}


@dataclass
class VersionRecord:
    """One version of one schedule's definition."""

    schedule: str
    version: int
    changed_at: datetime
    changelog: str
    source: str
    definition: dict[str, Any]
    diff: str

    def to_json(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in asdict(self).items()}

"""Property: the keys of one schedule mean the same through the library's
``Scheduler.schedule()`` as in the schedule file.

Hypothesis draws many keys at once, each from a pool of valid values. Every value of a
pool is a pair: what the file writes (plain YAML values) and what a program may pass
for it (the same plain value, or the Python object that stands for it: a
``datetime``, a ``timedelta``, a ``CronSchedule``, a ``DstPolicy``, a tuple). The file's
reading (``parse_config``) and the library's stored definition, read back from a fresh
state, must be the same definition and give the same next runs.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from unoschedule import (
    CronSchedule,
    DailySchedule,
    DstPolicy,
    EventTrigger,
    IntervalSchedule,
    MonthlySchedule,
    OneTimeSchedule,
    ScheduleDefinition,
    Scheduler,
    WeeklySchedule,
)
from unoschedule.config.loader import parse_config

NAME = "job"
PLUS_TWO = timezone(timedelta(hours=2))
PLUS_FIVE_THIRTY = timezone(timedelta(hours=5, minutes=30))

Pair = tuple[Any, Any]


def same(*values: Any) -> list[Pair]:
    """Values a program passes exactly as the file writes them."""
    return [(value, value) for value in values]


def pool(pairs: list[Pair]) -> st.SearchStrategy[Pair]:
    return st.sampled_from(pairs)


#: Schedules whose wall times a DST change can skip or repeat (``dst:`` applies).
WALL_SCHEDULES: list[Pair] = [
    *same("0 9 * * *", "30 2 * * *", "15 * * * *", "*/20 1-3 * * *", "0 2 * * 0"),
    ("30 2 * * *", CronSchedule("30 2 * * *")),
    ("15 * * * *", CronSchedule("15 * * * *")),
    *same({"daily": "02:30"}, {"daily": ["01:30", "09:00"]}),
    ({"daily": "02:30"}, DailySchedule("02:30")),
    ({"daily": ["01:30", "09:00"]}, DailySchedule(["09:00", "01:30"])),
    ({"cron": "0 3 * * 1-5"}, "0 3 * * 1-5"),
    *same({"weekly": {"days": ["sunday", "thursday"], "time": "02:30"}}),
    (
        {"weekly": {"days": ["sunday", "thursday"], "time": "02:30"}},
        WeeklySchedule(["sunday", "thursday"], "02:30"),
    ),
    *same({"monthly": {"days": [1, "last"], "time": "12:00"}}),
    ({"monthly": {"days": [1, "last"], "time": "12:00"}}, MonthlySchedule([1, "last"], "12:00")),
]
#: Clocks without wall times: an interval of elapsed time, one instant.
PLAIN_SCHEDULES: list[Pair] = [
    *same({"every": "90m"}, {"every": "1h30m"}, {"every": 45}, {"every": {"minutes": 5}}),
    ({"every": "90m"}, IntervalSchedule(timedelta(minutes=90))),
    ({"every": "2h"}, {"every": timedelta(hours=2)}),
    *same({"at": "2030-03-31T02:30:00"}, {"at": "2030-03-10T02:30:00Z"}),
    ({"at": "2030-03-31T02:30:00"}, OneTimeSchedule(datetime(2030, 3, 31, 2, 30))),
    ({"at": "2030-11-03T01:30:00"}, OneTimeSchedule("2030-11-03T01:30:00")),
    (
        {"at": "2030-11-03T01:30:00.500000"},
        OneTimeSchedule(datetime(2030, 11, 3, 1, 30, 0, 500000)),
    ),
    (
        {"at": "2030-10-27T02:30:00+02:00"},
        OneTimeSchedule(datetime(2030, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Berlin"))),
    ),
    ({"at": "2030-06-01T09:00:00Z"}, OneTimeSchedule(datetime(2030, 6, 1, 9, tzinfo=UTC))),
    (
        {"at": "2030-06-01T09:00:00+02:00"},
        OneTimeSchedule(datetime(2030, 6, 1, 9, tzinfo=PLUS_TWO)),
    ),
]
ZONES = ["America/New_York", "Europe/Berlin", "Pacific/Apia", "UTC", "Australia/Lord_Howe"]
STARTS: list[Pair] = [
    *same("2030-03-01T00:00:00", "2030-03-09T23:00:00-05:00", "2030-03-01"),
    ("2030-03-01T00:00:00", datetime(2030, 3, 1)),
    ("2030-03-09T23:00:00-05:00", datetime(2030, 3, 10, 4, tzinfo=UTC)),
    ("2030-03-01T08:00:00+05:30", datetime(2030, 3, 1, 8, tzinfo=PLUS_FIVE_THIRTY)),
    ("2030-03-01", date(2030, 3, 1)),
    ("2030-03-30T08:00:00+01:00", datetime(2030, 3, 30, 8, tzinfo=ZoneInfo("Europe/Berlin"))),
    ("2030-03-01T00:00:00.250000", datetime(2030, 3, 1, 0, 0, 0, 250000)),
]
ENDS: list[Pair] = [
    *same("2031-01-01T00:00:00", "2031-01-01T00:00:00Z", "2031-06-30"),
    ("2031-01-01T00:00:00", datetime(2031, 1, 1)),
    ("2031-01-01T00:00:00Z", datetime(2031, 1, 1, tzinfo=UTC)),
]
DURATIONS: list[Pair] = [
    *same("90s", "1h30m", "5m", 30, 2.5, {"minutes": 5}, {"hours": 1, "seconds": 30}),
    ("90s", timedelta(seconds=90)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    (30, timedelta(seconds=30)),
]
DURATIONS_OR_ZERO: list[Pair] = [*DURATIONS, *same(0, "0s"), (0, timedelta(0))]
DST: list[Pair] = [
    *same({"gap": "shift"}, {"overlap": "both"}, {"gap": "skip", "overlap": "first"}, {}),
    ({"gap": "shift"}, DstPolicy(gap="shift")),
    ({"overlap": "first"}, DstPolicy(overlap="first")),
    ({"gap": "skip", "overlap": "both"}, DstPolicy(gap="skip", overlap="both")),
]
BLACKOUTS: list[Pair] = [
    *same(
        "Sat 22:00 for 6h",
        "2030-12-24..2030-12-26",
        {"name": "db", "cron": "0 23 * * *", "for": "2h", "defer": True},
        [{"name": "freeze", "from": "2030-12-20", "to": "2031-01-06"}],
        [{"name": "night", "when": "Mon-Fri 02:00 for 1h"}, "Sun 01:00 for 3h"],
        {"name": "switch", "from": "2030-03-31T01:30:00", "to": "2030-03-31T03:30:00"},
    ),
    (
        {"name": "db", "cron": "0 23 * * *", "for": "2h", "defer": True},
        {"name": "db", "cron": "0 23 * * *", "for": timedelta(hours=2), "defer": True},
    ),
    (
        [{"name": "freeze", "from": "2030-12-20", "to": "2031-01-06"}],
        [{"name": "freeze", "from": date(2030, 12, 20), "to": date(2031, 1, 6)}],
    ),
    (
        {"name": "switch", "from": "2030-03-31T01:30:00", "to": "2030-03-31T03:30:00"},
        {
            "name": "switch",
            "from": datetime(2030, 3, 31, 1, 30),
            "to": datetime(2030, 3, 31, 3, 30),
        },
    ),
]
COMMANDS: list[Pair] = [
    *same(["echo", "hi there"], "echo 'hi there'", ["backup.sh", 3, "--full"], "true"),
    (["echo", "hi there"], ("echo", "hi there")),
]
SHELL_COMMANDS: list[Pair] = same("echo $HOME && exit 0", "true | cat")


def optional_keys(shell: bool) -> dict[str, st.SearchStrategy[Pair]]:
    """Keys any clock schedule that runs a command may set, with their pools."""
    return {
        "args": pool([*same([1, "two", 3.5], []), ([1, "two"], (1, "two"))]),
        "kwargs": pool(same({"n": 1, "names": ["a", "b"]}, {})),
        "queue": pool(same("batch", "reports", None)),
        "priority": pool(same("high", "normal", "low")),
        "max_retries": pool(same(0, 1, 5)),
        "retry_delay": pool(DURATIONS_OR_ZERO),
        "retry_backoff": pool(same(1, 1.5, 2.0)),
        "tags": pool([*same(["nightly", "db"], []), (["a", "b"], ("a", "b"))]),
        "metadata": pool(same({"team": "data", "n": 3, "nested": {"k": [1, 2]}}, {})),
        "timeout": pool([*DURATIONS, *same(None)]),
        "overlap": pool(same("skip", "buffer_one", "buffer_all", "cancel_other", "allow_all")),
        "unique": pool(same(True, False)),
        "concurrency_group": pool(same("g", None)),
        "enabled": pool(same(True, False)),
        "paused": pool(same(True, False)),
        "description": pool(same("Nightly import", None)),
        "on_error": pool(
            [*same("echo failed", ["notify", "x y"], None), (["notify", "x"], ("notify", "x"))]
        ),
        "env": pool(same({"A": "1", "B": "x y"}, {"N": 5, "FLAG": True}, {})),
        "cwd": pool(same("/tmp", "sub/dir", None)),
        "expect_success_within": pool([*DURATIONS, *same(None)]),
        "pause_after_failures": pool(same(1, 3, None)),
        "jitter": pool(DURATIONS_OR_ZERO),
        "jitter_fixed": pool(same(True, False)),
        "run_on_start": pool(same(True, False)),
        "start_date": pool([*STARTS, *same(None)]),
        "end_date": pool([*ENDS, *same(None)]),
        "timezone": pool([*same(*ZONES), *same(None)]),
        "blackout": pool(BLACKOUTS),
        "calendar": pool(
            [
                *same(
                    {"name": "office", "business_days": True},
                    {"name": "closed", "dates": ["2030-03-11", "2030-12-24..2030-12-26"]},
                ),
                (
                    {"name": "closed", "dates": ["2030-03-11"]},
                    {"name": "closed", "dates": [date(2030, 3, 11)]},
                ),
            ]
        ),
        "notify": pool(
            same({"targets": "json://localhost/hook", "events": ["failure", "recovery"]}, None)
        ),
        **({"shell": pool(same(True))} if shell else {}),
    }


#: Schedules without a clock: an event's runs start when it is raised.
EVENTS: list[Pair] = [
    *same({"event": "inventory.low_stock"}),
    ({"event": "inventory.low_stock"}, EventTrigger("inventory.low_stock")),
]
TASKS: list[Pair] = same("os.path:exists", "json.dumps", "email.utils.formatdate")
#: Keys that shape a clock's occurrences: refused on an event's schedule (the loader's
#: ``_CLOCK_ONLY``), so not drawn for one (``roll`` comes only with a calendar, ``dst``
#: only with wall times).
CLOCK_ONLY = ("start_date", "end_date", "jitter", "jitter_fixed", "calendar", "blackout")
#: Keys of how a command's process starts: refused on a task (``_COMMAND_ONLY``).
COMMAND_ONLY = ("env", "cwd", "shell")


@st.composite
def schedules(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A schedule's keys: (as the file writes them, as a program passes them). Only
    combinations the file accepts: each key is valid, and so is the whole."""
    clock = draw(st.sampled_from(["wall", "plain", "event"]))
    kinds = {"wall": WALL_SCHEDULES, "plain": PLAIN_SCHEDULES, "event": EVENTS}
    chosen: dict[str, Pair] = {"schedule": draw(pool(kinds[clock]))}
    runs = draw(st.sampled_from(["command", "shell", "task"]))
    if runs == "task":
        chosen["task"] = draw(pool(TASKS))
    else:
        chosen["command"] = draw(pool(SHELL_COMMANDS if runs == "shell" else COMMANDS))
    keys = optional_keys(shell=runs == "shell")
    if clock == "wall":
        keys["dst"] = pool(DST)
    if clock == "event":
        keys = {key: values for key, values in keys.items() if key not in CLOCK_ONLY}
    if runs == "task":
        keys = {key: values for key, values in keys.items() if key not in COMMAND_ONLY}
    for key in sorted(keys):  # each key set or left out: many at once, in any mix
        if draw(st.booleans()):
            chosen[key] = draw(keys[key])
    if "calendar" in chosen:
        chosen["roll"] = draw(pool(same("skip", "next_business_day", "previous_business_day")))
    if chosen.get("unique", (False,))[0] and chosen.get("overlap", ("skip",))[0] != "skip":
        del chosen["unique"]  # unique: true is overlap: skip; the file refuses both
    return (
        {key: pair[0] for key, pair in chosen.items()},
        {key: pair[1] for key, pair in chosen.items()},
    )


#: Options of the scheduler that shape a schedule (its zone and queue when it names
#: none), given to both fronts alike: the file's ``scheduler:``, ``Scheduler(...)``.
SCHEDULER_OPTIONS = st.fixed_dictionaries(
    {"groups": st.just({"g": 2})},
    optional={"timezone": st.sampled_from(ZONES), "queue_name": st.just("batch-default")},
)
#: "Now"s around the 2030 DST changes of New York (10 March, 3 November) and Berlin
#: (31 March, 27 October), and one far from any.
NOWS = st.sampled_from(
    [
        datetime(2030, 3, 9, 12, tzinfo=UTC),
        datetime(2030, 3, 30, 22, tzinfo=UTC),
        datetime(2030, 10, 26, 22, tzinfo=UTC),
        datetime(2030, 11, 2, 12, tzinfo=UTC),
        datetime(2030, 6, 15, tzinfo=UTC),
    ]
)


def file_definition(options: dict[str, Any], keys: dict[str, Any]) -> ScheduleDefinition:
    text = yaml.safe_dump({"scheduler": options, "schedules": {NAME: keys}}, sort_keys=False)
    return parse_config(text).schedules[NAME]


def library_definition(options: dict[str, Any], keys: dict[str, Any]) -> ScheduleDefinition:
    """Made through ``Scheduler.schedule`` and read back from a state of its own (a
    fresh folder per example: hypothesis reuses a test's fixtures across examples)."""

    async def go(folder: str) -> ScheduleDefinition:
        scheduler = Scheduler(storage=Path(folder) / "state.db", **options)
        try:
            await scheduler.schedule(name=NAME, **keys)
            return await scheduler.get_schedule(NAME)
        finally:
            scheduler.close()

    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(go(folder))


def shown(definition: ScheduleDefinition) -> list[str]:
    return json.dumps(definition.to_config(), indent=1, sort_keys=True, default=str).splitlines()


@settings(max_examples=150, deadline=None)
@given(SCHEDULER_OPTIONS, schedules(), NOWS)
def test_the_library_and_the_file_read_the_same_keys_as_the_same_schedule(
    options: dict[str, Any],
    keys: tuple[dict[str, Any], dict[str, Any]],
    now: datetime,
) -> None:
    # Nothing is normalised: both fronts write the scheduler's zone and queue into a
    # schedule that names none (``SchedulerOptions.schedule_defaults``), so the same
    # options on both sides give the same stored definition.
    written, passed = keys
    from_file = file_definition(options, written)
    from_library = library_definition(options, passed)
    diff = "\n".join(
        difflib.unified_diff(shown(from_file), shown(from_library), "file", "library", lineterm="")
    )
    assert from_library.fingerprint() == from_file.fingerprint(), diff
    assert from_library == from_file, diff
    assert from_library.timeline().upcoming(now, 5) == from_file.timeline().upcoming(now, 5)


def test_the_generator_sets_every_key_and_many_at_once() -> None:
    """The property is only as wide as what it draws: every key of the pools is set in
    some example, and some examples set most of them together."""
    seen: set[str] = set()
    widest = [0]

    @settings(max_examples=300, database=None, derandomize=True)
    @given(schedules())
    def draw(keys: tuple[dict[str, Any], dict[str, Any]]) -> None:
        seen.update(keys[0])
        widest[0] = max(widest[0], len(keys[0]))

    draw()
    every = set(optional_keys(shell=True)) | {"schedule", "command", "task", "dst", "roll"}
    assert every <= seen, every - seen
    assert widest[0] >= 20

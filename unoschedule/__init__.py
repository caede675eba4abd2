"""uno-schedule: a job scheduler with DST-correct cron, YAML schedules and exactly-once firing.

The names of the design document are importable from here. Heavier pieces (the
``Scheduler`` and its stores) load on first use so that ``import unoschedule`` stays cheap
for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    ConfigErrors,
    ScheduleSyntaxError,
    StateError,
    UnknownScheduleError,
    UnoScheduleError,
)
from .model import ScheduleDefinition, SchedulerOptions, ScheduleTemplate
from .schedules import (
    CronSchedule,
    DailySchedule,
    EventTrigger,
    IntervalSchedule,
    MonthlySchedule,
    OneTimeSchedule,
    WeeklySchedule,
)
from .wallclock import DstPolicy

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .store.redis import RedisStorage
    from .store.sqlite import SQLiteStorage

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "CronSchedule",
    "DailySchedule",
    "DstPolicy",
    "EventTrigger",
    "IntervalSchedule",
    "MonthlySchedule",
    "OneTimeSchedule",
    "RedisStorage",
    "SQLiteStorage",
    "ScheduleDefinition",
    "ScheduleSyntaxError",
    "ScheduleTemplate",
    "Scheduler",
    "SchedulerOptions",
    "StateError",
    "UnknownScheduleError",
    "UnoScheduleError",
    "WeeklySchedule",
]


def __getattr__(name: str) -> Any:
    if name == "Scheduler":
        from .scheduler import Scheduler

        return Scheduler
    if name == "SQLiteStorage":
        from .store.sqlite import SQLiteStorage

        return SQLiteStorage
    if name == "RedisStorage":
        from .store.redis import RedisStorage

        return RedisStorage
    raise AttributeError(name)

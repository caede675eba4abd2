"""uno-schedule: a job scheduler with DST-correct cron, YAML schedules and exactly-once firing.

Every public name is importable from here, the heavier ones loaded on first use:
``import unoschedule.errors`` (which every CLI command does) must not pay for the
schedule model, the cron parser and the zone rules that a fast command never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ArgumentError,
    CommandFailed,
    ConfigError,
    ConfigErrors,
    ImportRefusedError,
    JobError,
    LeadershipError,
    ScheduleSyntaxError,
    StateError,
    TaskFailure,
    UnknownScheduleError,
    UnoScheduleError,
    UsageError,
    VersionConflictError,
)

if TYPE_CHECKING:
    from .model import ScheduleDefinition, SchedulerOptions, ScheduleTemplate
    from .scheduler import Scheduler
    from .schedules import (
        CronSchedule,
        DailySchedule,
        EventTrigger,
        IntervalSchedule,
        MonthlySchedule,
        OneTimeSchedule,
        WeeklySchedule,
    )
    from .storage import RedisStorage, SQLiteStorage
    from .wallclock import DstPolicy

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "CommandFailed",
    "ConfigError",
    "ConfigErrors",
    "CronSchedule",
    "DailySchedule",
    "DstPolicy",
    "EventTrigger",
    "ImportRefusedError",
    "IntervalSchedule",
    "JobError",
    "LeadershipError",
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
    "TaskFailure",
    "UnknownScheduleError",
    "UnoScheduleError",
    "UsageError",
    "VersionConflictError",
    "WeeklySchedule",
]

#: Where each lazily loaded name lives.
_LAZY = {
    "ScheduleDefinition": ".model",
    "SchedulerOptions": ".model",
    "ScheduleTemplate": ".model",
    "CronSchedule": ".schedules",
    "DailySchedule": ".schedules",
    "EventTrigger": ".schedules",
    "IntervalSchedule": ".schedules",
    "MonthlySchedule": ".schedules",
    "OneTimeSchedule": ".schedules",
    "WeeklySchedule": ".schedules",
    "DstPolicy": ".wallclock",
    "Scheduler": ".scheduler",
    "SQLiteStorage": ".storage",
    "RedisStorage": ".storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

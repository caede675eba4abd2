"""SQL of the SQLite store written once where several of its operations run it, and the
fields a schedule and a run are stored with (the SQLite columns and the Redis hashes).
No imports: the store's module loads it on every shell command.
"""

from __future__ import annotations

__all__ = [
    "RAN",
    "RECENT_RUN_COUNT",
    "RUN_COUNT_KEYS",
    "RUN_FIELDS",
    "RUN_TOTALS",
    "SCHEDULE_FIELDS",
    "run_counts",
]

#: A run's fields, in the order of ``model.RunRecord`` (a test keeps them equal): the
#: columns of the ``runs`` table and the fields of a run's Redis hash.
RUN_FIELDS = (
    "run_id",
    "schedule",
    "scheduled_time",
    "trigger",
    "attempt",
    "result",
    "queued_at",
    "started_at",
    "finished_at",
    "duration",
    "error",
    "output",
    "epoch",
    "instance_id",
    "pid",
    "args",
    "kwargs",
    "event",
    "queue",
    "priority",
)

#: A schedule's fields, in the order of ``model.ScheduleState`` (a test keeps them
#: equal): the columns of the ``schedules`` table and the fields of its Redis hash.
SCHEDULE_FIELDS = (
    "name",
    "definition",
    "version",
    "status",
    "next_run",
    "anchor",
    "last_run",
    "last_result",
    "created_at",
    "updated_at",
    "fingerprint",
    "source",
    "written",
)

#: Results of runs that ran (``run_count``); the failed ones among them count as errors.
RAN = ("success", "error", "timeout", "interrupted")
FAILED = ("error", "timeout", "interrupted")

#: The columns ``run_counts`` selects after ``schedule``, in order.
RUN_COUNT_KEYS = (
    "run_count",
    "success_count",
    "error_count",
    "missed_count",
    "skipped_count",
    "total_duration",
    "finished_count",
)

#: The count ``run_counts`` adds with ``recent``: the runs that ran from that instant on.
RECENT_RUN_COUNT = "recent_run_count"

#: The totals of the runs that retention pruned, by schedule (added to ``run_counts``
#: when no ``since`` limits the count: pruned runs are old).
RUN_TOTALS = "SELECT schedule, " + ", ".join(RUN_COUNT_KEYS) + " FROM run_totals"


def run_counts(*, since: bool, one_schedule: bool, recent: bool = False) -> str:
    """``SELECT schedule, <RUN_COUNT_KEYS> FROM runs ... GROUP BY schedule`` with a
    ``scheduled_time >= ?`` parameter when ``since``, and ``schedule = ?`` (first) when
    ``one_schedule``. With ``recent``, a last column counts the runs that ran scheduled
    at or after its parameter, which comes before the others: ``stats`` reads all time
    and the last day in one scan."""
    ran = ", ".join(f"'{r}'" for r in RAN)
    failed = ", ".join(f"'{r}'" for r in FAILED)
    sql = (
        "SELECT schedule, "
        f"SUM(result IN ({ran})), "
        "SUM(result = 'success'), "
        f"SUM(result IN ({failed})), "
        "SUM(result = 'missed'), "
        "SUM(result = 'skipped'), "
        "TOTAL(duration), "
        "COUNT(duration) "
        + (f", SUM(result IN ({ran}) AND scheduled_time >= ?) " if recent else "")
        + "FROM runs"
    )
    where = []
    if one_schedule:
        where.append("schedule = ?")
    if since:
        where.append("scheduled_time >= ?")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " GROUP BY schedule"

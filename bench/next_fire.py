"""Next-fire throughput, occurrences per second, America/New_York from 2026-01-01.

For each expression, each library steps ``next`` N times (50,000; 5,000 with --quick)
from 2026-01-01T00:00 America/New_York, each step from the previous result:

- ours: ``CronSchedule(expr).timeline(zone=ZoneInfo(...)).next(prev)``
- croniter: ``croniter(expr, start).get_next(datetime)``
- cronsim: ``next(CronSim(expr, start))``
- APScheduler 3: ``CronTrigger.from_crontab(expr, timezone=zone).get_next_fire_time(prev, prev)``

Setup (parsing, building the iterator) is outside the timed loop. Best of 3 timed loops
(1 with --quick), so that a burst of load elsewhere on the machine does not decide it.
An untimed pass checks that our instants equal cronsim's (which follows cronie's DST
rules) over the first 30,000, which crosses the March DST change for ``*/5``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from common import Result, say

NAME = "next_fire"
ZONE = "America/New_York"
EXPRESSIONS = ("*/5 * * * *", "0 9 * * 1-5")
#: Each expression's and library's part of a row key (``every5min.croniter``).
EXPRESSION_KEYS = {"*/5 * * * *": "every5min", "0 9 * * 1-5": "weekdays9"}
LIBRARY_KEYS = {
    "uno-schedule timeline": "ours",
    "croniter": "croniter",
    "cronsim": "cronsim",
    "APScheduler 3 CronTrigger": "apscheduler3",
}


def _ours(expr: str, start: datetime, n: int) -> Callable[[], datetime]:
    from unoschedule.schedules import CronSchedule

    timeline = CronSchedule(expr).timeline(zone=ZoneInfo(ZONE))

    def loop() -> datetime:
        nxt = timeline.next
        t: datetime | None = start
        for _ in range(n):
            t = nxt(t)  # type: ignore[arg-type]
        assert t is not None
        return t

    return loop


def _croniter(expr: str, start: datetime, n: int) -> Callable[[], datetime]:
    from croniter import croniter

    it = croniter(expr, start)

    def loop() -> datetime:
        get = it.get_next
        t = start
        for _ in range(n):
            t = get(datetime)
        return t

    return loop


def _cronsim(expr: str, start: datetime, n: int) -> Callable[[], datetime]:
    from cronsim import CronSim

    it = CronSim(expr, start)

    def loop() -> datetime:
        t = start
        for _ in range(n):
            t = next(it)
        return t

    return loop


def _apscheduler(expr: str, start: datetime, n: int) -> Callable[[], datetime]:
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expr, timezone=ZoneInfo(ZONE))

    def loop() -> datetime:
        get = trigger.get_next_fire_time
        t = get(None, start)
        for _ in range(n - 1):
            t = get(t, t)
        return t

    return loop


LIBRARIES: tuple[tuple[str, Callable[[str, datetime, int], Callable[[], datetime]]], ...] = (
    ("uno-schedule timeline", _ours),
    ("croniter", _croniter),
    ("cronsim", _cronsim),
    ("APScheduler 3 CronTrigger", _apscheduler),
)


#: The rows this benchmark prints (``Result.key``), for the README's table to name.
ROWS = tuple(f"{e}.{lib}" for e in EXPRESSION_KEYS.values() for lib in LIBRARY_KEYS.values())


def _rate(
    factory: Callable[[str, datetime, int], Callable[[], datetime]],
    expr: str,
    start: datetime,
    n: int,
    repeats: int,
) -> float:
    best = float("inf")
    for _ in range(repeats):
        loop = factory(expr, start, n)  # a fresh iterator each time: same work each pass
        gc.collect()
        t0 = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - t0)
    return n / best


def _agreement(expr: str, start: datetime, n: int) -> str | None:
    from cronsim import CronSim

    from unoschedule.schedules import CronSchedule

    timeline = CronSchedule(expr).timeline(zone=ZoneInfo(ZONE))
    sim = CronSim(expr, start)
    t: datetime | None = start
    for i in range(n):
        t = timeline.next(t)  # type: ignore[arg-type]
        theirs = next(sim)
        if t is None or t.astimezone(UTC) != theirs.astimezone(UTC):
            return f"{expr}: occurrence {i + 1} differs: ours {t}, cronsim {theirs}"
    return None


def run(quick: bool) -> list[Result]:
    n = 5_000 if quick else 50_000
    repeats = 1 if quick else 3
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(ZONE))
    results: list[Result] = []
    for expr in EXPRESSIONS:
        rates = {}
        for label, factory in LIBRARIES:
            try:
                rates[label] = _rate(factory, expr, start, n, repeats)
            except Exception as exc:  # a library that cannot do it is n/a, not a crash
                rates[label] = None
                results.append(
                    Result(
                        f"next-fire '{expr}': {label}",
                        None,
                        "occ/s",
                        "",
                        "n/a",
                        [f"failed: {type(exc).__name__}: {exc}"],
                        key=f"{EXPRESSION_KEYS[expr]}.{LIBRARY_KEYS[label]}",
                    )
                )
                continue
            say(f"{expr!r:16} {label:28} {rates[label]:>10,.0f}/s")
        ours = rates.pop("uno-schedule timeline")
        others = {k: v for k, v in rates.items() if v is not None}
        best_other = max(others.values()) if others else None
        verdict = (
            "n/a"
            if ours is None or best_other is None
            else ("PASS" if ours > best_other else "FAIL")
        )
        notes = []
        if best_other is not None and ours is not None:
            leader = max(others, key=lambda k: others[k])
            notes.append(
                f"ours / fastest other ({leader}) = {ours / best_other:.2f}x; "
                f"N={n:,}, best of {repeats}"
            )
        mismatch = _agreement(expr, start, min(n, 30_000))
        notes.append(mismatch or f"our instants equal cronsim's for the first {min(n, 30_000):,}")
        results.append(
            Result(
                f"next-fire '{expr}' NY: uno-schedule",
                ours,
                "occ/s",
                "> all three below",
                verdict,
                notes,
                key=f"{EXPRESSION_KEYS[expr]}.ours",
            )
        )
        for label, rate in rates.items():
            if rate is not None:
                key = f"{EXPRESSION_KEYS[expr]}.{LIBRARY_KEYS[label]}"
                results.append(Result(f"next-fire '{expr}' NY: {label}", rate, "occ/s", key=key))
    return results

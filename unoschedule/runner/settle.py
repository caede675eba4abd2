"""What happens once a job's attempt ended, wherever it ran.

The run loop, the Redis worker and a foreground ``trigger --wait`` each record the end
their own way (the loop batches ends into one transaction; a worker settles its stream
entry, the end and the retry in one script; the foreground writes directly), so each
passes its ``Recorder``; the loop and the foreground queue the retry in the transaction
of the end by one rule (``with_retry``). Everything else is decided
here, once: whether another attempt follows (``runs.next_attempt``), what is logged, the
observer's hook (metrics, output files, dead-man and failure bookkeeping), and the error
handler, called once after the last attempt failed (not for an interrupted one: the
scheduler stopped, the job did not fail).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ..jobs import JobOutcome
from ..model import RunRecord, ScheduleDefinition, SchedulerOptions
from ..records import Finish
from ..runs import chained_runs, next_attempt, occurrence_key
from .log import Logger
from .notify import Notifier

__all__ = [
    "Ended",
    "FailureHandler",
    "InstantRecorder",
    "Recorder",
    "Settler",
    "output_tail_note",
    "with_retry",
]

FailureHandler = Callable[[RunRecord, ScheduleDefinition, JobOutcome], Awaitable[None] | None]
#: Told of each recorded end: ``(run, outcome, started, finished)``.
FinishedHook = Callable[[RunRecord, JobOutcome, datetime, datetime], None]


@dataclass(frozen=True)
class Ended:
    """What a recorder managed: whether the store recorded the end (``Store.finish_runs``
    says so), and whether the next attempt was queued with it. An end not recorded is
    not this process's to log, count, notify or retry: the state holds the run as
    whoever settled it first (a newer leader's recovery, another worker) recorded it."""

    recorded: bool
    retried: bool = False
    #: Why the store left the end out, for the operator: logged once by the settle step
    #: (``Settler.not_recorded``). None when the recorder said it itself (a store that
    #: cannot be reached) or when the end is not one of a job that ran here.
    why: str | None = None


#: Records the end of an attempt (with the runs it starts, ``Finish.then``) and, when
#: not None, the next attempt to queue.
Recorder = Callable[[Finish, RunRecord | None], Awaitable[Ended]]
#: ``Recorder`` for an end recorded at once, without waiting (an interruption).
InstantRecorder = Callable[[Finish, RunRecord | None], Ended]
#: The definitions a settle step reads chains from (the engine's, changed in place).
Definitions = Callable[[], Mapping[str, ScheduleDefinition]]
#: How long the index of chains is kept before it is built again from the definitions:
#: building it reads every definition, which a run's end must not do each time.
CHAIN_INDEX_SECONDS = 1.0


class Settler:
    """The settle step of one engine (a run loop, a worker, a foreground run)."""

    def __init__(
        self,
        options: SchedulerOptions,
        *,
        log: Logger | None = None,
        on_failure: FailureHandler | None = None,
        on_finished: FinishedHook | None = None,
        definitions: Definitions | None = None,
        notifier: Notifier | None = None,
        active: Callable[[str], bool] | None = None,
    ) -> None:
        self.options = options
        self.log = log
        self.on_failure = on_failure
        self.on_finished = on_finished
        self.definitions = definitions
        #: Told of successes (recoveries) and failures (``notify:``).
        self.notifier = notifier
        #: Whether a schedule is active (a chain starts no run of a paused one, as an
        #: event does not); None: every one is.
        self.active = active
        self._chains: dict[str, list[ScheduleDefinition]] = {}
        self._chains_built = float("-inf")

    async def settle(
        self,
        run: RunRecord,
        definition: ScheduleDefinition | None,
        outcome: JobOutcome,
        started: datetime,
        finished: datetime,
        record: Recorder,
    ) -> Ended:
        """Record how ``run`` ended, queue its next attempt if the retry policy allows,
        and tell whoever listens."""
        end, retry = self._end(run, definition, outcome, finished)
        ended = await record(end, retry)
        due = self._tell(run, definition, outcome, started, end, retry, ended)
        if due and definition is not None:
            await self.failed(run, definition, outcome)
        return ended

    def interrupted(
        self,
        run: RunRecord,
        definition: ScheduleDefinition | None,
        error: str,
        started: datetime,
        finished: datetime,
        record: InstantRecorder,
    ) -> Ended:
        """``settle`` for an attempt cut off by the scheduler (a crash, a lost lease),
        by the same rules: its retry, the chains, the observer, the log. Nothing here
        waits, since an interruption calls no error handler (the job did not fail): a
        new leader's recovery settles such runs before its event loop runs."""
        outcome = JobOutcome("interrupted", error, "", None)
        end, retry = self._end(run, definition, outcome, finished)
        ended = record(end, retry)
        self._tell(run, definition, outcome, started, end, retry, ended)
        return ended

    def _end(
        self,
        run: RunRecord,
        definition: ScheduleDefinition | None,
        outcome: JobOutcome,
        finished: datetime,
    ) -> tuple[Finish, RunRecord | None]:
        """The end to record for ``outcome``, with the runs it starts, and the next
        attempt when the retry policy allows one (``runs.next_attempt``)."""
        retry = None
        if outcome.result not in ("success", "cancelled"):  # a cancelled run was replaced
            retry = next_attempt(run, definition, finished)
        followers = self.followers(run.schedule)
        then: tuple[tuple[str, RunRecord], ...] = ()
        if followers:
            then = tuple(chained_runs(run, outcome.result, retry is None, followers, finished))
        end = Finish(run.run_id, outcome.result, finished, outcome.error, outcome.output, then)
        return end, retry

    def _tell(
        self,
        run: RunRecord,
        definition: ScheduleDefinition | None,
        outcome: JobOutcome,
        started: datetime,
        end: Finish,
        retry: RunRecord | None,
        ended: Ended,
    ) -> bool:
        """Tell the observer, the log and the notifier of an end the recorder recorded;
        True when the error handler is due (the last attempt failed). Of an end it did
        not record, only why (``not_recorded``)."""
        if not ended.recorded:
            if ended.why is not None:
                self.not_recorded(run, end, ended.why)
            return False
        finished = end.finished_at
        if self.on_finished is not None:
            self.on_finished(run, outcome, started, finished)
        if end.then and self.log is not None:
            started_runs = ", ".join(f"{r.schedule} ({r.run_id})" for _, r in end.then)
            self.log.info(f"{run.schedule}: run {run.run_id} starts {started_runs}")
        name = run.schedule
        took = (finished - started).total_seconds()
        log = self.log
        if outcome.result == "success":
            if log is not None:
                log.info(f"{name}: run {run.run_id} succeeded in {took:.3f}s")
            if self.notifier is not None and definition is not None:
                self.notifier.tell("success", run, definition, None)
            return False
        if log is not None:
            log.warning(
                f"{name}: run {run.run_id} {outcome.result}: {outcome.error} ({took:.3f}s)"
                + output_tail_note(outcome.output)
            )
        if ended.retried and retry is not None:
            self.note_retry(retry, definition, finished, outcome.result)
            return False
        return outcome.result not in ("interrupted", "cancelled")

    def not_recorded(self, run: RunRecord, end: Finish, why: str) -> None:
        """Say that the end of ``run`` was left out of the state, and why: its result
        is then in no history, count or notification, so the operator reads it here."""
        if self.log is not None:
            self.log.warning(
                f"{run.schedule}: run {run.run_id} ended {end.result}, not recorded: {why}"
            )

    def followers(self, upstream: str) -> list[ScheduleDefinition]:
        """The schedules whose ``after:`` names ``upstream``, from an index built again
        from the definitions at most every ``CHAIN_INDEX_SECONDS``."""
        if self.definitions is None:
            return []
        steady = time.monotonic()
        if steady - self._chains_built >= CHAIN_INDEX_SECONDS:
            index: dict[str, list[ScheduleDefinition]] = {}
            for definition in self.definitions().values():
                if definition.after is not None:
                    index.setdefault(definition.after.schedule, []).append(definition)
            self._chains, self._chains_built = index, steady
        found = self._chains.get(upstream, [])
        if found and self.active is not None:
            found = [d for d in found if self.active(d.name)]
        return found

    def note_retry(
        self,
        retry: RunRecord,
        definition: ScheduleDefinition | None,
        now: datetime,
        result: str,
    ) -> None:
        """Log that ``retry`` was queued after an attempt ended with ``result``."""
        if self.log is None or definition is None or retry.queued_at is None:
            return
        delay = (retry.queued_at - now).total_seconds()
        self.log.info(
            f"{retry.schedule}: attempt {retry.attempt} of {definition.max_retries + 1} "
            f"in {delay:g}s after {result}"
        )

    async def failed(
        self, run: RunRecord, definition: ScheduleDefinition, outcome: JobOutcome
    ) -> None:
        """Tell the notifier and call the error handler (a failing handler is logged,
        never fatal). A dead-man alarm comes here too, as an ``overdue`` outcome."""
        if self.notifier is not None:
            alarm = str(outcome.result) == "overdue"  # a dead-man alarm (``runner.ops``)
            event = "overdue" if alarm else "failure"
            self.notifier.tell(event, run, definition, outcome.error, outcome.output)
        if self.on_failure is None:
            return
        try:
            result = self.on_failure(run, definition, outcome)
            if result is not None:
                await result
        except Exception as exc:
            if self.log is not None:
                self.log.error(f"{definition.name}: error handler failed: {exc}")


def with_retry(finish: Finish, retry: RunRecord | None, queued_by: str) -> Finish:
    """``finish`` with the next attempt among the runs it queues (``Finish.then``, under
    its occurrence key): written in the transaction that records the end, and only if
    that one records it, so no process that dies between two writes loses it, and of two
    processes recording the same end only the first queues it. ``queued_by`` (the
    recording process) holds it until a leader, or the foreground process that queued
    it, starts it. The one rule for the run loop and a foreground ``trigger --wait``."""
    if retry is None:
        return finish
    retry.instance_id = queued_by
    key = occurrence_key(retry.schedule, retry.scheduled_time, retry.attempt)
    return dataclasses.replace(finish, then=(*finish.then, (key, retry)))


def output_tail_note(output: str | None, lines: int = 3, width: int = 400) -> str:
    """The end of a failed run's output for its log line: `` | last line | ...``."""
    if not output:
        return ""
    tail = [line.strip() for line in output.strip().splitlines()[-lines:] if line.strip()]
    text = " | ".join(tail)
    if len(text) > width:
        text = "..." + text[-width:]
    return f"; output: {text}" if text else ""

"""One attempt of a job: what the run loop gives the executor (``JobSpec``) and what it
gets back (``JobOutcome``).

Kept out of ``model`` so that a command at the shell, which never runs a job, does not
build their classes at every start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .model import RunRecord, ScheduleDefinition


#: The environment variables of SPEC section 6, each job's own: set for its run, and
#: never inherited (a scheduler started from inside a job does not pass on that job's).
CONTRACT_VARIABLES = (
    "UNO_SCHEDULE_NAME",
    "UNO_RUN_ID",
    "UNO_SCHEDULED_TIME",
    "UNO_ATTEMPT",
    "UNO_TRIGGER",
    "UNO_KWARGS",
    "UNO_EVENT",
    "UNO_EVENT_FILE",
    "UNO_KWARGS_FILE",
)

OutcomeResult = Literal["success", "error", "timeout", "interrupted", "cancelled"]


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to run one attempt; built by the run loop per attempt."""

    run: RunRecord
    definition: ScheduleDefinition
    kill_grace: float = 5.0
    output_tail: int = 4096
    import_paths: tuple[str, ...] = ()
    base_cwd: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """How an attempt ended, in the words the run record stores."""

    result: OutcomeResult
    error: str | None
    output: str
    pid: int | None
    #: What an in-process task raised, for ``on_schedule_error`` handlers (elsewhere they
    #: get a ``TaskFailure`` rebuilt from ``error`` and ``output``).
    exception: BaseException | None = field(default=None, compare=False)

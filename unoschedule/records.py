"""What the run loop and the stores hand each other about runs: a claim of one
occurrence, how a run ended, and what one batch of pruning removed.

Plain records, kept out of ``abc`` so that a command at the shell, which reads the state
but never claims, ends or prunes a run, does not build their classes at every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import RunRecord


@dataclass(frozen=True)
class Claim:
    """One occurrence to record under its unique ``key``, advancing its schedule to
    ``next_run`` (see ``Store.claim_many``)."""

    run: RunRecord
    key: str
    next_run: datetime | None


@dataclass(frozen=True)
class Finish:
    """How one run ended (see ``Store.finish_runs``)."""

    run_id: str
    result: str
    finished_at: datetime
    error: str | None = None
    output: str | None = None
    #: Runs this end starts (``chains.chained_runs``), each under its unique key:
    #: enqueued in the transaction that records the end, and only if it does, so that
    #: an end recorded once starts each of them once, whoever records it.
    then: tuple[tuple[str, RunRecord], ...] = ()


@dataclass(frozen=True)
class Pruned:
    """What one batch of ``Store.prune_runs`` deleted, and how long it held the write lock."""

    run_ids: tuple[tuple[str, str], ...]
    seconds: float

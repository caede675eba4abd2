"""What an occurrence does while a run of its schedule is in flight: the overlap policy.

One owner for the rule: the run loop asks ``decide`` when an occurrence comes due (record
it skipped, start it, hold it buffered, or cancel the runs in flight) and ``may_start``
before it starts a held run, for runs it executes itself and for runs it hands to
workers alike. Pure: what is in flight is passed in; nothing is read or written.

A manual trigger and an event's run are not held by the policy (as a Kubernetes job
created from a CronJob is not): someone asked for that run now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .jobs import JobOutcome
from .model import Overlap, ScheduleDefinition

__all__ = [
    "BUFFERED",
    "GROUP_POLL",
    "Action",
    "Decision",
    "bound_by_policy",
    "cancelled_outcome",
    "decide",
    "group_members",
    "may_start",
]

Action = Literal["start", "skip", "buffer", "cancel"]

#: How the note of a run held back by its policy begins (``explain`` shows it
#: ``buffered`` while it waits).
BUFFERED = "buffered:"

#: How often a run waiting for a place in its concurrency group asks again (a run of
#: the group that ends on another host or a worker frees a place without telling).
GROUP_POLL = 0.5

#: The triggers whose runs the policy governs (a manual trigger and an event's run are
#: what someone asked for now).
_GOVERNED = ("schedule", "missed", "retry", "backfill")


@dataclass(frozen=True)
class Decision:
    """What to do with one due occurrence.

    ``start``: run it now. ``skip``: record it ``skipped`` with ``reason``. ``buffer``:
    claim it, hold it until nothing of the schedule runs (``reason`` is recorded with the
    waiting run). ``cancel``: stop the runs ``cancel`` names (recorded ``cancelled`` with
    ``reason``), then start it.
    """

    action: Action
    reason: str | None = None
    cancel: tuple[str, ...] = ()


def decide(policy: Overlap, running: Sequence[str], waiting: int) -> Decision:
    """The outcome of an occurrence due while the runs ``running`` (ids, oldest first)
    are in flight and ``waiting`` runs of the schedule wait to start."""
    if policy == "allow_all" or (not running and not waiting):
        return Decision("start")
    previous = running[-1] if running else None
    still = f"previous run {previous} still running" if previous else "a run is waiting"
    if policy == "skip":
        return Decision("skip", f"skipped: {still} (overlap: skip)")
    if policy == "buffer_one":
        if waiting:
            return Decision("skip", "skipped: a run already waits its turn (overlap: buffer_one)")
        return Decision("buffer", f"{BUFFERED} waits for run {previous} (overlap: buffer_one)")
    if policy == "buffer_all":
        behind = f"run {previous}" if previous else "the runs before it"
        return Decision("buffer", f"{BUFFERED} waits for {behind} (overlap: buffer_all)")
    # cancel_other
    if not running:
        return Decision("start")
    return Decision(
        "cancel",
        "cancelled: a later occurrence replaced it (overlap: cancel_other)",
        tuple(running),
    )


def may_start(policy: Overlap, running: int) -> bool:
    """Whether a run held by the policy may start beside ``running`` runs of its
    schedule: under every policy but ``allow_all``, only when none runs."""
    return policy == "allow_all" or running == 0


def bound_by_policy(trigger: str) -> bool:
    """Whether runs of ``trigger`` obey the overlap policy (a manual one does not)."""
    return trigger in _GOVERNED


def group_members(
    definitions: Mapping[str, ScheduleDefinition], limits: Mapping[str, int]
) -> dict[str, list[str]]:
    """The schedules of each concurrency group that has a limit: what the store counts
    running when it admits a run into the group (``Store.start_in_group``)."""
    members: dict[str, list[str]] = {}
    if not limits:
        return members
    for name, definition in definitions.items():
        group = definition.concurrency_group
        if group is not None and group in limits:
            members.setdefault(group, []).append(name)
    return members


def cancelled_outcome(outcome: JobOutcome, reason: str | None) -> JobOutcome:
    """How a run stopped for ``overlap: cancel_other`` is recorded: ``cancelled`` with
    ``reason`` (not ``interrupted``, which a retry would follow), wherever it ran. A run
    that ended on its own before the stop reached it keeps its own result."""
    if reason is None or outcome.result != "interrupted":
        return outcome
    return JobOutcome("cancelled", reason, outcome.output, outcome.pid)

"""Chains: a schedule that runs after another one's run ended (``after:``).

The one owner of the chain rule: which ends of an upstream run a chain follows
(``Chain.follows``; ``runs.chained_runs`` builds the runs from it), the key each
downstream run is recorded under (one per upstream run and downstream schedule, so that
a settle step repeated after a failover cannot start it twice), and what makes a set of
chains invalid (an unknown upstream, a cycle: ``chain_problems``). Pure, and below the
model (it imports none of it).

The runs go from the settle step to the store together with the upstream run's end
(``Finish.then``): both are written in one transaction or neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ScheduleSyntaxError

__all__ = [
    "CHAIN_ON",
    "Chain",
    "chain_key",
    "chain_problems",
    "orphaned_by",
    "upstream_of",
]

ChainOn = Literal["success", "failure", "any"]
#: The upstream ends a chain can follow: ``failure`` is an error or a timeout after the
#: last attempt (as ``on_error``), ``any`` either of them or a success.
CHAIN_ON: tuple[ChainOn, ...] = ("success", "failure", "any")
_FAILED = ("error", "timeout")


@dataclass(frozen=True)
class Chain:
    """``after: {schedule: NAME, on: success}``: run after each run of ``schedule``
    that ends as ``on`` says."""

    schedule: str
    on: ChainOn = "success"

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, str) or not self.schedule.strip():
            raise ScheduleSyntaxError("after needs the schedule to follow, e.g. after: extract")
        if self.on not in CHAIN_ON:
            raise ScheduleSyntaxError(
                f"after's on must be one of {', '.join(CHAIN_ON)}, not {self.on!r}"
            )

    def follows(self, result: str, final: bool) -> bool:
        """Whether an upstream end with ``result`` starts this chain. ``final``: no
        further attempt follows (a failure chains only after the last one)."""
        if result == "success":
            return self.on in ("success", "any")
        if result in _FAILED and final:
            return self.on in ("failure", "any")
        return False  # interrupted, skipped, missed: the job did not end by itself

    def to_config(self) -> dict[str, str]:
        return {"schedule": self.schedule, "on": self.on}

    @classmethod
    def from_config(cls, value: Any) -> Chain:
        """From ``extract`` or ``{schedule: extract, on: success}``."""
        if isinstance(value, Chain):
            return value
        if isinstance(value, str):
            return cls(value.strip())
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in ("schedule", "on")]
            if unknown:
                raise ScheduleSyntaxError(
                    f"unknown key {unknown[0]!r} in after (use 'schedule' and 'on')"
                )
            if "schedule" not in value:
                raise ScheduleSyntaxError("after needs schedule: (the schedule to follow)")
            return cls(str(value["schedule"]).strip(), value.get("on", "success"))
        raise ScheduleSyntaxError(
            "after is a schedule name or a mapping {schedule: NAME, on: success|failure|any}"
        )


def chain_key(downstream: str, upstream_run_id: str) -> str:
    """The occurrence key of the run of ``downstream`` that ``upstream_run_id`` started:
    unique, so that it is recorded at most once whoever settles the upstream run."""
    return f"{downstream}@after:{upstream_run_id}"


def upstream_of(trigger: str, event: Any) -> dict[str, Any] | None:
    """The upstream run that started a run of ``trigger`` and ``event`` (``{"schedule",
    "run_id", "result"}``), or None for a run that no chain started."""
    if trigger != "event" or not isinstance(event, dict):
        return None
    after = event.get("after")
    return after if isinstance(after, dict) and "run_id" in after else None


def chain_problems(
    chains: Mapping[str, Chain | None], known: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """What is wrong with ``chains`` (each schedule's ``after``, None for none):
    ``(schedule, message)`` for an ``after:`` naming a schedule that is neither among
    them nor in ``known``, and for each schedule on a cycle (a chain that would start
    itself forever)."""
    names = set(chains) | set(known)
    problems: list[tuple[str, str]] = []
    edges: dict[str, str] = {}
    for name, chain in chains.items():
        if chain is None:
            continue
        if chain.schedule not in names:
            import difflib

            hint = difflib.get_close_matches(chain.schedule, sorted(names), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append((name, f"after names no schedule {chain.schedule!r}{extra}"))
            continue
        edges[name] = chain.schedule
    reported: set[str] = set()
    for start in edges:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in path and node not in reported:
            path.append(node)
            node = edges.get(node)
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            shown = " -> ".join([*cycle, node])
            for member in cycle:
                if member not in reported:
                    problems.append((member, f"after makes a cycle: {shown}"))
            reported.update(cycle)
        reported.update(path)
    return problems


def orphaned_by(chains: Mapping[str, Chain | None], removed: Iterable[str]) -> list[str]:
    """The schedules of ``chains`` whose ``after:`` would name no schedule once
    ``removed`` are gone (``chain_problems`` decides, as for the file), sorted; a chain
    broken already is not the removal's doing. The one answer for a library deletion
    and for a file that no longer declares a schedule others run after."""
    broken = {name for name, _ in chain_problems(chains)}
    gone = set(removed)
    left = {name: chain for name, chain in chains.items() if name not in gone}
    return sorted({name for name, _ in chain_problems(left)} - broken)

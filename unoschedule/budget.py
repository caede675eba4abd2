"""The runner's descriptor budget: how many jobs its process can hold at once.

Each job in flight holds descriptors of the runner's own process, and past the soft
``RLIMIT_NOFILE`` the next pipe or fork fails with EMFILE: a user's run would then fail
for a limit of ours. So a run that would overdraw the budget waits in its queue (still
``queued``, never started) until a job ends, whatever the queue's concurrency allows.

What one job holds was measured (``tests/test_budget.py`` checks it still holds): a
command three (the read end of its output pipe, the pidfd that tells its exit, its run's
log file), a sync Python task in a pooled worker one (the read end of the worker's
answers, kept while it is idle: an idle worker is let go when a job needs it; the fork
server that forks the workers and starts the commands holds a socket and a pidfd here,
once), a forked task two, an async task three (the event loop of its thread, which an
idle thread keeps for its next task: at most ``executor.IDLE_LOOPS`` of them, within
``HEADROOM``). What the runner holds itself (the state, its lock, sockets, logs) is
counted once, as it starts, and ``HEADROOM`` is kept for what it opens later or for a
moment: /metrics connections (at most ``METRICS_CONNECTIONS``), a second connection to
the state for pruning, Redis connections of its threads, the pipes and folders of a job
being started, /proc reads, a reload's read of its file, the fork servers a burst of
commands adds (a socket and a pidfd each, at most 8 of them).

The rule itself is ``job_slots``, a function of those numbers; ``DescriptorBudget``
feeds it the live ones, and the run loop and the Redis worker both ask it before they
start a job. ``validate`` reads it too, so it imports nothing of the runner.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import SchedulerOptions

__all__ = [
    "HEADROOM",
    "METRICS_CONNECTIONS",
    "PER_JOB",
    "DescriptorBudget",
    "concurrency_warnings",
    "descriptor_warnings",
    "idle_to_let_go",
    "job_slots",
    "open_descriptors",
    "raise_soft_limit",
    "soft_limit",
]

#: Descriptors one job in flight holds in the runner (the most of any kind of job).
PER_JOB = 3
#: Connections the /metrics server answers at the same time (``metrics``): its share
#: of the descriptors, so that idle connections never take those the jobs need.
METRICS_CONNECTIONS = 8
#: Descriptors kept free beside the jobs for what the runner opens after its start or
#: for a moment (see the module's docstring): the /metrics connections and its socket,
#: and 40 for the rest.
HEADROOM = METRICS_CONNECTIONS + 1 + 40
#: The soft limit is raised towards the hard one at start, but never past this.
RAISE_TO = 65536
#: A limit too large to matter (``RLIM_INFINITY``), as a number.
_UNLIMITED = 1 << 30


def soft_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` this process runs under."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _UNLIMITED if soft == resource.RLIM_INFINITY else int(soft)


def raise_soft_limit() -> None:
    """Raise the soft limit to the hard one (at most ``RAISE_TO``), once, as a runner
    starts: the usual soft limit of 1024 holds only a few hundred jobs."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = RAISE_TO if hard == resource.RLIM_INFINITY else min(hard, RAISE_TO)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def open_descriptors() -> int:
    """How many descriptors this process holds now (Linux: /proc/self/fd)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # without the listing's own
    except OSError:
        return 3 + 16  # stdio and a guess at what a fresh runner holds


def job_slots(limit: int, reserved: int, running: int) -> int:
    """How many more jobs may start beside ``running`` ones: what ``limit`` leaves after
    ``reserved`` (the runner's own descriptors and headroom), at ``PER_JOB`` each.

    The pool's idle task workers hold descriptors too, but they are let go whenever a
    job needs theirs (``idle_to_let_go``), so they take no slot. With nothing running it
    is at least 1: a limit too low for even one job would otherwise hold every run back
    for ever; that one may then fail, and ``validate`` warns of such a limit before
    ``run`` starts under it.
    """
    room = max(0, (limit - reserved - running * PER_JOB) // PER_JOB)
    return max(room, 1) if running <= 0 else room


def idle_to_let_go(limit: int, reserved: int, running: int, idle: int) -> int:
    """How many of ``idle`` pooled workers (``PER_JOB`` descriptors each) to let go so
    that they and ``running`` jobs fit in ``limit`` beside ``reserved``."""
    over = reserved + (running + idle) * PER_JOB - limit
    return min(idle, max(0, -(-over // PER_JOB)))


def most_jobs(limit: int, reserved: int) -> int:
    """The most jobs at once that ``limit`` holds (nothing else held)."""
    return max(1, (limit - reserved) // PER_JOB)


class DescriptorBudget:
    """``job_slots`` and ``idle_to_let_go`` over this process's limit and what it held
    as the budget was made."""

    def __init__(self, limit: int, reserved: int) -> None:
        self.limit = limit
        self.reserved = reserved

    @classmethod
    def of_this_process(cls) -> DescriptorBudget:
        """The budget under the current soft limit, with what is open now reserved."""
        return cls(soft_limit(), open_descriptors() + HEADROOM)

    @property
    def most(self) -> int:
        """The most jobs this budget ever lets run at once."""
        return most_jobs(self.limit, self.reserved)

    def room(self, running: int) -> int:
        """How many more jobs may start beside ``running`` ones now."""
        return job_slots(self.limit, self.reserved, running)

    def idle_to_let_go(self, running: int, idle: int) -> int:
        """How many idle pooled workers to let go for ``running`` jobs (this one too)."""
        return idle_to_let_go(self.limit, self.reserved, running, idle)


def concurrency_warnings(
    concurrencies: Mapping[str, int], limits: tuple[int, int] | None = None
) -> list[str]:
    """One line per queue whose concurrency the descriptor limit cannot hold, for
    ``validate``. ``limits`` (soft, hard) default to this process's: the best guess at
    what ``run`` starts under, which raises the soft limit towards the hard one."""
    if limits is None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    else:
        soft, hard = limits
    hard = _UNLIMITED if hard == resource.RLIM_INFINITY else hard
    soft = _UNLIMITED if soft == resource.RLIM_INFINITY else soft
    limit = max(soft, min(hard, RAISE_TO))
    # What a runner holds before its first job, as a fresh one on this machine does.
    most = most_jobs(limit, 3 + 16 + HEADROOM)
    shown = {n: "unlimited" if n == _UNLIMITED else f"{n:,}" for n in (soft, hard)}
    return [
        f"queue {queue!r}: concurrency {wanted:,} cannot be met: under a limit of "
        f"{limit:,} open files (this shell's soft {shown[soft]} / hard {shown[hard]}, "
        f"the best guess at what 'run' starts under) at most about {most:,} jobs run at "
        "once; the rest wait for a slot (raise 'ulimit -n' or LimitNOFILE= to run them all)"
        for queue, wanted in sorted(concurrencies.items())
        if wanted > most
    ]


def descriptor_warnings(options: SchedulerOptions) -> list[str]:
    """``concurrency_warnings`` for the queues ``options`` name and the default one."""
    queues = dict(options.queues)
    queues.setdefault(options.queue_name, options.concurrency(options.queue_name))
    return concurrency_warnings(queues)

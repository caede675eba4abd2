"""Which state a runner or worker serves: a random identity written into the state when
it is first used, checked by every runner and worker as long as it runs.

A Redis restarted empty (no persistence, a failover to an empty replica, a FLUSHALL)
looks like a new installation: schedules paused for a reason would be re-created
active, the fencing epoch would restart at 1 and workers would fire whatever is handed
to them. A process that knew the state's identity and finds it gone marks the state
*lost* (a marker every process and ``health`` sees) and nothing fires until an operator
re-initialises it (``uno-schedule init-state``, ``Scheduler.reinitialise_state``). Only a
runner (a leader or a standby, never a worker) creates the identity, only on a state that
was never marked lost, and only if no other process created one first: runners started
together on an empty state all adopt the one identity written first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from .abc import Store

__all__ = ["LOST_KEY", "REINIT_KEY", "STATE_ID_KEY", "StateIdentity", "lost", "reinitialise"]

STATE_ID_KEY = "state_id"
#: Set when a process found the identity it knew gone: ``KNOWN-ID by INSTANCE``.
LOST_KEY = "state_lost"
#: The identity an operator's ``reinitialise`` wrote: the only new one a process adopts.
REINIT_KEY = "state_reinitialised"

Verdict = Literal["ok", "lost", "absent", "renewed"]


def lost(store: Store) -> str | None:
    """What the lost marker says (which identity, noticed by whom), else None."""
    return store.get_meta(LOST_KEY) or None


def reinitialise(store: Store) -> str:
    """An operator's decision: the state as it is now is the one to serve. Writes a new
    identity and clears the lost marker; running processes adopt it."""
    new = secrets.token_hex(8)
    store.set_meta(STATE_ID_KEY, new)
    store.set_meta(REINIT_KEY, new)
    store.set_meta(LOST_KEY, "")
    return new


@dataclass
class StateIdentity:
    """The identity one process knows, and the rule that checks it against the state."""

    instance_id: str
    known: str | None = None

    def check(self, store: Store, *, create: bool) -> Verdict:
        """``ok``: the state is the one known (or was just created, when ``create``);
        ``renewed``: an operator re-initialised it (now known); ``lost``: the identity
        known is gone, or the state is marked lost; ``absent``: no identity yet and this
        process may not create one (a worker before any leader)."""
        current = store.get_meta(STATE_ID_KEY) or None
        marked = lost(store)
        if current is not None and marked is None:
            if self.known in (None, current):
                self.known = current
                return "ok"
            if current == store.get_meta(REINIT_KEY):
                self.known = current
                return "renewed"
            # another identity, not an operator's: a state re-created since (a runner
            # started after the loss), not the one this process served
        elif current is None and self.known is None and marked is None:
            if not create:
                return "absent"
            # Set only if absent: another runner may have created one since the read
            # above. Each overwriting the other's made the one overwritten mark the
            # state lost, and nothing fired until an operator came.
            self.known = store.set_meta_if_absent(STATE_ID_KEY, secrets.token_hex(8))
            return "ok"
        if marked is None:
            store.set_meta(LOST_KEY, f"{self.known} by {self.instance_id}")
        return "lost"

    @staticmethod
    def lost_message(store_name: str) -> str:
        return (
            f"the state at {store_name} lost its identity (restarted empty?): nothing fires "
            "until an operator checks it and runs `uno-schedule init-state`"
        )

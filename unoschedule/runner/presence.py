"""A standby's or a worker's word that it is there, kept in the state for ``stats``.

Every few seconds while it waits (a standby) or serves (a worker), a process renews its
``Presence`` for three times that long, so a process that died drops out of ``stats``
within seconds, and one that stops cleanly withdraws it at once. Saying so is best
effort: a store that cannot be reached is the caller's to notice elsewhere.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from ..abc import Presence, Store
from ..errors import UnoScheduleError

__all__ = ["Announcer"]

#: Seconds between two renewals; a presence lasts three times as long.
EVERY = 5.0


class Announcer:
    """Renews ``role``'s presence of ``instance_id`` at most every ``EVERY`` seconds."""

    def __init__(
        self,
        store: Callable[[], Store],
        role: str,
        instance_id: str,
        now: Callable[[], datetime],
        detail: str = "",
    ) -> None:
        self._store = store
        self.role = role
        self.instance_id = instance_id
        self._now = now
        self.detail = detail
        self._last: float | None = None

    def beat(self) -> None:
        """Say this process is there, unless it said so less than ``EVERY`` s ago."""
        tick = time.monotonic()
        if self._last is not None and tick - self._last < EVERY:
            return
        now = self._now()
        try:
            self._store().announce(
                Presence(
                    self.role,
                    self.instance_id,
                    now,
                    now + timedelta(seconds=3 * EVERY),
                    self.detail,
                )
            )
            self._last = tick
        except UnoScheduleError:
            pass

    def leave(self) -> None:
        """Withdraw the presence (a clean stop, or a standby that now leads)."""
        if self._last is None:
            return
        self._last = None
        with contextlib.suppress(UnoScheduleError):
            self._store().withdraw(self.role, self.instance_id)

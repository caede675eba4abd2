"""Crash points for the crash tests: ``UNO_SCHEDULE_FAILPOINT=after_claim:3`` makes the
runner SIGKILL itself the third time it passes ``after_claim``; ``after_claim:1:stop``
makes it SIGSTOP itself there instead (a freeze, which the test ends with SIGCONT).

The crash tests need to kill the runner at exact places (after a claim, after a spawn,
before a finish) to prove that no occurrence starts twice and none goes unrecorded;
a random kill -9 rarely lands there. Unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("UNO_SCHEDULE_FAILPOINT", "")
_WANTED: dict[str, int] = {}
_SIGNAL: dict[str, signal.Signals] = {}
for _item in filter(None, _SPEC.split(",")):
    _name, _count, _how = [*_item.split(":"), "", ""][:3]
    _WANTED[_name.strip()] = int(_count) if _count.isdigit() else 1
    _SIGNAL[_name.strip()] = signal.SIGSTOP if _how.strip() == "stop" else signal.SIGKILL


def failpoint(name: str) -> None:
    """Die here, like a power cut (or freeze, like a stalled VM), if the environment
    asks for it."""
    if name not in _WANTED:
        return
    _WANTED[name] -= 1
    if _WANTED[name] == 0:
        os.kill(os.getpid(), _SIGNAL[name])

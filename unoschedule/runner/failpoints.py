"""Crash points for the crash tests: ``UNO_SCHEDULE_FAILPOINT=after_claim:3`` makes the
runner SIGKILL itself the third time it passes ``after_claim``.

The crash tests need to kill the runner at exact places (after a claim, after a spawn,
before a finish) to prove that no occurrence starts twice and none goes unrecorded;
a random kill -9 rarely lands there. Unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("UNO_SCHEDULE_FAILPOINT", "")
_WANTED: dict[str, int] = {}
for _item in filter(None, _SPEC.split(",")):
    _name, _, _count = _item.partition(":")
    _WANTED[_name.strip()] = int(_count) if _count.isdigit() else 1


def failpoint(name: str) -> None:
    """Die here, like a power cut, if the environment asks for it."""
    if name not in _WANTED:
        return
    _WANTED[name] -= 1
    if _WANTED[name] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)

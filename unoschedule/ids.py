"""Run ids, in a module of their own: the shell queues runs without loading the run loop."""

from __future__ import annotations

import os
from datetime import datetime

__all__ = ["new_run_id"]


def new_run_id(now: datetime) -> str:
    """Sortable by creation time, unique without coordination.

    ``os.urandom`` is what ``secrets.token_hex`` reads; importing ``secrets`` (with
    ``random``, ``hashlib`` and ``hmac``) would cost a shell command's ``trigger`` 4 ms.
    """
    return f"{int(now.timestamp() * 1000):011x}{os.urandom(4).hex()}"

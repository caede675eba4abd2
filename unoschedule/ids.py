"""Run ids, in a module of their own: the shell queues runs without loading the run loop."""

from __future__ import annotations

import secrets
from datetime import datetime

__all__ = ["new_run_id"]


def new_run_id(now: datetime) -> str:
    """Sortable by creation time, unique without coordination."""
    return f"{int(now.timestamp() * 1000):011x}{secrets.token_hex(4)}"

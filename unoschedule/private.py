"""Folders we create are private (0700), whatever the umask.

``Path.mkdir(parents=True, mode=0o700)`` applies the mode to the last folder only; the
parents it makes get ``0777`` less the umask, which is ``0777`` under ``umask 000``
(a state folder anyone can write into). Each missing level is made here with 0700.
Files are opened with an explicit 0600 where they are created.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["make_private_dirs"]


def make_private_dirs(folder: str | os.PathLike[str]) -> None:
    """Create ``folder`` and any missing parent, each 0700 (existing ones are left as
    they are: they are not ours to change)."""
    path = Path(folder)
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(level, 0o700)  # the umask may have taken bits off 0700 (never adds)

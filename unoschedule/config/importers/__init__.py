"""Schedule files written from what a host already runs: a crontab, systemd timers.

Each importer is a pure function of text (``crontab_to_yaml``, ``timers_to_yaml``)
that either translates every line exactly or refuses it with a one-line reason at its
``FILE:LINE``; the functions here add only the reading of files, so that the command
line is one call.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .crontab import crontab_to_yaml, is_system_crontab

__all__ = [
    "crontab_to_yaml",
    "import_crontab_file",
    "is_system_crontab",
    "machine_zone_name",
]


def machine_zone_name() -> str | None:
    """The IANA name of this machine's zone (``TZ``, /etc/timezone, /etc/localtime),
    which cron and systemd read times in; None when no name can be found."""
    name = os.environ.get("TZ", "").lstrip(":")
    if (name and "/" in name) or name == "UTC":
        return name
    try:
        text = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if text:
            return text
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    _, found, zone = target.partition("zoneinfo/")
    return zone if found and zone else None


def import_crontab_file(
    path: str,
    *,
    system: bool | None = None,
    timezone: str | None = None,
    partial: bool = False,
) -> str:
    """``crontab_to_yaml`` of the file at ``path`` (``-``: standard input)."""
    if path == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), path
    return crontab_to_yaml(text, source, system=system, timezone=timezone, partial=partial)

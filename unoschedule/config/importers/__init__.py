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
from .systemd import Unit, parse_unit, timers_to_yaml

__all__ = [
    "crontab_to_yaml",
    "import_crontab_file",
    "import_timer_files",
    "is_system_crontab",
    "machine_zone_name",
    "timers_to_yaml",
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


def import_timer_files(
    paths: list[str], *, timezone: str | None = None, partial: bool = False
) -> str:
    """``timers_to_yaml`` of ``.timer`` files, each with the service it starts (``Unit=``,
    else the ``.service`` of the same name) read from the same folder."""
    units: list[tuple[Unit, Unit | None]] = []
    for path in paths:
        timer = parse_unit(Path(path).read_text(encoding="utf-8"), path)
        named = timer.last("Timer", "Unit")
        service_name = named[1] if named else Path(path).stem + ".service"
        service_path = str(Path(path).with_name(service_name))
        try:
            service = parse_unit(Path(service_path).read_text(encoding="utf-8"), service_path)
        except FileNotFoundError:
            service = None
        units.append((timer, service))
    return timers_to_yaml(units, timezone=timezone, partial=partial)

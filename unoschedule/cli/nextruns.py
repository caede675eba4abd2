"""The options and the output of ``next-runs`` and ``calendar`` (the instants come from
``Scheduler.next_run_times``). Neither typer nor rich is imported here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo

__all__ = ["parse_from", "render"]


def parse_from(text: str | None, zone: tzinfo | None) -> datetime | None:
    """``--from``: an ISO 8601 instant; a naive one is wall time in ``--tz`` (else UTC).

    Raises ``ScheduleSyntaxError`` for text that is not an instant.
    """
    if text is None or text.strip().lower() == "now":
        return None
    from unoschedule.timeutil import parse_instant

    return parse_instant(text, zone or UTC)


def render(instants: list[str], zone: tzinfo | None, as_json: bool) -> str:
    """The output of ``next-runs``: a JSON array of UTC instants (``…Z``, whatever
    ``zone``: SPEC's contract for scripts), or one instant per line, in ``zone``."""
    if as_json:
        return json.dumps(instants, indent=2)
    if zone is not None:
        from unoschedule.timeutil import format_instant, parse_instant

        instants = [
            "/".join(format_instant(parse_instant(part), zone) or "" for part in i.split("/"))
            for i in instants
        ]
    return "\n".join(instants)

"""``next-runs`` from the YAML file, when the state's snapshot of it cannot answer.

Neither typer nor rich is imported here. With no state file (or an explicit ``--from``)
the answer depends on the YAML file alone, so it comes straight from the definition's
timeline, the same call the scheduler makes, without importing the scheduler, asyncio
or sqlite. With a state file (an interval anchored when the state first saw it) the
scheduler answers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from pathlib import Path

__all__ = ["next_run_times", "parse_from", "render"]


def parse_from(text: str | None, zone: tzinfo | None) -> datetime | None:
    """``--from``: an ISO 8601 instant; a naive one is wall time in ``--tz`` (else UTC).

    Raises ``ScheduleSyntaxError`` for text that is not an instant.
    """
    if text is None or text.strip().lower() == "now":
        return None
    from unoschedule.timeutil import parse_instant

    return parse_instant(text, zone or UTC)


def next_run_times(
    config_path: str | Path,
    state: str | None,
    name: str,
    count: int,
    after: datetime | None,
) -> list[str]:
    """The next ``count`` fire instants of ``name`` after ``after`` (None: now), ISO Z."""
    from unoschedule.config import load_config
    from unoschedule.view import file_stamp, record_snapshot

    stamp = file_stamp(config_path)  # before the file is read: see record_snapshot
    config = load_config(config_path)
    definition = config.schedules.get(name)
    remote = config.store_url(state) is not None
    # From the file alone unless the state knows more (an interval's first-seen anchor,
    # a pause): a state file that exists, or a remote store.
    if definition is not None and (
        after is not None or (not remote and not config.state_path(state).exists())
    ):
        timeline = definition.timeline()
        start = after or datetime.now(UTC)
        return [occurrence.text() for occurrence in timeline.upcoming(start, count)]

    import asyncio

    from unoschedule.scheduler import Scheduler

    scheduler = Scheduler.from_config(config, state=state, create_state=False)
    try:
        instants = asyncio.run(scheduler.get_next_run_times(name, count=count, after=after))
        record_snapshot(scheduler.store, config, stamp)  # the next command need not read it
        return instants
    finally:
        scheduler.close()


def render(instants: list[str], zone: tzinfo | None, as_json: bool) -> str:
    """The output of ``next-runs``: a JSON array, or one instant per line."""
    if zone is not None:
        from unoschedule.timeutil import format_instant, parse_instant

        instants = [
            "/".join(format_instant(parse_instant(part), zone) or "" for part in i.split("/"))
            for i in instants
        ]
    if as_json:
        return json.dumps(instants, indent=2)
    return "\n".join(instants)

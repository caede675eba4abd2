"""Everything the command line prints: plain JSON for scripts, rich tables for people.

rich is imported only here and only when a human-readable table is drawn, so that the
``--json`` paths never pay for it. Colours follow rich's terminal detection: none when
stdout is not a terminal, none with ``NO_COLOR`` set.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "RESULT_STYLES",
    "console",
    "err",
    "esc",
    "kv_table",
    "print_json",
    "styled_result",
    "table",
    "when",
]

RESULT_STYLES = {
    "success": "green",
    "error": "red",
    "timeout": "red",
    "interrupted": "red",
    "missed": "yellow",
    "skipped": "yellow",
    "running": "cyan",
    "queued": "cyan",
    "active": "green",
    "paused": "yellow",
    "completed": "dim",
    "disabled": "dim",
    "removed": "dim",
}


def print_json(data: Any) -> None:
    """JSON for scripts: no rich, no colour, one document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def err(message: str) -> None:
    """A plain line on stderr (errors, notes that must not pollute stdout)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); colour only on a terminal, never with NO_COLOR."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[str | None]], *, title: str | None = None
) -> Table:
    """A table of rich-markup cells (escape user text with ``esc``); None prints a dim dash."""
    from rich.table import Table

    out = Table(title=title, header_style="bold", show_lines=False, expand=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("[dim]-[/dim]" if cell is None else cell for cell in row))
    return out


def esc(value: Any) -> str:
    """User text made safe for rich markup."""
    from rich.markup import escape

    return escape("" if value is None else str(value))


def kv_table(data: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A two-column key/value table (status, stats)."""
    from rich.table import Table

    out = Table(title=title, show_header=False, box=None, pad_edge=False)
    out.add_column("key", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in data.items():
        out.add_row(
            key.replace("_", " "),
            styled_result(value)
            if key in ("status", "last_result", "result")
            else _format_value(value),
        )
    return out


def _format_value(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "[dim]-[/dim]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value)) or "[dim]-[/dim]"
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False)) if value else "[dim]-[/dim]"
    return escape(str(value))


def styled_result(value: Any) -> str:
    """A result or status word in its colour (rich markup)."""
    if value is None:
        return "[dim]-[/dim]"
    style = RESULT_STYLES.get(str(value))
    return f"[{style}]{value}[/{style}]" if style else str(value)


def when(
    instant: str | None,
    zone: tzinfo | None = None,
    now: datetime | None = None,
    *,
    ago: bool = True,
) -> str:
    """An ISO instant for people: ``2026-03-28 01:30 UTC (in 3h 5m)``, in ``zone`` if given."""
    if not instant:
        return "-"
    try:
        moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    local = moment.astimezone(zone or UTC)
    fmt = "%Y-%m-%d %H:%M:%S" if local.second or local.microsecond else "%Y-%m-%d %H:%M"
    text = f"{local.strftime(fmt)} {local.tzname() or ''}".rstrip()
    if not ago:
        return text
    now = now or datetime.now(UTC)
    seconds = int((moment - now).total_seconds())
    ahead = seconds >= 0
    seconds = abs(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and len(parts) < 2:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if not parts:
        parts.append(f"{seconds}s")
    span = " ".join(parts)
    return f"{text} ({'in ' + span if ahead else span + ' ago'})"

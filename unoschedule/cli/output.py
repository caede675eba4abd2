"""Everything the command line prints: JSON for scripts, plain rows for pipes, rich tables
for people.

Three forms, chosen once per command:

- ``--json``: one JSON document on stdout, instants in UTC.
- plain (``--plain``, or stdout is not a terminal): a header line, then one row per line,
  cells separated by tabs, no colour, no wrapping, whatever the width; what ``grep``,
  ``cut -f`` and ``awk -F'\\t'`` expect, like ``kubectl get`` or ``systemctl list-timers
  --no-pager``.
- a terminal: rich tables with colour (none with ``NO_COLOR``, which rich honours).

rich is imported only for the last form: piped and JSON output never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from ..timeutil import format_elapsed
from .fitting import Column, columns_of, fit, shorten

__all__ = [
    "RESULT_STYLES",
    "Column",
    "duration",
    "echo",
    "err",
    "instants_in",
    "is_plain",
    "is_wide",
    "kv",
    "print_json",
    "rate",
    "reader_gone",
    "set_plain",
    "since",
    "table",
    "until",
    "when",
    "when_range",
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

_plain: bool | None = None


def set_plain(value: bool) -> None:
    """``--plain`` given (True), or leave the choice to the terminal test (False)."""
    global _plain
    _plain = True if value else None


def is_plain() -> bool:
    """Plain rows: asked for, or stdout is not a terminal (a pipe, a file, a test runner)."""
    if _plain is not None:
        return _plain
    try:
        return not sys.stdout.isatty()
    except (AttributeError, ValueError):
        return True


def is_wide(form: str | None) -> bool:
    """``-o wide``: every column of a table, in full; None (the default): what fits."""
    if form is None:
        return False
    if form.strip().lower() == "wide":
        return True
    from unoschedule.errors import UsageError

    raise UsageError(f"{form!r} is not an output format (wide)", param_hint="'-o' / '--output'")


def print_json(data: Any) -> None:
    """JSON for scripts: no rich, no colour, one document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def echo(message: str) -> None:
    """One message line on stdout, as typer's ``echo`` writes it: piped, without the
    terminal's escape sequences (colour codes) a value might carry."""
    if "\033" in message and not _isatty():
        import re

        message = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", message)
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def reader_gone() -> None:
    """The reader of stdout went away (``uno-schedule list | head``): nothing more goes
    there, and the interpreter's last flush does not print "Broken pipe" at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def err(message: str) -> None:
    """A plain line on stderr (errors, notes that must not pollute stdout). On a
    terminal narrower than the line it goes on at a space, indented, so that the
    terminal does not break a word; otherwise it stays one line, for grep and editors."""
    width = _stderr_columns()
    if width is not None and any(len(line) > width for line in message.splitlines()):
        import textwrap

        message = "\n".join(
            "\n".join(
                textwrap.wrap(
                    line, width, subsequent_indent="  ", break_long_words=False,
                    break_on_hyphens=False,
                ) or [""]
            )
            for line in message.split("\n")
        )  # fmt: skip
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _stderr_columns() -> int | None:
    """The width of the terminal stderr writes to (None: not a terminal)."""
    try:
        if not sys.stderr.isatty():
            return None
        return os.get_terminal_size(sys.stderr.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        return None


def _cell(value: Any) -> str:
    """One plain cell: never empty (a dash), never a tab or a line break inside."""
    if value is None or value == "":
        return "-"
    return " ".join(str(value).replace("\t", " ").split()) or "-"


def table(
    columns: Sequence[str | Column],
    rows: Iterable[Sequence[Any]],
    *,
    styled: Sequence[str] = (),
    title: str | None = None,
    wide: bool = False,
) -> None:
    """Print a table: plain rows when piped (every column), else rich, fitted to the
    terminal (``fitting.fit``; ``wide``: every column in full); ``styled`` columns hold
    result or status words shown in their colour."""
    rows = [list(r) for r in rows]
    if is_plain():
        lines = ["\t".join(c if isinstance(c, str) else c.name for c in columns)]
        lines.extend("\t".join(_cell(c) for c in row) for row in rows)
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return
    con = _console(wide=wide)
    con.print(
        rich_table(columns, rows, styled=styled, title=title, width=None if wide else con.width)
    )


def rich_table(
    columns: Sequence[str | Column],
    rows: Iterable[Sequence[Any]],
    *,
    styled: Sequence[str] = (),
    title: str | None = None,
    width: int | None = None,
) -> Any:
    """The rich ``Table`` that ``table`` prints on a terminal (``top`` draws several):
    the columns that fit ``width`` (None: all), one line a row, no word cut."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    specs = columns_of(columns, styled)
    texts = [[_one_line(cell) for cell in row] for row in rows]
    kept, widths = fit(specs, texts, width)
    out = Table(
        title=title,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=False,
    )
    for i, w in zip(kept, widths, strict=True):
        out.add_column(specs[i].name, no_wrap=True, overflow="ellipsis", min_width=w, max_width=w)
    for row in texts:
        out.add_row(
            *(
                "[dim]-[/dim]"
                if row[i] == ""
                else _styled(shorten(row[i], w))
                if specs[i].styled
                else escape(shorten(row[i], w))
                for i, w in zip(kept, widths, strict=True)
            )
        )
    return out


def _one_line(value: Any) -> str:
    """A cell's text on one line (blank for None)."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def kv(data: Mapping[str, Any], *, styled: Sequence[str] = ("status", "last result")) -> None:
    """Print a record as key and value: ``field<TAB>value`` lines when piped."""
    if is_plain():
        lines = ["field\tvalue"]
        lines.extend(f"{_cell(k)}\t{_cell(_text(v))}" for k, v in data.items())
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return
    from rich.markup import escape
    from rich.table import Table

    out = Table(show_header=False, box=None, pad_edge=False)
    out.add_column("key", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in data.items():
        text = _text(value)
        out.add_row(
            escape(key),
            "[dim]-[/dim]" if text == "" else _styled(text) if key in styled else escape(text),
        )
    _console().print(out)


def lines(text_lines: Iterable[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in text_lines))
    sys.stdout.flush()


#: The width a plain console draws at: wider than any line, so nothing wraps.
_UNWRAPPED = 1 << 20


def _console(*, wide: bool = False) -> Any:
    from rich.console import Console

    if is_plain() or wide:
        # piped or --plain: no colour and no wrapping, whatever the width (a line is a
        # line for grep); the drawings that are not tables (plan, calendar) included.
        # -o wide on a terminal: every column in full, lines as long as they are.
        return Console(
            highlight=False, soft_wrap=True, no_color=is_plain() or None, width=_UNWRAPPED
        )
    return Console(highlight=False, soft_wrap=False)


def console(*, wide: bool = False) -> Any:
    """A rich console on stdout for the drawings that are not one table (plan, calendar,
    top); ``wide``: lines as long as they are."""
    return _console(wide=wide)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)


def _styled(value: Any) -> str:
    from rich.markup import escape

    style = RESULT_STYLES.get(str(value))
    text = escape(str(value))
    return f"[{style}]{text}[/{style}]" if style else text


# -- units ---------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``12 ms``, ``1.5 s``, ``4m 10s``: ``timeutil.format_elapsed``, blank for None."""
    return "" if seconds is None else format_elapsed(seconds)


def rate(value: float | None) -> str:
    """A fraction as a percentage: ``38.5 %``."""
    return "" if value is None else f"{value * 100:.1f} %"


def when(
    instant: str | None,
    zone: tzinfo | None = None,
    now: datetime | None = None,
    *,
    ago: bool = True,
) -> str:
    """An ISO instant for people: ``2026-03-28 01:30 CET (in 3h 5m)``, in ``zone`` (UTC)."""
    if not instant:
        return ""
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
    seconds = (moment - now).total_seconds()
    span = _span(abs(seconds))
    return f"{text} ({'in ' + span if seconds >= 0 else span + ' ago'})"


def when_range(first: str | None, last: str | None, zone: tzinfo | None = None) -> str:
    """Two instants as one span: ``2026-12-02 00:00 - 23:55 CET`` (the date once when
    both fall on the same day, the year once in the same year: ``2026-12-01 16:40 -
    12-02 16:35 GMT``; ``when`` for one instant)."""
    if not first or first == last or not last:
        return when(first, zone, ago=False)
    start, end = _moment(first), _moment(last)
    if start is None or end is None:
        return f"{first} - {last}"
    a, b = start.astimezone(zone or UTC), end.astimezone(zone or UTC)
    seconds = any(m.second or m.microsecond for m in (a, b))
    clock = "%H:%M:%S" if seconds else "%H:%M"
    head = a.strftime(f"%Y-%m-%d {clock}")
    if a.tzname() != b.tzname():
        head += f" {a.tzname() or ''}".rstrip()
    day = "" if a.date() == b.date() else "%m-%d " if a.year == b.year else "%Y-%m-%d "
    tail = b.strftime(day + clock)
    return f"{head} - {tail} {b.tzname() or ''}".rstrip()


_ISO_INSTANT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})"


def instants_in(text: str | None, zone: tzinfo | None = None) -> str:
    """``text`` with each ISO 8601 instant in it written as ``when`` writes one (in
    ``zone``, no microseconds): library messages carry UTC instants for scripts."""
    if not text:
        return ""
    import re

    return re.sub(_ISO_INSTANT, lambda m: when(m.group(0), zone, ago=False), text)


def _moment(instant: str | None) -> datetime | None:
    if not instant:
        return None
    try:
        return datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return None


def until(instant: str | None, now: datetime) -> str:
    """How long until ``instant``: ``3h 5m``, ``41s`` (blank when it is past or unknown)."""
    moment = _moment(instant)
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    return "" if seconds < 0 else _span(seconds)


def since(instant: str | None, now: datetime) -> str:
    """How long ago ``instant`` was: ``4m 10s ago``; blank when unknown."""
    moment = _moment(instant)
    if moment is None:
        return ""
    return f"{_span(max(0.0, (now - moment).total_seconds()))} ago"


def _span(seconds: float) -> str:
    return duration(seconds) if seconds >= 60 else f"{int(seconds)}s"


def local_zone() -> tzinfo:
    """This machine's zone (``--tz local``), from ``TZ`` or /etc/localtime."""
    name = os.environ.get("TZ")
    if name:
        from unoschedule.timeutil import get_zone

        try:
            return get_zone(name.lstrip(":"))
        except Exception:  # an unknown TZ: fall back to what the C library says
            pass
    return datetime.now().astimezone().tzinfo or UTC

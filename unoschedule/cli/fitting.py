"""Which columns of a table a terminal shows, and how wide: the one place that decides it
for every table the command line draws (``output.table``, ``output.kv``, ``top``).

A row is one line and no cell is cut inside a word, as ``kubectl get`` does it: each
column has a priority (``drop``: 0 is always shown, a higher number goes first when the
terminal is too narrow); prose columns (descriptions, errors) are first shortened at a
word boundary, with an ellipsis, down to a few words. ``-o wide`` shows every column in
full. Pure: no rich, no terminal; the width is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["GAP", "Column", "fit", "fit_line", "shorten"]

#: What separates two columns on a terminal (a space, the padding either side).
GAP = 3

#: A shortened prose cell keeps at least this many characters.
_PROSE_MIN = 16


@dataclass(frozen=True)
class Column:
    """A table column: its header, how soon it is dropped on a narrow terminal (0:
    never; higher first), whether its text may be shortened at a word boundary
    (``shorten``: prose) and whether its words are coloured as results (``styled``)."""

    name: str
    drop: int = 0
    shorten: bool = False
    styled: bool = False


def columns_of(columns: Sequence[str | Column], styled: Sequence[str] = ()) -> list[Column]:
    """Plain header names as columns that are always shown."""
    return [c if isinstance(c, Column) else Column(c, styled=c in styled) for c in columns]


#: The date and time of an instant as the command line writes one (``2026-12-02
#: 16:37``): ``shorten`` never keeps the date without the time (it may drop the zone).
_INSTANT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")

#: A closing aside in parentheses, which goes whole before the words ahead of it.
_ASIDE = re.compile(r"\s*\([^()]*\)$")


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut after a whole word with ``…``: a
    closing ``(aside)`` goes first, and an instant's date never stays without its time;
    a first word longer than ``width`` is the one thing cut inside."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    aside = _ASIDE.search(text)
    if aside is not None and aside.start() > 0 and aside.start() + 1 <= width:
        return text[: aside.start()].rstrip(" ,;:") + "…"
    inside = [range(m.start() + 1, m.end()) for m in _INSTANT.finditer(text)]
    space = next(
        (i for i in range(width - 1, 0, -1) if text[i] == " " and not any(i in r for r in inside)),
        -1,
    )
    cut = text[:space] if space > 0 else text[: width - 1]
    return cut.rstrip(" ,;:") + "…"


def fit_line(parts: Sequence[tuple[str, int]], width: int | None, sep: str = "  ") -> list[int]:
    """The indexes of the ``(text, drop)`` parts of a one-line header that fit ``width``
    when joined by ``sep``: as ``fit`` does for columns, the highest ``drop`` goes first
    (the rightmost among equals) and ``drop`` 0 always stays."""
    kept = list(range(len(parts)))
    if width is None:
        return kept

    def length() -> int:
        return sum(len(parts[i][0]) for i in kept) + len(sep) * (len(kept) - 1)

    while length() > width:
        droppable = [i for i in kept if parts[i][1] > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (parts[i][1], i)))
    return kept


def fit(
    columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int | None
) -> tuple[list[int], list[int]]:
    """The indexes of the columns shown and the width of each, so that a row of
    ``cells`` (already text) fits ``width`` characters (None: every column, in full).

    A droppable column with every cell blank goes first; prose columns shrink (to
    ``_PROSE_MIN`` or their header); then the column with
    the highest ``drop`` goes (the rightmost among equals), until the rest fits and no
    shortened prose is more needed than a column still shown; a
    column dropped on the way that fits in the room left comes back (the most needed
    first) unless it would narrow the prose of a more needed column, and prose grows
    into what remains. Columns with ``drop`` 0 always stay: when
    they alone are wider than the terminal, their prose is shortened further, the rest
    stays whole.
    """
    natural = [max([len(c.name), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    kept = list(range(len(columns)))
    if width is None:
        return kept, natural

    def tight() -> bool:
        now = _widths(columns, natural, kept, width)
        return now is None or _cut_prose_needs(columns, natural, kept, now)

    first = _widths(columns, natural, kept, width)
    if first is None or first != [natural[i] for i in kept]:
        # short of room: a column with nothing in it (every cell "-") goes first
        kept = [i for i in kept if columns[i].drop == 0 or any(row[i] for row in cells)]
    dropped: list[int] = []
    while tight():
        droppable = [i for i in kept if columns[i].drop > 0]
        if not droppable:
            return kept, _squeezed(columns, natural, kept, width)
        gone = max(droppable, key=lambda i: (columns[i].drop, i))
        kept.remove(gone)
        dropped.append(gone)
    # a column dropped early may fit beside the room a wider one left (most needed
    # first), as long as it takes no room from the prose of a column more needed
    widths = _widths(columns, natural, kept, width)
    assert widths is not None
    for i in sorted(dropped, key=lambda i: (columns[i].drop, i)):
        tried = sorted([*kept, i])
        more = _widths(columns, natural, tried, width)
        if more is None:
            continue
        had, got = dict(zip(kept, widths, strict=True)), dict(zip(tried, more, strict=True))
        if all(
            got[j] >= had[j]
            for j in kept
            if columns[j].shorten and columns[j].drop < columns[i].drop
        ):
            kept, widths = tried, more
    return kept, widths


def _cut_prose_needs(
    columns: Sequence[Column], natural: list[int], kept: list[int], widths: list[int]
) -> bool:
    """Whether a shortened prose column is more needed than a column still shown (that
    one goes first; it comes back after if it fits beside the whole prose)."""
    cut = [i for i, w in zip(kept, widths, strict=True) if columns[i].shorten and w < natural[i]]
    return any(columns[j].drop > columns[i].drop for i in cut for j in kept)


def _widths(
    columns: Sequence[Column], natural: list[int], kept: list[int], width: int
) -> list[int] | None:
    """Widths of ``kept`` within ``width``, prose shortened to no less than its least;
    None when that is not enough."""
    room = width - GAP * (len(kept) - 1) - sum(natural[i] for i in kept if not columns[i].shorten)
    prose = [i for i in kept if columns[i].shorten]
    least = {i: min(natural[i], max(len(columns[i].name), _PROSE_MIN)) for i in prose}
    if room < sum(least.values()):
        return None
    return _share(columns, natural, kept, prose, least, room)


def _squeezed(
    columns: Sequence[Column], natural: list[int], kept: list[int], width: int
) -> list[int]:
    """Only columns that always stay are left and they are too wide: prose gets what
    room is left (at least its header), the others keep their width."""
    room = width - GAP * (len(kept) - 1) - sum(natural[i] for i in kept if not columns[i].shorten)
    prose = [i for i in kept if columns[i].shorten]
    least = {i: min(natural[i], len(columns[i].name)) for i in prose}
    return _share(columns, natural, kept, prose, least, max(room, sum(least.values())))


def _share(
    columns: Sequence[Column],
    natural: list[int],
    kept: list[int],
    prose: list[int],
    least: dict[int, int],
    room: int,
) -> list[int]:
    """Share ``room`` among the prose columns: each its least, then the rest in turn,
    none beyond its natural width."""
    given = dict(least)
    spare = room - sum(given.values())
    growing = [i for i in prose if given[i] < natural[i]]
    while spare > 0 and growing:
        share = max(1, spare // len(growing))
        for i in list(growing):
            step = min(share, natural[i] - given[i], spare)
            given[i] += step
            spare -= step
            if given[i] >= natural[i]:
                growing.remove(i)
            if spare <= 0:
                break
    return [given[i] if columns[i].shorten else natural[i] for i in kept]

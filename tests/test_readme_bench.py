"""Every row of the README's performance tables names rows that `make bench` prints.

A row's first column (``bench``) lists ``module.key`` names; each benchmark module that
``bench/run.py`` runs declares the keys of its rows in ``ROWS``. The modules are imported,
not run: their ``run()`` is what takes minutes.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BENCH = ROOT / "bench"
NAME = re.compile(r"`([^`]+)`")


def _declared() -> set[str]:
    """``module.key`` of every row the benchmarks of ``make bench`` declare."""
    sys.path.insert(0, str(BENCH))
    try:
        run = importlib.import_module("run")
        return {
            f"{name}.{key}" for name in run.BENCHMARKS for key in importlib.import_module(name).ROWS
        }
    finally:
        sys.path.remove(str(BENCH))


def _performance_section(text: str) -> str:
    start = text.index("\n## Performance\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _tables(section: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(header cells, rows of cells) of each markdown table of the section."""
    block: list[str] = []
    for line in [*section.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in block]
            yield cells[0], cells[2:]
        block = []


def _rows() -> list[tuple[str, list[str]]]:
    """(the row's text, the names in its bench column) of every performance table row."""
    out = []
    for header, rows in _tables(_performance_section(README.read_text())):
        assert header[0] == "bench", f"a performance table without a bench column: {header}"
        out += [(" | ".join(row[1:2]), NAME.findall(row[0])) for row in rows]
    return out


def test_the_readme_has_performance_tables_with_rows() -> None:
    assert len(_rows()) >= 20


@pytest.mark.parametrize("row,names", _rows(), ids=lambda value: str(value)[:40])
def test_each_performance_row_names_rows_make_bench_prints(row: str, names: list[str]) -> None:
    assert names, f"the row {row!r} names no benchmark"
    unknown = [name for name in names if name not in _DECLARED]
    assert not unknown, f"the row {row!r} names rows make bench does not print: {unknown}"


def test_the_bench_row_keys_are_unique_within_a_module() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        run = importlib.import_module("run")
        for name in run.BENCHMARKS:
            rows = importlib.import_module(name).ROWS
            assert len(rows) == len(set(rows)), name
    finally:
        sys.path.remove(str(BENCH))


_DECLARED = _declared()

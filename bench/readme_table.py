"""Fill the README's performance tables from one saved ``make bench`` run.

    .venv/bin/python bench/run.py | tee /tmp/bench.out      # make bench, kept
    .venv/bin/python bench/readme_table.py /tmp/bench.out   # README.md, docs/benchmarks.md

The README's tables name, in their first column, the rows of the run each of their rows
comes from (``module.key``). This writes each such row's value cells from those rows (in
the order named, split evenly over the value cells, ``missed`` added when a named row
missed its goal), puts the run's date, commit, machine and load above the tables, and
writes the whole run's table, every row as printed, to ``docs/benchmarks.md``. A row that
names a key the run did not print is an error: no figure is kept from an older run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FULL = ROOT / "docs" / "benchmarks.md"
NAME = re.compile(r"`([^`]+)`")
#: The README paragraph that says which run the tables come from (rewritten each time).
RUN_START = "<!-- bench-run -->"
RUN_END = "<!-- /bench-run -->"


def parse_run(text: str) -> tuple[list[str], dict[str, tuple[str, str]], str]:
    """(header lines, key -> (value with unit, verdict), the markdown table) of a run."""
    lines = text.splitlines()
    header = [
        line
        for line in lines
        if line.startswith(("date:", "commit:", "machine:", "load average", "uno-schedule bench"))
    ]
    start = next(i for i, line in enumerate(lines) if line.startswith("| bench |"))
    table = []
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        names = NAME.findall(cells[0])
        if len(names) == 1 and len(cells) >= 5:
            rows[names[0]] = (cells[2], cells[4])
    return header, rows, "\n".join(table)


def _value_columns(header: list[str]) -> list[int]:
    return [
        i for i, cell in enumerate(header) if i > 1 and not cell.startswith(("goal", "verdict"))
    ]


def fill(readme: str, rows: dict[str, tuple[str, str]], run: list[str]) -> str:
    """The README with every performance table row's values taken from ``rows``."""
    start = readme.index("\n## Performance\n")
    end = readme.find("\n## ", start + 1)
    end = len(readme) if end == -1 else end
    section = readme[start:end].splitlines()
    header: list[str] = []
    missing: list[str] = []
    for number, line in enumerate(section):
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = cells
            continue
        names = NAME.findall(cells[0])
        if not names or set(cells[0]) <= {"-", " "}:
            continue
        columns = _value_columns(header)
        per = max(1, len(names) // len(columns))
        for index, column in enumerate(columns):
            chosen = names[index * per : (index + 1) * per]
            known = [rows[name] for name in chosen if name in rows]
            missing += [name for name in chosen if name not in rows]
            text = " / ".join(value for value, _ in known)
            if any(verdict == "FAIL" for _, verdict in known):
                text += " (missed)"
            cells[column] = text or "(not run)"
        section[number] = "| " + " | ".join(cells) + " |"
    if missing:
        raise SystemExit(f"the run printed no row {', '.join(missing)}: run the whole bench")
    text = "\n".join(section)
    block = (
        RUN_START
        + "\n"
        + "The tables below are one `make bench` run:\n\n"
        + "\n".join(f"- {line}" for line in run if not line.startswith("uno-schedule bench"))
        + "\n\nEvery row of that run, as printed: [docs/benchmarks.md](docs/benchmarks.md).\n"
        + (RUN_END)
    )
    text = re.sub(
        re.escape(RUN_START) + ".*?" + re.escape(RUN_END), lambda _: block, text, flags=re.S
    )
    return readme[:start] + text + readme[end:]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    try:
        saved = Path(argv[0]).read_text()
    except OSError as exc:
        print(f"readme_table: cannot read the saved run: {exc}", file=sys.stderr)
        return 2
    run, rows, table = parse_run(saved)
    README.write_text(fill(README.read_text(), rows, run))
    FULL.write_text(
        "# Benchmarks: one whole `make bench` run\n\n"
        "Written by `bench/readme_table.py` from the run the README's tables come from.\n\n"
        + "\n".join(f"- {line}" for line in run)
        + "\n\n"
        + table
        + "\n"
    )
    print(f"README.md: {len(rows)} rows read; {FULL.relative_to(ROOT)} written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

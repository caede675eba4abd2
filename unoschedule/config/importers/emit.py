"""The YAML text of an imported schedule file: the importers' only use of PyYAML.

Written by hand around ``yaml.safe_dump`` of each value, because the notes an importer
owes its reader (what ``MAILTO`` became, why a line was left out) are comments, which
PyYAML cannot write; every value itself is dumped by PyYAML, so its quoting is right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ...errors import ImportRefusedError
from .job import ImportedJob, unique_names

__all__ = ["render"]


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (a script with its input) as ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = all(isinstance(v, str | int | float | bool) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(list, _list)


def _block(mapping: dict[str, Any], indent: int) -> list[str]:
    text = yaml.dump(
        mapping,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,
    )
    pad = " " * indent
    return [pad + line if line else line for line in text.rstrip("\n").split("\n")]


def _comment(text: str, indent: int = 0) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {line}".rstrip() for line in text.split("\n")]


def render(
    jobs: Sequence[ImportedJob],
    *,
    header: Sequence[str],
    scheduler: dict[str, Any] | None = None,
    scheduler_notes: Sequence[str] = (),
    refused: Sequence[ImportRefusedError] = (),
) -> str:
    """The whole file: header comments, ``scheduler:``, then ``schedules:`` by name."""
    out: list[str] = []
    for line in header:
        out += _comment(line)
    if refused:
        out.append("#")
        out += _comment("Not imported (each line has no exact equivalent):")
        for error in refused:
            out += _comment(f"  {error}")
    if scheduler:
        out.append("")
        for note in scheduler_notes:
            out += _comment(note)
        out += _block({"scheduler": scheduler}, 0)
    out += ["", "schedules:" if jobs else "schedules: {}"]
    names = unique_names([job.name_hint for job in jobs])
    for name, job in zip(names, jobs, strict=True):
        for note in job.notes:
            out += _comment(note, 2)
        out += _block({name: job.to_config()}, 2)
    return "\n".join(out) + "\n"

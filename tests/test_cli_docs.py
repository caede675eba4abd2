"""Every command is documented: help text, an Examples section, and a README mention."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from unoschedule.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
SPEC_COMMANDS = {
    "run", "validate", "plan", "list", "status", "next-runs", "history", "stats",
    "pause", "resume", "trigger", "event", "schema", "calendar",
}  # fmt: skip


def _commands() -> dict[str, typer.core.TyperCommand]:
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


COMMANDS = sorted(_commands())


def test_every_spec_command_exists() -> None:
    assert set(COMMANDS) >= SPEC_COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_and_examples(name: str) -> None:
    command = _commands()[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output, f"{name} --help has no Examples section"
    assert f"uno-schedule {name}" in result.output, f"{name} examples do not show the command"


def test_top_level_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Examples" in result.output
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_readme(name: str) -> None:
    text = README.read_text() if README.exists() else ""
    assert re.search(rf"`uno-schedule[^`]*\b{re.escape(name)}\b", text), (
        f"README.md does not mention `uno-schedule {name}`"
    )

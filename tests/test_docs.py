"""The reference pages in docs/ are generated, and current: a change of a key, an option
or a library call without ``make docs`` fails here."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from unoschedule import Scheduler
from unoschedule.cli import docsgen
from unoschedule.config.fields import _SCHEDULE_CONVERTERS, _SCHEDULER_CONVERTERS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(docsgen.PAGES))
def test_each_reference_page_is_generated_and_current(name: str) -> None:
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == docsgen.PAGES[name](), f"docs/{name} is stale: run `make docs`"


def test_the_command_table_of_the_fast_path_is_generated_and_current() -> None:
    committed = docsgen.TABLE.read_text(encoding="utf-8")
    assert committed == docsgen.command_table(), "commands.json is stale: run `make docs`"


def test_the_yaml_reference_has_every_key_with_its_type_default_and_description() -> None:
    text = docsgen.yaml_reference()
    for table in (_SCHEDULER_CONVERTERS, _SCHEDULE_CONVERTERS):
        for key, convert in table.items():
            assert f"| `{key}` |" in text, key
            assert convert.description.split("(")[0].strip() in text, key
    assert '| `keep_for` | [duration](#duration) | `"90d"` |' in text
    assert "| `max_retries` | integer ≥ 0 | `0` |" in text
    assert '| `priority` | one of `high`, `normal`, `low` | `"normal"` |' in text
    for kind in ("cron", "every", "at", "daily", "weekly", "monthly", "event"):
        assert f"| `{kind}` |" in text


def test_the_cli_reference_has_every_command_its_options_and_examples() -> None:
    import typer.main

    from unoschedule.cli import app

    text = docsgen.cli_reference()
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"\n## uno-schedule {name}\n" in text, name
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert f"`{param.opts[0]}`" in text, (name, param.opts)
    section = text.split("\n## uno-schedule list\n", 1)[1].split("\n## ", 1)[0]
    assert "```sh\nuno-schedule list\nuno-schedule list --status paused\n" in section
    assert "`UNO_SCHEDULE_CONFIG`" in text


def test_the_library_reference_has_every_public_scheduler_method_with_its_signature() -> None:
    text = docsgen.library_reference()
    for name, member in vars(Scheduler).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        prefix = "async def" if inspect.iscoroutinefunction(member) else "def"
        assert f"#### `Scheduler.{name}`\n" in text, name
        assert f"{prefix} {name}(self" in text, name
    for name in ("CronSchedule", "SQLiteStorage", "RedisStorage", "ConfigError", "StateError"):
        assert f"### `{name}`" in text
    assert " at 0x" not in text


def test_docsgen_reports_stale_pages_and_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = {"a.md": lambda: "one\n", "b.md": lambda: "two\n"}
    monkeypatch.setattr(docsgen, "PAGES", pages)
    monkeypatch.setattr(docsgen, "DOCS", tmp_path / "docs")
    assert docsgen.main([]) == 1
    assert "stale: a.md, b.md (run `make docs`)" in capsys.readouterr().err
    assert docsgen.main(["--write"]) == 0
    assert (tmp_path / "docs" / "b.md").read_text() == "two\n"
    assert docsgen.main([]) == 0
    (tmp_path / "docs" / "a.md").write_text("edited by hand\n")
    assert docsgen.main([]) == 1

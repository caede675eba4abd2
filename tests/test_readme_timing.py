"""The README's examples of jitter, calendars, blackout windows, overlap policies,
concurrency groups, chains and notifications run as written."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from unoschedule.config import parse_config

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = (
    "### Jitter",
    "### Calendars",
    "### Blackout windows",
    "### Overlap policies",
    "### Concurrency groups",
)


def _example(heading: str) -> str:
    text = README.read_text()
    start = text.index(heading + "\n")
    match = re.search(r"```yaml\n(.*?)```", text[start:], re.S)
    assert match is not None, f"no YAML example under {heading}"
    return match.group(1)


@pytest.mark.parametrize("heading", SECTIONS)
def test_the_readme_example_validates_and_every_schedule_has_runs(heading: str) -> None:
    config = parse_config(_example(heading), f"README.md {heading}")
    assert config.schedules
    after = datetime(2026, 12, 1, tzinfo=UTC)
    for name, definition in config.schedules.items():
        assert definition.timeline().take(after, 3), name


def test_the_readme_payroll_runs_on_the_last_business_day() -> None:
    config = parse_config(_example("### Calendars"))
    runs = config.schedules["payroll"].timeline().take(datetime(2027, 1, 1, tzinfo=UTC), 3)
    assert [r.date() for r in runs] == [date(2027, 1, 29), date(2027, 2, 26), date(2027, 3, 31)]


def test_the_readme_overlap_and_group_examples_mean_what_they_say() -> None:
    policies = parse_config(_example("### Overlap policies")).schedules
    assert {name: d.overlap for name, d in policies.items()} == {
        "sync-inventory": "skip",
        "rebuild-index": "buffer_one",
        "apply-events": "buffer_all",
        "refresh-cache": "cancel_other",
    }
    config = parse_config(_example("### Concurrency groups"))
    assert config.options.groups == {"warehouse": 2}
    assert {d.concurrency_group for d in config.schedules.values()} == {"warehouse"}


@pytest.mark.parametrize("heading", ["### Chains", "### Notifications"])
def test_the_readme_examples_of_what_follows_a_run_validate(heading: str) -> None:
    config = parse_config(_example(heading), f"README.md {heading}")
    assert config.schedules


def test_the_readme_chain_runs_load_after_extract_and_alerts_after_load_fails() -> None:
    schedules = parse_config(_example("### Chains")).schedules
    assert schedules["load"].after is not None and schedules["load"].after.schedule == "extract"
    alert = schedules["alert-on-load-failure"].after
    assert alert is not None and (alert.schedule, alert.on) == ("load", "failure")


def test_the_readme_notify_applies_the_files_targets_unless_a_schedule_has_its_own() -> None:
    schedules = parse_config(_example("### Notifications")).schedules
    backup, reports = schedules["backup"].notify, schedules["reports"].notify
    assert backup is not None and backup.events == ("failure", "recovery", "overdue", "paused")
    assert reports is not None and reports.targets_file == "/etc/uno-schedule/notify-targets"

"""The shipped ``schedules.example.yaml``: valid, complete, and runnable on any Linux box."""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from unoschedule.config import load_config
from unoschedule.config.schema import SCHEMA_FILE, json_schema

EXAMPLE = Path(__file__).resolve().parent.parent / "schedules.example.yaml"
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_the_example_file_loads_without_errors() -> None:
    config = load_config(EXAMPLE)
    assert config.schedules
    assert config.path == EXAMPLE


def test_the_example_file_has_every_schedule_type() -> None:
    kinds = {job.type for job in load_config(EXAMPLE).schedules.values()}
    assert kinds == {"cron", "interval", "once", "daily", "weekly", "monthly", "event"}


def test_the_example_file_shows_templates_zones_tags_metadata_and_an_event() -> None:
    config = load_config(EXAMPLE)
    jobs = config.schedules.values()
    assert config.templates
    assert any(job.template for job in jobs)
    assert any(job.timezone == "Europe/Berlin" and job.type == "cron" for job in jobs)
    assert any(job.tags for job in jobs) and any(job.metadata for job in jobs)
    events = [job.schedule.to_config() for job in jobs if job.type == "event"]
    assert {"event": "inventory.low_stock"} in events
    monthly = [job.schedule.to_config() for job in jobs if job.type == "monthly"]
    assert any("last" in m["monthly"]["days"] for m in monthly)


def test_the_example_state_lives_under_var_beside_the_file() -> None:
    config = load_config(EXAMPLE)
    assert config.state_path() == EXAMPLE.parent / "var" / "uno-schedule.db"
    assert config.options.queues


def test_the_example_one_time_job_is_still_in_the_future() -> None:
    for job in load_config(EXAMPLE).schedules.values():
        if job.type == "once":
            assert job.timeline().next(NOW) is not None


def test_nothing_in_the_example_fires_more_often_than_once_a_minute() -> None:
    config = load_config(EXAMPLE)
    for job in config.schedules.values():
        instants = job.timeline(anchor=NOW).take(NOW, 30)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(instants)]
        assert all(gap >= 60 for gap in gaps), job.name


def test_every_example_command_uses_programs_found_on_this_machine() -> None:
    for job in load_config(EXAMPLE).schedules.values():
        if job.command is None:
            continue
        program = "sh" if job.shell else job.command[0]
        assert shutil.which(program), f"{job.name}: {program} is not installed"


def test_the_example_points_editors_at_the_shipped_schema() -> None:
    first = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (EXAMPLE.parent / first.split("$schema=", 1)[1].strip()).resolve()
    assert target == SCHEMA_FILE


def test_the_example_validates_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # What an editor sees: YAML timestamps are text, so compare as JSON would.
    data = json.loads(json.dumps(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), default=str))
    jsonschema.Draft202012Validator.check_schema(json_schema())
    errors = [
        f"{list(e.path)}: {e.message}"
        for e in jsonschema.Draft202012Validator(json_schema()).iter_errors(data)
    ]
    assert errors == []


def test_every_queue_the_example_configures_is_one_its_schedules_use() -> None:
    """The default queue is ``scheduled``: a ``queues:`` entry named otherwise that no
    schedule names would configure nothing."""
    config = load_config(EXAMPLE)
    used = {job.queue or config.options.queue_name for job in config.schedules.values()}
    assert set(config.options.queues) == used

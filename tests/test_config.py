"""The YAML front end: what a schedule file means, and how each mistake is reported.

Error tests compare the exact ``FILE:LINE:COLUMN: message`` text that ``validate``
prints, because the position is the point: an operator goes straight to it.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from unoschedule.config import Config, load_config, parse_config
from unoschedule.config.fields import _SCHEDULE_CONVERTERS, _SCHEDULER_CONVERTERS
from unoschedule.config.loader import SCHEDULE_FIELDS, SCHEDULER_FIELDS
from unoschedule.config.schema import SCHEMA_FILE, json_schema
from unoschedule.errors import ConfigError, ConfigErrors
from unoschedule.model import ScheduleDefinition, SchedulerOptions
from unoschedule.schedules import (
    CronSchedule,
    DailySchedule,
    EventTrigger,
    IntervalSchedule,
    MonthlySchedule,
    OneTimeSchedule,
    WeeklySchedule,
)
from unoschedule.wallclock import DstPolicy


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), "schedules.yaml")


def errors_of(text: str) -> list[str]:
    """Every error of a file, as ``validate`` prints them."""
    with pytest.raises(ConfigErrors) as caught:
        parse(text)
    return [str(error) for error in caught.value.errors]


def one_error(text: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


def only(text: str) -> ScheduleDefinition:
    config = parse(text)
    assert len(config.schedules) == 1
    return next(iter(config.schedules.values()))


# -- what a file means -----------------------------------------------------------------------


def test_a_minimal_schedule_has_the_model_defaults() -> None:
    job = only("""
        schedules:
          backup:
            schedule: "30 2 * * *"
            command: [tar, czf, backup.tgz, data]
    """)
    assert job == ScheduleDefinition(
        name="backup",
        schedule=CronSchedule("30 2 * * *"),
        command=("tar", "czf", "backup.tgz", "data"),
    )


def test_every_schedule_key_reaches_the_definition() -> None:
    job = only("""
        schedules:
          full:
            schedule: "*/5 * * * *"
            command: [pkg-run, --all]
            args: [1, two]
            kwargs: {limit: 10}
            queue: reports
            priority: high
            start_date: 2026-01-01T00:00:00Z
            end_date: 2026-12-31T00:00:00Z
            timezone: Europe/Berlin
            max_retries: 3
            retry_delay: 1m
            retry_backoff: 2
            tags: [nightly, db]
            metadata: {owner: ops}
            timeout: 1h30m
            unique: true
            enabled: false
            paused: true
            description: Everything at once
            dst: {gap: skip, overlap: both}
            on_error: [notify, "--channel", ops]
            env: {MODE: fast}
            cwd: /srv
    """)
    assert job.schedule == CronSchedule("*/5 * * * *")
    assert job.command == ("pkg-run", "--all")
    assert job.args == (1, "two")
    assert job.kwargs == {"limit": 10}
    assert (job.queue, job.priority) == ("reports", "high")
    assert job.start_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert job.end_date == datetime(2026, 12, 31, tzinfo=UTC)
    assert job.timezone == "Europe/Berlin"
    assert (job.max_retries, job.retry_delay, job.retry_backoff) == (3, 60.0, 2.0)
    assert job.tags == ("nightly", "db")
    assert job.metadata == {"owner": "ops"}
    assert job.timeout == 5400.0
    assert (job.unique, job.enabled, job.paused) == (True, False, True)
    assert job.description == "Everything at once"
    assert job.dst == DstPolicy(gap="skip", overlap="both")
    assert job.on_error == ("notify", "--channel", "ops")
    assert job.env == {"MODE": "fast"}
    assert job.cwd == "/srv"


def test_every_model_field_has_a_converter() -> None:
    assert set(_SCHEDULE_CONVERTERS) == set(SCHEDULE_FIELDS)
    assert set(_SCHEDULER_CONVERTERS) == set(SCHEDULER_FIELDS)


def test_a_command_string_is_split_into_words_as_a_shell_would() -> None:
    job = only("""
        schedules:
          a:
            schedule: "@daily"
            command: sh -c 'date >> "var/heart beat.log"'
    """)
    assert job.command == ("sh", "-c", 'date >> "var/heart beat.log"')


def test_a_command_with_shell_true_stays_one_script() -> None:
    job = only("""
        schedules:
          a:
            schedule: "@daily"
            shell: true
            command: "df -h | tail -n +2 > var/df.txt"
    """)
    assert job.command == "df -h | tail -n +2 > var/df.txt"
    assert job.shell is True


def test_command_words_are_taken_as_written() -> None:
    job = only("""
        schedules:
          a:
            schedule: "@daily"
            command: [echo, yes, 010, 1.50]
            env: {DEBUG: yes, LEVEL: 3}
            tags: [on, 2024]
    """)
    assert job.command == ("echo", "yes", "010", "1.50")
    assert job.env == {"DEBUG": "yes", "LEVEL": "3"}
    assert job.tags == ("on", "2024")


def test_durations_accept_units_numbers_and_zero_where_zero_makes_sense() -> None:
    job = only("""
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            timeout: 90
            retry_delay: 0
    """)
    assert (job.timeout, job.retry_delay) == (90.0, 0.0)


def test_an_unquoted_time_of_day_is_read_as_written_not_as_sexagesimal() -> None:
    job = only("""
        schedules:
          a:
            schedule: {weekly: {days: [mon], time: 10:00}}
            command: [true]
    """)
    assert job.schedule == WeeklySchedule(["monday"], "10:00")


def test_naive_instants_are_read_in_the_schedule_zone() -> None:
    job = only("""
        scheduler: {timezone: America/New_York}
        schedules:
          a:
            schedule: {at: "2027-01-15T09:00:00"}
            timezone: Europe/Berlin
            start_date: 2027-01-01
            command: [true]
    """)
    assert job.schedule == OneTimeSchedule(datetime(2027, 1, 15, 8, tzinfo=UTC))
    assert job.start_date == datetime(2026, 12, 31, 23, tzinfo=UTC)


def test_naive_instants_fall_back_to_the_scheduler_zone_then_utc() -> None:
    config = parse("""
        scheduler: {timezone: America/New_York}
        schedules:
          a: {schedule: {at: 2027-07-01 12:00:00}, command: [true]}
    """)
    assert config.schedules["a"].schedule == OneTimeSchedule(datetime(2027, 7, 1, 16, tzinfo=UTC))
    job = only("""
        schedules:
          a: {schedule: {at: 2027-07-01T12:00}, command: [true]}
    """)
    assert job.schedule == OneTimeSchedule(datetime(2027, 7, 1, 12, tzinfo=UTC))


def test_instants_with_an_offset_keep_their_offset() -> None:
    job = only("""
        schedules:
          a:
            schedule: {at: 2027-07-01T12:00:00+02:00}
            end_date: "2027-08-01T00:00:00Z"
            timezone: Asia/Tokyo
            command: [true]
    """)
    assert job.schedule == OneTimeSchedule(datetime(2027, 7, 1, 10, tzinfo=UTC))
    assert job.end_date == datetime(2027, 8, 1, tzinfo=UTC)


def test_dst_keys_left_out_follow_the_schedule_kind() -> None:
    config = parse("""
        schedules:
          fixed: {schedule: "30 2 * * *", command: [true], dst: {overlap: both}}
          wildcard: {schedule: "*/5 * * * *", command: [true], dst: {gap: shift}}
    """)
    assert config.schedules["fixed"].dst == DstPolicy(gap="shift", overlap="both")
    assert config.schedules["wildcard"].dst == DstPolicy(gap="shift", overlap="both")


def test_scheduler_options_are_read_with_durations_and_queues() -> None:
    config = parse("""
        scheduler:
          timezone: Europe/Berlin
          check_interval: 30s
          missed_threshold: 0
          missed_schedule_handling: coalesce
          lock_timeout: 2m
          queues: {default: 4, slow: 1}
          import_paths: [lib]
          on_error: notify --all
        schedules: {}
    """)
    options = config.options
    assert options.timezone == "Europe/Berlin"
    assert (options.check_interval, options.missed_threshold, options.lock_timeout) == (
        30.0,
        0.0,
        120.0,
    )
    assert options.missed_schedule_handling == "coalesce"
    assert options.queues == {"default": 4, "slow": 1}
    assert options.import_paths == ("lib",)
    assert options.on_error == ("notify", "--all")
    assert config.schedules == {}


def test_schedules_keep_file_order_and_their_positions() -> None:
    config = parse("""
        schedules:
          zeta: {schedule: "@hourly", command: [true]}
          alpha:
            schedule: "@daily"
            command: [true]
    """)
    assert list(config.schedules) == ["zeta", "alpha"]
    assert config.positions == {"zeta": (3, 3), "alpha": (4, 3)}


def test_yaml_anchors_and_merge_keys_work_as_in_safe_load() -> None:
    config = parse("""
        templates:
          shared: &defaults
            queue: batch
            command: [true]
        schedules:
          a:
            <<: *defaults
            schedule: "@daily"
            queue: fast
    """)
    assert config.schedules["a"].queue == "fast"
    assert config.schedules["a"].command == ("true",)


# -- templates ---------------------------------------------------------------------------------

TEMPLATES = """
    templates:
      base:
        queue: batch
        timeout: 10m
        max_retries: 2
        tags: [base]
        kwargs: {a: 1, b: 2}
        metadata: {owner: ops, tier: 3}
        env: {MODE: slow}
        command: [pkg-default, --all]
      nightly:
        template: base
        schedule: "0 3 * * *"
        tags: [nightly]
        metadata: {tier: 1}
"""


def test_a_schedule_inherits_every_key_its_template_sets() -> None:
    config = parse(
        TEMPLATES
        + """
    schedules:
      a:
        template: base
        schedule: "@hourly"
    """
    )
    job = config.schedules["a"]
    assert (job.queue, job.timeout, job.max_retries) == ("batch", 600.0, 2)
    assert job.command == ("pkg-default", "--all")
    assert job.template == "base"
    assert config.templates["base"]["timeout"] == "10m"


def test_a_schedule_overrides_keys_and_merges_mappings_with_its_own_winning() -> None:
    job = parse(
        TEMPLATES
        + """
    schedules:
      a:
        template: base
        schedule: "@hourly"
        queue: fast
        tags: [mine]
        kwargs: {b: 20, c: 30}
        metadata: {tier: 0}
        env: {EXTRA: "1"}
    """
    ).schedules["a"]
    assert job.queue == "fast"
    assert job.tags == ("mine",)
    assert job.kwargs == {"a": 1, "b": 20, "c": 30}
    assert job.metadata == {"owner": "ops", "tier": 0}
    assert job.env == {"MODE": "slow", "EXTRA": "1"}


def test_templates_chain_and_the_nearest_one_wins() -> None:
    job = parse(
        TEMPLATES
        + """
    schedules:
      a:
        template: nightly
    """
    ).schedules["a"]
    assert job.schedule == CronSchedule("0 3 * * *")
    assert job.tags == ("nightly",)
    assert job.metadata == {"owner": "ops", "tier": 1}
    assert job.queue == "batch"
    assert job.template == "nightly"


def test_a_schedule_command_replaces_a_template_task() -> None:
    job = parse("""
        templates:
          python: {task: pkg.jobs.default, queue: batch}
        schedules:
          a: {template: python, schedule: "@hourly", command: [echo, hi]}
    """).schedules["a"]
    assert (job.task, job.command, job.queue) == (None, ("echo", "hi"), "batch")


def test_null_unsets_a_templates_value() -> None:
    job = parse(
        TEMPLATES
        + """
    schedules:
      a:
        template: base
        schedule: "@hourly"
        timeout: null
    """
    ).schedules["a"]
    assert job.timeout is None


# -- errors, each at its place ---------------------------------------------------------------


def test_a_misspelt_key_is_reported_with_what_was_meant() -> None:
    assert (
        one_error("""
        schedules:
          backup:
            shedule: "30 2 * * *"
            command: [true]
    """)
        == "schedules.yaml:4:5: unknown key 'shedule'; did you mean 'schedule'?"
    )


def test_an_unknown_key_without_a_close_match_lists_the_keys() -> None:
    error = one_error("""
        scheduler:
          frobnicate: 1
    """)
    assert error.startswith(
        "schedules.yaml:3:3: unknown key 'frobnicate' in scheduler; "
        "expected one of: queue_name, timezone,"
    )


def test_unknown_keys_are_caught_at_every_level() -> None:
    assert errors_of("""
        schedlues: {}
        scheduler: {time_zone: UTC}
        templates:
          t: {quue: x}
        schedules:
          a:
            schedule: {evry: 5m}
            command: [true]
            dst: {gaps: skip}
          b:
            cron: "0 0 * * *"
            command: [true]
    """) == [
        "schedules.yaml:2:1: unknown key 'schedlues'; did you mean 'schedules'?",
        "schedules.yaml:3:13: unknown key 'time_zone'; did you mean 'timezone'?",
        "schedules.yaml:5:7: unknown key 'quue'; did you mean 'queue'?",
        "schedules.yaml:8:16: unknown schedule type 'evry'; did you mean 'every'? "
        "(use one of cron, every, at, daily, weekly, monthly, event)",
        "schedules.yaml:10:11: unknown key 'gaps'; did you mean 'gap'?",
        "schedules.yaml:12:5: unknown key 'cron': cron is a schedule type; put it under "
        "schedule:, e.g. schedule: {cron: ...}",
    ]


def test_a_bad_cron_field_points_at_its_character() -> None:
    assert (
        one_error("""
        schedules:
          a:
            schedule: "0 25 * * *"
            command: [true]
    """)
        == "schedules.yaml:4:18: hour value 25 is out of range 0-23"
    )


def test_a_bad_cron_field_is_located_in_plain_and_single_quoted_and_mapping_forms() -> None:
    assert errors_of("""
        schedules:
          plain:
            schedule: 0 0 * * FUNDAY
            command: [true]
          quoted:
            schedule: '0 0 * JANUARY *'
            command: [true]
          mapping:
            schedule: {cron: "0 0 32 * *"}
            command: [true]
    """) == [
        "schedules.yaml:4:23: unknown day-of-week name 'FUNDAY'",
        "schedules.yaml:7:22: unknown month name 'JANUARY'; did you mean 'JAN'?",
        "schedules.yaml:10:27: day-of-month value 32 is out of range 1-31",
    ]


def test_an_impossible_date_is_an_error() -> None:
    assert one_error("""
        schedules:
          never:
            schedule: "0 0 30 2 *"
            command: [true]
    """) == ("schedules.yaml:4:20: '0 0 30 2 *' never fires: day 30 does not exist in Feb")


def test_an_unquoted_cron_that_starts_with_a_star_gets_a_hint() -> None:
    error = one_error("""
        schedules:
          a:
            schedule: */5 * * * *
    """)
    assert error.startswith("schedules.yaml:4:15: invalid YAML: ")
    assert 'must be quoted, e.g. "*/5 * * * *"' in error


def test_an_unknown_time_zone_suggests_the_real_one() -> None:
    assert errors_of("""
        scheduler: {timezone: Europe/Berln}
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            timezone: america/new_york
    """) == [
        "schedules.yaml:2:23: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?",
        "schedules.yaml:7:15: unknown time zone 'america/new_york'; "
        "did you mean 'America/New_York'?",
    ]


def test_an_end_date_before_the_start_date_is_an_error() -> None:
    assert one_error("""
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            start_date: 2026-06-01
            end_date: 2026-01-01T00:00:00Z
    """) == (
        "schedules.yaml:7:15: end_date 2026-01-01T00:00:00Z is before start_date "
        "2026-06-01T00:00:00Z; the schedule would never fire"
    )


def test_an_unknown_template_suggests_the_closest_name() -> None:
    assert (
        one_error(
            TEMPLATES
            + """
    schedules:
      a:
        template: nightley
    """
        )
        == "schedules.yaml:20:15: unknown template 'nightley'; did you mean 'nightly'?"
    )


def test_a_template_cycle_is_reported_once_naming_the_cycle() -> None:
    assert errors_of("""
        templates:
          a: {template: b, queue: x}
          b: {template: a}
          self: {template: self}
        schedules:
          job: {template: a, schedule: "@daily", command: [true]}
    """) == [
        "schedules.yaml:3:17: template cycle: a -> b -> a",
        "schedules.yaml:5:20: template cycle: self -> self",
    ]


def test_a_duplicate_schedule_name_names_the_first_line() -> None:
    assert (
        one_error("""
        schedules:
          backup:
            schedule: "@daily"
            command: [true]
          backup:
            schedule: "@hourly"
            command: [true]
    """)
        == "schedules.yaml:6:3: duplicate schedule name 'backup' (first defined on line 3)"
    )


def test_a_duplicate_key_inside_any_mapping_is_an_error() -> None:
    assert errors_of("""
        scheduler: {timezone: UTC, timezone: UTC}
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            kwargs: {x: 1, x: 2}
            command: [false]
    """) == [
        "schedules.yaml:2:28: duplicate key 'timezone' (first defined on line 2)",
        "schedules.yaml:7:20: duplicate key 'x' (first defined on line 7)",
        "schedules.yaml:8:5: duplicate key 'command' (first defined on line 6)",
    ]


def test_a_python_object_tag_is_rejected_and_nothing_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forbidden(*args: object) -> int:
        raise AssertionError("the file executed code")

    monkeypatch.setattr(os, "system", forbidden)
    errors = errors_of("""
        schedules:
          evil:
            schedule: "@daily"
            command: [true]
            kwargs:
              x: !!python/object/apply:os.system ["echo pwned"]
          worse: !!python/object/new:os.system [ls]
    """)
    assert errors == [
        "schedules.yaml:7:10: tag '!!python/object/apply:os.system' is not allowed: a schedule "
        "file cannot create Python objects (strings, numbers, booleans, dates, lists and "
        "mappings, as yaml.safe_load reads them)",
        "schedules.yaml:8:10: tag '!!python/object/new:os.system' is not allowed: a schedule "
        "file cannot create Python objects (strings, numbers, booleans, dates, lists and "
        "mappings, as yaml.safe_load reads them)",
    ]


def test_other_non_plain_tags_are_rejected_too() -> None:
    assert one_error("""
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            metadata: !!set {x, y}
    """).startswith(
        "schedules.yaml:6:15: tag '!!set' is not allowed: a schedule file holds plain data only"
    )


def test_types_are_checked_with_messages_that_say_what_was_expected() -> None:
    assert errors_of("""
        schedules:
          a:
            schedule: "@daily"
            command: [true]
            max_retries: three
            priority: urgent
            unique: maybe
            timeout: soon
            tags: nightly
            retry_backoff: 0.5
            kwargs: [1, 2]
            priority: hihg
    """) == [
        "schedules.yaml:6:18: max_retries must be a whole number >= 0, not 'three'",
        "schedules.yaml:7:15: priority must be one of high, normal, low, not 'urgent'",
        "schedules.yaml:8:13: unique must be true or false, not 'maybe'",
        "schedules.yaml:9:14: 'soon' is not a valid timeout (use e.g. 90s, 5m, 2h, 1d, 1h30m)",
        "schedules.yaml:10:11: tags must be a list of strings, e.g. [nightly], not 'nightly'",
        "schedules.yaml:11:20: retry_backoff must be a number >= 1, not 0.5",
        "schedules.yaml:12:13: kwargs must be a mapping (key: value), not a list",
        "schedules.yaml:13:5: duplicate key 'priority' (first defined on line 7)",
    ]


def test_a_misspelt_choice_gets_a_suggestion() -> None:
    assert one_error("""
        scheduler: {missed_schedule_handling: coalesc}
    """) == (
        "schedules.yaml:2:39: missed_schedule_handling must be one of trigger, skip, "
        "coalesce, not 'coalesc'; did you mean 'coalesce'?"
    )


def test_a_schedule_must_run_exactly_one_thing() -> None:
    assert errors_of("""
        schedules:
          nothing:
            schedule: "@daily"
          both:
            schedule: "@daily"
            task: pkg.mod.fn
            command: [true]
          notask:
            schedule: "@daily"
            task: justaname
    """) == [
        "schedules.yaml:3:3: schedule 'nothing' runs nothing; add task: "
        "(package.module.function) or command: (a program and its arguments)",
        "schedules.yaml:8:5: set either task: (a Python callable) or command: (a program), "
        "not both",
        "schedules.yaml:11:11: task must be an import path such as package.module.function "
        "or package.module:function, not 'justaname'",
    ]


def test_a_schedule_without_a_schedule_key_says_how_to_write_one() -> None:
    assert one_error("""
        schedules:
          a:
            command: [true]
    """) == (
        "schedules.yaml:3:3: schedule 'a' has no schedule:; add e.g. "
        'schedule: "30 2 * * *" or schedule: {every: 5m}'
    )


def test_a_schedule_mapping_needs_exactly_one_type() -> None:
    assert one_error("""
        schedules:
          a:
            schedule: {every: 5m, cron: "@daily"}
            command: [true]
    """) == (
        "schedules.yaml:4:27: a schedule has exactly one type, this one has every and "
        "cron; use one schedule per entry"
    )


def test_errors_inside_schedule_bodies_point_at_the_body() -> None:
    assert errors_of("""
        schedules:
          a: {schedule: {every: 5x}, command: [true]}
          b: {schedule: {daily: "25:00"}, command: [true]}
          c: {schedule: {weekly: {days: [funday]}}, command: [true]}
          d: {schedule: {monthly: {day: [1]}}, command: [true]}
          e: {schedule: {at: "next tuesday"}, command: [true]}
    """) == [
        "schedules.yaml:3:25: '5x' is not a valid interval (use e.g. 90s, 5m, 2h, 1d, 1h30m)",
        "schedules.yaml:4:25: '25:00' is not a time of day (hours 0-23, minutes 0-59)",
        "schedules.yaml:5:26: unknown day of week 'funday'; did you mean 'sunday'?",
        "schedules.yaml:6:28: unknown key 'day'; did you mean 'days'?",
        "schedules.yaml:7:22: at: 'next tuesday' is not an ISO 8601 instant "
        "(expected e.g. 2026-12-01T10:00:00Z)",
    ]


def test_command_mistakes_are_reported() -> None:
    assert errors_of("""
        schedules:
          a: {schedule: "@daily", command: "echo 'unbalanced"}
          b: {schedule: "@daily", command: [], }
          c: {schedule: "@daily", shell: true, command: [sh, -c, date]}
    """) == [
        "schedules.yaml:3:36: command cannot be split into words: No closing quotation "
        "(check the quotes)",
        "schedules.yaml:4:36: command is an empty list; give the program and its arguments",
        "schedules.yaml:5:49: with shell: true, command must be one string (the shell "
        "script), not a list; or drop shell: true",
    ]


def test_every_error_in_the_file_is_reported_at_once_sorted_by_line() -> None:
    with pytest.raises(ConfigErrors) as caught:
        parse("""
            schedules:
              c: {schedule: "0 0 30 2 *", command: [true]}
              a: {shedule: "@daily", command: [true]}
            scheduler: {timezone: Mars/Olympus}
            templates:
              t: {template: t}
        """)
    errors = caught.value.errors
    assert [(e.line, e.file) for e in errors] == [
        (3, "schedules.yaml"),
        (4, "schedules.yaml"),
        (5, "schedules.yaml"),
        (7, "schedules.yaml"),
    ]
    assert str(caught.value).endswith("(and 3 more)")
    assert all(isinstance(e, ConfigError) for e in errors)


def test_an_empty_file_is_one_clear_error() -> None:
    for text in ("", "\n# only a comment\n", "~\n"):
        with pytest.raises(ConfigErrors) as caught:
            parse_config(text, "empty.yaml")
        assert [str(e) for e in caught.value.errors] == [
            "empty.yaml:1:1: the file is empty; a schedule file is a mapping with the keys "
            "scheduler:, templates: and schedules:"
        ]


def test_a_top_level_that_is_not_a_mapping_is_one_clear_error() -> None:
    assert one_error("- a\n- b\n") == (
        "schedules.yaml:1:1: a schedule file is a mapping with the keys scheduler:, "
        "templates: and schedules:, not a list"
    )


def test_schedules_written_as_a_list_get_a_hint() -> None:
    assert "not a list of - name: ..." in one_error("""
        schedules:
          - name: a
    """)


def test_a_yaml_syntax_error_is_located() -> None:
    error = one_error("""
        schedules:
          a: {schedule: "@daily"
    """)
    assert error.startswith("schedules.yaml:4:1: invalid YAML: ")


def test_a_recursive_alias_is_an_error_not_a_hang() -> None:
    assert "recursion" in one_error("""
        schedules:
          a: &loop {schedule: "@daily", command: [true], kwargs: {self: *loop}}
    """)


def test_an_unreadable_file_is_one_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == f"cannot read {missing}: No such file or directory"


# -- keys that would do nothing where they are written --------------------------------------
#
# Every key a schedule accepts does what it says, or is refused: a key that only a
# command uses on a task, a key that shapes a clock's occurrences on a schedule that has
# no clock, and dst: on a clock that has no wall times.

_NO_CLOCK = "shapes the occurrences of a clock, and this schedule has none"
CLOCK_KEYS_AS_WRITTEN = (
    "jitter", "jitter_fixed", "calendar", "roll", "blackout", "dst", "start_date", "end_date"
)  # fmt: skip


def test_a_task_schedule_refuses_env_cwd_and_shell_which_only_a_command_uses() -> None:
    assert errors_of("""
        schedules:
          weekly-report:
            schedule: "0 8 * * 1"
            task: reports.weekly
            env: {MODE: fast}
            cwd: /srv/reports
            shell: true
    """) == [
        "schedules.yaml:6:5: schedule 'weekly-report': env: applies to commands; a task "
        "takes its settings in kwargs:",
        "schedules.yaml:7:5: schedule 'weekly-report': cwd: applies to commands; a task runs "
        "in the scheduler's own folder (give it paths in kwargs:)",
        "schedules.yaml:8:5: schedule 'weekly-report': shell: applies to commands; a task is "
        "called in Python, never through a shell",
    ]


def test_a_task_schedule_inheriting_env_from_a_template_is_refused_naming_the_template() -> None:
    assert errors_of("""
        templates:
          base:
            env: {MODE: fast}
          reports:
            template: base
            queue: reports
        schedules:
          weekly-report:
            template: reports
            schedule: "0 8 * * 1"
            task: reports.weekly
          nightly-export:
            template: reports
            schedule: "0 2 * * *"
            command: "true"
    """) == [
        "schedules.yaml:10:5: schedule 'weekly-report': env: (from template 'base') applies "
        "to commands; a task takes its settings in kwargs:"
    ]


def test_a_task_schedule_may_write_command_keys_that_ask_for_nothing() -> None:
    job = only("""
        schedules:
          weekly-report:
            schedule: "0 8 * * 1"
            task: reports.weekly
            env: {}
            cwd: null
            shell: false
    """)
    assert (job.task, job.env, job.cwd, job.shell) == ("reports.weekly", {}, None, False)


def test_an_event_schedule_refuses_every_key_that_shapes_a_clocks_occurrences() -> None:
    assert errors_of("""
        scheduler:
          calendars:
            weekdays: {business_days: true}
        schedules:
          restock:
            schedule: {event: inventory.low}
            command: "true"
            jitter: 10m
            jitter_fixed: true
            calendar: weekdays
            roll: next_business_day
            blackout: ["Mon 00:00 for 168h"]
            dst: {gap: skip}
            start_date: 2030-01-01T00:00:00Z
            end_date: 2031-01-01T00:00:00Z
    """) == [
        f"schedules.yaml:{line}:5: schedule 'restock': {key}: {_NO_CLOCK}: it runs when "
        f"event 'inventory.low' is raised; drop {key}:"
        for line, key in enumerate(CLOCK_KEYS_AS_WRITTEN, start=9)
    ]


def test_inherited_jitter_is_refused_on_an_event_schedule_unless_it_writes_jitter_0() -> None:
    text = """
        templates:
          spread:
            jitter: 5m
        schedules:
          restock:
            template: spread
            schedule: {event: inventory.low}
            command: "true"
    """
    assert errors_of(text) == [
        f"schedules.yaml:7:5: schedule 'restock': jitter: (from template 'spread') "
        f"{_NO_CLOCK}: it runs when event 'inventory.low' is raised; drop jitter:"
    ]
    assert only(text + "        jitter: 0\n").jitter == 0


def test_a_chain_without_a_schedule_refuses_clock_keys_and_one_with_a_schedule_keeps_them() -> None:
    base = """
        schedules:
          extract: {schedule: "0 2 * * *", command: "true"}
          load:
            after: extract
            command: "true"
            start_date: 2027-01-01T00:00:00Z
    """
    assert errors_of(base) == [
        f"schedules.yaml:7:5: schedule 'load': start_date: {_NO_CLOCK}: it runs after runs "
        "of 'extract'; drop start_date: (or add a schedule:)"
    ]
    config = parse(base + '        schedule: "0 3 * * *"\n')
    assert config.schedules["load"].start_date == datetime(2027, 1, 1, tzinfo=UTC)


def test_dst_is_refused_on_a_schedule_with_no_wall_times() -> None:
    assert errors_of("""
        schedules:
          heartbeat: {schedule: {every: 5m}, command: "true", dst: {gap: skip}}
          launch: {schedule: {at: 2027-03-01T09:00:00Z}, command: "true", dst: {gap: skip}}
          nightly: {schedule: {daily: "02:30"}, command: "true", dst: {gap: skip}}
    """) == [
        "schedules.yaml:3:55: schedule 'heartbeat': dst: decides what wall times a DST change "
        "skips or repeats do, and an every: interval has none (it counts elapsed time); "
        "drop dst:",
        "schedules.yaml:4:67: schedule 'launch': dst: decides what wall times a DST change "
        "skips or repeats do, and an at: schedule has none (it is one instant); drop dst:",
    ]


def test_the_files_blackout_windows_go_to_clock_schedules_and_not_to_event_schedules() -> None:
    """An event's run is not held back by a window (it has no occurrence to hold back):
    its definition does not claim one either."""
    config = parse("""
        scheduler:
          blackout: ["Sat 22:00 for 6h"]
        schedules:
          nightly: {schedule: "0 2 * * *", command: "true"}
          restock: {schedule: {event: inventory.low}, command: "true"}
    """)
    assert [w.name for w in config.schedules["nightly"].blackout] == ["Sat 22:00 for 6h"]
    assert config.schedules["restock"].blackout == ()


# -- files and paths --------------------------------------------------------------------------


def write(folder: Path, text: str) -> Path:
    path = folder / "schedules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_config_reports_errors_with_the_path_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "schedules:\n  a: {shedule: x, command: [true]}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigErrors) as caught:
        load_config("schedules.yaml")
    assert str(caught.value.errors[0]).startswith("schedules.yaml:2:7: unknown key 'shedule'")


def test_load_config_records_the_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "schedules: {}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("schedules.yaml").path == tmp_path / "schedules.yaml"


def test_the_state_file_defaults_to_beside_the_yaml_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "schedules: {}\n"))
    assert config.state_path() == tmp_path / "uno-schedule.db"


def test_a_relative_state_is_read_from_the_yaml_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write(tmp_path, "scheduler: {state: var/state.db}\n"))
    monkeypatch.chdir("/")
    assert config.state_path() == tmp_path / "var" / "state.db"


def test_an_absolute_state_is_used_as_it_is(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"scheduler: {{state: {tmp_path}/s.db}}\n"))
    assert config.state_path() == tmp_path / "s.db"


def test_an_override_wins_over_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "scheduler: {state: var/state.db}\n"))
    assert config.state_path("/elsewhere/x.db") == Path("/elsewhere/x.db")
    assert config.state_path(None) == tmp_path / "var" / "state.db"


def test_text_without_a_file_puts_the_state_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_config("schedules: {}\n").state_path() == tmp_path / "uno-schedule.db"


def test_a_byte_order_mark_does_not_shift_columns(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfshedules: {}\n")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    assert (caught.value.errors[0].line, caught.value.errors[0].column) == (1, 1)


# -- round trips -------------------------------------------------------------------------------

FORMS = {
    "cron": ('"*/20 * * * * *"', CronSchedule("*/20 * * * * *")),
    "cron-mapping": ('{cron: "0 9 * * MON-FRI"}', CronSchedule("0 9 * * MON-FRI")),
    "every": ("{every: 1h30m}", IntervalSchedule(timedelta(minutes=90))),
    "every-mapping": ("{every: {minutes: 5}}", IntervalSchedule(timedelta(minutes=5))),
    "at": ("{at: 2027-03-01T09:00:00Z}", OneTimeSchedule(datetime(2027, 3, 1, 9, tzinfo=UTC))),
    "daily": ('{daily: ["09:00", "13:00"]}', DailySchedule(["09:00", "13:00"])),
    "weekly": (
        '{weekly: {days: [monday, thursday], time: "10:00"}}',
        WeeklySchedule(["monday", "thursday"], "10:00"),
    ),
    "monthly": (
        '{monthly: {days: [1, 15, last], time: "12:00"}}',
        MonthlySchedule([1, 15, "last"], "12:00"),
    ),
    "event": ("{event: inventory.low_stock}", EventTrigger("inventory.low_stock")),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_schedule_form_parses_and_round_trips_through_to_config(form: str) -> None:
    text, expected = FORMS[form]
    job = only(f"schedules:\n  a:\n    schedule: {text}\n    command: [true]\n")
    assert job.schedule == expected
    again = yaml.safe_dump(
        {"schedules": {"a": {"schedule": job.schedule.to_config(), "command": ["true"]}}}
    )
    assert parse_config(again).schedules["a"].schedule == job.schedule


def test_a_whole_definition_round_trips_through_its_canonical_form() -> None:
    job = parse(
        TEMPLATES
        + """
    schedules:
      a:
        template: nightly
        start_date: 2027-01-01T00:00:00+01:00
        dst: {gap: skip}
        command: "echo hi"
        timeout: 90s
        env: {A: "1"}
    """
    ).schedules["a"]
    text = yaml.safe_dump({"schedules": {"a": job.to_config()}})
    again = parse_config(text.replace("template: nightly", "template: null")).schedules["a"]
    assert again.with_changes(template="nightly") == job


# -- the JSON Schema -------------------------------------------------------------------------


def test_the_shipped_schema_file_equals_json_schema() -> None:
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == json_schema(), "run: python -m unoschedule.config.schema --write"


def test_the_schema_covers_exactly_the_keys_the_loader_accepts() -> None:
    schema = json_schema()
    assert set(schema["$defs"]["scheduleFields"]["properties"]) == set(SCHEDULE_FIELDS)
    assert set(schema["$defs"]["scheduler"]["properties"]) == set(SCHEDULER_FIELDS)
    assert set(schema["properties"]) == {"$schema", "scheduler", "templates", "schedules"}


def test_the_schema_rejects_a_typo_like_the_loader() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    good = {"schedules": {"a": {"schedule": "@daily", "command": ["true"]}}}
    bad = {"schedules": {"a": {"shedule": "@daily", "command": ["true"]}}}
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors(bad))


def test_every_key_of_the_converter_tables_has_a_schema_fragment_and_a_description() -> None:
    schema = json_schema()
    for table, where in (
        (_SCHEDULE_CONVERTERS, schema["$defs"]["scheduleFields"]["properties"]),
        (_SCHEDULER_CONVERTERS, schema["$defs"]["scheduler"]["properties"]),
    ):
        for key, convert in table.items():
            assert convert.schema, f"{key} has no JSON Schema fragment"
            assert convert.description.strip(), f"{key} has no description"
            fragment = dict(where[key])
            fragment.pop("default", None)
            assert fragment == {"description": convert.description, **convert.schema}, key


def test_every_default_in_the_schema_is_a_value_the_schema_and_the_loader_accept() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    defaults = {
        section: {k: v["default"] for k, v in props.items() if "default" in v}
        for section, props in (
            ("scheduler", schema["$defs"]["scheduler"]["properties"]),
            ("schedule", schema["$defs"]["scheduleFields"]["properties"]),
        )
    }
    assert defaults["scheduler"]["keep_for"] == "90d"
    assert defaults["schedule"]["priority"] == "normal"
    entry = {"schedule": "@daily", "command": "true", **defaults["schedule"]}
    document = {"scheduler": defaults["scheduler"], "schedules": {"a": entry}}
    assert not list(validator.iter_errors(document))
    config = parse_config(yaml.safe_dump(document), "schedules.yaml")
    assert config.options.keep_for == 90 * 86400.0


def test_every_reference_of_the_schema_names_a_definition() -> None:
    schema = json_schema()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"], ref


#: (section, key, value) written into a file; each is checked by the loader and the schema.
SCHEMA_SAMPLES: list[tuple[str, str, object]] = [
    *[("schedule", "queue", v) for v in ("reports", 5, True, "", "  ", None)],
    *[("schedule", "description", v) for v in ("nightly", "", 7)],
    *[("schedule", "tags", v) for v in (["a", 1, True], [""], "a", [])],
    *[("schedule", "max_retries", v) for v in (0, 3, -1, "3", 2.5)],
    *[("schedule", "retry_backoff", v) for v in (1, 2.5, 0.5, "2")],
    *[("schedule", "retry_delay", v) for v in ("30s", 0, "0s", "1h30m", -1, "soon", [1])],
    *[("schedule", "timeout", v) for v in ("5m", 0, "0s", "0h0m", None, 90, {"minutes": 5}, "x")],
    *[("schedule", "priority", v) for v in ("high", "urgent", 1)],
    *[
        ("schedule", "start_date", v)
        for v in ("2026-01-01T10:00:00Z", "2026-01-01", "soon", "2026-02-30T10:00:00")
    ],
    *[("schedule", "timezone", v) for v in ("Europe/Berlin", "", None, 5, "Mars/Olympus")],
    *[("schedule", "env", v) for v in ({"A": "1", "B": 2, "C": ""}, {"A=B": "1"}, {"A": None})],
    *[("schedule", "dst", v) for v in ({"gap": "skip"}, {"gap": "never"}, {"later": "x"})],
    *[("schedule", "shell", v) for v in (True, "yes please", 1)],
    *[("schedule", "kwargs", v) for v in ({"a": 1}, [1])],
    *[("schedule", "args", v) for v in ([1, "two"], "one")],
    *[("schedule", "pause_after_failures", v) for v in (1, 0, None)],
    *[("scheduler", "check_interval", v) for v in ("1s", 0, "0s", "0.0 m", 0.5)],
    *[("scheduler", "missed_threshold", v) for v in (0, "0s", "5m")],
    *[("scheduler", "queues", v) for v in ({"a": 2}, {"a": 0}, [1])],
    *[("scheduler", "metrics_address", v) for v in ("127.0.0.1:9650", ":80", "localhost")],
    *[("scheduler", "import_paths", v) for v in (["lib", 5], [""], "lib")],
    *[("scheduler", "missed_schedule_handling", v) for v in ("coalesce", "sometimes")],
    *[("scheduler", "default_concurrency", v) for v in (1, 0)],
    *[("scheduler", "queue_name", v) for v in ("main", 5, "")],
]


@pytest.mark.parametrize(("section", "key", "value"), SCHEMA_SAMPLES)
def test_the_schema_never_refuses_a_value_the_loader_accepts(
    section: str, key: str, value: object
) -> None:
    """And refuses the same values wherever JSON Schema can say what the loader checks."""
    jsonschema = pytest.importorskip("jsonschema")
    entry: dict[str, object] = {"schedule": "@daily", "command": "true"}
    if section == "schedule":
        entry[key] = value
        document: dict[str, object] = {"schedules": {"a": entry}}
    else:
        document = {"scheduler": {key: value}, "schedules": {"a": entry}}
    text = yaml.safe_dump(document)
    try:
        parse_config(text, "schedules.yaml")
        loader_accepts = True
    except ConfigErrors:
        loader_accepts = False
    data = json.loads(json.dumps(yaml.safe_load(text), default=str))
    schema_accepts = jsonschema.Draft202012Validator(json_schema()).is_valid(data)
    if loader_accepts:
        assert schema_accepts, f"the schema refuses {key}: {value!r}, which the loader accepts"
    elif (key, value) in SCHEMA_LOOSER:
        assert schema_accepts, f"{key}: {value!r} is no longer looser: drop it from the list"
    else:
        assert not schema_accepts, f"the schema accepts {key}: {value!r}; the loader does not"


#: Values the loader refuses that JSON Schema cannot describe (documented looseness).
SCHEMA_LOOSER: list[tuple[str, object]] = [
    ("timezone", "Mars/Olympus"),  # no such zone: the schema cannot list the zones
    ("timeout", "0h0m"),  # zero written in two units
    ("start_date", "2026-02-30T10:00:00"),  # no such day: a pattern cannot count days
]


def test_changing_the_schema_one_got_leaves_the_next_one_whole() -> None:
    first = json_schema()
    first["$defs"]["scheduler"]["properties"]["keep_runs"]["minimum"] = 99
    first["$defs"]["scheduleFields"]["properties"]["queue"]["anyOf"][0]["$ref"] = "#/x"
    again = json_schema()
    assert again["$defs"]["scheduler"]["properties"]["keep_runs"]["minimum"] == 1
    assert again["$defs"]["scheduleFields"]["properties"]["queue"]["anyOf"][0] == {
        "$ref": "#/$defs/text"
    }


def test_a_queue_without_a_limit_runs_as_many_jobs_as_the_host_allows() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert SchedulerOptions().concurrency("any") == max(32, 16 * cpus)
    assert SchedulerOptions(default_concurrency=3).concurrency("any") == 3
    assert SchedulerOptions(queues={"q": 2}).concurrency("q") == 2

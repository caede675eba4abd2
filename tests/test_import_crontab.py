"""``uno-schedule import crontab``: a crontab becomes a schedule file that validates, and
each imported schedule fires when cronie fires the line it came from.

The oracle is ``tests/reference.py`` (a brute-force cronie, written apart from the
package), asked about the *original* crontab line, read here by this file's own small
parser; the importer's output is read back with the package's loader.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from reference import RefCron, ref_runs
from typer.testing import CliRunner

from unoschedule.cli import app
from unoschedule.config import parse_config
from unoschedule.config.importers import crontab_to_yaml, is_system_crontab
from unoschedule.config.importers.crontab import split_percent
from unoschedule.errors import ConfigErrors

CORPUS = Path(__file__).parent / "data" / "crontab-corpus.txt"
MACHINE_ZONE = "America/New_York"
# Around each changeover of the corpus's zones in 2026, and a turn of the year.
WINDOWS = [
    (datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
    (datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 4, 7, tzinfo=UTC)),
    (datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 6, tzinfo=UTC)),
    (datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
    (datetime(2026, 12, 28, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC)),
    (datetime(2028, 2, 25, tzinfo=UTC), datetime(2028, 3, 2, tzinfo=UTC)),  # a 29 February
]
SHORTCUTS = {  # crontab(5)
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def corpus_jobs() -> list[tuple[int, str, str]]:
    """(line number, five fields, zone) of each job line of the corpus."""
    zone = MACHINE_ZONE
    jobs = []
    for number, line in enumerate(CORPUS.read_text().splitlines(), 1):
        if line.startswith("CRON_TZ="):
            zone = line.split("=", 1)[1]
        elif line[:1].isdigit() or line[:1] in ("*", "@"):
            first = line.split()[0]
            fields = SHORTCUTS[first] if first.startswith("@") else " ".join(line.split()[:5])
            jobs.append((number, fields, zone))
    return jobs


JOBS = corpus_jobs()


@pytest.fixture(scope="module")
def imported() -> dict[str, object]:
    text = crontab_to_yaml(CORPUS.read_text(), str(CORPUS), timezone=MACHINE_ZONE)
    config = parse_config(text, "imported.yaml")
    return dict(config.schedules)


def test_the_corpus_has_forty_varied_lines_and_every_one_is_imported(
    imported: dict[str, object],
) -> None:
    assert len(JOBS) >= 40
    assert len(imported) == len(JOBS)
    zones = {zone for _, _, zone in JOBS}
    assert {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe"} <= zones


@pytest.mark.parametrize(("number", "fields", "zone"), JOBS, ids=[f"line{n}" for n, *_ in JOBS])
def test_each_imported_schedule_fires_when_cronie_fires_its_line(
    imported: dict[str, object], number: int, fields: str, zone: str
) -> None:
    definition = list(imported.values())[[n for n, *_ in JOBS].index(number)]
    timeline = definition.timeline()  # type: ignore[attr-defined]
    cron = RefCron.parse(fields)
    for after, until in WINDOWS:
        expected = ref_runs(
            cron.matches,
            ZoneInfo(zone),
            after,
            until,
            gap=cron.default_gap,
            overlap=cron.default_overlap,
        )
        got = [t for t in timeline.take(after, len(expected) + 1) if t <= until]
        assert got == expected, (number, fields, zone, after)


def run_cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_the_imported_corpus_validates_and_next_runs_answers_from_it(tmp_path: Path) -> None:
    out = tmp_path / "schedules.yaml"
    code, _, err = run_cli(
        "import", "crontab", str(CORPUS), "--timezone", MACHINE_ZONE, "-o", str(out)
    )
    assert code == 0, err
    code, text, err = run_cli("-c", str(out), "validate")
    assert (code, text.strip()) == (0, f"ok: {len(JOBS)} schedules"), err
    code, text, _ = run_cli(
        "-c", str(out), "next-runs", "berlin-nightly", "--count", "2",
        "--from", "2026-03-28T12:00:00Z",
    )  # fmt: skip
    # 02:30 does not exist in Berlin on 29 March 2026: cronie runs it at 03:00 (01:00Z)
    assert text.split() == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]


def test_a_crontab_from_standard_input_is_read_as_crontab_l_gives_it() -> None:
    code, text, err = run_cli(
        "import", "crontab", "-", "--timezone", "UTC", stdin="0 3 * * * /usr/bin/certbot renew\n"
    )
    assert code == 0, err
    config = parse_config(text)
    assert config.schedules["certbot"].command == "/usr/bin/certbot renew"


def test_at_reboot_is_refused_at_its_line_with_what_to_use_instead(tmp_path: Path) -> None:
    crontab = tmp_path / "jobs.crontab"
    crontab.write_text("0 1 * * * /usr/local/bin/sync-mail\n\n@reboot /usr/local/bin/worker\n")
    code, text, err = run_cli("import", "crontab", str(crontab))
    assert code == 1 and text == ""
    assert err.strip().splitlines() == [
        f"{crontab}:3: @reboot runs at boot, which uno-schedule has no schedule for; start "
        "the command from a systemd unit (WantedBy=multi-user.target) instead"
    ]
    code, text, err = run_cli("import", "crontab", str(crontab), "--partial")
    assert code == 0, err
    assert f"#   {crontab}:3: @reboot runs at boot" in text
    assert list(parse_config(text).schedules) == ["sync-mail"]


def test_cronie_random_values_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigErrors) as caught:
        crontab_to_yaml("0~30 * * * * /bin/poll\n", "tab")
    assert str(caught.value.errors[0]).startswith("tab:1: '~' picks a random value")


def test_names_are_read_from_the_command_and_made_unique() -> None:
    text = crontab_to_yaml(
        "0 1 * * * /usr/local/bin/backup-db.sh --full\n"
        "0 2 * * * /usr/local/bin/backup-db.sh --incremental\n"
        "0 3 * * * nice -n 19 flock -n /tmp/sync.lock /usr/bin/rsync -a /srv /mnt\n"
        "0 4 * * * cd /var/www && php artisan schedule:run >> /dev/null 2>&1\n"
        "0 5 * * * test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )\n",
        "tab",
    )
    assert list(parse_config(text).schedules) == [
        "backup-db", "backup-db-2", "rsync", "artisan", "cron-daily",
    ]  # fmt: skip


def test_comments_right_above_a_job_are_its_description_and_headers_are_not() -> None:
    text = crontab_to_yaml(
        "# Edit this file to introduce tasks to be run by cron.\n"
        "# m h  dom mon dow   command\n"
        "# Nightly backup of the\n"
        "#   orders database\n"
        "30 2 * * * /usr/local/bin/backup-db\n"
        "# a comment with a blank line after it\n"
        "\n"
        "0 3 * * * /usr/local/bin/vacuum\n",
        "tab",
    )
    schedules = parse_config(text).schedules
    assert schedules["backup-db"].description == "Nightly backup of the orders database"
    assert schedules["vacuum"].description is None


def test_environment_lines_reach_the_jobs_below_them_and_cron_tz_sets_their_zone() -> None:
    text = crontab_to_yaml(
        "PATH = /usr/local/bin:/usr/bin:/bin\n"
        "0 1 * * * /bin/one\n"
        "CRON_TZ=Europe/Berlin\n"
        'GREETING="  hello  "\n'
        "TZ=Asia/Tokyo\n"
        "0 2 * * * /bin/two\n",
        "tab",
        timezone="America/New_York",
    )
    one, two = parse_config(text).schedules.values()
    assert (one.timezone, one.env) == ("America/New_York", {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    # cronie reads times in CRON_TZ; TZ only reaches the command (and says so)
    assert two.timezone == "Europe/Berlin"
    assert two.env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "GREETING": "  hello  ", "TZ": "Asia/Tokyo",
    }  # fmt: skip
    assert "TZ=Asia/Tokyo reaches the commands' environment only" in text


def test_mailto_becomes_an_on_error_hook_and_home_the_jobs_folder() -> None:
    text = crontab_to_yaml(
        "MAILTO=ops@example.com\nHOME=/srv/app\n0 1 * * * ./nightly\n", "tab", timezone="UTC"
    )
    config = parse_config(text)
    hook = config.options.on_error
    assert hook is not None and hook[-1] == "ops@example.com" and "mail -s" in hook[2]
    job = config.schedules["nightly"]
    assert (job.cwd, job.env) == ("/srv/app", {"HOME": "/srv/app"})
    assert "cron mailed all output to ops@example.com" in text


def test_another_shell_runs_the_command_as_cron_would() -> None:
    text = crontab_to_yaml("SHELL=/bin/bash\n0 1 * * * echo {a,b}\n", "tab")
    job = parse_config(text).schedules["echo"]
    assert (job.command, job.shell) == (("/bin/bash", "-c", "echo {a,b}"), False)


@pytest.mark.parametrize(
    ("command", "script", "stdin"),
    [
        ("date +%Y", "date +", "Y\n"),
        ("date +\\%Y-\\%m", "date +%Y-%m", None),
        ("mail -s hi joe%Joe,%%Where are you?%", "mail -s hi joe", "Joe,\n\nWhere are you?\n"),
        ("cat%50\\% off%", "cat", "50% off\n"),
        ("cat%a\\b", "cat", "a\\b\n"),
        ("echo \\\\%x", "echo \\\\", "x\n"),
    ],
)  # fmt: skip
def test_percent_signs_split_command_and_input_as_cronie_does(
    command: str, script: str, stdin: str | None
) -> None:
    assert split_percent(command) == (script, stdin)


def test_input_after_a_percent_reaches_the_whole_command_on_its_standard_input() -> None:
    text = crontab_to_yaml('0 1 * * * read a; read b; echo "$b $a"; cat%one%two%three\n', "t")
    job = parse_config(text).schedules["read"]
    assert job.shell
    done = subprocess.run(["/bin/sh", "-c", job.command], capture_output=True, text=True)
    assert done.stdout == "two one\nthree\n"


def test_a_system_crontab_keeps_its_user_field_as_metadata_and_says_so(tmp_path: Path) -> None:
    assert is_system_crontab("/etc/crontab") and is_system_crontab("/etc/cron.d/certbot")
    assert not is_system_crontab("/home/me/my.crontab")
    text = crontab_to_yaml(
        "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
        "/etc/crontab",
    )
    job = parse_config(text).schedules["cron-hourly"]
    assert job.metadata == {"cron_user": "root"}
    assert job.command == "cd / && run-parts --report /etc/cron.hourly"
    assert "ran as root under cron; uno-schedule runs it as its own user" in text
    crontab = tmp_path / "tab"
    crontab.write_text("0 * * * * www-data php /srv/cron.php\n")
    code, text, _ = run_cli("import", "crontab", str(crontab), "--system")
    assert code == 0 and "cron_user: www-data" in text


def test_the_readme_examples_of_importing_run_as_written(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    section = readme.split("## Coming from crontab and systemd timers", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) >= 4
    outputs = []
    for line in lines:
        done = subprocess.run(
            ["bash", "-c", line.replace("/tmp/", f"{tmp_path}/")],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)
        outputs.append(done.stdout)
    # weekdays at 02:30 Berlin time: CET before the clocks go forward on Sunday 29 March
    assert outputs[-1].split() == [
        "2026-03-27T01:30:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z",
    ]  # fmt: skip


def test_an_unknown_cron_tz_refuses_the_jobs_under_it_and_a_tab_may_follow_a_shortcut() -> None:
    text = "@daily\t/usr/bin/vacuumdb --all\nCRON_TZ=Mars/Olympus\nA=1\n0 1 * * * /x\n"
    with pytest.raises(ConfigErrors) as caught:
        crontab_to_yaml(text, "tab")
    assert [str(e).split(":")[:2] for e in caught.value.errors] == [["tab", "2"], ["tab", "4"]]
    assert "the CRON_TZ= of line 2 is not a known zone" in str(caught.value.errors[1])
    job = parse_config(crontab_to_yaml(text, "tab", partial=True)).schedules["vacuumdb"]
    assert (job.command, job.schedule.to_config()) == (
        "/usr/bin/vacuumdb --all",
        {"cron": "@daily"},
    )


def test_a_comment_in_words_is_a_description_and_a_commented_out_job_is_not() -> None:
    text = crontab_to_yaml(
        "# 0 3 * * * /usr/local/bin/old-report\n"
        "# Run every day at 5 am, before the office opens\n"
        "0 5 * * * /usr/local/bin/warm-cache\n",
        "tab",
    )
    job = parse_config(text).schedules["warm-cache"]
    assert job.description == "Run every day at 5 am, before the office opens"


def test_cronies_line_options_no_syslog_and_mail_on_error_only_are_understood() -> None:
    text = crontab_to_yaml(
        "MAILTO=ops@example.com\n-0 5 * * * /usr/local/bin/quiet\n0 6 * * * -n /usr/bin/loud\n",
        "tab",
    )
    config = parse_config(text)
    assert [d.command for d in config.schedules.values()] == [
        "/usr/local/bin/quiet", "/usr/bin/loud",
    ]  # fmt: skip
    assert "cron mailed the output of failures to ops@example.com (-n)" in text

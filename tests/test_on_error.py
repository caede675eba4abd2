"""A schedule's ``on_error`` hook follows the rule of its command.

With ``shell: true`` the command is a script for the shell, and so is a string hook: the
file keeps it as one string, and it must then run under that same shell, not be split
into words and run without one (``touch a; echo done > b`` would touch ``a;``, ``echo``,
``done``, ``>`` and ``b``). Without ``shell:`` a string hook is split into words at load,
as a command is, and a quote left open is refused there.

Each front is exercised: the file through ``trigger --wait`` in a real process, the
library through ``Scheduler.schedule`` and ``run_and_wait``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unoschedule import Scheduler
from unoschedule.config import parse_config
from unoschedule.errors import ConfigErrors


def trigger_and_wait(folder: Path, text: str, name: str) -> subprocess.CompletedProcess[str]:
    """``uno-schedule trigger NAME --wait`` on ``text`` as the file, with no scheduler
    running: the run, and its hook when it fails, happen in that process."""
    config = folder / "schedules.yaml"
    config.write_text(textwrap.dedent(text))
    argv = [sys.executable, "-m", "unoschedule", "-c", str(config)]
    argv += ["--state", str(folder / "state.db"), "trigger", name, "--wait"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=folder)


def test_a_shell_schedules_on_error_string_from_the_file_runs_under_its_shell(
    tmp_path: Path,
) -> None:
    done = trigger_and_wait(
        tmp_path,
        f"""
        schedules:
          failing:
            schedule: "0 3 * * *"
            shell: true
            command: "exit 3"
            on_error: "touch {tmp_path}/ran; echo $UNO_SCHEDULE_NAME > {tmp_path}/said"
        """,
        "failing",
    )
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "ran").exists()
    assert (tmp_path / "said").read_text() == "failing\n"
    assert not (tmp_path / "ran;").exists()  # not split into words and run without a shell


def test_a_shell_schedules_on_error_string_from_the_library_runs_under_its_shell(
    tmp_path: Path,
) -> None:
    async def go() -> dict[str, object]:
        scheduler = Scheduler(storage=tmp_path / "state.db")
        try:
            await scheduler.schedule(
                command="exit 3",
                shell=True,
                on_error=f"touch {tmp_path}/ran; echo $UNO_RESULT > {tmp_path}/said",
                schedule="0 3 * * *",
                name="failing",
            )
            definition = await scheduler.get_schedule("failing")
            assert definition.shell and definition.on_error == (
                f"touch {tmp_path}/ran; echo $UNO_RESULT > {tmp_path}/said"
            )
            return await scheduler.run_and_wait("failing")
        finally:
            scheduler.close()

    assert asyncio.run(go())["result"] == "error"
    assert (tmp_path / "ran").exists()
    assert (tmp_path / "said").read_text() == "error\n"
    assert not (tmp_path / "ran;").exists()


def test_a_shell_schedules_on_error_list_still_runs_as_its_words(tmp_path: Path) -> None:
    """A list is a program and its words as written (the crontab importer's mail hook
    is ``[sh, -c, SCRIPT, sh, ADDRESS]``): the shell of ``shell: true`` is not put
    around it."""
    done = trigger_and_wait(
        tmp_path,
        f"""
        schedules:
          failing:
            schedule: "0 3 * * *"
            shell: true
            command: "exit 3"
            on_error: [sh, -c, 'echo "$1" > {tmp_path}/said', sh, "one word; not two"]
        """,
        "failing",
    )
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "said").read_text() == "one word; not two\n"


def test_without_shell_an_on_error_string_runs_as_words_without_a_shell(tmp_path: Path) -> None:
    done = trigger_and_wait(
        tmp_path,
        f"""
        schedules:
          failing:
            schedule: "0 3 * * *"
            command: [sh, -c, "exit 3"]
            on_error: "touch {tmp_path}/ran; {tmp_path}/also"
        """,
        "failing",
    )
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "ran;").exists() and (tmp_path / "also").exists()
    assert not (tmp_path / "ran").exists()


def test_without_shell_an_on_error_string_with_an_open_quote_is_refused_at_load() -> None:
    text = textwrap.dedent("""
        schedules:
          failing:
            schedule: "0 3 * * *"
            command: "false"
            on_error: "touch '/tmp/never"
    """)
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text, "schedules.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "schedules.yaml:6:15: on_error cannot be split into words: No closing quotation "
        "(check the quotes)"
    ]


def test_a_failing_on_error_hook_is_told_with_its_output_by_trigger_wait(tmp_path: Path) -> None:
    done = trigger_and_wait(
        tmp_path,
        """
        schedules:
          failing:
            schedule: "0 3 * * *"
            command: "false"
            on_error: ["sh", "-c", "echo the mail server is down; exit 4"]
        """,
        "failing",
    )
    assert done.returncode == 1
    assert "on_error hook sh: the mail server is down" in done.stderr
    assert "on_error hook sh failed: exit status 4" in done.stderr


@pytest.mark.slow
def test_a_failing_on_error_hook_is_logged_by_the_runner(tmp_path: Path) -> None:
    from test_ops import Runner, write_config

    write_config(
        tmp_path,
        """
        scheduler: {metrics_enabled: false}
        schedules:
          failing:
            schedule: {every: 1s}
            command: "false"
            on_error: "/nonexistent/uno-hook --page"
        """,
    )
    runner = Runner(tmp_path, "a")
    try:
        runner.wait_log("on_error hook: command not found: /nonexistent/uno-hook")
    finally:
        runner.close()

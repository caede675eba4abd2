"""Every relative path of the schedule file is read against the file's folder, on
every path that reads it (``state``, ``log_dir`` and a schedule's ``cwd`` always were):
``scheduler.import_paths`` and a ``notify:`` block's ``targets_file`` were read against
the folder the process happened to start in."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_relative_import_path_is_read_against_the_files_folder_wherever_the_runner_starts(
    tmp_path: Path,
) -> None:
    """``import_paths: [lib]`` is ``lib`` beside the file, as ``state:`` and ``log_dir:``
    are: a runner started from another folder (a unit's ``WorkingDirectory=/``) finds it."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "deep_tasks.py").write_text("def answer():\n    return 42\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = tmp_path / "schedules.yaml"
    config.write_text(
        textwrap.dedent(
            """
            scheduler:
              import_paths: [lib]
            schedules:
              deep:
                schedule: "0 3 * * *"
                task: deep_tasks.answer
            """
        )
    )
    argv = [sys.executable, "-m", "unoschedule", "-c", str(config), "--state"]
    argv += [str(tmp_path / "state.db"), "trigger", "deep", "--wait", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"result": "success"' in done.stdout


def test_a_relative_targets_file_is_read_against_the_files_folder(tmp_path: Path) -> None:
    from unoschedule.notifications import Notify
    from unoschedule.runner.notify import expand_targets

    (tmp_path / "targets").write_text("# the on-call channel\njson://hooks.example/x\n")
    notify = Notify(targets_file="targets")
    assert expand_targets(notify, {}, folder=str(tmp_path)) == (["json://hooks.example/x"], [])
    urls, problems = expand_targets(notify, {}, folder=str(tmp_path / "nowhere"))
    assert urls == [] and problems[0].startswith("cannot read targets_file targets")

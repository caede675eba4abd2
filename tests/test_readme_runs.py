"""Every shell line of the README runs as written, against a copy of the example file.

The lines are read from the README's ```sh blocks, in order, and each is run by bash in
a temporary folder that holds a copy of ``schedules.example.yaml`` (so a temporary
state), ``contrib/import/`` and a ``.venv`` pointing at this interpreter's. A line exits
0 or the test fails. The only lines not run are those the rules in ``SKIPPED`` name,
each with its reason, and ``test_only_the_listed_lines_are_skipped`` pins how many there
are, so that a new line cannot be skipped without changing this file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Lines that cannot run in a test, each rule with its reason.
SKIPPED: tuple[tuple[str, str], ...] = (
    (r"\bsudo\b", "root on the host: the install guide (tests/test_units.py checks its layout)"),
    (r"^systemctl ", "talks to the host's systemd"),
    (r"^make (run|test)\b", "installs into .venv and runs the scheduler or the whole suite"),
    (r"\bredis://redis\.internal\b", "a Redis host of the example deployment"),
)
#: How many lines the rules above skip; change it only with the README.
SKIPPED_COUNT = 14

#: Lines run as the README means them, not to their end: ``run`` in the background for
#: the lines after it (as in a second terminal), ``top`` until Ctrl-C after a screen.
BACKGROUND = re.compile(r"^us run\b")
LIVE = re.compile(r"^us top\b")

#: Paths outside the folder written by the lines, moved into it.
REWRITES = (("/tmp/", "{work}/tmp/"),)


def shell_lines() -> list[str]:
    """The commands of the README's ``sh`` blocks: continuations joined, comments out."""
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.S | re.M):
        joined = block.replace("\\\n", " ")
        for raw in joined.splitlines():
            line = re.sub(r"\s+", " ", raw).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def skip_reason(line: str) -> str | None:
    for pattern, reason in SKIPPED:
        if re.search(pattern, line):
            return reason
    return None


def test_only_the_listed_lines_are_skipped() -> None:
    skipped = [line for line in shell_lines() if skip_reason(line)]
    assert len(skipped) == SKIPPED_COUNT, "\n".join(skipped)
    assert len(shell_lines()) - len(skipped) >= 25


def test_every_shell_line_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    (work / "tmp").mkdir(parents=True)
    shutil.copy(ROOT / "schedules.example.yaml", work)
    shutil.copytree(ROOT / "contrib" / "import", work / "contrib" / "import")
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    aliases: list[str] = []
    runner: subprocess.Popen[str] | None = None
    failures: list[str] = []

    def script(line: str) -> str:
        for old, new in REWRITES:
            line = line.replace(old, new.format(work=work))
        # ``exec`` followed by a space in its alias expands the alias after it
        return "\n".join(["shopt -s expand_aliases", "alias exec='exec '", *aliases, line])

    try:
        for line in shell_lines():
            if skip_reason(line):
                continue
            if line.startswith("alias "):
                aliases.append(line)
                continue
            if BACKGROUND.search(line):
                runner = subprocess.Popen(
                    ["bash", "-c", script("exec " + line)],
                    cwd=work,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                wait_for_leader(work, env, script)
                continue
            if LIVE.search(line):
                done = run_live(script(line), work, env)
            else:
                done = subprocess.run(
                    ["bash", "-c", script(line)],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            if done.returncode != 0:
                failures.append(f"{line}\n  exit {done.returncode}: {done.stderr.strip()}")
    finally:
        if runner is not None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(60)
    assert runner is not None, "the README no longer starts `us run`"
    assert not failures, "\n".join(failures)


def wait_for_leader(work: Path, env: dict[str, str], script: object) -> None:
    """Until ``us health`` says a leader holds the lease (polled, with a deadline)."""
    assert callable(script)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["bash", "-c", script("us health")], cwd=work, env=env, capture_output=True
        )
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the README's `us run` did not lead within 60 s")


def run_live(script: str, work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A live view, ended by Ctrl-C (SIGINT) after it has had 3 s to draw; it must end
    then (status 0 or 130) and have drawn something."""
    process = subprocess.Popen(
        ["bash", "-c", script.replace("\nus ", "\nexec us ")],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            return subprocess.CompletedProcess(process.args, 1, out, "Ctrl-C did not end it")
    code = 0 if process.returncode in (0, 130, -signal.SIGINT) and out.strip() else 1
    return subprocess.CompletedProcess(process.args, code, out, err or "it drew nothing")


def test_the_readme_library_example_runs_as_written(tmp_path: Path) -> None:
    """The ``python`` block of "The library": it schedules, prints three next runs,
    starts (leads, says it is ready with its one schedule) and shuts down."""
    text = README.read_text()
    match = re.search(r"^## The library\n\n```python\n(.*?)^```", text, re.S | re.M)
    assert match is not None, "the README has no library example"
    (tmp_path / "var").mkdir()
    (tmp_path / "example.py").write_text(match.group(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Z'") == 3, done.stdout
    assert "ready: 1 schedule, epoch 1" in done.stderr, done.stderr

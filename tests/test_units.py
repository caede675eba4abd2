"""The systemd units as README "Install as a service" installs them.

The install is laid out in a temporary root: the venv's files where the wheel puts them
(``pyproject.toml``'s data-files under ``<venv>/share``), then the guide's own ``sudo
install SRC DEST`` lines copied from the README. Both units must then pass
``systemd-analyze verify``, their ``Documentation=`` man page included. The one change
made to a unit is its venv prefix, which points into the temporary root (a test cannot
write ``/opt``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = "/opt/uno-schedule/venv"
UNITS = ("uno-schedule.service", "uno-schedule-worker.service")


def guide_installs() -> list[tuple[str, str]]:
    """The (source, destination) of each ``sudo install`` line of the README's guide."""
    text = ROOT.joinpath("README.md").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:2] == ["sudo", "install"]:
            paths = [w for w in words[2:] if w.startswith("/")]
            pairs.append((paths[0], paths[1]))
    return pairs


def install(root: Path) -> None:
    """The wheel's files into ``root/opt/...``, then the guide's install lines."""
    venv = root / VENV.lstrip("/")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "uno-schedule").symlink_to(Path(sys.executable).parent / "uno-schedule")
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    for folder, files in project["tool"]["setuptools"]["data-files"].items():
        (venv / folder).mkdir(parents=True, exist_ok=True)
        for name in files:
            text = ROOT.joinpath(name).read_text()
            venv.joinpath(folder, Path(name).name).write_text(text.replace(VENV, str(venv)))
    for source, destination in guide_installs():
        target = root / destination.lstrip("/")
        if destination.endswith("/"):
            target = target / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / source.lstrip("/"), target)


def test_the_guide_installs_both_units_and_the_man_page_from_the_wheel() -> None:
    sources = [source for source, _ in guide_installs()]
    assert f"{VENV}/share/uno-schedule/uno-schedule.service" in sources
    assert f"{VENV}/share/man/man1/uno-schedule.1" in sources
    readme = ROOT.joinpath("README.md").read_text()
    assert "<venv>/share/uno-schedule/uno-schedule-worker.service" in readme


@pytest.mark.parametrize("unit", UNITS)
def test_a_unit_runs_the_guides_venv_with_the_same_hardening(unit: str) -> None:
    text = ROOT.joinpath("contrib", unit).read_text()
    settings = [line for line in text.splitlines() if not line.startswith("#")]
    execs = [line for line in settings if line.startswith("ExecStart=")]
    assert execs and all(
        line.startswith(f"ExecStart={VENV}/bin/uno-schedule ")
        or line == f"ExecStart={VENV}/bin/uno-schedule run"
        for line in execs
    )
    assert "Documentation=man:uno-schedule(1)" in settings
    assert not any(line.startswith("MemoryDenyWriteExecute=") for line in settings)
    assert not any(line.startswith("SystemCallFilter=") for line in settings)
    families = [line for line in settings if line.startswith("RestrictAddressFamilies=")]
    assert families == ["RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert "example.invalid" not in text


@pytest.mark.parametrize("unit", UNITS)
def test_a_unit_installed_as_the_guide_says_passes_systemd_analyze_verify(
    unit: str, tmp_path: Path
) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None or shutil.which("man") is None:
        pytest.skip("systemd-analyze or man is not installed")
    install(tmp_path)
    installed = tmp_path / "etc" / "systemd" / "system" / unit
    if not installed.exists():  # the worker's unit: installed "the same way"
        shutil.copy(tmp_path / VENV.lstrip("/") / "share" / "uno-schedule" / unit, installed)
    env = dict(os.environ, MANPATH=str(tmp_path / "usr" / "local" / "share" / "man"))
    done = subprocess.run(
        [tool, "verify", str(installed)], capture_output=True, text=True, timeout=60, env=env
    )
    # systemd only warns about a bad line and goes on: any line about the unit fails
    about = [line for line in done.stderr.splitlines() if re.search(re.escape(unit), line)]
    assert done.returncode == 0 and about == [], done.stderr

"""The fast path of the everyday commands (``unoschedule.cli.fastpath``) against typer.

For every command line it understands, the values it hands a command's action must be
the values typer's parsing of the same declaration hands it; every command line typer
rejects or treats specially (help, --version, completion) it must leave to typer. Both
are checked on a hand-written corpus and on command lines generated from the table."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unoschedule.cli import actions, app, fastpath, output, session

SPEC = fastpath.table()
GROUP = typer.main.get_command(app)
ENV_KEYS = ("UNO_SCHEDULE_CONFIG", "UNO_SCHEDULE_STATE", SPEC["complete_var"])

#: (what the action got: its name, the global options, its values), or None: not called.
Called = tuple[str, session.Globals, dict[str, Any]] | None


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    try:
        for key in ENV_KEYS:
            os.environ.pop(key, None)
        os.environ.update(env)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        output.set_plain(False)


#: Options typer acts on itself (never run here: --install-completion edits ~/.bashrc).
SPECIAL = tuple(o for p in SPEC["global"] if p["special"] for o in p["opts"])


def through_typer(argv: list[str], env: dict[str, str]) -> Called:
    """What typer hands the action for ``argv`` (every action replaced by a recorder)."""
    if any(a.split("=")[0] in SPECIAL for a in argv):
        return None  # typer's own: the fast path must leave it (checked below)
    got: list[tuple[str, session.Globals, dict[str, Any]]] = []
    saved = {name: getattr(actions, name) for name in actions.EVERYDAY.values()}

    def recorder(name: str) -> Any:
        def record(g: session.Globals, **values: Any) -> None:
            got.append((name, g, values))

        return record

    try:
        for name in saved:
            setattr(actions, name, recorder(name))
        with environment(env):
            GROUP.main(args=list(argv), prog_name="uno-schedule", standalone_mode=False)
    except Exception:  # a usage error, help, --version: typer's own handling
        return None
    finally:
        for name, function in saved.items():
            setattr(actions, name, function)
    return got[0] if got else None


def through_fastpath(argv: list[str], env: dict[str, str]) -> Called:
    with environment(env):
        parsed = fastpath.parse(list(argv), os.environ, SPEC)
        if parsed is None:
            return None
        command, given_values, values = parsed
        return SPEC["commands"][command]["action"], session.start(**given_values), values


def typed(called: Called) -> Any:
    """Values with their types, so that 5 and 5.0, a list and a tuple, differ."""
    if called is None:
        return None
    name, g, values = called
    return name, repr(g), sorted((k, repr(v)) for k, v in values.items())


def filled(argv: list[str], files: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for key, value in files.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def check_same(argv: list[str], env: dict[str, str] | None = None) -> Called:
    env = env or {}
    fast = through_fastpath(argv, env)
    slow = through_typer(argv, env)
    if fast is not None:
        assert typed(fast) == typed(slow), argv
    if slow is None:
        assert fast is None, f"typer rejects {argv}, the fast path took it"
    return fast


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("fastpath")
    (folder / "s.yaml").write_text("schedules: {}\n")
    (folder / "other.yaml").write_text("schedules: {}\n")
    return {
        "file": str(folder / "s.yaml"),
        "other": str(folder / "other.yaml"),
        "folder": str(folder),
        "missing": str(folder / "nothing-here.yaml"),
    }


CORPUS: list[list[str]] = [
    ["list"],
    ["list", "--json"],
    ["list", "--status", "paused", "--tag", "a", "--tag=b", "--tz", "UTC"],
    ["list", "--status=active", "--tz=Europe/Berlin", "--json", "--json"],
    ["--plain", "list"],
    ["list", "-o", "wide"],
    ["list", "--output=wide", "--json"],
    ["list", "-owide"],
    ["history", "backup", "-o", "wide"],
    ["--state", "x.db", "-c", "{file}", "list", "--tag", "ops"],
    ["--config={file}", "--state=redis://h:6379/0", "list"],
    ["-c{file}", "stats"],
    ["stats", "--json"],
    ["status", "backup"],
    ["status", "--tz", "local", "backup", "--json"],
    ["status", "--", "--odd-name"],
    ["next-runs", "backup", "-n", "3"],
    ["next-runs", "backup", "-n3", "--from", "2026-03-28T00:00:00Z", "--json"],
    ["next-runs", "--count=7", "backup", "--from=now", "--tz", "schedule"],
    ["next-runs", "backup", "--count", "2", "--count", "4"],
    ["history", "backup"],
    ["history", "backup", "-n", "10", "--versions", "--tz", "UTC"],
    ["history", "--limit=1", "backup", "--json"],
    ["validate"],
    ["validate", "--json"],
    ["validate", "{file}", "{other}"],
    ["validate", "{missing}", "--json"],
    ["validate", "{folder}"],
    ["pause", "backup"],
    ["pause", "--all", "--reason", "disk swap", "--until", "2h"],
    ["pause", "backup", "--reason=", "--until=2030-01-01T00:00:00Z", "--json"],
    ["pause"],
    ["pause", "backup", "--all"],
    ["resume", "backup"],
    ["resume", "--all", "--json"],
    ["trigger", "backup"],
    ["trigger", "backup", "--arg", "/tmp", "--arg", "7", "--kwarg", "day=2026-03-01"],
    ["trigger", "report", "--kwarg=dry_run=true", "--kwarg", "x=[1, 2]", "--wait", "--json"],
    ["trigger", "backup", "--kwarg", "novalue"],
    ["event", "inventory.low_stock"],
    ["event", "inventory.low_stock", "--data", '{"sku": "A-42"}', "--json"],
    ["event", "inventory.low_stock", "--data", "-"],
    ["event", "inventory.sync", "--data=@payload.json"],
]


@pytest.mark.parametrize("argv", CORPUS, ids=" ".join)
def test_the_fast_path_hands_an_action_what_typer_hands_it(
    argv: list[str], files: dict[str, str]
) -> None:
    argv = filled(argv, files)
    assert check_same(argv) is not None, f"the fast path declined {argv}"


@pytest.mark.parametrize(
    "env",
    [
        {"UNO_SCHEDULE_CONFIG": "{file}"},
        {"UNO_SCHEDULE_CONFIG": "{missing}", "UNO_SCHEDULE_STATE": "/tmp/state.db"},
        {"UNO_SCHEDULE_STATE": ""},
        {"UNO_SCHEDULE_CONFIG": ""},
    ],
)
def test_the_global_options_from_the_environment_are_typer_s(
    env: dict[str, str], files: dict[str, str]
) -> None:
    env = dict(zip(env, filled(list(env.values()), files), strict=True))
    for argv in (["list"], ["--state", "given.db", "status", "x"], ["-c", files["other"], "stats"]):
        assert check_same(argv, env) is not None


DECLINED: list[list[str]] = [
    [],
    ["--help"],
    ["list", "--help"],
    ["status", "-h"],
    ["--version"],
    ["--version", "list"],
    ["--install-completion", "bash"],
    ["--show-completion", "bash"],
    ["nonsense"],
    ["plan"],
    ["calendar"],
    ["list", "--nope"],
    ["list", "extra"],
    ["list", "-c", "x.yaml"],
    ["list", "--json=yes"],
    ["list", "--status"],
    ["status"],
    ["status", "a", "b"],
    ["next-runs", "backup", "-n", "0"],
    ["next-runs", "backup", "-n", "many"],
    ["next-runs", "backup", "--count=1.5"],
    ["history", "backup", "--limit", "-3"],
    ["pause", "--reason", "--json", "x"],
    ["-c", "{folder}/nothing/deeper/../s.yaml", "list", "--tz"],
    ["-x", "list"],
    ["--plain=1", "list"],
]


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "(nothing)")
def test_the_fast_path_leaves_to_typer_what_typer_rejects_or_treats_specially(
    argv: list[str], files: dict[str, str]
) -> None:
    argv = filled(argv, files)
    assert through_fastpath(argv, {}) is None


def test_an_unreadable_config_file_is_taken_by_both_paths_alike(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("schedules: {}\n")
    path.chmod(0)
    try:
        assert check_same(["-c", str(path), "list"]) is not None
    finally:
        path.chmod(0o600)


def test_shell_completion_is_left_to_typer() -> None:
    env = {SPEC["complete_var"]: "bash_complete"}
    assert through_fastpath(["list"], env) is None


# -- command lines generated from the table ------------------------------------------------

VALUES = st.sampled_from(
    ["", "0", "1", "5", "-1", "1.5", "x", "backup", "-", "-x", "--json", "a=1", "2h", "UTC"]
)


@st.composite
def option_tokens(draw: st.DrawFn, param: dict[str, Any], files: dict[str, str]) -> list[str]:
    """One occurrence of an option in one of its spellings."""
    names = [*param["opts"], *param["secondary_opts"]]
    name = draw(st.sampled_from(names))
    if param["flag"]:
        return [name] if draw(st.integers(0, 9)) else [f"{name}=1"]
    pool = VALUES | st.sampled_from(list(files.values()))
    value = draw(pool)
    form = draw(st.sampled_from(["separate", "equals", "attached"]))
    if form == "equals" and name.startswith("--"):
        return [f"{name}={value}"]
    if form == "attached" and not name.startswith("--"):
        return [name + value]
    return [name, value]


@st.composite
def command_lines(draw: st.DrawFn, files: dict[str, str]) -> list[str]:
    argv: list[str] = []
    for param in draw(st.lists(st.sampled_from(SPEC["global"]), max_size=3)):
        argv += draw(option_tokens(param, files))
    if draw(st.integers(0, 19)) == 0:
        argv.append(draw(st.sampled_from(["-h", "--help", "plan", "bogus", "--"])))
    name = draw(st.sampled_from(sorted(SPEC["commands"])))
    argv.append(name)
    params = SPEC["commands"][name]["params"]
    options = [p for p in params if p["kind"] == "option"]
    parts: list[list[str]] = [
        draw(option_tokens(p, files)) for p in draw(st.lists(st.sampled_from(options), max_size=5))
    ]
    words = VALUES | st.sampled_from(list(files.values()))
    wanted = sum(1 if p["nargs"] == 1 else 2 for p in params if p["kind"] == "argument")
    size = wanted if draw(st.integers(0, 3)) else draw(st.integers(0, 3))
    positional = draw(st.lists(words, min_size=size, max_size=size))
    parts += [[p] for p in positional]
    if draw(st.integers(0, 9)) == 0:
        parts.append([draw(st.sampled_from(["--bogus", "-q", "--", "-h", "--json=no"]))])
    order = draw(st.permutations(range(len(parts))))
    for i in order:
        argv += parts[i]
    return argv


ENVS = st.fixed_dictionaries(
    {},
    optional={
        "UNO_SCHEDULE_CONFIG": st.sampled_from(["", "env.yaml", "/tmp"]),
        "UNO_SCHEDULE_STATE": st.sampled_from(["", "env.db"]),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_command_lines_get_typer_s_values_or_are_left_to_typer(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.getbasetemp() / "generated"
    folder.mkdir(exist_ok=True)
    (folder / "s.yaml").write_text("schedules: {}\n")
    files = {"file": str(folder / "s.yaml"), "folder": str(folder)}
    argv = data.draw(command_lines(files))
    env = data.draw(ENVS)
    check_same(argv, env)


# -- a real process: the same bytes either way ----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

SCHEDULES = """\
scheduler:
  timezone: Europe/Berlin
schedules:
  backup:
    description: Nightly backup
    schedule: "30 2 * * *"
    command: ["true"]
    tags: [ops]
  poll:
    schedule: {every: 5m}
    command: ["true"]
  restock:
    schedule: {event: inventory.low_stock}
    command: ["true"]
"""

#: Command lines and the standard input they get: outputs without run ids or times
#: relative to now, so that two processes print the same bytes.
SAME_BYTES: list[tuple[list[str], str]] = [
    (["list"], ""),
    (["list", "--status", "paused"], ""),
    (["list", "-o", "wide"], ""),
    (["list", "-o", "tall"], ""),
    (["--plain", "status", "backup"], ""),
    (["status", "bakup"], ""),
    (["status", "backup", "--tz", "Mars/Olympus"], ""),
    (["next-runs", "backup", "-n", "3", "--from", "2026-03-28T00:00:00Z"], ""),
    (["next-runs", "backup", "--from", "yesterday"], ""),
    (["history", "backup", "--json"], ""),
    (["stats", "--json"], ""),
    (["validate"], ""),
    (["validate", "--json", "missing.yaml"], ""),
    (["pause", "backup", "--reason", "disk swap"], ""),
    (["pause", "backup", "--until", "soon"], ""),
    (["pause"], ""),
    (["resume", "backup"], ""),
    (["resume", "--all", "--json"], ""),
    (["trigger", "backup", "--kwarg", "novalue"], ""),
    (["trigger", "backup", "--kwarg", "retries=[1"], ""),
    (["event", "inventory.low_stock", "--data", "-"], "[1, 2]"),
    (["event", "nobody.listens"], ""),
]


def _side(folder: Path) -> Path:
    folder.mkdir()
    config = folder / "schedules.yaml"
    config.write_text(SCHEDULES)
    return config


def _run(config: Path, code: str, argv: list[str], stdin: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="80", TZ="UTC")
    done = subprocess.run(
        [sys.executable, "-c", code, "-c", str(config), "--state", "state.db", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=config.parent,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_the_fast_path_prints_the_bytes_and_exits_with_the_status_typer_gives(
    tmp_path: Path,
) -> None:
    """Each command line through ``main`` (the fast path) and through the typer
    application itself, in processes of their own over twin folders: same exit status,
    same stdout, same stderr (usage errors an action raises included)."""
    fast = _side(tmp_path / "fast")
    slow = _side(tmp_path / "typer")
    main = "import sys; from unoschedule.cli import main; main(sys.argv[1:])"
    typer_app = "from unoschedule.cli import app; app(prog_name='uno-schedule')"
    for argv, stdin in SAME_BYTES:
        got = _run(fast, main, argv, stdin)
        want = _run(slow, typer_app, argv, stdin)
        assert got == want, argv


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["list"], ["stats", "--json"]])
def test_a_reader_that_went_away_ends_the_command_as_typer_ends_it(
    tmp_path: Path, argv: list[str]
) -> None:
    """Output into a pipe whose reader has closed it: the same exit status and nothing
    more on stderr, through the fast path as through the typer application."""
    config = _side(tmp_path / "pipe")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_SCHEDULE_")}
    env["PYTHONPATH"] = str(ROOT)
    ends = []
    for code in (
        "import sys; from unoschedule.cli import main; main(sys.argv[1:])",
        "from unoschedule.cli import app; app(prog_name='uno-schedule')",
    ):
        words = [sys.executable, "-c", code, "-c", str(config), *argv]
        shell = shlex.join(words)
        shell += ' | (exec 0<&-; sleep 1); echo "status ${PIPESTATUS[0]}" >&2'
        done = subprocess.run(
            ["bash", "-c", shell], capture_output=True, text=True, timeout=60, env=env
        )
        ends.append(done.stderr)
    assert ends[0] == ends[1]

"""The package's import graph: imports flow one way, towards the pure core, and each
third-party library has one home module.

Read from the source (every ``import``, including those inside functions), so a lazy
import that breaks a rule fails here as surely as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "unoschedule"

#: Pure schedule math and the plain values it works on: no I/O, "now" passed in.
CORE = {
    "cron",
    "wallclock",
    "schedules",
    "timeutil",
    "describe",
    "errors",
    "model",
    # an attempt's spec and outcome, and what the run loop hands the stores: plain values
    "jobs",
    "records",
    "ids",
    "runs",
    "names",
    "statements",
    "values",
    # when things run: calendars (holidays from their home module), blackouts, jitter
    "calendars",
    "holidaycal",
    "blackout",
    "effective",
    # what a due occurrence does while runs of its schedule are in flight (overlap policy)
    "overlap",
    # what follows a run: chains (after:) and notifications (notify:), their pure rules
    "chains",
    "notifications",
}

#: What each layer may import from the package (besides itself and the core).
ALLOWED: dict[str, set[str]] = {
    "abc": set(),
    # pause records and what pause calls paused (the store's rows; pure helpers)
    "pauses": {"abc"},
    "private": set(),
    "wakeup": set(),
    "store": {"abc", "wakeup", "private", "lock", "pauses"},
    "storage": {"store"},
    # metrics, health and run output files: read by the runner and the Scheduler alike
    "report": {"abc", "store", "config", "private"},
    "lock": {"private"},
    "sync": {"abc", "config"},
    "config": {"store"},
    # the state's record of the file whose schedules it holds
    "filestamp": {"abc", "config"},
    "runner": {
        "abc",
        "store",
        "lock",
        "sync",
        "config",
        "wakeup",
        "filestamp",
        "private",
        "report",
        "pauses",
    },
    "scheduler": {
        "abc",
        "store",
        "lock",
        "sync",
        "config",
        "runner",
        "wakeup",
        "filestamp",
        "private",
        "report",
        "pauses",
    },
    "cli": {
        "abc",
        "store",
        "lock",
        "sync",
        "config",
        "runner",
        "scheduler",
        "filestamp",
        "wakeup",
        "private",
        "report",
        "pauses",
    },
}

#: Third-party libraries and the only modules (or packages) that may import them.
HOMES = {
    "typer": {"cli"},
    "click": {"cli"},
    "rich": {"cli"},
    "yaml": {"config"},
    "sqlite_utils": {"store.sqlite"},
    "filelock": {"lock"},
    "redis": {"store.redis"},
    "prometheus_client": set(),
    "holidays": {"holidaycal"},
    "apprise": {"notify_apprise"},
    "croniter": set(),
    "dateutil": set(),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of what ``path`` imports (package modules without the prefix)."""
    name = _name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                found.add("unoschedule." + target if target else "unoschedule")
            elif node.module:
                found.add(node.module)
    return found


#: Modules that are parts of a layer without being named after it: the Scheduler's
#: operations (they work on its store and clock), and what the runner reports with.
PARTS = {
    "backfill": "scheduler",
    "explain": "scheduler",
    "overview": "scheduler",
    "metrics": "report",
    "health": "report",
    "runlogs": "report",
    "budget": "report",
    "shell": "scheduler",
    # what a file may not remove from the state (a schedule the API's run after): asked
    # with the file's plan, by the runner, ``plan`` and ``validate``
    "followed": "sync",
    # the state's identity: checked by runners and workers, reported by health
    "identity": "report",
    # the home of apprise, imported by the runner's notifier when it sends
    "notify_apprise": "runner",
}


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return "core" if top in CORE else PARTS.get(top, top)


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_imports_flow_towards_the_core(path: Path) -> None:
    module = _name(path)
    if module in ("", "__main__"):
        return  # the package's lazy re-exports and ``python -m``
    layer = _layer(module)
    allowed = ALLOWED.get(layer, set()) | {layer, "core"}
    wrong = []
    for target in _imports(path):
        if not target.startswith("unoschedule."):
            continue
        inner = target.removeprefix("unoschedule.")
        if _layer(inner) not in allowed:
            wrong.append(inner)
    assert not wrong, f"{module} ({layer}) imports {sorted(wrong)}"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_each_third_party_library_has_one_home(path: Path) -> None:
    module = _name(path)
    for target in _imports(path):
        library = target.split(".")[0]
        homes = HOMES.get(library)
        if homes is None:
            continue
        assert any(module == h or module.startswith(h + ".") for h in homes), (
            f"{module} imports {library}; its home is {sorted(homes) or 'nowhere at run time'}"
        )


def test_the_pure_core_imports_nothing_outside_it() -> None:
    for path in _modules():
        module = _name(path)
        if _layer(module) != "core":
            continue
        outside = {
            t.removeprefix("unoschedule.")
            for t in _imports(path)
            if t.startswith("unoschedule.") and _layer(t.removeprefix("unoschedule.")) != "core"
        }
        assert not outside, f"{module} imports {sorted(outside)}"


def test_the_shared_run_fields_are_the_models() -> None:
    from dataclasses import fields

    from unoschedule.model import RunRecord
    from unoschedule.statements import RUN_FIELDS

    assert tuple(f.name for f in fields(RunRecord)) == RUN_FIELDS


def test_the_shared_schedule_fields_are_the_models() -> None:
    from dataclasses import fields

    from unoschedule.model import ScheduleState
    from unoschedule.statements import SCHEDULE_FIELDS

    assert tuple(f.name for f in fields(ScheduleState)) == SCHEDULE_FIELDS

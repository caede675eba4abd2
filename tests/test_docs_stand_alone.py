"""The repository's docs stand alone: what they name exists for a user who has only the
repository (no design document, no product specification), and every name the library
reference lists imports from ``unoschedule``."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import unoschedule
from unoschedule import errors

ROOT = Path(__file__).resolve().parent.parent
#: What a user reads: the README, docs/, the man page, the units, the example file.
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "man" / "uno-schedule.1",
    *sorted((ROOT / "contrib").glob("*.service")),
    ROOT / "schedules.example.yaml",
]
ELSEWHERE = re.compile(r"\bSPEC\b|design document|shared/", re.I)


def public_docstrings() -> dict[str, str]:
    """The docstrings ``help()`` and docs/library.md show: the package's, each public
    name's and its public members'."""
    found = {"unoschedule": inspect.getdoc(unoschedule) or ""}
    for name in unoschedule.__all__:
        obj = getattr(unoschedule, name)
        found[name] = inspect.getdoc(obj) or ""
        for member, value in vars(obj).items() if isinstance(obj, type) else []:
            if not member.startswith("_"):
                found[f"{name}.{member}"] = inspect.getdoc(value) or ""
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_refers_to_nothing_a_user_does_not_have(page: Path) -> None:
    hits = [line for line in page.read_text().splitlines() if ELSEWHERE.search(line)]
    assert hits == []


def test_no_public_docstring_refers_to_the_specification() -> None:
    hits = {name: doc for name, doc in public_docstrings().items() if ELSEWHERE.search(doc)}
    assert hits == {}


@pytest.mark.parametrize("page", PAGES[:-3], ids=lambda p: p.name)
def test_every_local_link_of_a_page_exists(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / target).exists(), target


def test_every_name_the_library_reference_lists_imports_from_unoschedule() -> None:
    text = (ROOT / "docs" / "library.md").read_text()
    assert "Every name below is importable from `unoschedule`" in text
    names = re.findall(r"^### `(\w+)`", text, re.M)
    assert len(names) > 20
    fresh = importlib.reload(unoschedule)
    missing = [name for name in names if not hasattr(fresh, name) or name not in fresh.__all__]
    assert missing == []


def test_every_error_class_is_exported() -> None:
    classes = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type)
        and issubclass(obj, BaseException)
        and obj.__module__ == errors.__name__
    }
    assert classes <= set(unoschedule.__all__)

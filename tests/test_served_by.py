"""The record of which state serves a file (``runner.servedby``): a warning for the same
file served by another state, none for a stranger that reuses a deleted file's inode."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from unoschedule.runner.log import Logger
from unoschedule.runner.servedby import check_served_by, registry_folder
from unoschedule.store.sqlite import SQLiteStorage


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def served(config: Path, state: Path) -> str:
    """What a runner on ``state`` logs about ``config`` as it starts."""
    stream = io.StringIO()
    store = SQLiteStorage(state)
    try:
        check_served_by(config, state, store, Logger(stream))
    finally:
        store.close()
    return stream.getvalue()


def record_for(file: Path, **fields: object) -> None:
    """A registry record for ``file``'s inode, as an earlier runner left it."""
    st = os.stat(file)
    folder = registry_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{st.st_dev}-{st.st_ino}.json").write_text(json.dumps(fields))


def test_a_file_last_served_by_another_state_is_warned_of(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules: {}\n")
    assert served(config, tmp_path / "a.db") == ""
    assert "was last served with the state" in served(config, tmp_path / "b.db")


def test_a_file_that_got_the_inode_of_a_deleted_one_is_not_taken_for_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules: {}\n")
    gone = tmp_path / "gone.yaml"  # the file the record was made for: deleted since
    record_for(config, state=str(tmp_path / "other.db"), pid=0, host="", config=str(gone))
    assert served(config, tmp_path / "a.db") == ""
    another = tmp_path / "another.yaml"  # a path that exists, but as another file
    another.write_text("schedules: {}\n")
    record_for(config, state=str(tmp_path / "other.db"), pid=0, host="", config=str(another))
    assert served(config, tmp_path / "a.db") == ""


def test_a_hard_link_of_the_file_served_by_another_state_is_the_same_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("schedules: {}\n")
    link = tmp_path / "link.yaml"
    os.link(config, link)
    assert served(link, tmp_path / "a.db") == ""
    assert "was last served with the state" in served(config, tmp_path / "b.db")

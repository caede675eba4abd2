"""The leader lock: exclusive, says who holds it, and dies with its holder."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from unoschedule.errors import LeadershipError
from unoschedule.lock import LeaderLock


def test_exclusive_and_released(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    a = LeaderLock(state)
    b = LeaderLock(str(state) + ".lock")  # the lock file itself names the same lock
    assert a.path == b.path == Path(str(state) + ".lock")
    assert a.acquire(blocking=False) is True
    assert a.held and a.acquire(blocking=False) is True  # already ours
    assert b.acquire(blocking=False) is False and not b.held
    assert stat.S_IMODE(os.stat(a.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(a.info_path).st_mode) == 0o600
    assert b.holder() == f"pid {os.getpid()} on {os.uname().nodename}"
    a.release()
    assert not a.held
    assert b.acquire(blocking=False) is True
    b.release()
    b.release()  # twice is harmless


@pytest.mark.serial
def test_blocking_timeout_and_on_wait(tmp_path: Path) -> None:
    a = LeaderLock.for_state(tmp_path / "state.db")
    b = LeaderLock.for_state(tmp_path / "state.db")
    assert a.acquire()
    calls: list[int] = []
    t = time.monotonic()
    assert b.acquire(timeout=0.3, on_wait=lambda: calls.append(1)) is False
    assert 0.25 <= time.monotonic() - t < 1.0
    assert calls == [1]
    assert b.acquire(blocking=True, timeout=0) is False and calls == [1]
    a.release()
    assert b.acquire(timeout=1, on_wait=lambda: calls.append(2)) is True
    assert calls == [1]  # it did not have to wait
    b.release()


def test_context_manager(tmp_path: Path) -> None:
    with LeaderLock(tmp_path / "s.db") as lock:
        assert lock.held
        assert not LeaderLock(tmp_path / "s.db").acquire(blocking=False)
    assert not lock.held
    assert not lock.info_path.exists()


def test_unusable_directory_is_a_leadership_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LeadershipError, match="lock file"):
        LeaderLock(blocker / "sub" / "state.db").acquire(blocking=False)


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from unoschedule.lock import LeaderLock
    lock = LeaderLock(sys.argv[1])
    assert lock.acquire(blocking=False)
    print("held", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_lock_dies_with_its_holder(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        lock = LeaderLock(state)
        assert lock.acquire(blocking=False) is False
        assert lock.holder() == f"pid {child.pid} on {os.uname().nodename}"
        # a standby already waiting takes over within a second of the holder's death
        waited: list[bool] = []
        acquired: list[float] = []

        def standby() -> None:
            if lock.acquire(timeout=10, on_wait=lambda: waited.append(True)):
                acquired.append(time.monotonic())

        thread = threading.Thread(target=standby)
        thread.start()
        time.sleep(0.2)
        assert waited == [True] and not acquired
        killed = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        thread.join(5)
        assert acquired and acquired[0] - killed < 1.0
        assert lock.holder() == f"pid {os.getpid()} on {os.uname().nodename}"
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

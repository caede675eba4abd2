"""Tasks that tests/test_executor.py runs through ``task:`` paths (imported by path root)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any


def add(a: int, b: int, *, scale: int = 1) -> dict[str, Any]:
    return {"sum": (int(a) + int(b)) * scale, "pid": os.getpid()}


async def async_add(a: int, b: int, *, scale: int = 1) -> int:
    await asyncio.sleep(0)
    return (int(a) + int(b)) * scale


def sleep_sync(seconds: float) -> str:
    time.sleep(float(seconds))
    return "woke up"


async def sleep_async(seconds: float) -> str:
    await asyncio.sleep(float(seconds))
    return "woke up"


def boom(message: str = "boom") -> None:
    raise ValueError(message)


def spawn_and_sleep(pid_file: str) -> None:
    """Start a grandchild (writes its pid) and hang: the whole group must die at timeout."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    with open(pid_file, "w") as fh:
        fh.write(str(child.pid))
    time.sleep(300)


class Greeter:
    @staticmethod
    def hello(name: str) -> str:
        return f"hello {name}"


#: Set by a test to let ``block_async`` return.
RELEASE = threading.Event()


async def block_async() -> str:
    RELEASE.wait()  # a blocking call in ``async def``: its event loop cannot turn
    return "released"


def exit3() -> None:
    os._exit(3)


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def my_pid() -> int:
    return os.getpid()


async def _forever(marker: str) -> None:
    """Waits for ever; writes ``marker`` when cancelled."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        with open(marker, "w") as fh:
            fh.write("cancelled")
        raise


async def leave_a_task_behind(marker: str) -> int:
    """Starts a task it never awaits; that task writes ``marker`` when cancelled."""
    asyncio.get_running_loop().create_task(_forever(marker))
    await asyncio.sleep(0)
    return threading.get_ident()


async def thread_ident() -> int:
    return threading.get_ident()


async def thread_ident_after(seconds: float) -> int:
    await asyncio.sleep(float(seconds))
    return threading.get_ident()


async def leave_a_task_and_sleep(marker: str, seconds: float) -> str:
    """Starts a task it never awaits (it writes ``marker`` when cancelled), then sleeps:
    whether its task was cancelled by then is in the result."""
    asyncio.get_running_loop().create_task(_forever(marker))
    await asyncio.sleep(float(seconds))
    return "cancelled early" if os.path.exists(marker) else "still running"


def pid_then_sleep(path: str, seconds: float) -> None:
    """Write this process's pid to ``path``, then sleep (a test stops it meanwhile)."""
    with open(path, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(float(seconds))


def record_run(path: str) -> str:
    """Append the run id this task sees to ``path`` (one line a run) and return it."""
    run_id = os.environ.get("UNO_RUN_ID", "")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{run_id}\n".encode())
    finally:
        os.close(fd)
    return run_id


def uno_event(**_: object) -> str | None:
    return os.environ.get("UNO_EVENT")


def uno_variables(**_: object) -> dict[str, str | None]:
    names = ("UNO_RUN_ID", "UNO_TRIGGER", "UNO_ATTEMPT", "UNO_KWARGS", "UNO_EVENT")
    return {name: os.environ.get(name) for name in names}


def clobber_uno_variables(**_: object) -> None:
    """Change, remove and add ``UNO_*`` variables, as a careless task might."""
    del os.environ["UNO_RUN_ID"]
    os.environ["UNO_TRIGGER"] = "clobbered"
    os.environ["UNO_EVENT"] = "{}"


def inherited_objects_frozen() -> bool:
    """Whether this process's collector leaves alone the objects it was forked with."""
    import gc

    return gc.get_freeze_count() > 0


def policy() -> int:
    """The scheduling policy of the process running the task."""
    return os.sched_getscheduler(0)

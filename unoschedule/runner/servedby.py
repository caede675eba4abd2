"""Which state serves a YAML file: two runners on one file with two states fire twice.

Each runner owns the schedules of its state, so two of them started on the same file
with different ``--state`` each fire every schedule, and no lock can see it: the locks
are per state. So a runner records, keyed by the file's identity (device and inode),
which state serves it (in a private folder of the user's runtime directory), and the
state records which file it serves (``config_file`` in its meta). At start each is
compared with what the other runner left: a file served by another live runner on a
different state, or last served by a different state, is logged as a warning. A record
made under another path counts only while that path is still this file (a hard link):
the inode of a deleted file is soon another file's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from ..abc import Store
from ..private import make_private_dirs
from .log import Logger
from .processes import pid_exists

__all__ = ["check_served_by", "registry_folder"]


def registry_folder() -> Path:
    """``$XDG_RUNTIME_DIR/uno-schedule/served``, else a per-user folder under /tmp."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "uno-schedule" / "served"
    return Path("/tmp") / f"uno-schedule-{os.getuid()}" / "served"


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # cannot tell: assume it runs
    return pid_exists(pid)


def _same_file(recorded: str, config: str, st: os.stat_result) -> bool:
    """Whether the file a record was made for (``recorded``, its real path) is the file
    ``config`` is: the same path, or a path (a hard link) that is still this inode. A
    record whose file was deleted names a stranger that got its inode."""
    if recorded == config:
        return True
    try:
        other = os.stat(recorded)
    except (OSError, ValueError):
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


def check_served_by(config_path: Path, state_path: Path, store: Store, log: Logger) -> None:
    """Warn when ``config_path`` is (or was last) served by another state; then record
    that ``state_path`` serves it. Best effort: a failure to read or write is ignored."""
    with contextlib.suppress(Exception):
        st = os.stat(config_path)
        config = os.path.realpath(config_path)
        state = os.path.realpath(state_path)
        folder = registry_folder()
        entry = folder / f"{st.st_dev}-{st.st_ino}.json"
        previous = None
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(entry.read_text())
        if (
            isinstance(previous, dict)
            and previous.get("state") not in (None, state)
            and _same_file(str(previous.get("config", "")), config, st)
        ):
            pid, host = int(previous.get("pid", 0)), str(previous.get("host", ""))
            if pid and pid != os.getpid() and _alive(pid, host):
                log.warning(
                    f"{config} is also served by another runner (pid {pid} on {host}) on the "
                    f"state {previous['state']}: with two states every schedule fires twice; "
                    "stop one of them or give both the same --state"
                )
            else:
                log.warning(
                    f"{config} was last served with the state {previous['state']}, not "
                    f"{state}: its history and pauses are there, not here"
                )
        served = store.get_meta("config_file")
        if served and served != config:
            log.warning(
                f"the state {state} was last used with {served}, now with {config}: "
                "schedules of that file not in this one are removed from it"
            )
        store.set_meta("config_file", config)
        make_private_dirs(folder)
        if folder.stat().st_uid != os.getuid():
            return  # not ours (another user made it first): write nothing there
        record = {"state": state, "pid": os.getpid(), "host": socket.gethostname(),
                  "config": config, "at": time.time()}  # fmt: skip
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(record).encode())
        finally:
            os.close(fd)
        os.replace(tmp, entry)

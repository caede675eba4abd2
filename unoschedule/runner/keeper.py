"""The keeper of a worker's jobs: a small process beside ``uno-schedule worker`` that
holds the claims of the jobs it runs, and ends those jobs when the claim is gone.

A job's claim is its stream entry (and queue slot) in Redis, kept alive by heartbeats;
an entry silent for the visibility timeout is taken over by another worker, which
records the run ``interrupted`` and starts its next attempt. If the worker itself sent
the heartbeats, a worker frozen (SIGSTOP, a stalled VM thread) past the timeout would
lose the claim of a job that is still running, and a worker killed with -9 would leave
its job running beside the retry. The keeper is a process of its own (its own session,
so a signal to the worker's group does not reach it) that:

- heartbeats every held job every third of the visibility timeout, whether or not the
  worker is scheduled: a frozen worker's jobs keep their claims;
- kills a job at once (SIGKILL to its process group and to every process carrying its
  ``UNO_RUN_ID``) when its heartbeat says another worker took the entry over;
- kills a job itself when no heartbeat has succeeded for ``FENCE`` of the visibility
  timeout, counted from the moment the last successful one was *sent* (the entry's
  idle time in Redis started no earlier), on a clock that counts suspended time, a
  heartbeat waiting at most ``ANSWER_WITHIN`` of the timeout for Redis: a job
  on a host cut off from Redis is dead before any other worker may take it over, and a
  host thawed after a freeze kills its job before its first heartbeat;
- kills every held job when the worker dies (its end of the pipe closes), then exits.

The worker tells the keeper, one JSON line at a time on its stdin, which job it holds
(``hold``), the process group it started it in (``group``) and when it ended
(``drop``). The first line names the store and the timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..errors import UnoScheduleError
from .log import Logger
from .processes import signal_group, steady, stop_orphans

__all__ = ["ANSWER_WITHIN", "FENCE", "Held", "Keeper", "KeeperLink", "main", "steady"]

#: Part of the visibility timeout after which a job without a successful heartbeat is
#: killed by its own keeper; the rest is the margin for clock rates and the kill itself.
FENCE = 0.8

#: Pauses after which a dead worker's keeper looks again for its jobs' processes: a
#: start under way in the worker's fork server ends within milliseconds.
LOOK_AGAIN = (0.05, 0.25, 1.0)
#: Part of the visibility timeout a heartbeat may wait for Redis to answer: the fence
#: is checked between heartbeats, so a job is killed at the latest at
#: ``FENCE + ANSWER_WITHIN`` of the timeout after its last heartbeat got through.
ANSWER_WITHIN = 0.1


@dataclass
class Held:
    """One job whose claim the keeper holds."""

    run_id: str
    queue: str
    entry: str
    token: str
    #: ``steady()`` when the last successful heartbeat (or the read) was sent.
    alive_since: float
    pgid: int = 0
    #: ``steady()`` when the next heartbeat is due.
    due: float = 0.0


class Keeper:
    """The keeper's state and rules; ``main`` feeds it the worker's lines."""

    def __init__(self, queues: Any, consumer: str, visibility: float) -> None:
        self.queues = queues
        self.consumer = consumer
        self.visibility = visibility
        self.held: dict[str, Held] = {}
        #: Runs whose job was killed: a process group told of later is killed at once
        #: (the job may have been spawned after the kill, by a worker thawed meanwhile).
        self.killed: set[str] = set()

    @property
    def interval(self) -> float:
        return self.visibility / 3

    def take(self, message: dict[str, Any]) -> None:
        op, run_id = message.get("op"), str(message.get("run", ""))
        if op == "hold":
            self.held[run_id] = Held(
                run_id,
                str(message["queue"]),
                str(message["entry"]),
                str(message.get("token", "")),
                float(message["since"]),
            )
            self.held[run_id].due = float(message["since"]) + self.interval
        elif op == "group" and run_id in self.held:
            self.held[run_id].pgid = int(message["pgid"])
        elif op == "group" and run_id in self.killed and int(message["pgid"]) > 0:
            signal_group(int(message["pgid"]), signal.SIGKILL)
            stop_orphans([run_id], 0.0)
            say(f"run {run_id}: its job started after its claim lapsed; killed", "WARNING")
        elif op == "drop":
            self.held.pop(run_id, None)
            self.killed.discard(run_id)

    def fence(self, now: float) -> None:
        """Kill the jobs whose claim may have lapsed (no heartbeat got through)."""
        limit = FENCE * self.visibility
        for held in list(self.held.values()):
            if now - held.alive_since >= limit:
                self.kill(held, f"no heartbeat reached Redis for {now - held.alive_since:.1f}s")

    def next_due(self) -> float:
        """When the keeper must act next: a heartbeat due, or a job's fence (the instant
        it is killed without one). After failed heartbeats the next try can come after
        the fence: waking only for it would kill the job as late as the instant another
        worker may take the run over. An hour away when nothing is held."""
        limit = FENCE * self.visibility
        return min(
            (min(h.due, h.alive_since + limit) for h in self.held.values()),
            default=steady() + 3600.0,
        )

    def beat(self) -> None:
        """Heartbeat the held jobs that are due; kill those another worker took over.
        A failed heartbeat is tried again within a second, until the fence."""
        for held in list(self.held.values()):
            sent = steady()
            if held.run_id not in self.held or held.due > sent:
                continue
            if sent - held.alive_since >= FENCE * self.visibility:
                self.fence(sent)
                continue
            try:
                ours = self.queues.heartbeat(
                    held.queue, held.entry, self.consumer, held.token, self.visibility
                )
            except UnoScheduleError as exc:
                say(f"heartbeat of run {held.run_id} failed: {exc}")
                held.due = sent + min(self.interval, 1.0)
                continue
            if ours:
                held.alive_since = sent
                held.due = sent + self.interval
            else:
                self.kill(held, "another worker took it over")

    def kill(self, held: Held, why: str) -> None:
        self.held.pop(held.run_id, None)
        self.killed.add(held.run_id)
        if held.pgid > 0:
            signal_group(held.pgid, signal.SIGKILL)
        stop_orphans([held.run_id], 0.0)
        say(f"run {held.run_id}: {why}; its job was killed", level="WARNING")

    def kill_all(self, why: str) -> None:
        for held in list(self.held.values()):
            self.kill(held, why)


class KeeperLink:
    """The worker's side: starts the keeper, tells it what it holds, and starts a new
    one (told everything held) if it ever dies."""

    def __init__(self, setup: dict[str, Any], on_error: Any = None) -> None:
        self.setup = setup
        self.on_error = on_error
        self.proc: subprocess.Popen[bytes] | None = None
        #: The lines that describe what is held now, by run id (resent to a new keeper).
        self._held: dict[str, list[dict[str, Any]]] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "unoschedule.runner.keeper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._send(self.setup)
        for lines in self._held.values():
            for line in lines:
                self._send(line)

    def hold(
        self,
        run_id: str,
        queue: str,
        entry: str,
        token: str,
        since: float,
        *,
        replace: bool = False,
    ) -> None:
        """Hold the claim of ``run_id`` through its stream ``entry``, read at ``since``.

        A run held through this entry already stays as it is: told again, the keeper
        would count the claim alive from ``since``, not from its last heartbeat, and
        kill a job whose worker was frozen while the keeper kept the claim. A run held
        through another entry (a new leader handed it off again) is held through this
        one only with ``replace``: the entry its job was started from."""
        lines = self._held.get(run_id)
        if lines is not None:
            held = [line["entry"] for line in lines if line["op"] == "hold"]
            if not held or held[0] == entry or not replace:
                return
        line: dict[str, Any] = {"op": "hold", "run": run_id, "queue": queue}
        line.update(entry=entry, token=token, since=since)
        self._held[run_id] = [line]
        self.tell(line)

    def group(self, run_id: str, pgid: int) -> None:
        line: dict[str, Any] = {"op": "group", "run": run_id, "pgid": pgid}
        self._held.setdefault(run_id, []).append(line)
        self.tell(line)

    def drop(self, run_id: str, entry: str | None = None) -> None:
        """Stop holding ``run_id``; with ``entry``, only if no other entry is held for
        it. A run can have two stream entries (a new leader handed it off again):
        settling the stale one must not stop the heartbeats of the one its job runs
        from, or that entry is reclaimed and the live run recorded interrupted."""
        lines = self._held.get(run_id)
        if lines is None:
            return
        held = [line["entry"] for line in lines if line["op"] == "hold"]
        if entry is not None and held and held[0] != entry:
            return
        del self._held[run_id]
        self.tell({"op": "drop", "run": run_id})

    def tell(self, line: dict[str, Any]) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
            return  # a new keeper was told everything held, this line included
        try:
            self._send(line)
        except OSError:
            self.restart()

    def check(self) -> None:
        """Start a new keeper if this one died (the worker calls this every second)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.restart()

    def restart(self) -> None:
        if self.on_error is not None and self.proc is not None:
            self.on_error(
                f"the keeper of this worker's jobs exited ({self.proc.returncode}); "
                "starting another"
            )
        self.close()
        self.start()

    def _send(self, line: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(line).encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        """Let the keeper go (it kills what is still held, then exits)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


_LOG: Logger | None = None


def say(message: str, level: str = "error") -> None:
    """One line on the worker's stderr, as the worker's own lines are written."""
    global _LOG
    if _LOG is None:
        _LOG = Logger()
    getattr(_LOG, level.lower())(f"keeper: {message}")


def main() -> int:  # pragma: no cover - runs as its own process (tests drive it for real)
    """Read the worker's lines on stdin until it closes them; heartbeat in between."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the worker's to handle
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as is a stop: the keeper ends on EOF
    fd = sys.stdin.fileno()
    # Read unbuffered from the first line on: a buffered reader would keep what came
    # with the first line (the worker's first ``hold``) where ``os.read`` never sees it.
    pending = b""
    while b"\n" not in pending:
        data = os.read(fd, 65536)
        if not data:
            return 0
        pending += data
    first, pending = pending.split(b"\n", 1)
    setup = json.loads(first)
    from ..store.redis import RedisStorage

    visibility = float(setup["visibility"])
    store = RedisStorage(
        str(setup["url"]),
        key_prefix=str(setup["prefix"]),
        socket_timeout=ANSWER_WITHIN * visibility,
    )
    keeper = Keeper(store.queues, str(setup["consumer"]), visibility)
    os.set_blocking(fd, False)
    pending = _take_lines(keeper, pending)
    while True:
        keeper.fence(steady())
        keeper.beat()
        wait = max(0.0, min(keeper.next_due() - steady(), 0.5))
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:  # the worker is gone: its jobs go with it
            held = list(keeper.held)
            keeper.kill_all("its worker died")
            # A command that the worker's fork server was starting as the worker died
            # is started all the same (the server goes once its child has called exec)
            # and carries its UNO_RUN_ID only from then on: look for it again.
            for pause in LOOK_AGAIN:
                time.sleep(pause)
                stop_orphans(held, 0.0)
            store.close()
            return 0
        pending = _take_lines(keeper, pending + data)


def _take_lines(keeper: Keeper, data: bytes) -> bytes:  # pragma: no cover - in the keeper
    """Act on each whole line of ``data``; return what is left of a line to come."""
    *lines, rest = data.split(b"\n")
    for line in lines:
        if line.strip():
            keeper.take(json.loads(line))
    return rest


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Notifications (``notify:``): whom to tell of which events of a schedule, and what.

The rule's pure part: which events there are, the targets as written (Apprise URLs,
with ``${VAR}`` placeholders, or a ``targets_file``: both read only when a notification
is sent, by ``runner.notify.expand_targets``), the key under which a notification is
claimed once in the store (``notification_key``), the message, and how a target is
shown (``redact``: never its secrets). Sending lives in ``runner.notify`` (threads,
retries, the rate limit) and ``notify_apprise`` (the protocols).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ScheduleSyntaxError

__all__ = [
    "NOTIFY_EVENTS",
    "PLACEHOLDER",
    "Notify",
    "check_event",
    "check_target",
    "message",
    "notification_key",
    "redact",
]

NotifyEvent = Literal["failure", "recovery", "overdue", "paused"]
#: ``failure``: a run failed after its last attempt; ``recovery``: the first success
#: after such a failure; ``overdue``: the dead-man alarm (``expect_success_within``);
#: ``paused``: the scheduler paused it (``pause_after_failures``).
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("failure", "recovery", "overdue", "paused")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Lines of a failed run's output a notification quotes.
TAIL_LINES = 10


@dataclass(frozen=True)
class Notify:
    """``notify: {targets: [...], targets_file: PATH, events: [failure, ...]}``."""

    targets: tuple[str, ...] = ()
    targets_file: str | None = None
    events: tuple[NotifyEvent, ...] = ("failure", "recovery")

    def __post_init__(self) -> None:
        if not self.targets and not self.targets_file:
            raise ScheduleSyntaxError("notify needs targets: (Apprise URLs) or targets_file:")
        for event in self.events:
            check_event(event)
        for target in self.targets:
            check_target(target)

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"events": list(self.events)}
        if self.targets:
            out["targets"] = list(self.targets)
        if self.targets_file:
            out["targets_file"] = self.targets_file
        return out

    @classmethod
    def from_config(cls, value: Any) -> Notify:
        if isinstance(value, Notify):
            return value
        if not isinstance(value, Mapping):
            raise ScheduleSyntaxError("notify is a mapping with targets: and events:")
        unknown = [k for k in value if k not in ("targets", "targets_file", "events")]
        if unknown:
            raise ScheduleSyntaxError(
                f"unknown key {unknown[0]!r} in notify (use targets, targets_file, events)"
            )
        targets = value.get("targets") or ()
        if isinstance(targets, str):
            targets = (targets,)
        events: Any = value.get("events") or ("failure", "recovery")
        if isinstance(events, str):
            events = (events,)
        return cls(tuple(str(t) for t in targets), value.get("targets_file"), tuple(events))


def check_event(event: str) -> None:
    """Refuse an event that ``notify:`` does not know, with the one meant if it is close."""
    if event in NOTIFY_EVENTS:
        return
    hint = difflib.get_close_matches(event, NOTIFY_EVENTS, n=1, cutoff=0.6)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ScheduleSyntaxError(
        f"unknown notify event {event!r}{extra} (use {', '.join(NOTIFY_EVENTS)})"
    )


def check_target(target: str) -> None:
    """Refuse a target that is no URL, or that holds a secret in the file (a password,
    a token-bearing scheme such as slack://, a key in its query) instead of reading it
    from the environment (``${VAR}``) or a ``targets_file``: the file, the state and
    ``plan`` would show it."""
    if "://" not in target:
        raise ScheduleSyntaxError(
            f"notify target {redact(target)} is not a URL such as slack://..., "
            "json://host/path or mailto://..."
        )
    scheme, _, rest = target.partition("://")
    netloc, _, tail = rest.partition("/")
    userinfo = netloc.rpartition("@")[0]
    secret = ":" in userinfo and not PLACEHOLDER.search(userinfo.partition(":")[2])
    if scheme.lower() in _TOKEN_HOSTS and not PLACEHOLDER.search(rest):
        secret = True
    for pair in tail.partition("?")[2].split("&"):
        key, _, value = pair.partition("=")
        if _SECRET_KEY.search(key) and value and not PLACEHOLDER.search(value):
            secret = True
    if secret:
        raise ScheduleSyntaxError(
            f"notify target {redact(target)} holds a secret in the file; write it as "
            "${VAR} (read from the environment when sending) or list the URL in a "
            "targets_file"
        )


#: Query keys whose values are secrets.
_SECRET_KEY = re.compile(r"token|key|secret|pass|auth", re.IGNORECASE)


def redact(url: str) -> str:
    """A target as it may be shown: its scheme and host only (tokens of slack://,
    passwords, keys in paths and queries are all left out)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if PLACEHOLDER.search(host) or scheme.lower() in _TOKEN_HOSTS:
        host = "***"
    return f"{scheme}://{host}/..."


#: Schemes whose "host" part is itself a token (``slack://TokenA/TokenB/TokenC``).
_TOKEN_HOSTS = frozenset({"slack", "discord", "msteams", "tgram", "pover", "gotify", "ntfys"})


def notification_key(event: str, schedule: str, run_id: str) -> str:
    """The key a notification is claimed under in the store: one per event of a run
    (of an alarm: of its instant), so that no failover sends it twice."""
    return f"{event}:{schedule}:{run_id}"


def message(
    event: str, schedule: str, run_id: str, detail: str | None, output: str | None
) -> tuple[str, str]:
    """The title and body of a notification: the schedule, the run, what happened and
    the last lines of the run's output (nothing that links outside this scheduler)."""
    what = {
        "failure": "failed",
        "recovery": "recovered",
        "overdue": "is overdue",
        "paused": "was paused",
    }.get(event, event)
    title = f"uno-schedule: {schedule} {what}"
    lines = [f"schedule: {schedule}", f"event: {event}"]
    if run_id:
        lines.append(f"run: {run_id}")
    if detail:
        lines.append(f"error: {detail}")
    tail = _tail(output)
    if tail:
        lines += ["last lines of its output:", *tail]
    return title, "\n".join(lines)


def _tail(output: str | None, count: int = TAIL_LINES) -> Sequence[str]:
    if not output:
        return []
    return [line.rstrip() for line in output.strip().splitlines()[-count:]]

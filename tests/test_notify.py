"""Notifications (``notify:``): a local webhook receiver on 127.0.0.1 gets exactly the
notifications a schedule's runs call for, once each; a dead target delays nothing;
secrets read from the environment are never shown.

The receiver is the reference: what it was sent (Apprise ``json://``) is read back, not
what the scheduler says it sent.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_service import Runner, runners, runs, uno_cli, wait_until, write_config

from unoschedule.model import RunRecord, ScheduleDefinition
from unoschedule.notifications import Notify, redact
from unoschedule.runner.notify import Notifier, expand_targets
from unoschedule.schedules import IntervalSchedule
from unoschedule.store.sqlite import SQLiteStorage

__all__ = ["runners"]  # the fixture, imported for its name

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received.append({"path": self.path, **json.loads(body or b"{}")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[str]:
        return [str(r.get("message", "")) for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the rule, with a stand-in sender ---------------------------------------------------


def definition(events: tuple[str, ...] = ("failure", "recovery")) -> ScheduleDefinition:
    notify = Notify(("json://127.0.0.1:1/${HOOK_TOKEN}",), events=events)  # type: ignore[arg-type]
    return ScheduleDefinition("job", IntervalSchedule("1h"), command="true", notify=notify)


def test_secrets_are_read_from_the_environment_when_sending_and_never_shown() -> None:
    notify = Notify(("json://hook.example/${HOOK_TOKEN}", "slack://${SLACK}", "json://h/x"))
    env = {"HOOK_TOKEN": "s3cret", "SLACK": "TA/TB/TC"}
    urls, problems = expand_targets(notify, env)
    assert urls == ["json://hook.example/s3cret", "slack://TA/TB/TC", "json://h/x"]
    assert problems == []
    assert "s3cret" not in redact(urls[0]) and "TA" not in redact(urls[1])
    urls, problems = expand_targets(notify, {"SLACK": "TA/TB/TC"})
    assert urls == ["slack://TA/TB/TC", "json://h/x"]
    assert problems == ["json://hook.example/...: ${HOOK_TOKEN} is not set"]
    assert notify.to_config()["targets"][0] == "json://hook.example/${HOOK_TOKEN}"


def test_a_failing_target_is_retried_with_backoff_then_logged_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    store = SQLiteStorage(tmp_path / "s.db")
    calls: list[str] = []
    pauses: list[float] = []
    lines: list[str] = []

    class Log:
        def error(self, text: str) -> None:
            lines.append(text)

        warning = info = error

    notifier = Notifier(
        lambda: SQLiteStorage(tmp_path / "s.db"),
        Log(),  # type: ignore[arg-type]
        sender=lambda url, title, body: calls.append(url) is not None,  # always fails
        later=lambda delay, attempt: (pauses.append(delay), attempt())[1],
    )
    run = RunRecord("r1", "job", T0, result="error")
    notifier.tell("failure", run, definition(), "exit status 1", "a\nb\nboom")
    notifier.close()
    assert calls == ["json://127.0.0.1:1/s3cret"] * 3
    assert pauses == [1.0, 2.0]
    assert notifier.failures == {"job": 1}
    assert lines == ["job: failure notification to json://127.0.0.1:1/... failed after 3 attempts"]
    store.close()


def test_a_notification_is_sent_once_across_two_processes_and_limited_per_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    SQLiteStorage(tmp_path / "s.db").close()
    sent: list[str] = []

    def notifier() -> Notifier:
        return Notifier(
            lambda: SQLiteStorage(tmp_path / "s.db"),
            sender=lambda url, title, body: sent.append(body) is None,
        )

    first, second = notifier(), notifier()  # a leader and its successor
    run = RunRecord("r1", "job", T0, result="error")
    first.tell("failure", run, definition(), "boom")
    first.close()
    second.tell("failure", run, definition(), "boom")
    second.close()
    assert len(sent) == 1 and "run: r1" in sent[0] and "error: boom" in sent[0]
    for i in range(10):  # a burst: at most RATE_LIMIT of them go out
        first.tell("failure", RunRecord(f"b{i}", "job", T0), definition(), "boom")
    first.close()
    assert len(sent) == 5 and first.dropped == {"job": 6}  # r1 was the first of 5


# -- real processes ----------------------------------------------------------------------


def notify_config(port: int, dead_port: int) -> str:
    return f"""
        scheduler:
          missed_threshold: 600
          shutdown_grace: 5
          notify:
            targets:
              - json://127.0.0.1:{port}/hook/${{HOOK_TOKEN}}
              - json://127.0.0.1:{dead_port}/dead/${{HOOK_TOKEN}}
            events: [failure, recovery]
        schedules:
          flaky:
            schedule: "* * * * * *"
            max_retries: 1
            retry_delay: 0.1
            command: >-
              n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count;
              echo "$UNO_RUN_ID" >> flaky.log;
              if [ $n -lt 2 ]; then echo "last words $n"; exit 3; fi
            shell: true
          steady:
            schedule: "* * * * * *"
            command: "echo ok >> steady.log"
            shell: true
          broken:
            schedule: "* * * * * *"
            command: "exit 1"
            shell: true
            pause_after_failures: 1
            notify:
              targets: ["json://127.0.0.1:{port}/paused"]
              events: [paused]
    """


@pytest.mark.slow
def test_a_webhook_gets_one_failure_after_the_last_retry_one_recovery_and_nothing_else(
    tmp_path: Path, runners: Callable[..., Runner], receiver: Receiver
) -> None:
    write_config(tmp_path, notify_config(receiver.port, closed_port()))
    runner = runners("leader", {"HOOK_TOKEN": "tok-s3cret"})
    runner.wait_log("ready")
    # flaky: attempts 1 and 2 fail (one failure, after the retry), then it succeeds
    wait_until(lambda: len(receiver.received) >= 3, 12, "a failure, a recovery, a pause")
    started = len((tmp_path / "steady.log").read_text().split())
    # the dead target's retries (1 s, then 2 s later) end in a logged failure; the runs
    # meanwhile must notify nothing more
    runner.wait_log("failed after 3 attempts", timeout=10)
    assert runner.term() == 0
    paused = [r for r in receiver.received if r["path"] == "/paused"]
    assert [r["title"] for r in paused] == ["uno-schedule: broken was paused"]
    assert "pause_after_failures" in paused[0]["message"]
    got = [r for r in receiver.received if r["path"] != "/paused"]
    assert [r["path"] for r in got] == ["/hook/tok-s3cret"] * 2
    assert [r["title"] for r in got] == [
        "uno-schedule: flaky failed",
        "uno-schedule: flaky recovered",
    ]
    failed = [r for r in runs(tmp_path) if r["schedule"] == "flaky" and r["result"] == "error"]
    assert [r["attempt"] for r in failed] == [1, 2]
    assert f"run: {failed[-1]['run_id']}" in got[0]["message"]
    assert "last words 1" in got[0]["message"] and "exit status 3" in got[0]["message"]
    # the dead target (closed port) delayed no run: steady kept its every-second pace
    steady = (tmp_path / "steady.log").read_text().split()
    assert len(steady) >= started + 1
    log = runner.text()
    assert "notification to json://127.0.0.1:" in log and "/... failed" in log
    assert "tok-s3cret" not in log
    for command in (["list"], ["status", "flaky"], ["validate"]):
        import subprocess

        shown = subprocess.run([*uno_cli(tmp_path), *command], capture_output=True, text=True)
        assert "tok-s3cret" not in shown.stdout + shown.stderr


def test_notify_comes_from_the_schedule_its_template_or_the_file_and_null_turns_it_off() -> None:
    from unoschedule.config import parse_config

    config = parse_config(
        textwrap.dedent(
            """
            scheduler:
              notify: {targets: ["json://h/${T}"], events: [failure]}
            templates:
              loud:
                notify: {targets: ["mailto://ops@h"], events: [failure, overdue]}
                after: {schedule: base, on: any}
            schedules:
              base: {schedule: {every: 1h}, command: "true"}
              quiet: {schedule: {every: 1h}, command: "true", notify: null}
              templated: {template: loud, command: "true"}
            """
        )
    )
    got = {name: d.notify for name, d in config.schedules.items()}
    assert got["base"] == Notify(("json://h/${T}",), events=("failure",))
    assert got["quiet"] is None
    assert got["templated"] == Notify(("mailto://ops@h",), events=("failure", "overdue"))
    assert config.schedules["templated"].after is not None
    assert config.schedules["templated"].schedule.kind == "after"


def test_a_bad_notify_is_refused_where_it_is_written_without_its_secret() -> None:
    from unoschedule.config import parse_config
    from unoschedule.errors import ConfigErrors

    text = "schedules:\n  a:\n    schedule: {every: 1h}\n    command: 'true'\n"
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text + "    notify: {targets: ['hook-s3cret'], events: [failure]}\n", "s.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "s.yaml:5:24: notify target *** is not a URL such as slack://..., json://host/path "
        "or mailto://..."
    ]


def test_a_dead_man_alarm_is_notified_once_per_overdue_spell_across_leaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader's alarm reaches the settle step's ``failed`` as an ``overdue``
    outcome (``runner.ops``); two leaders raising the alarm for the same instant send
    one notification."""
    import asyncio

    from unoschedule.jobs import JobOutcome
    from unoschedule.model import SchedulerOptions
    from unoschedule.runner.settle import Settler

    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    SQLiteStorage(tmp_path / "s.db").close()
    sent: list[str] = []
    alarm = RunRecord("", "job", T0, result="error")
    outcome = JobOutcome("overdue", "overdue: no successful run for 1h", "", None)  # type: ignore[arg-type]
    for _ in range(2):
        notifier = Notifier(
            lambda: SQLiteStorage(tmp_path / "s.db"),
            sender=lambda url, title, body: sent.append(title) is None,
        )
        settler = Settler(SchedulerOptions(), notifier=notifier)
        asyncio.run(settler.failed(alarm, definition(("overdue",)), outcome))
        notifier.close()
    assert sent == ["uno-schedule: job is overdue"]


@pytest.mark.parametrize(
    "target",
    ["slack://TA/TB/TC", "mailto://me:pw@example.com", "json://h/hook?token=abc"],
)
def test_a_target_with_its_secret_in_the_file_is_refused_without_showing_it(target: str) -> None:
    from unoschedule.config import parse_config
    from unoschedule.errors import ConfigErrors

    text = "schedules:\n  a:\n    schedule: {every: 1h}\n    command: 'true'\n"
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text + f"    notify: {{targets: ['{target}']}}\n", "s.yaml")
    (error,) = caught.value.errors
    assert "holds a secret in the file; write it as ${VAR}" in str(error)
    assert all(part not in str(error) for part in ("TA", "pw", "abc"))
    parse_config(text + "    notify: {targets: ['mailto://me:${PW}@example.com']}\n")


def test_a_misspelt_event_is_refused_alike_from_the_file_and_the_library(tmp_path: Path) -> None:
    from unoschedule.config import load_config
    from unoschedule.errors import ConfigErrors, ScheduleSyntaxError

    with pytest.raises(ScheduleSyntaxError) as library:
        Notify(("json://h/${T}",), events=("failur",))  # type: ignore[arg-type]
    (tmp_path / "s.yaml").write_text(
        "schedules:\n  a:\n    schedule: '@hourly'\n    command: 'true'\n"
        "    notify: {targets: ['json://h/${T}'], events: [failur]}\n"
    )
    with pytest.raises(ConfigErrors) as from_file:
        load_config(tmp_path / "s.yaml")
    said = "unknown notify event 'failur'; did you mean 'failure'?"
    assert said in str(library.value)
    assert said in str(from_file.value)

"""The runner's log: lines of one loop turn written together, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import io
import re

from unoschedule.runner.log import Logger


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def isatty(self) -> bool:
        return False


def test_lines_logged_in_one_turn_of_the_loop_are_written_together_at_its_end() -> None:
    stream = _CountingStream()
    log = Logger(stream)

    async def main() -> tuple[str, str]:
        for i in range(100):
            log.info(f"line {i}")
        before = stream.getvalue()
        await asyncio.sleep(0)
        return before, stream.getvalue()

    before, after = asyncio.run(main())
    assert before == ""
    assert [line.split(" ", 2)[2] for line in after.splitlines()] == [
        f"line {i}" for i in range(100)
    ]
    assert stream.writes == 1


def test_a_line_logged_without_a_loop_is_written_at_once_after_what_waits() -> None:
    stream = _CountingStream()
    log = Logger(stream)

    async def main() -> None:
        log.info("in the loop")

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())  # the turn's flush may not have run yet
    finally:
        loop.close()
    log.warning("after the loop")
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["in the loop", "after the loop"]


def test_each_line_has_a_utc_timestamp_to_the_millisecond_and_its_level() -> None:
    stream = _CountingStream()
    Logger(stream).error("broken\nacross lines")
    line = stream.getvalue()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR broken\\nacross lines\n", line
    ), line

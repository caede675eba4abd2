"""Human descriptions of cron expressions (``unoschedule.describe``)."""

from __future__ import annotations

import pytest

from unoschedule.describe import describe_cron
from unoschedule.errors import ScheduleSyntaxError

CASES = [
    ("30 2 * * *", "At 02:30 every day"),
    ("*/5 * * * *", "Every 5 minutes"),
    ("0 9 * * 1-5", "At 09:00 on Monday through Friday"),
    ("0 9 * * MON-FRI", "At 09:00 on Monday through Friday"),
    ("0 0 1,15 * MON", "At 00:00 on day 1 and 15 of the month and on Monday"),
    ("*/20 * * * * *", "Every 20 seconds"),
    ("* * * * *", "Every minute"),
    ("* * * * * *", "Every second"),
    ("0 * * * *", "Every hour"),
    ("30 * * * *", "Every hour at minute 30"),
    ("0 */2 * * *", "Every 2 hours"),
    ("0 9,17 * * *", "At 09:00 and 17:00 every day"),
    ("0 9-17 * * *", "Every hour from 09:00 through 17:00"),
    ("*/15 9-17 * * 1-5", "Every 15 minutes between 09:00 and 17:59 on Monday through Friday"),
    ("0 0 */10 * MON", "At 00:00 on every 10th day of the month if it is Monday"),
    ("30 0 9 * * *", "At 09:00:30 every day"),
    ("15 * * * * *", "Every minute at second 15"),
    ("0 0 * * 7", "At 00:00 on Sunday"),
    ("0 0 * * 0,6", "At 00:00 on Sunday and Saturday"),
    ("0 0 * 1,7 *", "At 00:00 every day in January and July"),
    ("0 0 1 JAN-MAR *", "At 00:00 on day 1 of the month in January through March"),
    ("@yearly", "At 00:00 on January 1"),
    ("@monthly", "At 00:00 on day 1 of the month"),
    ("@weekly", "At 00:00 on Sunday"),
    ("@daily", "At 00:00 every day"),
    ("@hourly", "Every hour"),
    # L, W, #
    ("0 0 L * *", "At 00:00 on the last day of the month"),
    ("0 0 LW * *", "At 00:00 on the last weekday of the month"),
    ("0 0 15W * *", "At 00:00 on the weekday nearest day 15 of the month"),
    ("0 0 L-3 * *", "At 00:00 on the 3rd day before the last day of the month"),
    ("0 0 * * 5L", "At 00:00 on the last Friday of the month"),
    ("0 0 * * FRIL", "At 00:00 on the last Friday of the month"),
    ("0 0 * * 1#2", "At 00:00 on the second Monday of the month"),
    # H (hashed per schedule name: described as such)
    ("H H * * *", "Once a day at a hashed time"),
    ("H 2 * * *", "At a hashed minute between 02:00 and 02:59"),
    ("H/15 * * * *", "Every 15 minutes (hashed offset)"),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_describe(expression: str, expected: str) -> None:
    assert describe_cron(expression) == expected


def test_describe_rejects_a_bad_expression() -> None:
    with pytest.raises(ScheduleSyntaxError):
        describe_cron("61 * * * *")


@pytest.mark.parametrize(
    "expression",
    [
        "0-59/7 1,2,3 1-5,L * 1-5/2",
        "H(0-29) H(1-5) * * *",
        "5,10-20/3 */3 ? * 2#3,5L",
        "0 0 1 */3 *",
        "0 12 * JAN/2 *",
        "1 2 3 4 5 6",
        "0 0 29 2 *",
    ],
)
def test_every_parsable_expression_gets_a_sentence(expression: str) -> None:
    text = describe_cron(expression)
    assert text and text[0].isupper()
    assert not text.startswith("Cron "), text


def test_schedule_types_use_it() -> None:
    from unoschedule import CronSchedule

    assert CronSchedule("30 2 * * *").describe() == "At 02:30 every day"

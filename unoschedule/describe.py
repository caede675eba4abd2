"""Human descriptions of cron expressions ("At 02:30 every day", "Every 5 minutes").

The expression is parsed (and so validated) by ``unoschedule.cron`` first; this module
only turns the six normalised field texts into English. It covers the whole dialect of
SPEC section 3: lists, ranges, steps, names, ``L``, ``W``, ``#`` and ``H`` (a hashed value
is described as such: its actual value depends on the schedule's name). Day-of-month and
day-of-week are joined with "and on" when cron ORs them (neither starts with ``*``) and
with "if it is" when it ANDs them.

Anything the phrase builder does not recognise falls back to ``Cron <expression>``, so
describing never fails for an expression that parses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["describe_cron"]

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_ABBR = tuple(m[:3].upper() for m in _MONTHS)
_DAY_ABBR = tuple(d[:3].upper() for d in _DAYS)
_NTH = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
_MAX_TIMES = 6  # beyond this many fixed times of day, describe the fields instead


def describe_cron(expression: str) -> str:
    """A short English description of a cron expression of the SPEC dialect.

    >>> describe_cron("30 2 * * *")
    'At 02:30 every day'
    >>> describe_cron("0 9 * * 1-5")
    'At 09:00 on Monday through Friday'
    """
    from .cron import CronExpression

    parsed = CronExpression(expression)  # raises ScheduleSyntaxError for a bad expression
    try:
        return _Describer(parsed.fields).describe()
    except (ValueError, IndexError, KeyError):  # pragma: no cover - defensive
        return f"Cron {expression.strip()}"


# -- field items ---------------------------------------------------------------------


class _Item(NamedTuple):
    """One comma-separated item of a field: ``*``, ``5``, ``1-5``, ``*/10``, ``H``..."""

    kind: str  # "any", "value", "range", "step", "hash", "special"
    start: int = 0
    end: int = 0
    step: int = 1
    text: str = ""
    ranged: bool = False  # a step over an explicit range (a-b/n) or from a start (a/n)


def _number(text: str, names: Sequence[str], base: int) -> int:
    upper = text.upper()
    if upper.isdigit():
        return int(upper)
    return names.index(upper) + base


def _items(text: str, low: int, high: int, names: Sequence[str] = (), base: int = 0) -> list[_Item]:
    out: list[_Item] = []
    for part in text.split(","):
        upper = part.upper()
        head, slash, step_text = upper.partition("/")
        step = int(step_text) if slash else 1
        if head.startswith("H"):
            out.append(_Item("hash", low, high, step, part))
        elif head in ("*", "?"):
            out.append(_Item("step" if step > 1 else "any", low, high, step, part))
        elif "-" in head[1:] and not head.startswith("L"):
            lo, _, hi = head.partition("-")
            a, b = _number(lo, names, base), _number(hi, names, base)
            kind = "step" if step > 1 else "range"
            out.append(_Item(kind, a, b, step, part, ranged=True))
        elif head.isdigit() or head in names:
            value = _number(head, names, base)
            if slash:
                out.append(_Item("step", value, high, step, part, ranged=True))
            else:
                out.append(_Item("value", value, value, 1, part))
        else:
            out.append(_Item("special", 0, 0, 1, part))
    return out


def _is_any(items: list[_Item]) -> bool:
    return len(items) == 1 and items[0].kind == "any"


def _single(items: list[_Item]) -> int | None:
    if len(items) == 1 and items[0].kind == "value":
        return items[0].start
    return None


def _values(items: list[_Item]) -> list[int] | None:
    """The explicit values of a field made only of numbers and small ranges, else None."""
    values: set[int] = set()
    for item in items:
        if item.kind in ("value", "range", "step") and (item.kind != "step" or item.ranged):
            values.update(range(item.start, item.end + 1, item.step))
        else:
            return None
    return sorted(values)


def _join(words: Sequence[str], last: str = "and") -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {last} " + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _hm(hour: int, minute: int, second: int = 0) -> str:
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def _hash_text(item: _Item, unit: str) -> str:
    upper = item.text.upper()
    head, _, _ = upper.partition("/")
    where = ""
    if head.startswith("H("):
        where = f" ({head[2:-1]})"
    if item.step > 1:
        return f"every {item.step} {unit}s (hashed offset{where})"
    return f"at a hashed {unit}{where}"


# -- the describer -------------------------------------------------------------------


class _Describer:
    def __init__(self, fields: Sequence[str]):
        sec, minute, hour, dom, month, dow = fields
        self.sec_text, self.min_text, self.hour_text = sec, minute, hour
        self.dom_text, self.month_text, self.dow_text = dom, month, dow
        self.sec = _items(sec, 0, 59)
        self.min = _items(minute, 0, 59)
        self.hour = _items(hour, 0, 23)
        self.dom = _items(dom, 1, 31)
        self.month = _items(month, 1, 12, _MONTH_ABBR, 1)
        self.dow = _items(dow, 0, 7, _DAY_ABBR, 0)

    # -- the whole sentence ------------------------------------------------------------

    def describe(self) -> str:
        time_text, fixed_times = self._time()
        day_text = self._days()
        month_text = self._months()
        parts = [time_text]
        if day_text:
            parts.append(day_text)
        elif fixed_times:
            parts.append("every day")
        if month_text:
            parts.append(month_text)
        sentence = " ".join(p for p in parts if p)
        return sentence[:1].upper() + sentence[1:]

    # -- time of day -------------------------------------------------------------------

    def _time(self) -> tuple[str, bool]:
        """The time-of-day phrase, and whether it names fixed times ("At 02:30")."""
        secs, mins, hours = _values(self.sec), _values(self.min), _values(self.hour)
        if (
            secs is not None
            and len(secs) == 1
            and mins is not None
            and hours is not None
            and len(mins) * len(hours) <= _MAX_TIMES
            and not self._is_hour_step()
        ):
            times = [_hm(h, m, secs[0]) for h in hours for m in mins]
            return "at " + _join(times), True
        return self._time_fields(), False

    def _is_hour_step(self) -> bool:
        """``*/n`` hours with a fixed minute read better as "every n hours"."""
        return len(self.hour) == 1 and self.hour[0].kind == "step" and not self.hour[0].ranged

    def _time_fields(self) -> str:
        phrases: list[str] = []
        sec_single = _single(self.sec)
        minute_any = _is_any(self.min)
        hour_any = _is_any(self.hour)

        if minute_any and hour_any and sec_single:
            return f"every minute at second {sec_single}"
        if (
            sec_single == 0
            and len(self.min) == 1
            and len(self.hour) == 1
            and self.min[0].kind == "hash"
            and self.hour[0].kind == "hash"
            and self.min[0].step == 1
            and self.hour[0].step == 1
        ):
            return "once a day at a hashed time"

        # seconds
        if _is_any(self.sec):
            phrases.append("every second")
        elif len(self.sec) == 1 and self.sec[0].kind == "step" and not self.sec[0].ranged:
            phrases.append(_every(self.sec[0].step, "second"))
        elif sec_single == 0:
            pass
        else:
            phrases.append(self._sub_phrase(self.sec, "second", "minute" if minute_any else None))

        # minutes
        min_single = _single(self.min)
        if minute_any:
            if not phrases:
                phrases.append("every minute")
        elif len(self.min) == 1 and self.min[0].kind == "step" and not self.min[0].ranged:
            phrases.append(
                _every(self.min[0].step, "minute")
                if not phrases
                else f"of {_every(self.min[0].step, 'minute')}"
            )
        elif min_single is not None and not phrases:
            # a fixed minute: the hour decides the phrase
            return self._fixed_minute(min_single, sec_single or 0)
        else:
            phrases.append(self._sub_phrase(self.min, "minute", "hour"))

        # hours
        if not hour_any:
            phrases.append(self._hour_window())
        return " ".join(p for p in phrases if p)

    def _fixed_minute(self, minute: int, second: int) -> str:
        mark = f" at minute {minute}" if minute or second else ""
        if second:
            mark = f" at {minute:02d}:{second:02d} past the hour"
        if _is_any(self.hour):
            return "every hour" + mark
        if len(self.hour) == 1:
            item = self.hour[0]
            if item.kind == "step":
                end = item.end if item.text.count("-") else 23
                last = item.start + (end - item.start) // item.step * item.step
                if not item.ranged:
                    return _every(item.step, "hour") + mark
                return (
                    f"{_every(item.step, 'hour')} from {_hm(item.start, minute, second)} "
                    f"through {_hm(last, minute, second)}"
                )
            if item.kind == "range":
                return (
                    f"every hour from {_hm(item.start, minute, second)} "
                    f"through {_hm(item.end, minute, second)}"
                )
            if item.kind == "hash":
                where = f" in hours {item.text[2:-1]}" if item.text.upper().startswith("H(") else ""
                return f"once a day at minute {minute} of a hashed hour{where}"
        hours = _values(self.hour)
        if hours is not None:
            return "at " + _join([_hm(h, minute, second) for h in hours])
        return f"at minute {minute} {self._hour_window()}"

    def _sub_phrase(self, items: list[_Item], unit: str, of: str | None) -> str:
        """``at minutes 0, 15 and 45``, ``every minute from 0 through 29``..."""
        words: list[str] = []
        for item in items:
            if item.kind == "hash":
                return _hash_text(item, unit)
            if item.kind == "value":
                words.append(str(item.start))
            elif item.kind == "range":
                words.append(f"{item.start} through {item.end}")
            elif item.kind == "step":
                if item.ranged:
                    words.append(
                        f"every {_ordinal(item.step)} {unit} from {item.start} through {item.end}"
                    )
                else:
                    words.append(_every(item.step, unit))
            else:
                words.append(item.text)
        if len(items) == 1 and items[0].kind == "step":
            return words[0]
        plural = len(items) > 1 or items[0].kind == "range"
        suffix = f" past the {of}" if of else ""
        return f"at {unit}{'s' if plural else ''} {_join(words)}{suffix}"

    def _hour_window(self) -> str:
        if len(self.hour) == 1:
            item = self.hour[0]
            if item.kind == "range":
                return f"between {_hm(item.start, 0)} and {_hm(item.end, 59)}"
            if item.kind == "value":
                return f"between {_hm(item.start, 0)} and {_hm(item.start, 59)}"
            if item.kind == "step" and not item.ranged:
                return f"of {_every(item.step, 'hour')}"
            if item.kind == "hash":
                return "in " + _hash_text(item, "hour").removeprefix("at ")
        hours = _values(self.hour)
        if hours is not None:
            return "in hours " + _join([f"{h:02d}" for h in hours])
        return f"in hours {self.hour_text}"

    # -- days --------------------------------------------------------------------------

    def _days(self) -> str:
        dom_star = self.dom_text.startswith(("*", "?"))
        dow_star = self.dow_text.startswith(("*", "?"))
        dom_phrase = "" if _is_any(self.dom) else self._dom_phrase()
        dow_phrase = "" if _is_any(self.dow) else self._dow_phrase()
        if dom_phrase and dow_phrase:
            if not dom_star and not dow_star:
                return f"{dom_phrase} and {dow_phrase}"
            return f"{dom_phrase} if it is {dow_phrase.removeprefix('on ')}"
        return dom_phrase or dow_phrase

    def _dom_phrase(self) -> str:
        plain: list[str] = []
        special: list[str] = []
        for item in self.dom:
            text = item.text.upper()
            if item.kind == "value":
                plain.append(str(item.start))
            elif item.kind == "range":
                plain.append(f"{item.start} through {item.end}")
            elif item.kind == "step":
                if item.ranged and item.text.count("-"):
                    special.append(
                        f"every {_ordinal(item.step)} day of the month from "
                        f"{item.start} through {item.end}"
                    )
                elif item.ranged and item.start != 1:
                    special.append(
                        f"every {_ordinal(item.step)} day of the month from day {item.start}"
                    )
                else:
                    special.append(f"every {_ordinal(item.step)} day of the month")
            elif item.kind == "hash":
                special.append("a hashed day of the month")
            elif text == "L":
                special.append("the last day of the month")
            elif text == "LW":
                special.append("the last weekday of the month")
            elif text.startswith("L-"):
                n = int(text[2:])
                special.append(
                    "the last day of the month"
                    if n == 0
                    else f"the {_ordinal(n)} day before the last day of the month"
                )
            elif text.endswith("W"):
                special.append(f"the weekday nearest day {int(text[:-1])} of the month")
            else:
                special.append(item.text)
        phrases: list[str] = []
        if plain:
            single_month = _single(self.month)
            if (
                len(plain) == 1
                and plain[0].isdigit()
                and single_month is not None
                and not special
                and _is_any(self.dow)
            ):
                return f"on {_MONTHS[single_month - 1]} {plain[0]}"
            phrases.append(f"day {_join(plain)} of the month")
        phrases.extend(special)
        return "on " + _join(phrases)

    def _dow_phrase(self) -> str:
        words: list[str] = []
        for item in self.dow:
            text = item.text.upper()
            if item.kind == "value":
                words.append(_DAYS[item.start % 7])
            elif item.kind == "range":
                words.append(f"{_DAYS[item.start % 7]} through {_DAYS[item.end % 7]}")
            elif item.kind == "step":
                days = range(item.start, (item.end if item.ranged else 6) + 1, item.step)
                words.append(_join([_DAYS[d % 7] for d in days]))
            elif item.kind == "hash":
                words.append("a hashed day of the week")
            elif "#" in text:
                day, _, k = text.partition("#")
                wd = _number(day, _DAY_ABBR, 0) % 7
                words.append(f"the {_NTH.get(int(k), _ordinal(int(k)))} {_DAYS[wd]} of the month")
            elif text == "L":
                words.append("the last Saturday of the month")
            elif text.endswith("L"):
                wd = _number(text[:-1], _DAY_ABBR, 0) % 7
                words.append(f"the last {_DAYS[wd]} of the month")
            else:
                words.append(item.text)
        return "on " + _join(words)

    # -- months ------------------------------------------------------------------------

    def _months(self) -> str:
        if _is_any(self.month):
            return ""
        if _single(self.month) is not None and self._dom_names_month():
            return ""
        words: list[str] = []
        for item in self.month:
            if item.kind == "value":
                words.append(_MONTHS[item.start - 1])
            elif item.kind == "range":
                words.append(f"{_MONTHS[item.start - 1]} through {_MONTHS[item.end - 1]}")
            elif item.kind == "step":
                if not item.ranged:
                    return f"in every {_ordinal(item.step)} month"
                words.append(
                    _join([_MONTHS[m - 1] for m in range(item.start, item.end + 1, item.step)])
                )
            elif item.kind == "hash":
                return "in a hashed month"
            else:
                words.append(item.text)
        return "in " + _join(words)

    def _dom_names_month(self) -> bool:
        """``0 0 1 1 *`` reads "on January 1": the month is already in the day phrase."""
        return len(self.dom) == 1 and self.dom[0].kind == "value" and _is_any(self.dow)

"""The cron dialect of SPEC section 3, parsed once into a ``LocalMatcher``.

Parsing happens in the constructor so that a bad expression fails at once, with the
column of the offending character; evaluation is ``wallclock.next_instant``.

Why our own parser rather than croniter's: croniter's ``expand`` drops the ``W`` modifier,
rejects ``5L`` and ``LW``, and its errors do not say which field or character is wrong;
it also needs its own DST handling switched off (see ``wallclock``). croniter stays in the
test suite as an independent oracle for the UTC behaviour of the common dialect.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import NamedTuple

from .errors import ScheduleSyntaxError
from .wallclock import CachedDayRule, LocalMatcher, TimeGrid

__all__ = ["ALIASES", "CronExpression", "stable_hash"]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class _Field(NamedTuple):
    """One field of the expression: its name in messages, its range, its names."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


SECOND = _Field("second", 0, 59)
MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTH_NAMES, 1)
WEEKDAY = _Field("day-of-week", 0, 7, DAY_NAMES, 0)


class _Token:
    """A field's text and where it starts inside the whole expression."""

    __slots__ = ("offset", "text")

    def __init__(self, text: str, offset: int):
        self.text = text
        self.offset = offset

    def fail(self, message: str, at: int = 0) -> ScheduleSyntaxError:
        return ScheduleSyntaxError(message, column=self.offset + at)


def stable_hash(key: str, index: int | str) -> int:
    """A 32-bit number fixed by ``key`` (a schedule's name) and ``index``: what spreads
    cron ``H`` fields and ``jitter_fixed`` delays, the same in every process and release."""
    return zlib.crc32(f"{key}\0{index}".encode())


class CronExpression:
    """A parsed cron expression: 5 fields, or 6 with seconds first, or an ``@alias``.

    ``hash_key`` (normally the schedule name) seeds ``H`` so that the spread is stable
    for one schedule and differs between schedules.
    """

    __slots__ = (
        "_dom_star",
        "_dow_star",
        "expression",
        "fields",
        "hash_key",
        "is_wildcard_time",
        "matcher",
    )

    def __init__(self, expression: str, hash_key: str = ""):
        if not isinstance(expression, str):
            raise ScheduleSyntaxError(f"a cron expression must be a string, not {expression!r}")
        self.expression = expression
        self.hash_key = hash_key
        text = expression.strip()
        lead = len(expression) - len(expression.lstrip())
        if text.startswith("@"):
            alias = ALIASES.get(text.lower())
            if alias is None:
                import difflib  # here: only a typo pays for it

                hint = difflib.get_close_matches(text.lower(), list(ALIASES), n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                if text.lower() == "@reboot":
                    extra = "; @reboot is not a schedule (use a one-time 'at:' schedule)"
                raise ScheduleSyntaxError(f"unknown cron alias {text!r}{extra}", column=lead)
            text, lead = alias, -1
        tokens = _split(text, max(lead, 0))
        if len(tokens) == 5:
            tokens.insert(0, _Token("0", -1))
        elif len(tokens) != 6:
            raise ScheduleSyntaxError(
                f"a cron expression has 5 fields (minute hour day month weekday) or 6 with "
                f"seconds first; {expression.strip()!r} has {len(tokens)}",
                column=max(lead, 0),
            )
        if lead < 0:  # an alias: columns point at the alias itself
            for token in tokens:
                token.offset = 0
        self.fields = tuple(t.text for t in tokens)
        sec, minute, hour, dom, month, dow = tokens
        seconds = self._values(sec, SECOND, 0)
        minutes = self._values(minute, MINUTE, 1)
        hours = self._values(hour, HOUR, 2)
        months = self._values(month, MONTH, 4)
        day_rule, period_days = self._day_rule(dom, dow)
        self.is_wildcard_time = minute.text.startswith("*") or hour.text.startswith("*")
        self.matcher = LocalMatcher(
            months, day_rule, TimeGrid(hours, minutes, seconds), period_days=period_days
        )
        self._check_possible(months, dom)

    def __repr__(self) -> str:
        return f"CronExpression({self.expression!r})"

    # -- fields --------------------------------------------------------------------------

    def _hash(self, index: int) -> int:
        return stable_hash(self.hash_key, index)

    def _values(self, token: _Token, field: _Field, index: int) -> set[int]:
        values: set[int] = set()
        at = 0
        for part in token.text.split(","):
            if not part:
                raise token.fail(f"empty list item in {field.name} field {token.text!r}", at)
            values.update(self._part(token, part, at, field, index))
            at += len(part) + 1
        if field is WEEKDAY and 7 in values:
            values.discard(7)
            values.add(0)
        return values

    def _part(self, token: _Token, part: str, at: int, field: _Field, index: int) -> set[int]:
        low, high = field.low, field.high
        if field is DAY:
            hash_high = 28  # a hashed day must exist in every month
        elif field is WEEKDAY:
            hash_high = 6
        else:
            hash_high = high
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise token.fail(
                    f"step {step_text!r} in {field.name} field must be a positive number",
                    at + len(base) + 1,
                )
            step = int(step_text)
        upper = base.upper()
        if upper in ("*", "?"):
            if upper == "?" and field not in (DAY, WEEKDAY):
                raise token.fail(f"'?' is only allowed in day fields, not in {field.name}", at)
            start, end = low, (6 if field is WEEKDAY else high)
        elif upper.startswith("H"):
            start, end = low, hash_high
            if upper != "H":
                inner = upper[1:]
                if not (inner.startswith("(") and inner.endswith(")")):
                    raise token.fail(f"'H' takes a range as H(a-b), not {base!r}", at)
                lo_text, dash, hi_text = inner[1:-1].partition("-")
                if not dash:
                    raise token.fail(f"'H' takes a range as H(a-b), not {base!r}", at)
                start = self._number(token, lo_text, at + 2, field)
                end = self._number(token, hi_text, at + 3 + len(lo_text), field)
                if start > end:
                    raise token.fail(f"range {start}-{end} runs backwards in {field.name}", at)
            h = self._hash(index)
            if slash:
                first = start + h % step
                return set(range(first, end + 1, step))
            return {start + h % (end - start + 1)}
        elif "-" in base[1:]:
            lo_text, _, hi_text = base.partition("-")
            if field is DAY and upper.startswith("L"):
                return set()  # L-n is handled by the day rule
            start = self._number(token, lo_text, at, field)
            end = self._number(token, hi_text, at + len(lo_text) + 1, field)
            if field is WEEKDAY and end == 0 < start:
                end = 7  # cronie: a weekday range may end on Sunday as 0 (FRI-SUN)
            if start > end:
                raise token.fail(
                    f"range {lo_text}-{hi_text} runs backwards in the {field.name} field "
                    f"(write it as two ranges: {lo_text}-{high},{low}-{hi_text})",
                    at,
                )
        elif field is DAY and (upper in ("L", "LW") or upper.endswith("W")):
            if slash:
                raise token.fail(f"{base!r} cannot take a step", at)
            if upper.endswith("W") and upper not in ("LW",):
                self._number(token, upper[:-1], at, field)
            return set()  # handled by the day rule
        elif field is WEEKDAY and (upper.endswith("L") or "#" in upper):
            if slash:
                raise token.fail(f"{base!r} cannot take a step", at)
            return set()  # handled by the day rule
        else:
            start = self._number(token, base, at, field)
            end = high if slash else start
        return set(range(start, end + 1, step))

    def _number(self, token: _Token, text: str, at: int, field: _Field) -> int:
        upper = text.upper()
        if upper.isdigit():
            value = int(upper)
        elif upper in field.names:
            value = field.names.index(upper) + field.name_base
        else:
            if field.names and upper.isalpha():
                import difflib

                hint = difflib.get_close_matches(upper, field.names, n=1, cutoff=0.5)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                raise token.fail(f"unknown {field.name} name {text!r}{extra}", at)
            raise token.fail(f"{text!r} is not a valid {field.name} value", at)
        if not field.low <= value <= field.high:
            raise token.fail(
                f"{field.name} value {value} is out of range {field.low}-{field.high}", at
            )
        return value

    # -- days ----------------------------------------------------------------------------

    def _day_rule(self, dom: _Token, dow: _Token) -> tuple[CachedDayRule, int | None]:
        """The rule that picks the days of a month, and the days after which the days it
        picks repeat (``LocalMatcher.period_days``): 1 or 7 when the day of the month is
        ``*`` and the day of the week has no ``#`` or ``L``, else None."""
        dom_values = self._values(dom, DAY, 3)
        dow_values = self._values(dow, WEEKDAY, 5)
        last_offsets: set[int] = set()  # L-n: n days before the last day (L is 0)
        nearest: set[int] = set()  # nW
        last_weekday = False  # LW
        at = 0
        for part in dom.text.upper().split(","):
            if part == "L":
                last_offsets.add(0)
            elif part == "LW":
                last_weekday = True
            elif part.startswith("L-"):
                n = part[2:]
                if not n.isdigit() or not 0 <= int(n) <= 30:
                    raise dom.fail(f"'L-n' needs n from 0 to 30, not {part!r}", at)
                last_offsets.add(int(n))
            elif part.endswith("W"):
                nearest.add(self._number(dom, part[:-1], at, DAY))
            at += len(part) + 1
        nth: set[tuple[int, int]] = set()  # d#k
        last_dow: set[int] = set()  # dL
        at = 0
        for part in dow.text.upper().split(","):
            if "#" in part:
                day_text, _, k = part.partition("#")
                day = self._number(dow, day_text, at, WEEKDAY) % 7
                if not k.isdigit() or not 1 <= int(k) <= 5:
                    raise dow.fail(f"'#' needs a week number from 1 to 5, not {part!r}", at)
                nth.add((day, int(k)))
            elif part.endswith("L") and part != "L":
                last_dow.add(self._number(dow, part[:-1], at, WEEKDAY) % 7)
            elif part == "L":
                last_dow.add(6)  # Quartz: 'L' alone in day-of-week is Saturday
            at += len(part) + 1
        dom_star = dom.text.startswith(("*", "?"))
        dow_star = dow.text.startswith(("*", "?"))
        self._dom_star, self._dow_star = dom_star, dow_star
        combine_or = not dom_star and not dow_star
        dom_full = dom_star and len(dom_values) == 31
        dow_full = dow_star and len(dow_values) == 7
        has_dom_special = bool(last_offsets or nearest or last_weekday)
        has_dow_special = bool(nth or last_dow)

        def pick(year: int, month: int, ndays: int, first_dow: int) -> Sequence[int]:
            if dom_full and dow_full:
                return range(1, ndays + 1)
            dom_days = {d for d in dom_values if d <= ndays}
            if has_dom_special:
                for n in last_offsets:
                    if ndays - n >= 1:
                        dom_days.add(ndays - n)
                for d in nearest:
                    if d <= ndays:
                        dom_days.add(_nearest_weekday(d, ndays, first_dow))
                if last_weekday:
                    dom_days.add(_nearest_weekday(ndays, ndays, first_dow))
            dow_days = {d for d in range(1, ndays + 1) if (first_dow + d - 1) % 7 in dow_values}
            if has_dow_special:
                for wd, k in nth:
                    first = 1 + (wd - first_dow) % 7
                    day = first + 7 * (k - 1)
                    if day <= ndays:
                        dow_days.add(day)
                for wd in last_dow:
                    last = ndays - (((first_dow + ndays - 1) % 7) - wd) % 7
                    dow_days.add(last)
            days = dom_days | dow_days if combine_or else dom_days & dow_days
            return sorted(days)

        period_days = None
        if dom_full and not has_dow_special:
            period_days = 1 if len(dow_values) == 7 else 7
        return CachedDayRule(pick), period_days

    def _check_possible(self, months: set[int], dom: _Token) -> None:
        from datetime import datetime

        if self.matcher.next_local(datetime(2000, 1, 1)) is not None:
            return
        plain = [int(p) for p in dom.text.split(",") if p.isdigit()]
        if plain and self._dow_star:
            names = ", ".join(MONTH_NAMES[m - 1].title() for m in sorted(months))
            raise dom.fail(
                f"{self.expression.strip()!r} never fires: day {max(plain)} does not exist in "
                f"{names}"
            )
        raise dom.fail(f"{self.expression.strip()!r} never fires: no date matches it")


def _nearest_weekday(day: int, ndays: int, first_dow: int) -> int:
    """The weekday (Mon-Fri) nearest ``day`` without leaving the month (Quartz ``W``)."""
    dow = (first_dow + day - 1) % 7
    if dow == 6:  # Saturday: Friday, or Monday when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if dow == 0:  # Sunday: Monday, or Friday when the last day is a Sunday
        return day + 1 if day < ndays else day - 2
    return day


def _split(text: str, lead: int) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < len(text) and not text[j].isspace():
            j += 1
        tokens.append(_Token(text[i:j], lead + i))
        i = j
    return tokens

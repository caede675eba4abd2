"""The ``holidays`` package's public holidays, the one module that imports it.

Why a package and not our own table: holiday rules change every year in some of 200+
countries and their subdivisions; the ``holidays`` project keeps them current. This
module is imported only when a calendar names ``holidays:``, so a file without one
never pays for loading it.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

from .errors import ScheduleSyntaxError

__all__ = ["check_region", "holidays_of_year"]


def check_region(country: str, subdiv: str | None) -> None:
    """Raise ``ScheduleSyntaxError`` unless the package knows ``country`` (and ``subdiv``)."""
    supported = holidays.list_supported_countries()
    if country not in supported:
        import difflib

        hint = difflib.get_close_matches(country.upper(), list(supported), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ScheduleSyntaxError(f"unknown holidays country {country!r}{extra} (ISO 3166 code)")
    if subdiv is not None and subdiv not in supported[country]:
        known = ", ".join(str(s) for s in supported[country][:40])
        raise ScheduleSyntaxError(
            f"unknown subdivision {subdiv!r} of {country}" + (f" (known: {known})" if known else "")
        )


@lru_cache(maxsize=512)
def holidays_of_year(country: str, subdiv: str | None, year: int) -> dict[date, str]:
    """The public holidays of one year: day -> name(s), as the package gives them."""
    found = holidays.country_holidays(country, subdiv=subdiv, years=year)
    return {day: str(name) for day, name in found.items() if day.year == year}

"""Human descriptions of cron expressions ("At 02:30 every day")."""

from __future__ import annotations


def describe_cron(expression: str) -> str:
    return f"Cron {expression}"

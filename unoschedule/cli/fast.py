"""A typer-free path for ``uno-schedule [GLOBAL OPTIONS] next-runs NAME [OPTIONS]``.

Importing typer (and through it the click machinery) costs about as much as the whole
budget of ``next-runs`` (SPEC 6: "answers fast enough to feel instant"; issue 2: at most
1.5x ``python -c "import yaml, croniter"``). So ``main()`` first tries this strict
parser. It accepts exactly the options the typer command declares, in their plain
spellings, and hands anything else (``--help``, an unknown option, a bad value, any error
at all) back to typer by returning None, so that users see typer's messages and exit
codes; the answer itself comes from ``nextruns``, the same code the typer command calls.
"""

from __future__ import annotations

import os
import sys

__all__ = ["try_fast_path"]

_GLOBAL_VALUE = {"-c": "config", "--config": "config", "--state": "state"}
_COMMAND_VALUE = {"-n": "count", "--count": "count", "--from": "from", "--tz": "tz"}


def _split(args: list[str], table: dict[str, str]) -> tuple[dict[str, str], list[str]] | None:
    """Parse ``--opt value`` / ``--opt=value`` options of ``table``; None on anything else."""
    values: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            key, eq, value = arg.partition("=")
            if key not in table:
                rest.append(arg)  # a flag the caller knows (e.g. --json), or unknown
                i += 1
                continue
            if not eq:
                if i + 1 >= len(args):
                    return None
                value = args[i + 1]
                i += 1
            values[table[key]] = value
        else:
            rest.append(arg)
        i += 1
    return values, rest


def try_fast_path(args: list[str]) -> int | None:
    """Answer ``next-runs`` without typer, or return None to let typer handle ``args``."""
    if "next-runs" not in args:
        return None
    at = args.index("next-runs")
    head, tail = args[:at], args[at + 1 :]
    parsed_head = _split(head, _GLOBAL_VALUE)
    parsed_tail = _split(tail, _COMMAND_VALUE)
    if parsed_head is None or parsed_tail is None or parsed_head[1]:
        return None
    globals_, _ = parsed_head
    options, rest = parsed_tail
    as_json = "--json" in rest
    positional = [a for a in rest if a != "--json"]
    if len(positional) != 1 or positional[0].startswith("-"):
        return None
    name = positional[0]
    count_text = options.get("count", "5")
    if not count_text.isdigit() or int(count_text) < 1:
        return None
    config = globals_.get("config") or os.environ.get("UNO_SCHEDULE_CONFIG") or "schedules.yaml"
    state = globals_.get("state") or os.environ.get("UNO_SCHEDULE_STATE") or None
    try:
        from .nextruns import next_run_times, parse_from, render

        zone = None
        if options.get("tz"):
            from unoschedule.timeutil import get_zone

            zone = get_zone(options["tz"])
        after = parse_from(options.get("from"), zone)
        instants = next_run_times(config, state, name, int(count_text), after)
        text = render(instants, zone, as_json)
    except Exception:  # every error is reported by the typer path, with its exit code
        return None
    if text:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0

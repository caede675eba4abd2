"""The everyday commands without typer: a derived fast path, not a second declaration.

Importing typer costs about five times a bare interpreter start, more than an everyday
command (``list``, ``status``, ``pause``...) does all told. The command line is declared
once, with typer (``application`` and ``commands``); ``make docs`` writes what that
declaration says about the everyday commands' parameters into ``commands.json``
(``docsgen.command_table``, through ``typer.main.get_command``; a test fails when the
file is not current). This module reads that table only: when every token of the command
line is understood (global options, then one of those commands, its options with values
of a simple type, the right number of arguments), it calls the command's ``actions``
function with the values typer would have handed it. On anything else (help, completion,
an unknown or malformed token, a value typer would reject, an option it treats
specially) it declines, and typer runs as it would have: errors, help and completion
stay typer's. Tests check on a corpus and on generated command lines that both give the
same values, and that this declines whatever typer rejects.
"""

from __future__ import annotations

import gc
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Parsed", "parse", "run"]

_TABLE = Path(__file__).with_name("commands.json")

#: (command, global values, command values), or None: left to typer.
Parsed = tuple[str, dict[str, Any], dict[str, Any]] | None


class _Decline(Exception):
    """This command line is typer's to handle."""


def table() -> dict[str, Any]:
    with open(_TABLE, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def parse(
    argv: list[str], environ: dict[str, str] | os._Environ[str], spec: dict[str, Any]
) -> Parsed:
    """The command and the values typer would hand it for ``argv``; None to leave it to typer."""
    if spec["complete_var"] in environ or any(a in spec["help"] for a in argv):
        return None
    try:
        given, rest = _options(argv, spec["global"], environ, interspersed=False)
        if not rest or rest[0] not in spec["commands"]:
            return None
        command = spec["commands"][rest[0]]
        values, positional = _options(rest[1:], command["params"], environ, interspersed=True)
        values.update(_arguments(positional, command["params"]))
        return rest[0], given, values
    except _Decline:
        return None


def _options(
    argv: list[str],
    params: list[dict[str, Any]],
    environ: dict[str, str] | os._Environ[str],
    *,
    interspersed: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The options' values (given, from the environment, or default) and the positional
    tokens; without ``interspersed``, the first positional token ends the options."""
    by_opt = {o: p for p in params for o in (*p["opts"], *p["secondary_opts"])}
    seen: dict[str, list[Any]] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            if not interspersed:
                raise _Decline
            positional.extend(argv[i:])
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            if not interspersed:
                positional.extend(argv[i:])
                break
            continue
        name, eq, attached = token.partition("=") if token.startswith("--") else (token, "", "")
        if not token.startswith("--") and len(token) > 2:
            name, eq, attached = token[:2], "=", token[2:]
        param = by_opt.get(name)
        if param is None or param["special"]:
            raise _Decline
        if param["flag"]:
            if eq:
                raise _Decline
            value: Any = name in param["opts"]
        elif eq:
            value = attached
        elif i < len(argv) and (argv[i] == "-" or not argv[i].startswith("-")):
            value, i = argv[i], i + 1
        else:
            raise _Decline  # a missing value, or one that looks like an option
        seen.setdefault(param["name"], []).append(value)
    values: dict[str, Any] = {}
    for param in params:
        if param["kind"] != "option" or param["special"]:
            continue
        found = seen.get(param["name"])
        if found is None and param["envvar"] and environ.get(param["envvar"]):
            if param["multiple"]:
                raise _Decline
            found = [environ[param["envvar"]]]
            if param["flag"]:
                found = [_flag_word(found[0])]
        values[param["name"]] = _value(param, found)
    return values, positional


def _arguments(tokens: list[str], params: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    arguments = [p for p in params if p["kind"] == "argument"]
    for n, param in enumerate(arguments):
        if param["nargs"] == 1:
            found = tokens[:1] or None
            tokens = tokens[1:]
        elif param["nargs"] == -1 and n == len(arguments) - 1:
            found, tokens = tokens, []
        else:
            raise _Decline
        values[param["name"]] = _value(param, found)
    if tokens:
        raise _Decline  # extra arguments
    return values


def _value(param: dict[str, Any], found: list[Any] | None) -> Any:
    """The value typer hands the command: converted, a list for a repeatable one."""
    many = param["multiple"] or param["nargs"] == -1
    if not found:
        if param["required"]:
            raise _Decline
        default = param["default"]
        if many:
            return None if default is None else [_convert(param, v) for v in default]
        return default if default is None or param["flag"] else _convert(param, default)
    if many:
        return [_convert(param, v) for v in found]
    return found[-1] if param["flag"] else _convert(param, found[-1])


def _flag_word(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "t", "yes", "y", "on"):
        return True
    if word in ("0", "false", "f", "no", "n", "off"):
        return False
    raise _Decline


def _convert(param: dict[str, Any], text: Any) -> Any:
    kind = param["type"]
    name = kind["name"]
    if name == "string":
        return str(text)
    if name in ("int", "float"):
        try:
            number = int(text) if name == "int" else float(text)
        except (TypeError, ValueError):
            raise _Decline from None
        low, high = kind.get("min"), kind.get("max")
        if kind.get("clamp"):
            raise _Decline
        if low is not None and (number <= low if kind.get("min_open") else number < low):
            raise _Decline
        if high is not None and (number >= high if kind.get("max_open") else number > high):
            raise _Decline
        return number
    if name == "path":
        return Path(_checked_path(kind, str(text)))
    raise _Decline


def _checked_path(kind: dict[str, Any], text: str) -> str:
    """A path that passes the declaration's checks (typer reports one that does not)."""
    try:
        mode = os.stat(text).st_mode
    except OSError:
        if kind["exists"]:
            raise _Decline from None
        return text
    if (not kind["file_okay"] and stat.S_ISREG(mode)) or (
        not kind["dir_okay"] and stat.S_ISDIR(mode)
    ):
        raise _Decline
    for check, flag in (("readable", os.R_OK), ("writable", os.W_OK), ("executable", os.X_OK)):
        if kind[check] and not os.access(text, flag):
            raise _Decline
    return text


def run(argv: list[str], typer_main: Callable[[list[str]], Any]) -> bool:
    """Run an everyday command without typer when ``argv`` is understood; False when it is
    left to typer (``typer_main``). Exits with the command's status as typer would."""
    spec = table()
    parsed = parse(argv, os.environ, spec)
    if parsed is None:
        return False
    name, given, values = parsed
    # What an everyday command allocates is mostly its modules, kept until it ends: the
    # collector's default (a pass every 700 new objects) would scan them some thirty times
    # for nothing (a twentieth of the command). It still runs, less often, in the one
    # command that may last (trigger --wait).
    gc.set_threshold(50_000, 10, 10)
    from unoschedule.errors import UsageError

    from . import actions, output, session

    action = spec["commands"][name]["action"]
    try:
        getattr(actions, action)(session.start(**given), **values)
    except UsageError as exc:
        _report_usage(argv, action, exc, typer_main)
    except BrokenPipeError:
        output.reader_gone()
        sys.exit(1)  # as typer ends a command whose reader went away
    except (Exception, KeyboardInterrupt) as exc:
        sys.exit(session.exit_status(exc))
    return True


def _report_usage(
    argv: list[str], action: str, exc: Exception, typer_main: Callable[[list[str]], Any]
) -> None:
    """typer reports a usage error as it reports its own: it parses the command line
    again and the command's action, instead of running a second time, raises ``exc``."""
    from . import actions

    def raise_it(*_args: Any, **_kwargs: Any) -> None:
        raise exc

    setattr(actions, action, raise_it)
    typer_main(argv)

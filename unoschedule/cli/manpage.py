"""``uno-schedule(1)``, written from the typer application itself (``make man``).

The commands are declared once, in ``commands``; this walks the click objects typer builds
from them (names, help texts, options, arguments), so the man page cannot say something
``--help`` does not.

    python -m unoschedule.cli.manpage > man/uno-schedule.1
"""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = ["render", "visible_commands"]

_SECTION_DATE = "2026"


def _roff(text: str) -> str:
    """Plain text made safe for roff: backslashes, leading dots and quotes, markdown ticks."""
    text = text.replace("\\", "\\e").replace("`", "")
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line.replace("-", "\\-"))
    return "\n".join(lines)


def _paragraphs(help_text: str) -> list[tuple[bool, str]]:
    """(is_example, text) blocks of a docstring; indented lines are examples."""
    blocks: list[tuple[bool, str]] = []
    for block in re.split(r"\n\s*\n", help_text.strip()):
        lines = block.splitlines()
        example = all(line.startswith("  ") for line in lines if line.strip())
        text = (
            "\n".join(line.strip() for line in lines)
            if example
            else " ".join(line.strip() for line in lines)
        )
        if text:
            blocks.append((example, text))
    return blocks


def _help_body(help_text: str) -> list[str]:
    out: list[str] = []
    for example, text in _paragraphs(help_text):
        if example:
            out += [".IP", ".nf", _roff(text), ".fi"]
        else:
            out += [".PP", _roff(text)]
    return out


def _params(command: Any) -> list[str]:
    out: list[str] = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            out += [".TP", f"\\fI{_roff(param.metavar or param.name.upper())}\\fR"]
            help_text = getattr(param, "help", None) or ""
        else:
            names = ", ".join(f"\\fB{_roff(o)}\\fR" for o in [*param.opts, *param.secondary_opts])
            metavar = "" if param.is_flag else f" \\fI{_roff(param.metavar or 'VALUE')}\\fR"
            out += [".TP", names + metavar]
            help_text = param.help or ""
            if param.envvar:
                help_text += f" (environment: {param.envvar})"
        out.append(_roff(help_text))
    return out


def visible_commands(group: Any, ctx: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(full name, command)`` of each visible command in help order, a group's own
    commands (``import crontab``) right after the group: the one walk that the man page
    and the CLI reference share."""
    out: list[tuple[str, Any]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        out.append((prefix + name, command))
        if hasattr(command, "list_commands"):
            out += visible_commands(command, ctx, f"{prefix}{name} ")
    return out


def render() -> str:
    """The whole man page, roff source."""
    import typer.main

    from unoschedule import __version__

    from . import app

    group = typer.main.get_command(app)
    out = [
        f'.TH UNO-SCHEDULE 1 "{_SECTION_DATE}" "uno-schedule {__version__}" "User Commands"',
        ".SH NAME",
        "uno\\-schedule \\- a job scheduler with YAML schedules and exactly\\-once firing",
        ".SH SYNOPSIS",
        "\\fBuno\\-schedule\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        *_help_body(group.help or ""),
        ".PP",
        "On a terminal, tables are drawn with colour (none with NO_COLOR set). Piped, or "
        "with \\fB\\-\\-plain\\fR, each row is one line of tab\\-separated cells after a "
        "header line. \\fB\\-\\-json\\fR prints one JSON document, instants in UTC.",
        ".SH GLOBAL OPTIONS",
        *_params(group),
        ".SH COMMANDS",
    ]
    ctx = typer.main.get_command(app).make_context("uno-schedule", ["list"])
    for name, command in visible_commands(group, ctx):
        out += [".SS " + _roff(f"uno-schedule {name}"), *_help_body(command.help or "")]
        params = _params(command)
        if params:
            out += [".PP", "Options:", ".RS", *params, ".RE"]
    out += [
        ".SH EXIT STATUS",
        "0 on success, 1 on a user error (one line on stderr, no traceback), 2 on a usage error.",
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBUNO_SCHEDULE_CONFIG\\fR, \\fBUNO_SCHEDULE_STATE\\fR",
        "Defaults of \\fB\\-\\-config\\fR and \\fB\\-\\-state\\fR.",
        ".TP",
        "\\fBNO_COLOR\\fR",
        "No colour, even on a terminal.",
        ".SH FILES",
        ".TP",
        "\\fIschedules.yaml\\fR",
        "The schedule file (see \\fBuno\\-schedule schema\\fR for its JSON Schema).",
        ".TP",
        "\\fIuno\\-schedule.db\\fR",
        "The state file beside it, unless \\fBscheduler.state\\fR or \\fB\\-\\-state\\fR says "
        "otherwise.",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

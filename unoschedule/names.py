"""What a schedule name may be: the one check the YAML loader and the library share.

A name is shown in tables, logs and ``UNO_SCHEDULE_NAME``, and typed back on the command
line. A blank name cannot be typed back; a control character (a newline, an escape)
forges log lines or terminal output; a bidi override (U+202E) makes a name read as
another one. So a name is printable (``str.isprintable``: no control, format -
which holds the bidi controls - or separator character but the plain space), not blank,
without space at either end, and at most ``MAX_NAME`` characters.
"""

from __future__ import annotations

from .errors import ScheduleSyntaxError

__all__ = ["MAX_NAME", "check_schedule_name"]

MAX_NAME = 200


def check_schedule_name(name: object) -> str:
    """Return ``name`` if it is a valid schedule name; else raise ``ScheduleSyntaxError``."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleSyntaxError(f"a schedule name must not be blank, not {name!r}")
    if name != name.strip():
        raise ScheduleSyntaxError(f"schedule name {name!r} starts or ends with a space")
    if len(name) > MAX_NAME:
        raise ScheduleSyntaxError(
            f"schedule name {name[:40]!r}... is longer than {MAX_NAME} characters"
        )
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:
        raise ScheduleSyntaxError(
            f"schedule name {name!r} holds U+{ord(bad):04X}, a control, format or "
            "separator character; use printable characters only"
        )
    return name

"""Tasks that tests/test_library.py schedules by function object (imported by path root)."""

from __future__ import annotations

import json
from typing import Any


def record_call(**kwargs: Any) -> None:
    """Write the keyword arguments the task was called with to ``kwargs['path']``."""
    with open(kwargs["path"], "w") as out:
        json.dump({"kwargs": kwargs}, out)


def fail_with_value_error(**kwargs: Any) -> None:
    raise ValueError("bad input 42")


def write_label(folder: str, label: str, **kwargs: Any) -> None:
    """Write the keyword arguments to ``folder/label``."""
    with open(f"{folder}/{label}", "w") as out:
        json.dump(kwargs, out)

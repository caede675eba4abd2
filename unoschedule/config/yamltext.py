"""YAML text outside the schedule file: one value typed on the command line, and the
canonical text of a definition that versions are diffed over.

With the loader, this is where PyYAML is used, so that swapping it touches this package
only. Both directions are plain data: ``safe`` loading and dumping, never objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["dump_canonical", "parse_value"]

#: libyaml's emitter where available: four times faster than the pure-Python one.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_value(text: str) -> Any:
    """``text`` read as a YAML value, as it would be in the file (``3`` is a number,
    ``[a, b]`` a list); ``ConfigError`` with the parser's reason when it is not YAML."""
    try:
        return yaml.load(text, Loader=_LOADER)
    except RecursionError:
        raise ConfigError(f"{text[:40]!r}... is nested too deeply to read") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{text!r} is not a YAML value: {problem}") from None


def dump_canonical(config: Mapping[str, Any]) -> str:
    """Block-style YAML with sorted keys: the same mapping always gives the same text."""
    return str(yaml.dump(dict(config), Dumper=_DUMPER, sort_keys=True, default_flow_style=False))

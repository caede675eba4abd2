"""The schedule file: YAML in, validated ``Config`` out (or every error, located).

``load_config`` and ``parse_config`` are the only ways the rest of the package reads a
schedule file; ``schema.json_schema()`` describes the same file for editors.
"""

from __future__ import annotations

from .loader import Config, load_config, parse_config

__all__ = ["Config", "load_config", "parse_config"]

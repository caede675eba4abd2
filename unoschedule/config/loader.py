"""The YAML front end: a schedule file becomes a ``Config`` or a list of located errors.

Why not ``yaml.safe_load``: we need the line and column of every value, so that each
problem is reported as ``FILE:LINE:COLUMN: message``. The file is therefore *composed*
(parsed into nodes that carry positions, with libyaml when it is available) and the
plain values are built here from the nodes. Only the tags of ``yaml.safe_load`` that
make plain data are accepted (null, bool, int, float, str, timestamp, seq, map, and the
``<<`` merge key); any other tag, ``!!python/object`` above all, is an error at its
position, so a schedule file can never build a Python object.

Validation collects every problem in the file before it gives up: an operator fixing a
file at 3 a.m. wants the whole list at once, not one error per attempt. Each field is
converted on its own (a bad ``timeout`` does not hide a bad ``schedule``), templates are
converted once where they are written (so an error in a template is reported at the
template, once), and what depends on the merged result (naive dates read in the
schedule's zone, ``command`` split unless ``shell: true``, task-or-command, end after
start) is checked after templates are merged.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from ..errors import ConfigError, ConfigErrors, ScheduleSyntaxError
from ..model import PRIORITIES, ScheduleDefinition, SchedulerOptions
from ..schedules import SCHEDULE_KEYS as SCHEDULE_TYPES
from ..schedules import CronSchedule, OneTimeSchedule, ScheduleSpec, schedule_from_config
from ..timeutil import as_utc, format_instant, get_zone, parse_duration, parse_instant
from ..wallclock import DstPolicy
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode, compose

__all__ = [
    "MERGED_MAPPINGS",
    "SCHEDULER_FIELDS",
    "SCHEDULE_FIELDS",
    "TOP_LEVEL_KEYS",
    "Config",
    "load_config",
    "parse_config",
]

#: Keys of a schedule (and of a template): every field of ScheduleDefinition but its name.
SCHEDULE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(ScheduleDefinition) if f.name != "name"
)
#: Keys of the ``scheduler:`` mapping: the fields of SchedulerOptions.
SCHEDULER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SchedulerOptions))
#: Top-level keys (``$schema`` lets editors that read it from the data find the schema).
TOP_LEVEL_KEYS: tuple[str, ...] = ("scheduler", "templates", "schedules", "$schema")
#: Template keys that merge with the schedule's own (the schedule's keys winning).
MERGED_MAPPINGS: tuple[str, ...] = ("kwargs", "metadata", "env")

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP = (
    _TAG + t for t in ("str", "null", "bool", "int", "float", "timestamp")
)
_SEQ, _MAP, _MERGE = _TAG + "seq", _TAG + "map", _TAG + "merge"
_SCALAR_TAGS = frozenset({_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP})
_COLLECTION_TAGS = frozenset({_SEQ, _MAP})
#: A ceiling on the values built from one file: aliases can make a tiny file expand
#: exponentially ("billion laughs"); no real schedule file comes near this.
_NODE_BUDGET = 2_000_000
_TASK_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*)$")
_ZERO_DURATION_RE = re.compile(r"^\s*0+(\.0+)?\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")

_RESOLVED: dict[str, str] = {}
_RESOLVER: Any = yaml.resolver.Resolver()


def _resolve_scalar(value: str, implicit: tuple[bool, bool]) -> str:
    """The safe resolver's tag for an untagged scalar, memoised: schedule files repeat
    the same plain scalars (keys, ``true``, queue names) thousands of times, and resolving
    each one with the resolver's regular expressions was a third of a large file's time."""
    if not implicit[0]:
        return _STR
    tag = _RESOLVED.get(value)
    if tag is None:
        if len(_RESOLVED) > 100_000:
            _RESOLVED.clear()
        tag = _RESOLVED[value] = _RESOLVER.resolve(yaml.nodes.ScalarNode, value, implicit)
    return tag


_CONSTRUCTOR = SafeConstructor()
_SCALAR_BUILDERS: dict[str, Callable[[yaml.nodes.ScalarNode], Any]] = {
    _NULL: _CONSTRUCTOR.construct_yaml_null,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
    _TIMESTAMP: _CONSTRUCTOR.construct_yaml_timestamp,
}


# -- the result ------------------------------------------------------------------------


@dataclass
class Config:
    """A validated schedule file: options, templates and merged schedule definitions."""

    path: Path | None
    options: SchedulerOptions
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, ScheduleDefinition] = field(default_factory=dict)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """Where relative paths in the file are read from: the file's folder (else cwd)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def state_path(self, override: str | os.PathLike[str] | None = None) -> Path:
        """The state file (SPEC 6): ``override`` (``--state``/env), else ``scheduler.state``
        read relative to the YAML file's folder, else ``uno-schedule.db`` beside the file."""
        if override:
            return Path(override).expanduser()
        if self.options.state:
            configured = Path(self.options.state).expanduser()
            return configured if configured.is_absolute() else self.folder / configured
        return self.folder / "uno-schedule.db"


# -- public entry points -----------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a schedule file.

    Raises ``ConfigError`` when the file cannot be read and ``ConfigErrors`` (every
    problem, sorted by line) when it is not a valid schedule file.
    """
    shown = os.fspath(path)
    try:
        with open(shown, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {shown}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None
    return _parse(text, shown, Path(os.path.abspath(shown)))


def parse_config(text: str, filename: str = "<string>") -> Config:
    """Validate schedule-file text; ``filename`` is only used to locate errors."""
    return _parse(text, filename, None)


def _parse(text: str, filename: str, path: Path | None) -> Config:
    # A large file makes hundreds of thousands of small objects at once: the cyclic
    # garbage collector would rescan them over and over (it tripled the time of a
    # 10,000-schedule file). Nothing built here is cyclic garbage.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_text(text, filename, path)
    finally:
        if collecting:
            gc.enable()


def _parse_text(text: str, filename: str, path: Path | None) -> Config:
    ctx = _Context(filename, text)
    root, aliased = _compose(ctx, text)
    config = Config(path=path, options=SchedulerOptions())
    if root is not None and _check_tree(ctx, root, aliased):
        _read_document(ctx, root, config)
    if ctx.errors:
        raise ConfigErrors(ctx.sorted_errors())
    return config


# -- error collection --------------------------------------------------------------------


class _Invalid(Exception):
    """One field is wrong: reported at ``node`` (``offset`` = character inside a scalar)."""

    def __init__(self, message: str, node: Node | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.node = node
        self.offset = offset


class _Context:
    """Everything one parse collects: the errors, the template names, a size budget."""

    def __init__(self, filename: str, text: str):
        self.filename = filename
        self.text = text
        self.errors: list[ConfigError] = []
        self.budget = _NODE_BUDGET
        self.template_names: dict[str, Node] = {}
        #: Nodes with a forbidden tag: reported once, and not again as "wrong type".
        self.tainted: set[int] = set()
        #: Converted values by (key, shape of the value as written); see ``_convert``.
        self.memo: dict[tuple[str, Any], Any] = {}
        self._lines: list[str] | None = None

    def error(self, node: Node | None, message: str, offset: int | None = None) -> None:
        """Record a problem at ``node`` (1-based line and column), or at the file's start."""
        if node is not None and id(node) in self.tainted:
            return
        if node is None or node.start_mark is None:
            self.errors.append(ConfigError(message, self.filename, 1, 1))
            return
        mark = node.start_mark
        column = mark.column + 1
        if offset is not None:
            start = self._scalar_start(node)
            if start is not None:
                column += start + offset
        self.errors.append(ConfigError(message, self.filename, mark.line + 1, column))

    def invalid(self, exc: _Invalid, fallback: Node) -> None:
        self.error(exc.node or fallback, exc.message, exc.offset)

    def sorted_errors(self) -> list[ConfigError]:
        """Errors by position, each reported once (a template's error may surface twice)."""
        unique = {(e.line, e.column, e.message): e for e in self.errors}
        return [unique[k] for k in sorted(unique)]

    def spend(self, node: Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _Invalid("this value expands to too many items (aliases that multiply?)", node)

    def _scalar_start(self, node: Node) -> int | None:
        """Where a one-line scalar's text starts relative to its node, if it is verbatim.

        Column offsets from the cron parser point into the string's *value*; they map to
        the file only when the source holds that value unchanged (no escapes, no folding).
        """
        if not isinstance(node, ScalarNode) or node.start_mark is None or node.end_mark is None:
            return None
        start, end = node.start_mark, node.end_mark
        if start.line != end.line:
            return None
        if self._lines is None:
            self._lines = _LINE_SPLIT_RE.split(self.text)
        if start.line >= len(self._lines):
            return None
        source = self._lines[start.line][start.column : end.column]
        if not node.style and source == node.value:
            return 0
        if node.style in ("'", '"') and source[1:-1] == node.value:
            return 1
        return None


# -- YAML to nodes -------------------------------------------------------------------------


def _compose(ctx: _Context, text: str) -> tuple[Node, bool]:
    """Parse to a node tree (and whether it uses aliases); a syntax error is the only
    error reported (nothing else is knowable), and an empty file is an error of its own."""
    try:
        root, aliased = compose(text, _resolve_scalar)
    except yaml.MarkedYAMLError as exc:
        _syntax_error(ctx, exc)
        raise ConfigErrors(ctx.sorted_errors()) from None
    except yaml.YAMLError as exc:
        line, column = _position_of(text, getattr(exc, "position", 0) or 0)
        ctx.errors.append(ConfigError(f"invalid YAML: {exc}", ctx.filename, line, column))
        raise ConfigErrors(ctx.sorted_errors()) from None
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL):
        ctx.error(
            None,
            "the file is empty; a schedule file is a mapping with the keys "
            "scheduler:, templates: and schedules:",
        )
        raise ConfigErrors(ctx.sorted_errors())
    return root, aliased


def _syntax_error(ctx: _Context, exc: yaml.MarkedYAMLError) -> None:
    problem = exc.problem or "syntax error"
    mark = exc.problem_mark or exc.context_mark
    context = f" ({exc.context})" if exc.context else ""
    hint = ""
    if exc.context and "alias" in exc.context:
        hint = "; a value that starts with '*' must be quoted, e.g. \"*/5 * * * *\""
        mark = exc.context_mark or mark
    elif "cannot start any token" in problem and mark is not None:
        line = _LINE_SPLIT_RE.split(ctx.text)[mark.line] if ctx.text else ""
        if mark.column < len(line) and line[mark.column] == "\t":
            hint = "; indent with spaces, YAML does not allow tabs there"
        elif mark.column < len(line) and line[mark.column] in "@`":
            hint = f"; a value that starts with {line[mark.column]!r} must be quoted"
    line_no = mark.line + 1 if mark is not None else 1
    column = mark.column + 1 if mark is not None else 1
    ctx.errors.append(
        ConfigError(f"invalid YAML: {problem}{context}{hint}", ctx.filename, line_no, column)
    )


def _position_of(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def _check_tree(ctx: _Context, root: Node, aliased: bool = True) -> bool:
    """Reject every tag that is not plain data, anywhere in the file; detect recursion.

    Runs once over the whole tree before anything is interpreted, so that a
    ``!!python/object`` tag is an error even under a key that is itself unknown.
    Returns False when the tree is recursive or absurdly deep (nothing else can then
    be walked safely). Written for speed: it visits every node of a 10,000-schedule file.
    Without aliases no node is shared, so the sets that find shared and recursive nodes
    (70 MB for 100,000 schedules) are not needed.
    """
    if root.__class__ is ScalarNode:
        _check_tag(ctx, root)
        return True
    done: set[int] = set()
    on_path: set[int] = set()

    def walk(node: Node) -> bool:
        ident = id(node)
        if aliased:
            if ident in on_path:
                ctx.error(node, "an alias refers to a mapping or list that contains it (recursion)")
                return False
            if ident in done:
                return True
            done.add(ident)
            on_path.add(ident)
        if node.tag not in _COLLECTION_TAGS:
            _check_tag(ctx, node)
        children = (
            [n for pair in node.value for n in pair]
            if node.__class__ is MappingNode
            else node.value
        )
        for child in children:
            if child.__class__ is ScalarNode:
                if child.tag not in _SCALAR_TAGS:
                    _check_tag(ctx, child)
            elif not walk(child):
                return False
        on_path.discard(ident)
        return True

    try:
        return walk(root)
    except RecursionError:
        ctx.error(root, "the file is nested too deeply to be a schedule file")
        return False


def _check_tag(ctx: _Context, node: Node) -> None:
    """Report a node whose tag ``yaml.safe_load`` would not turn into plain data."""
    tag = node.tag
    if isinstance(node, ScalarNode):
        if tag in _SCALAR_TAGS or tag == _MERGE:
            return
    elif tag == (_MAP if isinstance(node, MappingNode) else _SEQ):
        return
    shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
    reason = (
        "a schedule file cannot create Python objects"
        if "python/" in tag
        else "a schedule file holds plain data only"
    )
    ctx.error(
        node,
        f"tag {shown!r} is not allowed: {reason} (strings, numbers, booleans, dates, "
        "lists and mappings, as yaml.safe_load reads them)",
    )
    ctx.tainted.add(id(node))


# -- nodes to plain values ---------------------------------------------------------------


def _pairs(ctx: _Context, node: MappingNode, noun: str = "key") -> list[tuple[str, Node, Node]]:
    """The (key, key node, value node) entries of a mapping, in file order.

    Keys are taken as written (``on:`` stays the string ``on``). A key given twice is an
    error at the second occurrence, which is then ignored. ``<<`` merge keys are expanded
    (the mapping's own keys win, as in ``yaml.safe_load``).
    """
    seen: dict[str, Node] = {}
    entries: list[tuple[str, Node, Node]] = []
    merged: dict[str, tuple[Node, Node]] | None = None
    for key_node, value_node in node.value:
        if key_node.__class__ is not ScalarNode:
            ctx.error(key_node, f"a {noun} must be a plain name, not {_kind(key_node)}")
            continue
        if key_node.tag == _MERGE:
            merged = {} if merged is None else merged
            _merge_into(ctx, value_node, merged)
            continue
        key = str(key_node.value)
        first = seen.get(key)
        if first is not None:
            where = first.start_mark.line + 1 if first.start_mark else "?"
            ctx.error(key_node, f"duplicate {noun} {key!r} (first defined on line {where})")
            continue
        seen[key] = key_node
        entries.append((key, key_node, value_node))
    if merged:
        inherited = [(k, kn, vn) for k, (kn, vn) in merged.items() if k not in seen]
        entries = inherited + entries
    return entries


def _merge_into(ctx: _Context, value: Node, merged: dict[str, tuple[Node, Node]]) -> None:
    sources = value.value if isinstance(value, SequenceNode) else [value]
    for source in sources:
        if not isinstance(source, MappingNode):
            ctx.error(source, "a merge key '<<' takes a mapping (or a list of mappings)")
            continue
        for key, key_node, value_node in _pairs(ctx, source):
            merged.setdefault(key, (key_node, value_node))


def _plain(ctx: _Context, node: Node) -> Any:
    """The value ``yaml.safe_load`` would give for ``node`` (keys as written)."""
    ctx.spend(node)
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, MappingNode):
        return {key: _plain(ctx, value) for key, _, value in _pairs(ctx, node)}
    return [_plain(ctx, child) for child in node.value]


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    build = _SCALAR_BUILDERS.get(tag)
    if build is None:  # a tag the tree check has already reported
        return node.value
    try:
        return build(yaml.nodes.ScalarNode(tag, node.value))
    except ValueError as exc:
        raise _Invalid(f"{node.value!r} is not a real date or number ({exc})", node) from None


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty (null)"
    return repr(node.value)


def _show(node: Node) -> str:
    """How a value is named in a message: strings quoted, collections by their kind."""
    if isinstance(node, ScalarNode):
        if node.tag == _NULL:
            return "empty (null)"
        return repr(node.value) if node.tag == _STR else str(node.value)
    return _kind(node)


def _text(node: Node) -> str | None:
    """A scalar's text as written (``yes`` stays ``yes``), None for null or non-scalars."""
    if isinstance(node, ScalarNode) and node.tag != _NULL:
        return str(node.value)
    return None


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest choice for a misspelling (difflib is used only on errors)."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_key(key: str, allowed: Sequence[str], where: str) -> str:
    hint = _suggest(key, allowed)
    if hint:
        return f"unknown key {key!r}; did you mean {hint!r}?"
    return f"unknown key {key!r} in {where}; expected one of: {', '.join(allowed)}"


# -- field converters ----------------------------------------------------------------------
#
# A converter turns one value node into the value a dataclass field wants, or raises
# _Invalid. Those for fields whose default is None accept null (it unsets a template's
# value). Converters are built per key by small factories so that messages name the key.

_Converter = Callable[[_Context, Node], Any]


def _optional(convert: _Converter) -> _Converter:
    def run(ctx: _Context, node: Node) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            return None
        return convert(ctx, node)

    return run


def _string(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(f"{key} must be a non-empty string, not {_show(node)}", node)
        return text

    return run


def _boolean(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> bool:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(_scalar(node))
        raise _Invalid(f"{key} must be true or false, not {_show(node)}", node)

    return run


def _whole(key: str, minimum: int) -> _Converter:
    def run(ctx: _Context, node: Node) -> int:
        if isinstance(node, ScalarNode) and node.tag == _INT:
            value = int(_scalar(node))
            if value >= minimum:
                return value
        raise _Invalid(f"{key} must be a whole number >= {minimum}, not {_show(node)}", node)

    return run


def _number(key: str, minimum: float) -> _Converter:
    def run(ctx: _Context, node: Node) -> float:
        if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT):
            value = float(_scalar(node))
            if value >= minimum:
                return value
        raise _Invalid(f"{key} must be a number >= {minimum:g}, not {_show(node)}", node)

    return run


def _duration(key: str, *, allow_zero: bool = False) -> _Converter:
    """Seconds from ``30s``, ``5m``, ``1h30m``, a number of seconds or a timedelta mapping."""

    def run(ctx: _Context, node: Node) -> float:
        if isinstance(node, SequenceNode) or (isinstance(node, ScalarNode) and node.tag == _NULL):
            raise _Invalid(
                f"{key} must be a duration such as 30s, 5m or 1h30m, not {_show(node)}", node
            )
        value = _plain(ctx, node)
        if allow_zero and _is_zero(value):
            return 0.0
        try:
            return parse_duration(value, what=key).total_seconds()
        except ScheduleSyntaxError as exc:
            raise _Invalid(exc.message, node) from None

    return run


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and bool(_ZERO_DURATION_RE.match(value))


def _choice(key: str, choices: Sequence[str]) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is not None and text in choices:
            return text
        hint = _suggest(text, choices) if text else None
        extra = f"; did you mean {hint!r}?" if hint else ""
        raise _Invalid(f"{key} must be one of {', '.join(choices)}, not {_show(node)}{extra}", node)

    return run


def _words(key: str) -> _Converter:
    """A list of strings (tags, import paths); scalars are taken as written."""

    def run(ctx: _Context, node: Node) -> tuple[str, ...]:
        if not isinstance(node, SequenceNode):
            raise _Invalid(
                f"{key} must be a list of strings, e.g. [nightly], not {_show(node)}", node
            )
        out: list[str] = []
        for item in node.value:
            text = _text(item)
            if text is None or not text.strip():
                raise _Invalid(
                    f"each entry of {key} must be a non-empty string, not {_show(item)}", item
                )
            out.append(text)
        return tuple(out)

    return run


def _mapping(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise _Invalid(f"{key} must be a mapping (key: value), not {_show(node)}", node)
        value: dict[str, Any] = _plain(ctx, node)
        return value

    return run


def _env(ctx: _Context, node: Node) -> dict[str, str]:
    """Environment variables: names to strings, scalars taken as written (``1``, ``yes``)."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"env must be a mapping of variable names to values, not {_show(node)}", node
        )
    out: dict[str, str] = {}
    for name, key_node, value_node in _pairs(ctx, node):
        if not name or "=" in name or "\0" in name:
            raise _Invalid(f"{name!r} is not an environment variable name", key_node)
        text = _text(value_node)
        if text is None:
            raise _Invalid(f"env {name} must be a string, not {_show(value_node)}", value_node)
        out[name] = text
    return out


def _args(ctx: _Context, node: Node) -> tuple[Any, ...]:
    if not isinstance(node, SequenceNode):
        raise _Invalid(f'args must be a list, e.g. [1, "two"], not {_show(node)}', node)
    return tuple(_plain(ctx, node))


def _command(key: str) -> _Converter:
    """A string (split later, unless ``shell: true``) or a list of words as written."""

    def run(ctx: _Context, node: Node) -> str | tuple[str, ...]:
        if isinstance(node, SequenceNode):
            words: list[str] = []
            for item in node.value:
                text = _text(item)
                if text is None:
                    raise _Invalid(f"each word of {key} must be a string, not {_show(item)}", item)
                words.append(text)
            if not words:
                raise _Invalid(f"{key} is an empty list; give the program and its arguments", node)
            return tuple(words)
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(
                f"{key} must be a string or a list of words, e.g. [df, -h], not {_show(node)}", node
            )
        return text

    return run


def _zone_name(key: str) -> _Converter:
    def run(ctx: _Context, node: Node) -> str:
        text = _text(node)
        if text is None or not text.strip():
            raise _Invalid(
                f"{key} must be an IANA zone name such as Europe/Berlin, not {_show(node)}", node
            )
        try:
            get_zone(text.strip())
        except ScheduleSyntaxError as exc:
            raise _Invalid(exc.message, node) from None
        return text.strip()

    return run


def _instant(key: str) -> _Converter:
    """A datetime, naive when the file gave no zone (read later in the schedule's zone)."""

    def run(ctx: _Context, node: Node) -> datetime:
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            raise _Invalid(
                f"{key} must be a date and time such as 2026-12-01T10:00:00Z, not {_show(node)}",
                node,
            )
        value = _scalar(node)
        try:
            return _as_datetime(value)
        except ScheduleSyntaxError as exc:
            raise _Invalid(f"{key}: {exc.message}", node) from None

    return run


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return parse_instant(text)  # raises ScheduleSyntaxError with the usual message


def _dst(ctx: _Context, node: Node) -> dict[str, str]:
    """``{gap: shift|skip, overlap: first|both}``; keys left out take the schedule's default."""
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"dst must be a mapping such as {{gap: skip, overlap: first}}, not {_show(node)}", node
        )
    choices = {"gap": ("shift", "skip"), "overlap": ("first", "both")}
    out: dict[str, str] = {}
    for key, key_node, value_node in _pairs(ctx, node):
        if key not in choices:
            raise _Invalid(_unknown_key(key, list(choices), "dst"), key_node)
        out[key] = _choice(f"dst {key}", choices[key])(ctx, value_node)
    return out


def _template_ref(ctx: _Context, node: Node) -> str:
    text = _text(node)
    if text is None:
        raise _Invalid(f"template must be the name of a template, not {_show(node)}", node)
    if text not in ctx.template_names:
        hint = _suggest(text, list(ctx.template_names))
        if hint:
            extra = f"; did you mean {hint!r}?"
        elif ctx.template_names:
            extra = f" (templates: {', '.join(ctx.template_names)})"
        else:
            extra = " (the file has no templates: section)"
        raise _Invalid(f"unknown template {text!r}{extra}", node)
    return text


def _queues(ctx: _Context, node: Node) -> dict[str, int]:
    if not isinstance(node, MappingNode):
        raise _Invalid(
            f"queues must map queue names to concurrency limits, e.g. "
            f"{{default: 4}}, not {_show(node)}",
            node,
        )
    return {
        name: _whole(f"the concurrency of queue {name!r}", 1)(ctx, value)
        for name, _, value in _pairs(ctx, node)
    }


# -- the schedule: key ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ScheduleValue:
    """A validated schedule type; a naive ``at`` is re-read once the zone is known."""

    spec: ScheduleSpec
    naive_at: datetime | None = None

    def bind(self, zone: tzinfo) -> ScheduleSpec:
        if self.naive_at is None:
            return self.spec
        return OneTimeSchedule(as_utc(self.naive_at, zone))


def _schedule(ctx: _Context, node: Node) -> _ScheduleValue:
    """A cron string, or a mapping with exactly one of cron/every/at/daily/weekly/..."""
    if isinstance(node, ScalarNode) and node.tag != _NULL:
        return _ScheduleValue(_cron(node))
    if not isinstance(node, MappingNode):
        raise _Invalid(
            'schedule must be a cron string such as "30 2 * * *" or a mapping with one of '
            f"{', '.join(SCHEDULE_TYPES)} (e.g. {{every: 5m}}), not {_show(node)}",
            node,
        )
    kinds: list[tuple[str, Node, Node]] = []
    for key, key_node, value_node in _pairs(ctx, node):
        if key in SCHEDULE_TYPES:
            kinds.append((key, key_node, value_node))
        else:
            hint = _suggest(key, SCHEDULE_TYPES)
            extra = f"; did you mean {hint!r}?" if hint else ""
            raise _Invalid(
                f"unknown schedule type {key!r}{extra} (use one of {', '.join(SCHEDULE_TYPES)})",
                key_node,
            )
    if not kinds:
        raise _Invalid(f"schedule needs one of {', '.join(SCHEDULE_TYPES)}", node)
    if len(kinds) > 1:
        names = " and ".join(k for k, _, _ in kinds)
        raise _Invalid(
            f"a schedule has exactly one type, this one has {names}; use one schedule per entry",
            kinds[1][1],
        )
    kind, _, body = kinds[0]
    return _typed_schedule(ctx, kind, body)


def _cron(node: ScalarNode) -> CronSchedule:
    try:
        return CronSchedule(str(node.value))
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, node, exc.column) from None


def _typed_schedule(ctx: _Context, kind: str, body: Node) -> _ScheduleValue:
    if kind == "cron":
        if not isinstance(body, ScalarNode) or body.tag == _NULL:
            raise _Invalid(
                f'cron must be a cron string such as "30 2 * * *", not {_show(body)}', body
            )
        return _ScheduleValue(_cron(body))
    if kind == "at":
        moment = _instant("at")(ctx, body)
        naive = moment if moment.tzinfo is None else None
        return _ScheduleValue(OneTimeSchedule(as_utc(moment)), naive)
    if kind == "daily":
        value: Any = _times(ctx, body)
    elif kind in ("weekly", "monthly"):
        value = _days_and_time(ctx, kind, body)
    elif kind == "event":
        value = _text(body)
        if value is None:
            raise _Invalid(
                f"event must be an event name such as inventory.low_stock, not {_show(body)}", body
            )
    else:
        value = _plain(ctx, body)
    try:
        return _ScheduleValue(schedule_from_config({kind: value}))
    except ScheduleSyntaxError as exc:
        raise _Invalid(exc.message, body) from None


def _times(ctx: _Context, node: Node) -> Any:
    """Times of day as written: YAML 1.1 reads an unquoted ``10:00`` as the number 600."""
    if isinstance(node, SequenceNode):
        return [_time_text(ctx, item) for item in node.value]
    return _time_text(ctx, node)


def _time_text(ctx: _Context, node: Node) -> Any:
    if isinstance(node, ScalarNode) and node.tag in (_INT, _FLOAT) and ":" in node.value:
        return node.value
    return _plain(ctx, node)


def _days_and_time(ctx: _Context, kind: str, node: Node) -> dict[str, Any]:
    example = (
        '{days: [monday], time: "09:00"}'
        if kind == "weekly"
        else ('{days: [1, 15], time: "12:00"}')
    )
    if not isinstance(node, MappingNode):
        raise _Invalid(f"{kind} takes a mapping such as {example}, not {_show(node)}", node)
    out: dict[str, Any] = {}
    for key, key_node, value_node in _pairs(ctx, node):
        if key == "time":
            out["time"] = _times(ctx, value_node)
        elif key == "days":
            out["days"] = _plain(ctx, value_node)
        else:
            raise _Invalid(_unknown_key(key, ("days", "time"), kind), key_node)
    if "days" not in out:
        raise _Invalid(f"{kind} needs days:, e.g. {example}", node)
    return out


# -- key tables ----------------------------------------------------------------------------

_SCHEDULE_CONVERTERS: dict[str, _Converter] = {
    "schedule": _schedule,
    "task": _optional(_string("task")),
    "command": _optional(_command("command")),
    "shell": _boolean("shell"),
    "args": _args,
    "kwargs": _mapping("kwargs"),
    "queue": _optional(_string("queue")),
    "priority": _choice("priority", tuple(PRIORITIES)),
    "start_date": _optional(_instant("start_date")),
    "end_date": _optional(_instant("end_date")),
    "timezone": _optional(_zone_name("timezone")),
    "max_retries": _whole("max_retries", 0),
    "retry_delay": _duration("retry_delay", allow_zero=True),
    "retry_backoff": _number("retry_backoff", 1),
    "tags": _words("tags"),
    "metadata": _mapping("metadata"),
    "timeout": _optional(_duration("timeout")),
    "unique": _boolean("unique"),
    "template": _optional(_template_ref),
    "enabled": _boolean("enabled"),
    "paused": _boolean("paused"),
    "description": _optional(_string("description")),
    "dst": _optional(_dst),
    "on_error": _optional(_command("on_error")),
    "env": _env,
    "cwd": _optional(_string("cwd")),
}

_SCHEDULER_CONVERTERS: dict[str, _Converter] = {
    "queue_name": _string("queue_name"),
    "timezone": _zone_name("timezone"),
    "check_interval": _duration("check_interval"),
    "missed_threshold": _duration("missed_threshold", allow_zero=True),
    "missed_schedule_handling": _choice(
        "missed_schedule_handling", ("trigger", "skip", "coalesce")
    ),
    "max_missed_schedules": _whole("max_missed_schedules", 0),
    "lock_timeout": _duration("lock_timeout"),
    "metrics_enabled": _boolean("metrics_enabled"),
    "instance_id": _optional(_string("instance_id")),
    "storage": _optional(_string("storage")),
    "state": _optional(_string("state")),
    "queues": _queues,
    "default_concurrency": _whole("default_concurrency", 1),
    "shutdown_grace": _duration("shutdown_grace", allow_zero=True),
    "kill_grace": _duration("kill_grace", allow_zero=True),
    "import_paths": _words("import_paths"),
    "output_tail": _whole("output_tail", 0),
    "log_dir": _optional(_string("log_dir")),
    "on_error": _optional(_command("on_error")),
}

#: Keys that belong one level down, and where to put them.
_MISPLACED = {
    **{
        k: f"{k} is a schedule type; put it under schedule:, e.g. schedule: {{{k}: ...}}"
        for k in SCHEDULE_TYPES
    },
    "name": "a schedule's name is its key under schedules:, not a name: field",
}


# -- the document ----------------------------------------------------------------------------


@dataclass
class _Entry:
    """A converted value and the node it was written at (for errors after merging)."""

    value: Any
    node: Node
    key_node: Node


def _read_document(ctx: _Context, root: Node, config: Config) -> None:
    if not isinstance(root, MappingNode):
        ctx.error(
            root,
            "a schedule file is a mapping with the keys scheduler:, templates: "
            f"and schedules:, not {_kind(root)}",
        )
        return
    sections: dict[str, Node] = {}
    for key, key_node, value_node in _pairs(ctx, root):
        if key not in TOP_LEVEL_KEYS:
            ctx.error(key_node, _top_level_unknown(key))
            continue
        sections[key] = value_node
    if "$schema" in sections and _text(sections["$schema"]) is None:
        ctx.error(sections["$schema"], "$schema must be a string (the schema's address)")
    config.options = _read_options(ctx, sections.get("scheduler"))
    templates = _template_nodes(ctx, sections.get("templates"))
    ctx.template_names = {name: key_node for name, (key_node, _) in templates.items()}
    converted: dict[str, dict[str, _Entry] | None] = {}
    for name, (_, body) in templates.items():
        result = _convert_fields(ctx, body, f"template {name!r}")
        # A template whose own template: is invalid cannot be resolved.
        converted[name] = result[0] if result and "template" not in result[1] else None
    for name, entries in converted.items():
        if entries is not None:
            _check_exclusive(ctx, entries)
            # A value that fails here failed, and was reported, as a field above.
            with contextlib.suppress(_Invalid, RecursionError):
                config.templates[name] = _plain(ctx, templates[name][1])
    resolved = _resolve_templates(ctx, converted)
    _read_schedules(ctx, sections.get("schedules"), config, converted, resolved)


def _top_level_unknown(key: str) -> str:
    if key in SCHEDULE_FIELDS:
        return (
            f"unknown top-level key {key!r}: schedules go under schedules:, "
            f"e.g. schedules: {{backup: {{{key}: ...}}}}"
        )
    return _unknown_key(key, TOP_LEVEL_KEYS[:3], "the top level")


def _convert_fields(
    ctx: _Context, node: Node, what: str
) -> tuple[dict[str, _Entry], set[str]] | None:
    """Convert every key of a schedule or template on its own; None if it is no mapping.

    Returns the converted entries and the keys that were written but invalid (their
    errors are reported), so that follow-up errors ("runs nothing") are not piled on.
    """
    if not isinstance(node, MappingNode):
        article = "a schedule" if what.startswith("schedule") else "a template"
        ctx.error(
            node,
            f"{what} must be a mapping of keys such as schedule:, task: or "
            f"command:, not {_kind(node)} ({article} is written name: {{...}})",
        )
        return None
    entries: dict[str, _Entry] = {}
    failed: set[str] = set()
    for key, key_node, value_node in _pairs(ctx, node, "key"):
        convert = _SCHEDULE_CONVERTERS.get(key)
        if convert is None:
            message = _MISPLACED.get(key) or _unknown_key(key, SCHEDULE_FIELDS, what)
            ctx.error(key_node, f"unknown key {key!r}: {message}" if key in _MISPLACED else message)
            # A misspelt key counts as written: "no schedule:" would only repeat it.
            failed.add(_suggest(key, SCHEDULE_FIELDS) or ("schedule" if key in _MISPLACED else key))
            continue
        try:
            entries[key] = _Entry(_convert(ctx, key, convert, value_node), value_node, key_node)
        except _Invalid as exc:
            ctx.invalid(exc, value_node)
            failed.add(key)
        except RecursionError:
            ctx.error(value_node, f"{key} is nested too deeply")
            failed.add(key)
    return entries, failed


#: Keys whose converted values are mutable (dicts, or tuples that may hold them): these
#: are never shared between schedules, so they are converted afresh for each one.
_UNSHARED = frozenset({"kwargs", "metadata", "env", "args", "dst"})


def _convert(ctx: _Context, key: str, convert: _Converter, node: Node) -> Any:
    """``convert(ctx, node)``, memoised by the value's shape within one file.

    Large files repeat the same values (``retry_delay: 30s``, one cron line, one zone)
    thousands of times; parsing each once keeps a 10,000-schedule file fast. Only
    immutable results are shared, and errors are never memoised (each is reported at
    its own position).
    """
    if key in _UNSHARED:
        return convert(ctx, node)
    shape = _shape(node)
    if shape is None:
        return convert(ctx, node)
    memo_key = (key, shape)
    found = ctx.memo.get(memo_key, _MISSING)
    if found is _MISSING:
        found = ctx.memo[memo_key] = convert(ctx, node)
    return found


_MISSING: Any = object()


def _shape(node: Node, depth: int = 0) -> Any:
    """A hashable key for a small value as written (tags included), or None."""
    if node.__class__ is ScalarNode:
        return (node.tag, node.value)
    if depth > 3 or len(node.value) > 16:
        return None
    if node.__class__ is SequenceNode:
        items = tuple(_shape(child, depth + 1) for child in node.value)
        return None if None in items else ("seq", items)
    pairs: list[tuple[str, Any]] = []
    for key_node, value_node in node.value:
        if key_node.__class__ is not ScalarNode or key_node.tag == _MERGE:
            return None  # merge keys and odd keys: convert afresh
        if any(key_node.value == k for k, _ in pairs):
            return None  # a duplicate key: its error must be reported at each place
        inner = _shape(value_node, depth + 1)
        if inner is None:
            return None
        pairs.append((key_node.value, inner))
    return ("map", tuple(pairs))


def _check_exclusive(ctx: _Context, entries: dict[str, _Entry]) -> None:
    """A mapping may not set both task and command (a job is one or the other)."""
    task, command = entries.get("task"), entries.get("command")
    if task is not None and command is not None and task.value and command.value:
        second = max(task, command, key=lambda e: _line_col(e.key_node))
        ctx.error(
            second.key_node,
            "set either task: (a Python callable) or command: (a program), not both",
        )


def _line_col(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line, mark.column) if mark is not None else (0, 0)


def _read_options(ctx: _Context, node: Node | None) -> SchedulerOptions:
    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
        return SchedulerOptions()
    if not isinstance(node, MappingNode):
        ctx.error(node, f"scheduler must be a mapping of options, not {_kind(node)}")
        return SchedulerOptions()
    values: dict[str, Any] = {}
    for key, key_node, value_node in _pairs(ctx, node):
        convert = _SCHEDULER_CONVERTERS.get(key)
        if convert is None:
            ctx.error(key_node, _unknown_key(key, SCHEDULER_FIELDS, "scheduler"))
            continue
        try:
            values[key] = convert(ctx, value_node)
        except _Invalid as exc:
            ctx.invalid(exc, value_node)
        except RecursionError:
            ctx.error(value_node, f"{key} is nested too deeply")
    if isinstance(values.get("on_error"), str):
        try:
            values["on_error"] = tuple(shlex.split(values["on_error"]))
        except ValueError as exc:
            ctx.error(node, f"on_error cannot be split into words: {exc}")
            del values["on_error"]
    return SchedulerOptions(**values)


def _template_nodes(ctx: _Context, node: Node | None) -> dict[str, tuple[Node, Node]]:
    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
        return {}
    if not isinstance(node, MappingNode):
        ctx.error(node, f"templates must map template names to their keys, not {_kind(node)}")
        return {}
    return {name: (key_node, body) for name, key_node, body in _pairs(ctx, node, "template name")}


# -- templates ---------------------------------------------------------------------------------


def _merge(base: dict[str, _Entry], own: dict[str, _Entry]) -> dict[str, _Entry]:
    """``own`` over ``base``: mappings merge (own keys win), everything else is replaced.

    A task and a command are alternatives: a mapping that sets either drops both of
    the base's, so that a schedule can run a command under a template that names a task.
    """
    out = dict(base)
    if "task" in own or "command" in own:
        out.pop("task", None)
        out.pop("command", None)
    for key, entry in own.items():
        previous = out.get(key)
        if (
            key in MERGED_MAPPINGS
            and previous is not None
            and isinstance(previous.value, dict)
            and isinstance(entry.value, dict)
        ):
            out[key] = _Entry({**previous.value, **entry.value}, entry.node, entry.key_node)
        else:
            out[key] = entry
    return out


def _resolve_templates(
    ctx: _Context, converted: dict[str, dict[str, _Entry] | None]
) -> dict[str, dict[str, _Entry] | None]:
    """Each template merged over its chain of parents; None for a broken chain."""
    resolved: dict[str, dict[str, _Entry] | None] = {}
    for name in converted:
        _resolve_one(ctx, name, converted, resolved)
    return resolved


def _resolve_one(
    ctx: _Context,
    name: str,
    converted: dict[str, dict[str, _Entry] | None],
    resolved: dict[str, dict[str, _Entry] | None],
) -> None:
    chain: list[str] = []
    current: str | None = name
    base: dict[str, _Entry] | None = {}
    while current is not None:
        if current in resolved:
            base = resolved[current]
            break
        if current in chain:
            _report_cycle(ctx, chain[chain.index(current) :], converted)
            base = None
            break
        own = converted.get(current)
        if own is None:  # not a mapping, or an unknown name (reported where it is used)
            base = None
            break
        chain.append(current)
        parent = own.get("template")
        current = parent.value if parent is not None else None
    for member in reversed(chain):
        own = converted[member]
        base = None if base is None or own is None else _merge(base, own)
        resolved[member] = base


def _report_cycle(
    ctx: _Context, cycle: list[str], converted: dict[str, dict[str, _Entry] | None]
) -> None:
    """One error per cycle, at the reference of its earliest template (stable on reruns)."""
    first = min(range(len(cycle)), key=lambda i: _line_col(ctx.template_names[cycle[i]]))
    ordered = cycle[first:] + cycle[:first]
    own = converted[ordered[0]]
    node = own["template"].node if own and "template" in own else ctx.template_names[ordered[0]]
    ctx.error(node, "template cycle: " + " -> ".join([*ordered, ordered[0]]))


# -- schedules ---------------------------------------------------------------------------------


def _read_schedules(
    ctx: _Context,
    node: Node | None,
    config: Config,
    converted: dict[str, dict[str, _Entry] | None],
    resolved: dict[str, dict[str, _Entry] | None],
) -> None:
    if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
        return
    if not isinstance(node, MappingNode):
        hint = (
            " (write name: {schedule: ..., command: ...}, not a list of - name: ...)"
            if isinstance(node, SequenceNode)
            else ""
        )
        ctx.error(
            node, f"schedules must map schedule names to definitions, not {_kind(node)}{hint}"
        )
        return
    default_zone = _zone_or_utc(config.options.timezone)
    # The entries list becomes the only reference to each schedule's nodes, and each is
    # dropped once converted: the tree is freed while the definitions are built, so a
    # large file's peak memory is the tree's, not the tree's plus the definitions'.
    pending = _pairs(ctx, node, "schedule name")
    node.value = []
    pending.reverse()
    while pending:
        name, key_node, body = pending.pop()
        if isinstance(body, ScalarNode) and body.tag == _NULL:
            ctx.error(
                key_node, f"schedule {name!r} is empty; it needs schedule: and task: or command:"
            )
            continue
        converted_own = _convert_fields(ctx, body, f"schedule {name!r}")
        if converted_own is None:
            continue
        own, failed = converted_own
        _check_exclusive(ctx, own)
        base: dict[str, _Entry] | None = None if "template" in failed else {}
        template = own.get("template")
        if template is not None and template.value is not None:
            base = resolved.get(template.value)
        entries = _merge(base, own) if base is not None else own
        definition = _build(
            ctx, name, key_node, entries, default_zone, complete=base is not None, failed=failed
        )
        if definition is not None:
            config.schedules[name] = definition
            mark = key_node.start_mark
            config.positions[name] = (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _zone_or_utc(name: str | None) -> tzinfo:
    try:
        return get_zone(name) if name else UTC
    except ScheduleSyntaxError:  # already reported where it is written
        return UTC


def _build(
    ctx: _Context,
    name: str,
    name_node: Node,
    entries: dict[str, _Entry],
    default_zone: tzinfo,
    *,
    complete: bool,
    failed: set[str],
) -> ScheduleDefinition | None:
    """The ScheduleDefinition of merged entries, or None after reporting what is wrong.

    ``complete`` is False when the schedule's template is broken: then a missing
    ``schedule:`` or task is most likely in the broken template, and is not reported;
    nor is a missing key that was written but invalid (``failed``).
    """
    values = {key: entry.value for key, entry in entries.items()}
    errors = len(ctx.errors)
    zone = _zone_or_utc(values.get("timezone")) if values.get("timezone") else default_zone
    scheduled = values.get("schedule")
    if isinstance(scheduled, _ScheduleValue):
        values["schedule"] = scheduled.bind(zone)
    elif complete and "schedule" not in failed:
        ctx.error(
            name_node,
            f"schedule {name!r} has no schedule:; add e.g. "
            'schedule: "30 2 * * *" or schedule: {every: 5m}',
        )
    runs = values.get("task") or values.get("command") or failed & {"task", "command"}
    if not runs and complete:
        ctx.error(
            name_node,
            f"schedule {name!r} runs nothing; add task: "
            "(package.module.function) or command: (a program and its "
            "arguments)",
        )
    if values.get("task"):
        _check_task(ctx, entries["task"])
    shell = bool(values.get("shell"))
    for key in ("command", "on_error"):
        if isinstance(values.get(key), str | tuple):
            values[key] = _finish_command(ctx, key, entries[key], shell)
    for key in ("start_date", "end_date"):
        if isinstance(values.get(key), datetime):
            values[key] = as_utc(values[key], zone)
    _check_bounds(ctx, values, entries)
    spec = values.get("schedule")
    if isinstance(values.get("dst"), dict) and isinstance(spec, ScheduleSpec):
        default = spec.default_dst()
        values["dst"] = DstPolicy(
            gap=values["dst"].get("gap", default.gap),
            overlap=values["dst"].get("overlap", default.overlap),
        )
    if len(ctx.errors) > errors or not isinstance(values.get("schedule"), ScheduleSpec):
        return None
    values = {k: v for k, v in values.items() if v is not None or _nullable(k)}
    return ScheduleDefinition(name=name, **values)


def _nullable(key: str) -> bool:
    return key in _NULLABLE_FIELDS


_NULLABLE_FIELDS = frozenset(f.name for f in fields(ScheduleDefinition) if f.default is None)


def _check_task(ctx: _Context, entry: _Entry) -> None:
    if not _TASK_RE.match(str(entry.value).strip()):
        ctx.error(
            entry.node,
            f"task must be an import path such as package.module.function "
            f"or package.module:function, not {entry.value!r}",
        )


def _finish_command(
    ctx: _Context, key: str, entry: _Entry, shell: bool
) -> str | tuple[str, ...] | None:
    """With ``shell: true`` a command is one shell script (a string); without, a string is
    split into words as a shell would split it, and run without one."""
    value = entry.value
    if isinstance(value, tuple):
        if shell and key == "command":
            ctx.error(
                entry.node,
                "with shell: true, command must be one string (the shell "
                "script), not a list; or drop shell: true",
            )
            return None
        return value
    if shell:
        return str(value)
    try:
        words = tuple(shlex.split(str(value)))
    except ValueError as exc:
        ctx.error(entry.node, f"{key} cannot be split into words: {exc} (check the quotes)")
        return None
    if not words:
        ctx.error(entry.node, f"{key} is empty")
        return None
    return words


def _check_bounds(ctx: _Context, values: dict[str, Any], entries: dict[str, _Entry]) -> None:
    start, end = values.get("start_date"), values.get("end_date")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        ctx.error(
            entries["end_date"].node,
            f"end_date {format_instant(end)} is before start_date "
            f"{format_instant(start)}; the schedule would never fire",
        )

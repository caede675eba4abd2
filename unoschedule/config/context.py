"""What every part of the loader shares: the tags of plain data, one parse's error
collection (``_Context``), and reading nodes as plain values with the file's rules
(keys as written, duplicates reported, ``<<`` merges expanded).

Names with a leading underscore are internal to the ``unoschedule.config`` package.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from ..errors import ConfigError
from .yamlnodes import (
    MAP_TAG,
    SEQ_TAG,
    TAG_PREFIX,
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
)

_TAG = TAG_PREFIX
_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP = (
    _TAG + t for t in ("str", "null", "bool", "int", "float", "timestamp")
)
_SEQ, _MAP, _MERGE = SEQ_TAG, MAP_TAG, _TAG + "merge"
_SCALAR_TAGS = frozenset({_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP})
_COLLECTION_TAGS = frozenset({_SEQ, _MAP})
#: A ceiling on the values built from one file: aliases can make a tiny file expand
#: exponentially ("billion laughs"); no real schedule file comes near this.
_NODE_BUDGET = 2_000_000
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
        #: The calendars of ``scheduler.calendars`` (what a schedule's ``calendar:`` may name).
        self.calendars: dict[str, Any] = {}
        #: The limits of ``scheduler.groups`` (what a schedule's ``concurrency_group:`` may name).
        self.groups: dict[str, int] = {}
        #: Where each schedule's ``after:`` is written (chain problems are reported there).
        self.after_nodes: dict[str, Node] = {}
        #: Schedules defined elsewhere (the state's) that ``after:`` may name.
        self.others: dict[str, Any] = {}
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

"""A compact YAML node tree with positions, composed from libyaml's event stream.

Why not ``yaml.compose``: PyYAML's nodes keep two ``Mark`` objects each (six attributes
in a ``__dict__``), and a 100,000-schedule file composed that way took 400 MiB, most of
the runner's memory at start. These nodes hold the same facts in slots (the tag, the
value, the scalar style and the start and end positions as plain ints), a quarter of
the size; ``start_mark``/``end_mark`` are built only when an error is reported.

The composer follows PyYAML's ``Composer`` exactly (one document, anchors registered
before their children so that a recursive alias makes a cycle the loader then reports,
``!`` and untagged values resolved by the safe resolver), so the loader sees the tree
``yaml.compose`` would have given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import yaml
from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

__all__ = [
    "MAP_TAG",
    "SEQ_TAG",
    "TAG_PREFIX",
    "MappingNode",
    "Mark",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "compose",
]

#: libyaml's parser where PyYAML was built with it (the pure-Python one is 10x slower).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The prefix of the YAML core schema's tags (``!!str`` is ``TAG_PREFIX + "str"``).
TAG_PREFIX = "tag:yaml.org,2002:"
SEQ_TAG = TAG_PREFIX + "seq"
MAP_TAG = TAG_PREFIX + "map"


class Mark(NamedTuple):
    """A 0-based position, as PyYAML's ``Mark`` gives it (``line``, ``column``)."""

    line: int
    column: int


class Node:
    __slots__ = ("column", "end_column", "end_line", "line", "style", "tag", "value")

    def __init__(
        self,
        tag: str,
        value: Any,
        line: int,
        column: int,
        style: str | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
    ):
        self.tag = tag
        self.value = value
        self.style = style
        self.line = line
        self.column = column
        self.end_line = line if end_line is None else end_line
        self.end_column = column if end_column is None else end_column

    @property
    def start_mark(self) -> Mark:
        return Mark(self.line, self.column)

    @property
    def end_mark(self) -> Mark:
        return Mark(self.end_line, self.end_column)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tag={self.tag!r}, value={self.value!r})"


class ScalarNode(Node):
    __slots__ = ()


class SequenceNode(Node):
    __slots__ = ()


class MappingNode(Node):
    __slots__ = ()


Resolve = Callable[[str, tuple[bool, bool]], str]


def compose(text: str, resolve_scalar: Resolve) -> tuple[Node | None, bool]:
    """The root node of the single document in ``text`` (None for an empty stream), and
    whether any alias occurs (only then can a node be shared or the tree be cyclic).

    ``resolve_scalar(value, implicit)`` gives the tag of an untagged scalar. Raises
    ``yaml.MarkedYAMLError`` (with PyYAML's marks) for syntax errors, a second document,
    an undefined alias or a duplicate anchor.
    """
    parser: Any = _LOADER(text)  # events typed loosely: the stubs say only ``Event``
    try:
        return _compose_events(parser.get_event, resolve_scalar)
    finally:
        parser.dispose()


def _compose_events(
    get_event: Callable[[], Any], resolve_scalar: Resolve
) -> tuple[Node | None, bool]:
    # Written for speed (it sees every event of a 100,000-schedule file): each open
    # collection collects its children in a flat list through ``append``; a mapping pairs
    # them up when it closes.
    anchors: dict[str, Node] = {}
    anchor_marks: dict[str, Any] = {}
    top: list[Node] = []
    append = top.append
    stack: list[tuple[Node, list[Node], Callable[[Node], None]]] = []
    documents = 0
    aliased = False

    def register(anchor: str, node: Node, event: Any) -> None:
        if anchor in anchors:
            raise ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                anchor_marks[anchor],
                "second occurrence",
                event.start_mark,
            )
        anchors[anchor] = node
        anchor_marks[anchor] = event.start_mark

    while True:
        event = get_event()
        cls = event.__class__
        if cls is ScalarEvent:
            tag = event.tag
            value = event.value
            if tag is None or tag == "!":
                tag = resolve_scalar(value, event.implicit)
            start, end = event.start_mark, event.end_mark
            line, end_line = start.line, end.line
            node: Node = ScalarNode(
                tag,
                value,
                line,
                start.column,
                event.style,
                line if end_line == line else end_line,  # share the int object
                end.column,
            )
            if event.anchor is not None:
                register(event.anchor, node, event)
            append(node)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            tag = event.tag
            start = event.start_mark
            flat: list[Node] = []
            if cls is MappingStartEvent:
                node = MappingNode(tag or MAP_TAG, [], start.line, start.column)
            else:
                node = SequenceNode(tag or SEQ_TAG, flat, start.line, start.column)
            if tag == "!":
                node.tag = MAP_TAG if cls is MappingStartEvent else SEQ_TAG
            if event.anchor is not None:
                register(event.anchor, node, event)
            stack.append((node, flat, append))
            append = flat.append
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            node, flat, append = stack.pop()
            if cls is MappingEndEvent:
                node.value.extend(zip(flat[0::2], flat[1::2], strict=True))
            end = event.end_mark
            node.end_line, node.end_column = end.line, end.column
            append(node)
        elif cls is AliasEvent:
            target = anchors.get(event.anchor)
            if target is None:
                raise ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            aliased = True
            append(target)
        elif cls is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise ComposerError(
                    "expected a single document in the stream",
                    None,
                    "but found another document",
                    event.start_mark,
                )
            anchors.clear()
            anchor_marks.clear()
        elif cls is StreamEndEvent:
            break
    return (top[0] if top else None), aliased

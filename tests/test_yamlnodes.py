"""The compact composer gives the tree ``yaml.compose`` gives: tags, values, styles and
positions, for every kind of node, and the same errors."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from unoschedule.config.context import _resolve_scalar
from unoschedule.config.yamlnodes import compose

DOCUMENTS = [
    "a: 1\nb: [x, 'y', \"z\"]\n",
    "scheduler:\n  timezone: Europe/Berlin\n"
    "schedules:\n  a: {schedule: '*/5 * * * *', command: [true]}\n",
    "base: &b {queue: q, tags: [x]}\nuse:\n  <<: *b\n  queue: r\n",
    "list:\n  - &x one\n  - *x\n  - !!str 3\n  - ! 4\n"
    "  - 2026-01-01T00:00:00Z\n  - null\n  - ~\n  - 1.5\n  - yes\n",
    "folded: >\n  one\n  two\nliteral: |\n  a\n  b\nplain: multi\n  line\n",
    "? complex\n: value\nempty:\n",
    "- [1, 2]\n- {a: b}\n- !!python/object:os.system x\n",
    "just a scalar\n",
    "x: !custom {a: 1}\ny: !!set {a, b}\n",
]


def shape(node: Any) -> Any:
    kind = type(node).__name__
    start = (node.start_mark.line, node.start_mark.column)
    end = (node.end_mark.line, node.end_mark.column)
    if kind == "ScalarNode":
        return (kind, node.tag, node.value, node.style, start, end)
    if kind == "SequenceNode":
        return (kind, node.tag, start, end, [shape(c) for c in node.value])
    return (kind, node.tag, start, end, [(shape(k), shape(v)) for k, v in node.value])


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_tree_equals_pyyamls_compose(text: str) -> None:
    ours, _ = compose(text, _resolve_scalar)
    theirs = yaml.compose(text, Loader=yaml.CSafeLoader)
    assert shape(ours) == shape(theirs)


def test_an_empty_stream_has_no_root() -> None:
    assert compose("", _resolve_scalar) == (None, False)
    assert compose("# only a comment\n", _resolve_scalar) == (None, False)


def test_aliases_are_reported_and_share_the_anchored_node() -> None:
    root, aliased = compose("a: &x [1]\nb: *x\n", _resolve_scalar)
    assert aliased
    assert root is not None
    (_, a), (_, b) = root.value
    assert a is b
    assert compose("a: [1]\nb: [1]\n", _resolve_scalar)[1] is False


def test_a_recursive_alias_makes_a_cycle_for_the_loader_to_report() -> None:
    root, aliased = compose("a: &x\n  b: *x\n", _resolve_scalar)
    assert aliased and root is not None
    inner = root.value[0][1]
    assert inner.value[0][1] is inner


@pytest.mark.parametrize(
    "text",
    ["a: *nope\n", "a: &x 1\nb: &x 2\n", "a: 1\n---\nb: 2\n", "a: [1\n", "a: b: c\n"],
)
def test_errors_are_pyyamls_errors_at_pyyamls_positions(text: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as ours:
        compose(text, _resolve_scalar)
    with pytest.raises(yaml.MarkedYAMLError) as theirs:
        yaml.compose(text, Loader=yaml.CSafeLoader)
    # libyaml's composer leaves the alias's name out of its message; ours names it
    assert ours.value.problem is not None and theirs.value.problem is not None
    assert ours.value.problem.startswith(theirs.value.problem)
    assert ours.value.problem_mark is not None and theirs.value.problem_mark is not None
    assert ours.value.problem_mark.line == theirs.value.problem_mark.line
    assert ours.value.problem_mark.column == theirs.value.problem_mark.column

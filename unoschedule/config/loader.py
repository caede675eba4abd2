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

The parts: ``yamlnodes`` composes the file, ``context`` collects errors and reads nodes
as plain values, ``fields`` converts each key; this module reads the document, resolves
templates and builds the definitions.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from ..chains import chain_problems
from ..errors import ConfigError, ConfigErrors, ScheduleSyntaxError
from ..model import DEFINITION_FIELDS, ScheduleDefinition, SchedulerOptions
from ..names import check_schedule_name
from ..schedules import ChainTrigger, EventTrigger, ScheduleSpec
from ..timeutil import as_utc, format_instant, get_zone
from ..wallclock import DstPolicy
from .context import (  # package-internal names, shared within unoschedule.config
    _COLLECTION_TAGS,
    _LINE_SPLIT_RE,
    _MAP,
    _MERGE,
    _NULL,
    _SCALAR_TAGS,
    _SEQ,
    _TAG,
    _Context,
    _Invalid,
    _kind,
    _pairs,
    _plain,
    _resolve_scalar,
    _suggest,
    _text,
    _unknown_key,
)
from .fields import (  # package-internal names, shared within unoschedule.config
    _MISPLACED,
    _SCHEDULE_CONVERTERS,
    _SCHEDULER_CONVERTERS,
    _Converter,
    _ScheduleValue,
)
from .yamlnodes import MappingNode, Node, ScalarNode, SequenceNode, compose

__all__ = [
    "JOB_KEYS",
    "MERGED_MAPPINGS",
    "SCHEDULER_FIELDS",
    "SCHEDULE_FIELDS",
    "TOP_LEVEL_KEYS",
    "Config",
    "load_config",
    "parse_config",
    "written_in_file",
]

_TASK_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*)$")

#: Keys of a schedule (and of a template): every field of ScheduleDefinition but its name
#: and ``in_process`` (a callable given to the library; a file cannot hold one), and the
#: older names still read (``unique: true`` is ``overlap: skip``).
SCHEDULE_FIELDS: tuple[str, ...] = (
    *(f.name for f in DEFINITION_FIELDS if f.name not in ("name", "in_process")),
    "unique",
)
#: Keys of the ``scheduler:`` mapping: the fields of SchedulerOptions.
SCHEDULER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SchedulerOptions))
#: Top-level keys (``$schema`` lets editors that read it from the data find the schema).
TOP_LEVEL_KEYS: tuple[str, ...] = ("scheduler", "templates", "schedules", "$schema")
#: Template keys that merge with the schedule's own (the schedule's keys winning).
MERGED_MAPPINGS: tuple[str, ...] = ("kwargs", "metadata", "env")
#: What a schedule runs: a task or a command, never both. A mapping that sets either
#: over another (a schedule over its template, an update over what was written) drops
#: both of the other's, so that a command can replace a task and the other way round.
JOB_KEYS: tuple[str, ...] = ("task", "command")

# -- the result ------------------------------------------------------------------------


@dataclass
class Config:
    """A validated schedule file: options, templates and merged schedule definitions."""

    path: Path | None
    options: SchedulerOptions
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, ScheduleDefinition] = field(default_factory=dict)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: The text it was parsed from when it has no file (``parse_config``): what
    #: ``written_in_file`` reads instead of the file.
    text: str | None = None

    @property
    def folder(self) -> Path:
        """Where relative paths in the file are read from: the file's folder (else cwd)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def state_path(self, override: str | os.PathLike[str] | None = None) -> Path:
        """The state file (SPEC 6): ``override`` (``--state``/env), else a file named by
        ``scheduler.storage`` or ``scheduler.state``, read relative to the YAML file's
        folder, else ``uno-schedule.db`` beside the file."""
        if override:
            return Path(override).expanduser()
        from ..store import is_url

        # ``storage:`` (the design document's name) may name a file as well as a URL.
        named = self.options.storage if not is_url(self.options.storage or "") else None
        if named or self.options.state:
            configured = Path(named or self.options.state or "").expanduser()
            return configured if configured.is_absolute() else self.folder / configured
        return self.folder / "uno-schedule.db"

    def store_url(self, override: str | os.PathLike[str] | None = None) -> str | None:
        """The URL of a remote store, or None when the state is a file: ``override``
        (``--state``) when given, URL or not, else a URL in ``scheduler.storage``."""
        from ..store import is_url

        spec = override or self.options.storage
        return os.fspath(spec) if spec and is_url(spec) else None


# -- public entry points -----------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a schedule file.

    Raises ``ConfigError`` when the file cannot be read and ``ConfigErrors`` (every
    problem, sorted by line) when it is not a valid schedule file.
    """
    shown = os.fspath(path)
    return _parse(_read_text(shown), shown, Path(os.path.abspath(shown)))


def _read_text(shown: str) -> str:
    """The text of the file ``shown``; ``ConfigError`` when it cannot be read as text."""
    try:
        with open(shown, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read {shown}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None


def parse_config(
    text: str,
    filename: str = "<string>",
    *,
    others: Mapping[str, ScheduleDefinition] | None = None,
) -> Config:
    """Validate schedule-file text; ``filename`` is only used to locate errors.
    ``others``: schedules defined elsewhere that an ``after:`` may name (the state's)."""
    config = _parse(text, filename, None, others)
    config.text = text
    return config


def written_in_file(config: Config, name: str) -> dict[str, Any]:
    """Schedule ``name`` as ``config``'s file writes it now, with what the file reads it
    under: ``{"schedule": its keys, "scheduler": the file's scheduler:, "templates": its
    templates:}`` (plain values, as ``yaml.safe_load`` gives them; an absent section left
    out). The file is read again (the text ``config`` was parsed from, when it has no
    file), so that its templates are taken as they read now.

    What an update through the library starts from (``python_values``): the schedule
    is then read again with the changed keys, as the changed file would be. Raises
    ``ConfigErrors`` when the file no longer reads, ``ConfigError`` when it no longer
    declares ``name``.
    """
    if config.path is not None:
        shown = os.fspath(config.path)
        text = _read_text(shown)
    else:
        shown, text = "<string>", config.text or ""
    ctx = _Context(shown, text)
    root, aliased = _compose(ctx, text)
    found: dict[str, Any] = {}
    if _check_tree(ctx, root, aliased) and isinstance(root, MappingNode):
        sections = {key: node for key, _, node in _pairs(ctx, root)}
        for key in ("scheduler", "templates"):
            if key in sections:
                found[key] = _plain_or_report(ctx, sections[key])
        body = _schedule_node(ctx, sections.get("schedules"), name)
        if body is not None:
            found["schedule"] = _plain_or_report(ctx, body)
    if ctx.errors:
        raise ConfigErrors(ctx.sorted_errors())
    if not isinstance(found.get("schedule"), dict):
        raise ConfigError(
            f"{shown} no longer declares schedule {name!r}: there is nothing to update "
            "(the file's next load removes it)"
        )
    return {key: value for key, value in found.items() if value is not None}


def _schedule_node(ctx: _Context, node: Node | None, name: str) -> Node | None:
    """The node of schedule ``name`` in the ``schedules:`` mapping ``node``, if any."""
    if not isinstance(node, MappingNode):
        return None
    return next((body for key, _, body in _pairs(ctx, node, "schedule name") if key == name), None)


def _plain_or_report(ctx: _Context, node: Node) -> Any:
    try:
        return _plain(ctx, node)
    except _Invalid as exc:
        ctx.invalid(exc, node)
        return None


def _parse(
    text: str,
    filename: str,
    path: Path | None,
    others: Mapping[str, ScheduleDefinition] | None = None,
) -> Config:
    # A large file makes hundreds of thousands of small objects at once: the cyclic
    # garbage collector would rescan them over and over (it tripled the time of a
    # 10,000-schedule file). Nothing built here is cyclic garbage.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_text(text, filename, path, others)
    finally:
        if collecting:
            gc.enable()


def _parse_text(
    text: str,
    filename: str,
    path: Path | None,
    others: Mapping[str, ScheduleDefinition] | None = None,
) -> Config:
    ctx = _Context(filename, text)
    ctx.others = dict(others or {})
    root, aliased = _compose(ctx, text)
    config = Config(path=path, options=SchedulerOptions())
    if root is not None and _check_tree(ctx, root, aliased):
        _read_document(ctx, root, config)
    if ctx.errors:
        raise ConfigErrors(ctx.sorted_errors())
    return config


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


# -- the document ----------------------------------------------------------------------------


@dataclass
class _Entry:
    """A converted value and the node it was written at (for errors after merging), and
    the mapping that wrote it (``schedule 'x'`` or ``template 'y'``), so that an error
    about a merged definition can name the template a key came from."""

    value: Any
    node: Node
    key_node: Node
    origin: str


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
    ctx.calendars = dict(config.options.calendars)
    ctx.groups = dict(config.options.groups)
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
    _check_chains(ctx, config)


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
            value = _convert(ctx, key, convert, value_node)
            entries[key] = _Entry(value, value_node, key_node, what)
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
    if not own.keys().isdisjoint(JOB_KEYS):
        for key in JOB_KEYS:
            out.pop(key, None)
    for key, entry in own.items():
        previous = out.get(key)
        if (
            key in MERGED_MAPPINGS
            and previous is not None
            and isinstance(previous.value, dict)
            and isinstance(entry.value, dict)
        ):
            merged = {**previous.value, **entry.value}
            origin = entry.origin if entry.value else previous.origin  # who asks for it
            out[key] = _Entry(merged, entry.node, entry.key_node, origin)
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
    defaults = config.options.schedule_defaults()
    # The entries list becomes the only reference to each schedule's nodes, and each is
    # dropped once converted: the tree is freed while the definitions are built, so a
    # large file's peak memory is the tree's, not the tree's plus the definitions'.
    pending = _pairs(ctx, node, "schedule name")
    node.value = []
    pending.reverse()
    while pending:
        name, key_node, body = pending.pop()
        try:
            check_schedule_name(name)
        except ScheduleSyntaxError as exc:
            ctx.error(key_node, exc.message)
            continue
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
            ctx,
            name,
            key_node,
            entries,
            default_zone,
            defaults,
            complete=base is not None,
            failed=failed,
            blackout=config.options.blackout,
            notify=config.options.notify,
        )
        if definition is not None:
            config.schedules[name] = definition
            mark = key_node.start_mark
            config.positions[name] = (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _check_chains(ctx: _Context, config: Config) -> None:
    """Refuse an ``after:`` naming an unknown schedule, and chains in a cycle, at the
    ``after:`` that says so (``chains.chain_problems`` decides)."""
    if not ctx.after_nodes:
        return
    every = {**ctx.others, **config.schedules}
    for name, message in chain_problems({k: d.after for k, d in every.items()}):
        if name in ctx.after_nodes:  # not one of the others: they were checked before
            ctx.error(ctx.after_nodes[name], f"schedule {name!r}: {message}")


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
    defaults: dict[str, str],
    *,
    complete: bool,
    failed: set[str],
    blackout: tuple[Any, ...] = (),
    notify: Any = None,
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
    chain = values.get("after")
    if chain is not None and "after" in entries:
        ctx.after_nodes[name] = entries["after"].node
    if isinstance(scheduled, _ScheduleValue):
        try:
            values["schedule"] = scheduled.bind(zone)
        except ScheduleSyntaxError as exc:
            ctx.error(entries["schedule"].node, f"schedule: at {exc}")
            values["schedule"] = None
    elif chain is not None and "schedule" not in failed:
        values["schedule"] = ChainTrigger(chain.schedule)  # runs only after its upstream
    elif complete and "schedule" not in failed and "after" not in failed:
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
            try:
                values[key] = as_utc(values[key], zone)
            except ScheduleSyntaxError as exc:
                ctx.error(entries[key].node, f"{key} {exc}")
                values[key] = None
    _check_bounds(ctx, values, entries)
    spec = values.get("schedule")
    if values.get("task"):
        _check_task_settings(ctx, name, entries, values)
    if isinstance(spec, ScheduleSpec):
        _check_timing(ctx, name, entries, values, spec)
    if isinstance(values.get("dst"), dict) and isinstance(spec, ScheduleSpec):
        values["dst"] = spec.dst_policy(DstPolicy(**values["dst"]))
    if values.pop("unique", False):  # the older name of overlap: skip
        if values.get("overlap", "skip") != "skip":
            ctx.error(
                entries["overlap"].node,
                f"unique: true is overlap: skip, not overlap: {values['overlap']}; drop unique:",
            )
        values["overlap"] = "skip"
    if len(ctx.errors) > errors or not isinstance(values.get("schedule"), ScheduleSpec):
        return None
    values = {k: v for k, v in values.items() if v is not None or _nullable(k)}
    if blackout and values["schedule"].on_clock:
        # The file's windows, then the schedule's (and its template's) own. They hold
        # back occurrences of a clock: an event's or a chain's runs have none to hold.
        values["blackout"] = blackout + tuple(values.get("blackout") or ())
    if notify is not None and "notify" not in entries:  # its own (null: none) wins
        values["notify"] = notify
    if values.get("roll", "skip") != "skip" and values.get("calendar") is None:
        ctx.error(
            entries["roll"].node,
            "roll moves occurrences off a calendar's days; add calendar: (or drop roll:)",
        )
        return None
    for key, value in defaults.items():  # the scheduler's zone and queue: see model
        if values.get(key) is None:
            values[key] = value
    return ScheduleDefinition(name=name, **values)


def _nullable(key: str) -> bool:
    return key in _NULLABLE_FIELDS


_NULLABLE_FIELDS = frozenset(f.name for f in DEFINITION_FIELDS if f.default is None)


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
    """With ``shell: true`` a command is one shell script (a string), and so is a string
    ``on_error`` hook (run under the command's shell, ``executor.hook_argv``); without, a
    string is split into words as a shell would split it, and run without one."""
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


#: What a key that only a command uses means for a task instead (a task is called in
#: Python: no process of its own is started, in a folder, with an environment).
_COMMAND_ONLY: dict[str, str] = {
    "env": "applies to commands; a task takes its settings in kwargs:",
    "cwd": "applies to commands; a task runs in the scheduler's own folder (give it "
    "paths in kwargs:)",
    "shell": "applies to commands; a task is called in Python, never through a shell",
}

#: Keys that shape the occurrences of a schedule's clock (bounds, delays, days and
#: windows, DST): a run an event or a chain starts is none of those, and none of them
#: reaches it.
_CLOCK_ONLY = (
    "start_date",
    "end_date",
    "jitter",
    "jitter_fixed",
    "calendar",
    "roll",
    "blackout",
    "dst",
)

#: Each field's default: a key whose value is its default asks for nothing.
_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc,operator]
    for f in DEFINITION_FIELDS
    if f.name not in ("name", "schedule")
}


def _asks(values: dict[str, Any], key: str) -> bool:
    """Whether ``key`` asks for something: set, and not to its default (``env: {}`` or
    ``jitter: 0`` ask for nothing, and a schedule may write them over its template's)."""
    value = values.get(key)
    return value is not None and value != _DEFAULTS[key]


def _refuse(ctx: _Context, name: str, entries: dict[str, _Entry], key: str, reason: str) -> None:
    """Report that ``key`` of schedule ``name`` cannot do what it says, and why: at the
    key where the schedule writes it, else at its ``template:``, naming the template the
    key comes from (the template itself may be right for its other schedules)."""
    entry = entries[key]
    own = f"schedule {name!r}"
    if entry.origin == own or "template" not in entries:
        ctx.error(entry.key_node, f"{own}: {key}: {reason}")
    else:
        ctx.error(entries["template"].key_node, f"{own}: {key}: (from {entry.origin}) {reason}")


def _check_task_settings(
    ctx: _Context, name: str, entries: dict[str, _Entry], values: dict[str, Any]
) -> None:
    """Refuse ``env``, ``cwd`` and ``shell`` on a schedule that runs a task: they are
    how a command's process is started, and a task would silently go without them."""
    for key, reason in _COMMAND_ONLY.items():
        if key in entries and _asks(values, key):
            _refuse(ctx, name, entries, key, reason)


def _check_timing(
    ctx: _Context, name: str, entries: dict[str, _Entry], values: dict[str, Any], spec: ScheduleSpec
) -> None:
    """Refuse a timing key where it cannot act, rather than ignore it: every one on a
    schedule with no clock (an event's, a chain's: its runs start when it is told), and
    ``dst`` on a clock with no wall times (``every:`` counts elapsed time, ``at:`` is one
    instant), where no gap or repeated hour can ever meet it."""
    if not spec.on_clock:
        for key in _CLOCK_ONLY:
            if key in entries and _asks(values, key):
                _refuse(ctx, name, entries, key, _no_clock(spec, key))
    elif not spec.wall_times and "dst" in entries and _asks(values, "dst"):
        what = (
            "an every: interval has none (it counts elapsed time)"
            if spec.kind == "interval"
            else "an at: schedule has none (it is one instant)"
        )
        reason = f"decides what wall times a DST change skips or repeats do, and {what}"
        _refuse(ctx, name, entries, "dst", f"{reason}; drop dst:")


def _no_clock(spec: ScheduleSpec, key: str) -> str:
    """Why ``key`` has nothing to act on in ``spec``, a schedule without a clock, and
    what was meant instead."""
    base = "shapes the occurrences of a clock, and this schedule has none"
    if isinstance(spec, ChainTrigger):
        return f"{base}: it runs after runs of {spec.upstream!r}; drop {key}: (or add a schedule:)"
    if isinstance(spec, EventTrigger):
        return f"{base}: it runs when event {spec.event!r} is raised; drop {key}:"
    return f"{base}; drop {key}:"


def _check_bounds(ctx: _Context, values: dict[str, Any], entries: dict[str, _Entry]) -> None:
    start, end = values.get("start_date"), values.get("end_date")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        ctx.error(
            entries["end_date"].node,
            f"end_date {format_instant(end)} is before start_date "
            f"{format_instant(start)}; the schedule would never fire",
        )

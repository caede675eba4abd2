"""Resolving ``task:`` paths to Python callables, and describing what they raised.

A task path is ``package.module.function`` or ``package.module:function`` (after the
colon, a dotted attribute path such as ``Class.method`` is allowed). Import roots are
added to ``sys.path`` once each, at the front, so that the operator's folder wins over
an installed package of the same name: that is what someone who keeps a ``jobs.py``
beside the YAML file means.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from ..errors import JobError

__all__ = [
    "NOT_IN_THIS_PROCESS",
    "add_import_paths",
    "changed_sources",
    "describe_exception",
    "format_traceback_tail",
    "has_local",
    "is_async_callable",
    "register_local",
    "resolve_task",
]

_paths_lock = threading.Lock()

#: The error of a run whose task is another process's in-process callable.
NOT_IN_THIS_PROCESS = (
    "the task is an in-process callable (a closure, lambda, bound method or partial) of "
    "the process that scheduled it, and this process does not have it; schedule a "
    "module-level function to run it anywhere"
)


def add_import_paths(paths: Iterable[str | None]) -> None:
    """Put each path (made absolute) at the front of ``sys.path`` unless it is there already.

    Idempotent, so that calling it for every run costs a few comparisons and never grows
    ``sys.path``; relative roots are resolved against the current directory at the time
    of the call, once, since a later ``chdir`` must not change which module loads.
    """
    wanted = [os.path.abspath(p) for p in paths if p]
    if not wanted:
        return
    with _paths_lock:
        missing = [p for p in wanted if p not in sys.path]
        # Keep the caller's order: the first given path ends up first on sys.path.
        for path in reversed(missing):
            sys.path.insert(0, path)
        if missing:
            importlib.invalidate_caches()


def _split(path: str) -> tuple[str, list[str]]:
    """Return (module, attribute path) for ``a.b:c.d``; ``a.b.c`` is resolved by trying."""
    if ":" in path:
        module, _, attrs = path.partition(":")
        return module, attrs.split(".") if attrs else []
    return path, []


def _import_longest(dotted: str) -> tuple[ModuleType, list[str]]:
    """Import the longest importable module prefix of ``dotted``; the rest are attributes.

    A ``ModuleNotFoundError`` that names a module other than the prefix being tried (a
    missing dependency *inside* the task's module) is re-raised rather than masked by
    trying a shorter prefix, so the operator sees the real cause.
    """
    parts = dotted.split(".")
    last_error: ModuleNotFoundError | None = None
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            return importlib.import_module(name), parts[cut:]
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not (name == missing or name.startswith(missing + ".")):
                raise
            last_error = last_error or exc
    assert last_error is not None
    raise last_error


#: Callables already resolved, by (path, import roots). Modules stay in ``sys.modules``
#: anyway; this saves the failing import of ``module.function`` as a module that
#: ``_import_longest`` tries first (a full search of ``sys.path``, on every run).
_resolved: dict[tuple[str, tuple[str | None, ...]], Callable[..., Any]] = {}


#: In-process callables (closures, lambdas, bound methods, partials) by the task path the
#: library gave them: they cannot be imported, so only this process can run them.
_local: dict[str, Callable[..., Any]] = {}


def register_local(path: str, func: Callable[..., Any]) -> None:
    _local[path] = func


def has_local(path: str) -> bool:
    return path in _local


def resolve_task(path: str, import_paths: Iterable[str | None] = ()) -> Callable[..., Any]:
    """Import and return the callable named by ``path``; raise ``JobError`` saying why not.

    Successes are remembered (failures are not, so a fixed module is found next time).
    """
    local = _local.get(path)
    if local is not None:
        return local
    roots = tuple(import_paths)
    key = (path, roots)
    found = _resolved.get(key)
    if found is None:
        found = _resolved[key] = _resolve(path.strip(), roots)
    return found


def _resolve(path: str, import_paths: Iterable[str | None]) -> Callable[..., Any]:
    try:
        add_import_paths(import_paths)
        module_name, attrs = _split(path)
        if not module_name:
            raise ValueError("no module named before ':'")
        if ":" in path:
            target: Any = importlib.import_module(module_name)
            if not attrs:
                raise ValueError("no function named after ':'")
        else:
            target, attrs = _import_longest(module_name)
            if not attrs:
                raise ValueError(f"{path!r} is a module; name a function in it")
        _note_source(target)
        owner = target.__name__ if isinstance(target, ModuleType) else module_name
        for attr in attrs:
            try:
                target = getattr(target, attr)
            except AttributeError:
                raise AttributeError(f"{owner!r} has no attribute {attr!r}") from None
            owner = f"{owner}.{attr}"
        if not callable(target):
            raise TypeError(f"{owner!r} is not callable")
        return target  # type: ignore[no-any-return]
    except Exception as exc:
        where = ""
        if isinstance(exc, ImportError):
            roots = [os.path.abspath(p) for p in import_paths if p]
            where = (
                f" (import paths: {', '.join(roots) if roots else 'none'}, then sys.path; "
                "a task is found under the file's folder, scheduler.import_paths, or "
                "Scheduler(import_paths=...) of the process that runs it)"
            )
        raise JobError(f"cannot import task {path!r}: {describe_exception(exc)}{where}") from exc


#: The source file of each module a task was resolved from, with its ``(mtime_ns, size)``
#: when it was first resolved: a reload imports no module again, and says which changed.
_sources: dict[str, tuple[str, int, int]] = {}


def _note_source(module: ModuleType) -> None:
    if module.__name__ in _sources:
        return
    file = getattr(module, "__file__", None)
    if isinstance(file, str):
        with contextlib.suppress(OSError):
            stat = os.stat(file)
            _sources[module.__name__] = (file, stat.st_mtime_ns, stat.st_size)


def changed_sources() -> list[tuple[str, str]]:
    """The task modules whose file changed since they were imported, as ``(module,
    file)``: this process runs their old code until it restarts."""
    changed = []
    for name, (file, mtime, size) in sorted(_sources.items()):
        try:
            stat = os.stat(file)
        except OSError:  # gone: what runs is what was imported, as for a change
            changed.append((name, file))
            continue
        if (stat.st_mtime_ns, stat.st_size) != (mtime, size):
            changed.append((name, file))
    return changed


#: ``is_async_callable``'s answers, by the callable's id (the callable is kept with its
#: answer, so the id is not reused while it is cached): every run of a task asks again.
_async_answers: dict[int, tuple[Callable[..., Any], bool]] = {}
_ASYNC_ANSWERS_MAX = 4096


def is_async_callable(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions, partials of them and objects with ``async __call__``."""
    known = _async_answers.get(id(func))
    if known is not None and known[0] is func:
        return known[1]
    answer = inspect.iscoroutinefunction(func)
    if not answer:
        call = getattr(func, "__call__", None)  # noqa: B004 - we want the bound dunder itself
        answer = call is not None and inspect.iscoroutinefunction(call)
    if len(_async_answers) >= _ASYNC_ANSWERS_MAX:
        _async_answers.clear()
    _async_answers[id(func)] = (func, answer)
    return answer


def describe_exception(exc: BaseException) -> str:
    """``ExcType: first line of message`` (just ``ExcType`` when the message is empty).

    One line because it goes into the run record's ``error`` and the CLI's tables.
    """
    name = type(exc).__name__
    text = str(exc).strip()
    if isinstance(exc, ModuleNotFoundError | ImportError) and not text:
        text = exc.msg or ""
    first = text.splitlines()[0] if text else ""
    return f"{name}: {first}" if first else name


def format_traceback_tail(exc: BaseException, limit: int) -> str:
    """The formatted traceback, cut to its last ``limit`` characters (the end is the cause)."""
    text = "".join(traceback.format_exception(exc))
    return text[-limit:] if limit > 0 else ""

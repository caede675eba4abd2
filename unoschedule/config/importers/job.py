"""What an importer makes of one crontab line or one timer: a schedule to write, plus the
notes a reader needs; and the readable, unique names derived from commands.

Names come from what a job runs because that is what its owner recognises in ``list``:
``/usr/local/bin/backup-db.sh --full`` is ``backup-db``, the second one ``backup-db-2``.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ...errors import ImportRefusedError

__all__ = ["ImportedJob", "name_from_command", "refusal", "unique_names"]


@dataclass
class ImportedJob:
    """One schedule of the output file, in the order of its keys there."""

    line: int
    name_hint: str
    schedule: str
    command: str | list[str]
    description: str | None = None
    timezone: str | None = None
    dst: dict[str, str] | None = None
    start_date: str | None = None
    end_date: str | None = None
    shell: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: str | None = None
    on_error: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # comment lines above the schedule

    def to_config(self) -> dict[str, Any]:
        """The schedule's keys as the YAML file spells them; unset ones left out."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        out["schedule"] = self.schedule
        for key in ("timezone", "dst", "start_date", "end_date"):
            value = getattr(self, key)
            if value:
                out[key] = value
        out["command"] = self.command
        if self.shell:
            out["shell"] = True
        for key in ("env", "cwd", "timeout", "on_error", "metadata"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


# Programs that run another one: the name comes from what they run.
_WRAPPERS = {
    "nice", "ionice", "nohup", "timeout", "flock", "sudo", "env", "chronic", "setsid",
    "time", "exec", "runuser", "su", "cronic", "run-one", "systemd-cat", "stdbuf",
}  # fmt: skip
_INTERPRETERS = {
    "sh", "bash", "dash", "zsh", "ksh", "python", "python2", "python3", "perl", "php",
    "ruby", "node", "java", "uv", "pipenv", "poetry",
}  # fmt: skip
_ARG_OPTIONS = {"-u", "-g", "-n", "-c", "-s", "-k", "-E", "-t", "--user"}
_SKIP_WORDS = {"run", "-m", "-jar", "-f", "-c", "exec"}
_EXTENSIONS = re.compile(r"\.(sh|bash|py|pl|php|rb|js|jar)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"&&", "||", ";", "|", "&"}
_KEYWORDS = {"(", ")", "{", "}", "!", "if", "then", "else", "elif", "do", "while", "until"}


def _words(command: str | list[str]) -> list[str]:
    if isinstance(command, list):
        return [str(w) for w in command]
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return command.split()


def _slug(text: str) -> str:
    text = _EXTENSIONS.sub("", os.path.basename(text.rstrip("/")))
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def name_from_command(command: str | list[str]) -> str:
    """A short readable name for what ``command`` runs (``job`` when nothing reads well).

    The first simple command that is not ``cd``/``test`` decides; wrappers (``nice``,
    ``flock -n LOCK``, ``sudo -u USER``) and interpreters (``python3 -m``) are looked
    through; a ``run-parts`` folder or a ``curl`` address names the job by its target.
    """
    words = _words(command)
    i = 0
    while i < len(words):
        word = words[i]
        base = os.path.basename(word)
        if word in _SEPARATORS or word in _KEYWORDS or _ASSIGNMENT.match(word):
            i += 1
        elif base in ("cd", "test", "[", "[[", "true", ":", "mkdir", "umask"):
            while i < len(words) and words[i] not in _SEPARATORS:
                i += 1
        elif base in _WRAPPERS:
            i += 1
            while i < len(words) and (words[i].startswith("-") or words[i][:1].isdigit()):
                i += 2 if words[i] in _ARG_OPTIONS and base != "flock" else 1
            if base == "flock":
                i += 1  # the lock file
        elif base in _INTERPRETERS or re.fullmatch(r"python3\.\d+", base):
            i += 1
            while i < len(words) and (words[i].startswith("-") or words[i] in _SKIP_WORDS):
                if words[i] in ("-c",):
                    return _slug(base) or "job"
                i += 1
            if i < len(words):
                return _slug(words[i].replace(".", "-") if "/" not in words[i] else words[i])
            return _slug(base) or "job"
        elif base == "run-parts":
            targets = [w for w in words[i + 1 :] if w[:1] not in ("-", ")", ";", "&", "|")]
            return _slug(targets[-1].replace(".", "-")) if targets else "run-parts"
        elif base in ("curl", "wget"):
            urls = [w for w in words[i + 1 :] if "://" in w]
            if urls:
                path = re.sub(r"^[a-z]+://[^/]+", "", urls[0]).split("?")[0].strip("/")
                host = re.sub(r"^[a-z]+://", "", urls[0]).split("/")[0].split(":")[0]
                return _slug(path.replace("/", "-")) or _slug(host.replace(".", "-")) or base
            return base
        else:
            return _slug(word) or "job"
    return "job"


def unique_names(hints: list[str], taken: set[str] | None = None) -> list[str]:
    """``hints`` made unique in order: the first ``backup``, then ``backup-2``..."""
    used = set(taken or ())
    out: list[str] = []
    for hint in hints:
        name = hint or "job"
        n = 1
        while name in used:
            n += 1
            name = f"{hint}-{n}"
        used.add(name)
        out.append(name)
    return out


def refusal(message: str, source: str, line: int) -> ImportRefusedError:
    """One refused line, located: the importers' one way to say no."""
    return ImportRefusedError(message, source, line)

"""The messages of ``tracker bounces PATH…``: .eml files, maildirs and mboxes.

A directory with ``cur/`` and ``new/`` is a maildir; another directory is read file by
file (sorted, subdirectories too, hidden names skipped); a file that starts with an mbox
``From `` line is an mbox; any other file is one message.
"""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from tracker.bounces.intake import take
from tracker.bounces.parse import Unreadable
from tracker.store.base import Store
from tracker.tokens import Tokens


class SourceError(Exception):
    """A path that cannot be read: the message names it and why."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check(paths: list[Path]) -> None:
    """Refuse a path that does not exist or cannot be read, before any message is taken."""
    for path in paths:
        if not path.exists():
            raise SourceError(f"no such file or directory: {path}")
        try:
            found = list(_messages_dir(path)) if path.is_dir() else [path]
            for item in found:
                if item.is_dir():  # a maildir: its folders can be listed
                    for sub in ("cur", "new"):
                        next(iter((item / sub).iterdir()), None)
                else:
                    with item.open("rb"):
                        pass
        except OSError as exc:
            where = exc.filename or path
            raise SourceError(f"cannot read {where}: {_reason(exc)}") from None


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _files(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _messages_dir(entry)
        else:
            yield entry


def _messages_dir(folder: Path) -> Iterator[Path]:
    # A maildir below a plain folder is read as a maildir (its own label).
    if is_maildir(folder):
        yield folder
    else:
        yield from _files(folder)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {_reason(exc)}") from None


def _maildir(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        box = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(box.keys())
        for key in keys:
            yield f"{path}/{key}", box.get_bytes(key)
    except OSError as exc:
        raise SourceError(f"cannot read maildir {path}: {_reason(exc)}") from None


def _mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for number, key in enumerate(box.keys(), 1):
            yield f"{path}:{number}", box.get_bytes(key)
    except OSError as exc:
        raise SourceError(f"cannot read mbox {path}: {_reason(exc)}") from None
    finally:
        box.close()


def messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw message) for every message under ``path``, in a stable order."""
    if path.is_dir():
        for found in _messages_dir(path):
            if found.is_dir():
                yield from _maildir(found)
            else:
                yield from messages(found)
        return
    raw = _read(path)
    if raw.startswith(b"From "):
        yield from _mbox(path)
    else:
        yield str(path), raw


# What the intake made of one message: {"kind", "results"} or {"kind": "unreadable", "error"}.
Outcome = dict[str, Any]


def line(label: str, outcome: Outcome) -> str:
    """One line for one message: its source, its kind, and each result."""
    if outcome["kind"] == "unreadable":
        return f"{label}  unreadable: {outcome['error']}"
    parts = []
    for result in outcome["results"]:
        judged = result["type"] + (f"/{result['category']}" if result.get("category") else "")
        where = "stored" if result.get("stored") else "matched"
        if result.get("duplicate"):
            where = "already stored"
        if result.get("recipient") is None:
            where = "unmatched"
        parts.append(f"{result.get('address') or '?'} {judged} {result.get('reason')} {where}")
    return f"{label}  {outcome['kind']}" + (f"  {'; '.join(parts)}" if parts else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class Tally:
    """Counts over every message taken: kinds, results, matched and stored."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.results = self.matched = self.stored = 0

    def add(self, outcome: Outcome) -> None:
        self.kinds[outcome["kind"]] += 1
        for result in outcome.get("results", ()):
            self.results += 1
            self.matched += result.get("recipient") is not None
            self.stored += bool(result.get("stored"))

    def counts(self, dry_run: bool) -> dict[str, Any]:
        return {
            "messages": sum(self.kinds.values()),
            "kinds": dict(sorted(self.kinds.items())),
            "results": self.results,
            "matched": self.matched,
            "stored": self.stored,
            "dry_run": dry_run,
        }

    def line(self, dry_run: bool) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.kinds.items()))
        total = sum(self.kinds.values())
        text = _count(total, "message") + (f" ({kinds})" if kinds else "")
        text += f": {_count(self.results, 'result')}, {self.matched} matched, {self.stored} stored"
        return text + (" (dry run: nothing stored)" if dry_run else "")


def taker(store: Store, tokens: Tokens, dry_run: bool) -> Callable[[bytes], Awaitable[Outcome]]:
    """The intake for one message read from a file (no envelope recipient)."""

    async def take_one(raw: bytes) -> Outcome:
        try:
            return (await take(store, tokens, raw, None, dry_run)).answer()
        except Unreadable as exc:
            return {"kind": "unreadable", "error": str(exc), "results": []}

    return take_one

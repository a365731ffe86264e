"""Files that hold tracking data or secrets are their owner's alone (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600
PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make every file this process creates from now on private; returns the umask before."""
    return os.umask(PRIVATE_UMASK)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists.

    An empty file is a new SQLite database, and SQLite gives a database's WAL and shared
    memory files the database's own mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return
    os.close(fd)

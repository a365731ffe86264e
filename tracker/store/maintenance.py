"""What the command line does to a store beside serving it: migrate, back up, export."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.filemodes import create_private
from tracker.store.base import Store

EXPORT_PAGE = 1000


async def migrate(settings: Settings) -> tuple[int, int]:
    """Bring the configured database to this tracker's schema: (version before, version now).

    Raises ``UnknownSchema`` for a database newer than this tracker.
    """
    if settings.database_url.startswith(("postgresql:", "postgres:")):
        import asyncpg

        from tracker.store.postgres import schema as pg_schema

        conn = await asyncpg.connect(settings.database_url)
        try:
            before = await pg_schema.migrate(conn)
        finally:
            await conn.close()
        return before, pg_schema.SCHEMA_VERSION
    from tracker.store.sqlite.schema import SCHEMA_VERSION
    from tracker.store.sqlite.schema import migrate as migrate_sqlite
    from tracker.store.sqlite.store import connect

    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    conn_ = connect(path, settings.synchronous, settings.busy_timeout_ms)
    try:
        before = migrate_sqlite(conn_)
    finally:
        conn_.close()
    return before, SCHEMA_VERSION


def backup(source: Path, target: Path, on_step: Callable[[int, int], None] | None = None) -> str:
    """Copy the SQLite database ``source`` to the new file ``target`` (0600) while writers
    go on; the copy's integrity check ("ok" when it passed). ``on_step`` hears, after each
    step, the pages copied so far and the pages in all."""
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    create_private(target)
    copy = sqlite3.connect(target)
    try:
        # Pages are copied in steps, so writers wait for a step at most, never the whole copy.
        def step(status: int, remaining: int, total: int) -> None:
            if on_step is not None:
                on_step(total - remaining, total)

        reading.backup(copy, pages=1024, progress=step, sleep=0.005)
        check: str = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
        reading.close()
    return check


async def event_pages(
    store: Store, after: int, event_type: str | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The activity log after cursor ``after`` in commit order, a page at a time."""
    cursor = after
    while True:
        page = await store.events_after(cursor, EXPORT_PAGE, event_type)
        if page:
            yield page
        if len(page) < EXPORT_PAGE:
            return
        cursor = int(page[-1]["cursor"])

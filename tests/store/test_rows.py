"""The named column lists the stores build their INSERTs and rows from match the tables."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import Rows
from tracker.config import Settings
from tracker.store.rows import (
    OPEN_HIT,
    RESCORED,
    ConsentEventRow,
    HitEventRow,
    HitRow,
    Rejudged,
    SendEventRow,
)


def table_columns(rows: Rows, settings: Settings, table: str) -> list[str]:
    """The table's columns in the live schema, in their order."""
    if settings.database_url:
        found = rows(
            "SELECT column_name AS name FROM information_schema.columns WHERE table_name = ?"
            " AND table_schema = current_schema() ORDER BY ordinal_position",
            table,
        )
    else:
        found = rows(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    return [r["name"] for r in found]


async def test_every_column_of_hits_is_a_field_of_its_row_and_back(
    client: TestClient, settings: Settings, rows: Rows
) -> None:
    # A column added to the table but not to HitRow would be left empty by every insert.
    assert sorted(table_columns(rows, settings, "hits")) == sorted(HitRow._fields)
    assert set(RESCORED) | set(OPEN_HIT) | set(Rejudged._fields) <= set(HitRow._fields)


async def test_the_event_rows_name_columns_of_events(
    client: TestClient, settings: Settings, rows: Rows
) -> None:
    events = set(table_columns(rows, settings, "events"))
    assert set(HitEventRow._fields) <= events
    assert set(SendEventRow._fields) <= events
    assert set(ConsentEventRow._fields) <= events
    # What no row writes is the id the store gives, and nothing else.
    written = set(HitEventRow._fields) | set(SendEventRow._fields) | set(ConsentEventRow._fields)
    assert events - written == {"id"}

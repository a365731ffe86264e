"""What only the PostgreSQL store has: the SQL translation of the shared reads, and the
raw log's monthly partitions, dropped whole past retention."""

from __future__ import annotations

from tests import pgserver
from tracker.events import EventType, Hit, Route
from tracker.store.postgres.sql import translate
from tracker.store.postgres.store import PostgresStore
from tracker.tokens import Message


def test_placeholders_become_numbered_and_strings_stay() -> None:
    sql, args = translate(
        "SELECT substr(at, 1, 13) || ':00:00Z', '?' FROM events NOT INDEXED"
        " WHERE delivery = :delivery AND class = :class AND x = :delivery",
        {"delivery": "d", "class": 2},
    )
    assert sql == (
        "SELECT substr(at, 1, 13) || ':00:00Z', '?' FROM events"
        " WHERE delivery = $1 AND class = $2 AND x = $1"
    )
    assert args == ["d", 2]
    sql, args = translate("SELECT 1 FROM hits INDEXED BY hits_x WHERE a = ? AND b = ?", (1, "b"))
    assert sql == "SELECT 1 FROM hits WHERE a = $1 AND b = $2" and args == [1, "b"]
    assert translate("SELECT x::int FROM t WHERE s = 'it''s :not'", ())[0] == (
        "SELECT x::int FROM t WHERE s = 'it''s :not'"
    )


def hit(at: str, i: int) -> Hit:
    message = Message("d", f"r-{i}", "c", "e")
    return Hit(Route.OPEN, "GET", "pixel", at, message, "192.0.2.0", "", EventType.OPENED)


async def test_retention_drops_whole_months_and_trims_the_one_it_cuts(
    postgres_database: str,
) -> None:
    url = pgserver.new_schema(postgres_database)
    store = PostgresStore(url)
    await store.open()
    try:
        times = ["2026-01-10T00:00:00.000000Z", "2026-01-31T23:59:59.999999Z",
                 "2026-02-03T00:00:00.000000Z", "2026-02-20T00:00:00.000000Z",
                 "2026-03-01T00:00:00.000000Z"]  # fmt: skip
        for i, at in enumerate(times):
            await store.record(hit(at, i))
        months = pgserver.query(
            url,
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c"
            " ON c.oid = i.inhrelid WHERE i.inhparent = 'hits'::regclass",
        )
        assert {r["relname"] for r in months} >= {
            "hits_y2026m01",
            "hits_y2026m02",
            "hits_y2026m03",
        }

        assert await store.purge_hits("2026-02-10T00:00:00.000000Z") == 3
        left = pgserver.query(url, "SELECT at FROM hits ORDER BY at")
        assert [r["at"] for r in left] == times[3:]
        names = {r["relname"] for r in pgserver.query(url, "SELECT relname FROM pg_class"
                                                      " WHERE relname LIKE 'hits_y%'")}  # fmt: skip
        assert "hits_y2026m01" not in names, "January was dropped whole"
        assert {"hits_y2026m02", "hits_y2026m03"} <= names
        # A hit of a dropped month (a late one) gets its partition back.
        await store.record(hit("2026-01-15T00:00:00.000000Z", 9))
        assert len(pgserver.query(url, "SELECT id FROM hits")) == 3
        events = pgserver.query(url, "SELECT count(*) AS n FROM events")[0]["n"]
        assert events == 6, "events outlive the raw hits"
    finally:
        await store.close()


def test_no_sqlite_spelling_is_left_in_the_shared_reads() -> None:
    from tracker.store import reports

    for sql in (reports.TOTALS, reports.LINKS, reports.HOURS, reports.CLIENTS,
                reports.uniques_sql("human")):  # fmt: skip
        text, _ = translate(sql, {"delivery": "d", "class": 1})
        assert "INDEXED" not in text and "?" not in text and ":delivery" not in text


async def test_writes_and_reads_survive_the_database_dropping_their_connections(
    postgres_database: str,
) -> None:
    """A failover or an administrator ends every connection: the next write reconnects and
    commits, the next read too; nothing is lost."""
    url = pgserver.new_schema(postgres_database)
    store = PostgresStore(url)
    await store.open()
    try:
        await store.record(hit("2026-11-01T00:00:00.000000Z", 1))
        assert (await store.delivery_stats("d", "all"))["opened"] == 1
        ended = pgserver.query(
            postgres_database,
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid != pg_backend_pid()",
        )
        assert ended[0]["n"] >= 2, "the store's writer and reader were connected"
        await store.record(hit("2026-11-01T00:00:01.000000Z", 2))
        assert (await store.delivery_stats("d", "all"))["opened"] == 2
    finally:
        await store.close()

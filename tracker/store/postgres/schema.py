"""The PostgreSQL schema as numbered migrations, and the raw log's monthly partitions.

The tables and columns are SQLite's (times are the same sortable ISO text, so every
shared query reads alike), with PostgreSQL's own keys:

- every unique key of the tables about people holds the recipient, and every join
  between them is on the recipient too, so an engine that distributes tables by a
  column (Citus, ``create_distributed_table(..., 'recipient')``) can enforce the rules
  on each shard (see the README's Scaling section);
- the dedupe rules are unique keys: ``(recipient, dedupe)`` (one Opened per email,
  recipient and campaign; one Unsubscribed per person; one Delivered per message) and
  ``(recipient, event_id)`` (a sender's event is stored once), so they hold whichever
  node writes;
- ``hits`` is partitioned by month of ``at``: past retention, a month is dropped whole;
- ``copies`` is keyed by content, not by person (a copy many recipients share is one
  row): with a distributing engine it is a reference table.
"""

from __future__ import annotations

import re
from typing import Any

from tracker.eventtypes import SEND_TIMES_SQL, SUPPRESSING_SQL
from tracker.store.base import UnknownSchema

MIGRATIONS: tuple[str, ...] = (
    # 1: everything of SQLite's schema version 10.
    f"""
    CREATE SEQUENCE hits_id_seq AS bigint;
    CREATE TABLE hits (
        id bigint NOT NULL,
        at text NOT NULL,
        route text NOT NULL,
        method text NOT NULL,
        outcome text NOT NULL,
        delivery text NOT NULL,
        recipient text NOT NULL,
        campaign text NOT NULL,
        email text NOT NULL,
        link integer,
        url text,
        ip text,
        user_agent text NOT NULL DEFAULT '',
        verdict text,
        reasons text,
        client text,
        device text
    ) PARTITION BY RANGE (at);
    CREATE TABLE hits_default PARTITION OF hits DEFAULT;
    CREATE INDEX hits_id ON hits (id);
    CREATE INDEX hits_delivery ON hits (delivery, id);
    CREATE INDEX hits_recipient_at ON hits (recipient, at);
    CREATE INDEX hits_traps ON hits (recipient, at) WHERE link = 99999 AND route = 'click';

    CREATE TABLE events (
        id bigserial NOT NULL,
        type text NOT NULL,
        at text NOT NULL,
        delivery text NOT NULL,
        recipient text NOT NULL,
        campaign text NOT NULL,
        email text NOT NULL,
        link integer,
        url text,
        hit_id bigint,
        dedupe text,
        event_id text,
        message text,
        category text,
        reason text,
        address text,
        flag text,
        verdict text,
        PRIMARY KEY (id, recipient),
        UNIQUE (recipient, dedupe),
        UNIQUE (recipient, event_id)
    );
    CREATE INDEX events_delivery ON events (delivery, type);
    CREATE INDEX events_recipient ON events (recipient, at);
    CREATE INDEX events_hit ON events (recipient, hit_id) WHERE hit_id IS NOT NULL;
    CREATE INDEX events_sent ON events (delivery, message) WHERE type = 'sent';
    CREATE INDEX events_suppress ON events (recipient, at)
        WHERE type IN ({SUPPRESSING_SQL});
    CREATE INDEX events_sends ON events (recipient, delivery, at)
        WHERE type IN ({SEND_TIMES_SQL});

    CREATE TABLE deliveries (
        delivery text PRIMARY KEY,
        campaign text NOT NULL,
        email text NOT NULL,
        html text NOT NULL,
        track_opens integer NOT NULL DEFAULT 1,
        track_clicks integer NOT NULL DEFAULT 1,
        registered_at text NOT NULL
    );
    CREATE TABLE links (
        delivery text NOT NULL,
        link integer NOT NULL,
        url text NOT NULL,
        PRIMARY KEY (delivery, link)
    );
    CREATE TABLE webhook_cursors (
        url text PRIMARY KEY,
        cursor bigint NOT NULL,
        updated_at text NOT NULL
    );
    CREATE TABLE forgotten (
        hash text NOT NULL,
        type text NOT NULL,
        at text NOT NULL,
        category text,
        PRIMARY KEY (hash, type, at)
    );
    CREATE TABLE workflow_runs (
        id bigserial PRIMARY KEY,
        started_at text NOT NULL,
        ended_at text,
        outcome text NOT NULL,
        rows_read bigint NOT NULL DEFAULT 0,
        rows_written bigint NOT NULL DEFAULT 0,
        expired bigint NOT NULL DEFAULT 0,
        watermark bigint,
        error text,
        node text
    );
    CREATE TABLE workflow_state (name text PRIMARY KEY, value bigint NOT NULL);
    CREATE TABLE report_totals (
        delivery text NOT NULL, type text NOT NULL, verdict text NOT NULL,
        n bigint NOT NULL, first_at text NOT NULL, last_at text NOT NULL,
        PRIMARY KEY (delivery, type, verdict)
    );
    CREATE TABLE report_links (
        delivery text NOT NULL, link integer NOT NULL, verdict text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (delivery, link, verdict)
    );
    CREATE TABLE report_hours (
        delivery text NOT NULL, hour text NOT NULL, type text NOT NULL,
        verdict text NOT NULL, n bigint NOT NULL,
        PRIMARY KEY (delivery, hour, type, verdict)
    );
    CREATE TABLE report_clients (
        delivery text NOT NULL, client text NOT NULL, device text NOT NULL,
        type text NOT NULL, verdict text NOT NULL, n bigint NOT NULL,
        PRIMARY KEY (delivery, client, device, type, verdict)
    );
    CREATE TABLE report_clickers (
        delivery text NOT NULL, link integer NOT NULL, class integer NOT NULL,
        recipient text NOT NULL,
        PRIMARY KEY (delivery, link, class, recipient)
    );
    CREATE INDEX report_clickers_recipient ON report_clickers (recipient);
    CREATE TABLE report_uniques (
        delivery text NOT NULL, link integer NOT NULL, class integer NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (delivery, link, class)
    );
    """,
    # 2: SQLite's 11, each recipient's copy of a delivery (tracker.store.copies).
    """
    CREATE TABLE copies (hash text PRIMARY KEY, html text NOT NULL);
    CREATE TABLE recipient_copies (
        delivery text NOT NULL,
        recipient text NOT NULL,
        hash text NOT NULL,
        at text NOT NULL,
        PRIMARY KEY (delivery, recipient)
    );
    CREATE INDEX recipient_copies_recipient ON recipient_copies (recipient);
    CREATE INDEX recipient_copies_hash ON recipient_copies (hash);
    CREATE INDEX recipient_copies_at ON recipient_copies (delivery, at);
    UPDATE deliveries SET html = '';
    """,
    # 3: SQLite's 12, the dashboard's sessions (by the SHA-256 of their id) and failed logins.
    """
    CREATE TABLE ui_sessions (
        digest text PRIMARY KEY,
        key_print text NOT NULL,
        expires bigint NOT NULL
    );
    CREATE TABLE ui_login_failures (client text NOT NULL, at bigint NOT NULL);
    CREATE INDEX ui_login_failures_client ON ui_login_failures (client, at);
    """,
    # 4: SQLite's 13, a bounce's enhanced status code and an Unsubscribed's cause.
    """
    ALTER TABLE events ADD COLUMN status text;
    ALTER TABLE events ADD COLUMN cause text;
    CREATE INDEX events_sent_message ON events (message) WHERE type = 'sent';
    CREATE INDEX events_sent_address ON events (lower(address), at) WHERE type = 'sent';
    """,
    # 5: SQLite's 14, tracking consent: each person's current state, every change, and
    # the state a change's event (type consent) sets, and the messages decorate left
    # untracked.
    """
    CREATE TABLE consent (
        recipient text PRIMARY KEY,
        state text NOT NULL,
        at text NOT NULL,
        source text NOT NULL,
        text text
    );
    CREATE TABLE consent_history (
        id bigserial,
        recipient text NOT NULL,
        state text NOT NULL,
        at text NOT NULL,
        source text NOT NULL,
        text text,
        recorded_at text NOT NULL,
        PRIMARY KEY (recipient, id)
    );
    CREATE INDEX consent_history_id ON consent_history (id);
    ALTER TABLE events ADD COLUMN state text;
    CREATE TABLE untracked_messages (
        delivery text NOT NULL,
        recipient text NOT NULL,
        PRIMARY KEY (recipient, delivery)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PARTITION = re.compile(r"^hits_y(\d{4})m(\d{2})$")


def lock_key(name: str) -> str:
    """SQL for an advisory lock's key: ``name`` within the schema in use (tests and
    tenants may share one database under different schemas)."""
    return f"hashtext(current_schema() || ':{name}')"


async def migrate(conn: Any) -> int:
    """Bring the database to SCHEMA_VERSION; the version it was at. One node at a time."""
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({lock_key('migrate')})")
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer)")
        version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if version > SCHEMA_VERSION:
            raise UnknownSchema(
                f"database schema version {version} is newer than this tracker's "
                f"({SCHEMA_VERSION}): upgrade tracker"
            )
        for number in range(version, SCHEMA_VERSION):
            await conn.execute(MIGRATIONS[number])
        await conn.execute("DELETE FROM schema_version")
        await conn.execute("INSERT INTO schema_version VALUES ($1)", SCHEMA_VERSION)
    return int(version)


def month_after(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


async def ensure_partitions(conn: Any, months: set[str]) -> None:
    """Create the monthly partitions of ``hits`` for ``months`` (``YYYY-MM``) if missing.

    A time that is not of that shape (none of tracker's) lands in the default partition.
    """
    for month in sorted(m for m in months if _MONTH.match(m)):
        name = f"hits_y{month[:4]}m{month[5:7]}"
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF hits"
            f" FOR VALUES FROM ('{month}') TO ('{month_after(month)}')"
        )


async def partitions(conn: Any) -> list[tuple[str, str]]:
    """The monthly partitions of ``hits``: (name, month), oldest first."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'hits'::regclass"
    )
    found = []
    for row in rows:
        match = PARTITION.match(row["relname"])
        if match:
            found.append((row["relname"], f"{match[1]}-{match[2]}"))
    return sorted(found, key=lambda p: p[1])

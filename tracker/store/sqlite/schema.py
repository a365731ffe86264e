"""The SQLite schema as numbered migrations; each runs once, in order, in one transaction."""

from __future__ import annotations

import sqlite3

from tracker.eventtypes import SEND_TIMES_SQL, SUPPRESSING_SQL
from tracker.store.base import UnknownSchema

MIGRATIONS: tuple[str, ...] = (
    # 1: raw tracking log, activity log, registered deliveries and their links.
    """
    CREATE TABLE hits (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        route TEXT NOT NULL,
        method TEXT NOT NULL,
        outcome TEXT NOT NULL,
        delivery TEXT NOT NULL,
        recipient TEXT NOT NULL,
        campaign TEXT NOT NULL,
        email TEXT NOT NULL,
        link INTEGER,
        url TEXT,
        ip TEXT,
        user_agent TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX hits_delivery ON hits (delivery, id);
    CREATE INDEX hits_recipient ON hits (recipient, id);

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        delivery TEXT NOT NULL,
        recipient TEXT NOT NULL,
        campaign TEXT NOT NULL,
        email TEXT NOT NULL,
        link INTEGER,
        url TEXT,
        hit_id INTEGER REFERENCES hits (id),
        dedupe TEXT UNIQUE
    );
    CREATE INDEX events_delivery ON events (delivery, type);
    CREATE INDEX events_recipient ON events (recipient, at);

    CREATE TABLE deliveries (
        delivery TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        email TEXT NOT NULL,
        html TEXT NOT NULL,
        track_opens INTEGER NOT NULL DEFAULT 1,
        track_clicks INTEGER NOT NULL DEFAULT 1,
        registered_at TEXT NOT NULL
    );
    CREATE TABLE links (
        delivery TEXT NOT NULL,
        link INTEGER NOT NULL,
        url TEXT NOT NULL,
        PRIMARY KEY (delivery, link)
    ) WITHOUT ROWID;
    """,
    # 2: delivery events from the sending system (idempotent by the sender's id).
    f"""
    ALTER TABLE events ADD COLUMN event_id TEXT;
    ALTER TABLE events ADD COLUMN message TEXT;
    ALTER TABLE events ADD COLUMN category TEXT;
    ALTER TABLE events ADD COLUMN reason TEXT;
    ALTER TABLE events ADD COLUMN address TEXT;
    ALTER TABLE events ADD COLUMN flag TEXT;
    CREATE UNIQUE INDEX events_event_id ON events (event_id);
    CREATE INDEX events_sent ON events (delivery, message) WHERE type = 'sent';
    CREATE INDEX events_suppress ON events (recipient, at)
        WHERE type IN ({SUPPRESSING_SQL});
    """,
    # 3: how far each webhook endpoint has received the activity log.
    """
    CREATE TABLE webhook_cursors (
        url TEXT PRIMARY KEY,
        cursor INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 4: verdicts (human, machine_open, bot) with reasons; mail client and device per hit.
    # Hits stored before have none: reports count them as people, `tracker rescore` judges.
    f"""
    ALTER TABLE hits ADD COLUMN verdict TEXT;
    ALTER TABLE hits ADD COLUMN reasons TEXT;
    ALTER TABLE hits ADD COLUMN client TEXT;
    ALTER TABLE hits ADD COLUMN device TEXT;
    ALTER TABLE events ADD COLUMN verdict TEXT;
    CREATE INDEX events_sends ON events (delivery, recipient, at)
        WHERE type IN ({SEND_TIMES_SQL});
    """,
    # 5: a person's hits by time, so verdicts read only the seconds around a hit; and the
    # few honeypot clicks apart (99999 is tracker.tokens.HONEYPOT_LINK).
    """
    DROP INDEX hits_recipient;
    CREATE INDEX hits_recipient_at ON hits (recipient, at);
    CREATE INDEX hits_traps ON hits (recipient, at) WHERE link = 99999 AND route = 'click';
    """,
    # 6: suppressions of forgotten people, under a keyed hash of their id.
    """
    CREATE TABLE forgotten (
        hash TEXT NOT NULL,
        type TEXT NOT NULL,
        at TEXT NOT NULL,
        category TEXT,
        PRIMARY KEY (hash, type, at)
    ) WITHOUT ROWID;
    """,
    # 7: Sent and Delivered by recipient first, so a group's hits need one read for all.
    f"""
    DROP INDEX events_sends;
    CREATE INDEX events_sends ON events (recipient, delivery, at)
        WHERE type IN ({SEND_TIMES_SQL});
    """,
    # 8: the tracking workflow: its runs, how far it consolidated the activity log, and
    # the report table it fills (link -1: an event of no link).
    """
    CREATE TABLE workflow_runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL,
        rows_read INTEGER NOT NULL DEFAULT 0,
        rows_written INTEGER NOT NULL DEFAULT 0,
        expired INTEGER NOT NULL DEFAULT 0,
        watermark INTEGER,
        error TEXT,
        node TEXT
    );
    CREATE TABLE workflow_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE report_counts (
        delivery TEXT NOT NULL,
        hour TEXT NOT NULL,
        type TEXT NOT NULL,
        verdict TEXT NOT NULL,
        link INTEGER NOT NULL,
        client TEXT NOT NULL,
        device TEXT NOT NULL,
        n INTEGER NOT NULL,
        first_at TEXT NOT NULL,
        last_at TEXT NOT NULL,
        PRIMARY KEY (delivery, hour, type, verdict, link, client, device)
    ) WITHOUT ROWID;
    """,
    # 9: unique clickers kept by the workflow: who clicked (per delivery, per link and
    # for any link, link -1), and how many, for people (1), machines (0) and both (2).
    """
    CREATE TABLE report_clickers (
        delivery TEXT NOT NULL,
        link INTEGER NOT NULL,
        class INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        PRIMARY KEY (delivery, link, class, recipient)
    ) WITHOUT ROWID;
    CREATE TABLE report_uniques (
        delivery TEXT NOT NULL,
        link INTEGER NOT NULL,
        class INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (delivery, link, class)
    ) WITHOUT ROWID;
    CREATE INDEX report_clickers_recipient ON report_clickers (recipient);
    """,
    # 10: one report table per view instead of one crossing every dimension (which grew
    # to a row per hour, link, client and verdict): totals, links, hours, clients. The
    # next workflow run rebuilds them all from the activity log.
    """
    DROP TABLE report_counts;
    DELETE FROM report_clickers;
    DELETE FROM report_uniques;
    DELETE FROM workflow_state WHERE name = 'events';
    CREATE TABLE report_totals (
        delivery TEXT NOT NULL, type TEXT NOT NULL, verdict TEXT NOT NULL,
        n INTEGER NOT NULL, first_at TEXT NOT NULL, last_at TEXT NOT NULL,
        PRIMARY KEY (delivery, type, verdict)
    ) WITHOUT ROWID;
    CREATE TABLE report_links (
        delivery TEXT NOT NULL, link INTEGER NOT NULL, verdict TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (delivery, link, verdict)
    ) WITHOUT ROWID;
    CREATE TABLE report_hours (
        delivery TEXT NOT NULL, hour TEXT NOT NULL, type TEXT NOT NULL, verdict TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (delivery, hour, type, verdict)
    ) WITHOUT ROWID;
    CREATE TABLE report_clients (
        delivery TEXT NOT NULL, client TEXT NOT NULL, device TEXT NOT NULL,
        type TEXT NOT NULL, verdict TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (delivery, client, device, type, verdict)
    ) WITHOUT ROWID;
    """,
    # 11: each recipient's copy of a delivery for "view in browser" (tracker.store.copies),
    # a copy stored once however many share it. The one HTML a delivery kept was the last
    # decorated, maybe another person's copy: it is not shown again.
    """
    CREATE TABLE copies (hash TEXT PRIMARY KEY, html TEXT NOT NULL);
    CREATE TABLE recipient_copies (
        delivery TEXT NOT NULL,
        recipient TEXT NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (delivery, recipient)
    ) WITHOUT ROWID;
    CREATE INDEX recipient_copies_recipient ON recipient_copies (recipient);
    CREATE INDEX recipient_copies_hash ON recipient_copies (hash);
    CREATE INDEX recipient_copies_at ON recipient_copies (delivery, at);
    UPDATE deliveries SET html = '';
    """,
    # 12: the dashboard's sessions (by the SHA-256 of their id) and failed logins.
    """
    CREATE TABLE ui_sessions (
        digest TEXT PRIMARY KEY,
        key_print TEXT NOT NULL,
        expires INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE ui_login_failures (client TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE INDEX ui_login_failures_client ON ui_login_failures (client, at);
    """,
    # 13: a bounce's enhanced status code, and why an Unsubscribed was logged (a complaint).
    """
    ALTER TABLE events ADD COLUMN status TEXT;
    ALTER TABLE events ADD COLUMN cause TEXT;
    CREATE INDEX events_sent_message ON events (message) WHERE type = 'sent';
    CREATE INDEX events_sent_address ON events (lower(address), at) WHERE type = 'sent';
    """,
    # 14: tracking consent (tracker.consent): each person's current state, every change,
    # the state a change's event (type consent) in the activity log sets, and the messages
    # decorate left untracked (their Sent events count apart: rates are over tracked mail).
    """
    CREATE TABLE consent (
        recipient TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT
    ) WITHOUT ROWID;
    CREATE TABLE consent_history (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL,
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX consent_history_recipient ON consent_history (recipient, id);
    ALTER TABLE events ADD COLUMN state TEXT;
    CREATE TABLE untracked_messages (
        delivery TEXT NOT NULL,
        recipient TEXT NOT NULL,
        PRIMARY KEY (delivery, recipient)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it was at."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UnknownSchema(
                f"database schema version {version} is newer than this tracker's "
                f"({SCHEMA_VERSION}): upgrade tracker"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)

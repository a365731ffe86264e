"""The reads both stores share, written once in SQLite's spelling of SQL.

A store provides ``_rows(sql, params)``; the PostgreSQL store translates the SQL (its
placeholders, SQLite's index hints) before running it.
"""

from __future__ import annotations

from typing import Any

from tracker.eventtypes import JUDGED_ROUTES_SQL, JUDGED_TYPES, SUPPRESSING_SQL
from tracker.store import reports
from tracker.store.base import EVERY_HIT, DeliveryTemplate, LogFilter
from tracker.store.units import person_hash

# The fields every activity-log item of a person has; a bounce's or complaint's own
# (category, reason, status, cause) only where they are set.
_ALWAYS = frozenset(
    ("id", "type", "at", "delivery", "recipient", "campaign", "email", "link", "url", "verdict")
)

# Ids per IN (...) list: well under SQLite's limit on bound parameters.
CHUNK = 500


class Reads:
    """Reads over ``_rows``; mixed into each store."""

    _forget_key: str

    async def _rows(self, sql: str, params: Any) -> list[Any]:
        raise NotImplementedError

    async def workflow_backlog(self) -> int:
        """How many events wait after the workflow's watermark."""
        rows = await self._rows(
            f"SELECT coalesce(max(id), 0) - {reports.AFTER_WATERMARK} AS n FROM events", ()
        )
        return max(0, int(rows[0]["n"]))

    async def count_judged_hits(self, since: str) -> int:
        """How many open and click hits there are since ``since`` (what rescore judges)."""
        rows = await self._rows(
            f"SELECT count(*) AS n FROM hits WHERE at >= ? AND route IN ({JUDGED_ROUTES_SQL})",
            (since,),
        )
        return int(rows[0]["n"])

    async def count_events_after(self, after: int, event_type: str | None) -> int:
        """How many activity-log events an export after cursor ``after`` writes."""
        params: list[Any]
        where, params = "id > ?", [after]
        if event_type is not None:
            where, params = "id > ? AND type = ?", [after, event_type]
        rows = await self._rows(f"SELECT count(*) AS n FROM events WHERE {where}", params)
        return int(rows[0]["n"])

    async def workflow_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first; and the last successful one is among them."""
        rows = await self._rows(
            "SELECT id, started_at, ended_at, outcome, rows_read, rows_written, expired,"
            " watermark, error, node FROM workflow_runs ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    async def last_good_run(self) -> str | None:
        rows = await self._rows(
            "SELECT max(ended_at) AS at FROM workflow_runs WHERE outcome = 'ok'", ()
        )
        return rows[0]["at"] if rows else None

    async def ping(self) -> None:
        await self._rows("SELECT 1", ())

    async def sent_message(self, message: str) -> dict[str, Any] | None:
        bare = message.strip().strip("<>")
        rows = await self._rows(
            "SELECT delivery, recipient, campaign, email, message FROM events"
            " WHERE type = 'sent' AND message IN (?, ?) ORDER BY at DESC, id DESC LIMIT 1",
            (bare, f"<{bare}>"),
        )
        return dict(rows[0]) if rows else None

    async def sent_to(self, address: str) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT delivery, recipient, campaign, email, message FROM events"
            " WHERE type = 'sent' AND lower(address) = ? ORDER BY at DESC, id DESC LIMIT 1",
            (address.lower(),),
        )
        return dict(rows[0]) if rows else None

    async def suppressions(self, recipient: str) -> list[tuple[str, str, str | None]]:
        return (await self.suppressions_many([recipient])).get(recipient, [])

    async def events_after(
        self, after: int, limit: int, event_type: str | None
    ) -> list[dict[str, Any]]:
        # Ids are given under the write lock (one writer at a time), so id order is
        # commit order: a reader resuming after an id never misses a later commit.
        where = "events.id > ?" + (" AND type = ?" if event_type else "")
        params: tuple[Any, ...] = (after, event_type) if event_type else (after,)
        rows = await self._rows(
            "SELECT events.id AS cursor, coalesce(event_id, 'e' || events.id) AS id, type, at,"
            " delivery, recipient, campaign, email, message, link, url, category, reason, flag,"
            " verdict, status, cause, state"
            f" FROM events WHERE {where} ORDER BY events.id LIMIT ?",
            (*params, limit),
        )
        out = []
        for row in rows:
            item = {k: row[k] for k in row.keys() if row[k] is not None}
            item["cursor"] = str(row["cursor"])
            out.append(item)
        return out

    async def _rows_among(self, sql: str, values: list[str]) -> list[Any]:
        """``sql``, whose ``{among}`` is an ``IN`` list, over ``values`` a chunk at a time
        (a statement's parameters are bounded); each chunk's rows in the order it gives."""
        found: list[Any] = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            found += await self._rows(sql.format(among=",".join("?" * len(chunk))), tuple(chunk))
        return found

    async def suppressions_many(
        self, recipients: list[str]
    ) -> dict[str, list[tuple[str, str, str | None]]]:
        found: dict[str, list[tuple[str, str, str | None]]] = {}
        unique = list(dict.fromkeys(recipients))
        for r in await self._rows_among(
            "SELECT recipient, type, at, category FROM events WHERE recipient IN ({among})"
            f" AND type IN ({SUPPRESSING_SQL}) ORDER BY at",
            unique,
        ):
            found.setdefault(r["recipient"], []).append((r["type"], r["at"], r["category"]))
        if self._forget_key:
            hashes = {person_hash(self._forget_key, r): r for r in unique}
            for r in await self._rows_among(
                "SELECT hash, type, at, category FROM forgotten WHERE hash IN ({among})"
                " ORDER BY at",
                list(hashes),
            ):
                person = hashes[r["hash"]]
                found.setdefault(person, []).append((r["type"], r["at"], r["category"]))
        return found

    async def webhook_cursor(self, url: str) -> int:
        rows = await self._rows("SELECT cursor FROM webhook_cursors WHERE url = ?", (url,))
        return int(rows[0]["cursor"]) if rows else 0

    async def delivery(self, delivery: str) -> DeliveryTemplate | None:
        """The registration with the latest copy registered (the dashboard's hot clicks)."""
        copy = await self._rows(
            "SELECT c.html FROM recipient_copies AS v JOIN copies AS c ON c.hash = v.hash"
            " WHERE v.delivery = ? ORDER BY v.at DESC LIMIT 1",
            (delivery,),
        )
        return await self._registration(delivery, copy[0]["html"] if copy else "")

    async def delivery_known(self, delivery: str) -> bool:
        """Whether anything names ``delivery``: a decorate registration, a hit, an event
        (a Sent or any other) or the workflow's counts (kept after hits expire)."""
        rows = await self._rows(
            "SELECT EXISTS (SELECT 1 FROM deliveries WHERE delivery = ?)"
            " OR EXISTS (SELECT 1 FROM events WHERE delivery = ?)"
            " OR EXISTS (SELECT 1 FROM hits WHERE delivery = ?)"
            " OR EXISTS (SELECT 1 FROM report_totals WHERE delivery = ?) AS known",
            (delivery,) * 4,
        )
        return bool(rows[0]["known"])

    async def view(self, delivery: str, recipient: str) -> DeliveryTemplate | None:
        """The registration with ``recipient``'s own copy; None if they have none."""
        copy = await self._rows(
            "SELECT c.html FROM recipient_copies AS v JOIN copies AS c ON c.hash = v.hash"
            " WHERE v.delivery = ? AND v.recipient = ?",
            (delivery, recipient),
        )
        return await self._registration(delivery, copy[0]["html"]) if copy else None

    async def _registration(self, delivery: str, html: str) -> DeliveryTemplate | None:
        rows = await self._rows("SELECT * FROM deliveries WHERE delivery = ?", (delivery,))
        if not rows:
            return None
        row = rows[0]
        links = await self._rows(
            "SELECT link, url FROM links WHERE delivery = ? ORDER BY link", (delivery,)
        )
        return DeliveryTemplate(
            delivery=row["delivery"],
            campaign=row["campaign"],
            email=row["email"],
            html=html,
            links=tuple((r["link"], r["url"]) for r in links),
            track_opens=bool(row["track_opens"]),
            track_clicks=bool(row["track_clicks"]),
            registered_at=row["registered_at"],
        )

    async def recipient_tracking(
        self,
        recipient: str,
        event_type: str | None,
        newest_first: bool,
        limit: int,
        traffic: str = "human",
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        where = "recipient = ?" + (" AND type = ?" if event_type else "")
        params: tuple[Any, ...] = (recipient, event_type) if event_type else (recipient,)
        if since is not None:
            where += " AND at >= ?"
            params += (since,)
        if until is not None:
            where += " AND at < ?"
            params += (until,)
        rows = await self._rows(
            "SELECT events.id, type, at, delivery, recipient, campaign, email, link, url,"
            " category, reason, status, cause, state,"
            " coalesce(verdict, 'human') AS verdict FROM events"
            f" WHERE {where} AND {reports.traffic_filter(traffic)}"
            f" ORDER BY at {order}, events.id {order} LIMIT ?",
            (*params, limit),
        )
        out = []
        for row in rows:
            item = {k: v for k, v in dict(row).items() if v is not None or k in _ALWAYS}
            if item["type"] not in JUDGED_TYPES:
                del item["verdict"]
            out.append(item)
        return out

    async def delivery_stats(self, delivery: str, traffic: str = "human") -> dict[str, Any]:
        """The delivery's figures; opens and clicks are rated over the tracked messages
        (``tracked_sent``, ``tracked_delivered``): mail decorated untracked cannot open."""
        return await reports.delivery_stats(self._rows, delivery, traffic)

    async def recipients_by_consent(
        self, delivery: str, state: str, after: str = "", limit: int = 50
    ) -> list[dict[str, Any]]:
        """The delivery's recipients whose consent is ``state`` now, by id after ``after``."""
        return await reports.recipients_by_consent(self._rows, delivery, state, after, limit)

    async def delivery_urls(self, delivery: str, traffic: str = "human") -> list[dict[str, Any]]:
        return await reports.delivery_urls(self._rows, delivery, traffic)

    async def delivery_timeline(
        self, delivery: str, traffic: str = "human"
    ) -> list[dict[str, Any]]:
        return await reports.timeline(self._rows, delivery, traffic)

    async def delivery_clients(self, delivery: str, traffic: str = "human") -> list[dict[str, Any]]:
        return await reports.clients(self._rows, delivery, traffic)

    async def deliveries(
        self, search: str = "", newest_first: bool = True, limit: int = 200
    ) -> list[dict[str, Any]]:
        return await reports.deliveries(self._rows, search, newest_first, limit)

    async def delivery_logs(
        self,
        delivery: str,
        filters: LogFilter = EVERY_HIT,
        after: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int | None]:
        return await reports.delivery_logs(self._rows, delivery, filters, after=after, limit=limit)

    async def delivery_summaries(self, traffic: str = "human") -> list[dict[str, Any]]:
        return await reports.delivery_summaries(self._rows, traffic)

    async def recipients(self, prefix: str = "", limit: int = 50) -> list[dict[str, Any]]:
        return await reports.recipients(self._rows, prefix, limit)

    async def recipient_known(self, recipient: str) -> bool:
        return await reports.recipient_known(self._rows, recipient)

    async def recipient_outcomes(self, recipient: str, limit: int = 100) -> list[dict[str, Any]]:
        return await reports.recipient_outcomes(self._rows, recipient, limit)

    async def consent(self, recipient: str, history: int = 100) -> dict[str, Any]:
        """The person's current consent (``unknown`` with no time when never stated) and
        their latest ``history`` changes, newest first."""
        current = await self._rows(
            "SELECT state, at, source, text FROM consent WHERE recipient = ?", (recipient,)
        )
        changes = await self._rows(
            "SELECT state, at, source, text, recorded_at FROM consent_history"
            " WHERE recipient = ? ORDER BY id DESC LIMIT ?",
            (recipient, history),
        )
        now = dict(current[0]) if current else {"state": "unknown", "at": None,
                                                 "source": None, "text": None}  # fmt: skip
        return {"recipient": recipient, **now, "history": [dict(c) for c in changes]}

    async def consent_states(self, recipients: list[str]) -> dict[str, str]:
        """The current consent state of each of ``recipients`` who ever stated one."""
        rows = await self._rows_among(
            "SELECT recipient, state FROM consent WHERE recipient IN ({among})",
            list(dict.fromkeys(recipients)),
        )
        return {r["recipient"]: r["state"] for r in rows}

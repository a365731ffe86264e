"""The report reads of both stores: delivery statistics, links, logs and timelines.

Every read counts people only unless asked (``traffic``: ``human``, ``machine`` or
``all``). Events without a verdict (delivery events, hits stored before verdicts) are
people's. The honeypot link is never one of the delivery's links.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tracker.events import EventType
from tracker.eventtypes import (
    HARD_CATEGORIES,
    HIT_TYPES,
    JUDGED_TYPES,
    JUDGED_TYPES_SQL,
    ROUTE_TYPES,
    SEND_TIMES_SQL,
    TYPE_ROUTES,
)
from tracker.store.base import EVERY_HIT, LogFilter
from tracker.store.units import WATERMARK
from tracker.tokens import HONEYPOT_LINK
from tracker.verdicts import Verdict

# SQL in SQLite's spelling (``?`` or ``:name``); the PostgreSQL store translates it.
Rows = Callable[[str, Any], Awaitable[list[Any]]]  # rows: sqlite3.Row or mappings

VERDICTS = tuple(v.value for v in Verdict)
COUNTED = {"human": ("human",), "machine": ("machine_open", "bot"), "all": VERDICTS}


# Expressions the consolidation and the reports' live tail share, so both group an event
# alike (``e`` the event, ``h`` its hit; link -1: no link).
AFTER_WATERMARK = f"(SELECT coalesce(max(value), 0) FROM workflow_state WHERE name = '{WATERMARK}')"
VERDICT = "coalesce(e.verdict, 'human')"
HOUR = "substr(e.at, 1, 13) || ':00:00Z'"
NOT_TRAP = f"coalesce(e.link, -1) != {HONEYPOT_LINK}"
CLIENT_DEVICE = "coalesce(h.client, 'Other'), coalesce(h.device, 'unknown')"
# The Sent and Delivered of messages decorated untracked (consent), per delivery and type.
UNTRACKED = (
    "SELECT u.delivery, e.type, count(*) AS n FROM untracked_messages AS u"
    " JOIN events AS e INDEXED BY events_sends"
    " ON e.recipient = u.recipient AND e.delivery = u.delivery"
    f" WHERE e.type IN ({SEND_TIMES_SQL})"
)
# An event's hit (the recipient too, so a store distributed by recipient joins locally).
HIT_OF_EVENT = "LEFT JOIN hits AS h ON h.id = e.hit_id AND h.recipient = e.recipient"


def consolidation(least: str = "min", greatest: str = "max") -> tuple[str, ...]:
    """The workflow's statements adding a range of events (``e.id > ? AND e.id <= ?``) to
    each report table, grouped its own way; ``least``/``greatest`` name the two-argument
    minimum and maximum (SQLite: min, max; PostgreSQL: least, greatest)."""
    rng = "FROM events AS e WHERE e.id > ? AND e.id <= ?"
    judged = f"AND e.type IN ({JUDGED_TYPES_SQL})"
    return (
        f"""INSERT INTO report_totals (delivery, type, verdict, n, first_at, last_at)
    SELECT e.delivery, e.type, {VERDICT}, count(*), min(e.at), max(e.at) {rng}
    GROUP BY 1, 2, 3 ON CONFLICT (delivery, type, verdict) DO UPDATE SET
    n = report_totals.n + excluded.n,
    first_at = {least}(report_totals.first_at, excluded.first_at),
    last_at = {greatest}(report_totals.last_at, excluded.last_at)""",
        f"""INSERT INTO report_links (delivery, link, verdict, n)
    SELECT e.delivery, e.link, {VERDICT}, count(*) {rng} AND e.type = 'clicked'
    GROUP BY 1, 2, 3 ON CONFLICT (delivery, link, verdict)
    DO UPDATE SET n = report_links.n + excluded.n""",
        f"""INSERT INTO report_hours (delivery, hour, type, verdict, n)
    SELECT e.delivery, {HOUR}, e.type, {VERDICT}, count(*)
    {rng} {judged} AND {NOT_TRAP} GROUP BY 1, 2, 3, 4
    ON CONFLICT (delivery, hour, type, verdict) DO UPDATE SET n = report_hours.n + excluded.n""",
        f"""INSERT INTO report_clients (delivery, client, device, type, verdict, n)
    SELECT e.delivery, {CLIENT_DEVICE}, e.type, {VERDICT}, count(*)
    FROM events AS e {HIT_OF_EVENT}
    WHERE e.id > ? AND e.id <= ? {judged} AND {NOT_TRAP}
    GROUP BY 1, 2, 3, 4, 5 ON CONFLICT (delivery, client, device, type, verdict)
    DO UPDATE SET n = report_clients.n + excluded.n""",
    )


def traffic_filter(traffic: str, column: str = "verdict") -> str:
    """SQL for the rows a report counts: people only, machines only, or all."""
    if traffic == "human":
        return f"coalesce({column}, 'human') = 'human'"
    if traffic == "machine":
        return f"coalesce({column}, 'human') != 'human'"
    return "1 = 1"


# A report's facts: the workflow's table for it, and the events after its watermark (the
# rowid range: only the tail is read) in the same shape. One statement reads both, so a
# run committing meanwhile cannot make an event count twice or not at all.
TAIL = f"FROM events AS e NOT INDEXED WHERE e.id > {AFTER_WATERMARK} AND e.delivery = :delivery"
TOTALS = f"""
WITH facts (type, verdict, n, first_at, last_at) AS (
    SELECT type, verdict, n, first_at, last_at FROM report_totals WHERE delivery = :delivery
    UNION ALL SELECT e.type, {VERDICT}, 1, e.at, e.at {TAIL}
)
"""
LINKS = f"""
WITH facts (link, verdict, n) AS (
    SELECT link, verdict, n FROM report_links WHERE delivery = :delivery
    UNION ALL SELECT e.link, {VERDICT}, 1 {TAIL} AND e.type = 'clicked'
)
"""
HOURS = f"""
WITH facts (hour, type, verdict, n) AS (
    SELECT hour, type, verdict, n FROM report_hours WHERE delivery = :delivery
    UNION ALL SELECT {HOUR}, e.type, {VERDICT}, 1 {TAIL}
    AND e.type IN ({JUDGED_TYPES_SQL}) AND {NOT_TRAP}
)
"""
CLIENTS = f"""
WITH facts (client, device, type, verdict, n) AS (
    SELECT client, device, type, verdict, n FROM report_clients WHERE delivery = :delivery
    UNION ALL SELECT {CLIENT_DEVICE}, e.type, {VERDICT}, 1
    FROM events AS e NOT INDEXED {HIT_OF_EVENT}
    WHERE e.id > {AFTER_WATERMARK} AND e.delivery = :delivery
    AND e.type IN ({JUDGED_TYPES_SQL}) AND {NOT_TRAP}
)
"""
NOT_HONEYPOT = f"link != {HONEYPOT_LINK}"
CLASS = {"human": 1, "machine": 0, "all": 2}


def uniques_sql(traffic: str) -> str:
    """Unique clickers per link (-1: any link): the workflow's counts, plus the people of
    the tail after the watermark it has not counted yet."""
    return f"""
WITH tail (link, recipient) AS (
    SELECT DISTINCT e.link, e.recipient {TAIL}
      AND e.type = 'clicked' AND e.link != {HONEYPOT_LINK}
      AND {traffic_filter(traffic, "e.verdict")}
),
fresh (link, recipient) AS (
    SELECT link, recipient FROM tail AS t WHERE NOT EXISTS (
        SELECT 1 FROM report_clickers AS c WHERE c.delivery = :delivery AND c.link = t.link
        AND c.class = :class AND c.recipient = t.recipient)
    UNION ALL
    SELECT DISTINCT -1, recipient FROM tail AS t WHERE NOT EXISTS (
        SELECT 1 FROM report_clickers AS c WHERE c.delivery = :delivery AND c.link = -1
        AND c.class = :class AND c.recipient = t.recipient)
)
SELECT link, sum(n) AS n FROM (
    SELECT link, n FROM report_uniques WHERE delivery = :delivery AND class = :class
    UNION ALL
    SELECT link, count(*) FROM fresh GROUP BY link
) AS counted GROUP BY link
"""


async def count_clickers(rows: Rows, delivery: str, traffic: str) -> dict[int, int]:
    """Link (-1: any link) -> how many people (or machines) clicked it."""
    found = await rows(uniques_sql(traffic), {"delivery": delivery, "class": CLASS[traffic]})
    return {int(r["link"]): int(r["n"]) for r in found}


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def delivery_stats(rows: Rows, delivery: str, traffic: str) -> dict[str, Any]:
    """Counts, rates, first and last activity, and the machine traffic set apart."""
    counts = await rows(
        TOTALS + "SELECT type, verdict, sum(n) AS n, min(first_at) AS first,"
        " max(last_at) AS last FROM facts GROUP BY type, verdict",
        {"delivery": delivery},
    )
    clickers = await count_clickers(rows, delivery, traffic)

    def count(kind: EventType, verdicts: tuple[str, ...]) -> int:
        return sum(int(r["n"]) for r in counts if r["type"] == kind and r["verdict"] in verdicts)

    # People's Opened through a mail provider's image proxy (device "proxy"): counted in
    # ``opened``, and shown apart so the open rate's share from proxies is visible.
    proxied = await rows(
        CLIENTS + "SELECT sum(n) AS n FROM facts WHERE type = 'opened' AND verdict = 'human'"
        " AND device = 'proxy'",
        {"delivery": delivery},
    )
    untracked = await rows(
        UNTRACKED + " AND u.delivery = :delivery GROUP BY u.delivery, e.type",
        {"delivery": delivery},
    )
    figures = _figures(
        counts, clickers.get(-1, 0), traffic, {r["type"]: int(r["n"]) for r in untracked}
    )
    # Activity: a person's (or machine's, as counted) opens, clicks and unsubscribes.
    active = [r for r in counts if r["type"] in HIT_TYPES and r["verdict"] in COUNTED[traffic]]
    return {
        **{
            k: v
            for k, v in figures.items()
            if k not in ("first_event", "first_sent", "last_activity")
        },
        "first_activity": min((r["first"] for r in active), default=None),
        "last_activity": figures["last_activity"],
        # Machine traffic, and people's opens through proxies, shown apart whatever
        # ``traffic`` asks for.
        "bots": {
            "proxy_opens": int(proxied[0]["n"] or 0) if proxied else 0,
            "machine_opens": count(EventType.OPENED, ("machine_open",)),
            "bot_opens": count(EventType.OPENED, ("bot",)),
            "bot_clicks": count(EventType.CLICKED, ("bot",)),
        },
        **await bounce_figures(rows, delivery),
        "consent": await consent_mix(rows, delivery),
    }


# The delivery's people: the distinct recipients of its Sent events.
SENT_TO = "SELECT DISTINCT recipient FROM events WHERE delivery = :delivery AND type = 'sent'"


async def consent_mix(rows: Rows, delivery: str) -> dict[str, int]:
    """How many of the delivery's recipients (its Sent events') are ``granted``, ``denied``
    and ``unknown`` now (never stated: unknown), in one statement: each distinct recipient
    looked up in ``consent`` by its key (about a microsecond each)."""
    found = await rows(
        "SELECT count(*) AS recipients,"
        " count(CASE WHEN c.state = 'granted' THEN 1 END) AS granted,"
        " count(CASE WHEN c.state = 'denied' THEN 1 END) AS denied"
        f" FROM ({SENT_TO}) AS s LEFT JOIN consent AS c ON c.recipient = s.recipient",
        {"delivery": delivery},
    )
    everyone, granted, denied = (int(found[0][k]) for k in ("recipients", "granted", "denied"))
    return {"granted": granted, "denied": denied, "unknown": everyone - granted - denied}


async def recipients_by_consent(
    rows: Rows, delivery: str, state: str, after: str, limit: int
) -> list[dict[str, Any]]:
    """The delivery's recipients whose consent is ``state`` now (``unknown``: never stated
    too), in id order after ``after``, each with when and how it was given."""
    found = await rows(
        "SELECT s.recipient, c.at, c.source"
        f" FROM ({SENT_TO} AND recipient > :after) AS s"
        " LEFT JOIN consent AS c ON c.recipient = s.recipient"
        " WHERE coalesce(c.state, 'unknown') = :state ORDER BY s.recipient LIMIT :limit",
        {"delivery": delivery, "after": after, "state": state, "limit": limit},
    )
    return [dict(r) for r in found]


async def bounce_figures(rows: Rows, delivery: str) -> dict[str, Any]:
    """Hard bounces by category and the complaints (Unsubscribed for a spam complaint).

    Read from the events themselves (the workflow's totals do not keep the category):
    bounces and complaints are a small share of a delivery's events.
    """
    found = await rows(
        "SELECT coalesce(category, 'invalid') AS category, count(*) AS n FROM events"
        " WHERE delivery = :delivery AND type = 'hard_bounced' GROUP BY 1",
        {"delivery": delivery},
    )
    split = {category: 0 for category in HARD_CATEGORIES}
    for row in found:
        split[str(row["category"])] = split.get(str(row["category"]), 0) + int(row["n"])
    complaints = await rows(
        "SELECT count(*) AS n FROM events WHERE delivery = :delivery"
        " AND type = 'unsubscribed' AND cause = 'complaint'",  # tracker.bounces.intake
        {"delivery": delivery},
    )
    return {"hard_bounced_by_category": split, "complaints": int(complaints[0]["n"])}


async def delivery_urls(rows: Rows, delivery: str, traffic: str) -> list[dict[str, Any]]:
    """Each link: position, URL, clicks, unique clickers and share of the clicks."""
    registered = await rows(
        "SELECT link, url FROM links WHERE delivery = ? ORDER BY link", (delivery,)
    )
    judged = traffic_filter(traffic)
    clicked = await rows(
        LINKS + f"SELECT link, sum(n) AS clicks FROM facts WHERE {NOT_HONEYPOT} AND {judged}"
        " GROUP BY link",
        {"delivery": delivery},
    )
    people = await count_clickers(rows, delivery, traffic)
    out: dict[int, dict[str, Any]] = {
        r["link"]: {"link": r["link"], "url": r["url"], "clicks": 0, "unique_clickers": 0}
        for r in registered
    }
    for r in clicked:
        link = r["link"]
        if link not in out:  # a link signed elsewhere, never registered: its URL from a hit
            url = await rows(
                "SELECT url FROM events WHERE delivery = ? AND type = 'clicked' AND link = ?"
                " LIMIT 1",
                (delivery, link),
            )
            out[link] = {"link": link, "url": url[0]["url"] if url else None}
        out[link]["clicks"] = r["clicks"]
        out[link]["unique_clickers"] = people.get(link, 0)
    total = sum(e["clicks"] for e in out.values())
    for entry in out.values():
        entry["share"] = rate(entry["clicks"], total) or 0.0
    return [out[k] for k in sorted(out)]


async def timeline(rows: Rows, delivery: str, traffic: str) -> list[dict[str, Any]]:
    """Opens and clicks per hour (UTC), oldest first."""
    found = await rows(
        HOURS + f"SELECT hour, type, sum(n) AS n FROM facts WHERE {traffic_filter(traffic)}"
        " GROUP BY 1, 2 ORDER BY 1",
        {"delivery": delivery},
    )
    hours: dict[str, dict[str, Any]] = {}
    for r in found:
        entry = hours.setdefault(r["hour"], {"hour": r["hour"], "opened": 0, "clicks": 0})
        entry["opened" if r["type"] == "opened" else "clicks"] += r["n"]
    return list(hours.values())


async def clients(rows: Rows, delivery: str, traffic: str) -> list[dict[str, Any]]:
    """Opens and clicks by mail client (or browser) and device, most first."""
    found = await rows(
        CLIENTS + "SELECT client, device, type, sum(n) AS n FROM facts"
        f" WHERE {traffic_filter(traffic)} GROUP BY 1, 2, 3",
        {"delivery": delivery},
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in found:
        key = (r["client"], r["device"])
        entry = groups.setdefault(key, {"client": key[0], "device": key[1], "opened": 0,
                                        "clicks": 0})  # fmt: skip
        entry["opened" if r["type"] == "opened" else "clicks"] += r["n"]
    return sorted(groups.values(), key=lambda e: (-(e["opened"] + e["clicks"]), e["client"]))


async def delivery_logs(
    rows: Rows,
    delivery: str,
    filters: LogFilter = EVERY_HIT,
    after: int = 0,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """Raw hits of the delivery, oldest first, after the ``after`` cursor; and the next."""
    where = ["delivery = ?", "id > ?"]
    params: list[Any] = [delivery, after]
    if filters.event_type is not None:
        where.append("route = ?")
        params.append(TYPE_ROUTES[filters.event_type])
    for column, value, op in (("recipient", filters.recipient, "="), ("link", filters.link, "="),
                              ("at", filters.since, ">="), ("at", filters.until, "<")):  # fmt: skip
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    if filters.verdict is not None:
        where.append("coalesce(verdict, 'human') = ?")
        params.append(filters.verdict)
    found = await rows(
        "SELECT id, at, route, method, outcome, recipient, link, url, ip, user_agent,"
        " coalesce(verdict, 'human') AS verdict, coalesce(reasons, '') AS reasons, client,"
        # One person's hits come from their own index, not from the whole delivery's.
        f" device FROM hits {'INDEXED BY hits_recipient_at' if filters.recipient else ''}"
        f" WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        (*params, limit + 1),
    )
    items = []
    for r in found[:limit]:
        item = dict(r)
        item["cursor"] = str(item.pop("id"))
        item["type"] = ROUTE_TYPES[item.pop("route")]
        item["reasons"] = [code for code in item["reasons"].split(",") if code]
        items.append(item)
    more = len(found) > limit
    return items, (int(items[-1]["cursor"]) if more else None)


async def deliveries(
    rows: Rows, search: str, newest_first: bool, limit: int
) -> list[dict[str, Any]]:
    """Deliveries (registered, or seen in the reports): campaign, email, registration."""
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    order = "DESC" if newest_first else "ASC"
    found = await rows(
        "SELECT delivery, max(campaign) AS campaign, max(email) AS email,"
        " max(registered_at) AS registered_at FROM ("
        " SELECT delivery, campaign, email, registered_at FROM deliveries"
        " UNION ALL SELECT DISTINCT delivery, NULL, NULL, NULL FROM report_totals"
        " UNION ALL SELECT DISTINCT delivery, NULL, NULL, NULL FROM events"
        f"  WHERE id > {AFTER_WATERMARK}"
        ") AS known WHERE delivery LIKE ? ESCAPE '\\' AND delivery <> '' GROUP BY delivery"
        f" ORDER BY max(registered_at) IS NULL, max(registered_at) {order}, delivery LIMIT ?",
        (pattern, limit),
    )
    return [dict(r) for r in found]


# Every delivery's totals at once (the deliveries list and the campaign page): the same
# facts as TOTALS, for all deliveries, and the tail of every delivery.
ALL_TOTALS = f"""
WITH facts (delivery, type, verdict, n, first_at, last_at) AS (
    SELECT delivery, type, verdict, n, first_at, last_at FROM report_totals
    UNION ALL SELECT e.delivery, e.type, {VERDICT}, 1, e.at, e.at
    FROM events AS e NOT INDEXED WHERE e.id > {AFTER_WATERMARK}
)
SELECT delivery, type, verdict, sum(n) AS n, min(first_at) AS first, max(last_at) AS last
FROM facts GROUP BY delivery, type, verdict
"""


def all_uniques_sql(traffic: str) -> str:
    """Unique clickers of any link per delivery, as ``uniques_sql`` counts them."""
    return f"""
WITH tail (delivery, recipient) AS (
    SELECT DISTINCT e.delivery, e.recipient FROM events AS e NOT INDEXED
    WHERE e.id > {AFTER_WATERMARK} AND e.type = 'clicked' AND e.link != {HONEYPOT_LINK}
      AND {traffic_filter(traffic, "e.verdict")}
),
fresh (delivery, recipient) AS (
    SELECT delivery, recipient FROM tail AS t WHERE NOT EXISTS (
        SELECT 1 FROM report_clickers AS c WHERE c.delivery = t.delivery AND c.link = -1
        AND c.class = :class AND c.recipient = t.recipient)
)
SELECT delivery, sum(n) AS n FROM (
    SELECT delivery, n FROM report_uniques WHERE link = -1 AND class = :class
    UNION ALL
    SELECT delivery, count(*) FROM fresh GROUP BY delivery
) AS counted GROUP BY delivery
"""


def _figures(
    counts: list[Any], unique_clickers: int, traffic: str, untracked: dict[str, int] | None = None
) -> dict[str, Any]:
    """One delivery's counts and rates from its (type, verdict, n, first, last) rows: what
    ``delivery_stats`` and the deliveries list show alike. ``untracked``: the Sent and
    Delivered of its messages decorated untracked (consent), apart from ``tracked_sent``
    and ``tracked_delivered``, over which opens and clicks are rated (they cannot open)."""

    def count(kind: EventType) -> int:
        verdicts = COUNTED[traffic] if kind in JUDGED_TYPES else VERDICTS
        return sum(int(r["n"]) for r in counts if r["type"] == kind and r["verdict"] in verdicts)

    sent, delivered = count(EventType.SENT), count(EventType.DELIVERED)
    opened, unsubscribed = count(EventType.OPENED), count(EventType.UNSUBSCRIBED)
    active = [r for r in counts if r["type"] in HIT_TYPES and r["verdict"] in COUNTED[traffic]]
    apart = untracked or {}
    tracked_sent = sent - apart.get(EventType.SENT, 0)
    tracked_delivered = delivered - apart.get(EventType.DELIVERED, 0)
    figures: dict[str, Any] = {
        "sent": sent,
        "delivered": delivered,
        "hard_bounced": count(EventType.HARD_BOUNCED),
        "soft_bounced": count(EventType.SOFT_BOUNCED),
        "opened": opened,
        "clicks": count(EventType.CLICKED),
        "unique_clickers": unique_clickers,
        "unsubscribed": unsubscribed,
        "tracked_sent": tracked_sent,
        "tracked_delivered": tracked_delivered,
    }
    return {
        **figures,
        "rates": rates_of(figures),
        "first_event": min((r["first"] for r in counts), default=None),
        "first_sent": min((r["first"] for r in counts if r["type"] == "sent"), default=None),
        "last_activity": max((r["last"] for r in active), default=None),
    }


def rates_of(figures: dict[str, Any]) -> dict[str, float | None]:
    """The rates of a delivery's counts (or of several deliveries' sums): opens and
    clicks over the messages delivered tracked, the rest over all."""
    return {
        "delivery": rate(figures["delivered"], figures["sent"]),
        "open": rate(figures["opened"], figures["tracked_delivered"]),
        "click": rate(figures["unique_clickers"], figures["tracked_delivered"]),
        "click_to_open": rate(figures["unique_clickers"], figures["opened"]),
        "unsubscribe": rate(figures["unsubscribed"], figures["delivered"]),
    }


async def delivery_summaries(rows: Rows, traffic: str) -> list[dict[str, Any]]:
    """Every delivery with its campaign, email, date (its first Sent, else its registration,
    else its first event) and the figures of its statistics (``delivery_stats``)."""
    totals = await rows(ALL_TOTALS, {})
    uniques = await rows(all_uniques_sql(traffic), {"class": CLASS[traffic]})
    clickers = {r["delivery"]: int(r["n"]) for r in uniques}
    registered = {
        r["delivery"]: r
        for r in await rows("SELECT delivery, campaign, email, registered_at FROM deliveries", ())
    }
    grouped: dict[str, list[Any]] = {d: [] for d in registered}
    for r in totals:
        grouped.setdefault(r["delivery"], []).append(r)
    unnamed = [d for d in grouped if d not in registered]
    named = await _campaigns(rows, unnamed)
    untracked: dict[str, dict[str, int]] = {}
    for r in await rows(UNTRACKED + " GROUP BY u.delivery, e.type", {}):
        untracked.setdefault(r["delivery"], {})[r["type"]] = int(r["n"])
    out = []
    for delivery, counts in grouped.items():
        figures = _figures(counts, clickers.get(delivery, 0), traffic, untracked.get(delivery))
        known = registered.get(delivery)
        campaign, email = (known["campaign"], known["email"]) if known else named[delivery]
        registered_at = known["registered_at"] if known else None
        date = figures["first_sent"] or registered_at or figures["first_event"]
        out.append({"delivery": delivery, "campaign": campaign, "email": email,
                    "date": date, **figures})  # fmt: skip
    return out


async def _campaigns(rows: Rows, deliveries: list[str]) -> dict[str, tuple[Any, Any]]:
    """The campaign and email an unregistered delivery's events name (its first such)."""
    found: dict[str, tuple[Any, Any]] = {}
    for delivery in deliveries:
        named = await rows(
            "SELECT campaign, email FROM events WHERE delivery = ? AND campaign IS NOT NULL"
            " LIMIT 1",
            (delivery,),
        )
        found[delivery] = (named[0]["campaign"], named[0]["email"]) if named else (None, None)
    return found


async def recipients(rows: Rows, prefix: str, limit: int) -> list[dict[str, Any]]:
    """Recipients whose id starts with ``prefix`` (by their index, so the search stays fast
    on a large log), in id order, each with their latest event."""
    found = await rows(
        "SELECT DISTINCT recipient FROM events INDEXED BY events_recipient"
        " WHERE recipient >= :prefix AND recipient < :upper"
        " AND substr(recipient, 1, :length) = :prefix ORDER BY recipient LIMIT :limit",
        {
            "prefix": prefix,
            "upper": prefix + "\U0010ffff",
            "length": len(prefix),
            "limit": limit,
        },  # fmt: skip
    )
    out = []
    for r in found:
        latest = await rows(
            "SELECT type, at, delivery FROM events WHERE recipient = ? ORDER BY at DESC LIMIT 1",
            (r["recipient"],),
        )
        out.append({"recipient": r["recipient"], **(dict(latest[0]) if latest else {})})
    return out


async def recipient_known(rows: Rows, recipient: str) -> bool:
    """Whether the activity log or the raw log names ``recipient``."""
    found = await rows(
        "SELECT EXISTS (SELECT 1 FROM events WHERE recipient = ?)"
        " OR EXISTS (SELECT 1 FROM hits WHERE recipient = ?) AS known",
        (recipient, recipient),
    )
    return bool(found[0]["known"])


async def recipient_outcomes(rows: Rows, recipient: str, limit: int) -> list[dict[str, Any]]:
    """The person's bounces and unsubscribes (complaints among them), newest first."""
    found = await rows(
        "SELECT type, at, delivery, campaign, category, reason FROM events"
        " WHERE recipient = ? AND type IN ('hard_bounced', 'soft_bounced', 'unsubscribed')"
        " ORDER BY at DESC, id DESC LIMIT ?",
        (recipient, limit),
    )
    return [dict(r) for r in found]

"""The storage interface the server and the command line use; SQLite and PostgreSQL
stores implement it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracker.events import Hit
from tracker.ingest import SendEvent
from tracker.store.rows import ConsentRow
from tracker.store.units import FailedRun, WorkflowRun

# A value bound to a placeholder of the store's SQL.
SqlValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which raw hits a delivery's log shows: each field None shows any."""

    event_type: str | None = None
    recipient: str | None = None
    link: int | None = None
    since: str | None = None
    until: str | None = None
    verdict: str | None = None


EVERY_HIT = LogFilter()


@dataclass(frozen=True, slots=True)
class DeliveryTemplate:
    """A delivery's HTML as decorated, registered for reports and hot clicks, and kept as
    the copy of ``recipients`` (each one's "view in browser" page)."""

    delivery: str
    campaign: str
    email: str
    html: str
    links: tuple[tuple[int, str], ...] = ()
    track_opens: bool = True
    track_clicks: bool = True
    registered_at: str = field(default="")
    recipients: tuple[str, ...] = ()
    # Those of ``recipients`` decorated untracked (consent): direct links, no pixel.
    untracked: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Delivery events to store together; the writer returns an outcome per event.

    Each outcome is ``stored``, ``duplicate`` (an event with this id was stored before) or
    ``ignored`` (the rules keep one: a second Delivered for a message); a stored Delivered
    or bounce whose message no Sent announced is ``stored_unknown_message``.
    """

    events: list[SendEvent]


@dataclass(frozen=True, slots=True)
class WebhookCursor:
    """The last event an endpoint acknowledged."""

    url: str
    cursor: int


@dataclass(frozen=True, slots=True)
class SessionChange:
    """Statements on the dashboard's sessions and failed logins, in SQLite's spelling of
    SQL (the PostgreSQL store translates them), committed in the writer's group."""

    statements: tuple[tuple[str, tuple[SqlValue, ...]], ...]


class UnknownSchema(RuntimeError):
    """The database was written by a newer tracker."""


class StoreUnavailable(RuntimeError):
    """A write could not be committed; the caller's hit is not stored."""


class Store(Protocol):
    """Where hits and events live. Writes return only once durable."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def queue_depth(self) -> int: ...

    async def record(self, hit: Hit) -> None:
        """Store ``hit`` in the raw log and its event (after the dedupe rule)."""

    async def rescore(
        self, since: str, on_chunk: Callable[[int], None] | None = None
    ) -> tuple[int, int]:
        """Re-judge the open and click hits since ``since``: (hits judged, changed);
        ``on_chunk`` hears how many each committed chunk judged."""

    async def count_judged_hits(self, since: str) -> int:
        """How many open and click hits there are since ``since``."""

    async def count_events_after(self, after: int, event_type: str | None) -> int:
        """How many events of the activity log come after cursor ``after``."""

    async def forget(self, recipient: str) -> tuple[int, int]:
        """Erase a person, keeping their suppressions hashed: (hits, events) deleted."""

    async def purge_hits(self, before: str) -> int:
        """Delete raw hits older than ``before``; how many."""

    async def workflow_run(self, unit: WorkflowRun) -> WorkflowRun:
        """Consolidate the activity log after the watermark and record the run."""

    async def workflow_failed(self, unit: FailedRun) -> None:
        """Record a run that failed."""

    async def workflow_backlog(self) -> int:
        """How many events wait after the workflow's watermark."""

    async def workflow_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first."""

    async def last_good_run(self) -> str | None:
        """When the last successful run ended."""

    async def register_delivery(self, template: DeliveryTemplate) -> None:
        """Keep a delivery's numbered links (the latest registration wins), and its HTML as
        the copy of each of ``template.recipients``."""

    async def record_events(self, events: list[SendEvent]) -> list[str]:
        """Store the sending system's events; one outcome per event (see EventBatch)."""

    async def sent_message(self, message: str) -> dict[str, Any] | None:
        """The latest Sent event whose ``message`` is this (a Message-ID, with or without
        its angle brackets): delivery, recipient, campaign, email, message."""

    async def sent_to(self, address: str) -> dict[str, Any] | None:
        """The latest Sent event to ``address`` (any case): as ``sent_message``."""

    async def suppressions(self, recipient: str) -> list[tuple[str, str, str | None]]:
        """The person's Unsubscribed and Hard Bounced events: (type, at, category)."""

    async def suppressions_many(
        self, recipients: list[str]
    ) -> dict[str, list[tuple[str, str, str | None]]]:
        """``suppressions`` for many people at once; absent people have none."""

    async def events_after(
        self, after: int, limit: int, event_type: str | None
    ) -> list[dict[str, Any]]:
        """The activity log in commit order: events whose cursor is above ``after``."""

    async def webhook_cursor(self, url: str) -> int:
        """The cursor of the last event ``url`` acknowledged (0: none yet)."""

    async def save_webhook_cursor(self, cursor: WebhookCursor) -> None:
        """Remember, durably, that the endpoint acknowledged everything up to ``cursor``."""

    async def delivery(self, delivery: str) -> DeliveryTemplate | None:
        """The delivery's registration, with the latest copy registered (for the dashboard)."""

    async def view(self, delivery: str, recipient: str) -> DeliveryTemplate | None:
        """The delivery's registration with ``recipient``'s own copy; None if there is none."""

    async def recipient_tracking(
        self,
        recipient: str,
        event_type: str | None,
        newest_first: bool,
        limit: int,
        traffic: str = "human",
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]: ...

    async def delivery_known(self, delivery: str) -> bool:
        """Whether anything names ``delivery``: a registration, a hit, an event, a count."""

    async def delivery_stats(self, delivery: str, traffic: str = "human") -> dict[str, Any]: ...

    async def delivery_urls(self, delivery: str, traffic: str = "human") -> list[dict[str, Any]]:
        """Per link: URL, clicks, unique clickers, share (``traffic``: human, machine, all)."""

    async def delivery_timeline(
        self, delivery: str, traffic: str = "human"
    ) -> list[dict[str, Any]]:
        """Opens and clicks per hour."""

    async def delivery_clients(self, delivery: str, traffic: str = "human") -> list[dict[str, Any]]:
        """Opens and clicks by mail client and device."""

    async def deliveries(
        self, search: str = "", newest_first: bool = True, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Deliveries whose id contains ``search``, by registration date."""

    async def delivery_logs(
        self,
        delivery: str,
        filters: LogFilter = EVERY_HIT,
        after: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Raw hits after a cursor, filtered (see reports.delivery_logs); the next."""

    async def delivery_summaries(self, traffic: str = "human") -> list[dict[str, Any]]:
        """Every delivery: campaign, email, date and its statistics' figures."""

    async def recipients(self, prefix: str = "", limit: int = 50) -> list[dict[str, Any]]:
        """Recipients whose id starts with ``prefix``, each with their latest event."""

    async def recipients_by_consent(
        self, delivery: str, state: str, after: str = "", limit: int = 50
    ) -> list[dict[str, Any]]:
        """The delivery's recipients whose consent is ``state`` now, by id after ``after``,
        each with when and how it was given."""

    async def recipient_known(self, recipient: str) -> bool:
        """Whether any event or raw hit names ``recipient``."""

    async def recipient_outcomes(self, recipient: str, limit: int = 100) -> list[dict[str, Any]]:
        """The person's bounces and unsubscribes, newest first."""

    async def ping(self) -> None:
        """Raise if the database cannot be read."""

    async def start_session(self, digest: str, key_print: str, expires: int, client: str) -> None:
        """Keep a dashboard session (by its id's digest) and forget the client's failures."""

    async def session(self, digest: str) -> tuple[str, int] | None:
        """A session's key fingerprint and expiry (epoch seconds), or None."""

    async def end_session(self, digest: str) -> None:
        """End one session (logout)."""

    async def end_sessions_except(self, key_prints: list[str], now: int) -> None:
        """End the sessions of every key but ``key_prints``, and the expired ones."""

    async def login_failed(self, client: str, at: int, window: int) -> None:
        """Count a failed login from ``client``; drop failures older than ``window``."""

    async def login_failures(self, client: str, since: int) -> tuple[int, int | None]:
        """How many failed logins ``client`` made since ``since``, and the oldest's time."""

    async def set_consent(
        self, changes: list[ConsentRow], recorded_at: str, erase: bool = False
    ) -> int:
        """Keep consent changes (the latest ``at`` per person is current); with ``erase``
        delete the people's stored hits. Returns the hits deleted."""

    async def consent(self, recipient: str, history: int = 100) -> dict[str, Any]:
        """The person's current consent and their latest changes, newest first."""

    async def consent_states(self, recipients: list[str]) -> dict[str, str]:
        """The current consent state of those of ``recipients`` who stated one."""

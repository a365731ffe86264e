"""A small asyncio client for the sending system: post events, check mailability, decorate.

async with TrackerClient("https://t.example.com", api_key) as tracker:
    await tracker.post_events([{"id": "…", "type": "sent", "delivery": "d", "recipient": "r"}])
    if (await tracker.mailable("r"))["mailable"]:
        mail = await tracker.decorate(delivery="d", campaign="c", email="e",
                                      recipient="r", html=template)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp


class TrackerError(RuntimeError):
    """The server refused a call; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"tracker answered {status}: {body}")
        self.status = status
        self.body = body


class TrackerClient:
    """Calls /api/v1 of a tracker server with a bearer API key."""

    def __init__(
        self, base_url: str, api_key: str, session: aiohttp.ClientSession | None = None
    ) -> None:
        self._base = base_url.rstrip("/") + "/api/v1"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> TrackerClient:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._session is None:
            raise RuntimeError("use 'async with TrackerClient(...)' or pass a session")
        async with self._session.request(
            method, self._base + path, headers=self._headers, **kwargs
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise TrackerError(resp.status, body)
            return body

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Report Sent, Delivered and bounce events; the per-item outcomes."""
        return dict(await self._call("POST", "/events", json=events))

    async def mailable(self, recipient: str, campaign: str | None = None) -> dict[str, Any]:
        """``{mailable, reason, until}`` for one person."""
        params = {"campaign": campaign} if campaign else None
        path = f"/recipients/{quote(recipient, safe='')}/mailable"
        return dict(await self._call("GET", path, params=params))

    async def mailable_many(
        self, recipients: list[str], campaign: str | None = None
    ) -> list[dict[str, Any]]:
        """``mailable`` for a whole list, in its order."""
        body = await self._call(
            "POST", "/mailable", json={"recipients": recipients, "campaign": campaign}
        )
        return list(body["results"])

    async def decorate(self, **fields: Any) -> Any:
        """``{delivery, campaign, email, recipient | recipients, html}`` → ``{html, headers}``
        (a list of them for ``recipients``)."""
        return await self._call("POST", "/decorate", json=fields)

    async def events(
        self, after: str = "0", limit: int = 500, event_type: str | None = None
    ) -> dict[str, Any]:
        """One page of the activity log: ``{items, next}``."""
        params: dict[str, str] = {"after": after, "limit": str(limit)}
        if event_type:
            params["type"] = event_type
        return dict(await self._call("GET", "/events", params=params))

    async def iter_events(
        self, after: str = "0", limit: int = 500
    ) -> AsyncIterator[dict[str, Any]]:
        """Every event stored after ``after``, page by page, until none is left for now."""
        while True:
            page = await self.events(after, limit)
            for item in page["items"]:
                after = item["cursor"]
                yield item
            if page["next"] is None:
                return

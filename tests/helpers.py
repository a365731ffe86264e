"""Helpers several test modules share: a clock the test moves, the app trusting the test
client as its proxy, the dashboard's login and cells, the CLI run in a thread, and a token
that inflates past any real one."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from itsdangerous import Signer, base64_encode

from tests.conftest import API_KEY
from tracker.app import create_app
from tracker.cli import main
from tracker.config import Settings
from tracker.tokens import MAX_TOKEN_LENGTH

START = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves instead of sleeping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def trusting_app(settings: Settings, clock: Clock, **changes: Any) -> web.Application:
    """The app on ``clock``, trusting the test client (127.0.0.1) as its proxy."""
    proxies = (ipaddress.ip_network("127.0.0.1/32"),)
    return create_app(replace(settings, trusted_proxies=proxies, **changes), clock=clock)


async def app_client(aiohttp_client: Any, settings: Settings, clock: Clock) -> TestClient:
    """A client of the app on ``clock`` that passes the client's address on."""
    # The test client connects from 127.0.0.1: trust it to pass the client's address on.
    trusting = replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    client: TestClient = await aiohttp_client(create_app(trusting, clock=clock))
    return client


def came_from(address: str, user_agent: str) -> dict[str, str]:
    """The headers of a request from ``address`` (through the trusted proxy)."""
    return {"X-Forwarded-For": address, "User-Agent": user_agent}


async def logged_in(client: TestClient) -> None:
    """Log ``client`` in to the dashboard with the API key."""
    resp = await client.post("/ui/login", data={"key": API_KEY}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/ui/"


def cell(page: str, attribute: str, key: str) -> str:
    """The text of the dashboard's table cell ``<td attribute="key">``."""
    found = re.search(rf'<td {attribute}="{key}">([^<]*)</td>', page)
    assert found is not None, f"{attribute}={key} not on the page"
    return found[1]


async def cli(*args: str) -> str:
    """Run ``tracker *args`` in a thread (the ``cli_env`` fixture sets its environment)."""
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args))
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def inflating_token(salt: str, *items: object, key: str = "k") -> str:
    """A token signed with the key whose payload inflates to over 1 MB (JSON whitespace
    before real items): what anyone holding the key, or a bug, could make."""
    payload = ("[" + " " * 1_000_000 + ",".join(json.dumps(i) for i in items) + "]").encode()
    token = Signer(key, salt=salt).sign(b"." + base64_encode(zlib.compress(payload, 9)))
    assert len(token) < MAX_TOKEN_LENGTH
    return token.decode("ascii")

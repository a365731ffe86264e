"""Shared fixtures: settings on a real temporary SQLite file, the app, a client, the rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

API_KEY = "api-test-key"
OLD_KEY = "signing-key-old"
NEW_KEY = "signing-key-new"
BASE_URL = "http://tracker.test"

Rows = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_keys=(OLD_KEY, NEW_KEY),
        api_keys=(API_KEY, "second-api-key"),
        base_url=BASE_URL,
        forget_key="test-forget-key",
    )


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    return Tokens(settings.secret_keys)


@pytest.fixture
def message() -> Message:
    return Message("delivery-1", "recipient-1", "campaign-1", "email-1")


@pytest.fixture
def click_token(tokens: Tokens, message: Message) -> str:
    return tokens.click_token(Click(message, 0, "https://example.com/landing?a=1&b=2"))


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


# A person's mail program (Apple Mail on a Mac): what most test hits claim to be. The
# user-agent signal calls aiohttp's own user agent a machine's, as it should.
PERSON = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15"
    " (KHTML, like Gecko)"
}


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """A client of the app whose requests come from a person's mail program."""
    return await aiohttp_client(create_app(settings), headers=PERSON)


@pytest.fixture
def rows(settings: Settings) -> Rows:
    """Read committed rows straight from the SQLite file, as an operator would."""

    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(settings.sqlite_path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    return query

"""Shared fixtures: settings on each store (a real temporary SQLite file, a schema of a
real PostgreSQL server), the app, a client, the rows.

Every test that takes ``settings`` runs once per store; a test marked ``sqlite_only``
(it reads SQLite's file itself) runs on SQLite alone.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import pgserver
from tracker import logs
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import Click, Message, Tokens

# The server's log lines go to stderr, as `tracker serve` has them: structlog's default
# (stdout) would put a background task's line into a command's output read by a test.
logs.configure("json", "info")

API_KEY = "api-test-key-at-least-32-characters"
OLD_KEY = "signing-key-old-at-least-32-characters"
NEW_KEY = "signing-key-new-at-least-32-characters"
BASE_URL = "http://tracker.test"

Rows = Callable[..., list[dict[str, Any]]]


STORES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): runs on the SQLite store only")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for the session (started here when needed)."""
    given = os.environ.get("TRACKER_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    required = os.environ.get("TRACKER_TEST_REQUIRE_POSTGRES") == "1"
    if pgserver.binaries() is None and not required:
        pytest.skip("PostgreSQL is not installed: the PostgreSQL store is not tested")
    server = pgserver.PostgresServer()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A database of the server for this session, dropped at its end."""
    url = pgserver.new_database(postgres_server)
    try:
        yield url
    finally:
        pgserver.drop_database(url)


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store in turn: "" (SQLite in the test's directory) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield ""
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else ''}")
    yield pgserver.new_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_keys=(OLD_KEY, NEW_KEY),
        api_keys=(API_KEY, "second-api-key-at-least-32-characters"),
        base_url=BASE_URL,
        forget_key="test-forget-key-at-least-32-characters",
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
    """Read committed rows straight from the database, as an operator would."""
    if settings.database_url:
        url = settings.database_url
        return lambda sql, *params: pgserver.query(url, sql, *params)

    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(settings.sqlite_path)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    return query


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment ``tracker`` commands read, naming the test's store and keys."""
    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    monkeypatch.setenv("TRACKER_FORGET_KEY", settings.forget_key)

"""GET /v/{token}: the recipient's copy of the delivery, links tracked, scripts refused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from tests.conftest import Rows
from tracker.cli import main
from tracker.config import Settings
from tracker.store.sqlite import schema
from tracker.tokens import Message, Tokens

TEMPLATE = """<html><body>
<p><a href="{{view_in_browser_url}}">View in your browser</a></p>
<p><a href="https://shop.example/sale">Sale</a></p>
<script>document.title = "script ran"</script>
</body></html>"""


async def test_view_in_browser_shows_the_recipients_copy(
    client: TestClient, auth: dict[str, str], tokens: Tokens
) -> None:
    ids = {"delivery": "d1", "campaign": "c1", "email": "e1", "recipient": "alice"}
    resp = await client.post("/api/v1/decorate", json={**ids, "html": TEMPLATE}, headers=auth)
    mail = (await resp.json())["html"]
    view = mail.split('href="', 1)[1].split('"', 1)[0]
    assert "/v/" in view
    page = await client.get(view[view.index("/v/") :])
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox ") and "allow-scripts" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    html = await page.text()
    click = html.split("/c/", 1)[1].split('"', 1)[0]
    assert tokens.read_click(click).message.recipient == "alice"
    assert "/o/" not in html, "reading the copy is not an open"


async def test_view_of_a_bad_token_or_unknown_delivery_is_404(
    client: TestClient, tokens: Tokens
) -> None:
    assert (await client.get("/v/garbage")).status == 404
    unknown = tokens.view_token(Message("never-registered", "r", "c", "e"))
    assert (await client.get(f"/v/{unknown}")).status == 404
    other_purpose = tokens.open_token(Message("d1", "r", "c", "e"))
    assert (await client.get(f"/v/{other_purpose}")).status == 404


def _view_path(mail: str) -> str:
    view = mail.split('href="', 1)[1].split('"', 1)[0]
    return view[view.index("/v/") :]


async def test_each_recipient_sees_their_own_copy_and_forget_removes_it(
    client: TestClient,
    auth: dict[str, str],
    settings: Settings,
    rows: Rows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A personalised copy is never shown to another recipient, and goes with ``forget``."""
    ids = {"delivery": "stmt", "campaign": "c1", "email": "e1"}
    views = {}
    for who, text in (("alice", "Hello Alice, balance 1111"), ("bob", "Hello Bob, balance 2222")):
        html = TEMPLATE.replace("<body>", f"<body><p>{text}</p>")
        resp = await client.post(
            "/api/v1/decorate", json={**ids, "recipient": who, "html": html}, headers=auth
        )
        assert resp.status == 200
        views[who] = _view_path((await resp.json())["html"])
    shared = TEMPLATE.replace("<body>", "<body><p>Hello, our sale</p>")
    resp = await client.post(
        "/api/v1/decorate", json={**ids, "recipients": ["carol", "dan"], "html": shared},
        headers=auth,
    )  # fmt: skip
    for who, answer in zip(("carol", "dan"), await resp.json(), strict=True):
        views[who] = _view_path(answer["html"])

    async def page(who: str) -> tuple[int, str]:
        resp = await client.get(views[who])
        return resp.status, await resp.text()

    status, alice = await page("alice")
    assert status == 200 and "balance 1111" in alice and "Bob" not in alice
    status, bob = await page("bob")
    assert status == 200 and "balance 2222" in bob and "Alice" not in bob
    for who in ("carol", "dan"):
        status, html = await page(who)
        assert status == 200 and "Hello, our sale" in html and "balance" not in html

    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    monkeypatch.setenv("TRACKER_FORGET_KEY", settings.forget_key)
    for who in ("bob", "carol"):
        result = await asyncio.to_thread(CliRunner().invoke, main, ["forget", who])
        assert result.exit_code == 0, result.output

    status, bob = await page("bob")
    assert status == 404 and "2222" not in bob
    status, alice = await page("alice")
    assert status == 200 and "balance 1111" in alice, "forgetting Bob keeps Alice's copy"
    assert (await page("carol"))[0] == 404
    status, dan = await page("dan")
    assert status == 200 and "Hello, our sale" in dan, "a copy others share stays for them"
    stored = json.dumps(rows("SELECT * FROM deliveries")) + json.dumps(
        [r["html"] for r in rows("SELECT html FROM copies")]
    )
    assert "balance 1111" in stored, "the search can find what is stored"
    assert "2222" not in stored and "Bob" not in stored
    if not settings.database_url:
        db = settings.sqlite_path
        on_disk = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
        assert b"balance 1111" in on_disk and b"balance 2222" not in on_disk


def test_the_html_an_older_version_kept_per_delivery_is_not_shown_again(tmp_path: Path) -> None:
    """Before copies were kept per recipient, a delivery kept the last one decorated."""
    conn = sqlite3.connect(tmp_path / "tracker.db", isolation_level=None)
    for migration in schema.MIGRATIONS[:10]:
        conn.executescript(migration)
    conn.execute("PRAGMA user_version = 10")
    conn.execute(
        "INSERT INTO deliveries (delivery, campaign, email, html, registered_at)"
        " VALUES ('stmt', 'c1', 'e1', '<p>Hello Bob, balance 2222</p>', '2026-01-01')"
    )
    assert schema.migrate(conn) == 10
    assert conn.execute("SELECT delivery, html FROM deliveries").fetchall() == [("stmt", "")]
    conn.close()

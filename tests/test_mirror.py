"""GET /v/{token}: the recipient's copy of the delivery, links tracked, scripts refused."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

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

"""The consent API: a person's state and history, withdrawal with erase, bulk imports."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from tests.conftest import Rows
from tracker.cli import main
from tracker.keys import STORE
from tracker.tokens import Message, Tokens


async def put(
    client: TestClient, auth: dict[str, str], who: str, body: Any, query: str = ""
) -> Any:
    return await client.put(f"/api/v1/recipients/{who}/consent{query}", json=body, headers=auth)


async def test_a_state_is_kept_with_its_history_and_read_back(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    never = await (await client.get("/api/v1/recipients/ann/consent", headers=auth)).json()
    assert (never["state"], never["at"], never["history"]) == ("unknown", None, [])

    given = {"state": "granted", "text": "Yes, measure my opens", "at": "2026-11-01T09:00:00Z"}
    answer = await put(client, auth, "ann", given)
    assert answer.status == 200
    withdrawn = await put(client, auth, "ann", {"state": "denied", "source": "page"})
    assert withdrawn.status == 200
    now = await withdrawn.json()
    assert (now["state"], now["source"], now["text"]) == ("denied", "page", None)
    assert [(h["state"], h["source"]) for h in now["history"]] == [
        ("denied", "page"),
        ("granted", "api"),
    ]
    assert now["history"][1]["text"] == "Yes, measure my opens"
    assert now["history"][1]["at"] == "2026-11-01T09:00:00.000000Z"
    assert rows("SELECT recipient, state FROM consent") == [{"recipient": "ann", "state": "denied"}]
    assert len(rows("SELECT id FROM consent_history WHERE recipient = 'ann'")) == 2


async def test_an_older_state_is_history_not_current(
    client: TestClient, auth: dict[str, str]
) -> None:
    await put(client, auth, "ann", {"state": "denied", "at": "2026-11-02T00:00:00Z"})
    late = await put(client, auth, "ann", {"state": "granted", "at": "2026-10-01T00:00:00Z"})
    answer = await late.json()
    assert answer["state"] == "denied"
    assert len(answer["history"]) == 2


async def test_bad_input_is_a_clear_400(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    for body, named in [
        ({"state": "maybe"}, "state: must be one of granted, denied, unknown"),
        ({}, "state: required"),
        ([], "item: must be an object"),
        ({"state": "granted", "source": "phone"}, "source: must be one of api, page, import"),
        ({"state": "granted", "at": "yesterday"}, "at: not an ISO 8601 time"),
        ({"state": "granted", "at": "2099-01-01T00:00:00Z"}, "at: is in the future"),
        ({"state": "granted", "text": 5}, "text: must be a string"),
        ({"state": "granted", "text": "a\x00b"}, "text: must be printable"),
        ({"state": "granted", "text": "x" * 2001}, "at most 2000"),
    ]:
        answer = await put(client, auth, "ann", body)
        assert answer.status == 400, body
        assert named in (await answer.json())["message"], body
    erase_granted = await put(client, auth, "ann", {"state": "granted"}, "?erase=true")
    assert erase_granted.status == 400
    assert (await put(client, auth, "ann", {"state": "denied"}, "?erase=yes")).status == 400
    no_key = await client.put("/api/v1/recipients/ann/consent", json={"state": "denied"})
    assert no_key.status == 401
    assert rows("SELECT * FROM consent_history") == []


async def test_withdrawal_with_erase_deletes_the_persons_hits_and_keeps_counts(
    client: TestClient, auth: dict[str, str], tokens: Tokens, rows: Rows
) -> None:
    ann, ben = Message("d1", "ann", "c", "e"), Message("d1", "ben", "c", "e")
    for m in (ann, ben):
        assert (await client.get(f"/o/{tokens.open_token(m)}.gif")).status == 200
    before = await (await client.get("/api/v1/deliveries/d1/stats", headers=auth)).json()

    answer = await put(client, auth, "ann", {"state": "denied"}, "?erase=true")
    assert answer.status == 200
    assert (await answer.json())["erased_hits"] == 1
    assert [r["recipient"] for r in rows("SELECT recipient FROM hits")] == ["ben"]
    after = await (await client.get("/api/v1/deliveries/d1/stats", headers=auth)).json()
    assert after["opened"] == before["opened"] == 2


async def test_ten_thousand_states_are_imported_in_one_request(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    items = [
        {"recipient": f"person-{n:05d}", "state": ("granted", "denied", "unknown")[n % 3]}
        for n in range(10_000)
    ]
    body = {"items": items, "text": "Newsletter form, March 2026", "at": "2026-03-01T00:00:00Z"}
    answer = await client.post("/api/v1/consent", json=body, headers=auth)
    assert answer.status == 200, await answer.text()
    assert (await answer.json())["counts"] == {"stored": 10_000}
    mix = rows(
        "SELECT state, count(*) AS n, min(source) AS source FROM consent"
        " GROUP BY state ORDER BY state"
    )
    assert [(r["state"], r["n"], r["source"]) for r in mix] == [
        ("denied", 3333, "import"),
        ("granted", 3334, "import"),
        ("unknown", 3333, "import"),
    ]
    one = await (await client.get("/api/v1/recipients/person-00004/consent", headers=auth)).json()
    assert (one["state"], one["text"], one["at"]) == (
        "denied",
        "Newsletter form, March 2026",
        "2026-03-01T00:00:00.000000Z",
    )


async def test_an_import_reports_bad_items_and_keeps_the_good(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    items: list[Any] = [
        {"recipient": "ann", "state": "granted"},
        {"recipient": "", "state": "granted"},
        {"recipient": "ben", "state": "no"},
        "cyd",
        {"recipient": "dee", "state": "denied", "at": "2026-11-01T00:00:00Z"},
        {"recipient": "dee", "state": "granted", "at": "2026-11-02T00:00:00Z"},
    ]
    answer = await client.post("/api/v1/consent", json=items, headers=auth)
    result = await answer.json()
    assert result["counts"] == {"stored": 3, "invalid": 3}
    assert [r["status"] for r in result["results"]] == [
        "stored", "invalid", "invalid", "invalid", "stored", "stored",
    ]  # fmt: skip
    assert "recipient" in result["results"][1]["error"]
    current = rows("SELECT recipient, state FROM consent ORDER BY recipient")
    assert current == [
        {"recipient": "ann", "state": "granted"},
        {"recipient": "dee", "state": "granted"},
    ]
    too_many = [{"recipient": "x", "state": "granted"}] * 10_001
    over = await client.post("/api/v1/consent", json=too_many, headers=auth)
    assert over.status in (413,)
    assert (await client.post("/api/v1/consent", json=[], headers=auth)).status == 400
    bad_default = await client.post(
        "/api/v1/consent", json={"items": items[:1], "source": "fax"}, headers=auth
    )
    assert bad_default.status == 400


@pytest.mark.usefixtures("cli_env")
async def test_changes_are_in_the_activity_log_the_export_and_forget_erases_them(
    client: TestClient, auth: dict[str, str], rows: Rows
) -> None:
    await put(client, auth, "ann", {"state": "granted", "text": "Measure my opens"})
    await client.post("/api/v1/consent", json=[{"recipient": "ann", "state": "denied"}],
                      headers=auth)  # fmt: skip
    log = await (await client.get("/api/v1/events?type=consent", headers=auth)).json()
    assert [(i["recipient"], i["state"], i["cause"]) for i in log["items"]] == [
        ("ann", "granted", "api"),
        ("ann", "denied", "import"),
    ]
    assert log["items"][0]["reason"] == "Measure my opens"
    tracking = await client.get("/api/v1/recipients/ann/tracking?sort=asc", headers=auth)
    assert [i["state"] for i in (await tracking.json())["items"]] == ["granted", "denied"]
    assert await client.app[STORE].deliveries("") == [], "a change is in no delivery"

    result = await asyncio.to_thread(CliRunner().invoke, main, ["export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    exported = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["type"], r["state"], r["cause"]) for r in exported] == [
        ("consent", "granted", "api"),
        ("consent", "denied", "import"),
    ]

    forgotten = await asyncio.to_thread(CliRunner().invoke, main, ["forget", "ann"])
    assert forgotten.exit_code == 0, forgotten.output
    assert rows("SELECT * FROM consent") == []
    assert rows("SELECT * FROM consent_history") == []
    assert rows("SELECT * FROM events") == []

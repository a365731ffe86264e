"""tracker report and tracker export: the same numbers as the API, as tables, JSON or CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from click.testing import CliRunner

from tests.conftest import Rows
from tests.helpers import START, Clock, cli, trusting_app
from tests.mailing import DELIVERY, mail
from tracker.cli import main
from tracker.config import Settings
from tracker.tokens import Tokens


async def test_reports_and_export_match_the_api(
    aiohttp_client: Any,
    settings: Settings,
    tokens: Tokens,
    auth: dict[str, str],
    rows: Rows,
    cli_env: None,
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    await mail(client, clock, tokens, auth, START)

    api_stats = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/stats",
                                        headers=auth)).json()  # fmt: skip
    api_urls = await (await client.get(f"/api/v1/deliveries/{DELIVERY}/urls",
                                       headers=auth)).json()  # fmt: skip
    found = json.loads(await cli("report", "delivery", DELIVERY, "--json"))
    assert found["stats"] == {k: v for k, v in api_stats.items() if k != "delivery"}
    assert found["urls"] == api_urls

    table = await cli("report", "delivery", DELIVERY)
    lines = {line.split()[0]: line.split()[-1] for line in table.splitlines() if line.strip()}
    assert lines["sent"] == "30" and lines["opened"] == str(api_stats["opened"])
    assert lines["unique_clickers"] == str(api_stats["unique_clickers"])
    with_bots = json.loads(await cli("report", "delivery", DELIVERY, "--bots", "include", "--json"))
    assert with_bots["stats"]["clicks"] == api_stats["clicks"] + api_stats["bots"]["bot_clicks"]

    resp = await client.get("/api/v1/recipients/p03/tracking?sort=asc&limit=1000", headers=auth)
    theirs = (await resp.json())["items"]
    assert json.loads(await cli("report", "recipient", "p03", "--json"))["items"] == theirs
    text = await cli("report", "recipient", "p03")
    assert text.count("\n") >= len(theirs) + 3  # a title, a header and a rule, then rows

    everything = rows("SELECT id FROM events ORDER BY id")
    jsonl = [json.loads(line) for line in (await cli("export")).splitlines()]
    assert [int(e["cursor"]) for e in jsonl] == [r["id"] for r in everything]
    table_csv = list(csv.DictReader(io.StringIO(await cli("export", "--format", "csv"))))
    assert [r["cursor"] for r in table_csv] == [e["cursor"] for e in jsonl]
    assert [r["type"] for r in table_csv] == [e["type"] for e in jsonl]
    middle = jsonl[len(jsonl) // 2]["cursor"]
    rest = [json.loads(line) for line in (await cli("export", "--after", middle)).splitlines()]
    assert rest == jsonl[len(jsonl) // 2 + 1 :]
    clicked = (await cli("export", "--type", "clicked")).splitlines()
    assert len(clicked) == sum(1 for e in jsonl if e["type"] == "clicked")


async def test_report_of_a_delivery_nothing_is_known_of_says_so(
    settings: Settings, cli_env: None
) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["report", "delivery", "no-such-delivery"]
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: no delivery 'no-such-delivery': nothing was sent, decorated or tracked for it\n"
    )
    template = settings.data_dir / "mail.html"
    template.write_text("<p>Hi</p>", encoding="utf-8")
    await cli("decorate", str(template), "--delivery", "quiet", "--campaign", "c",
              "--email", "e", "--recipient", "r")  # fmt: skip
    found = json.loads(await cli("report", "delivery", "quiet", "--json"))
    assert (found["stats"]["sent"], found["stats"]["opened"], found["urls"]) == (0, 0, [])

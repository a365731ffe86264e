"""The command line: decorate registers the delivery; keys rotate keeps old links working."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import pgserver
from tracker.cli import main
from tracker.config import Settings
from tracker.tokens import Tokens

TEMPLATE = """<html><body>
<a href="https://example.com/a?x=1&amp;y=2">A</a>
<a href="mailto:help@example.com">mail</a>
<a href="https://example.com/b">B</a>
</body></html>
"""
IDS = ["--delivery", "d1", "--campaign", "c1", "--email", "e1", "--recipient", "r1"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("DATA_DIR", "SECRET_KEYS", "API_KEYS", "DATABASE_URL", "BASE_URL"):
        monkeypatch.delenv(f"TRACKER_{name}", raising=False)
    (tmp_path / "email.html").write_text(TEMPLATE, encoding="utf-8")
    return tmp_path


def test_decorate_prints_json_and_registers_the_delivery(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["decorate", "email.html", *IDS, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert out["headers"]["List-Unsubscribe"].startswith("<http://localhost:8080/u/")
    # Two links and the invisible honeypot link (see tracker.verdicts).
    assert out["html"].count('href="http://localhost:8080/c/') == 3
    assert out["html"].count('aria-hidden="true" tabindex="-1"') == 1
    assert 'href="mailto:help@example.com"' in out["html"]
    assert "/o/" in out["html"]
    assert "bounce_address" not in out  # no TRACKER_BOUNCE_DOMAIN
    assert out["headers"]["X-Tracker-Message"]

    db = sqlite3.connect(workdir / "tracker-data" / "tracker.db")
    assert db.execute("SELECT delivery, campaign, email FROM deliveries").fetchall() == [
        ("d1", "c1", "e1")
    ]
    assert db.execute("SELECT link, url FROM links ORDER BY link").fetchall() == [
        (0, "https://example.com/a?x=1&y=2"),
        (1, "https://example.com/b"),
    ]


def test_decorate_json_gives_the_verp_address_with_a_bounce_domain(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_BOUNCE_DOMAIN", "bounces.example.com")
    result = CliRunner().invoke(main, ["decorate", "email.html", *IDS, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    token = out["headers"]["X-Tracker-Message"]
    assert out["bounce_address"] == f"b-{token}@bounces.example.com"


def test_decorate_refuses_bad_ids(workdir: Path) -> None:
    args = ["decorate", "email.html", *IDS[:-1], "x" * 300]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "1 to 256 characters" in result.output


def test_keys_rotate_adds_a_signing_key_and_keeps_the_old(workdir: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["decorate", "email.html", *IDS, "--json"])
    old_token = json.loads(first.output)["html"].split("/c/", 1)[1].split('"', 1)[0]
    result = runner.invoke(main, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    keys = (workdir / "tracker-data" / "secret_keys").read_text().split()
    assert len(keys) == 2
    assert Tokens(keys).read_click(old_token).url == "https://example.com/a?x=1&y=2"
    second = runner.invoke(main, ["decorate", "email.html", *IDS, "--json"])
    new_token = json.loads(second.output)["html"].split("/c/", 1)[1].split('"', 1)[0]
    assert Tokens(keys[-1:]).read_click(new_token).link == 0, "the newest key signs"


def test_keys_rotate_with_configured_keys_prints_a_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_SECRET_KEYS", "configured-key-at-least-32-characters")
    result = CliRunner().invoke(main, ["keys", "rotate"])
    assert result.exit_code == 0
    assert "TRACKER_SECRET_KEYS" in result.output
    assert not (workdir / "tracker-data" / "secret_keys").exists()


def test_db_migrate_brings_the_schema_up_and_refuses_a_newer_one(workdir: Path) -> None:
    from tracker.store.sqlite.schema import SCHEMA_VERSION

    first = CliRunner().invoke(main, ["db", "migrate"])
    assert first.exit_code == 0, first.output
    assert f"schema version 0 -> {SCHEMA_VERSION}." in first.output
    again = CliRunner().invoke(main, ["db", "migrate"])
    assert f"schema version {SCHEMA_VERSION}, nothing to do." in again.output

    db = sqlite3.connect(workdir / "tracker-data" / "tracker.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    refused = CliRunner().invoke(main, ["db", "migrate"])
    assert refused.exit_code == 1
    assert "is newer than this tracker's" in refused.output and "upgrade tracker" in refused.output

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    served = subprocess.run(
        [sys.executable, "-m", "tracker", "serve", "--port", "0"],
        cwd=workdir, env={**env, "TRACKER_LOG_FORMAT": "json"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert served.returncode == 1
    assert "Error: database schema version" in served.stderr
    assert "Traceback" not in served.stderr, "a clear message, not a stack trace"


def test_db_migrate_on_postgresql_and_the_server_refuses_a_newer_schema(
    postgres_database: str, tmp_path: Path
) -> None:
    from tracker.store.postgres.schema import SCHEMA_VERSION

    url = pgserver.new_schema(postgres_database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=str(tmp_path), TRACKER_LOG_FORMAT="json")

    def tracker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracker", *args], env=env,
                              capture_output=True, text=True, timeout=30)  # fmt: skip

    first = tracker("db", "migrate")
    assert first.returncode == 0, first.stderr
    assert f"schema version 0 -> {SCHEMA_VERSION}." in first.stdout
    assert "search_path" not in first.stdout, "the URL is shown without its query"
    assert f"schema version {SCHEMA_VERSION}, nothing to do." in tracker("db", "migrate").stdout

    pgserver.query(url, "UPDATE schema_version SET version = ?", SCHEMA_VERSION + 1)
    refused = tracker("db", "migrate")
    assert refused.returncode == 1 and "upgrade tracker" in refused.stderr
    served = tracker("serve", "--port", "0")
    assert served.returncode == 1
    assert "Error: database schema version" in served.stderr
    assert "Traceback" not in served.stderr
    backup = tracker("db", "backup", str(tmp_path / "copy.db"))
    assert backup.returncode == 1 and "pg_dump" in backup.stderr


def test_db_backup_copies_a_database_in_use(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    migrated = CliRunner().invoke(main, ["db", "migrate"])
    assert migrated.exit_code == 0
    db = sqlite3.connect(workdir / "tracker-data" / "tracker.db")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO hits (at, route, method, outcome, delivery, recipient, campaign, email)"
        " VALUES ('2026-11-23T00:00:00Z', 'open', 'GET', 'pixel', 'd', ?, 'c', 'e')",
        [(f"r{i}",) for i in range(5000)],
    )
    db.execute("COMMIT")
    writing = subprocess.Popen(  # another process keeps writing during the copy
        [sys.executable, "-c",
         "import sqlite3, time\n"
         "c = sqlite3.connect('tracker-data/tracker.db', isolation_level=None)\n"
         "c.execute('PRAGMA busy_timeout = 5000')\n"
         "for i in range(300):\n"
         "    c.execute(\"INSERT INTO hits (at, route, method, outcome, delivery, recipient,"
         " campaign, email) VALUES ('2026-11-23T00:00:01Z', 'open', 'GET', 'pixel', 'd', 'w',"
         " 'c', 'e')\")\n    time.sleep(0.001)\n"],
        cwd=workdir, env=env,
    )  # fmt: skip
    result = CliRunner().invoke(main, ["db", "backup", "copy.db"])
    writing.wait(timeout=30)
    assert result.exit_code == 0, result.output
    assert "integrity check ok" in result.output
    copied = sqlite3.connect(workdir / "copy.db")
    assert copied.execute("SELECT count(*) FROM hits WHERE recipient != 'w'").fetchone() == (5000,)
    again = CliRunner().invoke(main, ["db", "backup", "copy.db"])
    assert again.exit_code == 1 and "exists" in again.output


def test_a_commands_log_lines_go_to_stderr_not_into_its_output(workdir: Path) -> None:
    """`tracker workflow run` logs its run: on stderr, so stdout holds only its answer."""
    result = subprocess.run(
        [sys.executable, "-m", "tracker", "workflow", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TRACKER_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert re.fullmatch(
        r"Workflow run in \d+\.\d s: 0 events read, 0 report rows written,"
        r" 0 expired hits deleted; watermark 0\.",
        line,
    )
    assert json.loads(result.stderr.splitlines()[-1])["event"] == "tracking workflow run"


@pytest.mark.parametrize("module", ["tracker", "tracker.cli"])
def test_help_lists_every_command(module: str) -> None:
    """`python -m tracker.cli --help` and `python -m tracker --help` name all 11 commands."""
    commands = {"serve", "decorate", "check", "keys", "rescore", "forget", "workflow", "report",
                "export", "db", "bounces"}  # fmt: skip
    assert set(main.commands) == commands, "a new command belongs in this list"
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listed = result.stdout.partition("Commands:")[2].split("\n")
    names = {line.split()[0] for line in listed if line[2:3].strip() and line.startswith("  ")}
    assert names == commands, result.stdout


async def test_export_pages_through_more_than_a_page_of_events(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,345 events are read 1,000 at a time: every one exported once, in cursor order."""
    from datetime import UTC, datetime

    from tracker.ingest import parse_item
    from tracker.store import open_store

    monkeypatch.setenv("TRACKER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", ",".join(settings.secret_keys))
    now = datetime.now(UTC)
    kinds = ["sent", "delivered", "soft_bounced"]
    items = [
        {"type": kinds[i % 3], "id": f"ev{i}", "delivery": "d1", "recipient": f"r{i}"}
        for i in range(2345)
    ]
    store = open_store(settings)
    await store.open()
    try:
        outcomes = await store.record_events([parse_item(i, now) for i in items])
        assert all(o.startswith("stored") for o in outcomes) and len(outcomes) == len(items)
    finally:
        await store.close()

    def export(*args: str) -> list[dict[str, str]]:
        result = CliRunner().invoke(main, ["export", *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    everything = await asyncio.to_thread(export)
    assert [e["id"] for e in everything] == [i["id"] for i in items]
    cursors = [int(e["cursor"]) for e in everything]
    assert cursors == sorted(set(cursors))
    rest = await asyncio.to_thread(export, "--after", str(cursors[999]))
    assert [e["id"] for e in rest] == [i["id"] for i in items[1000:]]
    delivered = await asyncio.to_thread(export, "--type", "delivered")
    assert [e["id"] for e in delivered] == [i["id"] for i in items if i["type"] == "delivered"]

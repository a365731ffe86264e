"""The tests' data lives in the repository: a clone with nothing beside it runs every test."""

from __future__ import annotations

import csv
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"


def test_every_data_file_is_in_the_repository_and_named_in_sources() -> None:
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.name != "SOURCES.md")
    names = {p.name for p in files}
    # The corpora the tests read: the email templates and the crawler user agents.
    assert "crawler-user-agents-sample.json" in names
    assert "well-known-bots-sample.json" in names
    assert len([n for n in names if n.endswith(".html")]) == 6
    # The bounce corpus: one section for its 440 messages, each one labelled.
    bounces = DATA / "bounces"
    labelled = (bounces / "labels.csv").read_text(encoding="utf-8")
    section = sources.split("## `bounces/`", 1)[1].split("\n## ", 1)[0]
    assert "BSD 2-Clause" in section and "rb-sisimai" in section
    # Corrected labels carry their reason, and SOURCES.md counts them.
    with (bounces / "labels.csv").open(newline="", encoding="utf-8") as rows:
        noted = [row for row in csv.DictReader(rows) if row["note"]]
    counted = re.search(r"Corrected labels: \*\*(\d+)\*\* rows", section)
    assert counted and int(counted.group(1)) == len(noted)
    assert all(row["note"].startswith("Corrected from ") for row in noted)
    for path in files:
        if bounces in path.parents:
            assert path.name == "labels.csv" or f"{path.name}," in labelled, path.name
            continue
        rows = [line for line in sources.splitlines() if f"`{path.name}`" in line]
        assert rows, f"{path.name} is not named in tests/data/SOURCES.md"
        assert re.search(r"MIT|Apache-2\.0|CC BY-SA", rows[0]), f"{path.name}: no licence"


def test_no_test_reads_outside_the_repository() -> None:
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        assert "parents[2]" not in text, f"{path.name} reads beside the repository"
        assert "shared/corpora" not in text, f"{path.name} reads ../shared"

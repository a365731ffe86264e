"""The command line for long work and for people: progress on a terminal, a summary at
the end, Ctrl-C between chunks, honest answers and help that reads whole."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tests.helpers import START, Clock, cli, trusting_app
from tests.mailing import DELIVERY, mail
from tracker.cli import main
from tracker.config import Settings
from tracker.store.sqlite.schema import migrate
from tracker.store.sqlite.store import connect
from tracker.tokens import Tokens


def environment(settings: Settings, **more: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=",".join(settings.secret_keys),
        TRACKER_FORGET_KEY=settings.forget_key,
        TRACKER_LOG_FORMAT="auto",
    )
    env.update(more)
    return env


BIG = 200_000  # events
HITS = 50_000  # open and click hits among them (rescore judges those)
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with 200,000 events: 50,000 open and click hits with theirs, and Sent
    events (written directly)."""
    data = tmp_path_factory.mktemp("big") / "data"
    data.mkdir()
    conn = connect(data / "tracker.db", "OFF")
    migrate(conn)
    conn.execute("BEGIN")
    hits, events = [], []
    for i in range(1, HITS + 1):
        route, kind = ("open", "opened") if i % 2 else ("click", "clicked")
        at = f"2026-11-01T{i // 10_000 % 24:02d}:{i // 100 % 60:02d}:{i % 60:02d}.000000Z"
        person, link = f"p{i % 50_000}", (None if route == "open" else i % 5)
        hits.append((i, at, route, "GET", "ok", f"d{i % 20}", person, "c", "e", link, None,
                     "81.2.69.0", UA, "human", "", "Chrome", "desktop"))  # fmt: skip
        dedupe = f"o:{person}:{i}" if route == "open" else None
        events.append((kind, at, f"d{i % 20}", person, "c", "e", link, None, i, dedupe, "human"))
    conn.executemany(f"INSERT INTO hits VALUES ({','.join('?' * 17)})", hits)
    conn.executemany(
        "INSERT INTO events (type, at, delivery, recipient, campaign, email, link, url, hit_id,"
        " dedupe, verdict) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        events,
    )
    conn.executemany(
        "INSERT INTO events (type, at, delivery, recipient, campaign, email, message, event_id)"
        " VALUES ('sent', '2026-10-31T00:00:00.000000Z', ?, ?, 'c', 'e', ?, ?)",
        [(f"d{i % 20}", f"p{i}", f"m{i}", f"s{i}") for i in range(BIG - HITS)],
    )
    conn.execute("COMMIT")
    conn.close()
    return data


def copy_of(big_store: Path, tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    shutil.copytree(big_store, data)
    return Settings(data_dir=data, secret_keys=("k" * 40,), forget_key="f" * 40)


def bar_ends_at(screen: str, total: int) -> bool:
    """Whether the bar's last drawing shows ``total/total``."""
    drawn = re.findall(r"\b(\d+)/(\d+)\b", screen)
    return bool(drawn) and drawn[-1] == (str(total), str(total))


class Terminal:
    """``tracker ARGS`` with its stderr on a pseudo-terminal (as in a shell), stdout piped."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            # As a shell's foreground command has it: a runner that started the tests in
            # the background may have left SIGINT ignored, which a child would inherit.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        os.close(slave)
        self.screen = b""

    def read(self, until: bytes = b"", timeout: float = 60) -> bytes:
        """What the terminal showed, until ``until`` appears or the command ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the command ended: the terminal is gone
                    break
                if not chunk:
                    break
                self.screen += chunk
                if until and until in self.screen:
                    break
            elif self.proc.poll() is not None:
                break
        return self.screen

    def finish(self) -> tuple[int, str, str]:
        self.read()
        assert self.proc.stdout is not None
        out = self.proc.stdout.read().decode()
        self.proc.stdout.close()
        code = self.proc.wait(timeout=60)
        os.close(self.master)
        return code, out, self.screen.decode(errors="replace")


async def test_long_commands_show_progress_on_a_terminal_and_a_summary_at_the_end(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], cli_env: None
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    await mail(client, clock, tokens, auth, START)
    env = environment(settings)

    terminal = Terminal(env, "rescore")
    code, out, screen = await asyncio.to_thread(terminal.finish)
    assert code == 0, screen
    assert "Rescoring" in screen and "hits/s" in screen  # the bar, on stderr
    assert out.startswith("Judged ") and " hits again in " in out and "verdicts changed" in out

    terminal = Terminal(env, "workflow", "run")
    code, out, screen = await asyncio.to_thread(terminal.finish)
    assert code == 0, screen
    assert "Consolidating" in screen
    assert out.startswith("Workflow run in ") and "events read" in out

    # Piped, nothing draws a bar: the summary alone (and log lines only every few seconds).
    piped = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tracker", "rescore"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "Rescoring" not in piped.stderr and "\r" not in piped.stderr
    assert piped.stdout.startswith("Judged ")


async def test_rates_are_percentages_in_tables_and_numbers_in_json(
    aiohttp_client: Any, settings: Settings, tokens: Tokens, auth: dict[str, str], cli_env: None
) -> None:
    clock = Clock()
    client = await aiohttp_client(trusting_app(settings, clock))
    await mail(client, clock, tokens, auth, START)
    stats = json.loads(await cli("report", "delivery", DELIVERY, "--json"))["stats"]
    table = await cli("report", "delivery", DELIVERY)
    opened = stats["rates"]["open"]
    assert isinstance(opened, float) and 0 < opened < 1
    (line,) = [line for line in table.splitlines() if line.startswith("open rate ")]
    assert line.endswith(f" {opened * 100:.1f} %")
    assert "click to open rate" in table and "click_to_open" not in table


async def test_honest_answers_for_unknown_values_and_nothing_matched(
    settings: Settings, cli_env: None
) -> None:
    runner = CliRunner()
    bogus = await asyncio.to_thread(runner.invoke, main, ["export", "--type", "bogus"])
    assert bogus.exit_code == 2
    assert "'bogus' is not one of" in bogus.output and "'clicked'" in bogus.output
    nothing = await asyncio.to_thread(runner.invoke, main, ["export", "--type", "clicked"])
    assert nothing.exit_code == 0
    assert "No events of type clicked after cursor 0: nothing exported." in nothing.stderr
    gone = await asyncio.to_thread(runner.invoke, main, ["forget", "nobody-at-all"])
    assert gone.exit_code == 0 and "Nothing stored names 'nobody-at-all'" in gone.output


async def test_absent_fields_are_null_in_json_and_empty_in_csv(
    aiohttp_client: Any, settings: Settings, auth: dict[str, str], cli_env: None
) -> None:
    client = await aiohttp_client(trusting_app(settings, Clock()))
    bounce = {"id": "b1", "type": "soft_bounced", "delivery": "d", "recipient": "r"}
    resp = await client.post("/api/v1/events", json=[bounce], headers=auth)
    assert resp.status == 200
    (item,) = [json.loads(line) for line in (await cli("export")).splitlines()]
    assert (item["campaign"], item["email"]) == (None, None)
    csv_lines = (await cli("export", "--format", "csv")).splitlines()
    header, row = csv_lines[0].split(","), csv_lines[1].split(",")
    assert row[header.index("campaign")] == "" and row[header.index("email")] == ""


def test_help_gives_whole_descriptions_defaults_and_examples() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"], terminal_width=200)
    assert top.exit_code == 0
    listing = top.output.split("Commands:")[1]
    assert "..." not in listing and "…" not in listing
    assert "Judge stored hits again with today's signals and network lists; reports follow." in (
        top.output
    )
    assert "_TRACKER_COMPLETE=bash_source tracker" in top.output
    export = runner.invoke(main, ["export", "--help"], terminal_width=200)
    assert "[default: jsonl]" in export.output and "Example: tracker export" in export.output
    commands = (["serve"], ["rescore"], ["forget"], ["workflow", "run"], ["db", "backup"],
                ["report", "delivery"], ["decorate"], ["check"], ["keys", "rotate"])  # fmt: skip
    for command in commands:
        shown = runner.invoke(main, [*command, "--help"], terminal_width=200)
        assert "Example: tracker " in shown.output, command
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and "version" in version.output


def test_ctrl_c_stops_an_export_between_pages_and_says_where_to_go_on(
    big_store: Path, tmp_path: Path
) -> None:
    settings = copy_of(big_store, tmp_path)
    output = tmp_path / "out.jsonl"
    terminal = Terminal(environment(settings), "export", "-o", str(output))
    terminal.read(until=f"2000/{BIG}".encode())  # two pages written
    terminal.proc.send_signal(signal.SIGINT)
    code, _, screen = terminal.finish()
    assert code == 130, screen
    assert "Interrupted after " in screen and f" of {BIG:,} events" in screen
    cursor = int(screen.split("--after ")[1].split()[0])
    lines = output.read_text().splitlines()
    assert 0 < len(lines) < BIG and cursor == int(json.loads(lines[-1])["cursor"])
    assert len(lines) % 1000 == 0  # whole pages: it stopped between them
    logged = environment(settings, TRACKER_LOG_FORMAT="json", TRACKER_PROGRESS_SECONDS="0")
    rest = subprocess.run(
        [sys.executable, "-m", "tracker", "export", "--after", str(cursor)],
        capture_output=True, text=True, env=logged, timeout=300,
    )  # fmt: skip
    assert rest.returncode == 0
    assert len(rest.stdout.splitlines()) + len(lines) == BIG
    # Piped under JSON logs: structured progress lines instead of a bar.
    progress = [json.loads(line) for line in rest.stderr.splitlines() if '"progress"' in line]
    assert progress and progress[-1]["total"] == BIG - len(lines)
    assert progress[-1]["unit"] == "events" and "\r" not in rest.stderr


@pytest.mark.parametrize(
    ("args", "label", "total"),
    [
        (["rescore"], "Rescoring", HITS),
        (["workflow", "run"], "Consolidating", BIG),
        (["export", "-o", "{tmp}/out.jsonl"], "Exporting", BIG),
        (["db", "backup", "{tmp}/copy.db"], "Backing up", None),
    ],
)
def test_each_long_command_shows_progress_to_its_total_on_a_terminal(
    big_store: Path, tmp_path: Path, args: list[str], label: str, total: int | None
) -> None:
    settings = copy_of(big_store, tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    code, out, screen = Terminal(environment(settings), *args).finish()
    assert code == 0, screen
    assert label in screen
    if total is None:  # the database's pages
        conn = sqlite3.connect(settings.sqlite_path)
        total = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.close()
    assert bar_ends_at(screen, total), screen[-400:]
    summary = out if args[0] != "export" else screen
    assert re.search(r" in \d+\.\d s|\d+ min", summary), summary

    # Piped: no bar, a summary; with --json the summary parses.
    again = [a.replace("copy.db", "copy2.db").replace("out.jsonl", "out2.jsonl") for a in args]
    piped = subprocess.run(
        [sys.executable, "-m", "tracker", *again, *([] if args[0] == "export" else ["--json"])],
        capture_output=True, text=True, env=environment(settings), timeout=300,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "[#" not in piped.stderr and "\r" not in piped.stderr  # no bar drawn
    for line in piped.stderr.splitlines():  # progress comes as log lines, if the run is long
        if '"progress"' in line:
            assert json.loads(line)["task"] == label
    if args[0] != "export":
        assert isinstance(json.loads(piped.stdout)["seconds"], float)
    else:
        assert "events exported in" in piped.stderr


def test_ctrl_c_stops_a_rescore_between_chunks_and_a_second_run_completes(
    big_store: Path, tmp_path: Path
) -> None:
    settings = copy_of(big_store, tmp_path)
    terminal = Terminal(environment(settings), "rescore")
    terminal.read(until=b"5000/")  # the first chunk is committed
    terminal.proc.send_signal(signal.SIGINT)
    code, _, screen = terminal.finish()
    assert code == 130, screen
    assert "Interrupted after " in screen and f" of {HITS:,} hits" in screen
    conn = sqlite3.connect(settings.sqlite_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    clicks = conn.execute("SELECT count(*) FROM hits WHERE route = 'click'").fetchone()[0]
    clicked = conn.execute("SELECT count(*) FROM events WHERE type = 'clicked'").fetchone()[0]
    conn.close()
    assert clicks == clicked  # every click keeps its event, whatever chunk it was in
    again = subprocess.run(
        [sys.executable, "-m", "tracker", "rescore", "--json"],
        capture_output=True, text=True, env=environment(settings), timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["judged"] == HITS


def test_the_readmes_command_list_is_the_helps() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `tracker ([a-z]+(?: [a-z]+)?)", section, re.MULTILINE))
    helped = set()
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            helped |= {f"{name} {sub}" for sub in command.commands}
        else:
            helped.add(name)
    groups = {name for name, command in main.commands.items() if isinstance(command, click.Group)}
    documented = {d if d.split()[0] in groups else d.split()[0] for d in documented}
    assert documented == helped

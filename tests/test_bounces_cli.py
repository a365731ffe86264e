"""``tracker bounces PATH…``: real bounces from .eml files, a maildir and an mbox."""

from __future__ import annotations

import ctypes
import json
import mailbox
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Rows
from tests.helpers import cli
from tests.serverproc import clean_env
from tracker.config import Settings

CORPUS = Path(__file__).parent / "data" / "bounces" / "messages"
# Real bounces of the corpus, and the people the test's Sent events give their addresses.
PEOPLE = {
    "userunknown@example.co.jp": "p-unknown",  # lhost-postfix-02: a DSN naming two
    "filtered@example.co.jp": "p-filtered",
    "kijitora@example.co.jp": "p-blocked",  # lhost-gmail-03: 5.7.0, blocked by policy
    "kijitora@example.org": "p-full",  # lhost-postfix-05: 4.x, soft
    "redacted@example.net": "p-complained",  # arf-01: an abuse report
}


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.eml").read_bytes()


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    """An .eml file, a maildir of two messages and an mbox of two."""
    eml = tmp_path / "one.eml"
    eml.write_bytes(corpus("lhost-postfix-02"))
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1001.A").write_bytes(corpus("lhost-gmail-03"))
    (maildir / "cur" / "1002.B:2,S").write_bytes(corpus("rfc3834-01"))  # an auto-reply, read
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    box.add(corpus("lhost-postfix-05"))
    box.add(corpus("arf-01"))
    box.close()
    return [eml, tmp_path / "Maildir", tmp_path / "bounces.mbox"]


async def sent(client: Any, auth: dict[str, str]) -> None:
    events = [
        {"id": f"sent-{who}", "type": "sent", "delivery": "d-1", "recipient": who,
         "campaign": "c-1", "email": "e-1", "address": address}
        for address, who in PEOPLE.items()
    ]  # fmt: skip
    resp = await client.post("/api/v1/events", json=events, headers=auth)
    assert resp.status == 200


BOUNCES = (
    "SELECT recipient, type, category, cause FROM events WHERE type != 'sent' ORDER BY recipient"
)


@pytest.mark.usefixtures("cli_env")
async def test_bounces_takes_eml_maildir_and_mbox(
    client: Any, auth: dict[str, str], sources: list[Path], rows: Rows
) -> None:
    await sent(client, auth)
    paths = [str(p) for p in sources]

    dry = [json.loads(line) for line in (await cli("bounces", "--dry-run", "--json", *paths))
           .splitlines()]  # fmt: skip
    assert rows(BOUNCES) == []  # a dry run stores nothing
    *messages, summary = dry
    assert [m["kind"] for m in messages] == ["dsn", "bounce", "autoreply", "dsn", "arf"]
    assert messages[0]["source"] == paths[0]
    assert messages[3]["source"] == f"{paths[2]}:1"
    matched = {r["address"]: r["recipient"] for m in messages for r in m["results"]}
    assert matched == {address: who for address, who in PEOPLE.items()}
    assert summary == {"summary": {
        "messages": 5, "kinds": {"arf": 1, "autoreply": 1, "bounce": 1, "dsn": 2},
        "results": 5, "matched": 5, "stored": 0, "dry_run": True}}  # fmt: skip

    text = await cli("bounces", *paths)
    lines = text.splitlines()
    assert len(lines) == 6, text  # one per message, and the summary
    assert lines[0].startswith(f"{paths[0]}  dsn  ")
    assert "userunknown@example.co.jp hard_bounced/invalid user_unknown stored" in lines[0]
    assert lines[2] == f"{paths[1]}/1002.B  autoreply"
    assert lines[-1] == (
        "5 messages (1 arf, 1 autoreply, 1 bounce, 2 dsn): 5 results, 5 matched, 5 stored"
    )
    stored = {r["recipient"]: (r["type"], r["category"], r["cause"]) for r in rows(BOUNCES)}
    assert stored["p-unknown"] == ("hard_bounced", "invalid", None)
    assert stored["p-blocked"] == ("hard_bounced", "spam_block", None)
    assert stored["p-full"] == ("soft_bounced", None, None)
    assert stored["p-complained"] == ("unsubscribed", None, "complaint")
    assert len(stored) == 5

    # The same files again: every result is already stored, nothing is logged twice.
    again = await cli("bounces", "--summary", *paths)
    assert again.strip() == (
        "5 messages (1 arf, 1 autoreply, 1 bounce, 2 dsn): 5 results, 5 matched, 0 stored"
    )
    once_more = await cli("bounces", paths[0])
    assert "userunknown@example.co.jp hard_bounced/invalid user_unknown already stored" in (
        once_more
    )
    assert len(rows(BOUNCES)) == 5


@pytest.mark.usefixtures("cli_env")
async def test_a_message_that_is_not_mail_is_reported_and_the_rest_taken(
    client: Any, auth: dict[str, str], tmp_path: Path, rows: Rows
) -> None:
    await sent(client, auth)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.eml").write_bytes(b"\x00\x01\x02 binary")
    (tmp_path / "in" / "b.eml").write_bytes(corpus("lhost-gmail-03"))
    out = (await cli("bounces", str(tmp_path / "in"))).splitlines()
    assert out[0] == f"{tmp_path / 'in' / 'a.eml'}  unreadable: empty or binary input"
    assert out[-1] == "2 messages (1 bounce, 1 unreadable): 1 result, 1 matched, 1 stored"
    assert [r["recipient"] for r in rows(BOUNCES)] == ["p-blocked"]


# Linux's prctl option and the capabilities that let root read past file modes.
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def without_root_override() -> None:
    """In the child, before exec: drop root's power to read what the modes forbid."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def bounces(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=",".join(settings.secret_keys),
        TRACKER_FORGET_KEY=settings.forget_key,
    )
    run_as: dict[str, Any] = {"preexec_fn": without_root_override} if os.geteuid() == 0 else {}
    return subprocess.run(
        [sys.executable, "-m", "tracker", "bounces", *args],
        env=env, capture_output=True, text=True, timeout=60, **run_as,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_operator_mistakes_are_one_line_and_store_nothing(
    settings: Settings, tmp_path: Path, rows: Rows
) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(corpus("lhost-gmail-03"))
    done = bounces(settings, "--dry-run", str(good))  # the store exists, and stays empty
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        0,
        "1 message (1 bounce): 1 result, 0 matched, 0 stored (dry run: nothing stored)",
    ), done.stderr
    missing = tmp_path / "nowhere.mbox"
    done = bounces(settings, str(good), str(missing))
    assert one_line(done) == f"Error: no such file or directory: {missing}"
    assert done.stdout == ""

    private = tmp_path / "private.eml"
    private.write_bytes(corpus("lhost-postfix-02"))
    private.chmod(0)
    done = bounces(settings, str(good), str(private))
    assert one_line(done) == f"Error: cannot read {private}: Permission denied"

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.eml").write_bytes(corpus("lhost-gmail-03"))
    with socket.socket(socket.AF_UNIX) as listening:  # a path no one can read as a file
        listening.bind(str(folder / "sock"))
        done = bounces(settings, str(folder))
    assert one_line(done) == f"Error: cannot read {folder / 'sock'}: No such device or address"
    assert done.stdout == ""
    assert rows("SELECT count(*) AS n FROM events")[0]["n"] == 0

"""tracker check: a decorated, DKIM-signed message passes; each missing part is named."""

from __future__ import annotations

import asyncio
import email.policy
import ssl
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import Rows
from tests.serverproc import clean_env
from tracker.app import create_app
from tracker.check import Check, check_message
from tracker.config import Settings
from tracker.decorate import decorate
from tracker.tokens import Message, Tokens

HTML = '<html><body><p><a href="https://shop.example/sale">Sale</a></p></body></html>'


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate for 127.0.0.1 and the context that serves it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, str(cert)


@pytest.fixture
def dkim_key(tmp_path: Path) -> bytes:
    out = subprocess.run(
        ["openssl", "genrsa", "2048"], check=True, capture_output=True
    ).stdout  # fmt: skip
    return out


def build(
    base: str,
    tokens: Tokens,
    key: bytes,
    signed: tuple[bytes, ...],
    change: tuple[str, str] = ("", ""),
) -> bytes:
    """The decorated message, DKIM-signed over ``signed``, with ``change`` made to its HTML."""
    result = decorate(HTML, Message("d1", "seed", "c1", "e1"), tokens, base)
    html = result.html.replace(*change) if change[0] else result.html
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = "news@example.com"
    mail["To"] = "seed@example.com"
    mail["Subject"] = "Spring sale"
    for name, value in result.headers.items():
        mail[name] = value
    mail.set_content("Spring sale")
    mail.add_alternative(html, subtype="html")
    raw = mail.as_bytes()
    signature = dkim.sign(raw, b"s1", b"example.com", key, include_headers=list(signed))
    return signature + raw


def failed(checks: list[Check]) -> set[str]:
    return {c.name for c in checks if not c.ok}


async def test_a_good_message_passes_and_each_missing_part_is_named(
    settings: Settings, tls: tuple[ssl.SSLContext, str], dkim_key: bytes, rows: Rows
) -> None:
    context, cafile = tls
    server = TestServer(create_app(settings), host="127.0.0.1", scheme="https")
    await server.start_server(ssl=context)
    try:
        base = str(server.make_url("")).rstrip("/")
        tokens = Tokens(settings.secret_keys)
        both = (b"from", b"to", b"subject", b"list-unsubscribe", b"list-unsubscribe-post")
        good = build(base, tokens, dkim_key, both)
        checks = await asyncio.to_thread(check_message, good, tokens, True, cafile)
        assert failed(checks) == set(), checks
        assert rows("SELECT recipient FROM events WHERE type = 'unsubscribed'") == [
            {"recipient": "seed"}
        ]

        unsigned = build(base, tokens, dkim_key, (b"from", b"to", b"subject"))
        checks = await asyncio.to_thread(check_message, unsigned, tokens, False)
        assert failed(checks) == {"DKIM covers List-Unsubscribe"}

        raw = good.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-No: 1")
        assert "List-Unsubscribe-Post" in failed(check_message(raw, tokens, post=False))

        untracked = build(base, tokens, dkim_key, both, ('<a href="', '<a href="https://x.ex/?'))
        assert "links tracked" in failed(check_message(untracked, tokens, post=False))
        no_pixel = build(base, tokens, dkim_key, both, ("<img ", "<span "))
        assert "open pixel" in failed(check_message(no_pixel, tokens, post=False))
        other_keys = check_message(good, Tokens(["someone-else"]), post=False)
        assert {"links tracked", "open pixel"} <= failed(other_keys)
    finally:
        await server.close()


async def test_the_command_changes_nothing_unless_asked_to_post(
    settings: Settings,
    tls: tuple[ssl.SSLContext, str],
    dkim_key: bytes,
    rows: Rows,
    tmp_path: Path,
) -> None:
    """A pre-flight check unsubscribes nobody by default; ``--post`` sends the one-click."""
    context, cafile = tls
    server = TestServer(create_app(settings), host="127.0.0.1", scheme="https")
    await server.start_server(ssl=context)
    try:
        base = str(server.make_url("")).rstrip("/")
        eml = tmp_path / "message.eml"
        eml.write_bytes(build(base, Tokens(settings.secret_keys), dkim_key, (b"from", b"to")))
        env = clean_env(
            TRACKER_SECRET_KEYS=",".join(settings.secret_keys),
            TRACKER_DATA_DIR=str(tmp_path / "cli-data"),
        )

        def check(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "tracker", "check", "--cafile", cafile, *args]
            return subprocess.run(command + [str(eml)], env=env, capture_output=True, text=True)

        done = await asyncio.to_thread(check)
        assert rows("SELECT recipient FROM events WHERE type = 'unsubscribed'") == []
        assert "one-click POST" in done.stdout and "--post" in done.stdout, done.stdout
        # What failed says what to fix: here, DKIM does not sign the two headers.
        dkim_line = next(line for line in done.stdout.splitlines() if "DKIM" in line)
        assert dkim_line.startswith("FAIL"), done.stdout
        assert "list-unsubscribe-post" in dkim_line.lower() and "h=" in dkim_line
        assert "sign" in dkim_line.split(":", 1)[1], dkim_line
        assert done.returncode == 1

        posted = await asyncio.to_thread(check, "--post")
        assert "PASS  one-click POST: answered 200" in posted.stdout, posted.stdout
        assert rows("SELECT recipient FROM events WHERE type = 'unsubscribed'") == [
            {"recipient": "seed"}
        ]
    finally:
        await server.close()


def test_the_help_says_post_is_off_and_unsubscribes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "check", "--help"], capture_output=True, text=True
    )
    text = " ".join(done.stdout.split()).lower()
    assert "--post" in text and "unsubscribes" in text and "default: off" in text, text

"""Real DSNs from a real Postfix, through tracker's SMTP listener, into the right events.

A private Postfix instance (tests/postfix.py) takes two decorated messages whose envelope
sender is tracker's VERP bounce address: one for an unknown local user (local(8) bounces
it, 5.1.1) and one for a virtual mailbox already at its ``virtual_mailbox_limit``
(virtual(8) bounces it, 5.2.2: the mailbox is full). Its bounce daemon sends each DSN to
the bounce address, which its transport map routes to tracker's listener.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from tests import postfix
from tests.conftest import API_KEY, Rows
from tests.serverproc import HOST, ServerProcess, free_port
from tests.smtpserver import DOMAIN, smtp_tracker
from tracker.config import Settings

DELIVERY = "d-postfix"
# The mailbox's limit, and what it already holds: one more message does not fit.
LIMIT = 20_000


@pytest.fixture
def tracker(settings: Settings) -> Iterator[tuple[ServerProcess, int]]:
    """tracker with its SMTP listener: (server, SMTP port)."""
    with smtp_tracker(settings) as started:
        yield started


@pytest.fixture
def mta(tracker: tuple[ServerProcess, int]) -> Iterator[postfix.Postfix]:
    """A private Postfix that routes mail for the bounce domain to tracker's listener."""
    reason = postfix.unavailable()
    if reason is not None:
        if os.environ.get("TRACKER_TEST_REQUIRE_POSTFIX") == "1":
            pytest.fail(f"TRACKER_TEST_REQUIRE_POSTFIX=1 but {reason}")
        pytest.skip(reason)
    root = postfix.new_root()
    vmail = root / "vmail"
    vmail.mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    full = vmail / "full"
    full.write_bytes(b"From old@example.test  Mon Nov 30 00:00:00 2026\n" + b"x" * (LIMIT - 100))
    for path in (vmail, full):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    main_cf = {
        "mydestination": "mail.example.test",
        "local_recipient_maps": "",  # accept, then bounce: local(8) finds no such user
        "transport_maps": f"texthash:{root}/etc/transport",
        "virtual_mailbox_domains": "virt.example.test",
        "virtual_mailbox_maps": f"texthash:{root}/etc/vmailbox",
        "virtual_mailbox_base": str(vmail),
        "virtual_uid_maps": f"static:{nobody.pw_uid}",
        "virtual_gid_maps": f"static:{nobody.pw_gid}",
        "virtual_mailbox_limit": str(LIMIT),
        "message_size_limit": str(LIMIT),
    }
    maps = {
        "transport": f"{DOMAIN} smtp:[{HOST}]:{tracker[1]}\n",
        "vmailbox": "full@virt.example.test full\n",
    }
    try:
        instance = postfix.start(root, free_port(), main_cf, maps)
        try:
            yield instance
        finally:
            instance.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def api(server: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200, (response.status, data)
        return json.loads(data)
    finally:
        conn.close()


def decorated(server: ServerProcess, recipient: str, to: str) -> tuple[str, EmailMessage]:
    """(envelope sender, message) of one decorated message for ``recipient``."""
    found = api(server, "POST", "/api/v1/decorate", {
        "delivery": DELIVERY, "campaign": "c-1", "email": "e-1", "recipient": recipient,
        "html": "<p>Hello <a href='https://shop.example/sale'>sale</a></p>",
    })  # fmt: skip
    api(server, "POST", "/api/v1/events", [
        {"id": f"sent-{recipient}", "type": "sent", "delivery": DELIVERY,
         "recipient": recipient, "campaign": "c-1", "email": "e-1"},
    ])  # fmt: skip
    message = EmailMessage()
    message["From"] = "news@shop.example"
    message["To"] = to
    message["Subject"] = "Autumn sale"
    for name, value in found["headers"].items():
        message[name] = value
    message.set_content("Hello, our sale starts today.\n" * 5)
    message.add_alternative(found["html"], subtype="html")
    return found["bounce_address"], message


def wait_for(rows: Rows, recipients: set[str], timeout: float = 120.0) -> list[dict[str, Any]]:
    """The bounce events of ``recipients`` once each has one (Postfix retries a 4xx)."""
    deadline = time.monotonic() + timeout
    while True:
        found = rows(
            "SELECT recipient, delivery, type, category, status FROM events"
            " WHERE type IN ('hard_bounced', 'soft_bounced') ORDER BY recipient"
        )
        if {r["recipient"] for r in found} >= recipients or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_postfix_dsns_land_as_the_right_bounces(
    tracker: tuple[ServerProcess, int], mta: postfix.Postfix, rows: Rows
) -> None:
    server, _ = tracker
    for recipient, to in (("r-unknown", "nosuch@mail.example.test"),
                          ("r-full", "full@virt.example.test")):  # fmt: skip
        sender, message = decorated(server, recipient, to)
        assert sender.startswith("b-") and sender.endswith(f"@{DOMAIN}")
        mta.send(sender, to, message)

    found = wait_for(rows, {"r-unknown", "r-full"})
    assert found == [
        {"recipient": "r-full", "delivery": DELIVERY, "type": "soft_bounced",
         "category": None, "status": "5.2.2"},
        {"recipient": "r-unknown", "delivery": DELIVERY, "type": "hard_bounced",
         "category": "invalid", "status": "5.1.1"},
    ], mta.log()  # fmt: skip
    log = mta.log()
    assert log.count("status=bounced") == 2, log  # Postfix bounced both itself
    assert log.count(f"relay={HOST}[{HOST}]:") == 2, log  # and delivered both DSNs to tracker
    taken = [r for r in server.log_records() if r.get("event") == "smtp message taken"]
    assert [(r["results"], r["stored"]) for r in taken] == [(1, 1), (1, 1)]
    # The person who does not exist is out for good; the full mailbox is still mailable.
    verdicts = api(server, "POST", "/api/v1/mailable", {"recipients": ["r-unknown", "r-full"]})
    unknown, full = verdicts["results"]
    assert (unknown["mailable"], unknown["reason"], unknown["until"]) == (False, "invalid", None)
    assert full["mailable"] is True

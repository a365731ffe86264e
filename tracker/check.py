"""``tracker check MESSAGE.eml``: a sender's pre-flight check of one real message.

Gmail and Yahoo require of bulk senders a one-click unsubscribe (RFC 8058) whose headers
the DKIM signature covers. This checks a message as it will be sent: the headers, the
signature's ``h=`` tag, and that its links and pixel are tracked; only when asked
(``post``), a real one-click POST to the unsubscribe URL (send the check to a seed address:
it unsubscribes that recipient). Each failure says what to fix.
"""

from __future__ import annotations

import email
import email.policy
import http.client
import re
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import urlsplit

from tracker.tokens import BadToken, Tokens

ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


class _Links(HTMLParser):
    """Collects ``<a href>`` and ``<img src>`` of an HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]).strip())
        if tag == "img" and values.get("src"):
            self.images.append(str(values["src"]).strip())


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return str(part.get_content()) if part is not None else ""


def _unsubscribe_url(message: EmailMessage) -> str | None:
    found = re.findall(r"<(https://[^>\s]+)>", str(message.get("List-Unsubscribe", "")))
    return found[0] if found else None


def one_click(url: str, cafile: str | None = None, timeout: float = 10.0) -> tuple[int, str | None]:
    """POST the RFC 8058 body to https ``url`` without following redirects.

    Returns (status, Location); ``cafile`` trusts a private CA (a staging server).
    """
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(
            "POST", path, body=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location")
    finally:
        conn.close()


def _dkim_headers(message: EmailMessage) -> set[str]:
    signed: set[str] = set()
    for signature in message.get_all("DKIM-Signature") or []:
        tags = dict(
            part.strip().split("=", 1) for part in re.sub(r"\s+", "", str(signature)).split(";")
            if "=" in part
        )  # fmt: skip
        signed |= {h.lower() for h in tags.get("h", "").split(":") if h}
    return signed


def check_message(
    raw: bytes, tokens: Tokens, post: bool = False, cafile: str | None = None
) -> list[Check]:
    """Every check on the message ``raw`` (RFC 5322 bytes); ``post`` sends the one-click
    unsubscribe (it unsubscribes the recipient); ``cafile`` trusts a private CA."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    checks: list[Check] = []
    url = _unsubscribe_url(message)
    missing = "add a List-Unsubscribe header with an <https://…> URL (tracker decorate's)"
    checks.append(Check("List-Unsubscribe", url is not None, url or missing))
    found = str(message.get("List-Unsubscribe-Post", "")).strip()
    exact = found == ONE_CLICK
    wrong = f"set the header to exactly {ONE_CLICK!r} (it is {found[:60]!r})"
    checks.append(Check("List-Unsubscribe-Post", exact, ONE_CLICK if exact else wrong))
    if post and url is not None:
        try:
            status, location = one_click(url, cafile)
            ok = status == 200 and location is None
            fix = "" if ok else ": it must answer 200 itself, without a redirect"
            where = f", redirect to {location}" if location else ""
            checks.append(Check("one-click POST", ok, f"answered {status}{where}{fix}"))
        except OSError as exc:
            checks.append(Check("one-click POST", False, f"failed: {exc}"))
    signed = _dkim_headers(message)
    covered = {"list-unsubscribe", "list-unsubscribe-post"} <= signed
    detail = "h= covers both headers" if covered else (
        "sign List-Unsubscribe and List-Unsubscribe-Post with DKIM (add both to h=; "
        f"h= signs: {', '.join(sorted(signed)) or 'nothing, no DKIM-Signature'})"
    )  # fmt: skip
    checks.append(Check("DKIM covers List-Unsubscribe", covered, detail))
    checks += _check_html(_html(message), tokens)
    return checks


def _check_html(html: str, tokens: Tokens) -> list[Check]:
    links = _Links()
    links.feed(html)
    web = [h for h in links.hrefs if h.startswith(("http://", "https://"))]
    untracked = [h for h in web if not _is_ours(h, tokens)]
    tracked = len(web) - len(untracked)
    detail = f"{tracked} tracked" + (
        f"; not tracked (decorate the message with this server's keys): {untracked[:3]}"
        if untracked else "" if tracked else "; decorate the message with this server's keys"
    )  # fmt: skip
    pixel = any("/o/" in src and _is_ours(src, tokens) for src in links.images)
    no_pixel = "no open pixel of this server: decorate with --track-opens and its keys"
    return [
        Check("links tracked", tracked > 0 and not untracked, detail),
        Check("open pixel", pixel, "present" if pixel else no_pixel),
    ]


def _is_ours(url: str, tokens: Tokens) -> bool:
    """True for a tracker URL whose token verifies with our keys."""
    path = urlsplit(url).path
    for prefix, read in (("/c/", tokens.read_click), ("/u/", tokens.read_unsubscribe),
                         ("/v/", tokens.read_view), ("/o/", tokens.read_open)):  # fmt: skip
        if prefix in path:
            token = path.rsplit(prefix, 1)[1].removesuffix(".gif")
            try:
                read(token)
            except BadToken:
                return False
            return True
    return False

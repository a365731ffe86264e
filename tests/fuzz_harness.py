"""The fuzzing harness: the app serving real HTTP on loopback from its own thread, the
tokens it knows, raw requests and replies parsed byte for byte, and the checks every answer
must pass (see ``tests/test_fuzz.py`` for the properties)."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer, base64_encode

from tests.conftest import API_KEY, NEW_KEY, OLD_KEY, Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.tokens import (
    SALT_CLICK,
    SALT_OPEN,
    SALT_UNSUBSCRIBE,
    Click,
    Message,
    Tokens,
)
from tracker.urls import to_ascii

# Examples per property; TRACKER_FUZZ_EXAMPLES=5000 for a long run.
EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "500"))
FUZZ = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMEOUT = 10.0
# aiohttp refuses request lines and header lines longer than this with a 400.
MAX_LINE = 8190

# Tokens -------------------------------------------------------------------------------

TOKENS = Tokens([OLD_KEY, NEW_KEY])
RETIRED = Tokens([OLD_KEY])  # the older configured key still verifies
STRANGER = Tokens(["a key this server never had"])

MESSAGES = (
    Message("delivery-1", "recipient-1", "campaign-1", "email-1"),
    Message("d é 收件人 🙂", "r\x01ctl", "c'\"<script>", "e" * 256),
    Message("a" * 256, "b" * 256, "c" * 256, "d" * 256),  # long enough to be compressed
)
TARGETS = (
    "https://example.com/landing?a=1&b=2",
    "http://example.org:8080/p/a;b?q=%0D%0ASet-Cookie:%20x=1#frag",
    "https://user:pass@example.net/",
    "https://bücher.example/ünï?ç=1",  # signed in its ASCII form
    "HTTPS://EXAMPLE.COM/UPPER",
    "http://[2001:db8::1]:443/v6",
    "https://example.com/" + "x" * 2000,
)

OPEN = [t.open_token(m) for t in (TOKENS, RETIRED) for m in MESSAGES]
UNSUBSCRIBE = [t.unsubscribe_token(m) for t in (TOKENS, RETIRED) for m in MESSAGES]
VIEW = [TOKENS.view_token(m) for m in MESSAGES]
# Every valid click token and the URL its redirect must carry.
CLICK_URLS = {
    t.click_token(Click(m, i, url)): to_ascii(url)
    for t in (TOKENS, RETIRED)
    for m in MESSAGES[:2]
    for i, url in enumerate(TARGETS)
}
VALID = (*OPEN, *UNSUBSCRIBE, *VIEW, *CLICK_URLS)
assert any(t.startswith(".") for t in OPEN), "one token is zlib-compressed"


def forge(raw_json: bytes, salt: str) -> str:
    """A token signed with our own key and the right salt over an arbitrary payload."""
    signer = URLSafeSerializer(NEW_KEY, salt=salt).make_signer(salt)
    return signer.sign(base64_encode(raw_json)).decode()


_IDS = b'"d","r","c","e"'
# Signed with the server's key, but the payload is not one the server ever signs.
FORGED = [
    forge(_IDS + b"," + b, SALT_CLICK)
    for b in (
        b'-1,"https://example.com/"',
        b'100000,"https://example.com/"',
        b'true,"https://example.com/"',
        b'0.0,"https://example.com/"',
        b'"0","https://example.com/"',
        b'0,"javascript:alert(1)"',
        b'0,"JaVaScRiPt:alert(1)"',
        b'0,"data:text/html,<script>alert(1)</script>"',
        b'0,"vbscript:msgbox(1)"',
        b'0,"//evil.example/"',
        b'0,"/relative"',
        b'0,"https://evil.example/\\r\\nSet-Cookie: x=1"',
        b'0,"https://evil.example/\\u0000"',
        b'0,"https://evil.example\\\\@good.example/"',
        b'0,"https:///no-host"',
        b'0,"https://\\u00e9vil.example/"',
        b'0,"https://example.com:99999/"',
        b'0,"https://[::1/"',
        b'0,"https://ex ample.com/"',
        b"0,null",
        b'0,["https://example.com/"]',
        b'0,"https://example.com/' + b"x" * 2100 + b'"',
        b'0,"https://example.com/",1',
    )
] + [
    forge(raw, salt)
    for salt in (SALT_OPEN, SALT_UNSUBSCRIBE, SALT_CLICK)
    for raw in (
        b'["\\ud800","r","c","e"]',  # a lone surrogate cannot be stored
        b'["d","r","c"]',
        b'["d","r","c","e","x"]',
        b'["","r","c","e"]',
        b'["' + b"x" * 257 + b'","r","c","e"]',
        b'[1,"r","c","e"]',
        b'{"d":"r"}',
        b'"text"',
        b"null",
        b"NaN",
        b"[1e999]",
        b"[" * 1400 + b"]" * 1400,  # deeper than the JSON decoder goes
        b"not json",
        b"",
    )
]
UNKNOWN_KEY = [
    STRANGER.open_token(MESSAGES[0]),
    STRANGER.unsubscribe_token(MESSAGES[0]),
    STRANGER.click_token(Click(MESSAGES[0], 0, "https://evil.example/")),
]
BASES = (*VALID, *FORGED, *UNKNOWN_KEY)

# Requests -----------------------------------------------------------------------------


def short(data: bytes, limit: int = 120) -> str:
    text = repr(data)
    return text if len(text) <= limit else f"{text[:limit]}…({len(data)} bytes)"


@dataclass(frozen=True)
class Request:
    """One HTTP/1.1 request, sent as raw bytes on a fresh connection."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None
    chunked: bool = False  # ``body`` is already chunk-framed

    def __repr__(self) -> str:
        headers = ", ".join(f"{short(k, 30)}: {short(v, 60)}" for k, v in self.headers)
        body = "None" if self.body is None else short(self.body, 80)
        return f"Request({self.method!r} {short(self.target)} [{headers}] body={body})"

    def raw(self) -> bytes:
        lines = [self.method + b" " + self.target + b" HTTP/1.1"]
        if not any(k.lower() == b"host" for k, _ in self.headers):
            lines.append(b"Host: 127.0.0.1")
        lines += [k + b": " + v for k, v in self.headers]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
        elif self.body is not None:
            lines.append(b"Content-Length: %d" % len(self.body))
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + (self.body or b"")

    @property
    def path(self) -> bytes:
        return re.split(rb"[?#]", self.target, maxsplit=1)[0]

    def decoded(self) -> str:
        """The target percent-decoded once, as the router sees it (tokens are ASCII)."""
        return unquote(self.target.decode("latin-1"))

    def has_dot_segment(self) -> bool:
        """True when ``.``/``..`` segments (possibly percent-encoded) may change the route."""
        segments = unquote(self.path.decode("latin-1")).split("/")
        return any(s in (".", "..") for s in segments)


@dataclass(frozen=True)
class Reply:
    status: int
    lines: tuple[bytes, ...]  # the raw header lines
    body: bytes

    def get(self, name: str) -> list[str]:
        key = name.lower().encode()
        found = []
        for line in self.lines:
            k, _, v = line.partition(b":")
            if k.lower() == key:
                found.append(v.strip(b" \t").decode("latin-1"))
        return found


STATUS_LINE = re.compile(rb"HTTP/[0-9]\.[0-9] ([1-5][0-9][0-9])(?: [\x20-\x7e]*)?")
# token ":" OWS value; the value holds no control character but tab, so no CR/LF or NUL.
HEADER_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*")


def parse(data: bytes) -> Reply:
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"no complete answer: {short(data)}"
        status_line, *lines = head.split(b"\r\n")
        match = STATUS_LINE.fullmatch(status_line)
        assert match, f"bad status line {status_line!r}"
        if match[1].startswith(b"1"):  # 100 Continue: the real answer follows
            data = rest
            continue
        for line in lines:
            assert HEADER_LINE.fullmatch(line), f"bad header line {short(line)}"
        return Reply(int(match[1]), tuple(lines), rest)


@dataclass
class Live:
    """The app serving on loopback from its own thread, and its SQLite file."""

    port: int
    rows: Rows
    # Every valid token the server may see: click tokens map to their signed URL.
    valid: dict[str, str | None] = field(
        default_factory=lambda: {t: CLICK_URLS.get(t) for t in VALID}
    )

    def present(self, request: Request) -> list[str]:
        """The valid tokens in ``request``'s target: without one, nothing may be logged."""
        decoded = request.decoded()
        return [t for t in self.valid if t in decoded]

    def signed_urls(self, request: Request) -> set[str]:
        return {url for t in self.present(request) if (url := self.valid[t]) is not None}

    def send(self, request: Request) -> Reply:
        data = bytearray()
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as sock:
            try:
                sock.sendall(request.raw())
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered and closed before the whole request was read
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
        return parse(bytes(data))

    def counts(self) -> Counter[str]:
        """Rows of the raw log (``hits``) and of the activity log by event type."""
        found = self.rows(
            "SELECT 'hits' AS k, count(*) AS n FROM hits"
            " UNION ALL SELECT type, count(*) FROM events GROUP BY type"
        )
        return Counter({r["k"]: r["n"] for r in found if r["n"]})


class ServerThread(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="fuzz-server", daemon=True)
        self.settings = settings
        self.ready = threading.Event()
        self.port = 0
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # reported by the fixture in the test's thread
            self.error = exc
        finally:
            self.ready.set()

    async def serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        runner = web.AppRunner(create_app(self.settings), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self.ready.set()
            await self.stopping.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=30)


@contextmanager
def serving(settings: Settings, rows: Rows) -> Iterator[Live]:
    """The app serving on loopback from its own thread while the block runs."""
    # Loopback is a trusted proxy, so X-Forwarded-For garbage is parsed, not ignored.
    trusted = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    server = ServerThread(replace(settings, trusted_proxies=trusted))
    server.start()
    assert server.ready.wait(30), "the server did not start"
    if server.error is not None:
        raise server.error
    try:
        yield Live(server.port, rows)
    finally:
        server.stop()
        # Free aiohttp's unclosed temporary files now, under the fuzz tests' warning filters, not
        # whenever the garbage collector next runs (in some other test).
        gc.collect()
    assert not server.is_alive(), "the server did not stop"
    if server.error is not None:
        raise server.error


# Checks -------------------------------------------------------------------------------

API_KEYS = (API_KEY, "second-api-key-at-least-32-characters")  # as conftest's settings
SECRETS = (OLD_KEY, NEW_KEY, *API_KEYS)


DASHBOARD_REDIRECTS = {"/ui/", "/ui/login"}


def check_reply(
    live: Live, request: Request, reply: Reply, before: Counter[str], after: Counter[str]
) -> None:
    """What holds for every answer to every request."""
    context = f"{request!r} -> {reply.status} {reply.lines}"
    assert reply.status < 500, context
    names = [line.partition(b":")[0].lower() for line in reply.lines]
    assert b"x-injected" not in names, context
    if b"set-cookie" in names:  # only the dashboard's login and logout set its cookie
        assert request.target.split(b"?")[0] in (b"/ui/login", b"/ui/logout"), context
        assert all(c.startswith("tracker_ui=") for c in reply.get("Set-Cookie")), context

    locations = reply.get("Location")
    if locations:
        assert len(locations) == 1 and 300 <= reply.status < 400, context
        (location,) = locations
        own = location in DASHBOARD_REDIRECTS  # to the dashboard's own pages, never elsewhere
        assert own or location in live.signed_urls(request), (
            f"redirect to an unsigned URL: {context}"
        )
        assert own or location.lower().startswith(("http://", "https://")), context
        assert re.fullmatch(r"[\x21-\x7e]+", location), context

    for secret in SECRETS:  # aiohttp's 400s quote the request: a secret sent may come back
        assert secret.encode() not in reply.body or secret.encode() in request.raw(), context
    assert b"root:x:0:0" not in reply.body and b"SQLite format 3" not in reply.body, context
    if any("text/html" in v for v in reply.get("Content-Type")):
        assert b"<script" not in reply.body.lower(), context

    # Rows: only for a valid token, never for a refusal, and no event a method cannot make.
    if not live.present(request) or reply.status >= 400:
        assert after == before, f"rows written: {after - before} for {context}"
    events = {k: after[k] - before[k] for k in ("opened", "clicked", "unsubscribed")}
    if request.method != b"GET":
        assert events["opened"] == events["clicked"] == 0, context
    if request.method != b"POST":
        assert events["unsubscribed"] == 0, context
    if request.path.startswith(b"/api/v1") and 200 <= reply.status < 300:
        authorization = b" ".join(v for k, v in request.headers if k.lower() == b"authorization")
        assert any(key.encode() in authorization for key in API_KEYS), context


def exchange(live: Live, request: Request) -> Reply:
    before = live.counts()
    reply = live.send(request)
    check_reply(live, request, reply, before, live.counts())
    return reply


def is_pixel(reply: Reply) -> bool:
    return reply.status == 200 and reply.get("Content-Type") == ["image/gif"]


def run(strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    """Drive ``check`` with examples of ``strategy``.

    All examples share the test's one server and database on purpose. Hypothesis calls
    this inner function, not the test, so fixtures are set up once per test as intended.
    """

    @FUZZ
    @given(strategy)
    def prop(value: Any) -> None:
        check(value)

    prop()

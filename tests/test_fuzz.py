"""Fuzzing every route over real HTTP (PRODUCT.md, "Routes" and "Bad input").

Hypothesis throws random and mutated paths, tokens (bit flips, truncation, extension,
swapped segments, other purposes, unknown keys, forged payloads, percent-encoding, NUL,
lone surrogates, 5k-100k characters), methods, headers and bodies at the real app. The
app runs in a thread with its own event loop on a real SQLite file; requests go over
loopback as raw bytes, so odd request lines and header values reach the server as sent
and the answer's head is checked byte for byte:

- never a 5xx, and every header line is one clean ``name: value`` (no CR, LF, NUL or
  other control character, no header injected by the input);
- a ``Location`` only when a valid click token is in the request, and then exactly the
  URL it signs, http(s), printable ASCII: never ``javascript:``, ``data:`` or unsigned;
- ``/o/…`` answers the GIF to every GET and HEAD, ``/c/…`` 404 without a valid token;
- rows are written only for valid tokens and never for a 4xx answer;
- ``HEAD`` never logs Opened, Clicked or Unsubscribed, and GET never Unsubscribed.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import ipaddress
import os
import random
import re
import socket
import string
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer, base64_encode

from tests.conftest import API_KEY, NEW_KEY, OLD_KEY, Rows
from tracker.app import create_app
from tracker.config import Settings
from tracker.routes.tracking import PIXEL
from tracker.tokens import (
    MAX_TOKEN_LENGTH,
    SALT_CLICK,
    SALT_OPEN,
    SALT_UNSUBSCRIBE,
    Click,
    Message,
    Tokens,
)
from tracker.urls import to_ascii

# aiohttp warns about a malformed Content-Disposition in a multipart body from a client
# (in production a log line; here, with filterwarnings = error, a 500), and leaves the
# temporary file of a file part unclosed when a later part is malformed (see ``live``).
pytestmark = [
    pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader"),
    pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionParam"),
    pytest.mark.filterwarnings(
        "ignore:Unclosed file <tempfile.SpooledTemporaryFile:ResourceWarning"
    ),
]
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

# Mutations ----------------------------------------------------------------------------

# The base64url alphabet, in order (SPARE below depends on it).
B64 = (string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_").encode()
# fmt: off
JUNK = (
    b"%00", b"\x00", b"%ED%A0%80", b"%ED%BF%BF", b"\xed\xa0\x80", b"%C0%AF", b"%C0%80",
    b"%FF%FE", b"\xff", b"%0D%0A", b"%0d%0aSet-Cookie:%20x=1", b"%0D%0AX-Injected:%201",
    b"\r\nX-Injected: 1", b"%E2%80%AE", b"%F0%9F%98%80", "é".encode(), b"%", b"%%", b"%G0",
    b"=", b"==", b"!", b"~", b"*", b"'", b"(", b")", b";", b",", b"+", b" ", b"%20", b"\t",
    b".", b"..", b"%2E", b"%2e%2e", b"/", b"%2F", b"\\", b"%5C", b"?", b"#", b"@", b":",
    b"&", b"[", b"]", b"{", b"}", b"<script>alert(1)</script>", b"%3Cscript%3E",
    b"javascript:alert(1)", b"//evil.example", b"https://evil.example/",
)
# fmt: on
# A character whose low bits base64 does not use: ``o`` and ``p`` decode alike at the end.
SPARE = {c: bytes([B64[(B64.index(c) & ~3) + k] for k in range(4)]) for c in B64}


def percent(data: bytes) -> bytes:
    return b"%" + data.hex("%").upper().encode() if data else b""


def escape(data: bytes, also: bytes = b"") -> bytes:
    """``data`` with what is not printable ASCII, and the bytes in ``also``, percent-encoded:
    a well-formed request target (or one path segment) that still decodes to ``data``."""
    unsafe = rb"[^\x21-\x7e]" + (rb"|[" + re.escape(also) + rb"]" if also else b"")
    return re.sub(unsafe, lambda m: percent(m[0]), data)


unicode_bytes = st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass"))
junk = st.one_of(
    st.sampled_from(JUNK),
    unicode_bytes,
    unicode_bytes.map(percent),
    st.binary(min_size=1, max_size=12),
)


MUTATIONS = (
    "flip spare truncate extend insert delete swap pad case percent_all percent_some"
    " overlong repeat replace"
).split()


@st.composite
def mutate(draw: st.DrawFn, token: bytes) -> bytes:
    """One edit of ``token``: the ways a token is damaged, tampered with or abused."""
    n = len(token)
    i = draw(st.integers(0, max(n - 1, 0)))
    op = draw(st.sampled_from(MUTATIONS))
    if op == "flip" and n:
        return token[:i] + bytes([draw(st.sampled_from(B64))]) + token[i + 1 :]
    if op == "spare" and n and token[-1] in SPARE:
        return token[:-1] + bytes([draw(st.sampled_from(SPARE[token[-1]]))])
    if op == "truncate":
        return token[:i]
    if op == "extend":
        return token + draw(junk)
    if op == "insert":
        return token[:i] + draw(junk) + token[i:]
    if op == "delete":
        return token[:i] + token[i + 1 :]
    if op == "swap" and b"." in token:
        payload, _, signature = token.rpartition(b".")
        return signature + b"." + payload
    if op == "pad":
        return token[:i] + b"=" * draw(st.integers(1, 4)) + token[i:]
    if op == "case":
        return token[:i] + token[i : i + 1].swapcase() + token[i + 1 :]
    if op == "percent_all":
        return percent(token)
    if op == "percent_some":
        j = draw(st.integers(i, n))
        return token[:i] + percent(token[i:j]) + token[j:]
    if op == "overlong":
        filler = bytes([draw(st.sampled_from(B64 + b"%."))])
        return token + filler * draw(st.integers(5_000, 100_000))
    if op == "repeat":
        return token * draw(st.integers(2, 30))
    if op == "replace":
        return draw(st.one_of(st.binary(max_size=40), unicode_bytes, st.sampled_from(JUNK)))
    return token


@st.composite
def token_bytes(draw: st.DrawFn) -> bytes:
    """A token of any purpose (valid, forged, unknown key) with zero to three edits."""
    token = draw(st.sampled_from(BASES)).encode()
    for _ in range(draw(st.integers(0, 3))):
        token = draw(mutate(token))
    return token


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


@pytest.fixture
def live(settings: Settings, rows: Rows) -> Iterator[Live]:
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
        # Free aiohttp's unclosed temporary files now, under this module's filters, not
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


# Strategies: headers and bodies -------------------------------------------------------

# fmt: off
NASTY_VALUES = (
    b"", b"\x00", b"\xed\xa0\x80", b"\xff\xfe", b"x\r\nX-Injected: 1", b"\xe2\x80\xae",
    "Mozilla/5.0 (Ünïcödé; 🙂) ✓".encode(), b"a" * 600, b"a" * 9000, b"%0d%0a", b"\t",
)
FORWARDED = (
    b"unknown", b"::ffff:999.1.1.1", b"fe80::1%eth0", b"1.2.3.4:80", b"[::1]:80", b"", b" ",
    b"127.0.0.1", b"10.0.0.1", b"::1", b"0", b"-1", b"1.2.3.4/24",
)
OTHER_HEADERS = (
    b"Cookie", b"Referer", b"Accept", b"Accept-Encoding", b"Accept-Language", b"Origin",
    b"X-Real-IP", b"Forwarded", b"Range", b"If-None-Match", b"If-Modified-Since", b"Host",
    b"Content-Type", b"Upgrade",
)
# fmt: on


def crlf_free(value: bytes) -> bytes:
    """CR and LF would reframe the request rather than fuzz a value (and could hang it)."""
    return value.replace(b"\r", b"").replace(b"\n", b"")


Values = st.SearchStrategy[bytes]
Headers = tuple[tuple[bytes, bytes], ...]
# Values a parser accepts: any text but control characters (lone surrogates as raw bytes).
text_values = st.text(st.characters(exclude_categories=["Cc"]), max_size=80).map(
    lambda s: s.encode("utf-8", "surrogatepass")
)
# Anything: control characters, NUL, invalid UTF-8, overlong values.
any_values = st.one_of(
    text_values, st.binary(max_size=80).map(crlf_free), st.sampled_from(NASTY_VALUES)
)
# Not as random names: framing is the request builder's job (a wrong length would hang the
# exchange, not fuzz the server), and Expect has its own values below.
FRAMING_HEADERS = (b"content-length", b"transfer-encoding", b"connection", b"expect")
# Non-UTF-8 values are tested on their own (test_expect_header_that_is_not_ascii_is_a_4xx):
# with CONNECT they still reach aiohttp's own handler (noted for the reliability suite).
EXPECT_VALUES = (b"100-continue",) * 4 + (b"100-Continue", b"bogus", b"")
header_name = (
    st.text(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=20)
    .map(str.encode)
    .filter(lambda n: n.lower() not in FRAMING_HEADERS)
)


def forwarded_for(values: Values) -> Values:
    hops = st.one_of(
        st.ip_addresses().map(lambda a: str(a).encode()), st.sampled_from(FORWARDED), values
    )
    return st.lists(hops, max_size=8).map(b", ".join) | st.just(b"1.1.1.1, " * 1000)


def authorizations(values: Values) -> Values:
    key = b"Bearer " + API_KEY.encode()
    return st.one_of(
        st.just(key),
        st.just(b"bearer   " + API_KEY.encode() + b"  "),
        st.sampled_from([b"Bearer", b"Bearer ", b"Basic YTpi", b"Bearer \xff\xfe", b"Bearer \x00"]),
        st.tuples(st.sampled_from([b"Bearer ", b"", b"Token "]), values).map(b"".join),
        junk.map(lambda j: key + crlf_free(j)),
    )


def headers(values: Values, unique: bool) -> st.SearchStrategy[Headers]:
    """Up to six request headers, the ones the app reads and others, valued from ``values``."""
    header = st.one_of(
        st.tuples(st.just(b"User-Agent"), values),
        st.tuples(st.just(b"X-Forwarded-For"), forwarded_for(values)),
        st.tuples(st.just(b"Authorization"), authorizations(values)),
        st.tuples(st.just(b"Expect"), st.sampled_from(EXPECT_VALUES)),
        st.tuples(st.sampled_from(OTHER_HEADERS), values),
        st.tuples(header_name, values),
    )
    if unique:
        return st.lists(header, max_size=6, unique_by=lambda h: h[0].lower()).map(tuple)
    return st.lists(header, max_size=6).map(tuple)


# Mostly headers a parser accepts, so that most requests reach the app; a quarter anything
# (aiohttp answers 400 to a control character or a duplicate User-Agent or Host).
clean_headers = headers(text_values, unique=True)
messy_headers = headers(any_values, unique=False)
header_lists = st.integers(0, 3).flatmap(lambda n: messy_headers if n == 0 else clean_headers)

# A 20 MB gzip bomb in a few kilobytes, and a valid compressed one-click body.
BOMB = gzip.compress(b"\x00" * 20_000_000)
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = b"application/x-www-form-urlencoded"
PART_HEADERS = (
    b'Content-Disposition: form-data; name="List-Unsubscribe"',
    b'Content-Disposition: form-data; name="_charset_"',
    b'Content-Disposition: form-data; name="f"; filename="x.txt"',
    b"Content-Disposition: form-data",
    b"Content-Disposition: attachment; filename*=UTF-8''%ED%A0%80",
    b"Content-Disposition: form-data; name=\xff\xfe",
    b"Content-Type: text/plain; charset=bogus",
    b"Content-Type: text/plain; charset=utf-16",
    b"Content-Type: multipart/mixed; boundary=inner",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-unknown",
    b"Content-Encoding: gzip",
    b"Content-Encoding: deflate",
    b"Content-Encoding: br",
    b"Content-Length: 99999999",
    b"garbage without a colon",
    b": empty name",
    b"X-Long: " + b"a" * 9000,
)
# fmt: off
PART_CONTENT = (
    b"One-Click", b"", b"\xff\xfe\x00", b"=ZZ=", b"!!!", b"A" * 40, gzip.compress(b"One-Click"),
    b"utf-8", b"x" * 40,
)
FORM_TYPES = (
    FORM, FORM + b"; charset=utf-8", FORM + b"; charset=bogus", FORM + b"; charset=utf-16",
    FORM + b"; charset=\xff", b"",
)
CHUNKED = (
    b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n", b"3;ext=1\r\nabc\r\n0\r\n\r\n",
    b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", b"3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
)
# fmt: on
part_content = st.sampled_from(PART_CONTENT) | st.binary(max_size=200)
boundaries = st.one_of(
    st.text(string.ascii_letters + string.digits + "'()+_,-./:=? \"", max_size=90).map(str.encode),
    st.sampled_from([b"", b"\xff", b'"quoted boundary"', b"a" * 71, b"--", b";", b"\r"]),
)


@st.composite
def multipart(draw: st.DrawFn) -> tuple[bytes, bytes]:
    boundary = draw(boundaries)
    content_type = draw(
        st.sampled_from(
            [
                b"multipart/form-data; boundary=" + boundary,
                b'multipart/form-data; boundary="' + boundary + b'"',
                b"multipart/form-data",
                b"multipart/form-data; boundary=" + boundary + b"; boundary=other",
                b"multipart/mixed; boundary=" + boundary,
            ]
        )
    )
    delimiter = draw(st.sampled_from([boundary, boundary, b"other", boundary + b" "]))
    body = draw(st.sampled_from([b"", b"preamble\r\n", b"\r\n"]))
    for _ in range(draw(st.integers(0, 4))):
        lines = draw(st.lists(st.sampled_from(PART_HEADERS), max_size=4))
        body += b"--" + delimiter + b"\r\n" + b"".join(h + b"\r\n" for h in lines)
        body += b"\r\n" + draw(part_content) + b"\r\n"
    body += draw(st.sampled_from([b"--" + delimiter + b"--\r\n", b"", b"--" + delimiter]))
    body += draw(st.sampled_from([b"", b"epilogue", b"\xff" * 10]))
    return content_type, body


@st.composite
def bodies(draw: st.DrawFn) -> tuple[tuple[tuple[bytes, bytes], ...], bytes | None, bool]:
    """(extra headers, body, chunked) for a request."""
    kind = draw(
        st.sampled_from(["none", "form", "multipart", "binary", "huge", "encoded", "chunked"])
    )
    if kind == "none":
        return (), None, False
    if kind == "form":
        content_type = draw(st.sampled_from(FORM_TYPES))
        pairs = st.lists(st.tuples(unicode_bytes, unicode_bytes).map(b"=".join), max_size=5)
        body = draw(st.one_of(st.just(ONE_CLICK), pairs.map(b"&".join), st.binary()))
        return ((b"Content-Type", content_type),), body, False
    if kind == "multipart":
        content_type, body = draw(multipart())
        return ((b"Content-Type", content_type),), body, False
    if kind == "binary":
        content_type = draw(any_values)
        return ((b"Content-Type", content_type),), draw(st.binary(max_size=500)), False
    if kind == "huge":
        size = draw(st.sampled_from([65_535, 65_536, 65_537, 200_000, 1_048_577]))
        fill = draw(st.sampled_from([b"a", ONE_CLICK + b"&", b"\x00"]))
        return ((b"Content-Type", FORM),), (fill * size)[:size], False
    if kind == "encoded":
        codings = [b"gzip", b"deflate", b"br", b"zstd", b"bogus", b"gzip, gzip"]
        coding = draw(st.sampled_from(codings))
        body = draw(
            st.sampled_from([gzip.compress(ONE_CLICK), zlib.compress(ONE_CLICK), BOMB, b"junk"])
        )
        return ((b"Content-Type", FORM), (b"Content-Encoding", coding)), body, False
    payload = draw(st.one_of(st.just(ONE_CLICK), st.binary(max_size=300)))
    framed = (b"%x\r\n" % len(payload) + payload + b"\r\n" if payload else b"") + b"0\r\n\r\n"
    body = draw(st.sampled_from((framed, *CHUNKED)))
    return ((b"Content-Type", FORM),), body, True


# Strategies: paths --------------------------------------------------------------------

ROUTE_METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]
ODD_METHODS = [b"TRACE", b"CONNECT", b"PROPFIND", b"get", b"FOO", b"G\x00T", b""]
methods = st.sampled_from([b"GET"] * 6 + [b"HEAD", b"POST"] * 4 + ROUTE_METHODS + ODD_METHODS)
path_ids = st.one_of(
    token_bytes(),
    st.sampled_from([*JUNK, b"x" * 300, b"recipient-1"]),
    unicode_bytes,
    unicode_bytes.map(percent),
)
# fmt: off
QUERY_VALUES = (
    b"opened", b"clicked", b"asc", b"desc", b"include", b"0", b"-1", b"1001",
    b"99999999999999999999999", b"1e3", b"NaN",
)
# fmt: on
queries = st.lists(
    st.tuples(
        st.sampled_from([b"type", b"sort", b"limit", b"after", b"bots", b"campaign", b"x"])
        | unicode_bytes.map(percent),
        st.one_of(
            st.sampled_from(QUERY_VALUES),
            st.sampled_from(JUNK),
            unicode_bytes.map(percent),
        ),
    ).map(b"=".join),
    max_size=4,
).map(lambda qs: (b"?" + b"&".join(qs)) if qs else b"")
API_PATHS = (
    b"/api/v1/recipients/{}/tracking",
    b"/api/v1/recipients/{}/mailable",
    b"/api/v1/deliveries/{}/stats",
    b"/api/v1/deliveries/{}/urls",
    b"/api/v1/deliveries/{}/logs",
    b"/api/v1/events",
    b"/api/v1/decorate",
    b"/api/v1/{}",
    b"/api/v1",
    b"/ui/{}",
)
# fmt: off
OTHER_PATHS = (
    b"/healthz", b"/metrics", b"/static/tracker.css", b"/static/", b"/static/../../etc/passwd",
    b"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"/static/..%2f..%2ftracker.db",
    b"/static/%2e%2e/tracker/tokens.py", b"/", b"*", b"", b"//", b"/o", b"/c", b"/u",
    b"http://evil.example/c/x", b"example.com:443", b"/healthz/../metrics", b"/HEALTHZ",
)
# fmt: on


@st.composite
def targets(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["open", "click", "unsubscribe", "view", "api", "other", "raw"]))
    if kind == "open":
        suffix = draw(st.sampled_from([b".gif", b".gif", b"", b".GIF", b".png", b".gif/x"]))
        return b"/o/" + draw(token_bytes()) + suffix + draw(queries)
    if kind in ("click", "unsubscribe", "view"):
        return b"/" + kind[:1].encode() + b"/" + draw(token_bytes()) + draw(queries)
    if kind == "api":
        return draw(st.sampled_from(API_PATHS)).replace(b"{}", draw(path_ids)) + draw(queries)
    if kind == "other":
        return draw(st.sampled_from(OTHER_PATHS)) + draw(st.sampled_from([b"", b"?x=1"]))
    return draw(st.sampled_from([b"/", b"", b"/o/", b"/c/", b"/api/v1/"])) + draw(
        st.one_of(st.binary(max_size=200), unicode_bytes, junk)
    )


@st.composite
def chaos_requests(draw: st.DrawFn) -> Request:
    target = draw(targets())
    if draw(st.booleans()):  # else aiohttp's parser refuses most of them with a 400
        target = escape(target)
    extra, body, chunked = draw(bodies()) if draw(st.booleans()) else ((), None, False)
    return Request(draw(methods), target, draw(header_lists) + extra, body, chunked)


# Properties ---------------------------------------------------------------------------


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


def test_chaos_never_breaks_the_server(live: Live) -> None:
    """Random methods, paths, tokens, headers and bodies on every route."""

    def check(request: Request) -> None:
        exchange(live, request)

    run(chaos_requests(), check)


@st.composite
def token_requests(draw: st.DrawFn) -> Request:
    """Well-formed requests to the tracking routes with mutated tokens and odd headers."""
    route = draw(st.sampled_from([b"/o/", b"/c/", b"/u/", b"/v/"]))
    token = draw(token_bytes())
    # Raw non-ASCII and controls make a malformed request line; here they are percent-encoded.
    token = escape(token, b"?#")
    suffix = draw(st.sampled_from([b".gif", b".gif?utm=1", b"", b"#f"])) if route == b"/o/" else b""
    query = draw(st.sampled_from([b"", b"?utm_source=x&utm_medium=y"]))
    method = draw(st.sampled_from([b"GET"] * 3 + [b"HEAD", b"POST"] * 2 + ROUTE_METHODS))
    extra, body, chunked = draw(bodies()) if method == b"POST" else ((), None, False)
    clean = draw(
        st.lists(
            st.tuples(
                st.sampled_from([b"User-Agent", b"X-Forwarded-For", b"Referer"]), text_values
            ),
            max_size=3,
            unique_by=lambda h: h[0],
        )
    )
    return Request(method, route + token + suffix + query, tuple(clean) + extra, body, chunked)


def test_mutated_tokens_never_verify(live: Live) -> None:
    """Tampered, truncated, overlong, foreign and forged tokens on /o/, /c/, /u/ and /v/."""

    def check(request: Request) -> None:
        reply = exchange(live, request)
        if len(request.target) > MAX_LINE:
            assert 400 <= reply.status < 500, request  # refused before routing
        if len(request.target) > MAX_LINE - 100 or request.has_dot_segment():
            return  # near the line limit, or normalised to another route
        valid = live.present(request)
        gets = request.method in (b"GET", b"HEAD")
        if request.path.startswith(b"/o/") and gets:
            assert is_pixel(reply), f"{request!r} -> {reply.status}"
            if request.method == b"GET":
                assert reply.body == PIXEL
        if request.path.startswith(b"/c/") and gets and not set(valid) & set(CLICK_URLS):
            assert reply.status == 404 and not reply.get("Location"), request
        if request.path.startswith(b"/u/") and not set(valid) & set(UNSUBSCRIBE):
            assert 400 <= reply.status < 500, request

    run(token_requests(), check)


@st.composite
def unsubscribe_posts(draw: st.DrawFn) -> Request:
    token = draw(st.one_of(st.sampled_from(UNSUBSCRIBE).map(str.encode), token_bytes()))
    token = escape(token, b"?#/")
    extra, body, chunked = draw(bodies())
    return Request(b"POST", b"/u/" + token, draw(header_lists) + extra, body, chunked)


def test_unsubscribe_posts_with_any_body(live: Live) -> None:
    """POST /u/ with malformed multipart, odd charsets, encodings, chunking, huge bodies."""

    answers: Counter[int] = Counter()

    def check(request: Request) -> None:
        before = live.counts()
        reply = exchange(live, request)
        written = live.counts() - before
        if reply.status == 200:
            assert set(live.present(request)) & set(UNSUBSCRIBE), request
            assert written["hits"] == 1, request
        else:
            assert not written, request
        answers[reply.status] += 1

    run(unsubscribe_posts(), check)
    assert answers[200] and answers[400], answers


@st.composite
def head_requests(draw: st.DrawFn) -> Request:
    valid = st.sampled_from(VALID).map(str.encode)
    token = draw(st.one_of(valid, valid, token_bytes()))
    token = escape(token, b"?#/")
    route = draw(st.sampled_from([b"/o/", b"/c/", b"/u/", b"/v/"]))
    suffix = b".gif" if route == b"/o/" and draw(st.booleans()) else b""
    target = draw(st.one_of(st.just(route + token + suffix), targets().map(escape)))
    extra, body, chunked = draw(bodies()) if draw(st.booleans()) else ((), None, False)
    return Request(b"HEAD", target, draw(clean_headers) + extra, body, chunked)


def test_head_never_logs_an_event(live: Live) -> None:
    """HEAD with valid and invalid tokens on every route: answered, kept raw, never counted."""
    answers: Counter[int] = Counter()

    def check(request: Request) -> None:
        answers[exchange(live, request).status] += 1

    run(head_requests(), check)
    counts = live.counts()
    assert counts["hits"] > 0, "valid HEAD requests are kept in the raw log"
    assert counts - Counter(hits=counts["hits"]) == Counter(), f"events from HEAD: {counts}"
    assert answers[200] and answers[302], answers


# Signed targets -----------------------------------------------------------------------

# fmt: off
HOSTS = (
    "example.com", "EXAMPLE.com", "a.b-c.example", "127.0.0.1", "[2001:db8::1]", "localhost",
    "xn--bcher-kva.example", "bücher.example", "例え.テスト", "ex_ample.com",
)
BAD_SCHEMES = (
    "javascript", "JavaScript", "data", "vbscript", "file", "ftp", "mailto", "about", "blob",
    "ws", "gopher", "tel", "chrome", "jar", "view-source",
)
BAD_URLS = (
    "", "http://", "https://", "http:/example.com/", "https:example.com", "http:///x",
    "https://:443/", "http://example.com:99999/", "http://example.com:-1/", "https://[::1/",
    "https://example.com\\@evil.example/", "http:\\\\evil.example", " http://example.com/",
    "http://example.com/\r\nSet-Cookie: x=1", "http://example.com/\nx", "http://example.com/\x00",
    "http://exa mple.com/", "http://example.com/\t", "\x00https://example.com/",
    "java\tscript:alert(1)", "javascript:alert(1)//http://example.com/",
    "data:text/html;base64,PHNjcmlwdD4=", "https://example.com/\ud800", "https://\ud800.example/",
    "https://example.com/" + "x" * 2100,
)
# fmt: on
url_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"])
    | st.sampled_from(list("-._~!$&'()*+,;=:@/%")),
    max_size=40,
)


@st.composite
def http_urls(draw: st.DrawFn) -> str:
    """Absolute http(s) URLs, ASCII or not; signing one may still refuse (say, bad IDNA)."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:pa%40ss@"]))
    port = draw(st.sampled_from(["", ":80", ":8443", ":65535"]))
    path = draw(url_text).replace("?", "").replace("#", "")
    query = draw(st.one_of(st.just(""), url_text.map(lambda q: "?" + q.replace("#", ""))))
    fragment = draw(st.one_of(st.just(""), url_text.map(lambda f: "#" + f)))
    host = draw(st.sampled_from(HOSTS))
    return f"{scheme}://{userinfo}{host}{port}/{path}{query}{fragment}"


ASCII_URL_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%"


@st.composite
def ascii_http_urls(draw: st.DrawFn) -> str:
    """Absolute http(s) URLs of URL characters only: every one must be signable."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(st.sampled_from([h for h in HOSTS if h.isascii()]))
    path = draw(st.text(ASCII_URL_CHARS, max_size=200))
    query = draw(st.text(ASCII_URL_CHARS + "?", max_size=100))
    return f"{scheme}://{host}/{path}?{query}"


bad_urls = st.one_of(
    st.tuples(st.sampled_from(BAD_SCHEMES), url_text).map(lambda t: f"{t[0]}:{t[1]}"),
    st.tuples(st.sampled_from(BAD_SCHEMES), url_text).map(lambda t: f"{t[0]}://x.example/{t[1]}"),
    url_text.map(lambda p: "//evil.example/" + p),
    url_text.map(lambda p: "/" + p),
    st.sampled_from(BAD_URLS),
    # An http(s) URL with a control character, a space or a backslash anywhere in it.
    st.tuples(
        ascii_http_urls(), st.sampled_from(list("\x00\r\n\t \x7f\\\x1b")), st.integers(0)
    ).map(lambda t: t[0][: t[2] % len(t[0])] + t[1] + t[0][t[2] % len(t[0]) :]),
)
message_ids = st.one_of(
    st.just("id"),
    st.text(min_size=1, max_size=256),
    st.text(st.characters(min_codepoint=0x10000), min_size=200, max_size=256),
)
messages = st.builds(Message, message_ids, message_ids, message_ids, message_ids)
plain_ids = st.text(string.ascii_letters + string.digits + "-_.@", min_size=1, max_size=64)
plain_messages = st.builds(Message, plain_ids, plain_ids, plain_ids, plain_ids)
signing_cases = st.one_of(
    # Plain ids and an ASCII http(s) URL: must be signed, exactly as given.
    st.tuples(st.just("ascii"), ascii_http_urls(), plain_messages, st.integers(0, 99_999)),
    # Anything else: signing may refuse, but what it signs must work.
    st.tuples(st.just("any"), http_urls(), messages, st.integers(0, 99_999)),
    st.tuples(st.just("any"), st.text(max_size=60), messages, st.just(0)),
    # Not an absolute http(s) URL: must be refused.
    st.tuples(st.just("bad"), bad_urls, plain_messages, st.just(0)),
)


def test_signed_targets_redirect_exactly_and_others_cannot_be_signed(live: Live) -> None:
    """What ``click_token`` signs redirects exactly there, http(s) only; the rest is refused."""

    def check(case: tuple[str, str, Message, int]) -> None:
        kind, url, message, link = case
        click = Click(message, link, url)
        if kind == "bad":
            with pytest.raises(ValueError):
                TOKENS.click_token(click)
            return
        try:
            token = TOKENS.click_token(click)
        except ValueError:
            assert kind == "any", f"an http(s) URL was refused: {case}"
            return
        signed = to_ascii(url)
        assert kind == "any" or signed == url
        assert signed.lower().startswith(("http://", "https://")), signed
        assert re.fullmatch(r"[\x21-\x7e]+", signed), signed
        live.valid[token] = signed
        for method in (b"HEAD", b"GET"):
            before = live.counts()
            reply = exchange(live, Request(method, b"/c/" + token.encode()))
            written = live.counts() - before
            assert reply.status == 302 and reply.get("Location") == [signed], (case, reply)
            events = Counter(hits=1, clicked=1) if method == b"GET" else Counter(hits=1)
            assert written == events, (method, case)
        (clicked,) = live.rows(
            "SELECT url, link, recipient FROM events WHERE type = 'clicked'"
            " ORDER BY id DESC LIMIT 1"
        )
        assert clicked == {"url": signed, "link": link, "recipient": message.recipient}

    run(signing_cases, check)


# Regressions: found by the properties above -------------------------------------------


BROKEN_BODIES = [
    pytest.param(
        "multipart/form-data; boundary=zz",
        b"--zz\r\ngarbage\r\n\r\nx\r\n--zz--\r\n",
        {},
        id="multipart-part-header-without-colon",
    ),
    pytest.param(
        "multipart/form-data; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="a"\r\n'
        b"Content-Transfer-Encoding: x-unknown\r\n\r\nb\r\n--zz--\r\n",
        {},
        id="multipart-unknown-transfer-encoding",
    ),
    pytest.param(
        "multipart/form-data; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\n'
        + b"x" * 40
        + b"\r\n--zz--\r\n",
        {},
        id="multipart-overlong-default-charset",
    ),
    pytest.param(
        "application/x-www-form-urlencoded",
        b"not gzip at all",
        {"Content-Encoding": "gzip"},
        id="body-gzip-that-does-not-inflate",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "extra"), BROKEN_BODIES)
async def test_unreadable_unsubscribe_body_is_400_and_logs_nothing(
    client: TestClient,
    tokens: Tokens,
    message: Message,
    rows: Rows,
    content_type: str,
    body: bytes,
    extra: dict[str, str],
) -> None:
    resp = await client.post(
        f"/u/{tokens.unsubscribe_token(message)}",
        data=body,
        headers={"Content-Type": content_type, **extra},
        skip_auto_headers=["Content-Encoding"],
    )
    assert resp.status == 400
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]


async def test_other_spellings_of_a_signature_are_tampered_tokens(
    client: TestClient, click_token: str, rows: Rows
) -> None:
    """base64 decoders skip ``=`` and the last character's spare bits: not here."""
    payload, signature = click_token.rsplit(".", 1)
    last = signature[-1].encode()[0]
    spare = [chr(c) for c in SPARE[last] if c != last]
    candidates = [
        click_token + "=",
        click_token + "==",
        f"{payload}.=={signature}",
        f"{payload}.{signature[:5]}={signature[5:]}",
        *(f"{payload}.{signature[:-1]}{c}" for c in spare),
    ]
    for token in candidates:
        resp = await client.get(f"/c/{token}", allow_redirects=False)
        assert resp.status == 404, token
        assert "Location" not in resp.headers
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]
    resp = await client.get(f"/c/{click_token}", allow_redirects=False)
    assert resp.status == 302, "the token as signed still works"


async def test_forged_payload_the_server_never_signs_is_refused(
    client: TestClient, rows: Rows
) -> None:
    """Even with our key, a payload with an unstorable id logs nothing and breaks nothing."""
    lone = b'["\\ud800","r","c","e"]'
    assert (await client.get(f"/o/{forge(lone, SALT_OPEN)}.gif")).status == 200
    unsubscribe = f"/u/{forge(lone, SALT_UNSUBSCRIBE)}"
    assert (await client.get(unsubscribe)).status == 404
    assert (await client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})).status == 404
    assert rows("SELECT count(*) AS n FROM hits") == [{"n": 0}]


def test_tokens_that_the_server_would_not_read_are_not_signed() -> None:
    """Long ids of random astral characters do not compress: the token would pass the limit."""
    rng = random.Random(7)
    ids = ["".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(256)) for _ in range(4)]
    message = Message(*ids)
    for make in (TOKENS.open_token, TOKENS.unsubscribe_token, TOKENS.view_token):
        with pytest.raises(ValueError, match="too long"):
            make(message)
    with pytest.raises(ValueError, match="too long"):
        TOKENS.click_token(Click(message, 0, "https://example.com/"))
    short_message = Message("d", "r", "c", "e")
    path = "".join(rng.choice(string.ascii_letters) for _ in range(2000))
    token = TOKENS.click_token(Click(short_message, 0, f"https://example.com/{path}"))
    assert len(token) <= MAX_TOKEN_LENGTH, "the longest URL with short ids still fits"


@pytest.mark.parametrize("tail", [b"%0A", b"x%0A.png", b"%0D%0A", b"a%0Ab/c"])
def test_pixel_url_with_a_newline_still_answers_the_gif(live: Live, tail: bytes) -> None:
    for method in (b"GET", b"HEAD"):
        reply = exchange(live, Request(method, b"/o/" + OPEN[0].encode() + tail))
        assert is_pixel(reply)
    assert live.counts() == Counter()


def test_expect_header_that_is_not_ascii_is_a_4xx(live: Live) -> None:
    """aiohttp's default Expect handler answered 500 here: tracker's routes use their own."""
    paths = (b"/healthz", b"/no/such/page", b"/api/v1", b"/api/v1/nope", b"/static/tracker.css",
             b"/c/x%0D%0A", b"/api/v1/x%0A")  # fmt: skip
    for path in paths:
        reply = live.send(Request(b"POST", path, ((b"Expect", b"\x80"),)))
        assert 400 <= reply.status < 500, path


def test_url_that_cannot_be_encoded_is_not_signed(tokens: Tokens, message: Message) -> None:
    """yarl silently drops a lone surrogate: signing would change the target, so refuse."""
    for url in ("https://example.com/a\ud800b", "https://example.com/é#\ud800"):
        with pytest.raises(ValueError):
            tokens.click_token(Click(message, 0, url))

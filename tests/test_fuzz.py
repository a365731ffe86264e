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

The harness (server thread, raw requests, the checks above) is ``tests/fuzz_harness.py``;
the strategies are ``tests/fuzz_strategies.py``. This module holds the properties.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st

from tests.conftest import Rows
from tests.fuzz_harness import (
    CLICK_URLS,
    MAX_LINE,
    OPEN,
    TOKENS,
    UNSUBSCRIBE,
    VALID,
    Live,
    Request,
    exchange,
    forge,
    is_pixel,
    run,
    serving,
)
from tests.fuzz_strategies import (
    ROUTE_METHODS,
    SPARE,
    bodies,
    chaos_requests,
    clean_headers,
    escape,
    header_lists,
    signing_cases,
    targets,
    text_values,
    token_bytes,
)
from tracker.config import Settings
from tracker.routes.tracking import PIXEL
from tracker.tokens import (
    MAX_TOKEN_LENGTH,
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


@pytest.fixture
def live(settings: Settings, rows: Rows) -> Iterator[Live]:
    """The app serving on loopback for the test's examples, on the test's store."""
    with serving(settings, rows) as server:
        yield server


# Properties ---------------------------------------------------------------------------


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

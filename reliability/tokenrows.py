"""Rows 4–6: random tokens, mutated tokens, and generated target URLs, over HTTP.

Requests go through reliability.rawhttp (16 keep-alive connections to one server
subprocess), so every odd token reaches the server exactly as built.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

from itsdangerous import base64_decode, base64_encode

from reliability import rawhttp
from reliability.figures import Figure
from reliability.harness import OLD_SECRET, PERSON, RETIRED_SECRET, TOKENS, database, start
from reliability.rawhttp import Reply, Request
from tracker.routes.tracking import PIXEL
from tracker.tokens import Click, Message, Tokens
from tracker.urls import to_ascii

SAFE = string.ascii_letters + string.digits + "-_."
UA = (("User-Agent", PERSON["User-Agent"]),)
ONE_CLICK = (("Content-Type", "application/x-www-form-urlencoded"),)


def rows_written(db: Path) -> int:
    with database(db) as conn:
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return int(hits) + int(events)


def requests_for(token: str, rng: random.Random) -> Request:
    """One request carrying ``token`` on a random tracking route and method."""
    route = rng.randrange(7)
    if route == 0:
        return Request("GET", f"/o/{token}.gif", UA)
    if route == 1:
        return Request("HEAD", f"/o/{token}.gif", UA)
    if route == 2:
        return Request("GET", f"/c/{token}", UA)
    if route == 3:
        return Request("HEAD", f"/c/{token}", UA)
    if route == 4:
        return Request("GET", f"/u/{token}", UA)
    if route == 5:
        return Request("POST", f"/u/{token}", UA + ONE_CLICK, b"List-Unsubscribe=One-Click")
    return Request("GET", f"/v/{token}", UA)


def random_token(rng: random.Random) -> str:
    """URL-safe noise, sometimes with a dot, percent-escapes or a huge length."""
    kind = rng.random()
    if kind < 0.6:
        return "".join(rng.choices(SAFE, k=rng.randint(1, 300)))
    if kind < 0.8:
        data = rng.randbytes(rng.randint(1, 200))
        return base64_encode(data).decode() + "." + base64_encode(rng.randbytes(20)).decode()
    if kind < 0.95:
        return quote(rng.randbytes(rng.randint(1, 120)), safe="")
    return "".join(rng.choices(SAFE, k=rng.randint(4000, 8000)))


class Tally:
    """Counts answers and the ways they broke the rules."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.problems: Counter[str] = Counter()
        self.lost = 0

    def bad(self, what: str) -> None:
        self.problems[what] += 1

    def summary(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.problems.items())) or "none"


def _common(tally: Tally, request: Request, reply: Reply | None) -> Reply | None:
    if reply is None:
        tally.lost += 1
        tally.bad("no answer")
        return None
    tally.statuses[reply.status] += 1
    if reply.status >= 500:
        tally.bad("5xx")
    if request.target.startswith("/o/") and request.method in ("GET", "HEAD"):
        gif = reply.status == 200 and reply.header("Content-Type") == "image/gif"
        if not gif or (request.method == "GET" and reply.body != PIXEL):
            tally.bad("pixel not the GIF")
    return reply


def random_tokens(work: Path, count: int, seed: int) -> Figure:
    """Row 4: random tokens on every tracking route never redirect, write or fail."""
    began = time.monotonic()
    server = start(work, "random")
    rng = random.Random(seed)
    tally = Tally()

    def seen(_: int, request: Request, reply: Reply | None) -> None:
        reply = _common(tally, request, reply)
        if reply is not None and reply.header("Location") is not None:
            tally.bad("Location")

    gen = (requests_for(random_token(rng), rng) for _ in range(count))
    asyncio.run(rawhttp.run(server.port, gen, seen))
    server.stop()
    written = rows_written(work / "data" / "tracker.db")
    fivexx = tally.problems["5xx"]
    return Figure(
        "random tokens on every route",
        f"{count:,} requests over HTTP; {fivexx} 5xx, {tally.problems['Location']} Location, "
        f"{written} rows, pixel not GIF {tally.problems['pixel not the GIF']}, "
        f"no answer {tally.lost}",
        "0 5xx, 0 Location, 0 rows, pixel always the GIF",
        not tally.problems and written == 0,
        time.monotonic() - began,
    )


# Mutated tokens -------------------------------------------------------------------------


def _flip(segment: str, rng: random.Random) -> str:
    data = bytearray(base64_decode(segment)) if segment else bytearray(b"\0")
    bit = rng.randrange(len(data) * 8)
    data[bit // 8] ^= 1 << (bit % 8)
    return base64_encode(bytes(data)).decode()


def mutate(token: str, other: str, rng: random.Random) -> str:
    """One mutation of ``token`` (``other`` is a valid token of another message)."""
    head, _, sig = token.rpartition(".")
    kind = rng.randrange(8)
    if kind == 0:  # a bit of the payload
        compressed = head.startswith(".")
        return ("." if compressed else "") + _flip(head.lstrip("."), rng) + "." + sig
    if kind == 1:  # a bit of the signature
        return head + "." + _flip(sig, rng)
    if kind == 2:  # truncated
        return token[: rng.randrange(len(token))]
    if kind == 3:  # extended
        return token + "".join(rng.choices(SAFE, k=rng.randint(1, 8)))
    if kind == 4:  # payload and signature swapped
        return sig + "." + head
    if kind == 5:  # this payload, another token's signature
        return head + "." + other.rpartition(".")[2]
    if kind == 6:  # one character replaced
        i = rng.randrange(len(token))
        return token[:i] + rng.choice(SAFE.replace(token[i], "")) + token[i + 1 :]
    i, j = sorted(rng.sample(range(len(token)), 2))  # two characters swapped
    return token[:i] + token[j] + token[i + 1 : j] + token[i] + token[j + 1 :]


PURPOSES = ("open", "click", "unsubscribe")


def _token(tokens: Tokens, purpose: str, message: Message) -> str:
    if purpose == "open":
        return tokens.open_token(message)
    if purpose == "click":
        return tokens.click_token(Click(message, 3, f"https://shop.example/{message.recipient}"))
    return tokens.unsubscribe_token(message)


def _route(purpose: str, token: str) -> Request:
    if purpose == "open":
        return Request("GET", f"/o/{token}.gif", UA)
    if purpose == "click":
        return Request("GET", f"/c/{token}", UA)
    return Request("GET", f"/u/{token}", UA)


def _mutations(count: int, rng: random.Random) -> Iterator[tuple[str, str, bool]]:
    """(purpose of the route, token, is an original) for ``count`` requests."""
    retired = Tokens([RETIRED_SECRET])
    stranger = Tokens(["a key this server never had " + str(rng.random())])
    old_only = Tokens([OLD_SECRET])
    for n in range(count):
        purpose = PURPOSES[n % 3]
        message = Message("d-mut", f"m{n}", "c", "e")
        if n % 50 == 0:  # a control: the original, signed by the newest or an older key
            signer = TOKENS if n % 100 else old_only
            yield purpose, _token(signer, purpose, message), True
            continue
        original = _token(TOKENS, purpose, message)
        kind = rng.random()
        if kind < 0.1:  # signed with a retired key, or one the server never had
            token = _token(retired if rng.random() < 0.5 else stranger, purpose, message)
        elif kind < 0.2:  # another purpose's token (another salt) on this route
            token = _token(TOKENS, rng.choice([p for p in PURPOSES if p != purpose]), message)
        else:
            other = _token(TOKENS, purpose, Message("d-mut", f"x{n}", "c", "e"))
            token = mutate(original, other, rng)
            if token == original:
                continue
        yield purpose, token, False


def mutated_tokens(work: Path, count: int, seed: int) -> Figure:
    """Row 5: mutated valid tokens are refused; only the originals are accepted."""
    began = time.monotonic()
    server = start(work, "mutated")
    rng = random.Random(seed)
    tally = Tally()
    originals = accepted_mutants = refused_originals = 0
    sent: list[tuple[str, bool]] = []

    def seen(i: int, request: Request, reply: Reply | None) -> None:
        nonlocal accepted_mutants, refused_originals
        reply = _common(tally, request, reply)
        if reply is None:
            return
        purpose, original = sent[i]
        accepted = purpose != "open" and reply.status in (200, 302)
        if accepted and not original:
            accepted_mutants += 1
        if original and purpose != "open" and not accepted:
            refused_originals += 1

    def gen() -> Iterator[Request]:
        nonlocal originals
        for purpose, token, original in _mutations(count, rng):
            originals += original
            sent.append((purpose, original))
            yield _route(purpose, token)

    asyncio.run(rawhttp.run(server.port, gen(), seen))
    server.stop()
    with database(work / "data" / "tracker.db") as conn:
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
    # Every original writes one raw hit (open, click, form view); nothing else may.
    extra = hits - originals
    return Figure(
        "mutated valid tokens",
        f"{len(sent):,} requests ({originals} originals); accepted mutants {accepted_mutants}"
        f" (+{max(extra, 0)} by rows), originals refused {refused_originals}, "
        f"5xx {tally.problems['5xx']}",
        "0 accepted but the original; 0 5xx",
        accepted_mutants == 0 and extra == 0 and refused_originals == 0 and not tally.problems,
        time.monotonic() - began,
    )


# Generated target URLs ----------------------------------------------------------------

PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%?#[] \"<>\\^`{|}é収🙂"


def random_url(rng: random.Random) -> str:
    scheme = rng.choice(["http", "https", "HTTP", "Https"])
    userinfo = rng.choice(["", "", "", "user:pass@", "u%40x@"])
    kind = rng.random()
    if kind < 0.6:
        labels = ["".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(1, 12)))
                  for _ in range(rng.randint(1, 4))]  # fmt: skip
        host = ".".join(labels) + rng.choice([".com", ".example", ".de", ""])
    elif kind < 0.75:
        host = rng.choice(["bücher", "例え", "münchen", "xn--n3h"]) + ".example"
    elif kind < 0.9:
        host = ".".join(str(rng.randrange(256)) for _ in range(4))
    else:
        host = "[2001:db8::" + format(rng.randrange(65536), "x") + "]"
    port = rng.choice(["", "", "", f":{rng.randrange(1, 65536)}"])
    path = "/" + "".join(rng.choices(PATH_CHARS, k=rng.randint(0, 120)))
    if rng.random() < 0.05:
        path += rng.choice(["\r\nSet-Cookie: x=1", "\x00", "\t", "\x7f", "%0d%0a"])
    return f"{scheme}://{userinfo}{host}{port}{path}"


def location_ok(location: str | None, expected: str) -> str | None:
    """What is wrong with a ``Location`` header, or None."""
    if location is None:
        return "no Location"
    if location != expected:
        return "not what was signed"
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in location):
        return "control or non-ASCII character"
    parts = urlsplit(location)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not http(s) with a host"
    return None


def signed_targets(work: Path, count: int, seed: int) -> Figure:
    """Row 6: every generated URL that can be signed redirects to exactly itself."""
    began = time.monotonic()
    server = start(work, "targets")
    rng = random.Random(seed)
    tally = Tally()
    expected: list[str] = []
    refused = 0

    def gen() -> Iterator[Request]:
        nonlocal refused
        for n in range(count):
            url = random_url(rng)
            try:
                token = TOKENS.click_token(Click(Message("d-url", f"u{n}", "c", "e"), 0, url))
            except ValueError:
                refused += 1
                continue
            expected.append(to_ascii(url))
            yield Request("GET", f"/c/{token}", UA)

    def seen(i: int, request: Request, reply: Reply | None) -> None:
        reply = _common(tally, request, reply)
        if reply is None:
            return
        if reply.status != 302:
            tally.bad(f"status {reply.status}")
        wrong = location_ok(reply.header("Location"), expected[i])
        if wrong:
            tally.bad(wrong)

    asyncio.run(rawhttp.run(server.port, gen(), seen))
    server.stop()
    return Figure(
        "generated URLs: sign → redirect",
        f"{count:,} URLs, {len(expected):,} signed ({refused} refused at signing); "
        f"bad redirects: {tally.summary()}",
        "every Location http(s) with a host, no control characters, equal to what was signed",
        not tally.problems and len(expected) > 0,
        time.monotonic() - began,
    )

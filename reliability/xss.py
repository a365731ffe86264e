"""Row 9: XSS payloads through every field that reaches a page, then every page read.

Payloads go in as delivery, recipient and campaign ids (inside signed tokens), as the
target URL, the user agent, the bounce reason and address (sending API) and the
delivery's registered HTML (decorate API). Then the dashboard pages (/ui/: deliveries,
search, each delivery's four tabs, the logs filtered by recipient, the recipient page,
the workflow page) and the unsubscribe pages are fetched and parsed. A page fails when a
payload with markup appears raw, or when the parsed page holds anything that runs: an
inline script (other than the JSON data block), an ``on…`` attribute, a ``javascript:``
or ``data:`` URL, an iframe without a script-free sandbox, ``<base>``, ``<object>``,
``<embed>`` or a refreshing ``<meta>``.
"""

from __future__ import annotations

import asyncio
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import aiohttp

from reliability.figures import Figure
from reliability.harness import API_KEY, AUTH, TOKENS, session, start
from tracker.tokens import Click, Message

BASE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>x</script>",
    "</title><script>alert(1)</script>",
    "<iframe src=javascript:alert(1)>",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">x</a>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<base href=//evil.example/>",
    "<meta http-equiv=refresh content=0;url=//e>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "<input autofocus onfocus=alert(1)>",
    "<scr<script>ipt>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<<script>alert(1)//<</script>",
    '<img """><script>alert(1)</script>">',
    "<svg><script>alert&#40;1&#41;</script>",
    '<a href="&#106;avascript:alert(1)">',
    "{{7*7}}<script>x</script>",
    "${alert(1)}<b>",
    "</script><script>alert(1)</script>",
    "<!--<script>-->",
    "<style>@import'//evil'</style>",
    "<link rel=stylesheet href=//evil>",
    "<form action=//evil><button>",
    "<video><source onerror=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<x contenteditable onblur=alert(1)>",
    "\u2028<script>alert(1)</script>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
]
WRAPS = ["{}", "a{}b", '"{}"', "'{}'", "{}<!--", "x\t{}"]


def payloads(count: int = 240) -> list[str]:
    """At least ``count`` distinct payloads: the vectors, wrapped in a few contexts."""
    out = list(dict.fromkeys(w.format(b) for w in WRAPS for b in BASE))
    return out[:count]


class Page(HTMLParser):
    """Collects whatever in a parsed page could run script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=>")
            squashed = "".join(value.split()).lower()
            if name in ("href", "src", "action", "formaction", "data", "xlink:href") and (
                squashed.startswith(("javascript:", "vbscript:", "data:text"))
            ):
                self.problems.append(f"<{tag} {name}={value[:30]}>")
        if tag == "script":
            if (
                values.get("src", "").startswith("/static/")
                or values.get("type") == "application/json"
            ):
                self._in_script = values.get("type", "src")
            else:
                self.problems.append("<script> of the input")
        elif tag in ("object", "embed", "base", "applet"):
            self.problems.append(f"<{tag}>")
        elif tag == "meta" and "http-equiv" in values:
            self.problems.append("<meta http-equiv>")
        elif tag == "iframe":
            sandbox = values.get("sandbox")
            src = values.get("src", "")
            # The one frame allowed: the hot-clicks tab's copy of the email, sandboxed without
            # scripts and served under a policy of its own (checked by ``_email_frames``).
            own = src.startswith("/ui/deliveries/") and src.endswith("/email")
            if sandbox is None or "allow-scripts" in sandbox or (src and not own):
                self.problems.append("<iframe> that may run script")
        elif tag == "link" and not values.get("href", "").startswith("/static/"):
            self.problems.append("<link> to elsewhere")

    def handle_data(self, data: str) -> None:
        if self._in_script == "application/json" and "<" in data:
            self.problems.append("markup in the JSON block")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def inspect(html: str, sent: list[str]) -> list[str]:
    page = Page()
    page.feed(html)
    page.close()
    # A quote-only payload may match an attribute's own quotes: the parser judges those.
    raw = [p for p in sent if "<" in p and p in html]
    return page.problems + [f"raw payload {p[:30]!r}" for p in raw]


def _ids(i: int, p: str) -> tuple[str, str]:
    return (f"d{i}{p}")[:250], (f"r{i}{p}")[:250]


def _header_safe(p: str) -> str:
    return "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in p)


async def _inject(base: str, sent: list[str], client: aiohttp.ClientSession) -> None:
    events = []
    for i, p in enumerate(sent):
        delivery, recipient = _ids(i, p)
        message = Message(delivery, recipient, (f"c{p}")[:250], (f"e{p}")[:250])
        ua = {"User-Agent": "Mozilla/5.0 (Macintosh) " + _header_safe(p)}
        async with client.get(f"{base}/o/{TOKENS.open_token(message)}.gif", headers=ua) as r:
            await r.read()
        url = f"https://shop.example/{quote(p, safe='')}?q={quote(p)}"
        click = TOKENS.click_token(Click(message, 0, url))
        async with client.get(f"{base}/c/{click}", headers=ua, allow_redirects=False) as r:
            await r.read()
        html = f'<html><body><p>{p}</p><a href="https://shop.example/?x={quote(p)}">{p}</a></body></html>'
        body = {"delivery": delivery, "campaign": "c", "email": "e", "recipient": recipient,
                "html": html}  # fmt: skip
        async with client.post(f"{base}/api/v1/decorate", json=body, headers=AUTH) as r:
            await r.read()
        events += [
            {"id": f"s{i}", "type": "sent", "delivery": delivery, "recipient": recipient,
             "address": p, "campaign": "c", "email": "e"},
            {"id": f"b{i}", "type": "hard_bounced", "delivery": delivery, "recipient": recipient,
             "category": "invalid", "reason": p},
        ]  # fmt: skip
    async with client.post(f"{base}/api/v1/events", json=events, headers=AUTH) as r:
        assert r.status == 200, await r.text()


async def _email_frames(ui: aiohttp.ClientSession, base: str, sent: list[str]) -> list[str]:
    """The hot-clicks frame shows each email as it is, payloads included: what keeps them
    from running is its policy (no script source, sandboxed without scripts)."""
    problems = []
    for i, p in enumerate(sent):
        delivery, _ = _ids(i, p)
        async with ui.get(f"{base}/ui/deliveries/{quote(delivery, safe='')}/email") as r:
            await r.read()
            if r.status != 200:
                continue
            policy = r.headers.get("Content-Security-Policy", "")
            rules = {rule.split()[0]: rule for rule in policy.split(";") if rule.strip()
                     for rule in [rule.strip()]}  # fmt: skip
            scripts = rules.get("script-src", rules.get("default-src", ""))
            sandbox = rules.get("sandbox")
            if "'none'" not in scripts or sandbox is None or "allow-scripts" in sandbox:
                problems.append(f"email frame policy that may run script: {policy[:60]!r}")
    return problems


def _pages(sent: list[str]) -> list[str]:
    paths = ["/ui/", "/ui/workflow", "/ui/?sort=oldest"]
    for i, p in enumerate(sent):
        delivery, recipient = _ids(i, p)
        d = quote(delivery, safe="")
        paths += [f"/ui/deliveries/{d}?tab={tab}" for tab in ("stats", "urls", "hot", "logs")]
        paths += [
            f"/ui/deliveries/{d}?tab=logs&recipient={quote(recipient, safe='')}&type={quote(p)}",
            f"/ui/recipients/{quote(recipient, safe='')}",
            f"/ui/?q={quote(p, safe='')}",
        ]
    return paths


async def _read_pages(base: str, sent: list[str]) -> tuple[int, list[str], set[int]]:
    problems: list[str] = []
    statuses: set[int] = set()
    pages = 0
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as ui:
        async with ui.post(f"{base}/ui/login", data={"key": API_KEY}) as r:
            assert r.status == 200, r.status
        for path in _pages(sent):
            async with ui.get(base + path) as r:
                statuses.add(r.status)
                problems += inspect(await r.text(), sent)
                pages += 1
        problems += await _email_frames(ui, base, sent)
    async with session(4) as client:
        for i, p in enumerate(sent):
            delivery, recipient = _ids(i, p)
            url = f"{base}/u/{TOKENS.unsubscribe_token(Message(delivery, recipient, 'c', 'e'))}"
            for method in ("GET", "POST"):
                async with client.request(method, url, data={"confirm": "yes"}) as r:
                    statuses.add(r.status)
                    problems += inspect(await r.text(), sent)
                    pages += 1
    return pages, problems, statuses


def xss(work: Path, count: int = 240) -> Figure:
    """Row 9: no payload reaches a page unescaped."""
    began = time.monotonic()
    server = start(work, "xss")
    sent = payloads(count)

    async def go() -> tuple[int, list[str], set[int]]:
        async with session(4) as client:
            await _inject(server.base_url, sent, client)
        return await _read_pages(server.base_url, sent)

    pages, problems, statuses = asyncio.run(go())
    server.stop()
    return Figure(
        "XSS payloads through every field to the pages",
        f"{len(sent)} payloads × 8 fields, {pages:,} pages read (statuses {sorted(statuses)});"
        f" {len(problems)} unescaped" + (f": {problems[:3]}" if problems else ""),
        "0 unescaped",
        not problems and max(statuses) < 500,
        time.monotonic() - began,
    )

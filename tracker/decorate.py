"""Decorate an HTML email: tracked links, an open pixel and an unsubscribe link.

The template is parsed with the standard library's ``HTMLParser`` and changed by splicing
the source text, so everything not rewritten stays byte for byte as it was.

Links. Every ``<a href>`` whose value, HTML-unescaped and stripped of surrounding
whitespace, is an absolute http(s) URL is tracked; so are the ``href`` of VML shapes
(``<v:roundrect href>``, Outlook's "bulletproof buttons"). Left alone: other schemes,
anchors, relative URLs, URLs holding a merge tag (``{{…}}``, ``{%…%}``, ``*|…|*``), which
the sending system fills in later, links already pointing at this server (``/c/``, ``/u/``,
``/o/``) and any element marked ``data-track="off"``. ``<link>``, ``<base>``, ``<area>``
and anything inside a plain comment are never touched. The content of Outlook conditional
comments (``<!--[if mso]> … <![endif]-->``) is parsed as markup: Outlook shows it.

Numbering. Tracked ``<a>`` links are numbered 0, 1, 2 … by position in the document,
conditional comments included; the same URL linked twice gets two numbers. A VML shape
shares the number of a tracked ``<a>`` with the same URL (the nearest one after it, else
the nearest one before it): the shape and its HTML fallback are one button. A shape with
no such ``<a>`` gets its own number after all the ``<a>`` links, in document order.

View in browser. ``{{view_in_browser_url}}`` (or Mailchimp's ``*|ARCHIVE|*``) becomes the
recipient's ``/v/`` link: their copy of the delivery's HTML, links still tracked.

Unsubscribe. The placeholders ``{{unsubscribe_url}}`` and ``*|UNSUB|*`` are replaced,
wherever they appear, by the recipient's unsubscribe URL. With no placeholder and no link
to this server's unsubscribe page already in place, a small footer link is added before the
last ``</body>`` outside comments (or at the end), followed by the open pixel.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from html import escape, unescape
from html.parser import HTMLParser

from tracker.bounces.verp import bounce_address
from tracker.hooks.notices import ECHO_FIELD, ECHO_HEADER
from tracker.tokens import HONEYPOT_LINK, Click, Message, Tokens
from tracker.urls import MAX_URL_LENGTH, is_trackable_url, to_ascii

PLACEHOLDERS = ("{{unsubscribe_url}}", "*|UNSUB|*")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
VIEW_PLACEHOLDERS = ("{{view_in_browser_url}}", "*|ARCHIVE|*")
_VIEW_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in VIEW_PLACEHOLDERS))
# The person's tracking preferences page (tracker.routes.preferences).
PREFERENCES_PLACEHOLDER = "{{tracking_preferences_url}}"
# Merge tags of Handlebars/Liquid/Marketo and Mailchimp: signing one would freeze it.
MERGE_TAGS = (("{{", "}}"), ("{%", "%}"), ("*|", "|*"))
_CONDITIONAL = re.compile(r"\[if\b[^\]]*\]>", re.IGNORECASE)
# The whitespace browsers strip from both ends of a URL in an attribute.
_URL_SPACE = "\t\n\f\r "

# CPython 3.11's own patterns for a tag name and an attribute (html.parser), so the spans
# rewritten here are the attributes the parser itself saw in the same tag text.
_TAG_NAME = re.compile(r"<([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*"
)

PIXEL = (
    '<img src="{src}" width="1" height="1" alt="" '
    'style="display:block;border:0;width:1px;height:1px">'
)
PREFERENCES_FOOTER = (
    '<p style="margin:0 0 24px;font-family:Arial,sans-serif;font-size:12px;line-height:18px;'
    'text-align:center;color:#888888"><a href="{href}">Tracking preferences</a></p>'
)
FOOTER = (
    '<p style="margin:24px 0;font-family:Arial,sans-serif;font-size:12px;line-height:18px;'
    'text-align:center;color:#888888"><a href="{href}">Unsubscribe</a></p>'
)
# The honeypot: a link no person can see or reach (hidden in every client, Outlook's
# Word engine included, out of the tab order and of screen readers). Scanners follow it.
HONEYPOT = (
    '<a href="{href}" style="display:none !important;mso-hide:all;font-size:0;'
    'max-height:0;overflow:hidden" aria-hidden="true" tabindex="-1"></a>'
)
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


class TooLarge(ValueError):
    """The work asked for is over a bound of ``decorate_many`` (tracked links, output)."""


@dataclass(frozen=True, slots=True)
class Decorated:
    """A decorated document, its mail headers and its numbered links."""

    html: str
    headers: dict[str, str]
    links: tuple[tuple[int, str], ...]
    # What the provider echoes back in its webhooks (tracker.hooks): SendGrid custom_args,
    # Postmark Metadata, Mailgun variables; the same token as X-Tracker-Message.
    metadata: dict[str, str] = field(default_factory=dict)
    # False: the person may not be tracked (consent): direct links, no pixel.
    tracked: bool = True


@dataclass(frozen=True, slots=True)
class _Href:
    """The href of an ``<a>`` or VML element, located in the source."""

    pos: int  # where the element's tag starts: document order
    start: int  # the value's span, quotes included
    end: int
    quote: str  # '"', "'" or "" for an unquoted value
    url: str  # unescaped and stripped
    vml: bool
    off: bool  # marked data-track="off"


@dataclass(slots=True)
class _Found:
    """What a scan found: hrefs in document order and the last top-level ``</body>``."""

    hrefs: list[_Href] = field(default_factory=list)
    body_end: int | None = None


class _Scanner(HTMLParser):
    """Finds hrefs and the closing ``</body>`` in ``text``, which sits at ``base``."""

    def __init__(self, found: _Found, text: str, base: int, *, top_level: bool) -> None:
        super().__init__(convert_charrefs=True)
        self._found, self._text, self._base, self._top = found, text, base, top_level
        # getpos() counts lines by "\n" only (ParserBase.updatepos): a "\r" is just a
        # column, so lines start after each "\n" whatever the line endings are.
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def run(self) -> None:
        self.feed(self._text)
        self.close()

    def _here(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" and not tag.startswith("v:"):
            return
        source, at = self.get_starttag_text(), self._here()
        # Only splice where the tag text really sits; a miss would corrupt the document.
        if source and self._text.startswith(source, at):
            href = _href(source, self._base + at)
            if href is not None:
                self._found.hrefs.append(href)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <v:roundrect … /> is a whole element; the default would also fake an end tag.
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body" and self._top:
            self._found.body_end = self._base + self._here()

    def handle_comment(self, data: str) -> None:
        at = self._here()
        start = at + (4 if self._text.startswith("<!--", at) else 2)
        match = _CONDITIONAL.match(data)
        if match and self._text.startswith(data, start):
            inner = _Scanner(
                self._found, data[match.end() :], self._base + start + match.end(), top_level=False
            )
            inner.run()

    def parse_html_declaration(self, i: int) -> int:
        # CPython raises AssertionError on a malformed "<![" section (after moving its
        # position); browsers read it as a bogus comment, and so does this.
        pos = self.lineno, self.offset
        try:
            return super().parse_html_declaration(i)
        except AssertionError:
            self.lineno, self.offset = pos
            return self.parse_bogus_comment(i)


def _value(attribute: re.Match[str]) -> tuple[str, str]:
    """The quote character ("" when unquoted) and the raw value of a matched attribute."""
    raw = attribute.group(3) or ""
    quote = raw[0] if raw[:1] in ("'", '"') else ""
    return quote, raw[1:-1] if quote else raw


def _href(source: str, pos: int) -> _Href | None:
    """The href of the start tag ``source`` found at ``pos``, if it has a value."""
    name = _TAG_NAME.match(source)
    if name is None:
        return None
    attributes: dict[str, re.Match[str]] = {}
    k = name.end()
    while k < len(source) and (m := _ATTRIBUTE.match(source, k)):
        attributes.setdefault(m.group(1).lower(), m)  # browsers keep the first of a name
        k = m.end()
    href = attributes.get("href")
    if href is None or href.group(3) is None:
        return None
    quote, value = _value(href)
    marker = attributes.get("data-track")
    off = marker is not None and unescape(_value(marker)[1]).strip().lower() == "off"
    return _Href(
        pos=pos,
        start=pos + href.start(3),
        end=pos + href.end(3),
        quote=quote,
        url=unescape(value).strip(_URL_SPACE),
        vml=name.group(1).lower().startswith("v:"),
        off=off,
    )


def _scan(text: str) -> _Found:
    found = _Found()
    _Scanner(found, text, 0, top_level=True).run()
    found.hrefs.sort(key=lambda h: h.pos)
    return found


def has_merge_tag(url: str) -> bool:
    """Whether ``url`` holds ``{{…}}``, ``{%…%}`` or ``*|…|*`` (one pass per kind)."""
    for opening, closing in MERGE_TAGS:
        start = url.find(opening)
        if start >= 0 and url.find(closing, start + len(opening)) >= 0:
            return True
    return False


def _number(hrefs: list[_Href]) -> dict[int, int]:
    """Link number of each tracked href, by tag position (see the module docstring)."""
    anchors = [h for h in hrefs if not h.vml]
    numbers = {h.pos: n for n, h in enumerate(anchors)}
    by_url: dict[str, list[int]] = {}  # positions of the anchors of each URL, in order
    for a in anchors:
        by_url.setdefault(a.url, []).append(a.pos)
    following = len(anchors)
    for shape in (h for h in hrefs if h.vml):
        same = by_url.get(shape.url, [])
        after = bisect_right(same, shape.pos)
        partner = same[after] if after < len(same) else (same[-1] if same else None)
        if partner is not None:
            numbers[shape.pos] = numbers[partner]
        else:
            numbers[shape.pos] = following
            following += 1
    return numbers


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace each (start, end) span of ``text``; edits never overlap, else one is dropped."""
    out: list[str] = []
    at = 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < at:
            continue
        out += (text[at:start], new)
        at = end
    out.append(text[at:])
    return "".join(out)


def decorate(
    html: str,
    message: Message,
    tokens: Tokens,
    base_url: str,
    *,
    track_opens: bool = True,
    track_clicks: bool = True,
    honeypot: bool = True,
) -> Decorated:
    """Track the links of ``html`` for one message, add the pixel and the unsubscribe link.

    With ``honeypot`` (and click tracking), an invisible link that only machines follow is
    added too (see tracker.verdicts).
    """
    return decorate_many(
        html,
        [message],
        tokens,
        base_url,
        track_opens=track_opens,
        track_clicks=track_clicks,
        honeypot=honeypot,
    )[0]


def decorate_many(
    html: str,
    messages: list[Message],
    tokens: Tokens,
    base_url: str,
    *,
    track_opens: bool = True,
    track_clicks: bool = True,
    honeypot: bool = True,
    max_links: int | None = None,
    max_output: int | None = None,
    untracked: frozenset[int] = frozenset(),
    preferences: bool = False,
) -> list[Decorated]:
    """``decorate`` for each of ``messages``, parsing the template once.

    ``max_links`` bounds the tracked links signed (links × messages), ``max_output`` the
    characters of HTML made for all messages together: over either, ``TooLarge``.
    The messages at the positions ``untracked`` keep their links as they are and get no
    pixel and no honeypot (their person may not be tracked); the unsubscribe link and
    headers stay. ``{{tracking_preferences_url}}`` becomes the person's preferences page;
    with ``preferences`` (a consent policy applies), a template without it gets a footer
    link to it.
    """
    if max_output is not None and len(html) * len(messages) > max_output:
        raise TooLarge(f"the copies would exceed {max_output} characters: fewer recipients")
    found = _scan(html)
    if max_links is not None and track_clicks:
        ours = tuple(f"{base_url}/{route}/" for route in ("c", "u", "o"))
        tracked = sum(1 for h in found.hrefs if _target(h, ours) is not None)
        if tracked * len(messages) > max_links:
            raise TooLarge(
                f"{tracked} tracked links × {len(messages)} recipients is over {max_links}"
            )
    honeypot = honeypot and track_clicks
    out: list[Decorated] = []
    size = 0
    for i, m in enumerate(messages):
        if i in untracked:
            copy = _decorate(html, found, m, tokens, base_url, False, False, False, preferences)
            out.append(replace(copy, tracked=False))
        else:
            out.append(_decorate(html, found, m, tokens, base_url, track_opens, track_clicks,
                                 honeypot, preferences))  # fmt: skip
        size += len(out[-1].html)
        if max_output is not None and size > max_output:
            raise TooLarge(f"the copies would exceed {max_output} characters: fewer recipients")
    return out


def _target(h: _Href, ours: tuple[str, ...]) -> str | None:
    """The URL to sign for ``h`` (in its ASCII form), or None when it stays as it is."""
    if h.off or len(h.url) > MAX_URL_LENGTH:
        return None
    # is_trackable_url first: it caps the length before any regex runs on the URL.
    url = to_ascii(h.url)
    if not is_trackable_url(url) or url.startswith(ours) or has_merge_tag(url):
        return None
    return url


def annotate_links(html: str, base_url: str) -> str:
    """``html`` with ``data-tracker-link="N"`` on each ``<a>`` that decorate tracks as link N.

    The numbers are decorate's own (same scan, same rules), so a report's link N is the
    anchor marked N: the dashboard draws the hot clicks on them.
    """
    found = _scan(html)
    ours = tuple(f"{base_url}/{route}/" for route in ("c", "u", "o"))
    hrefs = [h for h in found.hrefs if _target(h, ours) is not None]
    numbers = _number(hrefs)
    edits = [(h.pos + 2, h.pos + 2, f' data-tracker-link="{numbers[h.pos]}"')
             for h in hrefs if not h.vml]  # fmt: skip
    return _splice(html, edits)


def _decorate(
    html: str,
    found: _Found,
    message: Message,
    tokens: Tokens,
    base_url: str,
    track_opens: bool,
    track_clicks: bool,
    honeypot: bool,
    preferences: bool = False,
) -> Decorated:
    unsubscribe_url = f"{base_url}/u/{tokens.unsubscribe_token(message)}"
    ours = tuple(f"{base_url}/{route}/" for route in ("c", "u", "o"))

    targets = {h.pos: _target(h, ours) for h in found.hrefs}
    hrefs = [h for h in found.hrefs if targets[h.pos] is not None]
    numbers = _number(hrefs)
    links = tuple(sorted({(numbers[h.pos], str(targets[h.pos])) for h in hrefs}))

    edits: list[tuple[int, int, str]] = []
    if track_clicks:
        for h in hrefs:
            token = tokens.click_token(Click(message, numbers[h.pos], str(targets[h.pos])))
            quote = h.quote or '"'
            edits.append((h.start, h.end, f"{quote}{escape(f'{base_url}/c/{token}')}{quote}"))
    placeholders = [
        (m.start(), m.end(), escape(unsubscribe_url)) for m in _PLACEHOLDER.finditer(html)
    ]
    edits += placeholders
    if _VIEW_PLACEHOLDER.search(html):
        view_url = escape(f"{base_url}/v/{tokens.view_token(message)}")
        edits += [(m.start(), m.end(), view_url) for m in _VIEW_PLACEHOLDER.finditer(html)]

    asked = PREFERENCES_PLACEHOLDER in html
    if asked or preferences:
        preferences_url = escape(f"{base_url}/p/{tokens.preferences_token(message)}")
        start = html.find(PREFERENCES_PLACEHOLDER)
        while start != -1:
            end = start + len(PREFERENCES_PLACEHOLDER)
            edits.append((start, end, preferences_url))
            start = html.find(PREFERENCES_PLACEHOLDER, end)

    tail = ""
    has_unsubscribe = any(not h.vml and h.url.startswith(ours[1]) for h in found.hrefs)
    if not placeholders and not has_unsubscribe:
        tail += FOOTER.format(href=escape(unsubscribe_url))
    if preferences and not asked:
        tail += PREFERENCES_FOOTER.format(href=preferences_url)
    if honeypot:
        trap = tokens.click_token(Click(message, HONEYPOT_LINK, f"{base_url}/"))
        tail += HONEYPOT.format(href=escape(f"{base_url}/c/{trap}"))
    if track_opens:
        tail += PIXEL.format(src=escape(f"{base_url}/o/{tokens.open_token(message)}.gif"))
    if tail:
        at = len(html) if found.body_end is None else found.body_end
        edits.append((at, at, tail))

    echo = tokens.bounce_token(message)
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
        # SES returns the original headers in its notifications; Mailgun reads its
        # variables from this header and returns them with every event.
        ECHO_HEADER: echo,
        "X-Mailgun-Variables": json.dumps({ECHO_FIELD: echo}, separators=(",", ":")),
    }
    return Decorated(_splice(html, edits), headers, links, {ECHO_FIELD: echo})


def answer(result: Decorated, bounce_domain: str) -> dict[str, object]:
    """``{html, headers, metadata, tracked}`` of one copy, and its VERP ``bounce_address``
    with a bounce domain."""
    out: dict[str, object] = {
        "html": result.html,
        "headers": result.headers,
        "metadata": result.metadata,
        "tracked": result.tracked,
    }
    if bounce_domain:
        out["bounce_address"] = bounce_address(result.headers[ECHO_HEADER], bounce_domain)
    return out

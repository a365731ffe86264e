"""The delivery's email as the hot-clicks frame shows it: its links numbered as decorate
numbers them, and the images it may load.

The frame's own Content-Security-Policy lets the email's inline styles apply and lists,
one by one, the template's own images, so nothing else is fetched: not tracker's routes
(a pasted tracking pixel or link would log an open or a click), not a 1×1 image (another
system's tracking pixel), not a stylesheet, font or script.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from tracker.decorate import annotate_links

MOST_IMAGES = 100
# A URL a CSP source list can hold as it is: http(s), a host, a port, a plain path.
_SOURCE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9\-._~%!$&()*+=:@/]*)?")
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.IGNORECASE)
_PIXEL_SIZES = {"0", "1", "0px", "1px"}


class _Images(HTMLParser):
    """Collects the URLs of images: ``<img src>``, ``background=`` and CSS ``url()``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img" and "src" in values:
            pixel = {values.get("width", ""), values.get("height", "")} & _PIXEL_SIZES
            if not pixel:
                self.urls.append(values["src"].strip())
        if values.get("background"):
            self.urls.append(values["background"].strip())
        self.urls.extend(_CSS_URL.findall(values.get("style", "")))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls.extend(_CSS_URL.findall(data))


def image_sources(html: str, ours: tuple[str, ...]) -> list[str]:
    """The template's own image URLs, as CSP sources (at most ``MOST_IMAGES``): http(s),
    on none of tracker's origins ``ours`` (``scheme://host[:port]``), not a 1×1 pixel,
    without their query (CSP ignores it)."""
    parser = _Images()
    parser.feed(html)
    parser.close()
    origins = {_origin(o) for o in ours}
    out: list[str] = []
    for url in parser.urls:
        parts = urlsplit(url)
        if _origin(url) in origins:
            continue
        source = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if _SOURCE.fullmatch(source) and source not in out:
            out.append(source)
    return out[:MOST_IMAGES]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def frame_document(html: str, base_url: str, ours: tuple[str, ...]) -> tuple[str, list[str]]:
    """The email with its links numbered, and its own images' sources (a decorate-pool
    call: both parse the whole copy)."""
    return annotate_links(html, base_url), image_sources(html, (base_url, *ours))


def frame_policy(images: list[str]) -> str:
    """The frame's Content-Security-Policy: inline styles, these images, nothing else, and
    sandboxed without scripts even when opened on its own."""
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"img-src {' '.join([*images, 'data:'])}; form-action 'none'; "
        "frame-ancestors 'self'; base-uri 'none'; sandbox allow-same-origin"
    )

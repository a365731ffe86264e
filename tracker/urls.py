"""Which target URLs may be signed and redirected to."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from yarl import URL

# The longest target URL a link may carry; browsers and proxies refuse much longer.
MAX_URL_LENGTH = 2048
# ASCII controls, spaces and backslashes never belong in a URL we redirect to.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


@functools.lru_cache(maxsize=8192)
def is_trackable_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host that is safe to put in ``Location``.

    Checked when a link is signed and again before every redirect. Pure, so cached: one
    link of a send is followed by thousands of recipients. Only ASCII passes, so
    what is signed is exactly what ``Location`` carries: see ``to_ascii``.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return False
    if not url.isascii() or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host)


def to_ascii(url: str) -> str:
    """``url`` with a non-ASCII host in IDNA and other non-ASCII characters percent-encoded;
    ASCII URLs, and those that cannot be converted, are returned unchanged."""
    if url.isascii():
        return url
    try:
        url.encode("utf-8")  # yarl silently drops lone surrogates: a different URL
        return str(URL(url))
    except (ValueError, UnicodeError):
        return url

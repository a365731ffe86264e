"""Which target URLs may be signed and redirected to."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# The longest target URL a link may carry; browsers and proxies refuse much longer.
MAX_URL_LENGTH = 2048
# ASCII controls, spaces and backslashes never belong in a URL we redirect to.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def is_trackable_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host that is safe to put in ``Location``.

    Checked when a link is signed and again before every redirect.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return False
    if _UNSAFE.search(url) or not url.isprintable():
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host)

"""What the dashboard's login and logout check before anything else: that the form came
from this site (its Origin, else its Referer).

Origin: a browser sends it with every POST; it must be the public origin (``base_url``)
or the host the request was sent to (its ``Host``, which a browser sets to this server
whatever page made the form). ``null`` and any other site are refused with 403. Without
an Origin, a Referer from another site is refused too; with neither, the request is no
browser's cross-site form (browsers send an Origin on every POST) and is let through, so
scripts and ``curl`` can still log in.

The throttle of failed logins is ``tracker.login_throttle``'s.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lowercased; None for anything else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


def same_site(request: web.Request, base_url: str) -> bool:
    """Whether a login or logout form may have come from this site (see the module)."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        origin = referer
    found = origin_of(origin)
    if found is None:
        return False
    return found == origin_of(base_url) or found.partition("://")[2] == request.host.lower()

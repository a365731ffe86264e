"""Every ``web.AppKey`` in one place: handlers import keys, not the app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web
from jinja2 import Environment

from tracker.config import Settings
from tracker.login_throttle import LoginThrottle
from tracker.recorder import HitRecorder
from tracker.render_cache import RenderCache
from tracker.store.base import Store
from tracker.tokens import Tokens
from tracker.ui_session import Sessions

if TYPE_CHECKING:  # these modules read their own key from here
    from tracker.decorate_pool import DecoratePool
    from tracker.hooks.state import HookState
    from tracker.serving import Drain
    from tracker.smtp_listener import Listening
    from tracker.workflow import Workflow

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
TOKENS = web.AppKey("tokens", Tokens)
PAGES = web.AppKey("pages", Environment)
RECORDER = web.AppKey("recorder", HitRecorder)
# Now, as an aware UTC datetime: tests move it instead of sleeping.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
WORKFLOW: web.AppKey[Workflow] = web.AppKey("workflow")
DRAIN: web.AppKey[Drain] = web.AppKey("drain")
DECORATE_POOL: web.AppKey[DecoratePool] = web.AppKey("decorate_pool")
# The recipients' copies ``/v/`` shows, decorated, by token and copy fingerprint.
VIEWS = web.AppKey("views", RenderCache)
SESSIONS = web.AppKey("ui_sessions", Sessions)
THROTTLE = web.AppKey("ui_login_throttle", LoginThrottle)
# The provider webhooks' certificate cache and Mailgun tokens (tracker.hooks).
HOOKS: web.AppKey[HookState] = web.AppKey("hooks")
# The SMTP listener's server and protocol factory while it listens.
SMTP_SERVER: web.AppKey[Listening] = web.AppKey("smtp_server")

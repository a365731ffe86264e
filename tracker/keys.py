"""Every ``web.AppKey`` in one place: handlers import keys, not the app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from jinja2 import Environment

from tracker.config import Settings
from tracker.routes.hits import HitRecorder
from tracker.store.base import Store
from tracker.tokens import Tokens

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
TOKENS = web.AppKey("tokens", Tokens)
PAGES = web.AppKey("pages", Environment)
RECORDER = web.AppKey("recorder", HitRecorder)
# Now, as an aware UTC datetime: tests move it instead of sleeping.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")

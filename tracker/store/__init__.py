"""Storage: pick the store named by the settings' database URL."""

from __future__ import annotations

from tracker.config import ConfigError, Settings
from tracker.store.base import Store


def open_store(settings: Settings) -> Store:
    """A store for ``settings.database_url`` (not yet opened)."""
    url = settings.database_url
    if not url or url.startswith("sqlite:"):
        from tracker.store.scoring import Scoring
        from tracker.store.sqlite.store import SQLiteStore

        return SQLiteStore(
            settings.sqlite_path,
            settings.synchronous,
            settings.max_group,
            Scoring.for_settings(settings),
            settings.forget_key,
            settings.busy_timeout_ms,
        )
    if url.startswith(("postgresql:", "postgres:")):
        from tracker.store.postgres.store import PostgresStore
        from tracker.store.scoring import Scoring

        return PostgresStore(
            url,
            settings.max_group,
            Scoring.for_settings(settings),
            settings.forget_key,
            lock_timeout_ms=settings.busy_timeout_ms,
        )
    raise ConfigError(f"database_url: unsupported scheme {url.split(':', 1)[0]!r}")

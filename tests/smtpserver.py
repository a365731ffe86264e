"""A real ``tracker serve`` with its SMTP listener, as the bounce tests start it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import API_KEY, NEW_KEY
from tests.serverproc import ServerProcess, clean_env, free_port
from tracker.config import Settings

DOMAIN = "bounces.example.test"


def smtp_env(settings: Settings, smtp_port: int, **extra: str) -> dict[str, str]:
    """The environment of a server on ``settings``' store listening for bounces to
    ``DOMAIN`` on ``smtp_port``."""
    return clean_env(
        TRACKER_DATA_DIR=str(settings.data_dir),
        TRACKER_DATABASE_URL=settings.database_url,
        TRACKER_SECRET_KEYS=NEW_KEY,
        TRACKER_API_KEYS=API_KEY,
        TRACKER_LOG_FORMAT="json",
        TRACKER_BOUNCE_DOMAIN=DOMAIN,
        TRACKER_SMTP_PORT=str(smtp_port),
        **extra,
    )


@contextmanager
def smtp_tracker(settings: Settings, **extra: str) -> Iterator[tuple[ServerProcess, int]]:
    """A started, healthy server with its SMTP listener: (server, SMTP port)."""
    smtp_port = free_port()
    server = ServerProcess(settings.data_dir, smtp_env(settings, smtp_port, **extra),
                           free_port()).start()  # fmt: skip
    try:
        server.wait_healthy(timeout=20)
        yield server, smtp_port
    finally:
        server.stop()

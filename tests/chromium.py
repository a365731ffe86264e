"""The headless Chromium the browser tests drive, and Playwright's API to drive it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Flags for a sandboxless, offline machine: no calls home, no first-run screens.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def playwright_or_skip() -> Any:
    """Playwright's async API; skips the calling test module when Chromium or Playwright is
    missing (on CI a missing Chromium is an error)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True
        )
    return pytest.importorskip("playwright.async_api")

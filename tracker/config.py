"""Settings: defaults, then an optional TOML file, then ``TRACKER_*`` environment variables.

Secrets that are not configured are generated once into the data directory (mode 0600)
so that ``tracker serve`` works with no configuration at all.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# The verdict signals (tracker.verdicts), each switchable.
SIGNALS = ("method", "user_agent", "network", "after_send", "proximity", "honeypot")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to run; frozen once loaded."""

    # Directory for the SQLite file and the generated secrets.
    data_dir: Path = Path("tracker-data")
    # Where events are stored; empty means sqlite:///<data_dir>/tracker.db.
    database_url: str = ""
    # Token signing keys, oldest first: the newest (last) signs, all verify.
    secret_keys: tuple[str, ...] = ()
    # Bearer keys accepted on /api/v1 and /ui.
    api_keys: tuple[str, ...] = ()
    # Public origin written into decorated links, without a trailing slash.
    base_url: str = "http://localhost:8080"
    # Peers whose X-Forwarded-For header gives the client address.
    trusted_proxies: tuple[Network, ...] = ()
    host: str = "0.0.0.0"
    port: int = 8080
    # SQLite durability: NORMAL survives a process crash, FULL survives power loss too.
    synchronous: str = "NORMAL"
    # Seconds SIGTERM waits for requests in flight before the writer is flushed.
    shutdown_timeout: float = 5.0
    # "json" for JSON lines, "console" for people, "auto" picks by whether stderr is a tty.
    log_format: str = "auto"
    log_level: str = "info"
    # Most hits one commit holds; more wait for the next group.
    max_group: int = 2048
    # Where a message's IPv4 / IPv6 address is cut: 24 and 48 keep the network only.
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    # Where page assets live; empty finds the static/ folder shipped with tracker.
    static_dir: str = ""
    # Endpoints that receive every new event as signed JSON batches.
    webhook_urls: tuple[str, ...] = ()
    # HMAC-SHA256 key of the webhook signature; generated into the data dir when unset.
    webhook_secret: str = ""
    # Events per webhook request, and seconds between looks for new events when idle.
    webhook_batch: int = 100
    webhook_interval: float = 1.0
    # The largest request body accepted (the API's event batches); larger ones get 413.
    max_body: int = 1024 * 1024
    # Bot and machine-open signals in use (see tracker.verdicts); "none" switches all off.
    signals: tuple[str, ...] = SIGNALS
    # A folder of extra or replacing network lists (see tracker.netlists).
    netlists_dir: str = ""
    # A hit this soon after the message's Sent/Delivered is a machine's.
    after_send_seconds: float = 5.0
    # Clicks of one recipient on one delivery this close together are bot (0 to 3).
    proximity_seconds: float = 2.0
    # Clicks this close to a click on the honeypot link of the same message are bot.
    honeypot_seconds: float = 30.0
    # Client addresses before storage: "prefix" keeps the network (ipv4_prefix,
    # ipv6_prefix), "full" stores none at all, "none" keeps the whole address.
    anonymise_ip: str = "prefix"
    # The kill switch: "off" still serves the pixel and redirects, and records no open or
    # click (unsubscribes are always recorded: they are the person's request).
    tracking: str = "on"
    # Campaigns whose hits are counted without a recipient id, address or user agent.
    anonymous_campaigns: tuple[str, ...] = ()
    # Days raw hits (addresses, user agents) are kept; 0 keeps them forever.
    retention_days: int = 400
    # Key of the hash that keeps a forgotten person suppressed; generated when unset.
    forget_key: str = ""
    # Seconds between tracking-workflow runs (consolidation, retention); 0 switches it off.
    workflow_interval: float = 3600.0
    # Events waiting for the workflow that start a run before its schedule (reports read
    # the waiting events one by one, so a busy sender's reports stay quick); 0: never.
    workflow_backlog: int = 50_000
    # How long a write waits for SQLite's lock (another process writing) before failing.
    busy_timeout_ms: int = 5000
    # CPU seconds one decorate call (API or view in browser) may take before it is refused.
    decorate_seconds: float = 10.0

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file named by ``database_url``."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'tracker.db'}"
        if not url.startswith("sqlite:///"):
            raise ConfigError(f"database_url: not a SQLite URL: {url.split(':', 1)[0]}://…")
        return Path(url.removeprefix("sqlite:///"))


_LIST_KEYS = {
    "secret_keys",
    "api_keys",
    "trusted_proxies",
    "webhook_urls",
    "signals",
    "anonymous_campaigns",
}
_INT_KEYS = {
    "port",
    "max_group",
    "ipv4_prefix",
    "ipv6_prefix",
    "webhook_batch",
    "max_body",
    "retention_days",
    "busy_timeout_ms",
    "workflow_backlog",
}
_CHOICES = {"anonymise_ip": ("prefix", "full", "none"), "tracking": ("on", "off")}
_FLOAT_KEYS = {
    "shutdown_timeout",
    "webhook_interval",
    "after_send_seconds",
    "proximity_seconds",
    "honeypot_seconds",
    "workflow_interval",
    "decorate_seconds",
}
_KNOWN = set(Settings.__dataclass_fields__)


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    raise TypeError("expected a list or a comma-separated string")


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _LIST_KEYS:
            items = _split(value)
            if key == "trusted_proxies":
                return tuple(ipaddress.ip_network(i, strict=False) for i in items)
            if key == "signals":
                if items == ["none"]:
                    return ()
                unknown = set(items) - set(SIGNALS)
                if unknown:
                    raise ValueError(f"unknown signal {sorted(unknown)[0]!r}")
            return tuple(items)
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
        if key == "data_dir":
            return Path(str(value))
        if key == "synchronous":
            level = str(value).upper()
            if level not in {"NORMAL", "FULL"}:
                raise ValueError("must be NORMAL or FULL")
            return level
        if key == "base_url":
            return str(value).rstrip("/")
        if key in _CHOICES:
            choice = str(value).lower()
            if choice not in _CHOICES[key]:
                raise ValueError(f"must be one of {', '.join(_CHOICES[key])}")
            return choice
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: {exc}") from None


def load(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Merge defaults, the TOML file at ``path``, ``TRACKER_*`` variables and overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--config {path}: {exc}") from None
        data = data.get("tracker", data)
        for key, value in data.items():
            if key not in _KNOWN:
                raise ConfigError(f"{key}: unknown setting in {path}")
            values[key] = _coerce(key, value)
    env = os.environ if env is None else env
    for key in _KNOWN:
        raw = env.get(f"TRACKER_{key.upper()}")
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value)
    settings = Settings(**values)
    for url in settings.webhook_urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook_urls: not an http(s) URL: {url[:60]}")
    if settings.retention_days < 0:
        raise ConfigError("retention_days: must be 0 (forever) or more")
    if not 0 <= settings.proximity_seconds <= 3:
        raise ConfigError("proximity_seconds: must be between 0 and 3")
    if not 0 < settings.decorate_seconds <= 3600:
        raise ConfigError("decorate_seconds: must be more than 0 and at most 3600")
    if settings.ipv4_prefix not in range(0, 33) or settings.ipv6_prefix not in range(0, 129):
        raise ConfigError("ipv4_prefix/ipv6_prefix: out of range")
    return settings


def _read_or_create(path: Path, make: str) -> tuple[str, ...]:
    """Keys kept one per line in ``path``; created with ``make`` (mode 0600) if absent."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(make + "\n")
    lines = path.read_text(encoding="utf-8").split()
    return tuple(line for line in lines if line)


def with_generated_secrets(settings: Settings) -> Settings:
    """Fill missing secret and API keys from files in the data directory, creating them."""
    # The data directory holds secrets and personal data: only its owner may read it.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changes: dict[str, Any] = {}
    if not settings.secret_keys:
        changes["secret_keys"] = _read_or_create(secret_keys_file(settings), new_key())
    if not settings.api_keys:
        changes["api_keys"] = _read_or_create(settings.data_dir / "api_key", new_key())
    if not settings.forget_key:
        changes["forget_key"] = _read_or_create(settings.data_dir / "forget_key", new_key())[0]
    if settings.webhook_urls and not settings.webhook_secret:
        secret = _read_or_create(settings.data_dir / "webhook_secret", new_key())
        changes["webhook_secret"] = secret[0]
    return replace(settings, **changes) if changes else settings


def secret_keys_file(settings: Settings) -> Path:
    """The file that holds generated signing keys, oldest first."""
    return settings.data_dir / "secret_keys"


def new_key() -> str:
    """A fresh random key: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)
